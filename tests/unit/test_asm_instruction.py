"""Instruction: fields, normalisation, errors, and bit-exact encoding in both byte orders."""

from __future__ import annotations

import dataclasses
import random
import struct
from collections.abc import Callable

import pytest

from ebpf import asm
from ebpf.asm import (
    LDIMM64,
    R0,
    R1,
    R2,
    R3,
    R4,
    R5,
    R10,
    ByteOrder,
    Helper,
    Instruction,
    InstructionError,
    Instructions,
    PseudoLoad,
    Register,
    Size,
)
from ebpf.errors import EbpfError

BYTE_ORDERS: tuple[ByteOrder, ...] = ("little", "big")

# Each row: the builder call, its encoding as assembled by llvm-mc-19 (-mcpu=v4) for bpfel and
# bpfeb, and its disassembly. The bytes are the assembler's, not ours.
LLVM_VECTORS: list[tuple[Callable[[], Instruction], str, str, str]] = [
    (lambda: asm.mov.imm(R0, 0), "b700000000000000", "b700000000000000", "r0 = 0"),
    (lambda: asm.add32.imm(R1, 5), "0401000005000000", "0410000000000005", "w1 += 5"),
    (lambda: asm.load_mem(R1, R10, -4, Size.W), "61a1fcff00000000", "611afffc00000000",
     "r1 = *(u32 *)(r10 - 4)"),
    (lambda: asm.store_mem(R10, -8, R1, Size.DW), "7b1af8ff00000000", "7ba1fff800000000",
     "*(u64 *)(r10 - 8) = r1"),
    (lambda: asm.store_imm(R1, 0, 5, Size.W), "6201000005000000", "6210000000000005",
     "*(u32 *)(r1 + 0) = 5"),
    (lambda: asm.atomic_add(R1, 0, R2), "db21000000000000", "db12000000000000",
     "lock *(u64 *)(r1 + 0) += r2"),
    (lambda: asm.atomic_add(R1, 0, R2, Size.W), "c321000000000000", "c312000000000000",
     "lock *(u32 *)(r1 + 0) += w2"),
    (lambda: asm.atomic_add(R1, 0, R0, fetch=True), "db01000001000000", "db10000000000001",
     "r0 = atomic64_fetch_add((u64 *)(r1 + 0), r0)"),
    (lambda: asm.atomic_or(R1, 8, R3, Size.W, fetch=True), "c331080041000000",
     "c313000800000041", "w3 = atomic_fetch_or((u32 *)(r1 + 8), w3)"),
    (lambda: asm.xchg(R1, 0, R0), "db010000e1000000", "db100000000000e1",
     "r0 = atomic64_xchg((u64 *)(r1 + 0), r0)"),
    (lambda: asm.cmpxchg(R1, 0, R2), "db210000f1000000", "db120000000000f1",
     "r0 = atomic64_cmpxchg((u64 *)(r1 + 0), r0, r2)"),
    (lambda: asm.cmpxchg(R1, 0, R2, Size.W), "c3210000f1000000", "c3120000000000f1",
     "w0 = atomic_cmpxchg((u32 *)(r1 + 0), w0, w2)"),
    (lambda: asm.load_imm64(R1, 0x1234), "18010000341200000000000000000000",
     "18100000000012340000000000000000", "r1 = 0x1234 ll"),
    (lambda: asm.call(Helper.map_lookup_elem), "8500000001000000", "8500000000000001",
     "call bpf_map_lookup_elem#1"),
    (lambda: asm.jeq.imm(R1, 0, 1), "1501010000000000", "1510000100000000",
     "if r1 == 0x0 goto pc+1"),
    (lambda: asm.jsgt32.reg(R1, R2, 0), "6e21000000000000", "6e12000000000000",
     "if w1 s> w2 goto pc+0"),
    (lambda: asm.to_be(R1, 16), "dc01000010000000", "dc10000000000010", "r1 = be16 r1"),
    (lambda: asm.to_le(R1, 32), "d401000020000000", "d410000000000020", "r1 = le32 r1"),
    (lambda: asm.bswap(R1, 64), "d701000040000000", "d710000000000040", "r1 = bswap64 r1"),
    (lambda: asm.bswap(R1, 16), "d701000010000000", "d710000000000010", "r1 = bswap16 r1"),
    (lambda: asm.movsx(R1, R2, 8), "bf21080000000000", "bf12000800000000", "r1 = (s8)r2"),
    (lambda: asm.movsx32(R1, R2, 16), "bc21100000000000", "bc12001000000000",
     "w1 = (s16)w2"),
    (lambda: asm.movsx(R1, R2, 32), "bf21200000000000", "bf12002000000000", "r1 = (s32)r2"),
    (lambda: asm.sdiv.imm(R1, 3), "3701010003000000", "3710000100000003", "r1 s/= 3"),
    (lambda: asm.smod32.reg(R1, R2), "9c21010000000000", "9c12000100000000", "w1 s%= w2"),
    (lambda: asm.load_mem_sx(R1, R2, 3, Size.B), "9121030000000000", "9112000300000000",
     "r1 = *(s8 *)(r2 + 3)"),
    (lambda: asm.load_mem_sx(R1, R2, -3, Size.W), "8121fdff00000000", "8112fffd00000000",
     "r1 = *(s32 *)(r2 - 3)"),
    (lambda: asm.ja32(2), "0600000002000000", "0600000000000002", "gotol pc+2"),
    (lambda: asm.ja(-1), "0500ffff00000000", "0500ffff00000000", "goto pc-1"),
    (lambda: asm.load_abs(12, Size.B), "300000000c000000", "300000000000000c",
     "r0 = *(u8 *)skb[12]"),
    (lambda: asm.neg(R1), "8701000000000000", "8710000000000000", "r1 = -r1"),
    (lambda: asm.neg32(R1), "8401000000000000", "8410000000000000", "w1 = -w1"),
    (lambda: asm.arsh.imm(R1, 3), "c701000003000000", "c710000000000003", "r1 s>>= 3"),
    (lambda: asm.may_goto(1), "e500010000000000", "e500000100000000", "may_goto pc+1"),
    (lambda: asm.addr_space_cast(R1, R2, 0, 1), "bf21010001000000", "bf12000100000001",
     "r1 = addr_space_cast(r2, 0, 1)"),
    (lambda: asm.exit(), "9500000000000000", "9500000000000000", "exit"),
    (lambda: asm.load_ind(R2, 0, Size.H), "4820000000000000", "4802000000000000",
     "r0 = *(u16 *)skb[r2 + 0]"),
]


