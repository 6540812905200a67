"""Disassembly of kernel-translated ("xlated") code, from hand-built bytes: the per-CPU address
move, the speculation barrier, map ids, patched helper calls, and bpf-to-bpf calls and function
pointers in the kernel's encoding."""

from __future__ import annotations

import struct

import pytest

from ebpf.asm import Instruction, Instructions, Register
from ebpf.asm.disasm import format_instruction
from ebpf.asm.xlated import disassemble_xlated

R0, R1, R2 = Register.R0, Register.R1, Register.R2


def raw(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0,
        order: str = "<") -> bytes:
    """One instruction slot as the kernel lays it out (struct bpf_insn)."""
    regs = (src << 4) | dst if order == "<" else (dst << 4) | src
    return struct.pack(order + "BBhi", code, regs, off, imm)


def lines_of(text: str) -> list[str]:
    return [line.split(": ", 1)[1] for line in text.splitlines() if ": " in line]


# --- instructions only the kernel writes -------------------------------------------------------


def test_percpu_address_move() -> None:
    # BPF_MOV64_PERCPU_REG: ALU64|MOV|X with off == BPF_ADDR_PERCPU (-1).
    ins = Instruction(0xBF, R0, R1, -1, 0)
    assert format_instruction(ins) == "r0 = &(void __percpu *)(r1)"
    assert str(ins) == "r0 = &(void __percpu *)(r1)"
    # Only that form: the 32-bit move, another offset or an immediate stay invalid.
    assert format_instruction(Instruction(0xBC, R0, R1, -1, 0)).startswith("invalid:")
    assert format_instruction(Instruction(0xBF, R0, R1, -2, 0)).startswith("invalid:")
    assert format_instruction(Instruction(0xBF, R0, R1, -1, 5)).startswith("invalid:")
    # addr_space_cast (off 1, imm set) is unchanged.
    assert format_instruction(Instruction(0xBF, R0, R1, 1, 1)) == "r0 = addr_space_cast(r1, 0, 1)"


def test_nospec() -> None:
    assert format_instruction(Instruction(0xC2)) == "nospec"
    assert format_instruction(Instruction(0xC2, R1)).startswith("invalid:")


@pytest.mark.parametrize("order", ["<", ">"])
def test_bytes_in_either_order(order: str) -> None:
    code = raw(0xBF, 0, 0, -1, 0, order) + raw(0x95, order=order)
    text = disassemble_xlated(code, byteorder="little" if order == "<" else "big")
    assert lines_of(text) == ["r0 = &(void __percpu *)(r0)", "exit"]
    assert "invalid" not in text


# --- map references -----------------------------------------------------------------------------


def test_map_ids_and_names() -> None:
    code = (raw(0x18, 1, 1, 0, 114) + raw(0, imm=0)           # r1 = map[id:114]
            + raw(0x18, 2, 2, 0, 117) + raw(0, imm=16)        # r2 = map[id:117][0]+16
            + raw(0x18, 3, 2, 0, 9) + raw(0, imm=0)           # id not among map_ids
            + raw(0x95))
    text = disassemble_xlated(code, (114, 117), map_names=("counts", ".data"))
    assert lines_of(text) == [
        "r1 = map[id:114]  ; counts",
        "r2 = map[id:117][0]+16  ; .data",
        "r3 = map[id:9][0]+0",
        "exit",
    ]
    # Without names, and without xlated reading, the same code is fd-based as before.
    assert lines_of(disassemble_xlated(code))[0] == "r1 = map[id:114]"
    assert str(Instructions.unmarshal(code, "little")[0]) == "r1 = map[fd:114]"


# --- calls ------------------------------------------------------------------------------------


def test_patched_helper_calls_are_named_by_the_resolver() -> None:
    code = raw(0x85, imm=343344) + raw(0x85, imm=12) + raw(0x85, 0, 2, 0, -4096) + raw(0x95)
    names = {343344: "__htab_map_lookup_elem", -4096: "bpf_task_acquire"}
    text = disassemble_xlated(code, call_name=names.get)
    assert lines_of(text) == [
        "call __htab_map_lookup_elem#343344",
        "call bpf_tail_call#12",          # the kernel hands tail calls out as helper 12
        "call bpf_task_acquire#-4096",
        "exit",
    ]
    # Unresolved: never a wrong helper name for an address.
    assert lines_of(disassemble_xlated(code))[:3] == [
        "call unknown#343344", "call bpf_tail_call#12", "call kfunc#-4096"]


def test_bpf_to_bpf_call_and_function_pointer() -> None:
    # The kernel keeps a bpf-to-bpf call's target in the offset (imm: subprogram index) and a
    # function pointer's target in the low half of its constant (high half: subprogram index).
    code = (raw(0x18, 2, 4, 0, 4) + raw(0, imm=1)    # 0: r2 = func[.L5]
            + raw(0x85, 0, 1, 1, 2)                   # 2: call .L4
            + raw(0x95)                               # 3: exit
            + raw(0xB7, 0, 0, 0, 1)                   # 4: r0 = 1
            + raw(0x95)                               # 5: exit
            )
    text = disassemble_xlated(code)
    assert text.splitlines() == [
        "   0: r2 = func[.L5]",
        "   2: call .L4",
        "   3: exit",
        ".L4:",
        "   4: r0 = 1",
        ".L5:",
        "   5: exit",
    ]
    assert "invalid" not in text


def test_decoded_instructions_are_accepted() -> None:
    insns = Instructions.unmarshal(raw(0xBF, 2, 1, -1, 0) + raw(0x95), "little")
    assert lines_of(disassemble_xlated(insns)) == ["r2 = &(void __percpu *)(r1)", "exit"]


def test_truncated_bytes_raise_a_library_error() -> None:
    from ebpf.errors import EbpfError

    with pytest.raises(EbpfError):
        disassemble_xlated(raw(0x95)[:5])


def test_format_xlated_on_decoded_instructions() -> None:
    from ebpf.asm.disasm import format_xlated

    code = raw(0x18, 1, 1, 0, 42) + raw(0) + raw(0xBF, 0, 1, -1, 0) + raw(0x95)
    insns = Instructions.unmarshal(code, "little")
    assert lines_of(format_xlated(insns, map_ids=(42,))) == [
        "r1 = map[id:42]", "r0 = &(void __percpu *)(r1)", "exit"]
    assert format_xlated(insns, (42,), map_names=("hits",)) == disassemble_xlated(
        code, (42,), map_names=("hits",))
