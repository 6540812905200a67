"""The library's one ELF reader: an object file as plain, immutable data.

:func:`read_elf` reads a relocatable object (ELF32 or ELF64, either byte order) and returns an
:class:`ElfFile` whose sections, symbols and relocations are plain Python values.
:func:`read_btf_sections` reads what :mod:`ebpf.btf` needs (``.BTF``, ``.BTF.ext``, section
sizes and symbol offsets) from any ELF file, vmlinux included.

Only the file header, the section header table, the section name table, ``.symtab`` with its
string table and the ``SHT_REL``/``SHT_RELA`` sections are decoded; the contents of other
sections are sliced out of the file the first time :attr:`Section.data` is read.

Every inconsistency raises :class:`~ebpf.errors.ELFError` naming the section and offset
concerned. Every count is checked against the size of the file before anything is allocated,
so a malformed file costs at most time and memory proportional to its size.

This module makes no system calls and reads nothing but the bytes it is given.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any, ClassVar, Final, Literal, final

from ..errors import ELFError

__all__ = [
    "ElfBTF",
    "ElfFile",
    "Relocation",
    "Section",
    "Symbol",
    "read_btf_sections",
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

SHT_NULL: Final = 0
SHT_PROGBITS: Final = 1
SHT_SYMTAB: Final = 2
SHT_STRTAB: Final = 3
SHT_RELA: Final = 4
SHT_NOBITS: Final = 8
SHT_REL: Final = 9

SHF_WRITE: Final = 0x1
SHF_ALLOC: Final = 0x2
SHF_EXECINSTR: Final = 0x4

SHN_UNDEF: Final = 0
SHN_LORESERVE: Final = 0xFF00
SHN_ABS: Final = 0xFFF1
SHN_COMMON: Final = 0xFFF2
SHN_XINDEX: Final = 0xFFFF

STB_LOCAL: Final = 0
STB_GLOBAL: Final = 1
STB_WEAK: Final = 2

STT_NOTYPE: Final = 0
STT_OBJECT: Final = 1
STT_FUNC: Final = 2
STV_INTERNAL: Final = 1
STV_HIDDEN: Final = 2
STT_SECTION: Final = 3

_ELFCLASS32: Final = 1
_ELFCLASS64: Final = 2
_ELFDATA2LSB: Final = 1
_ELFDATA2MSB: Final = 2
_EV_CURRENT: Final = 1
_ET_REL: Final = 1


class _Formats:
    """The precompiled layouts of one (class, byte order) combination."""

    __slots__ = ("header", "is64", "rel", "rela", "section", "symbol")

    def __init__(self, is64: bool, prefix: str) -> None:
        self.is64 = is64
        if is64:
            # e_type .. e_shstrndx (after the 16 bytes of e_ident)
            self.header = struct.Struct(prefix + "HHIQQQIHHHHHH")
            # sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info,
            # sh_addralign, sh_entsize
            self.section = struct.Struct(prefix + "IIQQQQIIQQ")
            # st_name, st_info, st_other, st_shndx, st_value, st_size
            self.symbol = struct.Struct(prefix + "IBBHQQ")
            self.rel = struct.Struct(prefix + "QQ")
            self.rela = struct.Struct(prefix + "QQq")
        else:
            self.header = struct.Struct(prefix + "HHIIIIIHHHHHH")
            self.section = struct.Struct(prefix + "IIIIIIIIII")
            # st_name, st_value, st_size, st_info, st_other, st_shndx
            self.symbol = struct.Struct(prefix + "IIIBBH")
            self.rel = struct.Struct(prefix + "II")
            self.rela = struct.Struct(prefix + "IIi")


_FORMATS: Final = {
    (_ELFCLASS32, _ELFDATA2LSB): _Formats(False, "<"),
    (_ELFCLASS32, _ELFDATA2MSB): _Formats(False, ">"),
    (_ELFCLASS64, _ELFDATA2LSB): _Formats(True, "<"),
    (_ELFCLASS64, _ELFDATA2MSB): _Formats(True, ">"),
}


_set = object.__setattr__


class _Record:
    """An immutable record: equality, hash and repr over the names in ``_fields``.

    Written out by hand rather than with ``dataclasses``, which would cost more to import than
    the whole of a file takes to read.
    """

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in self._fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Record)
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({inner})"

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), self._key()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")


@final
class Section(_Record):
    """One section header; its contents are read from the file on first use.

    Attributes:
        index: the section's index in the header table.
        name: its name (``.text``, ``xdp``, ``.rel.text`` ...).
        type: ``sh_type`` (``SHT_*``).
        flags: ``sh_flags`` (``SHF_*``).
        size: ``sh_size``; for ``SHT_NOBITS`` (``.bss``) the size of the zeroes it stands for.
        link, info, entsize, addralign: the header fields of the same names.
        offset: ``sh_offset``, where the contents start in the file.
        data: the contents (empty for ``SHT_NOBITS`` and the null section).
    """

    __slots__ = ("_data", "_file", "addralign", "entsize", "flags", "index", "info", "link",
                 "name", "offset", "size", "type")
    _fields = ("index", "name", "type", "flags", "size", "link", "info", "entsize",
               "addralign", "offset")

    index: int
    name: str
    type: int
    flags: int
    size: int
    link: int
    info: int
    entsize: int
    addralign: int
    offset: int
    _file: bytes
    _data: bytes | None

    def __init__(self, index: int, name: str, type: int, flags: int, size: int, link: int,
                 info: int, entsize: int, addralign: int, offset: int = 0,
                 file: bytes = b"") -> None:
        _set(self, "index", index)
        _set(self, "name", name)
        _set(self, "type", type)
        _set(self, "flags", flags)
        _set(self, "size", size)
        _set(self, "link", link)
        _set(self, "info", info)
        _set(self, "entsize", entsize)
        _set(self, "addralign", addralign)
        _set(self, "offset", offset)
        _set(self, "_file", file)
        _set(self, "_data", None)

    def __reduce__(self) -> tuple[Any, ...]:
        return Section, (*self._key(), self._file)

    @property
    def data(self) -> bytes:
        """The section's bytes (checked to lie inside the file when the file was read)."""
        d = self._data
        if d is None:
            if self.type == SHT_NOBITS or self.index == 0:
                d = b""
            else:
                d = self._file[self.offset:self.offset + self.size]
            _set(self, "_data", d)
        return d

    @property
    def executable(self) -> bool:
        return bool(self.flags & SHF_EXECINSTR)


