"""One typed function per ``bpf(2)`` command.

Callers fill the attr structure from :mod:`._types` (or :mod:`._types_attach`,
:mod:`._types_info`) and call the function here; nothing above this layer calls
:func:`.syscall.bpf` with a raw command number. Functions that create an object return an
:class:`FD` that owns it.
"""

from __future__ import annotations

import ctypes
import errno
from typing import TYPE_CHECKING, TypeVar

from ...errors import SyscallError
from ._types import (
    BtfLoadAttr,
    Cmd,
    GetIdAttr,
    MapBatchAttr,
    MapCreateAttr,
    MapElemAttr,
    MapFreezeAttr,
    ObjGetInfoAttr,
    ObjPinAttr,
    ProgBindMapAttr,
    ProgLoadAttr,
    ProgRunAttr,
)
from .fd import FD
from .syscall import FastCall, bpf

if TYPE_CHECKING:

    # Only annotations here: the modules are imported when a caller builds one of these.
    from ._types_attach import (
        IterCreateAttr,
        LinkCreateAttr,
        LinkDetachAttr,
        LinkUpdateAttr,
        ProgAttachAttr,
        ProgQueryAttr,
        RawTracepointOpenAttr,
        TaskFdQueryAttr,
        TokenCreateAttr,
    )
    from ._types_info import EnableStatsAttr

    _Info = TypeVar("_Info", bound=ctypes.Structure)

__all__ = [
    "addr_of", "btf_get_fd_by_id", "btf_get_next_id", "btf_load", "enable_stats",
    "iter_create", "link_create", "link_detach", "link_get_fd_by_id", "link_get_next_id",
    "link_update", "map_create", "map_delete_batch", "map_delete_elem", "map_freeze",
    "map_get_fd_by_id", "map_get_next_id", "map_get_next_key", "map_lookup_and_delete_batch",
    "map_lookup_and_delete_elem", "map_lookup_batch", "map_lookup_elem", "map_update_batch",
    "map_update_elem", "obj_get", "obj_get_info_by_fd", "obj_pin", "prog_attach",
    "prog_bind_map", "prog_detach", "prog_get_fd_by_id", "prog_get_next_id", "prog_load",
    "prog_query", "prog_run", "raw_tracepoint_open", "task_fd_query", "token_create",
]


def addr_of(buf: ctypes.Array[ctypes.c_char] | ctypes.Array[ctypes.c_uint8] | ctypes.Structure
            | ctypes.Array[ctypes.c_uint32] | ctypes.Array[ctypes.c_uint64] | None) -> int:
    """The address of a ctypes buffer for a ``__u64`` pointer field (0 for ``None``).

    The caller must keep ``buf`` referenced until the ``bpf()`` call has returned.
    """
    return 0 if buf is None else ctypes.addressof(buf)


# --- pre-bound calls for the hot paths ---------------------------------------------------------
#
# A FastCall binds a command to one attr for good (see syscall.FastCall). These are the only
# commands the library binds, each to the attr layout it takes.

def _bound(cmd: int, attr: ctypes.Structure) -> FastCall:
    return FastCall(cmd, ctypes.addressof(attr), ctypes.sizeof(attr))


def bind_map_lookup_elem(attr: MapElemAttr) -> FastCall:
    """``BPF_MAP_LOOKUP_ELEM`` bound to ``attr`` (which must outlive the call object)."""
    return _bound(Cmd.MAP_LOOKUP_ELEM, attr)


def bind_map_update_elem(attr: MapElemAttr) -> FastCall:
    """``BPF_MAP_UPDATE_ELEM`` bound to ``attr``."""
    return _bound(Cmd.MAP_UPDATE_ELEM, attr)


def bind_map_delete_elem(attr: MapElemAttr) -> FastCall:
    """``BPF_MAP_DELETE_ELEM`` bound to ``attr``."""
    return _bound(Cmd.MAP_DELETE_ELEM, attr)


