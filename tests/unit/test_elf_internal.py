"""ebpf.internal.elf: the ELF reader gives plain data and, on any malformed input, only ELFError.

Every ``testdata`` object is compared with what ``llvm-readelf-19`` reads from it; ELF32 and
the malformed cases use small files built here, in both byte orders.
"""

from __future__ import annotations

import contextlib
import copy
import json
import pickle
import random
import shutil
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ebpf.errors import ELFError
from ebpf.internal import elf

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
READELF = shutil.which("llvm-readelf-19")
OBJECTS = sorted(TESTDATA.glob("*.elf"))


@pytest.mark.parametrize("order", ["el", "eb"])
def test_sections_symbols_relocations(order: str) -> None:
    f = elf.read_elf((TESTDATA / f"maps-{order}.elf").read_bytes())
    assert f.byte_order == ("little" if order == "el" else "big")
    assert f.machine == elf.EM_BPF and f.elf_type == 1
    xdp = f.section_by_name("xdp")
    assert xdp is not None and xdp.executable and xdp.size == len(xdp.data)
    assert f.section(xdp.index) is xdp
    names = {s.name for s in f.symbols_in(xdp.index) if s.type == elf.STT_FUNC}
    assert names == {"tail_target", "count_packets"}
    relocs = f.relocations[xdp.index]
    assert relocs and all(r.offset % 8 == 0 for r in relocs)
    assert {f.symbol(r.symbol).name for r in relocs} >= {"counts_by_len", "jump_table"}
    assert f.section_by_name("nope") is None
    with pytest.raises(ELFError):
        f.section(10_000)
    with pytest.raises(ELFError):
        f.symbol(10_000)


@pytest.mark.parametrize("order", ["el", "eb"])
def test_bss_has_no_contents(order: str) -> None:
    f = elf.read_elf((TESTDATA / f"globals-{order}.elf").read_bytes())
    bss = f.section_by_name(".bss")
    assert bss is not None and bss.type == elf.SHT_NOBITS and bss.size > 0 and bss.data == b""


def test_section_data_is_read_lazily_and_once() -> None:
    raw = (TESTDATA / "minimal-el.elf").read_bytes()
    f = elf.read_elf(raw)
    xdp = f.section_by_name("xdp")
    assert xdp is not None
    assert xdp.data == raw[xdp.offset:xdp.offset + xdp.size] and xdp.data is xdp.data
    assert f.sections[0].data == b""
    # bytearray and memoryview are accepted too, and give the same result.
    assert elf.read_elf(bytearray(raw)) == f == elf.read_elf(memoryview(raw))


def test_records_are_immutable_values() -> None:
    f = elf.read_elf((TESTDATA / "maps-el.elf").read_bytes())
    xdp = f.section_by_name("xdp")
    assert xdp is not None
    sym = f.symbols[1]
    (reloc,) = f.relocations[xdp.index][:1]
    for record in (xdp, sym, reloc, f):
        with pytest.raises(AttributeError):
            record.name = "x"  # type: ignore[misc]
        assert copy.copy(record) == record == pickle.loads(pickle.dumps(record))
        assert type(record).__name__ + "(" in repr(record)
    assert pickle.loads(pickle.dumps(xdp)).data == xdp.data
    assert len({xdp, copy.copy(xdp)}) == 1 and len({sym, reloc, copy.copy(sym)}) == 2
    assert xdp != sym and sym != (sym.index, sym.name)


def test_malformed_headers_raise_elf_error() -> None:
    raw = bytearray((TESTDATA / "minimal-el.elf").read_bytes())
    with pytest.raises(ELFError, match="magic"):
        elf.read_elf(b"\x7fELG" + bytes(60))
    bad = bytearray(raw)
    struct.pack_into("<Q", bad, 0x28, len(raw) + 4096)   # e_shoff beyond the file
    with pytest.raises(ELFError):
        elf.read_elf(bytes(bad))
    bad = bytearray(raw)
    struct.pack_into("<H", bad, 0x3E, 999)                # e_shstrndx out of range
    with pytest.raises(ELFError):
        elf.read_elf(bytes(bad))
    with pytest.raises(ELFError):
        elf.read_elf(bytes(raw[:40]))


