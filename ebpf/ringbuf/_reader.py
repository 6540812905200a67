"""``Reader``: user space's end of one or more ``BPF_MAP_TYPE_RINGBUF`` maps.

The kernel shares a ring buffer through ``mmap``: a consumer page user space writes (the
consumer position), then a read-only producer page (the producer position) followed by the
data area, mapped twice in a row so that a record running past the end of the ring continues
contiguously in the second copy. A record is an 8-byte header (length, with a *busy* bit while
the program has reserved but not yet submitted it and a *discard* bit if it threw it away)
followed by the sample, padded to 8 bytes.
"""

from __future__ import annotations

import fcntl
import functools
import operator
import select
import struct
from array import array
from itertools import repeat
from typing import TYPE_CHECKING, Any, Final, NamedTuple, final

from ..errors import EbpfError
from ..internal.events import PAGE_SIZE, SharedMemory, fence, needs_fence
from ..internal.sys import FD
from ..map import Map
from ..types import MapType
from ._base import EventReader, Repeat, Segment, run_length
from ._decode import DecodeSpec, decoder

if TYPE_CHECKING:
    from ..btf.spec import Spec

__all__ = ["Reader", "Record"]

BUSY_BIT: Final = 1 << 31
DISCARD_BIT: Final = 1 << 30
_LEN_MASK: Final = DISCARD_BIT - 1
HEADER_SIZE: Final = 8
# At most this many records are copied out per buffer and pass (bounding memory and the
# garbage collector's work while a large backlog drains).
_FILL_LIMIT: Final = 512


@functools.lru_cache(maxsize=64)
def _cached_decoder(spec: Any) -> Any:
    return decoder(spec, None, "Record.as_()")


def decode_as(sample: bytes, spec: DecodeSpec, types: Spec | None) -> Any:
    """``sample`` decoded as ``spec`` (the implementation of the records' ``as_``)."""
    if types is not None or isinstance(spec, str):
        return decoder(spec, types, "Record.as_()")(sample)
    try:
        return _cached_decoder(spec)(sample)
    except TypeError:  # an unhashable callable
        return decoder(spec, None, "Record.as_()")(sample)


class Record(NamedTuple):
    """One record of a ring buffer.

    Attributes:
        sample: the bytes the program submitted (exactly as many as it reserved or output).
        remaining: bytes left unread in the ring buffer after this record when it was read.
        ring: which of the reader's ring buffers it came from (0 for the reader's first map;
            ``Reader.ring_names[ring]`` names it).
        value: the sample decoded by the reader's ``decode``, or None without one.
    """

    sample: bytes
    remaining: int
    ring: int
    value: Any = None

    def as_(self, spec: DecodeSpec, *, types: Spec | None = None) -> Any:
        """The sample decoded as ``spec``: a ctypes structure type (a new instance holding a
        copy), a BTF type or type name (looked up in ``types``, e.g.
        ``CollectionSpec.types``; the Python values a BTF-typed map gives), or a callable.

        Raises:
            EbpfError: the sample is shorter than the type, or ``spec`` is not usable.
        """
        return decode_as(self.sample, spec, types)


class _Ring:
    """One ring buffer map, mapped: where the reader is in it."""

    __slots__ = ("cons", "data", "fd", "index", "lent", "mask", "memories", "name", "pos",
                 "prod", "raw", "size", "u32")

    def __init__(self, index: int, m: Map, what: str) -> None:
        size = m.max_entries
        if size <= 0 or size & (size - 1) or size % PAGE_SIZE:
            raise EbpfError(f"{what}: a ring buffer's size must be a power of two and a "
                            f"multiple of the page size, not {size}")
        self.index = index
        self.name = m.name
        self.size = size
        self.mask = size - 1
        self.fd = FD(fcntl.fcntl(m.fd, fcntl.F_DUPFD_CLOEXEC, 1), f"ring buffer {m.name!r}")
        try:
            consumer = SharedMemory(self.fd.raw, PAGE_SIZE, 0, writable=True,
                                    what=f"{what}: map the consumer page")
            producer = SharedMemory(self.fd.raw, PAGE_SIZE + 2 * size, PAGE_SIZE,
                                    writable=False, what=f"{what}: map the data pages")
        except BaseException:
            self.fd.close()
            raise
        self.memories: tuple[SharedMemory, ...] = (consumer, producer)
        self.cons = consumer.view("Q")
        self.prod = producer.view("Q")
        self.u32 = producer.view("I")
        self.data = producer.view("B")
        self.raw = producer.memory
        self.pos: int = self.cons[0]
        self.lent: int | None = None

    def close(self) -> None:
        # The mappings go when the last view of them does (a batch may still hold one).
        for v in (self.cons, self.prod, self.u32, self.data):
            v.release()
        self.memories = ()
        self.fd.close()


