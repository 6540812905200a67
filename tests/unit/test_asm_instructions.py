"""Instructions: the sequence protocol, labels, resolution of references, and stream encoding."""

from __future__ import annotations

import copy
import pickle
import time

import pytest

from ebpf import asm
from ebpf.asm import (
    R0,
    R1,
    R2,
    R6,
    Helper,
    Instruction,
    InstructionError,
    Instructions,
    UnresolvedReferenceError,
)


def _prog() -> Instructions:
    return Instructions([
        asm.mov.imm(R0, 0).with_symbol("main"),
        asm.load_imm64(R1, 42),
        asm.jeq.imm(R1, 0, "out"),
        asm.mov.imm(R0, 1),
        "out:",
        asm.exit(),
    ])


def test_sequence_protocol() -> None:
    prog = _prog()
    assert len(prog) == 5
    assert prog[0] == asm.mov.imm(R0, 0).with_symbol("main")
    assert prog[-1].symbol == "out" and prog[-1].is_exit
    part = prog[1:3]
    assert isinstance(part, Instructions) and len(part) == 2
    assert list(prog)[2].reference == "out"
    assert asm.mov.imm(R0, 1) in prog
    assert prog.index(asm.mov.imm(R0, 1)) == 3
    assert prog.count(asm.mov.imm(R0, 1)) == 1
    prog.append(asm.exit())
    prog.extend([asm.mov.imm(R0, 2), asm.exit()])
    prog.insert(0, asm.mov.imm(R6, 1))
    assert len(prog) == 9
    del prog[0]
    prog[0] = asm.mov.imm(R0, 7)
    prog[1:2] = [asm.mov.imm(R1, 1)]
    assert prog[0].constant == 7 and prog[1] == asm.mov.imm(R1, 1)
    assert next(reversed(prog)) == asm.exit()
    prog.clear()
    assert len(prog) == 0 and prog == Instructions()


def test_type_checks() -> None:
    prog = Instructions()
    with pytest.raises(TypeError):
        prog.append("exit")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        prog.extend([asm.exit(), 3])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        prog[0:0] = asm.exit()  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        Instructions([asm.exit(), 1])  # type: ignore[list-item]


def test_equality_add_and_hash() -> None:
    a = _prog()
    b = _prog()
    assert a == b and a == list(b) and a != b[1:]
    assert (a == 5) is False
    joined = a + [asm.exit()]  # noqa: RUF005 (tests __add__)
    assert isinstance(joined, Instructions) and len(joined) == 6 and len(a) == 5
    assert isinstance([asm.exit()] + a, Instructions)  # noqa: RUF005 (tests __radd__)
    a += [asm.exit()]
    assert len(a) == 6
    with pytest.raises(TypeError):
        hash(a)


def test_copy_is_independent() -> None:
    original = _prog()
    for clone in (original.copy(), copy.copy(original), copy.deepcopy(original)):
        clone[0] = asm.mov.imm(R0, 99)
        clone.append(asm.exit())
        clone.resolve()
        assert original == _prog()


def test_labels() -> None:
    prog = Instructions(["start:", asm.mov.imm(R0, 0), "end:", asm.exit()])
    assert prog.symbol_offsets() == {"start": 0, "end": 1}
    # A label on an instruction that already carries the same symbol is fine.
    Instructions(["x:", asm.exit().with_symbol("x")])


@pytest.mark.parametrize(("items", "message"), [
    (["x:"], "not followed"),
    (["x:", "y:", asm.exit()], "same instruction"),
    (["x", asm.exit()], "followed by ':'"),
    ([":", asm.exit()], "followed by ':'"),
    (["x:", asm.exit().with_symbol("y")], "already has"),
])
def test_bad_labels(items: list[Instruction | str], message: str) -> None:
    with pytest.raises(InstructionError, match=message) as info:
        Instructions(items)
    assert info.value.field == "symbol"


