"""Attach types: does the kernel know attach type X for programs of type Y?

How each is decided, none of them attaching anything:

- the attach types of ``BPF_PROG_ATTACH`` (cgroup hooks, sockmap, flow dissector, lirc...):
  ``BPF_PROG_ATTACH`` with a bad program descriptor. A kernel that knows the attach type maps
  it to a program type and then fails to find the program (``EBADF``); one that does not fails
  first (``EINVAL``). The program type itself is probed first;
- attach types of one bpf_link family (tcx, netkit, XDP, perf_event, kprobe_multi and session,
  uprobe_multi and session, netfilter, struct_ops): that family's link probe;
- tracing and LSM attach types, which the kernel checks when it loads the program: a program
  with that attach type and a target from the kernel's BTF is loaded;
- ``XDP_DEVMAP``/``XDP_CPUMAP``: the program loads and devmap/cpumap entries can carry a program
  (an 8-byte value);
- ``SK_REUSEPORT_SELECT(_OR_MIGRATE)``: the program loads and reads ``migrating_sk``, which came
  with them.
"""

from __future__ import annotations

import errno

from .. import asm
from ..asm import R0, R1, Instructions
from ..errors import EbpfError, NotSupportedError, SyscallError, UnsupportedFeatureError
from ..internal.sys import MapCreateAttr, ProgAttachAttr, commands
from ..kernel_versions import ATTACH_TYPE_VERSIONS
from ..types import AttachType, MapType, ProgramType
from ._links import LINK_ATTACH_TYPES, link_attach_type, reason_of
from ._probe import (
    RETURN_0,
    U32_MAX,
    ProbeCache,
    ProbeProgram,
    absent,
    encode,
    errno_name,
    try_load,
)
from ._programs import check_program_type, have_program_type
from ._tracing import have_tp_btf, tracing_target, trampoline_refusal

__all__ = ["ATTACH_PROGRAM_TYPES", "have_attach_type"]

P, A = ProgramType, AttachType

