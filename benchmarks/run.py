#!/usr/bin/env python3
"""Compare the library's hot paths with a floor measured in C in the same run.

    python3 benchmarks/run.py               # table
    python3 benchmarks/run.py --json        # one JSON document instead
    python3 benchmarks/run.py --quick       # fewer operations, for a smoke test

``benchmarks/floor.c`` is compiled with ``cc -O2`` into ``benchmarks/build/`` (ignored by git)
and does each operation with raw ``bpf(2)`` calls; this script does the same operations through
the ``ebpf`` API. C and Python runs alternate, operation by operation, for several repetitions,
and each side reports its median. The ratio is C time / Python time: Python's throughput
relative to C, so higher is better and 1.0 means "as fast as C". Each ratio is compared with a
target; "below" means the library missed it on this run.

The operations, on a BPF_MAP_TYPE_HASH of 10,000 entries (u32 key, u64 value):

  lookup      ``m[k]``, keys cycling over the whole map
  update      ``m[k] = v`` (BPF_ANY)
  delete      ``del m[k]`` for every key; the map is refilled after each pass, untimed
  iterate     ``list(m.items())``; C walks with GET_NEXT_KEY + LOOKUP_ELEM per entry
  batch       ``m.batch_lookup()``; C loops BPF_MAP_LOOKUP_BATCH over the whole map
  batch_into  ``m.batch_lookup_into(buf)`` with a reused buffer, the keys and values then
              summed from the zero-copy views (no Python object per entry); the same C row
  test_run    ``prog.test_run(packet)`` of an XDP program returning XDP_PASS, 64-byte packet;
              C calls BPF_PROG_TEST_RUN with repeat=1 and a 64-byte output buffer
  run_many    ``prog.test_run_many(packets)``, per packet (one attr and buffer reused, return
              values into an array); the same C row as test_run

Two more rows time the library's pre-bound ``bpf()`` call alone (the same C row as lookup and
test_run): nothing written, nothing read, no Python result. They show the ceiling a Python
wrapper can reach on the machine, since the API's own work comes on top of that call.

Needs root (or CAP_BPF) and a C compiler with the kernel UAPI headers (linux-libc-dev).
Timings are never asserted anywhere: this is a report, not a test. ``--strict`` makes the
exit status 1 when a ratio is below its target, for those who want to gate on it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build"
FLOOR_SRC = HERE / "floor.c"
FLOOR_BIN = BUILD / "floor"
ENTRIES = 10_000


@dataclasses.dataclass(frozen=True)
class Operation:
    name: str
    label: str
    n: int                  # operations per measurement (full passes for iterate/batch)
    target: float | None    # minimum ratio C/Python


OPERATIONS = [
    Operation("lookup", "lookup  m[k]", 100_000, 0.45),
    Operation("update", "update  m[k] = v", 100_000, 0.45),
    Operation("delete", "delete  del m[k]", 20_000, None),
    Operation("iterate", "iterate list(m.items()) 10k", 20, 1.5),
    Operation("batch", "batch   m.batch_lookup() 10k", 20, 0.5),
    Operation("batch_into", "batch   m.batch_lookup_into() 10k", 20, 0.6),
    Operation("test_run", "test_run prog.test_run(64 B)", 20_000, 0.5),
    Operation("run_many", "test_run prog.test_run_many(64 B)", 20_000, 0.5),
    # Not the API: the pre-bound bpf() call alone, as the library makes it, with no key
    # written and no result built. Its ratio is the ceiling any Python wrapper can reach here.
    Operation("lookup_call", "  (bare call) lookup", 100_000, None),
    Operation("test_run_call", "  (bare call) test_run", 20_000, None),
]


@dataclasses.dataclass
class Result:
    op: Operation
    n: int = 0              # operations per measurement in this run
    c_ns: list[float] = dataclasses.field(default_factory=list)
    py_ns: list[float] = dataclasses.field(default_factory=list)

    @property
    def c(self) -> float:
        return statistics.median(self.c_ns)

    @property
    def py(self) -> float:
        return statistics.median(self.py_ns)

    @property
    def ratio(self) -> float:
        return self.c / self.py

    @property
    def status(self) -> str:
        if self.op.target is None:
            return "-"
        return "PASS" if self.ratio >= self.op.target else "below"

    def as_dict(self) -> dict[str, object]:
        return {
            "operation": self.op.name,
            "n": self.n,
            "c_ns_per_op": round(self.c, 1),
            "python_ns_per_op": round(self.py, 1),
            "ratio": round(self.ratio, 3),
            "target": self.op.target,
            "status": self.status,
            "c_runs": [round(x, 1) for x in self.c_ns],
            "python_runs": [round(x, 1) for x in self.py_ns],
        }


# --- the C side --------------------------------------------------------------------------------

def build_floor() -> Path:
    """Compile floor.c unless the binary is newer than the source."""
    if FLOOR_BIN.exists() and FLOOR_BIN.stat().st_mtime >= FLOOR_SRC.stat().st_mtime:
        return FLOOR_BIN
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("benchmarks: no C compiler (cc) found; install gcc (bash scripts/install-deps.sh)")
    BUILD.mkdir(exist_ok=True)
    tmp = FLOOR_BIN.with_suffix(".tmp")
    proc = subprocess.run([cc, "-O2", "-Wall", "-o", str(tmp), str(FLOOR_SRC)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        hint = ""
        if "linux/bpf.h" in proc.stderr:
            hint = "\n(the kernel UAPI headers are missing: apt-get install linux-libc-dev)"
        sys.exit(f"benchmarks: compiling floor.c failed:\n{proc.stderr}{hint}")
    tmp.replace(FLOOR_BIN)
    return FLOOR_BIN


def run_c(binary: Path, op: Operation, n: int) -> float:
    # The bare-call rows and the zero-copy and many-runs rows compare with the same C loop.
    name = {"batch_into": "batch", "run_many": "test_run"}.get(op.name,
                                                             op.name.removesuffix("_call"))
    proc = subprocess.run([str(binary), name, str(n), str(ENTRIES)], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"benchmarks: floor {op.name} failed: {proc.stderr.strip()}")
    return float(json.loads(proc.stdout)["ns_per_op"])


# --- the Python side ---------------------------------------------------------------------------

class PythonSide:
    """The same operations through the ``ebpf`` API, on one map and one program."""

    def __init__(self) -> None:
        import ebpf
        from ebpf import asm

        self.map = ebpf.Map(ebpf.MapSpec(name="bench", type=ebpf.MapType.HASH, key_size=4,
                                         value_size=8, max_entries=ENTRIES))
        spec = ebpf.ProgramSpec(name="bench_xdp", type=ebpf.ProgramType.XDP, license="GPL",
                                instructions=asm.Instructions([asm.mov.imm(asm.R0, 2),
                                                               asm.exit()]))
        try:
            self.prog = ebpf.Program(spec)
        except BaseException:
            self.map.close()
            raise
        self.fill()

    def close(self) -> None:
        self.prog.close()
        self.map.close()

    def fill(self) -> None:
        m = self.map
        for k in range(ENTRIES):
            m[k] = k * 3

    def run(self, op: Operation, n: int) -> float:
        fn: Callable[[int], int] = getattr(self, "op_" + op.name)
        return fn(n) / n

    def op_lookup(self, n: int) -> int:
        m = self.map
        keys = [i % ENTRIES for i in range(n)]
        start = time.perf_counter_ns()
        for k in keys:
            m[k]
        return time.perf_counter_ns() - start

    def op_update(self, n: int) -> int:
        m = self.map
        keys = [i % ENTRIES for i in range(n)]
        start = time.perf_counter_ns()
        for v, k in enumerate(keys):
            m[k] = v
        return time.perf_counter_ns() - start

    def op_delete(self, n: int) -> int:
        m = self.map
        total = done = 0
        while done < n:
            keys = range(min(ENTRIES, n - done))
            start = time.perf_counter_ns()
            for k in keys:
                del m[k]
            total += time.perf_counter_ns() - start
            done += len(keys)
            self.fill()                     # untimed
        return total

    def op_iterate(self, passes: int) -> int:
        m = self.map
        start = time.perf_counter_ns()
        for _ in range(passes):
            items = list(m.items())
        elapsed = time.perf_counter_ns() - start
        if len(items) != ENTRIES:
            sys.exit(f"benchmarks: items() returned {len(items)} of {ENTRIES} entries")
        return elapsed

    def op_batch(self, passes: int) -> int:
        m = self.map
        start = time.perf_counter_ns()
        for _ in range(passes):
            items = m.batch_lookup()
        elapsed = time.perf_counter_ns() - start
        if len(items) != ENTRIES:
            sys.exit(f"benchmarks: batch_lookup() returned {len(items)} of {ENTRIES} entries")
        return elapsed

    def op_batch_into(self, passes: int) -> int:
        m = self.map
        buf = m.batch_buffer()
        start = time.perf_counter_ns()
        for _ in range(passes):
            view = m.batch_lookup_into(buf)
            total = sum(view.values)
        elapsed = time.perf_counter_ns() - start
        if len(view) != ENTRIES or total != sum(range(ENTRIES)) * 3:
            sys.exit(f"benchmarks: batch_lookup_into() read {len(view)} of {ENTRIES} entries")
        return elapsed

    def op_run_many(self, n: int) -> int:
        prog = self.prog
        packets = [bytes(64)] * n
        start = time.perf_counter_ns()
        results = prog.test_run_many(packets)
        elapsed = time.perf_counter_ns() - start
        if set(results.retvals) != {2}:
            sys.exit("benchmarks: test_run_many returned other than XDP_PASS (2)")
        return elapsed

    def op_lookup_call(self, n: int) -> int:
        m = self.map
        m[0]                                    # makes sure one set of buffers is pooled
        call = m._pool[0].lookup
        start = time.perf_counter_ns()
        for _ in range(n):
            call()
        return time.perf_counter_ns() - start

    def op_test_run_call(self, n: int) -> int:
        prog = self.prog
        prog.test_run(bytes(64))
        pool = prog._run_calls
        assert pool
        call = pool[0].call
        start = time.perf_counter_ns()
        for _ in range(n):
            call()
        return time.perf_counter_ns() - start

    def op_test_run(self, n: int) -> int:
        prog = self.prog
        packet = bytes(64)
        start = time.perf_counter_ns()
        for _ in range(n):
            result = prog.test_run(packet)
        elapsed = time.perf_counter_ns() - start
        if result.retval != 2:
            sys.exit(f"benchmarks: test_run returned {result.retval}, expected XDP_PASS (2)")
        return elapsed


# --- reporting ---------------------------------------------------------------------------------

def environment() -> dict[str, object]:
    env: dict[str, object] = {
        "kernel": platform.release(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    env["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        from ebpf.internal.sys import trampoline_available

        env["fast_syscall_trampoline"] = trampoline_available()
    except ImportError:
        pass
    return env


def _fmt_ns(ns: float) -> str:
    return f"{ns:,.0f}" if ns >= 100 else f"{ns:.1f}"


def print_table(results: list[Result], env: dict[str, object], repeat: int) -> None:
    print("ebpf benchmarks: Python (ebpf) against raw bpf(2) from C, same machine, same run")
    print("  " + ", ".join(f"{k}={v}" for k, v in env.items()))
    print(f"  hash map of {ENTRIES:,} entries (u32 -> u64); median of {repeat} interleaved "
          "runs per side")
    print("  ratio = C ns/op / Python ns/op (Python throughput relative to C; higher is better)")
    print()
    head = f"{'operation':<30} {'C ns/op':>12} {'Python ns/op':>13} {'ratio':>7} " \
           f"{'target':>7}  status"
    print(head)
    print("-" * len(head))
    for r in results:
        target = f">={r.op.target:g}" if r.op.target is not None else "-"
        print(f"{r.op.label:<30} {_fmt_ns(r.c):>12} {_fmt_ns(r.py):>13} {r.ratio:>7.2f} "
              f"{target:>7}  {r.status}")
    below = [r.op.name for r in results if r.status == "below"]
    print()
    print("all targets met" if not below else f"below target: {', '.join(below)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compare ebpf's hot paths with a C floor.")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--repeat", type=int, default=5,
                        help="measurements per side and operation (default 5)")
    parser.add_argument("--quick", action="store_true",
                        help="a tenth of the operations and 3 repetitions (smoke test)")
    parser.add_argument("--only", action="append", choices=[o.name for o in OPERATIONS],
                        help="run only this operation (repeatable)")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 1 if a ratio is below its target")
    args = parser.parse_args(argv)

    repeat = 3 if args.quick else max(1, args.repeat)
    scale = 0.1 if args.quick else 1.0
    ops = [o for o in OPERATIONS if not args.only or o.name in args.only]

    binary = build_floor()
    try:
        side = PythonSide()
    except OSError as e:   # SyscallError is an OSError: typically EPERM without root
        sys.exit(f"benchmarks: cannot create the map or program ({e}); run as root")

    results = [Result(o, n=max(1, int(o.n * scale))) for o in ops]
    try:
        for r in results:                       # one warm-up each, not recorded
            n = max(1, r.n // 10)
            run_c(binary, r.op, n)
            side.run(r.op, n)
        for _ in range(repeat):
            for r in results:
                r.c_ns.append(run_c(binary, r.op, r.n))
                r.py_ns.append(side.run(r.op, r.n))
    finally:
        side.close()

    env = environment()
    if args.json:
        json.dump({"environment": env, "entries": ENTRIES, "repeat": repeat,
                   "results": [r.as_dict() for r in results]}, sys.stdout, indent=2)
        print()
    else:
        print_table(results, env, repeat)
    if args.strict and any(r.status == "below" for r in results):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
