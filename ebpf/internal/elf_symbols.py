"""Functions of user-space ELF binaries as the file offsets a uprobe is attached at.

The kernel places a uprobe at an offset in a file (``perf_event_attr.probe_offset``, or the
offsets of ``BPF_TRACE_UPROBE_MULTI``), not at a virtual address. This module finds a function
in a binary's symbol tables and translates its link-time address with the ``PT_LOAD`` program
headers: ``offset = address - p_vaddr + p_offset`` for the segment that holds the address. That
is right for non-PIE executables (absolute addresses), PIE executables and shared libraries
(addresses relative to a base of 0) and prelinked libraries (a non-zero base), whatever the
section layout.

Lookup rules (those of libbpf's ``elf_find_func_offset``, with the differences marked *):

* ``.dynsym`` is searched first, then ``.symtab``; the first table with a match answers.
  Only defined ``STT_FUNC`` and ``STT_GNU_IFUNC`` symbols count.
* ``name`` matches ``name`` and every versioned ``name@VER`` / ``name@@VER``;
  ``name@VER`` or ``name@@VER`` asks for that version only (read from ``.gnu.version`` and
  ``.gnu.version_d`` for ``.dynsym``, from the name itself in ``.symtab``).
* Matches at the same file offset are one function (aliases).
* Among matches at different offsets a weak one yields to a non-weak one; *when the name
  carries no version, hidden (non-default, ``name@VER``) versions yield to the default one
  (``name@@VER``), which is what a program linked today binds to.
* What remains must be a single offset, else :class:`AmbiguousSymbolError` lists the
  candidates. *(libbpf picks the first of several weak symbols; this refuses.)*
* *An ``STT_GNU_IFUNC`` result raises :class:`IndirectFunctionError` (libbpf skips such
  symbols and reports the name as not found).*
* A name found in neither table is looked up in the Go function table (``.gopclntab``), so
  stripped Go binaries work (see :mod:`ebpf.internal.gopclntab`).

Each file is read once: its headers and symbol tables are kept in a small cache (16 files)
keyed by ``(st_dev, st_ino, st_size, st_mtime_ns)``. The first few lookups of a table scan its
bytes (``bytes.find`` on the string table, then on the symbol table for the string's offset:
no Python object per symbol); from the ninth lookup on, or for a batch of more than eight
names, a name index (function name -> entries) is built once, so resolving a thousand names
costs one pass over the table. The file is read with ``pread`` (never mapped: a file
truncated under a mapping would kill the process with ``SIGBUS``), and only the headers and
the sections needed are read.

Address translation uses the program headers; a file without them falls back to the
section headers. A relocatable object (``.o``) or core file is refused.

Errors: :class:`~ebpf.errors.ELFError` for a malformed file (naming the file, section and
offset), :class:`~ebpf.errors.TargetNotFoundError` for a missing file,
:class:`~ebpf.errors.SyscallError` when it cannot be read, and the lookup errors of
:mod:`ebpf.errors`. This module makes no bpf(2) calls.
"""

from __future__ import annotations

import errno as _errno
import os
import stat as _stat
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from threading import Lock
from typing import Final, Literal

from ..errors import (
    AmbiguousSymbolError,
    ELFError,
    IndirectFunctionError,
    SymbolNotFoundError,
    SyscallError,
    TargetNotFoundError,
)
from .elf import (
    SHN_UNDEF,
    SHT_NOBITS,
    SHT_STRTAB,
    SHT_SYMTAB,
    STB_GLOBAL,
    STB_LOCAL,
    STB_WEAK,
    STT_FUNC,
)
from .gopclntab import GoFunctionTable, find_pclntab, parse_pclntab

__all__ = [
    "ElfImage",
    "FileKey",
    "Segment",
    "SectionHeader",
    "SymbolLocation",
    "address_offset",
    "clear_cache",
    "elf_image",
    "find_symbol",
    "find_symbols",
    "open_binary",
    "symbol_offset",
    "symbol_offsets",
    "symbols_matching",
    "BinaryFile",
    "ET_EXEC",
    "ET_DYN",
    "EM_X86_64",
    "EM_AARCH64",
    "EM_386",
    "STT_GNU_IFUNC",
]

ET_REL: Final = 1
ET_EXEC: Final = 2
ET_DYN: Final = 3
ET_CORE: Final = 4

EM_386: Final = 3
EM_X86_64: Final = 62
EM_AARCH64: Final = 183

PT_LOAD: Final = 1
PF_X: Final = 1
PN_XNUM: Final = 0xFFFF

SHT_NOTE: Final = 7
SHT_DYNSYM: Final = 11
SHT_GNU_VERDEF: Final = 0x6FFFFFFD
SHT_GNU_VERSYM: Final = 0x6FFFFFFF
SHN_LORESERVE: Final = 0xFF00
SHN_XINDEX: Final = 0xFFFF
SHF_ALLOC: Final = 0x2

STT_GNU_IFUNC: Final = 10
VERSYM_HIDDEN: Final = 0x8000
VERSYM_VERSION: Final = 0x7FFF

_TYPE_NAMES: Final = {STT_FUNC: "FUNC", STT_GNU_IFUNC: "IFUNC"}
_BIND_NAMES: Final = {STB_LOCAL: "LOCAL", STB_GLOBAL: "GLOBAL", STB_WEAK: "WEAK"}

# How many files the cache keeps (each holds its symbol tables and their name index).
_CACHE_SIZE: Final = 16
# Lookups answered by scanning a symbol table before its name index is built, and the limits
# past which a scan gives up for the index (names ending in the looked-up one, 4-byte hits).
_SCAN_LOOKUPS: Final = 8
_SCAN_NAMES: Final = 32
_SCAN_STEPS: Final = 256


# --- reading the file ----------------------------------------------------------------------