#: The program types that use each attach type.
ATTACH_PROGRAM_TYPES: dict[AttachType, tuple[ProgramType, ...]] = {
    A.CGROUP_INET_INGRESS: (P.CGROUP_SKB,),
    A.CGROUP_INET_EGRESS: (P.CGROUP_SKB,),
    A.CGROUP_INET_SOCK_CREATE: (P.CGROUP_SOCK,),
    A.CGROUP_SOCK_OPS: (P.SOCK_OPS,),
    A.SK_SKB_STREAM_PARSER: (P.SK_SKB,),
    A.SK_SKB_STREAM_VERDICT: (P.SK_SKB,),
    A.CGROUP_DEVICE: (P.CGROUP_DEVICE,),
    A.SK_MSG_VERDICT: (P.SK_MSG,),
    A.CGROUP_INET4_BIND: (P.CGROUP_SOCK_ADDR,),
    A.CGROUP_INET6_BIND: (P.CGROUP_SOCK_ADDR,),
    A.CGROUP_INET4_CONNECT: (P.CGROUP_SOCK_ADDR,),
    A.CGROUP_INET6_CONNECT: (P.CGROUP_SOCK_ADDR,),
    A.CGROUP_INET4_POST_BIND: (P.CGROUP_SOCK,),
    A.CGROUP_INET6_POST_BIND: (P.CGROUP_SOCK,),
    A.CGROUP_UDP4_SENDMSG: (P.CGROUP_SOCK_ADDR,),
    A.CGROUP_UDP6_SENDMSG: (P.CGROUP_SOCK_ADDR,),
    A.LIRC_MODE2: (P.LIRC_MODE2,),
    A.FLOW_DISSECTOR: (P.FLOW_DISSECTOR,),
    A.CGROUP_SYSCTL: (P.CGROUP_SYSCTL,),
    A.CGROUP_UDP4_RECVMSG: (P.CGROUP_SOCK_ADDR,),
    A.CGROUP_UDP6_RECVMSG: (P.CGROUP_SOCK_ADDR,),
    A.CGROUP_GETSOCKOPT: (P.CGROUP_SOCKOPT,),
    A.CGROUP_SETSOCKOPT: (P.CGROUP_SOCKOPT,),
    A.TRACE_RAW_TP: (P.TRACING,),
    A.TRACE_FENTRY: (P.TRACING,),
    A.TRACE_FEXIT: (P.TRACING,),
    A.MODIFY_RETURN: (P.TRACING,),
    A.LSM_MAC: (P.LSM,),
    A.TRACE_ITER: (P.TRACING,),
    A.CGROUP_INET4_GETPEERNAME: (P.CGROUP_SOCK_ADDR,),
    A.CGROUP_INET6_GETPEERNAME: (P.CGROUP_SOCK_ADDR,),
    A.CGROUP_INET4_GETSOCKNAME: (P.CGROUP_SOCK_ADDR,),
    A.CGROUP_INET6_GETSOCKNAME: (P.CGROUP_SOCK_ADDR,),
    A.XDP_DEVMAP: (P.XDP,),
    A.CGROUP_INET_SOCK_RELEASE: (P.CGROUP_SOCK,),
    A.XDP_CPUMAP: (P.XDP,),
    A.SK_LOOKUP: (P.SK_LOOKUP,),
    A.XDP: (P.XDP,),
    A.SK_SKB_VERDICT: (P.SK_SKB,),
    A.SK_REUSEPORT_SELECT: (P.SK_REUSEPORT,),
    A.SK_REUSEPORT_SELECT_OR_MIGRATE: (P.SK_REUSEPORT,),
    A.PERF_EVENT: (P.PERF_EVENT, P.TRACEPOINT, P.KPROBE),
    A.TRACE_KPROBE_MULTI: (P.KPROBE,),
    A.LSM_CGROUP: (P.LSM,),
    A.STRUCT_OPS: (P.STRUCT_OPS,),
    A.NETFILTER: (P.NETFILTER,),
    A.TCX_INGRESS: (P.SCHED_CLS,),
    A.TCX_EGRESS: (P.SCHED_CLS,),
    A.TRACE_UPROBE_MULTI: (P.KPROBE,),
    A.CGROUP_UNIX_CONNECT: (P.CGROUP_SOCK_ADDR,),
    A.CGROUP_UNIX_SENDMSG: (P.CGROUP_SOCK_ADDR,),
    A.CGROUP_UNIX_RECVMSG: (P.CGROUP_SOCK_ADDR,),
    A.CGROUP_UNIX_GETPEERNAME: (P.CGROUP_SOCK_ADDR,),
    A.CGROUP_UNIX_GETSOCKNAME: (P.CGROUP_SOCK_ADDR,),
    A.NETKIT_PRIMARY: (P.SCHED_CLS,),
    A.NETKIT_PEER: (P.SCHED_CLS,),
    A.TRACE_KPROBE_SESSION: (P.KPROBE,),
    A.TRACE_UPROBE_SESSION: (P.KPROBE,),
}

_TRAMPOLINE_ATTACH = frozenset({A.TRACE_FENTRY, A.TRACE_FEXIT, A.MODIFY_RETURN, A.LSM_MAC,
                                A.LSM_CGROUP})

# r0 = ctx->migrating_sk (struct sk_reuseport_md, offset 48); r0 = 0; exit
_READ_MIGRATING_SK = encode(Instructions([
    asm.load_mem(R0, R1, 48, asm.Size.DW), asm.mov.imm(R0, 0), asm.exit()]))


def _name(pt: ProgramType, at: AttachType) -> str:
    return f"BPF_{at.name} for BPF_PROG_TYPE_{pt.name}"


def _via_prog_attach(pt: ProgramType, at: AttachType) -> None:
    have_program_type(pt)
    attr = ProgAttachAttr(target_fd=U32_MAX, attach_bpf_fd=U32_MAX, attach_type=at)
    try:
        commands.prog_attach(attr, f"probe attach type {at.name}")
    except SyscallError as e:
        if e.errno == errno.EBADF:
            return
        if e.errno == errno.EINVAL:
            absent(f"BPF_PROG_ATTACH does not know the attach type ({errno_name(e.errno)})", e,
                   needs_privileges=False)
        raise
    raise EbpfError(f"probe attach type {at.name}: BPF_PROG_ATTACH accepted a bad descriptor")


