"""ctypes layouts of ``union bpf_attr`` (one structure per command) and of the info structures.

This module is the only place that knows these layouts. Field names are the kernel's own
(``include/uapi/linux/bpf.h``); a trailing comment names the kernel that added a late field.
The kernel accepts an attr shorter than its own union (it zero-fills the rest), so every
structure here is passed with its own ``sizeof``.

Hand-maintained from the 6.18 UAPI until the generator (``tools/gen_sys_types.py``, which needs
``ebpf.btf``) replaces it; ``tests/unit/test_sys_types.py`` checks every offset against the
running kernel's BTF where it is available.
"""

from __future__ import annotations

import ctypes

from ..._enum import IntEnum, enum_class

__all__ = [
    "BtfGetFdByIdAttr", "BtfInfo", "BtfLoadAttr", "Cmd", "EnableStatsAttr", "GetIdAttr",
    "IterCreateAttr", "LinkCreateAttr", "LinkDetachAttr", "LinkInfo", "LinkUpdateAttr",
    "MapBatchAttr", "MapCreateAttr", "MapElemAttr", "MapFreezeAttr", "MapInfo", "ObjGetInfoAttr",
    "ObjPinAttr", "ProgAttachAttr", "ProgBindMapAttr", "ProgInfo", "ProgLoadAttr",
    "ProgQueryAttr", "ProgRunAttr", "RawTracepointOpenAttr", "TaskFdQueryAttr",
]

_u8 = ctypes.c_uint8
_u32 = ctypes.c_uint32
_s32 = ctypes.c_int32
_u64 = ctypes.c_uint64

BPF_OBJ_NAME_LEN = 16
BPF_TAG_SIZE = 8


@enum_class
class Cmd(IntEnum):
    """``enum bpf_cmd``."""

    MAP_CREATE = 0
    MAP_LOOKUP_ELEM = 1
    MAP_UPDATE_ELEM = 2
    MAP_DELETE_ELEM = 3
    MAP_GET_NEXT_KEY = 4
    PROG_LOAD = 5
    OBJ_PIN = 6
    OBJ_GET = 7
    PROG_ATTACH = 8
    PROG_DETACH = 9
    PROG_TEST_RUN = 10
    PROG_GET_NEXT_ID = 11
    MAP_GET_NEXT_ID = 12
    PROG_GET_FD_BY_ID = 13
    MAP_GET_FD_BY_ID = 14
    OBJ_GET_INFO_BY_FD = 15
    PROG_QUERY = 16
    RAW_TRACEPOINT_OPEN = 17
    BTF_LOAD = 18
    BTF_GET_FD_BY_ID = 19
    TASK_FD_QUERY = 20
    MAP_LOOKUP_AND_DELETE_ELEM = 21
    MAP_FREEZE = 22
    BTF_GET_NEXT_ID = 23
    MAP_LOOKUP_BATCH = 24
    MAP_LOOKUP_AND_DELETE_BATCH = 25
    MAP_UPDATE_BATCH = 26
    MAP_DELETE_BATCH = 27
    LINK_CREATE = 28
    LINK_UPDATE = 29
    LINK_GET_FD_BY_ID = 30
    LINK_GET_NEXT_ID = 31
    ENABLE_STATS = 32
    ITER_CREATE = 33
    LINK_DETACH = 34
    PROG_BIND_MAP = 35
    TOKEN_CREATE = 36
    PROG_STREAM_READ_BY_FD = 37

    @property
    def bpf_name(self) -> str:
        """The kernel's name, e.g. ``BPF_MAP_CREATE``."""
        return f"BPF_{self.name}"


class MapCreateAttr(ctypes.Structure):
    """``BPF_MAP_CREATE``."""

    _fields_ = [
        ("map_type", _u32),
        ("key_size", _u32),
        ("value_size", _u32),
        ("max_entries", _u32),
        ("map_flags", _u32),
        ("inner_map_fd", _u32),
        ("numa_node", _u32),                    # 4.14
        ("map_name", ctypes.c_char * BPF_OBJ_NAME_LEN),  # 4.15
        ("map_ifindex", _u32),                  # 4.16
        ("btf_fd", _u32),                       # 4.18
        ("btf_key_type_id", _u32),
        ("btf_value_type_id", _u32),
        ("btf_vmlinux_value_type_id", _u32),    # 5.6
        ("map_extra", _u64),                    # 5.16
        ("value_type_btf_obj_fd", _s32),        # 6.9
        ("map_token_fd", _s32),                 # 6.9
        ("excl_prog_hash", _u64),               # 6.18
        ("excl_prog_hash_size", _u32),          # 6.18
    ]


class _ValueOrNextKey(ctypes.Union):
    _fields_ = [("value", _u64), ("next_key", _u64)]


