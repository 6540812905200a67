"""Maps: :class:`MapSpec` describes one, :class:`Map` owns one in the kernel.

A :class:`Map` behaves like a Python mapping where that is honest (``m[k]``, ``m[k] = v``,
``del m[k]``, ``k in m``, ``get``, ``keys``, ``values``, ``items``) and offers what the kernel
has beyond that: update flags, lookup-and-delete, batch operations, per-CPU values, queue and
stack operations, freezing, pinning and ``info()``.

Keys and values are taken as bytes-like objects, ints, ctypes objects or anything with
``__bytes__`` (see :mod:`ebpf.marshal`). Values come back as ``bytes``; per-CPU maps give and
take a list with one value per possible CPU; program arrays and maps of maps give and take
:class:`~ebpf.Program` and :class:`Map` objects.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import struct
import sys
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final, final

from .errors import (
    BTFError,
    ClosedError,
    EbpfError,
    KeyExistsError,
    KeyNotFoundError,
    NotSupportedError,
    SyscallError,
    UnsupportedFeatureError,
)
from .internal.kernel import possible_cpus
from .internal.kernel_object import KernelObject
from .internal.sys import (
    BPF_OBJ_NAME_LEN,
    FD,
    Cmd,
    MapBatchAttr,
    MapCreateAttr,
    MapElemAttr,
    MapFreezeAttr,
    command_name,
    commands,
)
from .marshal import MarshalError, encode, round_up
from .specs import MapSpec as MapSpec, PinType as PinType
from .types import MapFlags, MapType, UpdateFlags

if TYPE_CHECKING:
    from .batch import BatchBuffer, BatchView
    from .btf.handle import Handle
    from .btf.types import Type
    from .btf.values import Codec
    from .info import MapInfo

__all__ = ["Map", "MapSpec", "PinType", "RawView", "sanitize_name"]


_PER_CPU: Final = frozenset({MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH,
                             MapType.PERCPU_CGROUP_STORAGE})
_MAP_IN_MAP: Final = frozenset({MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS})
# Types whose updates take a file descriptor as the value.
_FD_VALUES: Final = frozenset({MapType.PROG_ARRAY, MapType.PERF_EVENT_ARRAY, MapType.CGROUP_ARRAY,
                               MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS, MapType.SOCKMAP,
                               MapType.SOCKHASH, MapType.XSKMAP,
                               MapType.REUSEPORT_SOCKARRAY})
_KEYLESS: Final = frozenset({MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER})
# Types the kernel's generic batch operations serve (hash and array families).
_BATCH: Final = frozenset({MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH,
                           MapType.LRU_PERCPU_HASH, MapType.ARRAY, MapType.PERCPU_ARRAY})
_ARRAYS: Final = frozenset({MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.PROG_ARRAY,
                            MapType.PERF_EVENT_ARRAY, MapType.CGROUP_ARRAY,
                            MapType.ARRAY_OF_MAPS})

# Types the kernel refuses BTF key/value ids for (EINVAL). Their BTF types still decode
# values on this side (e.g. the records of a queue).
_NO_KERNEL_BTF: Final = frozenset({
    MapType.PERF_EVENT_ARRAY, MapType.CGROUP_ARRAY, MapType.STACK_TRACE, MapType.ARRAY_OF_MAPS,
    MapType.HASH_OF_MAPS, MapType.DEVMAP, MapType.DEVMAP_HASH, MapType.CPUMAP, MapType.XSKMAP,
    MapType.SOCKMAP, MapType.SOCKHASH, MapType.QUEUE, MapType.STACK, MapType.ARENA,
    MapType.PROG_ARRAY, MapType.RINGBUF, MapType.USER_RINGBUF})
_FD_VALUES_INT: Final = frozenset(int(t) for t in _FD_VALUES)
_DECODED_TYPES: Final = frozenset(int(t) for t in (*_PER_CPU, *_MAP_IN_MAP, MapType.PROG_ARRAY))

# Event stream maps, which user space reads or writes through the leaf packages, not elements.
_EVENT_READERS: Final = {MapType.RINGBUF: "ebpf.ringbuf.Reader",
                         MapType.USER_RINGBUF: "ebpf.ringbuf.Writer",
                         MapType.PERF_EVENT_ARRAY: "ebpf.perf.Reader"}
_BATCH_BUFFER_BYTES: Final = 1 << 20
_ENOTSUPP: Final = 524  # the kernel-internal "operation not supported" some map types return


def sanitize_name(name: str) -> str:
    """The kernel's form of an object name: only ``[A-Za-z0-9_.]``, at most 15 characters."""
    clean = "".join(c for c in name if c.isascii() and (c.isalnum() or c in "_."))
    return clean[: BPF_OBJ_NAME_LEN - 1]


def _int_view(view: memoryview) -> memoryview | None:
    """``view`` as one native u32 or u64, if it is 4 or 8 bytes long."""
    if len(view) == 4:
        return view.cast("I")
    if len(view) == 8:
        return view.cast("Q")
    return None


