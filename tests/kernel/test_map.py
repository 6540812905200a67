"""Maps against the real kernel: every creatable type, element operations, flags, errors,
per-CPU values, batches, iteration under deletion, queues, freezing, pinning, ids."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import socket
import threading

import pytest

from ebpf.errors import (
    ClosedError,
    EbpfError,
    KeyExistsError,
    KeyNotFoundError,
    NotSupportedError,
    SyscallError,
)
from ebpf.info import map_ids
from ebpf.internal.kernel import possible_cpus
from ebpf.map import Map, MapSpec
from ebpf.marshal import MarshalError
from ebpf.types import MapFlags, MapType, UpdateFlags
from tests.support import feature_or_skip

pytestmark = pytest.mark.kernel

PAGE = os.sysconf("SC_PAGE_SIZE")


def spec(type: MapType, key: int = 4, value: int = 8, entries: int = 16, **kw: object) -> MapSpec:
    return MapSpec(name=f"t_{type.name.lower()}", type=type, key_size=key, value_size=value,
                   max_entries=entries, **kw)  # type: ignore[arg-type]


# Every map type this kernel creates without BTF. The local-storage types need BTF and are
# created in test_map_btf.py; struct_ops maps need a kernel struct_ops type (vmlinux BTF).
CREATABLE = [
    spec(MapType.HASH),
    spec(MapType.ARRAY),
    spec(MapType.PROG_ARRAY, value=4),
    spec(MapType.PERF_EVENT_ARRAY, value=4, entries=2),
    spec(MapType.PERCPU_HASH),
    spec(MapType.PERCPU_ARRAY),
    spec(MapType.STACK_TRACE, value=8 * 127),
    spec(MapType.CGROUP_ARRAY, value=4),
    spec(MapType.LRU_HASH),
    spec(MapType.LRU_PERCPU_HASH),
    spec(MapType.LPM_TRIE, key=8, flags=MapFlags.NO_PREALLOC),
    spec(MapType.ARRAY_OF_MAPS, value=4, inner_map=spec(MapType.ARRAY)),
    spec(MapType.HASH_OF_MAPS, value=4, inner_map=spec(MapType.HASH)),
    spec(MapType.DEVMAP, value=4),
    spec(MapType.SOCKMAP, value=4),
    spec(MapType.CPUMAP, value=4, entries=possible_cpus()),
    spec(MapType.XSKMAP, value=4),
    spec(MapType.SOCKHASH, value=4),
    spec(MapType.CGROUP_STORAGE, key=8, value=8, entries=0),
    spec(MapType.REUSEPORT_SOCKARRAY, value=4),
    spec(MapType.PERCPU_CGROUP_STORAGE, key=8, value=8, entries=0),
    spec(MapType.QUEUE, key=0, value=4),
    spec(MapType.STACK, key=0, value=4),
    spec(MapType.DEVMAP_HASH, value=4),
    spec(MapType.RINGBUF, key=0, value=0, entries=4 * PAGE),
    spec(MapType.BLOOM_FILTER, key=0, value=4, entries=64, map_extra=3),
    spec(MapType.USER_RINGBUF, key=0, value=0, entries=4 * PAGE),
    spec(MapType.ARENA, key=0, value=0, entries=4, flags=MapFlags.MMAPABLE),
]


@pytest.mark.parametrize("s", CREATABLE, ids=lambda s: s.type.name)
def test_create_every_type(s: MapSpec) -> None:
    with feature_or_skip():
        m = Map(s)
    with m:
        info = m.info()
        assert info.type == s.type
        assert info.key_size == s.key_size
        assert info.value_size == s.value_size
        assert info.name == s.name[:15]
        assert info.id > 0
        assert info.id in set(map_ids())


def test_all_types_are_covered() -> None:
    # The storage types (test_map_btf.py) and struct_ops need BTF; everything else is here.
    needs_btf = {MapType.SK_STORAGE, MapType.INODE_STORAGE, MapType.TASK_STORAGE,
                 MapType.CGRP_STORAGE, MapType.STRUCT_OPS, MapType.UNSPEC}
    assert {s.type for s in CREATABLE} | needs_btf == set(MapType)


def test_basic_mapping_protocol() -> None:
    with Map(spec(MapType.HASH)) as m:
        m[1] = 10
        m[b"\x02\x00\x00\x00"] = (20).to_bytes(8, "little")
        assert m[1] == (10).to_bytes(8, "little")
        assert m[2] == (20).to_bytes(8, "little")
        assert 1 in m and 3 not in m
        assert m.get(3) is None and m.get(3, b"x") == b"x"
        assert sorted(m.keys()) == [(1).to_bytes(4, "little"), (2).to_bytes(4, "little")]
        assert dict(m.items())[(2).to_bytes(4, "little")] == (20).to_bytes(8, "little")
        assert sorted(m.values()) == sorted([(10).to_bytes(8, "little"),
                                             (20).to_bytes(8, "little")])
        del m[1]
        assert 1 not in m
        with pytest.raises(KeyNotFoundError) as ei:
            m[1]
        assert isinstance(ei.value, KeyError) and ei.value.errno == errno.ENOENT
        assert "t_hash" in str(ei.value)


class Pair(ctypes.Structure):
    _fields_ = [("a", ctypes.c_uint16), ("b", ctypes.c_uint16)]


class Raw:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def __bytes__(self) -> bytes:
        return self.data


def test_key_and_value_forms() -> None:
    with Map(spec(MapType.HASH)) as m:
        m[Pair(1, 2)] = 7
        want = (1 | 2 << 16).to_bytes(4, "little")
        assert m[want] == (7).to_bytes(8, "little")
        assert m[bytearray(want)] == m[memoryview(want)] == m[Raw(want)]
        m[-1] = -1
        assert m[0xFFFFFFFF] == b"\xff" * 8
        v = (ctypes.c_uint64 * 1)(99)
        m[5] = v
        assert m[5] == (99).to_bytes(8, "little")


@pytest.mark.parametrize("bad", [b"abc", b"abcde", 1 << 32, -(1 << 31) - 1, "key", 1.5, None,
                                 True, object()])
def test_bad_keys_raise_marshal_error(bad: object) -> None:
    with Map(spec(MapType.HASH)) as m:
        with pytest.raises(MarshalError) as ei:
            m[bad] = 1
        assert "t_hash" in str(ei.value)
        with pytest.raises(MarshalError):
            m.lookup(bad)


def test_bad_values_raise_marshal_error() -> None:
    with Map(spec(MapType.HASH)) as m:
        for bad in (b"short", 1 << 64, "x", [1, 2]):
            with pytest.raises(MarshalError, match=r"value of map 't_hash'"):
                m[1] = bad


def test_update_flags() -> None:
    with Map(spec(MapType.HASH)) as m:
        m.update(1, 1, UpdateFlags.NOEXIST)
        with pytest.raises(KeyExistsError) as ei:
            m.update(1, 2, UpdateFlags.NOEXIST)
        assert ei.value.errno == errno.EEXIST
        assert m[1] == (1).to_bytes(8, "little")
        m.update(1, 3, UpdateFlags.EXIST)
        assert m[1] == (3).to_bytes(8, "little")
        with pytest.raises(KeyNotFoundError):
            m.update(2, 3, UpdateFlags.EXIST)
        assert 2 not in m
        m.update(2, 4, UpdateFlags.ANY)
        m.update(2, 5, UpdateFlags.ANY)
        assert m[2] == (5).to_bytes(8, "little")
        # F_LOCK needs a bpf_spin_lock in the value (BTF): the kernel refuses it here.
        with pytest.raises(SyscallError) as ei2:
            m.update(2, 6, UpdateFlags.LOCK)
        assert ei2.value.errno == errno.EINVAL
        with pytest.raises(SyscallError) as ei3:
            m.update(2, 6, 1 << 10)
        assert ei3.value.errno == errno.EINVAL


def test_error_paths() -> None:
    with Map(spec(MapType.HASH, entries=2)) as m:
        with pytest.raises(KeyNotFoundError):
            del m[1]
        m[1] = 1
        m[2] = 2
        with pytest.raises(SyscallError) as ei:
            m[3] = 3
        assert ei.value.errno == errno.E2BIG
        assert ei.value.cmd == "BPF_MAP_UPDATE_ELEM"
    with Map(spec(MapType.ARRAY, entries=4)) as a:
        assert a[3] == bytes(8)
        with pytest.raises(KeyNotFoundError):
            a[4]
        with pytest.raises(SyscallError) as ei:
            del a[0]
        assert ei.value.errno == errno.EINVAL
        with pytest.raises(SyscallError) as ei:
            a.update(0, 1, UpdateFlags.NOEXIST)
        assert ei.value.errno == errno.EEXIST


def test_create_errors_name_the_map() -> None:
    with pytest.raises(SyscallError) as ei:
        Map(MapSpec(name="broken", type=MapType.HASH, key_size=0, value_size=8, max_entries=1))
    assert ei.value.errno == errno.EINVAL and "broken" in str(ei.value)
    with pytest.raises(EbpfError, match="expected a MapSpec"):
        Map("not a spec")  # type: ignore[arg-type]
    for field, bad in (("key_size", -1), ("value_size", "8"), ("max_entries", 1 << 32),
                       ("flags", 1.0), ("type", "hash"), ("name", 5), ("map_extra", -1)):
        s = spec(MapType.HASH)
        setattr(s, field, bad)
        with pytest.raises(EbpfError, match=field if field != "type" else "type must be"):
            Map(s)


def test_per_cpu_values_on_all_possible_cpus() -> None:
    n = possible_cpus()
    for t in (MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH):
        with Map(spec(t, value=4)) as m:
            values = [(100 + cpu).to_bytes(4, "little") for cpu in range(n)]
            m[1] = values
            got = m[1]
            assert got == values and len(got) == n
            m[2] = list(range(n))
            assert [int.from_bytes(v, "little") for v in m[2]] == list(range(n))
            assert dict(m.items())[(1).to_bytes(4, "little")] == values
            with pytest.raises(MarshalError, match="per-CPU"):
                m[1] = values[:-1]
            with pytest.raises(MarshalError, match="per-CPU"):
                m[1] = b"\0" * 4


def test_batch_operations_match_single_elements() -> None:
    with Map(spec(MapType.HASH, entries=2000)) as m:
        keys = list(range(0, 3000, 3))
        n = m.batch_update(keys, [k * 7 for k in keys])
        assert n == len(keys)
        single = {k.to_bytes(4, "little"): m[k] for k in keys}
        assert dict(m.batch_lookup()) == single
        assert len(m.batch_lookup()) == len(keys)
        assert m.batch_delete(keys[:100]) == 100
        assert all(k not in m for k in keys[:100])
        with pytest.raises(KeyNotFoundError):
            m.batch_delete([keys[0]])
        rest = dict(m.batch_lookup_and_delete())
        assert rest == {k: v for k, v in single.items()
                        if int.from_bytes(k, "little") not in keys[:100]}
        assert list(m.keys()) == []
        with pytest.raises(MarshalError):
            m.batch_update([1, 2], [1])
        with pytest.raises(EbpfError, match=r"only UpdateFlags\.ANY or UpdateFlags\.LOCK"):
            m.batch_update([5], [5], flags=UpdateFlags.NOEXIST)
    with Map(spec(MapType.PERCPU_ARRAY, entries=8)) as pa:
        vals = [[i * 10 + c for c in range(possible_cpus())] for i in range(8)]
        pa.batch_update(range(8), vals)
        got = pa.batch_lookup()
        assert [int.from_bytes(k, "little") for k, _ in got] == list(range(8))
        assert [[int.from_bytes(x, "little") for x in v] for _, v in got] == vals
        assert got == [(k, pa[k]) for k, _ in got]


def test_iteration_survives_concurrent_deletion() -> None:
    # Keys that stay in the map must each be seen exactly once, whatever is deleted meanwhile.
    for t in (MapType.HASH, MapType.LRU_HASH):
        with Map(spec(t, entries=4096)) as m:
            keys = list(range(3000))
            m.batch_update(keys, keys)
            doomed = set(range(0, 3000, 2))
            seen = []
            for i, k in enumerate(m.keys()):
                seen.append(int.from_bytes(k, "little"))
                if i == 10:
                    for d in doomed:
                        m.delete(d)
            kept = set(keys) - doomed
            assert len(seen) == len(set(seen)), "a key was returned twice"
            assert kept <= set(seen), "a live key was skipped"


def test_get_next_key_iteration_survives_deleting_the_current_key() -> None:
    # LPM tries have no batch operations: iteration uses get_next_key, which restarts from the
    # first key when the current one is deleted. Keys must still come exactly once.
    with Map(spec(MapType.LPM_TRIE, key=8, entries=64, flags=MapFlags.NO_PREALLOC)) as m:
        keys = [(24).to_bytes(4, "little") + bytes([10, 0, i, 0]) for i in range(40)]
        for k in keys:
            m[k] = 1
        seen = []
        for k in m.keys():
            seen.append(k)
            if len(seen) % 3 == 0:
                del m[k]  # delete the key iteration stands on
        assert sorted(seen) == sorted(keys)
        assert len(set(seen)) == len(seen)


def test_iteration_while_another_thread_deletes() -> None:
    with Map(spec(MapType.HASH, entries=20000)) as m:
        keys = list(range(20000))
        m.batch_update(keys, keys)
        doomed = set(range(1, 20000, 2))
        stop = threading.Event()

        def deleter() -> None:
            for d in sorted(doomed):
                with contextlib.suppress(KeyNotFoundError):
                    m.delete(d)
            stop.set()

        th = threading.Thread(target=deleter)
        th.start()
        seen = [int.from_bytes(k, "little") for k in m.keys()]
        th.join()
        assert len(seen) == len(set(seen))
        assert set(keys) - doomed <= set(seen)


def test_lookup_and_delete() -> None:
    with Map(spec(MapType.HASH)) as m:
        m[3] = 33
        assert m.lookup_and_delete(3) == (33).to_bytes(8, "little")
        assert 3 not in m
        with pytest.raises(KeyNotFoundError):
            m.lookup_and_delete(3)


def test_queue_stack_bloom() -> None:
    with Map(spec(MapType.QUEUE, key=0, value=4, entries=3)) as q:
        for v in (1, 2, 3):
            q.push(v)
        with pytest.raises(SyscallError) as ei:
            q.push(4)
        assert ei.value.errno == errno.E2BIG
        q.push(4, UpdateFlags.EXIST)  # drops the oldest (1)
        assert q.peek() == (2).to_bytes(4, "little")
        assert [q.pop() for _ in range(3)] == [(v).to_bytes(4, "little") for v in (2, 3, 4)]
        with pytest.raises(KeyNotFoundError):
            q.pop()
        with pytest.raises(KeyNotFoundError):
            q.peek()
        with pytest.raises(MarshalError):
            q.lookup(1)
    with Map(spec(MapType.STACK, key=0, value=4, entries=3)) as s:
        s.push(1)
        s.push(2)
        assert s.pop() == (2).to_bytes(4, "little")
        assert s.pop() == (1).to_bytes(4, "little")
    with Map(spec(MapType.BLOOM_FILTER, key=0, value=4, entries=100, map_extra=3)) as b:
        b.push(42)
        assert 42 in b
        absent = sum(1 for v in range(1000, 1100) if v in b)
        assert absent < 20  # a false positive rate far below 20% at this fill level
    with Map(spec(MapType.HASH)) as h, pytest.raises(Exception, match="queue, stack or bloom"):
        h.push(1)


def test_freeze() -> None:
    with Map(spec(MapType.ARRAY, entries=2)) as m:
        m[0] = 5
        m.freeze()
        assert m[0] == (5).to_bytes(8, "little")
        with pytest.raises(SyscallError) as ei:
            m[0] = 6
        assert ei.value.errno == errno.EPERM


def test_spec_contents_and_freeze_on_create() -> None:
    s = spec(MapType.ARRAY, entries=4, contents=[(0, 1), (3, 4)], freeze=True)
    with Map(s) as m:
        assert m[0] == (1).to_bytes(8, "little") and m[3] == (4).to_bytes(8, "little")
        with pytest.raises(SyscallError):
            m[1] = 1
    copy = s.copy()
    copy.contents.append((1, 1))
    assert len(s.contents) == 2


def test_pin_and_load_pinned(pin_dir: str) -> None:
    path = os.path.join(pin_dir, "counts")
    with Map(spec(MapType.HASH)) as m:
        m[1] = 11
        m.pin(path)
        assert m.pinned_path == path and os.path.exists(path)
        with pytest.raises(SyscallError) as ei:
            m.pin(path)
        assert ei.value.errno == errno.EEXIST
        with Map.load_pinned(path) as again:
            assert again.info().id == m.info().id
            assert again.type == MapType.HASH and again.key_size == 4
            assert again[1] == (11).to_bytes(8, "little")
            again[2] = 22
        assert m[2] == (22).to_bytes(8, "little")
        with Map.load_pinned(path, read_only=True) as ro:
            assert ro[1] == (11).to_bytes(8, "little")
            with pytest.raises(SyscallError) as ei:
                ro[1] = 0
            assert ei.value.errno == errno.EPERM
        m.unpin()
        assert not os.path.exists(path) and m.pinned_path is None
    with pytest.raises(SyscallError) as ei:
        Map.load_pinned(os.path.join(pin_dir, "missing"))
    assert ei.value.errno == errno.ENOENT
    with Map(spec(MapType.HASH)) as m, pytest.raises(EbpfError, match="NUL"):
        m.pin(os.path.join(pin_dir, "bad\0name"))


def test_clone_from_id_and_close() -> None:
    m = Map(spec(MapType.HASH))
    c = m.clone()
    assert c.fd != m.fd and c.info().id == m.info().id
    other = Map.from_id(m.info().id)
    m[1] = 1
    c.close()
    assert c.closed and not m.closed
    assert other[1] == (1).to_bytes(8, "little")
    other.close()
    m.close()
    m.close()  # idempotent
    assert "closed" in repr(m)
    with pytest.raises(ClosedError):
        m[1]
    with pytest.raises(ClosedError):
        _ = m.fd
    with pytest.raises(SyscallError) as ei:
        Map.from_id(0x7FFFFFF0)
    assert ei.value.errno == errno.ENOENT


def test_map_of_maps_takes_and_gives_maps() -> None:
    inner_spec = spec(MapType.ARRAY, entries=4)
    with Map(spec(MapType.ARRAY_OF_MAPS, value=4, entries=2, inner_map=inner_spec)) as outer, \
            Map(inner_spec) as inner:
        inner[1] = 42
        outer[0] = inner
        with outer[0] as got:
            assert isinstance(got, Map)
            assert got.info().id == inner.info().id
            assert got[1] == (42).to_bytes(8, "little")
        with Map(spec(MapType.HASH)) as wrong, pytest.raises(SyscallError):
            outer[1] = wrong  # not compatible with the inner map spec


def test_sockmap_takes_sockets() -> None:
    with Map(spec(MapType.SOCKHASH, value=8)) as m, \
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        with socket.create_connection(srv.getsockname()) as cli:
            m[1] = cli  # the socket object itself: its fileno is stored
            assert int.from_bytes(m[1], "little") != 0  # the kernel returns the socket cookie


def test_fd_maps_refuse_values_user_space_cannot_read() -> None:
    # The kernel says EOPNOTSUPP; the error names the reader for this event-stream map.
    with Map(spec(MapType.PERF_EVENT_ARRAY, value=4, entries=2)) as m, \
            pytest.raises(NotSupportedError, match=r"ebpf\.perf\.Reader"):
        m[0]


def test_threads_share_a_map() -> None:
    with Map(spec(MapType.HASH, entries=4096)) as m:
        def work(base: int) -> None:
            for i in range(500):
                m[base + i] = base + i
                assert m[base + i] == (base + i).to_bytes(8, "little")

        threads = [threading.Thread(target=work, args=(t * 1000,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert len(list(m.keys())) == 2000


def test_batch_iteration_grows_its_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    # With room for one entry per call, any hash bucket holding two entries makes the kernel
    # answer ENOSPC; iteration must grow the buffer and still return every entry once.
    import ebpf.map

    monkeypatch.setattr(ebpf.map, "_BATCH_BUFFER_BYTES", 12)
    with Map(spec(MapType.HASH, entries=1000)) as m:
        m.batch_update(range(1000), range(1000))
        got = [int.from_bytes(k, "little") for k, _ in m.items()]
        assert sorted(got) == list(range(1000))


def test_prog_array_takes_and_gives_programs() -> None:
    from ebpf import asm
    from ebpf.asm import R0, R2, R3
    from ebpf.program import Program, ProgramSpec
    from ebpf.types import ProgramType

    def xdp(insns: list[asm.Instruction]) -> ProgramSpec:
        return ProgramSpec(name="t_tail", type=ProgramType.XDP, license="GPL",
                           instructions=asm.Instructions(insns))

    target = Program(xdp([asm.mov.imm(R0, 1), asm.exit()]))  # XDP_DROP
    with Map(spec(MapType.PROG_ARRAY, value=4, entries=2)) as jmp:
        # Tail-call slot 0; if the slot is empty the call falls through and returns XDP_PASS.
        caller = Program(xdp([
            asm.load_map_ptr(R2, jmp.fd),
            asm.mov.imm(R3, 0),
            asm.call(asm.Helper.tail_call),
            asm.mov.imm(R0, 2),
            asm.exit(),
        ]))
        with caller, target:
            assert caller.test_run(bytes(64)).retval == 2  # empty slot
            jmp[0] = target
            assert caller.test_run(bytes(64)).retval == 1  # tail-called into target
            with jmp[0] as got:
                assert isinstance(got, Program)
                assert got.info().id == target.info().id
            del jmp[0]
            assert caller.test_run(bytes(64)).retval == 2


def test_int_values_of_every_width() -> None:
    for size in (1, 2, 4, 8, 16):
        with Map(spec(MapType.HASH, value=size)) as m:
            top = (1 << (8 * size)) - 1
            m[1] = top
            assert m[1] == b"\xff" * size
            m[2] = 5
            assert m[2] == (5).to_bytes(size, "little")
            m[3] = -2
            assert m[3] == (-2).to_bytes(size, "little", signed=True)
            with pytest.raises(MarshalError):
                m[4] = top + 1


# --- zero-copy batch reads -------------------------------------------------------------------

def test_batch_lookup_into_gives_zero_copy_views() -> None:
    with Map(spec(MapType.HASH, entries=1000)) as m:
        expected = {k: k * 3 + 1 for k in range(700)}
        m.batch_update(list(expected), list(expected.values()))
        buf = m.batch_buffer()
        assert buf.capacity == 1000
        view = m.batch_lookup_into(buf)
        assert len(view) == 700
        assert view.keys.format == "I" and view.values.format == "Q"
        assert dict(zip(view.keys, view.values, strict=True)) == expected
        assert sorted(view) == sorted(m.items())
        k, v = view[-1]
        assert int.from_bytes(v, "little") == expected[int.from_bytes(k, "little")]
        with pytest.raises(IndexError):
            view[700]
        # The buffer is reused: a second read sees the map as it is now.
        del m[int(view.keys[0])]
        assert len(m.batch_lookup_into(buf)) == 699


def test_batch_lookup_into_grows_a_small_buffer_and_can_delete() -> None:
    with Map(spec(MapType.HASH, entries=64)) as m:
        for k in range(50):
            m[k] = k
        buf = m.batch_buffer(capacity=3)
        view = m.batch_lookup_into(buf, delete=True)
        assert buf.capacity >= 50
        assert sorted(view.keys) == list(range(50))
        assert list(m.keys()) == []


def test_batch_views_of_odd_sizes_and_per_cpu_values() -> None:
    with Map(spec(MapType.ARRAY, key=4, value=12, entries=5)) as m:
        m[2] = b"abcdefghijkl"
        view = m.batch_lookup_into()
        assert view.values.shape == (5, 12)
        assert view.value_bytes(2) == b"abcdefghijkl"
        assert bytes(view.values.tolist()[2]) == b"abcdefghijkl"
    n = possible_cpus()
    with Map(spec(MapType.PERCPU_ARRAY, key=4, value=4, entries=2)) as m:
        m[1] = [(7 + c).to_bytes(4, "little") for c in range(n)]
        view = m.batch_lookup_into()
        assert view.values.shape == (2, 8 * n)
        assert view[1][1] == m[1]


def test_batch_buffer_checks_sizes_and_map_types() -> None:
    with (Map(spec(MapType.HASH, key=4, value=8)) as a, Map(spec(MapType.HASH, key=8)) as b,
          pytest.raises(EbpfError, match="cannot hold the entries of map")):
        b.batch_lookup_into(a.batch_buffer())
    with Map(spec(MapType.QUEUE, key=0, value=4)) as q, pytest.raises(EbpfError,
                                                                     match="no batch"):
        q.batch_lookup_into()


def test_writes_refused_for_read_only_say_why(pin_dir: str) -> None:
    path = os.path.join(pin_dir, "ro")
    with Map(spec(MapType.ARRAY, entries=2)) as m:
        m.pin(path)
        with Map.load_pinned(path, read_only=True) as ro:
            assert ro[0] == bytes(8)
            with pytest.raises(SyscallError, match="opened read-only") as exc:
                ro[0] = 1
            assert exc.value.errno == errno.EPERM
        with Map.load_pinned(path, write_only=True) as wo:
            wo[1] = 5
            with pytest.raises(SyscallError, match="opened write-only"):
                wo[1]
        m.freeze()
        with pytest.raises(SyscallError, match="frozen"):
            m[0] = 1


def test_a_map_type_the_kernel_predates_is_an_unsupported_feature(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from ebpf.errors import UnsupportedFeatureError
    from ebpf.internal import kernel
    from ebpf.internal.kernel import KernelVersion

    bad = spec(MapType.ARENA, key=4, value=8, entries=1)  # invalid sizes: EINVAL here
    if kernel.kernel_version() >= KernelVersion(6, 9, 0):  # (the VM guests predate arenas)
        with pytest.raises(SyscallError) as exc:
            Map(bad)
        assert not isinstance(exc.value, UnsupportedFeatureError)
    # On a kernel older than the type, the same refusal names the type and its version.
    monkeypatch.setattr(kernel, "kernel_version", lambda: KernelVersion(6, 1, 0))
    with pytest.raises(UnsupportedFeatureError) as info:
        Map(bad)
    assert info.value.feature == "BPF_MAP_TYPE_ARENA" and info.value.min_version == "6.9"
