#!/usr/bin/env python3
"""Count packets per IP protocol with an XDP program written in Python, run on crafted packets.

What it shows, in about a hundred lines of library use:

1. a hash map (``ebpf.MapSpec`` + ``ebpf.Map``) keyed by IP protocol number;
2. an XDP program assembled with ``ebpf.asm`` that bounds-checks the packet, reads the
   Ethernet type and the IPv4 protocol byte, counts the packet in the map, and drops ICMP;
3. loading it (the kernel's verifier checks it) and running it with ``Program.test_run`` on a
   few hand-made packets, without attaching it to any interface;
4. reading the map back from Python.

Run it as root (or with CAP_BPF and CAP_NET_ADMIN)::

    python3 examples/asm_demo.py        # add --show-program to print the disassembly
"""

from __future__ import annotations

import argparse
import errno
import struct
import sys

import ebpf
from ebpf import asm
from ebpf.asm import R0, R1, R2, R3, R4, R10, Helper, Size

XDP_DROP, XDP_PASS = 1, 2
VERDICTS = {0: "XDP_ABORTED", 1: "XDP_DROP", 2: "XDP_PASS", 3: "XDP_TX", 4: "XDP_REDIRECT"}

OTHER = 0x100          # map key for frames that are not IPv4 (or too short to tell)
PROTOCOLS = {1: "ICMP", 6: "TCP", 17: "UDP", 47: "GRE", 58: "ICMPv6", OTHER: "not IPv4"}

ETH_HLEN = 14
IP_PROTO_OFFSET = ETH_HLEN + 9   # the protocol byte of the IPv4 header


def build_program(counts: ebpf.Map) -> asm.Instructions:
    """XDP: counts[protocol] += 1; drop ICMP, pass everything else."""
    return asm.Instructions([
        # r2 = ctx->data, r3 = ctx->data_end (struct xdp_md: two u32 at offsets 0 and 4)
        asm.load_mem(R2, R1, 0, Size.W),
        asm.load_mem(R3, R1, 4, Size.W),
        # the key, a u32 at r10-4, defaults to OTHER
        asm.store_imm(R10, -4, OTHER, Size.W),
        # is there room up to and including the protocol byte?
        asm.mov.reg(R4, R2),
        asm.add.imm(R4, IP_PROTO_OFFSET + 1),
        asm.jgt.reg(R4, R3, "count"),
        # EtherType 0x0800 (IPv4), big-endian bytes 12-13
        asm.load_mem(R4, R2, 12, Size.B),
        asm.jne.imm(R4, 0x08, "count"),
        asm.load_mem(R4, R2, 13, Size.B),
        asm.jne.imm(R4, 0x00, "count"),
        # key = ip->protocol
        asm.load_mem(R4, R2, IP_PROTO_OFFSET, Size.B),
        asm.store_mem(R10, -4, R4, Size.W),

        "count:",
        # r0 = bpf_map_lookup_elem(&counts, &key)
        asm.load_map_ptr(R1, counts.fd),
        asm.mov.reg(R2, R10),
        asm.add.imm(R2, -4),
        asm.call(Helper.map_lookup_elem),
        asm.jeq.imm(R0, 0, "first"),
        # found: atomically add one to the u64 counter
        asm.mov.imm(R1, 1),
        asm.atomic_add(R0, 0, R1, Size.DW),
        asm.ja("verdict"),

        "first:",
        # not found: bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST); a packet on
        # another CPU may have created it meanwhile, which is fine for a demo
        asm.store_imm(R10, -16, 1, Size.DW),
        asm.load_map_ptr(R1, counts.fd),
        asm.mov.reg(R2, R10),
        asm.add.imm(R2, -4),
        asm.mov.reg(R3, R10),
        asm.add.imm(R3, -16),
        asm.mov.imm(R4, int(ebpf.UpdateFlags.NOEXIST)),
        asm.call(Helper.map_update_elem),

        "verdict:",
        asm.load_mem(R4, R10, -4, Size.W),
        asm.mov.imm(R0, XDP_PASS),
        asm.jne.imm(R4, 1, "out"),      # ICMP is dropped
        asm.mov.imm(R0, XDP_DROP),
        "out:",
        asm.exit(),
    ])


