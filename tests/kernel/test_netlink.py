"""The rtnetlink layer against the running kernel: XDP (generic and native mode) and tc clsact
BPF filters on a veth pair between two fresh namespaces, proved with real packets.

The link between the namespaces is quiet (no IPv6, static neighbours; see tests.netkit), so
a program that counts every packet counts exactly the datagrams a test sends.
"""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
from collections.abc import Iterator

import pytest

from ebpf import asm
from ebpf.asm import R0, R1, R2, R10, Size
from ebpf.errors import EbpfError, NetlinkError
from ebpf.internal.netlink import (
    ClsactHook,
    RtNetlink,
    XdpAttached,
    XdpFlags,
)
from ebpf.internal.sys import LinkCreateAttr, commands
from ebpf.map import Map, MapSpec
from ebpf.program import Program, ProgramSpec
from ebpf.types import AttachType, MapType, ProgramType
from tests import netkit
from tests.netkit import Endpoint, VethPair, icmp_echo, tcp_exchange, udp_delivered

pytestmark = pytest.mark.kernel

veth_pair = netkit.veth_pair        # the fixture

XDP_DROP, XDP_PASS = 1, 2
TC_ACT_OK, TC_ACT_SHOT = 0, 2

MODES = {"generic": XdpFlags.SKB_MODE, "native": XdpFlags.DRV_MODE}
ATTACHED = {"generic": XdpAttached.SKB, "native": XdpAttached.DRV}


def counter_program(counts: Map, verdict: int, type: ProgramType, name: str) -> Program:
    """A program that adds one to ``counts[0]`` (atomically) and returns ``verdict``."""
    insns = asm.Instructions([
        asm.store_imm(R10, -4, 0, Size.W),
        asm.mov.reg(R2, R10),
        asm.add.imm(R2, -4),
        asm.load_map_ptr(R1, counts.fd),
        asm.call(asm.Helper.map_lookup_elem),
        asm.jeq.imm(R0, 0, "out"),
        asm.mov.imm(R1, 1),
        asm.atomic_add(R0, 0, R1, Size.DW),
        "out:",
        asm.mov.imm(R0, verdict),
        asm.exit(),
    ])
    return Program(ProgramSpec(name=name, type=type, instructions=insns, license="GPL"))


def count(counts: Map) -> int:
    return int.from_bytes(counts[0], "little")


@pytest.fixture
def counts() -> Iterator[Map]:
    with Map(MapSpec(name="pkt_count", type=MapType.ARRAY, key_size=4, value_size=8,
                     max_entries=1)) as m:
        yield m


@pytest.fixture
def nl_b(veth_pair: VethPair) -> Iterator[RtNetlink]:
    """A netlink client in the namespace of end ``b`` (the receiving end)."""
    with veth_pair.b.ns.netlink() as nl:
        yield nl


@pytest.fixture
def nl_a(veth_pair: VethPair) -> Iterator[RtNetlink]:
    with veth_pair.a.ns.netlink() as nl:
        yield nl


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


# --- interfaces --------------------------------------------------------------------------------

def test_interface_lookup(veth_pair: VethPair, nl_b: RtNetlink) -> None:
    b = veth_pair.b
    assert nl_b.interface_index("veth-b") == b.ifindex
    assert nl_b.interface_index(b.ifindex) == b.ifindex
    assert nl_b.interface_name(b.ifindex) == "veth-b"
    assert nl_b.interface_index("lo") == 1
    link = nl_b.link("veth-b")
    assert link.address.hex(":") == b.mac and link.flags & 1     # IFF_UP
    assert link.xdp.attached is XdpAttached.NONE and link.xdp.prog_ids == ()
    # veth-a lives in the other namespace: not visible from this socket.
    with pytest.raises(NetlinkError) as info:
        nl_b.interface_index("veth-a")
    assert info.value.errno == errno.ENODEV and "'veth-a'" in str(info.value)


def test_unknown_interface(nl_b: RtNetlink) -> None:
    with pytest.raises(NetlinkError, match="look up interface 'nosuchif0'") as info:
        nl_b.interface_index("nosuchif0")
    assert info.value.errno == errno.ENODEV and info.value.cmd == "RTM_GETLINK"
    with pytest.raises(NetlinkError, match="look up interface 4242") as info:
        nl_b.interface_name(4242)
    assert info.value.errno == errno.ENODEV


