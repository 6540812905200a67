"""The process's capabilities and the kernel's lockdown mode, for errors that explain EPERM.

An ``EPERM`` from ``bpf(2)`` means different things to a process that lacks ``CAP_BPF`` (ask for
privileges) and to one that has it (the kernel refused something else: a program type it does
not allow, a lockdown, a security module). These read what is needed to tell them apart.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CAP_BPF", "CAP_NET_ADMIN", "CAP_PERFMON", "CAP_SYS_ADMIN", "has_capability",
           "lockdown_mode"]

CAP_NET_ADMIN: Final = 12
CAP_SYS_ADMIN: Final = 21
CAP_PERFMON: Final = 38
CAP_BPF: Final = 39


def _effective() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return None


def has_capability(cap: int) -> bool | None:
    """Whether this process has capability ``cap`` in effect (None if it cannot be read)."""
    eff = _effective()
    return None if eff is None else bool(eff >> cap & 1)


def lockdown_mode() -> str | None:
    """The kernel lockdown mode (``none``, ``integrity``, ``confidentiality``), or None if the
    kernel has no lockdown LSM or securityfs is not mounted."""
    try:
        with open("/sys/kernel/security/lockdown") as f:
            text = f.read()
    except OSError:
        return None
    start, end = text.find("["), text.find("]")
    return text[start + 1:end] if 0 <= start < end else None
