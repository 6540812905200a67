#!/usr/bin/env python3
"""Trace the USDT probes of a user-space program and print each firing's arguments.

Run as root from the repository root:

    python3 examples/usdt_probe.py                     # builds and traces examples/usdt_target.c
    python3 examples/usdt_probe.py 8                   # ... handling 8 requests
    python3 examples/usdt_probe.py --binary /usr/bin/python3.11 \\
        --probe python:function__entry --text-arg 1 --pid 1234 --seconds 5

USDT probes (``<sys/sdt.h>``, DTrace-style "statically defined tracing") are markers a
program's authors put in its code; ``readelf -n`` lists them. ``examples/bpf/usdt_probe.c``
is a ``SEC("usdt")`` program built with libbpf's ``<bpf/usdt.bpf.h>``: ``ebpf.link.usdt()``
reads the probe's ELF note, tells the program where each argument lives (in a map the header
defines) and attaches a uprobe at every site of the probe. The program reads the arguments
with ``bpf_usdt_arg()`` and sends them through a ring buffer; ``ebpf.ringbuf.Reader`` decodes
each record by its BTF type. ``--text-arg`` (a ``const volatile`` setting) names an argument
that is a C string, which the program copies too.

Without ``--pid`` the example runs the binary itself (with the arguments given), attached
before the program's first instruction, and reads until it exits. Without ``--binary`` it
compiles ``examples/usdt_target.c`` first (needs ``cc`` and ``<sys/sdt.h>``: Debian's
``systemtap-sdt-dev``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import ebpf
from ebpf import link, ringbuf

HERE = Path(__file__).resolve().parent
_ORDER = "el" if sys.byteorder == "little" else "eb"
OBJECT = HERE / "bpf" / f"usdt_probe-{_ORDER}.elf"
TARGET_SOURCE = HERE / "usdt_target.c"
DEMO_PROBES = ["demo:request", "demo:done"]


def build_target(directory: str) -> Path:
    """Compile ``examples/usdt_target.c`` into ``directory``."""
    exe = Path(directory) / "usdt_target"
    try:
        subprocess.run(["cc", "-O2", "-o", str(exe), str(TARGET_SOURCE)], check=True,
                       capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        detail = e.stderr if isinstance(e, subprocess.CalledProcessError) else e
        raise SystemExit(f"usdt_probe: cannot compile {TARGET_SOURCE.name} (needs cc and "
                         f"<sys/sdt.h>, Debian package systemtap-sdt-dev):\n{detail}") from None
    return exe


def start_stopped(command: list[str]) -> tuple[int, int]:
    """Fork a child that execs ``command`` once a byte arrives on the returned pipe end.

    Returns (pid, the write end of the pipe)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:                                # the child: wait, then become the command
        try:
            os.close(write_end)
            if os.read(read_end, 1):
                os.execv(command[0], command)
        except OSError as e:
            print(f"usdt_probe: cannot run {command[0]}: {e.strerror}", file=sys.stderr)
        os._exit(127)
    os.close(read_end)
    return pid, write_end


def show(event: dict[str, Any], probes: list[str], text_arg: int) -> None:
    args = event["args"][:event["arg_cnt"]]
    shown = [repr(event["text"]) if i == text_arg else str(a) for i, a in enumerate(args)]
    print(f"  pid {event['pid']:<7} {probes[event['cookie']]:<24} ({', '.join(shown)})")


def drain(events: ringbuf.Reader, probes: list[str], text_arg: int, timeout: float) -> int:
    """Print the events that arrive within ``timeout`` seconds (0: those there now)."""
    n = 0
    deadline = time.monotonic() + timeout
    while True:
        try:
            record = events.read(timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            return n
        show(record.value, probes, text_arg)
        n += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--binary", help="the executable or library with the probes "
                        "(default: examples/usdt_target.c, compiled)")
    parser.add_argument("--probe", action="append",
                        help=f"PROVIDER:NAME, repeatable (default: {', '.join(DEMO_PROBES)})")
    parser.add_argument("--text-arg", type=int,
                        help="the argument (from 0) that is a C string (demo default: 2)")
    parser.add_argument("--pid", type=int, help="trace this running process")
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="how long to trace --pid (default 5)")
    parser.add_argument("args", nargs="*", help="arguments for the binary when it is run")
    args = parser.parse_args(argv)
    if args.binary is None and args.probe is None:
        args.probe = DEMO_PROBES
        if args.text_arg is None:
            args.text_arg = 2
    if not args.probe:
        parser.error("--binary needs --probe PROVIDER:NAME")
    text_arg = -1 if args.text_arg is None else args.text_arg

    with ExitStack() as stack:
        binary = args.binary
        if binary is None:
            binary = str(build_target(stack.enter_context(tempfile.TemporaryDirectory())))
        spec = ebpf.load_collection_spec(OBJECT)
        spec.variables["text_arg"].set(text_arg)
        coll = stack.enter_context(ebpf.Collection(spec))
        prog = coll.programs["on_probe"]
        events = stack.enter_context(
            ringbuf.Reader(coll.maps["events"], decode="probe_event", types=spec.types))

        go = -1
        pid = args.pid
        if pid is None:
            pid, go = start_stopped([binary, *args.args])
        for cookie, probe in enumerate(args.probe):
            provider, _, name = probe.partition(":")
            # One Link for every site of the probe; the cookie tells the firings apart.
            attached = stack.enter_context(
                link.usdt(binary, provider, name, prog, pid=pid, cookie=cookie))
            print(f"Attached to {probe} in {Path(binary).name}: {len(attached.links)} site(s)")
        print()

        if go >= 0:                             # run the binary, then read what it left
            os.write(go, b"!")
            os.close(go)
            status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            n = drain(events, args.probe, text_arg, timeout=0)
            print(f"\n{n} firings; {Path(binary).name} (pid {pid}) exited with status "
                  f"{status}")
            return 0 if status == 0 else 1
        n = drain(events, args.probe, text_arg, timeout=args.seconds)
        print(f"\n{n} firings in {args.seconds:g} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ebpf.EbpfError, OSError) as e:   # not root, no such interface or file ...
        sys.exit(f"usdt_probe: {e}")