class _ElemCalls:
    """One thread's buffers and pre-bound ``bpf()`` calls for the element operations of a map.

    A :class:`Map` keeps a pool of these, one for each thread inside an element operation at
    the same time (list ``pop`` and ``append`` are atomic), so the operations are thread-safe
    without a lock. The buffers are reached through memoryviews, which cost less than ctypes'
    attribute descriptors on the hot path; a key or value of 4 or 8 bytes also has a
    native-int view (``key_int``, ``value_int``) that takes an int directly.

    Attributes:
        key, value, next_key: the buffers the attrs point into.
        key_view, value_view: byte views of ``key`` and ``value`` of the exact sizes.
        key_int, value_int: one-element native-int views of them (None for other sizes, and
            for values that are not plain integers: per-CPU, decoded or fd values). Storing
            into them takes exactly the ints that fit, and raises for anything else.
        attr: the attr of lookup, update and lookup-and-delete; ``flags`` is set per call.
        lookup, update, delete, lookup_and_delete, get_next_key: the pre-bound calls, each
            returning the kernel's result or ``-errno``.
        next_key_attr: the attr of ``get_next_key`` (its ``key`` is 0 to ask for the first).
    """

    __slots__ = ("_bound", "attr", "delete", "get_next_key", "key", "key_int", "key_view",
                 "lookup", "lookup_and_delete", "next_key", "next_key_attr", "update", "value",
                 "value_int", "value_view")

    def __init__(self, fd: int, key_size: int, value_bytes: int, int_values: bool) -> None:
        self.key = ctypes.create_string_buffer(max(key_size, 1))
        self.next_key = ctypes.create_string_buffer(max(key_size, 1))
        self.value = ctypes.create_string_buffer(max(value_bytes, 1))
        self.key_view = memoryview(self.key).cast("B")[:key_size]
        self.value_view = memoryview(self.value).cast("B")[:value_bytes]
        self.key_int = _int_view(self.key_view)
        self.value_int = _int_view(self.value_view) if int_values else None
        key_addr = ctypes.addressof(self.key) if key_size else 0
        self.attr = attr = MapElemAttr(map_fd=fd, key=key_addr,
                                       value=ctypes.addressof(self.value))
        # The kernel wants every field after the last one a command uses to be zero: delete
        # (which stops at ``key``) and get_next_key (``next_key`` where the value goes) get
        # attrs of their own.
        delete_attr = MapElemAttr(map_fd=fd, key=key_addr)
        self.next_key_attr = nk = MapElemAttr(map_fd=fd, key=key_addr)
        nk.next_key = ctypes.addressof(self.next_key)
        bound = (commands.bind_map_lookup_elem(attr), commands.bind_map_update_elem(attr),
                 commands.bind_map_delete_elem(delete_attr),
                 commands.bind_map_lookup_and_delete_elem(attr),
                 commands.bind_map_get_next_key(nk))
        # The FastCalls, and the attr of delete, which only its call refers to.
        self._bound = (bound, delete_attr)
        (self.lookup, self.update, self.delete, self.lookup_and_delete,
         self.get_next_key) = (b.call for b in bound)

    def release(self) -> None:
        """Give the pre-bound calls back (they answer ``-EBADF`` afterwards)."""
        for b in self._bound[0]:
            b.release()


_CTYPES_LAYOUTS = (ctypes.Structure, ctypes.Union, ctypes.Array)