# --- parity with llvm-readelf --------------------------------------------------------------------

def _readelf(path: Path) -> dict[str, Any]:
    assert READELF is not None
    out = subprocess.run([READELF, "--elf-output-style=JSON", "-S", "-s", "-r", str(path)],
                         check=True, capture_output=True, text=True).stdout
    doc: dict[str, Any] = json.loads(out)[0]
    return doc


@pytest.mark.skipif(READELF is None, reason="llvm-readelf-19 is not installed")
@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: p.name)
def test_same_tables_as_llvm_readelf(path: Path) -> None:
    ref = _readelf(path)
    f = elf.read_elf(path.read_bytes())
    assert f.byte_order == ("big" if ref["FileSummary"]["Arch"].endswith("eb") else "little")

    sections = [s["Section"] for s in ref["Sections"]]
    assert [(s.index, s.name, s.type, s.flags, s.offset, s.size, s.link, s.info, s.addralign,
             s.entsize) for s in f.sections] == [
        (s["Index"], s["Name"]["Name"], s["Type"]["Value"], s["Flags"]["Value"], s["Offset"],
         s["Size"], s["Link"], s["Info"], s["AddressAlignment"], s["EntrySize"])
        for s in sections]
    raw = path.read_bytes()
    for s in f.sections[1:]:
        if s.type != elf.SHT_NOBITS:
            assert s.data == raw[s.offset:s.offset + s.size]

    symbols = [s["Symbol"] for s in ref.get("Symbols", [])]
    # llvm-readelf shows a section symbol under its section's name; st_name is 0 there.
    assert [(s.index, s.name, s.value, s.size, s.bind, s.type, s.visibility, s.section)
            for s in f.symbols] == [
        (i, s["Name"]["Name"] if s["Name"]["Value"] else "", s["Value"], s["Size"],
         s["Binding"]["Value"], s["Type"]["Value"], s["Other"]["Value"] & 3,
         s["Section"]["Value"])
        for i, s in enumerate(symbols)]

    expected: dict[int, list[tuple[int, int, int]]] = {}
    for group in ref.get("Relocations", []):
        target = sections[group["SectionIndex"]]["Info"]
        expected.setdefault(target, []).extend(
            (r["Relocation"]["Offset"], r["Relocation"]["Symbol"]["Value"],
             r["Relocation"]["Type"]["Value"]) for r in group["Relocs"])
    assert {k: [(r.offset, r.symbol, r.type) for r in v] for k, v in f.relocations.items()} \
        == expected


@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: p.name)
def test_btf_sections_agree_with_read_elf(path: Path) -> None:
    raw = path.read_bytes()
    f = elf.read_elf(raw)
    btf_sec = f.section_by_name(".BTF")
    if btf_sec is None:
        with pytest.raises(ELFError, match=r"no \.BTF"):
            elf.read_btf_sections(raw)
        return
    b = elf.read_btf_sections(raw)
    assert b.btf == btf_sec.data
    ext = f.section_by_name(".BTF.ext")
    assert b.ext == (ext.data if ext is not None else None)
    assert b.section_sizes == {s.name: s.size for s in f.sections}
    assert b.symbols == {(f.sections[s.section].name, s.name): s.value for s in f.symbols
                         if s.name and 0 < s.section < len(f.sections)}


# --- building small ELF files ------------------------------------------------------------

@dataclass
class Sec:
    name: str
    type: int
    data: bytes = b""
    flags: int = 0
    link: int = 0
    info: int = 0
    entsize: int = 0
    size: int | None = None      # sh_size if not len(data) (SHT_NOBITS)


@dataclass
class Layout:
    """Where build() put things, for tests that corrupt them."""

    shoff: int = 0
    shentsize: int = 0
    offsets: list[int] = field(default_factory=list)   # sh_offset of each section


