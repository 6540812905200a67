#!/usr/bin/env python3
"""Refuse connections to one TCP/UDP port for the processes of a cgroup, with cgroup/connect4.

Run as root from the repository root:

    python3 examples/cgroup_connect.py [--port 8080]              # the demonstration
    python3 examples/cgroup_connect.py --port 80 -- curl http://example.com/   # your command

What it does:

1. Makes a new cgroup under the cgroup v2 hierarchy (found in ``/proc/mounts``).
2. Loads ``examples/bpf/cgroup_connect.c`` with the blocked port set as a ``const volatile``
   before loading, and attaches its ``SEC("cgroup/connect4")`` program to the new cgroup with
   ``ebpf.link.attach(prog, cgroup=path)``. From then on every IPv4 ``connect()`` of a
   process in that cgroup runs the program first, which refuses the blocked port: the call
   fails with ``EPERM``.
3. Without a command: listens on the blocked port and on a second one, and has a child
   process connect to both, once inside the cgroup and once outside. With a command after
   ``--``: runs it inside the cgroup.
4. Prints what the program counted (``.bss`` variables), detaches and removes the cgroup.
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import ebpf
from ebpf import link

_ORDER = "el" if sys.byteorder == "little" else "eb"
OBJECT = Path(__file__).resolve().parent / "bpf" / f"cgroup_connect-{_ORDER}.elf"

# Run by the demonstration's child: connect to each port given, print "PORT ERRNO" (0: ok).
CHILD = """
import socket, sys
for port in sys.argv[1:]:
    with socket.socket() as s:
        s.settimeout(5)
        print(port, s.connect_ex(("127.0.0.1", int(port))), flush=True)
"""


def cgroup2_mount() -> str:
    """Where the cgroup v2 hierarchy is mounted (``/sys/fs/cgroup`` on most systems)."""
    with open("/proc/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) > 2 and fields[2] == "cgroup2":
                return fields[1]
    raise SystemExit("cgroup_connect: no cgroup v2 hierarchy is mounted")


def joiner(cgroup: str) -> Callable[[], None]:
    """A ``preexec_fn`` that moves the new child process into ``cgroup`` before it execs."""

    def join() -> None:
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as procs:
            procs.write("0")                   # "0": the process that writes

    return join


def listener(port: int) -> socket.socket:
    """A TCP socket listening on 127.0.0.1:``port`` (0: any free port)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(8)
    return s


def demonstrate(cgroup: str, blocked: int) -> None:
    with listener(blocked) as target, listener(0) as other:
        ports = [str(target.getsockname()[1]), str(other.getsockname()[1])]
        for where, preexec in (("inside ", joiner(cgroup)), ("outside", None)):
            out = subprocess.run([sys.executable, "-c", CHILD, *ports], preexec_fn=preexec,
                                 capture_output=True, text=True, check=True, timeout=60)
            for line in out.stdout.splitlines():
                port, err = (int(x) for x in line.split())
                result = ("connected" if err == 0 else
                          f"refused: {errno.errorcode.get(err, err)} ({os.strerror(err)})")
                print(f"  {where} the cgroup: connect to 127.0.0.1:{port:<5} -> {result}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0,
                        help="the port to block (default: a free port the demo listens on)")
    parser.add_argument("command", nargs="*", help="a command to run inside the cgroup")
    args = parser.parse_args(argv)
    blocked = args.port
    if blocked == 0:                            # pick a free port for the demonstration
        with listener(0) as s:
            blocked = s.getsockname()[1]

    cgroup = os.path.join(cgroup2_mount(), f"ebpf-example-{os.getpid()}")
    os.mkdir(cgroup)
    try:
        spec = ebpf.load_collection_spec(OBJECT)
        spec.variables["blocked_port"].set(blocked)
        with ebpf.Collection(spec) as coll:
            prog = coll.programs["block_port"]
            with link.attach(prog, cgroup=cgroup) as attached:
                print(f"Made the cgroup {cgroup}")
                print(f"Attached {prog.name!r} ({prog.section_name}): {attached!r}")
                print(f"Connections to port {blocked} are refused inside the cgroup.\n")
                if args.command:
                    status = subprocess.run(args.command, preexec_fn=joiner(cgroup),
                                            check=False).returncode
                    print(f"\n{args.command[0]} exited with status {status}")
                else:
                    demonstrate(cgroup, blocked)
            refused = coll.variables["refused"].get()
            allowed = coll.variables["allowed"].get()
            print(f"\nThe program saw {refused + allowed} connect() calls in the cgroup: "
                  f"refused={refused} allowed={allowed}")
    finally:
        try:
            os.rmdir(cgroup)                    # empty again once its processes have exited
        except OSError as e:
            print(f"cgroup_connect: cannot remove {cgroup} (a process left running in it?): "
                  f"{e.strerror}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ebpf.EbpfError, OSError) as e:   # not root, no such interface or file ...
        sys.exit(f"cgroup_connect: {e}")
