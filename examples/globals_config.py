#!/usr/bin/env python3
"""Configure a BPF program through its global variables, and read its results from them.

Run as root from the repository root:

    python3 examples/globals_config.py [--calls 10] [--weight 100]

``examples/bpf/globals_config.c`` counts the ``getpid()`` calls of one thread, on the
``sys_enter`` raw tracepoint (every system call entry on the machine runs it). Its three
kinds of global variable are three ways to talk to it:

1. ``const volatile`` variables (``.rodata``: ``target_tid``, ``syscall_nr``) are set on the
   spec *before* loading. The verifier sees their values, and after loading they are frozen:
   writing one is refused.
2. Initialised variables (``.data``: ``weight``) start with the value in the object (or the
   one set on the spec) and can be changed from Python while the program runs.
3. Zero-initialised variables (``.bss``: ``calls``, ``weighted_calls``) are where the program
   leaves its results; Python reads them through the live map.

The example makes ``--calls`` getpid() calls with weight 1, sets the weight to ``--weight``
and makes as many again, then detaches and makes a last round that nobody counts.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import threading
from pathlib import Path

import ebpf
from ebpf import link

_ORDER = "el" if sys.byteorder == "little" else "eb"
OBJECT = Path(__file__).resolve().parent / "bpf" / f"globals_config-{_ORDER}.elf"

# getpid's system call number, which differs between architectures.
GETPID = {"x86_64": 39, "aarch64": 172, "riscv64": 172, "i686": 20, "s390x": 20,
          "ppc64le": 20}


def make_calls(n: int) -> None:
    """``n`` getpid() system calls (glibc does not cache the pid: each one enters the kernel)."""
    for _ in range(n):
        os.getpid()


def show(variables: dict[str, ebpf.Variable], when: str) -> None:
    print(f"  {when:<32} calls={variables['calls'].get():<4} "
          f"weighted_calls={variables['weighted_calls'].get()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=10, help="getpid() calls per round")
    parser.add_argument("--weight", type=int, default=100, help="the weight of round two")
    args = parser.parse_args(argv)
    nr = GETPID.get(platform.machine())
    if nr is None:
        print(f"globals_config: no getpid syscall number known for {platform.machine()}",
              file=sys.stderr)
        return 1

    spec = ebpf.load_collection_spec(OBJECT)
    print(f"Global variables of {OBJECT.name}:")
    for name, var in sorted(spec.variables.items()):
        kind = "constant" if var.constant else "variable"
        print(f"  {name:<16} {var.section:<8} {kind:<8} initial value {var.get()}")

    # Before loading: the constants say which thread and which system call to count.
    tid = threading.get_native_id()
    spec.variables["target_tid"].set(tid)
    spec.variables["syscall_nr"].set(nr)
    print(f"\nSet target_tid = {tid} (this thread) and syscall_nr = {nr} (getpid) "
          "before loading.\n")

    with ebpf.Collection(spec) as coll:
        # The loaded collection's variables read and write the live maps.
        variables, weight = coll.variables, coll.variables["weight"]
        try:
            variables["target_tid"].set(1)
        except ebpf.EbpfError as e:
            print(f"After loading, the constants are frozen: {e}\n")
        with link.attach(coll.programs["count_syscalls"]) as attached:
            print(f"Attached: {attached!r}")
            make_calls(args.calls)
            show(variables, f"after {args.calls} calls, weight {weight.get()}:")
            weight.set(args.weight)            # .data: changes what the running program adds
            make_calls(args.calls)
            show(variables, f"after {args.calls} more, weight {weight.get()}:")
        make_calls(args.calls)                 # detached: not counted
        show(variables, f"after {args.calls} more, detached:")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ebpf.EbpfError, OSError) as e:   # not root, no such interface or file ...
        sys.exit(f"globals_config: {e}")
