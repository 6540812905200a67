"""Build instructions for hand-written programs.

Everything here returns an :class:`~ebpf.asm.Instruction`; collect them in an
:class:`~ebpf.asm.Instructions`, where ``"name:"`` strings label the next instruction::

    from ebpf import asm
    from ebpf.asm import R0, R1, R2, R10, Helper, Size

    prog = asm.Instructions([
        asm.store_imm(R10, -4, 0, Size.W),          # *(u32 *)(r10 - 4) = 0
        asm.mov.reg(R2, R10),                       # r2 = r10
        asm.add.imm(R2, -4),                        # r2 += -4
        asm.load_map_by_name(R1, "counts"),         # r1 = map[counts]
        asm.call(Helper.map_lookup_elem),
        asm.jeq.imm(R0, 0, "out"),                  # if r0 == 0x0 goto out
        asm.mov.imm(R1, 1),
        asm.atomic_add(R0, 0, R1, Size.DW),         # lock *(u64 *)(r0 + 0) += r1
        "out:",
        asm.mov.imm(R0, 0),
        asm.exit(),
    ])

Arithmetic comes in 64-bit (``add``) and 32-bit (``add32``) families, each with ``.imm(dst,
value)`` and ``.reg(dst, src)``; ``or_`` and ``and_`` carry an underscore because ``or`` and
``and`` are Python keywords. Conditional jumps (``jeq``, ``jeq32``, ...) have ``.imm(dst,
value, target)`` and ``.reg(dst, src, target)``. A jump or call target is either a label name
(kept as the instruction's ``reference``, resolved by :meth:`Instructions.resolve` and
:meth:`Instructions.marshal`) or an int, the raw pc-relative offset in slots.

Instructions marked "cpu v4" need Linux 6.6 and are emitted by ``clang -mcpu=v4``.
"""

from __future__ import annotations

from typing import Final, final

from .helpers import Helper
from .instruction import Instruction, InstructionError
from .opcode import (
    LDIMM64,
    ALUOp,
    AtomicOp,
    Class,
    Endianness,
    JumpOp,
    Mode,
    PseudoCall,
    PseudoJump,
    PseudoLoad,
    Size,
    Source,
)
from .register import REGISTERS, Register

__all__ = [
    "BinaryOp",
    "CompareJump",
    "add", "add32", "addr_space_cast", "and32", "and_", "arsh", "arsh32",
    "atomic", "atomic_add", "atomic_and", "atomic_or", "atomic_xor",
    "bswap", "call", "call_func", "call_kfunc", "cmpxchg",
    "div", "div32", "exit",
    "ja", "ja32",
    "jeq", "jeq32", "jge", "jge32", "jgt", "jgt32", "jle", "jle32", "jlt", "jlt32",
    "jne", "jne32", "jset", "jset32", "jsge", "jsge32", "jsgt", "jsgt32", "jsle", "jsle32",
    "jslt", "jslt32",
    "ldx", "load_abs", "load_acquire", "load_btf_id", "load_func_ptr",
    "load_imm64", "load_ind", "load_map_by_name", "load_map_idx", "load_map_idx_value",
    "load_map_ptr", "load_map_value", "load_map_value_by_name", "load_mem", "load_mem_sx",
    "lsh", "lsh32", "may_goto", "mod", "mod32", "mov", "mov32", "movsx", "movsx32",
    "mul", "mul32", "neg", "neg32", "or32", "or_", "ret", "rsh", "rsh32",
    "sdiv", "sdiv32", "smod", "smod32", "st", "store_imm", "store_mem", "store_release",
    "stx", "sub", "sub32", "to_be", "to_le", "xchg", "xor", "xor32",
]