@pytest.mark.parametrize("bad", ["", "a" * 16, "a/b", 0, -3, True, 2.0])
def test_invalid_interface_is_refused_before_asking(nl_b: RtNetlink, bad: object) -> None:
    with pytest.raises(EbpfError, match="interface") as info:
        nl_b.link(bad)  # type: ignore[arg-type]
    assert not isinstance(info.value, NetlinkError)


# --- XDP -------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_xdp_pass_counts_every_packet(mode: str, veth_pair: VethPair, nl_b: RtNetlink,
                                      counts: Map) -> None:
    a, b = veth_pair.a, veth_pair.b
    with counter_program(counts, XDP_PASS, ProgramType.XDP, "xdp_pass") as prog:
        nl_b.xdp_attach(b.ifindex, prog.fd, flags=MODES[mode])
        try:
            state = nl_b.xdp_query(b.ifindex)
            prog_id = prog.info().id
            assert state.attached is ATTACHED[mode] and state.prog_id == prog_id
            assert state.prog_ids == (prog_id,)
            # In native mode this is veth's own XDP path (NAPI), with nothing on the peer.
            assert udp_delivered(a, b, 7) == 7
            assert count(counts) == 7
            assert udp_delivered(b, a, 4) == 4     # b's transmit path does not run XDP
            assert count(counts) == 7
            assert tcp_exchange(a, b) and icmp_echo(a, b, 2) == 2
            assert count(counts) > 7 + 2
        finally:
            nl_b.xdp_detach(b.ifindex, flags=MODES[mode])
        assert nl_b.xdp_query(b.ifindex).attached is XdpAttached.NONE
        before = count(counts)
        assert udp_delivered(a, b, 3) == 3
        assert count(counts) == before


@pytest.mark.parametrize("mode", MODES)
def test_xdp_drop_really_drops(mode: str, veth_pair: VethPair, nl_b: RtNetlink,
                               counts: Map) -> None:
    a, b = veth_pair.a, veth_pair.b
    with counter_program(counts, XDP_DROP, ProgramType.XDP, "xdp_drop") as prog:
        nl_b.xdp_attach(b.ifindex, prog.fd, flags=MODES[mode])
        try:
            assert udp_delivered(a, b, 5, timeout=0.5) == 0
            assert count(counts) == 5
            assert icmp_echo(a, b, 2, timeout=0.5) == 0
            assert not tcp_exchange(a, b, timeout=0.5)
            assert count(counts) > 5 + 2
        finally:
            nl_b.xdp_detach(b.ifindex, flags=MODES[mode])
    assert udp_delivered(a, b, 3) == 3


@pytest.mark.parametrize("mode", MODES)
def test_xdp_replace_with_expected_fd(mode: str, veth_pair: VethPair, nl_b: RtNetlink,
                                      counts: Map) -> None:
    a, b = veth_pair.a, veth_pair.b
    flags = MODES[mode]
    with counter_program(counts, XDP_PASS, ProgramType.XDP, "xdp_pass") as passing, \
            counter_program(counts, XDP_DROP, ProgramType.XDP, "xdp_drop") as dropping:
        nl_b.xdp_attach(b.ifindex, passing.fd, flags=flags, expected_fd=-1)  # expects none
        try:
            with pytest.raises(NetlinkError, match="Active program does not match expected") \
                    as info:
                nl_b.xdp_attach(b.ifindex, dropping.fd, flags=flags, expected_fd=dropping.fd)
            assert info.value.errno == errno.EEXIST
            assert "'veth-b'" in str(info.value)
            with pytest.raises(NetlinkError) as info:
                nl_b.xdp_attach(b.ifindex, dropping.fd, flags=flags, expected_fd=-1)
            assert info.value.errno == errno.EEXIST
            with pytest.raises(NetlinkError, match="XDP program already attached") as info:
                nl_b.xdp_attach(b.ifindex, dropping.fd,
                                flags=flags | XdpFlags.UPDATE_IF_NOEXIST)
            assert info.value.errno == errno.EBUSY
            assert nl_b.xdp_query(b.ifindex).prog_id == passing.info().id
            assert udp_delivered(a, b, 2) == 2

            nl_b.xdp_attach(b.ifindex, dropping.fd, flags=flags, expected_fd=passing.fd)
            assert nl_b.xdp_query(b.ifindex).prog_id == dropping.info().id
            assert udp_delivered(a, b, 2, timeout=0.5) == 0
            assert count(counts) == 4
            # Without an expected program, attaching again replaces unconditionally.
            nl_b.xdp_attach(b.ifindex, passing.fd, flags=flags)
            assert nl_b.xdp_query(b.ifindex).prog_id == passing.info().id
        finally:
            nl_b.xdp_detach(b.ifindex, flags=flags)
        assert nl_b.xdp_query(b.ifindex).prog_ids == ()


