"""Attaching and detaching tracing programs, ebpf.link against libbpf in C.

For each family, in one process that loaded the programs (testdata/link_trace-el.elf) and
imported what it uses, the median time of one attach plus one detach (closing the Link), over
``--iterations`` pairs after 20 unmeasured ones:

  tracepoint      ``link.tracepoint("syscalls", "sys_enter_getpid", prog)``
                                           vs ``bpf_program__attach_tracepoint``
  raw_tracepoint  ``link.raw_tracepoint("sys_enter", prog)``
                                           vs ``bpf_program__attach_raw_tracepoint``
  tp_btf          ``link.tracing(prog)``   vs ``bpf_program__attach_trace``
  perf_event      ``link.perf_event(prog, type=SOFTWARE, config=CPU_CLOCK, cpu=0, ...)``
                  vs ``perf_event_open`` + ``bpf_program__attach_perf_event``

Each side reads the tracepoint's id from tracefs on every tracepoint attach, and uses a
bpf_link where the kernel has one (BPF_LINK_CREATE with BPF_PERF_EVENT). The C floor is
benchmarks/attach_bench.c, built with ``cc -O2 -lbpf`` into benchmarks/build/. The two sides
alternate ``--runs`` times; the table shows the median of their medians, in microseconds, and
the ratio ebpf / libbpf (1.0: as fast as libbpf; higher: slower).

    python3 benchmarks/attach_bench.py [--runs N] [--iterations N] [--json]

Needs root, tracefs (mounted at /sys/kernel/tracing if it is not), libbpf-dev and a C
compiler. A report, not a test.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "benchmarks" / "build"
OBJ = ROOT / "testdata" / "link_trace-el.elf"
TRACEFS = "/sys/kernel/tracing"
FAMILIES = ["tracepoint", "raw_tracepoint", "tp_btf", "perf_event"]

CHILD = r"""
import json, statistics, sys, time
from ebpf import link
from ebpf.collection import Collection
from ebpf.elf_reader import load_collection_spec

obj, n = sys.argv[1], int(sys.argv[2])
coll = Collection(load_collection_spec(obj))
p = coll.programs
cases = {
    "tracepoint": lambda: link.tracepoint("syscalls", "sys_enter_getpid", p["tp_getpid"]),
    "raw_tracepoint": lambda: link.raw_tracepoint("sys_enter", p["raw_getpid"]),
    "tp_btf": lambda: link.tracing(p["btf_getpid"]),
    "perf_event": lambda: link.perf_event(p["sample"], type=link.PerfType.SOFTWARE,
                                          config=link.SoftwareEvent.CPU_CLOCK,
                                          sample_period=1_000_000_000, pid=-1, cpu=0),
}
out = {}
clock = time.perf_counter
for name, attach in cases.items():
    times = []
    for i in range(-20, n):
        t0 = clock()
        attach().close()
        if i >= 0:
            times.append(clock() - t0)
    out[name] = statistics.median(times) * 1e6
coll.close()
print(json.dumps(out))
"""


def build_floor() -> Path:
    BUILD.mkdir(exist_ok=True)
    exe = BUILD / "attach_bench"
    src = ROOT / "benchmarks" / "attach_bench.c"
    if not exe.exists() or exe.stat().st_mtime < src.stat().st_mtime:
        subprocess.run(["cc", "-O2", "-Wall", "-o", str(exe), str(src), "-lbpf"], check=True)
    return exe


def ensure_tracefs() -> None:
    if os.path.isdir(os.path.join(TRACEFS, "events")):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(b"tracefs", TRACEFS.encode(), b"tracefs", 0, None) != 0:
        err = ctypes.get_errno()
        raise SystemExit(f"cannot mount tracefs at {TRACEFS}: {os.strerror(err)}")


def run(cmd: list[str]) -> dict[str, float]:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-2000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    floor = build_floor()
    ensure_tracefs()
    py: list[dict[str, float]] = []
    c: list[dict[str, float]] = []
    for _ in range(args.runs):
        py.append(run([sys.executable, "-c", CHILD, str(OBJ), str(args.iterations)]))
        c.append(run([str(floor), str(OBJ), str(args.iterations)]))
    rows = []
    for family in FAMILIES:
        ours = statistics.median(r[family] for r in py)
        theirs = statistics.median(r[family] for r in c)
        rows.append({"family": family, "ebpf_us": ours, "libbpf_us": theirs,
                     "ratio": ours / theirs})
    if args.json:
        print(json.dumps({"runs": args.runs, "iterations": args.iterations,
                          "python": sys.version.split()[0], "results": rows}, indent=2))
        return 0
    print(f"attach + detach, median of {args.runs} runs x {args.iterations} pairs, "
          f"microseconds (Python {sys.version.split()[0]})")
    print(f"{'family':<15} {'ebpf':>9} {'libbpf':>9} {'ratio':>6}")
    for r in rows:
        print(f"{r['family']:<15} {r['ebpf_us']:9.1f} {r['libbpf_us']:9.1f} {r['ratio']:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
