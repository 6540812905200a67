"""``perf_event_open(2)`` and the perf event ``ioctl``\\ s: the one place that knows their ABI.

Attaching programs to tracepoints, kprobes, uprobes and perf events, and reading perf event
buffers, all start from a perf event. This module owns ``struct perf_event_attr`` and the
``PERF_EVENT_IOC_*`` numbers; everything above calls :func:`perf_event_open` and
:func:`perf_event_ioctl`. Descriptors come back as :class:`~ebpf.internal.sys.FD`, close-on-exec.
"""

from __future__ import annotations

import ctypes
import enum
import errno
import fcntl
from typing import Final

from ..errors import NotSupportedError, SyscallError
from .platform import MACHINE
from .sys import FD

__all__ = [
    "PERF_FLAG_FD_CLOEXEC",
    "PerfEventAttr",
    "PerfIoctl",
    "PerfType",
    "SoftwareEvent",
    "perf_event_ioctl",
    "perf_event_open",
    "pmu_format_bit",
    "pmu_type",
]

#: __NR_perf_event_open per architecture (``uname -m``).
_SYS_PERF_EVENT_OPEN: Final = {
    "x86_64": 298, "amd64": 298, "i386": 336, "i686": 336, "aarch64": 241, "arm64": 241,
    "riscv64": 241, "loongarch64": 241, "armv7l": 364, "armv6l": 364, "ppc64": 319,
    "ppc64le": 319, "s390x": 331, "mips64": 5292,
}

PERF_FLAG_FD_CLOEXEC: Final = 1 << 3


class PerfType(enum.IntEnum):
    """``enum perf_type_id``: the fixed PMU types (dynamic ones, such as kprobe and uprobe,
    come from :func:`pmu_type`)."""

    HARDWARE = 0
    SOFTWARE = 1
    TRACEPOINT = 2
    HW_CACHE = 3
    RAW = 4
    BREAKPOINT = 5


class SoftwareEvent(enum.IntEnum):
    """``enum perf_sw_ids``."""

    CPU_CLOCK = 0
    TASK_CLOCK = 1
    PAGE_FAULTS = 2
    CONTEXT_SWITCHES = 3
    CPU_MIGRATIONS = 4
    PAGE_FAULTS_MIN = 5
    PAGE_FAULTS_MAJ = 6
    ALIGNMENT_FAULTS = 7
    EMULATION_FAULTS = 8
    DUMMY = 9
    BPF_OUTPUT = 10
    CGROUP_SWITCHES = 11


class PerfIoctl(enum.IntEnum):
    """The ``PERF_EVENT_IOC_*`` requests (``_IO``/``_IOW('$', n, ...)`` as x86-64, arm64,
    riscv and s390 encode them)."""

    ENABLE = 0x2400
    DISABLE = 0x2401
    RESET = 0x2403
    PERIOD = 0x40082404
    SET_OUTPUT = 0x2405
    SET_BPF = 0x40042408
    PAUSE_OUTPUT = 0x40042409


