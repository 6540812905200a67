"""What is attached where: :func:`query` asks the kernel about one hook of an interface, a
cgroup, a network namespace or a sockmap, whoever attached the programs and however.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final

from ..errors import EbpfError, NetlinkError, SyscallError
from ..internal.netlink import ClsactHook, RtNetlink
from ..internal.sys import commands
from ..map import Map
from ..types import AttachType, LinkType, MapType, member_or_int
from ._common import (
    have_netkit,
    have_tcx,
    lacks,
    open_directory,
    query_prog_ids,
    resolve_interface,
    type_name,
)
from .cgroups import CGROUP_ATTACH_TYPES, cgroup_attach_type
from .device import XDPMode
from .link import Mechanism, link_info

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..internal.sys import ProgQueryAttr

__all__ = ["AttachedProgram", "QueryResult", "query"]

BPF_F_QUERY_EFFECTIVE: Final = 1 << 0


@dataclass(frozen=True)
class AttachedProgram:
    """One program attached to the queried hook.

    Attributes:
        program_id: the program's kernel id (open it with ``Program.from_id``).
        link_id: the id of the bpf_link holding it, or 0 (not a bpf_link, or a kernel that
            does not say: before 6.6, and for XDP).
        mechanism: how it is attached, where the kernel says (None where it does not).
        attach_flags: the ``BPF_F_*`` flags it was attached with, where the kernel reports
            them per program (cgroups, Linux 6.0+), else None.
        xdp_mode: for XDP, the mode it runs in.
        priority, handle, name: for a legacy tc filter, its priority, handle and name.
    """

    program_id: int
    link_id: int = 0
    mechanism: Mechanism | None = None
    attach_flags: int | None = None
    xdp_mode: XDPMode | None = None
    priority: int | None = None
    handle: int | None = None
    name: str | None = None


@dataclass(frozen=True)
class QueryResult:
    """The programs attached to one hook, in the order they run.

    Attributes:
        attach_type: the hook.
        programs: what is attached, first to run first (for ingress and egress: the tcx
            programs, then the legacy tc filters, which the kernel runs after them).
        attach_flags: the hook's own flags where it has them (a cgroup's ``BPF_F_ALLOW_*``
            mode for this attach type), else 0.
        revision: the hook's revision for multi-program hooks (tcx, netkit; Linux 6.6+),
            which :func:`~ebpf.link.tcx` and :func:`~ebpf.link.netkit` can be told to expect;
            else None.
    """

    attach_type: AttachType
    programs: tuple[AttachedProgram, ...]
    attach_flags: int = 0
    revision: int | None = None

    @property
    def program_ids(self) -> tuple[int, ...]:
        """The ids of :attr:`programs`, in order."""
        return tuple(p.program_id for p in self.programs)


_BY_NAME: Final = {
    "xdp": AttachType.XDP,
    "ingress": AttachType.TCX_INGRESS, "egress": AttachType.TCX_EGRESS,
    "primary": AttachType.NETKIT_PRIMARY, "peer": AttachType.NETKIT_PEER,
    "sk_lookup": AttachType.SK_LOOKUP, "flow_dissector": AttachType.FLOW_DISSECTOR,
    "stream_parser": AttachType.SK_SKB_STREAM_PARSER,
    "stream_verdict": AttachType.SK_SKB_STREAM_VERDICT,
    "skb_verdict": AttachType.SK_SKB_VERDICT, "msg_verdict": AttachType.SK_MSG_VERDICT,
}
_DEVICE: Final = (AttachType.XDP, AttachType.TCX_INGRESS, AttachType.TCX_EGRESS,
                  AttachType.NETKIT_PRIMARY, AttachType.NETKIT_PEER)
_NETNS: Final = (AttachType.SK_LOOKUP, AttachType.FLOW_DISSECTOR)
_SOCKMAP: Final = (AttachType.SK_SKB_STREAM_PARSER, AttachType.SK_SKB_STREAM_VERDICT,
                   AttachType.SK_SKB_VERDICT, AttachType.SK_MSG_VERDICT)


def _attach_type(value: object) -> AttachType:
    if isinstance(value, str):
        at = _BY_NAME.get(value)
        if at is not None:
            return at
    elif isinstance(value, int) and not isinstance(value, bool):
        at2 = member_or_int(AttachType, value)
        if isinstance(at2, AttachType) and (at2 in _DEVICE or at2 in _NETNS
                                            or at2 in _SOCKMAP or at2 in CGROUP_ATTACH_TYPES):
            return at2
    return cgroup_attach_type(value, "query")


def query(target: str | os.PathLike[str] | int | Map | None,
          attach_type: AttachType | str, *, effective: bool = False) -> QueryResult:
    """What is attached to hook ``attach_type`` of ``target``, whoever attached it.

    ``target`` depends on the hook:

    * ``XDP``, ``TCX_INGRESS``/``TCX_EGRESS`` (or ``"ingress"``/``"egress"``, which also list
      legacy tc filters), ``NETKIT_PRIMARY``/``NETKIT_PEER``: an interface, by name or index,
      in the calling thread's network namespace;
    * a cgroup attach type (or its libbpf name, e.g. ``"connect4"``): a cgroup v2 directory,
      by path or descriptor; ``effective=True`` lists the programs that run for the cgroup,
      inherited ones included, rather than those attached to it;
    * ``SK_LOOKUP``, ``FLOW_DISSECTOR``: a network namespace by path or descriptor, or None
      for the calling thread's;
    * ``SK_SKB_*``, ``SK_MSG_VERDICT``: a sockmap or sockhash :class:`~ebpf.Map`.

    XDP and legacy tc are asked through netlink, everything else with ``BPF_PROG_QUERY``.

    Raises:
        SyscallError: the target does not exist (``ENODEV``, ``ENOENT``, naming it), or the
            kernel refused.
        EbpfError: ``attach_type`` cannot be queried, or ``target`` does not fit it.
    """
    at = _attach_type(attach_type)
    context = f"query the {type_name(at)} programs of {target!r}"
    if effective and at not in CGROUP_ATTACH_TYPES:
        raise EbpfError(f"{context}: effective=True applies to cgroups only")
    if at in _DEVICE:
        ifindex, name = resolve_interface(target, context)
        context = f"query the {type_name(at)} programs of interface {name!r}"
        if at is AttachType.XDP:
            return _xdp(ifindex, context)
        legacy = isinstance(attach_type, str) and at in (AttachType.TCX_INGRESS,
                                                         AttachType.TCX_EGRESS)
        return _device(ifindex, at, context, legacy=legacy)
    if at in _SOCKMAP:
        if not isinstance(target, Map) or target.type not in (MapType.SOCKMAP,
                                                              MapType.SOCKHASH):
            raise EbpfError(f"{context}: the target of {type_name(at)} is a SOCKMAP or "
                            f"SOCKHASH map")
        fd = target.fd
        result = _prog_query(lambda a: setattr(a, "target_fd", fd), at, context)
        return _with_links(result, LinkType.SOCKMAP, "map_id", target.info().id)
    if isinstance(target, Map):
        raise EbpfError(f"{context}: a map is the target of sockmap attach types only")
    if at in _NETNS:
        what = "network namespace"
        path_or_fd = "/proc/thread-self/ns/net" if target is None else target
    else:
        what = "cgroup"
        if target is None:
            raise EbpfError(f"{context}: a cgroup query needs the cgroup's path or fd")
        path_or_fd = target
    with open_directory(path_or_fd, what, context) as held:
        raw = held.raw
        result = _prog_query(lambda a: setattr(a, "target_fd", raw), at, context,
                             query_flags=BPF_F_QUERY_EFFECTIVE if effective else 0)
        if effective:
            return result       # inherited programs: their cgroups are not this one
        inode = os.fstat(raw).st_ino
    # These hooks report no link ids: find the bpf_links holding the programs by their info.
    if at in _NETNS:
        return _with_links(result, LinkType.NETNS, "netns_ino", inode)
    return _with_links(result, LinkType.CGROUP, "cgroup_id", inode)


def _prog_query(set_target: Callable[[ProgQueryAttr], object], at: AttachType,
                context: str, *, query_flags: int = 0, mprog: bool = False) -> QueryResult:
    pairs, flags, revision, per_prog = query_prog_ids(set_target, at, context,
                                                      query_flags=query_flags)
    # Multi-program hooks (tcx, netkit) report the link of every program on kernels that
    # report revisions; other hooks report no link ids even there.
    know_links = mprog and revision is not None
    programs = tuple(
        AttachedProgram(
            program_id=prog, link_id=link,
            mechanism=(Mechanism.BPF_LINK if link else Mechanism.PROG_ATTACH)
            if know_links else (Mechanism.BPF_LINK if link else None),
            attach_flags=None if per_prog is None else per_prog[i])
        for i, (prog, link) in enumerate(pairs))
    return QueryResult(at, programs, flags, revision)


def _with_links(result: QueryResult, link_type: LinkType, key: str, value: int
                ) -> QueryResult:
    """``result`` with the link id of each program that a bpf_link of ``link_type`` whose
    info has ``key == value`` holds, and the others marked as ``PROG_ATTACH``.

    Walking the links needs ``CAP_SYS_ADMIN``; without it the mechanisms stay unknown.
    """
    links: dict[int, list[int]] = {}
    try:
        start = 0
        while (link_id := commands.link_get_next_id(start)) is not None:
            start = link_id
            try:
                with commands.link_get_fd_by_id(link_id) as fd:
                    info = link_info(fd.raw)
            except SyscallError as e:
                # Gone meanwhile, or still being made by another process (the kernel says
                # EAGAIN for a link between its creation and its first fd).
                if e.errno in (errno.ENOENT, errno.EAGAIN):
                    continue
                raise
            if info.type == link_type and info.attach_type == result.attach_type \
                    and (info.target or {}).get(key) == value:
                links.setdefault(info.program_id, []).append(link_id)
    except SyscallError as e:
        if e.errno in (errno.EPERM, errno.EACCES):
            return result
        raise
    programs = []
    for p in result.programs:
        held = links.get(p.program_id)
        if held:
            programs.append(replace(p, link_id=held.pop(0), mechanism=Mechanism.BPF_LINK))
        else:
            programs.append(replace(p, mechanism=Mechanism.PROG_ATTACH))
    return replace(result, programs=tuple(programs))


def _xdp(ifindex: int, context: str) -> QueryResult:
    with RtNetlink() as nl:
        try:
            state = nl.xdp_query(ifindex)
        except NetlinkError as e:
            raise NetlinkError(e.errno or 0, e.cmd, context, e.extack) from None
    programs = tuple(AttachedProgram(program_id=pid, xdp_mode=mode)
                     for pid, mode in ((state.skb_prog_id, XDPMode.GENERIC),
                                       (state.drv_prog_id, XDPMode.DRIVER),
                                       (state.hw_prog_id, XDPMode.OFFLOAD)) if pid)
    return QueryResult(AttachType.XDP, programs)


def _device(ifindex: int, at: AttachType, context: str, *, legacy: bool) -> QueryResult:
    try:
        result = _prog_query(lambda a: setattr(a, "target_ifindex", ifindex), at, context,
                             mprog=True)
    except SyscallError as e:
        probe = have_tcx if at in (AttachType.TCX_INGRESS, AttachType.TCX_EGRESS) \
            else have_netkit
        if e.errno != errno.EINVAL or not lacks(probe):
            raise
        if probe is have_netkit:
            probe()       # raises: netkit hooks exist only where netkit does
        result = QueryResult(at, ())     # no tcx here: only legacy tc can be attached
    if not legacy:
        return result
    hook = ClsactHook.INGRESS if at is AttachType.TCX_INGRESS else ClsactHook.EGRESS
    with RtNetlink() as nl:
        filters = nl.tc_filters(ifindex, hook)
    tc = tuple(AttachedProgram(program_id=f.prog_id, mechanism=Mechanism.NETLINK,
                               priority=f.priority, handle=f.handle, name=f.prog_name)
               for f in filters if f.kind == "bpf" and f.prog_id)
    return QueryResult(at, result.programs + tc, result.attach_flags, result.revision)
