"""ebpf.testing.FakeMap without a kernel: the semantics and errors of ebpf.Map (the kernel
differential is tests/kernel/test_testing_fake_map.py)."""

from __future__ import annotations

import errno
import sys
from pathlib import Path

import pytest

from ebpf import (
    ClosedError,
    EbpfError,
    KeyExistsError,
    KeyNotFoundError,
    MapSpec,
    MapType,
    NotSupportedError,
    SyscallError,
    UpdateFlags,
    load_collection_spec,
)
from ebpf.marshal import MarshalError
from ebpf.testing import FakeMap

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
SUFFIX = "el" if sys.byteorder == "little" else "eb"


def le(n: int, size: int = 4) -> bytes:
    return n.to_bytes(size, sys.byteorder)


def test_hash_map_basics() -> None:
    with FakeMap(MapSpec("h", MapType.HASH, 4, 4, 2)) as m:
        m[1] = 10
        m.update(2, b"\x02\0\0\0", UpdateFlags.NOEXIST)
        assert m[1] == le(10) and m.get(3) is None and 2 in m and 3 not in m
        with pytest.raises(SyscallError) as full:
            m[3] = 3
        assert full.value.errno == errno.E2BIG
        assert str(full.value) == "update map 'h' (key 3): BPF_MAP_UPDATE_ELEM: " + \
            "Argument list too long (E2BIG)"
        m[2] = 20  # replacing works while full
        with pytest.raises(KeyExistsError):
            m.update(1, 0, UpdateFlags.NOEXIST)
        with pytest.raises(KeyNotFoundError):
            m.update(9, 0, UpdateFlags.EXIST)
        with pytest.raises(KeyError):  # KeyNotFoundError is one
            m[9]
        assert sorted(m.keys()) == [le(1), le(2)]
        assert dict(m.items()) == {le(1): le(10), le(2): le(20)}
        assert m.lookup_and_delete(1) == le(10)
        del m[2]
        with pytest.raises(KeyNotFoundError) as gone:
            m.delete(2)
        assert gone.value.errno == errno.ENOENT
        assert list(m) == []
        assert not hasattr(m, "__len__")


def test_array_map() -> None:
    with FakeMap(MapSpec("a", MapType.ARRAY, 4, 8, 3)) as m:
        assert list(m.items()) == [(le(i), bytes(8)) for i in range(3)]
        m[2] = 7
        assert m[2] == le(7, 8)
        m.update(1, 5, UpdateFlags.EXIST)
        with pytest.raises(KeyExistsError):
            m.update(0, 1, UpdateFlags.NOEXIST)
        with pytest.raises(SyscallError) as out:
            m[3] = 1
        assert out.value.errno == errno.E2BIG
        with pytest.raises(KeyNotFoundError):
            m[3]
        with pytest.raises(SyscallError) as no_delete:
            del m[0]
        assert no_delete.value.errno == errno.EINVAL
        assert m.next_key(None) == le(0) and m.next_key(2) is None and m.next_key(9) == le(0)


def test_per_cpu_values() -> None:
    with FakeMap(MapSpec("p", MapType.PERCPU_HASH, 4, 4, 4), possible_cpus=3) as m:
        m[1] = [1, 2, 3]
        assert m[1] == [le(1), le(2), le(3)]
        with pytest.raises(MarshalError, match="expected 3 per-CPU values"):
            m[2] = [1, 2]
        with pytest.raises(MarshalError, match="sequence of 3 values"):
            m[2] = b"abcd"
    with FakeMap(MapSpec("pa", MapType.PERCPU_ARRAY, 4, 2, 1), possible_cpus=2) as a:
        assert a[0] == [bytes(2), bytes(2)]


@pytest.mark.parametrize(("map_type", "order"), [(MapType.QUEUE, [1, 2, 3]),
                                                 (MapType.STACK, [3, 2, 1])], ids=str)
def test_queue_and_stack(map_type: MapType, order: list[int]) -> None:
    with FakeMap(MapSpec("q", map_type, 0, 4, 3)) as m:
        for v in (1, 2, 3):
            m.push(v)
        with pytest.raises(SyscallError) as full:
            m.push(4)
        assert full.value.errno == errno.E2BIG
        assert m.peek() == le(order[0])
        assert [m.pop() for _ in range(3)] == [le(v) for v in order]
        with pytest.raises(KeyNotFoundError):
            m.pop()
        for v in (1, 2, 3, 4):
            m.push(v, UpdateFlags.EXIST)  # full: the oldest (1) goes
        assert sorted(m.pop() for _ in range(3)) == [le(2), le(3), le(4)]
        with pytest.raises(MarshalError, match="takes no key"):
            m[1] = 1
        with pytest.raises(SyscallError) as no_keys:
            list(m.keys())
        assert no_keys.value.errno == errno.EINVAL
    with FakeMap(MapSpec("h", MapType.HASH, 4, 4, 1)) as h, \
            pytest.raises(EbpfError, match="push needs a queue"):
        h.push(1)


def test_lru_evicts_the_least_recently_used() -> None:
    with FakeMap(MapSpec("l", MapType.LRU_HASH, 4, 4, 2)) as m:
        m[1] = 1
        m[2] = 2
        m[1]  # 1 is now the most recent
        m[3] = 3
        assert sorted(m.keys()) == [le(1), le(3)]


def test_btf_types_encode_and_decode_like_the_real_map() -> None:
    spec = load_collection_spec(TESTDATA / f"testing_packets-{SUFFIX}.elf").maps["parsed"]
    with FakeMap(spec) as m:
        assert m.key_type is spec.key_type and m.value_type is spec.value_type
        zero = m[0]
        assert zero["ttl"] == 0 and zero["src"] == bytes(16)
        m[0] = {**zero, "ttl": 9, "dst": b"\x01" * 16}
        assert m[0]["ttl"] == 9 and m[0]["dst"] == b"\x01" * 16
        with pytest.raises(MarshalError, match="value of map 'parsed'"):
            m[0] = {"no_such_field": 1}
        assert list(m.keys()) == [0]  # keys decode through the key's BTF type (__u32)


def test_contents_freeze_and_close() -> None:
    spec = MapSpec("c", MapType.HASH, 4, 4, 4, contents=[(1, 2)], freeze=True)
    m = FakeMap(spec)
    assert m[1] == le(2)
    with pytest.raises(SyscallError) as frozen:
        m[1] = 3
    assert frozen.value.errno == errno.EPERM and "frozen" in str(frozen.value)
    m.close()
    m.close()
    assert m.closed and "closed" in repr(m)
    with pytest.raises(ClosedError):
        m[1]


def test_creation_errors() -> None:
    with pytest.raises(SyscallError) as bad:
        FakeMap(MapSpec("x", MapType.ARRAY, 8, 4, 1))
    assert bad.value.errno == errno.EINVAL and bad.value.cmd == "BPF_MAP_CREATE"
    with pytest.raises(SyscallError):
        FakeMap(MapSpec("x", MapType.HASH, 4, 4, 0))
    with pytest.raises(NotSupportedError, match="RINGBUF"):
        FakeMap(MapSpec("x", MapType.RINGBUF, 0, 0, 4096))
    with pytest.raises(EbpfError, match="expected a MapSpec"):
        FakeMap("spec")  # type: ignore[arg-type]
