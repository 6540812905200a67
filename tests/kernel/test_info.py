"""Info records, id enumeration and statistics against the running kernel."""

from __future__ import annotations

import itertools
import os

import pytest

from ebpf import asm
from ebpf.asm import R0
from ebpf.errors import ClosedError, EbpfError, SyscallError
from ebpf.info import (
    EnabledStats,
    MapInfo,
    ProgramInfo,
    _map_type,
    _program_type,
    btf_ids,
    enable_stats,
    link_ids,
    map_ids,
    map_info,
    program_ids,
    program_info,
)
from ebpf.map import Map, MapSpec
from ebpf.program import Program, ProgramSpec
from ebpf.types import MapFlags, MapType, ProgramType, StatsType

pytestmark = pytest.mark.kernel


def _prog(name: str = "info_test") -> Program:
    insns = asm.Instructions([asm.mov.imm(R0, 0), asm.exit()])
    return Program(ProgramSpec(name=name, type=ProgramType.SOCKET_FILTER, instructions=insns))


def _map(**kw: object) -> Map:
    args: dict[str, object] = {"name": "info_map", "type": MapType.HASH, "key_size": 4,
                               "value_size": 8, "max_entries": 16}
    args.update(kw)
    return Map(MapSpec(**args))  # type: ignore[arg-type]


def test_program_info_by_fd() -> None:
    with _prog("by_fd") as prog:
        info = program_info(prog.fd)
        assert isinstance(info, ProgramInfo)
        assert info.name == "by_fd"
        assert info.type is ProgramType.SOCKET_FILTER
        assert info.xlated_size == 16
        assert info.id == prog.info().id


def test_map_info_fields() -> None:
    with _map(name="shape", type=MapType.LRU_HASH, key_size=8, value_size=24,
              max_entries=100, flags=int(MapFlags.NO_COMMON_LRU)) as m:
        info = map_info(m.fd)
        assert isinstance(info, MapInfo)
        assert info.name == "shape"
        assert info.type is MapType.LRU_HASH
        assert (info.key_size, info.value_size, info.max_entries) == (8, 24, 100)
        assert info.flags & MapFlags.NO_COMMON_LRU
        assert info.id > 0
        assert info.btf_id == 0 and info.btf_key_type_id == 0


def test_info_refuses_the_wrong_kind_of_fd() -> None:
    with _map() as m, _prog() as prog:
        with pytest.raises(EbpfError, match="not a BPF program"):
            program_info(m.fd)
        with pytest.raises(EbpfError, match="not a BPF map"):
            map_info(prog.fd)
    r, w = os.pipe()
    try:
        with pytest.raises(EbpfError):
            program_info(r)
    finally:
        os.close(r)
        os.close(w)
    with pytest.raises(EbpfError):
        map_info(-1)
    with pytest.raises(EbpfError):
        program_info(True)


def test_program_ids_include_a_loaded_program() -> None:
    with _prog() as prog:
        prog_id = prog.info().id
        ids = list(program_ids())
        assert prog_id in ids
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert prog_id not in set(program_ids())


def test_map_ids_include_a_created_map() -> None:
    with _map() as m:
        map_id = m.info().id
        ids = list(map_ids())
        assert map_id in ids
        assert ids == sorted(ids)


def test_btf_and_link_ids_enumerate() -> None:
    btfs = list(btf_ids())
    assert btfs, "the kernel's own BTF (vmlinux) has an id"
    assert btfs == sorted(btfs) and all(isinstance(i, int) and i > 0 for i in btfs)
    links = list(itertools.islice(link_ids(), 1000))
    assert links == sorted(links)


def test_unknown_type_numbers_are_kept() -> None:
    assert _program_type(1) is ProgramType.SOCKET_FILTER
    assert _program_type(4000) == 4000 and not isinstance(_program_type(4000), ProgramType)
    assert _map_type(2) is MapType.ARRAY
    assert _map_type(4000) == 4000 and not isinstance(_map_type(4000), MapType)


def test_enable_stats_handle() -> None:
    stats = enable_stats(StatsType.RUN_TIME)
    assert isinstance(stats, EnabledStats)
    assert stats.type is StatsType.RUN_TIME
    assert stats.fd > 0
    assert "RUN_TIME" in repr(stats) and f"fd={stats.fd}" in repr(stats)
    target = os.readlink(f"/proc/self/fd/{stats.fd}")
    assert "bpf-stats" in target
    stats.close()
    stats.close()
    assert stats.closed
    assert "closed" in repr(stats)
    with pytest.raises(ClosedError):
        _ = stats.fd


def test_enable_stats_rejects_unknown_types() -> None:
    with pytest.raises(EbpfError):
        enable_stats(7)  # type: ignore[arg-type]


def test_info_of_a_closed_descriptor_fails_cleanly() -> None:
    prog = _prog()
    fd = prog.fd
    prog.close()
    with pytest.raises((EbpfError, SyscallError)):
        program_info(fd)
