"""``Link``: one attachment of a program to a kernel hook, whatever the kernel made of it.

The kernel attaches programs in several ways, which :class:`Link` hides behind one interface:

* a **bpf_link** (``BPF_LINK_CREATE``, ``BPF_RAW_TRACEPOINT_OPEN``): a kernel object with an
  fd, an id, info, pins and in-place program updates; closing its last fd detaches;
* a **perf event** with a program (``PERF_EVENT_IOC_SET_BPF``): tracepoints, kprobes,
  uprobes and perf events on kernels without bpf_link for them; closing detaches;
* a **PROG_ATTACH** attachment (cgroups, sockmaps, flow dissector ...) or a **netlink**
  attachment (legacy XDP and tc): the kernel keeps no handle at all, so the Link remembers what
  to detach and does it when closed.

Every family function of :mod:`ebpf.link` prefers a bpf_link where the running kernel has one
and falls back to the older mechanism where it does not; :attr:`Link.mechanism` says which one
was used. A Link follows the ownership rules of
:class:`~ebpf.internal.kernel_object.KernelObject`: closing it (or leaving a ``with`` block)
detaches the program, unless the link was pinned, which keeps it attached beyond the process.
The program is borrowed: the caller may close it once attached.
"""

from __future__ import annotations

import ctypes
import enum
import errno
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Final

from ..errors import EbpfError, NotSupportedError, SyscallError
from ..internal.kernel import kernel_version
from ..internal.kernel_object import KernelObject
from ..internal.sys import (
    FD,
    LinkCreateAttr,
    LinkDetachAttr,
    LinkInfo as _RawLinkInfo,
    LinkUpdateAttr,
    commands,
)
from ..program import Program
from ..types import AttachType, LinkType, member_or_int

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "BPFLink",
    "Link",
    "LinkInfo",
    "Mechanism",
    "from_fd",
    "from_id",
    "load_pinned",
]

# What /proc/self/fd shows for a bpf_link: "bpf_link" up to Linux 6.x, "bpf-link" since the
# anon inode names were unified.
_LINK_INODES: Final = ("anon_inode:bpf_link", "anon_inode:bpf-link")

#: The kernel that put the cookie of raw_tp and tracing (trampoline, tp_btf) links into
#: bpf_link_info; before, the field reads 0 whatever the link's cookie.
_TRAMPOLINE_COOKIE_INFO: Final = (6, 13)


class Mechanism(enum.Enum):
    """How the kernel holds an attachment (:attr:`Link.mechanism`)."""

    BPF_LINK = "bpf_link"
    """A bpf_link: pinnable, updatable, with an id and info."""
    PERF_EVENT = "perf_event"
    """A perf event with the program set on it (tracepoints, kprobes, uprobes, perf events)."""
    PROG_ATTACH = "prog_attach"
    """``BPF_PROG_ATTACH`` to a cgroup, map or namespace: detached with ``BPF_PROG_DETACH``."""
    NETLINK = "netlink"
    """A legacy XDP program or tc filter, attached and detached through rtnetlink."""
    MAP_UPDATE = "map_update"
    """A struct_ops map registered by writing its value (no ``BPF_F_LINK``, or kernels
    before 6.4): unregistered by deleting it."""


@dataclass(frozen=True)
class LinkInfo:
    """What the kernel says about an attachment.

    Attributes:
        type: the kind of bpf_link (an ``int`` for kinds this library does not know), or
            :attr:`LinkType.UNSPEC` for attachments that are not bpf_links.
        id: the link's kernel id (0 for attachments that are not bpf_links).
        program_id: the id of the attached program.
        mechanism: how the kernel holds the attachment.
        attach_type: the attach type, where the kernel reports one.
        target: the family's own details, by name: ``tp_name``, ``cgroup_id``, ``ifindex``,
            ``target_btf_id``, ``target_obj_id``, ``netns_ino``, ``map_id``, ``pf``,
            ``hooknum``, ``priority``, ``iter_target``, ``func_name``, ``file_name``,
            ``offset``, ``addr``, ``config``, ``cookie``, ``count``, ``missed``, ``path``,
            ``pid`` ... (only those that apply, and that the kernel reports: e.g. no
            ``cookie`` for raw_tp and tracing links before Linux 6.13).
    """

    type: LinkType | int
    id: int
    program_id: int
    mechanism: Mechanism = Mechanism.BPF_LINK
    attach_type: AttachType | int | None = None
    target: dict[str, object] | None = None


def _c_string(addr_buf: ctypes.Array[ctypes.c_char] | None) -> str:
    return addr_buf.value.decode(errors="replace") if addr_buf is not None else ""


