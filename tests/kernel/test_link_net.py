"""ebpf.link on interfaces: XDP (bpf_link and netlink, generic and driver mode), tcx (with
ordering and revisions) and legacy tc, proved with real packets over a veth pair between two
fresh namespaces (tests.netkit).

The kernel resolves interface indexes in the calling thread's namespace, so every attach call
runs on the worker thread of the namespace that holds the interface (``end.ns.run``); the
Links are then used and closed from the test's own thread.

The link between the namespaces is quiet (no IPv6, static neighbours), so a program that
counts every packet counts exactly the datagrams a test sends.
"""

from __future__ import annotations

import errno
import gc
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ebpf import link
from ebpf.collection import Collection
from ebpf.elf_reader import load_collection_spec
from ebpf.errors import (
    EbpfError,
    NetlinkError,
    NotSupportedError,
    SyscallError,
    UnsupportedFeatureError,
)
from ebpf.internal.netlink import ClsactHook, XdpFlags
from ebpf.link import BPFLink, Link, Mechanism, XDPMode
from ebpf.link._common import have_tcx
from ebpf.map import Map
from ebpf.program import Program
from ebpf.types import AttachType, LinkType
from tests import netkit
from tests.netkit import Endpoint, VethPair, udp_delivered

pytestmark = pytest.mark.kernel

veth_pair = netkit.veth_pair        # the fixture

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
SUFFIX = "el" if sys.byteorder == "little" else "eb"

MODES = [XDPMode.GENERIC, XDPMode.DRIVER]


def load(name: str) -> Collection:
    return Collection(load_collection_spec(TESTDATA / f"{name}-{SUFFIX}.elf"))


@pytest.fixture(scope="module")
def objs() -> Iterator[Collection]:
    with load("link_net") as coll:
        yield coll


@pytest.fixture
def counts(objs: Collection) -> Map:
    """The packet counter of link_net.c, zeroed for this test."""
    m = objs.maps["counts"]
    m[0] = 0
    return m


@pytest.fixture
def order(objs: Collection) -> Map:
    """The run-order record of link_net.c, cleared for this test."""
    m = objs.maps["order"]
    for i in range(16):
        m[i] = 0
    return m


def ran(order: Map) -> list[int]:
    """The ids of the order_N programs, in the order they ran."""
    return [order[i] for i in range(1, order[0] + 1)]


def attach(end: Endpoint, fn: object, *args: object, **kwargs: object) -> Link:
    """``fn(*args, **kwargs)`` in ``end``'s namespace (where its interface is)."""
    assert callable(fn)
    result = end.ns.run(fn, *args, **kwargs)
    assert isinstance(result, Link)
    return result


def query(end: Endpoint, attach_type: object) -> link.QueryResult:
    result = end.ns.run(link.query, end.ifname, attach_type)
    assert isinstance(result, link.QueryResult)
    return result


def prog(objs: Collection, name: str) -> Program:
    return objs.programs[name]


@pytest.fixture
def tcx_kernel() -> None:
    """Skip where the kernel has no tcx (before 6.6: the 6.1 guest; its tc fallback is
    proved by test_link_net_vm.py). A newer kernel without it fails."""
    try:
        have_tcx()
    except UnsupportedFeatureError as e:
        release = os.uname().release.split(".")
        if (int(release[0]), int(release[1])) >= (6, 6):
            raise
        pytest.skip(f"kernel {os.uname().release} lacks tcx: {e}")


# --- XDP ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name.lower())
def test_xdp_bpf_link_counts_then_drops(mode: XDPMode, veth_pair: VethPair, objs: Collection,
                                        counts: Map) -> None:
    a, b = veth_pair.a, veth_pair.b
    passing, dropping = prog(objs, "xdp_pass"), prog(objs, "xdp_drop")
    with attach(b, link.xdp, b.ifname, passing, mode=mode) as lk:
        assert isinstance(lk, BPFLink) and lk.mechanism is Mechanism.BPF_LINK
        info = lk.info()
        assert info.type is LinkType.XDP and info.program_id == passing.info().id
        assert info.target == {"ifindex": b.ifindex}
        seen = query(b, "xdp")
        assert [(p.program_id, p.xdp_mode) for p in seen.programs] == [(info.program_id, mode)]
        assert udp_delivered(a, b, 5) == 5 and counts[0] == 5
        assert udp_delivered(b, a, 2) == 2 and counts[0] == 5       # XDP is receive only
    assert query(b, AttachType.XDP).programs == ()
    assert udp_delivered(a, b, 3) == 3 and counts[0] == 5

    with attach(b, link.xdp, b.ifindex, dropping, mode=mode) as lk:   # by index this time
        assert udp_delivered(a, b, 4, timeout=0.5) == 0 and counts[0] == 9
    assert udp_delivered(a, b, 3) == 3 and counts[0] == 9           # packets flow again