class PerfEventAttr(ctypes.Structure):
    """``struct perf_event_attr`` (``PERF_ATTR_SIZE_VER8``, 136 bytes). The one-bit flags
    live in ``flags``: see the ``FLAG_*`` constants."""

    _fields_ = [
        ("type", ctypes.c_uint32),
        ("size", ctypes.c_uint32),
        ("config", ctypes.c_uint64),
        ("sample_period", ctypes.c_uint64),     # also sample_freq (with FLAG_FREQ)
        ("sample_type", ctypes.c_uint64),
        ("read_format", ctypes.c_uint64),
        ("flags", ctypes.c_uint64),
        ("wakeup_events", ctypes.c_uint32),     # also wakeup_watermark (FLAG_WATERMARK)
        ("bp_type", ctypes.c_uint32),
        ("config1", ctypes.c_uint64),           # also kprobe_func, uprobe_path
        ("config2", ctypes.c_uint64),           # also kprobe_addr, probe_offset
        ("branch_sample_type", ctypes.c_uint64),
        ("sample_regs_user", ctypes.c_uint64),
        ("sample_stack_user", ctypes.c_uint32),
        ("clockid", ctypes.c_int32),
        ("sample_regs_intr", ctypes.c_uint64),
        ("aux_watermark", ctypes.c_uint32),
        ("sample_max_stack", ctypes.c_uint16),
        ("_reserved_2", ctypes.c_uint16),
        ("aux_sample_size", ctypes.c_uint32),
        ("_reserved_3", ctypes.c_uint32),
        ("sig_data", ctypes.c_uint64),
    ]

    # Bits of ``flags``, in the order of the C bitfield.
    FLAG_DISABLED: Final = 1 << 0
    FLAG_INHERIT: Final = 1 << 1
    FLAG_EXCLUDE_USER: Final = 1 << 4
    FLAG_EXCLUDE_KERNEL: Final = 1 << 5
    FLAG_EXCLUDE_HV: Final = 1 << 6
    FLAG_FREQ: Final = 1 << 10
    FLAG_WATERMARK: Final = 1 << 14
    FLAG_WRITE_BACKWARD: Final = 1 << 27

    # PERF_SAMPLE_RAW: a sample carries the program's bpf_perf_event_output data.
    SAMPLE_RAW: Final = 1 << 10


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def perf_event_open(attr: PerfEventAttr, pid: int = -1, cpu: int = 0, group_fd: int = -1,
                    flags: int = PERF_FLAG_FD_CLOEXEC, *, what: str = "") -> FD:
    """``perf_event_open(attr, pid, cpu, group_fd, flags)``; ``attr.size`` is filled in.

    Raises:
        SyscallError: the kernel refused (``errno``: ``ENOENT`` for an event it does not know,
            ``EACCES``/``EPERM`` without ``CAP_PERFMON``, ``ENODEV`` for a missing PMU ...).
        NotSupportedError: this architecture's syscall number is unknown.
    """
    nr = _SYS_PERF_EVENT_OPEN.get(MACHINE)
    if nr is None:
        raise NotSupportedError(f"perf_event_open: unknown syscall number on {MACHINE}")
    attr.size = ctypes.sizeof(attr)
    while True:
        ret = _syscall(ctypes.c_long(nr), ctypes.byref(attr), ctypes.c_int(pid),
                       ctypes.c_int(cpu), ctypes.c_int(group_fd), ctypes.c_ulong(flags))
        if ret >= 0:
            return FD(int(ret), "perf event")
        err = ctypes.get_errno()
        if err != errno.EINTR:
            raise SyscallError(err, "perf_event_open", what)


def perf_event_ioctl(fd: int, request: PerfIoctl, arg: int = 0, *, what: str = "") -> None:
    """``ioctl(fd, request, arg)`` on a perf event.

    Raises:
        SyscallError: the kernel refused.
    """
    try:
        fcntl.ioctl(fd, int(request), arg)
    except OSError as e:
        raise SyscallError(e.errno or 0, f"ioctl({request.name})", what) from None


def pmu_type(name: str) -> int:
    """The dynamic type number of PMU ``name`` (``kprobe``, ``uprobe``) from sysfs.

    Raises:
        NotSupportedError: the kernel has no such PMU.
    """
    path = f"/sys/bus/event_source/devices/{name}/type"
    try:
        with open(path) as f:
            return int(f.read().strip())
    except FileNotFoundError:
        raise NotSupportedError(f"the kernel has no {name} PMU ({path} is missing)") from None
    except (OSError, ValueError) as e:
        raise NotSupportedError(f"cannot read {path}: {e}") from e


def pmu_format_bit(name: str, field: str) -> int | None:
    """The bit a PMU's ``format/FIELD`` file names (``config:0`` -> 0), e.g. the
    ``retprobe`` bit of the kprobe and uprobe PMUs, or None if the PMU lacks the field."""
    path = f"/sys/bus/event_source/devices/{name}/format/{field}"
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    _, _, bits = text.partition(":")
    try:
        return int(bits.split("-")[0])
    except ValueError:
        return None

