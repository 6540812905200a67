"""bpf_link families: can the kernel make a link of each kind?

Each probe loads a program of the family and asks ``BPF_LINK_CREATE`` for a link to a target
that cannot exist (a bad file descriptor or interface index, a netfilter hook number out of
range, ...). A kernel that knows the family looks at the target and fails with an error only
its handler returns (``EBADF``, ``ENODEV``, ``EPROTO``...); a kernel that does not fails
earlier with ``EINVAL``. Nothing is attached. Where no such error exists the probe makes a link
nobody can reach: an iterator link (which runs only when read), a raw tracepoint and a fentry
link on kernel functions that only ``BPF_PROG_TEST_RUN`` calls; each is closed at once.

A handler that the kernel was built without answers ``EOPNOTSUPP`` (kprobe_multi without
``CONFIG_FPROBE``, uprobe_multi without uprobes, netfilter links without
``CONFIG_NETFILTER_BPF_LINK``) or ``EINVAL`` (netkit): not supported either way.
"""

from __future__ import annotations

import ctypes
import errno
import socket
from collections.abc import Callable

from ..errors import EbpfError, NotSupportedError, SyscallError, UnsupportedFeatureError
from ..internal.sys import (
    FD,
    LinkCreateAttr,
    LinkInfo,
    MapCreateAttr,
    RawTracepointOpenAttr,
    commands,
)
from ..kernel_versions import LINK_TYPE_VERSIONS
from ..types import AttachType, LinkType, MapFlags, MapType, ProgramType
from ._probe import (
    ENOTSUPP,
    RETURN_0,
    U32_MAX,
    ProbeCache,
    ProbeProgram,
    absent,
    errno_name,
    load,
    try_load,
)
from ._tracing import tracing_target, trampoline_refusal

__all__ = ["LINK_ATTACH_TYPES", "have_link_type", "link_attach_type"]

P, A, L = ProgramType, AttachType, LinkType

_XDP_FLAGS_DRV_MODE = 1 << 2
_NFPROTO_IPV4 = 2
# A raw tracepoint that only BPF_PROG_TEST_RUN of packet programs fires.
_TEST_TRACEPOINT = b"bpf_test_finish"


def _name(lt: LinkType) -> str:
    return f"bpf_link {lt.name.lower()}"


def _link_create(prog: FD, attach_type: int, what: str,
                 fill: Callable[[LinkCreateAttr], None] | None = None) -> SyscallError | None:
    """``BPF_LINK_CREATE`` for ``prog``; a link it makes is closed at once. The error, if any."""
    attr = LinkCreateAttr(prog_fd=prog.raw, attach_type=attach_type)
    if fill is not None:
        fill(attr)
    try:
        commands.link_create(attr, what).close()
    except SyscallError as e:
        return e
    return None


def _verdict(err: SyscallError | None, what: str, *, known: tuple[int, ...],
             compiled_out: str = "", link_made: bool = False) -> None:
    """Supported if ``err`` is one of ``known`` (or None when a link may be made); absent on
    ``EINVAL`` (and ``EOPNOTSUPP`` with ``compiled_out`` as the reason); else inconclusive."""
    if err is None:
        if link_made:
            return
        raise EbpfError(f"{what}: the kernel made a link to a target that cannot exist")
    code = err.errno or 0
    if code in known:
        return
    if code == errno.EOPNOTSUPP and compiled_out:
        absent(f"{compiled_out} (BPF_LINK_CREATE: EOPNOTSUPP)", err, needs_privileges=False)
    if code in (errno.EINVAL, errno.E2BIG):
        absent(f"BPF_LINK_CREATE does not know the attach type or was built without it "
               f"({errno_name(code)})", err, needs_privileges=False)
    raise err


def _with_program(program: ProbeProgram, what: str, attach_type: int, *,
                  known: tuple[int, ...], fill: Callable[[LinkCreateAttr], None] | None = None,
                  compiled_out: str = "", link_made: bool = False) -> None:
    loaded = try_load(program, f"{what} (program)")
    if loaded.fd is None:
        assert loaded.error is not None
        if loaded.error.errno in (errno.EINVAL, errno.E2BIG):
            # The family's programs are unknown (their type or expected attach type).
            absent(f"its programs do not load ({loaded.describe()})", loaded.error)
        loaded.fail(f"{what} (program)")
    with loaded.fd as prog:
        err = _link_create(prog, attach_type, what, fill)
    _verdict(err, what, known=known, compiled_out=compiled_out, link_made=link_made)


