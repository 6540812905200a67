"""Sphinx configuration for the ebpf documentation (built with -W: warnings fail the build)."""

from __future__ import annotations

import builtins
import re
import sys
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

project = "ebpf"
author = "the ebpf authors"
copyright = "the ebpf authors"
release = version = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

html_theme = "alabaster"
exclude_patterns = ["_build"]

# "Attributes:" sections become :ivar: fields: the attributes themselves are documented by
# autodoc, and a second ``.. attribute::`` for each would be a duplicate description.
napoleon_use_ivar = True


def _unlink_builtins(app: object, doctree: nodes.document) -> None:
    """Signature annotations such as ``type[T]`` reference Python's builtins. Without
    intersphinx they have no target here, and the Python domain's fuzzy search would match them
    against this library's attributes of the same name (``Program.type``) and warn that the
    reference is ambiguous. Render them as plain text instead."""
    for node in list(doctree.findall(addnodes.pending_xref)):
        if node.get("refdomain") == "py" and node.get("reftarget") in _BUILTINS:
            node.replace_self(node.children)


_BUILTINS = frozenset(name for name in dir(builtins) if not name.startswith("_"))


# A field that napoleon made from ``a, b, c: description`` (the docstrings' way of describing
# several attributes or arguments at once).
_SHARED_FIELD = re.compile(r"^(\s*):(ivar|param|vartype|type) ((?:\w+, )+\w+):(.*)$")


def _split_shared_fields(app: Sphinx, what: str, name: str, obj: object, options: object,
                         lines: list[str]) -> None:
    """Give each name of a shared field its own copy of the field. The Python domain reads
    ``:ivar a, b, c:`` as type ``a, b,`` and name ``c``, which renders as nonsense."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _SHARED_FIELD.match(lines[i])
        if match is None:
            out.append(lines[i])
            i += 1
            continue
        indent, kind, names, text = match.groups()
        body = [text]
        i += 1
        while i < len(lines) and lines[i].startswith(indent + " ") and lines[i].strip():
            body.append(lines[i])
            i += 1
        for field_name in names.split(", "):
            out.append(f"{indent}:{kind} {field_name}:{body[0]}")
            out.extend(body[1:])
    lines[:] = out


def setup(app: Sphinx) -> None:
    app.connect("doctree-read", _unlink_builtins)
    # After napoleon (priority 500), which turns "Attributes:" sections into fields.
    app.connect("autodoc-process-docstring", _split_shared_fields, priority=600)
