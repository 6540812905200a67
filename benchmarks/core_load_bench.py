"""Loading the realistic CO-RE tools from a fresh process, against libbpf in C.

For each ``testdata/tool_*-el.elf`` object, in fresh processes, alternating sides, several
times, this measures:

  ebpf     ``import ebpf``, ``load_collection_spec()`` (the spec read), ``Collection(spec)``
           (CO-RE against vmlinux, externs, maps, BTF, programs), ``close()``
  libbpf   ``bpf_object__open_file()`` + ``bpf_object__load()`` (benchmarks/core_load_bench.c,
           built with ``cc -O2 -lbpf`` into benchmarks/build/)

Columns (medians, milliseconds): for ebpf ``import``, ``spec``, ``load`` and ``in-proc`` (the
sum: from before the import to the end of the load); for libbpf ``in-proc`` (from ``main()``
to the end of the load); and ``process`` for both: the wall time of the whole process, from
fork to exit (for ebpf that includes starting the interpreter). ``ratio`` is ebpf / libbpf
of the in-process times, against the target of 3x.

The children run with byte code caching on (PYTHONDONTWRITEBYTECODE is removed from their
environment) after one warm-up run, as an installed package would.

Scenarios: ``warm`` reuses the kernel BTF index a previous process left in the cache
($XDG_CACHE_HOME/ebpf), ``cold`` runs with EBPF_BTF_CACHE=0.

    python3 benchmarks/core_load_bench.py [--runs N] [--json] [--cold]

Needs root (or CAP_BPF + CAP_PERFMON), libbpf-dev and a C compiler. A report, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "benchmarks" / "build"
TOOLS = ["execsnoop", "opensnoop", "runqlat", "tcpconnect", "biolatency"]
TARGET = 3.0

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import ebpf
t1 = time.perf_counter()
spec = ebpf.load_collection_spec(sys.argv[1])
t2 = time.perf_counter()
coll = ebpf.Collection(spec)
t3 = time.perf_counter()
coll.close()
print(json.dumps({"import": t1 - t0, "spec": t2 - t1, "load": t3 - t2, "total": t3 - t0}))
"""


def build_floor() -> Path:
    BUILD.mkdir(exist_ok=True)
    exe = BUILD / "core_load_bench"
    src = ROOT / "benchmarks" / "core_load_bench.c"
    if not exe.exists() or exe.stat().st_mtime < src.stat().st_mtime:
        subprocess.run(["cc", "-O2", "-o", str(exe), str(src), "-lbpf"], check=True)
    return exe


def timed(cmd: list[str], env: dict[str, str]) -> tuple[dict[str, float], float]:
    t = time.perf_counter()
    # cwd=ROOT: `python -c` puts the working directory first on sys.path, and an `ebpf`
    # package there would be measured instead of this tree's.
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, cwd=ROOT)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--cold", action="store_true", help="also run with EBPF_BTF_CACHE=0")
    args = ap.parse_args()
    floor = build_floor()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # Measure what users get: byte code compiled once and reused. (With
    # PYTHONDONTWRITEBYTECODE set, every module edited since its last .pyc is compiled again
    # in every process, which costs more than the whole load.)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    scenarios = [("warm", env)]
    if args.cold:
        scenarios.append(("cold", dict(env, EBPF_BTF_CACHE="0")))
    timed([sys.executable, "-c", CHILD, str(ROOT / "testdata/tool_execsnoop-el.elf")], env)
    results = []
    for scenario, senv in scenarios:
        for name in TOOLS:
            obj = str(ROOT / "testdata" / f"tool_{name}-el.elf")
            py: list[dict[str, float]] = []
            c: list[dict[str, float]] = []
            for _ in range(args.runs):
                r, wall = timed([sys.executable, "-c", CHILD, obj], senv)
                py.append(dict(r, process=wall))
                r, wall = timed([str(floor), obj], senv)
                c.append(dict(r, process=wall))

            def med(rows: list[dict[str, float]], key: str) -> float:
                return statistics.median(row[key] for row in rows) * 1000

            row = {
                "tool": name, "scenario": scenario,
                "ebpf_import_ms": med(py, "import"), "ebpf_spec_ms": med(py, "spec"),
                "ebpf_load_ms": med(py, "load"), "ebpf_in_proc_ms": med(py, "total"),
                "ebpf_process_ms": med(py, "process"),
                "libbpf_in_proc_ms": med(c, "total"), "libbpf_process_ms": med(c, "process"),
            }
            row["ratio"] = row["ebpf_in_proc_ms"] / row["libbpf_in_proc_ms"]
            row["ratio_process"] = row["ebpf_process_ms"] / row["libbpf_process_ms"]
            results.append(row)
    if args.json:
        print(json.dumps({"runs": args.runs, "target": TARGET, "results": results}, indent=2))
        return 0
    head = (f"{'tool':<11} {'scen':<5} {'import':>7} {'spec':>7} {'load':>7} {'in-proc':>8}"
            f" {'libbpf':>7} {'ratio':>6} {'process':>8} {'libbpf':>7} {'ratio':>6}")
    print(f"fresh-process load, medians of {args.runs} runs, ms; ratio = ebpf / libbpf "
          f"(target <= {TARGET:g}x)")
    print(head)
    for r in results:
        flag = "" if r["ratio"] <= TARGET else "  above target"
        print(f"{r['tool']:<11} {r['scenario']:<5} {r['ebpf_import_ms']:7.1f} "
              f"{r['ebpf_spec_ms']:7.1f} {r['ebpf_load_ms']:7.1f} {r['ebpf_in_proc_ms']:8.1f} "
              f"{r['libbpf_in_proc_ms']:7.1f} {r['ratio']:6.2f} {r['ebpf_process_ms']:8.1f} "
              f"{r['libbpf_process_ms']:7.1f} {r['ratio_process']:6.2f}{flag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