@pytest.mark.parametrize("mode", [*MODES, XDPMode.AUTO], ids=lambda m: m.name.lower())
def test_xdp_netlink_counts_then_drops(mode: XDPMode, veth_pair: VethPair, objs: Collection,
                                       counts: Map) -> None:
    """The netlink fallback, asked for: the Link detaches in the mode it attached in (for
    AUTO: the mode the kernel picked, driver on veth)."""
    a, b = veth_pair.a, veth_pair.b
    passing, dropping = prog(objs, "xdp_pass"), prog(objs, "xdp_drop")
    ran_in = XDPMode.DRIVER if mode is XDPMode.AUTO else mode
    with attach(b, link.xdp, b.ifname, passing, mode=mode, mechanism=Mechanism.NETLINK) as lk:
        assert lk.mechanism is Mechanism.NETLINK and not isinstance(lk, BPFLink)
        info = lk.info()
        assert (info.type, info.id, info.mechanism) == (LinkType.UNSPEC, 0, Mechanism.NETLINK)
        assert info.program_id == passing.info().id and info.attach_type is AttachType.XDP
        assert info.target == {"ifindex": b.ifindex, "interface": b.ifname, "mode": ran_in}
        assert [(p.program_id, p.xdp_mode) for p in query(b, "xdp").programs] == [
            (info.program_id, ran_in)]
        assert udp_delivered(a, b, 5) == 5 and counts[0] == 5
        with pytest.raises(EbpfError, match="cannot be pinned"):
            lk.pin("/sys/fs/bpf/nowhere")
    assert query(b, "xdp").programs == ()
    with attach(b, link.xdp, b.ifname, dropping, mode=mode, mechanism=Mechanism.NETLINK):
        assert udp_delivered(a, b, 4, timeout=0.5) == 0 and counts[0] == 9
    assert udp_delivered(a, b, 3) == 3 and counts[0] == 9


def test_xdp_netlink_link_outlives_the_program_and_leaves_a_replacement(
        veth_pair: VethPair, objs: Collection, counts: Map) -> None:
    """The netlink Link holds its own reference to the program; when another program replaced
    it, closing leaves the replacement attached."""
    a, b = veth_pair.a, veth_pair.b
    passing = prog(objs, "xdp_pass").clone()
    lk = attach(b, link.xdp, b.ifname, passing, mode=XDPMode.GENERIC,
                mechanism=Mechanism.NETLINK)
    try:
        passing.close()                          # borrowed: the attachment stays
        assert udp_delivered(a, b, 2) == 2 and counts[0] == 2
        # Someone else replaces it (a plain netlink attach replaces unconditionally).
        dropping = prog(objs, "xdp_drop")
        with b.ns.netlink() as nl:
            nl.xdp_attach(b.ifindex, dropping.fd, flags=XdpFlags.SKB_MODE)
            lk.close()
            assert nl.xdp_query(b.ifindex).skb_prog_id == dropping.info().id
            assert udp_delivered(a, b, 2, timeout=0.5) == 0
            nl.xdp_detach(b.ifindex, flags=XdpFlags.SKB_MODE)
    finally:
        lk.close()
    assert udp_delivered(a, b, 2) == 2


