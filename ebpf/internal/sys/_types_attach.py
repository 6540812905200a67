"""ctypes layouts of ``union bpf_attr`` for attaching programs, links, iterators and tokens.

Imported on first use of one of its names (see :mod:`ebpf.internal.sys`): loading objects
does not need these. Conventions as in :mod:`._types`.
"""

from __future__ import annotations

import ctypes

__all__ = [
    "IterCreateAttr", "IterLinkInfo", "LinkCreateAttr", "LinkDetachAttr", "LinkUpdateAttr",
    "ProgAttachAttr", "ProgQueryAttr", "RawTracepointOpenAttr", "TaskFdQueryAttr",
    "TokenCreateAttr",
]

_u32 = ctypes.c_uint32
_s32 = ctypes.c_int32
_u64 = ctypes.c_uint64


class _TargetFdOrIfindex(ctypes.Union):
    _fields_ = [("target_fd", _u32), ("target_ifindex", _u32)]


class _RelativeFdOrId(ctypes.Union):
    _fields_ = [("relative_fd", _u32), ("relative_id", _u32)]


class ProgAttachAttr(ctypes.Structure):
    """``BPF_PROG_ATTACH`` and ``BPF_PROG_DETACH``."""

    _anonymous_ = ("_t", "_r")
    _fields_ = [
        ("_t", _TargetFdOrIfindex),
        ("attach_bpf_fd", _u32),
        ("attach_type", _u32),
        ("attach_flags", _u32),
        ("replace_bpf_fd", _u32),               # 5.6
        ("_r", _RelativeFdOrId),                # 6.6
        ("expected_revision", _u64),            # 6.6
    ]


class ProgQueryAttr(ctypes.Structure):
    """``BPF_PROG_QUERY``: the ``query`` member of ``union bpf_attr``."""

    _anonymous_ = ("_t",)
    _fields_ = [
        ("_t", _TargetFdOrIfindex),
        ("attach_type", _u32),
        ("query_flags", _u32),
        ("attach_flags", _u32),
        ("prog_ids", _u64),
        ("count", _u32),                        # also prog_cnt
        ("prog_attach_flags", _u64),            # 6.3
        ("link_ids", _u64),                     # 6.6
        ("link_attach_flags", _u64),
        ("revision", _u64),
    ]


class RawTracepointOpenAttr(ctypes.Structure):
    """``BPF_RAW_TRACEPOINT_OPEN``."""

    _fields_ = [("name", _u64), ("prog_fd", _u32), ("cookie", _u64)]   # cookie: 6.10


class TaskFdQueryAttr(ctypes.Structure):
    """``BPF_TASK_FD_QUERY`` (4.18)."""

    _fields_ = [
        ("pid", _u32),
        ("fd", _u32),
        ("flags", _u32),
        ("buf_len", _u32),
        ("buf", _u64),
        ("prog_id", _u32),
        ("fd_type", _u32),
        ("probe_offset", _u64),
        ("probe_addr", _u64),
    ]


class _LinkCreateTracing(ctypes.Structure):
    _fields_ = [("target_btf_id", _u32), ("cookie", _u64)]


class _LinkCreateIter(ctypes.Structure):
    _fields_ = [("iter_info", _u64), ("iter_info_len", _u32)]


class _LinkCreatePerfEvent(ctypes.Structure):
    _fields_ = [("bpf_cookie", _u64)]


class _LinkCreateKprobeMulti(ctypes.Structure):
    _fields_ = [("flags", _u32), ("cnt", _u32), ("syms", _u64), ("addrs", _u64),
                ("cookies", _u64)]


class _LinkCreateNetfilter(ctypes.Structure):
    _fields_ = [("pf", _u32), ("hooknum", _u32), ("priority", _s32), ("flags", _u32)]


class _LinkCreateRelative(ctypes.Structure):
    """tcx, netkit and cgroup links: where in the chain the new program goes."""

    _anonymous_ = ("_r",)
    _fields_ = [("_r", _RelativeFdOrId), ("expected_revision", _u64)]


class _LinkCreateUprobeMulti(ctypes.Structure):
    _fields_ = [("path", _u64), ("offsets", _u64), ("ref_ctr_offsets", _u64),
                ("cookies", _u64), ("cnt", _u32), ("flags", _u32), ("pid", _u32)]


class _LinkCreateTarget(ctypes.Union):
    _fields_ = [
        ("target_btf_id", _u32),
        ("iter", _LinkCreateIter),              # iter_info: 5.9
        ("perf_event", _LinkCreatePerfEvent),   # 5.15
        ("kprobe_multi", _LinkCreateKprobeMulti),  # 5.18
        ("tracing", _LinkCreateTracing),        # 5.19
        ("netfilter", _LinkCreateNetfilter),    # 6.4
        ("tcx", _LinkCreateRelative),           # 6.6
        ("uprobe_multi", _LinkCreateUprobeMulti),  # 6.6
        ("netkit", _LinkCreateRelative),        # 6.7
        ("cgroup", _LinkCreateRelative),        # 6.16
    ]


class _ProgOrMapFd(ctypes.Union):
    _fields_ = [("prog_fd", _u32), ("map_fd", _u32)]


class LinkCreateAttr(ctypes.Structure):
    """``BPF_LINK_CREATE`` (5.7)."""

    _anonymous_ = ("_p", "_t", "_x")
    _fields_ = [
        ("_p", _ProgOrMapFd),
        ("_t", _TargetFdOrIfindex),
        ("attach_type", _u32),
        ("flags", _u32),
        ("_x", _LinkCreateTarget),
    ]


class _NewProgOrMap(ctypes.Union):
    _fields_ = [("new_prog_fd", _u32), ("new_map_fd", _u32)]


class _OldProgOrMap(ctypes.Union):
    _fields_ = [("old_prog_fd", _u32), ("old_map_fd", _u32)]


class LinkUpdateAttr(ctypes.Structure):
    """``BPF_LINK_UPDATE`` (5.7)."""

    _anonymous_ = ("_n", "_o")
    _fields_ = [("link_fd", _u32), ("_n", _NewProgOrMap), ("flags", _u32),
                ("_o", _OldProgOrMap)]


class LinkDetachAttr(ctypes.Structure):
    """``BPF_LINK_DETACH`` (5.9)."""

    _fields_ = [("link_fd", _u32)]


class _IterLinkInfoMap(ctypes.Structure):
    _fields_ = [("map_fd", _u32)]


class _IterLinkInfoCgroup(ctypes.Structure):
    _fields_ = [("order", _u32), ("cgroup_fd", _u32), ("cgroup_id", _u64)]


class _IterLinkInfoTask(ctypes.Structure):
    _fields_ = [("tid", _u32), ("pid", _u32), ("pid_fd", _u32)]


class IterLinkInfo(ctypes.Union):
    """``union bpf_iter_link_info``: what an iterator link walks (``link_create.iter_info``)."""

    _fields_ = [
        ("map", _IterLinkInfoMap),              # 5.9
        ("cgroup", _IterLinkInfoCgroup),        # 6.1
        ("task", _IterLinkInfoTask),            # 6.1
    ]


class IterCreateAttr(ctypes.Structure):
    """``BPF_ITER_CREATE`` (5.8)."""

    _fields_ = [("link_fd", _u32), ("flags", _u32)]


class TokenCreateAttr(ctypes.Structure):
    """``BPF_TOKEN_CREATE`` (6.9)."""

    _fields_ = [("flags", _u32), ("bpffs_fd", _u32)]
