"""Read ``.BTF``, ``.BTF.ext``, section sizes and symbols out of an ELF object file.

Only what BTF needs is read: the section headers, their names and the symbol table. This is a
small reader of its own (the library's pyelftools gateway lives in a lower layer that
``ebpf.btf`` does not depend on for parsing); every inconsistency raises
:class:`~ebpf.errors.ELFError` naming the section and offset.
"""

from __future__ import annotations

import struct

from ebpf.errors import ELFError

__all__ = ["ElfBTF", "read_btf_sections"]

_SHT_NOBITS = 8
_SHT_SYMTAB = 2
_SHN_LORESERVE = 0xFF00


class ElfBTF:
    """What an object file says about its BTF.

    Attributes:
        btf: the ``.BTF`` section.
        ext: the ``.BTF.ext`` section, or None.
        section_sizes: size of every section, by name.
        symbols: offset of every named symbol, by (section name, symbol name).
    """

    __slots__ = ("btf", "ext", "section_sizes", "symbols")

    def __init__(self, btf: bytes, ext: bytes | None, section_sizes: dict[str, int],
                 symbols: dict[tuple[str, str], int]) -> None:
        self.btf = btf
        self.ext = ext
        self.section_sizes = section_sizes
        self.symbols = symbols


def _cstr(data: bytes, start: int, end: int, section: str) -> str:
    if start >= end:
        raise ELFError(f"name offset {start} outside the string table", section=section)
    stop = data.find(b"\0", start, end)
    if stop < 0:
        raise ELFError("unterminated name", section=section, offset=start)
    try:
        return data[start:stop].decode()
    except UnicodeDecodeError:
        raise ELFError("name is not UTF-8", section=section, offset=start) from None


def read_btf_sections(data: bytes | bytearray | memoryview) -> ElfBTF:
    """The ``.BTF`` and ``.BTF.ext`` sections of an ELF file, with section sizes and symbols.

    Raises:
        ELFError: the file is not a valid ELF file or has no ``.BTF`` section.
    """
    data = bytes(data)
    if len(data) < 16 or data[:4] != b"\x7fELF":
        raise ELFError("not an ELF file", offset=0)
    cls, enc = data[4], data[5]
    if cls not in (1, 2) or enc not in (1, 2):
        raise ELFError(f"unknown ELF class {cls} or data encoding {enc}", offset=4)
    o = "<" if enc == 1 else ">"
    is64 = cls == 2
    try:
        if is64:
            shoff, = struct.unpack_from(o + "Q", data, 0x28)
            shentsize, shnum, shstrndx = struct.unpack_from(o + "HHH", data, 0x3A)
            sh_fmt = struct.Struct(o + "IIQQQQIIQQ")
            sym_fmt = struct.Struct(o + "IBBHQQ")
        else:
            shoff, = struct.unpack_from(o + "I", data, 0x20)
            shentsize, shnum, shstrndx = struct.unpack_from(o + "HHH", data, 0x2E)
            sh_fmt = struct.Struct(o + "IIIIIIIIII")
            sym_fmt = struct.Struct(o + "IIIBBH")
    except struct.error:
        raise ELFError("truncated ELF header", offset=0) from None
    if shentsize < sh_fmt.size or shoff + shnum * shentsize > len(data) or shnum == 0:
        raise ELFError(f"section header table ({shnum} x {shentsize} at {shoff:#x}) does "
                       "not fit the file", offset=shoff)
    headers = []
    for i in range(shnum):
        (name, stype, _flags, _addr, off, size, link, _info, _align,
         entsize) = sh_fmt.unpack_from(data, shoff + i * shentsize)
        if stype != _SHT_NOBITS and off + size > len(data):
            raise ELFError(f"section {i} [{off:#x}, +{size:#x}) is outside the file",
                           offset=shoff + i * shentsize)
        headers.append((name, stype, off, size, link, entsize))
    if shstrndx >= shnum:
        raise ELFError(f"section name table index {shstrndx} out of range")
    _, _, stroff, strsize, _, _ = headers[shstrndx]
    names = [_cstr(data, stroff + h[0], stroff + strsize, ".shstrtab") for h in headers]
    sizes = {n: h[3] for n, h in zip(names, headers, strict=True)}

    def contents(idx: int) -> bytes:
        _, stype, off, size, _, _ = headers[idx]
        return b"" if stype == _SHT_NOBITS else data[off:off + size]

    if ".BTF" not in names:
        raise ELFError("the object file has no .BTF section", section=".BTF")
    btf = contents(names.index(".BTF"))
    ext = contents(names.index(".BTF.ext")) if ".BTF.ext" in names else None

    symbols: dict[tuple[str, str], int] = {}
    for idx, (_, stype, off, size, link, entsize) in enumerate(headers):
        if stype != _SHT_SYMTAB:
            continue
        if entsize < sym_fmt.size or link >= shnum:
            raise ELFError("bad symbol table header", section=names[idx])
        _, _, soff, ssize, _, _ = headers[link]
        for pos in range(off, off + size - entsize + 1, entsize):
            if is64:
                st_name, _i, _ot, shndx, value, _sz = sym_fmt.unpack_from(data, pos)
            else:
                st_name, value, _sz, _i, _ot, shndx = sym_fmt.unpack_from(data, pos)
            if not st_name or shndx == 0 or shndx >= min(shnum, _SHN_LORESERVE):
                continue
            sym = _cstr(data, soff + st_name, soff + ssize, names[link])
            symbols[(names[shndx], sym)] = value
    return ElfBTF(btf, ext, sizes, symbols)
