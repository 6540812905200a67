"""Loading the realistic CO-RE tools from a fresh process, against libbpf in C.

For each ``testdata/tool_*-el.elf`` object, in fresh processes, alternating sides, several
times, this measures:

  ebpf     ``import ebpf``, ``load_collection_spec()`` (the spec read), ``Collection(spec)``
           (CO-RE against vmlinux, externs, maps, BTF, programs), ``close()``
  libbpf   ``bpf_object__open_file()`` + ``bpf_object__load()`` (benchmarks/core_load_bench.c,
           built with ``cc -O2 -lbpf`` into benchmarks/build/)

Columns (medians, milliseconds):

  in-proc    ebpf: from before ``import ebpf`` to the end of the load, so every module the
             load imports is counted (``import ebpf`` itself is lazy; the spec read and the
             load import what they use). libbpf: from ``main()`` to the end of the load (the
             dynamic linker has mapped libbpf by then). ``ratio`` is ebpf / libbpf, against the
             target of 3x.
  after-imp  ebpf only: the same spec read and load in a process that imported the library's
             modules first, as a long-running agent would have; ``ratio`` against libbpf again.
  process    both: the wall time of the whole process, from fork to exit (for ebpf that
             includes starting the interpreter).

The Python children run in a *clean* interpreter by default: a virtual environment without
packages (benchmarks/build/venv-*, made once with ``--without-pip``) of the interpreter running
this script, with ``PYTHONPATH`` pointing at this tree. Its ``site`` imports nothing beyond the
interpreter's own start-up, as in a user's environment. (An interpreter whose site-packages
holds ``.pth`` files, such as the one an editable install writes, may import ``typing``, ``re``
or ``enum`` before ``main`` runs, which hides their cost from the in-process time; ``--site``
measures that way, with the running interpreter as it is.) ``--python`` picks another base
interpreter (a distribution's optimised build, say). Byte code caching is on
(``PYTHONDONTWRITEBYTECODE`` is removed) and one warm-up run comes first, as an installed
package would behave.

Scenarios: ``warm`` reuses the kernel BTF index a previous process left in the cache
($XDG_CACHE_HOME/ebpf), ``cold`` runs with EBPF_BTF_CACHE=0.

    python3 benchmarks/core_load_bench.py [--runs N] [--json] [--cold] [--site] [--python PY]

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

# The same load after the library's modules are imported (nothing else is warmed: the kernel
# BTF index is mapped, and the object read, by the timed part).
CHILD_AFTER_IMPORT = r"""
import json, sys, time
import ebpf, ebpf.collection, ebpf.elf_reader, ebpf.btf.core, ebpf.btf.handle, ebpf.btf.kernel
import ebpf.btf.marshal, ebpf.btf.ext_info, ebpf.variables, ebpf.internal.feature
t0 = time.perf_counter()
spec = ebpf.load_collection_spec(sys.argv[1])
coll = ebpf.Collection(spec)
t1 = time.perf_counter()
coll.close()
print(json.dumps({"total": t1 - t0}))
"""


def clean_interpreter(base: str) -> str:
    """The python of a package-less virtual environment of ``base`` (made on first use)."""
    version = subprocess.run(
        [base, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True, check=True).stdout.strip()
    tag = f"{Path(base).resolve().parent.parent.name}-{version}"
    venv = BUILD / f"venv-{tag}"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([base, "-m", "venv", "--without-pip", "--clear", str(venv)], check=True)
    return str(python)


def interpreter_version(python: str) -> str:
    """The version of the interpreter that ran the children."""
    return subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"],
                          capture_output=True, text=True, check=True).stdout.strip()


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
    ap.add_argument("--site", action="store_true",
                    help="run the children with this interpreter and its site-packages")
    ap.add_argument("--python", default=sys.executable,
                    help="base interpreter of the children (default: this one)")
    args = ap.parse_args()
    floor = build_floor()
    python = args.python if args.site else clean_interpreter(args.python)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # Measure what users get: byte code compiled once and reused. (With
    # PYTHONDONTWRITEBYTECODE set, every module edited since its last .pyc is compiled again
    # in every process, which costs more than the whole load.)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    scenarios = [("warm", env)]
    if args.cold:
        scenarios.append(("cold", dict(env, EBPF_BTF_CACHE="0")))
    timed([python, "-c", CHILD, str(ROOT / "testdata/tool_execsnoop-el.elf")], env)
    results = []
    for scenario, senv in scenarios:
        for name in TOOLS:
            obj = str(ROOT / "testdata" / f"tool_{name}-el.elf")
            py: list[dict[str, float]] = []
            after: list[float] = []
            c: list[dict[str, float]] = []
            for _ in range(args.runs):
                r, wall = timed([python, "-c", CHILD, obj], senv)
                py.append(dict(r, process=wall))
                r, wall = timed([str(floor), obj], senv)
                c.append(dict(r, process=wall))
                r, _wall = timed([python, "-c", CHILD_AFTER_IMPORT, obj], senv)
                after.append(r["total"])

            def med(rows: list[dict[str, float]], key: str) -> float:
                return statistics.median(row[key] for row in rows) * 1000

            row = {
                "tool": name, "scenario": scenario,
                "ebpf_import_ms": med(py, "import"), "ebpf_spec_ms": med(py, "spec"),
                "ebpf_load_ms": med(py, "load"), "ebpf_in_proc_ms": med(py, "total"),
                "ebpf_after_import_ms": statistics.median(after) * 1000,
                "ebpf_process_ms": med(py, "process"),
                "libbpf_in_proc_ms": med(c, "total"), "libbpf_process_ms": med(c, "process"),
            }
            row["ratio"] = row["ebpf_in_proc_ms"] / row["libbpf_in_proc_ms"]
            row["ratio_after_import"] = row["ebpf_after_import_ms"] / row["libbpf_in_proc_ms"]
            row["ratio_process"] = row["ebpf_process_ms"] / row["libbpf_process_ms"]
            results.append(row)
    build = f"Python {interpreter_version(python)}"
    mode = "its site-packages" if args.site else "clean virtual environment"
    if args.json:
        print(json.dumps({"runs": args.runs, "target": TARGET, "interpreter": build,
                          "mode": mode, "results": results}, indent=2))
        return 0
    head = (f"{'tool':<11} {'scen':<5} {'spec':>6} {'load':>6} {'in-proc':>8} {'libbpf':>7}"
            f" {'ratio':>6} {'after-imp':>9} {'ratio':>6} {'process':>8} {'libbpf':>7}"
            f" {'ratio':>6}")
    print(f"interpreter: {build} ({mode})")
    print(f"fresh-process load, medians of {args.runs} runs, ms; ratio = ebpf / libbpf "
          f"(target <= {TARGET:g}x)")
    print(head)
    for r in results:
        flag = "" if r["ratio"] <= TARGET else "  above target"
        print(f"{r['tool']:<11} {r['scenario']:<5} {r['ebpf_spec_ms']:6.1f} "
              f"{r['ebpf_load_ms']:6.1f} {r['ebpf_in_proc_ms']:8.1f} "
              f"{r['libbpf_in_proc_ms']:7.1f} {r['ratio']:6.2f} "
              f"{r['ebpf_after_import_ms']:9.1f} {r['ratio_after_import']:6.2f} "
              f"{r['ebpf_process_ms']:8.1f} {r['libbpf_process_ms']:7.1f} "
              f"{r['ratio_process']:6.2f}{flag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
