"""What the kernel knows about loaded objects: info records, id enumeration, run-time stats.

:func:`program_info` and :func:`map_info` ask the kernel (``BPF_OBJ_GET_INFO_BY_FD``) about an
object behind a descriptor and return a frozen snapshot (:class:`ProgramInfo`, :class:`MapInfo`).
:func:`program_ids`, :func:`map_ids`, :func:`btf_ids` and :func:`link_ids` walk the ids of every
object of a kind that exists in the system (``BPF_*_GET_NEXT_ID``, which needs ``CAP_SYS_ADMIN``).
:func:`enable_stats` switches on the kernel's per-program run-time accounting.

Fields a kernel does not report (because it predates them) read as zero. Type numbers the library
does not know (a newer kernel) are kept as plain ``int`` rather than rejected.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import final

from .errors import (
    ClosedError,
    EbpfError,
    NotSupportedError,
    SyscallError,
    UnsupportedFeatureError,
)
from .internal.sys import (
    EnableStatsAttr,
    MapInfo as _RawMapInfo,
    ProgInfo as _RawProgInfo,
    commands,
)
from .types import MapType, ProgramType, StatsType, member_or_int

__all__ = [
    "EnabledStats",
    "MapInfo",
    "ProgramInfo",
    "btf_ids",
    "enable_stats",
    "link_ids",
    "map_ids",
    "map_info",
    "program_ids",
    "program_info",
]


def _program_type(value: int) -> ProgramType | int:
    return member_or_int(ProgramType, value)


def _map_type(value: int) -> MapType | int:
    return member_or_int(MapType, value)


def _c_name(raw: bytes) -> str:
    """A kernel object name (NUL-padded, ``[A-Za-z0-9_.]``) as text."""
    return raw.split(b"\0", 1)[0].decode("ascii", errors="replace")


@final
@dataclass(frozen=True)
class ProgramInfo:
    """A snapshot of ``struct bpf_prog_info`` for one loaded program.

    Attributes:
        id: the kernel's id of the program (stable for its lifetime; see :meth:`Program.from_id`).
        name: the object name given at load (at most 15 characters), or ``""``.
        type: the program type; a plain ``int`` if this library does not know the number.
        tag: the kernel's hash of the program's instructions as 16 hex digits.
        map_ids: ids of the maps the program uses (referenced or bound), in the kernel's order.
        xlated_size: size in bytes of the kernel-rewritten ("translated") instructions.
        jited_size: size in bytes of the JIT-compiled machine code (0 without JIT or rights).
        load_time_ns: when the program was loaded, in nanoseconds since boot
            (``CLOCK_BOOTTIME``).
        created_by_uid: the user id of the loading process.
        btf_id: the id of the program's BTF object, or 0.
        verified_instructions: instructions the verifier processed (Linux 5.16+, else 0).
        run_time_ns: total run time while statistics were enabled (Linux 5.1+).
        run_count: number of runs while statistics were enabled (Linux 5.1+).
        recursion_misses: runs skipped because of recursion (Linux 5.12+).
        gpl_compatible: whether the license given at load is GPL-compatible (Linux 4.18+).
        attach_btf_obj_id: id of the BTF object holding :attr:`attach_btf_id` (Linux 6.0+).
        attach_btf_id: the BTF type id of the attach target (Linux 6.0+), or 0.
        ifindex: the device of an offloaded program, or 0.
    """

    id: int
    name: str
    type: ProgramType | int
    tag: str
    map_ids: tuple[int, ...]
    xlated_size: int
    jited_size: int
    load_time_ns: int
    created_by_uid: int
    btf_id: int
    verified_instructions: int
    run_time_ns: int
    run_count: int
    recursion_misses: int
    gpl_compatible: bool
    attach_btf_obj_id: int
    attach_btf_id: int
    ifindex: int

    @property
    def instruction_count(self) -> int:
        """The number of kernel-rewritten instructions (:attr:`xlated_size` / 8)."""
        return self.xlated_size // 8


@final
@dataclass(frozen=True)
class MapInfo:
    """A snapshot of ``struct bpf_map_info`` for one map.

    Attributes:
        id: the kernel's id of the map.
        name: the object name given at creation (at most 15 characters), or ``""``.
        type: the map type; a plain ``int`` if this library does not know the number.
        key_size, value_size, max_entries: the map's shape.
        flags: the ``map_flags`` it was created with (see :class:`ebpf.types.MapFlags`).
        btf_id: the id of the map's BTF object, or 0.
        btf_key_type_id, btf_value_type_id: BTF type ids of key and value within ``btf_id``.
        btf_vmlinux_value_type_id: for struct_ops maps, the kernel BTF id of the value type.
        map_extra: type-specific extra value (bloom filter hashes, arena address; Linux 5.16+).
        ifindex: the device of an offloaded map, or 0.
    """

    id: int
    name: str
    type: MapType | int
    key_size: int
    value_size: int
    max_entries: int
    flags: int
    btf_id: int
    btf_key_type_id: int
    btf_value_type_id: int
    btf_vmlinux_value_type_id: int
    map_extra: int
    ifindex: int


_KINDS = {"program": "anon_inode:bpf-prog", "map": "anon_inode:bpf-map"}


def _check_fd_kind(fd: int, what: str) -> None:
    """Raise unless ``fd`` is a BPF object of kind ``what`` (where ``/proc`` can tell).

    ``BPF_OBJ_GET_INFO_BY_FD`` answers for any kind of BPF object and would happily fill a
    program record with a map's data, so the kind is checked first.
    """
    if not isinstance(fd, int) or isinstance(fd, bool) or fd < 0:
        raise EbpfError(f"{fd!r} is not a valid file descriptor")
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except FileNotFoundError:
        if os.path.isdir("/proc/self/fd"):
            raise EbpfError(f"fd {fd} is not open") from None
        return
    except OSError:
        return
    if target != _KINDS[what]:
        raise EbpfError(f"fd {fd} is not a BPF {what} ({target})")


def _get_info(fd: int, info: ctypes.Structure, what: str) -> None:
    _check_fd_kind(fd, what)
    commands.obj_get_info_by_fd(fd, info, f"get info of {what} (fd {fd})")


def _raw_program_info(fd: int) -> tuple[_RawProgInfo, tuple[int, ...]]:
    """The raw info record of program ``fd`` and its map ids (second call, sized buffer)."""
    raw = _RawProgInfo()
    _get_info(fd, raw, "program")
    ids: tuple[int, ...] = ()
    count = int(raw.nr_map_ids)
    # Maps can be bound between the two calls, so repeat until the buffer was big enough.
    while count:
        buf = (ctypes.c_uint32 * count)()
        again = _RawProgInfo(nr_map_ids=count, map_ids=commands.addr_of(buf))
        _get_info(fd, again, "program")
        reported = int(again.nr_map_ids)
        if reported <= count:
            ids = tuple(int(buf[i]) for i in range(reported))
            break
        count = reported
    return raw, ids


def program_info(fd: int) -> ProgramInfo:
    """Ask the kernel about the program behind ``fd`` (borrowed, not closed).

    Makes one ``BPF_OBJ_GET_INFO_BY_FD`` call, and a second one when the program uses maps
    (the kernel reports their count first, then fills a buffer of that size).

    Raises:
        EbpfError: ``fd`` is not an open descriptor of a BPF program.
        SyscallError: the kernel refused.
    """
    raw, ids = _raw_program_info(fd)
    return ProgramInfo(
        id=int(raw.id),
        name=_c_name(bytes(raw.name)),
        type=_program_type(int(raw.type)),
        tag=bytes(raw.tag).hex(),
        map_ids=ids,
        xlated_size=int(raw.xlated_prog_len),
        jited_size=int(raw.jited_prog_len),
        load_time_ns=int(raw.load_time),
        created_by_uid=int(raw.created_by_uid),
        btf_id=int(raw.btf_id),
        verified_instructions=int(raw.verified_insns),
        run_time_ns=int(raw.run_time_ns),
        run_count=int(raw.run_cnt),
        recursion_misses=int(raw.recursion_misses),
        gpl_compatible=bool(raw.gpl_compatible),
        attach_btf_obj_id=int(raw.attach_btf_obj_id),
        attach_btf_id=int(raw.attach_btf_id),
        ifindex=int(raw.ifindex),
    )


def _xlated_bytes(fd: int) -> bytes:
    """The kernel-rewritten instructions of program ``fd`` (borrowed), as raw bytes.

    The bytes are in the host's byte order. Map references appear as the kernel rewrote them.

    Raises:
        SyscallError: the info call failed.
        NotSupportedError: the kernel withheld the instructions (it does so when the caller may
            not see kernel addresses, see ``kernel.kptr_restrict``).
    """
    raw = _RawProgInfo()
    _get_info(fd, raw, "program")
    size = int(raw.xlated_prog_len)
    while True:
        if size == 0:
            return b""
        buf = (ctypes.c_uint8 * size)()
        again = _RawProgInfo(xlated_prog_len=size, xlated_prog_insns=commands.addr_of(buf))
        _get_info(fd, again, "program")
        got = int(again.xlated_prog_len)
        if again.xlated_prog_insns == 0:
            raise NotSupportedError(
                "the kernel withheld the translated instructions (needs CAP_SYS_ADMIN and "
                "kernel addresses visible to this process)")
        if got <= size:
            return bytes(buf)[:got]
        size = got


def map_info(fd: int) -> MapInfo:
    """Ask the kernel about the map behind ``fd`` (borrowed, not closed).

    Raises:
        EbpfError: ``fd`` is not an open descriptor of a BPF map.
        SyscallError: the kernel refused.
    """
    raw = _RawMapInfo()
    _get_info(fd, raw, "map")
    return MapInfo(
        id=int(raw.id),
        name=_c_name(bytes(raw.name)),
        type=_map_type(int(raw.type)),
        key_size=int(raw.key_size),
        value_size=int(raw.value_size),
        max_entries=int(raw.max_entries),
        flags=int(raw.map_flags),
        btf_id=int(raw.btf_id),
        btf_key_type_id=int(raw.btf_key_type_id),
        btf_value_type_id=int(raw.btf_value_type_id),
        btf_vmlinux_value_type_id=int(raw.btf_vmlinux_value_type_id),
        map_extra=int(raw.map_extra),
        ifindex=int(raw.ifindex),
    )


def _ids(next_id: Callable[[int], int | None]) -> Iterator[int]:
    current = 0
    while True:
        nxt = next_id(current)
        if nxt is None:
            return
        yield nxt
        current = nxt


def program_ids() -> Iterator[int]:
    """Yield the id of every program loaded in the system, in increasing order.

    The walk is live: programs loaded or unloaded meanwhile may or may not appear.

    Raises:
        SyscallError: e.g. ``EPERM`` without ``CAP_SYS_ADMIN``.
    """
    return _ids(commands.prog_get_next_id)


def map_ids() -> Iterator[int]:
    """Yield the id of every map in the system, in increasing order (see :func:`program_ids`)."""
    return _ids(commands.map_get_next_id)


def btf_ids() -> Iterator[int]:
    """Yield the id of every BTF object in the system, including the kernel's own."""
    return _ids(commands.btf_get_next_id)


