"""``.BTF.ext``: function info, line info and CO-RE relocation records of an object file.

Layout (``struct btf_ext_header`` in libbpf's ``libbpf_internal.h``; the kernel takes the
records through ``BPF_PROG_LOAD``): a header giving the offset and length of each info section,
relative to the end of the header. Each info section starts with a u32 record size and then
holds, per ELF section, ``sec_name_off``, ``num_info`` and that many records.

This module makes no system calls.
"""

from __future__ import annotations

import os
import struct
from enum import IntEnum
from typing import Final, NamedTuple

from ebpf.btf.spec import Spec, load_spec_from_bytes, spec_from_elf_btf
from ebpf.btf.types import Type
from ebpf.errors import BTFError

__all__ = ["CORERelo", "CORERelocKind", "ExtInfo", "FuncInfo", "LineInfo", "load_elf_btf",
           "load_ext_info"]

EXT_MAGIC = 0xEB9F
#: Smallest header (without CO-RE relocations) and the one with them.
_HDR_MIN = 24
_HDR_CORE = 32
#: Smallest record size of each info kind.
_FUNC_INFO_SIZE = 8
_LINE_INFO_SIZE = 16
_CORE_RELO_SIZE = 16
#: Size of one BPF instruction; ``insn_off`` in an object file counts bytes.
INSN_SIZE = 8


class CORERelocKind(IntEnum):
    """``enum bpf_core_relo_kind``."""

    FIELD_BYTE_OFFSET = 0
    FIELD_BYTE_SIZE = 1
    FIELD_EXISTS = 2
    FIELD_SIGNED = 3
    FIELD_LSHIFT_U64 = 4
    FIELD_RSHIFT_U64 = 5
    TYPE_ID_LOCAL = 6
    TYPE_ID_TARGET = 7
    TYPE_EXISTS = 8
    TYPE_SIZE = 9
    ENUMVAL_EXISTS = 10
    ENUMVAL_VALUE = 11
    TYPE_MATCHES = 12

    @property
    def is_field(self) -> bool:
        """A relocation of a field access (offset, size, existence, sign, shifts)."""
        return self <= 5  # FIELD_RSHIFT_U64 (a plain int: cheaper than a member read)

    @property
    def is_type(self) -> bool:
        """A relocation of a whole type (ids, existence, size, match)."""
        return self in _TYPE_RELOCS

    @property
    def is_enumval(self) -> bool:
        """A relocation of an enumerator (existence, value)."""
        return self in _ENUMVAL_RELOCS

    @property
    def macro(self) -> str:
        """The kind as messages spell it, e.g. ``field_byte_offset``."""
        return self.name.lower()


_TYPE_RELOCS: Final = frozenset(int(k) for k in (
    CORERelocKind.TYPE_ID_LOCAL, CORERelocKind.TYPE_ID_TARGET, CORERelocKind.TYPE_EXISTS,
    CORERelocKind.TYPE_SIZE, CORERelocKind.TYPE_MATCHES))
_ENUMVAL_RELOCS: Final = frozenset(
    int(k) for k in (CORERelocKind.ENUMVAL_EXISTS, CORERelocKind.ENUMVAL_VALUE))


class FuncInfo(NamedTuple):
    """``struct bpf_func_info``: the function starting at byte ``insn_off`` of a section."""

    insn_off: int
    type_id: int
    func: Type

    @property
    def insn_index(self) -> int:
        """The instruction index (``insn_off / 8``)."""
        return self.insn_off // INSN_SIZE


class LineInfo(NamedTuple):
    """``struct bpf_line_info`` with its strings resolved.

    Attributes:
        insn_off: byte offset of the first instruction of the line in its section.
        file_name: the source file.
        line: the text of the source line (may be empty).
        line_num: line number (1-based).
        column: column number.
    """

    insn_off: int
    file_name: str
    line: str
    line_num: int
    column: int
    file_name_off: int = 0
    line_off: int = 0

    @property
    def insn_index(self) -> int:
        """The instruction index (``insn_off / 8``)."""
        return self.insn_off // INSN_SIZE

    def __str__(self) -> str:
        return f"{self.file_name}:{self.line_num}:{self.column} {self.line.strip()}"


