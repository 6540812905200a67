"""The fixtures of the ebpf pytest plugin on the real kernel: a private bpffs, a network
namespace the test's thread runs in, a veth pair there, a cgroup, the collection loader, and
the leak check finding what a test leaves behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from ebpf import Collection, LinkType, Map, MapSpec, MapType, Program, ProgramType
from ebpf.asm.helpers import Helper
from ebpf.internal.pin import is_bpffs
from ebpf.testing import Cgroup, LeakCheck, NetNamespace, VethPair

pytestmark = pytest.mark.kernel
pytest_plugins = ("pytester",)

LoadCollection = Callable[..., Collection]


def _netns_inode() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


def _mounts() -> str:
    with open("/proc/self/mounts") as f:
        return f.read()


@pytest.fixture
def outside() -> int:
    """The network namespace the test thread is in before ``netns`` (set up first)."""
    return _netns_inode()


def _array() -> Map:
    return Map(MapSpec("leak", MapType.ARRAY, 4, 4, 1))


def test_bpffs_is_private_and_pins_work(bpffs: str, pin_dir: str) -> None:
    assert is_bpffs(bpffs)
    assert f" {bpffs} bpf " in _mounts()
    assert os.path.dirname(pin_dir) == bpffs
    with _array() as m:
        m.pin(os.path.join(pin_dir, "m"))
        assert os.listdir(pin_dir) == ["m"]
        m.unpin()


def test_bpffs_is_unmounted_after_its_test(bpffs: str) -> None:
    # Each test has its own: the previous test's mount is gone.
    assert _mounts().count(" bpf ") >= 1
    assert [e for e in os.listdir(bpffs) if "." not in e] == []  # the kernel's own: x.debug


def test_netns_is_entered_and_fresh(outside: int, netns: NetNamespace) -> None:
    assert _netns_inode() == netns.inode != outside
    assert socket.if_nameindex() == [(1, "lo")]
    seen: list[int] = []
    t = threading.Thread(target=lambda: seen.append(_netns_inode()))
    t.start()
    t.join()
    assert seen == [netns.inode]  # threads the test starts inherit it
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
        b.bind(("127.0.0.1", 0))
        a.sendto(b"x", b.getsockname())
        assert b.recv(10) == b"x"


def test_netns_run_and_enter_from_other_threads(netns: NetNamespace) -> None:
    assert netns.run(_netns_inode) == netns.inode
    result: list[int] = []

    def elsewhere() -> None:
        with netns.enter():
            result.append(_netns_inode())
        result.append(_netns_inode())

    with NetNamespace() as inner:  # the thread is now elsewhere; enter() brings it back
        assert _netns_inode() == inner.inode
        assert netns.run(_netns_inode) == netns.inode
        t = threading.Thread(target=elsewhere)
        t.start()
        t.join()
        assert result == [netns.inode, inner.inode]
    assert _netns_inode() == netns.inode


def test_netns_is_left_after_the_test(outside: int) -> None:
    # The previous tests' namespaces were left by this thread.
    assert _netns_inode() == outside


def test_netns_close_from_another_thread_is_refused(netns: NetNamespace) -> None:
    errors: list[BaseException] = []

    def close() -> None:
        try:
            netns.close()
        except RuntimeError as e:
            errors.append(e)

    t = threading.Thread(target=close)
    t.start()
    t.join()
    assert len(errors) == 1 and "thread" in str(errors[0])
    assert not netns.closed


def test_veth_pair(veth_pair: VethPair, netns: NetNamespace) -> None:
    a, b = veth_pair
    assert veth_pair.netns is netns
    assert (a.name, b.name) == ("veth0", "veth1")
    assert socket.if_nametoindex(a.name) == a.ifindex
    assert socket.if_nametoindex(b.name) == b.ifindex
    assert a.mac != b.mac and len(a.mac) == 17
    shown = netns.ip("-o", "addr", "show", "dev", a.name)
    assert f"inet {a.addr}/24" in shown
    assert "UP" in netns.ip("-o", "link", "show", "dev", b.name)


def test_cgroup(cgroup: Cgroup) -> None:
    assert os.path.isdir(cgroup.path)
    assert cgroup.pids() == []
    assert cgroup.id == os.stat(os.fspath(cgroup)).st_ino
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    try:
        cgroup.add(child.pid)
        assert cgroup.pids() == [child.pid]
        with open(f"/proc/{child.pid}/cgroup") as f:
            assert os.path.basename(cgroup.path) in f.read()
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait()


def test_cgroup_takes_the_test_process_and_gives_it_back() -> None:
    with open("/proc/self/cgroup") as f:
        before = f.read()
    group = Cgroup()
    with group:
        group.add()
        assert group.pids() == [os.getpid()]
    assert not os.path.exists(group.path)
    with open("/proc/self/cgroup") as f:
        assert f.read() == before


def test_load_collection_finds_testdata_and_closes(load_collection: LoadCollection) -> None:
    coll = load_collection("testing_packets")
    assert isinstance(coll.programs["xdp_parse"], Program)
    kept.append(coll)


kept: list[Collection] = []


def test_the_collection_was_closed_after_its_test() -> None:
    assert kept and all(p.closed for p in kept[0].programs.values())
    kept.clear()


def test_load_collection_missing_file_names_it(load_collection: LoadCollection) -> None:
    with pytest.raises(Exception, match="no_such_object"):
        load_collection("no_such_object.o")


# --- the leak check ----------------------------------------------------------------------------

def test_leak_check_sees_an_open_descriptor() -> None:
    check = LeakCheck()
    check.start()
    m = _array()
    try:
        problems = check.finish()
    finally:
        m.close()
    assert len(problems) == 1 and f"file descriptor {m_fd(problems)}" in problems[0]


def m_fd(problems: list[str]) -> int:
    return int(problems[0].split()[2])


def test_leak_check_sees_a_pin(tmp_path: Path) -> None:
    from ebpf.testing import _system

    # A bpffs of its own, not the plugin's (whose pins go when it is unmounted).
    fs = tmp_path / "fs"
    fs.mkdir()
    _system.mount("bpf", str(fs), "bpf")
    try:
        check = LeakCheck()
        check.start()
        pin = str(fs / "left_behind")
        with _array() as m:
            m.pin(pin)
            map_id = m.info().id
        problems = check.finish()
        os.unlink(pin)
        check = LeakCheck()
        check.start()
        with _array() as m:
            m.pin(pin)
            m.unpin()
        assert check.finish() == []
    finally:
        _system.umount(str(fs))
    assert problems == [f"pin {pin} (map id {map_id}) left behind"]


def test_leak_check_sees_an_attached_program(veth_pair: VethPair,
                                             load_collection: LoadCollection) -> None:
    from ebpf.internal.netlink import RtNetlink

    check = LeakCheck(settle=0.2)
    check.start()
    with load_collection("testing_packets") as coll:
        prog = coll.programs["xdp_parse"]
        with RtNetlink() as nl:
            nl.xdp_attach(veth_pair.a.ifindex, prog.fd)
        prog_id = prog.info().id
    problems = check.finish()
    with RtNetlink() as nl:
        nl.xdp_detach(veth_pair.a.ifindex)
    assert problems == [f"BPF program id {prog_id} still exists (attached or held by something "
                        "the test left behind)"]


def test_leak_check_is_quiet_for_a_clean_test(load_collection: LoadCollection) -> None:
    check = LeakCheck()
    check.start()
    with load_collection("testing_packets") as coll:
        coll.programs["xdp_parse"].test_run(b"\0" * 64)
    assert check.finish() == []


@pytest.mark.no_leaks
def test_marked_no_leaks_runs_clean(load_collection: LoadCollection, bpffs: str) -> None:
    with _array() as m:
        m.pin(os.path.join(bpffs, "x"))  # the private bpffs goes away with its pins
    load_collection("testing_packets")


def test_ebpf_leak_check_fixture(ebpf_leak_check: LeakCheck) -> None:
    assert isinstance(ebpf_leak_check, LeakCheck)
    assert ebpf_leak_check.kernel_objects


# --- requires_feature on the real probes ---------------------------------------------------------

@pytest.mark.requires_feature(MapType.HASH, "map_type:array", "prog_test_run",
                              (ProgramType.XDP, Helper.map_lookup_elem),
                              "helper:xdp:bpf_redirect_map")
def test_requires_feature_runs_where_the_kernel_has_it() -> None:
    pass


def test_requires_feature_skips_naming_the_probe(pytester: pytest.Pytester,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from ebpf import features

    if features.is_supported(features.have_link_type, LinkType.NETKIT):
        pytest.skip("this kernel has netkit links: nothing to skip for")
    monkeypatch.delenv("EBPF_REQUIRE_KERNEL", raising=False)
    pytester.makepyfile("""
        import pytest
        from ebpf.types import LinkType

        @pytest.mark.requires_feature(LinkType.NETKIT)
        def test_netkit():
            raise AssertionError("must not run")
    """)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*needs link type NETKIT; the kernel lacks bpf_link netkit*"])
    monkeypatch.setenv("EBPF_REQUIRE_KERNEL", "1")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*EBPF_REQUIRE_KERNEL=1 but the test needs link type NETKIT*"])
    pytester.makeini("[pytest]\nebpf_known_missing = netkit\n")
    pytester.runpytest().assert_outcomes(skipped=1)


def test_a_built_frame_crosses_the_veth_pair_into_xdp(veth_pair: VethPair,
                                                      load_collection: LoadCollection) -> None:
    """End to end: a frame from ebpf.testing.packets, sent on one end of the pair through a
    packet socket, reaches the XDP parser attached to the other end with good checksums."""
    import time

    from ebpf.internal.netlink import RtNetlink
    from ebpf.testing import packets

    coll = load_collection("testing_packets")
    a, b = veth_pair
    frame = packets.udp4(src=a.addr, dst=b.addr, sport=4242, dport=9, payload=b"over veth",
                         eth_src=a.mac, eth_dst=b.mac)
    with RtNetlink() as nl:
        nl.xdp_attach(b.ifindex, coll.programs["xdp_parse"].fd)
        try:
            with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
                s.bind((a.name, 0))
                s.send(frame)
            deadline = time.monotonic() + 10
            while coll.maps["parsed"][0]["sport"] != 4242 and time.monotonic() < deadline:
                time.sleep(0.01)  # waiting for delivery, not asserting on time
        finally:
            nl.xdp_detach(b.ifindex)
    got = coll.maps["parsed"][0]
    assert (got["sport"], got["dport"], got["ip_csum_ok"], got["l4_csum_ok"]) == (4242, 9, 1, 1)
    assert got["src"][:4] == socket.inet_aton(a.addr)
