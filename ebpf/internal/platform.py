"""Facts about the machine's architecture that kernel interfaces depend on.

Syscall entry points carry an architecture prefix in kernels built with syscall wrappers
(``__x64_sys_openat`` on x86-64, since Linux 4.17): a kprobe on a syscall, and libbpf's
``SEC("ksyscall/...")`` convention, need the name as this kernel spells it.
"""

from __future__ import annotations

import os
from typing import Final

__all__ = ["MACHINE", "SYSCALL_PREFIXES", "syscall_prefix"]

MACHINE: Final = os.uname().machine

#: The syscall wrapper prefix of each architecture (``uname -m``).
_PREFIX_BY_MACHINE: Final = {
    "x86_64": "__x64_", "i386": "__ia32_", "i686": "__ia32_", "aarch64": "__arm64_",
    "arm64": "__arm64_", "s390x": "__s390x_", "s390": "__s390_", "riscv64": "__riscv_",
    "ppc64": "__powerpc_", "ppc64le": "__powerpc_", "loongarch64": "__loongarch_",
    "armv7l": "__arm_",
}

#: Every prefix a syscall wrapper can have, on any architecture.
SYSCALL_PREFIXES: Final = tuple(dict.fromkeys(_PREFIX_BY_MACHINE.values()))


def syscall_prefix(machine: str = MACHINE) -> str | None:
    """The syscall wrapper prefix of ``machine`` (this one by default), None if unknown."""
    return _PREFIX_BY_MACHINE.get(machine)
