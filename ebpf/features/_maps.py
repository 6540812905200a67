"""Map types: a map of the type is created (and closed), with the attributes it needs.

Some types cannot be created without more than a probe should build (an inner map, BTF for
local storage, a struct_ops type): those are given an attribute that fails *after* the kernel
has recognised the type (a bad file descriptor, or a struct_ops type id that is no struct_ops
type), so that error means "known". An unknown type is ``EINVAL`` whoever asks.
"""

from __future__ import annotations

import errno
import mmap

from ..errors import EbpfError, SyscallError
from ..internal.sys import MapCreateAttr
from ..kernel_versions import MAP_TYPE_VERSIONS
from ..types import MapFlags, MapType
from ._probe import ENOTSUPP, U32_MAX, ProbeCache, absent, create_map, errno_name

__all__ = ["have_map_type"]

M = MapType


def _attr(mt: MapType) -> tuple[MapCreateAttr, int]:
    """The attributes that create ``mt``, and the errno that also proves the type is known
    (0 if only success does)."""
    attr = MapCreateAttr(map_type=mt, key_size=4, value_size=4, max_entries=1)
    known = 0
    if mt == M.STACK_TRACE:
        attr.value_size = 8
    elif mt == M.LPM_TRIE:
        attr.key_size, attr.value_size, attr.map_flags = 8, 8, MapFlags.NO_PREALLOC
    elif mt in (M.ARRAY_OF_MAPS, M.HASH_OF_MAPS):
        attr.inner_map_fd = U32_MAX        # checked after the type: EBADF
        known = errno.EBADF
    elif mt in (M.CGROUP_STORAGE, M.PERCPU_CGROUP_STORAGE):
        attr.key_size, attr.max_entries = 16, 0   # struct bpf_cgroup_storage_key
    elif mt in (M.QUEUE, M.STACK, M.BLOOM_FILTER):
        attr.key_size = 0
    elif mt in (M.SK_STORAGE, M.INODE_STORAGE, M.TASK_STORAGE, M.CGRP_STORAGE):
        # Local storage needs BTF for its key and value; the BTF fd is looked up after the
        # type is recognised: EBADF.
        attr.max_entries, attr.map_flags = 0, MapFlags.NO_PREALLOC
        attr.btf_key_type_id = attr.btf_value_type_id = 1
        attr.btf_fd = U32_MAX
        known = errno.EBADF
    elif mt == M.STRUCT_OPS:
        # Type id 1 of vmlinux is no struct_ops value type: ENOTSUPP once the type is known.
        attr.btf_vmlinux_value_type_id = 1
        known = ENOTSUPP
    elif mt in (M.RINGBUF, M.USER_RINGBUF):
        attr.key_size, attr.value_size, attr.max_entries = 0, 0, mmap.PAGESIZE
    elif mt == M.ARENA:
        attr.key_size, attr.value_size = 0, 0
        attr.map_flags = MapFlags.MMAPABLE
    return attr, known


def _probe_map_type(mt: MapType) -> None:
    attr, known = _attr(mt)
    what = f"probe BPF_MAP_TYPE_{mt.name}"
    try:
        create_map(attr, what).close()
    except SyscallError as e:
        if known and e.errno == known:
            return
        if e.errno in (errno.EINVAL, errno.E2BIG):
            absent(f"the kernel does not know the map type or was built without it "
                   f"(BPF_MAP_CREATE: {errno_name(e.errno)})", e, needs_privileges=False)
        raise


_map_types: ProbeCache[MapType] = ProbeCache(
    lambda mt: (f"BPF_MAP_TYPE_{mt.name}", MAP_TYPE_VERSIONS[mt]), _probe_map_type)


def have_map_type(map_type: MapType) -> None:
    """Probe: the kernel creates maps of ``map_type``.

    Raises:
        UnsupportedFeatureError: the kernel lacks the type.
        EbpfError: ``map_type`` is not a map type, or the probe could not decide (e.g.
            ``SyscallError`` ``EPERM`` without privileges); nothing is cached then.
    """
    try:
        member = MapType(map_type)
    except ValueError:
        raise EbpfError(f"{map_type!r} is not a map type this library knows") from None
    if member is M.UNSPEC:
        raise EbpfError("MapType.UNSPEC is not a map type")
    _map_types(member)
