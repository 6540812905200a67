"""``Reader``: user space's end of a ``BPF_MAP_TYPE_PERF_EVENT_ARRAY``.

Each online CPU gets a perf event (``PERF_COUNT_SW_BPF_OUTPUT``, ``PERF_SAMPLE_RAW``) with its
own mmap'd ring, stored in the map at that CPU's index; ``bpf_perf_event_output`` writes into
the ring of the CPU the program runs on. A ring is one metadata page (``data_head`` written by
the kernel, ``data_tail`` by the reader) and 2^n data pages, mapped once: a record running past
the end continues at the start and is reassembled here. Records are ``struct
perf_event_header`` (type, misc, size) followed by the body: ``PERF_RECORD_SAMPLE`` bodies are a
u32 size and the program's bytes padded with zeros to 8 bytes in all, ``PERF_RECORD_LOST``
bodies say how many samples the kernel dropped for want of space.

*Overwritable* rings (``write_backward``) are written from the end backwards and never full:
the newest records replace the oldest. They are read after :meth:`Reader.pause`.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import struct
from itertools import repeat
from typing import TYPE_CHECKING, Any, Final, NamedTuple, final

from ..errors import EbpfError, NotSupportedError, SyscallError
from ..internal.events import PAGE_SIZE, SharedMemory, fence, needs_fence
from ..internal.kernel import online_cpus
from ..internal.sys import FD
from ..internal.unix import (
    PerfEventAttr,
    PerfIoctl,
    PerfType,
    SoftwareEvent,
    perf_event_ioctl,
    perf_event_open,
)
from ..map import Map
from ..ringbuf._base import EventReader, Repeat, Segment, run_length
from ..ringbuf._reader import decode_as
from ..types import MapType

if TYPE_CHECKING:
    from ..btf.spec import Spec
    from ..ringbuf._decode import DecodeSpec

__all__ = ["Reader", "Record"]

_RECORD_LOST: Final = 2
_RECORD_SAMPLE: Final = 9
# struct perf_event_mmap_page: data_head and data_tail, as u64 indexes.
_HEAD: Final = 1024 // 8
_TAIL: Final = 1032 // 8
_U64: Final = (1 << 64) - 1
_FILL_LIMIT: Final = 512


class Record(NamedTuple):
    """One record of a perf event buffer.

    Attributes:
        sample: the bytes the program output, padded by the kernel with zeros so that the
            sample plus a 4-byte size fill a multiple of 8 bytes (perf keeps no exact length:
            a program that needs one puts it in the sample). Empty for a lost-samples notice.
        cpu: the CPU whose buffer the record came from.
        lost_samples: for a notice that the kernel dropped samples (the buffer was full), how
            many; else 0.
        remaining: bytes left unread in this CPU's buffer after this record.
        value: the sample decoded by the reader's ``decode``, or None.
    """

    sample: bytes
    cpu: int
    lost_samples: int
    remaining: int
    value: Any = None

    def as_(self, spec: DecodeSpec, *, types: Spec | None = None) -> Any:
        """The sample decoded as ``spec`` (see :meth:`ebpf.ringbuf.Record.as_`)."""
        return decode_as(self.sample, spec, types)


@functools.lru_cache(maxsize=128)
def _splitter(raw_size: int) -> struct.Struct:
    """Cuts one sample out of a PERF_RECORD_SAMPLE of ``raw_size`` bytes of raw data."""
    return struct.Struct(f"12x{raw_size}s")


_first = operator.itemgetter(0)
_make_record = functools.partial(tuple.__new__, Record)


class _Ring:
    """One CPU's perf event and its mapped ring."""

    __slots__ = ("cpu", "data", "event", "lent", "mask", "memory", "meta", "prev_head", "q",
                 "raw", "size", "tail", "u32")

    def __init__(self, cpu: int, event: FD, pages: int, overwritable: bool, what: str) -> None:
        self.cpu = cpu
        self.event = event
        self.size = pages * PAGE_SIZE
        self.mask = self.size - 1
        self.memory = SharedMemory(event.raw, (pages + 1) * PAGE_SIZE, 0,
                                   writable=not overwritable, what=what)
        self.q = self.memory.view("Q")
        self.u32 = self.memory.view("I")
        self.data = self.memory.view("B")
        self.raw = self.memory.memory
        self.tail: int = self.q[_TAIL]
        self.lent: int | None = None
        self.prev_head = 0  # overwritable rings: data_head at the previous read

    def close(self) -> None:
        for v in (self.q, self.u32, self.data):
            v.release()
        self.event.close()

    def sample_at(self, pos: int, raw_size: int) -> bytes:
        """The sample of the record at ring position ``pos``, reassembled if it wraps."""
        start = (pos + 12) & self.mask
        end = start + raw_size
        raw = self.raw
        if end <= self.size:
            return bytes(raw[PAGE_SIZE + start:PAGE_SIZE + end])
        return bytes(raw[PAGE_SIZE + start:PAGE_SIZE + self.size]) + bytes(
            raw[PAGE_SIZE:PAGE_SIZE + end - self.size])

    def u64_at(self, pos: int) -> int:
        return self.q[(PAGE_SIZE + (pos & self.mask)) >> 3]

    def u32_at(self, pos: int) -> int:
        return self.u32[(PAGE_SIZE + (pos & self.mask)) >> 2]


