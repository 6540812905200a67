#!/usr/bin/env python3
"""Load a bundled BPF object, run it on crafted packets with test_run, read what it left.

Run as root from the repository root:

    python3 examples/xdp_counter.py

What it shows:

1. ``ebpf.load_collection_spec`` reads ``examples/bpf/xdp_counter-el.elf`` (clang-built from
   ``xdp_counter.c``): an XDP program, a BTF-defined hash map, and global variables in
   ``.rodata``, ``.data`` and ``.bss``.
2. A ``.rodata`` constant is set from Python before loading (``drop_icmp``).
3. ``spec.load_and_assign(Objects())`` loads the program, its maps and the global-data maps
   into the kernel and hands them to the fields of a dataclass.
4. ``prog.test_run()`` runs the program on packets built here (``BPF_PROG_TEST_RUN``: no
   network interface needed), and the demo prints each verdict.
5. The hash map and the global counters are read back; their BTF types decode them into
   Python ints and dicts.
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import ebpf

_ORDER = "el" if sys.byteorder == "little" else "eb"
OBJECT = Path(__file__).resolve().parent / "bpf" / f"xdp_counter-{_ORDER}.elf"

XDP_VERDICTS = {0: "XDP_ABORTED", 1: "XDP_DROP", 2: "XDP_PASS", 3: "XDP_TX", 4: "XDP_REDIRECT"}
PROTOCOLS = {1: "ICMP", 6: "TCP", 17: "UDP", 0xFFFF: "not IPv4"}


@dataclass
class Objects(ebpf.Objects):
    """What the demo takes out of the object file; field names are the ELF names."""

    count_packets: ebpf.Program = ebpf.field()
    proto_counts: ebpf.Map = ebpf.field()
    counters: ebpf.Map = ebpf.field(".bss")        # total_packets, total_bytes
    last: ebpf.Map = ebpf.field(".data")           # last_protocol


def ipv4_packet(protocol: int, payload: int) -> bytes:
    """An Ethernet frame carrying an IPv4 header (checksum left 0) and ``payload`` bytes."""
    eth = bytes.fromhex("ffffffffffff" "020000000001") + struct.pack("!H", 0x0800)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload, 0, 0, 64, protocol, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return eth + ip + bytes(payload)


PACKETS = [
    ("TCP SYN to port 80", ipv4_packet(6, 20)),
    ("UDP DNS query", ipv4_packet(17, 40)),
    ("ICMP echo request", ipv4_packet(1, 64)),
    ("TCP data segment", ipv4_packet(6, 1400)),
    ("ARP request", bytes.fromhex("ffffffffffff020000000001") + b"\x08\x06" + bytes(28)),
    ("UDP datagram", ipv4_packet(17, 100)),
    ("ICMP echo request", ipv4_packet(1, 8)),
    ("truncated IPv4", bytes.fromhex("ffffffffffff020000000001") + b"\x08\x00" + bytes(6)),
]


def main() -> int:
    spec = ebpf.load_collection_spec(OBJECT)
    print(f"Read {OBJECT.name}: programs {sorted(spec.programs)}, maps {sorted(spec.maps)}")
    spec.variables["drop_icmp"].set(1)      # a .rodata constant, fixed before the verifier runs
    print("Set the constant drop_icmp = 1 before loading.\n")

    with spec.load_and_assign(Objects()) as objs:
        prog = objs.count_packets
        print(f"Loaded {prog!r} and {objs.proto_counts!r};")
        print(f"running it on {len(PACKETS)} packets with test_run:\n")
        print(f"  {'#':>2}  {'packet':<20} {'bytes':>5}  {'verdict':<10} {'time':>8}")
        for i, (what, packet) in enumerate(PACKETS, 1):
            result = prog.test_run(packet)
            verdict = XDP_VERDICTS.get(result.retval, str(result.retval))
            print(f"  {i:>2}  {what:<20} {len(packet):>5}  {verdict:<10} "
                  f"{result.duration_ns:>5} ns")

        print("\nThe proto_counts map, read back from Python (keys and values decoded by BTF):\n")
        print(f"  {'protocol':<14} {'packets':>7}")
        print(f"  {'-' * 14} {'-' * 7}")
        for proto, n in sorted(objs.proto_counts.items()):
            name = f"{PROTOCOLS.get(proto, '?')} ({proto})" if proto != 0xFFFF else "not IPv4"
            print(f"  {name:<14} {n:>7}")

        bss = objs.counters[0]                   # the .bss section, as a dict of its variables
        last = objs.last[0]["last_protocol"]
        print(f"\nGlobal variables: total_packets={bss['total_packets']} "
              f"total_bytes={bss['total_bytes']} last_protocol={last}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
