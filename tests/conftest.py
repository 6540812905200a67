"""Test plugin: the ``kernel`` marker, private bpffs, and a leak check for BPF descriptors.

Tests marked ``kernel`` need ``bpf(2)`` with privileges. Without them they skip, naming the
reason, unless ``EBPF_REQUIRE_KERNEL=1`` is set (CI sets it): then they fail instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from ebpf.errors import NotSupportedError, SyscallError, UnsupportedFeatureError

REQUIRE_KERNEL = os.environ.get("EBPF_REQUIRE_KERNEL") == "1"

# The kernel release of the VM runner's guest (scripts/vm.py), or "" on the host.
VM_KERNEL = os.environ.get("EBPF_VM_KERNEL", "")

# The families the kernel the tests run on is known to lack; under EBPF_REQUIRE_KERNEL only
# these may skip, and only from a conclusive feature probe. The host (the project's reference
# kernel, see shared/MACHINE.md) lacks kprobes, trampolines, modules and netkit; the VM guests
# have them, except what 6.1 predates.
if VM_KERNEL.startswith("6.1."):
    KNOWN_MISSING: tuple[str, ...] = ("netkit", "kprobe_multi", "kprobe session", "tcx",
                                      "uprobe_multi", "uprobe session",
                                      "struct_ops maps registered by a bpf_link")
elif VM_KERNEL:
    KNOWN_MISSING = ("uprobe session",)
else:
    KNOWN_MISSING = ("kprobe", "kretprobe", "kprobe_multi", "fentry", "fexit", "fmod_ret",
                     "lsm", "freplace", "netkit", "trampoline", "kernel module",
                     "bpf_map_elem iterator")


def _bpf_usable() -> str | None:
    """None if bpf(2) works here, else why not."""
    from ebpf.internal.sys import MapCreateAttr, commands

    try:
        attr = MapCreateAttr(map_type=2, key_size=4, value_size=4, max_entries=1)
        commands.map_create(attr).close()
    except SyscallError as e:
        if e.errno in (errno.EPERM, errno.EACCES):
            return f"bpf(2) needs privileges (CAP_BPF/CAP_SYS_ADMIN): {e}"
        return f"bpf(2) failed: {e}"
    except NotSupportedError as e:
        return str(e)
    return None


_BPF_PROBLEM: list[str | None] = []


def bpf_problem() -> str | None:
    if not _BPF_PROBLEM:
        _BPF_PROBLEM.append(_bpf_usable())
    return _BPF_PROBLEM[0]


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("kernel") is None:
        return
    problem = bpf_problem()
    if problem is None:
        return
    if REQUIRE_KERNEL:
        pytest.fail(f"EBPF_REQUIRE_KERNEL=1 but {problem}", pytrace=False)
    pytest.skip(problem)


@contextlib.contextmanager
def skip_if_unsupported() -> Iterator[None]:
    """Turn an :class:`UnsupportedFeatureError` from a feature probe into a skip.

    Under ``EBPF_REQUIRE_KERNEL=1`` a missing feature is a failure unless it belongs to a family
    the reference kernel is known to lack.
    """
    try:
        yield
    except UnsupportedFeatureError as e:
        if REQUIRE_KERNEL and not any(k in e.feature.lower() for k in KNOWN_MISSING):
            raise
        pytest.skip(f"kernel lacks {e.feature}: {e}")


def _bpf_fds() -> dict[int, str]:
    """The BPF objects this process holds open: fd -> anon inode name."""
    out = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if target.startswith("anon_inode:bpf") or target.startswith("anon_inode:[bpf"):
            out[int(name)] = target
    return out


@pytest.fixture(autouse=True)
def _no_leaked_bpf_fds(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves BPF descriptors open (fixtures' own objects excepted)."""
    before = _bpf_fds()
    yield
    if request.node.get_closest_marker("allow_fd_growth"):
        return
    import gc

    gc.collect()
    leaked = {fd: t for fd, t in _bpf_fds().items() if before.get(fd) != t}
    if leaked:
        pytest.fail(f"test leaked BPF file descriptors: {leaked}", pytrace=False)


_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str, target: str, fstype: str) -> None:
    if _libc.mount(source.encode(), target.encode(), fstype.encode(), 0, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount -t {fstype} {target}: {os.strerror(err)}")


def _umount(target: str) -> None:
    _libc.umount2(target.encode(), 2)  # MNT_DETACH


@pytest.fixture(scope="session")
def bpffs() -> Iterator[str]:
    """A private bpffs mounted in a temporary directory for this test session."""
    problem = bpf_problem()
    if problem is not None:
        if REQUIRE_KERNEL:
            pytest.fail(f"EBPF_REQUIRE_KERNEL=1 but {problem}", pytrace=False)
        pytest.skip(problem)
    with tempfile.TemporaryDirectory(prefix="ebpf-test-bpffs-") as d:
        _mount("bpf", d, "bpf")
        try:
            yield d
        finally:
            _umount(d)


@pytest.fixture
def pin_dir(bpffs: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh directory inside the private bpffs for one test (bpffs names may not hold '.')."""
    name = "".join(c if c.isalnum() else "_" for c in request.node.name)[:200]
    path = os.path.join(bpffs, name)
    os.mkdir(path)
    try:
        yield path
    finally:
        subprocess.run(["rm", "-rf", path], check=False)


@pytest.fixture(scope="session")
def tracefs() -> str:
    """tracefs, mounted at /sys/kernel/tracing if it is not mounted yet."""
    path = "/sys/kernel/tracing"
    if not os.path.exists(os.path.join(path, "events")):
        try:
            _mount("tracefs", path, "tracefs")
        except OSError as e:
            if REQUIRE_KERNEL:
                pytest.fail(f"EBPF_REQUIRE_KERNEL=1 but tracefs cannot be mounted: {e}")
            pytest.skip(f"tracefs cannot be mounted: {e}")
    return path


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_fd_growth: the test may keep BPF fds open")