_R0: Final = Register.R0
_CALL: Final = JumpOp.CALL | Source.K | Class.JMP
# Pseudo sources, as the src registers that carry them.
_MAP_FD: Final = REGISTERS[PseudoLoad.MAP_FD]
_MAP_VALUE: Final = REGISTERS[PseudoLoad.MAP_VALUE]
_BTF_ID: Final = REGISTERS[PseudoLoad.BTF_ID]
_FUNC: Final = REGISTERS[PseudoLoad.FUNC]
_MAP_IDX: Final = REGISTERS[PseudoLoad.MAP_IDX]
_MAP_IDX_VALUE: Final = REGISTERS[PseudoLoad.MAP_IDX_VALUE]
_HELPER: Final = REGISTERS[PseudoCall.HELPER]
_FUNCTION: Final = REGISTERS[PseudoCall.CALL]
_KFUNC: Final = REGISTERS[PseudoCall.KFUNC_CALL]
_MAY_GOTO: Final = REGISTERS[PseudoJump.MAY_GOTO]


def _target(target: str | int) -> tuple[int, str | None]:
    """The raw offset and the reference for a jump or call target."""
    if isinstance(target, str):
        if not target:
            raise InstructionError("a jump target name must not be empty", field="reference")
        return 0, target
    return target, None


# Arithmetic ----------------------------------------------------------------------------------


@final
class BinaryOp:
    """One arithmetic operation at one width: ``dst op= value`` or ``dst op= src``.

    Instances are the module-level ``mov``, ``add32``, ``sdiv`` ... objects.
    """

    __slots__ = ("_imm", "_offset", "_reg", "name")

    def __init__(self, name: str, op: ALUOp, klass: Class, offset: int = 0) -> None:
        self.name = name
        self._imm = op | Source.K | klass
        self._reg = op | Source.X | klass
        self._offset = offset

    def imm(self, dst: Register, value: int) -> Instruction:
        """``dst op= value`` with a 32-bit immediate (sign-extended for 64-bit operations).

        Raises:
            InstructionError: ``value`` does not fit in 32 bits.
        """
        return Instruction(self._imm, dst, _R0, self._offset, value)

    def reg(self, dst: Register, src: Register) -> Instruction:
        """``dst op= src``."""
        return Instruction(self._reg, dst, src, self._offset, 0)

    def __repr__(self) -> str:
        return f"<asm.{self.name}>"


mov: Final = BinaryOp("mov", ALUOp.MOV, Class.ALU64)
"""``r = value`` / ``r = r``."""
mov32: Final = BinaryOp("mov32", ALUOp.MOV, Class.ALU)
"""``w = value`` / ``w = w`` (zero-extends into the 64-bit register)."""
add: Final = BinaryOp("add", ALUOp.ADD, Class.ALU64)
add32: Final = BinaryOp("add32", ALUOp.ADD, Class.ALU)
sub: Final = BinaryOp("sub", ALUOp.SUB, Class.ALU64)
sub32: Final = BinaryOp("sub32", ALUOp.SUB, Class.ALU)
mul: Final = BinaryOp("mul", ALUOp.MUL, Class.ALU64)
mul32: Final = BinaryOp("mul32", ALUOp.MUL, Class.ALU)
div: Final = BinaryOp("div", ALUOp.DIV, Class.ALU64)
"""Unsigned division; division by zero gives 0."""
div32: Final = BinaryOp("div32", ALUOp.DIV, Class.ALU)
mod: Final = BinaryOp("mod", ALUOp.MOD, Class.ALU64)
"""Unsigned modulo; modulo zero leaves ``dst`` unchanged."""
mod32: Final = BinaryOp("mod32", ALUOp.MOD, Class.ALU)
sdiv: Final = BinaryOp("sdiv", ALUOp.DIV, Class.ALU64, offset=1)
"""Signed division (cpu v4)."""
sdiv32: Final = BinaryOp("sdiv32", ALUOp.DIV, Class.ALU, offset=1)
"""Signed 32-bit division (cpu v4)."""
smod: Final = BinaryOp("smod", ALUOp.MOD, Class.ALU64, offset=1)
"""Signed modulo (cpu v4)."""
smod32: Final = BinaryOp("smod32", ALUOp.MOD, Class.ALU, offset=1)
"""Signed 32-bit modulo (cpu v4)."""
or_: Final = BinaryOp("or_", ALUOp.OR, Class.ALU64)
or32: Final = BinaryOp("or32", ALUOp.OR, Class.ALU)
and_: Final = BinaryOp("and_", ALUOp.AND, Class.ALU64)
and32: Final = BinaryOp("and32", ALUOp.AND, Class.ALU)
xor: Final = BinaryOp("xor", ALUOp.XOR, Class.ALU64)
xor32: Final = BinaryOp("xor32", ALUOp.XOR, Class.ALU)
lsh: Final = BinaryOp("lsh", ALUOp.LSH, Class.ALU64)
lsh32: Final = BinaryOp("lsh32", ALUOp.LSH, Class.ALU)
rsh: Final = BinaryOp("rsh", ALUOp.RSH, Class.ALU64)
"""Logical (unsigned) right shift."""
rsh32: Final = BinaryOp("rsh32", ALUOp.RSH, Class.ALU)
arsh: Final = BinaryOp("arsh", ALUOp.ARSH, Class.ALU64)
"""Arithmetic (sign-preserving) right shift."""
arsh32: Final = BinaryOp("arsh32", ALUOp.ARSH, Class.ALU)


