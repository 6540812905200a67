"""ebpf.ringbuf against the kernel: records BPF programs submit arrive complete and in order,
through every way of reading them; the user ring buffer writer feeds a draining program."""

from __future__ import annotations

import asyncio
import ctypes
import os
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

import ebpf
from ebpf import ringbuf
from ebpf.errors import ClosedError, EbpfError, NotSupportedError
from tests.kernel.events_support import load, run, spec_types, tracepoint

pytestmark = pytest.mark.kernel

try:
    import numpy
except ImportError:  # the numpy tests skip; the rest runs
    numpy = None  # type: ignore[assignment]
needs_numpy = pytest.mark.skipif(numpy is None, reason="numpy is not installed")


class Pair(ctypes.Structure):
    _fields_ = [("a", ctypes.c_uint32), ("b", ctypes.c_uint32)]


class Event(ctypes.Structure):
    """struct event of testdata/ringbuf.c."""

    _fields_ = [("seq", ctypes.c_uint64), ("pid", ctypes.c_uint32), ("delta", ctypes.c_int16),
                ("flags", ctypes.c_uint8), ("comm", ctypes.c_char * 16),
                ("pairs", Pair * 2), ("ratio", ctypes.c_double)]


def expected_sample(seq: int, size: int) -> bytes:
    """What output_record writes: the sequence number, then bytes derived from it."""
    tail = bytes((seq + i) & 0xFF for i in range(8, 64)) + bytes(1024)
    return (struct.pack("<Q", seq) + tail)[:size]


@pytest.fixture
def coll() -> Iterator[ebpf.Collection]:
    with load("ringbuf") as c:
        yield c


def set_size(coll: ebpf.Collection, size: int) -> None:
    coll.variables["record_size"].set(size)


def drain(reader: ringbuf.Reader) -> list[ringbuf.Record]:
    out = []
    while True:
        try:
            out.append(reader.read(timeout=0))
        except TimeoutError:
            return out


# --- record by record ----------------------------------------------------------------------


@pytest.mark.parametrize("size", [8, 13, 16, 61, 256, 1001])
def test_records_arrive_complete_and_in_order(coll: ebpf.Collection, size: int) -> None:
    set_size(coll, size)
    with ringbuf.Reader(coll.maps["events"]) as reader:
        run(coll, "output_record", 10)
        recs = drain(reader)
    assert [r.sample for r in recs] == [expected_sample(i, size) for i in range(10)]
    assert all(r.ring == 0 for r in recs)
    total = (size + 8 + 7) // 8 * 8
    assert [r.remaining for r in recs] == [total * (9 - i) for i in range(10)]


def test_records_straddling_the_end_of_the_ring(coll: ebpf.Collection) -> None:
    set_size(coll, 100)  # 112 bytes with the header: 36.6 records per 4 KiB ring
    seq = 0
    with ringbuf.Reader(coll.maps["other_events"]) as reader:
        coll.variables["to_other"].set(1)
        assert reader.buffer_size == 4096
        for _ in range(8):  # 240 records through a 36-record ring: many straddle its end
            run(coll, "output_record", 30)
            for rec in drain(reader):
                assert rec.sample == expected_sample(seq, 100)
                seq += 1
        assert seq == 240
        # The same through batches (zero-copy views, contiguous thanks to the double mapping).
        for _ in range(8):
            run(coll, "output_record", 30)
            with reader.batch(timeout=0) as batch:
                assert len(batch) == 30 and len(batch.segments) == 1
                assert batch.segments[0].stride == 112
                for view in batch:
                    assert bytes(view) == expected_sample(seq, 100)
                    seq += 1
        # And read_into.
        buf = bytearray(200)
        for _ in range(4):
            run(coll, "output_record", 30)
            for _ in range(30):
                assert reader.read_into(buf, timeout=0) == 100
                assert bytes(buf[:100]) == expected_sample(seq, 100)
                seq += 1
        assert reader.available_bytes() == 0


