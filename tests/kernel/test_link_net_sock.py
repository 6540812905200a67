"""ebpf.link for sockets: sk_lookup steering a real connection to a chosen socket, sockmap
verdict programs seeing and dropping the data of a real TCP connection, and netfilter and
flow dissector hooks, each in a fresh network namespace.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ebpf import link
from ebpf.collection import Collection
from ebpf.elf_reader import load_collection_spec
from ebpf.errors import EbpfError, SyscallError
from ebpf.link import BPFLink, Mechanism, NetfilterFlags, NFHook, NFProto
from ebpf.map import Map, MapSpec
from ebpf.types import AttachType, LinkType, MapType
from tests import netkit
from tests.netkit import Netns

pytestmark = pytest.mark.kernel

netns = netkit.netns                 # the fixture

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
SUFFIX = "el" if sys.byteorder == "little" else "eb"


def kernel_version() -> tuple[int, int]:
    major, minor = os.uname().release.split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


#: Sockmap links came with Linux 6.10; before, sockmaps take BPF_PROG_ATTACH only.
SOCKMAP_LINKS = kernel_version() >= (6, 10)


def load(name: str) -> Collection:
    return Collection(load_collection_spec(TESTDATA / f"{name}-{SUFFIX}.elf"))


@pytest.fixture
def objs() -> Iterator[Collection]:
    """link_sock.c, loaded afresh for each test (its maps hold sockets)."""
    with load("link_sock") as coll:
        yield coll


def tcp_pair(ns: Netns) -> tuple[socket.socket, socket.socket, socket.socket]:
    """``(listener, client, server)``: a connected TCP pair on loopback in ``ns``."""
    listener = ns.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    client = ns.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.settimeout(5)
    client.connect(listener.getsockname())
    server, _ = listener.accept()
    server.settimeout(5)
    return listener, client, server


def receive(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


# --- sk_lookup ---------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["path", "fd", "thread"])
def test_sk_lookup_steers_a_connection(target: str, netns: Netns, objs: Collection) -> None:
    """Connections to a port nothing listens on reach a listener on another port, which the
    program picks from a sockmap with bpf_sk_assign; closing the link undoes it."""
    steer = objs.programs["steer"]
    with netns.socket(socket.AF_INET, socket.SOCK_STREAM) as listener, \
            netns.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        listener.settimeout(5)
        probe.bind(("127.0.0.1", 0))           # a port no one listens on
        port = probe.getsockname()[1]
        probe.close()
        objs.maps["steer_to"][0] = listener.fileno()
        objs.maps["steer_port"][0] = port
        path = f"/run/netns/{netns.name}"
        if target == "path":
            lk = link.sk_lookup(steer, path)               # from the test's own namespace
        elif target == "fd":
            fd = os.open(path, os.O_RDONLY)
            try:
                lk = link.sk_lookup(steer, fd)
            finally:
                os.close(fd)
        else:
            lk = netns.run(link.sk_lookup, steer)          # the calling thread's namespace
        with lk:
            info = lk.info()
            assert (info.type, info.attach_type) == (LinkType.NETNS, AttachType.SK_LOOKUP)
            assert info.target == {"netns_ino": os.stat(path).st_ino}
            seen = link.query(path, "sk_lookup")
            assert [(p.program_id, p.link_id, p.mechanism) for p in seen.programs] == [
                (steer.info().id, info.id, Mechanism.BPF_LINK)]
            with netns.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
                client.settimeout(5)
                client.connect(("127.0.0.1", port))
                server, peer = listener.accept()
                with server:
                    assert server.getsockname() == ("127.0.0.1", port)   # as dialled
                    assert peer == client.getsockname()
                    client.sendall(b"steered")
                    server.settimeout(5)
                    assert receive(server, 7) == b"steered"
            assert objs.maps["stats"][0] == 1
            # Other ports are looked up as usual.
            with netns.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
                client.connect(listener.getsockname())
            listener.accept()[0].close()
            assert objs.maps["stats"][0] == 1
        assert netns.run(link.query, None, AttachType.SK_LOOKUP).programs == ()
        with netns.socket(socket.AF_INET, socket.SOCK_STREAM) as client, \
                pytest.raises(ConnectionRefusedError):
            client.connect(("127.0.0.1", port))


def test_sk_lookup_errors(netns: Netns, objs: Collection) -> None:
    with pytest.raises(SyscallError, match="network namespace '/run/netns/nosuch' does not "
                                           "exist") as info:
        link.sk_lookup(objs.programs["steer"], "/run/netns/nosuch")
    assert info.value.errno == errno.ENOENT
    with pytest.raises(SyscallError, match="not a network namespace"):
        link.sk_lookup(objs.programs["steer"], "/tmp")
    with pytest.raises(EbpfError, match="SK_MSG program; sk_lookup takes SK_LOOKUP"):
        link.sk_lookup(objs.programs["msg_verdict"])


# --- sockmap -----------------------------------------------------------------------------------

MECHANISMS = [None, Mechanism.PROG_ATTACH]


@pytest.mark.parametrize("mechanism", MECHANISMS, ids=["link", "prog_attach"])
def test_sk_msg_sees_and_drops_what_a_socket_sends(mechanism: Mechanism | None, netns: Netns,
                                                   objs: Collection) -> None:
    socks, stats, drop = objs.maps["socks"], objs.maps["stats"], objs.maps["drop"]
    verdict = objs.programs["msg_verdict"]
    listener, client, server = tcp_pair(netns)
    with listener, client, server:
        # Programs apply to sockets added after they were attached.
        with link.sockmap(socks, verdict, AttachType.SK_MSG_VERDICT, mechanism=mechanism) as lk:
            linked = mechanism is None and SOCKMAP_LINKS
            expected = Mechanism.BPF_LINK if linked else Mechanism.PROG_ATTACH
            assert lk.mechanism is expected and isinstance(lk, BPFLink) == linked
            seen = link.query(socks, "msg_verdict")
            assert [(p.program_id, p.mechanism) for p in seen.programs] == [
                (verdict.info().id, expected)]
            if linked:
                info = lk.info()
                assert (info.type, info.target) == (LinkType.SOCKMAP,
                                                    {"map_id": socks.info().id})
                assert seen.programs[0].link_id == info.id
            socks[0] = server.fileno()
            server.sendall(b"hello")
            assert receive(client, 5) == b"hello" and stats[1] == 5
            client.sendall(b"not seen")                  # the client is not in the map
            assert receive(server, 8) == b"not seen" and stats[1] == 5
            drop[0] = 1
            with pytest.raises(PermissionError):         # SK_DROP: sendmsg fails, EACCES
                server.sendall(b"dropped")
            assert stats[1] == 5 + 7
            drop[0] = 0
            del socks[0]
        assert link.query(socks, "msg_verdict").programs == ()
        socks[0] = server.fileno()                       # no program on the map now
        drop[0] = 1
        server.sendall(b"free")
        assert receive(client, 4) == b"free" and stats[1] == 12


@pytest.mark.parametrize("mechanism", MECHANISMS, ids=["link", "prog_attach"])
def test_sk_skb_verdict_sees_and_drops_what_a_socket_receives(
        mechanism: Mechanism | None, netns: Netns, objs: Collection) -> None:
    socks, stats, drop = objs.maps["socks"], objs.maps["stats"], objs.maps["drop"]
    verdict = objs.programs["skb_verdict"]
    listener, client, server = tcp_pair(netns)
    with listener, client, server, \
            link.sockmap(socks, verdict, "stream_verdict", mechanism=mechanism):
        socks[0] = server.fileno()
        client.sendall(b"through the verdict")
        assert receive(server, 19) == b"through the verdict" and stats[2] == 19
        drop[0] = 1
        client.sendall(b"gone")
        server.settimeout(0.5)
        with pytest.raises(TimeoutError):
            server.recv(100)
        assert stats[2] == 19 + 4
        drop[0] = 0
        del socks[0]


def test_sockmap_errors(objs: Collection) -> None:
    socks = objs.maps["socks"]
    with pytest.raises(EbpfError, match="SK_SKB program; sockmap SK_MSG_VERDICT takes SK_MSG"):
        link.sockmap(socks, objs.programs["skb_verdict"], "msg_verdict")
    with pytest.raises(EbpfError, match="not a sockmap attach type"):
        link.sockmap(socks, objs.programs["skb_verdict"], AttachType.XDP)
    with pytest.raises(EbpfError, match="'stats' is a ARRAY map; programs attach to SOCKMAP"):
        link.sockmap(objs.maps["stats"], objs.programs["msg_verdict"], "msg_verdict")
    msg = objs.programs["msg_verdict"]
    with link.sockmap(socks, msg, "msg_verdict") as first:
        if SOCKMAP_LINKS:
            for mechanism in MECHANISMS:
                with pytest.raises(SyscallError, match="attached there already") as info:
                    link.sockmap(socks, msg, "msg_verdict", mechanism=mechanism)
                assert info.value.errno == errno.EBUSY
        else:
            # Before 6.10 a second BPF_PROG_ATTACH replaces the program; the first Link
            # then finds nothing of its own to detach.
            link.sockmap(socks, msg, "msg_verdict").close()
            assert link.query(socks, "msg_verdict").programs == ()
            first.close()
    with Map(MapSpec(name="hash", type=MapType.SOCKHASH, key_size=4, value_size=8,
                     max_entries=2)) as sockhash, \
            link.sockmap(sockhash, objs.programs["skb_verdict"], "stream_verdict",
                         mechanism=Mechanism.PROG_ATTACH):
        assert link.query(sockhash, "stream_verdict").program_ids == (
            objs.programs["skb_verdict"].info().id,)


# --- netfilter and the flow dissector ------------------------------------------------------------

@pytest.mark.skipif(kernel_version() < (6, 4), reason="netfilter programs need Linux 6.4")
def test_netfilter_counts_and_drops(netns: Netns) -> None:
    with load("link_netfilter") as objs:
        counts, drop = objs.maps["counts"], objs.maps["drop"]
        nf = objs.programs["nf_count"]

        def datagrams(n: int) -> int:
            with netns.socket() as rx, netns.socket() as tx:
                rx.bind(("127.0.0.1", 0))
                rx.settimeout(0.3)
                for i in range(n):
                    tx.sendto(b"%d" % i, rx.getsockname())
                got = 0
                try:
                    while got < n:
                        rx.recv(16)
                        got += 1
                except TimeoutError:
                    pass
                return got

        with netns.run(link.netfilter, nf, protocol_family=NFProto.IPV4,
                       hook=NFHook.LOCAL_IN, priority=-100) as lk:
            info = lk.info()
            assert (info.type, info.attach_type) == (LinkType.NETFILTER, AttachType.NETFILTER)
            assert info.target == {"pf": 2, "hooknum": 1, "priority": -100, "flags": 0}
            assert datagrams(3) == 3 and counts[0] == 3
            drop[0] = 1
            assert datagrams(2) == 0 and counts[0] == 5
            drop[0] = 0
        assert datagrams(2) == 2 and counts[0] == 5
        # The hook is the namespace's: the test's own namespace is not affected.
        with netns.run(link.netfilter, nf, protocol_family=NFProto.IPV4,
                       hook=NFHook.LOCAL_OUT, priority=10, flags=NetfilterFlags.IP_DEFRAG) as lk:
            assert (lk.info().target or {})["flags"] == NetfilterFlags.IP_DEFRAG
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as here:
                here.sendto(b"x", ("127.0.0.1", 9))
            assert counts[0] == 5
            assert datagrams(1) == 1 and counts[0] == 6
        for bad, match, err in (({"priority": -(1 << 31)}, "NF_IP_PRI_FIRST", errno.ERANGE),
                                ({"priority": -400, "flags": NetfilterFlags.IP_DEFRAG},
                                 "not after defragmentation", errno.ERANGE),
                                ({"flags": 1 << 7}, "unknown flags", errno.EOPNOTSUPP)):
            with pytest.raises(SyscallError, match=match) as info:
                link.netfilter(nf, **{"protocol_family": NFProto.IPV4,  # type: ignore[arg-type]
                                      "hook": NFHook.LOCAL_IN, "priority": 0, **bad})
            assert info.value.errno == err
        with pytest.raises(EbpfError, match="priority must be an int"):
            link.netfilter(nf, protocol_family=NFProto.IPV4, hook=NFHook.LOCAL_IN,
                           priority=1 << 31)
        with pytest.raises(EbpfError, match="FLOW_DISSECTOR program; netfilter takes NETFILTER"):
            link.netfilter(objs.programs["dissect"], protocol_family=NFProto.IPV4,
                           hook=NFHook.LOCAL_IN, priority=0)


def test_flow_dissector_link(netns: Netns) -> None:
    spec = load_collection_spec(TESTDATA / f"link_netfilter-{SUFFIX}.elf")
    del spec.programs["nf_count"]                # netfilter programs need Linux 6.4
    with Collection(spec) as objs:
        dissect = objs.programs["dissect"]
        with netns.run(link.flow_dissector, dissect) as lk:
            info = lk.info()
            assert (info.type, info.attach_type) == (LinkType.NETNS, AttachType.FLOW_DISSECTOR)
            seen = netns.run(link.query, None, "flow_dissector")
            assert [(p.program_id, p.link_id) for p in seen.programs] == [
                (dissect.info().id, info.id)]
            with pytest.raises(SyscallError, match="one flow dissector") as err:
                link.flow_dissector(dissect, f"/run/netns/{netns.name}")
            assert err.value.errno == errno.E2BIG
        assert netns.run(link.query, None, "flow_dissector").programs == ()