def link_info(fd: int) -> LinkInfo:
    """Decode ``bpf_link_info`` of the bpf_link ``fd``, strings included.

    Raises:
        SyscallError: the kernel refused (``EINVAL``: not a bpf_link).
    """
    raw = _RawLinkInfo()
    commands.obj_get_info_by_fd(fd, raw, "get info of link")
    kind = member_or_int(LinkType, int(raw.type))
    target: dict[str, object] = {}
    attach: AttachType | int | None = None

    def refetch(member: str, addr_field: str, len_field: str, size: int
                ) -> tuple[_RawLinkInfo, str]:
        """Fetch again with a buffer of ``size`` bytes for the string the first answer
        announced, at ``member.addr_field`` (its length in ``member.len_field``)."""
        again = _RawLinkInfo()
        buf = ctypes.create_string_buffer(max(size, 1))
        sub = getattr(again, member)
        setattr(sub, addr_field, ctypes.addressof(buf))
        setattr(sub, len_field, len(buf))
        commands.obj_get_info_by_fd(fd, again, "get info of link")
        return again, _c_string(buf)

    if kind == LinkType.RAW_TRACEPOINT:
        full, name = refetch("raw_tracepoint", "tp_name", "tp_name_len",
                             int(raw.raw_tracepoint.tp_name_len))
        target = {"tp_name": name}
        if kernel_version() >= _TRAMPOLINE_COOKIE_INFO:
            target["cookie"] = int(full.raw_tracepoint.cookie)
    elif kind == LinkType.TRACING:
        attach = member_or_int(AttachType, int(raw.tracing.attach_type))
        target = {"target_obj_id": int(raw.tracing.target_obj_id),
                  "target_btf_id": int(raw.tracing.target_btf_id)}
        if kernel_version() >= _TRAMPOLINE_COOKIE_INFO:
            target["cookie"] = int(raw.tracing.cookie)
    elif kind == LinkType.CGROUP:
        attach = member_or_int(AttachType, int(raw.cgroup.attach_type))
        target = {"cgroup_id": int(raw.cgroup.cgroup_id)}
    elif kind == LinkType.ITER:
        full, name = refetch("iter", "target_name", "target_name_len",
                             int(raw.iter.target_name_len))
        target = {"iter_target": name}
        if name in ("bpf_map_elem", "bpf_sk_storage_map", "sockmap"):
            target["map_id"] = int(full.iter.map.map_id)
        elif name.startswith("task"):
            target["tid"] = int(full.iter.task.tid)
            target["pid"] = int(full.iter.task.pid)
        elif name == "cgroup":
            target["cgroup_id"] = int(full.iter.cgroup.cgroup_id)
    elif kind == LinkType.NETNS:
        attach = member_or_int(AttachType, int(raw.netns.attach_type))
        target = {"netns_ino": int(raw.netns.netns_ino)}
    elif kind == LinkType.XDP:
        attach = AttachType.XDP
        target = {"ifindex": int(raw.xdp.ifindex)}
    elif kind == LinkType.STRUCT_OPS:
        attach = AttachType.STRUCT_OPS
        target = {"map_id": int(raw.struct_ops.map_id)}
    elif kind == LinkType.NETFILTER:
        attach = AttachType.NETFILTER
        nf = raw.netfilter
        target = {"pf": int(nf.pf), "hooknum": int(nf.hooknum), "priority": int(nf.priority),
                  "flags": int(nf.flags)}
    elif kind in (LinkType.TCX, LinkType.NETKIT):
        sub = raw.tcx if kind == LinkType.TCX else raw.netkit
        attach = member_or_int(AttachType, int(sub.attach_type))
        target = {"ifindex": int(sub.ifindex)}
    elif kind == LinkType.SOCKMAP:
        attach = member_or_int(AttachType, int(raw.sockmap.attach_type))
        target = {"map_id": int(raw.sockmap.map_id)}
    elif kind == LinkType.KPROBE_MULTI:
        km = raw.kprobe_multi
        target = {"count": int(km.count), "flags": int(km.flags), "missed": int(km.missed)}
    elif kind == LinkType.UPROBE_MULTI:
        um = raw.uprobe_multi
        size = int(um.path_size)
        full, name = refetch("uprobe_multi", "path", "path_size", size) if size else (raw, "")
        target = {"path": name, "count": int(full.uprobe_multi.count),
                  "flags": int(full.uprobe_multi.flags), "pid": int(full.uprobe_multi.pid)}
    elif kind == LinkType.PERF_EVENT:
        target = _perf_event_target(fd, raw)
    return LinkInfo(type=kind, id=int(raw.id), program_id=int(raw.prog_id),
                    attach_type=attach, target=target)


# enum bpf_perf_event_type
_PERF_UPROBE, _PERF_URETPROBE, _PERF_KPROBE, _PERF_KRETPROBE, _PERF_TRACEPOINT, _PERF_EVENT = (
    1, 2, 3, 4, 5, 6)