def test_xdp_detach_needs_the_mode_on_veth(veth_pair: VethPair, nl_b: RtNetlink,
                                           counts: Map) -> None:
    """Without a mode flag the kernel picks native mode on a device that has it, so detaching
    a generic program needs SKB_MODE; detaching where nothing is attached is no error."""
    b = veth_pair.b
    with counter_program(counts, XDP_PASS, ProgramType.XDP, "xdp_pass") as prog:
        nl_b.xdp_attach(b.ifindex, prog.fd, flags=XdpFlags.SKB_MODE)
        try:
            nl_b.xdp_detach(b.ifindex)
            assert nl_b.xdp_query(b.ifindex).skb_prog_id == prog.info().id
        finally:
            nl_b.xdp_detach(b.ifindex, flags=XdpFlags.SKB_MODE)
        assert nl_b.xdp_query(b.ifindex).attached is XdpAttached.NONE
        nl_b.xdp_detach(b.ifindex, flags=XdpFlags.SKB_MODE)
        nl_b.xdp_detach(b.ifindex)
        # With no mode flag, attaching picks native mode on veth.
        nl_b.xdp_attach(b.ifindex, prog.fd)
        try:
            assert nl_b.xdp_query(b.ifindex).attached is XdpAttached.DRV
        finally:
            nl_b.xdp_detach(b.ifindex)
        assert nl_b.xdp_query(b.ifindex).attached is XdpAttached.NONE


def test_xdp_attachment_outlives_the_program_fd(veth_pair: VethPair, nl_b: RtNetlink,
                                                counts: Map) -> None:
    """A netlink attachment belongs to the interface: closing the program's fd keeps it."""
    a, b = veth_pair.a, veth_pair.b
    prog = counter_program(counts, XDP_PASS, ProgramType.XDP, "xdp_pass")
    try:
        prog_id = prog.info().id
        nl_b.xdp_attach(b.ifindex, prog.fd, flags=XdpFlags.SKB_MODE)
    finally:
        prog.close()
    try:
        assert nl_b.xdp_query(b.ifindex).skb_prog_id == prog_id
        assert udp_delivered(a, b, 3) == 3 and count(counts) == 3
    finally:
        nl_b.xdp_detach(b.ifindex, flags=XdpFlags.SKB_MODE)
    assert nl_b.xdp_query(b.ifindex).prog_ids == ()


def test_xdp_generic_and_native_exclude_each_other(veth_pair: VethPair, nl_b: RtNetlink,
                                                   counts: Map) -> None:
    b = veth_pair.b
    with counter_program(counts, XDP_PASS, ProgramType.XDP, "xdp_pass") as prog:
        nl_b.xdp_attach(b.ifindex, prog.fd, flags=XdpFlags.SKB_MODE)
        try:
            with pytest.raises(NetlinkError, match="Native and generic XDP can't be active") \
                    as info:
                nl_b.xdp_attach(b.ifindex, prog.fd, flags=XdpFlags.DRV_MODE)
            assert info.value.errno == errno.EEXIST
        finally:
            nl_b.xdp_detach(b.ifindex, flags=XdpFlags.SKB_MODE)


