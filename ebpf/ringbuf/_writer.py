"""``Writer``: user space's end of a ``BPF_MAP_TYPE_USER_RINGBUF`` map (Linux 6.1+).

Here user space produces and a BPF program consumes (``bpf_user_ringbuf_drain``). The kernel
maps the consumer page read-only (the kernel's consumer position) and the producer page plus the
data area (mapped twice, so a record may run past the end of the ring) writable.
"""

from __future__ import annotations

import fcntl
import select
import threading
import time
from typing import TYPE_CHECKING, Any, Final, final

from ..errors import BusyError, ClosedError, EbpfError
from ..internal.events import (
    PAGE_SIZE,
    SharedMemory,
    Waiter,
    deadline_of,
    fence,
    needs_fence,
)
from ..internal.kernel_object import KernelObject
from ..internal.sys import FD
from ..map import Map
from ..types import MapType
from ._reader import BUSY_BIT, DISCARD_BIT, HEADER_SIZE

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

__all__ = ["Reservation", "Writer"]

_SPACE_SLEEP: Final = (0.0, 0.00001, 0.0001, 0.001, 0.005)


@final
class Reservation:
    """Space reserved in a user ring buffer for one record: fill :attr:`data`, then
    :meth:`submit` (or :meth:`discard`). In a ``with`` block it is submitted when the block
    ends normally and discarded when it raises.

    Until then the record holds back every record reserved after it (the BPF program stops
    draining at it). :attr:`data` must not be used after submitting or discarding.

    Attributes:
        data: the record's bytes, writable, zero-copy in the ring.
    """

    __slots__ = ("_done", "_header", "_header_index", "_size", "_writer", "data")

    def __init__(self, writer: Writer, header: memoryview, index: int, data: memoryview,
                 size: int) -> None:
        self._writer = writer
        self._header = header
        self._header_index = index
        self._size = size
        self._done = False
        self.data = data

    def submit(self) -> None:
        """Hand the record to the BPF program.

        Raises:
            EbpfError: it was already submitted or discarded.
        """
        self._finish(self._size, "submit")

    def discard(self) -> None:
        """Throw the record away: the program skips it.

        Raises:
            EbpfError: it was already submitted or discarded.
        """
        self._finish(self._size | DISCARD_BIT, "discard")

    def _finish(self, header: int, action: str) -> None:
        if self._done:
            raise EbpfError(f"cannot {action} a user ring buffer record twice")
        self._done = True
        self.data.release()
        if needs_fence:
            fence()
        self._header[self._header_index] = header  # clears the busy bit: the record is ready
        self._writer._finished(self)

    @property
    def done(self) -> bool:
        """True once submitted or discarded."""
        return self._done

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self._done:
            if exc_type is None:
                self.submit()
            else:
                self.discard()

    def __repr__(self) -> str:
        state = "done" if self._done else "open"
        return f"<Reservation {self._size} bytes {state}>"


