"""The interface families where kernels differ, run on the host and in the VM runner's guests
(``python3 scripts/vm.py --kernel all -- -m vm tests/kernel/test_link_net_vm.py``):

* tcx: a kernel without it (6.1) falls back to a legacy tc filter, which must filter packets
  just the same; kernels with it (6.6+) use a tcx bpf_link;
* netkit (6.7+, and only where the kernel was built with it: not this project's host): a
  primary and a peer program on a netkit pair between two namespaces, proved with packets.

Where the kernel lacks netkit the test skips on a conclusive probe (creating a netkit device
fails with "Unknown device type"); in the 6.12 guest that is a failure. Kept lean: Python is
many times slower in the guests.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ebpf import link
from ebpf.collection import Collection
from ebpf.elf_reader import load_collection_spec
from ebpf.errors import NotSupportedError
from ebpf.link import BPFLink, Mechanism
from ebpf.map import Map
from ebpf.types import AttachType, LinkType
from tests import netkit
from tests.netkit import Endpoint, NetkitError, Netns, VethPair, udp_delivered

pytestmark = [pytest.mark.kernel, pytest.mark.vm]

veth_pair = netkit.veth_pair        # the fixture

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
SUFFIX = "el" if sys.byteorder == "little" else "eb"
VM_KERNEL = os.environ.get("EBPF_VM_KERNEL", "")


def kernel_version() -> tuple[int, int]:
    major, minor = os.uname().release.split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


@pytest.fixture(scope="module")
def objs() -> Iterator[Collection]:
    spec = load_collection_spec(TESTDATA / f"link_net-{SUFFIX}.elf")
    spec.programs = {k: v for k, v in spec.programs.items() if k in ("tc_pass", "tc_drop")}
    with Collection(spec) as coll:
        yield coll


@pytest.fixture
def counts(objs: Collection) -> Map:
    m = objs.maps["counts"]
    m[0] = 0
    return m


def test_tcx_filters_packets_with_tcx_or_the_tc_fallback(veth_pair: VethPair,
                                                         objs: Collection,
                                                         counts: Map) -> None:
    a, b = veth_pair.a, veth_pair.b
    has_tcx = kernel_version() >= (6, 6)
    with b.ns.run(link.tcx, b.ifname, objs.programs["tc_drop"], "ingress") as lk:
        assert lk.mechanism is (Mechanism.BPF_LINK if has_tcx else Mechanism.NETLINK)
        assert isinstance(lk, BPFLink) == has_tcx
        info = lk.info()
        assert info.type is (LinkType.TCX if has_tcx else LinkType.UNSPEC)
        assert info.attach_type is AttachType.TCX_INGRESS
        assert udp_delivered(a, b, 3, timeout=0.5) == 0 and counts[0] == 3
        assert udp_delivered(b, a, 2) == 2 and counts[0] == 3      # egress is not filtered
        seen = b.ns.run(link.query, b.ifname, "ingress")
        assert [(p.program_id, p.mechanism) for p in seen.programs] == [
            (info.program_id, lk.mechanism)]
        assert (seen.revision is not None) == has_tcx
        if not has_tcx:
            with pytest.raises(NotSupportedError, match="no tcx"):
                b.ns.run(link.tcx, b.ifname, objs.programs["tc_pass"], "ingress",
                         before="all")
    assert b.ns.run(link.query, b.ifname, "ingress").programs == ()
    assert udp_delivered(a, b, 2) == 2 and counts[0] == 3


# --- netkit ------------------------------------------------------------------------------------

def unavailable(reason: str) -> None:
    """Skip where the kernel lacks netkit; fail in the 6.12 guest, which has it."""
    if VM_KERNEL.startswith("6.12"):
        pytest.fail(f"the VM kernel {VM_KERNEL} should offer netkit: {reason}", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def netkit_pair() -> Iterator[tuple[Endpoint, Endpoint]]:
    """A netkit pair (layer 3, the default): the primary ``nkp`` in one new namespace, its
    peer in another, with addresses and IPv6 off; deleted with the namespaces."""
    with Netns.create() as ns_a, Netns.create() as ns_b:
        for ns in (ns_a, ns_b):
            for key in ("net.ipv6.conf.all.disable_ipv6",
                        "net.ipv6.conf.default.disable_ipv6"):
                ns.sysctl(key, "1")
        try:
            ns_a.ip("link", "add", "nkp", "type", "netkit")
        except NetkitError as e:
            if "Unknown device type" in str(e) or "not supported" in str(e):
                unavailable(f"this kernel has no netkit devices ({e})")
            raise
        names = [line.split(":")[1].strip().split("@")[0]
                 for line in ns_a.ip("-o", "link", "show").splitlines()]
        peers = [n for n in names if n not in ("lo", "nkp")]
        assert len(peers) == 1, names
        ns_a.ip("link", "set", peers[0], "netns", ns_b.name)
        ends = []
        for ns, name, addr in ((ns_a, "nkp", "198.51.100.1"), (ns_b, peers[0], "198.51.100.2")):
            ns.ip("addr", "add", f"{addr}/24", "dev", name)
            ns.ip("link", "set", name, "up")
            with ns.netlink() as nl:
                ends.append(Endpoint(ns, name, nl.interface_index(name), addr, ""))
        deadline = time.monotonic() + 10
        while udp_delivered(ends[0], ends[1], 1, timeout=0.2) != 1:
            assert time.monotonic() < deadline, "the netkit pair carries no traffic"
        yield ends[0], ends[1]


def test_netkit_primary_and_peer_programs(objs: Collection, counts: Map) -> None:
    with netkit_pair() as (a, b):
        counts[0] = 0
        attach = a.ns.run        # both programs attach through the primary device
        with attach(link.netkit, a.ifname, objs.programs["tc_pass"], "primary") as lk:
            info = lk.info()
            assert (info.type, info.attach_type) == (LinkType.NETKIT,
                                                     AttachType.NETKIT_PRIMARY)
            assert info.target == {"ifindex": a.ifindex}
            seen = a.ns.run(link.query, a.ifname, "primary")
            assert [(p.program_id, p.link_id) for p in seen.programs] == [
                (info.program_id, info.id)]
            assert udp_delivered(a, b, 4) == 4 and counts[0] == 4
            assert udp_delivered(b, a, 2) == 2 and counts[0] == 4   # the peer's side
            with attach(link.netkit, a.ifname, objs.programs["tc_drop"], "primary",
                        before=lk, expected_revision=seen.revision):
                assert udp_delivered(a, b, 2, timeout=0.5) == 0 and counts[0] == 6
        assert udp_delivered(a, b, 2) == 2 and counts[0] == 6
        with attach(link.netkit, a.ifindex, objs.programs["tc_drop"],
                    AttachType.NETKIT_PEER):
            assert udp_delivered(b, a, 3, timeout=0.5) == 0 and counts[0] == 9
            assert udp_delivered(a, b, 2) == 2 and counts[0] == 9
        assert udp_delivered(b, a, 2) == 2