def test_xdp_replace_and_update(veth_pair: VethPair, objs: Collection, counts: Map) -> None:
    a, b = veth_pair.a, veth_pair.b
    passing, dropping = prog(objs, "xdp_pass"), prog(objs, "xdp_drop")
    with attach(b, link.xdp, b.ifname, passing, mode=XDPMode.GENERIC) as lk:
        # A bpf_link never replaces: neither another link nor netlink without replace.
        for mechanism in (None, Mechanism.NETLINK):
            with pytest.raises(SyscallError) as info:
                attach(b, link.xdp, b.ifname, dropping, mode=XDPMode.GENERIC,
                       mechanism=mechanism)
            assert info.value.errno == errno.EBUSY
        lk.update(dropping)                     # BPF_LINK_UPDATE
        assert udp_delivered(a, b, 2, timeout=0.5) == 0 and counts[0] == 2
    with attach(b, link.xdp, b.ifname, passing, mode=XDPMode.GENERIC,
                mechanism=Mechanism.NETLINK) as first:
        with attach(b, link.xdp, b.ifname, dropping, mode=XDPMode.GENERIC,
                    replace=True) as second:
            assert second.mechanism is Mechanism.NETLINK
            assert query(b, "xdp").program_ids == (dropping.info().id,)
            second.update(passing)              # netlink, expecting its own program
            assert udp_delivered(a, b, 2) == 2
        first.close()                           # its program was replaced: nothing to do
    assert query(b, "xdp").programs == ()
    with pytest.raises(EbpfError, match="cannot replace"):
        attach(b, link.xdp, b.ifname, passing, replace=True, mechanism=Mechanism.BPF_LINK)


def test_xdp_errors(veth_pair: VethPair, objs: Collection) -> None:
    b = veth_pair.b
    xdp, cls = prog(objs, "xdp_pass"), prog(objs, "tc_pass")
    for interface in ("nosuch0", 4242):
        with pytest.raises(SyscallError, match=repr(interface)) as info:
            attach(b, link.xdp, interface, xdp)
        assert info.value.errno in (errno.ENODEV, errno.ENXIO)
        for hook in ("xdp", "ingress", AttachType.TCX_EGRESS):
            with pytest.raises(SyscallError, match=f"no interface .*{interface!r}"):
                b.ns.run(link.query, interface, hook)
    with pytest.raises(EbpfError, match="'tc_pass' is a SCHED_CLS program; XDP takes XDP"):
        attach(b, link.xdp, b.ifname, cls)
    # Loopback has no driver mode; the message says where and why.
    for mechanism in (None, Mechanism.NETLINK):
        with pytest.raises(SyscallError, match="'lo'") as info:
            attach(b, link.xdp, "lo", xdp, mode=XDPMode.DRIVER, mechanism=mechanism)
        assert info.value.errno == errno.EOPNOTSUPP
    with pytest.raises(NetlinkError, match="does not support XDP in native mode"):
        attach(b, link.xdp, "lo", xdp, mode=XDPMode.DRIVER, mechanism=Mechanism.NETLINK)
    for bad in ("eth0/1", "", "x" * 16):
        with pytest.raises(EbpfError, match="not a valid interface name"):
            attach(b, link.xdp, bad, xdp)
    with pytest.raises(EbpfError, match="mode must be an XDPMode"):
        attach(b, link.xdp, b.ifname, xdp, mode=2)
    with pytest.raises(EbpfError, match="mechanism"):
        attach(b, link.xdp, b.ifname, xdp, mechanism=Mechanism.PROG_ATTACH)
    assert query(b, "xdp").programs == ()


# --- tcx ---------------------------------------------------------------------------------------

TC_CASES = {
    # direction: (the end the program is on, direction of the traffic)
    "ingress": ("b", "a->b"),
    "egress": ("a", "a->b"),
}


@pytest.mark.parametrize("direction", TC_CASES)
@pytest.mark.usefixtures("tcx_kernel")
def test_tcx_counts_then_drops(direction: str, veth_pair: VethPair, objs: Collection,
                               counts: Map) -> None:
    where, flow = TC_CASES[direction]
    end: Endpoint = getattr(veth_pair, where)
    src, dst = veth_pair.ends(flow)
    attach_type = AttachType.TCX_INGRESS if direction == "ingress" else AttachType.TCX_EGRESS
    with attach(end, link.tcx, end.ifname, prog(objs, "tc_pass"), direction) as lk:
        assert isinstance(lk, BPFLink)
        info = lk.info()
        assert (info.type, info.attach_type) == (LinkType.TCX, attach_type)
        assert info.target == {"ifindex": end.ifindex}
        seen = query(end, attach_type)
        assert [(p.program_id, p.link_id, p.mechanism) for p in seen.programs] == [
            (info.program_id, info.id, Mechanism.BPF_LINK)]
        assert udp_delivered(src, dst, 5) == 5 and counts[0] == 5
        assert udp_delivered(dst, src, 2) == 2 and counts[0] == 5   # the other direction
    with attach(end, link.tcx, end.ifindex, prog(objs, "tc_drop"), attach_type):
        assert udp_delivered(src, dst, 4, timeout=0.5) == 0 and counts[0] == 9
    assert query(end, attach_type).programs == ()
    assert udp_delivered(src, dst, 3) == 3 and counts[0] == 9


