"""Opcode enums, OpCode composition and registers (values from the kernel's UAPI headers)."""

from __future__ import annotations

import pytest

from ebpf.asm import (
    LDIMM64,
    R0,
    R1,
    R10,
    RFP,
    ALUOp,
    AtomicOp,
    Class,
    Endianness,
    JumpOp,
    Mode,
    OpCode,
    PseudoCall,
    PseudoJump,
    PseudoLoad,
    Register,
    Size,
    Source,
)


def test_class_values() -> None:
    assert [(c.name, c.value) for c in Class] == [
        ("LD", 0), ("LDX", 1), ("ST", 2), ("STX", 3), ("ALU", 4), ("JMP", 5), ("JMP32", 6),
        ("ALU64", 7)]
    assert Class.STX.is_load_store and not Class.ALU.is_load_store
    assert Class.ALU.is_alu and Class.ALU64.is_alu and not Class.JMP.is_alu
    assert Class.JMP.is_jump and Class.JMP32.is_jump and not Class.ALU64.is_jump


def test_size_mode_source_values() -> None:
    assert (Size.W, Size.H, Size.B, Size.DW) == (0x00, 0x08, 0x10, 0x18)
    assert [s.bytes for s in (Size.B, Size.H, Size.W, Size.DW)] == [1, 2, 4, 8]
    assert Size.DW.bits == 64
    assert Size.of_width(2) is Size.H
    with pytest.raises(ValueError, match="3 bytes"):
        Size.of_width(3)
    assert (Mode.IMM, Mode.ABS, Mode.IND, Mode.MEM, Mode.MEMSX, Mode.ATOMIC) == (
        0x00, 0x20, 0x40, 0x60, 0x80, 0xC0)
    assert (Source.K, Source.X) == (0, 8)
    assert Source["IMM"] is Source.K and Source["REG"] is Source.X
    assert (Endianness.TO_LE, Endianness.TO_BE) == (0, 8)
    assert Endianness["FROM_BE"] is Endianness.TO_BE


def test_alu_and_jump_ops() -> None:
    assert [op.value for op in ALUOp] == [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70,
                                          0x80, 0x90, 0xA0, 0xB0, 0xC0, 0xD0]
    assert [op.name for op in JumpOp] == [
        "JA", "JEQ", "JGT", "JGE", "JSET", "JNE", "JSGT", "JSGE", "CALL", "EXIT", "JLT", "JLE",
        "JSLT", "JSLE", "JCOND"]
    assert [op.value for op in JumpOp] == [i * 0x10 for i in range(15)]


def test_atomic_ops() -> None:
    assert {op.name: op.value for op in AtomicOp} == {
        "ADD": 0x00, "OR": 0x40, "AND": 0x50, "XOR": 0xA0, "FETCH_ADD": 0x01,
        "FETCH_OR": 0x41, "FETCH_AND": 0x51, "FETCH_XOR": 0xA1, "XCHG": 0xE1,
        "CMPXCHG": 0xF1, "LOAD_ACQ": 0x100, "STORE_REL": 0x110}
    assert AtomicOp.FETCH_OR.fetches and not AtomicOp.OR.fetches
    assert AtomicOp.XCHG.fetches and not AtomicOp.LOAD_ACQ.fetches
    assert AtomicOp.FETCH_AND.base is AtomicOp.AND
    assert AtomicOp.CMPXCHG.base is AtomicOp.CMPXCHG


def test_pseudo_sources() -> None:
    assert [(p.name, p.value) for p in PseudoLoad] == [
        ("NONE", 0), ("MAP_FD", 1), ("MAP_VALUE", 2), ("BTF_ID", 3), ("FUNC", 4),
        ("MAP_IDX", 5), ("MAP_IDX_VALUE", 6)]
    assert (PseudoCall.HELPER, PseudoCall.CALL, PseudoCall.KFUNC_CALL) == (0, 1, 2)
    assert PseudoJump.MAY_GOTO.value == 0


def test_opcode_compose() -> None:
    assert OpCode.alu(ALUOp.MOV, Source.K) == 0xB7
    assert OpCode.alu(ALUOp.ADD, Source.X, Class.ALU) == 0x0C
    assert OpCode.jump(JumpOp.EXIT) == 0x95
    assert OpCode.jump(JumpOp.JEQ, Source.X, Class.JMP32) == 0x1E
    assert OpCode.mem(Class.LDX, Size.W) == 0x61
    assert OpCode.mem(Class.STX, Size.DW, Mode.ATOMIC) == 0xDB
    assert OpCode.mem(Class.LD, Size.DW, Mode.IMM) == LDIMM64 == 0x18
    assert OpCode.endian(Endianness.TO_BE) == 0xDC
    assert OpCode.bswap() == 0xD7
    with pytest.raises(ValueError):
        OpCode.alu(ALUOp.ADD, Source.K, Class.JMP)
    with pytest.raises(ValueError):
        OpCode.jump(JumpOp.JA, Source.K, Class.ALU)
    with pytest.raises(ValueError):
        OpCode.mem(Class.ALU, Size.W)
    with pytest.raises(ValueError):
        OpCode.endian(Endianness.TO_BE, Class.ALU64)
    with pytest.raises(ValueError, match="8 bits"):
        OpCode(0x100)


def test_opcode_decompose() -> None:
    op = OpCode(0x61)
    assert (op.cls, op.size, op.mode, op.source, op.alu_op, op.jump_op) == (
        Class.LDX, Size.W, Mode.MEM, None, None, None)
    op = OpCode(0x1E)
    assert (op.cls, op.source, op.jump_op, op.alu_op, op.size) == (
        Class.JMP32, Source.X, JumpOp.JEQ, None, None)
    op = OpCode(0xC7)
    assert (op.cls, op.alu_op, op.source) == (Class.ALU64, ALUOp.ARSH, Source.K)
    assert OpCode(0x18).is_ldimm64 and not OpCode(0x10).is_ldimm64
    # Unknown parts decode as None rather than raising.
    assert OpCode(0xF7).alu_op is None
    assert OpCode(0xF5).jump_op is None
    assert OpCode(0xA1).mode is None


def test_opcode_every_byte_decomposes() -> None:
    for value in range(256):
        op = OpCode(value)
        assert isinstance(op.describe(), str)
        assert repr(op).startswith(f"OpCode({value:#04x}")


def test_opcode_describe() -> None:
    assert OpCode(0x07).describe() == "ALU64|ADD|K"
    assert OpCode(0x61).describe() == "LDX|MEM|W"
    assert OpCode(0xD7).describe() == "ALU64|END|BSWAP"
    assert OpCode(0xDC).describe() == "ALU|END|TO_BE"
    assert repr(OpCode(0x95)) == "OpCode(0x95: JMP|EXIT|K)"


def test_registers() -> None:
    assert len(Register) == 11
    assert [int(r) for r in Register] == list(range(11))
    assert RFP is R10 and Register["RFP"] is Register.R10
    assert str(R1) == "r1" and f"{R10}" == "r10" and f"{R1:d}" == "1"
    assert R1.w == "w1"
    assert Register(0) is R0
