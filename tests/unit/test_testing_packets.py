"""ebpf.testing.packets without a kernel: every field where RFC 791/8200/768/793/792/4443 put
it, and checksums checked by an independent computation (the one's complement sum of 16-bit
words is the big integer of the bytes modulo 0xFFFF, since 2**16 = 1 modulo 0xFFFF)."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given, settings, strategies as st

from ebpf.testing import packets


def ones_sum(data: bytes) -> int:
    """The one's complement sum of ``data``'s 16-bit words, 0xFFFF for "negative zero"."""
    if len(data) % 2:
        data += b"\0"
    n = int.from_bytes(data, "big") % 0xFFFF
    return n or (0xFFFF if any(data) else 0)


def verifies(data: bytes) -> bool:
    """Whether ``data`` (with its checksum in place) sums to all ones."""
    return ones_sum(data) == 0xFFFF


def v4_pseudo(src: str, dst: str, proto: int, length: int) -> bytes:
    return (ipaddress.IPv4Address(src).packed + ipaddress.IPv4Address(dst).packed
            + bytes([0, proto]) + length.to_bytes(2, "big"))


def v6_pseudo(src: str, dst: str, proto: int, length: int) -> bytes:
    return (ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed
            + length.to_bytes(4, "big") + bytes([0, 0, 0, proto]))


def test_rfc1071_example() -> None:
    # RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    assert packets.checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0xFFFF - 0xDDF2


def test_udp4_frame_layout() -> None:
    frame = packets.udp4(src="10.0.0.1", dst="10.0.0.2", sport=1, dport=2, payload=b"hey",
                         eth_src="aa:bb:cc:dd:ee:ff", eth_dst="11:22:33:44:55:66")
    assert frame[:6] == bytes.fromhex("112233445566")
    assert frame[6:12] == bytes.fromhex("aabbccddeeff")
    assert frame[12:14] == b"\x08\x00"
    ip = frame[14:34]
    version_ihl, _tos, total, _id, frag, ttl, proto, _csum, src, dst = struct.unpack(
        "!BBHHHBBH4s4s", ip)
    assert (version_ihl, total, frag, ttl, proto) == (0x45, 20 + 8 + 3, 0x4000, 64, 17)
    assert (src, dst) == (bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    assert verifies(ip)
    udp = frame[34:]
    assert struct.unpack("!HHH", udp[:6]) == (1, 2, 11)
    assert udp[8:] == b"hey"
    assert verifies(v4_pseudo("10.0.0.1", "10.0.0.2", 17, 11) + udp)
    assert len(frame) == 14 + 20 + 8 + 3


def test_tcp6_frame_layout() -> None:
    frame = packets.tcp6(src="fe80::1", dst="fe80::2", sport=1000, dport=22,
                         flags=packets.TCP_SYN | packets.TCP_ACK, seq=5, ack=6, payload=b"x")
    assert frame[12:14] == b"\x86\xdd"
    ip = frame[14:54]
    first, plen, nh, hops = struct.unpack("!IHBB", ip[:8])
    assert (first >> 28, plen, nh, hops) == (6, 21, 6, 64)
    tcp = frame[54:]
    sport, dport, seq, ack, off, flags, window = struct.unpack("!HHIIBBH", tcp[:16])
    assert (sport, dport, seq, ack, off >> 4, flags, window) == (1000, 22, 5, 6, 5, 0x12, 65535)
    assert verifies(v6_pseudo("fe80::1", "fe80::2", 6, 21) + tcp)


def test_icmp_checksums() -> None:
    message = packets.icmp(b"ping", type=8, ident=0x1234, seq=1)
    assert message[:2] == b"\x08\x00" and message[4:8] == bytes.fromhex("12340001")
    assert verifies(message)  # ICMP over IPv4 has no pseudo-header
    v6 = packets.icmpv6(b"ping", src="::1", dst="::1", type=128)
    assert verifies(v6_pseudo("::1", "::1", 58, len(v6)) + v6)
    assert not verifies(v6)  # the pseudo-header matters


def test_udp_checksum_zero_is_sent_as_ffff() -> None:
    # Find a payload whose checksum would be 0: the datagram then carries 0xFFFF (RFC 768).
    for i in range(1 << 16):
        segment = packets.udp(i.to_bytes(2, "big"), src="10.0.0.1", dst="10.0.0.2", sport=1,
                              dport=2)
        if segment[6:8] == b"\xff\xff":
            assert verifies(v4_pseudo("10.0.0.1", "10.0.0.2", 17, 10) + segment)
            return
    pytest.fail("no payload gives a zero checksum")


def test_ipv4_options_and_vlan() -> None:
    ip = packets.ipv4(b"", src="1.2.3.4", dst="5.6.7.8", proto=17, options=b"\x01")
    assert ip[0] == 0x46 and len(ip) == 24 and ip[20:] == b"\x01\0\0\0"
    assert verifies(ip)
    frame = packets.ethernet(b"", vlan=42, ethertype=packets.ETH_P_ARP)
    assert frame[12:18] == bytes.fromhex("8100002a0806")


@settings(max_examples=200, deadline=None)
@given(payload=st.binary(max_size=300), sport=st.integers(0, 65535),
       dport=st.integers(0, 65535), v6=st.booleans(), tcp=st.booleans())
def test_transport_checksums_verify(payload: bytes, sport: int, dport: int, v6: bool,
                                    tcp: bool) -> None:
    src, dst = ("2001:db8::1", "2001:db8::ff") if v6 else ("192.168.0.1", "172.16.9.9")
    build = packets.tcp if tcp else packets.udp
    segment = build(payload, src=src, dst=dst, sport=sport, dport=dport)
    pseudo = (v6_pseudo if v6 else v4_pseudo)(src, dst, 6 if tcp else 17, len(segment))
    assert verifies(pseudo + segment)
    assert packets.pseudo_header(src, dst, 6 if tcp else 17, len(segment)) == pseudo
    assert segment.endswith(payload)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200))
def test_checksum_matches_the_independent_sum(data: bytes) -> None:
    expected = 0xFFFF - ones_sum(data)
    assert packets.checksum(data) in ({expected, 0xFFFF} if expected == 0 else {expected})


@pytest.mark.parametrize(("call", "message"), [
    (lambda: packets.udp4(src="10.0.0.300"), "source address"),
    (lambda: packets.udp4(dst="fe80::1"), "not an IPv4 address"),
    (lambda: packets.udp6(src="10.0.0.1"), "not an IPv6 address"),
    (lambda: packets.udp4(sport=70000), "sport must be an int from 0 to 65535"),
    (lambda: packets.udp4(eth_src="aa:bb"), "not a MAC address"),
    (lambda: packets.ipv4(b"", src="1.1.1.1", dst="1.1.1.1", proto=1, options=bytes(41)),
     "at most 40 bytes"),
    (lambda: packets.udp4(payload=bytes(70000)), "at most 65535"),
    (lambda: packets.icmp(rest=b"12"), "4 bytes"),
    (lambda: packets.pseudo_header("1.1.1.1", "::1", 6, 0), "different IP versions"),
])
def test_bad_arguments_name_what(call: object, message: str) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=message):
        call()