@pytest.mark.usefixtures("tcx_kernel")
def test_tcx_order_before_and_after(veth_pair: VethPair, objs: Collection, order: Map) -> None:
    """Programs record the order they ran in: anchors by link, by program, by id and "all"
    place them exactly, and query lists them in that order."""
    a, b = veth_pair.a, veth_pair.b
    one, two, three = (prog(objs, f"order_{i}") for i in (1, 2, 3))
    with attach(b, link.tcx, b.ifname, two, "ingress") as l2, \
            attach(b, link.tcx, b.ifname, one, "ingress", before=l2) as l1, \
            attach(b, link.tcx, b.ifname, three, "ingress", after=one) as l3:
        assert udp_delivered(a, b, 1) == 1
        assert ran(order) == [1, 3, 2]
        seen = query(b, "ingress")
        assert seen.program_ids == tuple(p.info().id for p in (one, three, two))
        assert [p.link_id for p in seen.programs] == [lk.info().id for lk in (l1, l3, l2)]
        # By program id, and "all": three to the front, then one to the back.
        l3.close()
        with attach(b, link.tcx, b.ifname, three, "ingress", before="all"):
            l1.close()
            with attach(b, link.tcx, b.ifname, one, "ingress", after=two.info().id):
                order[0] = 0
                assert udp_delivered(a, b, 1) == 1
                assert ran(order) == [3, 2, 1]
        with attach(b, link.tcx, b.ifname, one, "ingress", before=two.info().id):
            order[0] = 0
            assert udp_delivered(a, b, 1) == 1
            assert ran(order) == [1, 2]


@pytest.mark.usefixtures("tcx_kernel")
def test_tcx_revision_and_anchor_errors(veth_pair: VethPair, objs: Collection) -> None:
    b = veth_pair.b
    one, two, three = (prog(objs, f"order_{i}") for i in (1, 2, 3))
    with attach(b, link.tcx, b.ifname, one, "egress") as l1:
        revision = query(b, "egress").revision
        assert revision is not None and revision > 0
        with attach(b, link.tcx, b.ifname, two, "egress", expected_revision=revision):
            assert query(b, "egress").revision == revision + 1
            with pytest.raises(SyscallError, match="revision") as info:
                attach(b, link.tcx, b.ifname, three, "egress", expected_revision=revision)
            assert info.value.errno == errno.ESTALE
        with pytest.raises(SyscallError, match="already") as info:
            attach(b, link.tcx, b.ifname, one, "egress")          # the same program again
        assert info.value.errno == errno.EEXIST
        with pytest.raises(SyscallError, match="anchor") as info:
            attach(b, link.tcx, b.ifname, three, "egress", before=two)  # not on this hook
        assert info.value.errno == errno.ENOENT
        with pytest.raises(EbpfError, match="not both"):
            attach(b, link.tcx, b.ifname, three, "egress", before=l1, after=one)
        with pytest.raises(EbpfError, match="anchor"):
            attach(b, link.tcx, b.ifname, three, "egress", before="first")
        with pytest.raises(EbpfError, match="revision"):
            attach(b, link.tcx, b.ifname, three, "egress", expected_revision=0)
    with pytest.raises(EbpfError, match="'ingress', 'egress'"):
        attach(b, link.tcx, b.ifname, one, AttachType.XDP)
    with pytest.raises(EbpfError, match="'xdp_pass' is a XDP program; tcx takes SCHED_CLS"):
        attach(b, link.tcx, b.ifname, prog(objs, "xdp_pass"), "ingress")
    with pytest.raises(SyscallError, match="'nosuch0'") as info:
        attach(b, link.tcx, "nosuch0", one, "ingress")
    assert info.value.errno == errno.ENODEV


# --- legacy tc ---------------------------------------------------------------------------------

