"""The library's only gateway to pyelftools: an ELF object file as plain, immutable data.

:func:`read_elf` parses a whole relocatable object up front and returns an :class:`ElfFile`
whose sections, symbols and relocations are plain Python values; no pyelftools object escapes
this module. Every error pyelftools (or the ``struct`` module underneath it) can raise on a
malformed file is turned into :class:`~ebpf.errors.ELFError`, naming the section where known.

This module makes no system calls and reads nothing but the bytes it is given.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

from ..errors import ELFError

__all__ = [
    "ElfFile",
    "Relocation",
    "Section",
    "Symbol",
    "read_elf",
    "EM_BPF",
    "SHF_EXECINSTR",
    "SHF_ALLOC",
    "SHF_WRITE",
    "SHN_UNDEF",
    "SHN_ABS",
    "SHN_COMMON",
    "SHT_PROGBITS",
    "SHT_NOBITS",
    "SHT_REL",
    "SHT_SYMTAB",
    "STB_LOCAL",
    "STB_GLOBAL",
    "STB_WEAK",
    "STT_NOTYPE",
    "STT_OBJECT",
    "STT_FUNC",
    "STT_SECTION",
]

EM_BPF: Final = 247

SHT_PROGBITS: Final = 1
SHT_SYMTAB: Final = 2
SHT_RELA: Final = 4
SHT_NOBITS: Final = 8
SHT_REL: Final = 9

SHF_WRITE: Final = 0x1
SHF_ALLOC: Final = 0x2
SHF_EXECINSTR: Final = 0x4

SHN_UNDEF: Final = 0
SHN_ABS: Final = 0xFFF1
SHN_COMMON: Final = 0xFFF2

STB_LOCAL: Final = 0
STB_GLOBAL: Final = 1
STB_WEAK: Final = 2

STT_NOTYPE: Final = 0
STT_OBJECT: Final = 1
STT_FUNC: Final = 2
STT_SECTION: Final = 3

@dataclass(frozen=True)
class Section:
    """One section header and its contents.

    Attributes:
        index: the section's index in the header table.
        name: its name (``.text``, ``xdp``, ``.rel.text`` ...).
        type: ``sh_type`` (``SHT_*``).
        flags: ``sh_flags`` (``SHF_*``).
        size: ``sh_size``; for ``SHT_NOBITS`` (``.bss``) the size of the zeroes it stands for.
        data: the contents (empty for ``SHT_NOBITS``).
        link, info, entsize, addralign: the header fields of the same names.
    """

    index: int
    name: str
    type: int
    flags: int
    size: int
    data: bytes
    link: int
    info: int
    entsize: int
    addralign: int

    @property
    def executable(self) -> bool:
        return bool(self.flags & SHF_EXECINSTR)


@dataclass(frozen=True)
class Symbol:
    """One entry of the symbol table.

    Attributes:
        index: the symbol's index in the table (relocations refer to it).
        name: its name (empty for section symbols, which :attr:`section` names instead).
        value: ``st_value``: the offset in its section for a relocatable object.
        size: ``st_size``.
        bind: ``STB_*``; type: ``STT_*``; visibility: ``STV_*`` as a number.
        section: ``st_shndx``: the section it is defined in, or ``SHN_UNDEF`` (0) for an
            extern, ``SHN_ABS``, ``SHN_COMMON``.
    """

    index: int
    name: str
    value: int
    size: int
    bind: int
    type: int
    visibility: int
    section: int


@dataclass(frozen=True)
class Relocation:
    """One ``REL`` entry: patch ``offset`` of the target section for ``symbol``."""

    offset: int
    symbol: int
    type: int


@dataclass(frozen=True)
class ElfFile:
    """A parsed relocatable ELF object.

    Attributes:
        byte_order: ``"little"`` or ``"big"``.
        machine: ``e_machine`` as a number (247 for BPF).
        elf_type: ``e_type`` as a number (1 for a relocatable object).
        sections: every section, by index (index 0 is the null section).
        symbols: the symbol table, by index (index 0 is the null symbol).
        relocations: for each section index that has a ``.rel`` section, its entries.
    """

    byte_order: Literal["little", "big"]
    machine: int
    elf_type: int
    sections: tuple[Section, ...]
    symbols: tuple[Symbol, ...]
    relocations: dict[int, tuple[Relocation, ...]]

    def section_by_name(self, name: str) -> Section | None:
        """The first section called ``name``, or None."""
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def section(self, index: int) -> Section:
        """The section with ``index``.

        Raises:
            ELFError: there is no such section.
        """
        if not 0 <= index < len(self.sections):
            raise ELFError(f"section index {index} is out of range "
                           f"(the file has {len(self.sections)} sections)")
        return self.sections[index]

    def symbol(self, index: int, *, context: str = "") -> Symbol:
        """The symbol with ``index``.

        Raises:
            ELFError: there is no such symbol.
        """
        if not 0 <= index < len(self.symbols):
            raise ELFError(f"symbol index {index} is out of range", section=context or None)
        return self.symbols[index]

    def symbols_in(self, section: int) -> Iterator[Symbol]:
        """The symbols defined in ``section``, in table order."""
        return (s for s in self.symbols if s.section == section)


def _int(value: Any, table: dict[str, int]) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value in table:
        return table[value]
    raise ELFError(f"unexpected ELF field value {value!r}")


def read_elf(data: bytes) -> ElfFile:
    """Parse ``data`` as an ELF object file.

    Raises:
        ELFError: the data is not a well-formed ELF file.
    """
    if len(data) < 16 or data[:4] != b"\x7fELF":
        raise ELFError("not an ELF file (bad magic)", offset=0)
    try:
        return _read(data)
    except ELFError:
        raise
    except RecursionError:
        raise ELFError("the ELF file is malformed (recursion)") from None
    except Exception as e:  # pyelftools raises many unrelated types on malformed input
        raise ELFError(f"malformed ELF file: {type(e).__name__}: {e}") from e


def _read(data: bytes) -> ElfFile:
    from elftools.elf.elffile import ELFFile

    elf = ELFFile(io.BytesIO(data))
    byte_order: Literal["little", "big"] = "little" if elf.little_endian else "big"
    # e_type and e_machine as numbers (pyelftools gives names for the ones it knows).
    elf_type, machine = struct.unpack_from("<HH" if byte_order == "little" else ">HH", data, 16)
    sections: list[Section] = []
    for i in range(elf.num_sections()):
        sec = elf.get_section(i)
        h = sec.header
        try:
            name = sec.name if i else ""
        except UnicodeDecodeError:
            raise ELFError(f"section {i}: name is not UTF-8") from None
        if not isinstance(name, str):
            raise ELFError(f"section {i}: name offset {h['sh_name']} is outside the name table")
        stype = _int(h["sh_type"], _SH_TYPES)
        size = int(h["sh_size"])
        offset = int(h["sh_offset"])
        if stype == SHT_NOBITS or i == 0:
            contents = b""
        else:
            if offset + size > len(data) or offset < 0:
                raise ELFError(f"contents [{offset:#x}, +{size:#x}) lie outside the file",
                               section=name)
            contents = data[offset:offset + size]
        sections.append(Section(
            index=i, name=name, type=stype, flags=int(h["sh_flags"]), size=size,
            data=contents, link=int(h["sh_link"]), info=int(h["sh_info"]),
            entsize=int(h["sh_entsize"]), addralign=int(h["sh_addralign"])))

    symbols = _symbols(data, sections, byte_order, elf.elfclass)
    relocations: dict[int, tuple[Relocation, ...]] = {}
    for s in sections:
        if s.type == SHT_RELA:
            raise ELFError("RELA relocations are not supported in BPF objects", section=s.name)
        if s.type != SHT_REL:
            continue
        if not 0 < s.info < len(sections):
            raise ELFError(f"relocations target section {s.info}, which does not exist",
                           section=s.name)
        relocations[s.info] = relocations.get(s.info, ()) + _rels(s, byte_order, elf.elfclass)
    return ElfFile(byte_order, machine, elf_type, tuple(sections), tuple(symbols), relocations)


_SH_TYPES: Final = {
    "SHT_NULL": 0, "SHT_PROGBITS": SHT_PROGBITS, "SHT_SYMTAB": SHT_SYMTAB, "SHT_STRTAB": 3,
    "SHT_RELA": SHT_RELA, "SHT_HASH": 5, "SHT_DYNAMIC": 6, "SHT_NOTE": 7,
    "SHT_NOBITS": SHT_NOBITS, "SHT_REL": SHT_REL, "SHT_SHLIB": 10, "SHT_DYNSYM": 11,
    "SHT_INIT_ARRAY": 14, "SHT_FINI_ARRAY": 15, "SHT_PREINIT_ARRAY": 16, "SHT_GROUP": 17,
    "SHT_SYMTAB_SHNDX": 18, "SHT_LLVM_ADDRSIG": 0x6FFF4C03,
}


def _cstring(table: bytes, offset: int, where: str) -> str:
    if offset >= len(table) and offset:
        raise ELFError(f"name offset {offset} is outside the string table", section=where)
    end = table.find(b"\0", offset)
    if end < 0:
        raise ELFError("unterminated name", section=where, offset=offset)
    try:
        return table[offset:end].decode()
    except UnicodeDecodeError:
        raise ELFError("name is not UTF-8", section=where, offset=offset) from None


def _symbols(data: bytes, sections: list[Section], order: str, elfclass: int) -> list[Symbol]:
    tabs = [s for s in sections if s.type == SHT_SYMTAB]
    if not tabs:
        return []
    if len(tabs) > 1:
        raise ELFError("more than one symbol table", section=tabs[1].name)
    tab = tabs[0]
    if not 0 < tab.link < len(sections):
        raise ELFError(f"string table index {tab.link} is out of range", section=tab.name)
    strings = sections[tab.link].data
    prefix = "<" if order == "little" else ">"
    fmt = struct.Struct(prefix + ("IBBHQQ" if elfclass == 64 else "IIIBBH"))
    entsize = tab.entsize or fmt.size
    if entsize < fmt.size:
        raise ELFError(f"symbol entry size {entsize} is too small", section=tab.name)
    out = []
    for i in range(len(tab.data) // entsize):
        raw = fmt.unpack_from(tab.data, i * entsize)
        if elfclass == 64:
            st_name, info, other, shndx, value, size = raw
        else:
            st_name, value, size, info, other, shndx = raw
        out.append(Symbol(index=i, name=_cstring(strings, st_name, tab.name), value=value,
                          size=size, bind=info >> 4, type=info & 0xF, visibility=other & 0x3,
                          section=shndx))
    return out


def _rels(s: Section, order: str, elfclass: int) -> tuple[Relocation, ...]:
    prefix = "<" if order == "little" else ">"
    fmt = struct.Struct(prefix + ("QQ" if elfclass == 64 else "II"))
    entsize = s.entsize or fmt.size
    if entsize < fmt.size:
        raise ELFError(f"relocation entry size {entsize} is too small", section=s.name)
    out = []
    for i in range(len(s.data) // entsize):
        offset, info = fmt.unpack_from(s.data, i * entsize)
        if elfclass == 64:
            sym, rtype = info >> 32, info & 0xFFFFFFFF
        else:
            sym, rtype = info >> 8, info & 0xFF
        out.append(Relocation(offset=offset, symbol=sym, type=rtype))
    return tuple(out)