def bind_map_lookup_and_delete_elem(attr: MapElemAttr) -> FastCall:
    """``BPF_MAP_LOOKUP_AND_DELETE_ELEM`` bound to ``attr``."""
    return _bound(Cmd.MAP_LOOKUP_AND_DELETE_ELEM, attr)


def bind_map_get_next_key(attr: MapElemAttr) -> FastCall:
    """``BPF_MAP_GET_NEXT_KEY`` bound to ``attr``."""
    return _bound(Cmd.MAP_GET_NEXT_KEY, attr)


def bind_prog_run(attr: ProgRunAttr) -> FastCall:
    """``BPF_PROG_TEST_RUN`` bound to ``attr``."""
    return _bound(Cmd.PROG_TEST_RUN, attr)


# --- maps ------------------------------------------------------------------------------------

def map_create(attr: MapCreateAttr, context: str = "") -> FD:
    return FD(bpf(Cmd.MAP_CREATE, attr, context), "map")


def map_lookup_elem(attr: MapElemAttr, context: str = "") -> None:
    bpf(Cmd.MAP_LOOKUP_ELEM, attr, context)


def map_update_elem(attr: MapElemAttr, context: str = "") -> None:
    bpf(Cmd.MAP_UPDATE_ELEM, attr, context)


def map_delete_elem(attr: MapElemAttr, context: str = "") -> None:
    bpf(Cmd.MAP_DELETE_ELEM, attr, context)


def map_get_next_key(attr: MapElemAttr, context: str = "") -> None:
    bpf(Cmd.MAP_GET_NEXT_KEY, attr, context)


def map_lookup_and_delete_elem(attr: MapElemAttr, context: str = "") -> None:
    bpf(Cmd.MAP_LOOKUP_AND_DELETE_ELEM, attr, context)


def map_freeze(attr: MapFreezeAttr, context: str = "") -> None:
    bpf(Cmd.MAP_FREEZE, attr, context)


def _batch(cmd: int, attr: MapBatchAttr, context: str) -> bool:
    """Run a batch command; True if the map has more entries after this batch.

    The kernel reports the end of the map with ``ENOENT`` while still filling ``attr.count``
    with the entries it processed, so that errno is not an error here.
    """
    try:
        bpf(cmd, attr, context)
    except SyscallError as e:
        if e.errno == errno.ENOENT:
            return False
        raise
    return True


def map_lookup_batch(attr: MapBatchAttr, context: str = "") -> bool:
    return _batch(Cmd.MAP_LOOKUP_BATCH, attr, context)


def map_lookup_and_delete_batch(attr: MapBatchAttr, context: str = "") -> bool:
    return _batch(Cmd.MAP_LOOKUP_AND_DELETE_BATCH, attr, context)


def map_update_batch(attr: MapBatchAttr, context: str = "") -> None:
    bpf(Cmd.MAP_UPDATE_BATCH, attr, context)


def map_delete_batch(attr: MapBatchAttr, context: str = "") -> None:
    bpf(Cmd.MAP_DELETE_BATCH, attr, context)


# --- programs --------------------------------------------------------------------------------

def prog_load(attr: ProgLoadAttr, context: str = "") -> FD:
    return FD(bpf(Cmd.PROG_LOAD, attr, context), "program")


def prog_run(attr: ProgRunAttr, context: str = "") -> None:
    bpf(Cmd.PROG_TEST_RUN, attr, context)


def prog_attach(attr: ProgAttachAttr, context: str = "") -> None:
    bpf(Cmd.PROG_ATTACH, attr, context)


def prog_detach(attr: ProgAttachAttr, context: str = "") -> None:
    bpf(Cmd.PROG_DETACH, attr, context)


def prog_query(attr: ProgQueryAttr, context: str = "") -> None:
    bpf(Cmd.PROG_QUERY, attr, context)


def prog_bind_map(attr: ProgBindMapAttr, context: str = "") -> None:
    bpf(Cmd.PROG_BIND_MAP, attr, context)