def neg(dst: Register) -> Instruction:
    """``dst = -dst``."""
    return Instruction(ALUOp.NEG | Source.K | Class.ALU64, dst)


def neg32(dst: Register) -> Instruction:
    """``wdst = -wdst``."""
    return Instruction(ALUOp.NEG | Source.K | Class.ALU, dst)


def movsx(dst: Register, src: Register, bits: int) -> Instruction:
    """``dst = (s<bits>)src``: move the low 8, 16 or 32 bits of ``src``, sign-extended (cpu v4).

    Raises:
        InstructionError: ``bits`` is not 8, 16 or 32.
    """
    if bits not in (8, 16, 32):
        raise InstructionError(f"movsx extends 8, 16 or 32 bits, not {bits}", field="offset")
    return Instruction(ALUOp.MOV | Source.X | Class.ALU64, dst, src, bits)


def movsx32(dst: Register, src: Register, bits: int) -> Instruction:
    """``wdst = (s<bits>)wsrc``: sign-extend the low 8 or 16 bits into 32 (cpu v4).

    Raises:
        InstructionError: ``bits`` is not 8 or 16.
    """
    if bits not in (8, 16):
        raise InstructionError(f"movsx32 extends 8 or 16 bits, not {bits}", field="offset")
    return Instruction(ALUOp.MOV | Source.X | Class.ALU, dst, src, bits)


def _check_swap_bits(bits: int) -> None:
    if bits not in (16, 32, 64):
        raise InstructionError(f"byte swaps are 16, 32 or 64 bits wide, not {bits}",
                               field="constant")


def bswap(dst: Register, bits: int) -> Instruction:
    """Swap the bytes of the low ``bits`` (16, 32, 64) of ``dst`` unconditionally (cpu v4)."""
    _check_swap_bits(bits)
    return Instruction(ALUOp.END | Endianness.TO_LE | Class.ALU64, dst, _R0, 0, bits)


def to_le(dst: Register, bits: int) -> Instruction:
    """Convert the low ``bits`` (16, 32, 64) of ``dst`` between host and little-endian order."""
    _check_swap_bits(bits)
    return Instruction(ALUOp.END | Endianness.TO_LE | Class.ALU, dst, _R0, 0, bits)


def to_be(dst: Register, bits: int) -> Instruction:
    """Convert the low ``bits`` (16, 32, 64) of ``dst`` between host and big-endian order."""
    _check_swap_bits(bits)
    return Instruction(ALUOp.END | Endianness.TO_BE | Class.ALU, dst, _R0, 0, bits)


