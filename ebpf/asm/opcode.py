"""The parts of an eBPF opcode, as enums, and :class:`OpCode` to put them together.

An eBPF opcode is one byte. Its low three bits are the instruction :class:`Class`; how the
other five bits are used depends on the class::

      7   6   5   4   3   2   1   0
    +---+---+---+---+---+---+---+---+
    |    mode   | size  |   class   |   LD, LDX, ST, STX      (loads and stores)
    +---+---+---+---+---+---+---+---+
    |   operation   |src|   class   |   ALU, ALU64, JMP, JMP32
    +---+---+---+---+---+---+---+---+

``src`` (:class:`Source`) says whether the second operand is the 32-bit immediate (``K``) or
the source register (``X``). For ``ALU|END`` that bit instead picks the byte order
(:class:`Endianness`), and ``ALU64|END`` (with the bit clear) is the unconditional byte swap of
cpu v4. Atomic operations (``STX|ATOMIC``) keep their operation in the immediate
(:class:`AtomicOp`). The ``src`` register field doubles as a "pseudo source" for 64-bit
immediate loads (:class:`PseudoLoad`), calls (:class:`PseudoCall`) and conditional pseudo
jumps (:class:`PseudoJump`).

The numbers come from the kernel's UAPI headers (``linux/bpf_common.h``, ``linux/bpf.h``).
"""

from __future__ import annotations

import enum
from enum import IntEnum
from typing import Final, TypeVar

__all__ = [
    "ALUOp",
    "AtomicOp",
    "Class",
    "Endianness",
    "JumpOp",
    "LDIMM64",
    "Mode",
    "OpCode",
    "PseudoCall",
    "PseudoJump",
    "PseudoLoad",
    "Size",
    "Source",
]

CLASS_MASK: Final = 0x07
"""Bits of the opcode that hold the :class:`Class`."""
SIZE_MASK: Final = 0x18
"""Bits of a load/store opcode that hold the :class:`Size`."""
MODE_MASK: Final = 0xE0
"""Bits of a load/store opcode that hold the :class:`Mode`."""
SOURCE_MASK: Final = 0x08
"""Bit of an ALU/jump opcode that holds the :class:`Source`."""
OP_MASK: Final = 0xF0
"""Bits of an ALU/jump opcode that hold the :class:`ALUOp` or :class:`JumpOp`."""


class Class(IntEnum):
    """The instruction class: the low three bits of every opcode."""

    LD = 0x00
    """Non-standard loads: the 64-bit immediate load and legacy packet access."""
    LDX = 0x01
    """Load from memory into a register."""
    ST = 0x02
    """Store an immediate to memory."""
    STX = 0x03
    """Store a register to memory, and atomic operations."""
    ALU = 0x04
    """32-bit arithmetic (operands are the low 32 bits; the result is zero-extended)."""
    JMP = 0x05
    """64-bit comparisons and jumps, calls and exit."""
    JMP32 = 0x06
    """32-bit comparisons and jumps (cpu v3); ``JMP32|JA`` is the long jump of cpu v4."""
    ALU64 = 0x07
    """64-bit arithmetic."""

    @property
    def is_load_store(self) -> bool:
        """True for the load and store classes (LD, LDX, ST, STX)."""
        return self <= Class.STX

    @property
    def is_alu(self) -> bool:
        """True for ALU and ALU64."""
        return self is Class.ALU or self is Class.ALU64

    @property
    def is_jump(self) -> bool:
        """True for JMP and JMP32."""
        return self is Class.JMP or self is Class.JMP32


class Size(IntEnum):
    """The width of a memory access (load/store classes)."""

    W = 0x00
    """Word, 4 bytes."""
    H = 0x08
    """Half word, 2 bytes."""
    B = 0x10
    """Byte."""
    DW = 0x18
    """Double word, 8 bytes."""

    @property
    def bytes(self) -> int:
        """The width in bytes: 1, 2, 4 or 8."""
        return _SIZE_BYTES[self]

    @property
    def bits(self) -> int:
        """The width in bits: 8, 16, 32 or 64."""
        return _SIZE_BYTES[self] * 8

    @classmethod
    def of_width(cls, n: int) -> Size:
        """The size that is ``n`` bytes wide.

        Raises:
            ValueError: ``n`` is not 1, 2, 4 or 8.
        """
        for size, width in _SIZE_BYTES.items():
            if width == n:
                return size
        raise ValueError(f"no memory access is {n} bytes wide (expected 1, 2, 4 or 8)")


