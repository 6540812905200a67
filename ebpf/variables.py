"""Global variables of an object file: before loading (:class:`VariableSpec`) and after
(:class:`Variable`).

A global variable lives at an offset in the value of a global-data map (``.data``,
``.rodata``, ``.bss``, ``.data.custom`` ...). Before loading, reading and writing changes the
map spec's contents (so ``.rodata`` constants can be set for the verifier to see). After
loading, :class:`Variable` reads and writes the live map: through a shared memory mapping when
the map is mmapable, else with element lookups and updates.

Values are given and returned as bytes of exactly the variable's size, or as Python values
where the BTF type makes that unambiguous: ``int`` (and ``bool``) for integers, enums and
pointers, ``float`` for floating point, ``str`` for ``char`` arrays (set only; padded with NUL).
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

from .btf import Array, Enum, Float, Int, IntEncoding, Pointer, Type, skip_qualifiers, underlying
from .errors import BTFError, MarshalError

if TYPE_CHECKING:
    import ctypes

__all__ = ["Variable", "VariableSpec"]


def _scalar(t: Type | None) -> Type | None:
    if t is None:
        return None
    try:
        return underlying(t)
    except BTFError:  # a malformed type (e.g. a typedef loop) simply has no scalar form
        return skip_qualifiers(t)


def _is_ctypes_object(
        value: object) -> TypeGuard[ctypes.Structure | ctypes.Union | ctypes.Array[Any]]:
    # A ctypes object exists only once ctypes is imported: reading an object file (which
    # builds variable specs) need not import it.
    mod = sys.modules.get("ctypes")
    return mod is not None and isinstance(value, (mod.Structure, mod.Union, mod.Array))


def encode_value(value: object, size: int, t: Type | None, order: Literal["little", "big"],
                 what: str) -> bytes:
    """``value`` as the ``size`` bytes of a variable of BTF type ``t``.

    Raises:
        MarshalError: the value has the wrong size or does not fit the type.
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        if len(data) != size:
            raise MarshalError(f"{what}: expected {size} bytes, got {len(data)}")
        return data
    if _is_ctypes_object(value):
        data = bytes(value)
        if len(data) != size:
            raise MarshalError(f"{what}: expected {size} bytes, got a ctypes object of "
                               f"{len(data)} bytes")
        return data
    base = _scalar(t)
    if isinstance(value, int):  # bool included
        if base is not None and not isinstance(base, (Int, Enum, Pointer)):
            raise MarshalError(f"{what}: an int does not fit a variable of type {base}; pass "
                               f"{size} bytes")
        if base is None and size not in (1, 2, 4, 8):
            raise MarshalError(f"{what}: cannot store an int in {size} bytes; pass bytes")
        signed = (isinstance(base, Int) and bool(base.encoding & IntEncoding.SIGNED)) or (
            isinstance(base, Enum) and base.signed) or value < 0
        bits = size * 8
        lo = -(1 << (bits - 1)) if signed else 0
        hi = (1 << (bits - 1)) if signed else (1 << bits)
        if not lo <= int(value) < hi:
            raise MarshalError(f"{what}: {value} does not fit in {size} bytes")
        return int(value).to_bytes(size, order, signed=signed)
    if isinstance(value, float):
        if size not in (4, 8) or (base is not None and not isinstance(base, Float)):
            raise MarshalError(f"{what}: a float does not fit a variable of {size} bytes")
        return struct.pack(("<" if order == "little" else ">") + ("f" if size == 4 else "d"),
                           value)
    if isinstance(value, str):
        if base is not None and not isinstance(base, Array):
            raise MarshalError(f"{what}: a str fits only char arrays")
        raw = value.encode()
        if len(raw) > size:
            raise MarshalError(f"{what}: {len(raw)} bytes of text do not fit in {size}")
        return raw + b"\0" * (size - len(raw))
    raise MarshalError(f"{what}: cannot store {type(value).__name__}; pass bytes, an int, a "
                       "float, a str or a ctypes object")


def decode_value(data: bytes, t: Type | None, order: Literal["little", "big"]) -> Any:
    """The Python value of a variable: int, bool, float, or the raw bytes."""
    base = _scalar(t)
    size = len(data)
    if isinstance(base, Int):
        if base.encoding & IntEncoding.BOOL:
            return bool(int.from_bytes(data, order))
        return int.from_bytes(data, order, signed=bool(base.encoding & IntEncoding.SIGNED))
    if isinstance(base, Enum):
        return int.from_bytes(data, order, signed=base.signed)
    if isinstance(base, Pointer):
        return int.from_bytes(data, order)
    if isinstance(base, Float) and size in (4, 8):
        fmt = ("<" if order == "little" else ">") + ("f" if size == 4 else "d")
        return struct.unpack(fmt, data)[0]
    return data