def addr_space_cast(dst: Register, src: Register, dst_as: int, src_as: int) -> Instruction:
    """``dst = addr_space_cast(src, dst_as, src_as)`` for BPF arena pointers (Linux 6.9).

    Raises:
        InstructionError: an address space does not fit in 16 bits.
    """
    if not (0 <= dst_as <= 0xFFFF and 0 <= src_as <= 0xFFFF):
        raise InstructionError("address spaces must fit in 16 bits", field="constant")
    return Instruction(ALUOp.MOV | Source.X | Class.ALU64, dst, src, 1, dst_as << 16 | src_as)


# Memory --------------------------------------------------------------------------------------


def load_mem(dst: Register, src: Register, offset: int, size: Size) -> Instruction:
    """``dst = *(size *)(src + offset)``, zero-extended."""
    return Instruction(Mode.MEM | Size(size) | Class.LDX, dst, src, offset)


def ldx(size: Size, dst: Register, src: Register, offset: int) -> Instruction:
    """:func:`load_mem` with the argument order of the kernel's ``BPF_LDX_MEM`` macro."""
    return Instruction(Mode.MEM | Size(size) | Class.LDX, dst, src, offset)


def load_mem_sx(dst: Register, src: Register, offset: int, size: Size) -> Instruction:
    """``dst = *(s<size> *)(src + offset)``, sign-extended (cpu v4); size is B, H or W.

    Raises:
        InstructionError: ``size`` is DW.
    """
    if size is Size.DW:
        raise InstructionError("sign-extending loads are B, H or W wide, not DW",
                               field="opcode")
    return Instruction(Mode.MEMSX | Size(size) | Class.LDX, dst, src, offset)


def store_mem(dst: Register, offset: int, src: Register, size: Size) -> Instruction:
    """``*(size *)(dst + offset) = src``."""
    return Instruction(Mode.MEM | Size(size) | Class.STX, dst, src, offset)


def stx(size: Size, dst: Register, src: Register, offset: int) -> Instruction:
    """:func:`store_mem` with the argument order of the kernel's ``BPF_STX_MEM`` macro."""
    return Instruction(Mode.MEM | Size(size) | Class.STX, dst, src, offset)


def store_imm(dst: Register, offset: int, value: int, size: Size) -> Instruction:
    """``*(size *)(dst + offset) = value`` (a 32-bit immediate, sign-extended for DW)."""
    return Instruction(Mode.MEM | Size(size) | Class.ST, dst, _R0, offset, value)


def st(size: Size, dst: Register, offset: int, value: int) -> Instruction:
    """:func:`store_imm` with the argument order of the kernel's ``BPF_ST_MEM`` macro."""
    return Instruction(Mode.MEM | Size(size) | Class.ST, dst, _R0, offset, value)


def load_imm64(dst: Register, value: int) -> Instruction:
    """``dst = value ll``: load a 64-bit constant (two slots)."""
    return Instruction(LDIMM64, dst, _R0, 0, value)


def _fd32(value: int, what: str) -> int:
    if not 0 <= value <= 0xFFFF_FFFF:
        raise InstructionError(f"{what} {value} does not fit in 32 bits", field="constant")
    return value


def load_map_ptr(dst: Register, fd: int) -> Instruction:
    """``dst = map[fd]``: load the pointer of the map with file descriptor ``fd``."""
    return Instruction(LDIMM64, dst, _MAP_FD, 0, _fd32(fd, "map fd"))


def load_map_value(dst: Register, fd: int, offset: int) -> Instruction:
    """``dst = &map[fd][0] + offset``: a pointer into the value of an array map.

    The fd goes in the low 32 bits of the constant, the offset in the high 32 bits.
    """
    return Instruction(LDIMM64, dst, _MAP_VALUE, 0,
                       _fd32(offset, "map value offset") << 32 | _fd32(fd, "map fd"))


