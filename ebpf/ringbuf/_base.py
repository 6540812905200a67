"""What the ring buffer and perf buffer readers share: blocking with deadlines, waking on close,
iteration, asyncio, ``read_into`` and batches.

A reader keeps records it has copied out of the kernel's buffers in a queue (``_pending``), so
that reading record by record costs one queue operation per record and the buffers are drained
in bulk, one pass over everything available. The subclasses say how to drain (``_fill``), how
to copy one record into a caller's buffer (``_read_one_into``) and how to lend records without
copying (``_take_segments`` / ``_give_back``).

Locking: ``_lock`` is held while a caller drains, waits or takes a batch, never across a
``yield``, an ``await`` or a batch's ``with`` block. A second caller that finds it held gets a
:class:`BusyError` at once (two readers of one buffer would each see half of the records).
``close()`` sets ``_closing``, wakes the waiter and takes the lock, so a blocked thread leaves
with a :class:`~ebpf.ClosedError` before anything it uses goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from itertools import repeat
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

from ..errors import BusyError, ClosedError, EbpfError
from ..internal.events import Waiter, deadline_of
from ..internal.kernel_object import KernelObject
from ._decode import DecodeSpec, decoder, import_numpy, numpy_dtype

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

    from ..btf.spec import Spec

__all__ = ["Batch", "EventReader", "Segment"]

R = TypeVar("R")

# How long a reader sleeps while the record at the head of a buffer is still being written
# (reserved, not yet submitted: microseconds, as a BPF program commits before it returns). The
# kernel reports such a buffer as readable, so epoll cannot be used to wait for it.
_STALL_SLEEP: Final = (0.0, 0.00001, 0.0001, 0.001)


def run_length(items: memoryview, first: int, step: int, k: int, value: int) -> int:
    """How many of ``items[first]``, ``items[first + step]``, ... (``k`` of them) equal
    ``value``, counting from the first: one C comparison when they all do."""
    if k <= 1:
        return k
    seen = items[first:first + k * step:step]
    if seen == array(items.format, [value]) * k:
        return k
    for i, v in enumerate(seen.tolist()):
        if v != value:
            return i
    return k


class Repeat(Sequence[int]):
    """``value`` ``count`` times, as a sequence that stores it once (the lengths of a run of
    equally sized records)."""

    __slots__ = ("_count", "_value")

    def __init__(self, value: int, count: int) -> None:
        self._value = value
        self._count = count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self._value] * len(range(*i.indices(self._count)))
        if not -self._count <= i < self._count:
            raise IndexError("index out of range")
        return self._value

    def __iter__(self) -> Iterator[int]:
        return repeat(self._value, self._count)

    def __repr__(self) -> str:
        return f"Repeat({self._value}, {self._count})"


class Segment:
    """Records of one buffer that lie one after another in one piece of memory.

    Attributes:
        ring: the index of the buffer in its reader (the CPU for a perf reader).
        data: read-only bytes holding the records (a view of the kernel's buffer, or a copy).
        offsets: where each record's sample starts in ``data``.
        lengths: each sample's length.
        stride: the distance between consecutive samples when it is the same for all (records
            of one size, none discarded in between), else 0.
    """

    __slots__ = ("data", "lengths", "offsets", "ring", "stride")

    def __init__(self, ring: int, data: memoryview | bytes, offsets: Sequence[int],
                 lengths: Sequence[int], stride: int = 0) -> None:
        self.ring = ring
        self.data = data
        self.offsets = offsets
        self.lengths = lengths
        self.stride = stride

    def __len__(self) -> int:
        return len(self.offsets)

    def __iter__(self) -> Iterator[memoryview]:
        data = memoryview(self.data)
        for off, n in zip(self.offsets, self.lengths, strict=True):
            yield data[off:off + n]

    def __repr__(self) -> str:
        return f"<Segment ring={self.ring} records={len(self)} stride={self.stride}>"


class Batch:
    """Every record a reader had available, lent without copying where possible.

    Use it in a ``with`` block (or call :meth:`release`): the records' space in the kernel's
    buffer is given back only then, so views of a batch (its segments' ``data``, the
    memoryviews iteration yields, the arrays :meth:`array` returns) are valid inside the block
    and must not be used after it: the kernel writes new records there.

    Attributes:
        segments: the records, one :class:`Segment` per run of contiguous records.
        lost_samples: samples the kernel dropped before these records (perf buffers).
    """

    __slots__ = ("__weakref__", "_count", "_give_back", "_released", "lost_samples", "segments")

    def __init__(self, segments: list[Segment], give_back: Callable[[], None] | None,
                 lost_samples: int = 0) -> None:
        self.segments = segments
        self._give_back = give_back
        self._released = False
        self._count = sum(len(s) for s in segments)
        self.lost_samples = lost_samples

    def __len__(self) -> int:
        """The number of records."""
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __iter__(self) -> Iterator[memoryview]:
        """Each record's sample as a read-only memoryview (no copy)."""
        self._check("iterate over")
        for seg in self.segments:
            yield from seg

    def rings(self) -> list[int]:
        """The buffer index (perf: CPU) of each record, in iteration order."""
        out: list[int] = []
        for seg in self.segments:
            out.extend([seg.ring] * len(seg))
        return out

    def samples(self) -> list[bytes]:
        """Each record's sample, copied."""
        self._check("copy")
        return [bytes(v) for v in self]

    def array(self, dtype: DecodeSpec, *, types: Spec | None = None) -> Any:
        """The records as a numpy structured array of ``dtype`` (a numpy dtype, a ctypes
        structure type, a BTF type or a BTF type name looked up in ``types``).

        Each record must be at least ``dtype.itemsize`` bytes (the rest is ignored). When the
        batch is one segment of equally spaced records (one record size, none discarded, a
        ring buffer's double mapping making even records across the ring's end contiguous) the
        array is a read-only view of the kernel's buffer, made without copying; otherwise the
        records are gathered into a new array.

        Raises:
            NotSupportedError: numpy is not installed.
            EbpfError: a record is shorter than the dtype, or the type cannot be a dtype.
        """
        self._check("read")
        np = import_numpy("Batch.array()")
        dt = numpy_dtype(dtype, types, "Batch.array()")
        size = dt.itemsize
        parts = []
        for seg in self.segments:
            n = len(seg)
            if not n:
                continue
            lengths = seg.lengths
            short = min(lengths) if not seg.stride else lengths[0]
            if short < size:
                raise EbpfError(f"Batch.array(): a record of {short} bytes is shorter than "
                                f"the dtype ({size} bytes)")
            if seg.stride and seg.stride >= size:
                parts.append(np.ndarray((n,), dtype=dt, buffer=seg.data,
                                        offset=seg.offsets[0], strides=(seg.stride,)))
            else:
                raw = np.frombuffer(seg.data, dtype=np.uint8)
                offs = np.asarray(seg.offsets, dtype=np.intp)
                gathered = raw[offs[:, None] + np.arange(size, dtype=np.intp)]
                parts.append(gathered.view(dt).reshape(n))
        if not parts:
            return np.empty((0,), dtype=dt)
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts)

    def _check(self, action: str) -> None:
        if self._released:
            raise ClosedError(f"cannot {action} a batch after it was released")

    def release(self) -> None:
        """Give the records' space back to the kernel. Idempotent."""
        if self._released:
            return
        self._released = True
        give_back, self._give_back = self._give_back, None
        self.segments = []
        if give_back is not None:
            give_back()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "released" if self._released else f"{self._count} records"
        return f"<Batch {state}>"


