"""What modules written by ``ebpf gen`` use at run time: typed views of maps.

A generated module knows the key and value types of each map from its BTF; it wraps the
:class:`~ebpf.Map` in a :class:`TypedMap` (or :class:`PerCPUTypedMap`) whose keys and values
are the generated ctypes structures, ``int``, ``float`` or ``bytes``, so type checkers see
them. A view borrows its map: closing the map (or the ``Objects`` holding it) ends the view.

The view reads and writes the kernel's bytes (:attr:`ebpf.Map.raw`) and converts them with a
:class:`Codec`, one per key or value type::

    counts = TypedMap(objs.counts, integer(4), structure(Stats))
    counts[1] = Stats(packets=1)
    packets = {key: stats.packets for key, stats in counts.items()}
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast, final

from ebpf.errors import MarshalError
from ebpf.types import UpdateFlags

if TYPE_CHECKING:
    from ebpf.map import Map

__all__ = ["Codec", "PerCPUTypedMap", "TypedMap", "floating", "integer", "raw", "structure"]

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")
C = TypeVar("C", bound="ctypes.Structure | ctypes.Union | ctypes.Array[Any]")

_Order = Literal["little", "big"]


@final
class Codec(Generic[T]):
    """Converts values of one C type to and from its ``size`` bytes.

    Attributes:
        size: the size of the C type in bytes.
        name: how messages name the type.
    """

    __slots__ = ("_decode", "_encode", "name", "size")

    def __init__(self, size: int, decode: Callable[[bytes], T], encode: Callable[[T], bytes],
                 name: str) -> None:
        self.size = size
        self.name = name
        self._decode = decode
        self._encode = encode

    def decode(self, data: bytes) -> T:
        """The value in ``data`` (exactly :attr:`size` bytes).

        Raises:
            MarshalError: ``data`` has the wrong size.
        """
        if len(data) != self.size:
            raise MarshalError(f"{self.name} needs {self.size} bytes, got {len(data)}")
        return self._decode(data)

    def encode(self, value: T) -> bytes:
        """``value`` as :attr:`size` bytes.

        Raises:
            MarshalError: the value does not fit the type.
        """
        try:
            data = self._encode(value)
        except (TypeError, ValueError, OverflowError, struct.error) as e:
            raise MarshalError(f"{self.name}: cannot encode {value!r}: {e}") from e
        if len(data) != self.size:
            raise MarshalError(f"{self.name} needs {self.size} bytes, got {len(data)}")
        return data

    def __repr__(self) -> str:
        return f"<Codec {self.name} ({self.size} bytes)>"


def integer(size: int, *, signed: bool = False, byte_order: _Order = "little") -> Codec[int]:
    """A codec for integers (and enums, pointers) of ``size`` bytes."""
    def decode(data: bytes) -> int:
        return int.from_bytes(data, byte_order, signed=signed)

    def encode(value: int) -> bytes:
        return int(value).to_bytes(size, byte_order, signed=signed)

    return Codec(size, decode, encode, f"{'' if signed else 'u'}int{size * 8}")


def floating(size: int, *, byte_order: _Order = "little") -> Codec[float]:
    """A codec for ``float`` (4 bytes) or ``double`` (8 bytes)."""
    if size not in (4, 8):
        raise ValueError(f"floating point values are 4 or 8 bytes, not {size}")
    st = struct.Struct(("<" if byte_order == "little" else ">") + ("f" if size == 4 else "d"))

    def decode(data: bytes) -> float:
        value: float = st.unpack(data)[0]
        return value

    def encode(value: float) -> bytes:
        return st.pack(value)

    return Codec(size, decode, encode, "float" if size == 4 else "double")


def raw(size: int) -> Codec[bytes]:
    """A codec that keeps the bytes (``char`` arrays, types without a better form); a shorter
    value is padded with NUL bytes."""
    def encode(value: bytes) -> bytes:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"expected bytes, got {type(value).__name__}")
        data = bytes(value)
        return data + b"\0" * (size - len(data)) if len(data) < size else data

    return Codec(size, bytes, encode, f"{size} bytes")


def structure(cls: type[C]) -> Codec[C]:
    """A codec for a ctypes structure, union or array type: values are new instances holding
    a copy of the bytes."""
    size = ctypes.sizeof(cls)

    def decode(data: bytes) -> C:
        return cast(C, cls.from_buffer_copy(data))

    def encode(value: C) -> bytes:
        if not isinstance(value, cls):
            raise TypeError(f"expected {cls.__name__}, got {type(value).__name__}")
        return bytes(value)

    return Codec(size, decode, encode, cls.__name__)


class _View(Generic[K]):
    __slots__ = ("_key", "map")

    def __init__(self, m: Map, key: Codec[K], value_size: int) -> None:
        if m.key_size != key.size or m.value_size != value_size:
            raise MarshalError(
                f"typed view of map {m.name!r}: the map has {m.key_size}-byte keys and "
                f"{m.value_size}-byte values, the types {key.size} and {value_size} bytes")
        self.map = m
        self._key = key

    def __contains__(self, key: K) -> bool:
        return self._key.encode(key) in self.map

    def __delitem__(self, key: K) -> None:
        self.map.delete(self._key.encode(key))

    def keys(self) -> Iterator[K]:
        """The keys, in the kernel's order."""
        dec = self._key.decode
        for k in self.map.raw.keys():
            yield dec(k)

    __iter__ = keys

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self.map!r}>"


