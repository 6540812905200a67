"""Maps that need BTF: local storage keyed by a socket, task, inode or cgroup, and values
holding a bpf_spin_lock (which makes UpdateFlags.LOCK work)."""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import tempfile
from collections.abc import Iterator

import pytest

from ebpf import KeyNotFoundError, Map, MapFlags, MapSpec, MapType, SyscallError, UpdateFlags
from ebpf.btf import Array, Int, IntEncoding, Member, Struct
from ebpf.internal.kernel import possible_cpus
from ebpf.marshal import MarshalError
from ebpf.testing import Cgroup

pytestmark = pytest.mark.kernel

INT = Int("int", 4, IntEncoding.SIGNED)
U32 = Int("unsigned int", 4)
U64 = Int("long long unsigned int", 8)


def storage(type: MapType) -> MapSpec:
    return MapSpec(name=f"t_{type.name.lower()}", type=type, key_size=4, value_size=8,
                   max_entries=0, flags=MapFlags.NO_PREALLOC, key_type=INT, value_type=U64)


@pytest.fixture
def task_fd() -> Iterator[int]:
    fd = os.pidfd_open(os.getpid())
    yield fd
    os.close(fd)


@pytest.fixture
def inode_fd() -> Iterator[int]:
    with tempfile.TemporaryFile() as f:
        yield f.fileno()


@pytest.fixture
def cgroup_fd(cgroup: Cgroup) -> Iterator[int]:
    """A descriptor of a new cgroup (the ebpf plugin's ``cgroup``, removed after the test)."""
    fd = cgroup.open()
    yield fd
    os.close(fd)


def test_storage_maps_need_btf() -> None:
    s = storage(MapType.SK_STORAGE)
    s.key_type = s.value_type = None
    with pytest.raises(SyscallError) as ei:
        Map(s)
    assert ei.value.errno == errno.EINVAL


def test_socket_storage_keyed_by_socket() -> None:
    with Map(storage(MapType.SK_STORAGE)) as m, socket.socket() as a, socket.socket() as b:
        m[a.fileno()] = 7
        assert m[a.fileno()] == 7  # decoded by the BTF value type
        assert m.raw[a.fileno()] == (7).to_bytes(8, "little")
        with pytest.raises(KeyNotFoundError):
            m[b.fileno()]
        del m[a.fileno()]
        assert a.fileno() not in m
        info = m.info()
        assert info.btf_id > 0 and info.btf_key_type_id > 0 and info.btf_value_type_id > 0


@pytest.mark.parametrize("type, fixture", [(MapType.TASK_STORAGE, "task_fd"),
                                           (MapType.INODE_STORAGE, "inode_fd"),
                                           (MapType.CGRP_STORAGE, "cgroup_fd")])
def test_other_local_storage(type: MapType, fixture: str, request: pytest.FixtureRequest) -> None:
    fd = request.getfixturevalue(fixture)
    with Map(storage(type)) as m:
        m[fd] = 11
        assert m[fd] == 11
        m.update(fd, 12, UpdateFlags.EXIST)
        assert m.raw[fd] == (12).to_bytes(8, "little")


def test_spin_lock_values_take_the_lock_flag() -> None:
    lock = Struct("bpf_spin_lock", 4, [Member("val", U32, 0)])
    value = Struct("locked_counter", 8, [Member("lock", lock, 0), Member("count", U32, 32)])
    with Map(MapSpec(name="locked", type=MapType.HASH, key_size=4, value_size=8,
                     max_entries=4, key_type=U32, value_type=value)) as m:
        m.update(1, bytes(4) + (5).to_bytes(4, "little"))
        m.update(1, {"count": 6}, UpdateFlags.LOCK)
        got = m.lookup(1, UpdateFlags.LOCK)
        assert got == {"lock": {"val": 0}, "count": 6}  # the kernel never copies the lock out
    with Map(MapSpec(name="unlocked", type=MapType.HASH, key_size=4, value_size=8,
                     max_entries=4, key_type=U32, value_type=U64)) as plain:
        plain[1] = 1
        with pytest.raises(SyscallError) as ei:
            plain.lookup(1, UpdateFlags.LOCK)
        assert ei.value.errno == errno.EINVAL


def test_btf_rejected_by_the_kernel_is_a_clear_error() -> None:
    # A key type whose size differs from key_size: the kernel refuses the map.
    with pytest.raises(SyscallError) as ei:
        Map(MapSpec(name="mismatch", type=MapType.HASH, key_size=4, value_size=8,
                    max_entries=4, key_type=U64, value_type=U64))
    assert ei.value.errno == errno.EINVAL and "mismatch" in str(ei.value)


