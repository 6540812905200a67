"""Disassembly text: single instructions, whole programs with labels, and invalid encodings."""

from __future__ import annotations

import pytest

from ebpf import asm
from ebpf.asm import (
    LDIMM64,
    R0,
    R1,
    R2,
    R3,
    R6,
    R10,
    Helper,
    Instruction,
    Instructions,
    Register,
    Size,
    format_instruction,
    format_instructions,
)


def _program() -> Instructions:
    return Instructions([
        "main:",
        asm.mov.reg(R6, R1).with_source("int main(struct __sk_buff *skb)"),
        asm.store_imm(R10, -4, 0, Size.W),
        asm.mov.reg(R2, R10),
        asm.add.imm(R2, -4),
        asm.load_map_by_name(R1, "counts"),
        asm.call(Helper.map_lookup_elem),
        asm.jeq.imm(R0, 0, "out"),
        asm.load_mem(R1, R6, 0, Size.W),
        asm.atomic_add(R0, 0, R1, Size.DW),
        asm.mov.imm(R1, 1),
        asm.call_func("double"),
        asm.jsgt32.reg(R0, R1, 1),
        asm.ja(-3),
        "out:",
        asm.mov32.imm(R0, 0),
        asm.exit(),
        "double:",
        asm.mov.reg(R0, R1),
        asm.lsh.imm(R0, 1),
        asm.exit(),
    ])


def test_program_with_symbols_and_references() -> None:
    assert str(_program()) == """\
main:
      ; int main(struct __sk_buff *skb)
   0: r6 = r1
   1: *(u32 *)(r10 - 4) = 0
   2: r2 = r10
   3: r2 += -4
   4: r1 = map[counts]
   6: call bpf_map_lookup_elem#1
   7: if r0 == 0x0 goto out
   8: r1 = *(u32 *)(r6 + 0)
   9: lock *(u64 *)(r0 + 0) += r1
  10: r1 = 1
.L11:
  11: call double
  12: if w0 s> w1 goto out
  13: goto .L11
out:
  14: w0 = 0
  15: exit
double:
  16: r0 = r1
  17: r0 <<= 1
  18: exit"""


def test_decoded_program_gets_generated_labels() -> None:
    prog = _program()
    decoded = Instructions.unmarshal(prog.marshal("big"), "big")
    assert str(decoded) == """\
   0: r6 = r1
   1: *(u32 *)(r10 - 4) = 0
   2: r2 = r10
   3: r2 += -4
   4: r1 = map[fd:0]
   6: call bpf_map_lookup_elem#1
   7: if r0 == 0x0 goto .L14
   8: r1 = *(u32 *)(r6 + 0)
   9: lock *(u64 *)(r0 + 0) += r1
  10: r1 = 1
.L11:
  11: call .L16
  12: if w0 s> w1 goto .L14
  13: goto .L11
.L14:
  14: w0 = 0
  15: exit
.L16:
  16: r0 = r1
  17: r0 <<= 1
  18: exit"""
    assert format_instructions(decoded) == str(decoded)


def test_targets_use_symbols_when_present() -> None:
    prog = Instructions([asm.ja(1), asm.exit(), asm.exit().with_symbol("done")])
    assert str(prog).splitlines() == ["   0: goto done", "   1: exit", "done:", "   2: exit"]


def test_targets_outside_stay_relative() -> None:
    prog = Instructions([asm.ja(5), asm.jeq.imm(R1, 0, -9), asm.exit()])
    assert str(prog).splitlines() == [
        "   0: goto pc+5", "   1: if r1 == 0x0 goto pc-9", "   2: exit"]


