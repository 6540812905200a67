"""Tracepoints: the kernel's static trace events, through a perf event (:func:`tracepoint`) or
directly (:func:`raw_tracepoint`, ``BPF_RAW_TRACEPOINT_OPEN``)."""

from __future__ import annotations

import ctypes
import errno

from ..asm.helpers import Helper
from ..errors import EbpfError, SyscallError, UnsupportedFeatureError
from ..internal.kernel import kernel_version
from ..internal.sys import RawTracepointOpenAttr, commands
from ..internal.tracefs import tracepoint_id
from ..internal.unix import PerfEventAttr, PerfType, perf_event_open
from ..program import Program
from ..types import AttachType, ProgramType
from ._common import check_program
from ._perf_attach import attach_perf_event
from .link import BPFLink, Link
from .perf_events import check_cookie

__all__ = ["check_raw_tp_cookies", "raw_tracepoint", "tracepoint"]


def check_raw_tp_cookies(feature: str, context: str) -> None:
    """Raise :class:`UnsupportedFeatureError` (``feature``, 6.10) unless raw_tp and tp_btf
    attachments carry cookies on this kernel.

    Both came in 6.10 with ``bpf_get_attach_cookie`` for raw tracepoint programs, which is
    what is probed; should the probe not decide, the kernel's version does. Older kernels
    either refuse the cookie with a bare ``EINVAL`` (``BPF_RAW_TRACEPOINT_OPEN``) or drop it
    silently (``BPF_LINK_CREATE`` of a tp_btf program), so this is asked before attaching.
    """
    from ..features import have_helper  # the probes load programs: only cookies need them

    try:
        have_helper(ProgramType.RAW_TRACEPOINT, Helper.get_attach_cookie)
    except UnsupportedFeatureError as e:
        raise UnsupportedFeatureError(feature, "6.10", context) from e
    except EbpfError:
        if kernel_version() < (6, 10):
            raise UnsupportedFeatureError(feature, "6.10", context) from None


def tracepoint(group: str, name: str, program: Program, *, cookie: int = 0) -> Link:
    """Run ``program`` (a ``TRACEPOINT`` program) whenever tracepoint ``group:name`` fires,
    e.g. ``tracepoint("syscalls", "sys_enter_openat", prog)``.

    A perf event of type ``PERF_TYPE_TRACEPOINT`` is opened on the tracepoint's tracefs id
    and the program attached to it (a bpf_link on Linux 5.15+, else
    ``PERF_EVENT_IOC_SET_BPF``; see :mod:`ebpf.link.perf_events`). ``cookie`` is what
    ``bpf_get_attach_cookie`` returns in the program (5.15+).

    The returned Link owns a new descriptor (and the perf event); closing it detaches.
    ``program`` is borrowed.

    Raises:
        NotSupportedError: tracefs is not mounted (the message says how to mount it).
        UnsupportedFeatureError: a ``cookie`` on a kernel before 5.15.
        EbpfError: there is no tracepoint ``group:name`` (the message names the tracefs file
            looked for), or ``program`` is not a ``TRACEPOINT`` program.
        SyscallError: the kernel refused the perf event or the attachment.
    """
    check_program(program, "tracepoint", (ProgramType.TRACEPOINT,))
    cookie = check_cookie(cookie, "tracepoint")
    tp_id = tracepoint_id(group, name)
    what = f"tracepoint {group}:{name}"
    attr = PerfEventAttr(type=PerfType.TRACEPOINT, config=tp_id)
    event = perf_event_open(attr, pid=-1, cpu=0, what=f"open {what}")
    return attach_perf_event(program, event, cookie=cookie, what=what)


_RAW_TYPES = (ProgramType.RAW_TRACEPOINT, ProgramType.RAW_TRACEPOINT_WRITABLE,
              ProgramType.TRACING)


def raw_tracepoint(name: str | None, program: Program, *, cookie: int = 0) -> BPFLink:
    """Run ``program`` whenever tracepoint ``name`` fires, with the tracepoint's raw
    arguments (``BPF_RAW_TRACEPOINT_OPEN``), e.g. ``raw_tracepoint("sys_enter", prog)``.

    ``program`` is a ``RAW_TRACEPOINT`` (``SEC("raw_tp/...")``) or ``RAW_TRACEPOINT_WRITABLE``
    program, or a ``tp_btf`` program (``TRACING``), whose tracepoint was fixed when it was
    loaded: ``name`` may then be None, and is otherwise checked against it. ``cookie``
    (Linux 6.10+) is what ``bpf_get_attach_cookie`` returns in the program.

    The returned Link owns a new bpf_link descriptor (Linux 5.8+); closing it detaches.
    ``program`` is borrowed.

    Raises:
        SyscallError: ``ENOENT`` if the kernel has no tracepoint ``name`` (the message says
            so); other refusals.
        UnsupportedFeatureError: a ``cookie`` on a kernel before 6.10 (``"raw tracepoint
            cookies"``, or ``"tp_btf cookies"`` for a tp_btf program).
        EbpfError: ``program`` is of another type, or a ``tp_btf`` program was loaded for
            another tracepoint than ``name``.
    """
    check_program(program, "raw_tracepoint", _RAW_TYPES)
    cookie = check_cookie(cookie, "raw_tracepoint")
    btf_tp = program.type == ProgramType.TRACING
    if btf_tp and program.attach_type not in (AttachType.TRACE_RAW_TP, None):
        raise EbpfError(f"attach raw tracepoint: program {program.name!r} is a TRACING program "
                        "but not a tp_btf one (use ebpf.link.tracing)")
    if name is None and not btf_tp:
        raise EbpfError(f"attach raw tracepoint: program {program.name!r} needs the name of "
                        "the tracepoint")
    if name is not None and (not isinstance(name, str) or not name or "\0" in name):
        raise EbpfError(f"attach raw tracepoint: invalid tracepoint name {name!r}")
    shown = name if name is not None else "(its tp_btf target)"
    context = f"attach program {program.name!r} to raw tracepoint {shown}"
    # A tp_btf program names its tracepoint at load time; the kernel wants no name then.
    buf = ctypes.create_string_buffer(name.encode()) if name is not None and not btf_tp else None
    if cookie:
        check_raw_tp_cookies("tp_btf cookies" if btf_tp else "raw tracepoint cookies", context)
    attr = RawTracepointOpenAttr(prog_fd=program.fd, cookie=cookie)
    if buf is not None:
        attr.name = ctypes.addressof(buf)
    try:
        fd = commands.raw_tracepoint_open(attr, context)
    except SyscallError as e:
        if e.errno == errno.ENOENT and buf is not None:
            raise SyscallError(e.errno, e.cmd, f"{context}: the kernel has no tracepoint "
                               f"{name!r}") from e
        if e.errno == errno.E2BIG and cookie:
            raise UnsupportedFeatureError("raw tracepoint cookies", "6.10", context) from e
        raise
    link = BPFLink._created(fd)
    if btf_tp and name is not None:
        try:
            tp_name = (link.info().target or {}).get("tp_name")
        except EbpfError:
            tp_name = None
        if tp_name is not None and tp_name != name:
            link.close()
            raise EbpfError(f"{context}: the tp_btf program was loaded for tracepoint "
                            f"{tp_name!r}, not {name!r}")
    return link