def test_discarded_records_are_skipped(coll: ebpf.Collection) -> None:
    coll.variables["discard_every"].set(3)
    with ringbuf.Reader(coll.maps["events"]) as reader:
        run(coll, "reserve_event", 30)
        seqs = [r.as_(Event).seq for r in drain(reader)]
        assert seqs == [s for s in range(30) if s % 3]
        run(coll, "reserve_event", 30)
        with reader.batch(timeout=0) as batch:
            got = [Event.from_buffer_copy(v).seq for v in batch]
        assert got == [s for s in range(30, 60) if s % 3]
        run(coll, "reserve_event", 30)
        buf = bytearray(ctypes.sizeof(Event))
        got = []
        while True:
            try:
                reader.read_into(buf, timeout=0)
            except TimeoutError:
                break
            got.append(Event.from_buffer_copy(buf).seq)
        assert got == [s for s in range(60, 90) if s % 3]
        assert reader.available_bytes() == 0


def test_records_decode_by_btf_and_ctypes(coll: ebpf.Collection) -> None:
    types = spec_types("ringbuf")
    with ringbuf.Reader(coll.maps["events"], decode="event", types=types) as reader:
        run(coll, "reserve_event", 3)
        recs = drain(reader)
    assert [r.value["seq"] for r in recs] == [0, 1, 2]
    v = recs[2].value
    assert v == {"seq": 2, "pid": 1002, "delta": -2, "flags": 2, "comm": "ev2",
                 "pairs": [{"a": 2, "b": 4}, {"a": 6, "b": 8}], "ratio": 1.5}
    e = recs[2].as_(Event)
    assert (e.seq, e.pid, e.delta, e.comm, e.pairs[1].b, e.ratio) == (2, 1002, -2, b"ev2", 8, 1.5)
    assert recs[1].as_("event", types=types)["pid"] == 1001
    assert recs[1].as_(types.type_by_name("event"))["pid"] == 1001
    with pytest.raises(EbpfError, match="shorter"):
        ringbuf.Record(b"\0" * 8, 0, 0).as_(Event)
    with pytest.raises(EbpfError, match="needs types="):
        ringbuf.Record(b"", 0, 0).as_("event")
    with pytest.raises(EbpfError, match="no struct"):
        ringbuf.Reader(coll.maps["events"], decode="no_such_type", types=types)


def test_several_ring_buffers_in_one_reader(coll: ebpf.Collection) -> None:
    set_size(coll, 16)
    with ringbuf.Reader(coll.maps["events"]) as reader:
        assert reader.add(coll.maps["other_events"]) == 1
        assert reader.ring_names == ("events", "other_events")
        run(coll, "output_record", 3)
        coll.variables["to_other"].set(1)
        run(coll, "output_record", 2)
        recs = drain(reader)
    assert sorted((r.ring, r.sample[:8]) for r in recs) == [
        (0, struct.pack("<Q", s)) for s in range(3)] + [(1, struct.pack("<Q", s))
                                                         for s in (3, 4)]


def test_deadlines(coll: ebpf.Collection) -> None:
    with ringbuf.Reader(coll.maps["events"]) as reader:
        with pytest.raises(TimeoutError):
            reader.read(timeout=0)
        start = time.monotonic()
        cpu = time.thread_time()
        with pytest.raises(TimeoutError):
            reader.read(timeout=0.3)
        assert 0.29 <= time.monotonic() - start < 2
        assert time.thread_time() - cpu < 0.05  # waited in epoll, not spinning
        with pytest.raises(EbpfError, match="timeout"):
            reader.read(timeout=-1)
        with reader.batch(timeout=0.05) as batch:
            assert len(batch) == 0


def test_read_into_too_small_leaves_the_record(coll: ebpf.Collection) -> None:
    set_size(coll, 40)
    with ringbuf.Reader(coll.maps["events"]) as reader:
        run(coll, "output_record", 1)
        with pytest.raises(EbpfError, match="40 bytes"):
            reader.read_into(bytearray(16), timeout=0)
        buf = bytearray(64)
        assert reader.read_into(buf, timeout=0) == 40
        assert bytes(buf[:40]) == expected_sample(0, 40)
        with pytest.raises(EbpfError, match="writable"):
            reader.read_into(b"immutable", timeout=0)


# --- ownership and threads ------------------------------------------------------------------


def test_ownership(coll: ebpf.Collection) -> None:
    reader = ringbuf.Reader(coll.maps["events"])
    with pytest.raises(NotSupportedError):
        reader.clone()
    with pytest.raises(NotSupportedError):
        reader.pin("/sys/fs/bpf/nothing")
    assert reader.fd > 0
    reader.close()
    reader.close()
    assert reader.closed
    with pytest.raises(ClosedError):
        reader.read(timeout=0)
    with pytest.raises(ClosedError):
        _ = reader.fd
    assert list(reader) == []  # iterating a closed reader ends at once
    with pytest.raises(EbpfError, match="USER_RINGBUF map"):
        ringbuf.Reader(coll.maps["user_events"])
    with pytest.raises(EbpfError, match="not a RINGBUF"):
        ringbuf.Reader(coll.maps[".bss"])