@pytest.mark.parametrize("mode", MODES)
def test_xdp_query_sees_a_bpf_link_and_netlink_cannot_replace_it(
        mode: str, veth_pair: VethPair, nl_b: RtNetlink, counts: Map) -> None:
    """What ``query`` of an interface reports includes XDP programs attached by bpf_link,
    which the netlink way can neither replace nor detach."""
    a, b = veth_pair.a, veth_pair.b
    flags = MODES[mode]
    with counter_program(counts, XDP_PASS, ProgramType.XDP, "xdp_link") as prog, \
            counter_program(counts, XDP_DROP, ProgramType.XDP, "xdp_drop") as other:
        attr = LinkCreateAttr(prog_fd=prog.fd, target_ifindex=b.ifindex,
                              attach_type=AttachType.XDP, flags=int(flags))
        # bpf(2) reads target_ifindex in the calling thread's namespace.
        link = b.ns.run(commands.link_create, attr)
        try:
            state = nl_b.xdp_query(b.ifindex)
            assert state.attached is ATTACHED[mode] and state.prog_id == prog.info().id
            for attempt in (lambda: nl_b.xdp_attach(b.ifindex, other.fd, flags=flags),
                            lambda: nl_b.xdp_detach(b.ifindex, flags=flags)):
                with pytest.raises(NetlinkError, match="Can't replace active BPF XDP link") \
                        as info:
                    attempt()
                assert info.value.errno == errno.EBUSY
            assert udp_delivered(a, b, 3) == 3 and count(counts) == 3
        finally:
            link.close()
        assert nl_b.xdp_query(b.ifindex).attached is XdpAttached.NONE


def test_xdp_errors(veth_pair: VethPair, nl_b: RtNetlink, counts: Map) -> None:
    b = veth_pair.b
    with counter_program(counts, XDP_PASS, ProgramType.XDP, "xdp_pass") as xdp, \
            counter_program(counts, 0, ProgramType.SOCKET_FILTER, "not_xdp") as other:
        # Not an XDP program: EINVAL (the kernel gives no message for this one).
        for flags in MODES.values():
            with pytest.raises(NetlinkError, match="veth-b") as info:
                nl_b.xdp_attach(b.ifindex, other.fd, flags=flags)
            assert info.value.errno == errno.EINVAL
        # No such interface.
        with pytest.raises(NetlinkError) as info:
            nl_b.xdp_attach(4242, xdp.fd, flags=XdpFlags.SKB_MODE)
        assert info.value.errno == errno.ENODEV and "interface 4242" in str(info.value)
        # Loopback has no native XDP: the kernel says so in its extended ack.
        with pytest.raises(NetlinkError, match="does not support XDP in native mode") as info:
            nl_b.xdp_attach(1, xdp.fd, flags=XdpFlags.DRV_MODE)
        assert info.value.errno == errno.EOPNOTSUPP
        assert "does not support XDP in native mode" in info.value.extack
        # Two modes at once, and offload on a device without it.
        for flags in (XdpFlags.SKB_MODE | XdpFlags.DRV_MODE, XdpFlags.HW_MODE):
            with pytest.raises(NetlinkError) as info:
                nl_b.xdp_attach(b.ifindex, xdp.fd, flags=flags)
            assert info.value.errno == errno.EINVAL
        with pytest.raises(EbpfError, match="unknown XDP flags"):
            nl_b.xdp_attach(b.ifindex, xdp.fd, flags=1 << 9)
        with pytest.raises(EbpfError, match="program fd"):
            nl_b.xdp_attach(b.ifindex, -1)
        assert nl_b.xdp_query(b.ifindex).attached is XdpAttached.NONE
        assert nl_b.xdp_query(1).attached is XdpAttached.NONE


def test_native_xdp_on_veth_is_refused_for_a_large_peer_mtu(veth_pair: VethPair,
                                                            nl_b: RtNetlink,
                                                            counts: Map) -> None:
    a, b = veth_pair.a, veth_pair.b
    a.ns.ip("link", "set", a.ifname, "mtu", "9000")
    with counter_program(counts, XDP_PASS, ProgramType.XDP, "xdp_pass") as prog:
        with pytest.raises(NetlinkError, match="Peer MTU is too large to set XDP") as info:
            nl_b.xdp_attach(b.ifindex, prog.fd, flags=XdpFlags.DRV_MODE)
        assert info.value.errno == errno.ERANGE
        nl_b.xdp_attach(b.ifindex, prog.fd, flags=XdpFlags.SKB_MODE)   # generic mode is fine
        nl_b.xdp_detach(b.ifindex, flags=XdpFlags.SKB_MODE)


# --- tc ----------------------------------------------------------------------------------------

TC_CASES = {
    # hook: (the end the filter is on, direction of the traffic)
    "ingress": (ClsactHook.INGRESS, "b", "a->b"),
    "egress": (ClsactHook.EGRESS, "a", "a->b"),
}


