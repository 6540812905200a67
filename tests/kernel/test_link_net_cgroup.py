"""ebpf.link.cgroup: a cgroup/connect4 program in a test cgroup v2 refuses a real connect()
(EPERM) of a process in that cgroup and lets the others through, attached as a bpf_link and
with BPF_PROG_ATTACH in each mode; query lists what is attached, and how.

cgroup membership belongs to a process, so the connecting side is a short child process that
moves itself into the test's cgroup before it makes its sockets; the test process itself
stays outside, and is not affected. Every test gets a fresh cgroup, removed afterwards even
when the test fails.
"""

from __future__ import annotations

import errno
import gc
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ebpf import link
from ebpf.collection import Collection
from ebpf.elf_reader import load_collection_spec
from ebpf.errors import EbpfError, NotSupportedError, SyscallError
from ebpf.link import BPFLink, CgroupMode, Mechanism
from ebpf.map import Map
from ebpf.program import Program
from ebpf.testing import Cgroup
from ebpf.types import AttachType, LinkType

pytestmark = pytest.mark.kernel

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
SUFFIX = "el" if sys.byteorder == "little" else "eb"
CGROUP2 = "/sys/fs/cgroup/unified"

BPF_F_ALLOW_OVERRIDE, BPF_F_ALLOW_MULTI = 1, 2

# Run by the child: join the cgroup, then connect to each port and report the errno (0: it
# connected).
CHILD = r"""
import json, socket, sys
with open(sys.argv[1] + "/cgroup.procs", "w") as f:
    f.write("0")
out = {}
for port in sys.argv[2:]:
    s = socket.socket()
    s.settimeout(10)
    try:
        s.connect(("127.0.0.1", int(port)))
        out[port] = 0
    except OSError as e:
        out[port] = e.errno
    finally:
        s.close()
print(json.dumps(out))
"""


@pytest.fixture
def cgroup_dir(cgroup: Cgroup) -> str:
    """A new, empty child cgroup of the cgroup v2 root (the ebpf plugin's ``cgroup``: what is
    left in it is moved out and the directory removed after the test)."""
    return cgroup.path


@pytest.fixture(scope="module")
def objs() -> Iterator[Collection]:
    with Collection(load_collection_spec(TESTDATA / f"link_cgroup-{SUFFIX}.elf")) as coll:
        yield coll


@pytest.fixture
def calls(objs: Collection) -> Map:
    m = objs.maps["calls"]
    m[0] = m[1] = 0
    return m


@pytest.fixture
def ports(objs: Collection) -> Iterator[tuple[int, int]]:
    """Two listening ports on 127.0.0.1; connect4_block refuses the first."""
    with socket.socket() as blocked, socket.socket() as free:
        for s in (blocked, free):
            s.bind(("127.0.0.1", 0))
            s.listen(16)
        pair = (blocked.getsockname()[1], free.getsockname()[1])
        objs.maps["config"][0] = pair[0]
        yield pair