def test_the_reader_outlives_the_map_object(coll: ebpf.Collection) -> None:
    set_size(coll, 16)
    m = coll.detach_map("events")
    reader = ringbuf.Reader(m)
    m.close()
    with reader:
        run(coll, "output_record", 2)
        assert [r.sample[:8] for r in drain(reader)] == [struct.pack("<Q", s) for s in (0, 1)]


def test_close_wakes_a_blocked_reader(coll: ebpf.Collection) -> None:
    reader = ringbuf.Reader(coll.maps["events"])
    errors: list[BaseException] = []
    started = threading.Event()

    def blocked() -> None:
        started.set()
        try:
            reader.read()
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=blocked)
    t.start()
    started.wait()
    time.sleep(0.2)
    assert t.is_alive()
    reader.close()
    t.join(5)
    assert not t.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], ClosedError)
    assert "closed" in str(errors[0])


def test_close_ends_an_iteration_in_another_thread(coll: ebpf.Collection) -> None:
    set_size(coll, 16)
    reader = ringbuf.Reader(coll.maps["events"])
    got: list[int] = []

    def consume() -> None:
        for rec in reader:
            got.append(struct.unpack_from("<Q", rec.sample)[0])

    t = threading.Thread(target=consume)
    t.start()
    run(coll, "output_record", 5)
    deadline = time.monotonic() + 5
    while len(got) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    reader.close()
    t.join(5)
    assert not t.is_alive()
    assert got == [0, 1, 2, 3, 4]


def test_two_readers_at_once_are_refused(coll: ebpf.Collection) -> None:
    with ringbuf.Reader(coll.maps["events"]) as reader:
        def blocked() -> None:
            with pytest.raises(ClosedError):
                reader.read()

        t = threading.Thread(target=blocked)
        t.start()
        time.sleep(0.2)
        with pytest.raises(ringbuf.BusyError):
            reader.read(timeout=0)
        with pytest.raises(ringbuf.BusyError):
            reader.batch(timeout=0)
        reader.close()
        t.join(5)
        assert not t.is_alive()


def test_an_open_batch_blocks_other_reads(coll: ebpf.Collection) -> None:
    set_size(coll, 16)
    with ringbuf.Reader(coll.maps["events"]) as reader:
        run(coll, "output_record", 4)
        batch = reader.batch(timeout=0)
        assert len(batch) == 4
        before = reader.available_bytes()
        assert before == 4 * 24  # lent, not given back yet
        with pytest.raises(ringbuf.BusyError, match="batch"):
            reader.read(timeout=0)
        batch.release()
        assert reader.available_bytes() == 0
        with pytest.raises(ClosedError):
            list(batch)
        run(coll, "output_record", 1)
        assert reader.read(timeout=0).sample[:8] == struct.pack("<Q", 4)


def test_records_read_ahead_join_a_batch(coll: ebpf.Collection) -> None:
    set_size(coll, 16)
    with ringbuf.Reader(coll.maps["events"]) as reader:
        run(coll, "output_record", 5)
        assert reader.read(timeout=0).sample == expected_sample(0, 16)
        run(coll, "output_record", 2)
        with reader.batch(timeout=0) as batch:
            assert batch.samples() == [expected_sample(s, 16) for s in range(1, 7)]


def test_reading_a_tracepoints_records(coll: ebpf.Collection, tracefs: str) -> None:
    coll.variables["target_tgid"].set(os.getpid())
    with ringbuf.Reader(coll.maps["events"]) as reader, tracepoint(
            tracefs, "syscalls", "sys_enter_getpid", coll.programs["getpid_event"]):
        for _ in range(20):
            os.getpid()
        recs = [reader.read(timeout=5) for _ in range(20)]
    with open(f"/proc/self/task/{threading.get_native_id()}/comm", "rb") as f:
        comm = f.read().strip()
    for i, rec in enumerate(recs):
        tgid, tid, seq = struct.unpack_from("<IIQ", rec.sample)
        assert (tgid, tid, seq) == (os.getpid(), threading.get_native_id(), i)
        assert rec.sample[16:].split(b"\0")[0] == comm


