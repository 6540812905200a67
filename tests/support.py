"""Helpers shared by several test modules: facts about the running kernel (read directly so
tests can compare them with what BPF programs report) and about this process."""

from __future__ import annotations

import errno
import gzip
import os


def kernel_config() -> dict[str, str]:
    """The running kernel's configuration (``CONFIG_*`` to value) from ``/proc/config.gz``, or
    ``/boot/config-<release>`` where the kernel has no ``/proc/config.gz``."""
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            text = f.read()
    except OSError:
        with open(f"/boot/config-{os.uname().release}") as f:
            text = f.read()
    return dict(line.strip().split("=", 1) for line in text.splitlines()
                if line.startswith("CONFIG_") and "=" in line)


def kallsyms(name: str) -> int:
    """The address of kernel symbol ``name`` from ``/proc/kallsyms``."""
    with open("/proc/kallsyms") as f:
        for line in f:
            parts = line.split()
            if parts[2] == name:
                return int(parts[0], 16)
    raise KeyError(name)


def fd_is_open(raw: int) -> bool:
    """Whether descriptor number ``raw`` is open in this process."""
    try:
        os.fstat(raw)
    except OSError as e:
        assert e.errno == errno.EBADF
        return False
    return True
