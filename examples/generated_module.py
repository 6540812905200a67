#!/usr/bin/env python3
"""Use a typed Python module that ``ebpf gen`` wrote for a BPF object.

Run as root from the repository root:

    python3 examples/generated_module.py [--no-drop]

It imports ``examples/xdp_counter_objects.py``, which ``ebpf gen`` wrote (it is committed;
after changing the object, regenerate it, and ``--check`` tells whether it is stale):

    python3 -m ebpf gen examples/bpf/xdp_counter-el.elf -o examples/xdp_counter_objects.py

``ebpf gen`` reads the object (here the one ``examples/xdp_counter.py`` uses: an XDP program,
a hash map, and ``.rodata``/``.data``/``.bss`` globals) and writes a module with the object
embedded and everything about it typed: an ``Objects`` dataclass with one field per program
and map, typed views of the maps (``objs.proto_counts_view`` is a ``TypedMap[int, int]``), a
``Variables`` class with one property per global variable, and ``load()``, which takes the
``const volatile`` constants as keyword arguments. Names are checked by mypy, not looked up
in dictionaries at run time: a typo in ``objs.variables.total_pakets`` fails type checking.

The example loads the program with ICMP dropping on (or off), runs it on a few packets with
``test_run`` and prints what the typed views and variables read back.
"""

from __future__ import annotations

import argparse
import struct
import sys

try:
    from xdp_counter_objects import load
except ImportError:
    print("generated_module: generate the module first:\n"
          "    python3 -m ebpf gen examples/bpf/xdp_counter-el.elf "
          "-o examples/xdp_counter_objects.py", file=sys.stderr)
    raise SystemExit(1) from None

XDP_VERDICTS = {1: "XDP_DROP", 2: "XDP_PASS"}


def ipv4_packet(protocol: int, payload: int) -> bytes:
    """An Ethernet frame carrying an IPv4 header (checksum left 0) and ``payload`` bytes."""
    eth = bytes.fromhex("ffffffffffff" "020000000001") + struct.pack("!H", 0x0800)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload, 0, 0, 64, protocol, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return eth + ip + bytes(payload)


PACKETS = [("TCP", ipv4_packet(6, 40)), ("ICMP", ipv4_packet(1, 56)),
           ("UDP", ipv4_packet(17, 12)), ("ICMP", ipv4_packet(1, 8)),
           ("TCP", ipv4_packet(6, 1000))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--no-drop", action="store_true", help="let ICMP through")
    args = parser.parse_args(argv)

    # The constant is a keyword argument of load(); the result owns every object.
    with load(drop_icmp=0 if args.no_drop else 1) as objs:
        print(f"Loaded {objs.count_packets!r} with drop_icmp={objs.variables.drop_icmp}")
        for what, packet in PACKETS:
            result = objs.count_packets.test_run(packet)
            print(f"  {what:<5} {len(packet):>5} bytes -> "
                  f"{XDP_VERDICTS.get(result.retval, result.retval)}")

        counts = objs.proto_counts_view        # TypedMap[int, int]: protocol -> packets
        print("\nproto_counts:", ", ".join(f"{proto}={n}" for proto, n in sorted(counts.items())))
        v = objs.variables                      # typed properties over the live globals
        print(f"total_packets={v.total_packets} total_bytes={v.total_bytes} "
              f"last_protocol={v.last_protocol}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