@final
class Symbol(_Record):
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

    __slots__ = ("bind", "index", "name", "section", "size", "type", "value", "visibility")
    _fields = ("index", "name", "value", "size", "bind", "type", "visibility", "section")

    index: int
    name: str
    value: int
    size: int
    bind: int
    type: int
    visibility: int
    section: int

    def __init__(self, index: int, name: str, value: int, size: int, bind: int, type: int,
                 visibility: int, section: int) -> None:
        _set(self, "index", index)
        _set(self, "name", name)
        _set(self, "value", value)
        _set(self, "size", size)
        _set(self, "bind", bind)
        _set(self, "type", type)
        _set(self, "visibility", visibility)
        _set(self, "section", section)


@final
class Relocation(_Record):
    """One ``REL`` entry: patch ``offset`` of the target section for ``symbol``."""

    __slots__ = ("offset", "symbol", "type")
    _fields = ("offset", "symbol", "type")

    offset: int
    symbol: int
    type: int

    def __init__(self, offset: int, symbol: int, type: int) -> None:
        _set(self, "offset", offset)
        _set(self, "symbol", symbol)
        _set(self, "type", type)


@final
class ElfFile(_Record):
    """A parsed relocatable ELF object.

    Attributes:
        byte_order: ``"little"`` or ``"big"``.
        machine: ``e_machine`` as a number (247 for BPF).
        elf_type: ``e_type`` as a number (1 for a relocatable object).
        sections: every section, by index (index 0 is the null section).
        symbols: the symbol table, by index (index 0 is the null symbol).
        relocations: for each section index that has a ``.rel`` section, its entries.
    """

    __slots__ = ("byte_order", "elf_type", "machine", "relocations", "sections", "symbols")
    _fields = ("byte_order", "machine", "elf_type", "sections", "symbols", "relocations")

    byte_order: Literal["little", "big"]
    machine: int
    elf_type: int
    sections: tuple[Section, ...]
    symbols: tuple[Symbol, ...]
    relocations: dict[int, tuple[Relocation, ...]]

    def __init__(self, byte_order: Literal["little", "big"], machine: int, elf_type: int,
                 sections: tuple[Section, ...], symbols: tuple[Symbol, ...],
                 relocations: dict[int, tuple[Relocation, ...]]) -> None:
        _set(self, "byte_order", byte_order)
        _set(self, "machine", machine)
        _set(self, "elf_type", elf_type)
        _set(self, "sections", sections)
        _set(self, "symbols", symbols)
        _set(self, "relocations", relocations)

    __hash__ = None  # type: ignore[assignment]  # relocations is a dict

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