@final
class Reader(EventReader[Record]):
    """Reads the records BPF programs submit to ring buffer maps (``BPF_MAP_TYPE_RINGBUF``).

    ``Reader(m)`` maps ``m``'s buffer; :meth:`add` adds more ring buffers to watch with the same
    reader (as libbpf's ``ring_buffer__add``); each record says which one it came from.

    Reading, record by record:

    * :meth:`read` returns the next :class:`Record`, blocking up to ``timeout`` seconds;
      ``for record in reader`` iterates until the reader is closed;
    * :meth:`read_into` copies the next sample into a buffer of the caller's, making no
      object per record;
    * :meth:`read_async` and ``async for`` wait in an asyncio event loop without blocking it.

    All records available are copied out of the kernel's buffer in one pass and their space
    given back at once; records come in the order the programs reserved them (for one ring
    buffer). Discarded records are skipped; a record still being written (reserved, not yet
    submitted) is waited for, never returned half-written, and holds back those after it.

    :meth:`batch` lends every available record without copying (memoryviews over the kernel's
    buffer, or a numpy array), giving their space back when the batch is released.

    The reader owns an epoll instance (its ``fd``, readable when records may be there), a
    duplicate descriptor of each map (closing the maps does not stop it) and the mappings.
    ``close()`` may come from any thread: a thread blocked in a read wakes with
    :class:`~ebpf.ClosedError`. Ownership otherwise follows
    :class:`~ebpf.internal.kernel_object.KernelObject`, except that a reader cannot be cloned
    or pinned (:class:`~ebpf.NotSupportedError`). A reader is meant for one consumer: two
    threads reading at once get :class:`BusyError`.
    """

    __slots__ = ("_rings",)

    kind = "ring buffer reader"

    def __init__(self, m: Map, *, decode: DecodeSpec = None, types: Spec | None = None
                 ) -> None:
        """Read the ring buffer map ``m`` (borrowed: the reader keeps its own descriptor).

        ``decode``: a ctypes type, BTF type, BTF type name (looked up in ``types``, e.g.
        ``CollectionSpec.types``) or callable that each record's ``value`` is decoded with.

        Raises:
            EbpfError: ``m`` is not a ring buffer map, or ``decode`` is not usable.
            SyscallError: mapping the buffer failed.
            NotSupportedError: this architecture needs libatomic's fences and has none.
        """
        if needs_fence:
            fence()
        self._rings: list[_Ring] = []
        self._setup_reader("ring buffer reader")
        try:
            self._set_decode(decode, types)
            self.add(m)
        except BaseException:
            self.close()
            raise

    def _label(self) -> str:
        rings = getattr(self, "_rings", None)
        if rings:
            return f"ring buffer reader of {', '.join(repr(r.name) for r in rings)}"
        return "ring buffer reader"

    def _describe(self) -> str:
        return ", ".join(repr(r.name) for r in self._rings)

    def add(self, m: Map) -> int:
        """Watch ring buffer map ``m`` too; returns its index (the ``ring`` of its records).

        Raises:
            EbpfError: ``m`` is not a ring buffer map.
            ClosedError, BusyError: the reader is closed or in use.
        """
        if not isinstance(m, Map):
            raise EbpfError(f"{self._label()}: expected a ring buffer Map, not "
                            f"{type(m).__name__}")
        if m.type != MapType.RINGBUF:
            t = getattr(m.type, "name", m.type)
            hint = " (use ebpf.ringbuf.Writer for a USER_RINGBUF map)" if (
                m.type == MapType.USER_RINGBUF) else ""
            raise EbpfError(f"{self._label()}: map {m.name!r} is a {t} map, not a RINGBUF "
                            f"map{hint}")
        self._enter("add a ring buffer to")
        try:
            ring = _Ring(len(self._rings), m, f"{self._label()}: add {m.name!r}")
            try:
                self._waiter.add(ring.fd.raw, select.EPOLLIN)
            except BaseException:
                ring.close()
                raise
            self._rings.append(ring)
            return ring.index
        finally:
            self._lock.release()

    def _close_buffers(self) -> None:
        rings, self._rings = self._rings, []
        for ring in rings:
            ring.close()

    def clone(self) -> Reader:
        """Not supported: a ring buffer has one consumer.

        Raises:
            NotSupportedError: always.
        """
        from ..errors import NotSupportedError

        raise NotSupportedError("a ring buffer reader cannot be cloned: a ring buffer has one "
                                "consumer position")

    # --- facts ---------------------------------------------------------------------------------

    @property
    def ring_names(self) -> tuple[str, ...]:
        """The names of the maps read, by ring index."""
        return tuple(r.name for r in self._rings)

    @property
    def buffer_size(self) -> int:
        """The size in bytes of the first ring buffer's data area (``max_entries``)."""
        self._checked_fd("use")
        return self._rings[0].size

    def available_bytes(self, ring: int | None = None) -> int:
        """Bytes the kernel holds that this reader has not consumed yet (headers and padding
        included), in ring ``ring`` or in all of them.

        Raises:
            ClosedError: the reader is closed.
        """
        self._checked_fd("use")
        rings = self._rings if ring is None else [self._rings[ring]]
        return sum(r.prod[0] - r.cons[0] for r in rings)

    # --- reading -------------------------------------------------------------------------------

    def _with_value(self, rec: Record) -> Record:
        dec = self._decode
        assert dec is not None
        return rec._replace(value=dec(rec.sample))

    def _sample_of(self, rec: Record) -> bytes:
        return rec.sample

    def _queued_segments(self) -> list[Segment]:
        from ._base import _copied_segments

        return _copied_segments(list(self._pending), 2, 0)

    def _fill(self) -> int:
        added = 0
        stalled = False
        pending = self._pending
        for ring in self._rings:
            pos = ring.pos
            prod = ring.prod[0]
            if pos >= prod:
                continue
            if needs_fence:
                fence()
            u32 = ring.u32
            mask = ring.mask
            idx = ring.index
            limit = _FILL_LIMIT
            while pos < prod and limit > 0:
                base = (pos & mask) + PAGE_SIZE
                count, n, stride = _uniform_run(u32, base, pos, prod, limit)
                if count:
                    # One C pass cuts the samples out and makes the records.
                    end = pos + count * stride
                    samples = map(_first, _splitter(n, stride).iter_unpack(
                        ring.data[base:base + count * stride]))
                    left = range(prod - pos - stride, prod - end - stride, -stride)
                    pending.extend(map(_make_record, zip(samples, left, repeat(idx, count),
                                                         repeat(None, count), strict=True)))
                    pos = end
                    added += count
                    limit -= count
                    continue
                hdr = u32[base >> 2]
                if hdr & BUSY_BIT:
                    stalled = True
                    break
                pos += ((hdr & _LEN_MASK) + 15) & ~7  # discarded
            if needs_fence:
                fence()
            ring.pos = pos
            ring.cons[0] = pos
        return added if added or not stalled else -1

    def _read_one_into(self, view: memoryview) -> int:
        stalled = False
        for ring in self._rings:
            pos = ring.pos
            prod = ring.prod[0]
            if pos < prod and needs_fence:
                fence()
            while pos < prod:
                off = (pos & ring.mask) + PAGE_SIZE
                hdr = ring.u32[off >> 2]
                if hdr & BUSY_BIT:
                    stalled = True
                    break
                n = hdr & _LEN_MASK
                nxt = pos + ((n + 15) & ~7)
                if not hdr & DISCARD_BIT:
                    if n > len(view):
                        ring.pos = pos
                        ring.cons[0] = pos
                        raise self._too_small(n, len(view))
                    view[:n] = ring.data[off + 8:off + 8 + n]
                    if needs_fence:
                        fence()
                    ring.pos = ring.cons[0] = nxt
                    return n
                pos = nxt
            ring.pos = pos
            ring.cons[0] = pos
        return -2 if stalled else -1

    # --- batches -------------------------------------------------------------------------------

    def _take_segments(self) -> tuple[list[Segment], int, bool]:
        segments: list[Segment] = []
        stalled = False
        for ring in self._rings:
            seg, stop, busy = _lend(ring)
            stalled |= busy
            if seg is not None:
                segments.append(seg)
                ring.lent = ring.pos = stop
            elif stop != ring.pos:  # only discarded records: give their space back now
                if needs_fence:
                    fence()
                ring.pos = ring.cons[0] = stop
        return segments, 0, stalled

    def _give_back(self) -> None:
        if needs_fence:
            fence()
        for ring in self._rings:
            if ring.lent is not None:
                ring.cons[0] = ring.lent
                ring.lent = None


