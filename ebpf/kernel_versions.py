"""The first mainline kernel release that has each map type, program type, attach type, link
type and helper function.

These versions only name the feature in an :class:`~ebpf.errors.UnsupportedFeatureError`; what a
kernel supports is always decided by a probe (distributions backport features and compile
others out). ``None`` marks a value that is not a feature (``UNSPEC``).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Final

from .asm.helpers import Helper
from .types import AttachType, LinkType, MapType, ProgramType

__all__ = [
    "ATTACH_TYPE_VERSIONS",
    "LINK_TYPE_VERSIONS",
    "MAP_TYPE_VERSIONS",
    "PROGRAM_TYPE_VERSIONS",
    "helper_version",
    "predates",
    "version_tuple",
]

M, P, A, L = MapType, ProgramType, AttachType, LinkType

MAP_TYPE_VERSIONS: Final[dict[MapType, str | None]] = {
    M.UNSPEC: None,
    M.HASH: "3.19",
    M.ARRAY: "3.19",
    M.PROG_ARRAY: "4.2",
    M.PERF_EVENT_ARRAY: "4.3",
    M.PERCPU_HASH: "4.6",
    M.PERCPU_ARRAY: "4.6",
    M.STACK_TRACE: "4.6",
    M.CGROUP_ARRAY: "4.8",
    M.LRU_HASH: "4.10",
    M.LRU_PERCPU_HASH: "4.10",
    M.LPM_TRIE: "4.11",
    M.ARRAY_OF_MAPS: "4.12",
    M.HASH_OF_MAPS: "4.12",
    M.DEVMAP: "4.14",
    M.SOCKMAP: "4.14",
    M.CPUMAP: "4.15",
    M.XSKMAP: "4.18",
    M.SOCKHASH: "4.18",
    M.CGROUP_STORAGE: "4.19",
    M.REUSEPORT_SOCKARRAY: "4.19",
    M.PERCPU_CGROUP_STORAGE: "4.20",
    M.QUEUE: "4.20",
    M.STACK: "4.20",
    M.SK_STORAGE: "5.2",
    M.DEVMAP_HASH: "5.4",
    M.STRUCT_OPS: "5.6",
    M.RINGBUF: "5.8",
    M.INODE_STORAGE: "5.10",
    M.TASK_STORAGE: "5.11",
    M.BLOOM_FILTER: "5.16",
    M.USER_RINGBUF: "6.1",
    M.CGRP_STORAGE: "6.2",
    M.ARENA: "6.9",
}

PROGRAM_TYPE_VERSIONS: Final[dict[ProgramType, str | None]] = {
    P.UNSPEC: None,
    P.SOCKET_FILTER: "3.19",
    P.KPROBE: "4.1",
    P.SCHED_CLS: "4.1",
    P.SCHED_ACT: "4.1",
    P.TRACEPOINT: "4.7",
    P.XDP: "4.8",
    P.PERF_EVENT: "4.9",
    P.CGROUP_SKB: "4.10",
    P.CGROUP_SOCK: "4.10",
    P.LWT_IN: "4.10",
    P.LWT_OUT: "4.10",
    P.LWT_XMIT: "4.10",
    P.SOCK_OPS: "4.13",
    P.SK_SKB: "4.14",
    P.CGROUP_DEVICE: "4.15",
    P.SK_MSG: "4.17",
    P.RAW_TRACEPOINT: "4.17",
    P.CGROUP_SOCK_ADDR: "4.17",
    P.LWT_SEG6LOCAL: "4.18",
    P.LIRC_MODE2: "4.18",
    P.SK_REUSEPORT: "4.19",
    P.FLOW_DISSECTOR: "4.20",
    P.CGROUP_SYSCTL: "5.2",
    P.RAW_TRACEPOINT_WRITABLE: "5.2",
    P.CGROUP_SOCKOPT: "5.3",
    P.TRACING: "5.5",
    P.STRUCT_OPS: "5.6",
    P.EXT: "5.6",
    P.LSM: "5.7",
    P.SK_LOOKUP: "5.9",
    P.SYSCALL: "5.14",
    P.NETFILTER: "6.4",
}

ATTACH_TYPE_VERSIONS: Final[dict[AttachType, str]] = {
    A.CGROUP_INET_INGRESS: "4.10",
    A.CGROUP_INET_EGRESS: "4.10",
    A.CGROUP_INET_SOCK_CREATE: "4.10",
    A.CGROUP_SOCK_OPS: "4.13",
    A.SK_SKB_STREAM_PARSER: "4.14",
    A.SK_SKB_STREAM_VERDICT: "4.14",
    A.CGROUP_DEVICE: "4.15",
    A.SK_MSG_VERDICT: "4.17",
    A.CGROUP_INET4_BIND: "4.17",
    A.CGROUP_INET6_BIND: "4.17",
    A.CGROUP_INET4_CONNECT: "4.17",
    A.CGROUP_INET6_CONNECT: "4.17",
    A.CGROUP_INET4_POST_BIND: "4.17",
    A.CGROUP_INET6_POST_BIND: "4.17",
    A.CGROUP_UDP4_SENDMSG: "4.18",
    A.CGROUP_UDP6_SENDMSG: "4.18",
    A.LIRC_MODE2: "4.18",
    A.FLOW_DISSECTOR: "4.20",
    A.CGROUP_SYSCTL: "5.2",
    A.CGROUP_UDP4_RECVMSG: "5.2",
    A.CGROUP_UDP6_RECVMSG: "5.2",
    A.CGROUP_GETSOCKOPT: "5.3",
    A.CGROUP_SETSOCKOPT: "5.3",
    A.TRACE_RAW_TP: "5.5",
    A.TRACE_FENTRY: "5.5",
    A.TRACE_FEXIT: "5.5",
    A.MODIFY_RETURN: "5.7",
    A.LSM_MAC: "5.7",
    A.TRACE_ITER: "5.8",
    A.CGROUP_INET4_GETPEERNAME: "5.8",
    A.CGROUP_INET6_GETPEERNAME: "5.8",
    A.CGROUP_INET4_GETSOCKNAME: "5.8",
    A.CGROUP_INET6_GETSOCKNAME: "5.8",
    A.XDP_DEVMAP: "5.8",
    A.CGROUP_INET_SOCK_RELEASE: "5.9",
    A.XDP_CPUMAP: "5.9",
    A.SK_LOOKUP: "5.9",
    A.XDP: "5.9",
    A.SK_SKB_VERDICT: "5.13",
    A.SK_REUSEPORT_SELECT: "5.14",
    A.SK_REUSEPORT_SELECT_OR_MIGRATE: "5.14",
    A.PERF_EVENT: "5.15",
    A.TRACE_KPROBE_MULTI: "5.18",
    A.LSM_CGROUP: "6.0",
    A.STRUCT_OPS: "6.4",
    A.NETFILTER: "6.4",
    A.TCX_INGRESS: "6.6",
    A.TCX_EGRESS: "6.6",
    A.TRACE_UPROBE_MULTI: "6.6",
    A.CGROUP_UNIX_CONNECT: "6.7",
    A.CGROUP_UNIX_SENDMSG: "6.7",
    A.CGROUP_UNIX_RECVMSG: "6.7",
    A.CGROUP_UNIX_GETPEERNAME: "6.7",
    A.CGROUP_UNIX_GETSOCKNAME: "6.7",
    A.NETKIT_PRIMARY: "6.7",
    A.NETKIT_PEER: "6.7",
    A.TRACE_KPROBE_SESSION: "6.10",
    A.TRACE_UPROBE_SESSION: "6.13",
}

# The release from which each kind of bpf_link can be made the way its probe makes it (the
# enum value itself may be older: cgroup links came before link ids and infos, 5.8).
LINK_TYPE_VERSIONS: Final[dict[LinkType, str | None]] = {
    L.UNSPEC: None,
    L.RAW_TRACEPOINT: "5.8",     # BPF_RAW_TRACEPOINT_OPEN returns a bpf_link
    L.TRACING: "5.19",           # BPF_LINK_CREATE for fentry/fexit/fmod_ret/lsm
    L.CGROUP: "5.7",
    L.ITER: "5.8",
    L.NETNS: "5.8",
    L.XDP: "5.9",
    L.PERF_EVENT: "5.15",
    L.KPROBE_MULTI: "5.18",
    L.STRUCT_OPS: "6.4",         # struct_ops maps attached through BPF_LINK_CREATE
    L.NETFILTER: "6.4",
    L.TCX: "6.6",
    L.UPROBE_MULTI: "6.6",
    L.NETKIT: "6.7",
    L.SOCKMAP: "6.10",
}

# Helper ids are handed out in the order helpers are merged, so the release of a helper is
# that of the last range below starting at or before its id.
_HELPER_RANGES: Final[tuple[tuple[int, str], ...]] = (
    (1, "3.19"),     # map_lookup_elem
    (4, "4.1"),      # probe_read
    (12, "4.2"),     # tail_call
    (17, "4.3"),     # get_cgroup_classid
    (23, "4.4"),     # redirect
    (26, "4.5"),     # skb_load_bytes
    (27, "4.6"),     # get_stackid
    (31, "4.8"),     # skb_change_proto
    (37, "4.9"),     # current_task_under_cgroup
    (42, "4.10"),    # get_numa_node_id
    (45, "4.11"),    # probe_read_str
    (46, "4.12"),    # get_socket_cookie
    (48, "4.13"),    # set_hash
    (51, "4.14"),    # redirect_map
    (54, "4.15"),    # xdp_adjust_meta
    (58, "4.16"),    # override_return
    (60, "4.17"),    # msg_redirect_map
    (65, "4.18"),    # xdp_adjust_tail
    (81, "4.19"),    # get_local_storage
    (84, "4.20"),    # sk_lookup_tcp
    (91, "5.0"),     # msg_pop_data
    (93, "5.1"),     # spin_lock
    (99, "5.2"),     # skc_lookup_tcp
    (109, "5.3"),    # send_signal
    (110, "5.4"),    # tcp_gen_syncookie
    (111, "5.5"),    # skb_output
    (116, "5.6"),    # tcp_send_ack
    (119, "5.7"),    # read_branch_records
    (125, "5.8"),    # ktime_get_boot_ns
    (136, "5.9"),    # skc_to_tcp6_sock
    (142, "5.10"),   # load_hdr_opt
    (156, "5.11"),   # task_storage_get
    (163, "5.12"),   # check_mtu
    (164, "5.13"),   # for_each_map_elem
    (166, "5.14"),   # sys_bpf
    (169, "5.15"),   # timer_init
    (176, "5.16"),   # get_branch_snapshot
    (180, "5.17"),   # find_vma
    (186, "5.18"),   # get_retval
    (194, "5.19"),   # kptr_xchg
    (204, "6.0"),    # tcp_raw_gen_syncookie_ipv4
    (208, "6.1"),    # ktime_get_tai_ns
    (210, "6.2"),    # cgrp_storage_get
)
_HELPER_STARTS: Final = tuple(start for start, _ in _HELPER_RANGES)


def helper_version(helper: Helper | int) -> str | None:
    """The first release with helper ``helper`` (None for ids this table does not know)."""
    hid = int(helper)
    if hid < 1 or hid > max(Helper):
        return None
    return _HELPER_RANGES[bisect_right(_HELPER_STARTS, hid) - 1][1]


def predates(version: str | None) -> bool:
    """Whether the running kernel's release is older than ``version`` (False for None): then a
    refusal of the feature is the kernel being too old, not a bad argument."""
    if version is None:
        return False
    from .internal.kernel import kernel_version

    return tuple(kernel_version()) < version_tuple(version)


def version_tuple(version: str) -> tuple[int, ...]:
    """``"5.10"`` as ``(5, 10)``, for comparing versions."""
    return tuple(int(part) for part in version.split("."))
