"""Running a program on a perf event: the attach step that uprobes, kprobes, tracepoints and
perf events share (private to :mod:`ebpf.link`).

A family function opens the perf event (and, for a tracefs-made probe, the event it is made
from) and hands both to :func:`attach_perf_event`, which attaches the program:

* with ``BPF_LINK_CREATE`` (attach type ``BPF_PERF_EVENT``, Linux 5.15) where the kernel has
  it: the result is a :class:`PerfEventLink`, a bpf_link with an id and info, that carries the
  attachment's BPF cookie;
* else with ``PERF_EVENT_IOC_SET_BPF`` and ``PERF_EVENT_IOC_ENABLE``: a
  :class:`PerfEventAttachment` whose descriptor is the perf event's. Such an attachment has
  no cookie (asking for one raises :class:`~ebpf.errors.UnsupportedFeatureError`).

Either way the Link owns the perf event and the tracefs event: closing it detaches the program,
closes the perf event, then removes the tracefs event (in that order: the kernel refuses to
remove an event that is still open). A Link dropped without ``close()`` does the same when
collected, with a :class:`ResourceWarning`.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import warnings
import weakref
from collections.abc import Sequence
from dataclasses import replace
from typing import Final

from ..errors import EbpfError, NotSupportedError, SyscallError, UnsupportedFeatureError
from ..internal.feature import feature_test
from ..internal.kernel import kernel_version
from ..internal.sys import FD, LinkCreateAttr, ProgLoadAttr, TaskFdQueryAttr, commands
from ..internal.tracefs import ProbeEvent
from ..internal.unix import PerfIoctl, perf_event_ioctl
from ..program import Program
from ..types import AttachType, LinkType, ProgramType
from .link import BPFLink, Link, LinkInfo, Mechanism

__all__ = ["PerfEventAttachment", "PerfEventLink", "attach_perf_event", "have_perf_link"]

_log = logging.getLogger(__name__)

# r0 = 0; exit
_RETURN_0: Final = bytes.fromhex("b700000000000000" "9500000000000000")

# enum bpf_task_fd_type, as BPF_TASK_FD_QUERY names a perf event's probe.
_FD_TYPES: Final = {0: "raw_tracepoint", 1: "tracepoint", 2: "kprobe", 3: "kretprobe",
                    4: "uprobe", 5: "uretprobe"}
# BPF_TASK_FD_QUERY describes tracefs-made events only: a software or hardware perf event is
# refused with ENOTSUPP (or EOPNOTSUPP).
_NOT_DESCRIBED: Final = (524, errno.EOPNOTSUPP)

# This process's id for BPF_TASK_FD_QUERY, known ahead: asking the kernel (getpid) while a
# program is attached to getpid would be seen by the program. A forked child asks again.
_self_pid: list[int] = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _self_pid.__setitem__(0, os.getpid()))


@feature_test("BPF_LINK_CREATE for perf events (BPF_PERF_EVENT)", "5.15")
def have_perf_link() -> None:
    """Probe: ``BPF_LINK_CREATE`` attaches programs to perf events (and gives them cookies).

    A kernel that knows ``BPF_PERF_EVENT`` looks the perf event up and says ``EBADF`` for the
    invalid one given here; an older one refuses the attach type with ``EINVAL``.
    """
    insns = ctypes.create_string_buffer(_RETURN_0, len(_RETURN_0))
    lic = ctypes.create_string_buffer(b"GPL")
    major, minor, patch = kernel_version()
    attr = ProgLoadAttr(prog_type=int(ProgramType.KPROBE), insn_cnt=2,
                        insns=ctypes.addressof(insns), license=ctypes.addressof(lic),
                        kern_version=(major << 16) | (minor << 8) | min(patch, 255))
    prog = commands.prog_load(attr, "probe BPF_LINK_CREATE for perf events")
    try:
        link = LinkCreateAttr(attach_type=int(AttachType.PERF_EVENT))
        link.prog_fd = prog.raw
        link.target_fd = 0xFFFF_FFFF
        try:
            commands.link_create(link, "probe BPF_LINK_CREATE for perf events").close()
        except SyscallError as e:
            if e.errno == errno.EBADF:
                return
            if e.errno in (errno.EINVAL, errno.EOPNOTSUPP, 524):
                raise NotSupportedError(str(e)) from e
            raise
        raise NotSupportedError("BPF_LINK_CREATE accepted an invalid perf event")
    finally:
        prog.close()


class _Parts:
    """What a perf event attachment owns besides its Link's descriptor, and the order in which
    it is let go: descriptors first (the bpf_link, then the perf event), the tracefs event
    last. Shared by the Link's ``close()`` and its finalizer; runs once."""

    __slots__ = ("event", "fds")

    def __init__(self, fds: Sequence[FD], event: ProbeEvent | None) -> None:
        self.fds = list(fds)
        self.event = event

    def release(self, leaked: bool) -> None:
        if leaked:
            warnings.warn(f"a perf event attachment ({self.describe()}) was not closed; "
                          "detaching it now", ResourceWarning, stacklevel=2)
        for fd in self.fds:
            fd.close()
        event, self.event = self.event, None
        if event is not None:
            try:
                event.remove()
            except EbpfError as e:
                # Still open elsewhere (a pinned or cloned bpf_link holds the perf event):
                # the event lives on with it.
                _log.debug("leaving %r: %s", event, e)

    def describe(self) -> str:
        return repr(self.event) if self.event is not None else "perf event"


