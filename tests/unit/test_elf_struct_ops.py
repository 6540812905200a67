"""struct_ops maps from an object file (testdata/link_struct_ops.c), in both byte orders: the
maps, their values and the members each program implements; no kernel needed."""

from __future__ import annotations

from pathlib import Path

import pytest

import ebpf
from ebpf import btf
from ebpf.specs import StructOpsValue
from ebpf.types import MapFlags, MapType, ProgramType

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
MEMBERS = {"init": "ebpf_cc_init", "cong_avoid": "ebpf_cc_cong_avoid",
           "ssthresh": "ebpf_cc_ssthresh", "undo_cwnd": "ebpf_cc_undo_cwnd"}


@pytest.mark.parametrize("order", ["el", "eb"])
def test_struct_ops_maps_and_programs(order: str) -> None:
    spec = ebpf.load_collection_spec(TESTDATA / f"link_struct_ops-{order}.elf")
    for name, flags in (("ebpf_cc", 0), ("ebpf_cc_link", MapFlags.LINK)):
        m = spec.maps[name]
        assert (m.type, m.key_size, m.max_entries, m.flags) == (MapType.STRUCT_OPS, 4, 1, flags)
        struct = m.value_type
        assert isinstance(struct, btf.Struct) and struct.name == "tcp_congestion_ops"
        assert m.value_size == struct.size
        ((key, value),) = m.contents
        assert key == 0 and isinstance(value, StructOpsValue)
        assert value.programs == MEMBERS
        offsets = {f.name: f.offset // 8 for f in struct.members}
        assert value.data[offsets["name"]:offsets["name"] + 16].rstrip(b"\0") == b"ebpf_test_cc"
        for member in MEMBERS:  # the pointers are the loader's to fill in
            assert value.data[offsets[member]:offsets[member] + 8] == bytes(8)
    for member, prog in MEMBERS.items():
        p = spec.programs[prog]
        assert p.type is ProgramType.STRUCT_OPS
        assert p.attach_to == f"tcp_congestion_ops:{member}"
    copy = spec.copy()
    assert copy == spec
    assert copy.maps["ebpf_cc"].contents[0][1] == spec.maps["ebpf_cc"].contents[0][1]

