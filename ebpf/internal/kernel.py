"""Facts about the running kernel: version, possible CPUs, page size."""

from __future__ import annotations

import functools
import os

from ..errors import EbpfError

__all__ = ["KernelVersion", "kernel_version", "online_cpus", "parse_cpu_list", "possible_cpus"]


class KernelVersion(tuple[int, int, int]):
    """``(major, minor, patch)`` with a readable ``str()``."""

    def __new__(cls, major: int, minor: int = 0, patch: int = 0) -> KernelVersion:
        return super().__new__(cls, (major, minor, patch))

    @classmethod
    def parse(cls, text: str) -> KernelVersion:
        """The version at the start of ``text`` (``"6.18.0-rc1+"``): up to three numbers
        joined by dots; missing ones are 0."""
        # Without re, which costs milliseconds to import on the way to loading a collection.
        numbers: list[int] = []
        rest = text.strip()
        while len(numbers) < 3:
            digits = len(rest) - len(rest.lstrip("0123456789"))
            if not digits:
                break
            numbers.append(int(rest[:digits]))
            if rest[digits:digits + 1] != ".":
                break
            rest = rest[digits + 1:]
        if not numbers:
            raise ValueError(f"not a kernel version: {text!r}")
        return cls(*numbers)

    def __str__(self) -> str:
        return f"{self[0]}.{self[1]}.{self[2]}"


@functools.cache
def kernel_version() -> KernelVersion:
    """The running kernel's version, from ``uname``."""
    return KernelVersion.parse(os.uname().release)


def parse_cpu_list(text: str) -> list[int]:
    """Parse a kernel CPU list such as ``0-3,5,7-8``."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            if sep:
                cpus.extend(range(int(lo), int(hi) + 1))
            else:
                cpus.append(int(lo))
        except ValueError:
            raise EbpfError(f"malformed CPU list {text!r}") from None
    return cpus


def _cpu_list(name: str) -> list[int]:
    path = f"/sys/devices/system/cpu/{name}"
    try:
        with open(path) as f:
            cpus = parse_cpu_list(f.read())
    except OSError as e:
        raise EbpfError(f"cannot read {path}: {e.strerror}") from e
    if not cpus:
        raise EbpfError(f"{path} lists no CPU")
    return cpus


@functools.cache
def possible_cpus() -> int:
    """The number of possible CPUs: the size of a per-CPU map value array, and of a perf
    event array indexed by CPU.

    The kernel sizes per-CPU values by the highest possible CPU + 1, which can be more than the
    number of online CPUs (and than :func:`os.cpu_count`) on machines with CPUs offline or
    hot-pluggable.

    Raises:
        EbpfError: ``/sys/devices/system/cpu/possible`` cannot be read.
    """
    return max(_cpu_list("possible")) + 1


def online_cpus() -> list[int]:
    """The CPUs online now, in order (read afresh each call: CPUs come and go). A perf event
    buffer needs one ring per online CPU.

    Raises:
        EbpfError: ``/sys/devices/system/cpu/online`` cannot be read.
    """
    return _cpu_list("online")


def map_file(path: str) -> memoryview | None:
    """The whole of file ``path`` as a read-only byte view, mapped rather than read, or None
    if the file cannot be mapped (read it instead).

    Kernels since 6.16 let ``/sys/kernel/btf/vmlinux`` be mapped, which spares copying
    megabytes through 4 KiB reads. The mapping holds no file descriptor and is unmapped when
    the last view of it is released.
    """
    import ctypes
    import mmap
    import weakref

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        do_map = libc.mmap
        unmap = libc.munmap
    except (OSError, AttributeError):  # pragma: no cover - not a Unix with a C library
        return None
    do_map.restype = ctypes.c_void_p
    do_map.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long)
    unmap.restype = ctypes.c_int
    unmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        if size <= 0:
            return None
        addr = do_map(None, size, mmap.PROT_READ, mmap.MAP_PRIVATE, fd, 0)
    finally:
        os.close(fd)
    if addr is None or addr == ctypes.c_void_p(-1).value:
        return None
    buf = (ctypes.c_char * size).from_address(addr)
    weakref.finalize(buf, unmap, addr, size)
    return memoryview(buf).cast("B").toreadonly()