@final
class TypedMap(_View[K], Generic[K, V]):
    """A map whose keys are ``K`` and values are ``V``; borrows ``map``.

    Like the map itself: ``m[k]``, ``m[k] = v``, ``del m[k]``, ``k in m``, :meth:`get`,
    :meth:`update`, :meth:`keys`, :meth:`values`, :meth:`items`.

    Raises:
        MarshalError: the map's key or value size differs from the types'.
    """

    __slots__ = ("_value",)

    def __init__(self, m: Map, key: Codec[K], value: Codec[V]) -> None:
        super().__init__(m, key, value.size)
        self._value = value

    def __getitem__(self, key: K) -> V:
        """The value under ``key``.

        Raises:
            KeyNotFoundError: no such key (also a ``KeyError``).
        """
        return self._value.decode(self.map.raw[self._key.encode(key)])

    def get(self, key: K, default: V | None = None) -> V | None:
        """The value under ``key``, or ``default``."""
        data = self.map.raw.get(self._key.encode(key))
        return default if data is None else self._value.decode(data)

    def __setitem__(self, key: K, value: V) -> None:
        self.map.update(self._key.encode(key), self._value.encode(value))

    def update(self, key: K, value: V, flags: UpdateFlags | int = UpdateFlags.ANY) -> None:
        """Store ``value`` under ``key`` with ``flags`` (see :meth:`ebpf.Map.update`)."""
        self.map.update(self._key.encode(key), self._value.encode(value), flags)

    def values(self) -> Iterator[V]:
        dec = self._value.decode
        for _, v in self.map.raw.items():
            yield dec(v)

    def items(self) -> Iterator[tuple[K, V]]:
        kdec, vdec = self._key.decode, self._value.decode
        for k, v in self.map.raw.items():
            yield kdec(k), vdec(v)


@final
class PerCPUTypedMap(_View[K], Generic[K, V]):
    """A per-CPU map whose keys are ``K``; each value is a list of ``V``, one per possible
    CPU. Borrows ``map``.

    Raises:
        MarshalError: the map's key or value size differs from the types'.
    """

    __slots__ = ("_value",)

    def __init__(self, m: Map, key: Codec[K], value: Codec[V]) -> None:
        super().__init__(m, key, value.size)
        self._value = value

    def _decode(self, parts: Sequence[bytes]) -> list[V]:
        dec = self._value.decode
        return [dec(p) for p in parts]

    def _encode(self, values: Sequence[V]) -> list[bytes]:
        enc = self._value.encode
        return [enc(v) for v in values]

    def __getitem__(self, key: K) -> list[V]:
        return self._decode(self.map.raw[self._key.encode(key)])

    def get(self, key: K, default: list[V] | None = None) -> list[V] | None:
        data = self.map.raw.get(self._key.encode(key))
        return default if data is None else self._decode(data)

    def __setitem__(self, key: K, values: Sequence[V]) -> None:
        self.map.update(self._key.encode(key), self._encode(values))

    def update(self, key: K, values: Sequence[V],
               flags: UpdateFlags | int = UpdateFlags.ANY) -> None:
        self.map.update(self._key.encode(key), self._encode(values), flags)

    def values(self) -> Iterator[list[V]]:
        for _, v in self.map.raw.items():
            yield self._decode(v)

    def items(self) -> Iterator[tuple[K, list[V]]]:
        kdec = self._key.decode
        for k, v in self.map.raw.items():
            yield kdec(k), self._decode(v)