class ElfBTF:
    """What an object file says about its BTF.

    Attributes:
        btf: the ``.BTF`` section.
        ext: the ``.BTF.ext`` section, or None.
        section_sizes: size of every section, by name.
        symbols: offset of every named symbol, by (section name, symbol name).
        hidden_functions: the names of the global functions with hidden (or internal)
            visibility, such as the ``__weak __hidden`` helpers of libbpf's ``usdt.bpf.h``:
            they cannot be called from another object, so the kernel may verify them as
            static functions (as libbpf has them verified).
    """

    __slots__ = ("btf", "ext", "hidden_functions", "section_sizes", "symbols")

    def __init__(self, btf: bytes, ext: bytes | None, section_sizes: dict[str, int],
                 symbols: dict[tuple[str, str], int],
                 hidden_functions: frozenset[str] = frozenset()) -> None:
        self.btf = btf
        self.ext = ext
        self.section_sizes = section_sizes
        self.symbols = symbols
        self.hidden_functions = hidden_functions


# --- the reader -------------------------------------------------------------------------------

#: Names of the machines (``e_machine``) a user may meet by mistake, as ``readelf`` says them.
_MACHINES: Final = {
    3: "x86", 8: "MIPS", 20: "PowerPC", 21: "PowerPC64", 22: "S/390", 40: "ARM", 62: "x86-64",
    183: "AArch64", 243: "RISC-V", EM_BPF: "BPF", 258: "LoongArch",
}


def _machine_name(machine: int) -> str:
    return _MACHINES.get(machine, f"e_machine {machine}")


def _article(machine: int) -> str:
    return "n" if _machine_name(machine)[:1] in ("A", "E", "I", "O", "U", "x", "e") else ""


def _cstring(table: bytes, offset: int, where: str, kind: str, index: int) -> str:
    """The NUL-terminated UTF-8 name at ``offset`` of ``table`` (section ``where``), the name
    of ``kind`` (``section``, ``symbol``) number ``index``."""
    end = table.find(b"\0", offset)
    if end < 0:
        if offset >= len(table):
            raise ELFError(f"name of {kind} {index}: offset {offset} is outside the string "
                           f"table ({len(table)} bytes)", section=where, offset=offset)
        raise ELFError(f"name of {kind} {index} is not NUL-terminated", section=where,
                       offset=offset)
    try:
        return table[offset:end].decode()
    except UnicodeDecodeError:
        raise ELFError(f"name of {kind} {index} is not UTF-8", section=where,
                       offset=offset) from None