def _perf_event_target(fd: int, raw: _RawLinkInfo) -> dict[str, object]:
    kind = int(raw.perf_event.type)
    names = {_PERF_UPROBE: "uprobe", _PERF_URETPROBE: "uretprobe", _PERF_KPROBE: "kprobe",
             _PERF_KRETPROBE: "kretprobe", _PERF_TRACEPOINT: "tracepoint",
             _PERF_EVENT: "event"}
    out: dict[str, object] = {"perf_event_type": names.get(kind, kind)}
    again = _RawLinkInfo()
    buf = ctypes.create_string_buffer(4096)
    if kind in (_PERF_UPROBE, _PERF_URETPROBE):
        again.perf_event.uprobe.file_name = ctypes.addressof(buf)
        again.perf_event.uprobe.name_len = len(buf)
    elif kind in (_PERF_KPROBE, _PERF_KRETPROBE):
        again.perf_event.kprobe.func_name = ctypes.addressof(buf)
        again.perf_event.kprobe.name_len = len(buf)
    elif kind == _PERF_TRACEPOINT:
        again.perf_event.tracepoint.tp_name = ctypes.addressof(buf)
        again.perf_event.tracepoint.name_len = len(buf)
    try:
        commands.obj_get_info_by_fd(fd, again, "get info of link")
    except SyscallError:
        again = raw  # kernels before 6.6 describe perf event links only by type
        buf = ctypes.create_string_buffer(1)
    pe = again.perf_event
    if kind in (_PERF_UPROBE, _PERF_URETPROBE):
        out.update(file_name=_c_string(buf), offset=int(pe.uprobe.offset),
                   cookie=int(pe.uprobe.cookie), ref_ctr_offset=int(pe.uprobe.ref_ctr_offset))
    elif kind in (_PERF_KPROBE, _PERF_KRETPROBE):
        out.update(func_name=_c_string(buf), offset=int(pe.kprobe.offset),
                   addr=int(pe.kprobe.addr), missed=int(pe.kprobe.missed),
                   cookie=int(pe.kprobe.cookie))
    elif kind == _PERF_TRACEPOINT:
        out.update(tp_name=_c_string(buf), cookie=int(pe.tracepoint.cookie))
    elif kind == _PERF_EVENT:
        out.update(config=int(pe.event.config), type=int(pe.event.type),
                   cookie=int(pe.event.cookie))
    return out


class Link(KernelObject):
    """One attachment of a program (see the module docstring). Made by the functions of
    :mod:`ebpf.link`; :func:`from_id`, :func:`load_pinned` and :func:`from_fd` open existing
    bpf_links.

    ``close()`` detaches the program unless the link is pinned. :attr:`fd` is the bpf_link's
    descriptor for bpf_links, the perf event's for perf event attachments, and a duplicate of
    the attached program's for attachments the kernel keeps no handle of (PROG_ATTACH,
    netlink), which the Link uses to detach exactly that program.

    Attributes:
        mechanism: how the kernel holds this attachment.
    """

    __slots__ = ("mechanism",)

    kind = "link"
    mechanism: Mechanism

    def _setup_link(self, fd: FD, mechanism: Mechanism) -> None:
        self._own(fd)
        self.mechanism = mechanism

    def update(self, program: Program) -> None:
        """Replace the attached program with ``program``, atomically.

        Raises:
            NotSupportedError: this attachment cannot change its program in place.
            SyscallError: the kernel refused (e.g. ``EINVAL`` for a program of another type).
        """
        raise NotSupportedError(f"a {self.mechanism.value} attachment cannot change its "
                                "program in place; attach the new program and close this link")

    def detach(self) -> None:
        """Detach the program now, even from a pinned link, and release this Link.

        For a bpf_link the kernel object may live on (pinned, or other descriptors) in a
        detached state; other attachments are simply closed.
        """
        self.close()

    def info(self) -> LinkInfo:
        """What the kernel says about this attachment.

        Raises:
            ClosedError: the link was closed.
        """
        raise NotSupportedError(f"a {self.mechanism.value} attachment has no kernel info")

    def _describe(self) -> str:
        return self.mechanism.value