@dataclass(kw_only=True, eq=False, repr=False)
class VariableSpec:
    """A global variable in a :class:`~ebpf.CollectionSpec`, before loading.

    ``get``/``set`` read and write the contents of the global-data map spec it lives in.

    Attributes:
        name: the variable's symbol name.
        map_name: the global-data map (section) it lives in, e.g. ``".rodata"``.
        offset: its byte offset in that map's value.
        size: its size in bytes.
        type: its BTF type, if the object has BTF.
        byte_order: the byte order of its value.
    """

    name: str
    map_name: str
    offset: int
    size: int
    type: Type | None
    byte_order: Literal["little", "big"]
    # The map specs of the collection spec it belongs to (set by that spec).
    _maps: dict[str, Any] | None = field(default=None, init=False)

    @property
    def section(self) -> str:
        """The ELF section the variable is in (the name of its map)."""
        return self.map_name

    @property
    def constant(self) -> bool:
        """True for variables in read-only sections (``.rodata*``, ``.kconfig``)."""
        return self.map_name.startswith(".rodata") or self.map_name == ".kconfig"

    def _bind(self, maps: dict[str, Any]) -> VariableSpec:
        self._maps = maps
        return self

    def _buffer(self) -> bytearray:
        if self._maps is None or self.map_name not in self._maps:
            raise MarshalError(f"variable {self.name!r}: its map {self.map_name!r} is not in "
                               "the spec")
        spec = self._maps[self.map_name]
        if not spec.contents:
            spec.contents = [(0, bytes(spec.value_size))]
        key, value = spec.contents[0]
        if not isinstance(value, (bytes, bytearray)) or len(value) != spec.value_size:
            raise MarshalError(f"variable {self.name!r}: the contents of map "
                               f"{self.map_name!r} are not {spec.value_size} bytes")
        if not isinstance(value, bytearray):
            value = bytearray(value)
            spec.contents[0] = (key, value)
        return value

    def get_bytes(self) -> bytes:
        """The variable's current bytes."""
        return bytes(self._buffer()[self.offset:self.offset + self.size])

    def get(self) -> Any:
        """The variable's value: an int, bool or float where its BTF type says so, else bytes."""
        return decode_value(self.get_bytes(), self.type, self.byte_order)

    def set(self, value: object) -> None:
        """Change the initial value that loading writes into the map.

        Raises:
            MarshalError: ``value`` has the wrong size or does not fit the type.
        """
        data = encode_value(value, self.size, self.type, self.byte_order,
                            f"variable {self.name!r}")
        self._buffer()[self.offset:self.offset + self.size] = data

    def copy(self) -> VariableSpec:
        return VariableSpec(name=self.name, map_name=self.map_name, offset=self.offset,
                            size=self.size, type=self.type, byte_order=self.byte_order)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VariableSpec):
            return NotImplemented
        return (self.name, self.map_name, self.offset, self.size, self.byte_order,
                str(self.type)) == (other.name, other.map_name, other.offset, other.size,
                                    other.byte_order, str(other.type))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"<VariableSpec {self.name!r} in {self.map_name} at {self.offset}, "
                f"{self.size} bytes>")


class Variable:
    """A global variable of a loaded :class:`~ebpf.Collection`: reads and writes the live map.

    Reads go through the map's memory mapping when it has one (``BPF_F_MMAPABLE``), so they
    see what programs wrote a moment ago. Variables in frozen maps (``.rodata``) cannot be
    written.
    """

    __slots__ = ("_read", "_write", "byte_order", "map_name", "name", "offset", "size", "type")

    def __init__(self, spec: VariableSpec, read: Callable[[int, int], bytes],
                 write: Callable[[int, bytes], None] | None) -> None:
        self.name = spec.name
        self.map_name = spec.map_name
        self.offset = spec.offset
        self.size = spec.size
        self.type = spec.type
        self.byte_order = spec.byte_order
        self._read = read
        self._write = write

    @property
    def readonly(self) -> bool:
        """True if the variable's map is frozen (``.rodata``, ``.kconfig``)."""
        return self._write is None

    def get_bytes(self) -> bytes:
        """The variable's bytes as they are now in the kernel."""
        return self._read(self.offset, self.size)

    def get(self) -> Any:
        """The variable's value now: an int, bool or float where the type says so, else bytes."""
        return decode_value(self.get_bytes(), self.type, self.byte_order)

    def set(self, value: object) -> None:
        """Write ``value`` into the live map.

        Raises:
            MarshalError: the value has the wrong size or type, or the variable is read-only.
        """
        if self._write is None:
            raise MarshalError(f"variable {self.name!r} is in the frozen map "
                               f"{self.map_name!r}: it is read-only after loading")
        data = encode_value(value, self.size, self.type, self.byte_order,
                            f"variable {self.name!r}")
        self._write(self.offset, data)

    def __repr__(self) -> str:
        return f"<Variable {self.name!r} in {self.map_name} at {self.offset}, {self.size} bytes>"
