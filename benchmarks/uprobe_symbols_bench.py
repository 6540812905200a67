"""Uprobe targets: 1,000 libc function names to file offsets, against the same work in C.

    python3 benchmarks/uprobe_symbols_bench.py [--runs N] [--names N]

Every figure is measured in fresh processes, several times; the table shows the median (min).

Python rows (``ebpf.internal.elf_symbols``):
  import       ``import ebpf.internal.elf_symbols`` (runs ``ebpf/__init__`` first)
  cold batch   ``symbol_offsets(libc, names)`` in a process that never read libc: open, headers,
               ``.dynsym``/``.dynstr``/version sections read, the name index built, every name
               resolved (one parse)
  warm batch   the same call again: the file is checked (open + fstat) and the cached index used
  one name     ``symbol_offset(libc, "malloc")`` with an empty cache: what a single uprobe pays
  per name     the batch's names one ``symbol_offset`` call each, cache warm

C rows (``uprobe_symbols_bench.c``, libelf, the algorithm libbpf uses; libbpf's own function is
internal to it, so it cannot be timed by itself):
  C batch      one ``elf_begin`` and one pass over ``.dynsym`` with a bsearch per symbol
               (libbpf's ``elf_resolve_syms_offsets``, its uprobe_multi path)
  C per name   open + ``elf_begin`` + a linear scan + close per name (libbpf's
               ``elf_find_func_offset_from_file``, which every single uprobe attach runs)

The names are defined ``STT_FUNC`` symbols of libc's ``.dynsym`` with one version only, so a
plain name means the same function to both sides; both sides must agree on every offset.
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

CHILD = r"""
import json, sys, time
names = open(sys.argv[2]).read().split()
t0 = time.perf_counter()
from ebpf.internal import elf_symbols as es
t1 = time.perf_counter()
cold = es.symbol_offsets(sys.argv[1], names)
t2 = time.perf_counter()
warm = es.symbol_offsets(sys.argv[1], names)
t3 = time.perf_counter()
each = [es.symbol_offset(sys.argv[1], n) for n in names]
t4 = time.perf_counter()
es.clear_cache()
t5 = time.perf_counter()
es.symbol_offset(sys.argv[1], "malloc")
t6 = time.perf_counter()
assert cold == warm == each
print(json.dumps({"import": t1 - t0, "cold batch": t2 - t1, "warm batch": t3 - t2,
                  "one name": t6 - t5, "per name": t4 - t3, "offsets": cold}))
"""


def pick_names(libc: str, count: int) -> list[str]:
    """``count`` function names of libc's .dynsym, spread over the table, each with a single
    definition (no other version, not an IFUNC)."""
    sys.path.insert(0, str(ROOT))
    from ebpf.internal.elf_symbols import elf_image, open_binary

    with open_binary(libc) as src:
        img = elf_image(src)
        table = img.symbol_table(src, 11)   # SHT_DYNSYM
        assert table is not None
        names = []
        for raw, hits in table.index(img.path).items():
            if isinstance(hits, int) and table.symbol(hits)[4] == 2:   # STT_FUNC
                names.append(raw.decode())
    step = max(1, len(names) // count)
    return names[::step][:count]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--names", type=int, default=1000)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from ebpf.internal.ldcache import resolve_binary

    libc = resolve_binary("libc.so.6")
    names = pick_names(libc, args.names)
    if len(names) < args.names:
        print(f"only {len(names)} suitable names in {libc}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="uprobe-bench-") as tmp_s:
        tmp = Path(tmp_s)
        names_file = tmp / "names.txt"
        names_file.write_text("".join(n + "\n" for n in names))
        binary = tmp / "uprobe_symbols_bench"
        build = subprocess.run(["cc", "-O2", "-o", str(binary),
                                str(Path(__file__).with_name("uprobe_symbols_bench.c")),
                                "-lelf"], capture_output=True, text=True)
        have_c = build.returncode == 0
        if not have_c:
            print(f"(libelf floor not built: {build.stderr.strip()})", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "ebpf")],
                       check=True, env=dict(os.environ, PYTHONDONTWRITEBYTECODE=""))
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
        py: list[dict[str, float]] = []
        c: list[dict[str, float]] = []
        offsets = None
        for _ in range(args.runs):
            out = json.loads(subprocess.run(
                [sys.executable, "-c", CHILD, libc, str(names_file)], env=env, cwd=ROOT,
                check=True, capture_output=True, text=True).stdout)
            offsets = out.pop("offsets")
            py.append(out)
            if have_c:
                c.append(json.loads(subprocess.run(
                    [str(binary), libc, str(names_file)], check=True, capture_output=True,
                    text=True).stdout))
    print(f"{libc}: {len(names)} names, median (min) of {args.runs} fresh processes, ms")
    for label in ("import", "cold batch", "warm batch", "one name", "per name"):
        vals = [r[label] for r in py]
        print(f"  {'python ' + label:20}{statistics.median(vals) * 1e3:10.2f} "
              f"({min(vals) * 1e3:.2f})")
    if c:
        for key, label in (("batch", "C batch"), ("per_name", "C per name")):
            vals = [r[key] for r in c]
            print(f"  {label:20}{statistics.median(vals) * 1e3:10.2f} ({min(vals) * 1e3:.2f})")
        found = {r["found_batch"] for r in c} | {r["found_each"] for r in c}
        if found != {len(names)}:
            print(f"  warning: C found {sorted(found)} of {len(names)} names")
    assert offsets is not None and len(offsets) == len(names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
