"""Zero-copy batch reads of a map: :meth:`Map.batch_lookup_into <ebpf.Map.batch_lookup_into>`.

:meth:`Map.batch_lookup` builds a list of decoded pairs, two Python objects per entry. For large
maps most of that time goes to building objects the caller may not need, so this path fills a
reusable :class:`BatchBuffer` with ``BPF_MAP_LOOKUP_BATCH`` (one call for the whole map where
the kernel allows it) and hands back a :class:`BatchView` over it: the keys and values as
memoryviews of the buffer, native integers where their size allows, decoded only when an entry
is asked for::

    buf = m.batch_buffer()                 # sized for the whole map; reuse it
    view = m.batch_lookup_into(buf)
    total = sum(view.values)               # u64 values: no bytes, no decoding
    for key, value in view: ...            # decoded by the map's BTF types, one at a time
    numpy.frombuffer(view.values, numpy.uint64)   # also zero-copy

A view reads the buffer as it is: filling the buffer again changes what earlier views show.
"""

from __future__ import annotations

import ctypes
import errno
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal, final

from .errors import EbpfError, NotSupportedError, SyscallError
from .internal.sys import MapBatchAttr, commands

if TYPE_CHECKING:
    from .map import Map

__all__ = ["BatchBuffer", "BatchView"]

# Formats of memoryview.cast for keys and values of 1, 2, 4 and 8 bytes (native unsigned).
_INT_FORMATS: dict[int, Literal["B", "H", "I", "Q"]] = {1: "B", 2: "H", 4: "I", 8: "Q"}


def _rows(buf: ctypes.Array[ctypes.c_char], count: int, size: int) -> memoryview:
    """``count`` records of ``size`` bytes at the start of ``buf``: native unsigned ints for
    sizes 1, 2, 4 and 8, else a 2-D view of bytes (one row per record)."""
    raw = memoryview(buf).cast("B")[: count * size]
    fmt = _INT_FORMATS.get(size)
    if fmt is not None:
        return raw.cast(fmt)
    return raw.cast("B", (count, size)) if count else raw


@final
class BatchBuffer:
    """Reusable memory for batch reads of maps with one key size and one value size.

    Made by :meth:`Map.batch_buffer <ebpf.Map.batch_buffer>`; grows when a read needs more
    room (a map with more entries than it was sized for).

    Attributes:
        capacity: how many entries it holds now.
        key_size, value_size: the sizes of one key and of one value as the kernel returns it
            (for per-CPU maps, every CPU's value).
    """

    __slots__ = ("_cursor_in", "_cursor_out", "_keys", "_values", "capacity", "key_size",
                 "value_size")

    def __init__(self, key_size: int, value_size: int, capacity: int) -> None:
        if capacity < 1:
            raise EbpfError(f"a batch buffer needs room for at least 1 entry, not {capacity}")
        self.key_size = key_size
        self.value_size = value_size
        self.capacity = 0
        self._keys = ctypes.create_string_buffer(1)
        self._values = ctypes.create_string_buffer(1)
        self._cursor_in = ctypes.create_string_buffer(8)
        self._cursor_out = ctypes.create_string_buffer(8)
        self._grow(capacity, 0)

    def _grow(self, capacity: int, keep: int) -> None:
        """Room for ``capacity`` entries, keeping the first ``keep``."""
        keys = ctypes.create_string_buffer(max(capacity * self.key_size, 1))
        values = ctypes.create_string_buffer(max(capacity * self.value_size, 1))
        if keep:
            ctypes.memmove(keys, self._keys, keep * self.key_size)
            ctypes.memmove(values, self._values, keep * self.value_size)
        self._keys, self._values, self.capacity = keys, values, capacity

    def fill(self, m: Map, *, delete: bool = False) -> int:
        """Read every entry of ``m`` into the buffer (and delete them with ``delete``);
        return how many there are."""
        if (m.key_size, m._value_bytes) != (self.key_size, self.value_size):
            raise EbpfError(f"batch buffer for {self.key_size}-byte keys and "
                            f"{self.value_size}-byte values cannot hold the entries of "
                            f"{m._label()}")
        action = "batch look up and delete in" if delete else "batch look up in"
        run = commands.map_lookup_and_delete_batch if delete else commands.map_lookup_batch
        context = m._context(action)
        fd = m.fd
        filled = 0
        first = True
        while True:
            room = self.capacity - filled
            if room == 0:
                self._grow(self.capacity * 2, filled)
                room = self.capacity - filled
            attr = MapBatchAttr(
                in_batch=0 if first else ctypes.addressof(self._cursor_in),
                out_batch=ctypes.addressof(self._cursor_out),
                keys=ctypes.addressof(self._keys) + filled * self.key_size,
                values=ctypes.addressof(self._values) + filled * self.value_size,
                count=room, map_fd=fd)
            try:
                more = run(attr, context)
            except SyscallError as e:
                if e.errno == errno.ENOSPC and attr.count == 0:
                    # A hash bucket holds more entries than there is room for: grow, retry.
                    self._grow(self.capacity * 2, filled)
                    continue
                if e.errno in (errno.EINVAL, errno.EOPNOTSUPP, 524) and first:
                    raise NotSupportedError(f"{context}: the kernel has no batch operations "
                                            f"for this map ({e.strerror})") from e
                raise
            filled += int(attr.count)
            if not more:
                return filled
            ctypes.memmove(self._cursor_in, self._cursor_out, 8)
            first = False

    def __repr__(self) -> str:
        return (f"<BatchBuffer for {self.capacity} entries of {self.key_size} + "
                f"{self.value_size} bytes>")


