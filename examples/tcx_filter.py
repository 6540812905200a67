#!/usr/bin/env python3
"""Count, and drop, UDP datagrams to one port as they arrive on an interface (tcx ingress).

Run as root from the repository root (needs ``ip`` from iproute2 for the demonstration):

    python3 examples/tcx_filter.py [--port 9999] [--packets 5] [--count-only]
    python3 examples/tcx_filter.py --interface eth0 --seconds 10 [--port 53 --count-only]

``examples/bpf/tcx_filter.c`` is a ``SEC("tcx/ingress")`` program; its port and whether it
drops are ``const volatile`` settings, set before loading. ``ebpf.link.attach(prog,
interface=...)`` attaches it to the interface's ingress hook with a tcx bpf_link (Linux 6.6+;
on older kernels the library falls back to a tc clsact filter, and the Link says so).

Without ``--interface`` the example builds its own little network: a network namespace and a
veth pair, one end in this namespace (where the filter goes) and one in the new one. A
process in the new namespace sends ``--packets`` datagrams to the filtered port and as many to
another port; the example reports which arrived, and what the program counted (``.bss``
variables). Everything it made is removed at the end.

With ``--interface`` it watches a real interface for ``--seconds`` instead.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import ebpf
from ebpf import link

_ORDER = "el" if sys.byteorder == "little" else "eb"
OBJECT = Path(__file__).resolve().parent / "bpf" / f"tcx_filter-{_ORDER}.elf"

# Run by the sender in the other namespace: N datagrams to each port given, in that order.
SENDER = """
import socket, sys
host, n = sys.argv[1], int(sys.argv[2])
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    for port in sys.argv[3:]:
        for i in range(n):
            s.sendto(b"datagram %d" % i, (host, int(port)))
"""


@dataclass
class Network:
    """The demonstration's network: ``interface`` here, its peer in namespace ``netns``."""

    netns: str
    interface: str
    address: str
    peer_address: str


def ip(*args: str) -> None:
    """Run ``ip`` (iproute2) with ``args``; its error message ends the example."""
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"tcx_filter: ip {' '.join(args)}: {proc.stderr.strip()}")


@contextmanager
def veth_network() -> Iterator[Network]:
    """A veth pair between this network namespace and a new one, removed afterwards."""
    pid = os.getpid()
    net = Network(netns=f"ebpf-example-{pid}", interface=f"ebpfex{pid}",
                  address=f"198.18.{pid % 250}.1", peer_address=f"198.18.{pid % 250}.2")
    ip("netns", "add", net.netns)
    try:
        ip("link", "add", net.interface, "type", "veth", "peer", "name", "eth0",
           "netns", net.netns)
        ip("addr", "add", f"{net.address}/30", "dev", net.interface)
        ip("link", "set", net.interface, "up")
        ip("-n", net.netns, "addr", "add", f"{net.peer_address}/30", "dev", "eth0")
        ip("-n", net.netns, "link", "set", "eth0", "up")
        yield net
    finally:
        ip("netns", "delete", net.netns)        # takes the veth pair with it


def udp_socket(address: str, port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((address, port))
    return s


def received(s: socket.socket, expected: int, timeout: float) -> int:
    """How many datagrams ``s`` receives, waiting up to ``timeout`` s for ``expected``."""
    n = 0
    deadline = time.monotonic() + timeout
    while n < expected and (left := deadline - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            s.recv(2048)
        except TimeoutError:
            break
        n += 1
    return n


def demonstrate(net: Network, blocked: socket.socket, other: socket.socket,
                packets: int) -> None:
    ports = [blocked.getsockname()[1], other.getsockname()[1]]
    print(f"Sending {packets} datagrams to port {ports[0]}, then {packets} to port "
          f"{ports[1]}, from {net.peer_address} (namespace {net.netns}) to {net.address} ...")
    subprocess.run(["ip", "netns", "exec", net.netns, sys.executable, "-c", SENDER,
                    net.address, str(packets), *map(str, ports)], check=True, timeout=60)
    # The second port's datagrams came after the first's: once they are in, the others
    # had their chance.
    arrived_other = received(other, packets, timeout=5.0)
    arrived_blocked = received(blocked, packets, timeout=0.2)
    print(f"  port {ports[0]:<5} (filtered): {arrived_blocked} of {packets} arrived")
    print(f"  port {ports[1]:<5} (other):    {arrived_other} of {packets} arrived")


def load(port: int, drop: bool) -> ebpf.Collection:
    """The filter for ``port``: the constants are set on the spec, before loading."""
    spec = ebpf.load_collection_spec(OBJECT)
    spec.variables["port"].set(port)
    spec.variables["drop"].set(drop)
    return ebpf.Collection(spec)


def report(coll: ebpf.Collection) -> None:
    counts = {name: coll.variables[name].get() for name in ("packets", "matched", "dropped")}
    print(f"\nThe filter counted: packets={counts['packets']} (all it saw, ARP and IPv6 too) "
          f"matched={counts['matched']} dropped={counts['dropped']}")


def watch(interface: str, port: int, drop: bool, seconds: float) -> None:
    with load(port, drop) as coll:
        prog = coll.programs["udp_filter"]
        with link.attach(prog, interface=interface) as attached:
            print(f"Attached to the ingress of {interface}: {attached!r}")
            print(f"{'Dropping' if drop else 'Counting'} UDP to port {port} for {seconds:g} s")
            time.sleep(seconds)
        report(coll)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0,
                        help="the UDP port to filter (default: one the demo listens on)")
    parser.add_argument("--count-only", action="store_true", help="count, do not drop")
    parser.add_argument("--packets", type=int, default=5, help="datagrams the demo sends")
    parser.add_argument("--interface", help="watch this interface instead of the demo's")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="how long to watch --interface")
    args = parser.parse_args(argv)
    drop = not args.count_only
    if args.interface:
        if not args.port:
            parser.error("--interface needs --port")
        watch(args.interface, args.port, drop, args.seconds)
        return 0

    with veth_network() as net, udp_socket(net.address, args.port) as blocked, \
            udp_socket(net.address, 0) as other:
        port = blocked.getsockname()[1]
        with load(port, drop) as coll:
            prog = coll.programs["udp_filter"]
            with link.attach(prog, interface=net.interface) as attached:
                print(f"Attached {prog.name!r} ({prog.section_name}) to {net.interface}: "
                      f"{attached!r}")
                print(f"Programs on the ingress of {net.interface}: "
                      f"{list(link.query(net.interface, 'ingress').program_ids)}")
                print(f"{'Dropping' if drop else 'Counting'} UDP to port {port}.\n")
                demonstrate(net, blocked, other, args.packets)
            report(coll)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ebpf.EbpfError, OSError) as e:   # not root, no such interface or file ...
        sys.exit(f"tcx_filter: {e}")
