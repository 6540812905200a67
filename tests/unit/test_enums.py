"""The enums built by :func:`ebpf._enum.enum_class` equal what a class statement builds.

Each decorated class is taken from its module's source and built again the ordinary way
(``class X(enum.IntEnum): ...``); :func:`enum._test_simple_enum`, which CPython uses for its own
``_simple_enum`` classes, then compares the two member by member. The fallback for Pythons
without ``enum._simple_enum`` is checked the same way.
"""

from __future__ import annotations

import ast
import enum
import importlib
import pickle
import sys
from pathlib import Path
from typing import Any

import pytest

from ebpf import _enum

MODULES = ["ebpf.types", "ebpf.asm.opcode", "ebpf.asm.register", "ebpf.asm.helpers",
           "ebpf.btf.types", "ebpf.btf.ext_info", "ebpf._specs", "ebpf.program"]


def _decorated(module: str) -> list[tuple[str, str]]:
    """(name, class source without the decorator) of every @enum_class class of ``module``."""
    mod = importlib.import_module(module)
    source = Path(mod.__file__ or "").read_text(encoding="utf-8")
    out = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef) and any(
                isinstance(d, ast.Name) and d.id == "enum_class" for d in node.decorator_list):
            node.decorator_list = []
            out.append((node.name, ast.unparse(node)))
    return out


CASES = [(m, name, src) for m in MODULES for name, src in _decorated(m)]


def test_every_module_has_enums() -> None:
    assert {m for m, _, _ in CASES} == set(MODULES)


def _share_classmethods(checked: Any, other: Any) -> None:
    # Both builds compile the body separately: make their classmethod objects the same ones,
    # which _test_simple_enum compares by identity.
    for key, value in list(checked.__dict__.items()):
        if isinstance(value, (classmethod, staticmethod)):
            type.__setattr__(checked, key, other.__dict__[key])


def _build(src: str, name: str, bases: dict[str, Any]) -> Any:
    ns: dict[str, Any] = {"__name__": "checked", **bases}
    exec(compile(src, name, "exec"), ns)
    return ns[name]


@pytest.mark.parametrize(("module", "name", "src"), CASES, ids=[f"{m}.{n}" for m, n, _ in CASES])
def test_enum_matches_class_statement(module: str, name: str, src: str) -> None:
    actual = getattr(importlib.import_module(module), name)
    checked = _build(src, name, {"IntEnum": enum.IntEnum, "IntFlag": enum.IntFlag})
    assert issubclass(actual, (enum.IntEnum, enum.IntFlag))
    assert type(actual) is type(checked) and actual.__mro__[1:] == checked.__mro__[1:]
    assert list(actual.__members__) == list(checked.__members__)
    assert [m.value for m in actual.__members__.values()] == [
        m.value for m in checked.__members__.values()]
    assert [repr(m) for m in actual] == [repr(m).replace("checked.", "") for m in checked]
    assert [str(m) for m in actual] == [str(m) for m in checked]
    for member in actual:
        assert pickle.loads(pickle.dumps(member)) is member
    if sys.version_info >= (3, 11):
        _share_classmethods(checked, actual)
        enum._test_simple_enum(checked, actual)  # type: ignore[attr-defined]
    # The fallback (Python 3.10), from the same body.
    plain = _build(src, name, {"IntEnum": _enum.IntEnum, "IntFlag": _enum.IntFlag})
    fallback = _enum._by_metaclass(plain, plain._enum_base_)  # type: ignore[attr-defined]
    assert list(fallback.__members__) == list(checked.__members__)
    assert [repr(m) for m in fallback] == [repr(m) for m in checked]
    if sys.version_info >= (3, 11):
        _share_classmethods(checked, fallback)
        enum._test_simple_enum(checked, fallback)  # type: ignore[attr-defined]


def test_builder_handles_aliases_and_flags() -> None:
    class Plain(_enum.IntFlag):
        A = 1
        B = 2
        AB = 3
        ALSO_A = 1
        NONE = 0

    class Checked(enum.IntFlag):
        A = 1
        B = 2
        AB = 3
        ALSO_A = 1
        NONE = 0

    built = _enum.enum_class(Plain)
    assert list(built.__members__) == list(Checked.__members__)
    assert built.ALSO_A is built.A and built(3) is built.AB
    assert [m.name for m in built] == [m.name for m in Checked]
    if sys.version_info >= (3, 11):
        enum._test_simple_enum(Checked, built)  # type: ignore[attr-defined]