_SIZE_BYTES: Final[dict[Size, int]] = {Size.W: 4, Size.H: 2, Size.B: 1, Size.DW: 8}


class Mode(IntEnum):
    """How a load or store finds its memory (load/store classes)."""

    IMM = 0x00
    """Immediate: with ``LD|DW`` this is the 64-bit immediate load (two slots)."""
    ABS = 0x20
    """Legacy packet access at an absolute offset (socket filters)."""
    IND = 0x40
    """Legacy packet access at a register plus an offset (socket filters)."""
    MEM = 0x60
    """Regular memory access at a register plus the offset."""
    MEMSX = 0x80
    """Sign-extending load (cpu v4, ``LDX`` only)."""
    ATOMIC = 0xC0
    """Atomic operation (``STX`` only); the operation is in the immediate."""


LDIMM64: Final[int] = Class.LD | Mode.IMM | Size.DW
"""The opcode of the 64-bit immediate load, ``0x18``."""


class Source(IntEnum):
    """The operand of an ALU or jump instruction: the immediate or the source register."""

    K = 0x00
    """Use the 32-bit immediate ``constant``."""
    X = 0x08
    """Use the source register."""
    IMM = K
    """Alias of :attr:`K`."""
    REG = X
    """Alias of :attr:`X`."""


class Endianness(IntEnum):
    """The byte order of ``ALU|END``, kept in the :class:`Source` bit.

    ``ALU64|END`` with the bit clear (the value of :attr:`TO_LE`) is the cpu v4 ``bswap``,
    which swaps unconditionally.
    """

    TO_LE = 0x00
    """Convert between host and little-endian order."""
    TO_BE = 0x08
    """Convert between host and big-endian order."""
    FROM_LE = TO_LE
    """Alias of :attr:`TO_LE`."""
    FROM_BE = TO_BE
    """Alias of :attr:`TO_BE`."""


class ALUOp(IntEnum):
    """The operation of an ALU or ALU64 instruction."""

    ADD = 0x00
    SUB = 0x10
    MUL = 0x20
    DIV = 0x30
    """Unsigned division; with ``offset=1`` signed division (cpu v4)."""
    OR = 0x40
    AND = 0x50
    LSH = 0x60
    RSH = 0x70
    """Logical right shift."""
    NEG = 0x80
    MOD = 0x90
    """Unsigned modulo; with ``offset=1`` signed modulo (cpu v4)."""
    XOR = 0xA0
    MOV = 0xB0
    """Move; with ``offset`` 8, 16 or 32 a sign-extending move (cpu v4)."""
    ARSH = 0xC0
    """Arithmetic (sign-preserving) right shift."""
    END = 0xD0
    """Byte order conversion; see :class:`Endianness`."""


class JumpOp(IntEnum):
    """The operation of a JMP or JMP32 instruction."""

    JA = 0x00
    """Jump always (``JMP``: target in ``offset``; ``JMP32``: target in ``constant``)."""
    JEQ = 0x10
    JGT = 0x20
    """Unsigned ``>``."""
    JGE = 0x30
    """Unsigned ``>=``."""
    JSET = 0x40
    """Jump if ``dst & operand`` is not zero."""
    JNE = 0x50
    JSGT = 0x60
    """Signed ``>``."""
    JSGE = 0x70
    """Signed ``>=``."""
    CALL = 0x80
    """Call a helper, a BPF function or a kernel function (see :class:`PseudoCall`)."""
    EXIT = 0x90
    """Return from the current function; the result is in R0."""
    JLT = 0xA0
    """Unsigned ``<``."""
    JLE = 0xB0
    """Unsigned ``<=``."""
    JSLT = 0xC0
    """Signed ``<``."""
    JSLE = 0xD0
    """Signed ``<=``."""
    JCOND = 0xE0
    """Conditional pseudo jump (``may_goto``, Linux 6.9); the kind is in the src register."""


