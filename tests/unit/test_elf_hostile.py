"""Object files built by someone else, with values no compiler emits: the reader answers with
an :class:`~ebpf.errors.ELFError` (or ``BTFError``) that says what and where, never with
``struct.error``, ``AttributeError`` or a spec that fails later, when it is loaded."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ebpf import btf
from ebpf.btf.parse import parse_header
from ebpf.btf.spec import spec_from_elf_btf
from ebpf.elf_reader import load_collection_spec
from ebpf.errors import BTFError, ELFError
from ebpf.internal import elf

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"


def obj(name: str, order: str = "el") -> Path:
    return TESTDATA / f"{name}-{order}.elf"


def with_symbol(raw: bytes, name: str, *, value: int | None = None) -> bytes:
    """``raw`` (an ELF64 object) with ``st_value`` of symbol ``name`` replaced."""
    f = elf.read_elf(raw)
    (tab,) = [s for s in f.sections if s.type == elf.SHT_SYMTAB]
    (sym,) = [s for s in f.symbols if s.name == name]
    layout = struct.Struct(("<" if f.byte_order == "little" else ">") + "IBBHQQ")
    pos = tab.offset + sym.index * (tab.entsize or layout.size)
    fields = list(layout.unpack_from(raw, pos))
    if value is not None:
        fields[4] = value
    out = bytearray(raw)
    layout.pack_into(out, pos, *fields)
    return bytes(out)


def _data_symbols(name: str) -> list[tuple[str, str]]:
    """(symbol, section) of every named symbol in a section that is not code."""
    f = elf.read_elf(obj(name).read_bytes())
    return [(s.name, f.sections[s.section].name) for s in f.symbols
            if s.name and 0 < s.section < len(f.sections)
            and not f.sections[s.section].executable]


# --- symbol values beyond their section --------------------------------------------------------

CASES = [(name, sym, sec) for name in ("globals", "maps", "minimal", "loader_calls",
                                       "tool_execsnoop")
         for sym, sec in _data_symbols(name)]


@pytest.mark.parametrize("order", ["el", "eb"])
@pytest.mark.parametrize(("name", "symbol", "section"), CASES,
                         ids=[f"{n}:{s}" for n, s, _ in CASES])
def test_symbol_value_beyond_its_section(name: str, symbol: str, section: str,
                                         order: str) -> None:
    raw = obj(name, order).read_bytes()
    base = next(s.value for s in elf.read_elf(raw).symbols if s.name == symbol)
    bad = with_symbol(raw, symbol, value=base | 1 << 32)
    # The value used to become a DATASEC offset (license, .maps) that only failed when the
    # BTF was marshalled for the kernel: "'I' format requires 0 <= number <= 4294967295".
    with pytest.raises(ELFError) as info:
        load_collection_spec(bad)
    text = str(info.value)
    assert repr(symbol) in text and f"{base | 1 << 32:#x}" in text, text
    assert repr(section) in text, text


def test_datasec_fixup_checks_symbol_offsets() -> None:
    # The same check where BTF takes the offsets, for ELF files that are not relocatable
    # objects (whose symbol values the ELF reader cannot check against their sections).
    sections = elf.read_btf_sections(obj("minimal").read_bytes())
    assert ("license", "_license") in sections.symbols
    for value in (1 << 32, 2, 4):
        bad = elf.ElfBTF(sections.btf, sections.ext, sections.section_sizes,
                         {**sections.symbols, ("license", "_license"): value})
        with pytest.raises(BTFError, match=r"'_license' has value 0x[0-9a-f]+"):
            spec_from_elf_btf(bad)
    huge = elf.ElfBTF(sections.btf, sections.ext, {**sections.section_sizes,
                                                   "license": 1 << 33}, sections.symbols)
    with pytest.raises(BTFError, match="does not fit 32 bits"):
        spec_from_elf_btf(huge)
    good = spec_from_elf_btf(sections)
    ds = good.type_by_name("license", btf.Datasec)
    assert [(vs.type.name, vs.offset) for vs in ds.vars] == [("_license", 0)]


# --- .kconfig and .ksyms entries that are not variables -----------------------------------------

def with_datasec_entry(raw: bytes, datasec: str, entry: int, type_id: int) -> bytes:
    """``raw`` with entry ``entry`` of DATASEC ``datasec`` in its ``.BTF`` pointing at
    ``type_id``."""
    f = elf.read_elf(raw)
    sec = f.section_by_name(".BTF")
    assert sec is not None
    spec = btf.load_spec_from_bytes(sec.data)
    ds = spec.type_by_name(datasec, btf.Datasec)
    local = spec.type_id(ds) - 1  # no base: local index = id - 1
    index = spec.raw.index
    assert index is not None
    hdr = parse_header(sec.data)
    order = "<" if f.byte_order == "little" else ">"
    # A DATASEC record: name_off, info, size, then (type, offset, size) per entry.
    pos = sec.offset + hdr.hdr_len + hdr.type_off + 4 * (index.offsets[local] + 3 + 3 * entry)
    out = bytearray(raw)
    struct.pack_into(order + "I", out, pos, type_id)
    return bytes(out)


def _ids(name: str, order: str) -> dict[str, int]:
    raw = obj(name, order).read_bytes()
    sec = elf.read_elf(raw).section_by_name(".BTF")
    assert sec is not None
    spec = btf.load_spec_from_bytes(sec.data)
    return {"void": 0, "struct": spec.type_id(spec.type_by_name("values", btf.Struct)),
            "datasec": spec.type_id(spec.type_by_name(".kconfig", btf.Datasec)),
            "int": spec.type_id(spec.type_by_name("int", btf.Int))}


@pytest.mark.parametrize("order", ["el", "eb"])
@pytest.mark.parametrize("what", ["void", "struct", "datasec", "int"])
@pytest.mark.parametrize("entry", [0, 4])
def test_kconfig_entry_that_is_not_a_variable(what: str, entry: int, order: str) -> None:
    raw = obj("core_externs", order).read_bytes()
    bad = with_datasec_entry(raw, ".kconfig", entry, _ids("core_externs", order)[what])
    with pytest.raises((ELFError, BTFError)) as info:  # used to be AttributeError
        load_collection_spec(bad)
    text = str(info.value)
    assert ".kconfig" in text and f"entry {entry}" in text and "not a variable" in text, text


@pytest.mark.parametrize("what", ["void", "struct", "datasec", "int"])
def test_ksyms_entry_that_is_neither_variable_nor_function(what: str) -> None:
    raw = obj("core_externs").read_bytes()
    bad = with_datasec_entry(raw, ".ksyms", 1, _ids("core_externs", "el")[what])
    with pytest.raises((ELFError, BTFError)) as info:
        load_collection_spec(bad)
    text = str(info.value)
    assert ".ksyms" in text and "entry 1" in text, text