def build(sections: list[Sec], *, is64: bool, little: bool, machine: int = elf.EM_BPF,
          layout: Layout | None = None) -> bytes:
    """An ELF relocatable file with a null section, ``sections`` and a ``.shstrtab`` last."""
    o = "<" if little else ">"
    names = bytearray(b"\0")
    name_off = []
    for s in [*sections, Sec(".shstrtab", 3)]:
        name_off.append(len(names))
        names += s.name.encode() + b"\0"
    all_secs = [*sections, Sec(".shstrtab", 3, bytes(names))]
    ehsize = 64 if is64 else 52
    body = bytearray(ehsize)
    offsets = []
    for s in all_secs:
        while len(body) % 8:
            body.append(0)
        offsets.append(len(body))
        if s.type != elf.SHT_NOBITS:
            body += s.data
    while len(body) % 8:
        body.append(0)
    shoff = len(body)
    shentsize = 64 if is64 else 40
    sh = struct.Struct(o + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII"))
    body += bytes(shentsize)
    for s, noff, off in zip(all_secs, name_off, offsets, strict=True):
        size = len(s.data) if s.size is None else s.size
        body += sh.pack(noff, s.type, s.flags, 0, off, size, s.link, s.info, 8, s.entsize)
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 1 if little else 2, 1]) + bytes(9)
    hdr = struct.Struct(o + ("HHIQQQIHHHHHH" if is64 else "HHIIIIIHHHHHH"))
    body[:ehsize] = ident + hdr.pack(1, machine, 1, 0, 0, shoff, 0, ehsize, 0, 0, shentsize,
                                     len(all_secs) + 1, len(all_secs))
    if layout is not None:
        layout.shoff, layout.shentsize, layout.offsets = shoff, shentsize, [0, *offsets]
    return bytes(body)


def sym(is64: bool, little: bool, name: int, value: int, size: int, bind: int, stype: int,
        shndx: int, other: int = 0) -> bytes:
    o = "<" if little else ">"
    info = bind << 4 | stype
    if is64:
        return struct.pack(o + "IBBHQQ", name, info, other, shndx, value, size)
    return struct.pack(o + "IIIBBH", name, value, size, info, other, shndx)


def rel(is64: bool, little: bool, offset: int, symbol: int, rtype: int) -> bytes:
    o = "<" if little else ">"
    if is64:
        return struct.pack(o + "QQ", offset, symbol << 32 | rtype)
    return struct.pack(o + "II", offset, symbol << 8 | rtype)


def sample(is64: bool, little: bool, layout: Layout | None = None) -> bytes:
    """Sections 1 .text, 2 .data, 3 .bss, 4 .strtab, 5 .symtab, 6 .rel.text."""
    strtab = b"\0prog\0counter\0z\xc3\xa9ro\0"
    syms = b"".join([
        sym(is64, little, 0, 0, 0, 0, 0, 0),
        sym(is64, little, 0, 0, 0, elf.STB_LOCAL, elf.STT_SECTION, 2),
        sym(is64, little, 1, 0, 16, elf.STB_GLOBAL, elf.STT_FUNC, 1, other=2),
        sym(is64, little, 6, 4, 4, elf.STB_GLOBAL, elf.STT_OBJECT, 2),
        sym(is64, little, 14, 0, 8, elf.STB_WEAK, elf.STT_OBJECT, 3),
        sym(is64, little, 6, 0, 0, elf.STB_GLOBAL, elf.STT_NOTYPE, elf.SHN_UNDEF),
    ])
    symsize = 24 if is64 else 16
    relsize = 16 if is64 else 8
    rels = rel(is64, little, 0, 1, 1) + rel(is64, little, 8, 3, 10)
    return build([
        Sec(".text", elf.SHT_PROGBITS, bytes(range(16)), flags=elf.SHF_ALLOC | elf.SHF_EXECINSTR),
        Sec(".data", elf.SHT_PROGBITS, b"\1\2\3\4\5\6\7\x08", flags=elf.SHF_ALLOC | elf.SHF_WRITE),
        Sec(".bss", elf.SHT_NOBITS, size=4096, flags=elf.SHF_ALLOC | elf.SHF_WRITE),
        Sec(".strtab", 3, strtab),
        Sec(".symtab", elf.SHT_SYMTAB, syms, link=4, info=2, entsize=symsize),
        Sec(".rel.text", elf.SHT_REL, rels, link=5, info=1, entsize=relsize),
    ], is64=is64, little=little, layout=layout)