class AtomicOp(IntEnum):
    """The operation of an atomic instruction (``STX|ATOMIC``), kept in its immediate.

    Only W and DW atomics exist, except :attr:`LOAD_ACQ` and :attr:`STORE_REL`, which take every
    size.
    """

    ADD = 0x00
    """``*(dst + off) += src``."""
    OR = 0x40
    """``*(dst + off) |= src``."""
    AND = 0x50
    """``*(dst + off) &= src``."""
    XOR = 0xA0
    """``*(dst + off) ^= src``."""
    FETCH_ADD = 0x01
    """As :attr:`ADD`, and ``src`` receives the old value."""
    FETCH_OR = 0x41
    """As :attr:`OR`, and ``src`` receives the old value."""
    FETCH_AND = 0x51
    """As :attr:`AND`, and ``src`` receives the old value."""
    FETCH_XOR = 0xA1
    """As :attr:`XOR`, and ``src`` receives the old value."""
    XCHG = 0xE1
    """Exchange ``src`` with ``*(dst + off)``."""
    CMPXCHG = 0xF1
    """If ``*(dst + off) == r0`` store ``src``; ``r0`` receives the old value."""
    LOAD_ACQ = 0x100
    """Load-acquire: ``dst = *(src + off)`` (Linux 6.15)."""
    STORE_REL = 0x110
    """Store-release: ``*(dst + off) = src`` (Linux 6.15)."""

    @property
    def fetches(self) -> bool:
        """True if the operation returns the old value (the ``BPF_FETCH`` bit is set)."""
        return bool(self & FETCH) and self < AtomicOp.LOAD_ACQ

    @property
    def base(self) -> AtomicOp:
        """The operation without the fetch bit (``FETCH_ADD.base is ADD``).

        XCHG, CMPXCHG, LOAD_ACQ and STORE_REL are their own base.
        """
        if self in (AtomicOp.XCHG, AtomicOp.CMPXCHG, AtomicOp.LOAD_ACQ, AtomicOp.STORE_REL):
            return self
        return AtomicOp(self & ~FETCH)


FETCH: Final = 0x01
"""The ``BPF_FETCH`` bit of an atomic operation."""


class PseudoLoad(IntEnum):
    """What a 64-bit immediate load (``LD|IMM|DW``) loads, kept in its src register field."""

    NONE = 0
    """A plain 64-bit constant."""
    MAP_FD = 1
    """A map pointer; the constant is the map's fd."""
    MAP_VALUE = 2
    """A pointer into a map's value; fd in the low 32 bits, offset in the high 32 bits."""
    BTF_ID = 3
    """The address of a kernel variable; BTF id in the low 32 bits, module BTF fd in the high."""
    FUNC = 4
    """The address of a BPF function; the constant is pc-relative, in 8-byte slots."""
    MAP_IDX = 5
    """As :attr:`MAP_FD`, but the constant indexes ``fd_array``."""
    MAP_IDX_VALUE = 6
    """As :attr:`MAP_VALUE`, but the low 32 bits index ``fd_array``."""


class PseudoCall(IntEnum):
    """What a call (``JMP|CALL``) calls, kept in its src register field."""

    HELPER = 0
    """A helper function; the constant is its id (:class:`~ebpf.asm.Helper`)."""
    CALL = 1
    """A BPF function; the constant is pc-relative, in 8-byte slots."""
    KFUNC_CALL = 2
    """A kernel function; the constant is its BTF id, the offset picks the module BTF."""


class PseudoJump(IntEnum):
    """The kind of a conditional pseudo jump (``JMP|JCOND``), kept in its src register field."""

    MAY_GOTO = 0
    """Jump when the loop budget is used up (Linux 6.9)."""


