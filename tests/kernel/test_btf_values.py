"""Typed values through a real BPF map that carries BTF key and value types."""

from __future__ import annotations

import ctypes

import pytest

from ebpf import btf
from ebpf.btf.handle import Handle
from ebpf.btf.values import codec
from ebpf.internal.sys import MapCreateAttr, MapElemAttr, commands

pytestmark = pytest.mark.kernel

BPF_MAP_TYPE_HASH = 1

U32 = btf.Typedef("__u32", btf.Int("unsigned int", 4))
U64 = btf.Typedef("__u64", btf.Int("long long unsigned int", 8))
CHAR = btf.Int("char", 1, btf.IntEncoding.SIGNED)
STATE = btf.Enum("state", 4, [btf.EnumValue("IDLE", 0), btf.EnumValue("RUNNING", 1)])
VALUE = btf.Struct("stats", 40, [
    btf.Member("count", U64, 0),
    btf.Member("comm", btf.Array(CHAR, 16), 64),
    btf.Member("state", STATE, 192),
    btf.Member("prio", btf.Int("unsigned int", 4), 224, 7),
    btf.Member("nice", btf.Int("int", 4, btf.IntEncoding.SIGNED), 231, 6),
    btf.Member("flags", btf.Array(btf.Int("unsigned char", 1), 4), 256),
])


def test_typed_values_through_a_hash_map() -> None:
    kc, vc = codec(U32), codec(VALUE)
    with Handle.from_types([U32, VALUE]) as h:
        attr = MapCreateAttr(map_type=BPF_MAP_TYPE_HASH, key_size=kc.size, value_size=vc.size,
                             max_entries=8, btf_fd=h.fd, btf_key_type_id=h.type_id(U32),
                             btf_value_type_id=h.type_id(VALUE))
        with commands.map_create(attr) as fd:
            entries = {
                1234: {"count": 1, "comm": "bash"},
                1: {"count": 1 << 40, "comm": "systemd", "state": "RUNNING", "prio": 120,
                    "nice": -20, "flags": b"\1\2\3\4"},
            }
            for pid, value in entries.items():
                key = ctypes.create_string_buffer(kc.encode(pid), kc.size)
                val = ctypes.create_string_buffer(vc.encode(value), vc.size)
                commands.map_update_elem(MapElemAttr(map_fd=fd.raw, key=ctypes.addressof(key),
                                                     value=ctypes.addressof(val)))
            for pid, value in entries.items():
                key = ctypes.create_string_buffer(kc.encode(pid), kc.size)
                out = ctypes.create_string_buffer(vc.size)
                commands.map_lookup_elem(MapElemAttr(map_fd=fd.raw, key=ctypes.addressof(key),
                                                     value=ctypes.addressof(out)))
                got = vc.decode(out.raw)
                expected = {"count": 0, "comm": "", "state": "IDLE", "prio": 0, "nice": 0,
                            "flags": b"\0\0\0\0", **value}
                assert got == expected
                assert out.raw == vc.encode(value)  # raw bytes stay available