KINDS = [(is64, little) for is64 in (True, False) for little in (True, False)]
KIND_IDS = ["elf64-le", "elf64-be", "elf32-le", "elf32-be"]


@pytest.mark.parametrize(("is64", "little"), KINDS, ids=KIND_IDS)
def test_built_files_in_every_class_and_byte_order(is64: bool, little: bool) -> None:
    f = elf.read_elf(sample(is64, little))
    assert f.byte_order == ("little" if little else "big")
    assert (f.machine, f.elf_type) == (elf.EM_BPF, 1)
    assert [s.name for s in f.sections] == ["", ".text", ".data", ".bss", ".strtab", ".symtab",
                                           ".rel.text", ".shstrtab"]
    assert f.sections[1].data == bytes(range(16)) and f.sections[1].executable
    assert f.sections[3].size == 4096 and f.sections[3].data == b""
    assert [(s.name, s.value, s.size, s.bind, s.type, s.visibility, s.section)
            for s in f.symbols] == [
        ("", 0, 0, 0, 0, 0, 0),
        ("", 0, 0, elf.STB_LOCAL, elf.STT_SECTION, 0, 2),
        ("prog", 0, 16, elf.STB_GLOBAL, elf.STT_FUNC, 2, 1),
        ("counter", 4, 4, elf.STB_GLOBAL, elf.STT_OBJECT, 0, 2),
        ("zéro", 0, 8, elf.STB_WEAK, elf.STT_OBJECT, 0, 3),
        ("counter", 0, 0, elf.STB_GLOBAL, elf.STT_NOTYPE, 0, elf.SHN_UNDEF),
    ]
    assert [s.index for s in f.symbols] == list(range(6))
    assert f.relocations == {1: (elf.Relocation(0, 1, 1), elf.Relocation(8, 3, 10))}
    b = elf.read_btf_sections(build([Sec(".BTF", 1, b"btf!")], is64=is64, little=little))
    assert (b.btf, b.ext, b.symbols) == (b"btf!", None, {})


@pytest.mark.skipif(READELF is None, reason="llvm-readelf-19 is not installed")
@pytest.mark.parametrize(("is64", "little"), KINDS, ids=KIND_IDS)
def test_built_files_match_llvm_readelf(tmp_path: Path, is64: bool, little: bool) -> None:
    # EM_BPF is 64-bit only for LLVM: describe the 32-bit files as EM_386/EM_PPC instead.
    machine = elf.EM_BPF if is64 else (3 if little else 20)
    raw = sample(is64, little)
    raw = raw[:18] + machine.to_bytes(2, "little" if little else "big") + raw[20:]
    path = tmp_path / "built.o"
    path.write_bytes(raw)
    ref = _readelf(path)
    f = elf.read_elf(raw)
    assert [(s.name, s.type, s.offset, s.size, s.link, s.info) for s in f.sections] == [
        (s["Section"]["Name"]["Name"], s["Section"]["Type"]["Value"], s["Section"]["Offset"],
         s["Section"]["Size"], s["Section"]["Link"], s["Section"]["Info"])
        for s in ref["Sections"]]
    assert [(s.value, s.size, s.bind, s.type, s.section) for s in f.symbols] == [
        (s["Symbol"]["Value"], s["Symbol"]["Size"], s["Symbol"]["Binding"]["Value"],
         s["Symbol"]["Type"]["Value"], s["Symbol"]["Section"]["Value"]) for s in ref["Symbols"]]
    assert [(r.offset, r.symbol) for r in f.relocations[1]] == [
        (r["Relocation"]["Offset"], r["Relocation"]["Symbol"]["Value"])
        for g in ref["Relocations"] for r in g["Relocs"]]