@pytest.mark.parametrize(("make", "little", "big", "text"), LLVM_VECTORS,
                         ids=[row[3] for row in LLVM_VECTORS])
def test_llvm_vectors(make: Callable[[], Instruction], little: str, big: str,
                      text: str) -> None:
    ins = make()
    assert ins.marshal("little").hex() == little
    assert ins.marshal("big").hex() == big
    assert Instruction.unmarshal(bytes.fromhex(little), "little") == ins
    assert Instruction.unmarshal(bytes.fromhex(big), "big") == ins
    assert str(ins) == text


def test_hand_derived_vectors() -> None:
    # r0 = 0: code 0xb7 (ALU64|MOV|K), regs 0, off 0, imm 0.  exit: code 0x95.
    prog = Instructions([asm.mov.imm(R0, 0), asm.exit()])
    assert prog.marshal("little") == bytes.fromhex("b700000000000000 9500000000000000")
    # r1 = *(u64 *)(r10 - 8): code 0x79; little-endian regs = src << 4 | dst = 0xa1;
    # off -8 = 0xfff8; big-endian regs = dst << 4 | src = 0x1a.
    ins = asm.load_mem(R1, R10, -8, Size.DW)
    assert ins.marshal("little") == bytes([0x79, 0xA1, 0xF8, 0xFF, 0, 0, 0, 0])
    assert ins.marshal("big") == bytes([0x79, 0x1A, 0xFF, 0xF8, 0, 0, 0, 0])
    # w2 -= -1 (0x14): imm -1 is ff ff ff ff in either order.
    ins = asm.sub32.imm(R2, -1)
    assert ins.marshal("little") == bytes([0x14, 0x02, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF])
    assert ins.marshal("big") == bytes([0x14, 0x20, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF])
    # r3 = 0x1122334455667788 ll: low half in slot 0, high half in slot 1's imm.
    ins = asm.load_imm64(R3, 0x1122334455667788)
    assert ins.marshal("little") == bytes.fromhex(
        "1803000088776655" "0000000044332211")
    assert ins.marshal("big") == bytes.fromhex(
        "1830000055667788" "0000000011223344")