@final
class Reader(EventReader[Record]):
    """Reads what BPF programs output with ``bpf_perf_event_output`` into a perf event array.

    ``Reader(m, per_cpu_buffer_size)`` opens one perf event and ring per online CPU and stores
    the events in ``m`` at the CPUs' indexes (replacing what was there; closing the reader
    removes them). Reading is as for :class:`ebpf.ringbuf.Reader` (:meth:`read` with deadlines,
    iteration, :meth:`read_into`, :meth:`batch`, asyncio); records carry the ``cpu`` they came
    from, in order for one CPU, not across CPUs. When a buffer was full the kernel drops
    samples and later reports how many in a record with ``lost_samples`` (and no sample);
    :attr:`lost_samples` adds them all up.

    Wake-ups: by default the kernel wakes a waiting reader for every sample.
    ``wakeup_events=N`` wakes it every N samples, ``watermark=B`` once B bytes are waiting
    (records below the threshold are still read when a read finds them).

    ``overwritable=True`` makes rings the kernel writes backwards and never fills: the newest
    records overwrite the oldest, nothing is reported lost. Read them after :meth:`pause`
    (which stops the kernel writing) and :meth:`resume` afterwards; each read returns the
    records written since the previous one that were not overwritten, oldest first.

    Ownership: the reader owns an epoll instance (``fd``), the perf events and their mappings,
    and a duplicate of the map; ``close()`` may come from any thread (a blocked reader wakes
    with :class:`~ebpf.ClosedError`). A reader cannot be cloned or pinned.
    """

    __slots__ = ("_array", "_by_cpu", "_overwritable", "_rings", "lost_samples")

    kind = "perf event reader"

    def __init__(self, m: Map, per_cpu_buffer_size: int, *, watermark: int = 0,
                 wakeup_events: int = 0, overwritable: bool = False,
                 decode: DecodeSpec = None, types: Spec | None = None) -> None:
        """Open a ring of at least ``per_cpu_buffer_size`` bytes (rounded up to a power-of-two
        number of pages) for each online CPU and store the events in perf event array ``m``
        (borrowed: the reader keeps its own descriptor).

        ``decode``: as for :class:`ebpf.ringbuf.Reader`.

        Raises:
            EbpfError: ``m`` is not a perf event array, a size or setting is invalid, or an
                online CPU has no slot in ``m``.
            SyscallError: ``perf_event_open``, ``mmap`` or the map update failed (``EPERM``
                without ``CAP_PERFMON``; ``EPERM``/``ENOMEM`` for buffers over the locked
                memory limit).
        """
        if not isinstance(m, Map) or m.type != MapType.PERF_EVENT_ARRAY:
            what = (f"a {getattr(m.type, 'name', m.type)} map" if isinstance(m, Map)
                    else type(m).__name__)
            raise EbpfError(f"perf.Reader needs a PERF_EVENT_ARRAY map, not {what}")
        for name, v in (("per_cpu_buffer_size", per_cpu_buffer_size), ("watermark", watermark),
                        ("wakeup_events", wakeup_events)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v >= 1 << 32:
                raise EbpfError(f"perf.Reader: {name} must be an int from 0 to 2**32-1, "
                                f"not {v!r}")
        if per_cpu_buffer_size <= 0:
            raise EbpfError("perf.Reader: per_cpu_buffer_size must be > 0")
        if watermark and wakeup_events:
            raise EbpfError("perf.Reader: give watermark or wakeup_events, not both")
        pages = 1
        while pages * PAGE_SIZE < per_cpu_buffer_size:
            pages *= 2
        if watermark >= pages * PAGE_SIZE:
            raise EbpfError(f"perf.Reader: watermark {watermark} must be less than the buffer "
                            f"size ({pages * PAGE_SIZE} bytes)")
        if needs_fence:
            fence()
        self._rings: list[_Ring] = []
        self._by_cpu: dict[int, _Ring] = {}
        self._overwritable = overwritable
        self.lost_samples = 0
        self._array: Map | None = None
        self._setup_reader("perf event reader")
        try:
            self._set_decode(decode, types)
            self._array = m.clone()
            self._open_rings(m.name, pages, watermark, wakeup_events)
        except BaseException:
            self.close()
            raise

    def _open_rings(self, name: str, pages: int, watermark: int, wakeup_events: int) -> None:
        array_map = self._array
        assert array_map is not None
        for cpu in online_cpus():
            what = f"perf event reader of {name!r}: CPU {cpu}"
            if cpu >= array_map.max_entries:
                raise EbpfError(f"{what}: the map has only {array_map.max_entries} entries "
                                "(make it as large as the number of possible CPUs)")
            attr = PerfEventAttr(type=PerfType.SOFTWARE, config=SoftwareEvent.BPF_OUTPUT,
                                 sample_type=PerfEventAttr.SAMPLE_RAW, sample_period=1)
            if watermark:
                attr.flags |= PerfEventAttr.FLAG_WATERMARK
                attr.wakeup_events = watermark
            else:
                attr.wakeup_events = wakeup_events or 1
            if self._overwritable:
                attr.flags |= PerfEventAttr.FLAG_WRITE_BACKWARD
            event = perf_event_open(attr, -1, cpu, what=what)
            try:
                ring = _Ring(cpu, event, pages, self._overwritable, f"{what}: map the ring")
            except BaseException:
                event.close()
                raise
            self._rings.append(ring)
            self._by_cpu[cpu] = ring
            self._waiter.add(event.raw)
            array_map.update(cpu, event.raw)

    def _label(self) -> str:
        a = getattr(self, "_array", None)
        return f"perf event reader of {a.name!r}" if a is not None else "perf event reader"

    def _describe(self) -> str:
        a = self._array
        return f"{a.name!r}, {len(self._rings)} CPUs" if a is not None else ""

    def _close_buffers(self) -> None:
        rings, self._rings = self._rings, []
        self._by_cpu = {}
        array_map, self._array = self._array, None
        for ring in rings:
            if array_map is not None:
                # Already removed by someone else: fine.
                with contextlib.suppress(SyscallError):
                    array_map.delete(ring.cpu)
            ring.close()
        if array_map is not None:
            array_map.close()

    def clone(self) -> Reader:
        """Not supported: each ring has one consumer position.

        Raises:
            NotSupportedError: always.
        """
        raise NotSupportedError("a perf event reader cannot be cloned")

    # --- facts and control ---------------------------------------------------------------------

    @property
    def cpus(self) -> tuple[int, ...]:
        """The CPUs read, in order."""
        return tuple(r.cpu for r in self._rings)

    @property
    def buffer_size(self) -> int:
        """The size in bytes of each CPU's ring."""
        self._checked_fd("use")
        return self._rings[0].size

    @property
    def overwritable(self) -> bool:
        return self._overwritable

    def available_bytes(self, cpu: int | None = None) -> int:
        """Bytes waiting in CPU ``cpu``'s ring, or in all of them (for an overwritable ring:
        written since the last read, at most the ring's size)."""
        self._checked_fd("use")
        rings = self._rings if cpu is None else [self._by_cpu[cpu]]
        if self._overwritable:
            return sum(min((r.prev_head - r.q[_HEAD]) & _U64, r.size) for r in rings)
        return sum(r.q[_HEAD] - r.q[_TAIL] for r in rings)

    def pause(self) -> None:
        """Stop the kernel writing into the rings (``PERF_EVENT_IOC_PAUSE_OUTPUT``; samples
        output meanwhile are dropped), e.g. to read overwritable rings consistently."""
        self._pause(1)

    def resume(self) -> None:
        """Let the kernel write into the rings again after :meth:`pause`."""
        self._pause(0)

    def _pause(self, on: int) -> None:
        self._checked_fd("pause" if on else "resume")
        for ring in self._rings:
            perf_event_ioctl(ring.event.raw, PerfIoctl.PAUSE_OUTPUT, on,
                             what=f"{self._label()}: CPU {ring.cpu}")

    # --- reading -------------------------------------------------------------------------------

    def _with_value(self, rec: Record) -> Record:
        dec = self._decode
        assert dec is not None
        return rec if rec.lost_samples else rec._replace(value=dec(rec.sample))

    def _sample_of(self, rec: Record) -> bytes | None:
        return None if rec.lost_samples else rec.sample

    def _queued_segments(self) -> list[Segment]:
        from ..ringbuf._base import _copied_segments

        return _copied_segments([r for r in self._pending if not r.lost_samples], 1, 0)

    def _fill(self) -> int:
        if self._overwritable:
            return self._fill_backward()
        added = 0
        pending = self._pending
        for ring in self._rings:
            head = ring.q[_HEAD]
            pos = ring.tail
            if pos >= head:
                continue
            if needs_fence:
                fence()
            q = ring.q
            mask = ring.mask
            size = ring.size
            cpu = ring.cpu
            limit = _FILL_LIMIT
            while pos < head and limit > 0:
                off = pos & mask
                base = PAGE_SIZE + off
                hdr = q[base >> 3]
                rsize = hdr >> 48
                if rsize < 8:
                    raise EbpfError(f"{self._label()}: CPU {cpu}: corrupt record of "
                                    f"{rsize} bytes at {pos}")
                if hdr & 0xFFFFFFFF == _RECORD_SAMPLE:
                    # A run of samples of one size that does not wrap: one C pass.
                    k = min((head - pos) // rsize, (size - off) // rsize, limit)
                    k = run_length(q, base >> 3, rsize >> 3, k, hdr)
                    if k >= 1 and off + rsize <= size:
                        end = pos + k * rsize
                        samples = map(_first, _splitter(rsize - 12).iter_unpack(
                            ring.data[base:base + k * rsize]))
                        left = range(head - pos - rsize, head - end - rsize, -rsize)
                        pending.extend(map(_make_record, zip(
                            samples, repeat(cpu, k), repeat(0, k), left, repeat(None, k),
                            strict=True)))
                        pos = end
                        added += k
                        limit -= k
                        continue
                    # It wraps around the end of the ring: reassemble.
                    raw_size = ring.u32_at(pos + 8)
                    pos += rsize
                    pending.append(Record(ring.sample_at(pos - rsize, raw_size), cpu, 0,
                                          head - pos))
                    added += 1
                    limit -= 1
                    continue
                if hdr & 0xFFFFFFFF == _RECORD_LOST:
                    lost = ring.u64_at(pos + 16)
                    self.lost_samples += lost
                    pos += rsize
                    pending.append(Record(b"", cpu, lost, head - pos))
                    added += 1
                    continue
                pos += rsize  # a record type this reader does not ask for
            if needs_fence:
                fence()
            ring.tail = pos
            q[_TAIL] = pos
        return added

    def _fill_backward(self) -> int:
        """Read overwritable rings: from ``data_head`` (the newest record) up to where the
        previous read started or the ring's size, then put the records oldest first."""
        added = 0
        for ring in self._rings:
            head = ring.q[_HEAD]
            avail = min((ring.prev_head - head) & _U64, ring.size)
            ring.prev_head = head
            if not avail:
                continue
            if needs_fence:
                fence()
            out: list[Record] = []
            rel = 0
            while rel + 8 <= avail:
                pos = (head + rel) & _U64
                hdr = ring.u64_at(pos)
                rsize = hdr >> 48
                if rsize < 8 or rel + rsize > avail:
                    break  # the oldest record, partly overwritten
                rel += rsize
                if hdr & 0xFFFFFFFF == _RECORD_SAMPLE:
                    out.append(Record(ring.sample_at(pos, ring.u32_at(pos + 8)), ring.cpu, 0,
                                      avail - rel))
            out.reverse()
            self._pending.extend(out)
            added += len(out)
        return added

    def _read_one_into(self, view: memoryview) -> int:
        if self._overwritable:
            if self._fill() <= 0:
                return -1
            return self._from_pending(view)
        for ring in self._rings:
            head = ring.q[_HEAD]
            pos = ring.tail
            if pos < head and needs_fence:
                fence()
            while pos < head:
                hdr = ring.u64_at(pos)
                rsize = hdr >> 48
                if rsize < 8:
                    raise EbpfError(f"{self._label()}: CPU {ring.cpu}: corrupt record")
                kind = hdr & 0xFFFFFFFF
                if kind == _RECORD_SAMPLE:
                    n = ring.u32_at(pos + 8)
                    if n > len(view):
                        ring.tail = ring.q[_TAIL] = pos
                        raise self._too_small(n, len(view))
                    start = (pos + 12) & ring.mask
                    if start + n <= ring.size:
                        view[:n] = ring.data[PAGE_SIZE + start:PAGE_SIZE + start + n]
                    else:
                        view[:n] = ring.sample_at(pos, n)
                    if needs_fence:
                        fence()
                    ring.tail = ring.q[_TAIL] = pos + rsize
                    return n
                if kind == _RECORD_LOST:
                    self.lost_samples += ring.u64_at(pos + 16)
                pos += rsize
            ring.tail = ring.q[_TAIL] = pos
        return -1

    def _from_pending(self, view: memoryview) -> int:
        while self._pending:
            rec = self._pending[0]
            if rec.lost_samples:
                self._pop()
                continue
            n = len(rec.sample)
            if n > len(view):
                raise self._too_small(n, len(view))
            view[:n] = rec.sample
            self._pop()
            return n
        return -1

    # --- batches -------------------------------------------------------------------------------

    def _take_segments(self) -> tuple[list[Segment], int, bool]:
        if self._overwritable:
            self._fill_backward()
            segs = self._queued_segments()
            self._pending.clear()
            return segs, 0, False
        segments: list[Segment] = []
        lost = 0
        for ring in self._rings:
            head = ring.q[_HEAD]
            pos = ring.tail
            if pos >= head:
                continue
            if needs_fence:
                fence()
            lost += _lend(ring, pos, head, segments)
            ring.lent = head
        self.lost_samples += lost
        return segments, lost, False

    def _give_back(self) -> None:
        if needs_fence:
            fence()
        for ring in self._rings:
            if ring.lent is not None:
                ring.tail = ring.q[_TAIL] = ring.lent
                ring.lent = None


def _lend(ring: _Ring, pos: int, head: int, segments: list[Segment]) -> int:
    """Append segments lending the records of ``ring`` from ``pos`` to ``head``: one per run
    of equally sized samples that does not wrap (a view of the ring), one per wrapping sample
    (a copy). Returns the number of samples lost reported on the way."""
    q = ring.q
    mask = ring.mask
    size = ring.size
    cpu = ring.cpu
    lost = 0
    while pos < head:
        off = pos & mask
        base = PAGE_SIZE + off
        hdr = q[base >> 3]
        rsize = hdr >> 48
        if rsize < 8:
            raise EbpfError(f"perf event reader: CPU {cpu}: corrupt record at {pos}")
        kind = hdr & 0xFFFFFFFF
        if kind == _RECORD_SAMPLE:
            if off + rsize <= size:
                k = min((head - pos) // rsize, (size - off) // rsize)
                m = run_length(q, base >> 3, rsize >> 3, k, hdr)
                raw_size = ring.u32_at(pos + 8)
                segments.append(Segment(cpu, ring.data[base:base + m * rsize],
                                        range(12, 12 + m * rsize, rsize), Repeat(raw_size, m),
                                        rsize))
                pos += m * rsize
                continue
            raw_size = ring.u32_at(pos + 8)
            segments.append(Segment(cpu, ring.sample_at(pos, raw_size), range(0, 1),
                                    Repeat(raw_size, 1)))
        elif kind == _RECORD_LOST:
            lost += ring.u64_at(pos + 16)
        pos += rsize
    return lost
