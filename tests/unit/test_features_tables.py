"""The tables of ebpf.features: the first release of every map, program, attach and link type
and helper, and which program types use each attach type. (Whether the running kernel agrees
is tests/kernel/test_features.py's business.)"""

from __future__ import annotations

import pytest

from ebpf import kernel_versions as _versions
from ebpf.asm.helpers import HELPER_MAX_ID, Helper
from ebpf.errors import EbpfError
from ebpf.features._attach import ATTACH_PROGRAM_TYPES
from ebpf.kernel_versions import (
    ATTACH_TYPE_VERSIONS,
    LINK_TYPE_VERSIONS,
    MAP_TYPE_VERSIONS,
    PROGRAM_TYPE_VERSIONS,
    helper_version,
    version_tuple,
)
from ebpf.types import AttachType, LinkType, MapType, ProgramType

RELEASES = {f"3.{m}" for m in (18, 19)} | {f"4.{m}" for m in range(21)} \
    | {f"5.{m}" for m in range(20)} | {f"6.{m}" for m in range(19)}


@pytest.mark.parametrize("enum, table", [
    (MapType, MAP_TYPE_VERSIONS), (ProgramType, PROGRAM_TYPE_VERSIONS),
    (AttachType, ATTACH_TYPE_VERSIONS), (LinkType, LINK_TYPE_VERSIONS),
], ids=["map", "program", "attach", "link"])
def test_every_member_has_a_release(enum: type, table: dict[object, str | None]) -> None:
    assert set(table) == set(enum)
    for member, version in table.items():
        if member.name == "UNSPEC":
            assert version is None
        else:
            assert version in RELEASES, member


def test_releases_follow_the_enum_order() -> None:
    """Values are appended to the kernel's enums as features are merged, so a later value
    never came in an earlier release (link types excepted: their probes test later additions
    to old families)."""
    for table in (MAP_TYPE_VERSIONS, PROGRAM_TYPE_VERSIONS, ATTACH_TYPE_VERSIONS):
        versions = [version_tuple(v) for _, v in sorted(table.items()) if v is not None]
        assert versions == sorted(versions)


def test_every_helper_has_a_release() -> None:
    versions = [helper_version(h) for h in Helper]
    assert all(v in RELEASES for v in versions)
    assert [version_tuple(v) for v in versions if v] == sorted(
        version_tuple(v) for v in versions if v)
    assert helper_version(0) is None
    assert helper_version(HELPER_MAX_ID) is None


def test_helper_ranges_are_strictly_increasing() -> None:
    starts = [start for start, _ in _versions._HELPER_RANGES]
    releases = [version_tuple(v) for _, v in _versions._HELPER_RANGES]
    assert starts == sorted(set(starts))
    assert releases == sorted(set(releases))
    assert starts[0] == 1 and starts[-1] < HELPER_MAX_ID


@pytest.mark.parametrize("member, version", [
    (MapType.RINGBUF, "5.8"), (MapType.ARENA, "6.9"), (MapType.BLOOM_FILTER, "5.16"),
    (MapType.USER_RINGBUF, "6.1"), (MapType.CGRP_STORAGE, "6.2"),
    (ProgramType.SYSCALL, "5.14"), (ProgramType.NETFILTER, "6.4"), (ProgramType.LSM, "5.7"),
    (AttachType.TCX_INGRESS, "6.6"), (AttachType.NETKIT_PEER, "6.7"),
    (AttachType.TRACE_UPROBE_MULTI, "6.6"), (AttachType.CGROUP_UNIX_CONNECT, "6.7"),
    (AttachType.TRACE_KPROBE_SESSION, "6.10"), (AttachType.TRACE_UPROBE_SESSION, "6.13"),
    (LinkType.TRACING, "5.19"), (LinkType.SOCKMAP, "6.10"), (LinkType.CGROUP, "5.7"),
    (Helper.ringbuf_output, "5.8"), (Helper.get_attach_cookie, "5.15"),
    (Helper.get_prandom_u32, "4.1"), (Helper.tcp_gen_syncookie, "5.4"),
    (Helper.tcp_send_ack, "5.6"), (Helper.user_ringbuf_drain, "6.1"),
    (Helper.cgrp_storage_delete, "6.2"), (Helper.map_lookup_elem, "3.19"),
])
def test_spot_checks(member: object, version: str) -> None:
    if isinstance(member, Helper):
        assert helper_version(member) == version
        return
    # IntEnum members of different enums compare equal by value: pick the table by type.
    tables: dict[type, dict[object, str | None]] = {
        MapType: MAP_TYPE_VERSIONS, ProgramType: PROGRAM_TYPE_VERSIONS,  # type: ignore[dict-item]
        AttachType: ATTACH_TYPE_VERSIONS, LinkType: LINK_TYPE_VERSIONS,  # type: ignore[dict-item]
    }
    assert tables[type(member)][member] == version


def test_every_attach_type_has_its_program_types() -> None:
    assert set(ATTACH_PROGRAM_TYPES) == set(AttachType)
    for at, users in ATTACH_PROGRAM_TYPES.items():
        assert users and ProgramType.UNSPEC not in users
        for pt in users:
            # An attach type is never older than the program types that use it.
            pv = PROGRAM_TYPE_VERSIONS[pt]
            assert pv is not None
            assert version_tuple(ATTACH_TYPE_VERSIONS[at]) >= version_tuple(pv), (at, pt)


def test_bad_arguments_are_ebpf_errors() -> None:
    from ebpf import features

    with pytest.raises(EbpfError, match="not a program type"):
        features.have_program_type(12345)  # type: ignore[arg-type]
    with pytest.raises(EbpfError, match="not an attach type"):
        features.have_attach_type(ProgramType.XDP, 12345)  # type: ignore[arg-type]
    with pytest.raises(EbpfError, match="not a link type"):
        features.have_link_type(12345)  # type: ignore[arg-type]
    with pytest.raises(EbpfError, match="UNSPEC"):
        features.have_link_type(LinkType.UNSPEC)
    with pytest.raises(EbpfError, match="kfunc name"):
        features.have_kfunc(ProgramType.XDP, "")