@pytest.mark.parametrize("direction", TC_CASES)
def test_tc_counts_then_drops(direction: str, veth_pair: VethPair, objs: Collection,
                              counts: Map) -> None:
    where, flow = TC_CASES[direction]
    end: Endpoint = getattr(veth_pair, where)
    src, dst = veth_pair.ends(flow)
    with end.ns.netlink() as nl:
        with attach(end, link.tc, end.ifname, prog(objs, "tc_pass"), direction) as lk:
            assert lk.mechanism is Mechanism.NETLINK
            info = lk.info()
            assert info.type is LinkType.UNSPEC and info.mechanism is Mechanism.NETLINK
            target = info.target or {}
            assert target["ifindex"] == end.ifindex and target["priority"] > 0
            assert target["handle"] > 0
            assert nl.clsact_exists(end.ifindex)
            seen = query(end, direction)
            assert [(p.program_id, p.mechanism, p.priority, p.handle, p.name)
                    for p in seen.programs] == [
                (info.program_id, Mechanism.NETLINK, target["priority"], target["handle"],
                 "tc_pass")]
            assert udp_delivered(src, dst, 5) == 5 and counts[0] == 5
        assert not nl.clsact_exists(end.ifindex)     # it added the qdisc: it removed it
        assert query(end, direction).programs == ()
        with attach(end, link.tc, end.ifname, prog(objs, "tc_drop"), direction,
                    priority=7, handle=3, name="dropper") as lk:
            assert (lk.info().target or {})["priority"] == 7
            assert udp_delivered(src, dst, 4, timeout=0.5) == 0 and counts[0] == 9
        assert udp_delivered(src, dst, 3) == 3 and counts[0] == 9


def test_tc_priorities_order_and_the_shared_qdisc(veth_pair: VethPair, objs: Collection,
                                                  order: Map) -> None:
    """Lower priorities run first; the qdisc stays while another filter uses it; a filter
    replaced by someone else is left alone."""
    a, b = veth_pair.a, veth_pair.b
    one, two = prog(objs, "order_1"), prog(objs, "order_2")
    with b.ns.netlink() as nl:
        first = attach(b, link.tc, b.ifname, two, "ingress", priority=20)
        try:
            with attach(b, link.tc, b.ifname, one, "ingress", priority=10):
                assert udp_delivered(a, b, 1) == 1
                assert ran(order) == [1, 2]
                first.close()                      # the qdisc is its, but still in use
                assert nl.clsact_exists(b.ifindex)
                assert [p.priority for p in query(b, "ingress").programs] == [10]
            assert nl.clsact_exists(b.ifindex)      # not its qdisc to delete
        finally:
            first.close()
            nl.clsact_delete(b.ifindex, missing_ok=True)
        with attach(b, link.tc, b.ifname, one, "egress", priority=5, handle=1) as lk:
            nl.tc_filter_add(b.ifindex, ClsactHook.EGRESS, two.fd, name="theirs",
                             priority=5, handle=1, replace=True)
            lk.close()                             # not its program any more: kept
            assert [p.name for p in query(b, "egress").programs] == ["theirs"]
        assert nl.clsact_exists(b.ifindex)         # still used by their filter
        nl.clsact_delete(b.ifindex)


def test_tc_update_and_errors(veth_pair: VethPair, objs: Collection, counts: Map) -> None:
    a, b = veth_pair.a, veth_pair.b
    with attach(b, link.tc, b.ifname, prog(objs, "tc_pass"), "ingress",
                priority=1, handle=1) as lk:
        lk.update(prog(objs, "tc_drop"))
        assert udp_delivered(a, b, 2, timeout=0.5) == 0 and counts[0] == 2
        with pytest.raises(NetlinkError, match="exists") as info:
            attach(b, link.tc, b.ifname, prog(objs, "tc_pass"), "ingress", priority=1,
                   handle=1)
        assert info.value.errno == errno.EEXIST
        with pytest.raises(EbpfError, match="priority must be an int"):
            attach(b, link.tc, b.ifname, prog(objs, "tc_pass"), "ingress", priority=70000)
    with pytest.raises(SyscallError, match="'nosuch0'") as sinfo:
        attach(b, link.tc, "nosuch0", prog(objs, "tc_pass"), "ingress")
    assert sinfo.value.errno == errno.ENODEV
    with pytest.raises(EbpfError, match="tc takes SCHED_CLS"):
        attach(b, link.tc, b.ifname, prog(objs, "xdp_pass"), "ingress")
    assert udp_delivered(a, b, 2) == 2