# --- malformed files ---------------------------------------------------------------------

def _expect(raw: bytes | bytearray, match: str, *, section: str | None = None) -> ELFError:
    with pytest.raises(ELFError, match=match) as info:
        elf.read_elf(bytes(raw))
    if section is not None:
        assert info.value.section == section
    return info.value


def _put(raw: bytearray, little: bool, fmt: str, offset: int, *values: int) -> None:
    struct.pack_into(("<" if little else ">") + fmt, raw, offset, *values)


@pytest.mark.parametrize(("is64", "little"), KINDS, ids=KIND_IDS)
def test_bad_file_headers(is64: bool, little: bool) -> None:
    good = sample(is64, little)
    for ident, value, match in ((4, 3, "class"), (5, 0, "encoding"), (6, 2, "version")):
        raw = bytearray(good)
        raw[ident] = value
        assert _expect(raw, match).offset == ident
    for cut in (0, 3, 15, 16, 40, (64 if is64 else 52) - 1):
        _expect(good[:cut], "magic|truncated")
    lay = Layout()
    sample(is64, little, lay)
    # e_shoff, e_shentsize, e_shnum, e_shstrndx
    shoff_at, sh_at = (0x28, 0x3A) if is64 else (0x20, 0x2E)
    word = "Q" if is64 else "I"
    cases = [
        (shoff_at, word, len(good) - 8, "section header table"),
        (shoff_at, word, 2**31, "section header table"),
        (sh_at, "H", 8, "section header size"),
        (sh_at + 2, "H", 0xFFFF, "does not fit"),
        (sh_at + 4, "H", 0, "section name table index"),
        (sh_at + 4, "H", 8, "section name table index"),
        (sh_at + 4, "H", 5, "not SHT_STRTAB"),
    ]
    for at, fmt, value, match in cases:
        raw = bytearray(good)
        _put(raw, little, fmt, at, value)
        _expect(raw, match)
    # e_shoff == 0 with sections counted is a contradiction; with none, the file is empty.
    raw = bytearray(good)
    _put(raw, little, word, shoff_at, 0)
    _expect(raw, "no section header table")
    _put(raw, little, "H", sh_at + 2, 0)
    assert elf.read_elf(bytes(raw)).sections == ()


@pytest.mark.parametrize(("is64", "little"), KINDS, ids=KIND_IDS)
def test_extended_section_numbering(is64: bool, little: bool) -> None:
    good = sample(is64, little)
    lay = Layout()
    sample(is64, little, lay)
    sh_at = 0x3A if is64 else 0x2E
    size_at, link_at = (32, 40) if is64 else (20, 24)
    raw = bytearray(good)
    _put(raw, little, "H", sh_at + 2, 0)              # e_shnum = 0: see section 0's sh_size
    _put(raw, little, "H", sh_at + 4, elf.SHN_XINDEX)  # e_shstrndx: see section 0's sh_link
    _put(raw, little, "Q" if is64 else "I", lay.shoff + size_at, 8)
    _put(raw, little, "I", lay.shoff + link_at, 7)
    ext, plain = elf.read_elf(bytes(raw)), elf.read_elf(good)
    assert (ext.sections[1:], ext.symbols, ext.relocations) == (
        plain.sections[1:], plain.symbols, plain.relocations)
    # A huge count there is refused at once, without allocating anything for it.
    _put(raw, little, "Q" if is64 else "I", lay.shoff + size_at, 2**60 if is64 else 2**32 - 1)
    t = time.perf_counter()
    _expect(raw, "does not fit")
    assert time.perf_counter() - t < 0.1


def _header_field(is64: bool, name: str) -> tuple[str, int]:
    """The struct format and offset of a section header field."""
    if is64:
        table = {"name": ("I", 0), "type": ("I", 4), "offset": ("Q", 24), "size": ("Q", 32),
                 "link": ("I", 40), "info": ("I", 44), "entsize": ("Q", 56)}
    else:
        table = {"name": ("I", 0), "type": ("I", 4), "offset": ("I", 16), "size": ("I", 20),
                 "link": ("I", 24), "info": ("I", 28), "entsize": ("I", 36)}
    return table[name]


