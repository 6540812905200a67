#!/usr/bin/env python3
"""The main demo: attach a BPF program to the kernel and watch every exec() on the machine live.

Run as root from the repository root:

    python3 -m pip install -e . && python3 examples/demo.py [--seconds 5]

What it shows:

1. ``ebpf.load_collection_spec`` reads ``examples/bpf/exec_events-el.elf`` (built by clang
   from ``exec_events.c``): a ``tp_btf/sched_process_exec`` program compiled once against
   ``vmlinux.h`` (CO-RE), a ring buffer, a hash map and an array.
2. ``spec.load_and_assign(Objects())`` loads it, relocated for the running kernel.
3. ``ebpf.link.attach(program)`` attaches it where its ELF section says: the kernel's
   ``sched_process_exec`` tracepoint. From then on every exec() on the machine runs it.
4. ``ebpf.ringbuf.Reader`` reads the events the program sends, decoded by the BTF type
   ``struct exec_event`` into dicts, as they happen. The demo starts a few commands of its own
   so that there is always something to see; whatever else the machine runs shows up too.
5. After a few seconds the link is closed (the program detaches) and the maps are read: the
   execs per command, and a log2 histogram of how many arguments they had.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import ebpf
from ebpf import link, ringbuf

_ORDER = "el" if sys.byteorder == "little" else "eb"
OBJECT = Path(__file__).resolve().parent / "bpf" / f"exec_events-{_ORDER}.elf"

# What the demo runs itself, a little apart, while it watches.
COMMANDS = [["uname", "-r"], ["ls", "/"], ["sh", "-c", "true"], ["date", "+%s"],
            ["id", "-u"], ["cat", "/proc/loadavg"], ["sleep", "0.1"]]


@dataclass
class Objects(ebpf.Objects):
    """What the demo takes out of the object file (field names are the ELF names)."""

    trace_exec: ebpf.Program = ebpf.field()
    events: ebpf.Map = ebpf.field()
    execs_by_comm: ebpf.Map = ebpf.field()
    argc_log2: ebpf.Map = ebpf.field()


def run_commands(stop: threading.Event, interval: float) -> None:
    """Start the demo's own commands every ``interval`` seconds until ``stop``."""
    i = 0
    while not stop.wait(interval):
        subprocess.run(COMMANDS[i % len(COMMANDS)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        i += 1


def log2_histogram(counts: list[int], label: str) -> list[str]:
    """Rows of a log2 histogram in the style of the BPF tracing tools."""
    last = max((i for i, c in enumerate(counts) if c), default=-1)
    if last < 0:
        return [f"{label}: no data"]
    top = max(counts)
    rows = [f"{label:>22} : count    distribution"]
    for slot in range(last + 1):
        lo, hi = (0, 1) if slot == 0 else (1 << slot, (1 << (slot + 1)) - 1)
        bar = "*" * round(40 * counts[slot] / top)
        rows.append(f"{lo:>10} -> {hi:<10} : {counts[slot]:<8} |{bar:<40}|")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to watch")
    args = parser.parse_args()

    spec = ebpf.load_collection_spec(OBJECT)
    print(f"Read {OBJECT.name}: {spec}")
    with spec.load_and_assign(Objects()) as objs:
        prog = objs.trace_exec
        print(f"Loaded {prog!r} from section {prog.section_name!r}")
        with link.attach(prog) as attached, ringbuf.Reader(
                objs.events, decode="exec_event", types=spec.types) as events:
            print(f"Attached: {attached!r}")
            print(f"Watching exec() for {args.seconds:g} s ...\n")
            print(f"{'TIME':>6}  {'PID':>7}  {'PPID':>7}  {'PARENT':<16} {'COMM':<16} "
                  f"{'ARGC':>4}  FILE")
            stop = threading.Event()
            worker = threading.Thread(target=run_commands, args=(stop, 0.4), daemon=True)
            worker.start()
            start = time.monotonic()
            deadline = start + args.seconds
            seen = 0
            try:
                while (left := deadline - time.monotonic()) > 0:
                    try:
                        rec = events.read(timeout=left)
                    except TimeoutError:
                        break
                    e = rec.value
                    seen += 1
                    print(f"{time.monotonic() - start:6.2f}  {e['pid']:>7}  {e['ppid']:>7}  "
                          f"{e['parent']:<16} {e['comm']:<16} {e['argc']:>4}  "
                          f"{e['filename']}", flush=True)
            finally:
                stop.set()
                worker.join()
        print(f"\nDetached after {seen} events.\n")

        print("Execs by command:")
        by_comm = sorted(objs.execs_by_comm.items(), key=lambda kv: (-kv[1], kv[0]))
        for comm, n in by_comm[:10]:
            print(f"  {comm:<16} {n}")
        print()
        counts = [objs.argc_log2[i] for i in range(16)]
        print("\n".join(log2_histogram(counts, "arguments")))
    return 0 if seen else 1


if __name__ == "__main__":
    sys.exit(main())