def ipv4_frame(protocol: int, payload: bytes = b"") -> bytes:
    """An Ethernet + IPv4 frame (checksums left zero: XDP sees the bytes as they are)."""
    eth = bytes.fromhex("02 00 00 00 00 02  02 00 00 00 00 01  08 00")
    total = 20 + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 1, 0, 64, protocol, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return eth + ip + payload


PACKETS = [
    ("TCP SYN to port 80", ipv4_frame(6, struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, 0x50,
                                                     0x02, 65535, 0, 0))),
    ("UDP DNS query", ipv4_frame(17, struct.pack("!HHHH", 53000, 53, 8 + 12, 0) + bytes(12))),
    ("ICMP echo request", ipv4_frame(1, bytes([8, 0, 0, 0, 0, 1, 0, 1]) + b"ping" * 8)),
    ("TCP data segment", ipv4_frame(6, bytes(20) + b"x" * 400)),
    ("ARP request", bytes.fromhex("ff ff ff ff ff ff  02 00 00 00 00 01  08 06") + bytes(28)),
    ("UDP datagram", ipv4_frame(17, struct.pack("!HHHH", 5000, 6000, 8 + 100, 0) + bytes(100))),
    ("ICMP echo request", ipv4_frame(1, bytes([8, 0, 0, 0, 0, 1, 0, 2]))),
    ("truncated IPv4", ipv4_frame(6)[:20]),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show-program", action="store_true",
                        help="print the program's disassembly before running it")
    args = parser.parse_args(argv)

    spec = ebpf.MapSpec(name="counts", type=ebpf.MapType.HASH, key_size=4, value_size=8,
                        max_entries=16)
    try:
        counts = ebpf.Map(spec)
    except ebpf.SyscallError as e:
        if e.errno in (errno.EPERM, errno.EACCES):
            print(f"demo: the kernel refused to create a BPF map ({e}).\n"
                  "Run this as root, or with CAP_BPF (and CAP_NET_ADMIN for XDP).",
                  file=sys.stderr)
            return 1
        raise

    with counts:
        insns = build_program(counts)
        if args.show_program:
            print("The program:")
            print(asm.format_instructions(insns))
            print()
        prog_spec = ebpf.ProgramSpec(name="count_protocols", type=ebpf.ProgramType.XDP,
                                     instructions=insns, license="GPL")
        with ebpf.Program(prog_spec) as prog:
            print(f"Loaded {prog!r}; running it on {len(PACKETS)} packets with test_run:\n")
            print(f"  {'#':>2}  {'packet':<20} {'bytes':>5}  {'verdict':<9} {'time':>8}")
            for i, (what, frame) in enumerate(PACKETS, 1):
                result = prog.test_run(data=frame)
                verdict = VERDICTS.get(result.retval, str(result.retval))
                print(f"  {i:>2}  {what:<20} {len(frame):>5}  {verdict:<9} "
                      f"{result.duration_ns:>6} ns")

        print("\nThe map, read back from Python:\n")
        rows = sorted((int.from_bytes(k, sys.byteorder), int.from_bytes(v, sys.byteorder))
                      for k, v in counts.items())
        print(f"  {'protocol':<14} {'packets':>7}")
        print(f"  {'-' * 14} {'-' * 7}")
        for key, n in rows:
            name = PROTOCOLS.get(key, f"proto {key}")
            label = name if key == OTHER else f"{name} ({key})"
            print(f"  {label:<14} {n:>7}")
        print(f"  {'total':<14} {sum(n for _, n in rows):>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