def _copied_segments(records: Sequence[Any], ring_field: int, sample_field: int
                     ) -> list[Segment]:
    """Records already copied out (read ahead by read()) as segments, one per run of records
    from the same buffer."""
    segs: list[Segment] = []
    i = 0
    while i < len(records):
        ring = records[i][ring_field]
        j = i
        samples = []
        while j < len(records) and records[j][ring_field] == ring:
            samples.append(records[j][sample_field])
            j += 1
        lengths = array("I", [len(s) for s in samples])
        offsets = array("Q", [0] * len(samples))
        pos = 0
        for k, s in enumerate(samples):
            offsets[k] = pos
            pos += len(s)
        segs.append(Segment(ring, b"".join(samples), offsets, lengths))
        i = j
    return segs


class EventReader(KernelObject, Generic[R]):
    """The base of :class:`ebpf.ringbuf.Reader` and :class:`ebpf.perf.Reader`: see their
    docstrings. The descriptor it owns (``fd``) is an epoll instance that is readable when
    records may be available; register it with a selector or event loop to wait for records
    alongside other work."""

    __slots__ = ("_async_wake", "_batch_open", "_closing", "_decode", "_lock", "_pending",
                 "_pop", "_waiter", "_waiting_async")

    kind = "reader"

    def _setup_reader(self, what: str) -> None:
        self._waiter = Waiter(what)
        self._own(self._waiter.fd)
        self._lock = threading.Lock()
        self._pending: deque[R] = deque()
        self._pop = self._pending.popleft
        self._closing = False
        self._batch_open = False
        self._waiting_async = False
        # (loop, callback) of an asyncio read waiting for the descriptor: close() calls it,
        # since the loop stops watching a descriptor once it is closed.
        self._async_wake: tuple[asyncio.AbstractEventLoop, Callable[[], None]] | None = None
        self._decode: Callable[[bytes], Any] | None = None

    def _set_decode(self, spec: DecodeSpec, types: Spec | None) -> None:
        if spec is not None:
            self._decode = decoder(spec, types, f"{self._label()}: decode")

    # --- the subclass hooks --------------------------------------------------------------------

    def _fill(self) -> int:
        """Copy every available record into ``_pending``; the number added, or -1 if nothing
        was added because the next record is still being written."""
        raise NotImplementedError

    def _read_one_into(self, view: memoryview) -> int:
        """Copy the next record's sample into ``view`` and consume it: its length; -1 if there
        is none, -2 if it is still being written."""
        raise NotImplementedError

    def _take_segments(self) -> tuple[list[Segment], int, bool]:
        """Lend every available record: (segments, lost samples, whether a record still being
        written held back the rest); ``_give_back`` returns their space."""
        raise NotImplementedError

    def _give_back(self) -> None:
        raise NotImplementedError

    def _close_buffers(self) -> None:
        raise NotImplementedError

    def _with_value(self, rec: R) -> R:
        raise NotImplementedError

    def _sample_of(self, rec: R) -> bytes | None:
        """The sample of a queued record (None: it carries no sample, e.g. lost samples)."""
        raise NotImplementedError

    def _queued_segments(self) -> list[Segment]:
        raise NotImplementedError

    # --- ownership -----------------------------------------------------------------------------

    def _release(self) -> None:
        self._closing = True
        waiter = getattr(self, "_waiter", None)
        if waiter is None:
            return
        waiter.wake()
        wake_async = self._async_wake
        if wake_async is not None:
            loop, callback = wake_async
            with contextlib.suppress(RuntimeError):  # the loop is closed already
                loop.call_soon_threadsafe(callback)
        with self._lock:  # a blocked reader wakes, sees _closing and leaves
            self._pending.clear()
            self._close_buffers()
            waiter.close()

    def _busy(self, action: str) -> BusyError:
        if self._batch_open:
            return BusyError(f"cannot {action} {self._label()}: a batch of it is still open "
                             "(release it, or leave its with block, first)")
        return BusyError(f"cannot {action} {self._label()}: another thread or task is "
                         "reading it")

    def _closed(self, action: str) -> ClosedError:
        return ClosedError(f"cannot {action} {self._label()}: it is closed")

    def _timeout(self, timeout: float | None) -> TimeoutError:
        return TimeoutError(f"{self._label()}: no record within {timeout} s")

    # --- reading -------------------------------------------------------------------------------

    def read(self, timeout: float | None = None) -> R:
        """The next record, waiting for one up to ``timeout`` seconds (None: as long as it
        takes; 0: only what is there now).

        Raises:
            TimeoutError: no record arrived in time.
            ClosedError: the reader is closed, or was closed by another thread while waiting.
            BusyError: another thread or task is reading, or a batch is open.
            EbpfError: the record does not decode as the reader's ``decode`` (the record is
                consumed).
        """
        try:
            rec = self._pop()
        except IndexError:
            rec = self._read_slow(timeout)
        return rec if self._decode is None else self._with_value(rec)

    def __iter__(self) -> Iterator[R]:
        """Records as they arrive, blocking between them; the iteration ends when the reader
        is closed (also from another thread). Leaving the loop early loses no record: the
        next read or iteration continues where this one stopped."""
        pending = self._pending
        while True:
            # Records come straight out of the queue in C, one popleft per record, so a
            # ``break`` leaves the rest queued.
            consume = iter(pending.popleft, None)
            try:
                if self._decode is None:
                    yield from consume
                else:
                    yield from map(self._with_value, consume)
            except IndexError:  # the queue ran dry
                pass
            try:
                rec = self._read_slow(None)
            except ClosedError:
                return
            yield rec if self._decode is None else self._with_value(rec)

    def _enter(self, action: str) -> None:
        """Take the lock for ``action`` or raise."""
        if not self._lock.acquire(blocking=False):
            raise self._busy(action)
        if self._closing:
            self._lock.release()
            raise self._closed(action)
        if self._batch_open:
            self._lock.release()
            raise self._busy(action)

    def _read_slow(self, timeout: float | None) -> R:
        deadline = deadline_of(timeout, f"read {self._label()}")
        self._enter("read")
        try:
            stalls = 0
            pending = self._pending
            while True:
                if pending:
                    return self._pop()
                n = self._fill()
                if n > 0:
                    continue
                if n < 0:
                    stalls = self._stall(stalls, deadline, timeout)
                    continue
                stalls = 0
                self._wait(deadline, timeout)
        finally:
            self._lock.release()

    def _stall(self, stalls: int, deadline: float | None, timeout: float | None) -> int:
        """Wait a little for a record that is being written."""
        if deadline is not None and time.monotonic() >= deadline:
            raise self._timeout(timeout)
        time.sleep(_STALL_SLEEP[min(stalls, len(_STALL_SLEEP) - 1)])
        if self._closing:
            raise self._closed("read")
        return stalls + 1

    def _wait(self, deadline: float | None, timeout: float | None) -> None:
        ready = self._waiter.wait(deadline)
        if self._closing:
            raise self._closed("read")
        if not ready and deadline is not None and time.monotonic() >= deadline:
            raise self._timeout(timeout)

    def read_into(self, buffer: Any, timeout: float | None = None) -> int:
        """Copy the next record's sample into ``buffer`` (a writable bytes-like object, e.g. a
        ``bytearray`` reused from call to call) and return its length. No object is made for
        the record: this is the way to read record by record without allocating.

        Records without a sample (a perf buffer's lost-sample notices) are skipped; their
        counts still add up in ``lost_samples``. Waiting is as in :meth:`read`.

        Raises:
            EbpfError: ``buffer`` is not writable bytes, or is too small for the record (which
                then stays unread: call again with a larger buffer).
            TimeoutError, ClosedError, BusyError: as :meth:`read`.
        """
        try:
            view = memoryview(buffer)
        except TypeError:
            raise EbpfError(f"read_into: buffer must be a writable bytes-like object, not "
                            f"{type(buffer).__name__}") from None
        if view.readonly or not view.c_contiguous:
            raise EbpfError("read_into: buffer must be writable and contiguous")
        view = view.cast("B") if view.format != "B" or view.ndim != 1 else view
        pending = self._pending
        while pending:
            sample = self._sample_of(pending[0])
            if sample is None:
                self._pop()
                continue
            n = len(sample)
            if n > len(view):
                raise self._too_small(n, len(view))
            view[:n] = sample
            self._pop()
            return n
        deadline = deadline_of(timeout, f"read {self._label()}")
        self._enter("read")
        try:
            stalls = 0
            while True:
                n = self._read_one_into(view)
                if n >= 0:
                    return n
                if n == -2:
                    stalls = self._stall(stalls, deadline, timeout)
                    continue
                stalls = 0
                self._wait(deadline, timeout)
        finally:
            self._lock.release()

    def _too_small(self, needed: int, have: int) -> EbpfError:
        return EbpfError(f"read_into {self._label()}: the record has {needed} bytes, the "
                         f"buffer only {have} (the record stays unread)")

    # --- batches -------------------------------------------------------------------------------

    def batch(self, timeout: float | None = None) -> Batch:
        """Every record available now, without copying: a :class:`Batch` to use in a ``with``
        block. Waits up to ``timeout`` seconds (None: as long as it takes; 0: not at all) for
        the first record; on the deadline the batch is empty (no error).

        While the batch is open the reader refuses other reads (:class:`BusyError`).

        Raises:
            ClosedError, BusyError: as :meth:`read`.
        """
        deadline = deadline_of(timeout, f"read {self._label()}")
        self._enter("read a batch of")
        try:
            stalls = 0
            while True:
                segments: list[Segment] = []
                if self._pending:
                    segments = self._queued_segments()
                    self._pending.clear()
                taken, lost, stalled = self._take_segments()
                segments.extend(taken)
                if segments or lost:
                    self._batch_open = True
                    return Batch(segments, self._end_batch, lost)
                try:
                    if stalled:
                        stalls = self._stall(stalls, deadline, timeout)
                        continue
                    stalls = 0
                    self._wait(deadline, timeout)
                except TimeoutError:
                    return Batch([], None)
        finally:
            self._lock.release()

    def _end_batch(self) -> None:
        with self._lock:
            if not self._closing:
                self._give_back()
            self._batch_open = False

    # --- asyncio -------------------------------------------------------------------------------

    async def read_async(self, timeout: float | None = None) -> R:
        """:meth:`read` for asyncio: waits without blocking the event loop (the reader's
        descriptor is watched with ``loop.add_reader``). Cancelling it leaves the reader usable
        and loses no record.

        Raises:
            TimeoutError, ClosedError, BusyError, EbpfError: as :meth:`read`.
        """
        try:
            rec = self._pop()
        except IndexError:
            rec = await self._read_async_slow(timeout)
        return rec if self._decode is None else self._with_value(rec)

    def __aiter__(self) -> Self:
        """``async for record in reader``: as :meth:`__iter__`, for asyncio."""
        return self

    async def __anext__(self) -> R:
        try:
            return await self.read_async()
        except ClosedError:
            raise StopAsyncIteration from None

    def _try_fill(self) -> int:
        """One non-blocking drain under the lock (raises BusyError or ClosedError)."""
        self._enter("read")
        try:
            return len(self._pending) if self._pending else self._fill()
        finally:
            self._lock.release()

    async def _read_async_slow(self, timeout: float | None) -> R:
        deadline = deadline_of(timeout, f"read {self._label()}")
        if self._waiting_async:
            raise self._busy("read")
        loop = asyncio.get_running_loop()
        self._waiting_async = True
        try:
            stalls = 0
            while True:
                n = self._try_fill()
                if self._pending:
                    return self._pop()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise self._timeout(timeout)
                if n < 0:
                    delay = _STALL_SLEEP[min(stalls, len(_STALL_SLEEP) - 1)]
                    await asyncio.sleep(delay if remaining is None else min(delay, remaining))
                    stalls += 1
                    continue
                stalls = 0
                await self._readable(loop, remaining)
                if self._closing:
                    raise self._closed("read")
        finally:
            self._waiting_async = False

    async def _readable(self, loop: asyncio.AbstractEventLoop, timeout: float | None) -> None:
        """Until the reader's descriptor is readable, or ``timeout`` seconds pass."""
        fut: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not fut.done():
                fut.set_result(None)

        fd = self.fd
        loop.add_reader(fd, ready)
        self._async_wake = (loop, ready)
        handle = None if timeout is None else loop.call_later(timeout, ready)
        try:
            if self._closing:  # closed between the check and add_reader
                return
            await fut
        finally:
            self._async_wake = None
            loop.remove_reader(fd)
            if handle is not None:
                handle.cancel()
