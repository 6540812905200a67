#!/usr/bin/env python3
"""How big are the blocks a program asks malloc() for? A uprobe on libc's malloc, as a histogram.

Run as root from the repository root:

    python3 examples/uprobe_malloc.py -- ls -lR /usr/share/doc    # trace one command
    python3 examples/uprobe_malloc.py --pid 1234 --seconds 5      # a running process
    python3 examples/uprobe_malloc.py --seconds 2                 # every process

``examples/bpf/uprobe_malloc.c`` is a ``SEC("uprobe/libc.so.6:malloc")`` program: the
section names the library and the function, so ``ebpf.link.attach(prog, pid=...)`` finds
``libc.so.6`` the way the dynamic loader would (its search path and cache), looks up
``malloc`` in its symbol table and attaches a uprobe there. With a pid, the kernel plants the
probe in that process only; other processes run their malloc() untouched.

Each call adds one to the log2 slot of its size in an array map (slot N: sizes from 2^N to
2^(N+1)-1), and to two ``.bss`` variables (calls, bytes). When the command exits, the time
is up, or the process is gone, the example prints the histogram with ``ebpf.histogram``.

A command is started stopped: the example forks, attaches to the child's pid, and only then
lets the child exec the command, so that its very first malloc() is seen.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import ebpf
from ebpf import link
from ebpf.histogram import counts_from_map, log2_histogram

_ORDER = "el" if sys.byteorder == "little" else "eb"
OBJECT = Path(__file__).resolve().parent / "bpf" / f"uprobe_malloc-{_ORDER}.elf"


def start_stopped(command: list[str]) -> tuple[int, int]:
    """Fork a child that execs ``command`` once a byte arrives on the returned pipe end.

    Returns (pid, the write end of the pipe)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:                                # the child: wait, then become the command
        try:
            os.close(write_end)
            if os.read(read_end, 1):
                os.execvp(command[0], command)
        except OSError as e:
            print(f"uprobe_malloc: cannot run {command[0]}: {e.strerror}", file=sys.stderr)
        os._exit(127)
    os.close(read_end)
    return pid, write_end


def wait(pid: int, seconds: float | None) -> None:
    """Until ``seconds`` have passed, or process ``pid`` (not a child) is gone."""
    deadline = time.monotonic() + seconds if seconds is not None else None
    while deadline is None or time.monotonic() < deadline:
        if pid > 0 and not os.path.exists(f"/proc/{pid}"):
            return
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pid", type=int, help="trace this running process")
    parser.add_argument("--seconds", type=float, help="stop after this many seconds")
    parser.add_argument("command", nargs="*", help="a command to run and trace")
    args = parser.parse_args(argv)
    if args.command and args.pid is not None:
        parser.error("give a command or --pid, not both")
    if not args.command and args.pid is None and args.seconds is None:
        parser.error("tracing every process needs --seconds")

    status = 0
    with ebpf.load_collection(OBJECT) as coll:
        prog = coll.programs["count_malloc"]
        if args.command:
            pid, go = start_stopped(args.command)
            with link.attach(prog, pid=pid) as attached:
                print(f"Attached {prog.section_name!r} to pid {pid}: {attached!r}")
                os.write(go, b"!")              # now the child may exec the command
                os.close(go)
                status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            print(f"{args.command[0]} (pid {pid}) exited with status {status}\n")
        else:
            pid = -1 if args.pid is None else args.pid
            with link.attach(prog, pid=pid) as attached:
                who = "every process" if pid == -1 else f"pid {pid}"
                print(f"Attached {prog.section_name!r} to {who}: {attached!r}")
                wait(pid, args.seconds)
            print()

        calls = coll.variables["calls"].get()
        requested = coll.variables["bytes_requested"].get()
        print(f"malloc() calls: {calls}, bytes requested: {requested}\n")
        # The array map is the histogram: slot N's count under key N.
        counts = counts_from_map(coll.maps["sizes_log2"])
        print(log2_histogram(counts, unit="size (bytes)", strip_leading_zeros=True)
              or "no malloc() calls")
    return 0 if status == 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ebpf.EbpfError, OSError) as e:   # not root, no such interface or file ...
        sys.exit(f"uprobe_malloc: {e}")
