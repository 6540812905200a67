"""The instruction builder: the fields each function sets, and the inputs it refuses."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ebpf import asm
from ebpf.asm import (
    LDIMM64,
    R0,
    R1,
    R2,
    R3,
    R10,
    AtomicOp,
    Helper,
    Instruction,
    InstructionError,
    PseudoCall,
    PseudoLoad,
    Size,
)


def fields(ins: Instruction) -> tuple[int, int, int, int, int, str | None]:
    return (ins.opcode, int(ins.dst), int(ins.src), ins.offset, ins.constant, ins.reference)


def test_alu_families() -> None:
    assert fields(asm.mov.imm(R1, 7)) == (0xB7, 1, 0, 0, 7, None)
    assert fields(asm.mov.reg(R1, R6 := asm.R6)) == (0xBF, 1, int(R6), 0, 0, None)
    assert fields(asm.mov32.imm(R1, 7)) == (0xB4, 1, 0, 0, 7, None)
    assert fields(asm.add.reg(R1, R2)) == (0x0F, 1, 2, 0, 0, None)
    assert fields(asm.add32.reg(R1, R2)) == (0x0C, 1, 2, 0, 0, None)
    assert asm.sub.imm(R1, 1).opcode == 0x17
    assert asm.mul.imm(R1, 1).opcode == 0x27
    assert asm.div.imm(R1, 1).opcode == 0x37
    assert asm.or_.imm(R1, 1).opcode == 0x47
    assert asm.and_.imm(R1, 1).opcode == 0x57
    assert asm.lsh.imm(R1, 1).opcode == 0x67
    assert asm.rsh.imm(R1, 1).opcode == 0x77
    assert asm.mod.imm(R1, 1).opcode == 0x97
    assert asm.xor.imm(R1, 1).opcode == 0xA7
    assert asm.arsh.imm(R1, 1).opcode == 0xC7
    assert asm.or32.reg(R1, R2).opcode == 0x4C
    assert asm.and32.reg(R1, R2).opcode == 0x5C
    assert fields(asm.sdiv.reg(R1, R2)) == (0x3F, 1, 2, 1, 0, None)
    assert fields(asm.smod32.imm(R1, -3)) == (0x94, 1, 0, 1, -3, None)
    assert fields(asm.neg(R3)) == (0x87, 3, 0, 0, 0, None)
    assert fields(asm.neg32(R3)) == (0x84, 3, 0, 0, 0, None)
    assert repr(asm.add32) == "<asm.add32>"


def test_cpu_v4_moves_and_swaps() -> None:
    assert fields(asm.movsx(R1, R2, 32)) == (0xBF, 1, 2, 32, 0, None)
    assert fields(asm.movsx32(R1, R2, 8)) == (0xBC, 1, 2, 8, 0, None)
    assert fields(asm.bswap(R1, 32)) == (0xD7, 1, 0, 0, 32, None)
    assert fields(asm.to_le(R1, 16)) == (0xD4, 1, 0, 0, 16, None)
    assert fields(asm.to_be(R1, 64)) == (0xDC, 1, 0, 0, 64, None)
    assert fields(asm.addr_space_cast(R1, R2, 1, 0)) == (0xBF, 1, 2, 1, 0x10000, None)


def test_memory() -> None:
    assert asm.load_mem(R1, R2, 4, Size.H) == asm.ldx(Size.H, R1, R2, 4)
    assert fields(asm.ldx(Size.H, R1, R2, 4)) == (0x69, 1, 2, 4, 0, None)
    assert fields(asm.load_mem_sx(R1, R2, 4, Size.H)) == (0x89, 1, 2, 4, 0, None)
    assert asm.store_mem(R10, -8, R1, Size.DW) == asm.stx(Size.DW, R10, R1, -8)
    assert fields(asm.stx(Size.DW, R10, R1, -8)) == (0x7B, 10, 1, -8, 0, None)
    assert asm.store_imm(R10, -4, 9, Size.W) == asm.st(Size.W, R10, -4, 9)
    assert fields(asm.st(Size.B, R10, -1, 9)) == (0x72, 10, 0, -1, 9, None)
    assert fields(asm.load_abs(14, Size.H)) == (0x28, 0, 0, 0, 14, None)
    assert fields(asm.load_ind(R3, 2, Size.W)) == (0x40, 0, 3, 0, 2, None)


def test_ldimm64_forms() -> None:
    assert fields(asm.load_imm64(R1, 1 << 40)) == (LDIMM64, 1, 0, 0, 1 << 40, None)
    assert fields(asm.load_map_ptr(R1, 5)) == (LDIMM64, 1, PseudoLoad.MAP_FD, 0, 5, None)
    assert fields(asm.load_map_value(R1, 5, 12)) == (
        LDIMM64, 1, PseudoLoad.MAP_VALUE, 0, 12 << 32 | 5, None)
    assert fields(asm.load_map_by_name(R1, "counts")) == (
        LDIMM64, 1, PseudoLoad.MAP_FD, 0, 0, "counts")
    assert fields(asm.load_map_value_by_name(R1, ".rodata", 8)) == (
        LDIMM64, 1, PseudoLoad.MAP_VALUE, 0, 8 << 32, ".rodata")
    assert fields(asm.load_map_idx(R1, 3)) == (LDIMM64, 1, PseudoLoad.MAP_IDX, 0, 3, None)
    assert fields(asm.load_map_idx_value(R1, 3, 4)) == (
        LDIMM64, 1, PseudoLoad.MAP_IDX_VALUE, 0, 4 << 32 | 3, None)
    assert fields(asm.load_btf_id(R1, 99, btf_fd=7)) == (
        LDIMM64, 1, PseudoLoad.BTF_ID, 0, 7 << 32 | 99, None)
    assert fields(asm.load_btf_id(R1, "bpf_prog_active")) == (
        LDIMM64, 1, PseudoLoad.BTF_ID, 0, 0, "bpf_prog_active")
    assert fields(asm.load_func_ptr(R1, "cb")) == (LDIMM64, 1, PseudoLoad.FUNC, 0, 0, "cb")
    assert fields(asm.load_func_ptr(R1, 6)) == (LDIMM64, 1, PseudoLoad.FUNC, 0, 6, None)


def test_atomics() -> None:
    assert fields(asm.atomic_add(R1, 8, R2)) == (0xDB, 1, 2, 8, AtomicOp.ADD, None)
    assert asm.atomic_and(R1, 8, R2, Size.W, fetch=True).constant == AtomicOp.FETCH_AND
    assert asm.atomic_xor(R1, 8, R2).constant == AtomicOp.XOR
    assert asm.atomic_or(R1, 8, R2, fetch=True).constant == AtomicOp.FETCH_OR
    assert fields(asm.xchg(R1, 0, R2, Size.W)) == (0xC3, 1, 2, 0, AtomicOp.XCHG, None)
    assert asm.cmpxchg(R1, 0, R2).constant == AtomicOp.CMPXCHG
    assert asm.atomic(AtomicOp.FETCH_ADD, R1, 0, R2) == asm.atomic_add(R1, 0, R2, fetch=True)
    # load-acquire: dst receives, src is the base; store-release: dst is the base.
    assert fields(asm.load_acquire(R0, R1, 4, Size.B)) == (0xD3, 0, 1, 4, 0x100, None)
    assert fields(asm.store_release(R1, 4, R2, Size.H)) == (0xCB, 1, 2, 4, 0x110, None)


def test_jumps_and_calls() -> None:
    assert fields(asm.jeq.imm(R1, 5, "out")) == (0x15, 1, 0, 0, 5, "out")
    assert fields(asm.jeq.reg(R1, R2, 3)) == (0x1D, 1, 2, 3, 0, None)
    assert fields(asm.jne32.imm(R1, -1, -2)) == (0x56, 1, 0, -2, -1, None)
    assert asm.jset.reg(R1, R2, 0).opcode == 0x4D
    for op, code in ((asm.jgt, 0x25), (asm.jge, 0x35), (asm.jsgt, 0x65), (asm.jsge, 0x75),
                     (asm.jlt, 0xA5), (asm.jle, 0xB5), (asm.jslt, 0xC5), (asm.jsle, 0xD5)):
        assert op.imm(R1, 0, 0).opcode == code
    for op32, code in ((asm.jgt32, 0x26), (asm.jge32, 0x36), (asm.jsgt32, 0x66),
                       (asm.jsge32, 0x76), (asm.jlt32, 0xA6), (asm.jle32, 0xB6),
                       (asm.jslt32, 0xC6), (asm.jsle32, 0xD6), (asm.jeq32, 0x16),
                       (asm.jset32, 0x46)):
        assert op32.imm(R1, 0, 0).opcode == code
    assert fields(asm.ja("loop")) == (0x05, 0, 0, 0, 0, "loop")
    assert fields(asm.ja32(70000)) == (0x06, 0, 0, 0, 70000, None)
    assert fields(asm.may_goto("out")) == (0xE5, 0, 0, 0, 0, "out")
    assert fields(asm.call(Helper.ringbuf_output)) == (0x85, 0, 0, 0, 130, None)
    assert fields(asm.call_func("f")) == (0x85, 0, PseudoCall.CALL, 0, 0, "f")
    assert fields(asm.call_kfunc(1234)) == (0x85, 0, PseudoCall.KFUNC_CALL, 0, 1234, None)
    assert fields(asm.call_kfunc("bpf_obj_new_impl", btf_fd_index=1)) == (
        0x85, 0, PseudoCall.KFUNC_CALL, 1, 0, "bpf_obj_new_impl")
    assert fields(asm.exit()) == (0x95, 0, 0, 0, 0, None)
    assert asm.ret() == asm.exit()


@pytest.mark.parametrize(("make", "field"), [
    (lambda: asm.movsx(R1, R2, 64), "offset"),
    (lambda: asm.movsx32(R1, R2, 32), "offset"),
    (lambda: asm.bswap(R1, 8), "constant"),
    (lambda: asm.to_be(R1, 24), "constant"),
    (lambda: asm.load_mem_sx(R1, R2, 0, Size.DW), "opcode"),
    (lambda: asm.atomic_add(R1, 0, R2, Size.B), "opcode"),
    (lambda: asm.xchg(R1, 0, R2, Size.H), "opcode"),
    (lambda: asm.load_abs(0, Size.DW), "opcode"),
    (lambda: asm.load_ind(R1, 0, Size.DW), "opcode"),
    (lambda: asm.addr_space_cast(R1, R2, 0x10000, 0), "constant"),
    (lambda: asm.load_map_ptr(R1, -1), "constant"),
    (lambda: asm.load_map_value(R1, 3, 1 << 32), "constant"),
    (lambda: asm.mov.imm(R1, 1 << 32), "constant"),
    (lambda: asm.load_mem(R1, R2, 1 << 15, Size.W), "offset"),
    (lambda: asm.jeq.imm(R1, 0, 1 << 15), "offset"),
    (lambda: asm.ja(""), "reference"),
])
def test_refused(make: Callable[[], Instruction], field: str) -> None:
    with pytest.raises(InstructionError) as info:
        make()
    assert info.value.field == field


def test_readme_example_program() -> None:
    prog = asm.Instructions([
        asm.store_imm(R10, -4, 0, Size.W),
        asm.mov.reg(R2, R10),
        asm.add.imm(R2, -4),
        asm.load_map_by_name(R1, "counts"),
        asm.call(Helper.map_lookup_elem),
        asm.jeq.imm(R0, 0, "out"),
        asm.mov.imm(R1, 1),
        asm.atomic_add(R0, 0, R1, Size.DW),
        "out:",
        asm.mov.imm(R0, 0),
        asm.exit(),
    ])
    code = prog.marshal("little")
    assert len(code) == 8 * 11
    assert code[6 * 8 + 2:6 * 8 + 4] == (2).to_bytes(2, "little")  # jeq skips 2 slots