@final
class BatchView:
    """The entries one batch read left in a :class:`BatchBuffer`, viewed in place.

    Attributes:
        keys: the keys: a memoryview of native unsigned ints for keys of 1, 2, 4 or 8 bytes,
            else a 2-D memoryview of bytes (one row per key; for ``numpy.asarray`` and
            ``tolist()``, as memoryviews cannot slice rows: :meth:`key_bytes` gives one).
        values: the values, likewise (per-CPU maps: one row holds every CPU's value, each
            padded to 8 bytes).

    Iterating gives ``(key, value)`` pairs decoded as ``m.items()`` decodes them; ``view[i]``
    gives one pair. Nothing is decoded or copied until asked for.
    """

    __slots__ = ("_decode", "_decode_key", "_key_bytes", "_key_size", "_value_bytes",
                 "_value_size", "keys", "values")

    keys: memoryview
    values: memoryview
    _key_bytes: memoryview
    _value_bytes: memoryview
    _key_size: int
    _value_size: int

    def __init__(self, m: Map, buffer: BatchBuffer, count: int) -> None:
        ks, vs = buffer.key_size, buffer.value_size
        self._key_size, self._value_size = ks, vs
        self._key_bytes = memoryview(buffer._keys).cast("B")[: count * ks]
        self._value_bytes = memoryview(buffer._values).cast("B")[: count * vs]
        self.keys = _rows(buffer._keys, count, ks)
        self.values = _rows(buffer._values, count, vs)
        self._decode_key, self._decode = m._decoders(raw=False)

    def __len__(self) -> int:
        return len(self._key_bytes) // self._key_size if self._key_size else 0

    def key_bytes(self, index: int) -> bytes:
        """Key ``index`` as the kernel's bytes."""
        ks = self._key_size
        return self._key_bytes[index * ks:(index + 1) * ks].tobytes()

    def value_bytes(self, index: int) -> bytes:
        """Value ``index`` as the kernel's bytes."""
        vs = self._value_size
        return self._value_bytes[index * vs:(index + 1) * vs].tobytes()

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"batch view index {index} out of range ({n} entries)")
        index %= n
        k, v = self.key_bytes(index), self.value_bytes(index)
        dk, dv = self._decode_key, self._decode
        return (k if dk is None else dk(k), v if dv is None else dv(v))

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        dk, dv = self._decode_key, self._decode
        for i in range(len(self)):
            k, v = self.key_bytes(i), self.value_bytes(i)
            yield (k if dk is None else dk(k), v if dv is None else dv(v))

    def __repr__(self) -> str:
        return f"<BatchView of {len(self)} entries>"