class CORERelo(NamedTuple):
    """``struct bpf_core_relo``: a CO-RE relocation of the instruction at byte ``insn_off``.

    Attributes:
        type_id: the local (object file) root type.
        access_str: the accessor spec, such as ``"0:1:2"``.
        kind: what is relocated.
    """

    insn_off: int
    type_id: int
    access_str: str
    kind: CORERelocKind
    type: Type

    @property
    def insn_index(self) -> int:
        """The instruction index (``insn_off / 8``)."""
        return self.insn_off // INSN_SIZE

    @property
    def accessor(self) -> list[int]:
        """The access string as integers."""
        try:
            return [int(p) for p in self.access_str.split(":")]
        except ValueError:
            raise BTFError(f"invalid CO-RE access string {self.access_str!r}") from None


class ExtInfo:
    """Everything in a ``.BTF.ext`` section, per ELF section name.

    Attributes:
        func_infos, line_infos, core_relos: the records of each ELF section, by its name.
        func_info_rec_size, line_info_rec_size, core_relo_rec_size: record sizes as found
            (newer compilers may emit larger records).
    """

    __slots__ = ("core_relo_rec_size", "core_relos", "func_info_rec_size", "func_infos",
                 "line_info_rec_size", "line_infos")

    def __init__(self) -> None:
        self.func_infos: dict[str, list[FuncInfo]] = {}
        self.line_infos: dict[str, list[LineInfo]] = {}
        self.core_relos: dict[str, list[CORERelo]] = {}
        self.func_info_rec_size = _FUNC_INFO_SIZE
        self.line_info_rec_size = _LINE_INFO_SIZE
        self.core_relo_rec_size = _CORE_RELO_SIZE

    def __repr__(self) -> str:
        return (f"<ExtInfo {sum(map(len, self.func_infos.values()))} func, "
                f"{sum(map(len, self.line_infos.values()))} line, "
                f"{sum(map(len, self.core_relos.values()))} CO-RE records>")


def _sections(data: bytes, order: str, start: int, length: int, min_rec: int, what: str,
              spec: Spec) -> tuple[int, list[tuple[str, int, int]]]:
    """Split one info section into (section name, first record offset, count)."""
    if length == 0:
        return min_rec, []
    end = start + length
    if start < 0 or end > len(data) or length < 4:
        raise BTFError(f"{what} section [{start}, +{length}) is outside .BTF.ext", offset=start)
    (rec_size,) = struct.unpack_from(order + "I", data, start)
    if rec_size < min_rec or rec_size % 4:
        raise BTFError(f"{what} record size {rec_size} is invalid", offset=start)
    out = []
    pos = start + 4
    while pos < end:
        if pos + 8 > end:
            raise BTFError(f"{what} section ends inside a header", offset=pos)
        name_off, num = struct.unpack_from(order + "II", data, pos)
        pos += 8
        if num == 0:
            raise BTFError(f"{what} for a section has no records", offset=pos - 4)
        if num > (end - pos) // rec_size:
            raise BTFError(f"{what}: {num} records of {rec_size} bytes do not fit", offset=pos - 4)
        out.append((spec.string(name_off), pos, num))
        pos += num * rec_size
    return rec_size, out


