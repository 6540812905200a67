"""The ``perf_event`` family: a ``PERF_EVENT`` program run on the samples of a software or
hardware perf event.

The program is put on the perf event as every perf-event family does it
(:mod:`ebpf.link._perf_attach`): a bpf_link (``BPF_LINK_CREATE`` with ``BPF_PERF_EVENT``,
Linux 5.15+, with a cookie) where the kernel has one, else ``PERF_EVENT_IOC_SET_BPF``. Either
way the returned :class:`~ebpf.link.Link` owns the perf event's descriptor.
"""

from __future__ import annotations

import errno
from typing import Final

from ..errors import EbpfError, NotSupportedError, SyscallError
from ..internal.kernel import online_cpus
from ..internal.unix import PerfEventAttr, PerfType, SoftwareEvent, perf_event_open
from ..program import Program
from ..types import ProgramType
from ._common import check_program
from ._perf_attach import attach_perf_event
from .link import Link

__all__ = ["PerfType", "SoftwareEvent", "check_cookie", "perf_event", "perf_event_on_cpus"]

_MAX_U64: Final = (1 << 64) - 1
_ENOTSUPP: Final = 524


def check_cookie(cookie: object, family: str) -> int:
    """``cookie``, checked to be a 64-bit value."""
    if not isinstance(cookie, int) or isinstance(cookie, bool) or not 0 <= cookie <= _MAX_U64:
        raise EbpfError(f"{family}: cookie must be an int from 0 to 2**64-1, not {cookie!r}")
    return cookie


# --- the perf_event family -----------------------------------------------------------------------

def _check_int(value: object, what: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise EbpfError(f"perf_event: {what} must be an int from {lo} to {hi}, "
                        f"not {value!r}")
    return value


def _event_attr(type: int, config: int, sample_period: int | None, sample_freq: int | None,
                inherit: bool, exclude_kernel: bool, exclude_user: bool) -> PerfEventAttr:
    _check_int(type, "type", 0, 0xFFFF_FFFF)
    _check_int(config, "config", 0, _MAX_U64)
    if (sample_period is None) == (sample_freq is None):
        raise EbpfError("perf_event: give exactly one of sample_period and sample_freq")
    flags = 0
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
    check_program(program, "perf_event", (ProgramType.PERF_EVENT,))
    cookie = check_cookie(cookie, "perf_event")
    _check_int(pid, "pid", -1, 0x7FFF_FFFF)
    _check_int(cpu, "cpu", -1, 0x7FFF_FFFF)
    if pid == -1 and cpu == -1:
        raise EbpfError("perf_event: pid=-1 and cpu=-1 together name no event; give "
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
    # Kernels before 6.6 describe neither the link nor (BPF_TASK_FD_QUERY) such an event.
    known: dict[str, object] = {"perf_event_type": "event", "config": config,
                                "type": int(type)}
    return attach_perf_event(program, event, cookie=cookie, what=where, known=known)


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
