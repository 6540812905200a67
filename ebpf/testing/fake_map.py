"""``FakeMap``: an in-memory map with the API, encoding and errors of :class:`ebpf.Map`.

For unit tests of code that reads and writes maps, where no kernel (or no privilege) is at
hand::

    from ebpf import MapSpec, MapType
    from ebpf.testing import FakeMap

    with FakeMap(MapSpec("counts", MapType.HASH, 4, 8, 16)) as m:
        m[1] = 10
        assert m[1] == (10).to_bytes(8, "little")

What the kernel does, it does: hash maps refuse a new key when full (``E2BIG``), update flags
``NOEXIST``/``EXIST`` raise :class:`~ebpf.KeyExistsError`/:class:`~ebpf.KeyNotFoundError`,
arrays have every index from the start and refuse deletion (``EINVAL``) and indexes out of
range, per-CPU maps take and give one value per possible CPU, queues and stacks push, pop and
peek, and keys and values are encoded and decoded through the spec's BTF types exactly as
:class:`ebpf.Map` does. Errors are the same classes with the same ``errno``.

Hash maps iterate in insertion order (the kernel's order is its hash buckets'); LRU maps evict
the least recently used key when full (the kernel's LRU is approximate). Map types other than
the hash, array, per-CPU, LRU, queue and stack families raise :class:`~ebpf.NotSupportedError`.
"""

from __future__ import annotations

import collections
import errno
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from ..errors import (
    BTFError,
    ClosedError,
    EbpfError,
    KeyExistsError,
    KeyNotFoundError,
    NotSupportedError,
    SyscallError,
)
from ..marshal import MarshalError, encode, round_up
from ..specs import MapSpec
from ..types import MapType, UpdateFlags

if TYPE_CHECKING:
    from ..btf.types import Type
    from ..btf.values import Codec

__all__ = ["FakeMap"]

_HASHES: Final = frozenset({MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH,
                            MapType.LRU_PERCPU_HASH})
_LRU: Final = frozenset({MapType.LRU_HASH, MapType.LRU_PERCPU_HASH})
_ARRAYS: Final = frozenset({MapType.ARRAY, MapType.PERCPU_ARRAY})
_PER_CPU: Final = frozenset({MapType.PERCPU_HASH, MapType.PERCPU_ARRAY,
                             MapType.LRU_PERCPU_HASH})
_KEYLESS: Final = frozenset({MapType.QUEUE, MapType.STACK})
_SUPPORTED: Final = _HASHES | _ARRAYS | _KEYLESS

_LOOKUP, _UPDATE, _DELETE = "BPF_MAP_LOOKUP_ELEM", "BPF_MAP_UPDATE_ELEM", "BPF_MAP_DELETE_ELEM"
_NEXT_KEY, _LOOKUP_AND_DELETE = "BPF_MAP_GET_NEXT_KEY", "BPF_MAP_LOOKUP_AND_DELETE_ELEM"
_CREATE = "BPF_MAP_CREATE"
_KNOWN_FLAGS = int(UpdateFlags.EXIST)  # ANY 0, NOEXIST 1, EXIST 2; LOCK needs a spin lock
_ENOTSUPP = 524  # the kernel-internal "operation not supported"


def _codec_for(t: Type | None, size: int) -> Codec | None:
    """The BTF codec for ``t`` if its size is ``size``, else None (bytes), as ebpf.Map."""
    if t is None:
        return None
    from ..btf.types import sizeof
    from ..btf.values import codec

    try:
        if sizeof(t) != size:
            return None
        return codec(t)
    except BTFError:
        return None