def _lend(ring: _Ring) -> tuple[Segment | None, int, bool]:
    """The records between the reader's position and the producer's as one segment over the
    double-mapped data area, the position after them, and whether a busy record stopped it."""
    pos = ring.pos
    prod = ring.prod[0]
    if pos >= prod:
        return None, pos, False
    if needs_fence:
        fence()
    u32 = ring.u32
    mask = ring.mask
    start = pos
    base = (pos & mask) + PAGE_SIZE   # where the segment starts in the mapping
    busy = False
    offsets: Any = None
    lengths: Any = None
    stride = 0
    # Records of one size: every header of the run checked in one C call.
    m, hdr, stride = _uniform_run(u32, base, pos, prod, 1 << 62)
    if m:
        pos += m * stride
        if pos == prod:
            offsets = range(8, 8 + m * stride, stride)
            lengths = Repeat(hdr, m)
        else:
            offsets = array("Q", range(8, 8 + m * stride, stride))
            lengths = array("I", [hdr]) * m
            stride = 0
    if offsets is None or not stride:
        if offsets is None:
            offsets = array("Q")
            lengths = array("I")
        add_off = offsets.append
        add_len = lengths.append
        while pos < prod:
            off = (pos & mask) + PAGE_SIZE
            hdr = u32[off >> 2]
            if hdr & BUSY_BIT:
                busy = True
                break
            n = hdr & _LEN_MASK
            if not hdr & DISCARD_BIT:
                add_off(pos - start + 8)
                add_len(n)
            pos += (n + 15) & ~7
    if not len(offsets):
        return None, pos, busy
    data = ring.data[base:base + (pos - start)]
    return Segment(ring.index, data, offsets, lengths, stride), pos, busy


