"""Packets as bytes, with correct lengths and checksums, for ``Program.test_run`` of XDP and tc
programs (and for raw sockets).

Whole frames, Ethernet to payload::

    from ebpf.testing import packets

    frame = packets.udp4(src="10.0.0.1", dst="10.0.0.2", sport=1234, dport=53, payload=b"q")
    result = prog.test_run(frame)

and the layers they are made of, each taking its payload and returning header + payload:
:func:`ethernet`, :func:`ipv4`, :func:`ipv6`, :func:`tcp`, :func:`udp`, :func:`icmp`,
:func:`icmpv6`. Transport checksums cover the IPv4 or IPv6 pseudo-header, so the transport
builders take the addresses. :func:`checksum` is the Internet checksum (RFC 1071) itself.

Every multi-byte field is in network byte order; addresses are given as text (``"10.0.0.1"``,
``"fe80::1"``, ``"02:00:00:00:00:01"``), as :mod:`ipaddress` objects or as bytes.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import TypeAlias

__all__ = [
    "ETH_P_ARP",
    "ETH_P_IP",
    "ETH_P_IPV6",
    "IPPROTO_ICMP",
    "IPPROTO_ICMPV6",
    "IPPROTO_TCP",
    "IPPROTO_UDP",
    "TCP_ACK",
    "TCP_FIN",
    "TCP_PSH",
    "TCP_RST",
    "TCP_SYN",
    "checksum",
    "ethernet",
    "icmp",
    "icmp4",
    "icmp6",
    "icmpv6",
    "ipv4",
    "ipv6",
    "pseudo_header",
    "tcp",
    "tcp4",
    "tcp6",
    "udp",
    "udp4",
    "udp6",
]

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ICMPV6 = 58

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10

#: The MAC addresses frames get unless told otherwise (locally administered).
DEFAULT_SRC_MAC = "02:00:00:00:00:01"
DEFAULT_DST_MAC = "02:00:00:00:00:02"

Address: TypeAlias = str | bytes | ipaddress.IPv4Address | ipaddress.IPv6Address
Mac: TypeAlias = str | bytes


def checksum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """The Internet checksum of ``data`` (RFC 1071): the one's complement of the one's
    complement sum of its 16-bit big-endian words, an odd last byte padded with zero.

    ``initial`` is a sum to start from (e.g. of a pseudo-header). The result is what goes into
    the checksum field; over data that holds a correct checksum it is 0.
    """
    raw = bytes(data)
    if len(raw) % 2:
        raw += b"\0"
    total = initial + sum(struct.unpack(f"!{len(raw) // 2}H", raw))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    result: int = ~total & 0xFFFF
    return result


def _mac(value: Mac, what: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    else:
        parts = str(value).replace("-", ":").split(":")
        try:
            raw = bytes(int(p, 16) for p in parts)
        except ValueError:
            raw = b""
        if any(len(p) not in (1, 2) for p in parts):
            raw = b""
    if len(raw) != 6:
        raise ValueError(f"{what}: not a MAC address: {value!r}")
    return raw


def _addr(value: Address, version: int | None, what: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
        if len(raw) not in (4, 16) or (version is not None and len(raw) != (
                4 if version == 4 else 16)):
            raise ValueError(f"{what}: {len(raw)} bytes is no IPv{version or '4/6'} address")
        return raw
    try:
        ip = value if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)) \
            else ipaddress.ip_address(value)
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from None
    if version is not None and ip.version != version:
        raise ValueError(f"{what}: {value!r} is not an IPv{version} address")
    return ip.packed


def _u(value: int, bits: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << bits:
        raise ValueError(f"{what} must be an int from 0 to {(1 << bits) - 1}, got {value!r}")
    return value


def pseudo_header(src: Address, dst: Address, proto: int, length: int) -> bytes:
    """The pseudo-header a transport checksum covers: IPv4 (RFC 768/793) for 4-byte
    addresses, IPv6 (RFC 8200 section 8.1) for 16-byte ones."""
    s = _addr(src, None, "source address")
    d = _addr(dst, None, "destination address")
    if len(s) != len(d):
        raise ValueError("source and destination address are of different IP versions")
    if len(s) == 4:
        return s + d + struct.pack("!BBH", 0, _u(proto, 8, "protocol"), _u(length, 16, "length"))
    return s + d + struct.pack("!I3xB", _u(length, 32, "length"), _u(proto, 8, "next header"))


# --- layers -----------------------------------------------------------------------------------

def ethernet(payload: bytes = b"", *, src: Mac = DEFAULT_SRC_MAC, dst: Mac = DEFAULT_DST_MAC,
             ethertype: int = ETH_P_IP, vlan: int | None = None) -> bytes:
    """An Ethernet II frame (no FCS); ``vlan`` adds an 802.1Q tag with that VLAN id."""
    header = _mac(dst, "destination MAC") + _mac(src, "source MAC")
    if vlan is not None:
        header += struct.pack("!HH", 0x8100, _u(vlan, 12, "vlan"))
    return header + struct.pack("!H", _u(ethertype, 16, "ethertype")) + bytes(payload)


def ipv4(payload: bytes = b"", *, src: Address, dst: Address, proto: int, ttl: int = 64,
         tos: int = 0, ident: int = 0, dont_fragment: bool = True, frag_offset: int = 0,
         more_fragments: bool = False, options: bytes = b"") -> bytes:
    """An IPv4 packet: header (with its checksum, total length and IHL) + ``payload``.
    ``options`` are padded to a multiple of 4 bytes (at most 40)."""
    opts = bytes(options)
    opts += b"\0" * (-len(opts) % 4)
    if len(opts) > 40:
        raise ValueError(f"IPv4 options are at most 40 bytes, got {len(opts)}")
    ihl = 5 + len(opts) // 4
    total = ihl * 4 + len(payload)
    if total > 0xFFFF:
        raise ValueError(f"an IPv4 packet is at most 65535 bytes, this one is {total}")
    flags = (0x4000 if dont_fragment else 0) | (0x2000 if more_fragments else 0)
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, _u(tos, 8, "tos"), total,
                         _u(ident, 16, "ident"), flags | _u(frag_offset, 13, "frag_offset"),
                         _u(ttl, 8, "ttl"), _u(proto, 8, "proto"), 0,
                         _addr(src, 4, "source address"), _addr(dst, 4, "destination address"))
    header += opts
    csum = checksum(header)
    return header[:10] + struct.pack("!H", csum) + header[12:] + bytes(payload)


def ipv6(payload: bytes = b"", *, src: Address, dst: Address, next_header: int,
         hop_limit: int = 64, traffic_class: int = 0, flow_label: int = 0) -> bytes:
    """An IPv6 packet: the fixed header (payload length filled in) + ``payload``."""
    if len(payload) > 0xFFFF:
        raise ValueError(f"an IPv6 payload is at most 65535 bytes (no jumbograms), got "
                         f"{len(payload)}")
    first = (6 << 28) | (_u(traffic_class, 8, "traffic_class") << 20) | _u(
        flow_label, 20, "flow_label")
    return struct.pack("!IHBB16s16s", first, len(payload), _u(next_header, 8, "next_header"),
                       _u(hop_limit, 8, "hop_limit"), _addr(src, 6, "source address"),
                       _addr(dst, 6, "destination address")) + bytes(payload)


def _with_checksum(segment: bytes, offset: int, src: Address | None, dst: Address | None,
                   proto: int) -> bytes:
    initial = 0
    if src is not None and dst is not None:
        pseudo = pseudo_header(src, dst, proto, len(segment))
        initial = sum(struct.unpack(f"!{len(pseudo) // 2}H", pseudo))
    csum = checksum(segment, initial)
    if proto == IPPROTO_UDP and csum == 0:
        csum = 0xFFFF  # 0 means "no checksum" in UDP (RFC 768)
    return segment[:offset] + struct.pack("!H", csum) + segment[offset + 2:]


def tcp(payload: bytes = b"", *, src: Address, dst: Address, sport: int, dport: int,
        seq: int = 0, ack: int = 0, flags: int = TCP_SYN, window: int = 65535, urgent: int = 0,
        options: bytes = b"") -> bytes:
    """A TCP segment: header (data offset and checksum over the pseudo-header of ``src`` and
    ``dst`` filled in) + ``payload``. ``options`` are padded to a multiple of 4 bytes."""
    opts = bytes(options)
    opts += b"\0" * (-len(opts) % 4)
    if len(opts) > 40:
        raise ValueError(f"TCP options are at most 40 bytes, got {len(opts)}")
    offset = 5 + len(opts) // 4
    segment = struct.pack("!HHIIBBHHH", _u(sport, 16, "sport"), _u(dport, 16, "dport"),
                          _u(seq, 32, "seq"), _u(ack, 32, "ack"), offset << 4,
                          _u(flags, 8, "flags"), _u(window, 16, "window"), 0,
                          _u(urgent, 16, "urgent")) + opts + bytes(payload)
    return _with_checksum(segment, 16, src, dst, IPPROTO_TCP)


def udp(payload: bytes = b"", *, src: Address, dst: Address, sport: int, dport: int,
        no_checksum: bool = False) -> bytes:
    """A UDP datagram: header (length and checksum over the pseudo-header of ``src`` and
    ``dst`` filled in) + ``payload``. ``no_checksum`` leaves the checksum 0, which IPv4
    allows."""
    length = 8 + len(payload)
    if length > 0xFFFF:
        raise ValueError(f"a UDP datagram is at most 65535 bytes, this one is {length}")
    segment = struct.pack("!HHHH", _u(sport, 16, "sport"), _u(dport, 16, "dport"), length,
                          0) + bytes(payload)
    if no_checksum:
        return segment
    return _with_checksum(segment, 6, src, dst, IPPROTO_UDP)


def icmp(payload: bytes = b"", *, type: int = 8, code: int = 0, ident: int = 0,
         seq: int = 0, rest: bytes | None = None) -> bytes:
    """An ICMP (IPv4) message: type, code, checksum (over the message only), then ``rest``
    (4 bytes; default ``ident`` and ``seq`` of an echo) + ``payload``. Type 8 is an echo
    request, 0 an echo reply."""
    tail = struct.pack("!HH", _u(ident, 16, "ident"), _u(seq, 16, "seq")) if rest is None \
        else bytes(rest)
    if len(tail) != 4:
        raise ValueError(f"the rest of an ICMP header is 4 bytes, got {len(tail)}")
    message = struct.pack("!BBH", _u(type, 8, "type"), _u(code, 8, "code"), 0) + tail + bytes(
        payload)
    return _with_checksum(message, 2, None, None, IPPROTO_ICMP)


def icmpv6(payload: bytes = b"", *, src: Address, dst: Address, type: int = 128,
           code: int = 0, ident: int = 0, seq: int = 0, rest: bytes | None = None) -> bytes:
    """An ICMPv6 message, its checksum over the IPv6 pseudo-header of ``src`` and ``dst``.
    Type 128 is an echo request, 129 an echo reply; ``rest`` as in :func:`icmp`."""
    tail = struct.pack("!HH", _u(ident, 16, "ident"), _u(seq, 16, "seq")) if rest is None \
        else bytes(rest)
    if len(tail) != 4:
        raise ValueError(f"the rest of an ICMPv6 header is 4 bytes, got {len(tail)}")
    _addr(src, 6, "source address")
    message = struct.pack("!BBH", _u(type, 8, "type"), _u(code, 8, "code"), 0) + tail + bytes(
        payload)
    return _with_checksum(message, 2, src, dst, IPPROTO_ICMPV6)


# --- whole frames -----------------------------------------------------------------------------

def _check(src: Address, dst: Address, version: int) -> None:
    _addr(src, version, "source address")
    _addr(dst, version, "destination address")


def _frame4(segment: bytes, src: Address, dst: Address, proto: int, eth_src: Mac,
            eth_dst: Mac, ttl: int) -> bytes:
    return ethernet(ipv4(segment, src=src, dst=dst, proto=proto, ttl=ttl), src=eth_src,
                    dst=eth_dst, ethertype=ETH_P_IP)


def _frame6(segment: bytes, src: Address, dst: Address, proto: int, eth_src: Mac,
            eth_dst: Mac, hop_limit: int) -> bytes:
    return ethernet(ipv6(segment, src=src, dst=dst, next_header=proto, hop_limit=hop_limit),
                    src=eth_src, dst=eth_dst, ethertype=ETH_P_IPV6)


def udp4(*, src: Address = "10.0.0.1", dst: Address = "10.0.0.2", sport: int = 1024,
         dport: int = 53, payload: bytes = b"", ttl: int = 64, eth_src: Mac = DEFAULT_SRC_MAC,
         eth_dst: Mac = DEFAULT_DST_MAC) -> bytes:
    """An Ethernet + IPv4 + UDP frame."""
    _check(src, dst, 4)
    return _frame4(udp(payload, src=src, dst=dst, sport=sport, dport=dport), src, dst,
                   IPPROTO_UDP, eth_src, eth_dst, ttl)


def udp6(*, src: Address = "fd00::1", dst: Address = "fd00::2", sport: int = 1024,
         dport: int = 53, payload: bytes = b"", hop_limit: int = 64,
         eth_src: Mac = DEFAULT_SRC_MAC, eth_dst: Mac = DEFAULT_DST_MAC) -> bytes:
    """An Ethernet + IPv6 + UDP frame."""
    _check(src, dst, 6)
    return _frame6(udp(payload, src=src, dst=dst, sport=sport, dport=dport), src, dst,
                   IPPROTO_UDP, eth_src, eth_dst, hop_limit)


def tcp4(*, src: Address = "10.0.0.1", dst: Address = "10.0.0.2", sport: int = 1024,
         dport: int = 80, flags: int = TCP_SYN, seq: int = 0, ack: int = 0,
         payload: bytes = b"", ttl: int = 64, eth_src: Mac = DEFAULT_SRC_MAC,
         eth_dst: Mac = DEFAULT_DST_MAC) -> bytes:
    """An Ethernet + IPv4 + TCP frame."""
    _check(src, dst, 4)
    segment = tcp(payload, src=src, dst=dst, sport=sport, dport=dport, flags=flags, seq=seq,
                  ack=ack)
    return _frame4(segment, src, dst, IPPROTO_TCP, eth_src, eth_dst, ttl)


def tcp6(*, src: Address = "fd00::1", dst: Address = "fd00::2", sport: int = 1024,
         dport: int = 80, flags: int = TCP_SYN, seq: int = 0, ack: int = 0,
         payload: bytes = b"", hop_limit: int = 64, eth_src: Mac = DEFAULT_SRC_MAC,
         eth_dst: Mac = DEFAULT_DST_MAC) -> bytes:
    """An Ethernet + IPv6 + TCP frame."""
    _check(src, dst, 6)
    segment = tcp(payload, src=src, dst=dst, sport=sport, dport=dport, flags=flags, seq=seq,
                  ack=ack)
    return _frame6(segment, src, dst, IPPROTO_TCP, eth_src, eth_dst, hop_limit)


def icmp4(*, src: Address = "10.0.0.1", dst: Address = "10.0.0.2", type: int = 8,
          code: int = 0, ident: int = 0, seq: int = 0, payload: bytes = b"", ttl: int = 64,
          eth_src: Mac = DEFAULT_SRC_MAC, eth_dst: Mac = DEFAULT_DST_MAC) -> bytes:
    """An Ethernet + IPv4 + ICMP frame (default: an echo request)."""
    _check(src, dst, 4)
    return _frame4(icmp(payload, type=type, code=code, ident=ident, seq=seq), src, dst,
                   IPPROTO_ICMP, eth_src, eth_dst, ttl)


def icmp6(*, src: Address = "fd00::1", dst: Address = "fd00::2", type: int = 128,
          code: int = 0, ident: int = 0, seq: int = 0, payload: bytes = b"",
          hop_limit: int = 64, eth_src: Mac = DEFAULT_SRC_MAC,
          eth_dst: Mac = DEFAULT_DST_MAC) -> bytes:
    """An Ethernet + IPv6 + ICMPv6 frame (default: an echo request)."""
    _check(src, dst, 6)
    message = icmpv6(payload, src=src, dst=dst, type=type, code=code, ident=ident, seq=seq)
    return _frame6(message, src, dst, IPPROTO_ICMPV6, eth_src, eth_dst, hop_limit)