@pytest.mark.parametrize("verdict", ["ok", "shot"])
@pytest.mark.parametrize("hook", TC_CASES)
def test_tc_filter_counts_and_decides(hook: str, verdict: str, veth_pair: VethPair,
                                      counts: Map) -> None:
    clsact_hook, where, direction = TC_CASES[hook]
    end: Endpoint = getattr(veth_pair, where)
    src, dst = veth_pair.ends(direction)
    action = TC_ACT_OK if verdict == "ok" else TC_ACT_SHOT
    with end.ns.netlink() as nl, \
            counter_program(counts, action, ProgramType.SCHED_CLS, f"cls_{verdict}") as prog:
        assert nl.clsact_add(end.ifindex)
        try:
            f = nl.tc_filter_add(end.ifindex, clsact_hook, prog.fd, name=f"cls_{verdict}")
            assert f.parent == clsact_hook and f.prog_id == prog.info().id
            assert f.handle > 0 and f.priority > 0 and f.direct_action
            expected = 6 if verdict == "ok" else 0
            assert udp_delivered(src, dst, 6, timeout=0.5 if expected == 0 else 1.0) == expected
            assert count(counts) == 6
            # Traffic the other way does not pass this hook.
            back_src, back_dst = dst, src
            assert udp_delivered(back_src, back_dst, 2) == 2
            assert count(counts) == 6
        finally:
            assert nl.clsact_delete(end.ifindex)
        assert nl.tc_filters(end.ifindex, clsact_hook) == []
        assert udp_delivered(src, dst, 2) == 2 and count(counts) == 6


def test_tc_list_and_delete(veth_pair: VethPair, nl_b: RtNetlink, counts: Map) -> None:
    a, b = veth_pair.a, veth_pair.b
    with counter_program(counts, TC_ACT_OK, ProgramType.SCHED_CLS, "cls_ok") as ok, \
            counter_program(counts, TC_ACT_SHOT, ProgramType.SCHED_CLS, "cls_shot") as shot:
        assert nl_b.tc_filters(b.ifindex, ClsactHook.INGRESS) == []     # no clsact yet
        nl_b.clsact_add(b.ifindex)
        try:
            auto = nl_b.tc_filter_add(b.ifindex, ClsactHook.INGRESS, ok.fd, name="auto")
            chosen = nl_b.tc_filter_add(b.ifindex, ClsactHook.INGRESS, shot.fd,
                                        name="chosen", priority=7, handle=3)
            assert (chosen.priority, chosen.handle) == (7, 3)
            egress = nl_b.tc_filter_add(b.ifindex, ClsactHook.EGRESS, ok.fd, name="out")
            ok_info, shot_info = ok.info(), shot.info()
            listed = nl_b.tc_filters(b.ifindex, ClsactHook.INGRESS)
            assert listed == [chosen, auto]            # in priority order: 7 runs first
            assert [(f.prog_id, f.prog_name, f.prog_tag) for f in listed] == [
                (shot_info.id, "chosen", shot_info.tag), (ok_info.id, "auto", ok_info.tag)]
            assert all(f.kind == "bpf" and f.direct_action and f.ifindex == b.ifindex
                       for f in listed)
            assert nl_b.tc_filters(b.ifindex, ClsactHook.EGRESS) == [egress]
            # Priority 7 shoots before the counting pass filter runs.
            assert udp_delivered(a, b, 3, timeout=0.5) == 0 and count(counts) == 3

            nl_b.tc_filter_delete(b.ifindex, ClsactHook.INGRESS, priority=7, handle=3)
            assert nl_b.tc_filters(b.ifindex, ClsactHook.INGRESS) == [auto]
            with pytest.raises(NetlinkError, match="not found") as info:
                nl_b.tc_filter_delete(b.ifindex, ClsactHook.INGRESS, priority=7, handle=3)
            assert info.value.errno == errno.ENOENT
            assert udp_delivered(a, b, 3) == 3 and count(counts) == 6
        finally:
            assert nl_b.clsact_delete(b.ifindex)
        assert not nl_b.clsact_exists(b.ifindex)
        assert nl_b.tc_filters(b.ifindex, ClsactHook.INGRESS) == []
        assert nl_b.tc_filters(b.ifindex, ClsactHook.EGRESS) == []
        assert udp_delivered(a, b, 2) == 2 and count(counts) == 6


