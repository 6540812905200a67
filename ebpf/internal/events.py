"""The operating-system side of the event readers: shared memory, waiting, and memory order.

:mod:`ebpf.ringbuf` and :mod:`ebpf.perf` read buffers the kernel shares with user space through
``mmap`` and wait for them with ``epoll``. This module owns those mechanics, so both readers
behave alike:

* :class:`SharedMemory` maps part of a descriptor with ``mmap(2)`` (through the C library, so
  no descriptor is duplicated, unlike :class:`mmap.mmap`) and unmaps it when the last view of
  it is gone, never while one is still in use.
* :class:`Waiter` is an ``epoll`` instance plus an ``eventfd`` that :meth:`Waiter.wake` makes
  readable, so that closing a reader from another thread wakes a thread blocked in it. Its
  descriptor is what a reader lends as ``fd`` and what asyncio watches.
* :func:`fence` orders the loads and stores of the position counters the kernel shares.
* :class:`BusyError`: a reader was used by two callers at once.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import select
import time
import weakref
from collections.abc import Callable
from typing import Any, Final, Literal

from ..errors import EbpfError, NotSupportedError
from .platform import MACHINE
from .sys import FD

__all__ = ["PAGE_SIZE", "SharedMemory", "Waiter", "deadline_of", "fence",
           "needs_fence", "remaining"]

PAGE_SIZE: Final = mmap.PAGESIZE


# --- memory order ------------------------------------------------------------------------------

# The kernel publishes ring positions with store-release and reads them with load-acquire. On
# these architectures every aligned 8-byte load is an acquire and every store a release, and a
# call into C (which every access from Python is) is a compiler barrier: plain accesses are
# enough. Elsewhere a fence from libatomic goes between a position and the data it guards.
_TOTAL_STORE_ORDER: Final = frozenset({"x86_64", "amd64", "i386", "i686", "s390x"})


def _load_fence() -> Callable[[int], None]:
    for name in ("libatomic.so.1", "libatomic.so"):
        try:
            func = ctypes.CDLL(name).atomic_thread_fence
        except (OSError, AttributeError):
            continue
        func.argtypes = (ctypes.c_int,)
        func.restype = None
        return func
    raise NotSupportedError(
        f"event readers on {MACHINE} need memory fences from libatomic (libatomic.so.1), "
        "which is not installed")


#: Whether :func:`fence` does anything here (readers test it once, off the hot path).
needs_fence: Final = MACHINE not in _TOTAL_STORE_ORDER
_fence_func: list[Callable[[int], None]] = []


def fence() -> None:
    """A full memory barrier (``atomic_thread_fence(memory_order_seq_cst)``) where the
    architecture needs one between reading a ring position and the data it publishes (and
    between reading data and giving its space back); nothing on x86. Call it once when making
    a reader, so that a missing libatomic is reported then.

    Raises:
        NotSupportedError: the architecture needs fences and libatomic is missing.
    """
    if not needs_fence:
        return
    if not _fence_func:
        _fence_func.append(_load_fence())
    _fence_func[0](5)  # memory_order_seq_cst


# --- shared memory -----------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_mmap = _libc.mmap
_mmap.restype = ctypes.c_void_p
_mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                  ctypes.c_long)
_munmap = _libc.munmap
_munmap.restype = ctypes.c_int
_munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
_MAP_FAILED: Final = ctypes.c_void_p(-1).value


def _unmap(addr: int, size: int) -> None:
    _munmap(addr, size)


class SharedMemory:
    """``size`` bytes of descriptor ``fd`` at ``offset``, mapped shared.

    ``memory`` is a ctypes ``c_char`` array over the mapping (slicing it copies out ``bytes``);
    :meth:`view` gives memoryviews of it. The mapping is removed when the last of these is
    garbage: views handed out keep it alive, so releasing the owner while a caller still holds
    a view never leaves the view pointing at unmapped memory. A read-only mapping must only be
    read (its ctypes array is writable as far as Python knows; writing faults).
    """

    __slots__ = ("__weakref__", "address", "memory", "size", "writable")

    def __init__(self, fd: int, size: int, offset: int, *, writable: bool, what: str) -> None:
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
        addr = _mmap(None, size, prot, mmap.MAP_SHARED, fd, offset)
        if addr is None or addr == _MAP_FAILED:
            err = ctypes.get_errno()
            from ..errors import SyscallError

            raise SyscallError(err, "mmap", what)
        self.address: int = addr
        self.size = size
        self.writable = writable
        # Typed Any: slicing a c_char array gives bytes, which its stubs do not say.
        self.memory: Any = (ctypes.c_char * size).from_address(addr)
        # Unmapped once the array (and so every view exporting it) is gone.
        weakref.finalize(self.memory, _unmap, addr, size)

    def view(self, fmt: Literal["B", "I", "Q"] = "B") -> memoryview:
        """A memoryview of the whole mapping as items of ``fmt`` (``"B"``, ``"I"``, ``"Q"``);
        read-only unless the mapping is writable."""
        v = memoryview(self.memory).cast("B")
        if fmt != "B":
            v = v.cast(fmt)
        return v if self.writable else v.toreadonly()


# --- waiting -----------------------------------------------------------------------------------


def deadline_of(timeout: float | None, what: str) -> float | None:
    """The ``time.monotonic()`` at which ``timeout`` seconds from now end (None: never).

    Raises:
        EbpfError: ``timeout`` is not a non-negative number.
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (
            timeout >= 0):
        raise EbpfError(f"{what}: timeout must be None or a number of seconds >= 0, "
                        f"not {timeout!r}")
    return time.monotonic() + timeout