def _uniform_run(u32: memoryview, base: int, pos: int, prod: int, limit: int
                 ) -> tuple[int, int, int]:
    """How many records from ``pos`` (at ``base`` in the mapping) have the length of the first
    and are neither busy nor discarded, at most ``limit``: ``(count, length, stride)``.

    Checks every header of an evenly spaced run in one C call. If the first ``j`` headers say
    ``length``, the first ``j`` records really are of that length, so the ``j+1``-th header is
    where the check looked for it: the count is exact, not a guess.
    """
    hdr = u32[base >> 2]
    if hdr & (BUSY_BIT | DISCARD_BIT):
        return 0, 0, 0
    stride = (hdr + 15) & ~7
    k = min((prod - pos) // stride, limit)
    if k <= 1:
        return k, hdr, stride
    return run_length(u32, base >> 2, stride >> 2, k, hdr), hdr, stride


@functools.lru_cache(maxsize=128)
def _splitter(length: int, stride: int) -> struct.Struct:
    """Cuts one record's sample out of ``stride`` bytes (header, sample, padding)."""
    return struct.Struct(f"{HEADER_SIZE}x{length}s{stride - HEADER_SIZE - length}x")


_first = operator.itemgetter(0)
_make_record = functools.partial(tuple.__new__, Record)
