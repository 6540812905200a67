"""Sphinx configuration for the ebpf documentation (built with -W: warnings fail the build)."""

from __future__ import annotations

import builtins
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


def setup(app: Sphinx) -> None:
    app.connect("doctree-read", _unlink_builtins)