def test_tcx_falls_back_to_tc_when_asked(veth_pair: VethPair, objs: Collection,
                                         counts: Map) -> None:
    """The path a kernel without tcx takes (proved for real in the 6.1 guest, see
    test_link_net_vm.py): a clsact filter, which cannot honour anchors or revisions."""
    a, b = veth_pair.a, veth_pair.b
    with attach(b, link.tcx, b.ifname, prog(objs, "tc_drop"), "ingress",
                mechanism=Mechanism.NETLINK) as lk:
        assert lk.mechanism is Mechanism.NETLINK
        assert udp_delivered(a, b, 3, timeout=0.5) == 0 and counts[0] == 3
        with pytest.raises(NotSupportedError, match="before=, after="):
            attach(b, link.tcx, b.ifname, prog(objs, "tc_pass"), "ingress", after="all",
                   mechanism=Mechanism.NETLINK)
    assert udp_delivered(a, b, 2) == 2


# --- netkit on this host -------------------------------------------------------------------

def test_netkit_is_refused_here_by_a_conclusive_probe(veth_pair: VethPair,
                                                      objs: Collection) -> None:
    """netkit itself is proved in the 6.12 guest (test_link_net_vm.py). Where the kernel has
    no netkit, attaching says so; where it has, a veth is not a netkit device."""
    b = veth_pair.b
    try:
        attach(b, link.netkit, b.ifname, prog(objs, "tc_pass"), "primary")
    except NotSupportedError as e:
        assert "netkit" in str(e)
        assert not os.environ.get("EBPF_VM_KERNEL", "").startswith("6.12")
    except SyscallError as e:
        assert e.errno == errno.ENXIO and "not a netkit device" in str(e)
    else:
        pytest.fail("netkit attached to a veth device")


# --- ownership ----------------------------------------------------------------------------------

@pytest.mark.parametrize("mechanism", [Mechanism.BPF_LINK, Mechanism.NETLINK])
def test_dropping_an_unclosed_link_detaches_it(mechanism: Mechanism, veth_pair: VethPair,
                                               objs: Collection, counts: Map) -> None:
    """As with a bpf_link's last descriptor, dropping a netlink Link detaches its program
    (with a ResourceWarning: close() is the intended way)."""
    a, b = veth_pair.a, veth_pair.b
    for direction in ("ingress", "egress"):
        end = b if direction == "ingress" else a
        if mechanism is Mechanism.NETLINK:
            lk = attach(end, link.tc, end.ifname, prog(objs, "tc_drop"), direction)
        else:
            lk = attach(end, link.tcx, end.ifname, prog(objs, "tc_drop"), direction)
        assert udp_delivered(a, b, 1, timeout=0.3) == 0
        with pytest.warns(ResourceWarning, match="not closed"):
            del lk
            gc.collect()
        assert query(end, direction).programs == ()
        assert udp_delivered(a, b, 1) == 1
    lk = attach(b, link.xdp, b.ifname, prog(objs, "xdp_drop"), mode=XDPMode.GENERIC,
                mechanism=mechanism)
    with pytest.warns(ResourceWarning, match="not closed"):
        del lk
        gc.collect()
    assert query(b, "xdp").programs == ()
    assert udp_delivered(a, b, 2) == 2


# --- no descriptor is left behind -----------------------------------------------------------

def test_links_leave_no_descriptor_open(veth_pair: VethPair, objs: Collection) -> None:
    b = veth_pair.b
    before = set(os.listdir("/proc/self/fd"))
    for _ in range(2):
        for fn, args, kwargs in (
                (link.xdp, (prog(objs, "xdp_pass"),), {"mechanism": Mechanism.NETLINK}),
                (link.xdp, (prog(objs, "xdp_pass"),), {}),
                (link.tcx, (prog(objs, "tc_pass"), "ingress"), {}),
                (link.tc, (prog(objs, "tc_pass"), "egress"), {})):
            attach(b, fn, b.ifname, *args, **kwargs).close()
        with pytest.raises(SyscallError):
            attach(b, link.tc, "nosuch0", prog(objs, "tc_pass"), "egress")
        with pytest.raises(SyscallError):
            attach(b, link.xdp, "lo", prog(objs, "xdp_pass"), mode=XDPMode.DRIVER,
                   mechanism=Mechanism.NETLINK)
    assert set(os.listdir("/proc/self/fd")) == before