# --- the families -----------------------------------------------------------------------------

def _cgroup(at: AttachType) -> None:
    def fill(attr: LinkCreateAttr) -> None:
        attr.target_fd = U32_MAX

    _with_program(ProbeProgram(P.CGROUP_DEVICE, RETURN_0), "probe cgroup link", at,
                  known=(errno.EBADF,), fill=fill)


def _xdp(at: AttachType) -> None:
    # Native (driver) mode on the loopback device, whose driver has no XDP: only the XDP link
    # code gets as far as asking the driver (EOPNOTSUPP); nothing is attached.
    lo = socket.if_nametoindex("lo")

    def fill(attr: LinkCreateAttr) -> None:
        attr.target_ifindex = lo
        attr.flags = _XDP_FLAGS_DRV_MODE

    _with_program(ProbeProgram(P.XDP, RETURN_0), "probe XDP link", at,
                  known=(errno.EOPNOTSUPP,), fill=fill)


def _perf_event(at: AttachType) -> None:
    def fill(attr: LinkCreateAttr) -> None:
        attr.target_fd = U32_MAX

    _with_program(ProbeProgram(P.TRACEPOINT, RETURN_0), "probe perf_event link", at,
                  known=(errno.EBADF,), fill=fill)


def _kprobe_multi(at: AttachType) -> None:
    # One address at a user pointer that faults: the kprobe_multi code copies it (EFAULT)
    # after checking everything else.
    def fill(attr: LinkCreateAttr) -> None:
        multi = attr.kprobe_multi
        multi.cnt = 1
        multi.addrs = 1

    _with_program(ProbeProgram(P.KPROBE, RETURN_0, expected_attach_type=at),
                  f"probe {at.name.lower()} link", at, known=(errno.EFAULT,), fill=fill,
                  compiled_out="the kernel was built without fprobe (CONFIG_FPROBE), which "
                               "kprobe_multi links need")


def _uprobe_multi(at: AttachType) -> None:
    # The path "/" is looked up and found not to be a regular file: EBADF.
    path = ctypes.create_string_buffer(b"/")
    offsets = (ctypes.c_uint64 * 1)(0)

    def fill(attr: LinkCreateAttr) -> None:
        multi = attr.uprobe_multi
        multi.path = ctypes.addressof(path)
        multi.offsets = ctypes.addressof(offsets)
        multi.cnt = 1

    _with_program(ProbeProgram(P.KPROBE, RETURN_0, expected_attach_type=at),
                  f"probe {at.name.lower()} link", at, known=(errno.EBADF,), fill=fill,
                  compiled_out="the kernel was built without uprobes (CONFIG_UPROBES)")


def _netfilter(at: AttachType) -> None:
    # An IPv4 hook number beyond the last: EPROTO from the netfilter link's checks.
    def fill(attr: LinkCreateAttr) -> None:
        nf = attr.netfilter
        nf.pf = _NFPROTO_IPV4
        nf.hooknum = 255

    _with_program(ProbeProgram(P.NETFILTER, RETURN_0, expected_attach_type=A.NETFILTER),
                  "probe netfilter link", at, known=(errno.EPROTO,), fill=fill,
                  compiled_out="the kernel was built without netfilter links "
                               "(CONFIG_NETFILTER_BPF_LINK)")


def _bad_ifindex(attr: LinkCreateAttr) -> None:
    attr.target_ifindex = U32_MAX


def _tcx(at: AttachType) -> None:
    _with_program(ProbeProgram(P.SCHED_CLS, RETURN_0), "probe tcx link", at,
                  known=(errno.ENODEV,), fill=_bad_ifindex)


def _netkit(at: AttachType) -> None:
    _with_program(ProbeProgram(P.SCHED_CLS, RETURN_0), "probe netkit link", at,
                  known=(errno.ENODEV,), fill=_bad_ifindex)


def _bad_target_fd(attr: LinkCreateAttr) -> None:
    attr.target_fd = U32_MAX