def connect_from(cgroup: str, *ports: int) -> dict[int, int]:
    """``{port: errno}`` of connect() from a process in ``cgroup`` (0: connected)."""
    done = subprocess.run([sys.executable, "-c", CHILD, cgroup, *map(str, ports)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return {int(k): v for k, v in json.loads(done.stdout).items()}


def connects_here(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        return True


def prog(objs: Collection, name: str) -> Program:
    return objs.programs[name]


def test_link_refuses_connect_in_the_cgroup_only(cgroup_dir: str, objs: Collection,
                                                 calls: Map, ports: tuple[int, int]) -> None:
    blocked, free = ports
    block = prog(objs, "connect4_block")
    assert connect_from(cgroup_dir, blocked, free) == {blocked: 0, free: 0}
    assert calls[0] == 0
    with link.cgroup(cgroup_dir, block, "connect4") as lk:
        assert isinstance(lk, BPFLink) and lk.mechanism is Mechanism.BPF_LINK
        info = lk.info()
        assert (info.type, info.attach_type) == (LinkType.CGROUP,
                                                 AttachType.CGROUP_INET4_CONNECT)
        assert info.target == {"cgroup_id": os.stat(cgroup_dir).st_ino}
        assert connect_from(cgroup_dir, blocked, free) == {blocked: errno.EPERM, free: 0}
        assert calls[0] == 2
        assert connects_here(blocked) and calls[0] == 2       # this process is outside
        seen = link.query(cgroup_dir, AttachType.CGROUP_INET4_CONNECT)
        assert [(p.program_id, p.link_id, p.mechanism) for p in seen.programs] == [
            (block.info().id, info.id, Mechanism.BPF_LINK)]
    assert link.query(cgroup_dir, "connect4").programs == ()
    assert connect_from(cgroup_dir, blocked, free) == {blocked: 0, free: 0}
    assert calls[0] == 2


def test_prog_attach_multi_replace_and_update(cgroup_dir: str, objs: Collection, calls: Map,
                                              ports: tuple[int, int]) -> None:
    blocked, free = ports
    block, count = prog(objs, "connect4_block"), prog(objs, "connect4_count")
    with link.cgroup(cgroup_dir, block, "cgroup/connect4", mode=CgroupMode.MULTI) as lb:
        assert lb.mechanism is Mechanism.PROG_ATTACH and not isinstance(lb, BPFLink)
        info = lb.info()
        assert (info.type, info.id, info.program_id) == (LinkType.UNSPEC, 0, block.info().id)
        with link.cgroup(cgroup_dir, count, "connect4", mode=CgroupMode.MULTI):
            seen = link.query(cgroup_dir, "connect4")
            assert seen.attach_flags == BPF_F_ALLOW_MULTI
            assert [(p.program_id, p.mechanism, p.attach_flags) for p in seen.programs] == [
                (block.info().id, Mechanism.PROG_ATTACH, BPF_F_ALLOW_MULTI),
                (count.info().id, Mechanism.PROG_ATTACH, BPF_F_ALLOW_MULTI)]
            # Both run, and the refusal of one is the refusal of all.
            assert connect_from(cgroup_dir, blocked, free) == {blocked: errno.EPERM, free: 0}
            assert (calls[0], calls[1]) == (2, 2)
        # count replaces block in place; block's Link then has nothing to detach.
        with link.cgroup(cgroup_dir, count, "connect4", mode=CgroupMode.MULTI,
                         replace=block) as lc:
            assert link.query(cgroup_dir, "connect4").program_ids == (count.info().id,)
            assert connect_from(cgroup_dir, blocked) == {blocked: 0}
            lb.close()
            assert link.query(cgroup_dir, "connect4").program_ids == (count.info().id,)
            lc.update(block)                       # BPF_F_REPLACE, expecting its program
            assert link.query(cgroup_dir, "connect4").program_ids == (block.info().id,)
            assert connect_from(cgroup_dir, blocked) == {blocked: errno.EPERM}
            assert lc.info().program_id == block.info().id
    assert link.query(cgroup_dir, "connect4").programs == ()
    assert connect_from(cgroup_dir, blocked) == {blocked: 0}


def test_prog_attach_override_and_single(cgroup_dir: str, objs: Collection, calls: Map,
                                         ports: tuple[int, int]) -> None:
    blocked, _ = ports
    block, count = prog(objs, "connect4_block"), prog(objs, "connect4_count")
    with link.cgroup(cgroup_dir, block, "connect4", mode=CgroupMode.OVERRIDE) as lk:
        assert link.query(cgroup_dir, "connect4").attach_flags == BPF_F_ALLOW_OVERRIDE
        assert connect_from(cgroup_dir, blocked) == {blocked: errno.EPERM}
        # Another mode on the same hook: the kernel refuses.
        for mode in (CgroupMode.SINGLE, CgroupMode.MULTI):
            with pytest.raises(SyscallError, match="another mode") as info:
                link.cgroup(cgroup_dir, count, "connect4", mode=mode)
            assert info.value.errno == errno.EPERM
        with pytest.raises(NotSupportedError, match="cannot be replaced in place"):
            lk.update(count)
    assert link.query(cgroup_dir, "connect4").programs == ()
    # SINGLE: attaching again replaces; the replaced program's Link leaves the new one alone.
    single = link.cgroup(cgroup_dir, block, "connect4", mode=CgroupMode.SINGLE)
    try:
        assert link.query(cgroup_dir, "connect4").attach_flags == 0
        with link.cgroup(cgroup_dir, count, "connect4", mode=CgroupMode.SINGLE):
            assert link.query(cgroup_dir, "connect4").program_ids == (count.info().id,)
            single.close()
            assert link.query(cgroup_dir, "connect4").program_ids == (count.info().id,)
            assert connect_from(cgroup_dir, blocked) == {blocked: 0} and calls[1] == 1
    finally:
        single.close()
    assert link.query(cgroup_dir, "connect4").programs == ()


def test_query_tells_links_from_prog_attach(cgroup_dir: str, objs: Collection) -> None:
    block, count = prog(objs, "connect4_block"), prog(objs, "connect4_count")
    with link.cgroup(cgroup_dir, block, "connect4") as lb, \
            link.cgroup(cgroup_dir, count, "connect4", mode=CgroupMode.MULTI):
        seen = link.query(cgroup_dir, "connect4")
        assert [(p.program_id, p.link_id, p.mechanism) for p in seen.programs] == [
            (block.info().id, lb.info().id, Mechanism.BPF_LINK),
            (count.info().id, 0, Mechanism.PROG_ATTACH)]
        # Effective: what runs for the cgroup, inherited programs included.
        effective = link.query(cgroup_dir, "connect4", effective=True)
        assert set(effective.program_ids) >= {block.info().id, count.info().id}
        # The parent has none of them.
        assert not set(link.query(CGROUP2, "connect4").program_ids) & set(seen.program_ids)


def test_dropping_an_unclosed_prog_attach_link_detaches_it(cgroup_dir: str,
                                                           objs: Collection) -> None:
    lk = link.cgroup(cgroup_dir, prog(objs, "connect4_block"), "connect4",
                     mode=CgroupMode.MULTI)
    assert link.query(cgroup_dir, "connect4").programs
    with pytest.warns(ResourceWarning, match="was not closed; detaching its program"):
        del lk
        gc.collect()
    assert link.query(cgroup_dir, "connect4").programs == ()


def kernel_version() -> tuple[int, int]:
    major, minor = os.uname().release.split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


@pytest.mark.skipif(kernel_version() < (6, 16),
                    reason="ordering cgroup programs needs Linux 6.16")
def test_order_before_after_and_revision(cgroup_dir: str, objs: Collection,
                                         ports: tuple[int, int]) -> None:
    """Programs that record the order they ran in, placed by link, program, id and "all",
    with links and with BPF_PROG_ATTACH; a stale revision is refused."""
    _, free = ports
    order = objs.maps["order"]
    one, two, three = (prog(objs, f"order_{i}") for i in (1, 2, 3))

    def ran() -> list[int]:
        for i in range(8):
            order[i] = 0
        assert connect_from(cgroup_dir, free) == {free: 0}
        return [order[i] for i in range(1, order[0] + 1)]

    # Links take links as anchors.
    with link.cgroup(cgroup_dir, two, "connect4") as l2, \
            link.cgroup(cgroup_dir, one, "connect4", before=l2) as l1, \
            link.cgroup(cgroup_dir, three, "connect4", after="all"):
        assert ran() == [1, 2, 3]
        seen = link.query(cgroup_dir, "connect4")
        assert seen.program_ids == tuple(p.info().id for p in (one, two, three))
        assert [p.link_id for p in seen.programs][:2] == [l1.info().id, l2.info().id]
        with pytest.raises(SyscallError, match="a link takes a link as its anchor") as info:
            link.cgroup(cgroup_dir, prog(objs, "connect4_count"), "connect4", before=two)
        assert info.value.errno == errno.EINVAL
    # BPF_PROG_ATTACH programs take programs (or their ids) as anchors; and revisions.
    revision = link.query(cgroup_dir, "connect4").revision
    assert revision is not None
    multi = CgroupMode.MULTI
    with link.cgroup(cgroup_dir, two, "connect4", mode=multi, expected_revision=revision), \
            link.cgroup(cgroup_dir, three, "connect4", mode=multi, after=two.info().id), \
            link.cgroup(cgroup_dir, one, "connect4", mode=multi, before=two):
        assert ran() == [1, 2, 3]
        with pytest.raises(SyscallError, match="revision") as info:
            link.cgroup(cgroup_dir, prog(objs, "connect4_count"), "connect4", mode=multi,
                        expected_revision=revision)
        assert info.value.errno == errno.ESTALE
    assert link.query(cgroup_dir, "connect4").programs == ()
    with pytest.raises(EbpfError, match=r"need CgroupMode\.LINK or MULTI"):
        link.cgroup(cgroup_dir, one, "connect4", mode=CgroupMode.OVERRIDE, after="all")


def test_cgroup_by_descriptor(cgroup_dir: str, objs: Collection,
                              ports: tuple[int, int]) -> None:
    """A descriptor target stays the caller's: the Link holds a duplicate."""
    blocked, _ = ports
    fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for mode in (CgroupMode.LINK, CgroupMode.MULTI):
            with link.cgroup(fd, prog(objs, "connect4_block"), "connect4", mode=mode):
                assert connect_from(cgroup_dir, blocked) == {blocked: errno.EPERM}
                assert link.query(fd, "connect4").program_ids
            os.fstat(fd)                                      # still open
        assert link.query(fd, "connect4").programs == ()
    finally:
        os.close(fd)


def test_cgroup_errors(cgroup_dir: str, objs: Collection) -> None:
    block = prog(objs, "connect4_block")
    missing = os.path.join(cgroup_dir, "nosuch")
    for mode in (CgroupMode.LINK, CgroupMode.MULTI):
        with pytest.raises(SyscallError, match=f"cgroup '{missing}' does not exist") as info:
            link.cgroup(missing, block, "connect4", mode=mode)
        assert info.value.errno == errno.ENOENT
    with pytest.raises(SyscallError, match="does not exist"):
        link.query(missing, "connect4")
    # A cgroup v1 hierarchy (when the machine has one), or a plain directory.
    for not_v2 in ("/sys/fs/cgroup/cpu", "/tmp"):
        if os.path.isdir(not_v2):
            with pytest.raises(SyscallError, match="not a cgroup v2 directory") as info:
                link.cgroup(not_v2, block, "connect4", mode=CgroupMode.MULTI)
            assert info.value.errno == errno.EBADF
    # A program loaded for connect4 on the bind4 hook: same type, other attach type.
    with pytest.raises(SyscallError, match="another attach type") as info:
        link.cgroup(cgroup_dir, block, "bind4")
    assert info.value.errno == errno.EINVAL
    with pytest.raises(EbpfError, match="CGROUP_SOCK_ADDR program; cgroup ingress takes "
                                        "CGROUP_SKB"):
        link.cgroup(cgroup_dir, block, "ingress")
    with pytest.raises(EbpfError, match="'connect5' is not a cgroup attach type"):
        link.cgroup(cgroup_dir, block, "connect5")
    with pytest.raises(EbpfError, match="is not a cgroup attach type"):
        link.cgroup(cgroup_dir, block, AttachType.XDP)
    with pytest.raises(EbpfError, match=r"replace= needs CgroupMode\.MULTI"):
        link.cgroup(cgroup_dir, block, "connect4", replace=block)
    with pytest.raises(EbpfError, match="path or an open file descriptor"):
        link.cgroup(3.5, block, "connect4")  # type: ignore[arg-type]
    assert link.query(cgroup_dir, "connect4").programs == ()