def raw_tracepoint_open(attr: RawTracepointOpenAttr, context: str = "") -> FD:
    return FD(bpf(Cmd.RAW_TRACEPOINT_OPEN, attr, context), "raw tracepoint link")


# --- objects, ids and info -------------------------------------------------------------------

def obj_pin(attr: ObjPinAttr, context: str = "") -> None:
    bpf(Cmd.OBJ_PIN, attr, context)


def obj_get(attr: ObjPinAttr, context: str = "") -> FD:
    return FD(bpf(Cmd.OBJ_GET, attr, context), "pinned object")


def obj_get_info_by_fd(fd: int, info: _Info, context: str = "") -> _Info:
    """Fill ``info`` (a ``*Info`` structure, possibly with pointer fields set) for ``fd``."""
    attr = ObjGetInfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=ctypes.addressof(info))
    bpf(Cmd.OBJ_GET_INFO_BY_FD, attr, context)
    return info


def _next_id(cmd: int, start: int) -> int | None:
    attr = GetIdAttr(start_id=start)
    try:
        bpf(cmd, attr)
    except SyscallError as e:
        if e.errno == errno.ENOENT:
            return None
        raise
    return int(attr.next_id)


def prog_get_next_id(start: int) -> int | None:
    """The id of the next program after ``start``, or None after the last."""
    return _next_id(Cmd.PROG_GET_NEXT_ID, start)


def map_get_next_id(start: int) -> int | None:
    return _next_id(Cmd.MAP_GET_NEXT_ID, start)


def btf_get_next_id(start: int) -> int | None:
    return _next_id(Cmd.BTF_GET_NEXT_ID, start)


def link_get_next_id(start: int) -> int | None:
    return _next_id(Cmd.LINK_GET_NEXT_ID, start)


def prog_get_fd_by_id(id: int, context: str = "") -> FD:
    return FD(bpf(Cmd.PROG_GET_FD_BY_ID, GetIdAttr(start_id=id), context), "program")


def map_get_fd_by_id(id: int, open_flags: int = 0, context: str = "") -> FD:
    attr = GetIdAttr(start_id=id, open_flags=open_flags)
    return FD(bpf(Cmd.MAP_GET_FD_BY_ID, attr, context), "map")


def btf_get_fd_by_id(id: int, context: str = "") -> FD:
    return FD(bpf(Cmd.BTF_GET_FD_BY_ID, GetIdAttr(start_id=id), context), "BTF")


def link_get_fd_by_id(id: int, context: str = "") -> FD:
    return FD(bpf(Cmd.LINK_GET_FD_BY_ID, GetIdAttr(start_id=id), context), "link")


# --- BTF, links, misc ------------------------------------------------------------------------

def btf_load(attr: BtfLoadAttr, context: str = "") -> FD:
    return FD(bpf(Cmd.BTF_LOAD, attr, context), "BTF")


def link_create(attr: LinkCreateAttr, context: str = "") -> FD:
    return FD(bpf(Cmd.LINK_CREATE, attr, context), "link")


def link_update(attr: LinkUpdateAttr, context: str = "") -> None:
    bpf(Cmd.LINK_UPDATE, attr, context)


def link_detach(attr: LinkDetachAttr, context: str = "") -> None:
    bpf(Cmd.LINK_DETACH, attr, context)


def enable_stats(attr: EnableStatsAttr, context: str = "") -> FD:
    return FD(bpf(Cmd.ENABLE_STATS, attr, context), "stats")


def iter_create(attr: IterCreateAttr, context: str = "") -> FD:
    return FD(bpf(Cmd.ITER_CREATE, attr, context), "iterator")


def task_fd_query(attr: TaskFdQueryAttr, context: str = "") -> None:
    bpf(Cmd.TASK_FD_QUERY, attr, context)


def token_create(attr: TokenCreateAttr, context: str = "") -> FD:
    return FD(bpf(Cmd.TOKEN_CREATE, attr, context), "token")