def _sockmap(at: AttachType) -> None:
    program = ProbeProgram(P.SK_MSG if at == A.SK_MSG_VERDICT else P.SK_SKB, RETURN_0,
                           expected_attach_type=at)
    _with_program(program, "probe sockmap link", at, known=(errno.EBADF,), fill=_bad_target_fd)


def _netns(at: AttachType) -> None:
    pt = P.SK_LOOKUP if at == A.SK_LOOKUP else P.FLOW_DISSECTOR
    _with_program(ProbeProgram(pt, RETURN_0, expected_attach_type=at), "probe netns link", at,
                  known=(errno.EBADF,), fill=_bad_target_fd)


def _iter(at: AttachType) -> None:
    what = "probe iterator link"
    program = ProbeProgram(P.TRACING, RETURN_0, expected_attach_type=A.TRACE_ITER,
                           attach_btf_id=tracing_target(A.TRACE_ITER, what=what))
    _with_program(program, what, at, known=(), link_made=True)


def _tracing(at: AttachType) -> None:
    # fentry on a kernel function only BPF_PROG_TEST_RUN calls: the link exists for a moment
    # and nothing runs the program.
    what = "probe tracing link (fentry)"
    program = ProbeProgram(P.TRACING, RETURN_0, expected_attach_type=A.TRACE_FENTRY,
                           attach_btf_id=tracing_target(A.TRACE_FENTRY, what=what))
    loaded = try_load(program, f"{what} (program)")
    if loaded.fd is None:
        trampoline_refusal(loaded, _name(L.TRACING), LINK_TYPE_VERSIONS[L.TRACING], what)
        assert loaded.error is not None
        if loaded.error.errno in (errno.EINVAL, errno.E2BIG):
            absent(f"fentry programs do not load ({loaded.describe()})", loaded.error)
        loaded.fail(what)
    with loaded.fd as prog:
        err = _link_create(prog, A.TRACE_FENTRY, what)
    _verdict(err, what, known=(), link_made=True)


def _raw_tracepoint(at: AttachType) -> None:
    # BPF_RAW_TRACEPOINT_OPEN has returned a bpf_link (with link info) since 5.8; before, a
    # descriptor without info. The tracepoint fires only in BPF_PROG_TEST_RUN.
    del at
    what = "probe raw tracepoint link"
    name = ctypes.create_string_buffer(_TEST_TRACEPOINT)
    with load(ProbeProgram(P.RAW_TRACEPOINT, RETURN_0), f"{what} (program)") as prog:
        attr = RawTracepointOpenAttr(name=ctypes.addressof(name), prog_fd=prog.raw)
        try:
            link = commands.raw_tracepoint_open(attr, what)
        except SyscallError as e:
            if e.errno == errno.ENOENT:
                raise EbpfError(f"{what}: the kernel has no raw tracepoint "
                                f"{_TEST_TRACEPOINT.decode()}") from e
            raise
        with link:
            try:
                info = commands.obj_get_info_by_fd(link.raw, LinkInfo(), what)
            except SyscallError as e:
                if e.errno == errno.EINVAL:
                    absent("the raw tracepoint attachment is no bpf_link (no link info)", e,
                           needs_privileges=False)
                raise
    if info.type != L.RAW_TRACEPOINT:
        raise EbpfError(f"{what}: the link reports type {info.type}, not RAW_TRACEPOINT")


def _struct_ops(at: AttachType) -> None:
    # Struct_ops maps that attach as links take BPF_F_LINK; a kernel that knows the flag fails
    # only at the (deliberately wrong) value type: ENOTSUPP.
    del at
    attr = MapCreateAttr(map_type=MapType.STRUCT_OPS, key_size=4, value_size=4, max_entries=1,
                         map_flags=MapFlags.LINK, btf_vmlinux_value_type_id=1)
    try:
        commands.map_create(attr, "probe struct_ops link").close()
    except SyscallError as e:
        if e.errno == ENOTSUPP:
            return
        if e.errno in (errno.EINVAL, errno.E2BIG):
            absent("struct_ops maps do not take BPF_F_LINK "
                   f"(BPF_MAP_CREATE: {errno_name(e.errno)})", e, needs_privileges=False)
        raise
    raise EbpfError("probe struct_ops link: the kernel made a struct_ops map of type id 1")


