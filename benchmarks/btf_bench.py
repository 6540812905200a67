"""Kernel BTF: from a fresh process to ``load_kernel_spec()`` and 101 lookups, against libbpf.

Each figure is measured in fresh processes, several times, and reported beside the same work
done in C with libbpf (``btf__load_vmlinux_btf`` + ``btf__find_by_name_kind``) in the same run.

    python3 benchmarks/btf_bench.py [--runs N]

Scenarios:
  cold   no on-disk index (EBPF_BTF_CACHE=0): one pass over the type section, name tables built
         on first lookup.
  warm   the index a previous process left under $XDG_CACHE_HOME/ebpf is reused.

Columns: ``import`` is ``import ebpf.btf`` (which runs ``ebpf/__init__`` first: shown apart as
``pkg``), ``load`` is ``load_kernel_spec()``, ``lookups`` is task_struct plus 100 other names,
``total`` is from before the import to the last lookup, ``peak+`` is the growth of the process's
peak RSS over that span. The ``btf-only`` rows replace ``ebpf/__init__`` by an empty package, to
show what ``ebpf.btf`` itself costs.
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
VMLINUX = "/sys/kernel/btf/vmlinux"

CHILD = r"""
import json, sys, time
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0
names = [line.split() for line in open(sys.argv[1])]
if sys.argv[2] == "stub":
    # Measure ebpf.btf alone: an empty parent package instead of ebpf/__init__.
    import types
    pkg = types.ModuleType("ebpf")
    pkg.__path__ = [sys.argv[3]]
    sys.modules["ebpf"] = pkg
before = status("VmRSS")
t0 = time.perf_counter()
import ebpf
t_pkg = time.perf_counter()
import ebpf.btf as btf
t1 = time.perf_counter()
spec = btf.load_kernel_spec()
t2 = time.perf_counter()
found = 0
for kind, name in names:
    if kind == "s":
        found += bool(spec.type_by_name(name, btf.Struct).size)
    else:
        found += bool(spec.any_type_by_name(name))
t3 = time.perf_counter()
peak = status("VmHWM")
print(json.dumps({"pkg": t_pkg - t0, "import": t1 - t0, "load": t2 - t1, "lookups": t3 - t2,
                  "total": t3 - t0, "found": found, "types": len(spec),
                  "peak_added_kib": peak - before, "peak_kib": peak}))
"""


def pick_names(path: Path) -> None:
    """task_struct, then 100 struct names spread over the id space (unique names only)."""
    sys.path.insert(0, str(ROOT))
    from ebpf import btf

    spec = btf.load_kernel_spec()
    structs = []
    for tid in range(1, len(spec) + 1):
        if spec.raw.kind_of(tid) == btf.Kind.STRUCT:
            structs.append(tid)
    step = max(1, len(structs) // 400)
    chosen: list[str] = []
    for tid in structs[::step]:
        t = spec.type_by_id(tid)
        if t.name and t.name != "task_struct" and len(spec.types_by_name(t.name)) == 1:
            chosen.append(t.name)
    chosen = chosen[:: max(1, len(chosen) // 100)][:100]
    path.write_text("s task_struct\n" + "".join(f"s {n}\n" for n in chosen))


def run_python(names: Path, env: dict[str, str], stub: bool = False) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(names), "stub" if stub else "full",
                          str(ROOT / "ebpf")], env=env, cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def run_c(binary: Path, names: Path) -> dict[str, float]:
    out = subprocess.run([str(binary), str(names)], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    if not os.path.exists(VMLINUX):
        print(f"{VMLINUX} is missing: nothing to measure", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="btf-bench-") as tmp_s:
        tmp = Path(tmp_s)
        names = tmp / "names.txt"
        pick_names(names)
        binary = tmp / "btf_bench"
        build = subprocess.run(["cc", "-O2", "-o", str(binary),
                                str(Path(__file__).with_name("btf_bench.c")), "-lbpf"],
                               capture_output=True, text=True)
        have_c = build.returncode == 0
        if not have_c:
            print(f"(libbpf floor not built: {build.stderr.strip()})", file=sys.stderr)
        # Byte-compile once, as an installed package would be.
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "ebpf")],
                       check=True, env=dict(os.environ, PYTHONDONTWRITEBYTECODE=""))
        base_env = dict(os.environ, XDG_CACHE_HOME=str(tmp / "cache"),
                        PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
        cold_env = dict(base_env, EBPF_BTF_CACHE="0")
        warm_env = dict(base_env, EBPF_BTF_CACHE="1")
        run_python(names, warm_env)  # leaves the index behind
        results: dict[str, list[dict[str, float]]] = {
            "python cold": [], "python warm": [], "btf-only cold": [], "btf-only warm": [],
            "libbpf (C)": []}
        for _ in range(args.runs):
            results["python cold"].append(run_python(names, cold_env))
            results["python warm"].append(run_python(names, warm_env))
            results["btf-only cold"].append(run_python(names, cold_env, stub=True))
            results["btf-only warm"].append(run_python(names, warm_env, stub=True))
            if have_c:
                results["libbpf (C)"].append(run_c(binary, names))

    cols = ("pkg", "import", "load", "lookups", "total")
    print(f"vmlinux: {results['python cold'][0]['types']} types, "
          f"{os.path.getsize(VMLINUX) / 2**20:.1f} MiB; lookups: task_struct + 100 names; "
          f"median (min) of {args.runs} fresh processes")
    print(f"{'':16}" + "".join(f"{c:>17}" for c in cols) + f"{'peak+ MiB':>12}")
    for label, rows in results.items():
        if not rows:
            continue
        cells = []
        for c in cols:
            vals = [r[c] for r in rows if c in r]
            cells.append(f"{statistics.median(vals) * 1e3:8.1f} ({min(vals) * 1e3:5.1f})"
                         if vals else f"{'-':>16}")
        peak = statistics.median(r["peak_added_kib"] for r in rows) / 1024
        print(f"{label:16}" + "".join(f"{c:>17}" for c in cells) + f"{peak:12.1f}")
        if any(r["found"] != rows[0]["found"] for r in rows):
            print(f"  warning: {label} found different numbers of names")
    print("times in ms; 'pkg' is `import ebpf` (ebpf/__init__), included in 'import' and "
          "'total'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