# --- asyncio ------------------------------------------------------------------------------------


def test_asyncio_delivers_records_while_the_loop_runs(coll: ebpf.Collection) -> None:
    set_size(coll, 16)

    async def main() -> tuple[list[int], int]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.001)

        async def produce() -> None:
            # Each batch waits for the ticker to have run 3 more times: while the reader
            # awaits records, the event loop keeps running other tasks (counted, not timed).
            for _ in range(5):
                start = ticks
                while ticks < start + 3:
                    await asyncio.sleep(0.001)
                run(coll, "output_record", 4)

        got: list[int] = []
        with ringbuf.Reader(coll.maps["events"]) as reader:
            tick_task = asyncio.create_task(ticker())
            prod_task = asyncio.create_task(produce())
            async for rec in reader:
                got.append(struct.unpack_from("<Q", rec.sample)[0])
                if len(got) == 20:
                    break
            await prod_task
            # A cancelled read loses nothing and leaves the reader usable.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(reader.read_async(), 0.05)
            with pytest.raises(TimeoutError):
                await reader.read_async(timeout=0.05)
            run(coll, "output_record", 1)
            got.append(struct.unpack_from("<Q", (await reader.read_async(timeout=5)).sample)[0])
            stop.set()
            await tick_task
        return got, ticks

    got, ticks = asyncio.run(main())
    assert got == list(range(21))
    assert ticks >= 15  # the loop kept running other tasks while the reader waited


def test_asyncio_iteration_ends_on_close(coll: ebpf.Collection) -> None:
    async def main() -> list[bytes]:
        reader = ringbuf.Reader(coll.maps["events"])
        asyncio.get_running_loop().call_later(0.1, reader.close)
        return [rec.sample async for rec in reader]

    assert asyncio.run(main()) == []


# --- numpy ----------------------------------------------------------------------------------


@needs_numpy
def test_numpy_views_equal_record_by_record_reads(coll: ebpf.Collection) -> None:
    types = spec_types("ringbuf")
    dtype = ringbuf.numpy_dtype("event", types)
    assert dtype.itemsize == ctypes.sizeof(Event)
    assert dtype.fields is not None and dtype.fields["ratio"][1] == Event.ratio.offset
    with ringbuf.Reader(coll.maps["events"], decode="event", types=types) as reader:
        run(coll, "reserve_event", 50)
        expected = [r.value for r in drain(reader)]
        coll.variables["seq"].set(0)
        run(coll, "reserve_event", 50)
        with reader.batch(timeout=0) as batch:
            arr = batch.array("event", types=types)
            assert not arr.flags.owndata and not arr.flags.writeable  # a view of the ring
            rows = [{"seq": int(a["seq"]), "pid": int(a["pid"]), "delta": int(a["delta"]),
                     "flags": int(a["flags"]), "comm": a["comm"].decode(),
                     "pairs": [{"a": int(p["a"]), "b": int(p["b"])} for p in a["pairs"]],
                     "ratio": float(a["ratio"])} for a in arr]
            assert rows == expected
            same = batch.array(Event)
            assert (same["seq"] == arr["seq"]).all()
        # With discarded records in between the records are gathered into a copy.
        coll.variables["discard_every"].set(4)
        run(coll, "reserve_event", 50)
        with reader.batch(timeout=0) as batch:
            arr = batch.array(dtype)
            assert arr.flags.owndata or arr.base is not None
            assert list(arr["seq"]) == [s for s in range(50, 100) if s % 4]


@needs_numpy
def test_numpy_views_across_the_end_of_the_ring(coll: ebpf.Collection) -> None:
    set_size(coll, 100)
    coll.variables["to_other"].set(1)
    dt = numpy.dtype([("seq", "<u8"), ("rest", "S92")])
    seq = 0
    with ringbuf.Reader(coll.maps["other_events"]) as reader:
        for _ in range(6):
            run(coll, "output_record", 30)
            with reader.batch(timeout=0) as batch:
                arr = batch.array(dt)
                assert list(arr["seq"]) == list(range(seq, seq + 30))
                assert [r.tobytes() for r in arr] == [
                    expected_sample(s, 100) for s in range(seq, seq + 30)]
                seq += 30


@needs_numpy
def test_numpy_dtype_refuses_bitfields() -> None:
    from ebpf.btf import Int, IntEncoding, Member, Struct

    u32 = Int("u32", 4, IntEncoding.NONE)
    s = Struct("flags", 4, [Member("a", u32, 0, 3), Member("b", u32, 3, 29)])
    with pytest.raises(EbpfError, match="bitfield"):
        ringbuf.numpy_dtype(s)


