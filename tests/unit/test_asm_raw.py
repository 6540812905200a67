"""``ebpf.asm._raw`` (the plain ints the load path compares) agrees with the opcode enums.

That the load path does not import the enums is checked in ``test_import_cost.py`` and
``tests/kernel/test_load_imports.py``."""

from __future__ import annotations

from ebpf.asm import _raw
from ebpf.asm.instruction import _TARGET_CONSTANT, _TARGET_KIND, _TARGET_NONE, _TARGET_OFFSET
from ebpf.asm.opcode import (
    LDIMM64,
    Class,
    JumpOp,
    Mode,
    PseudoCall,
    PseudoLoad,
    Size,
    Source,
)

PREFIXES = {"CLASS_": Class, "SIZE_": Size, "MODE_": Mode, "SOURCE_": Source, "JUMP_": JumpOp,
            "PSEUDO_CALL_": PseudoCall, "PSEUDO_": PseudoLoad}
SPECIAL = {"PSEUDO_CALL": PseudoCall.CALL, "PSEUDO_KFUNC_CALL": PseudoCall.KFUNC_CALL,
           "LDIMM64": LDIMM64, "JUMP_OPS": tuple(int(op) for op in JumpOp)}


def _expected(name: str) -> object:
    if name in SPECIAL:
        return SPECIAL[name]
    for prefix, enum in PREFIXES.items():
        if name.startswith(prefix):
            return enum[name.removeprefix(prefix)]
    raise AssertionError(f"{name}: no enum for this prefix")


def test_every_constant_equals_its_enum_member() -> None:
    names = [n for n in vars(_raw) if n.isupper() and n != "TYPE_CHECKING"]
    assert len(names) > 20
    wrong = [f"{n} = {getattr(_raw, n)!r}, expected {_expected(n)!r}" for n in names
             if getattr(_raw, n) != _expected(n)]
    assert not wrong, "\n".join(wrong)


def test_jump_target_table_matches_the_enums() -> None:
    """Which opcodes carry a jump target, computed again from the enums."""
    expected = [_TARGET_NONE] * 256
    special = {JumpOp.CALL, JumpOp.EXIT, JumpOp.JA, JumpOp.JCOND}
    for klass in (Class.JMP, Class.JMP32):
        for op in JumpOp:
            if op not in special:
                for source in Source:
                    expected[op | source | klass] = _TARGET_OFFSET
    expected[JumpOp.JA | Class.JMP] = _TARGET_OFFSET
    expected[JumpOp.JA | Class.JMP32] = _TARGET_CONSTANT
    expected[JumpOp.JCOND | Class.JMP] = _TARGET_OFFSET
    assert list(_TARGET_KIND) == expected

