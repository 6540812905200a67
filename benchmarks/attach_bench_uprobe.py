"""Uprobe attach + detach by symbol on libc, against libbpf in C.

    python3 benchmarks/attach_bench_uprobe.py [--runs N] [--count N] [--function NAME]

Each run is a fresh process per side; the table shows the median (min) over the runs, in
microseconds per attach+detach.

  first        the first ``link.uprobe(libc, "malloc", prog)`` + ``close()`` of a process
               (the library's symbol tables are read then: they are cached afterwards)
  each         the median of the following ones
  attach       of those, the attach alone (``link.uprobe``)
  detach       and the detach alone (``close()``)
  each, name   the same with the library given as ``"c"`` (resolved through ld.so.cache
               every time)

C (``attach_bench_uprobe.c``): ``bpf_program__attach_uprobe_opts`` with ``func_name`` and
``bpf_link__destroy``, which reads the library's symbol tables on every attach. Both sides
load the same program (``testdata/uprobe-el.elf``'s ``probe_entry``) and make the same
kernel objects: a uprobe PMU perf event and a perf link, so most of either figure is the
kernel's: registering the uprobe in every process that maps libc, and, on detach, waiting
for RCU grace periods before the probe and the program are released. Needs root, libbpf-dev
and a C compiler; timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OBJECT = ROOT / "testdata" / "uprobe-el.elf"

CHILD = r"""
import json, statistics, sys, time
import ebpf
from ebpf import link
obj, prog_name, lib, fn, count = sys.argv[1:6]
count = int(count)
with ebpf.Collection(ebpf.load_collection_spec(obj)) as c:
    prog = c.programs[prog_name]
    times, attach, detach = [], [], []
    for _ in range(count):
        t0 = time.perf_counter()
        lnk = link.uprobe(lib, fn, prog)
        t1 = time.perf_counter()
        lnk.close()
        t2 = time.perf_counter()
        times.append(t2 - t0)
        attach.append(t1 - t0)
        detach.append(t2 - t1)
    named = []
    for _ in range(count):
        t0 = time.perf_counter()
        link.uprobe("c", fn, prog).close()
        named.append(time.perf_counter() - t0)
print(json.dumps({"first": times[0], "each": statistics.median(times[1:]),
                  "attach": statistics.median(attach[1:]),
                  "detach": statistics.median(detach[1:]),
                  "each, name": statistics.median(named)}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--function", default="malloc")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from ebpf.internal.ldcache import resolve_binary

    libc = resolve_binary("c")
    with tempfile.TemporaryDirectory(prefix="uprobe-attach-bench-") as tmp:
        binary = Path(tmp) / "attach_bench_uprobe"
        build = subprocess.run(["cc", "-O2", "-o", str(binary),
                                str(Path(__file__).with_name("attach_bench_uprobe.c")), "-lbpf"],
                               capture_output=True, text=True)
        have_c = build.returncode == 0
        if not have_c:
            print(f"(libbpf floor not built: {build.stderr.strip()})", file=sys.stderr)
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        py: list[dict[str, float]] = []
        c: list[dict[str, float]] = []
        for _ in range(args.runs):
            py.append(json.loads(subprocess.run(
                [sys.executable, "-c", CHILD, str(OBJECT), "probe_entry", libc, args.function,
                 str(args.count)], env=env, cwd=ROOT, check=True, capture_output=True,
                text=True).stdout))
            if have_c:
                c.append(json.loads(subprocess.run(
                    [str(binary), str(OBJECT), "probe_entry", libc, args.function,
                     str(args.count)], check=True, capture_output=True, text=True).stdout))
    print(f"uprobe on {libc}:{args.function}, attach+detach, median (min) of {args.runs} "
          f"processes x {args.count}, us")
    for label in ("first", "each", "attach", "detach", "each, name"):
        vals = [r[label] for r in py]
        print(f"  {'python ' + label:22}{statistics.median(vals) * 1e6:10.1f} "
              f"({min(vals) * 1e6:.1f})")
    for label in ("first", "each", "attach", "detach"):
        if c:
            vals = [r[label] for r in c]
            print(f"  {'libbpf ' + label:22}{statistics.median(vals) * 1e6:10.1f} "
                  f"({min(vals) * 1e6:.1f})")
    if c:
        ratio = statistics.median(r["each"] for r in c) / statistics.median(
            r["each"] for r in py)
        print(f"  libbpf/python (each): {ratio:.2f}  (1.0 = as fast as libbpf)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
