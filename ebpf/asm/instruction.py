"""eBPF instructions: :class:`Instruction`, the :class:`Instructions` sequence, and their encoding.

Every instruction occupies one or two 8-byte *slots*::

    +--------+--------+--------+--------+--------+--------+--------+--------+
    |  code  |  regs  |     offset      |             immediate             |
    |   u8   |   u8   |       s16       |                s32                |
    +--------+--------+--------+--------+--------+--------+--------+--------+

``regs`` holds two 4-bit register numbers. In little-endian objects the destination register
is the low nibble and the source register the high nibble; in big-endian objects it is the
other way round. ``offset`` and ``immediate`` use the byte order of the object.

The 64-bit immediate load (``LD|IMM|DW``, "ldimm64") takes two slots: the first slot holds the
low 32 bits of the constant, the second slot's immediate holds the high 32 bits, and every other
field of the second slot is zero. Jump offsets and the constants of pc-relative calls count
slots, not instructions: the target of a jump at slot ``pc`` is ``pc + 1 + offset``.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Iterable, Iterator, MutableSequence
from dataclasses import KW_ONLY, dataclass, field, replace
from typing import (
    TYPE_CHECKING,
    Final,
    Literal,
    NoReturn,
    SupportsIndex,
    TypeAlias,
    final,
    overload,
)

from ..errors import EbpfError, located
from ._raw import (
    CLASS_JMP,
    CLASS_JMP32,
    JUMP_CALL,
    JUMP_EXIT,
    JUMP_JA,
    JUMP_JCOND,
    JUMP_OPS,
    LDIMM64,
    PSEUDO_CALL,
    PSEUDO_CALL_HELPER,
    PSEUDO_FUNC,
    PSEUDO_KFUNC_CALL,
    PSEUDO_MAP_FD,
    PSEUDO_MAP_IDX,
    PSEUDO_MAP_IDX_VALUE,
    PSEUDO_MAP_VALUE,
    SOURCE_K,
    SOURCE_X,
)
from .register import REGISTERS, Register

if TYPE_CHECKING:
    from typing_extensions import Self

    from .helpers import Helper
    from .opcode import OpCode

ByteOrder: TypeAlias = Literal["little", "big"]
"""The byte order of an encoded instruction stream."""

__all__ = [
    "ByteOrder",
    "Instruction",
    "InstructionError",
    "Instructions",
    "UnresolvedReferenceError",
]

_REPR_IN_FULL: Final = 3  # Instructions.__repr__ lists sequences up to this long

SLOT_SIZE: Final = 8
"""Bytes in one instruction slot."""

_S16_MIN: Final = -(1 << 15)
_S16_MAX: Final = (1 << 15) - 1
_S32_MIN: Final = -(1 << 31)
_S32_MAX: Final = (1 << 31) - 1
_U32_LIMIT: Final = 1 << 32
_S64_MIN: Final = -(1 << 63)
_U64_LIMIT: Final = 1 << 64
_LOW32: Final = 0xFFFF_FFFF


class InstructionError(EbpfError, ValueError):
    """An instruction, or a stream of them, cannot be encoded or decoded.

    Attributes:
        field: the instruction field at fault (``"opcode"``, ``"dst"``, ``"src"``,
            ``"offset"``, ``"constant"``, ``"symbol"``, ``"reference"``), if there is one.
        index: the index of the instruction in its :class:`Instructions`, if known.
        byte_offset: the byte offset in the encoded stream, if known.
    """

    field: str | None
    index: int | None
    byte_offset: int | None

    def __init__(self, message: str, *, field: str | None = None, index: int | None = None,
                 byte_offset: int | None = None) -> None:
        self.field = field
        self.index = index
        self.byte_offset = byte_offset
        super().__init__(located(message,
                                 None if index is None else f"instruction {index}",
                                 None if byte_offset is None else f"byte offset {byte_offset}"))

    def __reduce__(self) -> tuple[object, ...]:
        # The keyword-only constructor arguments are kept in the instance dict; restore them
        # as they are instead of calling __init__ again.
        return (_restore_error, (type(self), self.args, dict(self.__dict__)))


def _restore_error(cls: type[InstructionError], args: tuple[object, ...],
                   state: dict[str, object]) -> InstructionError:
    err = cls.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


class UnresolvedReferenceError(InstructionError):
    """A jump or call names a symbol that is not in the instruction sequence.

    Attributes:
        reference: the name that could not be found.
    """

    reference: str

    def __init__(self, message: str, *, reference: str, field: str | None = "reference",
                 index: int | None = None, byte_offset: int | None = None) -> None:
        self.reference = reference
        super().__init__(message, field=field, index=index, byte_offset=byte_offset)


# What a reference on an instruction patches when the target is in the same sequence.
_TARGET_NONE: Final = 0
_TARGET_OFFSET: Final = 1  # jumps: the offset field, which is s16
_TARGET_CONSTANT: Final = 2  # gotol, bpf-to-bpf calls, function pointers: the constant


def _target_kinds() -> tuple[int, ...]:
    kinds = [_TARGET_NONE] * 256
    special = {JUMP_CALL, JUMP_EXIT, JUMP_JA, JUMP_JCOND}
    for klass in (CLASS_JMP, CLASS_JMP32):
        for op in JUMP_OPS:
            if op in special:
                continue
            for source in (SOURCE_K, SOURCE_X):
                kinds[op | source | klass] = _TARGET_OFFSET
    kinds[JUMP_JA | SOURCE_K | CLASS_JMP] = _TARGET_OFFSET
    kinds[JUMP_JA | SOURCE_K | CLASS_JMP32] = _TARGET_CONSTANT
    kinds[JUMP_JCOND | SOURCE_K | CLASS_JMP] = _TARGET_OFFSET
    return tuple(kinds)


_TARGET_KIND: Final = _target_kinds()
_CALL: Final = JUMP_CALL | SOURCE_K | CLASS_JMP
_EXIT: Final = JUMP_EXIT | SOURCE_K | CLASS_JMP
# Pseudo sources, to compare with the ``src`` register.
_HELPER: Final = PSEUDO_CALL_HELPER
_FUNCTION: Final = PSEUDO_CALL
_KFUNC: Final = PSEUDO_KFUNC_CALL
_FUNC_PTR: Final = PSEUDO_FUNC
_MAP_LOADS: Final[frozenset[int]] = frozenset(
    {PSEUDO_MAP_FD, PSEUDO_MAP_VALUE, PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE})


def _target_kind(opcode: int, src: int) -> int:
    """What a symbol reference on an instruction resolves into (one of ``_TARGET_*``)."""
    kind = _TARGET_KIND[opcode]
    if kind:
        return kind
    if opcode == _CALL:
        return _TARGET_CONSTANT if src == _FUNCTION else _TARGET_NONE
    if opcode == LDIMM64:
        return _TARGET_CONSTANT if src == _FUNC_PTR else _TARGET_NONE
    return _TARGET_NONE


def _as_int(value: object, name: str) -> int:
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"Instruction.{name} must be an int, not {type(value).__name__}") from None


def _as_register(value: object, name: str) -> Register:
    if isinstance(value, Register):
        return value
    number = _as_int(value, name)
    if not 0 <= number <= 10:
        raise InstructionError(f"{name} register {number} is out of range (r0..r10)", field=name)
    return REGISTERS[number]


_set = object.__setattr__


@final
@dataclass(frozen=True, slots=True, repr=False)
class Instruction:
    """One eBPF instruction, plus metadata for linking and display.

    Instructions are immutable; the ``with_*`` methods return modified copies. Build them with
    the functions of :mod:`ebpf.asm` (``asm.mov.imm(R0, 0)``) rather than by hand.

    Fields are checked and normalised on construction:

    * ``opcode`` must fit in 8 bits; ``dst``/``src`` may be given as ints 0..10 and are stored
      as :class:`Register`; ``offset`` must fit in a signed 16-bit integer.
    * ``constant`` is the immediate. For every instruction but the 64-bit immediate load it is
      32 bits wide: values in ``-2**31 .. 2**32 - 1`` are accepted and stored as the signed
      32-bit integer with the same bits (``0xFFFFFFFF`` is stored as ``-1``). For the 64-bit
      immediate load (:attr:`is_ldimm64`) values in ``-2**63 .. 2**64 - 1`` are accepted and
      stored as the signed 64-bit integer with the same bits. So two instructions that encode
      to the same bytes compare equal.

    Metadata, which is never encoded:

    * ``symbol`` names this instruction as the start of a function or a jump label.
    * ``reference`` names what the instruction refers to: the symbol a jump or a bpf-to-bpf
      call goes to (:meth:`Instructions.resolve` fills in the offset), or a map, kernel
      function or variable that a linker must resolve.
    * ``source`` is a line of source code to show next to the instruction. It does not take part
      in comparisons.

    Raises:
        InstructionError: a field is out of range (``.field`` names it).
        TypeError: a field is not an integer.
    """

    opcode: int
    dst: Register = Register.R0
    src: Register = Register.R0
    offset: int = 0
    constant: int = 0
    _: KW_ONLY
    symbol: str | None = None
    reference: str | None = None
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        opcode = self.opcode
        if type(opcode) is not int:
            opcode = _as_int(opcode, "opcode")
            _set(self, "opcode", opcode)
        if not 0 <= opcode <= 0xFF:
            raise InstructionError(f"opcode {opcode:#x} does not fit in 8 bits", field="opcode")
        if type(self.dst) is not Register:
            _set(self, "dst", _as_register(self.dst, "dst"))
        if type(self.src) is not Register:
            _set(self, "src", _as_register(self.src, "src"))
        offset = self.offset
        if type(offset) is not int:
            offset = _as_int(offset, "offset")
            _set(self, "offset", offset)
        if not _S16_MIN <= offset <= _S16_MAX:
            raise InstructionError(
                f"offset {offset} does not fit in a signed 16-bit integer", field="offset")
        constant = self.constant
        if type(constant) is not int:
            constant = _as_int(constant, "constant")
            _set(self, "constant", constant)
        if opcode == LDIMM64:
            if not _S64_MIN <= constant < _U64_LIMIT:
                raise InstructionError(
                    f"constant {constant:#x} does not fit in 64 bits", field="constant")
            if constant > 0x7FFF_FFFF_FFFF_FFFF:
                _set(self, "constant", constant - _U64_LIMIT)
        else:
            if not _S32_MIN <= constant < _U32_LIMIT:
                raise InstructionError(
                    f"constant {constant:#x} does not fit in 32 bits", field="constant")
            if constant > _S32_MAX:
                _set(self, "constant", constant - _U32_LIMIT)

    # Decoded views ---------------------------------------------------------------------------

    @property
    def op(self) -> OpCode:
        """The opcode with accessors for its parts."""
        from .opcode import OpCode

        return OpCode(self.opcode)

    @property
    def size(self) -> int:
        """The encoded size in bytes: 16 for the 64-bit immediate load, else 8."""
        return 16 if self.opcode == LDIMM64 else 8

    @property
    def slots(self) -> int:
        """The number of 8-byte slots the instruction occupies: 2 for ldimm64, else 1."""
        return 2 if self.opcode == LDIMM64 else 1

    @property
    def is_ldimm64(self) -> bool:
        """True for the 64-bit immediate load (``LD|IMM|DW``), which takes two slots."""
        return self.opcode == LDIMM64

    @property
    def is_call(self) -> bool:
        """True for any call: helper, bpf-to-bpf or kernel function."""
        return self.opcode == _CALL

    @property
    def is_helper_call(self) -> bool:
        """True for a call of a helper function (the constant is the helper id)."""
        return self.opcode == _CALL and self.src == _HELPER

    @property
    def is_function_call(self) -> bool:
        """True for a bpf-to-bpf call (the constant is pc-relative)."""
        return self.opcode == _CALL and self.src == _FUNCTION

    @property
    def is_bpf_to_bpf_call(self) -> bool:
        """Alias of :attr:`is_function_call`."""
        return self.opcode == _CALL and self.src == _FUNCTION

    @property
    def is_kfunc_call(self) -> bool:
        """True for a call of a kernel function (the constant is its BTF id)."""
        return self.opcode == _CALL and self.src == _KFUNC

    @property
    def is_jump(self) -> bool:
        """True for jumps, conditional or not, including ``gotol`` and ``may_goto``.

        Calls and exit are not jumps.
        """
        return _TARGET_KIND[self.opcode] != _TARGET_NONE

    @property
    def is_exit(self) -> bool:
        """True for ``exit``."""
        return self.opcode == _EXIT

    @property
    def is_load_from_map(self) -> bool:
        """True for a 64-bit immediate load of a map pointer or a map value pointer."""
        return self.opcode == LDIMM64 and self.src in _MAP_LOADS

    @property
    def is_load_of_function_pointer(self) -> bool:
        """True for a 64-bit immediate load of the address of a BPF function."""
        return self.opcode == LDIMM64 and self.src == _FUNC_PTR

    @property
    def helper(self) -> Helper | None:
        """The helper a helper call calls, or None (not a helper call, or an unknown id)."""
        if self.opcode != _CALL or self.src != _HELPER:
            return None
        from .helpers import Helper

        try:
            return Helper(self.constant)
        except ValueError:
            return None

    # Copies with changes ---------------------------------------------------------------------

    def with_symbol(self, name: str | None) -> Instruction:
        """A copy that starts the function or label ``name`` (None removes the symbol)."""
        return replace(self, symbol=name)

    def with_reference(self, name: str | None) -> Instruction:
        """A copy that refers to ``name`` (None removes the reference)."""
        return replace(self, reference=name)

    def with_source(self, text: str | None) -> Instruction:
        """A copy annotated with the source line ``text``."""
        return replace(self, source=text)

    def with_constant(self, constant: int) -> Instruction:
        """A copy with another constant (checked and normalised as on construction)."""
        return replace(self, constant=constant)

    def with_offset(self, offset: int) -> Instruction:
        """A copy with another offset."""
        return replace(self, offset=offset)

    def with_map_fd(self, fd: int) -> Instruction:
        """A copy of a map load whose low 32 bits of constant are ``fd``.

        For a map value load (``MAP_VALUE``) the value offset in the high 32 bits is kept.

        Raises:
            InstructionError: the instruction is not a map load, or ``fd`` is negative or
                does not fit in 32 bits.
        """
        if not self.is_load_from_map:
            raise InstructionError(f"{self} does not load a map", field="opcode")
        if not 0 <= fd <= _LOW32:
            raise InstructionError(f"map fd {fd} is out of range", field="constant")
        return replace(self, constant=(self.constant & ~_LOW32) | fd)

    # Encoding --------------------------------------------------------------------------------

    def marshal(self, byteorder: ByteOrder) -> bytes:
        """The 8 (or, for ldimm64, 16) bytes of the instruction in ``byteorder``.

        The fields are encoded as they are: a ``reference`` is not resolved (see
        :meth:`Instructions.marshal`).
        """
        codec = _codec(byteorder)
        regs = codec.regs[self.dst][self.src]
        constant = self.constant
        if self.opcode == LDIMM64:
            return codec.wide.pack(LDIMM64, regs, self.offset, constant & _LOW32,
                                   0, 0, 0, (constant >> 32) & _LOW32)
        return codec.slot.pack(self.opcode, regs, self.offset, constant)

    @classmethod
    def unmarshal(cls, data: bytes | bytearray | memoryview, byteorder: ByteOrder,
                  offset: int = 0) -> Instruction:
        """Decode the instruction at byte ``offset`` of ``data``.

        Reads 8 bytes, or 16 for the 64-bit immediate load.

        Raises:
            InstructionError: the data is too short, a register number is above 10, or the
                second slot of an ldimm64 has bits outside its immediate.
        """
        codec = _codec(byteorder)
        if not isinstance(data, bytes):
            data = memoryview(data).cast("B")
        if offset < 0 or offset + SLOT_SIZE > len(data):
            raise InstructionError(
                f"need {SLOT_SIZE} bytes, {max(0, len(data) - offset)} left", byte_offset=offset)
        opcode, regs, off, imm = codec.slot.unpack_from(data, offset)
        if opcode == LDIMM64:
            if offset + 2 * SLOT_SIZE > len(data):
                raise InstructionError("64-bit immediate load is truncated (needs 16 bytes, "
                                       f"{len(data) - offset} left)", byte_offset=offset)
            imm = _join_wide(imm, codec.slot.unpack_from(data, offset + SLOT_SIZE), offset)
        pair = codec.decode_regs[regs]
        if pair is None:
            _bad_regs(regs, codec, offset)
        return _trusted(opcode, pair[0], pair[1], off, imm)

    # Display ---------------------------------------------------------------------------------

    def __str__(self) -> str:
        from .disasm import format_instruction

        return format_instruction(self)

    def __repr__(self) -> str:
        parts = [f"opcode={self.opcode:#04x}", f"dst={self.dst.name}", f"src={self.src.name}",
                 f"offset={self.offset}", f"constant={self.constant}"]
        for name in ("symbol", "reference", "source"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value!r}")
        return f"Instruction({', '.join(parts)})"


class _Unfrozen:
    """The slots of :class:`Instruction` without its frozen ``__setattr__``.

    Decoding builds instructions as ``_Unfrozen`` with plain attribute stores, then switches
    their class to ``Instruction``: several times faster than ``object.__setattr__`` for each
    field, which is what the frozen dataclass's ``__init__`` does. The layouts are identical, so
    the class switch is allowed; :func:`_switch_works` checks that once at import.
    """

    __slots__ = Instruction.__slots__

    opcode: int
    dst: Register
    src: Register
    offset: int
    constant: int
    symbol: str | None
    reference: str | None
    source: str | None


def _trusted(opcode: int, dst: Register, src: Register, offset: int,
             constant: int) -> Instruction:
    """An Instruction from fields that are known to be in range (skips the checks)."""
    if not _FAST:
        ins = object.__new__(Instruction)
        for name, value in (("opcode", opcode), ("dst", dst), ("src", src), ("offset", offset),
                            ("constant", constant), ("symbol", None), ("reference", None),
                            ("source", None)):
            _set(ins, name, value)
        return ins
    raw = _Unfrozen()
    raw.opcode = opcode
    raw.dst = dst
    raw.src = src
    raw.offset = offset
    raw.constant = constant
    raw.symbol = raw.reference = raw.source = None
    raw.__class__ = Instruction  # type: ignore[assignment]
    return raw  # type: ignore[return-value]


def _switch_works() -> bool:
    try:
        raw = _Unfrozen()
        raw.__class__ = Instruction  # type: ignore[assignment]
    except TypeError:  # another Python implementation with other layout rules
        return False
    return True


_FAST: Final = _switch_works()


class _Codec:
    """Precompiled structures and register tables for one byte order."""

    __slots__ = ("byteorder", "decode_regs", "regs", "slot", "wide")

    def __init__(self, byteorder: ByteOrder) -> None:
        prefix = "<" if byteorder == "little" else ">"
        self.byteorder: ByteOrder = byteorder
        self.slot = struct.Struct(prefix + "BBhi")
        # ldimm64: both immediates are written from their unsigned 32-bit halves.
        self.wide = struct.Struct(prefix + "BBhIBBhI")
        big = byteorder == "big"

        def pack(dst: int, src: int) -> int:
            return (dst << 4 | src) if big else (src << 4 | dst)

        self.regs: tuple[tuple[int, ...], ...] = tuple(
            tuple(pack(dst, src) for src in range(11)) for dst in range(11))
        decode: list[tuple[Register, Register] | None] = [None] * 256
        for dst in REGISTERS:
            for src in REGISTERS:
                decode[pack(dst, src)] = (dst, src)
        self.decode_regs: tuple[tuple[Register, Register] | None, ...] = tuple(decode)


# Built on first use: most processes only ever use the host's byte order.
_CODECS: dict[str, _Codec] = {}


def _codec(byteorder: str) -> _Codec:
    codec = _CODECS.get(byteorder)
    if codec is None:
        if byteorder == "little":
            codec = _Codec("little")
        elif byteorder == "big":
            codec = _Codec("big")
        else:
            raise ValueError(f"byte order must be 'little' or 'big', not {byteorder!r}")
        _CODECS[byteorder] = codec
    return codec


def _join_wide(low: int, second: tuple[int, int, int, int], byte_offset: int) -> int:
    """The 64-bit constant of an ldimm64 from its first immediate and its second slot."""
    opcode, regs, off, high = second
    if opcode or regs or off:
        raise InstructionError(
            "second slot of a 64-bit immediate load must be zero outside its immediate "
            f"(opcode {opcode:#x}, registers {regs:#x}, offset {off})",
            byte_offset=byte_offset + SLOT_SIZE)
    return (high << 32) | (low & _LOW32)


def _bad_regs(regs: int, codec: _Codec, byte_offset: int, index: int | None = None) -> NoReturn:
    high, low = regs >> 4, regs & 0xF
    dst, src = (high, low) if codec.byteorder == "big" else (low, high)
    name, number = ("dst", dst) if dst > 10 else ("src", src)
    raise InstructionError(f"{name} register {number} is out of range (r0..r10)",
                           field=name, index=index, byte_offset=byte_offset)


def _check_target(delta: int, kind: int, ins: Instruction, index: int) -> None:
    if kind == _TARGET_OFFSET:
        if not _S16_MIN <= delta <= _S16_MAX:
            hint = " (use ja32 for long jumps)" if ins.opcode == JUMP_JA | CLASS_JMP else ""
            raise InstructionError(
                f"jump to {ins.reference!r} is {delta} slots away, more than a 16-bit offset "
                f"holds{hint}", field="offset", index=index)
    elif not _S32_MIN <= delta <= _S32_MAX:
        raise InstructionError(f"reference to {ins.reference!r} is {delta} slots away",
                               field="constant", index=index)


class Instructions(MutableSequence[Instruction]):
    """A mutable sequence of :class:`Instruction`: a program, or some functions of one.

    Supports what a list does (indexing, slicing, ``len``, iteration, ``append``, ``extend``,
    ``insert``, ``del``, ``+``, ``==``); slices are new :class:`Instructions`. Instructions are
    immutable, so :meth:`copy` is a full copy.

    ``Instructions(items)`` accepts label strings among the instructions: a string ending in
    ``":"`` gives its name as :attr:`~Instruction.symbol` to the instruction that follows it::

        Instructions([
            asm.mov.imm(R0, 0),
            asm.jeq.imm(R1, 0, "out"),
            asm.mov.imm(R0, 1),
            "out:",
            asm.exit(),
        ])

    Offsets: an instruction's *index* is its position in the sequence; its *slot offset*
    (:meth:`raw_offset`) counts 8-byte slots from the start, so every ldimm64 before it adds 2.
    Jump offsets and call constants count slots.

    ``str()`` gives the disassembly (see :func:`ebpf.asm.disasm.format_instructions`).
    """

    __slots__ = ("_insns",)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, items: Iterable[Instruction | str] = ()) -> None:
        """Collect ``items``; ``"name:"`` strings label the next instruction.

        Raises:
            InstructionError: a label is not followed by an instruction, or an instruction
                that already has another symbol follows a label.
            TypeError: an item is neither an Instruction nor a label string.
        """
        insns: list[Instruction] = []
        label: str | None = None
        for item in items:
            if isinstance(item, Instruction):
                if label is not None:
                    if item.symbol is not None and item.symbol != label:
                        raise InstructionError(
                            f"label {label!r} is followed by an instruction that already has "
                            f"the symbol {item.symbol!r}", field="symbol", index=len(insns))
                    item = replace(item, symbol=label)
                    label = None
                insns.append(item)
            elif isinstance(item, str):
                if not item.endswith(":") or len(item) < 2:
                    raise InstructionError(f"label {item!r} must be a name followed by ':'",
                                           field="symbol", index=len(insns))
                if label is not None:
                    raise InstructionError(
                        f"labels {label!r} and {item[:-1]!r} name the same instruction",
                        field="symbol", index=len(insns))
                label = item[:-1]
            else:
                raise TypeError(
                    f"Instructions holds Instruction items, not {type(item).__name__}")
        if label is not None:
            raise InstructionError(f"label {label!r} is not followed by an instruction",
                                   field="symbol", index=len(insns))
        self._insns = insns

    @classmethod
    def _wrap(cls, insns: list[Instruction]) -> Instructions:
        new = cls.__new__(cls)
        new._insns = insns
        return new

    # Sequence protocol -----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._insns)

    @overload
    def __getitem__(self, index: int) -> Instruction: ...

    @overload
    def __getitem__(self, index: slice) -> Instructions: ...

    def __getitem__(self, index: int | slice) -> Instruction | Instructions:
        if isinstance(index, slice):
            return self._wrap(self._insns[index])
        return self._insns[index]

    @overload
    def __setitem__(self, index: int, value: Instruction) -> None: ...

    @overload
    def __setitem__(self, index: slice, value: Iterable[Instruction]) -> None: ...

    def __setitem__(self, index: int | slice,
                    value: Instruction | Iterable[Instruction]) -> None:
        if isinstance(index, slice):
            if isinstance(value, Instruction):
                raise TypeError("can only assign an iterable of Instruction to a slice")
            self._insns[index] = [_checked(v) for v in value]
        else:
            self._insns[index] = _checked(value)

    def __delitem__(self, index: int | slice) -> None:
        del self._insns[index]

    def __iter__(self) -> Iterator[Instruction]:
        return iter(self._insns)

    def __reversed__(self) -> Iterator[Instruction]:
        return reversed(self._insns)

    def __contains__(self, value: object) -> bool:
        return value in self._insns

    def insert(self, index: int, value: Instruction) -> None:
        """Insert ``value`` before ``index``."""
        self._insns.insert(index, _checked(value))

    def append(self, value: Instruction) -> None:
        """Add ``value`` at the end."""
        self._insns.append(_checked(value))

    def extend(self, values: Iterable[Instruction]) -> None:
        """Add every instruction of ``values`` at the end."""
        self._insns.extend([_checked(v) for v in values])

    def index(self, value: object, start: SupportsIndex = 0,
              stop: SupportsIndex | None = None) -> int:
        """The index of the first instruction equal to ``value``.

        Raises:
            ValueError: there is none.
        """
        if stop is None:
            return self._insns.index(value, start)  # type: ignore[arg-type]
        return self._insns.index(value, start, stop)  # type: ignore[arg-type]

    def count(self, value: object) -> int:
        """How many instructions equal ``value``."""
        return self._insns.count(value)  # type: ignore[arg-type]

    def clear(self) -> None:
        """Remove every instruction."""
        self._insns.clear()

    def copy(self) -> Instructions:
        """A copy; changing it never changes this sequence (instructions are immutable)."""
        return self._wrap(list(self._insns))

    def __copy__(self) -> Instructions:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, object]) -> Instructions:
        return self.copy()

    def __add__(self, other: Iterable[Instruction]) -> Instructions:
        if not isinstance(other, (Instructions, list, tuple)):
            return NotImplemented
        return self._wrap(self._insns + [_checked(v) for v in other])

    def __radd__(self, other: Iterable[Instruction]) -> Instructions:
        if not isinstance(other, (list, tuple)):
            return NotImplemented
        return self._wrap([_checked(v) for v in other] + self._insns)

    def __iadd__(self, other: Iterable[Instruction]) -> Self:
        self.extend(other)
        return self

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Instructions):
            return self._insns == other._insns
        if isinstance(other, list):
            return self._insns == other
        return NotImplemented

    def __repr__(self) -> str:
        # One line: a short sequence in full, a longer one as a summary (so that printing
        # a spec or a dict of programs does not flood a terminal); str() disassembles.
        n = len(self._insns)
        if n <= _REPR_IN_FULL:
            return f"Instructions({self._insns!r})"
        return f"<Instructions: {n} instructions, {self.raw_offset(n)} slots>"

    def __str__(self) -> str:
        from .disasm import format_instructions

        return format_instructions(self)

    # Offsets and symbols ---------------------------------------------------------------------

    def iter_offsets(self) -> Iterator[tuple[int, Instruction]]:
        """Yield ``(slot_offset, instruction)`` for every instruction, in order."""
        slot = 0
        for ins in self._insns:
            yield slot, ins
            slot += 2 if ins.opcode == LDIMM64 else 1

    def raw_offset(self, index: int) -> int:
        """The slot offset of the instruction at ``index`` (counting ldimm64 as two slots).

        ``raw_offset(len(self))`` is the total number of slots.

        Raises:
            IndexError: ``index`` is outside ``0 .. len(self)``.
        """
        if not 0 <= index <= len(self._insns):
            raise IndexError(f"instruction index {index} out of range")
        return index + sum(1 for ins in self._insns[:index] if ins.opcode == LDIMM64)

    @property
    def slots(self) -> int:
        """The total number of 8-byte slots (the encoded size divided by 8)."""
        return len(self._insns) + sum(1 for ins in self._insns if ins.opcode == LDIMM64)

    def symbol_offsets(self) -> dict[str, int]:
        """Map every symbol to the index of the instruction that carries it.

        Raises:
            InstructionError: two instructions carry the same symbol.
        """
        found: dict[str, int] = {}
        for index, ins in enumerate(self._insns):
            name = ins.symbol
            if name is not None:
                if name in found:
                    raise InstructionError(f"duplicate symbol {name!r} (first at instruction "
                                           f"{found[name]})", field="symbol", index=index)
                found[name] = index
        return found

    def _symbol_slots(self) -> dict[str, int]:
        found: dict[str, int] = {}
        slot = 0
        for index, ins in enumerate(self._insns):
            name = ins.symbol
            if name is not None:
                if name in found:
                    raise InstructionError(f"duplicate symbol {name!r}", field="symbol",
                                           index=index)
                found[name] = slot
            slot += 2 if ins.opcode == LDIMM64 else 1
        return found

    def references(self) -> set[str]:
        """Every name that an instruction refers to (jump targets, functions, maps ...)."""
        return {ins.reference for ins in self._insns if ins.reference is not None}

    def function_references(self) -> set[str]:
        """The names of BPF functions that are called or whose address is loaded."""
        return {ins.reference for ins in self._insns
                if ins.reference is not None
                and (ins.is_function_call or ins.is_load_of_function_pointer)}

    def resolve(self) -> None:
        """Point every jump, bpf-to-bpf call and function pointer at the symbol it references.

        Jumps get their ``offset`` (``gotol`` its ``constant``), calls and function pointer
        loads their ``constant``: the slot distance ``target - pc - 1``. References to
        functions that are not (yet) in the sequence are left for the linker; references on
        other instructions (maps, kernel functions, variables) are left alone. Resolving twice
        does no harm. Changes the sequence in place.

        Raises:
            UnresolvedReferenceError: a jump references a symbol that is not in the sequence.
            InstructionError: a symbol is defined twice, or a target is too far for the field.
        """
        symbols: dict[str, int] | None = None
        insns = self._insns
        pc = 0
        for index, ins in enumerate(insns):
            ref = ins.reference
            if ref is not None:
                kind = _target_kind(ins.opcode, ins.src)
                if kind != _TARGET_NONE:
                    if symbols is None:
                        symbols = self._symbol_slots()
                    target = symbols.get(ref)
                    if target is None:
                        if ins.is_jump:
                            raise UnresolvedReferenceError(
                                f"jump to unknown label {ref!r}", reference=ref, index=index)
                    else:
                        delta = target - pc - 1
                        _check_target(delta, kind, ins, index)
                        if kind == _TARGET_OFFSET:
                            if ins.offset != delta:
                                insns[index] = replace(ins, offset=delta)
                        elif ins.constant != delta:
                            insns[index] = replace(ins, constant=delta)
            pc += 2 if ins.opcode == LDIMM64 else 1

    # Encoding --------------------------------------------------------------------------------

    def marshal(self, byteorder: ByteOrder) -> bytes:
        """Encode every instruction in ``byteorder``.

        References are resolved on the fly, as :meth:`resolve` would (the sequence itself is
        not changed), so jumps and calls to symbols in the sequence get their offsets.
        References on other instructions (maps, kernel functions) are not encoded: the
        instruction's fields are written as they are.

        Raises:
            UnresolvedReferenceError: a jump, bpf-to-bpf call or function pointer load refers
                to a symbol that is not in the sequence (link the function first).
            InstructionError: a symbol is defined twice, or a target is too far.
        """
        codec = _codec(byteorder)
        slot_pack = codec.slot.pack
        wide_pack = codec.wide.pack
        regs = codec.regs
        out: list[bytes] = []
        append = out.append
        symbols: dict[str, int] | None = None
        pc = 0
        for index, ins in enumerate(self._insns):
            opcode = ins.opcode
            offset = ins.offset
            constant = ins.constant
            if ins.reference is not None:
                kind = _target_kind(opcode, ins.src)
                if kind != _TARGET_NONE:
                    if symbols is None:
                        symbols = self._symbol_slots()
                    target = symbols.get(ins.reference)
                    if target is None:
                        what = "jump" if ins.is_jump else "call or function pointer"
                        raise UnresolvedReferenceError(
                            f"{what} refers to {ins.reference!r}, which is not in the "
                            "instructions", reference=ins.reference, index=index)
                    delta = target - pc - 1
                    _check_target(delta, kind, ins, index)
                    if kind == _TARGET_OFFSET:
                        offset = delta
                    else:
                        constant = delta
            if opcode == LDIMM64:
                append(wide_pack(opcode, regs[ins.dst][ins.src], offset, constant & _LOW32,
                                 0, 0, 0, (constant >> 32) & _LOW32))
                pc += 2
            else:
                append(slot_pack(opcode, regs[ins.dst][ins.src], offset, constant))
                pc += 1
        return b"".join(out)

    @classmethod
    def unmarshal(cls, data: bytes | bytearray | memoryview,
                  byteorder: ByteOrder) -> Instructions:
        """Decode a stream of instructions, such as the contents of a program section.

        Offsets stay as they are encoded; no symbols or references are invented (the
        disassembler derives labels for display).

        Raises:
            InstructionError: the length is not a multiple of 8, an ldimm64 is cut off at the
                end, a register number is above 10, or the second slot of an ldimm64 has bits
                outside its immediate. The error names the byte offset.
        """
        codec = _codec(byteorder)
        view = memoryview(data).cast("B") if not isinstance(data, bytes) else data
        length = len(view)
        if length % SLOT_SIZE:
            raise InstructionError(
                f"instruction stream of {length} bytes is not a multiple of {SLOT_SIZE}: "
                f"{length % SLOT_SIZE} bytes left over", byte_offset=length - length % SLOT_SIZE)
        decode_regs = codec.decode_regs
        insns: list[Instruction] = []
        append = insns.append
        slots = codec.slot.iter_unpack(view)
        pos = 0
        build = _trusted
        for opcode, regs, off, imm in slots:
            pair = decode_regs[regs]
            if pair is None:
                _bad_regs(regs, codec, pos, len(insns))
            if opcode == LDIMM64:
                second = next(slots, None)
                if second is None:
                    raise InstructionError(
                        "64-bit immediate load is truncated (needs 16 bytes, 8 left)",
                        index=len(insns), byte_offset=pos)
                imm = _join_wide(imm, second, pos)
                pos += 16
            else:
                pos += 8
            append(build(opcode, pair[0], pair[1], off, imm))
        return cls._wrap(insns)


def _checked(value: object) -> Instruction:
    if not isinstance(value, Instruction):
        raise TypeError(f"Instructions holds Instruction items, not {type(value).__name__}")
    return value