COMM = Array(Int("char", 1, IntEncoding.SIGNED), 16)  # as clang emits char
STATS = Struct("stats", 24, [Member("count", U64, 0), Member("comm", COMM, 64)])
PID = Int("pid_t", 4, IntEncoding.SIGNED)


def typed_hash(**kw: object) -> MapSpec:
    return MapSpec(name="typed", type=MapType.HASH, key_size=4, value_size=24, max_entries=8,
                   key_type=PID, value_type=STATS, **kw)  # type: ignore[arg-type]


def test_typed_values_round_trip_through_the_kernel() -> None:
    with Map(typed_hash()) as m:
        m[1234] = {"count": 1, "comm": "bash"}
        assert m[1234] == {"count": 1, "comm": "bash"}
        raw = m.raw[1234]
        assert raw == (1).to_bytes(8, "little") + b"bash".ljust(16, b"\0")
        m[-7] = raw  # bytes of the right size are taken as they are
        assert m[-7] == {"count": 1, "comm": "bash"}
        assert sorted(m.keys()) == [-7, 1234]  # keys decoded by their BTF type too
        assert dict(m.items())[-7]["comm"] == "bash"
        assert sorted(m.raw.keys()) == sorted([(1234).to_bytes(4, "little"),
                                               (-7).to_bytes(4, "little", signed=True)])
        assert m.batch_lookup() == list(m.items())
        with pytest.raises(MarshalError, match="value of map 'typed'"):
            m[1] = {"nope": 1}
        with pytest.raises(MarshalError, match="value of map 'typed'"):
            m[1] = {"comm": "x" * 17}
        with pytest.raises(MarshalError, match="key of map 'typed'"):
            m[1 << 40] = {"count": 1}


def test_ctypes_structures_are_taken_as_laid_out() -> None:
    class Stats(ctypes.Structure):
        _fields_ = [("count", ctypes.c_uint64), ("comm", ctypes.c_char * 16)]

    with Map(typed_hash()) as m:
        m[-3] = Stats(5, b"zsh")  # the BTF codec is bypassed for a structure of the size
        assert m[-3] == {"count": 5, "comm": "zsh"}
        assert m.raw[-3] == bytes(Stats(5, b"zsh"))
        with pytest.raises(MarshalError, match="value of map 'typed'"):
            m[1] = ctypes.c_uint64(1)  # a ctypes value of the wrong size is still encoded


def test_typed_per_cpu_values() -> None:
    n = possible_cpus()
    with Map(MapSpec(name="typed_pc", type=MapType.PERCPU_ARRAY, key_size=4, value_size=24,
                     max_entries=2, key_type=U32, value_type=STATS)) as m:
        m[0] = [{"count": cpu, "comm": f"cpu{cpu}"} for cpu in range(n)]
        assert m[0] == [{"count": cpu, "comm": f"cpu{cpu}"} for cpu in range(n)]
        assert [len(v) for v in m.raw[0]] == [24] * n


POINT = Struct("point", 8, [Member("x", U32, 0), Member("y", INT, 32)])


def test_maps_opened_by_pin_id_or_fd_decode_through_the_kernels_btf(pin_dir: str) -> None:
    spec = MapSpec(name="points", type=MapType.HASH, key_size=4, value_size=8, max_entries=4,
                   key_type=U32, value_type=POINT)
    path = os.path.join(pin_dir, "points")
    with Map(spec) as m:
        m[3] = {"x": 1, "y": -2}
        made = m[3]
        m.pin(path)
        info = m.info()
        opened = [Map.load_pinned(path), Map.from_id(info.id), Map.from_fd(os.dup(m.fd))]
        try:
            for again in opened:
                # The types come back from the BTF object the kernel keeps for the map.
                assert again.key_type is not None and again.key_type.name == "unsigned int"
                assert again.value_type is not None and again.value_type.name == "point"
                assert again[3] == made
                assert sorted(again.keys()) == sorted(m.keys())
                assert again.raw[3] == m.raw[3]
                again[1] = {"x": 7, "y": 8}
                assert m[1] == again[1]
        finally:
            for again in opened:
                again.close()


def test_maps_opened_without_btf_stay_bytes() -> None:
    with Map(MapSpec(name="plain", type=MapType.HASH, key_size=4, value_size=8,
                     max_entries=4)) as m:
        m[1] = 5
        with Map.from_id(m.info().id) as again:
            assert again.key_type is None and again.value_type is None
            assert again[1] == (5).to_bytes(8, "little")