def load_ext_info(data: bytes | bytearray | memoryview, spec: Spec) -> ExtInfo:
    """Parse a ``.BTF.ext`` section whose strings and types are in ``spec``.

    Raises:
        BTFError: the section is malformed or names types or strings that do not exist.
    """
    data = bytes(data)
    if len(data) < 8:
        raise BTFError(".BTF.ext is shorter than its header", offset=0)
    if data[:2] == b"\x9f\xeb":
        order = "<"
    elif data[:2] == b"\xeb\x9f":
        order = ">"
    else:
        raise BTFError(f"bad .BTF.ext magic {data[:2].hex()}", offset=0)
    version, _flags, hdr_len = struct.unpack_from(order + "BBI", data, 2)
    if version != 1:
        raise BTFError(f"unsupported .BTF.ext version {version}", offset=2)
    if hdr_len < _HDR_MIN or hdr_len > len(data):
        raise BTFError(f"bad .BTF.ext header length {hdr_len}", offset=4)
    fi_off, fi_len, li_off, li_len = struct.unpack_from(order + "IIII", data, 8)
    cr_off = cr_len = 0
    if hdr_len >= _HDR_CORE:
        cr_off, cr_len = struct.unpack_from(order + "II", data, 24)
    info = ExtInfo()

    size, secs = _sections(data, order, hdr_len + fi_off, fi_len, _FUNC_INFO_SIZE,
                           "func info", spec)
    info.func_info_rec_size = size
    for name, pos, num in secs:
        recs = []
        for k in range(num):
            insn_off, tid = struct.unpack_from(order + "II", data, pos + k * size)
            recs.append(FuncInfo(insn_off, tid, _type(spec, tid, pos + k * size)))
        info.func_infos[name] = recs

    size, secs = _sections(data, order, hdr_len + li_off, li_len, _LINE_INFO_SIZE,
                           "line info", spec)
    info.line_info_rec_size = size
    # Every line names its file, and lines repeat: read each string once.
    strings: dict[int, str] = {}
    rec = struct.Struct(order + "IIII")
    for name, pos, num in secs:
        lines = []
        if size == rec.size:
            records = rec.iter_unpack(memoryview(data)[pos:pos + num * size])
        else:
            records = (rec.unpack_from(data, pos + k * size) for k in range(num))
        for k, (insn_off, file_off, line_off, col) in enumerate(records):
            file_name = strings.get(file_off)
            if file_name is None:
                file_name = strings[file_off] = _string(spec, file_off, pos + k * size)
            line = strings.get(line_off)
            if line is None:
                line = strings[line_off] = _string(spec, line_off, pos + k * size)
            lines.append(LineInfo(insn_off, file_name, line, col >> 10, col & 0x3FF,
                                  file_off, line_off))
        info.line_infos[name] = lines

    size, secs = _sections(data, order, hdr_len + cr_off, cr_len, _CORE_RELO_SIZE,
                           "CO-RE relocation", spec)
    info.core_relo_rec_size = size
    for name, pos, num in secs:
        relos = []
        for k in range(num):
            at = pos + k * size
            insn_off, tid, acc_off, kind = struct.unpack_from(order + "IIII", data, at)
            try:
                rkind = CORERelocKind(kind)
            except ValueError:
                raise BTFError(f"unknown CO-RE relocation kind {kind}", offset=at) from None
            relos.append(CORERelo(insn_off, tid, _string(spec, acc_off, at), rkind,
                                  _type(spec, tid, at)))
        info.core_relos[name] = relos
    return info


def _string(spec: Spec, off: int, at: int) -> str:
    try:
        return spec.string(off)
    except BTFError as e:
        raise BTFError(f".BTF.ext record: {e}", offset=at) from None


def _type(spec: Spec, tid: int, at: int) -> Type:
    try:
        return spec.type_by_id(tid)
    except BTFError as e:
        raise BTFError(f".BTF.ext record: {e}", offset=at) from None


def load_elf_btf(src: str | os.PathLike[str] | bytes) -> tuple[Spec, ExtInfo | None]:
    """The BTF (``.BTF``) and, if present, the ``.BTF.ext`` info of an ELF object file.

    Raises:
        ELFError: the file is not valid ELF or has no ``.BTF``.
        BTFError: the BTF is malformed.
    """
    from ebpf.internal.elf import read_btf_sections
    if isinstance(src, bytes):
        data = src
    else:
        with open(src, "rb") as f:
            data = f.read()
    if data[:4] == b"\x7fELF":
        # The ELF file is read once for both the BTF and .BTF.ext.
        elf = read_btf_sections(data)
        spec = spec_from_elf_btf(elf)
    else:
        spec = load_spec_from_bytes(data)  # e.g. compressed: as load_spec_from_bytes reads it
        elf = read_btf_sections(data)
    ext = elf.ext
    return spec, (load_ext_info(ext, spec) if ext is not None else None)
