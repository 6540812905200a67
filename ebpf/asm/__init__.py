"""eBPF instructions: opcodes, registers, encoding, a builder, helpers and a disassembler.

``ebpf.asm`` knows instructions and nothing else: it never makes a system call and never reads
kernel type information. The pieces:

* :class:`Instruction` (one instruction plus ``symbol``/``reference`` metadata) and
  :class:`Instructions` (a mutable sequence that resolves labels and encodes/decodes in either
  byte order);
* the opcode enums (:class:`Class`, :class:`ALUOp`, :class:`JumpOp`, :class:`Size`,
  :class:`Mode`, :class:`AtomicOp`, ...) and :class:`OpCode` to compose and take apart opcodes;
* :class:`Register` and the constants ``R0`` .. ``R10`` / ``RFP``;
* :class:`Helper`, every helper function of the kernel by name (generated);
* the builder: ``asm.mov.imm(R0, 0)``, ``asm.jeq.imm(R1, 0, "out")``, ``asm.call(...)``,
  ``asm.exit()`` and friends (see :mod:`ebpf.asm.builder`);
* disassembly: ``str(instruction)`` and ``str(instructions)`` (see :mod:`ebpf.asm.disasm`).

Example::

    from ebpf import asm
    from ebpf.asm import R0, R1

    prog = asm.Instructions([
        asm.mov.imm(R0, 0),
        asm.jeq.imm(R1, 0, "out"),
        asm.mov.imm(R0, 1),
        "out:",
        asm.exit(),
    ])
    code = prog.marshal("little")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..internal.lazy import lazy_attributes
from .instruction import (
    Instruction as Instruction,
    InstructionError as InstructionError,
    Instructions as Instructions,
    UnresolvedReferenceError as UnresolvedReferenceError,
)
from .register import (
    R0 as R0,
    R1 as R1,
    R2 as R2,
    R3 as R3,
    R4 as R4,
    R5 as R5,
    R6 as R6,
    R7 as R7,
    R8 as R8,
    R9 as R9,
    R10 as R10,
    RFP as RFP,
    Register as Register,
)

# The opcode enums, the builder, the disassembler and the helper enum (over 200 members) are
# imported on first use (PEP 562): reading, linking and loading object files needs none of them
# (that code compares the plain ints of ._raw).
if TYPE_CHECKING:
    from .builder import (
        BinaryOp as BinaryOp,
        CompareJump as CompareJump,
        add as add,
        add32 as add32,
        addr_space_cast as addr_space_cast,
        and32 as and32,
        and_ as and_,
        arsh as arsh,
        arsh32 as arsh32,
        atomic as atomic,
        atomic_add as atomic_add,
        atomic_and as atomic_and,
        atomic_or as atomic_or,
        atomic_xor as atomic_xor,
        bswap as bswap,
        call as call,
        call_func as call_func,
        call_kfunc as call_kfunc,
        cmpxchg as cmpxchg,
        div as div,
        div32 as div32,
        exit as exit,
        ja as ja,
        ja32 as ja32,
        jeq as jeq,
        jeq32 as jeq32,
        jge as jge,
        jge32 as jge32,
        jgt as jgt,
        jgt32 as jgt32,
        jle as jle,
        jle32 as jle32,
        jlt as jlt,
        jlt32 as jlt32,
        jne as jne,
        jne32 as jne32,
        jset as jset,
        jset32 as jset32,
        jsge as jsge,
        jsge32 as jsge32,
        jsgt as jsgt,
        jsgt32 as jsgt32,
        jsle as jsle,
        jsle32 as jsle32,
        jslt as jslt,
        jslt32 as jslt32,
        ldx as ldx,
        load_abs as load_abs,
        load_acquire as load_acquire,
        load_btf_id as load_btf_id,
        load_func_ptr as load_func_ptr,
        load_imm64 as load_imm64,
        load_ind as load_ind,
        load_map_by_name as load_map_by_name,
        load_map_idx as load_map_idx,
        load_map_idx_value as load_map_idx_value,
        load_map_ptr as load_map_ptr,
        load_map_value as load_map_value,
        load_map_value_by_name as load_map_value_by_name,
        load_mem as load_mem,
        load_mem_sx as load_mem_sx,
        lsh as lsh,
        lsh32 as lsh32,
        may_goto as may_goto,
        mod as mod,
        mod32 as mod32,
        mov as mov,
        mov32 as mov32,
        movsx as movsx,
        movsx32 as movsx32,
        mul as mul,
        mul32 as mul32,
        neg as neg,
        neg32 as neg32,
        or32 as or32,
        or_ as or_,
        ret as ret,
        rsh as rsh,
        rsh32 as rsh32,
        sdiv as sdiv,
        sdiv32 as sdiv32,
        smod as smod,
        smod32 as smod32,
        st as st,
        store_imm as store_imm,
        store_mem as store_mem,
        store_release as store_release,
        stx as stx,
        sub as sub,
        sub32 as sub32,
        to_be as to_be,
        to_le as to_le,
        xchg as xchg,
        xor as xor,
        xor32 as xor32,
    )
    from .disasm import (
        format_instruction as format_instruction,
        format_instructions as format_instructions,
    )
    from .helpers import Helper as Helper
    from .instruction import ByteOrder as ByteOrder
    from .opcode import (
        LDIMM64 as LDIMM64,
        ALUOp as ALUOp,
        AtomicOp as AtomicOp,
        Class as Class,
        Endianness as Endianness,
        JumpOp as JumpOp,
        Mode as Mode,
        OpCode as OpCode,
        PseudoCall as PseudoCall,
        PseudoJump as PseudoJump,
        PseudoLoad as PseudoLoad,
        Size as Size,
        Source as Source,
    )

__all__ = [
    "add", "add32", "addr_space_cast", "ALUOp", "and32", "and_", "arsh", "arsh32", "atomic",
    "atomic_add", "atomic_and", "atomic_or", "atomic_xor", "AtomicOp", "BinaryOp", "bswap",
    "ByteOrder", "call", "call_func", "call_kfunc", "Class", "cmpxchg", "CompareJump", "div",
    "div32", "Endianness", "exit", "format_instruction", "format_instructions", "Helper",
    "Instruction", "InstructionError", "Instructions", "ja", "ja32", "jeq", "jeq32", "jge",
    "jge32", "jgt", "jgt32", "jle", "jle32", "jlt", "jlt32", "jne", "jne32", "jset", "jset32",
    "jsge", "jsge32", "jsgt", "jsgt32", "jsle", "jsle32", "jslt", "jslt32", "JumpOp", "LDIMM64",
    "ldx", "load_abs", "load_acquire", "load_btf_id", "load_func_ptr", "load_imm64", "load_ind",
    "load_map_by_name", "load_map_idx", "load_map_idx_value", "load_map_ptr", "load_map_value",
    "load_map_value_by_name", "load_mem", "load_mem_sx", "lsh", "lsh32", "may_goto", "mod",
    "mod32", "Mode", "mov", "mov32", "movsx", "movsx32", "mul", "mul32", "neg", "neg32", "OpCode",
    "or32", "or_", "PseudoCall", "PseudoJump", "PseudoLoad", "R0", "R1", "R10", "R2", "R3", "R4",
    "R5", "R6", "R7", "R8", "R9", "Register", "ret", "RFP", "rsh", "rsh32", "sdiv", "sdiv32",
    "Size", "smod", "smod32", "Source", "st", "store_imm", "store_mem", "store_release", "stx",
    "sub", "sub32", "to_be", "to_le", "UnresolvedReferenceError", "xchg", "xor", "xor32",
]


# What ``__all__`` names but this module has not imported comes from the builder, except these;
# the submodules themselves are reachable as attributes too, as when imported eagerly.
_FROM = {"Helper": ".helpers", "format_instruction": ".disasm", "format_instructions": ".disasm",
         "ByteOrder": ".instruction",
         **dict.fromkeys(("LDIMM64", "ALUOp", "AtomicOp", "Class", "Endianness", "JumpOp", "Mode",
                          "OpCode", "PseudoCall", "PseudoJump", "PseudoLoad", "Size", "Source"),
                         ".opcode")}
_LAZY = {**{name: _FROM.get(name, ".builder") for name in __all__ if name not in globals()},
         "builder": ".builder", "disasm": ".disasm", "helpers": ".helpers", "opcode": ".opcode"}

__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY)
