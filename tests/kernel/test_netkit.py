"""The network test kit itself: namespaces, the worker thread, veth pairs, traffic, cleanup."""

from __future__ import annotations

import errno
import json
import os
import socket

import pytest

from tests import netkit
from tests.netkit import (
    NetkitError,
    Netns,
    VethPair,
    icmp_echo,
    make_veth_pair,
    netns_names,
    tcp_exchange,
    udp_delivered,
)

pytestmark = pytest.mark.kernel

netns = netkit.netns                # the fixtures
veth_pair = netkit.veth_pair


def link_stats(ns: Netns, ifname: str) -> tuple[int, int]:
    """(rx packets, tx packets) of ``ifname`` in ``ns``."""
    stats = json.loads(ns.ip("-s", "-j", "link", "show", ifname))[0]["stats64"]
    return stats["rx"]["packets"], stats["tx"]["packets"]


def test_worker_thread_is_in_the_namespace(netns: Netns) -> None:
    ours = os.stat("/proc/thread-self/ns/net").st_ino
    theirs = netns.run(lambda: os.stat("/proc/thread-self/ns/net").st_ino)
    assert theirs != ours
    assert theirs == os.stat(f"/run/netns/{netns.name}").st_ino
    assert netns.name in netns_names()
    assert netns.name.startswith(f"ebpf-{os.getpid()}-")
    with netns.netlink() as nl:
        assert nl.link("lo").flags & 1                         # loopback is up
    assert netns.run(lambda x, y=0: x + y, 2, y=3) == 5
    with pytest.raises(ZeroDivisionError):
        netns.run(lambda: 1 // 0)


def test_namespace_is_deleted_on_close() -> None:
    ns = Netns.create()
    name = ns.name
    assert name in netns_names()
    ns.close()
    ns.close()
    assert ns.closed and name not in netns_names()
    with pytest.raises(NetkitError, match="closed"):
        ns.run(int)


def test_veth_pair_is_set_up_and_quiet(veth_pair: VethPair) -> None:
    a, b = veth_pair.a, veth_pair.b
    assert a.ns.name != b.ns.name
    assert (a.ifname, b.ifname) == ("veth-a", "veth-b")
    assert a.mac != b.mac and a.addr != b.addr
    # Nothing crossed the link yet: no ARP, no IPv6 neighbour discovery or MLD.
    assert link_stats(a.ns, a.ifname) == (0, 0)
    assert b.ns.read_sysctl("net.ipv6.conf.all.disable_ipv6") == "1"
    assert udp_delivered(a, b, 4) == 4
    assert link_stats(a.ns, a.ifname) == (0, 4)
    assert link_stats(b.ns, b.ifname) == (4, 0)


SO_NETNS_COOKIE = 71


def netns_cookie(sock: socket.socket) -> int:
    return int.from_bytes(sock.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8), "little")


def test_sockets_live_in_their_namespace(veth_pair: VethPair) -> None:
    a, b = veth_pair.a, veth_pair.b
    with b.ns.socket() as inside, b.ns.socket() as inside_too, a.ns.socket() as other, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as host:
        assert netns_cookie(inside) == netns_cookie(inside_too)
        assert len({netns_cookie(inside), netns_cookie(other), netns_cookie(host)}) == 3
        inside.bind((b.addr, 0))            # b's address exists only in b's namespace
        with pytest.raises(OSError) as info:
            other.bind((b.addr, 0))
        assert info.value.errno == errno.EADDRNOTAVAIL


def test_traffic_both_ways(veth_pair: VethPair) -> None:
    for direction in ("a->b", "b->a"):
        src, dst = veth_pair.ends(direction)
        assert udp_delivered(src, dst, 3) == 3
        assert tcp_exchange(src, dst)
        assert icmp_echo(src, dst, 2) == 2


def test_traffic_helpers_report_failure(veth_pair: VethPair) -> None:
    a, b = veth_pair.a, veth_pair.b
    b.ns.ip("link", "set", b.ifname, "down")
    assert udp_delivered(a, b, 3, timeout=0.3) == 0
    assert not tcp_exchange(a, b, timeout=0.3)
    assert icmp_echo(a, b, 2, timeout=0.3) == 0


def test_veth_pair_is_removed_even_when_the_body_fails() -> None:
    names: list[str] = []
    with pytest.raises(RuntimeError, match="boom"), make_veth_pair() as pair:
        names = [pair.a.ns.name, pair.b.ns.name]
        assert set(names) <= netns_names()
        raise RuntimeError("boom")
    assert names and not set(names) & netns_names()
    assert not any(n.startswith(f"ebpf-{os.getpid()}-") for n in netns_names())