def remaining(deadline: float | None) -> float:
    """Seconds left until ``deadline`` for ``epoll.poll`` (-1: no deadline; 0: past)."""
    if deadline is None:
        return -1
    return max(0.0, deadline - time.monotonic())


class Waiter:
    """An ``epoll`` instance watching the buffers of one reader, plus a wake-up ``eventfd``.

    ``fd`` owns the epoll descriptor (the reader's :class:`~ebpf.internal.sys.FD`); waiting
    goes through a :class:`select.epoll` over a duplicate of it (same epoll instance).
    :meth:`wake` makes the instance readable for good: every wait returns at once from then on,
    which is how ``close()`` reaches a thread blocked in a read, and an asyncio reader.
    """

    __slots__ = ("_epoll", "_eventfd", "fd")

    def __init__(self, what: str) -> None:
        ep = select.epoll()
        try:
            self.fd = FD(os.dup(ep.fileno()), what)
            os.set_inheritable(self.fd.raw, False)
        except BaseException:
            ep.close()
            raise
        self._epoll = ep
        self._eventfd: FD | None = None
        try:
            self._eventfd = FD(os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK), "eventfd")
            ep.register(self._eventfd.raw, select.EPOLLIN)
        except BaseException:
            self.close()
            raise

    def add(self, fd: int, events: int = select.EPOLLIN) -> None:
        """Watch descriptor ``fd`` (borrowed: the caller keeps it open while watched)."""
        self._epoll.register(fd, events)

    def wait(self, deadline: float | None) -> list[tuple[int, int]]:
        """Block until a watched descriptor is ready, :meth:`wake` was called, or ``deadline``
        passes; the ready ``(fd, events)`` pairs (empty: timed out). Releases the GIL."""
        return self._epoll.poll(remaining(deadline))

    def wake(self) -> None:
        """Make every present and future wait return at once."""
        efd = self._eventfd
        if efd is None or efd.closed:
            return
        try:
            os.eventfd_write(efd.raw, 1)
        except OSError as e:  # closed meanwhile, or the counter is full: it is readable anyway
            if e.errno not in (errno.EBADF, errno.EAGAIN):
                raise

    def close(self) -> None:
        """Close the epoll instance and the eventfd. Idempotent."""
        self.fd.close()
        self._epoll.close()
        if self._eventfd is not None:
            self._eventfd.close()
