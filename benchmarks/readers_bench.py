"""Event readers: records consumed per second from a pre-filled ring buffer and perf buffer,
against libbpf in C (``ring_buffer__poll`` / ``perf_buffer__poll``) in the same run.

    python3 benchmarks/readers_bench.py [--runs N] [--quick]

For each buffer kind and record size (16 and 256 bytes of sample) the same stream is made the
same way: an XDP program (testdata/ringbuf.c ``output_record``, testdata/perf.c
``output_sample``) run N times with ``BPF_PROG_TEST_RUN`` on CPU 0, one record per run, each
starting with its sequence number. Then the clock runs while the stream is consumed:

  libbpf   benchmarks/readers_floor.c (``cc -O2 -lbpf`` into benchmarks/build/): a callback per
           record counts it and adds its sequence number;
  record   ``for record in reader``: a Record (sample bytes, ring/CPU, ...) per record;
  batch    ``with reader.batch() as b``: zero-copy memoryviews of the buffer, no object per
           record until asked for; the count is ``len(b)``;
  numpy    ``b.array(dtype)``: a structured array viewing the buffer; sums the ``seq`` column.

Figures are the best of ``--runs`` runs (the machine is shared: the best run is the least
disturbed one), in millions of records per second, with the ratio to libbpf. Last, the CPU
time an idle reader uses while blocked for 3 seconds (sync and asyncio).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ebpf  # noqa: E402
from ebpf import perf, ringbuf  # noqa: E402

BUILD = ROOT / "benchmarks" / "build"
FLOOR = BUILD / "readers_floor"
PACKET = b"\0" * 64

try:
    import numpy
except ImportError:
    numpy = None  # type: ignore[assignment]


def build_floor() -> Path:
    src = ROOT / "benchmarks" / "readers_floor.c"
    if not FLOOR.exists() or FLOOR.stat().st_mtime < src.stat().st_mtime:
        BUILD.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cc", "-O2", "-o", str(FLOOR), str(src), "-lbpf"], check=True)
    return FLOOR


def pow2_at_least(n: int) -> int:
    p = 4096
    while p < n:
        p *= 2
    return p


def record_bytes(kind: str, size: int) -> int:
    if kind == "ringbuf":
        return (size + 8 + 7) // 8 * 8
    return (size + 12 + 7) // 8 * 8


def floor_run(kind: str, coll: ebpf.Collection, prog: str, mapname: str, n: int,
              pages: int) -> float:
    m, p = coll.maps[mapname], coll.programs[prog]
    args = [str(FLOOR), kind, str(m.fd), str(p.fd), str(n)]
    if kind == "perf":
        args.append(str(pages))
    out = subprocess.run(args, capture_output=True, text=True, pass_fds=(m.fd, p.fd),
                         check=True)
    secs, count, total = out.stdout.split()
    assert int(count) == n and int(total) == n * (n - 1) // 2, out.stdout
    return float(secs)


def consume(mode: str, reader: ringbuf.Reader | perf.Reader, n: int, size: int) -> float:
    start = time.perf_counter()
    got = 0
    if mode == "record":
        for _ in reader:
            got += 1
            if got == n:
                break
    elif mode == "batch":
        while got < n:
            with reader.batch(timeout=0) as b:
                got += len(b)
    else:
        assert numpy is not None
        dt = numpy.dtype([("seq", "<u8"), ("rest", f"V{size - 8}")])
        total = 0
        while got < n:
            with reader.batch(timeout=0) as b:
                a = b.array(dt)
                got += len(a)
                total += int(a["seq"].sum())
        assert total == n * (n - 1) // 2
    elapsed = time.perf_counter() - start
    assert got == n, (mode, got, n)
    return elapsed


def bench_case(kind: str, size: int, n: int, runs: int, modes: list[str]) -> dict[str, float]:
    best = {m: float("inf") for m in ["libbpf", *modes]}
    ring_bytes = pow2_at_least(record_bytes(kind, size) * n + 4096)
    name = "ringbuf" if kind == "ringbuf" else "perf"
    mapname = "events" if kind == "ringbuf" else "samples"
    prog = "output_record" if kind == "ringbuf" else "output_sample"
    spec = ebpf.load_collection_spec(ROOT / "testdata" / f"{name}-el.elf")
    if kind == "ringbuf":
        spec.maps["events"].max_entries = ring_bytes
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    try:
        for _ in range(runs):
            with ebpf.Collection(spec) as coll:
                coll.variables["record_size"].set(size)
                best["libbpf"] = min(best["libbpf"], floor_run(
                    kind, coll, prog, mapname, n, ring_bytes // 4096))
            for mode in modes:
                with ebpf.Collection(spec) as coll:
                    coll.variables["record_size"].set(size)
                    m = coll.maps[mapname]
                    reader: ringbuf.Reader | perf.Reader = (
                        ringbuf.Reader(m) if kind == "ringbuf" else perf.Reader(m, ring_bytes))
                    with reader:
                        coll.programs[prog].test_run(PACKET, repeat=n)
                        best[mode] = min(best[mode], consume(mode, reader, n, size))
    finally:
        os.sched_setaffinity(0, before)
    return {m: n / t for m, t in best.items()}


def idle_cost(seconds: float) -> tuple[float, float]:
    """CPU seconds per wall second of a reader blocked with nothing arriving (sync, async)."""
    spec = ebpf.load_collection_spec(ROOT / "testdata" / "ringbuf-el.elf")
    with ebpf.Collection(spec) as coll, ringbuf.Reader(coll.maps["events"]) as reader:
        cpu, wall = time.process_time(), time.monotonic()
        with contextlib.suppress(TimeoutError):
            reader.read(timeout=seconds)
        sync = (time.process_time() - cpu) / (time.monotonic() - wall)

        async def wait() -> None:
            with contextlib.suppress(TimeoutError):
                await reader.read_async(timeout=seconds)

        cpu, wall = time.process_time(), time.monotonic()
        asyncio.run(wait())
        asyn = (time.process_time() - cpu) / (time.monotonic() - wall)
    return sync, asyn


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="fewer records, one run")
    args = ap.parse_args(argv)
    runs = 1 if args.quick else args.runs
    build_floor()
    modes = ["record", "batch"] + (["numpy"] if numpy is not None else [])
    counts = {16: 400_000, 256: 150_000}
    if args.quick:
        counts = {16: 100_000, 256: 40_000}
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; best of {runs} run(s); M records/s (x libbpf)")
    header = f"{'buffer':8} {'size':>5} {'records':>8} " + " ".join(
        f"{m:>16}" for m in ["libbpf", *modes])
    print(header)
    results: dict[tuple[str, int], dict[str, float]] = {}
    for kind in ("ringbuf", "perf"):
        for size, n in counts.items():
            r = bench_case(kind, size, n, runs, modes)
            results[kind, size] = r
            cells = [f"{r['libbpf'] / 1e6:16.2f}"] + [
                f"{r[m] / 1e6:8.2f} ({r[m] / r['libbpf']:.3f})".rjust(16) for m in modes]
            print(f"{kind:8} {size:5} {n:8} " + " ".join(cells))
    rb, pf = results["ringbuf", 16]["record"], results["perf", 16]["record"]
    print(f"perf / ring buffer, record by record at 16 B: {pf / rb:.2f}")
    sync, asyn = idle_cost(3.0)
    print(f"idle reader blocked 3 s: {sync * 100:.2f}% CPU (read), {asyn * 100:.2f}% CPU "
          "(read_async)")


if __name__ == "__main__":
    main()