@pytest.mark.parametrize("byteorder", ["little", "big"])
def test_register_nibbles(byteorder: ByteOrder) -> None:
    for dst in Register:
        for src in Register:
            ins = asm.mov.reg(dst, src)
            regs = ins.marshal(byteorder)[1]
            if byteorder == "little":
                assert regs == src << 4 | dst
            else:
                assert regs == dst << 4 | src
            assert Instruction.unmarshal(ins.marshal(byteorder), byteorder) == ins


def test_defaults_and_fields() -> None:
    ins = Instruction(0x95)
    assert (ins.dst, ins.src, ins.offset, ins.constant) == (R0, R0, 0, 0)
    assert (ins.symbol, ins.reference, ins.source) == (None, None, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ins.offset = 3  # type: ignore[misc]
    assert not hasattr(ins, "__dict__")


def test_registers_given_as_ints() -> None:
    ins = Instruction(0xBF, 1, 10)  # type: ignore[arg-type]
    assert ins.dst is Register.R1 and ins.src is Register.R10
    assert ins == asm.mov.reg(R1, R10)


def test_constant_normalisation() -> None:
    # 32-bit immediates: unsigned inputs are stored as the signed value with the same bits.
    assert asm.mov.imm(R0, 0xFFFF_FFFF).constant == -1
    assert asm.mov.imm(R0, 0x8000_0000).constant == -0x8000_0000
    assert asm.mov.imm(R0, 0x7FFF_FFFF).constant == 0x7FFF_FFFF
    assert asm.mov.imm(R0, 0xFFFF_FFFF) == asm.mov.imm(R0, -1)
    assert asm.mov.imm(R0, 0xFFFF_FFFF).marshal("little") == asm.mov.imm(R0, -1).marshal(
        "little")
    # 64-bit immediates: the same rule at 64 bits.
    assert asm.load_imm64(R0, 0xFFFF_FFFF_FFFF_FFFF).constant == -1
    assert asm.load_imm64(R0, 0xFFFF_FFFF).constant == 0xFFFF_FFFF
    assert asm.load_imm64(R0, -(1 << 63)).constant == -(1 << 63)
    # Int-like values (enums) are stored as plain ints.
    ins = asm.call(Helper.ktime_get_ns)
    assert type(ins.constant) is int and ins.constant == 5
    assert type(asm.mov.imm(R0, 0).opcode) is int


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"opcode": 0x100}, "opcode"),
    ({"opcode": -1}, "opcode"),
    ({"opcode": 0xB7, "dst": 11}, "dst"),
    ({"opcode": 0xB7, "src": 15}, "src"),
    ({"opcode": 0xB7, "dst": -1}, "dst"),
    ({"opcode": 0x05, "offset": 0x8000}, "offset"),
    ({"opcode": 0x05, "offset": -0x8001}, "offset"),
    ({"opcode": 0xB7, "constant": 1 << 32}, "constant"),
    ({"opcode": 0xB7, "constant": -(1 << 31) - 1}, "constant"),
    ({"opcode": LDIMM64, "constant": 1 << 64}, "constant"),
    ({"opcode": LDIMM64, "constant": -(1 << 63) - 1}, "constant"),
])
def test_out_of_range_fields(kwargs: dict[str, int], field: str) -> None:
    with pytest.raises(InstructionError) as info:
        Instruction(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    assert field in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, EbpfError)


def test_limits_are_accepted() -> None:
    Instruction(0x05, offset=0x7FFF)
    Instruction(0x05, offset=-0x8000)
    Instruction(0xB7, constant=-(1 << 31))
    Instruction(0xB7, constant=(1 << 32) - 1)
    Instruction(LDIMM64, constant=(1 << 64) - 1)
    Instruction(0xFF)