def load_map_by_name(dst: Register, name: str) -> Instruction:
    """Load the pointer of the map called ``name``; the linker fills in its fd."""
    return Instruction(LDIMM64, dst, _MAP_FD, 0, 0, reference=name)


def load_map_value_by_name(dst: Register, name: str, offset: int = 0) -> Instruction:
    """A pointer ``offset`` bytes into the value of the map called ``name`` (e.g. ``.data``).

    The linker fills in the fd; the offset is kept in the high 32 bits.
    """
    return Instruction(LDIMM64, dst, _MAP_VALUE, 0,
                       _fd32(offset, "map value offset") << 32, reference=name)


def load_map_idx(dst: Register, index: int) -> Instruction:
    """Load the pointer of the map at ``index`` of the program's ``fd_array``."""
    return Instruction(LDIMM64, dst, _MAP_IDX, 0, _fd32(index, "map index"))


def load_map_idx_value(dst: Register, index: int, offset: int) -> Instruction:
    """A pointer into the value of the map at ``index`` of the program's ``fd_array``."""
    return Instruction(LDIMM64, dst, _MAP_IDX_VALUE, 0,
                       _fd32(offset, "map value offset") << 32 | _fd32(index, "map index"))


def load_btf_id(dst: Register, btf_id: int | str, *, btf_fd: int = 0) -> Instruction:
    """Load the address of a kernel variable given by BTF id (or name, for the linker).

    ``btf_fd`` is the fd of a module's BTF, or 0 for vmlinux.
    """
    if isinstance(btf_id, str):
        return Instruction(LDIMM64, dst, _BTF_ID, 0,
                           _fd32(btf_fd, "BTF fd") << 32, reference=btf_id)
    return Instruction(LDIMM64, dst, _BTF_ID, 0,
                       _fd32(btf_fd, "BTF fd") << 32 | _fd32(btf_id, "BTF id"))


def load_func_ptr(dst: Register, target: str | int) -> Instruction:
    """Load the address of a BPF function (a label name, or a pc-relative slot offset)."""
    offset, reference = _target(target)
    return Instruction(LDIMM64, dst, _FUNC, 0, offset, reference=reference)


def _legacy_size(size: Size) -> Size:
    if size is Size.DW:
        raise InstructionError("legacy packet loads are B, H or W wide, not DW", field="opcode")
    return Size(size)


def load_abs(offset: int, size: Size) -> Instruction:
    """``r0 = *(size *)skb[offset]`` in network byte order (legacy, socket filters)."""
    return Instruction(Mode.ABS | _legacy_size(size) | Class.LD, _R0, _R0, 0, offset)


def load_ind(src: Register, offset: int, size: Size) -> Instruction:
    """``r0 = *(size *)skb[src + offset]`` in network byte order (legacy, socket filters)."""
    return Instruction(Mode.IND | _legacy_size(size) | Class.LD, _R0, src, 0, offset)


# Atomics -------------------------------------------------------------------------------------


def atomic(op: AtomicOp, dst: Register, offset: int, src: Register,
           size: Size = Size.DW) -> Instruction:
    """An atomic operation on ``*(size *)(dst + offset)`` with ``src``.

    Raises:
        InstructionError: ``size`` is not W or DW (only load-acquire and store-release take
            every size).
    """
    op = AtomicOp(op)
    if op not in (AtomicOp.LOAD_ACQ, AtomicOp.STORE_REL) and size not in (Size.W, Size.DW):
        raise InstructionError(f"atomic {op.name} is W or DW wide, not {Size(size).name}",
                               field="opcode")
    return Instruction(Mode.ATOMIC | Size(size) | Class.STX, dst, src, offset, op)


