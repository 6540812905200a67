"""``RLIMIT_MEMLOCK`` and BPF memory.

Before Linux 5.11 the kernel charged BPF maps and programs against ``RLIMIT_MEMLOCK``, whose
default (64 KiB on many distributions) is too low for real programs. Since 5.11 BPF memory is
charged to the memory cgroup instead and the rlimit no longer matters.

:func:`remove_memlock` does what a loader needs on either kind of kernel. It is never called
implicitly: call it once, early, if your program may run on older kernels.
"""

from __future__ import annotations

import errno
import resource
import threading

from .errors import EbpfError, SyscallError
from .internal.sys import MapCreateAttr, commands

__all__ = ["memlock_limits_bpf", "remove_memlock"]

_lock = threading.Lock()
_memcg_accounting: bool | None = None


def memlock_limits_bpf() -> bool:
    """Whether this kernel still charges BPF memory to ``RLIMIT_MEMLOCK`` (before Linux 5.11).

    Probed once by creating a tiny map while the soft limit is temporarily 0 (the soft limit
    can always be lowered and raised back up to the hard limit without privileges).
    """
    global _memcg_accounting
    with _lock:
        if _memcg_accounting is None:
            soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
            resource.setrlimit(resource.RLIMIT_MEMLOCK, (0, hard))
            try:
                attr = MapCreateAttr(map_type=2, key_size=4, value_size=4, max_entries=1)
                commands.map_create(attr, "probe BPF memory accounting").close()
                _memcg_accounting = True
            except SyscallError as e:
                if e.errno != errno.EPERM:
                    raise
                _memcg_accounting = False
            finally:
                resource.setrlimit(resource.RLIMIT_MEMLOCK, (soft, hard))
        return not _memcg_accounting


def remove_memlock() -> None:
    """Make sure ``RLIMIT_MEMLOCK`` cannot stop maps and programs from being created.

    On kernels that charge BPF memory to the memory cgroup (5.11+) this changes nothing. On
    older kernels it raises the limit to infinity.

    Raises:
        EbpfError: the limit had to be raised and could not be (raising the hard limit needs
            CAP_SYS_RESOURCE); the ``__cause__`` is the ``OSError``.
    """
    if not memlock_limits_bpf():
        return
    try:
        resource.setrlimit(resource.RLIMIT_MEMLOCK,
                           (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (OSError, ValueError) as e:
        raise EbpfError(
            "cannot raise RLIMIT_MEMLOCK, which this kernel (before 5.11) applies to BPF "
            "memory: run with CAP_SYS_RESOURCE or raise the limit before starting") from e
