"""Go's function table (the ``pclntab``): function name -> entry address, even when stripped.

A Go binary built with ``-ldflags='-s -w'`` has no ``.symtab``, but the runtime needs its own
table of functions for stack traces and garbage collection, so every Go binary keeps it (in
``.gopclntab``, or ``.data.rel.ro.gopclntab`` for PIE builds). This module reads the four
layouts Go has used, told apart by the header's magic number:

======  ============  ================================================================
magic   Go versions   layout
======  ============  ================================================================
fffffffb  1.2 - 1.15  ``nfunc``, then (entry PC, func offset) pairs of pointer size;
                      offsets relative to the table's start
fffffffa  1.16, 1.17  header words: nfunc, nfiles, funcname table, cu table, file table,
                      pc table, func table offsets; pointer-size pairs
fffffff0  1.18, 1.19  as 1.16 plus ``textStart``; pairs are 32-bit offsets from it
fffffff1  1.20 -      same layout as 1.18
======  ============  ================================================================

Every layout starts with the magic (4 bytes, in the binary's byte order), two zero bytes, the
instruction size quantum (1, 2 or 4) and the pointer size (4 or 8). Each function's ``_func``
record starts with its entry (a pointer before 1.18, a 32-bit offset from ``textStart`` since)
followed by ``nameOff``, a 32-bit offset into the function name table.

Everything here works on bytes; :mod:`ebpf.internal.elf_symbols` finds the table in a file.
Malformed tables raise :class:`~ebpf.errors.ELFError` naming the section and offset; nothing
is allocated beyond what the table's size allows.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from threading import Lock
from typing import Final, Literal, NoReturn

from ..errors import ELFError

__all__ = ["GO_MAGICS", "GoFunctionTable", "find_pclntab", "parse_pclntab"]

GO_MAGICS: Final = {0xFFFFFFFB: "1.2", 0xFFFFFFFA: "1.16", 0xFFFFFFF0: "1.18",
                    0xFFFFFFF1: "1.20"}
"""Header magic -> the first Go version that wrote that layout."""

_PATTERNS: Final = tuple(
    (magic.to_bytes(4, order) + b"\0\0", order)
    for magic in GO_MAGICS for order in ("little", "big"))


class GoFunctionTable:
    """A parsed Go function table.

    Attributes:
        version: the layout, as the first Go version that wrote it (``"1.2"``, ``"1.16"``,
            ``"1.18"``, ``"1.20"``).
        byte_order: ``"little"`` or ``"big"``.
        ptrsize: 4 or 8.
        quantum: the instruction size quantum.
        text_start: the address function entries are relative to (1.18 and later), else 0.
        count: the number of functions.
    """

    __slots__ = ("_data", "_field", "_funcdata", "_functab", "_index", "_lock", "_names",
                 "_path", "_where", "byte_order", "count", "ptrsize", "quantum", "text_start",
                 "version")

    version: str
    byte_order: Literal["little", "big"]
    ptrsize: int
    quantum: int
    text_start: int
    count: int

    def __init__(self, data: bytes, *, text_start: int | None, where: str, path: str) -> None:
        self._where = where
        self._path = path
        self._index: dict[bytes, int] | None = None
        self._lock = Lock()
        if len(data) < 8 + 8:
            self._fail("too short for a pclntab header", 0)
        order: Literal["little", "big"]
        for order in ("little", "big"):
            version = GO_MAGICS.get(int.from_bytes(data[:4], order))
            if version is not None:
                break
        else:
            self._fail(f"bad magic {data[:4].hex()}", 0)
        self.version = version
        self.byte_order = order
        if data[4] or data[5]:
            self._fail("header bytes 4-5 are not zero", 4)
        self.quantum, self.ptrsize = data[6], data[7]
        if self.quantum not in (1, 2, 4):
            self._fail(f"instruction quantum {self.quantum} is not 1, 2 or 4", 6)
        if self.ptrsize not in (4, 8):
            self._fail(f"pointer size {self.ptrsize} is not 4 or 8", 7)
        prefix = "<" if order == "little" else ">"
        ptr = "Q" if self.ptrsize == 8 else "I"
        nwords = {"1.2": 1, "1.16": 7, "1.18": 8, "1.20": 8}[version]
        if len(data) < 8 + nwords * self.ptrsize:
            self._fail(f"{len(data)} bytes cannot hold the {nwords}-word header", 8)
        words = struct.unpack_from(prefix + ptr * nwords, data, 8)

        def table(word: int, what: str) -> int:
            off = words[word]
            if off > len(data):
                self._fail(f"{what} offset {off:#x} is past the end of the table "
                           f"({len(data):#x} bytes)", 8 + word * self.ptrsize)
            return int(off)

        self.count = int(words[0])
        self.text_start = 0
        if version == "1.2":
            names = 0
            functab = 8 + self.ptrsize
            funcdata = 0
            field = ptr
        elif version == "1.16":
            names = table(2, "function name table")
            funcdata = functab = table(6, "function table")
            field = ptr
        else:
            names = table(3, "function name table")
            funcdata = functab = table(7, "function table")
            field = "I"
            start = int(words[2]) or text_start
            if not start:
                self._fail("textStart is 0 (relocated at run time) and the binary has no "
                           ".text section to take it from", 8 + 2 * self.ptrsize)
            self.text_start = start
        fsize = struct.calcsize(field)
        need = (2 * self.count + 1) * fsize
        if functab + need > len(data):
            self._fail(f"{self.count} functions need a function table of {need:#x} bytes at "
                       f"{functab:#x}, past the end ({len(data):#x} bytes)", 8)
        self._data = data
        self._names = names
        self._funcdata = funcdata
        self._functab = functab
        self._field = struct.Struct(prefix + field + field)

    def _fail(self, message: str, offset: int) -> NoReturn:
        raise ELFError(f"Go function table: {message} [{self._path}]", section=self._where,
                       offset=offset)

    def _entries(self) -> Iterator[tuple[int, int, int]]:
        """(index, entry PC, func record offset) for every function."""
        pairs = memoryview(self._data)[self._functab:
                                       self._functab + self.count * self._field.size]
        base = self.text_start
        for i, (pc, off) in enumerate(self._field.iter_unpack(pairs)):
            yield i, pc + base, off

    def _build(self) -> dict[bytes, int]:
        data = self._data
        names = self._names
        funcdata = self._funcdata
        # The entry is a pointer before 1.18, a 32-bit offset since; nameOff follows it.
        name_at = self.ptrsize if self.version in ("1.2", "1.16") else 4
        nameoff = struct.Struct(("<" if self.byte_order == "little" else ">") + "i")
        n = len(data)
        find = data.find
        index: dict[bytes, int] = {}
        for i, entry, off in self._entries():
            pos = funcdata + off + name_at
            if pos + 4 > n:
                self._fail(f"function {i}: record offset {off:#x} is past the end of the table",
                           self._functab + (2 * i + 1) * (self._field.size // 2))
            (noff,) = nameoff.unpack_from(data, pos)
            start = names + noff
            end = find(b"\0", start) if 0 <= start < n else -1
            if end < 0:
                self._fail(f"function {i}: name offset {noff:#x} is outside the name table or "
                           "not NUL-terminated", pos)
            index.setdefault(data[start:end], entry)
        return index

    def _get_index(self) -> dict[bytes, int]:
        idx = self._index
        if idx is None:
            with self._lock:
                if self._index is None:
                    self._index = self._build()
                idx = self._index
        return idx

    def entry(self, name: str) -> int | None:
        """The entry address of function ``name`` (``main.main``, ``main.(*T).Method``), or
        None. If several functions share a name, the first in the table.

        Raises:
            ELFError: the table is malformed (found when it is first indexed).
        """
        return self._get_index().get(name.encode("utf-8", "surrogateescape"))

    def names(self) -> list[str]:
        """Every function name, in table order."""
        return [n.decode("utf-8", "surrogateescape") for n in self._get_index()]

    def functions(self) -> dict[str, int]:
        """Every function: name -> entry address."""
        return {n.decode("utf-8", "surrogateescape"): e for n, e in self._get_index().items()}


def parse_pclntab(data: bytes, *, text_start: int | None = None, where: str = ".gopclntab",
                  path: str = "") -> GoFunctionTable:
    """Parse the Go function table ``data`` (which starts with its header).

    ``text_start`` is the address of the ``.text`` section, used for Go 1.18+ tables whose
    ``textStart`` word is 0 on disk (it is relocated at run time). ``where`` and ``path`` name
    the section and file in error messages. The function index is built on the first lookup.

    Raises:
        ELFError: the header is not a pclntab header of a known version, or its counts and
            offsets do not fit in ``data``.
    """
    return GoFunctionTable(data, text_start=text_start, where=where, path=path)


def find_pclntab(data: bytes | memoryview, limit: int = 64) -> list[int]:
    """Offsets in ``data`` that look like the start of a pclntab header (magic, two zero
    bytes, a valid quantum and pointer size), at most ``limit`` of them, lowest first.

    For binaries without section headers, where the table must be found by its header. The
    header is 8-byte aligned in every Go release, which rules out most false hits.
    """
    raw = bytes(data) if isinstance(data, memoryview) else data
    hits: list[int] = []
    for pattern, _order in _PATTERNS:
        pos = raw.find(pattern)
        while pos >= 0 and len(hits) < 4 * limit:
            if (pos % 8 == 0 and pos + 8 <= len(raw) and raw[pos + 6] in (1, 2, 4)
                    and raw[pos + 7] in (4, 8)):
                hits.append(pos)
            pos = raw.find(pattern, pos + 1)
    return sorted(hits)[:limit]