def _set_header(raw: bytearray, lay: Layout, is64: bool, little: bool, index: int, name: str,
                value: int) -> None:
    fmt, off = _header_field(is64, name)
    _put(raw, little, fmt, lay.shoff + index * lay.shentsize + off, value)


@pytest.mark.parametrize(("is64", "little"), KINDS, ids=KIND_IDS)
def test_bad_sections_symbols_and_relocations(is64: bool, little: bool) -> None:
    lay = Layout()
    good = sample(is64, little, lay)
    big = 2**40 if is64 else 2**32 - 1
    symsize = 24 if is64 else 16
    # (section index, header field, value, message, section named in the error)
    cases: list[tuple[int, str, int, str, str | None]] = [
        (1, "offset", len(good), "outside the file", None),
        (2, "size", big, "outside the file", None),
        (1, "name", 10_000, "name of section 1: offset", ".shstrtab"),
        (5, "link", 0, "string table index", ".symtab"),
        (5, "link", 99, "string table index", ".symtab"),
        (5, "link", 1, "not SHT_STRTAB", ".symtab"),
        (5, "entsize", 4, "entry size", ".symtab"),
        (5, "size", symsize * 6 - 1, "not a multiple", ".symtab"),
        (6, "info", 0, "target section 0", ".rel.text"),
        (6, "info", 99, "target section 99", ".rel.text"),
        (6, "link", 4, "not the symbol table", ".rel.text"),
        (6, "entsize", 2, "entry size", ".rel.text"),
        (6, "type", elf.SHT_RELA, "RELA", ".rel.text"),
        (4, "type", elf.SHT_SYMTAB, "more than one symbol table", None),
    ]
    for index, name, value, match, section in cases:
        raw = bytearray(good)
        _set_header(raw, lay, is64, little, index, name, value)
        err = _expect(raw, match, section=section)
        assert str(err)
    # The section name table has no NUL at its end.
    raw = bytearray(good)
    names_end = lay.offsets[7] + len(b"\0.text\0.data\0.bss\0.strtab\0.symtab\0.rel.text\0"
                                     b".shstrtab\0")
    raw[names_end - 1] = ord("x")
    _expect(raw, "not NUL-terminated", section=".shstrtab")
    raw[lay.offsets[7] + 1] = 0xFF   # ".text" -> "\xfftext"
    _expect(raw, "name of section 1 is not UTF-8", section=".shstrtab")