class MapElemAttr(ctypes.Structure):
    """``BPF_MAP_{LOOKUP,UPDATE,DELETE}_ELEM``, ``BPF_MAP_GET_NEXT_KEY``,
    ``BPF_MAP_LOOKUP_AND_DELETE_ELEM``."""

    _anonymous_ = ("_u",)
    _fields_ = [
        ("map_fd", _u32),
        ("key", _u64),
        ("_u", _ValueOrNextKey),
        ("flags", _u64),
    ]


class MapFreezeAttr(ctypes.Structure):
    """``BPF_MAP_FREEZE`` (5.2)."""

    _fields_ = [("map_fd", _u32)]


class MapBatchAttr(ctypes.Structure):
    """``BPF_MAP_*_BATCH`` (5.6): the ``batch`` member of ``union bpf_attr``."""

    _fields_ = [
        ("in_batch", _u64),
        ("out_batch", _u64),
        ("keys", _u64),
        ("values", _u64),
        ("count", _u32),
        ("map_fd", _u32),
        ("elem_flags", _u64),
        ("flags", _u64),
    ]


class _AttachProgOrBtfObj(ctypes.Union):
    _fields_ = [("attach_prog_fd", _u32), ("attach_btf_obj_fd", _u32)]


class ProgLoadAttr(ctypes.Structure):
    """``BPF_PROG_LOAD``."""

    _anonymous_ = ("_u",)
    _fields_ = [
        ("prog_type", _u32),
        ("insn_cnt", _u32),
        ("insns", _u64),
        ("license", _u64),
        ("log_level", _u32),
        ("log_size", _u32),
        ("log_buf", _u64),
        ("kern_version", _u32),
        ("prog_flags", _u32),                   # 4.12
        ("prog_name", ctypes.c_char * BPF_OBJ_NAME_LEN),  # 4.15
        ("prog_ifindex", _u32),                 # 4.15
        ("expected_attach_type", _u32),         # 4.17
        ("prog_btf_fd", _u32),                  # 5.0
        ("func_info_rec_size", _u32),
        ("func_info", _u64),
        ("func_info_cnt", _u32),
        ("line_info_rec_size", _u32),
        ("line_info", _u64),
        ("line_info_cnt", _u32),
        ("attach_btf_id", _u32),                # 5.5
        ("_u", _AttachProgOrBtfObj),            # attach_btf_obj_fd: 5.11
        ("core_relo_cnt", _u32),                # 5.17
        ("fd_array", _u64),                     # 5.14
        ("core_relos", _u64),                   # 5.17
        ("core_relo_rec_size", _u32),
        ("log_true_size", _u32),                # 6.4
        ("prog_token_fd", _s32),                # 6.9
        ("fd_array_cnt", _u32),                 # 6.14
        ("signature", _u64),                    # 6.18
        ("signature_size", _u32),
        ("keyring_id", _s32),
    ]


class ObjPinAttr(ctypes.Structure):
    """``BPF_OBJ_PIN`` and ``BPF_OBJ_GET``."""

    _fields_ = [
        ("pathname", _u64),
        ("bpf_fd", _u32),
        ("file_flags", _u32),                   # 4.15
        ("path_fd", _s32),                      # 6.5
    ]


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


class ProgRunAttr(ctypes.Structure):
    """``BPF_PROG_TEST_RUN``: the ``test`` member of ``union bpf_attr``."""

    _fields_ = [
        ("prog_fd", _u32),
        ("retval", _u32),
        ("data_size_in", _u32),
        ("data_size_out", _u32),
        ("data_in", _u64),
        ("data_out", _u64),
        ("repeat", _u32),
        ("duration", _u32),
        ("ctx_size_in", _u32),                  # 5.2
        ("ctx_size_out", _u32),
        ("ctx_in", _u64),
        ("ctx_out", _u64),
        ("flags", _u32),                        # 5.10
        ("cpu", _u32),
        ("batch_size", _u32),                   # 5.18
    ]


class GetIdAttr(ctypes.Structure):
    """``BPF_*_GET_NEXT_ID`` and ``BPF_*_GET_FD_BY_ID``.

    ``start_id`` doubles as ``prog_id``, ``map_id``, ``btf_id`` and ``link_id``.
    """

    _fields_ = [
        ("start_id", _u32),
        ("next_id", _u32),
        ("open_flags", _u32),                   # 4.15
        ("fd_by_id_token_fd", _s32),            # 6.17
    ]


BtfGetFdByIdAttr = GetIdAttr


class ObjGetInfoAttr(ctypes.Structure):
    """``BPF_OBJ_GET_INFO_BY_FD``: the ``info`` member of ``union bpf_attr``."""

    _fields_ = [("bpf_fd", _u32), ("info_len", _u32), ("info", _u64)]


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