class _Reader:
    """The file header and section table of one file; symbols and relocations on request."""

    __slots__ = ("buf", "byte_order", "elf_type", "fmt", "machine", "sections")

    def __init__(self, data: bytes | bytearray | memoryview, machine: int | None = None
                 ) -> None:
        buf = data if isinstance(data, bytes) else bytes(data)
        self.buf = buf
        if len(buf) < 16 or buf[:4] != b"\x7fELF":
            raise ELFError("not an ELF file (bad magic)", offset=0)
        cls, enc, version = buf[4], buf[5], buf[6]
        if cls not in (_ELFCLASS32, _ELFCLASS64):
            raise ELFError(f"unknown ELF class {cls}", offset=4)
        if enc not in (_ELFDATA2LSB, _ELFDATA2MSB):
            raise ELFError(f"unknown ELF data encoding {enc}", offset=5)
        if version != _EV_CURRENT:
            raise ELFError(f"unknown ELF version {version}", offset=6)
        fmt = _FORMATS[(cls, enc)]
        self.fmt = fmt
        self.byte_order: Literal["little", "big"] = "little" if enc == _ELFDATA2LSB else "big"
        if len(buf) < 16 + fmt.header.size:
            raise ELFError(f"truncated ELF header ({len(buf)} bytes, expected "
                           f"{16 + fmt.header.size})", offset=len(buf))
        (self.elf_type, self.machine, _version, _entry, _phoff, shoff, _flags, _ehsize,
         _phentsize, _phnum, shentsize, shnum, shstrndx) = fmt.header.unpack_from(buf, 16)
        if machine is not None and self.machine != machine:
            # Said before anything else of the file is read: an executable for another
            # machine is the wrong kind of file, not a malformed one.
            raise ELFError(f"not a{_article(machine)} {_machine_name(machine)} object "
                           f"(machine {_machine_name(self.machine)})")
        self.sections = self._section_table(shoff, shentsize, shnum, shstrndx)

    def _section_table(self, shoff: int, shentsize: int, shnum: int,
                       shstrndx: int) -> tuple[Section, ...]:
        buf, sh = self.buf, self.fmt.section
        if shoff == 0:
            if shnum:
                raise ELFError(f"{shnum} sections but no section header table", offset=0)
            return ()
        if shentsize < sh.size:
            raise ELFError(f"section header size {shentsize} is smaller than {sh.size}",
                           offset=shoff)
        if shoff + sh.size > len(buf):
            raise ELFError(f"section header table at {shoff:#x} is outside the file "
                           f"({len(buf)} bytes)", offset=shoff)
        first = sh.unpack_from(buf, shoff)
        if shnum == 0:          # extended numbering: the count is sh_size of section 0
            shnum = first[5]
        if shstrndx == SHN_XINDEX:  # ... and the name table index its sh_link
            shstrndx = first[6]
        if shoff + shnum * shentsize > len(buf):
            raise ELFError(f"section header table ({shnum} x {shentsize} bytes at "
                           f"{shoff:#x}) does not fit the file ({len(buf)} bytes)",
                           offset=shoff)
        if not 0 < shstrndx < shnum:
            raise ELFError(f"section name table index {shstrndx} is out of range "
                           f"(the file has {shnum} sections)", offset=shoff)
        if shentsize == sh.size:
            headers = list(sh.iter_unpack(memoryview(buf)[shoff:shoff + shnum * sh.size]))
        else:
            headers = [sh.unpack_from(buf, shoff + i * shentsize) for i in range(shnum)]
        size = len(buf)
        for i, h in enumerate(headers):
            if i and h[1] != SHT_NOBITS and h[4] + h[5] > size:
                raise ELFError(f"section {i}: contents [{h[4]:#x}, +{h[5]:#x}) lie outside "
                               f"the file ({size} bytes)", offset=shoff + i * shentsize)
        strtab_header = headers[shstrndx]
        if strtab_header[1] != SHT_STRTAB:
            raise ELFError(f"section name table {shstrndx} has type {strtab_header[1]}, not "
                           "SHT_STRTAB", offset=shoff + shstrndx * shentsize)
        names = buf[strtab_header[4]:strtab_header[4] + strtab_header[5]]
        out = []
        for i, (sh_name, stype, flags, _addr, off, ssize, link, info, align,
                entsize) in enumerate(headers):
            name = _cstring(names, sh_name, ".shstrtab", "section", i) if i else ""
            out.append(Section(i, name, stype, flags, ssize, link, info, entsize, align, off,
                               buf))
        return tuple(out)

    def symtab(self) -> Section | None:
        """The symbol table, if any (at most one is allowed)."""
        found = None
        for s in self.sections:
            if s.type == SHT_SYMTAB:
                if found is not None:
                    raise ELFError("more than one symbol table", section=s.name)
                found = s
        return found

    def _table(self, sec: Section, entry: struct.Struct, what: str) -> Iterator[tuple[int, ...]]:
        """The entries of ``sec``, a table of ``entry`` records."""
        entsize = sec.entsize or entry.size
        if entsize < entry.size:
            raise ELFError(f"{what} entry size {entsize} is smaller than {entry.size}",
                           section=sec.name)
        if sec.size % entsize:
            raise ELFError(f"size {sec.size} is not a multiple of the {what} entry size "
                           f"{entsize}", section=sec.name)
        if entsize == entry.size:
            return entry.iter_unpack(memoryview(self.buf)[sec.offset:sec.offset + sec.size])
        return (entry.unpack_from(self.buf, pos)
                for pos in range(sec.offset, sec.offset + sec.size, entsize))

    def _strtab(self, tab: Section) -> Section:
        if not 0 < tab.link < len(self.sections):
            raise ELFError(f"string table index {tab.link} is out of range", section=tab.name)
        strtab = self.sections[tab.link]
        if strtab.type != SHT_STRTAB:
            raise ELFError(f"linked string table {strtab.name!r} has type {strtab.type}, not "
                           "SHT_STRTAB", section=tab.name)
        return strtab

    def symbols(self, tab: Section | None) -> tuple[Symbol, ...]:
        if tab is None:
            return ()
        strtab = self._strtab(tab)
        strings = strtab.data
        where = strtab.name
        sections = self.sections
        nsec = len(sections)
        is64 = self.fmt.is64
        # In a relocatable object a symbol's value is an offset in its section (elsewhere, an
        # address): it and the symbol's extent must lie inside the section.
        relocatable = self.elf_type == _ET_REL
        out = []
        for i, raw in enumerate(self._table(tab, self.fmt.symbol, "symbol")):
            if is64:
                st_name, info, other, shndx, value, size = raw
            else:
                st_name, value, size, info, other, shndx = raw
            if nsec <= shndx < SHN_LORESERVE:
                raise ELFError(f"symbol {i} is in section {shndx}, which does not exist",
                               section=tab.name, offset=i * (tab.entsize or self.fmt.symbol.size))
            name = _cstring(strings, st_name, where, "symbol", i) if st_name else ""
            if relocatable and 0 < shndx < SHN_LORESERVE:
                target = sections[shndx]
                if value > target.size or size > target.size - value:
                    raise ELFError(
                        f"symbol {name or i!r} has value {value:#x} and size {size}, which lie "
                        f"outside section {target.name!r} ({target.size} bytes)",
                        section=tab.name, offset=i * (tab.entsize or self.fmt.symbol.size))
            out.append(Symbol(i, name, value, size, info >> 4, info & 0xF, other & 0x3, shndx))
        return tuple(out)

    def relocations(self, tab: Section | None, nsyms: int
                    ) -> dict[int, tuple[Relocation, ...]]:
        out: dict[int, tuple[Relocation, ...]] = {}
        nsec = len(self.sections)
        is64 = self.fmt.is64
        for s in self.sections:
            if s.type == SHT_RELA:
                raise ELFError("RELA relocations are not supported in BPF objects",
                               section=s.name, offset=0)
            if s.type != SHT_REL:
                continue
            if not 0 < s.info < nsec:
                raise ELFError(f"relocations target section {s.info}, which does not exist",
                               section=s.name)
            if tab is None or s.link != tab.index:
                raise ELFError(f"relocations refer to symbol table {s.link}, which is not the "
                               "symbol table", section=s.name)
            target = self.sections[s.info]
            entsize = s.entsize or self.fmt.rel.size
            rels = []
            for i, (offset, info) in enumerate(self._table(s, self.fmt.rel, "relocation")):
                if is64:
                    sym, rtype = info >> 32, info & 0xFFFFFFFF
                else:
                    sym, rtype = info >> 8, info & 0xFF
                if sym >= nsyms:
                    raise ELFError(f"relocation {i}: symbol index {sym} is out of range (the "
                                   f"symbol table has {nsyms} entries)", section=s.name,
                                   offset=i * entsize)
                if offset >= target.size:
                    raise ELFError(f"relocation {i}: offset {offset:#x} is outside "
                                   f"{target.name!r} ({target.size} bytes)", section=s.name,
                                   offset=i * entsize)
                rels.append(Relocation(offset, sym, rtype))
            out[s.info] = out.get(s.info, ()) + tuple(rels)
        return out