def test_tc_replace(veth_pair: VethPair, nl_b: RtNetlink, counts: Map) -> None:
    a, b = veth_pair.a, veth_pair.b
    with counter_program(counts, TC_ACT_OK, ProgramType.SCHED_CLS, "cls_ok") as ok, \
            counter_program(counts, TC_ACT_SHOT, ProgramType.SCHED_CLS, "cls_shot") as shot:
        nl_b.clsact_add(b.ifindex)
        try:
            first = nl_b.tc_filter_add(b.ifindex, ClsactHook.INGRESS, ok.fd, name="first")
            with pytest.raises(NetlinkError, match="Filter already exists") as info:
                nl_b.tc_filter_add(b.ifindex, ClsactHook.INGRESS, shot.fd, name="second",
                                   priority=first.priority, handle=first.handle)
            assert info.value.errno == errno.EEXIST
            second = nl_b.tc_filter_add(b.ifindex, ClsactHook.INGRESS, shot.fd, name="second",
                                        priority=first.priority, handle=first.handle,
                                        replace=True)
            assert (second.priority, second.handle) == (first.priority, first.handle)
            assert second.prog_id == shot.info().id != first.prog_id
            assert nl_b.tc_filters(b.ifindex, ClsactHook.INGRESS) == [second]
            assert udp_delivered(a, b, 2, timeout=0.5) == 0 and count(counts) == 2
        finally:
            nl_b.clsact_delete(b.ifindex)


def test_tc_filter_outlives_the_program_fd(veth_pair: VethPair, nl_b: RtNetlink,
                                           counts: Map) -> None:
    a, b = veth_pair.a, veth_pair.b
    nl_b.clsact_add(b.ifindex)
    try:
        with counter_program(counts, TC_ACT_OK, ProgramType.SCHED_CLS, "cls_ok") as prog:
            f = nl_b.tc_filter_add(b.ifindex, ClsactHook.INGRESS, prog.fd, name="kept")
        assert nl_b.tc_filters(b.ifindex, ClsactHook.INGRESS) == [f]
        assert udp_delivered(a, b, 4) == 4 and count(counts) == 4
    finally:
        nl_b.clsact_delete(b.ifindex)


def test_clsact_add_and_delete(veth_pair: VethPair, nl_b: RtNetlink) -> None:
    b = veth_pair.b
    assert not nl_b.clsact_exists(b.ifindex)
    assert nl_b.clsact_add(b.ifindex) is True
    try:
        assert nl_b.clsact_exists(b.ifindex)
        assert nl_b.clsact_add(b.ifindex) is False                      # already there
        with pytest.raises(NetlinkError) as info:
            nl_b.clsact_add(b.ifindex, exist_ok=False)
        assert info.value.errno == errno.EEXIST and "'veth-b'" in str(info.value)
    finally:
        assert nl_b.clsact_delete(b.ifindex) is True
    assert not nl_b.clsact_exists(b.ifindex)
    assert nl_b.clsact_delete(b.ifindex, missing_ok=True) is False
    with pytest.raises(NetlinkError, match="delete clsact qdisc of interface") as info:
        nl_b.clsact_delete(b.ifindex)
    assert info.value.errno == errno.EINVAL and info.value.extack


def test_clsact_add_refuses_the_ingress_qdisc(veth_pair: VethPair, nl_b: RtNetlink) -> None:
    """clsact and the older ingress qdisc share a slot: one there, the other cannot be added,
    and ``exist_ok`` must not mistake ingress for clsact."""
    b = veth_pair.b
    subprocess.run(["tc", "-n", b.ns.name, "qdisc", "add", "dev", b.ifname, "ingress"],
                   check=True, capture_output=True)
    with pytest.raises(NetlinkError) as info:
        nl_b.clsact_add(b.ifindex)
    assert info.value.errno == errno.EEXIST
    assert not nl_b.clsact_exists(b.ifindex)