def test_offsets() -> None:
    prog = _prog()
    assert list(prog.iter_offsets()) == [(0, prog[0]), (1, prog[1]), (3, prog[2]),
                                         (4, prog[3]), (5, prog[4])]
    assert [prog.raw_offset(i) for i in range(len(prog) + 1)] == [0, 1, 3, 4, 5, 6]
    assert prog.slots == 6
    with pytest.raises(IndexError):
        prog.raw_offset(6)
    assert prog.symbol_offsets() == {"main": 0, "out": 4}


def test_references() -> None:
    prog = Instructions([
        asm.load_map_by_name(R1, "counts"),
        asm.call_func("helper_fn"),
        asm.load_func_ptr(R2, "callback"),
        asm.jeq.imm(R0, 0, "out"),
        asm.call_kfunc("bpf_rcu_read_lock"),
        "out:",
        asm.exit(),
    ])
    assert prog.references() == {"counts", "helper_fn", "callback", "out",
                                 "bpf_rcu_read_lock"}
    assert prog.function_references() == {"helper_fn", "callback"}


def test_duplicate_symbols() -> None:
    prog = Instructions([asm.ja("a"), asm.exit().with_symbol("a"),
                         asm.exit().with_symbol("a")])
    with pytest.raises(InstructionError, match="duplicate symbol 'a'") as info:
        prog.symbol_offsets()
    assert info.value.index == 2
    with pytest.raises(InstructionError, match="duplicate"):
        prog.marshal("little")


def test_resolve_forward_backward_and_across_ldimm64() -> None:
    prog = Instructions([
        "top:",
        asm.mov.imm(R0, 0),                     # slot 0
        asm.jeq.imm(R1, 0, "out"),              # slot 1 -> 6: offset 4
        asm.load_imm64(R2, 1 << 40),            # slots 2, 3
        asm.load_imm64(R2, 1 << 41),            # slots 4, 5
        "out:",
        asm.add.imm(R0, 1),                     # slot 6
        asm.jlt.imm(R0, 10, "top"),             # slot 7 -> 0: offset -8
        asm.ja32("end"),                        # slot 8 -> 10: constant 1
        asm.ja("top"),                          # slot 9 -> 0: offset -10
        "end:",
        asm.exit(),                             # slot 10
    ])
    before = prog.copy()
    data = prog.marshal("little")
    assert prog == before  # marshal resolves on the fly without changing the sequence
    prog.resolve()
    assert [ins.offset for ins in prog if ins.is_jump and ins.opcode != 0x06] == [4, -8, -10]
    assert prog[6].constant == 1
    assert prog[1].reference == "out"  # references are kept
    assert prog.marshal("little") == data
    decoded = Instructions.unmarshal(data, "little")
    assert decoded[1].offset == 4 and decoded[5].offset == -8 and decoded[6].constant == 1
    assert decoded[7].offset == -10
    prog.resolve()  # idempotent
    assert prog.marshal("little") == data


def test_resolve_calls_and_function_pointers() -> None:
    prog = Instructions([
        asm.load_func_ptr(R2, "cb"),            # slots 0, 1 -> 5: constant 4
        asm.call_func("cb"),                    # slot 2 -> 5: constant 2
        asm.mov.imm(R0, 0),                     # slot 3
        asm.exit(),                             # slot 4
        "cb:",
        asm.mov.imm(R0, 1),                     # slot 5
        asm.exit(),
    ])
    prog.resolve()
    assert prog[0].constant == 4 and prog[1].constant == 2
    assert str(prog[1]) == "call cb"


def test_resolve_leaves_unknown_functions_and_maps_for_the_linker() -> None:
    prog = Instructions([
        asm.load_map_by_name(R1, "counts"),
        asm.call(Helper.map_lookup_elem),
        asm.call_func("elsewhere"),
        asm.call_kfunc("bpf_rcu_read_lock"),
        asm.exit(),
    ])
    before = prog.copy()
    prog.resolve()
    assert prog == before
    with pytest.raises(UnresolvedReferenceError) as info:
        prog.marshal("little")
    assert info.value.reference == "elsewhere" and info.value.index == 2
    # Without the unresolved call, map and kfunc references are encoded as they are.
    del prog[2]
    data = prog.marshal("little")
    assert data[:16] == asm.load_map_ptr(R1, 0).marshal("little")


