"""The packet builders against the kernel: testdata/testing_packets.c parses each frame in an
XDP and a tc program (BPF_PROG_TEST_RUN), checks the IPv4 header checksum and the transport
checksum over the pseudo-header, and reports the fields it read."""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ebpf import Collection, load_collection_spec
from ebpf.testing import packets

pytestmark = pytest.mark.kernel

XDP_ABORTED, XDP_DROP, XDP_PASS = 0, 1, 2
TC_OK, TC_RECLASSIFY, TC_SHOT = 0, 1, 2
GOOD, BAD_CSUM, MALFORMED = (XDP_PASS, TC_OK), (XDP_DROP, TC_SHOT), (XDP_ABORTED, TC_RECLASSIFY)


@pytest.fixture(scope="module")
def parser(request: pytest.FixtureRequest) -> Iterator[Collection]:
    # Module scope: loading verifies two programs with long loops; the plugin's factory
    # fixture is per test.
    suffix = "el" if sys.byteorder == "little" else "eb"
    path = request.config.rootpath / "testdata" / f"testing_packets-{suffix}.elf"
    with Collection(load_collection_spec(path)) as coll:
        yield coll


def run(coll: Collection, frame: bytes) -> tuple[tuple[int, int], dict[str, Any]]:
    """Both programs' verdicts on ``frame`` and what the tc one parsed (the same as XDP's)."""
    xdp = coll.programs["xdp_parse"].test_run(frame).retval
    xdp_parsed = coll.maps["parsed"][0]
    tc = coll.programs["tc_parse"].test_run(frame).retval
    tc_parsed = coll.maps["parsed"][0]
    assert xdp_parsed == tc_parsed
    return (xdp, tc), tc_parsed


def addr(text: str) -> bytes:
    return ipaddress.ip_address(text).packed.ljust(16, b"\0")


PAYLOADS = [b"", b"x", b"ab", b"odd", bytes(range(256)) * 2 + b"!"]

BUILDERS: list[tuple[str, Callable[..., bytes], int, int]] = [
    ("udp4", packets.udp4, 0x0800, packets.IPPROTO_UDP),
    ("tcp4", packets.tcp4, 0x0800, packets.IPPROTO_TCP),
    ("udp6", packets.udp6, 0x86DD, packets.IPPROTO_UDP),
    ("tcp6", packets.tcp6, 0x86DD, packets.IPPROTO_TCP),
]


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: f"{len(p)}B")
@pytest.mark.parametrize(("name", "build", "ethertype", "proto"), BUILDERS,
                         ids=[b[0] for b in BUILDERS])
def test_transport_frames_parse_with_good_checksums(
        parser: Collection, name: str, build: Callable[..., bytes], ethertype: int, proto: int,
        payload: bytes) -> None:
    v6 = ethertype == 0x86DD
    src, dst = ("2001:db8::a", "2001:db8::b") if v6 else ("192.0.2.7", "198.51.100.9")
    frame = build(src=src, dst=dst, sport=40000, dport=443, payload=payload)
    verdict, got = run(parser, frame)
    assert verdict == GOOD
    header = 20 if proto == packets.IPPROTO_TCP else 8
    assert got == {"ethertype": ethertype, "l4_proto": proto, "ip_csum_ok": 1, "l4_csum_ok": 1,
                   "sport": 40000, "dport": 443, "l4_len": header + len(payload), "ttl": 64,
                   "src": addr(src), "dst": addr(dst)}


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: f"{len(p)}B")
def test_icmp_frames(parser: Collection, payload: bytes) -> None:
    verdict, got = run(parser, packets.icmp4(type=0, ident=7, seq=9, payload=payload, ttl=3))
    assert verdict == GOOD
    assert (got["l4_proto"], got["sport"], got["dport"], got["ttl"]) == (1, 0, 0, 3)
    verdict, got = run(parser, packets.icmp6(type=129, code=0, payload=payload, hop_limit=9))
    assert verdict == GOOD
    assert (got["l4_proto"], got["sport"], got["l4_len"], got["ttl"]) == (
        58, 129, 8 + len(payload), 9)


def test_a_flipped_bit_anywhere_in_the_segment_is_caught(parser: Collection) -> None:
    frame = packets.udp4(payload=b"some payload bytes")
    for offset in range(14 + 20, len(frame)):
        if offset in (14 + 20 + 4, 14 + 20 + 5):
            continue  # the UDP length: the frame is then malformed, not mis-summed
        broken = bytearray(frame)
        broken[offset] ^= 0x10
        verdict, got = run(parser, bytes(broken))
        assert verdict == BAD_CSUM, offset
        assert got["ip_csum_ok"] == 1 and got["l4_csum_ok"] == 0


def test_ipv4_header_checksum_and_options(parser: Collection) -> None:
    segment = packets.udp(b"opt", src="10.1.1.1", dst="10.2.2.2", sport=5, dport=6)
    ip = packets.ipv4(segment, src="10.1.1.1", dst="10.2.2.2", proto=packets.IPPROTO_UDP,
                      options=b"\x94\x04\x00\x00")  # router alert
    assert ip[0] == 0x46
    verdict, got = run(parser, packets.ethernet(ip))
    assert verdict == GOOD and got["l4_len"] == 11
    broken = bytearray(packets.ethernet(ip))
    broken[14 + 8] ^= 1  # the TTL
    verdict, got = run(parser, bytes(broken))
    assert verdict == BAD_CSUM and got["ip_csum_ok"] == 0 and got["l4_csum_ok"] == 1


def test_udp_without_checksum_over_ipv4(parser: Collection) -> None:
    segment = packets.udp(b"no sum", src="10.0.0.1", dst="10.0.0.2", sport=1, dport=2,
                          no_checksum=True)
    frame = packets.ethernet(packets.ipv4(segment, src="10.0.0.1", dst="10.0.0.2",
                                          proto=packets.IPPROTO_UDP))
    verdict, got = run(parser, frame)
    assert verdict == GOOD and got["l4_csum_ok"] == 2


def test_truncated_frame_is_malformed(parser: Collection) -> None:
    frame = packets.tcp4(payload=b"0123456789")
    verdict, _ = run(parser, frame[:-3])
    assert verdict == MALFORMED


def test_xdp_program_can_rewrite_the_frame(parser: Collection) -> None:
    # test_run returns the packet: the builders' bytes come back unchanged.
    frame = packets.udp6(payload=b"round trip")
    assert parser.programs["xdp_parse"].test_run(frame).data == frame
