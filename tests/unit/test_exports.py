"""The lazy package namespaces: what type checkers read and what run time gives agree.

``ebpf``, ``ebpf.asm``, ``ebpf.btf`` and ``ebpf.internal.sys`` import their public names on first
use (PEP 562). Type checkers cannot run that, so each package also imports the same names under
``if TYPE_CHECKING:``. These tests parse that block and check it against the run-time table and
``__all__``, name by name and object by object.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from types import ModuleType

import pytest

import ebpf

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["ebpf", "ebpf.asm", "ebpf.btf", "ebpf.features", "ebpf.internal.sys", "ebpf.link",
            "ebpf.ringbuf", "ebpf.perf"]


def _absolute(package: str, level: int, module: str | None) -> str:
    base = package.split(".")
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else [])) if level else (module or "")


def static_exports(package: str) -> dict[str, str]:
    """Every name the package re-exports (``from M import X as X``) for type checkers, eagerly
    or under ``TYPE_CHECKING``, with the module ``M`` (a submodule re-exported by
    ``from . import m as m`` maps to itself)."""
    path = ROOT / package.replace(".", "/") / "__init__.py"
    tree = ast.parse(path.read_text())
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.module == "__future__":
            continue
        source = _absolute(package, node.level, node.module)
        for alias in node.names:
            if alias.asname != alias.name:
                continue  # not a re-export
            sub = f"{source}.{alias.name}"
            out[alias.name] = sub if _is_module(sub) else source
    return out


def _is_module(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("package", PACKAGES)
def test_all_matches_what_type_checkers_see(package: str) -> None:
    mod = importlib.import_module(package)
    assert sorted(mod.__all__) == sorted(static_exports(package))
    assert len(set(mod.__all__)) == len(mod.__all__)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_name_is_the_object_type_checkers_see(package: str) -> None:
    mod = importlib.import_module(package)
    for name, source in static_exports(package).items():
        value = getattr(mod, name)
        if source == f"{package}.{name}" or (source.endswith(f".{name}")
                                             and isinstance(value, ModuleType)):
            assert value is importlib.import_module(source), name
        else:
            assert value is getattr(importlib.import_module(source), name), name
        assert name in dir(mod)


def test_the_root_table_is_the_runtime_view() -> None:
    table = ebpf._PUBLIC
    assert sorted(table) == ebpf.__all__
    for name, module in table.items():
        assert static_exports("ebpf")[name] == _absolute("ebpf", 1, module.lstrip(".")) or (
            module in (".asm", ".btf", ".link", ".perf", ".ringbuf"))


def test_star_import_gives_every_public_name() -> None:
    namespace: dict[str, object] = {}
    exec("from ebpf import *", namespace)
    assert set(ebpf.__all__) <= set(namespace)


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        ebpf.Nope  # noqa: B018