FileKey = tuple[int, int, int, int]
"""``(st_dev, st_ino, st_size, st_mtime_ns)``: a file's identity for the cache."""


class BinaryFile:
    """One open binary, read with ``pread``. A context manager: ``close()`` closes the fd.

    Raises (from the constructor):
        TargetNotFoundError: ``path`` does not exist.
        SyscallError: it cannot be opened or is not a regular file (``EISDIR``, ``EACCES`` ...).
    """

    __slots__ = ("_fd", "key", "path", "size")

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise TargetNotFoundError(path, detail="no such file") from None
        except OSError as e:
            raise SyscallError(e.errno or _errno.EIO, "open", context=f"open {path!r}") from None
        try:
            st = os.fstat(fd)
            if not _stat.S_ISREG(st.st_mode):
                raise SyscallError(_errno.EISDIR if _stat.S_ISDIR(st.st_mode) else _errno.EINVAL,
                                   "open", context=f"{path!r} is not a regular file")
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self.size = st.st_size
        self.key: FileKey = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self) -> BinaryFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, offset: int, size: int, what: str, section: str | None = None) -> bytes:
        """``size`` bytes at ``offset``.

        Raises:
            ELFError: the range lies outside the file (naming ``what`` and ``section``).
            SyscallError: the read failed.
        """
        if offset < 0 or size < 0 or offset + size > self.size:
            raise ELFError(f"{what}: bytes {offset:#x}..{offset + size:#x} lie outside the file "
                           f"({self.size:#x} bytes) [{self.path}]", section=section)
        if self._fd < 0:
            raise ValueError("read from a closed BinaryFile")
        parts = []
        pos, left = offset, size
        while left:
            try:
                chunk = os.pread(self._fd, min(left, 1 << 30), pos)
            except OSError as e:
                raise SyscallError(e.errno or _errno.EIO, "pread",
                                   context=f"read {what} of {self.path!r}") from None
            if not chunk:
                raise ELFError(f"{what}: the file ended at {pos:#x} while reading (it changed "
                               f"while being read?) [{self.path}]", section=section)
            parts.append(chunk)
            pos += len(chunk)
            left -= len(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)


def open_binary(path: str | os.PathLike[str]) -> BinaryFile:
    """Open ``path`` for reading (see :class:`BinaryFile`)."""
    return BinaryFile(os.fspath(path))


# --- headers ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Segment:
    """A ``PT_LOAD`` program header."""

    vaddr: int
    memsz: int
    offset: int
    filesz: int
    flags: int

    @property
    def executable(self) -> bool:
        return bool(self.flags & PF_X)


@dataclass(frozen=True, slots=True)
class SectionHeader:
    """A section header (the fields the symbol, note and pclntab readers use)."""

    index: int
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    addralign: int
    entsize: int


@dataclass(frozen=True, slots=True)
class SymbolLocation:
    """A function found in a binary, and where a uprobe on it goes.

    Attributes:
        name: the symbol as found, with its version if it has one (``malloc@@GLIBC_2.2.5``).
        address: its link-time virtual address (``st_value``; the entry PC for Go).
        size: ``st_size`` (0 if unknown).
        offset: the file offset for the uprobe: the address translated with the program
            headers, plus the ``offset`` asked for.
        binding: ``STB_LOCAL``/``STB_GLOBAL``/``STB_WEAK`` (``STB_GLOBAL`` for Go functions).
        type: ``STT_FUNC`` (``STT_GNU_IFUNC`` symbols are refused, never returned).
        table: where it was found: ``".dynsym"``, ``".symtab"`` or ``".gopclntab"``.
    """

    name: str
    address: int
    size: int
    offset: int
    binding: int
    type: int
    table: str


class _Formats:
    __slots__ = ("dyn", "ehdr", "is64", "phdr", "prefix", "shdr", "sym", "verdaux", "verdef",
                 "versym", "word")

    def __init__(self, is64: bool, prefix: str) -> None:
        self.is64 = is64
        self.prefix = prefix
        if is64:
            # e_type .. e_shstrndx (after e_ident)
            self.ehdr = struct.Struct(prefix + "HHIQQQIHHHHHH")
            # p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
            self.phdr = struct.Struct(prefix + "IIQQQQQQ")
            self.shdr = struct.Struct(prefix + "IIQQQQIIQQ")
            # st_name, st_info, st_other, st_shndx, st_value, st_size
            self.sym = struct.Struct(prefix + "IBBHQQ")
            self.word = struct.Struct(prefix + "Q")
            self.dyn = struct.Struct(prefix + "qQ")
        else:
            self.ehdr = struct.Struct(prefix + "HHIIIIIHHHHHH")
            # p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags, p_align
            self.phdr = struct.Struct(prefix + "IIIIIIII")
            self.shdr = struct.Struct(prefix + "IIIIIIIIII")
            # st_name, st_value, st_size, st_info, st_other, st_shndx
            self.sym = struct.Struct(prefix + "IIIBBH")
            self.word = struct.Struct(prefix + "I")
            self.dyn = struct.Struct(prefix + "iI")
        # vd_version, vd_flags, vd_ndx, vd_cnt, vd_hash, vd_aux, vd_next
        self.verdef = struct.Struct(prefix + "HHHHIII")
        # vda_name, vda_next
        self.verdaux = struct.Struct(prefix + "II")
        self.versym = struct.Struct(prefix + "H")


_FORMATS: Final = {(1, 1): _Formats(False, "<"), (1, 2): _Formats(False, ">"),
                   (2, 1): _Formats(True, "<"), (2, 2): _Formats(True, ">")}


def _cstr(table: bytes, offset: int, what: str, section: str, path: str) -> bytes:
    end = table.find(b"\0", offset)
    if end < 0 or offset >= len(table):
        raise ELFError(f"{what}: name offset {offset:#x} is outside the string table or not "
                       f"NUL-terminated [{path}]", section=section)
    return table[offset:end]


