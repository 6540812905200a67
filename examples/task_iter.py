#!/usr/bin/env python3
"""List the processes on the machine with a BPF task iterator, like a tiny ``ps``.

Run as root from the repository root:

    python3 examples/task_iter.py [--threads] [--comm python3] [--pid 1]

``examples/bpf/task_iter.c`` is a ``SEC("iter/task")`` program. ``ebpf.link.attach()``
makes an iterator link of it; every read of that link walks the kernel's task list and runs
the program once per task, and what the program prints with ``BPF_SEQ_PRINTF`` is the text
the reader gets (``IterLink.read_lines()``; ``IterLink.open()`` gives a file to stream it).

A ``const volatile`` setting chooses, before loading, whether every thread gets a line or
only each process's main thread; ``--pid`` limits the walk to one process (the kernel
filters: the program runs for that process's tasks only); ``--comm`` filters in Python.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import ebpf
from ebpf import link

_ORDER = "el" if sys.byteorder == "little" else "eb"
OBJECT = Path(__file__).resolve().parent / "bpf" / f"task_iter-{_ORDER}.elf"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--threads", action="store_true", help="one line per thread")
    parser.add_argument("--pid", type=int, help="list only this process's tasks")
    parser.add_argument("--comm", help="print only tasks with this command name")
    args = parser.parse_args(argv)

    spec = ebpf.load_collection_spec(OBJECT)
    spec.variables["all_threads"].set(args.threads)   # .rodata: fixed before the verifier runs
    with ebpf.Collection(spec) as coll:
        prog = coll.programs["list_tasks"]
        # The section says "iter/task": attach() makes a task iterator link.
        with link.attach(prog, pid=args.pid) as it:
            assert isinstance(it, link.IterLink)
            lines = it.read_lines()                  # one walk of the task list
    if not lines:                                    # the walk found no task at all
        print(f"no task with pid {args.pid}" if args.pid is not None else "no tasks")
        return 1
    header, rows = lines[0], lines[1:]
    if args.comm is not None:
        rows = [row for row in rows if row.split(None, 3)[3:] == [args.comm]]
    print(header)
    print("\n".join(rows))
    kind = "threads" if args.threads else "processes"
    print(f"\n{len(rows)} {kind}, listed by the BPF program {prog.name!r} "
          f"(section {prog.section_name!r})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ebpf.EbpfError, OSError) as e:   # not root, no such interface or file ...
        sys.exit(f"task_iter: {e}")