def test_unknown_jump_target() -> None:
    prog = Instructions([asm.jeq.imm(R1, 0, "nowhere"), asm.exit()])
    with pytest.raises(UnresolvedReferenceError, match="nowhere") as info:
        prog.resolve()
    assert info.value.reference == "nowhere" and info.value.index == 0
    assert info.value.field == "reference"
    with pytest.raises(UnresolvedReferenceError, match="nowhere"):
        prog.marshal("big")


def test_jump_too_far() -> None:
    prog = Instructions([asm.ja("far"), *[asm.mov.imm(R0, 0)] * 0x8000,
                         asm.exit().with_symbol("far")])
    with pytest.raises(InstructionError, match="ja32") as info:
        prog.marshal("little")
    assert info.value.field == "offset"
    prog[0] = asm.ja32("far")
    assert Instructions.unmarshal(prog.marshal("little"), "little")[0].constant == 0x8000


def test_unmarshal_stream_errors() -> None:
    good = Instructions([asm.mov.imm(R0, 0), asm.load_imm64(R1, 3), asm.exit()]).marshal(
        "little")
    with pytest.raises(InstructionError, match="multiple of 8") as info:
        Instructions.unmarshal(good[:-3], "little")
    assert info.value.byte_offset == 24
    with pytest.raises(InstructionError, match="truncated") as info:
        Instructions.unmarshal(good[:16], "little")
    assert info.value.byte_offset == 8 and "byte offset 8" in str(info.value)
    bad = bytearray(good)
    bad[25] = 0xC0  # exit with src register 12
    with pytest.raises(InstructionError) as info:
        Instructions.unmarshal(bytes(bad), "little")
    assert info.value.field == "src" and info.value.byte_offset == 24 and info.value.index == 2
    bad = bytearray(good)
    bad[16] = 0x01  # the second slot of the ldimm64 gets an opcode
    with pytest.raises(InstructionError, match="second slot") as info:
        Instructions.unmarshal(bytes(bad), "little")
    assert info.value.byte_offset == 16
    assert Instructions.unmarshal(b"", "little") == Instructions()
    assert Instructions.unmarshal(bytearray(good), "little").marshal("little") == good
    assert Instructions.unmarshal(memoryview(good), "little").marshal("little") == good


def test_repr_and_str() -> None:
    prog = Instructions([asm.exit()])
    assert repr(prog) == "Instructions([Instruction(opcode=0x95, dst=R0, src=R0, offset=0, " \
                         "constant=0)])"
    assert str(prog) == "   0: exit"
    long = Instructions([asm.mov.imm(R0, 0), asm.load_imm64(R1, 1)] * 36)
    assert repr(long) == "<Instructions: 72 instructions, 108 slots>"
    assert len(str(long).splitlines()) == 72


def test_speed_of_10000_instructions() -> None:
    """A loose guard against accidental quadratic behaviour, not a benchmark."""
    prog = Instructions([asm.mov.imm(R0, 0), asm.load_imm64(R1, 1), asm.jeq.imm(R1, 0, 1),
                         asm.call(Helper.ktime_get_ns), asm.exit()] * 2000)
    start = time.perf_counter()
    data = prog.marshal("little")
    back = Instructions.unmarshal(data, "little")
    elapsed = time.perf_counter() - start
    assert back == prog
    assert elapsed < 1.0


def test_pickle() -> None:
    prog = _prog()
    decoded = Instructions.unmarshal(prog.marshal("little"), "little")
    for value in (prog, decoded, prog[2], decoded[1]):
        assert pickle.loads(pickle.dumps(value)) == value
    try:
        Instructions([asm.ja("nowhere")]).marshal("little")
    except UnresolvedReferenceError as err:
        clone = pickle.loads(pickle.dumps(err))
        assert type(clone) is UnresolvedReferenceError
        assert (clone.reference, clone.index, clone.field) == ("nowhere", 0, "reference")
        assert str(clone) == str(err)
    else:
        raise AssertionError("no error")