def _decode(name: bytes) -> str:
    return name.decode("utf-8", "surrogateescape")


class _SymbolTable:
    """One symbol table (``.dynsym`` or ``.symtab``) and, once built, its function index."""

    __slots__ = ("_index", "_lock", "_scans", "entsize", "fmt", "name", "nsyms", "raw",
                 "strtab", "versions", "versym")

    def __init__(self, name: str, raw: bytes, entsize: int, strtab: bytes, fmt: _Formats,
                 versym: bytes | None, versions: dict[int, bytes]) -> None:
        self.name = name
        self.raw = raw
        self.entsize = entsize
        self.nsyms = len(raw) // entsize
        self.strtab = strtab
        self.fmt = fmt
        self.versym = versym
        self.versions = versions
        self._index: dict[bytes, int | list[int]] | None = None
        self._lock = Lock()
        self._scans = 0

    def hits(self, base: bytes, path: str, *, many: bool = False) -> int | list[int] | None:
        """The functions called ``base`` (with any version): a symbol index, a list of them,
        or None.

        The first few lookups of a table scan it (C-speed searches of the string table and
        of the symbol table for the string's offset: no Python object per symbol); after
        :data:`_SCAN_LOOKUPS` of them, or when ``many`` names are coming, the name index is
        built once and used from then on.
        """
        idx = self._index
        if idx is None and not many and self._scans < _SCAN_LOOKUPS:
            self._scans += 1
            found = self._scan(base)
            if found is not None:
                return found[0] if len(found) == 1 else (found or None)
        return self.index(path).get(base)

    def _scan(self, base: bytes) -> list[int] | None:
        """:meth:`hits` by scanning; None if the scan would cost more than the index."""
        strtab = self.strtab
        names = []
        for pattern in (base + b"\0", base + b"@"):
            pos = strtab.find(pattern)
            while pos >= 0:
                if pos:
                    names.append(pos)
                    if len(names) > _SCAN_NAMES:
                        return None
                pos = strtab.find(pattern, pos + 1)
        raw, entsize = self.raw, self.entsize
        pack = struct.Struct(self.fmt.prefix + "I").pack
        is64 = self.fmt.is64
        out = []
        steps = 0
        for st_name in names:
            key = pack(st_name)
            pos = raw.find(key)
            while pos >= 0:
                steps += 1
                if steps > _SCAN_STEPS:
                    return None
                if pos % entsize == 0:       # st_name is the first field of an entry
                    i = pos // entsize
                    if is64:
                        info, shndx = raw[pos + 4], self.fmt.sym.unpack_from(raw, pos)[3]
                    else:
                        info, shndx = raw[pos + 12], self.fmt.sym.unpack_from(raw, pos)[5]
                    t = info & 0xF
                    if t in (STT_FUNC, STT_GNU_IFUNC) and shndx != SHN_UNDEF:
                        out.append(i)
                pos = raw.find(key, pos + 1)
        return sorted(out)

    def _entries(self) -> Iterator[tuple[int, ...]]:
        sym = self.fmt.sym
        if self.entsize == sym.size:
            return sym.iter_unpack(self.raw)
        return (sym.unpack_from(self.raw, i * self.entsize) for i in range(self.nsyms))

    def index(self, path: str) -> dict[bytes, int | list[int]]:
        """Function name (without version) -> symbol index, or a list of them."""
        idx = self._index
        if idx is not None:
            return idx
        with self._lock:
            if self._index is None:
                self._index = self._build(path)
            return self._index

    def _build(self, path: str) -> dict[bytes, int | list[int]]:
        idx: dict[bytes, int | list[int]] = {}
        strtab = self.strtab
        find = strtab.find
        nstr = len(strtab)
        is64 = self.fmt.is64
        get = idx.get
        for i, ent in enumerate(self._entries()):
            if is64:
                st_name, info, shndx = ent[0], ent[1], ent[3]
            else:
                st_name, info, shndx = ent[0], ent[3], ent[5]
            t = info & 0xF
            if (t != STT_FUNC and t != STT_GNU_IFUNC) or shndx == SHN_UNDEF or not st_name:
                continue
            end = find(b"\0", st_name)
            if end < 0 or st_name >= nstr:
                raise ELFError(f"symbol {i}: name offset {st_name:#x} is outside the string "
                               f"table or not NUL-terminated [{path}]", section=self.name,
                               offset=i * self.entsize)
            name = strtab[st_name:end]
            at = name.find(b"@")
            if at > 0:
                name = name[:at]
            prev = get(name)
            if prev is None:
                idx[name] = i
            elif isinstance(prev, int):
                idx[name] = [prev, i]
            else:
                prev.append(i)
        return idx

    def symbol(self, i: int) -> tuple[int, int, int, int, int, int]:
        """(st_name, value, size, bind, type, shndx) of symbol ``i``."""
        ent = self.fmt.sym.unpack_from(self.raw, i * self.entsize)
        if self.fmt.is64:
            st_name, info, _other, shndx, value, size = ent
        else:
            st_name, value, size, info, _other, shndx = ent
        return st_name, value, size, info >> 4, info & 0xF, shndx

    def full_name(self, i: int, st_name: int, path: str) -> tuple[str, bytes | None, bool]:
        """(display name, version, hidden) of symbol ``i`` whose name is at ``st_name``."""
        raw = _cstr(self.strtab, st_name, f"symbol {i}", self.name, path)
        at = raw.find(b"@")
        if at > 0:   # a .symtab name that spells its version
            hidden = raw[at + 1:at + 2] != b"@"
            ver = raw[at + 1:] if hidden else raw[at + 2:]
            return _decode(raw), ver, hidden
        versym = self.versym
        if versym is not None and 2 * i + 2 <= len(versym):
            (v,) = self.fmt.versym.unpack_from(versym, 2 * i)
            dver = self.versions.get(v & VERSYM_VERSION)
            if dver is not None:
                hidden = bool(v & VERSYM_HIDDEN)
                return _decode(raw + (b"@" if hidden else b"@@") + dver), dver, hidden
        return _decode(raw), None, False


