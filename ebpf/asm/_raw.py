"""The opcode parts and pseudo sources that reading, linking and relocating compare, as ints.

:mod:`ebpf.asm.opcode` defines these numbers as enums for users, for the builder and for the
disassembler. The code that reads an object, links it and applies CO-RE relocations only
compares and combines them, and building a dozen enum classes is a measurable part of the
time to load a collection, so that code takes the plain ints from here and never imports
:mod:`ebpf.asm.opcode`. ``tests/unit/test_asm_raw.py`` checks that every number here equals
its enum member. The names follow the kernel's (``include/uapi/linux/bpf_common.h``,
``linux/bpf.h``) without the ``BPF_`` prefix.
"""

from __future__ import annotations

from typing import Final

# Instruction classes (the low three bits).
CLASS_LD: Final = 0x00
CLASS_LDX: Final = 0x01
CLASS_ST: Final = 0x02
CLASS_STX: Final = 0x03
CLASS_ALU: Final = 0x04
CLASS_JMP: Final = 0x05
CLASS_JMP32: Final = 0x06
CLASS_ALU64: Final = 0x07

# Load and store sizes (bits 3-4) and the immediate mode.
SIZE_W: Final = 0x00
SIZE_H: Final = 0x08
SIZE_B: Final = 0x10
SIZE_DW: Final = 0x18
MODE_IMM: Final = 0x00

# The operand source of ALU and jump instructions (bit 3).
SOURCE_K: Final = 0x00
SOURCE_X: Final = 0x08

# Jump operations (bits 4-7). Every value of that nibble but 0xF0 is one.
JUMP_JA: Final = 0x00
JUMP_CALL: Final = 0x80
JUMP_EXIT: Final = 0x90
JUMP_JCOND: Final = 0xE0
JUMP_OPS: Final = tuple(range(0x00, 0xF0, 0x10))

LDIMM64: Final = CLASS_LD | MODE_IMM | SIZE_DW
"""The 64-bit immediate load (``LD|IMM|DW``), which takes two slots."""

# The src register of a 64-bit immediate load (BPF_PSEUDO_*).
PSEUDO_MAP_FD: Final = 1
PSEUDO_MAP_VALUE: Final = 2
PSEUDO_BTF_ID: Final = 3
PSEUDO_FUNC: Final = 4
PSEUDO_MAP_IDX: Final = 5
PSEUDO_MAP_IDX_VALUE: Final = 6

# The src register of a call.
PSEUDO_CALL_HELPER: Final = 0
PSEUDO_CALL: Final = 1
PSEUDO_KFUNC_CALL: Final = 2
