"""Object files built by someone else, with values no compiler emits: the reader answers with
an :class:`~ebpf.errors.ELFError` (or ``BTFError``) that says what and where, never with
``struct.error``, ``AttributeError`` or a spec that fails later, when it is loaded."""

from __future__ import annotations

import struct
import sys
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
def test_symbol_value_beyond_its_section(order: str) -> None:
    for name, symbol, section in CASES:
        raw = obj(name, order).read_bytes()
        base = next(s.value for s in elf.read_elf(raw).symbols if s.name == symbol)
        bad = with_symbol(raw, symbol, value=base | 1 << 32)
        # The value used to become a DATASEC offset (license, .maps) that only failed when
        # the BTF was marshalled for the kernel: "'I' format requires 0 <= number <= ...".
        with pytest.raises(ELFError) as info:
            load_collection_spec(bad)
        text = str(info.value)
        assert repr(symbol) in text and f"{base | 1 << 32:#x}" in text, (name, text)
        assert repr(section) in text, (name, text)


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
def test_kconfig_entry_that_is_not_a_variable(order: str) -> None:
    raw = obj("core_externs", order).read_bytes()
    ids = _ids("core_externs", order)
    for what in ("void", "struct", "datasec", "int"):
        for entry in (0, 4):
            bad = with_datasec_entry(raw, ".kconfig", entry, ids[what])
            with pytest.raises((ELFError, BTFError)) as info:  # used to be AttributeError
                load_collection_spec(bad)
            text = str(info.value)
            assert ".kconfig" in text and f"entry {entry}" in text, (what, text)
            assert "not a variable" in text, (what, text)


def test_ksyms_entry_that_is_neither_variable_nor_function() -> None:
    raw = obj("core_externs").read_bytes()
    for what, type_id in _ids("core_externs", "el").items():
        bad = with_datasec_entry(raw, ".ksyms", 1, type_id)
        with pytest.raises((ELFError, BTFError)) as info:
            load_collection_spec(bad)
        text = str(info.value)
        assert ".ksyms" in text and "entry 1" in text, (what, text)


# --- which file, and files that are not BPF objects at all ---------------------------------------

def _x86_64_executable() -> Path:
    for candidate in ("/bin/ls", "/usr/bin/ls", sys.executable):
        p = Path(candidate)
        if p.exists() and p.read_bytes()[:4] == b"\x7fELF" and p.read_bytes()[18] == 62:
            return p
    pytest.skip("no x86-64 ELF executable on this machine")


def test_an_executable_is_not_a_bpf_object() -> None:
    exe = _x86_64_executable()
    with pytest.raises(ELFError) as info:
        load_collection_spec(exe)
    # Said first, not "RELA relocations are not supported" or another section's complaint.
    assert "not a BPF object (machine x86-64)" in str(info.value)
    assert info.value.file == str(exe) and repr(str(exe)) in str(info.value)
    with pytest.raises(ELFError, match=r"^not a BPF object \(machine x86-64\)$"):
        load_collection_spec(exe.read_bytes())


def test_machine_is_checked_before_any_section() -> None:
    raw = bytearray(obj("minimal").read_bytes())
    raw[18:20] = (62).to_bytes(2, "little")  # EM_X86_64
    raw[0x28:0x30] = (len(raw) * 4).to_bytes(8, "little")  # e_shoff: outside the file
    with pytest.raises(ELFError, match=r"not a BPF object \(machine x86-64\)"):
        load_collection_spec(bytes(raw))
    raw[18:20] = (183).to_bytes(2, "little")
    with pytest.raises(ELFError, match=r"not a BPF object \(machine AArch64\)"):
        load_collection_spec(bytes(raw))
    raw[18:20] = (4242).to_bytes(2, "little")
    with pytest.raises(ELFError, match=r"not a BPF object \(machine e_machine 4242\)"):
        load_collection_spec(bytes(raw))
    # Without a machine to expect, the generic reader reads any ELF file.
    with pytest.raises(ELFError, match="section header table"):
        elf.read_elf(bytes(raw))


def test_errors_name_the_file_when_there_is_one(tmp_path: Path) -> None:
    raw = obj("globals").read_bytes()
    bad = with_symbol(raw, "_license", value=1 << 32)
    path = tmp_path / "broken.o"
    path.write_bytes(bad)
    for source in (path, str(path)):
        with pytest.raises(ELFError) as info:
            load_collection_spec(source)
        e = info.value
        assert e.file == str(path)
        assert str(e).startswith(f"file {str(path)!r}, section '.symtab'"), str(e)
        assert "'_license'" in str(e) and "0x100000000" in str(e)
    with path.open("rb") as f, pytest.raises(ELFError) as info:
        load_collection_spec(f)
    assert info.value.file == str(path)
    with pytest.raises(ELFError) as info:
        load_collection_spec(bad)  # bytes: no file to name
    assert info.value.file is None and "file " not in str(info.value)
    # Errors found by the BTF code are named too.
    (tmp_path / "cut.o").write_bytes(raw[:len(raw) // 2])
    with pytest.raises(ELFError) as info:
        load_collection_spec(tmp_path / "cut.o")
    assert info.value.file == str(tmp_path / "cut.o")