def read_elf(data: bytes | bytearray | memoryview, *, machine: int | None = None) -> ElfFile:
    """Parse ``data`` as an ELF object file; with ``machine`` (e.g. :data:`EM_BPF`), one for
    that machine, checked before anything but the file header is read.

    Raises:
        ELFError: the data is not a well-formed ELF file (or has RELA relocations, which
            BPF objects never have), or is for another machine.
    """
    r = _Reader(data, machine)
    tab = r.symtab()
    symbols = r.symbols(tab)
    relocations = r.relocations(tab, len(symbols))
    return ElfFile(r.byte_order, r.machine, r.elf_type, r.sections, symbols, relocations)


def read_btf_sections(data: bytes | bytearray | memoryview) -> ElfBTF:
    """The ``.BTF`` and ``.BTF.ext`` sections of an ELF file, with section sizes and symbols.

    Works on any ELF file (a BPF object or a vmlinux image); relocation sections are not read.

    Raises:
        ELFError: the file is not a valid ELF file or has no ``.BTF`` section.
    """
    r = _Reader(data)
    sizes: dict[str, int] = {}
    btf = ext = None
    for s in r.sections:
        sizes[s.name] = s.size
        if s.name == ".BTF" and btf is None:
            btf = s
        elif s.name == ".BTF.ext" and ext is None:
            ext = s
    if btf is None:
        raise ELFError("the object file has no .BTF section", section=".BTF")
    symbols: dict[tuple[str, str], int] = {}
    hidden: set[str] = set()
    sections = r.sections
    for sym in r.symbols(r.symtab()):
        if sym.name and 0 < sym.section < len(sections):
            symbols[(sections[sym.section].name, sym.name)] = sym.value
            if (sym.type == STT_FUNC and sym.bind != STB_LOCAL
                    and sym.visibility in (STV_INTERNAL, STV_HIDDEN)):
                hidden.add(sym.name)
    return ElfBTF(btf.data, ext.data if ext is not None else None, sizes, symbols,
                  frozenset(hidden))
