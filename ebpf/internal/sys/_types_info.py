"""ctypes layouts of the ``BPF_OBJ_GET_INFO_BY_FD`` payloads, and of ``BPF_ENABLE_STATS``.

Imported on first use of one of its names (see :mod:`ebpf.internal.sys`): loading objects
does not need these. ``struct bpf_btf_info`` is in :mod:`._types`, because the BTF handle
module imports it. Conventions as in :mod:`._types`.
"""

from __future__ import annotations

import ctypes

from ._types import BPF_OBJ_NAME_LEN, BPF_TAG_SIZE

__all__ = ["EnableStatsAttr", "LinkInfo", "MapInfo", "ProgInfo"]

_u8 = ctypes.c_uint8
_u32 = ctypes.c_uint32
_s32 = ctypes.c_int32
_u64 = ctypes.c_uint64


class EnableStatsAttr(ctypes.Structure):
    """``BPF_ENABLE_STATS`` (5.8)."""

    _fields_ = [("type", _u32)]


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