def _release_parts(parts: _Parts) -> None:
    parts.release(leaked=True)


def _finish(finalizer: weakref.finalize[[_Parts], Link]) -> None:
    """Let go of the parts now (``close()``), not as a leak."""
    detached = finalizer.detach()
    if detached is not None:
        parts = detached[2][0]
        assert isinstance(parts, _Parts)
        parts.release(leaked=False)


class PerfEventLink(BPFLink):
    """A bpf_link of a program on a perf event (``BPF_LINK_CREATE``, ``BPF_PERF_EVENT``).

    Its :attr:`fd` is the bpf_link's; it also owns the perf event and any tracefs event it
    was made from. :meth:`info` names the probe (file, offset, cookie ...): as the kernel
    describes the link (Linux 6.6+), or else as ``BPF_TASK_FD_QUERY`` describes the perf
    event (tracefs-made events), or else as the family that opened the event described it,
    with the cookie this Link set. A link opened by id or pin has only what the kernel says.
    """

    __slots__ = ("_cookie", "_finalizer", "_known", "_perf")

    _finalizer: weakref.finalize[[_Parts], Link]
    _perf: FD | None
    _cookie: int
    _known: dict[str, object] | None

    @classmethod
    def _made(cls, link_fd: FD, perf_fd: FD | None, event: ProbeEvent | None,
              cookie: int = 0, known: dict[str, object] | None = None) -> PerfEventLink:
        link = cls.__new__(cls)
        link._setup_link(link_fd, Mechanism.BPF_LINK)
        fds = [link_fd] if perf_fd is None else [link_fd, perf_fd]
        link._perf = perf_fd
        link._cookie = cookie
        link._known = known
        link._finalizer = weakref.finalize(link, _release_parts, _Parts(fds, event))
        return link

    def info(self) -> LinkInfo:
        info = super().info()
        target = info.target or {}
        if isinstance(target.get("perf_event_type"), str):
            return info
        # A kernel before 6.6 says only that this is a perf event link.
        probe = self._description()
        if probe is None:
            return info
        return replace(info, target={**probe, "cookie": self._cookie})

    def _description(self) -> dict[str, object] | None:
        """The event as ``BPF_TASK_FD_QUERY`` or the family that opened it describes it."""
        perf = self._perf
        if perf is not None and not perf.closed:
            described = _describe(perf.raw, self._known)
            return described[1] if described is not None else None
        return dict(self._known) if self._known is not None else None

    def _release(self) -> None:
        _finish(self._finalizer)

    def _cloned(self, fd: FD) -> PerfEventLink:
        # The clone owns only its descriptor of the bpf_link (which keeps the perf event
        # alive); the perf event and tracefs event stay this Link's. It keeps this Link's
        # description of the event, for kernels that do not describe the link (before 6.6).
        try:
            known = self._description()
        except EbpfError:
            known = None
        return PerfEventLink._made(fd, None, None, self._cookie, known)


class PerfEventAttachment(Link):
    """A program set on a perf event with ``PERF_EVENT_IOC_SET_BPF`` (kernels without
    ``BPF_PERF_EVENT`` links). Its :attr:`fd` is the perf event's; closing it detaches."""

    __slots__ = ("_finalizer", "_known", "_program_id")

    _finalizer: weakref.finalize[[_Parts], Link]
    _known: dict[str, object] | None
    _program_id: int

    @classmethod
    def _made(cls, perf_fd: FD, event: ProbeEvent | None,
              known: dict[str, object] | None = None, program_id: int = 0
              ) -> PerfEventAttachment:
        link = cls.__new__(cls)
        link._setup_link(perf_fd, Mechanism.PERF_EVENT)
        link._known = known
        link._program_id = program_id
        link._finalizer = weakref.finalize(link, _release_parts, _Parts([perf_fd], event))
        return link

    def _release(self) -> None:
        _finish(self._finalizer)

    def _cloned(self, fd: FD) -> PerfEventAttachment:
        fd.close()
        raise NotSupportedError("a perf event attachment cannot be cloned")

    def info(self) -> LinkInfo:
        """What ``BPF_TASK_FD_QUERY`` says about the perf event: the program's id and the
        probe (``perf_event_type``; ``file_name``/``func_name``/``tp_name``, ``offset``,
        ``addr``). For a perf event the query does not describe (software and hardware
        events), the event as it was opened (``perf_event_type`` ``"event"``, ``type``,
        ``config``) and the id the program had when it was attached.

        Raises:
            SyscallError: the kernel refused.
            ClosedError: the attachment was closed.
        """
        described = _describe(self._checked_fd("get info of").raw, self._known)
        prog_id, target = described or (0, {})
        return LinkInfo(type=LinkType.UNSPEC, id=0, program_id=prog_id or self._program_id,
                        mechanism=Mechanism.PERF_EVENT, target=target)