@pytest.mark.parametrize(("is64", "little"), KINDS, ids=KIND_IDS)
def test_bad_symbol_and_relocation_entries(is64: bool, little: bool) -> None:
    lay = Layout()
    good = sample(is64, little, lay)
    symtab, rels, strtab = lay.offsets[5], lay.offsets[6], lay.offsets[4]
    symsize, relsize = (24, 16) if is64 else (16, 8)
    shndx_at = 6 if is64 else 14
    raw = bytearray(good)
    _put(raw, little, "I", symtab + 2 * symsize, 10_000)          # st_name of "prog"
    err = _expect(raw, "name of symbol 2: offset 10000", section=".strtab")
    assert err.offset == 10_000
    raw = bytearray(good)
    _put(raw, little, "H", symtab + 3 * symsize + shndx_at, 99)   # st_shndx of "counter"
    assert _expect(raw, "symbol 3 is in section 99", section=".symtab").offset == 3 * symsize
    raw = bytearray(good)
    _put(raw, little, "H", symtab + 3 * symsize + shndx_at, elf.SHN_ABS)  # reserved: fine
    assert elf.read_elf(bytes(raw)).symbols[3].section == elf.SHN_ABS
    raw = bytearray(good)
    raw[strtab + 16] = ord("A")   # "zéro" -> "z\xc3Aro"
    _expect(raw, "name of symbol 4 is not UTF-8", section=".strtab")
    raw = bytearray(good)
    raw[strtab + len(b"\0prog\0counter\0z\xc3\xa9ro\0") - 1] = ord("x")
    _expect(raw, "symbol 4 is not NUL-terminated", section=".strtab")
    raw = bytearray(good)
    info = (6 << 32 | 1) if is64 else (6 << 8 | 1)                  # symbol 6 of 6
    _put(raw, little, "Q" if is64 else "I", rels + relsize // 2, info)
    err = _expect(raw, "symbol index 6 is out of range", section=".rel.text")
    assert err.offset == 0
    raw = bytearray(good)
    _put(raw, little, "Q" if is64 else "I", rels + relsize, 16)     # r_offset past .text
    assert _expect(raw, "outside '.text'", section=".rel.text").offset == relsize


@pytest.mark.parametrize(("is64", "little"), KINDS, ids=KIND_IDS)
def test_every_truncation_raises(is64: bool, little: bool) -> None:
    good = sample(is64, little)
    for cut in range(len(good)):
        with pytest.raises(ELFError):
            elf.read_elf(good[:cut])


@pytest.mark.parametrize("name", ["minimal", "maps", "globals", "loader_calls"])
@pytest.mark.parametrize("order", ["el", "eb"])
def test_truncated_testdata_raises(name: str, order: str) -> None:
    good = (TESTDATA / f"{name}-{order}.elf").read_bytes()
    for cut in sorted({*range(0, 200, 7), *range(len(good) - 300, len(good), 11)}):
        with pytest.raises(ELFError):
            elf.read_elf(good[:cut])
        with pytest.raises(ELFError):
            elf.read_btf_sections(good[:cut])


def _mutants(good: bytes, rng: random.Random, count: int) -> list[bytes]:
    out = []
    for _ in range(count):
        raw = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(raw))
            raw[pos] = rng.choice((0, 0xFF, rng.randrange(256), raw[pos] ^ 1 << rng.randrange(8)))
        out.append(bytes(raw))
    return out


@pytest.mark.parametrize("source", ["built", "minimal", "maps", "subprogs", "tool_execsnoop"])
@pytest.mark.parametrize("order", ["el", "eb"])
def test_mutations_raise_only_elf_error(source: str, order: str) -> None:
    if source == "built":
        good = sample(True, order == "el") + b""
        goods = [good, sample(False, order == "el")]
    else:
        goods = [(TESTDATA / f"{source}-{order}.elf").read_bytes()]
    rng = random.Random(f"{source}-{order}")
    for good in goods:
        for raw in _mutants(good, rng, 300):
            t = time.perf_counter()
            for parse in (elf.read_elf, elf.read_btf_sections):
                try:
                    f = parse(raw)
                except ELFError as e:
                    assert isinstance(e.section, (str, type(None)))
                    continue
                if isinstance(f, elf.ElfFile):
                    for s in f.sections:
                        assert len(s.data) in (0, s.size)
            assert time.perf_counter() - t < 0.5


@pytest.mark.parametrize(("is64", "little"), KINDS, ids=KIND_IDS)
def test_header_table_mutations_raise_only_elf_error(is64: bool, little: bool) -> None:
    """Every 32-bit word of the file and section headers set to awkward values."""
    lay = Layout()
    good = sample(is64, little, lay)
    regions = [*range(16, 64 if is64 else 52, 2), *range(lay.shoff, len(good), 4)]
    for pos in regions:
        for value in (0, 1, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF):
            raw = bytearray(good)
            width = 2 if pos < lay.shoff else 4
            raw[pos:pos + width] = (value & (1 << 8 * width) - 1).to_bytes(
                width, "little" if little else "big")
            with contextlib.suppress(ELFError):
                elf.read_elf(bytes(raw))


def test_reading_a_collection_imports_no_pyelftools() -> None:
    code = ("import sys, ebpf.elf_reader; "
            "ebpf.load_collection_spec(sys.argv[1]); "
            "bad = [m for m in sys.modules if m.split('.')[0] == 'elftools']; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code, str(TESTDATA / "maps-el.elf")], check=True)