def _raw_sized(value: object, size: int) -> bool:
    """``value`` is already the bytes of a key or value of ``size`` bytes: a bytes-like
    object of that length, or a ctypes structure, union or array of that size (the codecs of
    BTF-typed maps are bypassed for these, which the caller laid out itself)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value) == size
    return isinstance(value, _CTYPES_LAYOUTS) and ctypes.sizeof(value) == size


class Map(KernelObject):
    """A map in the kernel, owned by this object.

    Create one from a :class:`MapSpec` (``Map(spec)``), or open an existing one with
    :meth:`load_pinned`, :meth:`from_id` or :meth:`from_fd`. The map lives as long as this
    object holds its descriptor, pins or programs keep it alive; :meth:`close` (or ``with``)
    releases the descriptor; ownership follows the rules of
    :class:`~ebpf.internal.kernel_object.KernelObject`. Thread-safe: element operations may run
    from several threads.

    A map opened by id, fd or pin decodes keys and values through the BTF types the kernel
    keeps for it, as the map its creator made does.

    A ``Map`` is deliberately not sized (``len()``): the kernel cannot answer that cheaply.
    """

    __slots__ = ("_byteorder", "_codecs_ready", "_decode", "_decode_key", "_int_limit",
                 "_int_values", "_kernel_btf", "_key_codec", "_key_type", "_opened",
                 "_plain_values", "_pool", "_raw_decode", "_value_bytes", "_value_codec",
                 "_value_type", "flags", "key_size", "max_entries", "name", "type",
                 "value_size")

    kind = "map"
    _pinnable = True

    def __init__(self, spec: MapSpec, *, btf: Handle | None = None) -> None:
        """Create the map described by ``spec`` and write its ``contents``.

        When the spec has BTF types (``key_type``/``value_type``) they decode keys and values,
        and are given to the kernel for the map types that accept them: from ``btf`` if passed
        (a handle built from types that include them, shared by a collection), else from a BTF
        object made for this map alone.

        Raises:
            SyscallError: the kernel refused (``errno`` says why; e.g. ``EINVAL`` for sizes the
                type does not allow, ``E2BIG`` for too many entries).
            NotSupportedError: the kernel does not know the map type.
            MarshalError: an entry of ``contents`` does not fit the map.
        """
        fd = _create(spec, btf)
        try:
            self._setup(fd, spec.name, spec.type, spec.key_size, spec.value_size,
                        spec.max_entries, spec.flags, spec.key_type, spec.value_type)
            for k, v in spec.contents:
                self._update_once(k, v)
            if spec.freeze:
                self.freeze()
        except BaseException:
            self._release_calls()
            fd.close()
            raise

    def _setup(self, fd: FD, name: str, type: int, key_size: int, value_size: int,
               max_entries: int, flags: int, key_type: Type | None = None,
               value_type: Type | None = None,
               kernel_btf: tuple[int, int, int] | None = None) -> None:
        self._own(fd)
        self.name = name
        try:
            self.type = MapType(type)
        except ValueError:
            self.type = type  # type: ignore[assignment]  # newer kernel: keep the number
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.flags = flags
        self._byteorder = sys.byteorder
        self._opened = ""  # how this descriptor was opened: "", "read-only" or "write-only"
        if self.type in _PER_CPU:
            self._value_bytes = round_up(value_size, 8) * possible_cpus()
        else:
            self._value_bytes = value_size
        self._int_limit = 1 << (8 * key_size) if key_size in (4, 8) else 0
        self._pool: list[_ElemCalls] = []
        self._key_type = key_type
        self._value_type = value_type
        # (BTF object id, key type id, value type id) of a map opened from the kernel: its
        # types are read on first use (a map-of-maps lookup opens a map every time).
        self._kernel_btf = kernel_btf
        # Decided once, off the hot path. A decoder is None (the kernel's bytes as they are) or
        # a function that holds no reference to this Map, so that dropping the Map frees it at
        # once (no reference cycle keeps its descriptor open until the cyclic GC runs).
        self._plain_values = int(type) not in _DECODED_TYPES
        self._raw_decode = _raw_decoder(self.type, value_size, self._byteorder)
        # The BTF codecs are built by _build_codecs on the first decode or encode, not here:
        # a loaded collection creates maps it never reads, and ebpf.btf.values is large.
        self._key_codec: Codec | None = None
        self._value_codec: Codec | None = None
        self._codecs_ready = key_type is None and value_type is None and kernel_btf is None
        self._decode: Callable[[bytes], Any] | None = (
            self._raw_decode if self._codecs_ready else _first_use_decoder(weakref.ref(self)))
        self._decode_key: Callable[[bytes], Any] | None = None
        # Non-negative ints that fit go straight into the value buffer (hot path of update).
        self._int_values = (1 << (8 * value_size)) if (
            value_size in (4, 8) and self._plain_values and int(type) not in _FD_VALUES_INT
        ) else 0

    # --- ownership (the rules are KernelObject's) ----------------------------------------------

    @classmethod
    def _adopt(cls, fd: FD) -> Map:
        from .info import map_info

        info = map_info(fd.raw)
        kernel_btf = None
        if info.btf_id and (info.btf_key_type_id or info.btf_value_type_id):
            kernel_btf = (info.btf_id, info.btf_key_type_id, info.btf_value_type_id)
        m = cls.__new__(cls)
        m._setup(fd, info.name, info.type, info.key_size, info.value_size, info.max_entries,
                 info.flags, kernel_btf=kernel_btf)
        return m

    @classmethod
    def _open_id(cls, object_id: int) -> FD:
        return commands.map_get_fd_by_id(object_id, context=f"open map id {object_id}")

    @classmethod
    def load_pinned(cls, path: str | os.PathLike[str], *, read_only: bool = False,
                    write_only: bool = False) -> Map:
        """Open the map pinned at ``path`` in a bpffs, for reading only or writing only if
        asked; :meth:`unpin` removes that pin.

        Raises:
            SyscallError: nothing pinned there (``ENOENT``).
            EbpfError: what is pinned there is not a map.
        """
        flags = (MapFlags.RDONLY if read_only else 0) | (MapFlags.WRONLY if write_only else 0)
        m = cls._load_pinned(path, int(flags))
        m._opened = "read-only" if read_only else "write-only" if write_only else ""
        return m

    def _release(self) -> None:
        self._release_calls()

    def _release_calls(self) -> None:
        pool = getattr(self, "_pool", None)
        while pool:
            pool.pop().release()

    def _cloned(self, fd: FD) -> Map:
        m = Map.__new__(Map)
        m._setup(fd, self.name, self.type, self.key_size, self.value_size,
                 self.max_entries, self.flags, self.key_type, self.value_type)
        return m

    def _describe(self) -> str:
        t = self.type.name if isinstance(self.type, MapType) else str(self.type)
        return f"{t} {self.name!r}"

    def info(self) -> MapInfo:
        """What the kernel says about this map (id, name, type, sizes, flags, BTF ids)."""
        from .info import map_info

        return map_info(self.fd)

    def _context(self, action: str) -> str:
        return f"{action} map {self.name!r}" if self.name else f"{action} map"

    # --- encoding ----------------------------------------------------------------------------

    @property
    def key_type(self) -> Type | None:
        """The BTF type of the keys, or None: keys are then the kernel's bytes. A map opened by
        id, fd or pin reads it from the kernel's BTF for the map on first use."""
        if self._kernel_btf is not None:
            self._read_kernel_types()
        return self._key_type

    @property
    def value_type(self) -> Type | None:
        """The BTF type of the values, or None (see :attr:`key_type`)."""
        if self._kernel_btf is not None:
            self._read_kernel_types()
        return self._value_type

    def _read_kernel_types(self) -> None:
        ids = self._kernel_btf
        if ids is not None:
            self._key_type, self._value_type = _kernel_btf_types(*ids)
            self._kernel_btf = None

    def _build_codecs(self) -> None:
        """Build the key and value codecs and install the decoders that use them."""
        self._key_codec = key_codec = _codec_for(self.key_type, self.key_size)
        self._value_codec = value_codec = _codec_for(self.value_type, self.value_size)
        self._decode = self._raw_decode
        if value_codec is not None:
            if self.type in _PER_CPU:
                self._decode = _per_cpu_decoder(self.value_size, value_codec.decode)
            elif self._plain_values:
                self._decode = value_codec.decode
        self._decode_key = key_codec.decode if key_codec is not None else None
        self._codecs_ready = True

    def _decoders(self, raw: bool) -> tuple[Callable[[bytes], Any] | None,
                                            Callable[[bytes], Any] | None]:
        """The key and value decoders (None: keep the bytes)."""
        if raw:
            return None, self._raw_decode
        if not self._codecs_ready:
            self._build_codecs()
        return self._decode_key, self._decode

    def _key_bytes(self, key: Any) -> bytes:
        if not self._codecs_ready:
            self._build_codecs()
        codec = self._key_codec
        if codec is not None and not _raw_sized(key, self.key_size):
            return _btf_encode(codec, key, f"key of {self._context('')[1:]}")
        return encode(key, self.key_size, f"key of {self._context('')[1:]}", self._byteorder)

    def _value_bytes_of(self, value: Any) -> bytes:
        if type(value) is bytes and len(value) == self.value_size and self._plain_values:
            return value
        if type(value) is int and 0 <= value < self._int_values:
            return value.to_bytes(self.value_size, self._byteorder)  # as __setitem__ writes it
        t = self.type
        if t in _PER_CPU:
            return self._per_cpu_bytes(value)
        if t in _FD_VALUES:
            value = _fd_of(value, self)
        return self._one_value_bytes(value, f"value of {self._context('')[1:]}")

    def _one_value_bytes(self, value: Any, what: str) -> bytes:
        if not self._codecs_ready:
            self._build_codecs()
        codec = self._value_codec
        if codec is not None and not _raw_sized(value, self.value_size):
            return _btf_encode(codec, value, what)
        return encode(value, self.value_size, what, self._byteorder)

    def _per_cpu_bytes(self, value: Any) -> bytes:
        ncpu = possible_cpus()
        if isinstance(value, (bytes, bytearray, memoryview, str)) or not isinstance(
                value, Sequence):
            raise MarshalError(
                f"value of {self._context('')[1:]}: a per-CPU map takes a sequence of {ncpu} "
                f"values (one per possible CPU), got {type(value).__name__}")
        if len(value) != ncpu:
            raise MarshalError(
                f"value of {self._context('')[1:]}: expected {ncpu} per-CPU values "
                f"(one per possible CPU), got {len(value)}")
        stride = round_up(self.value_size, 8)
        what = f"per-CPU value of {self._context('')[1:]}"
        return b"".join(self._one_value_bytes(v, what).ljust(stride, b"\0") for v in value)

    @property
    def raw(self) -> RawView:
        """This map with keys and values as the kernel's bytes, even when it has BTF types."""
        return RawView(self)

    # --- element operations ------------------------------------------------------------------

    def _new_calls(self) -> _ElemCalls:
        return _ElemCalls(self._fd.raw, self.key_size, self._value_bytes,
                          bool(self._int_values))

    def _encoded_key(self, key: Any) -> bytes | None:
        """The bytes of ``key``, or None for a map that takes no key (queue, stack, bloom)."""
        if self.key_size == 0:
            if key is not None:
                raise MarshalError(f"{self._context('use')}: this map takes no key, got {key!r}")
            return None
        if type(key) is int and 0 <= key < self._int_limit:
            return key.to_bytes(self.key_size, self._byteorder)  # as _write_key writes it
        return self._key_bytes(key)

    def _write_key(self, calls: _ElemCalls, key: Any) -> None:
        """The one key writer: ``key`` into ``calls``' key buffer.

        A plain ``int`` goes into the buffer's native-int view (``calls.key_int``), which
        takes exactly the non-negative ints that fit a 4- or 8-byte key and raises for the
        rest; anything else is encoded. The two hottest operations, ``m[k]`` and
        ``m[k] = v``, make that first store themselves before calling here: measured with
        callgrind, a call of this method costs three times the store, and inlining it makes a
        lookup's Python side cheaper than the former bound tuple of calls.
        """
        try:
            if type(key) is not int:
                raise TypeError
            calls.key_int[0] = key  # type: ignore[index]
        except (TypeError, ValueError):
            data = self._encoded_key(key)
            if data is not None:
                calls.key_view[:] = data

    def _write_value(self, calls: _ElemCalls, value: Any) -> None:
        """``value`` into ``calls``' value buffer: plain ints through the native-int view
        (values of plain 4- or 8-byte maps), anything else encoded."""
        try:
            if type(value) is not int:
                raise TypeError
            calls.value_int[0] = value  # type: ignore[index]
        except (TypeError, ValueError):
            calls.value_view[:] = self._value_bytes_of(value)

    def _decoded(self, raw: bytes) -> Any:
        decode = self._decode
        return raw if decode is None else decode(raw)

    def _error(self, err: int, cmd: int, action: str, key: Any = None) -> SyscallError:
        ctx = self._context(action)
        if key is not None:
            ctx += f" (key {key!r})"
        if err == errno.ENOENT and cmd in (Cmd.MAP_LOOKUP_ELEM, Cmd.MAP_DELETE_ELEM,
                                           Cmd.MAP_LOOKUP_AND_DELETE_ELEM, Cmd.MAP_UPDATE_ELEM):
            return KeyNotFoundError(err, command_name(cmd), ctx)
        if err == errno.EEXIST and cmd == Cmd.MAP_UPDATE_ELEM:
            return KeyExistsError(err, command_name(cmd), ctx)
        if err == errno.EBADF and self._fd.closed:
            raise ClosedError(f"{self._context('use')[4:] or 'map'} is closed")
        reader = _EVENT_READERS.get(self.type)
        if reader is not None and err in (errno.EOPNOTSUPP, _ENOTSUPP):
            # Supported, just not element by element: say what reads them.
            raise NotSupportedError(
                f"{ctx}: a {self.type.name} map is an event stream, which has no elements to "
                f"look up or iterate from user space; use {reader}") from SyscallError(
                    err, command_name(cmd), ctx)
        if err == errno.EPERM and cmd in (Cmd.MAP_UPDATE_ELEM, Cmd.MAP_DELETE_ELEM,
                                          Cmd.MAP_LOOKUP_AND_DELETE_ELEM):
            ctx += (": this descriptor was opened read-only" if self._opened == "read-only"
                    else ": the map is read-only for user space (created with "
                    "MapFlags.RDONLY)" if self.flags & MapFlags.RDONLY
                    else ": the map is frozen (or read-only for user space), so user space "
                    "cannot change it")
        elif err == errno.EPERM and cmd == Cmd.MAP_LOOKUP_ELEM and self._opened == "write-only":
            ctx += ": this descriptor was opened write-only"
        return SyscallError(err, command_name(cmd), ctx)

    # The element operations below are the library's hottest code: each is a handful of
    # bytecodes around one pre-bound bpf() call, on the _ElemCalls of the calling thread.

    def __getitem__(self, key: Any) -> Any:
        # Two parameters exactly, so that CPython can inline ``m[k]`` as a plain call.
        pool = self._pool
        calls = pool.pop() if pool else self._new_calls()
        try:
            try:
                if type(key) is not int:
                    raise TypeError
                calls.key_int[0] = key  # type: ignore[index]
            except (TypeError, ValueError):
                self._write_key(calls, key)
            ret = calls.lookup()
            if ret < 0:
                raise self._error(-ret, Cmd.MAP_LOOKUP_ELEM, "look up in", key)
            raw = calls.value_view.tobytes()
        finally:
            pool.append(calls)
        decode = self._decode
        return raw if decode is None else decode(raw)

    def lookup(self, key: Any, flags: UpdateFlags | int = 0) -> Any:
        """The value stored under ``key`` (``m[key]`` is the same without flags).

        ``flags=UpdateFlags.LOCK`` copies the value while holding its ``bpf_spin_lock``.

        Raises:
            KeyNotFoundError: no such key (also a ``KeyError``).
        """
        if not flags:
            return self[key]
        return self._decoded(self._lookup_raw(key, flags))

    def _lookup_raw(self, key: Any, flags: UpdateFlags | int = 0) -> bytes:
        """The value bytes under ``key`` as the kernel gives them (all CPUs for per-CPU maps)."""
        pool = self._pool
        calls = pool.pop() if pool else self._new_calls()
        try:
            self._write_key(calls, key)
            calls.attr.flags = flags
            ret = calls.lookup()
            calls.attr.flags = 0
            if ret < 0:
                raise self._error(-ret, Cmd.MAP_LOOKUP_ELEM, "look up in", key)
            return calls.value_view.tobytes()
        finally:
            pool.append(calls)

    def get(self, key: Any, default: Any = None) -> Any:
        """The value under ``key``, or ``default`` if there is none."""
        try:
            return self[key]
        except KeyNotFoundError:
            return default

    def __contains__(self, key: Any) -> bool:
        if self.type is MapType.BLOOM_FILTER:
            return self._bloom_contains(key)
        try:
            self[key]
        except KeyNotFoundError:
            return False
        except SyscallError as e:
            # Maps whose values user space cannot read (sockmap, perf event array...).
            if e.errno in (errno.EOPNOTSUPP, _ENOTSUPP):
                raise NotSupportedError(
                    f"{self._context('look up in')}: the kernel cannot look up "
                    f"{self.type.name} elements from user space") from e
            raise
        return True

    def update(self, key: Any, value: Any,
               flags: UpdateFlags | int = UpdateFlags.ANY) -> None:
        """Store ``value`` under ``key`` (``m[key] = value`` is the same with ``ANY``).

        ``flags``: :attr:`UpdateFlags.ANY` (create or replace, the default), ``NOEXIST``
        (create only), ``EXIST`` (replace only), ``LOCK`` (take the value's ``bpf_spin_lock``).

        Raises:
            KeyExistsError: ``NOEXIST`` and the key exists.
            KeyNotFoundError: ``EXIST`` and the key does not exist.
            SyscallError: e.g. ``E2BIG`` when the map is full.
        """
        pool = self._pool
        calls = pool.pop() if pool else self._new_calls()
        try:
            self._write_key(calls, key)
            self._write_value(calls, value)
            calls.attr.flags = flags
            ret = calls.update()
            calls.attr.flags = 0
            if ret < 0:
                raise self._error(-ret, Cmd.MAP_UPDATE_ELEM, "update", key)
        finally:
            pool.append(calls)

    def _update_once(self, key: Any, value: Any) -> None:
        """``update(key, value)`` through buffers of its own and a plain ``bpf()`` call: for
        writing a new map's contents, which needs none of the pre-bound calls of the element
        operations (that most maps with contents, global data, never use afterwards)."""
        data = self._value_bytes_of(value)
        key_data = self._encoded_key(key)
        kbuf = None if key_data is None else ctypes.create_string_buffer(key_data, len(key_data))
        vbuf = ctypes.create_string_buffer(data, max(len(data), 1))
        attr = MapElemAttr(map_fd=self.fd, key=0 if kbuf is None else ctypes.addressof(kbuf),
                           value=ctypes.addressof(vbuf))
        try:
            commands.map_update_elem(attr)
        except SyscallError as e:
            raise self._error(e.errno or 0, Cmd.MAP_UPDATE_ELEM, "update", key) from None

    def __setitem__(self, key: Any, value: Any) -> None:
        # update(key, value) without flags, kept separate to spare the hot path their writes.
        pool = self._pool
        calls = pool.pop() if pool else self._new_calls()
        try:
            try:
                if type(key) is not int:
                    raise TypeError
                calls.key_int[0] = key  # type: ignore[index]
            except (TypeError, ValueError):
                self._write_key(calls, key)
            try:
                if type(value) is not int:
                    raise TypeError
                calls.value_int[0] = value  # type: ignore[index]
            except (TypeError, ValueError):
                self._write_value(calls, value)
            ret = calls.update()
            if ret < 0:
                raise self._error(-ret, Cmd.MAP_UPDATE_ELEM, "update", key)
        finally:
            pool.append(calls)

    def delete(self, key: Any) -> None:
        """Remove ``key``.

        Raises:
            KeyNotFoundError: no such key.
            SyscallError: ``EINVAL`` for arrays, whose elements cannot be deleted.
        """
        pool = self._pool
        calls = pool.pop() if pool else self._new_calls()
        try:
            self._write_key(calls, key)
            ret = calls.delete()
            if ret < 0:
                raise self._error(-ret, Cmd.MAP_DELETE_ELEM, "delete from", key)
        finally:
            pool.append(calls)

    __delitem__ = delete

    def lookup_and_delete(self, key: Any = None) -> Any:
        """Remove ``key`` and return what was stored there (hash maps: Linux 5.14+).

        For queues and stacks (no key) this is :meth:`pop`.

        Raises:
            KeyNotFoundError: no such key, or the queue/stack is empty.
        """
        pool = self._pool
        calls = pool.pop() if pool else self._new_calls()
        try:
            self._write_key(calls, key)
            ret = calls.lookup_and_delete()
            if ret < 0:
                raise self._error(-ret, Cmd.MAP_LOOKUP_AND_DELETE_ELEM, "look up and delete in",
                                  key)
            raw = calls.value_view.tobytes()
        finally:
            pool.append(calls)
        return self._decoded(raw)

    # --- queue, stack, bloom filter ----------------------------------------------------------

    def _require_keyless(self, op: str) -> None:
        if self.type not in _KEYLESS:
            raise EbpfError(f"{self._context(op)}: {op} needs a queue, stack or bloom filter, "
                            f"not {getattr(self.type, 'name', self.type)}")

    def push(self, value: Any, flags: UpdateFlags | int = UpdateFlags.ANY) -> None:
        """Add ``value`` to a queue, stack or bloom filter.

        With ``UpdateFlags.EXIST`` a full queue or stack drops its oldest element instead of
        failing with ``E2BIG``.
        """
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

    def _bloom_contains(self, value: Any) -> bool:
        data = self._value_bytes_of(value)
        pool = self._pool
        calls = pool.pop() if pool else self._new_calls()
        try:
            calls.value_view[:] = data
            ret = calls.lookup()
        finally:
            pool.append(calls)
        if ret == -errno.ENOENT:
            return False
        if ret < 0:
            raise self._error(-ret, Cmd.MAP_LOOKUP_ELEM, "test membership in")
        return True

    # --- iteration ---------------------------------------------------------------------------

    def next_key(self, key: Any = None) -> bytes | None:
        """The key after ``key`` in the kernel's order (the first key for ``None``), or None at
        the end. For a hash map a key that was deleted meanwhile restarts from the first key."""
        calls = self._new_calls()
        try:
            if key is None:
                calls.next_key_attr.key = 0
            else:
                self._write_key(calls, key)
            ret = calls.get_next_key()
            if ret == -errno.ENOENT:
                return None
            if ret < 0:
                raise self._error(-ret, Cmd.MAP_GET_NEXT_KEY, "iterate over")
            return calls.next_key.raw[: self.key_size]
        finally:
            calls.release()

    def keys(self) -> Iterator[Any]:
        """Every key, each once (decoded by the key's BTF type if the map has one).

        Safe under concurrent deletion: a key deleted while iterating may or may not be seen,
        a key present throughout is seen exactly once.
        """
        return self._keys(raw=False)

    def _keys(self, raw: bool) -> Iterator[Any]:
        decode = self._decoders(raw)[0]
        if self.type in _BATCH:
            for k, _ in self._batch_iter(Cmd.MAP_LOOKUP_BATCH, raw=True):
                yield k if decode is None else decode(k)
            return
        if decode is None:
            yield from self._keys_by_next_key()
        else:
            for k in self._keys_by_next_key():
                yield decode(k)

    def _keys_by_next_key(self) -> Iterator[bytes]:
        calls = self._new_calls()
        try:
            attr = calls.next_key_attr
            key_addr = attr.key
            ks = self.key_size
            seen: set[bytes] = set()
            attr.key = 0
            while True:
                ret = calls.get_next_key()
                if ret == -errno.ENOENT:
                    return
                if ret < 0:
                    raise self._error(-ret, Cmd.MAP_GET_NEXT_KEY, "iterate over")
                nk = calls.next_key.raw[:ks]
                # A deleted previous key makes the kernel restart from the first key: skip
                # what was returned already.
                if nk not in seen:
                    seen.add(nk)
                    yield nk
                calls.key.raw = nk
                attr.key = key_addr
        finally:
            calls.release()

    __iter__ = keys

    def values(self) -> Iterator[Any]:
        """Every value (see :meth:`items`)."""
        for _, v in self._items(raw=False):
            yield v

    def items(self) -> Iterator[tuple[Any, Any]]:
        """Every ``(key, value)`` pair, each key once.

        Uses the kernel's batch lookup where the map type has it (hash and array families) and
        ``get_next_key`` + lookup otherwise. Keys deleted during iteration may be missed; keys
        present throughout are returned exactly once.
        """
        return self._items(raw=False)

    def _items(self, raw: bool) -> Iterator[tuple[Any, Any]]:
        if self.type in _BATCH:
            yield from self._batch_iter(Cmd.MAP_LOOKUP_BATCH, raw=raw)
            return
        decode_key, decode = self._decoders(raw)
        for k in self._keys_by_next_key():
            try:
                v = self._lookup_raw(k)
            except KeyNotFoundError:
                continue  # deleted since get_next_key returned it
            yield (k if decode_key is None else decode_key(k),
                   v if decode is None else decode(v))

    # --- batch operations --------------------------------------------------------------------

    def _batch_count(self) -> int:
        per = max(self.key_size + self._value_bytes, 1)
        return max(1, min(self.max_entries or 1, _BATCH_BUFFER_BYTES // per))

    def _batch_iter(self, cmd: int, raw: bool = False) -> Iterator[tuple[Any, Any]]:
        """Walk the map with LOOKUP_BATCH / LOOKUP_AND_DELETE_BATCH, yielding pairs (decoded
        by BTF unless ``raw``)."""
        for chunk in self._batch_chunks(cmd, raw):
            yield from chunk

    def _batch_chunks(self, cmd: int, raw: bool) -> Iterator[Iterable[tuple[Any, Any]]]:
        """One iterable of pairs per batch call (C-level zips where nothing is decoded)."""
        count = self._batch_count()
        ks, vs = self.key_size, self._value_bytes
        cursor_in = ctypes.create_string_buffer(8)
        cursor_out = ctypes.create_string_buffer(8)
        first = True
        keys = ctypes.create_string_buffer(ks * count)
        vals = ctypes.create_string_buffer(vs * count)
        while True:
            attr = MapBatchAttr(
                in_batch=0 if first else ctypes.addressof(cursor_in),
                out_batch=ctypes.addressof(cursor_out),
                keys=ctypes.addressof(keys), values=ctypes.addressof(vals),
                count=count, map_fd=self.fd)
            try:
                if cmd == Cmd.MAP_LOOKUP_BATCH:
                    more = commands.map_lookup_batch(attr, self._context("batch look up in"))
                else:
                    more = commands.map_lookup_and_delete_batch(
                        attr, self._context("batch look up and delete in"))
            except SyscallError as e:
                if e.errno == errno.ENOSPC and attr.count == 0:
                    # A hash bucket holds more entries than the buffer: grow and retry.
                    count *= 2
                    keys = ctypes.create_string_buffer(ks * count)
                    vals = ctypes.create_string_buffer(vs * count)
                    continue
                if e.errno == errno.EINVAL and first and self.type not in _BATCH:
                    raise NotSupportedError(
                        f"{self._context('batch look up in')}: "
                        f"{getattr(self.type, 'name', self.type)} has no batch operations"
                    ) from e
                raise
            n = attr.count
            kt = _splitter(ks, count).unpack_from(keys)
            vt = _splitter(vs, count).unpack_from(vals)
            if n < count:
                kt, vt = kt[:n], vt[:n]
            decode_key, decode = self._decoders(raw)
            if decode is None and decode_key is None:
                yield zip(kt, vt, strict=True)
            else:
                yield [(k if decode_key is None else decode_key(k),
                        v if decode is None else decode(v)) for k, v in zip(kt, vt, strict=True)]
            if not more:
                return
            ctypes.memmove(cursor_in, cursor_out, 8)
            first = False

    def batch_lookup(self) -> list[tuple[Any, Any]]:
        """All ``(key, value)`` pairs, read with ``BPF_MAP_LOOKUP_BATCH`` (Linux 5.6+).

        Raises:
            NotSupportedError: the map type has no batch operations.
        """
        self._check_batch("batch lookup")
        out: list[tuple[Any, Any]] = []
        for chunk in self._batch_chunks(Cmd.MAP_LOOKUP_BATCH, raw=False):
            out.extend(chunk)
        return out

    def batch_buffer(self, capacity: int | None = None) -> BatchBuffer:
        """A reusable buffer for :meth:`batch_lookup_into`, with room for ``capacity`` entries
        (default: the whole map, ``max_entries``); it grows when a read needs more."""
        from .batch import BatchBuffer

        n = capacity if capacity is not None else max(self.max_entries, 1)
        return BatchBuffer(self.key_size, self._value_bytes, n)

    def batch_lookup_into(self, buffer: BatchBuffer | None = None, *,
                          delete: bool = False) -> BatchView:
        """Read every entry into ``buffer`` (a new one if None) with
        ``BPF_MAP_LOOKUP_BATCH`` (or ``..._AND_DELETE_BATCH`` with ``delete``) and return a
        zero-copy :class:`~ebpf.batch.BatchView` of them: keys and values as memoryviews of
        the buffer (native ints for 1, 2, 4 and 8 bytes), decoded only when an entry is
        asked for. The fast way to read a large map; see :mod:`ebpf.batch`.

        Raises:
            NotSupportedError: the map type has no batch operations.
            EbpfError: ``buffer`` was made for other key or value sizes.
        """
        from .batch import BatchView

        self._check_batch("batch delete" if delete else "batch lookup")
        buf = buffer if buffer is not None else self.batch_buffer()
        return BatchView(self, buf, buf.fill(self, delete=delete))

    def batch_lookup_and_delete(self) -> list[tuple[Any, Any]]:
        """Remove every entry and return them, with ``BPF_MAP_LOOKUP_AND_DELETE_BATCH``.

        Only hash maps support this; arrays cannot delete elements.
        """
        self._check_batch("batch lookup and delete")
        out: list[tuple[Any, Any]] = []
        for chunk in self._batch_chunks(Cmd.MAP_LOOKUP_AND_DELETE_BATCH, raw=False):
            out.extend(chunk)
        return out

    def batch_update(self, keys: Iterable[Any], values: Iterable[Any], *,
                     flags: UpdateFlags | int = UpdateFlags.ANY) -> int:
        """Store many pairs with one ``BPF_MAP_UPDATE_BATCH``; returns how many were written.

        The kernel takes only ``UpdateFlags.ANY`` or ``UpdateFlags.LOCK`` here: a batch always
        creates or replaces.

        Raises:
            MarshalError: ``keys`` and ``values`` differ in length or an element is malformed.
            SyscallError: the kernel stopped part way; ``.context`` says how many were written.
        """
        self._check_batch("batch update")
        if int(flags) & ~int(UpdateFlags.LOCK):
            raise EbpfError(f"{self._context('batch update')}: batch updates take only "
                            f"UpdateFlags.ANY or UpdateFlags.LOCK, not {flags!r}")
        kb = [self._key_bytes(k) for k in keys]
        vb = [self._value_bytes_of(v) for v in values]
        if len(kb) != len(vb):
            raise MarshalError(f"{self._context('batch update')}: {len(kb)} keys but "
                               f"{len(vb)} values")
        if not kb:
            return 0
        kbuf = ctypes.create_string_buffer(b"".join(kb), len(kb) * self.key_size)
        vbuf = ctypes.create_string_buffer(b"".join(vb), len(vb) * self._value_bytes)
        attr = MapBatchAttr(keys=ctypes.addressof(kbuf), values=ctypes.addressof(vbuf),
                            count=len(kb), map_fd=self.fd, elem_flags=int(flags))
        try:
            commands.map_update_batch(attr, self._context("batch update"))
        except SyscallError as e:
            raise type(e)(e.errno or 0, e.cmd, f"{e.context} (wrote {attr.count} of {len(kb)})"
                          ) from e
        return int(attr.count)

    def batch_delete(self, keys: Iterable[Any]) -> int:
        """Remove many keys with one ``BPF_MAP_DELETE_BATCH``; returns how many were removed.

        Raises:
            KeyNotFoundError: a key was missing; keys before it were removed.
        """
        self._check_batch("batch delete")
        kb = [self._key_bytes(k) for k in keys]
        if not kb:
            return 0
        kbuf = ctypes.create_string_buffer(b"".join(kb), len(kb) * self.key_size)
        attr = MapBatchAttr(keys=ctypes.addressof(kbuf), count=len(kb), map_fd=self.fd)
        try:
            commands.map_delete_batch(attr, self._context("batch delete from"))
        except SyscallError as e:
            ctx = f"{e.context} (deleted {attr.count} of {len(kb)})"
            if e.errno == errno.ENOENT:
                raise KeyNotFoundError(e.errno, e.cmd, ctx) from e
            raise type(e)(e.errno or 0, e.cmd, ctx) from e
        return int(attr.count)

    def _check_batch(self, op: str) -> None:
        if self.type not in _BATCH:
            raise NotSupportedError(
                f"{self._context(op)}: {getattr(self.type, 'name', self.type)} maps have no "
                f"batch operations")

    # --- whole-map operations ----------------------------------------------------------------

    def freeze(self) -> None:
        """Make the map read-only for user space from now on (Linux 5.2+)."""
        commands.map_freeze(MapFreezeAttr(map_fd=self.fd), self._context("freeze"))


def _codec_for(t: Type | None, size: int) -> Codec | None:
    """The BTF codec for ``t`` if its size is ``size`` (else raw bytes are used)."""
    if t is None:
        return None
    from .btf.types import sizeof
    from .btf.values import codec

    try:
        if sizeof(t) != size:
            return None
        return codec(t)
    except BTFError:
        return None  # a type values cannot be decoded by (e.g. void): keep the bytes


def _first_use_decoder(ref: weakref.ref[Map]) -> Callable[[bytes], Any]:
    """A value decoder that builds the map's BTF codecs on its first call and hands over to
    the decoder they make; it holds the map weakly (no reference cycle)."""
    def first_use(raw: bytes) -> Any:
        m = ref()
        if m is None:  # pragma: no cover - the map is gone, nothing can call this then
            return raw
        if not m._codecs_ready:
            m._build_codecs()
        return m._decoded(raw)

    return first_use


def _per_cpu_decoder(size: int, decode: Callable[[bytes], Any] | None
                     ) -> Callable[[bytes], list[Any]]:
    """A decoder of per-CPU values: one value of ``size`` bytes per possible CPU, each at a
    multiple of 8 bytes, decoded by ``decode`` (or kept as bytes)."""
    stride = round_up(size, 8)

    def per_cpu(raw: bytes) -> list[Any]:
        parts = [raw[i:i + size] for i in range(0, len(raw), stride)]
        return parts if decode is None else [decode(p) for p in parts]

    return per_cpu


def _raw_decoder(map_type: MapType | int, value_size: int, order: str
                 ) -> Callable[[bytes], Any] | None:
    """How values of ``map_type`` come back without BTF: None (the kernel's bytes), split
    per CPU, or the program or map whose id the kernel returns."""
    if map_type in _PER_CPU:
        return _per_cpu_decoder(value_size, None)
    if map_type is MapType.PROG_ARRAY:
        def program(raw: bytes) -> Any:
            from .program import Program

            return Program.from_id(int.from_bytes(raw[:4], order))  # type: ignore[arg-type]

        return program
    if map_type in _MAP_IN_MAP:
        def inner_map(raw: bytes) -> Any:
            return Map.from_id(int.from_bytes(raw[:4], order))  # type: ignore[arg-type]

        return inner_map
    return None


def _btf_encode(codec: Codec, value: Any, what: str) -> bytes:
    try:
        return codec.encode(value)
    except BTFError as e:
        raise MarshalError(f"{what}: {e}") from e


def _kernel_btf_types(btf_id: int, key_id: int, value_id: int
                      ) -> tuple[Type | None, Type | None]:
    """The key and value types of an existing map, read from the BTF object the kernel keeps
    for it, so that a map opened by id, fd or pin decodes like the one its creator made.
    ``(None, None)`` when the BTF cannot be read (then values stay bytes)."""
    from .btf.handle import Handle

    try:
        with Handle.from_id(btf_id) as handle:
            spec = handle.spec()
        key = spec.type_by_id(key_id) if key_id else None
        value = spec.type_by_id(value_id) if value_id else None
    except (SyscallError, BTFError):
        # No permission to open BTF by id, the object is gone, or it is split BTF whose base
        # is not vmlinux: keys and values stay the kernel's bytes.
        return None, None
    return key, value


@final
class RawView:
    """A map seen without its BTF types: keys and values are the kernel's bytes.

    Got from :attr:`Map.raw`; it borrows the map and owns nothing.
    """

    __slots__ = ("_map",)

    def __init__(self, m: Map) -> None:
        self._map = m

    def __getitem__(self, key: Any) -> Any:
        m = self._map
        raw = m._lookup_raw(key)
        decode = m._raw_decode
        return raw if decode is None else decode(raw)

    def get(self, key: Any, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyNotFoundError:
            return default

    def __setitem__(self, key: Any, value: Any) -> None:
        """Store ``value`` (bytes of the map's value size, or per-CPU bytes) under ``key``."""
        self._map.update(key, value)

    def __contains__(self, key: Any) -> bool:
        return key in self._map

    def keys(self) -> Iterator[bytes]:
        return self._map._keys(raw=True)

    __iter__ = keys

    def values(self) -> Iterator[Any]:
        for _, v in self._map._items(raw=True):
            yield v

    def items(self) -> Iterator[tuple[bytes, Any]]:
        return self._map._items(raw=True)

    def __repr__(self) -> str:
        return f"<RawView of {self._map!r}>"


@functools.lru_cache(maxsize=64)
def _splitter(size: int, count: int) -> struct.Struct:
    """A ``Struct`` that cuts ``count`` records of ``size`` bytes out of a batch buffer in one
    C call (much faster than slicing record by record)."""
    return struct.Struct(f"{size}s" * count)


def _fd_of(value: Any, m: Map) -> Any:
    """The descriptor number for values of fd-based map types (programs, maps, sockets)."""
    from .program import Program

    if isinstance(value, (Program, Map)):
        return value.fd
    if isinstance(value, FD):
        return value.raw
    fileno = getattr(value, "fileno", None)
    if callable(fileno) and not isinstance(value, (bytes, bytearray, memoryview)):
        return fileno()
    return value


_U32_FIELDS: Final = ("key_size", "value_size", "max_entries", "flags", "numa_node")


def _check_spec(spec: MapSpec) -> str:
    """Validate the plain-data fields of ``spec`` before any syscall; return the context."""
    if not isinstance(spec, MapSpec):
        raise EbpfError(f"expected a MapSpec, got {type(spec).__name__}")
    if not isinstance(spec.name, str):
        raise EbpfError(f"MapSpec.name must be a str, got {type(spec.name).__name__}")
    context = f"create map {spec.name!r}" if spec.name else "create map"
    if not isinstance(spec.type, int) or isinstance(spec.type, bool) or not (
            0 <= spec.type < 1 << 32):
        raise EbpfError(f"{context}: type must be a MapType, got {spec.type!r}")
    for field in _U32_FIELDS:
        v = getattr(spec, field)
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << 32:
            raise EbpfError(f"{context}: {field} must be an int from 0 to 2**32-1, got {v!r}")
    if not isinstance(spec.map_extra, int) or not 0 <= spec.map_extra < 1 << 64:
        raise EbpfError(f"{context}: map_extra must be an int from 0 to 2**64-1, "
                        f"got {spec.map_extra!r}")
    return context


def _refused_map_type(map_type: MapType, context: str, err: SyscallError) -> None:
    """Raise UnsupportedFeatureError if the running kernel predates ``map_type`` (the only
    conclusive reading of an EINVAL here without a probe; :mod:`ebpf.features` probes)."""
    from .kernel_versions import MAP_TYPE_VERSIONS, predates  # only on this error path

    version = MAP_TYPE_VERSIONS.get(map_type)
    if predates(version):
        raise UnsupportedFeatureError(f"BPF_MAP_TYPE_{map_type.name}", version,
                                      f"{context}: {err.strerror}") from err


def _create(spec: MapSpec, btf: Handle | None = None) -> FD:
    """``BPF_MAP_CREATE`` for ``spec``, creating (and closing again) its inner map template and,
    if the spec has BTF types and no ``btf`` handle is given, a BTF object for them."""
    context = _check_spec(spec)
    inner: FD | None = None
    own_btf: Handle | None = None
    try:
        if spec.type in _MAP_IN_MAP:
            if spec.inner_map is None:
                raise EbpfError(f"create map {spec.name!r}: {spec.type.name} needs inner_map")
            inner = _create(spec.inner_map, btf)
        attr = MapCreateAttr(
            map_type=int(spec.type), key_size=spec.key_size, value_size=spec.value_size,
            max_entries=spec.max_entries, map_flags=int(spec.flags),
            inner_map_fd=inner.raw if inner is not None else 0, numa_node=spec.numa_node,
            map_name=sanitize_name(spec.name).encode(), map_extra=spec.map_extra)
        if (spec.key_type is not None or spec.value_type is not None) and (
                spec.type not in _NO_KERNEL_BTF):
            if btf is None:
                from .btf.handle import Handle

                wanted = [t for t in (spec.key_type, spec.value_type) if t is not None]
                btf = own_btf = Handle.from_types(wanted)
            attr.btf_fd = btf.fd
            if spec.key_type is not None:
                attr.btf_key_type_id = btf.type_id(spec.key_type)
            if spec.value_type is not None:
                attr.btf_value_type_id = btf.type_id(spec.value_type)
        try:
            return commands.map_create(attr, context)
        except SyscallError as e:
            if e.errno == errno.EINVAL and int(spec.type) not in MapType._value2member_map_:
                raise NotSupportedError(f"{context}: unknown map type {int(spec.type)}") from e
            if e.errno in (errno.EINVAL, errno.EOPNOTSUPP, _ENOTSUPP):
                _refused_map_type(spec.type, context, e)
            raise
    finally:
        # The template and the BTF object only had to live through the create call.
        if own_btf is not None:
            own_btf.close()
        if inner is not None:
            inner.close()
