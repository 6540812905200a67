"""Argument checks of the networking families of ebpf.link that need no kernel: anchors,
attach type names, interface names, revisions. (Everything that reaches the kernel is in
tests/kernel/test_link_net*.py.)"""

from __future__ import annotations

import pytest

from ebpf import link
from ebpf.errors import EbpfError
from ebpf.link._common import (
    BPF_F_AFTER,
    BPF_F_BEFORE,
    BPF_F_ID,
    check_revision,
    relative,
    resolve_interface,
)
from ebpf.link.cgroups import CGROUP_ATTACH_TYPES, cgroup_attach_type
from ebpf.types import AttachType, ProgramType


def test_relative_anchors() -> None:
    assert relative(None, None, "x") == (0, 0)
    assert relative("all", None, "x") == (BPF_F_BEFORE, 0)
    assert relative(None, "all", "x") == (BPF_F_AFTER, 0)
    assert relative(7, None, "x") == (BPF_F_BEFORE | BPF_F_ID, 7)
    assert relative(None, 0xFFFFFFFF, "x") == (BPF_F_AFTER | BPF_F_ID, 0xFFFFFFFF)


@pytest.mark.parametrize(("before", "after", "match"), [
    ("all", "all", "not both"),
    (0, None, "anchor"),
    (1 << 32, None, "anchor"),
    (True, None, "anchor"),
    ("first", None, "anchor"),
    (None, 2.0, "anchor"),
])
def test_relative_refuses(before: object, after: object, match: str) -> None:
    with pytest.raises(EbpfError, match=match):
        relative(before, after, "attach")


def test_revisions() -> None:
    assert check_revision(None, "x") == 0
    assert check_revision(5, "x") == 5
    for bad in (0, -1, 1 << 64, True, "3"):
        with pytest.raises(EbpfError, match="revisions start at 1"):
            check_revision(bad, "x")


def test_cgroup_attach_types_by_name_and_number() -> None:
    assert cgroup_attach_type("connect4") is AttachType.CGROUP_INET4_CONNECT
    assert cgroup_attach_type("cgroup/sendmsg6") is AttachType.CGROUP_UDP6_SENDMSG
    assert cgroup_attach_type(AttachType.CGROUP_SYSCTL) is AttachType.CGROUP_SYSCTL
    assert cgroup_attach_type(int(AttachType.CGROUP_DEVICE)) is AttachType.CGROUP_DEVICE
    for bad in ("connect5", AttachType.XDP, 9999, True, None):
        with pytest.raises(EbpfError, match="not a cgroup attach type"):
            cgroup_attach_type(bad)
    # Every name is unique, and every program type is a cgroup-attachable one.
    names = [name for _, name in CGROUP_ATTACH_TYPES.values()]
    assert len(names) == len(set(names))
    assert {t for t, _ in CGROUP_ATTACH_TYPES.values()} <= {
        ProgramType.CGROUP_SKB, ProgramType.CGROUP_SOCK, ProgramType.SOCK_OPS,
        ProgramType.CGROUP_DEVICE, ProgramType.CGROUP_SOCK_ADDR, ProgramType.CGROUP_SYSCTL,
        ProgramType.CGROUP_SOCKOPT, ProgramType.LSM}


@pytest.mark.parametrize("bad", ["", "a" * 16, "a/b", "a b", "a:1", ".", "..", "x\0y"])
def test_interface_names_are_checked_before_asking(bad: str) -> None:
    with pytest.raises(EbpfError, match="not a valid interface name"):
        resolve_interface(bad, "attach")


@pytest.mark.parametrize("bad", [0, -1, 1 << 31, True, 1.5, None, b"lo"])
def test_interface_indexes_are_checked_before_asking(bad: object) -> None:
    with pytest.raises(EbpfError, match="interface"):
        resolve_interface(bad, "attach")


def test_query_refuses_what_it_cannot_query() -> None:
    with pytest.raises(EbpfError, match="not a cgroup attach type"):
        link.query("/sys/fs/cgroup", AttachType.NETFILTER)
    with pytest.raises(EbpfError, match="effective=True applies to cgroups only"):
        link.query("lo", "xdp", effective=True)
    with pytest.raises(EbpfError, match="needs the cgroup's path"):
        link.query(None, "connect4")
