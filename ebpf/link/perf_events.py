"""Programs on perf events: the mechanism tracepoints, kprobes and uprobes share, and the
``perf_event`` family itself (software and hardware events that sample).

A perf event (``perf_event_open(2)``) is the hook; a program is put on it in one of two ways:

* ``BPF_LINK_CREATE`` with ``BPF_PERF_EVENT`` (Linux 5.15+): a bpf_link that can be pinned,
  has an id and info, and gives the program a cookie (``bpf_get_attach_cookie``);
* ``PERF_EVENT_IOC_SET_BPF`` then ``PERF_EVENT_IOC_ENABLE`` on older kernels: the perf event's
  descriptor is the attachment (:attr:`Mechanism.PERF_EVENT`); no cookie, no pin.

Which one is used is decided once per process by a feature probe. Either way the returned
:class:`~ebpf.link.Link` owns the perf event's descriptor, and a kprobe or uprobe event made
through tracefs for it is removed when the Link is closed.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from .. import asm
from ..errors import EbpfError, NotSupportedError, SyscallError, UnsupportedFeatureError
from ..internal.feature import feature_test
from ..internal.kernel import online_cpus
from ..internal.sys import FD, LinkCreateAttr, TaskFdQueryAttr, commands
from ..internal.unix import (
    PerfEventAttr,
    PerfIoctl,
    PerfType,
    SoftwareEvent,
    perf_event_ioctl,
    perf_event_open,
)
from ..program import Program, ProgramSpec
from ..types import AttachType, LinkType, ProgramType
from .link import BPFLink, Link, LinkInfo, Mechanism

if TYPE_CHECKING:
    from ..internal.tracefs import ProbeEvent

__all__ = ["PerfType", "SoftwareEvent", "perf_event", "perf_event_on_cpus"]

_log = logging.getLogger(__name__)

_MAX_U64 = (1 << 64) - 1
_ENOTSUPP = 524


@feature_test("BPF_LINK_CREATE with BPF_PERF_EVENT (bpf_link perf events, bpf cookies)", "5.15")
def _have_bpf_link_perf_event() -> None:
    """Whether ``BPF_LINK_CREATE`` takes perf events: attaching to a descriptor that is no
    perf event fails with ``EBADF`` where it does, ``EINVAL`` where the command does not know
    the attach type."""
    spec = ProgramSpec(name="probe_perf_link", type=ProgramType.TRACEPOINT, license="GPL",
                       instructions=asm.Instructions([asm.mov.imm(asm.R0, 0), asm.exit()]))
    with Program(spec) as prog:
        attr = LinkCreateAttr(attach_type=int(AttachType.PERF_EVENT))
        attr.prog_fd = prog.fd
        attr.target_fd = 0xFFFF_FFFF  # -1: no descriptor at all
        try:
            commands.link_create(attr, "probe BPF_LINK_CREATE with BPF_PERF_EVENT").close()
        except SyscallError as e:
            if e.errno == errno.EBADF:
                return
            if e.errno == errno.EINVAL:
                raise NotSupportedError(str(e)) from e
            raise
    raise EbpfError("probe BPF_LINK_CREATE with BPF_PERF_EVENT: the kernel accepted an "
                    "invalid descriptor")


def check_program_type(program: Program, wanted: Iterable[ProgramType], family: str) -> None:
    """Raise a clear error unless ``program`` is of one of the ``wanted`` types."""
    if not isinstance(program, Program):
        raise EbpfError(f"attach {family}: expected a Program, not {type(program).__name__}")
    allowed = tuple(wanted)
    if program.type not in allowed:
        have = program.type.name if isinstance(program.type, ProgramType) else program.type
        names = " or ".join(t.name for t in allowed)
        raise EbpfError(f"attach {family}: program {program.name!r} is of type {have}, but "
                        f"a {family} runs {names} programs")


def check_cookie(cookie: object, family: str) -> int:
    if not isinstance(cookie, int) or isinstance(cookie, bool) or not 0 <= cookie <= _MAX_U64:
        raise EbpfError(f"attach {family}: cookie must be an int from 0 to 2**64-1, "
                        f"not {cookie!r}")
    return cookie


class PerfEventLink(BPFLink):
    """A bpf_link of a program on a perf event (``BPF_LINK_CREATE`` with ``BPF_PERF_EVENT``).

    Besides the link it owns the perf event's descriptor and, for a probe made through
    tracefs, that probe event; both are released when the Link is closed. The kernel keeps the
    perf event alive as long as the link exists (a pinned link outlives both).
    """

    __slots__ = ("_event", "_probe")

    _event: FD | None
    _probe: ProbeEvent | None

    @classmethod
    def _made(cls, fd: FD, event: FD, probe: ProbeEvent | None) -> PerfEventLink:
        link = cls.__new__(cls)
        link._setup_link(fd, Mechanism.BPF_LINK)
        link._event = event
        link._probe = probe
        return link

    @classmethod
    def _adopt(cls, fd: FD) -> PerfEventLink:
        link = super()._adopt(fd)
        assert isinstance(link, PerfEventLink)
        link._event = None
        link._probe = None
        return link

    def _cloned(self, fd: FD) -> PerfEventLink:
        # The clone owns its own descriptor of the perf event; the tracefs event stays with
        # this Link, which made it.
        event = self._event.dup() if self._event is not None else None
        link = PerfEventLink.__new__(PerfEventLink)
        link._setup_link(fd, Mechanism.BPF_LINK)
        link._event = event
        link._probe = None
        return link

    def _release(self) -> None:
        event, self._event = self._event, None
        probe, self._probe = self._probe, None
        # The link holds the perf event, and the perf event the tracefs probe event: release
        # them in that order (KernelObject.close closes the link's FD again: a no-op).
        try:
            self._fd.close()
        finally:
            if event is not None:
                event.close()
            if probe is not None:
                _remove_probe(probe)


def _remove_probe(probe: ProbeEvent) -> None:
    """Remove a tracefs probe event; one that is still in use (by a pinned or cloned
    attachment, ``EBUSY``) stays, and is logged."""
    try:
        probe.remove()
    except EbpfError as e:
        _log.debug("%r stays: %s", probe, e)


class PerfEventIoctlLink(Link):
    """A program on a perf event through ``PERF_EVENT_IOC_SET_BPF`` (kernels before 5.15).

    The Link's descriptor is the perf event's: closing it detaches the program. Such an
    attachment cannot be pinned or updated and carries no cookie; :meth:`info` reports what
    ``BPF_TASK_FD_QUERY`` says about it.
    """

    __slots__ = ("_probe",)

    _pinnable: ClassVar[bool] = False
    _probe: ProbeEvent | None

    @classmethod
    def _made(cls, event: FD, probe: ProbeEvent | None) -> PerfEventIoctlLink:
        link = cls.__new__(cls)
        link._setup_link(event, Mechanism.PERF_EVENT)
        link._probe = probe
        return link

    def _cloned(self, fd: FD) -> PerfEventIoctlLink:
        link = PerfEventIoctlLink.__new__(PerfEventIoctlLink)
        link._setup_link(fd, Mechanism.PERF_EVENT)
        link._probe = None
        return link

    def _release(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            # The event must be closed before its tracefs definition can go: close it now
            # (KernelObject.close closes it again, which is a no-op on a closed FD).
            self._fd.close()
            _remove_probe(probe)

    def info(self) -> LinkInfo:
        """What ``BPF_TASK_FD_QUERY`` says: the program id and, in ``target``, the kind of
        event (``perf_event_type``) and its ``tp_name`` or ``func_name``, ``offset``,
        ``addr`` (kprobes) or ``file_name`` (uprobes).

        Raises:
            ClosedError: the link was closed.
            SyscallError: the query failed.
        """
        raw = self._checked_fd("get info of").raw
        return task_fd_info(raw)


# enum bpf_task_fd_type
_FD_TYPES = {0: "raw_tracepoint", 1: "tracepoint", 2: "kprobe", 3: "kretprobe", 4: "uprobe",
             5: "uretprobe"}


def task_fd_info(fd: int) -> LinkInfo:
    """The attachment behind perf event descriptor ``fd`` of this process
    (``BPF_TASK_FD_QUERY``, Linux 4.18+), as a :class:`LinkInfo`.

    Raises:
        SyscallError: the kernel refused (``ENOTSUPP`` for a perf event with no program or
            of a kind the query does not describe, such as software events).
    """
    buf = ctypes.create_string_buffer(4096)
    attr = TaskFdQueryAttr(pid=os.getpid(), fd=fd, buf=ctypes.addressof(buf), buf_len=len(buf))
    commands.task_fd_query(attr, "query perf event attachment")
    kind = _FD_TYPES.get(int(attr.fd_type), int(attr.fd_type))
    name = buf.value.decode(errors="replace")
    target: dict[str, object] = {"perf_event_type": kind}
    if kind in ("tracepoint", "raw_tracepoint"):
        target["tp_name"] = name
    elif kind in ("kprobe", "kretprobe"):
        target.update(func_name=name, offset=int(attr.probe_offset),
                      addr=int(attr.probe_addr))
    elif kind in ("uprobe", "uretprobe"):
        target.update(file_name=name, offset=int(attr.probe_offset))
    return LinkInfo(type=LinkType.UNSPEC, id=0, program_id=int(attr.prog_id),
                    mechanism=Mechanism.PERF_EVENT, target=target)


def attach_perf_event(program: Program, event: FD, *, cookie: int = 0,
                      probe: ProbeEvent | None = None, what: str) -> Link:
    """Attach ``program`` to the perf event ``event`` and enable the event.

    Ownership: ``event`` and ``probe`` pass to the returned Link, and are closed (removed)
    here if attaching fails. ``program`` is borrowed.

    Raises:
        UnsupportedFeatureError: a ``cookie`` on a kernel without bpf_link perf events (5.15).
        SyscallError: the kernel refused.
    """
    try:
        try:
            _have_bpf_link_perf_event()
        except NotSupportedError as e:
            if cookie:
                raise UnsupportedFeatureError(
                    "bpf cookies on perf events (BPF_LINK_CREATE with BPF_PERF_EVENT)", "5.15",
                    f"{what}: cookie={cookie:#x} cannot be given to the program") from e
            return _attach_ioctl(program, event, probe, what)
        return _attach_link(program, event, probe, cookie, what)
    except BaseException:
        event.close()
        if probe is not None:
            _remove_probe(probe)
        raise


def _attach_link(program: Program, event: FD, probe: ProbeEvent | None, cookie: int,
                 what: str) -> Link:
    attr = LinkCreateAttr(attach_type=int(AttachType.PERF_EVENT))
    attr.prog_fd = program.fd
    attr.target_fd = event.raw
    attr.perf_event.bpf_cookie = cookie
    context = f"attach program {program.name!r} to {what}"
    try:
        fd = commands.link_create(attr, context)
    except SyscallError as e:
        raise _attach_error(e, context) from e
    link = PerfEventLink._made(fd, event, None)
    try:
        perf_event_ioctl(event.raw, PerfIoctl.ENABLE, what=f"enable {what}")
    except BaseException:
        link.close()
        raise
    link._probe = probe  # only now: a failure above leaves the probe to the caller's cleanup
    return link


def _attach_error(e: SyscallError, context: str) -> SyscallError:
    """``e`` with a hint for the errors whose cause the kernel leaves unsaid."""
    if e.errno == errno.EEXIST:
        hint = "the program is attached to this hook already (a hook runs a program once)"
    elif e.errno == errno.E2BIG:
        hint = "the hook has as many programs as the kernel allows"
    else:
        return e
    return SyscallError(e.errno or 0, e.cmd, f"{context}: {hint}")


def _attach_ioctl(program: Program, event: FD, probe: ProbeEvent | None, what: str) -> Link:
    context = f"attach program {program.name!r} to {what}"
    try:
        perf_event_ioctl(event.raw, PerfIoctl.SET_BPF, program.fd, what=context)
    except SyscallError as e:
        raise _attach_error(e, context) from e
    perf_event_ioctl(event.raw, PerfIoctl.ENABLE, what=f"enable {what}")
    return PerfEventIoctlLink._made(event, probe)


# --- the perf_event family -----------------------------------------------------------------------

def _check_int(value: object, what: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise EbpfError(f"attach perf event: {what} must be an int from {lo} to {hi}, "
                        f"not {value!r}")
    return value


def _event_attr(type: int, config: int, sample_period: int | None, sample_freq: int | None,
                inherit: bool, exclude_kernel: bool, exclude_user: bool) -> PerfEventAttr:
    _check_int(type, "type", 0, 0xFFFF_FFFF)
    _check_int(config, "config", 0, _MAX_U64)
    if (sample_period is None) == (sample_freq is None):
        raise EbpfError("attach perf event: give exactly one of sample_period and sample_freq")
    flags = PerfEventAttr.FLAG_DISABLED  # enabled once the program is on it
    if sample_freq is not None:
        period = _check_int(sample_freq, "sample_freq", 1, _MAX_U64)
        flags |= PerfEventAttr.FLAG_FREQ
    else:
        period = _check_int(sample_period, "sample_period", 1, _MAX_U64)
    if inherit:
        flags |= PerfEventAttr.FLAG_INHERIT
    if exclude_kernel:
        flags |= PerfEventAttr.FLAG_EXCLUDE_KERNEL
    if exclude_user:
        flags |= PerfEventAttr.FLAG_EXCLUDE_USER
    return PerfEventAttr(type=type, config=config, sample_period=period, flags=flags)


def _event_name(type: int, config: int) -> str:
    if type == PerfType.SOFTWARE and config in SoftwareEvent._value2member_map_:
        return f"software event {SoftwareEvent(config).name}"
    kind = PerfType(type).name.lower() if type in PerfType._value2member_map_ else f"type {type}"
    return f"{kind} perf event {config:#x}"


def perf_event(program: Program, *, type: PerfType | int, config: int,
               sample_period: int | None = None, sample_freq: int | None = None,
               pid: int = -1, cpu: int = 0, cookie: int = 0, inherit: bool = False,
               exclude_kernel: bool = False, exclude_user: bool = False) -> Link:
    """Run ``program`` (a ``PERF_EVENT`` program) on every sample of a perf event.

    ``type`` and ``config`` name the event (``PerfType.SOFTWARE`` with a
    :class:`SoftwareEvent`, ``PerfType.HARDWARE`` with ``PERF_COUNT_HW_*`` ...); it samples
    every ``sample_period`` events or ``sample_freq`` times a second (give one). ``pid`` and
    ``cpu`` are those of ``perf_event_open(2)``: ``pid=-1`` with a CPU counts everything on
    that CPU, a pid with ``cpu=-1`` follows one task everywhere. One Link is one (pid, cpu);
    :func:`perf_event_on_cpus` opens one per online CPU.

    The returned Link owns a new descriptor (the bpf_link, or the perf event on kernels
    before 5.15) and the perf event; closing it detaches. ``program`` is borrowed.

    Raises:
        NotSupportedError: the machine has no such event (``ENOENT``/``EOPNOTSUPP``/
            ``ENODEV``: e.g. hardware events without a PMU, as in most VMs).
        UnsupportedFeatureError: a ``cookie`` on a kernel before 5.15.
        SyscallError: ``perf_event_open`` or the attachment failed otherwise (``EACCES``:
            ``CAP_PERFMON`` is needed for system-wide events).
        EbpfError: an argument is invalid, or the program is not a ``PERF_EVENT`` program.
    """
    check_program_type(program, (ProgramType.PERF_EVENT,), "perf event")
    cookie = check_cookie(cookie, "perf event")
    _check_int(pid, "pid", -1, 0x7FFF_FFFF)
    _check_int(cpu, "cpu", -1, 0x7FFF_FFFF)
    if pid == -1 and cpu == -1:
        raise EbpfError("attach perf event: pid=-1 and cpu=-1 together name no event; give "
                        "a pid, a cpu, or both")
    attr = _event_attr(int(type), config, sample_period, sample_freq, inherit, exclude_kernel,
                       exclude_user)
    what = _event_name(int(type), config)
    where = f"{what} (pid {pid}, cpu {cpu})"
    try:
        event = perf_event_open(attr, pid=pid, cpu=cpu, what=f"open {where}")
    except SyscallError as e:
        if e.errno in (errno.ENOENT, errno.EOPNOTSUPP, errno.ENODEV, _ENOTSUPP):
            raise NotSupportedError(f"open {where}: this machine has no such event "
                                    f"({e.strerror})") from e
        raise
    return attach_perf_event(program, event, cookie=cookie, what=where)


def perf_event_on_cpus(program: Program, *, type: PerfType | int, config: int,
                       sample_period: int | None = None, sample_freq: int | None = None,
                       cookie: int = 0, exclude_kernel: bool = False,
                       exclude_user: bool = False) -> list[Link]:
    """:func:`perf_event` on every online CPU (``pid=-1``): one Link per CPU, in CPU order.

    The caller owns every Link of the list. If one CPU fails, the Links made so far are closed
    before the error propagates.

    Raises:
        as :func:`perf_event`.
    """
    links: list[Link] = []
    try:
        for cpu in online_cpus():
            links.append(perf_event(program, type=type, config=config,
                                    sample_period=sample_period, sample_freq=sample_freq,
                                    pid=-1, cpu=cpu, cookie=cookie,
                                    exclude_kernel=exclude_kernel, exclude_user=exclude_user))
    except BaseException:
        for link in links:
            link.close()
        raise
    return links