# link type -> (its probe, the attach type the probe uses)
_FAMILIES: dict[LinkType, tuple[Callable[[AttachType], None], AttachType]] = {
    L.RAW_TRACEPOINT: (_raw_tracepoint, A.TRACE_RAW_TP),
    L.TRACING: (_tracing, A.TRACE_FENTRY),
    L.CGROUP: (_cgroup, A.CGROUP_DEVICE),
    L.ITER: (_iter, A.TRACE_ITER),
    L.NETNS: (_netns, A.FLOW_DISSECTOR),
    L.XDP: (_xdp, A.XDP),
    L.PERF_EVENT: (_perf_event, A.PERF_EVENT),
    L.KPROBE_MULTI: (_kprobe_multi, A.TRACE_KPROBE_MULTI),
    L.STRUCT_OPS: (_struct_ops, A.STRUCT_OPS),
    L.NETFILTER: (_netfilter, A.NETFILTER),
    L.TCX: (_tcx, A.TCX_INGRESS),
    L.UPROBE_MULTI: (_uprobe_multi, A.TRACE_UPROBE_MULTI),
    L.NETKIT: (_netkit, A.NETKIT_PRIMARY),
    L.SOCKMAP: (_sockmap, A.SK_SKB_STREAM_VERDICT),
}

#: Attach types that exist for one link family: probed by that family's probe.
LINK_ATTACH_TYPES: dict[AttachType, Callable[[AttachType], None]] = {
    A.PERF_EVENT: _perf_event,
    A.TRACE_KPROBE_MULTI: _kprobe_multi,
    A.TRACE_KPROBE_SESSION: _kprobe_multi,
    A.TRACE_UPROBE_MULTI: _uprobe_multi,
    A.TRACE_UPROBE_SESSION: _uprobe_multi,
    A.NETFILTER: _netfilter,
    A.STRUCT_OPS: _struct_ops,
    A.TCX_INGRESS: _tcx,
    A.TCX_EGRESS: _tcx,
    A.NETKIT_PRIMARY: _netkit,
    A.NETKIT_PEER: _netkit,
    A.XDP: _xdp,
}


def link_attach_type(at: AttachType) -> None:
    """Probe attach type ``at`` through its link family (see :data:`LINK_ATTACH_TYPES`)."""
    LINK_ATTACH_TYPES[at](at)


def _probe_link_type(lt: LinkType) -> None:
    probe, at = _FAMILIES[lt]
    probe(at)


_link_types: ProbeCache[LinkType] = ProbeCache(
    lambda lt: (_name(lt), LINK_TYPE_VERSIONS[lt]), _probe_link_type)


def have_link_type(link_type: LinkType) -> None:
    """Probe: the kernel makes bpf_links of ``link_type`` (through ``BPF_LINK_CREATE``, or
    ``BPF_RAW_TRACEPOINT_OPEN`` for RAW_TRACEPOINT), without attaching anything anywhere.

    TRACING is fentry through ``BPF_LINK_CREATE`` (5.19; ``BPF_RAW_TRACEPOINT_OPEN`` made
    tracing links from 5.8); STRUCT_OPS is a struct_ops map attached as a link (6.4).

    Raises:
        UnsupportedFeatureError: the kernel cannot make such links.
        EbpfError: ``link_type`` is not a link type, or the probe could not decide (nothing
            is cached then).
    """
    try:
        member = LinkType(link_type)
    except ValueError:
        raise EbpfError(f"{link_type!r} is not a link type this library knows") from None
    if member is L.UNSPEC:
        raise EbpfError("LinkType.UNSPEC is not a link type")
    _link_types(member)


def reason_of(e: UnsupportedFeatureError) -> str:
    """What a probe found, without the feature's name and version around it."""
    cause = e.__cause__
    if isinstance(cause, NotSupportedError) and not isinstance(cause, UnsupportedFeatureError):
        return str(cause)
    text = str(e)
    head = f"{e.feature} is not supported by this kernel"
    if text.startswith(head):
        _, sep, rest = text[len(head):].partition(": ")
        if sep:
            return rest
    return text
