"""Helpers shared by several test modules: facts about the running kernel (read directly so
tests can compare them with what BPF programs report) and about this process."""

from __future__ import annotations

import contextlib
import errno
import gzip
import os
import signal
from collections.abc import Iterator
from types import TracebackType

import pytest

from ebpf.testing import _env


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


_PRIVATE_BTF_CACHE: list[str] = []


def use_private_btf_cache() -> str:
    """Point the kernel BTF index cache (``EBPF_BTF_CACHE_DIR``) at a temporary directory for
    this test process and the processes it starts, so that tests never add to, or evict from,
    the user's own cache. Idempotent. The directory is removed at exit, after the library
    has written the indexes it writes at exit (atexit runs the later registrations first)."""
    if not _PRIVATE_BTF_CACHE:
        import atexit
        import shutil
        import tempfile

        path = tempfile.mkdtemp(prefix="ebpf-test-btf-cache-")
        _PRIVATE_BTF_CACHE.append(path)
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    os.environ["EBPF_BTF_CACHE_DIR"] = _PRIVATE_BTF_CACHE[0]
    return _PRIVATE_BTF_CACHE[0]


class feature_or_skip(contextlib.AbstractContextManager[None]):
    """Skip a test whose kernel lacks a feature (an :class:`UnsupportedFeatureError` from a
    conclusive probe), as ``conftest.skip_if_unsupported`` does; but in a VM runner guest
    whose kernel is new enough for the feature, its absence fails the test. (A feature the
    kernel was built without has no minimum version: it skips everywhere.) The skip is
    reported at the test's ``with`` statement."""

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        __tracebackhide__ = True
        from ebpf.errors import UnsupportedFeatureError
        from ebpf.internal.kernel import KernelVersion, kernel_version

        from .conftest import KNOWN_MISSING, VM_KERNEL

        if not isinstance(exc, UnsupportedFeatureError):
            return
        if VM_KERNEL:
            # The guests' kernels are known: a feature is missing for its version, or it was
            # built out.
            if exc.min_version is not None and (
                    kernel_version() >= KernelVersion.parse(exc.min_version)):
                pytest.fail(f"the VM kernel {VM_KERNEL} should offer {exc.feature}: {exc}",
                            pytrace=False)
            pytest.skip(f"kernel {VM_KERNEL} lacks {exc.feature}: {exc}")
        _env.skip_if_unsupported(KNOWN_MISSING).__exit__(exc_type, exc, tb)


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


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise ``TimeoutError`` in the body (main thread only) once it has run ``seconds``:
    a hang fails the test, or is a fuzzer's finding, instead of stopping the run."""
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