def _via_load(pt: ProgramType, at: AttachType, insns: bytes, what: str) -> None:
    if pt in (P.TRACING, P.LSM):
        program = ProbeProgram(pt, insns, expected_attach_type=at,
                               attach_btf_id=tracing_target(at, what=what))
    else:
        program = ProbeProgram(pt, insns, expected_attach_type=at)
    loaded = try_load(program, what)
    if loaded.fd is not None:
        loaded.fd.close()
        return
    err = loaded.error
    assert err is not None
    if at in _TRAMPOLINE_ATTACH:
        trampoline_refusal(loaded, _name(pt, at), ATTACH_TYPE_VERSIONS[at], what)
    if err.errno in (errno.EINVAL, errno.EACCES, errno.E2BIG, errno.ENOTSUP):
        absent(f"the kernel does not load such programs ({loaded.describe()})", err)
    loaded.fail(what)


def _via_map_value(at: AttachType) -> None:
    """Devmap and cpumap entries that carry a program: a map with an 8-byte value."""
    mt = MapType.DEVMAP if at == A.XDP_DEVMAP else MapType.CPUMAP
    attr = MapCreateAttr(map_type=mt, key_size=4, value_size=8, max_entries=1)
    try:
        commands.map_create(attr, f"probe {at.name}").close()
    except SyscallError as e:
        if e.errno == errno.EINVAL:
            absent(f"{mt.name} entries cannot carry a program (an 8-byte value: EINVAL)", e,
                   needs_privileges=False)
        raise


def _probe_attach_type(key: tuple[ProgramType, AttachType]) -> None:
    pt, at = key
    what = f"probe attach type {at.name} for {pt.name}"
    if at in LINK_ATTACH_TYPES:
        try:
            link_attach_type(at)
        except UnsupportedFeatureError as e:   # named after the link; keep the reason
            raise NotSupportedError(reason_of(e)) from e
    elif at == A.TRACE_RAW_TP:
        try:
            have_tp_btf()
        except UnsupportedFeatureError as e:
            raise NotSupportedError(reason_of(e)) from e
    elif pt in (P.TRACING, P.LSM):
        _via_load(pt, at, RETURN_0, what)
    elif at in (A.XDP_DEVMAP, A.XDP_CPUMAP):
        _via_load(pt, at, RETURN_0, what)
        _via_map_value(at)
    elif pt == P.SK_REUSEPORT:
        _via_load(pt, at, _READ_MIGRATING_SK, what)
    else:
        _via_prog_attach(pt, at)


_attach_types: ProbeCache[tuple[ProgramType, AttachType]] = ProbeCache(
    lambda key: (_name(*key), ATTACH_TYPE_VERSIONS[key[1]]), _probe_attach_type)


def have_attach_type(program_type: ProgramType, attach_type: AttachType) -> None:
    """Probe: the kernel knows ``attach_type`` for programs of ``program_type``.

    Nothing is attached (see the module's documentation for how each is decided). TRACING and
    LSM attach types that need BPF trampolines (fentry, fexit, fmod_ret, lsm, lsm_cgroup) are
    not supported where the kernel refuses trampolines.

    Raises:
        UnsupportedFeatureError: the kernel lacks the attach type (or the program type).
        EbpfError: the pair is not one the kernel has (``attach_type`` belongs to another
            program type), or the probe could not decide (nothing is cached then).
    """
    pt = check_program_type(program_type)
    try:
        at = AttachType(attach_type)
    except ValueError:
        raise EbpfError(f"{attach_type!r} is not an attach type this library knows") from None
    if pt not in ATTACH_PROGRAM_TYPES[at]:
        users = ", ".join(p.name for p in ATTACH_PROGRAM_TYPES[at])
        raise EbpfError(f"attach type {at.name} is for {users} programs, not {pt.name}")
    _attach_types((pt, at))