def atomic_add(dst: Register, offset: int, src: Register, size: Size = Size.DW, *,
               fetch: bool = False) -> Instruction:
    """``lock *(size *)(dst + offset) += src``; with ``fetch``, ``src`` gets the old value."""
    return atomic(AtomicOp.FETCH_ADD if fetch else AtomicOp.ADD, dst, offset, src, size)


def atomic_or(dst: Register, offset: int, src: Register, size: Size = Size.DW, *,
              fetch: bool = False) -> Instruction:
    """``lock *(size *)(dst + offset) |= src``; with ``fetch``, ``src`` gets the old value."""
    return atomic(AtomicOp.FETCH_OR if fetch else AtomicOp.OR, dst, offset, src, size)


def atomic_and(dst: Register, offset: int, src: Register, size: Size = Size.DW, *,
               fetch: bool = False) -> Instruction:
    """``lock *(size *)(dst + offset) &= src``; with ``fetch``, ``src`` gets the old value."""
    return atomic(AtomicOp.FETCH_AND if fetch else AtomicOp.AND, dst, offset, src, size)


def atomic_xor(dst: Register, offset: int, src: Register, size: Size = Size.DW, *,
               fetch: bool = False) -> Instruction:
    """``lock *(size *)(dst + offset) ^= src``; with ``fetch``, ``src`` gets the old value."""
    return atomic(AtomicOp.FETCH_XOR if fetch else AtomicOp.XOR, dst, offset, src, size)


def xchg(dst: Register, offset: int, src: Register, size: Size = Size.DW) -> Instruction:
    """Atomically exchange ``src`` and ``*(size *)(dst + offset)``."""
    return atomic(AtomicOp.XCHG, dst, offset, src, size)


def cmpxchg(dst: Register, offset: int, src: Register, size: Size = Size.DW) -> Instruction:
    """If ``*(size *)(dst + offset) == r0``, store ``src``; ``r0`` gets the old value."""
    return atomic(AtomicOp.CMPXCHG, dst, offset, src, size)


def load_acquire(dst: Register, src: Register, offset: int, size: Size = Size.DW) -> Instruction:
    """``dst = load_acquire((size *)(src + offset))`` (Linux 6.15)."""
    return Instruction(Mode.ATOMIC | Size(size) | Class.STX, dst, src, offset,
                       AtomicOp.LOAD_ACQ)


def store_release(dst: Register, offset: int, src: Register,
                  size: Size = Size.DW) -> Instruction:
    """``store_release((size *)(dst + offset), src)`` (Linux 6.15)."""
    return atomic(AtomicOp.STORE_REL, dst, offset, src, size)


# Jumps and calls -----------------------------------------------------------------------------


@final
class CompareJump:
    """One conditional jump at one width: ``if dst op value goto target``.

    Instances are the module-level ``jeq``, ``jsgt32`` ... objects.
    """

    __slots__ = ("_imm", "_reg", "name")

    def __init__(self, name: str, op: JumpOp, klass: Class) -> None:
        self.name = name
        self._imm = op | Source.K | klass
        self._reg = op | Source.X | klass

    def imm(self, dst: Register, value: int, target: str | int) -> Instruction:
        """``if dst op value goto target`` (``value`` is sign-extended for 64-bit jumps)."""
        offset, reference = _target(target)
        return Instruction(self._imm, dst, _R0, offset, value, reference=reference)

    def reg(self, dst: Register, src: Register, target: str | int) -> Instruction:
        """``if dst op src goto target``."""
        offset, reference = _target(target)
        return Instruction(self._reg, dst, src, offset, 0, reference=reference)

    def __repr__(self) -> str:
        return f"<asm.{self.name}>"