@pytest.mark.parametrize(("ins", "text"), [
    (asm.mov.imm(R0, -1), "r0 = -1"),
    (asm.mov32.imm(R0, 0xFFFF_FFFF), "w0 = -1"),
    (asm.mov32.reg(R0, R3), "w0 = w3"),
    (asm.add.reg(R1, R2), "r1 += r2"),
    (asm.sub.imm(R1, 2), "r1 -= 2"),
    (asm.mul32.imm(R1, 3), "w1 *= 3"),
    (asm.div.reg(R1, R2), "r1 /= r2"),
    (asm.mod32.imm(R1, 3), "w1 %= 3"),
    (asm.or_.imm(R1, 4), "r1 |= 4"),
    (asm.and32.reg(R1, R2), "w1 &= w2"),
    (asm.xor.imm(R1, 1), "r1 ^= 1"),
    (asm.lsh32.imm(R1, 2), "w1 <<= 2"),
    (asm.rsh.reg(R1, R2), "r1 >>= r2"),
    (asm.arsh32.imm(R1, 2), "w1 s>>= 2"),
    (asm.sdiv32.reg(R1, R2), "w1 s/= w2"),
    (asm.smod.imm(R1, 5), "r1 s%= 5"),
    (asm.movsx(R1, R2, 16), "r1 = (s16)r2"),
    (asm.movsx32(R1, R2, 8), "w1 = (s8)w2"),
    (asm.to_le(R1, 64), "r1 = le64 r1"),
    (asm.to_be(R1, 32), "r1 = be32 r1"),
    (asm.bswap(R1, 32), "r1 = bswap32 r1"),
    (asm.load_mem(R1, R10, -8, Size.DW), "r1 = *(u64 *)(r10 - 8)"),
    (asm.load_mem(R1, R2, 2, Size.H), "r1 = *(u16 *)(r2 + 2)"),
    (asm.load_mem_sx(R1, R2, 1, Size.H), "r1 = *(s16 *)(r2 + 1)"),
    (asm.store_mem(R10, -1, R1, Size.B), "*(u8 *)(r10 - 1) = r1"),
    (asm.store_imm(R1, 8, -3, Size.DW), "*(u64 *)(r1 + 8) = -3"),
    (asm.atomic_or(R1, 0, R2), "lock *(u64 *)(r1 + 0) |= r2"),
    (asm.atomic_and(R1, 0, R2, Size.W), "lock *(u32 *)(r1 + 0) &= w2"),
    (asm.atomic_xor(R1, -8, R2), "lock *(u64 *)(r1 - 8) ^= r2"),
    (asm.atomic_and(R1, 0, R2, fetch=True), "r2 = atomic64_fetch_and((u64 *)(r1 + 0), r2)"),
    (asm.atomic_xor(R1, 0, R2, Size.W, fetch=True),
     "w2 = atomic_fetch_xor((u32 *)(r1 + 0), w2)"),
    (asm.xchg(R1, 4, R2, Size.W), "w2 = atomic_xchg((u32 *)(r1 + 4), w2)"),
    (asm.load_acquire(R0, R1, 0, Size.DW), "r0 = load_acquire((u64 *)(r1 + 0))"),
    (asm.load_acquire(R0, R1, 2, Size.H), "w0 = load_acquire((u16 *)(r1 + 2))"),
    (asm.store_release(R1, 0, R2, Size.W), "store_release((u32 *)(r1 + 0), w2)"),
    (asm.load_imm64(R1, -1), "r1 = 0xffffffffffffffff ll"),
    (asm.load_map_ptr(R1, 5), "r1 = map[fd:5]"),
    (asm.load_map_value(R1, 5, 16), "r1 = map[fd:5][0]+16"),
    (asm.load_map_value_by_name(R1, ".rodata", 8), "r1 = map[.rodata][0]+8"),
    (asm.load_map_idx(R1, 2), "r1 = map[idx:2]"),
    (asm.load_map_idx_value(R1, 2, 4), "r1 = map[idx:2][0]+4"),
    (asm.load_btf_id(R1, 1234), "r1 = btf_id[1234]"),
    (asm.load_btf_id(R1, 1234, btf_fd=3), "r1 = btf_id[1234, btf fd 3]"),
    (asm.load_btf_id(R1, "bpf_prog_active"), "r1 = btf_id[bpf_prog_active]"),
    (asm.load_func_ptr(R1, "cb"), "r1 = func[cb]"),
    (asm.load_func_ptr(R1, 3), "r1 = func[pc+3]"),
    (asm.load_imm64(R1, 0).with_reference("some_var"), "r1 = some_var ll"),
    (asm.call(Helper.trace_printk), "call bpf_trace_printk#6"),
    (asm.call(4000), "call unknown#4000"),
    (asm.call_func(3), "call pc+3"),
    (asm.call_func("f"), "call f"),
    (asm.call_kfunc(1234), "call kfunc#1234"),
    (asm.call_kfunc(1234, btf_fd_index=2), "call kfunc#1234 (btf fd index 2)"),
    (asm.call_kfunc("bpf_rcu_read_lock"), "call kfunc bpf_rcu_read_lock"),
    (asm.jeq.imm(R1, -1, "l"), "if r1 == -0x1 goto l"),
    (asm.jset.imm(R1, 4, 2), "if r1 & 0x4 goto pc+2"),
    (asm.jne32.reg(R1, R2, 0), "if w1 != w2 goto pc+0"),
    (asm.jge.reg(R1, R2, 1), "if r1 >= r2 goto pc+1"),
    (asm.jgt.imm(R1, 9, 1), "if r1 > 0x9 goto pc+1"),
    (asm.jlt32.imm(R1, 9, 1), "if w1 < 0x9 goto pc+1"),
    (asm.jle.imm(R1, 9, 1), "if r1 <= 0x9 goto pc+1"),
    (asm.jsge.imm(R1, 9, 1), "if r1 s>= 0x9 goto pc+1"),
    (asm.jslt.imm(R1, 9, 1), "if r1 s< 0x9 goto pc+1"),
    (asm.jsle32.reg(R1, R2, 1), "if w1 s<= w2 goto pc+1"),
    (asm.ja32("far"), "gotol far"),
    (asm.may_goto("out"), "may_goto out"),
    (asm.load_ind(R2, -2, Size.B), "r0 = *(u8 *)skb[r2 - 2]"),
])
def test_single_instructions(ins: Instruction, text: str) -> None:
    assert str(ins) == text
    assert format_instruction(ins) == text