@dataclass(frozen=True, slots=True)
class _Candidate:
    name: str
    address: int
    size: int
    offset: int
    binding: int
    type: int
    version: bytes | None
    hidden: bool
    table: str

    def describe(self) -> str:
        return (f"{self.name} at {self.address:#x} (file offset {self.offset:#x}, "
                f"{_BIND_NAMES.get(self.binding, str(self.binding))} "
                f"{_TYPE_NAMES.get(self.type, str(self.type))}, {self.table})")


class ElfImage:
    """What the uprobe and USDT code needs of one ELF file: headers, segments, sections, and
    (loaded on first use) its symbol tables, USDT notes and Go function table.

    Build one with :func:`elf_image` (cached) rather than directly. Attributes: ``path``,
    ``key`` (:data:`FileKey`), ``byte_order``, ``is64``, ``elf_type`` (``ET_EXEC``/``ET_DYN``),
    ``machine`` (``EM_*``), ``segments`` (the ``PT_LOAD`` headers, by address), ``sections``
    (by index; empty for a file without section headers).
    """

    __slots__ = ("__weakref__", "_extra", "_lock", "_tables", "byte_order", "elf_type", "fmt",
                 "is64", "key", "machine", "path", "sections", "segments")

    path: str
    key: FileKey
    byte_order: Literal["little", "big"]
    is64: bool
    elf_type: int
    machine: int
    segments: tuple[Segment, ...]
    sections: tuple[SectionHeader, ...]

    def __init__(self, src: BinaryFile) -> None:
        self.path = src.path
        self.key = src.key
        self._tables: dict[int, _SymbolTable | None] = {}
        self._extra: dict[str, object] = {}
        self._lock = Lock()
        path = src.path
        if src.size < 16:
            raise ELFError(f"not an ELF file: only {src.size} bytes [{path}]", offset=0)
        ident = src.read(0, 16, "ELF identification")
        if ident[:4] != b"\x7fELF":
            raise ELFError(f"not an ELF file (bad magic {ident[:4]!r}) [{path}]", offset=0)
        fmt = _FORMATS.get((ident[4], ident[5]))
        if fmt is None:
            raise ELFError(f"unknown ELF class {ident[4]} or data encoding {ident[5]} [{path}]",
                           offset=4)
        self.fmt = fmt
        self.is64 = fmt.is64
        self.byte_order = "little" if ident[5] == 1 else "big"
        if src.size < 16 + fmt.ehdr.size:
            raise ELFError(f"truncated ELF header ({src.size} bytes) [{path}]", offset=src.size)
        (etype, machine, _version, _entry, phoff, shoff, _flags, _ehsize, phentsize, phnum,
         shentsize, shnum, shstrndx) = fmt.ehdr.unpack(src.read(16, fmt.ehdr.size, "ELF header"))
        if etype not in (ET_EXEC, ET_DYN):
            kind = {ET_REL: "a relocatable object", ET_CORE: "a core file"}.get(
                etype, f"of type {etype}")
            raise ELFError(f"{kind}, not an executable or shared library [{path}]", offset=16)
        self.elf_type = etype
        self.machine = machine
        sections, first = self._read_sections(src, shoff, shentsize, shnum, shstrndx)
        if phnum == PN_XNUM and first is not None:
            phnum = first[7]   # sh_info of section 0 holds the real count
        self.sections = sections
        self.segments = self._read_segments(src, phoff, phentsize, phnum)

    # -- headers

    def _read_segments(self, src: BinaryFile, phoff: int, phentsize: int,
                       phnum: int) -> tuple[Segment, ...]:
        if not phnum:
            return ()
        ph = self.fmt.phdr
        if phentsize < ph.size:
            raise ELFError(f"program header size {phentsize} is smaller than {ph.size} "
                           f"[{self.path}]", offset=16)
        raw = src.read(phoff, phnum * phentsize, "program headers")
        out = []
        for i in range(phnum):
            f = ph.unpack_from(raw, i * phentsize)
            if self.is64:
                ptype, flags, offset, vaddr, _paddr, filesz, memsz, _align = f
            else:
                ptype, offset, vaddr, _paddr, filesz, memsz, flags, _align = f
            if ptype != PT_LOAD:
                continue
            if filesz > memsz or offset + filesz > src.size:
                raise ELFError(f"PT_LOAD program header {i}: file range {offset:#x}+{filesz:#x}"
                               f" (memory size {memsz:#x}) does not fit the file "
                               f"({src.size:#x} bytes) [{self.path}]",
                               offset=phoff + i * phentsize)
            out.append(Segment(vaddr, memsz, offset, filesz, flags))
        out.sort(key=lambda s: s.vaddr)
        return tuple(out)

    def _read_sections(self, src: BinaryFile, shoff: int, shentsize: int, shnum: int,
                       shstrndx: int) -> tuple[tuple[SectionHeader, ...], tuple[int, ...] | None]:
        if shoff == 0:
            return (), None
        sh = self.fmt.shdr
        if shentsize < sh.size:
            raise ELFError(f"section header size {shentsize} is smaller than {sh.size} "
                           f"[{self.path}]", offset=16)
        first = sh.unpack(src.read(shoff, sh.size, "section header 0"))
        if shnum == 0:
            shnum = first[5]          # sh_size of section 0 holds the real count
        if shstrndx == SHN_XINDEX:
            shstrndx = first[6]       # and sh_link the name table's index
        if shnum * shentsize > src.size:
            raise ELFError(f"{shnum} section headers of {shentsize} bytes cannot fit in the "
                           f"file ({src.size} bytes) [{self.path}]", offset=shoff)
        raw = src.read(shoff, shnum * shentsize, "section headers")
        headers = [sh.unpack_from(raw, i * shentsize) for i in range(shnum)]
        names = b""
        if 0 < shstrndx < shnum:
            h = headers[shstrndx]
            if h[1] == SHT_STRTAB:
                names = src.read(h[4], h[5], "section name table", ".shstrtab")
        out = []
        for i, (sh_name, stype, flags, addr, offset, size, link, info, align,
                entsize) in enumerate(headers):
            if stype != SHT_NOBITS and stype != 0 and offset + size > src.size:
                raise ELFError(f"section {i}: contents {offset:#x}+{size:#x} extend past the "
                               f"end of the file ({src.size:#x} bytes) [{self.path}]",
                               offset=shoff + i * shentsize)
            name = ""
            if i and names and sh_name < len(names):
                end = names.find(b"\0", sh_name)
                if end >= 0:
                    name = _decode(names[sh_name:end])
            out.append(SectionHeader(i, name, stype, flags, addr, offset, size, link, info,
                                     align, entsize))
        return tuple(out), first

    def section(self, name: str) -> SectionHeader | None:
        """The first section called ``name``, or None."""
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def section_of_type(self, stype: int) -> SectionHeader | None:
        """The first section of type ``stype`` (``SHT_*``), or None."""
        for s in self.sections:
            if s.type == stype:
                return s
        return None

    def read_section(self, src: BinaryFile, sec: SectionHeader) -> bytes:
        """The contents of ``sec`` (empty for ``SHT_NOBITS``)."""
        if sec.type == SHT_NOBITS:
            return b""
        return src.read(sec.offset, sec.size, "section contents", sec.name or f"#{sec.index}")

    # -- addresses

    def _fast_offset(self, address: int) -> int | None:
        for seg in self.segments:
            if seg.vaddr <= address < seg.vaddr + seg.filesz:
                return address - seg.vaddr + seg.offset
        return None

    def segment_of(self, address: int) -> Segment | None:
        """The ``PT_LOAD`` segment whose file-backed part holds ``address``, or None."""
        for seg in self.segments:
            if seg.vaddr <= address < seg.vaddr + seg.filesz:
                return seg
        return None

    def file_offset(self, address: int, what: str, *, executable: bool | None = None) -> int:
        """The file offset of link-time virtual ``address``.

        ``executable`` True/False requires the segment to be / not to be executable.

        Raises:
            ELFError: no segment (or, for a file without program headers, no allocated
                section) holds the address, or it is in the wrong kind of segment.
        """
        seg = self.segment_of(address)
        if seg is not None:
            if executable is not None and seg.executable != executable:
                kind = "an executable" if seg.executable else "a non-executable"
                raise ELFError(f"{what} at {address:#x} is in {kind} segment "
                               f"[{seg.vaddr:#x}, {seg.vaddr + seg.memsz:#x}) [{self.path}]")
            return address - seg.vaddr + seg.offset
        if not self.segments:
            for s in self.sections:
                if (s.flags & SHF_ALLOC and s.type != SHT_NOBITS
                        and s.addr <= address < s.addr + s.size):
                    return address - s.addr + s.offset
        ranges = ", ".join(f"[{s.vaddr:#x}, {s.vaddr + s.filesz:#x})" for s in self.segments)
        raise ELFError(f"{what} at {address:#x} is in no file-backed loadable segment "
                       f"({ranges or 'the file has no PT_LOAD program headers'}) [{self.path}]")

    # -- symbol tables

    def symbol_table(self, src: BinaryFile, stype: int) -> _SymbolTable | None:
        """The ``SHT_DYNSYM`` or ``SHT_SYMTAB`` table, read on first use (None if absent)."""
        try:
            return self._tables[stype]
        except KeyError:
            pass
        with self._lock:
            if stype not in self._tables:
                self._tables[stype] = self._load_table(src, stype)
            return self._tables[stype]

    def _load_table(self, src: BinaryFile, stype: int) -> _SymbolTable | None:
        sec = self.section_of_type(stype)
        if sec is None or sec.type == SHT_NOBITS or sec.size == 0:
            return None
        name = sec.name or (".dynsym" if stype == SHT_DYNSYM else ".symtab")
        entsize = sec.entsize or self.fmt.sym.size
        if entsize < self.fmt.sym.size or sec.size % entsize:
            raise ELFError(f"symbol table of {sec.size} bytes with entries of {entsize} bytes "
                           f"[{self.path}]", section=name)
        if not 0 < sec.link < len(self.sections):
            raise ELFError(f"string table index {sec.link} is out of range [{self.path}]",
                           section=name)
        strsec = self.sections[sec.link]
        if strsec.type != SHT_STRTAB:
            raise ELFError(f"linked string table {strsec.name!r} is not SHT_STRTAB "
                           f"[{self.path}]", section=name)
        raw = self.read_section(src, sec)
        strtab = self.read_section(src, strsec)
        versym = None
        versions: dict[int, bytes] = {}
        if stype == SHT_DYNSYM:
            vs = self.section_of_type(SHT_GNU_VERSYM)
            if vs is not None and vs.link == sec.index:
                versym = self.read_section(src, vs)
                vd = self.section_of_type(SHT_GNU_VERDEF)
                if vd is not None:
                    versions = self._read_verdef(src, vd)
        return _SymbolTable(name, raw, entsize, strtab, self.fmt, versym, versions)

    def _read_verdef(self, src: BinaryFile, sec: SectionHeader) -> dict[int, bytes]:
        """Version index -> version name, from ``SHT_GNU_verdef``."""
        where = sec.name or ".gnu.version_d"
        data = self.read_section(src, sec)
        if not 0 < sec.link < len(self.sections):
            raise ELFError(f"string table index {sec.link} is out of range [{self.path}]",
                           section=where)
        strtab = self.read_section(src, self.sections[sec.link])
        vd, vda = self.fmt.verdef, self.fmt.verdaux
        out: dict[int, bytes] = {}
        pos = 0
        # vd_next chains the entries; each is at least 20 bytes, so the chain is bounded.
        for _ in range(len(data) // vd.size + 1):
            if pos + vd.size > len(data):
                raise ELFError(f"version definition at {pos:#x} runs past the end of the "
                               f"section [{self.path}]", section=where, offset=pos)
            _ver, _flags, ndx, cnt, _hash, aux, nxt = vd.unpack_from(data, pos)
            if cnt:
                apos = pos + aux
                if apos + vda.size > len(data):
                    raise ELFError(f"version definition {ndx}: auxiliary entry at {apos:#x} is "
                                   f"outside the section [{self.path}]", section=where,
                                   offset=pos)
                (vda_name, _next) = vda.unpack_from(data, apos)
                out[ndx] = _cstr(strtab, vda_name, f"version definition {ndx}", where,
                                 self.path)
            if not nxt:
                return out
            pos += nxt
        raise ELFError(f"version definitions do not end [{self.path}]", section=where)

    def lookup_offset(self, src: BinaryFile, name: str, *, many: bool = False) -> int | None:
        """:meth:`lookup`, only the file offset (no objects built in the common case)."""
        base, version = _split_version(name)
        if version is None:
            for stype in (SHT_DYNSYM, SHT_SYMTAB):
                table = self.symbol_table(src, stype)
                if table is None:
                    continue
                hits = table.hits(base, self.path, many=many)
                if hits is None:
                    continue
                if isinstance(hits, int):
                    _st_name, value, _size, _bind, stype_, _shndx = table.symbol(hits)
                    offset = self._fast_offset(value)
                    if stype_ == STT_FUNC and offset is not None:
                        return offset
                break
        loc = self.lookup(src, name, many=many)
        return None if loc is None else loc.offset

    def _table_candidates(self, table: _SymbolTable, base: bytes, version: bytes | None,
                          many: bool) -> list[_Candidate]:
        hits = table.hits(base, self.path, many=many)
        if hits is None:
            return []
        out = []
        for i in ([hits] if isinstance(hits, int) else hits):
            st_name, value, size, bind, stype, _shndx = table.symbol(i)
            name, ver, hidden = table.full_name(i, st_name, self.path)
            if version is not None and ver != version:
                continue
            offset = self.file_offset(value, f"function {name!r}")
            out.append(_Candidate(name, value, size, offset, bind, stype, ver, hidden,
                                  table.name))
        return out

    def go_functions(self, src: BinaryFile) -> GoFunctionTable | None:
        """The Go function table, if this is a Go binary (read on first use).

        Found by section name (``.gopclntab``, ``.data.rel.ro.gopclntab``), or, in a file
        without section headers, by scanning the loadable segments for a table header.
        A file with section headers but no such section is not a Go binary.

        Raises:
            ELFError: the table is malformed.
        """
        try:
            return self._extra["go"]  # type: ignore[return-value]
        except KeyError:
            pass
        table = self._read_go(src)
        with self._lock:
            self._extra.setdefault("go", table)
        return table

    def _read_go(self, src: BinaryFile) -> GoFunctionTable | None:
        text = self.section(".text")
        text_start = text.addr if text is not None else None
        for name in (".gopclntab", ".data.rel.ro.gopclntab"):
            sec = self.section(name)
            if sec is not None and sec.type != SHT_NOBITS and sec.size:
                return parse_pclntab(self.read_section(src, sec), text_start=text_start,
                                     where=name, path=self.path)
        if self.sections:
            return None
        for seg in self.segments:
            if not seg.filesz:
                continue
            data = src.read(seg.offset, seg.filesz, "loadable segment")
            for pos in find_pclntab(data):
                where = f"pclntab found at file offset {seg.offset + pos:#x}"
                try:
                    table = parse_pclntab(data[pos:], text_start=text_start, where=where,
                                          path=self.path)
                    table.entry("")   # build the index now: a false hit fails here
                except ELFError:
                    continue
                return table
        return None

    def cached(self, key: str) -> object:
        """A value another reader stored with :meth:`store` (``KeyError`` if none)."""
        return self._extra[key]

    def store(self, key: str, value: object) -> None:
        """Keep ``value`` with this image (for the USDT notes and similar)."""
        with self._lock:
            self._extra.setdefault(key, value)

    def lookup(self, src: BinaryFile, name: str, *, many: bool = False
               ) -> SymbolLocation | None:
        """The function ``name`` (see the module's rules), or None if there is none.

        Raises:
            AmbiguousSymbolError, IndirectFunctionError: as the module describes.
            ELFError: the file is malformed.
        """
        base, version = _split_version(name)
        for stype in (SHT_DYNSYM, SHT_SYMTAB):
            table = self.symbol_table(src, stype)
            if table is None:
                continue
            hits = table.hits(base, self.path, many=many)
            if hits is None:
                continue
            if version is None and isinstance(hits, int):
                # The common case, one symbol of that name: no choice to make.
                st_name, value, size, bind, stype_, _shndx = table.symbol(hits)
                offset = self._fast_offset(value)
                if stype_ == STT_FUNC and offset is not None:
                    full = table.full_name(hits, st_name, self.path)[0]
                    return SymbolLocation(full, value, size, offset, bind, stype_, table.name)
            cands = self._table_candidates(table, base, version, many)
            if cands:
                return _choose(self.path, name, cands, versioned=version is not None)
        if version is None:
            go = self.go_functions(src)
            if go is not None:
                entry = go.entry(name)
                if entry is None and name.endswith(".abi0"):
                    # The symbol table's name of an assembly function; the pclntab has none.
                    entry = go.entry(name[:-5])
                if entry is not None:
                    offset = self.file_offset(entry, f"Go function {name!r}", executable=True)
                    return SymbolLocation(name, entry, 0, offset, STB_GLOBAL, STT_FUNC,
                                          ".gopclntab")
        return None

    def symbol_addresses(self, src: BinaryFile, names: Iterable[str]) -> dict[str, int]:
        """The values of the defined symbols ``names`` of any type (variables, for USDT
        arguments such as ``-4@counter(%rip)``), from ``.symtab`` then ``.dynsym``: one pass
        over each table for all names. A name that is absent, or defined several times with
        different values, is left out."""
        want = {n.encode("utf-8", "surrogateescape"): n for n in names}
        out: dict[str, int] = {}
        for stype in (SHT_SYMTAB, SHT_DYNSYM):
            table = self.symbol_table(src, stype)
            if table is None or not want:
                continue
            strtab = table.strtab
            at: dict[int, bytes] = {}         # string offset -> the wanted name there
            for raw in want:
                pattern = raw + b"\0"
                pos = strtab.find(pattern)
                while pos >= 0:
                    at[pos] = raw
                    pos = strtab.find(pattern, pos + 1)
            if not at:
                continue
            name_i, info_i, shndx_i, value_i = (0, 1, 3, 4) if self.is64 else (0, 3, 5, 1)
            values: dict[bytes, set[int]] = {}
            for ent in table._entries():
                hit = at.get(ent[name_i])
                # Defined, and not STT_SECTION (3) or STT_FILE (4).
                if hit is not None and ent[shndx_i] and (ent[info_i] & 0xF) not in (3, 4):
                    values.setdefault(hit, set()).add(ent[value_i])
            for raw, vals in values.items():
                if len(vals) == 1:
                    out[want[raw]] = vals.pop()
                del want[raw]
        return out

    def function_names(self, src: BinaryFile) -> list[str]:
        """Every function name (without versions) of the symbol tables, then Go's."""
        out: list[str] = []
        for stype in (SHT_DYNSYM, SHT_SYMTAB):
            table = self.symbol_table(src, stype)
            if table is not None:
                out.extend(_decode(n) for n in table.index(self.path))
        go = self.go_functions(src)
        if go is not None:
            out.extend(go.names())
        return out

    def searched(self, src: BinaryFile) -> str:
        """Which tables a lookup searched, for messages."""
        have = [t.name for s in (SHT_DYNSYM, SHT_SYMTAB)
                if (t := self.symbol_table(src, s)) is not None]
        if self.go_functions(src) is not None:
            have.append(".gopclntab")
        return ", ".join(have) if have else "no symbol tables: the file is stripped"


def _split_version(name: str) -> tuple[bytes, bytes | None]:
    raw = name.encode("utf-8", "surrogateescape")
    at = raw.find(b"@")
    if at <= 0:
        return raw, None
    ver = raw[at + 1:]
    if ver.startswith(b"@"):
        ver = ver[1:]
    return raw[:at], ver


def _choose(path: str, query: str, cands: list[_Candidate], *, versioned: bool
            ) -> SymbolLocation:
    """One function out of the matches of a name in one table (module rules)."""
    if len({c.offset for c in cands}) > 1 and not versioned:
        default = [c for c in cands if not c.hidden]
        if default:
            cands = default
    if len({c.offset for c in cands}) > 1:
        strong = [c for c in cands if c.binding != STB_WEAK]
        if strong:
            cands = strong
    if len({c.offset for c in cands}) > 1:
        raise AmbiguousSymbolError(path, query, [c.describe() for c in cands])
    # Prefer a FUNC alias over an IFUNC at the same place, then a non-weak one.
    c = min(cands, key=lambda c: (c.type == STT_GNU_IFUNC, c.binding == STB_WEAK, c.name))
    if c.type == STT_GNU_IFUNC:
        raise IndirectFunctionError(path, query)
    return SymbolLocation(c.name, c.address, c.size, c.offset, c.binding, c.type, c.table)


# --- the cache -------------------------------------------------------------------------------

_cache: dict[FileKey, ElfImage] = {}
_cache_lock = Lock()


def elf_image(src: BinaryFile) -> ElfImage:
    """The parsed headers of the open file ``src``, from the cache when the same file (same
    device, inode, size and modification time) was parsed before.

    Raises:
        ELFError: the file is not an ELF executable or shared library, or is malformed.
    """
    with _cache_lock:
        img = _cache.pop(src.key, None)
        if img is not None:
            _cache[src.key] = img      # most recently used last
            return img
    img = ElfImage(src)
    with _cache_lock:
        img = _cache.setdefault(src.key, img)
        while len(_cache) > _CACHE_SIZE:
            del _cache[next(iter(_cache))]
    return img


def clear_cache() -> None:
    """Forget every parsed file (the next lookup reads the file again)."""
    with _cache_lock:
        _cache.clear()


# --- the API ---------------------------------------------------------------------------------


def _not_found(img: ElfImage, src: BinaryFile, names: Sequence[str]) -> SymbolNotFoundError:
    return SymbolNotFoundError(img.path, names, _close_matches(names[0], img, src),
                               where=img.searched(src))


def _close_matches(name: str, img: ElfImage, src: BinaryFile) -> list[str]:
    """Up to five names of the binary that look like ``name`` (cheap heuristics)."""
    base = _decode(_split_version(name)[0])
    names = img.function_names(src)
    low = base.lower()
    exact_ci = [n for n in names if n.lower() == low and n != base]
    contains = sorted({n for n in names if len(base) >= 3 and low in n.lower()}, key=len)
    out = list(dict.fromkeys(exact_ci + contains))[:5]
    if not out and len(names) <= 50_000:
        import difflib

        out = difflib.get_close_matches(base, list(dict.fromkeys(names)), n=5, cutoff=0.75)
    return out


def find_symbol(path: str | os.PathLike[str], name: str, *, offset: int = 0) -> SymbolLocation:
    """The function ``name`` of binary ``path`` and its uprobe file offset.

    ``name`` may carry a version (``malloc@@GLIBC_2.2.5``, ``memcpy@GLIBC_2.2.5``). ``offset``
    (bytes, >= 0) is added to the function's offset, for a probe inside it; it must stay in the
    same executable segment. ``path`` must be a path (resolve library and executable names
    first with :func:`ebpf.internal.ldcache.resolve_binary`).

    Raises:
        TargetNotFoundError: ``path`` does not exist.
        SymbolNotFoundError: no function of that name (names close matches, if any).
        AmbiguousSymbolError: several candidates at different addresses, none preferred.
        IndirectFunctionError: the name is an ``STT_GNU_IFUNC`` resolver.
        ELFError: the file is not an ELF executable/shared library or is malformed.
        SyscallError: the file cannot be read.
        ValueError: ``offset`` is negative.
    """
    if offset < 0:
        raise ValueError(f"offset must not be negative, got {offset}")
    with open_binary(path) as src:
        img = elf_image(src)
        loc = img.lookup(src, name)
        if loc is None:
            raise _not_found(img, src, [name])
        if offset:
            seg = img.segment_of(loc.address)
            end = loc.address + offset
            if seg is None or not seg.vaddr <= end < seg.vaddr + seg.filesz:
                raise ELFError(f"{name}+{offset:#x} ({end:#x}) is outside the segment that holds"
                               f" {name!r} [{img.path}]")
            loc = SymbolLocation(loc.name, loc.address, loc.size, loc.offset + offset,
                                 loc.binding, loc.type, loc.table)
        return loc


def symbol_offset(path: str | os.PathLike[str], name: str, *, offset: int = 0) -> int:
    """:func:`find_symbol` (same arguments and errors), only the file offset."""
    if offset:
        return find_symbol(path, name, offset=offset).offset
    with open_binary(path) as src:
        img = elf_image(src)
        found = img.lookup_offset(src, name)
        if found is None:
            raise _not_found(img, src, [name])
        return found


def find_symbols(path: str | os.PathLike[str], names: Sequence[str]) -> list[SymbolLocation]:
    """:func:`find_symbol` for many names of one binary, in the order given.

    The file is parsed once (or not at all when cached). Every missing name is reported in a
    single :class:`SymbolNotFoundError`; the other errors are those of :func:`find_symbol`,
    raised for the first name concerned.
    """
    with open_binary(path) as src:
        img = elf_image(src)
        out: list[SymbolLocation] = []
        missing: list[str] = []
        many = len(names) > _SCAN_LOOKUPS
        for name in names:
            loc = img.lookup(src, name, many=many)
            if loc is None:
                missing.append(name)
            elif not missing:
                out.append(loc)
        if missing:
            raise _not_found(img, src, missing)
        return out


def symbol_offsets(path: str | os.PathLike[str], names: Sequence[str]) -> list[int]:
    """The uprobe file offsets of functions ``names`` of one binary (for ``uprobe_multi``).

    Same rules and errors as :func:`find_symbols`.
    """
    with open_binary(path) as src:
        img = elf_image(src)
        lookup = img.lookup_offset
        many = len(names) > _SCAN_LOOKUPS
        out = [lookup(src, name, many=many) for name in names]
        if None in out:
            raise _not_found(img, src, [n for n, o in zip(names, out, strict=True) if o is None])
        return out  # type: ignore[return-value]


def symbols_matching(path: str | os.PathLike[str], pattern: str) -> list[SymbolLocation]:
    """Every function of ``path`` whose name (without version) matches the shell-style
    ``pattern`` (``*``, ``?``, ``[...]``), one per distinct file offset, by offset.

    As libbpf's ``uprobe_multi`` patterns: ``.symtab`` is searched first and ``.dynsym`` only
    if ``.symtab`` has no match. Indirect functions (``STT_GNU_IFUNC``) are left out. An empty
    list means nothing matched.

    Raises:
        TargetNotFoundError, ELFError, SyscallError: as :func:`find_symbol`.
    """
    import fnmatch

    with open_binary(path) as src:
        img = elf_image(src)
        for stype in (SHT_SYMTAB, SHT_DYNSYM):
            table = img.symbol_table(src, stype)
            if table is None:
                continue
            by_offset: dict[int, SymbolLocation] = {}
            for raw, hits in table.index(img.path).items():
                if not fnmatch.fnmatchcase(_decode(raw), pattern):
                    continue
                for i in ([hits] if isinstance(hits, int) else hits):
                    st_name, value, size, bind, stype_, _sh = table.symbol(i)
                    if stype_ != STT_FUNC:
                        continue
                    name = table.full_name(i, st_name, img.path)[0]
                    off = img.file_offset(value, f"function {name!r}")
                    prev = by_offset.get(off)
                    if prev is None or (prev.binding == STB_WEAK and bind != STB_WEAK):
                        by_offset[off] = SymbolLocation(name, value, size, off, bind, stype_,
                                                        table.name)
            if by_offset:
                return [by_offset[k] for k in sorted(by_offset)]
        return []


def address_offset(path: str | os.PathLike[str], address: int) -> int:
    """The file offset of link-time virtual ``address`` in ``path`` (a uprobe given by
    address, as ``readelf``/``objdump`` print them).

    Raises:
        ELFError: no executable segment holds the address, or the file is malformed.
        TargetNotFoundError, SyscallError: as :func:`find_symbol`.
    """
    with open_binary(path) as src:
        img = elf_image(src)
        return img.file_offset(address, "address", executable=True)