class BtfLoadAttr(ctypes.Structure):
    """``BPF_BTF_LOAD``."""

    _fields_ = [
        ("btf", _u64),
        ("btf_log_buf", _u64),
        ("btf_size", _u32),
        ("btf_log_size", _u32),
        ("btf_log_level", _u32),
        ("btf_log_true_size", _u32),            # 6.4
        ("btf_flags", _u32),                    # 6.9
        ("btf_token_fd", _s32),                 # 6.9
    ]


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


class EnableStatsAttr(ctypes.Structure):
    """``BPF_ENABLE_STATS`` (5.8)."""

    _fields_ = [("type", _u32)]


class IterCreateAttr(ctypes.Structure):
    """``BPF_ITER_CREATE`` (5.8)."""

    _fields_ = [("link_fd", _u32), ("flags", _u32)]


class ProgBindMapAttr(ctypes.Structure):
    """``BPF_PROG_BIND_MAP`` (5.10)."""

    _fields_ = [("prog_fd", _u32), ("map_fd", _u32), ("flags", _u32)]


# --- OBJ_GET_INFO_BY_FD payloads ------------------------------------------------------------

class ProgInfo(ctypes.Structure):
    """``struct bpf_prog_info``."""

    _fields_ = [
        ("type", _u32),
        ("id", _u32),
        ("tag", _u8 * BPF_TAG_SIZE),
        ("jited_prog_len", _u32),
        ("xlated_prog_len", _u32),
        ("jited_prog_insns", _u64),
        ("xlated_prog_insns", _u64),
        ("load_time", _u64),                    # 4.15
        ("created_by_uid", _u32),
        ("nr_map_ids", _u32),
        ("map_ids", _u64),
        ("name", ctypes.c_char * BPF_OBJ_NAME_LEN),
        ("ifindex", _u32),                      # 4.16
        ("gpl_compatible", _u32, 1),            # 4.18
        ("netns_dev", _u64),
        ("netns_ino", _u64),
        ("nr_jited_ksyms", _u32),               # 4.18
        ("nr_jited_func_lens", _u32),
        ("jited_ksyms", _u64),
        ("jited_func_lens", _u64),
        ("btf_id", _u32),                       # 5.0
        ("func_info_rec_size", _u32),
        ("func_info", _u64),
        ("nr_func_info", _u32),
        ("nr_line_info", _u32),
        ("line_info", _u64),
        ("jited_line_info", _u64),
        ("nr_jited_line_info", _u32),
        ("line_info_rec_size", _u32),
        ("jited_line_info_rec_size", _u32),
        ("nr_prog_tags", _u32),
        ("prog_tags", _u64),
        ("run_time_ns", _u64),                  # 5.1
        ("run_cnt", _u64),
        ("recursion_misses", _u64),             # 5.12
        ("verified_insns", _u32),               # 5.16
        ("attach_btf_obj_id", _u32),            # 6.0
        ("attach_btf_id", _u32),
    ]


class MapInfo(ctypes.Structure):
    """``struct bpf_map_info``."""

    _fields_ = [
        ("type", _u32),
        ("id", _u32),
        ("key_size", _u32),
        ("value_size", _u32),
        ("max_entries", _u32),
        ("map_flags", _u32),
        ("name", ctypes.c_char * BPF_OBJ_NAME_LEN),   # 4.15
        ("ifindex", _u32),
        ("btf_vmlinux_value_type_id", _u32),   # 5.6
        ("netns_dev", _u64),
        ("netns_ino", _u64),
        ("btf_id", _u32),                       # 4.18
        ("btf_key_type_id", _u32),
        ("btf_value_type_id", _u32),
        ("btf_vmlinux_id", _u32),               # 6.9
        ("map_extra", _u64),                    # 5.16
        ("hash", _u64),                         # 6.18
        ("hash_size", _u32),
    ]


class BtfInfo(ctypes.Structure):
    """``struct bpf_btf_info``."""

    _fields_ = [
        ("btf", _u64),
        ("btf_size", _u32),
        ("id", _u32),
        ("name", _u64),                         # 5.11
        ("name_len", _u32),
        ("kernel_btf", _u32),
    ]


class _LinkInfoRawTracepoint(ctypes.Structure):
    _fields_ = [("tp_name", _u64), ("tp_name_len", _u32), ("cookie", _u64)]


class _LinkInfoTracing(ctypes.Structure):
    _fields_ = [("attach_type", _u32), ("target_obj_id", _u32), ("target_btf_id", _u32),
                ("cookie", _u64)]


class _LinkInfoCgroup(ctypes.Structure):
    _fields_ = [("cgroup_id", _u64), ("attach_type", _u32)]


