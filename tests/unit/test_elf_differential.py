"""The ELF reader against pyelftools, the reference: both read the same sections, symbols and
relocations from every object of the repository, and from the mutated objects of the fuzzer
that both accept.

The library reads ELF itself (pyelftools costs too much per load); this test is what keeps the
two readings equal. Compared: every section header field, every symbol (name, value, size,
bind, type, visibility, section index) and every relocation (offset, type, symbol), as full
lists in table order.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from ebpf.errors import ELFError
from ebpf.internal import elf

elftools = pytest.importorskip("elftools")
from elftools.common.exceptions import ELFError as RefError  # noqa: E402
from elftools.elf.elffile import ELFFile  # noqa: E402
from elftools.elf.enums import (  # noqa: E402
    ENUM_SH_TYPE_BASE,
    ENUM_ST_INFO_BIND,
    ENUM_ST_INFO_TYPE,
    ENUM_ST_SHNDX,
    ENUM_ST_VISIBILITY,
)
from elftools.elf.relocation import RelocationSection  # noqa: E402
from elftools.elf.sections import SymbolTableSection  # noqa: E402

from tests.fuzz import harness  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OBJECTS = sorted([*ROOT.glob("testdata/*.elf"), *ROOT.glob("examples/bpf/*.elf")])


def _num(table: Mapping[str, Any], value: Any) -> int:
    """pyelftools spells known enum values as names: back to the number."""
    if isinstance(value, int):
        return value
    number = table[value]
    assert isinstance(number, int)
    return number


Sections = list[tuple[Any, ...]]
Symbols = list[tuple[Any, ...]]
Relocations = dict[int, list[tuple[int, int, int]]]


def reference(data: bytes) -> tuple[Sections, Symbols, Relocations]:
    """Sections, symbols and relocations as pyelftools reads them."""
    f = ELFFile(io.BytesIO(data))
    sections: Sections = []
    symbols: Symbols = []
    relocations: Relocations = {}
    for i, s in enumerate(f.iter_sections()):
        h = s.header
        sections.append((i, s.name if i else "", _num(ENUM_SH_TYPE_BASE, h.sh_type), h.sh_flags,
                         h.sh_size, h.sh_link, h.sh_info, h.sh_entsize, h.sh_addralign,
                         h.sh_offset))
        if isinstance(s, SymbolTableSection) and h.sh_type == "SHT_SYMTAB":
            for j, sym in enumerate(s.iter_symbols()):
                e = sym.entry
                symbols.append((j, sym.name, e.st_value, e.st_size,
                                _num(ENUM_ST_INFO_BIND, e.st_info.bind),
                                _num(ENUM_ST_INFO_TYPE, e.st_info.type),
                                _num(ENUM_ST_VISIBILITY, e.st_other.visibility) & 3,
                                _num(ENUM_ST_SHNDX, e.st_shndx)))
        elif isinstance(s, RelocationSection):
            relocations.setdefault(h.sh_info, []).extend(
                (r.entry.r_offset, r.entry.r_info_sym, r.entry.r_info_type)
                for r in s.iter_relocations())
    return sections, symbols, relocations


def ours(data: bytes) -> tuple[Sections, Symbols, Relocations]:
    f = elf.read_elf(data)
    sections = [(s.index, s.name, s.type, s.flags, s.size, s.link, s.info, s.entsize,
                 s.addralign, s.offset) for s in f.sections]
    symbols = [(s.index, s.name, s.value, s.size, s.bind, s.type, s.visibility, s.section)
               for s in f.symbols]
    relocations = {i: [(r.offset, r.symbol, r.type) for r in rels]
                   for i, rels in f.relocations.items()}
    return sections, symbols, relocations


def compare(data: bytes) -> None:
    mine = ours(data)
    ref = reference(data)
    for what, a, b in zip(("sections", "symbols", "relocations"), mine, ref, strict=True):
        assert a == b, what


def test_objects_exist() -> None:
    assert len(OBJECTS) >= 60
    assert any(p.parent.name == "bpf" for p in OBJECTS)


@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_same_reading_as_pyelftools(path: Path) -> None:
    data = path.read_bytes()
    compare(data)
    sections, symbols, relocations = ours(data)
    assert symbols and relocations is not None and sections


def test_section_data_matches() -> None:
    for path in OBJECTS[:20]:
        data = path.read_bytes()
        f = elf.read_elf(data)
        ref = ELFFile(io.BytesIO(data))
        for s in f.sections[1:]:
            if s.type != elf.SHT_NOBITS:
                assert s.data == ref.get_section(s.index).data(), (path.name, s.name)


def _both(data: bytes) -> bool:
    """Compare when both readers accept ``data``; True if they did."""
    try:
        mine = ours(data)
    except ELFError:
        return False
    try:
        ref = reference(data)
    except (RefError, Exception):  # pyelftools has no single error type for malformed input
        return False
    for what, a, b in zip(("sections", "symbols", "relocations"), mine, ref, strict=True):
        assert a == b, what
    return True


def test_mutated_objects_both_accept() -> None:
    """The fuzzer's mutants (and the ELF corpus) that both readers accept read the same."""
    compared = 0
    for path in harness.corpus_files("elf"):
        compared += _both(path.read_bytes())

    @settings(max_examples=300, deadline=None, database=None, derandomize=True,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(harness.mutants("elf"))
    def check(data: bytes) -> None:
        nonlocal compared
        compared += _both(data)

    check()
    assert compared >= 30