def test_tc_errors(veth_pair: VethPair, nl_b: RtNetlink, counts: Map) -> None:
    b = veth_pair.b
    with counter_program(counts, TC_ACT_OK, ProgramType.SCHED_CLS, "cls_ok") as cls, \
            counter_program(counts, XDP_PASS, ProgramType.XDP, "xdp_pass") as xdp:
        with pytest.raises(NetlinkError, match="Parent Qdisc doesn't exist") as info:
            nl_b.tc_filter_add(b.ifindex, ClsactHook.INGRESS, cls.fd, name="orphan")
        assert info.value.errno == errno.EINVAL
        assert "add BPF filter 'orphan' to clsact ingress of interface" in str(info.value)
        nl_b.clsact_add(b.ifindex)
        try:
            with pytest.raises(NetlinkError) as info:
                nl_b.tc_filter_add(b.ifindex, ClsactHook.EGRESS, xdp.fd, name="wrong_type")
            assert info.value.errno == errno.EINVAL
            with pytest.raises(NetlinkError) as info:
                nl_b.tc_filter_add(4242, ClsactHook.EGRESS, cls.fd, name="nowhere")
            assert info.value.errno == errno.ENODEV
            for bad in ({"priority": 1 << 16}, {"handle": -1}, {"name": "x" * 300}):
                with pytest.raises(EbpfError):
                    nl_b.tc_filter_add(b.ifindex, ClsactHook.EGRESS, cls.fd,
                                       **{"name": "n", **bad})  # type: ignore[arg-type]
            with pytest.raises(EbpfError, match="filter priority"):
                nl_b.tc_filter_delete(b.ifindex, ClsactHook.EGRESS, priority=0, handle=1)
            assert nl_b.tc_filters(b.ifindex, ClsactHook.EGRESS) == []
        finally:
            nl_b.clsact_delete(b.ifindex)


# --- the socket itself ------------------------------------------------------------------------

def test_no_descriptor_is_left_open(veth_pair: VethPair, counts: Map) -> None:
    b = veth_pair.b
    before = open_fds()
    for _ in range(3):
        with b.ns.netlink() as nl:
            nl.interface_index("veth-b")
            with pytest.raises(NetlinkError):
                nl.interface_index("nosuchif0")
    nl = b.ns.netlink()
    nl.close()
    nl.close()
    assert nl.closed
    with pytest.raises(EbpfError, match="closed"):
        nl.interface_index("lo")
    assert open_fds() == before


def test_socket_is_close_on_exec_and_in_its_namespace(veth_pair: VethPair) -> None:
    with veth_pair.b.ns.netlink() as nl, RtNetlink() as host:
        assert fcntl.fcntl(nl.fileno(), fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        assert nl.interface_index("veth-b") == veth_pair.b.ifindex
        with pytest.raises(NetlinkError):
            host.interface_index("veth-b")                     # not in the host namespace


def test_requests_can_follow_an_error_and_a_dump(veth_pair: VethPair, nl_b: RtNetlink) -> None:
    """Each answer is matched by sequence number: many requests on one socket, mixing
    errors, dumps and plain requests, each get their own answer."""
    b = veth_pair.b
    for i in range(50):
        if i % 3 == 0:
            with pytest.raises(NetlinkError):
                nl_b.interface_index(f"nosuch{i}")
        elif i % 3 == 1:
            assert not nl_b.clsact_exists(b.ifindex)
        else:
            assert nl_b.interface_name(b.ifindex) == "veth-b"


def test_the_same_tc_filter_from_both_namespaces_is_not_confused(
        veth_pair: VethPair, nl_a: RtNetlink, nl_b: RtNetlink, counts: Map) -> None:
    """Both ends have ifindex 2 in their own namespace; each socket sees only its own."""
    a, b = veth_pair.a, veth_pair.b
    assert a.ifindex == b.ifindex          # both fresh namespaces: lo is 1, the veth 2
    with counter_program(counts, TC_ACT_OK, ProgramType.SCHED_CLS, "cls_ok") as prog:
        nl_b.clsact_add(b.ifindex)
        try:
            f = nl_b.tc_filter_add(b.ifindex, ClsactHook.INGRESS, prog.fd, name="only_b")
            assert nl_b.tc_filters(b.ifindex, ClsactHook.INGRESS) == [f]
            assert not nl_a.clsact_exists(a.ifindex)
            assert nl_a.tc_filters(a.ifindex, ClsactHook.INGRESS) == []
        finally:
            nl_b.clsact_delete(b.ifindex)
