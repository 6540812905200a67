"""Program types from ELF section names, following the ``SEC()`` conventions of libbpf.

A section name such as ``"kprobe/do_unlinkat"`` says what a program is (its
:class:`~ebpf.ProgramType`), how the kernel expects it to be attached
(:class:`~ebpf.AttachType`), load flags (sleepable, XDP fragments) and, after the first ``/``,
what it attaches to. A leading ``?`` marks a program that is not loaded unless asked for.

:func:`parse_section_name` makes no system calls: the same name gives the same answer on every
host. Unknown names give :attr:`ProgramType.UNSPEC` rather than an error.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from .types import AttachType as A, ProgramFlags, ProgramType as P

__all__ = ["SectionInfo", "parse_section_name"]

_NONE: Final = ProgramFlags(0)
_SLEEP: Final = ProgramFlags.SLEEPABLE
_FRAGS: Final = ProgramFlags.XDP_HAS_FRAGS


class SectionInfo(NamedTuple):
    """What a section name says about the programs in it.

    Attributes:
        type: the program type (``UNSPEC`` for names this table does not know).
        attach_type: the expected attach type, or None.
        attach_to: the attach target: the text after the prefix and ``/`` (may be empty).
        flags: load flags implied by the name (sleepable, XDP fragments).
        autoload: False if the name starts with ``?``.
        prefix: the matched table entry, e.g. ``"kprobe"`` (empty when unknown).
    """

    type: P
    attach_type: A | None
    attach_to: str
    flags: ProgramFlags
    autoload: bool
    prefix: str


# (prefix, type, attach type, flags, takes a target after '/')
_Def = tuple[str, P, A | None, ProgramFlags, bool]

_DEFS: Final[tuple[_Def, ...]] = (
    ("socket", P.SOCKET_FILTER, None, _NONE, False),
    ("sk_reuseport/migrate", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT_OR_MIGRATE, _NONE, False),
    ("sk_reuseport", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT, _NONE, False),
    ("kprobe", P.KPROBE, None, _NONE, True),
    ("uprobe", P.KPROBE, None, _NONE, True),
    ("uprobe.s", P.KPROBE, None, _SLEEP, True),
    ("kretprobe", P.KPROBE, None, _NONE, True),
    ("uretprobe", P.KPROBE, None, _NONE, True),
    ("uretprobe.s", P.KPROBE, None, _SLEEP, True),
    ("kprobe.multi", P.KPROBE, A.TRACE_KPROBE_MULTI, _NONE, True),
    ("kretprobe.multi", P.KPROBE, A.TRACE_KPROBE_MULTI, _NONE, True),
    ("kprobe.session", P.KPROBE, A.TRACE_KPROBE_SESSION, _NONE, True),
    ("uprobe.multi", P.KPROBE, A.TRACE_UPROBE_MULTI, _NONE, True),
    ("uretprobe.multi", P.KPROBE, A.TRACE_UPROBE_MULTI, _NONE, True),
    ("uprobe.multi.s", P.KPROBE, A.TRACE_UPROBE_MULTI, _SLEEP, True),
    ("uretprobe.multi.s", P.KPROBE, A.TRACE_UPROBE_MULTI, _SLEEP, True),
    ("uprobe.session", P.KPROBE, A.TRACE_UPROBE_SESSION, _NONE, True),
    ("uprobe.session.s", P.KPROBE, A.TRACE_UPROBE_SESSION, _SLEEP, True),
    ("ksyscall", P.KPROBE, None, _NONE, True),
    ("kretsyscall", P.KPROBE, None, _NONE, True),
    ("usdt", P.KPROBE, None, _NONE, True),
    ("usdt.s", P.KPROBE, None, _SLEEP, True),
    ("tc/ingress", P.SCHED_CLS, A.TCX_INGRESS, _NONE, False),
    ("tc/egress", P.SCHED_CLS, A.TCX_EGRESS, _NONE, False),
    ("tcx/ingress", P.SCHED_CLS, A.TCX_INGRESS, _NONE, False),
    ("tcx/egress", P.SCHED_CLS, A.TCX_EGRESS, _NONE, False),
    ("netkit/primary", P.SCHED_CLS, A.NETKIT_PRIMARY, _NONE, False),
    ("netkit/peer", P.SCHED_CLS, A.NETKIT_PEER, _NONE, False),
    ("tc", P.SCHED_CLS, None, _NONE, False),
    ("classifier", P.SCHED_CLS, None, _NONE, False),
    ("action", P.SCHED_ACT, None, _NONE, False),
    ("tracepoint", P.TRACEPOINT, None, _NONE, True),
    ("tp", P.TRACEPOINT, None, _NONE, True),
    ("raw_tracepoint", P.RAW_TRACEPOINT, None, _NONE, True),
    ("raw_tp", P.RAW_TRACEPOINT, None, _NONE, True),
    ("raw_tracepoint.w", P.RAW_TRACEPOINT_WRITABLE, None, _NONE, True),
    ("raw_tp.w", P.RAW_TRACEPOINT_WRITABLE, None, _NONE, True),
    ("tp_btf", P.TRACING, A.TRACE_RAW_TP, _NONE, True),
    ("fentry", P.TRACING, A.TRACE_FENTRY, _NONE, True),
    ("fmod_ret", P.TRACING, A.MODIFY_RETURN, _NONE, True),
    ("fexit", P.TRACING, A.TRACE_FEXIT, _NONE, True),
    ("fentry.s", P.TRACING, A.TRACE_FENTRY, _SLEEP, True),
    ("fmod_ret.s", P.TRACING, A.MODIFY_RETURN, _SLEEP, True),
    ("fexit.s", P.TRACING, A.TRACE_FEXIT, _SLEEP, True),
    ("freplace", P.EXT, None, _NONE, True),
    ("lsm", P.LSM, A.LSM_MAC, _NONE, True),
    ("lsm.s", P.LSM, A.LSM_MAC, _SLEEP, True),
    ("lsm_cgroup", P.LSM, A.LSM_CGROUP, _NONE, True),
    ("iter", P.TRACING, A.TRACE_ITER, _NONE, True),
    ("iter.s", P.TRACING, A.TRACE_ITER, _SLEEP, True),
    ("syscall", P.SYSCALL, None, _SLEEP, False),
    ("xdp.frags/devmap", P.XDP, A.XDP_DEVMAP, _FRAGS, False),
    ("xdp/devmap", P.XDP, A.XDP_DEVMAP, _NONE, False),
    ("xdp.frags/cpumap", P.XDP, A.XDP_CPUMAP, _FRAGS, False),
    ("xdp/cpumap", P.XDP, A.XDP_CPUMAP, _NONE, False),
    ("xdp.frags", P.XDP, A.XDP, _FRAGS, False),
    ("xdp", P.XDP, A.XDP, _NONE, False),
    ("perf_event", P.PERF_EVENT, None, _NONE, False),
    ("lwt_in", P.LWT_IN, None, _NONE, False),
    ("lwt_out", P.LWT_OUT, None, _NONE, False),
    ("lwt_xmit", P.LWT_XMIT, None, _NONE, False),
    ("lwt_seg6local", P.LWT_SEG6LOCAL, None, _NONE, False),
    ("sockops", P.SOCK_OPS, A.CGROUP_SOCK_OPS, _NONE, False),
    ("sk_skb/stream_parser", P.SK_SKB, A.SK_SKB_STREAM_PARSER, _NONE, False),
    ("sk_skb/stream_verdict", P.SK_SKB, A.SK_SKB_STREAM_VERDICT, _NONE, False),
    ("sk_skb/verdict", P.SK_SKB, A.SK_SKB_VERDICT, _NONE, False),
    ("sk_skb", P.SK_SKB, None, _NONE, False),
    ("sk_msg", P.SK_MSG, A.SK_MSG_VERDICT, _NONE, False),
    ("lirc_mode2", P.LIRC_MODE2, A.LIRC_MODE2, _NONE, False),
    ("flow_dissector", P.FLOW_DISSECTOR, A.FLOW_DISSECTOR, _NONE, False),
    ("cgroup_skb/ingress", P.CGROUP_SKB, A.CGROUP_INET_INGRESS, _NONE, False),
    ("cgroup_skb/egress", P.CGROUP_SKB, A.CGROUP_INET_EGRESS, _NONE, False),
    ("cgroup/skb", P.CGROUP_SKB, None, _NONE, False),
    ("cgroup/sock_create", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, _NONE, False),
    ("cgroup/sock_release", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_RELEASE, _NONE, False),
    ("cgroup/sock", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, _NONE, False),
    ("cgroup/post_bind4", P.CGROUP_SOCK, A.CGROUP_INET4_POST_BIND, _NONE, False),
    ("cgroup/post_bind6", P.CGROUP_SOCK, A.CGROUP_INET6_POST_BIND, _NONE, False),
    ("cgroup/bind4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_BIND, _NONE, False),
    ("cgroup/bind6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_BIND, _NONE, False),
    ("cgroup/connect4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_CONNECT, _NONE, False),
    ("cgroup/connect6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_CONNECT, _NONE, False),
    ("cgroup/connect_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_CONNECT, _NONE, False),
    ("cgroup/sendmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_SENDMSG, _NONE, False),
    ("cgroup/sendmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_SENDMSG, _NONE, False),
    ("cgroup/sendmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_SENDMSG, _NONE, False),
    ("cgroup/recvmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_RECVMSG, _NONE, False),
    ("cgroup/recvmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_RECVMSG, _NONE, False),
    ("cgroup/recvmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_RECVMSG, _NONE, False),
    ("cgroup/getpeername4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETPEERNAME, _NONE, False),
    ("cgroup/getpeername6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETPEERNAME, _NONE, False),
    ("cgroup/getpeername_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETPEERNAME, _NONE, False),
    ("cgroup/getsockname4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETSOCKNAME, _NONE, False),
    ("cgroup/getsockname6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETSOCKNAME, _NONE, False),
    ("cgroup/getsockname_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETSOCKNAME, _NONE, False),
    ("cgroup/sysctl", P.CGROUP_SYSCTL, A.CGROUP_SYSCTL, _NONE, False),
    ("cgroup/getsockopt", P.CGROUP_SOCKOPT, A.CGROUP_GETSOCKOPT, _NONE, False),
    ("cgroup/setsockopt", P.CGROUP_SOCKOPT, A.CGROUP_SETSOCKOPT, _NONE, False),
    ("cgroup/dev", P.CGROUP_DEVICE, A.CGROUP_DEVICE, _NONE, False),
    ("struct_ops", P.STRUCT_OPS, None, _NONE, True),
    ("struct_ops.s", P.STRUCT_OPS, None, _SLEEP, True),
    ("sk_lookup", P.SK_LOOKUP, A.SK_LOOKUP, _NONE, False),
    ("netfilter", P.NETFILTER, A.NETFILTER, _NONE, False),
)

_EXACT: Final = {d[0]: d for d in _DEFS}


def parse_section_name(name: str) -> SectionInfo:
    """What ``name`` (an ELF section name) says about its programs.

    Exact names (``"xdp"``, ``"cgroup/connect4"``) are looked up first; then prefixes that take
    a target (``"kprobe/<function>"``, ``"tracepoint/<category>/<name>"``,
    ``"uprobe/<binary>:<symbol>"``), and finally the legacy ``"<prefix>/<anything>"`` form of
    the others (``"xdp/foo"``, ``"socket1"`` is *not* accepted). Unknown names give
    ``ProgramType.UNSPEC``.
    """
    autoload = not name.startswith("?")
    bare = name if autoload else name[1:]
    d = _EXACT.get(bare)
    target = ""
    if d is None:
        best: _Def | None = None
        for cand in _DEFS:
            if bare.startswith(cand[0] + "/") and (best is None or len(cand[0]) > len(best[0])):
                best = cand
        if best is not None:
            d = best
            if best[4]:
                target = bare[len(best[0]) + 1:]
    if d is None:
        return SectionInfo(P.UNSPEC, None, "", _NONE, autoload, "")
    return SectionInfo(d[1], d[2], target, d[3], autoload, d[0])