class OpCode(int):
    """An 8-bit opcode with accessors for its parts.

    ``OpCode`` is an ``int``; :attr:`Instruction.opcode <ebpf.asm.Instruction.opcode>` stays a
    plain ``int``, and ``OpCode(ins.opcode)`` (or ``ins.op``) gives the accessors. The
    constructors check that each part is a member of its enum, so they only build valid
    combinations of bits; the accessors decode any byte (an unknown operation gives ``None``
    where an enum member is expected).

    Example::

        OpCode.alu(ALUOp.ADD, Source.K)            # 0x07: r += imm
        OpCode.jump(JumpOp.JEQ, Source.X, Class.JMP32)
        OpCode.mem(Class.LDX, Size.W)               # 0x61: r = *(u32 *)(r + off)
    """

    __slots__ = ()

    def __new__(cls, value: int) -> OpCode:
        """Wrap ``value``, which must be in ``0..255``.

        Raises:
            ValueError: ``value`` does not fit in a byte.
        """
        if not 0 <= value <= 0xFF:
            raise ValueError(f"opcode {value:#x} does not fit in 8 bits")
        return super().__new__(cls, value)

    # Constructors ----------------------------------------------------------------------------

    @classmethod
    def alu(cls, op: ALUOp, source: Source = Source.K, klass: Class = Class.ALU64) -> OpCode:
        """The opcode of an arithmetic instruction (``klass`` is ALU64 or ALU)."""
        if klass not in (Class.ALU, Class.ALU64):
            raise ValueError(f"{klass!r} is not an ALU class")
        return cls(ALUOp(op) | Source(source) | klass)

    @classmethod
    def jump(cls, op: JumpOp, source: Source = Source.K, klass: Class = Class.JMP) -> OpCode:
        """The opcode of a jump, call or exit (``klass`` is JMP or JMP32)."""
        if klass not in (Class.JMP, Class.JMP32):
            raise ValueError(f"{klass!r} is not a jump class")
        return cls(JumpOp(op) | Source(source) | klass)

    @classmethod
    def mem(cls, klass: Class, size: Size, mode: Mode = Mode.MEM) -> OpCode:
        """The opcode of a load or store (``klass`` is LD, LDX, ST or STX)."""
        if not Class(klass).is_load_store:
            raise ValueError(f"{klass!r} is not a load/store class")
        return cls(Mode(mode) | Size(size) | klass)

    @classmethod
    def endian(cls, order: Endianness, klass: Class = Class.ALU) -> OpCode:
        """The opcode of a byte order conversion.

        ``ALU`` with :attr:`Endianness.TO_LE`/:attr:`~Endianness.TO_BE` converts from host
        order; ``ALU64`` with ``TO_LE`` is the unconditional ``bswap`` (cpu v4).
        """
        if klass not in (Class.ALU, Class.ALU64):
            raise ValueError(f"{klass!r} is not an ALU class")
        if klass is Class.ALU64 and order is not Endianness.TO_LE:
            raise ValueError("ALU64|END (bswap) has no byte order bit")
        return cls(ALUOp.END | Endianness(order) | klass)

    @classmethod
    def bswap(cls) -> OpCode:
        """The opcode of the unconditional byte swap of cpu v4 (``ALU64|END``)."""
        return cls(ALUOp.END | Class.ALU64)

    # Accessors -------------------------------------------------------------------------------

    @property
    def cls(self) -> Class:
        """The instruction class."""
        return Class(self & CLASS_MASK)

    @property
    def size(self) -> Size | None:
        """The access size, for load/store classes; None otherwise."""
        if self & CLASS_MASK > Class.STX:
            return None
        return Size(self & SIZE_MASK)

    @property
    def mode(self) -> Mode | None:
        """The addressing mode, for load/store classes; None otherwise or if unknown."""
        if self & CLASS_MASK > Class.STX:
            return None
        return _enum_or_none(Mode, self & MODE_MASK)

    @property
    def source(self) -> Source | None:
        """The operand source, for ALU and jump classes; None otherwise."""
        if self & CLASS_MASK <= Class.STX:
            return None
        return Source(self & SOURCE_MASK)

    @property
    def alu_op(self) -> ALUOp | None:
        """The arithmetic operation, for ALU classes; None otherwise or if unknown."""
        if self & CLASS_MASK not in (Class.ALU, Class.ALU64):
            return None
        return _enum_or_none(ALUOp, self & OP_MASK)

    @property
    def jump_op(self) -> JumpOp | None:
        """The jump operation, for jump classes; None otherwise or if unknown."""
        if self & CLASS_MASK not in (Class.JMP, Class.JMP32):
            return None
        return _enum_or_none(JumpOp, self & OP_MASK)

    @property
    def is_ldimm64(self) -> bool:
        """True for the two-slot 64-bit immediate load (``LD|IMM|DW``)."""
        return self == LDIMM64

    def __repr__(self) -> str:
        return f"OpCode({self:#04x}: {self.describe()})"

    def describe(self) -> str:
        """The parts of the opcode as text, e.g. ``"ALU64|ADD|K"`` or ``"LDX|MEM|W"``."""
        cls = self.cls
        if cls.is_load_store:
            mode = self.mode
            mode_s = mode.name if mode is not None else f"mode{self & MODE_MASK:#x}"
            return f"{cls.name}|{mode_s}|{Size(self & SIZE_MASK).name}"
        op: enum.IntEnum | None = self.alu_op if cls.is_alu else self.jump_op
        op_s = op.name if op is not None else f"op{self & OP_MASK:#x}"
        src = Source(self & SOURCE_MASK)
        if op is ALUOp.END:
            if cls is Class.ALU64:
                src_s = "BSWAP" if src is Source.K else "X"
            else:
                src_s = "TO_BE" if src is Source.X else "TO_LE"
            return f"{cls.name}|{op_s}|{src_s}"
        return f"{cls.name}|{op_s}|{src.name}"


_E = TypeVar("_E", bound=enum.IntEnum)


def _enum_or_none(enum: type[_E], value: int) -> _E | None:
    try:
        return enum(value)
    except ValueError:
        return None