@pytest.mark.parametrize(("ins", "text"), [
    (Instruction(0xFF), "invalid: op=0xff dst=r0 src=r0 off=0 imm=0x0"),
    (Instruction(0xB7, R1, R2, 0, -1), "invalid: op=0xb7 dst=r1 src=r2 off=0 imm=0xffffffff"),
    (Instruction(0x0F, R1, R2, 3, 0), "invalid: op=0x0f dst=r1 src=r2 off=3 imm=0x0"),
    (Instruction(0x87, R1, R0, 0, 1), "invalid: op=0x87 dst=r1 src=r0 off=0 imm=0x1"),
    (Instruction(0xD4, R1, R0, 0, 8), "invalid: op=0xd4 dst=r1 src=r0 off=0 imm=0x8"),
    (Instruction(0xDF, R1, R0, 0, 16), "invalid: op=0xdf dst=r1 src=r0 off=0 imm=0x10"),
    (Instruction(0x95, R1), "invalid: op=0x95 dst=r1 src=r0 off=0 imm=0x0"),
    (Instruction(0x96), "invalid: op=0x96 dst=r0 src=r0 off=0 imm=0x0"),
    (Instruction(0x85, R0, Register(3), 0, 1), "invalid: op=0x85 dst=r0 src=r3 off=0 imm=0x1"),
    (Instruction(0xDB, R1, R2, 0, 0x02), "invalid: op=0xdb dst=r1 src=r2 off=0 imm=0x2"),
    (Instruction(0xD3, R1, R2, 0, 0x00), "invalid: op=0xd3 dst=r1 src=r2 off=0 imm=0x0"),
    (Instruction(LDIMM64, R1, Register(9), 0, 5),
     "invalid: op=0x18 dst=r1 src=r9 off=0 imm=0x5"),
    (Instruction(LDIMM64, R1, Register(1), 0, 1 << 32 | 5),
     "invalid: op=0x18 dst=r1 src=r1 off=0 imm=0x100000005"),
    (Instruction(0x10), "invalid: op=0x10 dst=r0 src=r0 off=0 imm=0x0"),
    (Instruction(0x9F, R1, R2, 0, 0), "r1 %= r2"),
    (Instruction(0xE6), "invalid: op=0xe6 dst=r0 src=r0 off=0 imm=0x0"),
    (Instruction(0xF5), "invalid: op=0xf5 dst=r0 src=r0 off=0 imm=0x0"),
    (Instruction(0x7B, R1, R2, 0, 1), "invalid: op=0x7b dst=r1 src=r2 off=0 imm=0x1"),
    (Instruction(0x98), "invalid: op=0x98 dst=r0 src=r0 off=0 imm=0x0"),
])
def test_invalid_instructions_print_raw(ins: Instruction, text: str) -> None:
    assert str(ins) == text


def test_every_opcode_formats_without_raising() -> None:
    for opcode in range(256):
        for dst, src in ((R0, R0), (R1, R2), (R10, R10)):
            for offset, constant in ((0, 0), (1, -1), (-1, 64), (8, 16), (32, 1)):
                assert str(Instruction(opcode, dst, src, offset, constant))


def test_source_lines_and_repeated_targets() -> None:
    prog = Instructions([
        asm.jeq.imm(R1, 0, 2).with_source("if (!x)"),
        asm.jeq.imm(R1, 1, 1),
        asm.mov.imm(R0, 0),
        asm.exit(),
    ])
    assert str(prog).splitlines() == [
        "      ; if (!x)",
        "   0: if r1 == 0x0 goto .L3",
        "   1: if r1 == 0x1 goto .L3",
        "   2: r0 = 0",
        ".L3:",
        "   3: exit",
    ]


def test_empty() -> None:
    assert str(Instructions()) == ""
