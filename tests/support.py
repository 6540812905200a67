"""Helpers shared by several test modules: facts about the running kernel (read directly so
tests can compare them with what BPF programs report) and about this process."""

from __future__ import annotations

import contextlib
import errno
import gzip
import os
from collections.abc import Iterator

import pytest


def kernel_config() -> dict[str, str]:
    """The running kernel's configuration (``CONFIG_*`` to value) from ``/proc/config.gz``."""
    with gzip.open("/proc/config.gz", "rt") as f:
        return dict(line.strip().split("=", 1) for line in f
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


#: The release of the VM runner's guest kernel when the tests run inside one (scripts/vm.py).
VM_KERNEL = os.environ.get("EBPF_VM_KERNEL", "")


@contextlib.contextmanager
def feature_or_skip() -> Iterator[None]:
    """Skip a test whose kernel lacks a feature (an :class:`UnsupportedFeatureError` from a
    conclusive probe), as ``conftest.skip_if_unsupported`` does; but in a VM runner guest
    whose kernel is new enough for the feature, its absence fails the test. (A feature the
    kernel was built without has no minimum version: it skips everywhere.)"""
    from ebpf.errors import UnsupportedFeatureError
    from ebpf.internal.kernel import KernelVersion, kernel_version

    from .conftest import skip_if_unsupported

    try:
        yield
    except UnsupportedFeatureError as e:
        if VM_KERNEL:
            # The guests' kernels are known: a feature is missing for its version, or it was
            # built out.
            if e.min_version is not None and (
                    kernel_version() >= KernelVersion.parse(e.min_version)):
                pytest.fail(f"the VM kernel {VM_KERNEL} should offer {e.feature}: {e}",
                            pytrace=False)
            pytest.skip(f"kernel {VM_KERNEL} lacks {e.feature}: {e}")
        with skip_if_unsupported():
            raise


@contextlib.contextmanager
def trampolines_or_skip() -> Iterator[None]:
    """Around loading trampoline programs (fentry, ..., struct_ops): a refusal with ``EPERM``
    is explained by the conclusive trampoline probe of :mod:`ebpf.link.trampolines` (a skip
    where the kernel refuses the family, a failure in a VM guest); other errors propagate."""
    from ebpf.errors import SyscallError, VerifierError
    from ebpf.link import trampolines

    try:
        yield
    except (SyscallError, VerifierError) as e:
        if e.errno != errno.EPERM:
            raise
        with feature_or_skip():
            trampolines._have_trampolines()
        raise