class BPFLink(Link):
    """A bpf_link: pinnable, updatable, with an id and kernel info."""

    __slots__ = ()

    _pinnable: ClassVar[bool] = True

    @classmethod
    def _adopt(cls, fd: FD) -> BPFLink:
        _check_link_fd(fd.raw)
        link = cls.__new__(cls)
        link._setup_link(fd, Mechanism.BPF_LINK)
        return link

    @classmethod
    def _open_id(cls, object_id: int) -> FD:
        return commands.link_get_fd_by_id(object_id, f"open link id {object_id}")

    @classmethod
    def _created(cls, fd: FD) -> BPFLink:
        """A new BPFLink owning ``fd``, just made by the kernel (no need to check it)."""
        link = cls.__new__(cls)
        link._setup_link(fd, Mechanism.BPF_LINK)
        return link

    def update(self, program: Program, *, expected: Program | None = None) -> None:
        """Replace the attached program with ``program``, atomically (``BPF_LINK_UPDATE``).

        With ``expected``, the kernel replaces only if that program is the one attached.

        Raises:
            SyscallError: the kernel refused: ``EINVAL`` for a program of another type or
                attach type, ``EPERM`` if ``expected`` is not attached, ``EOPNOTSUPP`` for
                links that cannot be updated (e.g. perf event links).
        """
        attr = LinkUpdateAttr(link_fd=self._checked_fd("update").raw)
        attr.new_prog_fd = program.fd
        if expected is not None:
            attr.flags = 1  # BPF_F_REPLACE
            attr.old_prog_fd = expected.fd
        try:
            commands.link_update(attr, f"update link to program {program.name!r}")
        except SyscallError as e:
            # Links without an update operation answer EINVAL (EOPNOTSUPP on some kernels).
            if e.errno in (errno.EOPNOTSUPP, 524) or (
                    e.errno == errno.EINVAL and self._fixed_program()):
                raise NotSupportedError(f"this {self._describe()} cannot change its program "
                                        f"in place ({e.strerror})") from e
            raise

    def _fixed_program(self) -> bool:
        """Whether the kernel offers no in-place program update for this kind of link."""
        try:
            kind = self.info().type
        except EbpfError:
            return False
        return kind in _NO_UPDATE

    def detach(self) -> None:
        """Detach the program now (``BPF_LINK_DETACH``, Linux 5.9+), pinned or not, then close
        this Link. Links that cannot be detached this way are only closed (and unpinned, so
        that closing really detaches them)."""
        fd = self._checked_fd("detach")
        try:
            commands.link_detach(LinkDetachAttr(link_fd=fd.raw), "detach link")
        except SyscallError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL, 524):
                raise
            self.unpin()
        self.close()

    def info(self) -> LinkInfo:
        return link_info(self._checked_fd("get info of").raw)

    def _describe(self) -> str:
        if self.closed:
            return "bpf_link"
        try:
            info = self.info()
        except EbpfError:
            return "bpf_link"
        kind = info.type.name if isinstance(info.type, LinkType) else str(info.type)
        return f"bpf_link {kind} id={info.id} prog={info.program_id}"


# The kinds of bpf_link whose program cannot be replaced with BPF_LINK_UPDATE.
_NO_UPDATE: Final = frozenset({LinkType.RAW_TRACEPOINT, LinkType.TRACING, LinkType.PERF_EVENT,
                               LinkType.KPROBE_MULTI, LinkType.UPROBE_MULTI,
                               LinkType.STRUCT_OPS})


def _check_link_fd(fd: int) -> None:
    """Raise unless ``fd`` is a bpf_link (where ``/proc`` can tell)."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return
    if target not in _LINK_INODES:
        raise EbpfError(f"fd {fd} is not a BPF link ({target})")


def create_bpf_link(program: Program, attach_type: AttachType | int, *, target_fd: int = 0,
                    target_ifindex: int = 0, flags: int = 0,
                    configure: Callable[[LinkCreateAttr], object] | None = None,
                    context: str = "") -> BPFLink:
    """``BPF_LINK_CREATE``: attach ``program`` and return the new bpf_link.

    ``configure`` fills the type-specific part of the attr (and may return buffers it points
    into, kept alive through the call).

    Raises:
        SyscallError: the kernel refused.
    """
    attr = LinkCreateAttr(attach_type=int(attach_type), flags=flags)
    attr.prog_fd = program.fd
    if target_ifindex:
        attr.target_ifindex = target_ifindex
    else:
        attr.target_fd = target_fd
    keep = configure(attr) if configure is not None else None
    fd = commands.link_create(attr, context or f"attach program {program.name!r}")
    del keep
    return BPFLink._created(fd)


def from_id(link_id: int) -> BPFLink:
    """Open the bpf_link with kernel id ``link_id`` (needs ``CAP_SYS_ADMIN``).

    Raises:
        SyscallError: ``ENOENT`` if there is no such link.
    """
    return BPFLink.from_id(link_id)


def load_pinned(path: str | os.PathLike[str]) -> BPFLink:
    """Open the bpf_link pinned at ``path``; closing the result leaves it attached (it stays
    pinned) until :meth:`Link.unpin` or :meth:`Link.detach`.

    Raises:
        SyscallError: ``ENOENT`` if nothing is pinned there.
        EbpfError: what is pinned there is not a link.
    """
    return BPFLink.load_pinned(path)


def from_fd(fd: int) -> BPFLink:
    """Take ownership of the bpf_link descriptor ``fd`` (closed if it is not a link)."""
    return BPFLink.from_fd(fd)
