"""ebpf.perf against the kernel: samples from BPF programs arrive per CPU, complete and in
order; lost samples are counted; overwritable rings keep the newest samples."""

from __future__ import annotations

import asyncio
import os
import select
import struct
import threading
import time
from collections.abc import Iterator

import pytest

import ebpf
from ebpf import perf
from ebpf.errors import ClosedError, EbpfError, NotSupportedError
from tests.kernel.events_support import load, on_cpu, run, tracepoint

pytestmark = pytest.mark.kernel

try:
    import numpy
except ImportError:
    numpy = None  # type: ignore[assignment]
needs_numpy = pytest.mark.skipif(numpy is None, reason="numpy is not installed")


def padded(size: int) -> int:
    """The sample length perf reports for ``size`` output bytes (padded with the u32 size to
    a multiple of 8)."""
    return (size + 4 + 7) // 8 * 8 - 4


def expected_sample(seq: int, size: int) -> bytes:
    body = struct.pack("<Q", seq) + bytes((seq + i) & 0xFF for i in range(8, 64)) + bytes(1024)
    return body[:size].ljust(padded(size), b"\0")


@pytest.fixture
def coll() -> Iterator[ebpf.Collection]:
    with load("perf") as c, on_cpu(0):
        yield c


def drain(reader: perf.Reader) -> list[perf.Record]:
    out = []
    while True:
        try:
            out.append(reader.read(timeout=0))
        except TimeoutError:
            return out


@pytest.mark.parametrize("size", [8, 13, 16, 61, 256, 1001])
def test_samples_arrive_complete_and_in_order(coll: ebpf.Collection, size: int) -> None:
    coll.variables["record_size"].set(size)
    with perf.Reader(coll.maps["samples"], 64 * 1024) as reader:
        assert reader.cpus == tuple(ebpf.online_cpus())
        run(coll, "output_sample", 10)
        recs = drain(reader)
    assert [r.sample for r in recs] == [expected_sample(i, size) for i in range(10)]
    assert {r.cpu for r in recs} == {0}
    assert all(r.lost_samples == 0 for r in recs)
    assert recs[-1].remaining == 0


def test_samples_wrapping_around_the_ring_are_reassembled(coll: ebpf.Collection) -> None:
    coll.variables["record_size"].set(100)  # 112-byte records in a 4 KiB ring
    seq = 0
    with perf.Reader(coll.maps["samples"], 4096) as reader:
        assert reader.buffer_size == 4096
        for _ in range(8):
            run(coll, "output_sample", 30)
            for rec in drain(reader):
                assert rec.sample == expected_sample(seq, 100)
                seq += 1
        for _ in range(8):
            run(coll, "output_sample", 30)
            with reader.batch(timeout=0) as batch:
                assert batch.samples() == [expected_sample(s, 100) for s in range(seq, seq + 30)]
                seq += 30
        buf = bytearray(128)
        for _ in range(4):
            run(coll, "output_sample", 30)
            for _ in range(30):
                assert reader.read_into(buf, timeout=0) == padded(100)
                assert bytes(buf[:padded(100)]) == expected_sample(seq, 100)
                seq += 1
    assert seq == 600
    assert coll.variables["failures"].get() == 0


def test_lost_samples_are_counted(coll: ebpf.Collection) -> None:
    coll.variables["record_size"].set(100)
    with perf.Reader(coll.maps["samples"], 4096) as reader:
        run(coll, "output_sample", 100)   # 36 fit in 4 KiB
        got = drain(reader)
        failures = coll.variables["failures"].get()
        assert failures > 0
        assert len(got) == 100 - failures
        run(coll, "output_sample", 1)     # the kernel reports the loss before this sample
        rec = reader.read(timeout=0)
        assert (rec.lost_samples, rec.sample) == (failures, b"")
        assert reader.read(timeout=0).sample[:8] == struct.pack("<Q", 100)
        assert reader.lost_samples == failures
        # Batches report losses too.
        run(coll, "output_sample", 100)
        with reader.batch(timeout=0):
            pass
        lost_now = coll.variables["failures"].get() - failures
        run(coll, "output_sample", 1)
        with reader.batch(timeout=0) as batch:
            assert batch.lost_samples == lost_now and len(batch) == 1
        assert reader.lost_samples == failures + lost_now


def test_overwritable_rings_are_read_after_pause(coll: ebpf.Collection) -> None:
    coll.variables["record_size"].set(16)  # 32-byte records: 128 in 4 KiB
    with perf.Reader(coll.maps["samples"], 4096, overwritable=True) as reader:
        run(coll, "output_sample", 50)
        reader.pause()
        seqs = [struct.unpack_from("<Q", r.sample)[0] for r in drain(reader)]
        reader.resume()
        assert seqs == list(range(50))
        run(coll, "output_sample", 1000)  # overwrites the ring many times over
        reader.pause()
        run(coll, "output_sample", 5)     # paused: dropped
        seqs = [struct.unpack_from("<Q", r.sample)[0] for r in drain(reader)]
        reader.resume()
        assert 120 <= len(seqs) <= 128
        assert seqs == list(range(1050 - len(seqs), 1050))  # the newest, oldest first
        # Only the samples output while paused failed: the ring itself was never "full".
        assert coll.variables["failures"].get() == 5