def test_readers_work_without_numpy(tmp_path: os.PathLike[str]) -> None:
    script = f"""
import sys
class NoNumpy:
    def find_spec(self, name, path=None, target=None):
        if name == "numpy" or name.startswith("numpy."):
            raise ImportError("numpy is hidden")
sys.meta_path.insert(0, NoNumpy())
sys.path.insert(0, {str(os.getcwd())!r})
from tests.kernel.events_support import load, run
from ebpf import ringbuf
from ebpf.errors import NotSupportedError
with load("ringbuf") as coll, ringbuf.Reader(coll.maps["events"]) as reader:
    run(coll, "output_record", 3)
    assert len(reader.read(timeout=0).sample) == 16
    with reader.batch(timeout=0) as batch:
        assert [bytes(v)[:1] for v in batch] == [b"\\x01", b"\\x02"]
        try:
            batch.array("u8")
        except NotSupportedError as e:
            assert "numpy" in str(e)
        else:
            raise AssertionError("array() worked without numpy")
assert "numpy" not in sys.modules
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=os.getcwd(), timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# --- the user ring buffer -------------------------------------------------------------------


def test_writer_feeds_a_draining_program(coll: ebpf.Collection) -> None:
    drain_prog = coll.programs["drain_user"]
    with ringbuf.Writer(coll.maps["user_events"]) as writer:
        assert writer.available_bytes() == 4096
        for v in (1, 2, 3):
            writer.write(struct.pack("<Q", v))
        with writer.reserve(8) as r:
            r.data[:] = struct.pack("<Q", 100)
        r2 = writer.reserve(12)
        r2.data[:8] = struct.pack("<Q", 5000)
        r2.discard()
        writer.write(ctypes.c_uint64(40))
        drain_prog.test_run(ctx=bytes(8))
        assert coll.variables["drained_count"].get() == 5
        assert coll.variables["drained_sum"].get() == 146
        assert coll.variables["drain_result"].get() == 5
        assert writer.available_bytes() == 4096
        with pytest.raises(EbpfError, match="twice"):
            r2.submit()


def test_writer_waits_for_space(coll: ebpf.Collection) -> None:
    drain_prog = coll.programs["drain_user"]
    with ringbuf.Writer(coll.maps["user_events"]) as writer:
        writer.write(bytes(2000))   # 2008 bytes
        writer.write(bytes(2000))   # 4016 of 4096
        with pytest.raises(TimeoutError):
            writer.write(bytes(100))
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            writer.write(bytes(100), timeout=0.2)
        assert time.monotonic() - start >= 0.19
        # A program draining meanwhile makes room; the waiting writer goes on.
        timer = threading.Timer(0.1, lambda: drain_prog.test_run(ctx=bytes(8)))
        timer.start()
        writer.write(struct.pack("<Q", 7).ljust(100, b"\0"), timeout=5)
        timer.join()
        drain_prog.test_run(ctx=bytes(8))
        assert coll.variables["drained_sum"].get() == 7
        with pytest.raises(EbpfError, match="never fit"):
            writer.reserve(5000)
        with pytest.raises(EbpfError, match="size > 0"):
            writer.reserve(0)


def test_writer_close_discards_open_records(coll: ebpf.Collection) -> None:
    drain_prog = coll.programs["drain_user"]
    m = coll.maps["user_events"]
    writer = ringbuf.Writer(m)
    writer.write(struct.pack("<Q", 1))
    r = writer.reserve(8)
    r.data[:] = struct.pack("<Q", 1000)
    writer.close()
    assert r.done
    with pytest.raises(ClosedError):
        writer.reserve(8)
    with ringbuf.Writer(m) as again:
        again.write(struct.pack("<Q", 10))
    drain_prog.test_run(ctx=bytes(8))
    assert coll.variables["drained_sum"].get() == 11  # the open record was discarded
    with pytest.raises(EbpfError, match="USER_RINGBUF"):
        ringbuf.Writer(coll.maps["events"])


def test_iterating_a_ring_buffer_map_points_to_the_reader(coll: ebpf.Collection) -> None:
    for name in ("events", "user_events"):
        with pytest.raises(NotSupportedError, match="ringbuf"):
            list(coll.maps[name].items())