def test_wrong_types() -> None:
    with pytest.raises(TypeError, match="constant"):
        Instruction(0xB7, constant="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="offset"):
        Instruction(0xB7, offset=1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dst"):
        Instruction(0xB7, dst="r1")  # type: ignore[arg-type]


def test_predicates() -> None:
    helper = asm.call(Helper.map_lookup_elem)
    func = asm.call_func("f")
    kfunc = asm.call_kfunc(77)
    assert helper.is_call and helper.is_helper_call and not helper.is_function_call
    assert func.is_call and func.is_function_call and func.is_bpf_to_bpf_call
    assert not func.is_helper_call
    assert kfunc.is_kfunc_call and not kfunc.is_helper_call
    assert helper.helper is Helper.map_lookup_elem and func.helper is None
    assert asm.call(100000).helper is None
    for jump in (asm.ja(1), asm.ja32(1), asm.jeq.imm(R1, 0, 1), asm.jsle32.reg(R1, R2, 1),
                 asm.may_goto(1)):
        assert jump.is_jump and not jump.is_call and not jump.is_exit
    assert not helper.is_jump and not asm.exit().is_jump
    assert asm.exit().is_exit
    ld = asm.load_imm64(R1, 1)
    assert ld.is_ldimm64 and ld.size == 16 and ld.slots == 2 and not ld.is_load_from_map
    assert asm.mov.imm(R0, 0).size == 8
    for map_load in (asm.load_map_ptr(R1, 3), asm.load_map_value(R1, 3, 8),
                     asm.load_map_idx(R1, 0), asm.load_map_idx_value(R1, 0, 4),
                     asm.load_map_by_name(R1, "m")):
        assert map_load.is_load_from_map
    assert not asm.load_btf_id(R1, 5).is_load_from_map
    assert asm.load_func_ptr(R1, "f").is_load_of_function_pointer


def test_with_methods() -> None:
    ins = asm.mov.imm(R0, 1)
    assert ins.with_symbol("main").symbol == "main"
    assert ins.with_symbol("main").with_symbol(None).symbol is None
    assert ins.with_reference("x").reference == "x"
    assert ins.with_constant(0xFFFF_FFFF).constant == -1
    assert ins.with_offset(-2).offset == -2
    assert ins.with_source("return 1;").source == "return 1;"
    assert ins.constant == 1 and ins.symbol is None  # unchanged
    with pytest.raises(InstructionError) as info:
        ins.with_offset(1 << 20)
    assert info.value.field == "offset"


def test_with_map_fd() -> None:
    value = asm.load_map_value_by_name(R1, ".data", 16)
    assert value.with_map_fd(7).constant == 16 << 32 | 7
    assert asm.load_map_by_name(R1, "m").with_map_fd(9).constant == 9
    with pytest.raises(InstructionError):
        asm.load_imm64(R1, 0).with_map_fd(3)
    with pytest.raises(InstructionError):
        value.with_map_fd(-1)


def test_equality_and_hash() -> None:
    a = asm.mov.imm(R0, 0)
    assert a == asm.mov.imm(R0, 0) and hash(a) == hash(asm.mov.imm(R0, 0))
    assert a != a.with_symbol("x")
    assert a != a.with_reference("x")
    # A source annotation is for display only.
    assert a == a.with_source("x = 0;")
    assert len({a, a.with_source("y")}) == 1


def test_repr() -> None:
    ins = asm.jeq.imm(R1, 0, "out").with_symbol("main")
    assert repr(ins) == ("Instruction(opcode=0x15, dst=R1, src=R0, offset=0, constant=0, "
                         "symbol='main', reference='out')")
    assert eval(repr(asm.mov.imm(R2, 3)), {"Instruction": Instruction, "R0": R0,
                                            "R2": R2}) == asm.mov.imm(R2, 3)


def test_unmarshal_at_offset() -> None:
    data = Instructions([asm.mov.imm(R0, 0), asm.load_imm64(R1, -5), asm.exit()]).marshal(
        "little")
    assert Instruction.unmarshal(data, "little", 8) == asm.load_imm64(R1, -5)
    assert Instruction.unmarshal(data, "little", 24) == asm.exit()
    assert Instruction.unmarshal(bytearray(data), "little", 0) == asm.mov.imm(R0, 0)
    assert Instruction.unmarshal(memoryview(data), "little", 0) == asm.mov.imm(R0, 0)


def test_unmarshal_errors() -> None:
    with pytest.raises(InstructionError) as info:
        Instruction.unmarshal(b"\x95\x00\x00", "little")
    assert info.value.byte_offset == 0
    with pytest.raises(InstructionError, match="truncated") as info:
        Instruction.unmarshal(asm.load_imm64(R1, 0).marshal("little")[:8], "little")
    with pytest.raises(InstructionError) as info:
        Instruction.unmarshal(bytes([0xB7, 0x0B, 0, 0, 0, 0, 0, 0]), "little")
    assert info.value.field == "dst" and "11" in str(info.value)
    with pytest.raises(InstructionError) as info:
        Instruction.unmarshal(bytes([0xB7, 0x0B, 0, 0, 0, 0, 0, 0]), "big")
    assert info.value.field == "src"
    with pytest.raises(ValueError, match="byte order"):
        Instruction.unmarshal(bytes(8), "middle")  # type: ignore[arg-type]


def test_ldimm64_second_slot_must_be_clear() -> None:
    good = bytearray(asm.load_imm64(R1, 1).marshal("little"))
    for position in (8, 9, 10, 11):
        bad = bytearray(good)
        bad[position] = 1
        with pytest.raises(InstructionError, match="second slot") as info:
            Instruction.unmarshal(bytes(bad), "little")
        assert info.value.byte_offset == 8


# Every family, every ldimm64 pseudo source, cpu v4 and the atomics.
FAMILIES: list[Instruction] = [
    *(op.imm(R1, -7) for op in (asm.mov, asm.add, asm.sub, asm.mul, asm.div, asm.mod, asm.or_,
                                asm.and_, asm.xor, asm.lsh, asm.rsh, asm.arsh, asm.sdiv,
                                asm.smod)),
    *(op.reg(R2, R3) for op in (asm.mov32, asm.add32, asm.sub32, asm.mul32, asm.div32,
                                asm.mod32, asm.or32, asm.and32, asm.xor32, asm.lsh32,
                                asm.rsh32, asm.arsh32, asm.sdiv32, asm.smod32)),
    asm.neg(R4), asm.neg32(R4), asm.movsx(R1, R2, 16), asm.movsx32(R1, R2, 8),
    asm.bswap(R5, 32), asm.to_le(R5, 64), asm.to_be(R5, 32),
    asm.addr_space_cast(R1, R2, 1, 0),
    *(asm.load_mem(R1, R2, -2, size) for size in Size),
    *(asm.load_mem_sx(R1, R2, 2, size) for size in (Size.B, Size.H, Size.W)),
    *(asm.store_mem(R10, -16, R3, size) for size in Size),
    *(asm.store_imm(R10, -16, -1, size) for size in Size),
    *(asm.load_abs(4, size) for size in (Size.B, Size.H, Size.W)),
    *(asm.load_ind(R3, 4, size) for size in (Size.B, Size.H, Size.W)),
    *(f(R1, 8, R2, size, fetch=fetch)
      for f in (asm.atomic_add, asm.atomic_or, asm.atomic_and, asm.atomic_xor)
      for size in (Size.W, Size.DW) for fetch in (False, True)),
    asm.xchg(R1, 0, R2, Size.W), asm.xchg(R1, 0, R2), asm.cmpxchg(R1, 0, R2, Size.W),
    asm.cmpxchg(R1, 0, R2),
    *(asm.load_acquire(R0, R1, 4, size) for size in Size),
    *(asm.store_release(R1, 4, R2, size) for size in Size),
    asm.load_imm64(R1, 0x0123_4567_89AB_CDEF), asm.load_imm64(R1, -2),
    asm.load_map_ptr(R1, 5), asm.load_map_value(R1, 5, 0xFFFF_FFFF), asm.load_btf_id(R1, 9),
    asm.load_btf_id(R1, 9, btf_fd=4), asm.load_func_ptr(R1, 3), asm.load_map_idx(R1, 2),
    asm.load_map_idx_value(R1, 2, 64),
    *(op.imm(R1, -1, 5) for op in (asm.jeq, asm.jne, asm.jset, asm.jgt, asm.jge, asm.jlt,
                                   asm.jle, asm.jsgt, asm.jsge, asm.jslt, asm.jsle)),
    *(op.reg(R1, R2, -5) for op in (asm.jeq32, asm.jne32, asm.jset32, asm.jgt32, asm.jge32,
                                    asm.jlt32, asm.jle32, asm.jsgt32, asm.jsge32, asm.jslt32,
                                    asm.jsle32)),
    asm.ja(7), asm.ja32(-100000), asm.may_goto(2),
    asm.call(Helper.trace_printk), asm.call_func(-3), asm.call_kfunc(12345, btf_fd_index=2),
    asm.exit(),
]


@pytest.mark.parametrize("byteorder", ["little", "big"])
def test_every_family_round_trips(byteorder: ByteOrder) -> None:
    for ins in FAMILIES:
        data = ins.marshal(byteorder)
        assert len(data) == ins.size
        back = Instruction.unmarshal(data, byteorder)
        assert back == ins, str(ins)
        assert back.marshal(byteorder) == data
        assert not str(back).startswith("invalid"), str(back)


def test_every_family_differs_between_byte_orders() -> None:
    for ins in FAMILIES:
        if ins.dst != ins.src or ins.offset or ins.constant:
            assert ins.marshal("little") != ins.marshal("big"), str(ins)


def _random_instruction(rng: random.Random) -> Instruction:
    """Any opcode with random fields: every encodable bit pattern is fair game."""
    opcode = rng.randrange(256)
    dst = rng.randrange(11)
    src = rng.randrange(11)
    offset = rng.randrange(-(1 << 15), 1 << 15)
    if opcode == LDIMM64:
        constant = rng.choice([rng.randrange(-(1 << 63), 1 << 64), rng.randrange(-5, 5),
                               rng.randrange(1 << 32)])
    else:
        constant = rng.choice([rng.randrange(-(1 << 31), 1 << 32), rng.randrange(-5, 5)])
    return Instruction(opcode, dst, src, offset, constant)  # type: ignore[arg-type]


@pytest.mark.parametrize("byteorder", ["little", "big"])
def test_random_streams_round_trip(byteorder: ByteOrder) -> None:
    rng = random.Random(0xEBFF)
    insns = Instructions(_random_instruction(rng) for _ in range(5000))
    data = insns.marshal(byteorder)
    assert len(data) == 8 * insns.slots
    back = Instructions.unmarshal(data, byteorder)
    assert back == insns
    assert back.marshal(byteorder) == data
    for ins in back:  # the disassembler never raises, whatever the bits
        assert str(ins)
    assert str(back)


@pytest.mark.parametrize("byteorder", ["little", "big"])
def test_random_bytes_round_trip(byteorder: ByteOrder) -> None:
    """Raw slots with valid register nibbles decode and re-encode to the same bytes."""
    rng = random.Random(1234)
    fmt = struct.Struct("<BBhi" if byteorder == "little" else ">BBhi")
    chunks = []
    for _ in range(4000):
        opcode = rng.randrange(256)
        regs = rng.randrange(11) << 4 | rng.randrange(11)
        chunks.append(fmt.pack(opcode, regs, rng.randrange(-(1 << 15), 1 << 15),
                               rng.randrange(-(1 << 31), 1 << 31)))
        if opcode == LDIMM64:
            chunks.append(fmt.pack(0, 0, 0, rng.randrange(-(1 << 31), 1 << 31)))
    data = b"".join(chunks)
    insns = Instructions.unmarshal(data, byteorder)
    assert insns.marshal(byteorder) == data


def test_ldimm64_pseudo_sources_keep_both_halves() -> None:
    for pseudo in PseudoLoad:
        ins = Instruction(LDIMM64, R1, Register(pseudo), 0, 0xDEAD_BEEF_0000_0007)
        for byteorder in BYTE_ORDERS:
            data = ins.marshal(byteorder)
            back = Instruction.unmarshal(data, byteorder)
            assert back == ins and int(back.src) == pseudo
            assert back.constant & 0xFFFF_FFFF == 7
            assert (back.constant >> 32) & 0xFFFF_FFFF == 0xDEAD_BEEF