def link_ids() -> Iterator[int]:
    """Yield the id of every bpf_link in the system (Linux 5.8+)."""
    return _ids(commands.link_get_next_id)


@final
class EnabledStats:
    """Keeps a kind of BPF run-time statistics switched on while it is open.

    The kernel counts run time and run count of every program (:attr:`ProgramInfo.run_time_ns`,
    :attr:`ProgramInfo.run_count`) as long as at least one such handle exists. This object owns
    the handle's descriptor: :meth:`close` (or leaving the ``with`` block) switches the
    statistics off again unless someone else holds another handle.
    """

    __slots__ = ("_fd", "_type")

    def __init__(self, stats_type: StatsType) -> None:
        """Use :func:`enable_stats`."""
        self._type = stats_type
        attr = EnableStatsAttr(type=int(stats_type))
        try:
            self._fd = commands.enable_stats(attr, f"enable {stats_type.name} statistics")
        except SyscallError as e:
            if e.errno == errno.EINVAL:
                raise UnsupportedFeatureError("BPF_ENABLE_STATS", "5.8",
                                              f"stats type {stats_type.name}") from e
            raise

    @property
    def type(self) -> StatsType:
        """Which statistics this handle keeps enabled."""
        return self._type

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._fd.closed

    @property
    def fd(self) -> int:
        """The descriptor number, lent.

        Raises:
            ClosedError: the handle was closed.
        """
        try:
            return self._fd.raw
        except ClosedError:
            raise ClosedError(f"{self!r} is closed") from None

    def close(self) -> None:
        """Release the handle (statistics stop once no handle is left). Idempotent."""
        self._fd.close()

    def __enter__(self) -> EnabledStats:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._fd.closed else f"fd={self._fd.raw}"
        return f"EnabledStats({self._type.name}, {state})"


def enable_stats(stats_type: StatsType = StatsType.RUN_TIME) -> EnabledStats:
    """Switch on BPF statistics of ``stats_type`` until the returned handle is closed.

    The returned :class:`EnabledStats` owns a new descriptor; use it as a context manager.

    Raises:
        UnsupportedFeatureError: the kernel lacks ``BPF_ENABLE_STATS`` (before Linux 5.8) or
            this stats type.
        SyscallError: e.g. ``EPERM`` without ``CAP_SYS_ADMIN``.
    """
    if not isinstance(stats_type, StatsType):
        try:
            stats_type = StatsType(stats_type)
        except ValueError:
            raise EbpfError(f"unknown statistics type {stats_type!r}") from None
    return EnabledStats(stats_type)