def _describe(perf_fd: int, known: dict[str, object] | None
              ) -> tuple[int, dict[str, object]] | None:
    """:func:`_query_probe`, or ``(0, known)`` where the kernel does not describe the event
    (None if nothing is known either)."""
    try:
        return _query_probe(perf_fd)
    except SyscallError as e:
        if e.errno not in _NOT_DESCRIBED:
            raise
    return (0, dict(known)) if known is not None else None


def _query_probe(perf_fd: int) -> tuple[int, dict[str, object]]:
    """(program id, probe description) of perf event ``perf_fd`` of this process, by
    ``BPF_TASK_FD_QUERY`` (Linux 4.18)."""
    buf = ctypes.create_string_buffer(4096)
    attr = TaskFdQueryAttr(pid=_self_pid[0], fd=perf_fd, buf=ctypes.addressof(buf),
                           buf_len=len(buf))
    commands.task_fd_query(attr, "query perf event attachment")
    kind = _FD_TYPES.get(int(attr.fd_type), str(int(attr.fd_type)))
    name = buf.value.decode(errors="replace")
    target: dict[str, object] = {"perf_event_type": kind}
    if kind in ("uprobe", "uretprobe"):
        target.update(file_name=name, offset=int(attr.probe_offset))
    elif kind in ("kprobe", "kretprobe"):
        target.update(func_name=name, offset=int(attr.probe_offset), addr=int(attr.probe_addr))
    else:
        target.update(tp_name=name)
    return int(attr.prog_id), target


def attach_perf_event(program: Program, perf_fd: FD, *, event: ProbeEvent | None = None,
                      cookie: int = 0, mechanism: Mechanism | None = None,
                      what: str = "", known: dict[str, object] | None = None) -> Link:
    """Run ``program`` whenever the perf event ``perf_fd`` fires.

    The result owns ``perf_fd`` and ``event`` (the tracefs event the perf event was opened
    from, if any), whatever happens: on failure both are let go before the error propagates.
    ``cookie`` is the attachment's BPF cookie (``bpf_get_attach_cookie``). ``mechanism``
    forces :attr:`Mechanism.BPF_LINK` or :attr:`Mechanism.PERF_EVENT` (default: the first
    the kernel has). ``what`` names the probe in errors. ``known`` is the event as the caller
    opened it, in :attr:`LinkInfo.target`'s terms: what ``info()`` gives where the kernel
    describes neither the link (before 6.6) nor the event (``BPF_TASK_FD_QUERY`` knows only
    tracefs-made events).

    Raises:
        UnsupportedFeatureError: a cookie, or a bpf_link, was asked for and the kernel has no
            perf event links (Linux 5.15).
        SyscallError: the kernel refused (``EINVAL``: e.g. a program of the wrong type or
            loaded for another attach type; ``EEXIST``: the perf event has a program).
    """
    parts = _Parts([perf_fd], event)
    try:
        if not 0 <= cookie < (1 << 64):
            raise EbpfError(f"{what or 'attach'}: the BPF cookie must fit in 64 bits, "
                            f"not {cookie!r}")
        use_link = mechanism is Mechanism.BPF_LINK
        if mechanism is None:
            try:
                have_perf_link()
                use_link = True
            except UnsupportedFeatureError:
                use_link = False
        elif mechanism not in (Mechanism.BPF_LINK, Mechanism.PERF_EVENT):
            raise EbpfError(f"a perf event is attached as a bpf_link or with ioctls, not "
                            f"{mechanism}")
        context = f"attach program {program.name!r} to {what or 'perf event'}"
        if use_link:
            attr = LinkCreateAttr(attach_type=int(AttachType.PERF_EVENT))
            attr.prog_fd = program.fd
            attr.target_fd = perf_fd.raw
            attr.perf_event.bpf_cookie = cookie
            link_fd = commands.link_create(attr, context)
            return PerfEventLink._made(link_fd, perf_fd, event, cookie, known)
        if cookie:
            raise UnsupportedFeatureError(
                "BPF cookies", "5.15", "attaching with PERF_EVENT_IOC_SET_BPF sets none")
        perf_event_ioctl(perf_fd.raw, PerfIoctl.SET_BPF, program.fd, what=context)
        perf_event_ioctl(perf_fd.raw, PerfIoctl.ENABLE, 0, what=context)
        program_id = program.info().id if known is not None else 0
        return PerfEventAttachment._made(perf_fd, event, known, program_id)
    except BaseException:
        parts.release(leaked=False)
        raise