jeq: Final = CompareJump("jeq", JumpOp.JEQ, Class.JMP)
jeq32: Final = CompareJump("jeq32", JumpOp.JEQ, Class.JMP32)
jne: Final = CompareJump("jne", JumpOp.JNE, Class.JMP)
jne32: Final = CompareJump("jne32", JumpOp.JNE, Class.JMP32)
jset: Final = CompareJump("jset", JumpOp.JSET, Class.JMP)
"""Jump if ``dst & operand`` is not zero."""
jset32: Final = CompareJump("jset32", JumpOp.JSET, Class.JMP32)
jgt: Final = CompareJump("jgt", JumpOp.JGT, Class.JMP)
"""Unsigned ``>``."""
jgt32: Final = CompareJump("jgt32", JumpOp.JGT, Class.JMP32)
jge: Final = CompareJump("jge", JumpOp.JGE, Class.JMP)
jge32: Final = CompareJump("jge32", JumpOp.JGE, Class.JMP32)
jlt: Final = CompareJump("jlt", JumpOp.JLT, Class.JMP)
jlt32: Final = CompareJump("jlt32", JumpOp.JLT, Class.JMP32)
jle: Final = CompareJump("jle", JumpOp.JLE, Class.JMP)
jle32: Final = CompareJump("jle32", JumpOp.JLE, Class.JMP32)
jsgt: Final = CompareJump("jsgt", JumpOp.JSGT, Class.JMP)
"""Signed ``>``."""
jsgt32: Final = CompareJump("jsgt32", JumpOp.JSGT, Class.JMP32)
jsge: Final = CompareJump("jsge", JumpOp.JSGE, Class.JMP)
jsge32: Final = CompareJump("jsge32", JumpOp.JSGE, Class.JMP32)
jslt: Final = CompareJump("jslt", JumpOp.JSLT, Class.JMP)
jslt32: Final = CompareJump("jslt32", JumpOp.JSLT, Class.JMP32)
jsle: Final = CompareJump("jsle", JumpOp.JSLE, Class.JMP)
jsle32: Final = CompareJump("jsle32", JumpOp.JSLE, Class.JMP32)


def ja(target: str | int) -> Instruction:
    """``goto target`` within a 16-bit offset."""
    offset, reference = _target(target)
    return Instruction(JumpOp.JA | Source.K | Class.JMP, _R0, _R0, offset, 0,
                       reference=reference)


def ja32(target: str | int) -> Instruction:
    """``gotol target``: the long jump with a 32-bit offset in the constant (cpu v4)."""
    offset, reference = _target(target)
    return Instruction(JumpOp.JA | Source.K | Class.JMP32, _R0, _R0, 0, offset,
                       reference=reference)


def may_goto(target: str | int) -> Instruction:
    """``may_goto target``: jump once the kernel's loop budget is used up (Linux 6.9)."""
    offset, reference = _target(target)
    return Instruction(JumpOp.JCOND | Source.K | Class.JMP, _R0, _MAY_GOTO, offset, 0,
                       reference=reference)


def call(helper: Helper | int) -> Instruction:
    """Call a helper function, e.g. ``call(Helper.map_lookup_elem)``."""
    return Instruction(_CALL, _R0, _HELPER, 0, helper)


def call_func(target: str | int) -> Instruction:
    """Call a BPF function: a symbol name (resolved later) or a pc-relative slot offset."""
    offset, reference = _target(target)
    return Instruction(_CALL, _R0, _FUNCTION, 0, offset, reference=reference)


def call_kfunc(target: int | str, *, btf_fd_index: int = 0) -> Instruction:
    """Call a kernel function, by BTF id or by name (for the linker to resolve).

    ``btf_fd_index`` picks the module BTF from the program's ``fd_array`` (0 for vmlinux).
    """
    if isinstance(target, str):
        return Instruction(_CALL, _R0, _KFUNC, btf_fd_index, 0, reference=target)
    return Instruction(_CALL, _R0, _KFUNC, btf_fd_index, target)


def exit() -> Instruction:
    """Return from the function; the result is in R0."""
    return Instruction(JumpOp.EXIT | Source.K | Class.JMP)


ret: Final = exit
"""Alias of :func:`exit`."""