class _LinkInfoIterMap(ctypes.Structure):
    _fields_ = [("map_id", _u32)]


class _LinkInfoIterCgroup(ctypes.Structure):
    _fields_ = [("cgroup_id", _u64), ("order", _u32)]


class _LinkInfoIterTask(ctypes.Structure):
    _fields_ = [("tid", _u32), ("pid", _u32)]


class _LinkInfoIterTarget(ctypes.Union):
    _fields_ = [("map", _LinkInfoIterMap)]


class _LinkInfoIterScope(ctypes.Union):
    _fields_ = [("cgroup", _LinkInfoIterCgroup), ("task", _LinkInfoIterTask)]


class _LinkInfoIter(ctypes.Structure):
    _anonymous_ = ("_t", "_s")
    _fields_ = [("target_name", _u64), ("target_name_len", _u32), ("_t", _LinkInfoIterTarget),
                ("_s", _LinkInfoIterScope)]


class _LinkInfoNetns(ctypes.Structure):
    _fields_ = [("netns_ino", _u32), ("attach_type", _u32)]


class _LinkInfoIfindex(ctypes.Structure):
    _fields_ = [("ifindex", _u32)]


class _LinkInfoMapId(ctypes.Structure):
    _fields_ = [("map_id", _u32)]


class _LinkInfoKprobeMulti(ctypes.Structure):
    _fields_ = [("addrs", _u64), ("count", _u32), ("flags", _u32), ("missed", _u64),
                ("cookies", _u64)]


class _LinkInfoUprobeMulti(ctypes.Structure):
    _fields_ = [("path", _u64), ("offsets", _u64), ("ref_ctr_offsets", _u64), ("cookies", _u64),
                ("path_size", _u32), ("count", _u32), ("flags", _u32), ("pid", _u32)]


class _LinkInfoPerfUprobe(ctypes.Structure):
    _fields_ = [("file_name", _u64), ("name_len", _u32), ("offset", _u32), ("cookie", _u64),
                ("ref_ctr_offset", _u64)]


class _LinkInfoPerfKprobe(ctypes.Structure):
    _fields_ = [("func_name", _u64), ("name_len", _u32), ("offset", _u32), ("addr", _u64),
                ("missed", _u64), ("cookie", _u64)]


class _LinkInfoPerfTracepoint(ctypes.Structure):
    _fields_ = [("tp_name", _u64), ("name_len", _u32), ("cookie", _u64)]


class _LinkInfoPerfEventEvent(ctypes.Structure):
    _fields_ = [("config", _u64), ("type", _u32), ("cookie", _u64)]


class _LinkInfoPerfEventU(ctypes.Union):
    _fields_ = [("uprobe", _LinkInfoPerfUprobe), ("kprobe", _LinkInfoPerfKprobe),
                ("tracepoint", _LinkInfoPerfTracepoint), ("event", _LinkInfoPerfEventEvent)]


class _LinkInfoPerfEvent(ctypes.Structure):
    _anonymous_ = ("_u",)
    _fields_ = [("type", _u32), ("_u", _LinkInfoPerfEventU)]


class _LinkInfoNetfilter(ctypes.Structure):
    _fields_ = [("pf", _u32), ("hooknum", _u32), ("priority", _s32), ("flags", _u32)]


class _LinkInfoIfindexAttach(ctypes.Structure):
    _fields_ = [("ifindex", _u32), ("attach_type", _u32)]


class _LinkInfoSockmap(ctypes.Structure):
    _fields_ = [("map_id", _u32), ("attach_type", _u32)]


class _LinkInfoU(ctypes.Union):
    _fields_ = [
        ("raw_tracepoint", _LinkInfoRawTracepoint),
        ("tracing", _LinkInfoTracing),
        ("cgroup", _LinkInfoCgroup),
        ("iter", _LinkInfoIter),
        ("netns", _LinkInfoNetns),
        ("xdp", _LinkInfoIfindex),
        ("struct_ops", _LinkInfoMapId),
        ("netfilter", _LinkInfoNetfilter),
        ("kprobe_multi", _LinkInfoKprobeMulti),
        ("uprobe_multi", _LinkInfoUprobeMulti),
        ("perf_event", _LinkInfoPerfEvent),
        ("tcx", _LinkInfoIfindexAttach),
        ("netkit", _LinkInfoIfindexAttach),
        ("sockmap", _LinkInfoSockmap),
    ]


class LinkInfo(ctypes.Structure):
    """``struct bpf_link_info``."""

    _anonymous_ = ("_u",)
    _fields_ = [("type", _u32), ("id", _u32), ("prog_id", _u32), ("_u", _LinkInfoU)]