class FakeMap:
    """An in-memory stand-in for :class:`ebpf.Map`, made from a :class:`~ebpf.MapSpec`.

    Thread-safe: every operation holds the map's lock. Not sized (``len()``), like the real
    map; :meth:`__len__` is deliberately absent.
    """

    def __init__(self, spec: MapSpec, *, possible_cpus: int | None = None) -> None:
        """Make the map as ``BPF_MAP_CREATE`` would and write ``spec.contents``.

        ``possible_cpus`` sets the number of per-CPU values (default: this machine's
        possible CPUs, as the kernel has them).

        Raises:
            SyscallError: ``EINVAL`` for sizes the map type does not allow (as the kernel).
            NotSupportedError: the type is not one a FakeMap imitates.
            EbpfError: ``spec`` is not a MapSpec.
        """
        if not isinstance(spec, MapSpec):
            raise EbpfError(f"expected a MapSpec, got {type(spec).__name__}")
        context = f"create map {spec.name!r}" if spec.name else "create map"
        try:
            map_type = MapType(spec.type)
        except ValueError:
            raise NotSupportedError(f"{context}: unknown map type {spec.type!r}") from None
        if map_type not in _SUPPORTED:
            raise NotSupportedError(f"{context}: FakeMap does not imitate {map_type.name} maps")
        self.name = spec.name
        self.type = map_type
        self.key_size = spec.key_size
        self.value_size = spec.value_size
        self.max_entries = spec.max_entries
        self.flags = int(spec.flags)
        self._check_sizes(context)
        self._key_type = spec.key_type
        self._value_type = spec.value_type
        self._key_codec = _codec_for(spec.key_type, spec.key_size)
        self._value_codec = _codec_for(spec.value_type, spec.value_size)
        if possible_cpus is None:
            from ..internal.kernel import possible_cpus as _possible

            possible_cpus = _possible()
        self._ncpu = possible_cpus if map_type in _PER_CPU else 1
        self._stride = round_up(spec.value_size, 8) if map_type in _PER_CPU else spec.value_size
        self._byteorder = sys.byteorder
        self._lock = threading.RLock()
        self._closed = False
        self._frozen = False
        # Hash maps: key bytes -> value bytes (all CPUs), in insertion (LRU: use) order.
        self._data: collections.OrderedDict[bytes, bytes] = collections.OrderedDict()
        # Queues and stacks: the elements, oldest first.
        self._queue: collections.deque[bytes] = collections.deque()
        if map_type in _ARRAYS:
            zero = bytes(self._stride * self._ncpu)
            for i in range(spec.max_entries):
                self._data[i.to_bytes(4, self._byteorder)] = zero
        for k, v in spec.contents:
            self.update(k, v)
        if spec.freeze:
            self.freeze()

    def _check_sizes(self, context: str) -> None:
        t, ks, vs, n = self.type, self.key_size, self.value_size, self.max_entries
        bad = (n == 0 or (t in _ARRAYS and (ks != 4 or vs == 0))
               or (t in _HASHES and (ks == 0 or vs == 0))
               or (t in _KEYLESS and (ks != 0 or vs == 0)))
        if bad:
            raise SyscallError(errno.EINVAL, _CREATE, context)

    # --- the API of ebpf.Map ------------------------------------------------------------------

    @property
    def key_type(self) -> Type | None:
        """The BTF type of the keys (from the spec), or None."""
        return self._key_type

    @property
    def value_type(self) -> Type | None:
        """The BTF type of the values (from the spec), or None."""
        return self._value_type

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Drop the contents; later use raises :class:`~ebpf.ClosedError`. Idempotent."""
        with self._lock:
            self._closed = True
            self._data.clear()
            self._queue.clear()

    def __enter__(self) -> FakeMap:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "in memory"
        return f"<FakeMap {self.type.name} {self.name!r} {state}>"

    def freeze(self) -> None:
        """Make the map read-only for user space (later changes fail with ``EPERM``)."""
        with self._lock:
            self._check_open()
            self._frozen = True

    # --- encoding, as ebpf.Map does it ---------------------------------------------------------

    def _context(self, action: str) -> str:
        return f"{action} map {self.name!r}" if self.name else f"{action} map"

    def _what(self, noun: str) -> str:
        return f"{noun} of {self._context('')[1:]}"

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError(f"{self._context('use')[4:] or 'map'} is closed")

    def _key_bytes(self, key: Any) -> bytes | None:
        if self.key_size == 0:
            if key is not None:
                raise MarshalError(f"{self._context('use')}: this map takes no key, got {key!r}")
            return None
        if type(key) is int and self.key_size in (4, 8) and 0 <= key < 1 << (8 * self.key_size):
            return key.to_bytes(self.key_size, self._byteorder)
        codec = self._key_codec
        if codec is not None and not (isinstance(key, (bytes, bytearray, memoryview))
                                      and len(key) == self.key_size):
            return _btf_encode(codec, key, self._what("key"))
        return encode(key, self.key_size, self._what("key"), self._byteorder)

    def _one_value_bytes(self, value: Any, what: str) -> bytes:
        codec = self._value_codec
        if codec is not None and not (isinstance(value, (bytes, bytearray, memoryview))
                                      and len(value) == self.value_size):
            return _btf_encode(codec, value, what)
        return encode(value, self.value_size, what, self._byteorder)

    def _value_bytes(self, value: Any) -> bytes:
        if self.type in _PER_CPU:
            ncpu = self._ncpu
            if isinstance(value, (bytes, bytearray, memoryview, str)) or not isinstance(
                    value, Sequence):
                raise MarshalError(
                    f"{self._what('value')}: a per-CPU map takes a sequence of {ncpu} values "
                    f"(one per possible CPU), got {type(value).__name__}")
            if len(value) != ncpu:
                raise MarshalError(
                    f"{self._what('value')}: expected {ncpu} per-CPU values (one per possible "
                    f"CPU), got {len(value)}")
            what = f"per-CPU {self._what('value')}"
            return b"".join(self._one_value_bytes(v, what).ljust(self._stride, b"\0")
                            for v in value)
        if (type(value) is int and self.value_size in (4, 8)
                and 0 <= value < 1 << (8 * self.value_size)):  # stored as is, BTF or not
            return value.to_bytes(self.value_size, self._byteorder)
        return self._one_value_bytes(value, self._what("value"))

    def _decode_value(self, raw: bytes) -> Any:
        codec = self._value_codec
        if self.type in _PER_CPU:
            parts = [raw[i:i + self.value_size] for i in range(0, len(raw), self._stride)]
            return parts if codec is None else [codec.decode(p) for p in parts]
        return raw if codec is None else codec.decode(raw)

    def _decode_key(self, raw: bytes) -> Any:
        codec = self._key_codec
        return raw if codec is None else codec.decode(raw)

    # --- errors, as ebpf.Map raises them ------------------------------------------------------

    def _error(self, err: int, cmd: str, action: str, key: Any = None) -> SyscallError:
        ctx = self._context(action)
        if key is not None:
            ctx += f" (key {key!r})"
        if err == errno.ENOENT and cmd in (_LOOKUP, _DELETE, _LOOKUP_AND_DELETE, _UPDATE):
            return KeyNotFoundError(err, cmd, ctx)
        if err == errno.EEXIST and cmd == _UPDATE:
            return KeyExistsError(err, cmd, ctx)
        if err == errno.EPERM:
            ctx += (": the map is frozen (or read-only for user space), so user space cannot "
                    "change it")
        return SyscallError(err, cmd, ctx)

    # --- element operations -------------------------------------------------------------------

    def _lookup_raw(self, key: Any, flags: int = 0) -> bytes:
        with self._lock:
            self._check_open()
            if self.type in _KEYLESS:
                kb = self._key_bytes(key)  # raises for a key
                assert kb is None
                if flags:
                    raise self._error(errno.EINVAL, _LOOKUP, "look up in")
                if not self._queue:
                    raise self._error(errno.ENOENT, _LOOKUP, "look up in")
                return self._queue[0] if self.type is MapType.QUEUE else self._queue[-1]
            kb = self._key_bytes(key)
            assert kb is not None
            if flags:  # only LOCK is defined, and it needs a bpf_spin_lock in the value
                raise self._error(errno.EINVAL, _LOOKUP, "look up in", key)
            raw = self._data.get(kb)
            if raw is None:
                raise self._error(errno.ENOENT, _LOOKUP, "look up in", key)
            if self.type in _LRU:
                self._data.move_to_end(kb)
            return raw

    def __getitem__(self, key: Any) -> Any:
        return self._decode_value(self._lookup_raw(key))

    def lookup(self, key: Any, flags: UpdateFlags | int = 0) -> Any:
        """The value stored under ``key`` (``m[key]`` is the same without flags).

        Raises:
            KeyNotFoundError: no such key (also a ``KeyError``).
        """
        return self._decode_value(self._lookup_raw(key, int(flags)))

    def get(self, key: Any, default: Any = None) -> Any:
        """The value under ``key``, or ``default`` if there is none."""
        try:
            return self[key]
        except KeyNotFoundError:
            return default

    def __contains__(self, key: Any) -> bool:
        try:
            self._lookup_raw(key)
        except KeyNotFoundError:
            return False
        return True

    def update(self, key: Any, value: Any, flags: UpdateFlags | int = UpdateFlags.ANY) -> None:
        """Store ``value`` under ``key`` with the kernel's update ``flags``.

        Raises:
            KeyExistsError: ``NOEXIST`` and the key exists (an array's always do).
            KeyNotFoundError: ``EXIST`` and the key does not exist.
            SyscallError: ``E2BIG`` when a hash map is full or an array index is out of range;
                ``EINVAL`` for unknown flags; ``EPERM`` when frozen.
        """
        flags = int(flags)
        with self._lock:
            self._check_open()
            if self.type in _KEYLESS:
                self._push(key, value, flags)
                return
            kb = self._key_bytes(key)
            assert kb is not None
            data = self._value_bytes(value)
            if self._frozen:
                raise self._error(errno.EPERM, _UPDATE, "update", key)
            # The kernel's order of checks: LOCK (a FakeMap's values hold no bpf_spin_lock),
            # other flags, (array) index, existence, (hash) room.
            if flags & int(UpdateFlags.LOCK) or flags > _KNOWN_FLAGS:
                raise self._error(errno.EINVAL, _UPDATE, "update", key)
            if self.type in _ARRAYS:
                if kb not in self._data:
                    raise self._error(errno.E2BIG, _UPDATE, "update", key)
                if flags & int(UpdateFlags.NOEXIST):
                    raise self._error(errno.EEXIST, _UPDATE, "update", key)
                self._data[kb] = data
                return
            exists = kb in self._data
            if flags == UpdateFlags.NOEXIST and exists:
                raise self._error(errno.EEXIST, _UPDATE, "update", key)
            if flags == UpdateFlags.EXIST and not exists:
                raise self._error(errno.ENOENT, _UPDATE, "update", key)
            if not exists and len(self._data) >= self.max_entries:
                if self.type not in _LRU:
                    raise self._error(errno.E2BIG, _UPDATE, "update", key)
                self._data.popitem(last=False)  # the least recently used
            self._data[kb] = data
            if self.type in _LRU:
                self._data.move_to_end(kb)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.update(key, value)

    def delete(self, key: Any) -> None:
        """Remove ``key``.

        Raises:
            KeyNotFoundError: no such key.
            SyscallError: ``EINVAL`` for arrays, queues and stacks.
        """
        with self._lock:
            self._check_open()
            kb = self._key_bytes(key)
            if self._frozen:
                raise self._error(errno.EPERM, _DELETE, "delete from", key)
            if self.type in _ARRAYS or self.type in _KEYLESS:
                raise self._error(errno.EINVAL, _DELETE, "delete from", key)
            assert kb is not None
            if kb not in self._data:
                raise self._error(errno.ENOENT, _DELETE, "delete from", key)
            del self._data[kb]

    __delitem__ = delete

    def lookup_and_delete(self, key: Any = None) -> Any:
        """Remove ``key`` and return what was stored there; for queues and stacks
        :meth:`pop`.

        Raises:
            KeyNotFoundError: no such key, or the queue/stack is empty.
            SyscallError: ``EINVAL`` for arrays (the kernel cannot delete their elements).
        """
        with self._lock:
            self._check_open()
            if self.type in _KEYLESS:
                self._key_bytes(key)
                if self._frozen:
                    raise self._error(errno.EPERM, _LOOKUP_AND_DELETE, "look up and delete in")
                if not self._queue:
                    raise self._error(errno.ENOENT, _LOOKUP_AND_DELETE, "look up and delete in")
                raw = self._queue.popleft() if self.type is MapType.QUEUE else self._queue.pop()
                return self._decode_value(raw)
            kb = self._key_bytes(key)
            assert kb is not None
            if self._frozen:
                raise self._error(errno.EPERM, _LOOKUP_AND_DELETE, "look up and delete in", key)
            if self.type in _ARRAYS:  # the kernel's -ENOTSUPP
                raise self._error(_ENOTSUPP, _LOOKUP_AND_DELETE, "look up and delete in", key)
            if kb not in self._data:
                raise self._error(errno.ENOENT, _LOOKUP_AND_DELETE, "look up and delete in",
                                  key)
            return self._decode_value(self._data.pop(kb))

    # --- queue and stack ----------------------------------------------------------------------

    def _require_keyless(self, op: str) -> None:
        if self.type not in _KEYLESS:
            raise EbpfError(f"{self._context(op)}: {op} needs a queue, stack or bloom filter, "
                            f"not {self.type.name}")

    def _push(self, key: Any, value: Any, flags: int) -> None:
        self._key_bytes(key)
        data = self._value_bytes(value)
        if self._frozen:
            raise self._error(errno.EPERM, _UPDATE, "update")
        if flags & int(UpdateFlags.NOEXIST) or flags > _KNOWN_FLAGS:
            raise self._error(errno.EINVAL, _UPDATE, "update")
        if len(self._queue) >= self.max_entries:
            if flags != UpdateFlags.EXIST:
                raise self._error(errno.E2BIG, _UPDATE, "update")
            self._queue.popleft()  # the oldest goes, for a stack too
        self._queue.append(data)

    def push(self, value: Any, flags: UpdateFlags | int = UpdateFlags.ANY) -> None:
        """Add ``value`` to a queue or stack (``UpdateFlags.EXIST``: a full one drops its
        oldest element instead of failing with ``E2BIG``)."""
        self._require_keyless("push")
        self.update(None, value, flags)

    def pop(self) -> Any:
        """Remove and return the next element of a queue (oldest) or stack (newest).

        Raises:
            KeyNotFoundError: it is empty.
        """
        self._require_keyless("pop")
        return self.lookup_and_delete()

    def peek(self) -> Any:
        """The next element of a queue or stack, without removing it.

        Raises:
            KeyNotFoundError: it is empty.
        """
        self._require_keyless("peek")
        return self.lookup(None)

    # --- iteration ----------------------------------------------------------------------------

    def next_key(self, key: Any = None) -> bytes | None:
        """The key after ``key`` (the first for ``None``, or a key that is not there, as the
        kernel does for hash maps), or None at the end."""
        with self._lock:
            self._check_open()
            if self.type in _KEYLESS:
                raise self._error(errno.EINVAL, _NEXT_KEY, "iterate over")
            keys = list(self._data)
            if key is None:
                return keys[0] if keys else None
            kb = self._key_bytes(key)
            if kb is None or kb not in self._data:
                return keys[0] if keys else None  # as the kernel: start over
            i = keys.index(kb)
            return keys[i + 1] if i + 1 < len(keys) else None

    def _snapshot(self) -> list[tuple[bytes, bytes]]:
        with self._lock:
            self._check_open()
            if self.type in _KEYLESS:
                raise self._error(errno.EINVAL, _NEXT_KEY, "iterate over")
            return list(self._data.items())

    def keys(self) -> Iterator[Any]:
        """Every key, each once (decoded by the key's BTF type if the spec has one)."""
        return (self._decode_key(k) for k, _ in self._snapshot())

    __iter__ = keys

    def values(self) -> Iterator[Any]:
        """Every value."""
        return (self._decode_value(v) for _, v in self._snapshot())

    def items(self) -> Iterator[tuple[Any, Any]]:
        """Every ``(key, value)`` pair, each key once."""
        return ((self._decode_key(k), self._decode_value(v)) for k, v in self._snapshot())

    def batch_lookup(self) -> list[tuple[Any, Any]]:
        """Every ``(key, value)`` pair, as a list."""
        return list(self.items())


def _btf_encode(codec: Codec, value: Any, what: str) -> bytes:
    try:
        return codec.encode(value)
    except BTFError as e:
        raise MarshalError(f"{what}: {e}") from e
