"""Attaching and detaching network programs, ebpf.link against libbpf in C.

For each family, in one process that loaded the programs and imported what it uses, the
median time of one attach plus one detach (closing the Link), over ``--iterations`` pairs
after a few unmeasured ones:

  xdp_link      ``link.xdp("lo", prog)``                 vs ``bpf_program__attach_xdp``
  xdp_netlink   ``link.xdp(..., mode=GENERIC, mechanism=NETLINK)``
                                                         vs ``bpf_xdp_attach``/``bpf_xdp_detach``
  tcx           ``link.tcx("lo", prog, "ingress")``      vs ``bpf_link_create(TCX_INGRESS)``
                (this libbpf, 1.1, predates ``bpf_program__attach_tcx``; that is what it calls)
  tc            ``link.tc("lo", prog, "ingress")``       vs ``bpf_tc_hook_create``,
                                                            ``bpf_tc_attach``, ``bpf_tc_detach``,
                                                            ``bpf_tc_hook_destroy``
  cgroup_link   ``link.cgroup(dir, prog, "connect4")``   vs ``bpf_program__attach_cgroup``
  cgroup_multi  ``link.cgroup(..., mode=MULTI)``         vs ``bpf_prog_attach``/``bpf_prog_detach2``

Both sides run in the same fresh network namespace (attaching to its loopback) and against the
same fresh cgroup, which the script makes and removes; the C floor is
benchmarks/attach_bench_net.c, built with ``cc -O2 -lbpf`` into benchmarks/build/. The two sides
alternate ``--runs`` times; the table shows the median of their medians, in microseconds, and
the ratio ebpf / libbpf.

    python3 benchmarks/attach_bench_net.py [--runs N] [--iterations N] [--json]

Needs root, iproute2, libbpf-dev and a C compiler. A report, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "benchmarks" / "build"
NET_OBJ = ROOT / "testdata" / "link_net-el.elf"
CGROUP_OBJ = ROOT / "testdata" / "link_cgroup-el.elf"
CGROUP2 = "/sys/fs/cgroup/unified"
FAMILIES = ["xdp_link", "xdp_netlink", "tcx", "tc", "cgroup_link", "cgroup_multi"]

CHILD = r"""
import ctypes, json, os, statistics, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)          # enter the benchmark's network namespace
assert ctypes.CDLL(None, use_errno=True).setns(fd, 0x40000000) == 0
os.close(fd)
del sys.argv[1]
from ebpf import link
from ebpf.collection import Collection
from ebpf.elf_reader import load_collection_spec
from ebpf.link import CgroupMode, Mechanism, XDPMode

net_obj, cg_obj, ifname, cgroup, n = sys.argv[1:6]
n = int(n)
net = Collection(load_collection_spec(net_obj))
cgo = Collection(load_collection_spec(cg_obj))
xdp, cls = net.programs["xdp_pass"], net.programs["tc_pass"]
sock = cgo.programs["connect4_count"]
cases = {
    "xdp_link": lambda: link.xdp(ifname, xdp),
    "xdp_netlink": lambda: link.xdp(ifname, xdp, mode=XDPMode.GENERIC,
                                    mechanism=Mechanism.NETLINK),
    "tcx": lambda: link.tcx(ifname, cls, "ingress"),
    "tc": lambda: link.tc(ifname, cls, "ingress"),
    "cgroup_link": lambda: link.cgroup(cgroup, sock, "connect4"),
    "cgroup_multi": lambda: link.cgroup(cgroup, sock, "connect4", mode=CgroupMode.MULTI),
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
net.close()
cgo.close()
print(json.dumps(out))
"""


def build_floor() -> Path:
    BUILD.mkdir(exist_ok=True)
    exe = BUILD / "attach_bench_net"
    src = ROOT / "benchmarks" / "attach_bench_net.c"
    if not exe.exists() or exe.stat().st_mtime < src.stat().st_mtime:
        subprocess.run(["cc", "-O2", "-Wall", "-o", str(exe), str(src), "-lbpf"], check=True)
    return exe


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
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    floor = build_floor()
    name = f"ebpf-bench-{os.getpid()}-{secrets.token_hex(3)}"
    cgroup = os.path.join(CGROUP2, name)
    subprocess.run(["ip", "netns", "add", name], check=True)
    os.mkdir(cgroup)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        common = [f"/run/netns/{name}", str(NET_OBJ), str(CGROUP_OBJ), "lo", cgroup,
                  str(args.iterations)]
        py: list[dict[str, float]] = []
        c: list[dict[str, float]] = []
        for _ in range(args.runs):
            py.append(run([sys.executable, "-c", CHILD, *common]))
            c.append(run([str(floor), *common]))
    finally:
        os.rmdir(cgroup)
        subprocess.run(["ip", "netns", "delete", name], check=False)
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
    print(f"{'family':<13} {'ebpf':>9} {'libbpf':>9} {'ratio':>6}")
    for r in rows:
        print(f"{r['family']:<13} {r['ebpf_us']:9.1f} {r['libbpf_us']:9.1f} {r['ratio']:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