def test_wakeup_settings(coll: ebpf.Collection) -> None:
    coll.variables["record_size"].set(16)
    with perf.Reader(coll.maps["samples"], 4096, wakeup_events=10) as reader:
        run(coll, "output_sample", 5)
        assert select.select([reader.fd], [], [], 0.05)[0] == []
        run(coll, "output_sample", 5)
        assert select.select([reader.fd], [], [], 1)[0] == [reader.fd]
        assert len(drain(reader)) == 10
    with perf.Reader(coll.maps["samples"], 4096, watermark=32 * 20) as reader:
        run(coll, "output_sample", 15)
        assert select.select([reader.fd], [], [], 0.05)[0] == []
        run(coll, "output_sample", 10)
        assert select.select([reader.fd], [], [], 1)[0] == [reader.fd]
        assert len(drain(reader)) == 25
    with pytest.raises(EbpfError, match="not both"):
        perf.Reader(coll.maps["samples"], 4096, watermark=8, wakeup_events=2)
    with pytest.raises(EbpfError, match="less than"):
        perf.Reader(coll.maps["samples"], 4096, watermark=4096)


def test_ownership_and_the_map(coll: ebpf.Collection) -> None:
    m = coll.maps["samples"]
    reader = perf.Reader(m, 4096)
    with pytest.raises(NotSupportedError):
        reader.clone()
    with pytest.raises(NotSupportedError, match=r"perf\.Reader"):
        m[0]  # the event is there, but user space cannot read it back
    reader.close()
    reader.close()
    with pytest.raises(ClosedError):
        reader.read(timeout=0)
    with pytest.raises(EbpfError, match="PERF_EVENT_ARRAY"):
        perf.Reader(coll.maps[".bss"], 4096)
    with pytest.raises(EbpfError, match="per_cpu_buffer_size"):
        perf.Reader(m, -1)
    # Closing removed the events from the map: outputs now fail instead of vanishing.
    run(coll, "output_sample", 3)
    assert coll.variables["failures"].get() == 3


def test_close_wakes_a_blocked_reader(coll: ebpf.Collection) -> None:
    reader = perf.Reader(coll.maps["samples"], 4096)
    errors: list[BaseException] = []

    def blocked() -> None:
        try:
            reader.read()
        except ClosedError as e:
            errors.append(e)

    t = threading.Thread(target=blocked)
    t.start()
    time.sleep(0.2)
    assert t.is_alive()
    reader.close()
    t.join(5)
    assert not t.is_alive() and len(errors) == 1


def test_iteration_and_asyncio(coll: ebpf.Collection) -> None:
    coll.variables["record_size"].set(16)

    async def main() -> tuple[list[int], int]:
        ticks = 0
        got: list[int] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.001)

        async def produce() -> None:
            # Each batch waits for the ticker to have run 3 more times: while the reader
            # awaits records, the event loop keeps running other tasks (counted, not timed).
            for _ in range(4):
                start = ticks
                while ticks < start + 3:
                    await asyncio.sleep(0.001)
                run(coll, "output_sample", 5)

        with perf.Reader(coll.maps["samples"], 4096) as reader:
            tasks = [asyncio.create_task(ticker()), asyncio.create_task(produce())]
            async for rec in reader:
                got.append(struct.unpack_from("<Q", rec.sample)[0])
                if len(got) == 20:
                    break
            stop.set()
            await asyncio.gather(*tasks)
        return got, ticks

    got, ticks = asyncio.run(main())
    assert got == list(range(20)) and ticks >= 12
    with perf.Reader(coll.maps["samples"], 4096) as reader:
        run(coll, "output_sample", 3)
        it = iter(reader)
        assert [struct.unpack_from("<Q", next(it).sample)[0] for _ in range(3)] == [20, 21, 22]


def test_tracepoint_samples(coll: ebpf.Collection, tracefs: str) -> None:
    coll.variables["target_tgid"].set(os.getpid())
    with perf.Reader(coll.maps["samples"], 4096) as reader, tracepoint(
            tracefs, "syscalls", "sys_enter_getpid", coll.programs["getpid_sample"]):
        for _ in range(10):
            os.getpid()
        recs = [reader.read(timeout=5) for _ in range(10)]
    assert [struct.unpack_from("<IIQ", r.sample) for r in recs] == [
        (os.getpid(), threading.get_native_id(), i) for i in range(10)]


@needs_numpy
def test_numpy_views_equal_record_by_record_reads(coll: ebpf.Collection) -> None:
    coll.variables["record_size"].set(100)
    dt = numpy.dtype([("seq", "<u8"), ("rest", "S92")])
    seq = 0
    with perf.Reader(coll.maps["samples"], 4096) as reader:
        for _ in range(5):  # 150 records of 112 bytes through 4 KiB: some wrap
            run(coll, "output_sample", 30)
            with reader.batch(timeout=0) as batch:
                arr = batch.array(dt)
                assert [a.tobytes() for a in arr] == [expected_sample(s, 100)
                                                       for s in range(seq, seq + 30)]
                seq += 30
        run(coll, "output_sample", 20)
        with reader.batch(timeout=0) as batch:
            if len(batch.segments) == 1:
                assert not batch.array(dt).flags.owndata  # a view of the ring
