"""The shortcuts taken while loading objects give what the plain ways give."""

from __future__ import annotations

from pathlib import Path

import pytest

import ebpf
from ebpf import btf
from ebpf.btf.ext_info import load_elf_btf, load_ext_info
from ebpf.btf.marshal import Builder, MarshalOptions, _refs_any
from ebpf.errors import BTFError
from ebpf.internal.elf import read_btf_sections

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
OBJECTS = sorted(TESTDATA.glob("*.elf"))
CLASSES: list[type[btf.Type]] = [
    btf.Int, btf.Pointer, btf.Array, btf.Struct, btf.Union, btf.Composite, btf.Enum, btf.Enum64,
    btf.Fwd, btf.Typedef, btf.Qualifier, btf.Const, btf.Func, btf.FuncProto, btf.Var,
    btf.Datasec, btf.Float, btf.DeclTag, btf.Type]


@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: p.name)
def test_kind_table_and_iter_types(path: Path) -> None:
    data = path.read_bytes()
    try:
        spec = btf.load_spec_from_bytes(data)
    except ebpf.ELFError:
        return  # no .BTF
    raw = spec.raw
    assert list(raw.kinds()) == [raw.kind_of(i) for i in range(1, len(spec) + 1)]
    every: list[btf.Type] = list(btf.load_spec_from_bytes(data))
    for cls in CLASSES:
        got = [spec.type_id(t) for t in spec.iter_types(cls)]
        assert got == [i + 1 for i, t in enumerate(every) if isinstance(t, cls)], cls


@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: p.name)
def test_load_elf_btf_reads_as_the_separate_steps(path: Path) -> None:
    data = path.read_bytes()
    try:
        elf = read_btf_sections(data)
    except ebpf.ELFError:
        with pytest.raises(ebpf.ELFError):
            load_elf_btf(data)
        return
    spec, ext = load_elf_btf(data)
    ref = btf.load_spec_from_bytes(data)
    assert [spec.dump(i) for i in range(len(spec) + 1)] == [
        ref.dump(i) for i in range(len(ref) + 1)]
    if elf.ext is None:
        assert ext is None
    else:
        assert repr(ext) == repr(load_ext_info(elf.ext, ref))


def test_load_elf_btf_of_a_raw_blob_still_wants_elf() -> None:
    raw = Builder().marshal()
    with pytest.raises(ebpf.ELFError):
        load_elf_btf(raw)


def test_add_spec_decodes_records_that_refer_to_replaced_types() -> None:
    """Every record that refers to a replaced id is encoded from its decoded type; the rest
    are copied, as a check of each record would decide."""
    path = TESTDATA / "tool_execsnoop-el.elf"
    spec = btf.load_spec_from_bytes(path.read_bytes())
    words, offsets = spec.raw.words, spec.raw.index.offsets
    # Replace the most referenced struct and pointer ids (and an id past the end).
    structs = [spec.type_id(t) for t in spec.iter_types(btf.Struct)][:5]
    ptrs = [spec.type_id(t) for t in spec.iter_types(btf.Pointer)][:5]
    replace: dict[int, btf.Type] = {tid: btf.Int("r", 4) for tid in (*structs, *ptrs)}
    b = Builder(MarshalOptions(dedup=False))
    b.add_spec(spec, replace)
    expected = set()
    for tid in range(1, len(spec) + 1):
        o = offsets[tid - 1]
        info = words[o + 1]
        kind = info >> 24 & 0x1F
        if (tid not in replace and kind not in (btf.Kind.VAR, btf.Kind.DATASEC)
                and not _refs_any(words, o, kind, info & 0xFFFF, replace)
                and tid not in spec._types):
            expected.add(tid)
    assert b._from_raw == expected
    assert len(expected) < len(spec)
    blob = b.marshal()
    ref = Builder(MarshalOptions(dedup=False))
    for tid in range(1, len(spec) + 1):
        ref.add(replace.get(tid) or spec.type_by_id(tid))
    got, want = btf.load_spec_from_bytes(blob), btf.load_spec_from_bytes(ref.marshal())
    assert [got.dump(i) for i in range(1, len(got) + 1)] == [
        want.dump(i) for i in range(1, len(want) + 1)]


def test_struct_with_a_bad_member_type_reports_the_first() -> None:
    from .test_btf_parse import blob, info

    strings = b"\0int\0s\0a\0b\0"
    w = [
        1, info(1), 4, 1 << 24 | 32,        # [1] int
        5, info(4, 2), 8, 7, 1, 0, 9, 99, 32,  # [2] struct s { int a; <bad> b; }
    ]
    spec = btf.load_spec_from_bytes(blob(w, strings))
    with pytest.raises(BTFError, match="type id 99"):
        spec.type_by_id(2)
    w[11] = 1
    s = btf.load_spec_from_bytes(blob(w, strings)).type_by_id(2)
    assert isinstance(s, btf.Struct)
    assert [(m.name, m.type.name, m.offset) for m in s.members] == [("a", "int", 0),
                                                                     ("b", "int", 32)]