@final
class Writer(KernelObject):
    """Writes records into a user ring buffer map (``BPF_MAP_TYPE_USER_RINGBUF``), which BPF
    programs drain with ``bpf_user_ringbuf_drain``.

    :meth:`reserve` returns a :class:`Reservation` whose ``data`` is written in place, then
    submitted or discarded; :meth:`write` copies bytes in one step. Both wait up to ``timeout``
    seconds for space (0, the default: not at all), watching the map with epoll: the kernel
    reports space when a program drains records.

    The writer owns an epoll instance (its ``fd``), a duplicate descriptor of the map and the
    mappings; thread-safe; ``close()`` may come from another thread, waking a thread that waits
    for space with :class:`~ebpf.ClosedError`, and discards records reserved but not yet
    submitted. Ownership follows :class:`~ebpf.internal.kernel_object.KernelObject`; a writer
    cannot be cloned or pinned.
    """

    __slots__ = ("_closing", "_cons", "_data", "_lock", "_map_fd", "_mask", "_name", "_open",
                 "_prod", "_prod_pos", "_u32", "_waiter", "size")

    kind = "user ring buffer writer"

    def __init__(self, m: Map) -> None:
        """Write into user ring buffer map ``m`` (borrowed: the writer keeps its own
        descriptor).

        Raises:
            EbpfError: ``m`` is not a USER_RINGBUF map.
            SyscallError: mapping the buffer failed.
        """
        if not isinstance(m, Map) or m.type != MapType.USER_RINGBUF:
            what = (f"a {getattr(m.type, 'name', m.type)} map" if isinstance(m, Map)
                    else type(m).__name__)
            raise EbpfError(f"ringbuf.Writer needs a USER_RINGBUF map, not {what}")
        if needs_fence:
            fence()
        self._name = m.name
        self.size = size = m.max_entries
        self._mask = size - 1
        self._waiter = Waiter("user ring buffer writer")
        self._own(self._waiter.fd)
        self._lock = threading.Lock()
        self._closing = False
        self._open: dict[int, Reservation] = {}
        self._map_fd = FD(fcntl.fcntl(m.fd, fcntl.F_DUPFD_CLOEXEC, 1), f"map {m.name!r}")
        try:
            what = f"user ring buffer writer of {m.name!r}"
            consumer = SharedMemory(self._map_fd.raw, PAGE_SIZE, 0, writable=False,
                                    what=f"{what}: map the consumer page")
            producer = SharedMemory(self._map_fd.raw, PAGE_SIZE + 2 * size, PAGE_SIZE,
                                    writable=True, what=f"{what}: map the data pages")
            self._cons = consumer.view("Q")
            self._prod = producer.view("Q")
            self._u32 = producer.view("I")
            self._data = producer.view("B")
            self._prod_pos: int = self._prod[0]
            self._waiter.add(self._map_fd.raw, select.EPOLLOUT)
        except BaseException:
            self.close()
            raise

    def _label(self) -> str:
        return f"user ring buffer writer of {getattr(self, '_name', '')!r}"

    def _describe(self) -> str:
        return repr(self._name)

    def clone(self) -> Writer:
        """Not supported: a user ring buffer has one producer position.

        Raises:
            NotSupportedError: always.
        """
        from ..errors import NotSupportedError

        raise NotSupportedError("a user ring buffer writer cannot be cloned")

    def _release(self) -> None:
        self._closing = True
        waiter = getattr(self, "_waiter", None)
        if waiter is None:
            return
        waiter.wake()
        with self._lock:
            for r in list(self._open.values()):
                if not r.done:
                    r.discard()
            for name in ("_cons", "_prod", "_u32", "_data"):
                v = getattr(self, name, None)
                if v is not None:
                    v.release()
            map_fd = getattr(self, "_map_fd", None)
            if map_fd is not None:
                map_fd.close()
            waiter.close()

    def available_bytes(self) -> int:
        """Free space in the ring buffer, in bytes (each record also takes an 8-byte header
        and padding to 8 bytes)."""
        self._checked_fd("use")
        return self.size - (self._prod_pos - self._cons[0])

    def reserve(self, size: int, timeout: float | None = 0) -> Reservation:
        """Reserve space for a record of ``size`` bytes, waiting up to ``timeout`` seconds
        for space (0: not at all; None: as long as it takes).

        Raises:
            EbpfError: ``size`` is not a positive int or is larger than the ring buffer can
                ever hold.
            TimeoutError: no space in time.
            ClosedError: the writer is closed (or was closed while waiting).
            BusyError: another thread is waiting for space.
        """
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise EbpfError(f"{self._label()}: reserve needs a size > 0, not {size!r}")
        total = (size + HEADER_SIZE + 7) & ~7
        if total > self.size or size >= DISCARD_BIT:
            raise EbpfError(f"{self._label()}: a record of {size} bytes can never fit a ring "
                            f"of {self.size} bytes")
        deadline = deadline_of(timeout, f"reserve in {self._label()}")
        if not self._lock.acquire(blocking=False):
            raise BusyError(f"{self._label()}: another thread is reserving space")
        try:
            waits = 0
            while True:
                if self._closing:
                    raise ClosedError(f"cannot reserve in {self._label()}: it is closed")
                prod = self._prod_pos
                cons = self._cons[0]
                if self.size - (prod - cons) >= total:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"{self._label()}: no space for {size} bytes within "
                                       f"{timeout} s")
                # epoll reports space whenever the ring is not entirely full, which may be
                # less than this record needs: sleep a little between checks then.
                ready = self._waiter.wait(deadline if waits == 0 else time.monotonic() + min(
                    _SPACE_SLEEP[min(waits, len(_SPACE_SLEEP) - 1)],
                    float("inf") if deadline is None else max(0.0, deadline - time.monotonic())))
                waits = waits + 1 if ready else 0
            if needs_fence:
                fence()
            off = (prod & self._mask) + PAGE_SIZE
            u32 = self._u32
            u32[off >> 2] = size | BUSY_BIT
            u32[(off >> 2) + 1] = 0
            data = self._data[off + HEADER_SIZE:off + HEADER_SIZE + size]
            r = Reservation(self, u32, off >> 2, data, size)
            self._open[id(r)] = r
            self._prod_pos = prod + total
            if needs_fence:
                fence()
            self._prod[0] = prod + total  # publishes the (busy) record
            return r
        finally:
            self._lock.release()

    def _finished(self, r: Reservation) -> None:
        self._open.pop(id(r), None)

    def write(self, data: Any, timeout: float | None = 0) -> None:
        """Copy ``data`` (bytes-like, or a ctypes object) into a new record and submit it.

        Raises:
            as :meth:`reserve`.
        """
        try:
            view = memoryview(data).cast("B")
        except TypeError:
            raise EbpfError(f"{self._label()}: write needs bytes-like data, not "
                            f"{type(data).__name__}") from None
        r = self.reserve(len(view), timeout)
        r.data[:] = view
        r.submit()
