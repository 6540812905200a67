#!/usr/bin/env python3
"""Soak test: load, attach, use and close the same collection thousands of times, with failures
mixed in, and check that nothing accumulates.

    sudo python3 scripts/soak.py --cycles 10000            # about 10 ms per cycle
    sudo python3 scripts/soak.py --minutes 10              # as many cycles as fit
    sudo python3 scripts/soak.py --cycles 500 --rss-slack 4

Needs root (bpf(2)). Not part of the test suite: it runs for minutes.

One cycle:

1. read ``testdata/compat_soak-el.elf`` (from bytes), set its ``.rodata`` target to this
   process, load it (a hash map, a ring buffer, a raw tracepoint program);
2. attach the program to the raw tracepoint ``sys_enter`` and call getpid(2) three times;
3. read the program's count from the hash map and its three records from the ring buffer, and
   check both;
4. close the link and the collection;
5. one failure, in turn: a collection whose program the verifier refuses
   (``testdata/loader_broken-el.elf``), an attachment to a raw tracepoint that does not exist,
   a lookup of a key the map does not have. Each must raise its ``ebpf`` error.

(A raw tracepoint rather than a tracepoint: closing a tracepoint's perf event costs the kernel
about 70 ms, five times a whole cycle.)

After a warm-up (``--warmup`` cycles, which fill the caches: kernel BTF, imports)
the baseline is taken; at the end, after a garbage collection, the script prints and checks:

* open file descriptors (``/proc/self/fd``): exactly the baseline;
* kernel objects: every program, map and link the cycles created (their ids were recorded)
  is gone, and no program named ``count_getpid`` is left on the system; the system-wide
  counts of programs, maps and links (``bpftool ... show -j``) are printed beside the baseline
  (other processes may change those);
* resident memory (``VmRSS``): at most ``--rss-slack`` MiB above the baseline (the
  allocator keeps some pages; a leak of even 1 KiB per cycle is 10 MiB over 10,000 cycles).

The exit status is 0 when all hold, 1 otherwise.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import time
from array import array
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ebpf import Collection, link, load_collection_spec  # noqa: E402
from ebpf.errors import EbpfError, KeyNotFoundError, VerifierError  # noqa: E402
from ebpf.info import link_ids, map_ids, program_ids  # noqa: E402
from ebpf.ringbuf import Reader  # noqa: E402

OBJECT = ROOT / "testdata" / "compat_soak-el.elf"
BROKEN = ROOT / "testdata" / "loader_broken-el.elf"
PROGRAM = "count_getpid"
TRIGGERS = 3


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def system_counts() -> dict[str, int]:
    """Programs, maps and links on the whole system (bpftool if present, else bpf(2) ids)."""
    out: dict[str, int] = {}
    bpftool = shutil.which("bpftool")
    for kind, ids in (("prog", program_ids), ("map", map_ids), ("link", link_ids)):
        if bpftool:
            text = subprocess.run([bpftool, kind, "show", "-j"], capture_output=True,
                                  text=True, check=True).stdout
            out[kind] = len(json.loads(text or "[]"))
        else:
            out[kind] = sum(1 for _ in ids())
    return out


def programs_named(name: str) -> int:
    bpftool = shutil.which("bpftool")
    if bpftool is None:
        return -1
    text = subprocess.run([bpftool, "prog", "show", "-j"], capture_output=True, text=True,
                          check=True).stdout
    return sum(1 for p in json.loads(text or "[]") if p.get("name") == name)


class Soak:
    def __init__(self) -> None:
        self.raw = OBJECT.read_bytes()
        self.broken = BROKEN.read_bytes()
        # Ids as 4-byte array entries: the bookkeeping must not itself grow the RSS much
        # (a set of 50,000 ints costs megabytes, the arrays 200 KiB).
        self.created: dict[str, array[int]] = {k: array("I") for k in ("prog", "map", "link")}
        self.failures: dict[str, int] = {"verifier": 0, "attach": 0, "missing key": 0}

    def cycle(self, n: int) -> None:
        spec = load_collection_spec(self.raw)
        pid = os.getpid()
        spec.variables["target_tgid"].set(pid)
        with Collection(spec) as coll:
            prog = coll.programs[PROGRAM]
            self.created["prog"].append(prog.info().id)
            for m in coll.maps.values():
                self.created["map"].append(m.info().id)
            with link.raw_tracepoint("sys_enter", prog) as lk:
                self.created["link"].append(lk.info().id)
                for _ in range(TRIGGERS):
                    os.getpid()
            count = coll.maps["calls"][pid]  # decoded by BTF: an int
            if count != TRIGGERS:
                raise AssertionError(f"cycle {n}: the program counted {count} calls, not "
                                     f"{TRIGGERS}")
            with Reader(coll.maps["events"]) as reader:
                seqs = [int.from_bytes(reader.read(timeout=5).sample[8:16], "little")
                        for _ in range(TRIGGERS)]
            if seqs != list(range(1, TRIGGERS + 1)):
                raise AssertionError(f"cycle {n}: ring buffer records {seqs}")
            if n % 3 == 2:
                try:
                    coll.maps["calls"][pid + 1]
                except KeyNotFoundError:
                    self.failures["missing key"] += 1
                else:
                    raise AssertionError(f"cycle {n}: a missing key was found")
        if n % 3 == 0:
            try:
                Collection(load_collection_spec(self.broken)).close()
            except VerifierError:
                self.failures["verifier"] += 1
            else:
                raise AssertionError(f"cycle {n}: the broken program loaded")
        elif n % 3 == 1:
            with Collection(load_collection_spec(self.raw)) as coll:
                try:
                    link.raw_tracepoint("no_such_tracepoint", coll.programs[PROGRAM]).close()
                except EbpfError:
                    self.failures["attach"] += 1
                else:
                    raise AssertionError(f"cycle {n}: attached to a missing raw tracepoint")

    def still_alive(self) -> dict[str, int]:
        """How many of the objects the cycles created still exist. The kernel frees a program
        or map in deferred work after its last reference is dropped: the objects of the last
        cycle may take a moment, so this waits up to 10 s for the count to reach zero."""
        deadline = time.monotonic() + 10
        while True:
            live = {"prog": set(program_ids()), "map": set(map_ids()),
                    "link": set(link_ids())}
            alive = {kind: len(set(ids) & live[kind]) for kind, ids in self.created.items()}
            if not any(alive.values()) or time.monotonic() > deadline:
                return alive
            time.sleep(0.05)


def measure() -> tuple[int, int, dict[str, int]]:
    gc.collect()
    return open_fds(), rss_kib(), system_counts()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cycles", type=int, default=10_000, help="cycles to run (default 10000)")
    p.add_argument("--minutes", type=float, default=None,
                   help="stop after this long even if fewer cycles ran")
    p.add_argument("--warmup", type=int, default=100,
                   help="cycles before the baseline is taken (default 100)")
    p.add_argument("--rss-slack", type=float, default=8.0,
                   help="MiB the resident size may end above the baseline (default 8)")
    args = p.parse_args(argv)
    soak = Soak()
    for n in range(args.warmup):
        soak.cycle(n)
    fds0, rss0, sys0 = measure()
    print(f"baseline after {args.warmup} warm-up cycles: {fds0} fds, RSS {rss0 / 1024:.1f} MiB, "
          f"system: {sys0}", flush=True)
    start = time.monotonic()
    deadline = start + args.minutes * 60 if args.minutes else None
    done = 0
    rss_trace: list[tuple[int, int]] = []
    for n in range(args.warmup, args.warmup + args.cycles):
        soak.cycle(n)
        done += 1
        if done % 1000 == 0:
            rss_trace.append((done, rss_kib()))
            print(f"  {done} cycles, {time.monotonic() - start:.0f} s, {open_fds()} fds, "
                  f"RSS {rss_trace[-1][1] / 1024:.1f} MiB", flush=True)
        if deadline is not None and time.monotonic() > deadline:
            break
    took = time.monotonic() - start
    fds1, rss1, sys1 = measure()
    alive = soak.still_alive()
    named = programs_named(PROGRAM)
    sys1 = system_counts()
    created = {k: len(v) for k, v in soak.created.items()}
    print(f"{done} cycles in {took:.0f} s ({took / max(done, 1) * 1000:.1f} ms each); "
          f"failures raised as expected: {soak.failures}")
    print(f"fds: baseline {fds0}, end {fds1}")
    print(f"RSS: baseline {rss0 / 1024:.1f} MiB, end {rss1 / 1024:.1f} MiB "
          f"({(rss1 - rss0) / 1024:+.2f} MiB, {(rss1 - rss0) / max(done, 1):+.2f} KiB per cycle)")
    print(f"kernel objects created: {created}; still alive: {alive}; programs named "
          f"{PROGRAM!r} on the system: {named}")
    print(f"system-wide: baseline {sys0}, end {sys1}")
    problems = []
    if fds1 != fds0:
        problems.append(f"{fds1 - fds0:+d} file descriptors")
    if any(alive.values()):
        problems.append(f"kernel objects still alive: {alive}")
    if named > 0:
        problems.append(f"{named} programs named {PROGRAM!r} left")
    if (rss1 - rss0) / 1024 > args.rss_slack:
        problems.append(f"RSS grew {(rss1 - rss0) / 1024:.1f} MiB (> {args.rss_slack})")
    if problems:
        print("soak: FAILED: " + "; ".join(problems))
        return 1
    print("soak: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
