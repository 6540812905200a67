"""Decoding raw BTF blobs: the header, a cheap index of the type section, and types on demand.

A raw blob is ``struct btf_header`` followed by a type section and a string section (see
``Documentation/bpf/btf.rst``). Opening a blob costs one pass over the type section that records
where each type starts and which name it has (:class:`RawIndex`); type objects are only built
when asked for (:meth:`RawBTF.decode`).

This module makes no system calls and reads no files.
"""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Callable
from itertools import compress
from typing import Final, TypeAlias

from ebpf.btf.types import (
    Array,
    Const,
    Datasec,
    DeclTag,
    Enum,
    Enum64,
    EnumValue,
    Float,
    Func,
    FuncLinkage,
    FuncParam,
    FuncProto,
    Fwd,
    FwdKind,
    Int,
    IntEncoding,
    Kind,
    Member,
    Pointer,
    Resolver,
    Restrict,
    Struct,
    Type,
    Typedef,
    TypeTag,
    Union,
    Var,
    VarLinkage,
    VarSecinfo,
    Volatile,
)
from ebpf.errors import BTFError

__all__ = ["BTF_MAGIC", "Header", "RawBTF", "RawIndex", "parse_header"]

BTF_MAGIC: Final = 0xEB9F
BTF_VERSION: Final = 1
HEADER_SIZE: Final = 24
#: Largest type id the kernel accepts (``BTF_MAX_TYPE``).
MAX_TYPE_ID: Final = 0x000FFFFF
NATIVE_ORDER: Final = "<" if sys.byteorder == "little" else ">"

#: Words (u32) in each kind's record before the vlen entries, and per vlen entry.
_FIXED_WORDS: Final = (None, 4, 3, 6, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 3, 3, 4, 3, 3)
#: Maps the high byte of an info word (kind, kind_flag) to 1 for FUNC, else 0.
_FUNC_TABLE: Final = bytes(1 if (b & 0x1F) == 12 else 0 for b in range(256))
_NONZERO_TABLE: Final = bytes([0] + [1] * 255)
#: Maps the high byte of an info word (kind_flag, kind) to the kind.
_KIND_OF_HIGH_BYTE: Final = bytes(b & 0x1F for b in range(256))
_OTHERS: Final = 0
_FUNCS: Final = 1
#: A table of unsigned ints: an array, or a read-only view of a mapped file (same format).
IntArray: TypeAlias = "array[int] | memoryview"
_VLEN_WORDS: Final = (0, 0, 0, 0, 3, 3, 2, 0, 0, 0, 0, 0, 0, 2, 0, 3, 0, 0, 0, 3)
# Kinds as plain ints for the decoder (an IntEnum member read costs a descriptor call per use
# on Python 3.11).
_K_INT: Final = int(Kind.INT)
_K_PTR: Final = int(Kind.PTR)
_K_ARRAY: Final = int(Kind.ARRAY)
_K_STRUCT: Final = int(Kind.STRUCT)
_K_UNION: Final = int(Kind.UNION)
_K_ENUM: Final = int(Kind.ENUM)
_K_FWD: Final = int(Kind.FWD)
_K_FUNC: Final = int(Kind.FUNC)
_K_FUNC_PROTO: Final = int(Kind.FUNC_PROTO)
_K_VAR: Final = int(Kind.VAR)
_K_DATASEC: Final = int(Kind.DATASEC)
_K_FLOAT: Final = int(Kind.FLOAT)
_K_DECL_TAG: Final = int(Kind.DECL_TAG)
_K_ENUM64: Final = int(Kind.ENUM64)
#: Members by value (indexing a tuple is cheaper than calling the enum class).
_FUNC_LINKAGES: Final = tuple(sorted(FuncLinkage))
_VAR_LINKAGES: Final = tuple(sorted(VarLinkage))
_FWD_KINDS: Final = tuple(sorted(FwdKind))
#: Bytes read at once when looking for the end of a name (longer names take a second read).
_NAME_CHUNK: Final = 64


class Header:
    """The fields of ``struct btf_header`` (offsets are relative to the end of the header)."""

    __slots__ = (
        "byte_order",
        "flags",
        "hdr_len",
        "str_len",
        "str_off",
        "type_len",
        "type_off",
        "version",
    )

    def __init__(self, byte_order: str, version: int, flags: int, hdr_len: int, type_off: int,
                 type_len: int, str_off: int, str_len: int) -> None:
        self.byte_order = byte_order
        self.version = version
        self.flags = flags
        self.hdr_len = hdr_len
        self.type_off = type_off
        self.type_len = type_len
        self.str_off = str_off
        self.str_len = str_len

    def __repr__(self) -> str:
        return (f"<Header {self.byte_order!r} hdr_len={self.hdr_len} type_off={self.type_off} "
                f"type_len={self.type_len} str_off={self.str_off} str_len={self.str_len}>")


def parse_header(data: bytes | bytearray | memoryview) -> Header:
    """Decode and check the header of a raw BTF blob (either byte order).

    Raises:
        BTFError: bad magic or version, or sections that lie outside ``data``.
    """
    if len(data) < HEADER_SIZE:
        raise BTFError(f"BTF blob of {len(data)} bytes is shorter than its header", offset=0)
    magic = bytes(data[:2])
    if magic == b"\x9f\xeb":
        order = "<"
    elif magic == b"\xeb\x9f":
        order = ">"
    else:
        raise BTFError(f"bad BTF magic {magic.hex()}", offset=0)
    (_, version, flags, hdr_len, type_off, type_len, str_off,
     str_len) = struct.unpack_from(order + "HBBIIIII", data, 0)
    if version != BTF_VERSION:
        raise BTFError(f"unsupported BTF version {version}", offset=2)
    if hdr_len < HEADER_SIZE or hdr_len > len(data):
        raise BTFError(f"bad BTF header length {hdr_len}", offset=4)
    if any(data[HEADER_SIZE:hdr_len]):
        raise BTFError("unknown non-zero fields in the BTF header", offset=HEADER_SIZE)
    size = len(data) - hdr_len
    if type_off + type_len > size or type_off % 4 or type_len % 4:
        raise BTFError(f"type section [{type_off}, +{type_len}) does not fit a blob of {size} "
                       "bytes or is misaligned", offset=8)
    if str_off + str_len > size:
        raise BTFError(f"string section [{str_off}, +{str_len}) does not fit a blob of {size} "
                       "bytes", offset=16)
    if str_len and (type_off < str_off + str_len and str_off < type_off + type_len):
        raise BTFError("the type and string sections overlap", offset=16)
    return Header(order, version, flags, hdr_len, type_off, type_len, str_off, str_len)


class RawIndex:
    """Where each type of a type section starts, and an index of their names.

    ``offsets[i]`` is the index (in u32 words) of local type ``i`` in the type section, with one
    extra entry at the end: the section's length in words. ``by_name`` holds two sorted
    tables, for all named types but functions and for functions, of ``crc32(name) << 20 | i``;
    they are built on first use (see :meth:`RawBTF.ids_by_name`). ``flavored`` holds the
    string offsets of the strings that contain ``___``, once :meth:`RawBTF.flavored_strings`
    has looked for them. ``kinds`` holds the kind of every type, one byte each, once
    :meth:`RawBTF.kinds` has been asked for it.
    """

    __slots__ = ("by_name", "flavored", "kinds", "offsets", "scratch")

    def __init__(self, offsets: IntArray,
                 by_name: list[IntArray | None] | None = None,
                 flavored: IntArray | None = None) -> None:
        #: Arrays, or read-only views of the same item format into a mapped index file.
        self.offsets = offsets
        #: name offsets and info words of every type, kept from :meth:`build` until both
        #: name tables are built.
        self.scratch: tuple[array[int], array[int]] | None = None
        self.by_name: list[IntArray | None] = by_name if by_name is not None else [None, None]
        self.flavored = flavored
        self.kinds: bytes | None = None

    def __reduce__(self) -> tuple[object, ...]:
        # Copies and pickles own their arrays, also when this index is a mapped file's.
        by_name = [_owned(t) if t is not None else None for t in self.by_name]
        flavored = _owned(self.flavored) if self.flavored is not None else None
        return (RawIndex, (_owned(self.offsets), by_name, flavored),
                (None, {"scratch": self.scratch}))

    @classmethod
    def build(cls, words: array[int] | memoryview, first_id: int) -> RawIndex:
        """Walk the type records in ``words``; ``first_id`` is the id of the first one.

        Raises:
            BTFError: an unknown kind, or a record running past the end of the section.
        """
        offsets: array[int] = array("I")
        names: array[int] = array("I")
        infos: array[int] = array("I")
        app = offsets.append
        napp = names.append
        iapp = infos.append
        n = len(words)
        steps: dict[int, int] = {}
        i = 0
        while True:
            try:
                while i < n:
                    app(i)
                    napp(words[i])
                    info = words[i + 1]
                    iapp(info)
                    i += steps[info]
                break
            except KeyError:
                # First record with this info word: work out its length, then go on.
                info = words[i + 1]
                offsets.pop()
                names.pop()
                infos.pop()
                kind = info >> 24 & 0x1F
                fixed = _FIXED_WORDS[kind] if kind < len(_FIXED_WORDS) else None
                if fixed is None:
                    raise BTFError(f"unknown BTF kind {kind}", type_id=first_id + len(offsets),
                                   offset=4 * i) from None
                steps[info] = fixed + _VLEN_WORDS[kind] * (info & 0xFFFF)
            except IndexError:
                raise BTFError("type section ends inside a type record",
                               type_id=first_id + len(offsets) - 1, offset=4 * i) from None
        if i != n:
            raise BTFError("type section ends inside a type record",
                           type_id=first_id + len(offsets) - 1, offset=4 * offsets[-1])
        if len(offsets) > MAX_TYPE_ID:
            raise BTFError(f"too many types ({len(offsets)})")
        offsets.append(n)
        index = cls(offsets)
        index.scratch = (names, infos)
        return index


def _owned(ints: IntArray) -> array[int]:
    """``ints`` as an array (a copy of a view; an array as it is)."""
    return ints if isinstance(ints, array) else array(ints.format, ints.tobytes())


def _words(data: bytes | bytearray | memoryview, start: int, length: int,
           order: str) -> array[int]:
    words: array[int] = array("I")
    words.frombytes(data[start:start + length])
    if order != NATIVE_ORDER:
        words.byteswap()
    return words


def _s32(v: int) -> int:
    return v - 0x100000000 if v & 0x80000000 else v


class RawBTF:
    """One raw BTF blob (or the split part of one): its sections, index and type decoder.

    Type ids are global: for split BTF the first local type has id ``base_count``, where
    ``base_count`` is the number of ids (including void) of the base; string offsets at or
    above ``base_str_len`` refer to this blob's own strings.
    """

    __slots__ = ("base_count", "base_str_len", "header", "index", "strings", "words")

    def __init__(self, data: bytes | bytearray | memoryview, *, base_count: int = 1,
                 base_str_len: int = 0, index: RawIndex | None = None,
                 borrow: bool = False) -> None:
        """Parse ``data``; with ``borrow``, ``data`` (which must never change) is used in place
        rather than copied where its byte order allows."""
        hdr = parse_header(data)
        self.header = hdr
        start = hdr.hdr_len
        self.words: array[int] | memoryview
        if borrow and hdr.byte_order == NATIVE_ORDER and isinstance(data, memoryview):
            begin = start + hdr.type_off
            self.words = data[begin:begin + hdr.type_len].cast("I")
        else:
            self.words = _words(data, start + hdr.type_off, hdr.type_len, hdr.byte_order)
        section = data[start + hdr.str_off:start + hdr.str_off + hdr.str_len]
        strs = section if borrow and isinstance(section, memoryview) else bytes(section)
        #: The string section: bytes, or a read-only view into a borrowed blob (read names
        #: through :meth:`local_name_bytes`; ``bytes(strings)`` gives a copy).
        self.strings = strs
        if base_count == 1 and strs and strs[0] != 0:
            raise BTFError("string section does not start with an empty string",
                           offset=start + hdr.str_off)
        if strs and strs[-1] != 0:
            raise BTFError("string section is not NUL terminated",
                           offset=start + hdr.str_off + hdr.str_len - 1)
        self.base_count = base_count
        self.base_str_len = base_str_len
        if index is None or len(index.offsets) < 1 or index.offsets[-1] != len(self.words):
            index = RawIndex.build(self.words, base_count)
        self.index = index

    def __reduce__(self) -> tuple[object, ...]:
        # Copies and pickles own their words, also when this object borrows a mapped blob.
        state = {k: getattr(self, k) for k in RawBTF.__slots__}
        words = state["words"]
        if isinstance(words, memoryview):
            owned: array[int] = array("I")
            owned.frombytes(words.cast("B"))
            state["words"] = owned
        if isinstance(state["strings"], memoryview):
            state["strings"] = bytes(state["strings"])
        return (_restore_raw, (state,))

    @property
    def count(self) -> int:
        """Number of types in this blob (without void or base types)."""
        return len(self.index.offsets) - 1

    @property
    def byte_order(self) -> str:
        """``"<"`` or ``">"``."""
        return self.header.byte_order

    def local_string(self, off: int) -> str:
        """The string at ``off`` of this blob's own string section."""
        strs = self.strings
        if isinstance(strs, bytes):
            end = strs.find(0, off)
            if off < 0 or end < 0:
                raise BTFError(f"string offset {off} is outside the string section")
            name = strs[off:end]
        else:
            # Most names fit one short slice, which is all that is copied out of the view.
            chunk = strs[off:off + _NAME_CHUNK].tobytes() if off >= 0 else b""
            end = chunk.find(0)
            name = chunk[:end] if end >= 0 else self._long_name_bytes(off)
        try:
            return name.decode()
        except UnicodeDecodeError:
            raise BTFError(f"string at offset {off} is not UTF-8") from None

    def ids_by_name(self, name: bytes, name_bytes: Callable[[int], bytes], *,
                    funcs: bool = True, others: bool = True) -> list[int]:
        """Ids of this blob's types called ``name``; ``name_bytes`` reads a (global) string.

        Functions and other types have separate name tables, each built on first use, so
        that looking up a struct does not hash the names of 50,000 kernel functions.
        """
        out = []
        for group, wanted in ((_OTHERS, others), (_FUNCS, funcs)):
            if wanted:
                out += self._lookup(group, name, name_bytes)
        if funcs and others:
            out.sort()
        return out

    def name_table(self, group: int, name_bytes: Callable[[int], bytes]) -> IntArray:
        """The sorted ``crc32(name) << 20 | local index`` table of group 0 (all but FUNC)
        or 1 (FUNC), built if need be."""
        tables = self.index.by_name
        table = tables[group]
        if table is None:
            table = tables[group] = self._build_name_table(group, name_bytes)
        return table

    def _lookup(self, group: int, name: bytes, name_bytes: Callable[[int], bytes]) -> list[int]:
        table = self.name_table(group, name_bytes)
        w = self.words
        offsets = self.index.offsets
        h = zlib.crc32(name)
        pos = bisect_left(table, h << 20)
        out = []
        end = len(table)
        while pos < end:
            v = table[pos]
            if v >> 20 != h:
                break
            k = v & 0xFFFFF
            if name_bytes(w[offsets[k]]) == name:
                out.append(self.base_count + k)
            pos += 1
        return out

    def _build_name_table(self, group: int, name_bytes: Callable[[int], bytes]) -> array[int]:
        w = self.words
        starts = self.index.offsets[:-1]
        n = len(starts)
        # Everything below runs in C loops: this is on the path of the first lookup by name.
        scratch = self.index.scratch
        if scratch is not None:
            name_offs, infos = scratch
        else:
            name_offs = array("I", map(w.__getitem__, starts))
            infos = array("I", map(w.__getitem__, map((1).__add__, starts)))
        kind_bytes = infos.tobytes()[3::4] if sys.byteorder == "little" else infos.tobytes()[::4]
        func_mask = int.from_bytes(kind_bytes.translate(_FUNC_TABLE), "little")
        # A type is named if any byte of its name offset is non-zero: OR the four byte lanes.
        nb = name_offs.tobytes()
        named_mask = 0
        for lane in range(4):
            named_mask |= int.from_bytes(nb[lane::4].translate(_NONZERO_TABLE), "little")
        mask = named_mask & (func_mask if group == _FUNCS else ~func_mask)
        ks = list(compress(range(n), mask.to_bytes(n, "little")))
        offs = list(map(name_offs.__getitem__, ks))
        crc = zlib.crc32
        strs = bytes(self.strings)
        find = strs.find
        try:
            if not self.base_str_len and strs and max(offs, default=0) < len(strs):
                # Fast path (no base): slice the strings directly.
                packed = [crc(strs[o:find(b"\0", o)]) << 20 | k
                          for k, o in zip(ks, offs, strict=True)]
            else:
                packed = [crc(name_bytes(o)) << 20 | k for k, o in zip(ks, offs, strict=True)]
        except BTFError as e:
            # Find the culprit for a precise message.
            for k, o in zip(ks, offs, strict=True):
                try:
                    name_bytes(o)
                except BTFError:
                    raise BTFError(str(e), type_id=self.base_count + k) from None
            raise  # pragma: no cover
        packed.sort()
        if None not in self.index.by_name[:group] + self.index.by_name[group + 1:]:
            self.index.scratch = None
        return array("Q", packed)

    def flavored_strings(self) -> IntArray:
        """The offsets of the local strings that contain ``___`` (the only names that can
        carry a CO-RE flavor suffix), in order. Found by one scan, then kept in the index."""
        got = self.index.flavored
        if got is None:
            strs = bytes(self.strings)
            found: array[int] = array("I")
            pos = strs.find(b"___")
            while pos >= 0:
                found.append(strs.rfind(b"\0", 0, pos) + 1)
                end = strs.find(b"\0", pos)
                if end < 0:
                    break
                pos = strs.find(b"___", end)
            self.index.flavored = got = found
        return got

    def local_name_bytes(self, off: int) -> bytes:
        """The raw bytes of the local string at ``off``."""
        strs = self.strings
        if isinstance(strs, bytes):
            end = strs.find(0, off)
            if off < 0 or end < 0:
                raise BTFError(f"string offset {off} is outside the string section")
            return strs[off:end]
        chunk = strs[off:off + _NAME_CHUNK].tobytes() if off >= 0 else b""
        end = chunk.find(0)
        return chunk[:end] if end >= 0 else self._long_name_bytes(off)

    def _long_name_bytes(self, off: int) -> bytes:
        strs = self.strings
        size = 4 * _NAME_CHUNK
        while 0 <= off < len(strs):
            chunk = bytes(strs[off:off + size])
            end = chunk.find(0)
            if end >= 0:
                return chunk[:end]
            if off + size >= len(strs):
                break
            size *= 4
        raise BTFError(f"string offset {off} is outside the string section")

    def kinds(self) -> bytes:
        """The raw kind number of every local type, one byte each (local index ``i`` is type
        id ``base_count + i``). Built on first use, in C loops, then kept in the index: lookups
        by kind scan this instead of reading each type's info word in Python."""
        index = self.index
        got = index.kinds
        if got is None:
            if index.scratch is not None:
                infos = index.scratch[1]
            else:
                infos = array("I", map(self.words.__getitem__,
                                       map((1).__add__, index.offsets[:-1])))
            raw = infos.tobytes()
            high = raw[3::4] if sys.byteorder == "little" else raw[::4]
            index.kinds = got = high.translate(_KIND_OF_HIGH_BYTE)
        return got

    def kind_of(self, type_id: int) -> int:
        """The raw kind number of type ``type_id`` (which must be local)."""
        return self.words[self.index.offsets[type_id - self.base_count] + 1] >> 24 & 0x1F

    def decode(self, type_id: int, resolve: Resolver, max_id: int,
               get_name: Callable[[int], str]) -> Type:
        """Build the type object for local ``type_id``.

        References to other types are left as ids, resolved through ``resolve`` on first use;
        ``get_name`` maps global string offsets to strings; ``max_id`` is the largest valid id.
        """
        w = self.words
        o = self.index.offsets[type_id - self.base_count]
        name_off, info, st = w[o], w[o + 1], w[o + 2]
        kind = info >> 24 & 0x1F
        vlen = info & 0xFFFF
        kflag = info >> 31
        name: str = get_name(name_off)

        def ref(tid: int) -> int:
            if tid > max_id:
                raise BTFError(f"reference to type id {tid} which does not exist "
                               f"(largest is {max_id})", type_id=type_id,
                               offset=4 * o)
            return tid

        t: Type
        if kind == _K_INT:
            v = w[o + 3]
            bits = v & 0xFF
            if st not in (1, 2, 4, 8, 16) or bits > 8 * st:
                raise BTFError(f"int of {st} bytes has {bits} bits", type_id=type_id)
            t = Int(name, st, IntEncoding(v >> 24 & 0x7), bits=bits, offset=v >> 16 & 0xFF)
            return t
        if kind in (_K_STRUCT, _K_UNION):
            cls = Struct if kind == _K_STRUCT else Union
            c = cls(name, st)
            mem = c.members
            end = o + 3 + 3 * vlen
            # Member types checked at once (structs of the kernel have hundreds of members);
            # one by one, in order, only to report the first bad one.
            checked = not vlen or max(w[o + 4:end:3]) <= max_id
            new = Member.__new__
            for j in range(o + 3, end, 3):
                moff = w[j + 2]
                m = new(Member)
                m.name = get_name(w[j])
                m._type = w[j + 1] if checked else ref(w[j + 1])
                if kflag:
                    m.offset = moff & 0xFFFFFF
                    m.bitfield_size = moff >> 24
                else:
                    m.offset = moff
                    m.bitfield_size = 0
                m._res = resolve
                mem.append(m)
            c._res = resolve
            return c
        cls2 = _REF_CLASSES.get(kind)
        if cls2 is not None:
            r = ref(st)
            if r == type_id and kind != _K_FUNC:
                raise BTFError(f"{Kind(kind).name} refers to itself", type_id=type_id)
            t = cls2.__new__(cls2)
            t.name = name
            t._res = resolve
            if kind == _K_PTR:
                t._target = r  # type: ignore[attr-defined]
            else:
                t._type = r  # type: ignore[attr-defined]
            if kind == _K_FUNC:
                if vlen > 2:
                    raise BTFError(f"unknown function linkage {vlen}", type_id=type_id)
                t.linkage = _FUNC_LINKAGES[vlen]  # type: ignore[attr-defined]
            elif kind == _K_VAR:
                lk = w[o + 3]
                if lk > 2:
                    raise BTFError(f"unknown variable linkage {lk}", type_id=type_id)
                t.linkage = _VAR_LINKAGES[lk]  # type: ignore[attr-defined]
            elif kind == _K_DECL_TAG:
                t.component_idx = _s32(w[o + 3])  # type: ignore[attr-defined]
            return t
        if kind == _K_ARRAY:
            a = Array.__new__(Array)
            a.name = name
            a._res = resolve
            a._type = ref(w[o + 3])
            a._index = ref(w[o + 4])
            a.nelems = w[o + 5]
            return a
        if kind in (_K_ENUM, _K_ENUM64) and st not in (1, 2, 4, 8):
            raise BTFError(f"enum of {st} bytes", type_id=type_id)
        if kind == _K_ENUM:
            vals = []
            for j in range(o + 3, o + 3 + 2 * vlen, 2):
                v = w[j + 1]
                vals.append(EnumValue(get_name(w[j]), _s32(v) if kflag else v))
            t = Enum(name, st, vals, signed=bool(kflag))
            return t
        if kind == _K_ENUM64:
            vals = []
            for j in range(o + 3, o + 3 + 3 * vlen, 3):
                v = w[j + 1] | w[j + 2] << 32
                if kflag and v & (1 << 63):
                    v -= 1 << 64
                vals.append(EnumValue(get_name(w[j]), v))
            return Enum64(name, st, vals, signed=bool(kflag))
        if kind == _K_FWD:
            return Fwd(name, _FWD_KINDS[kflag])
        if kind == _K_FUNC_PROTO:
            fp = FuncProto.__new__(FuncProto)
            fp.name = name
            fp._res = resolve
            fp._return_type = ref(st)
            params = fp.params = []
            for j in range(o + 3, o + 3 + 2 * vlen, 2):
                p = FuncParam.__new__(FuncParam)
                p.name = get_name(w[j])
                p._type = ref(w[j + 1])
                p._res = resolve
                params.append(p)
            return fp
        if kind == _K_DATASEC:
            ds = Datasec(name, st)
            for j in range(o + 3, o + 3 + 3 * vlen, 3):
                vs = VarSecinfo.__new__(VarSecinfo)
                vs._type = ref(w[j])
                vs.offset = w[j + 1]
                vs.size = w[j + 2]
                vs._res = resolve
                ds.vars.append(vs)
            return ds
        if kind == _K_FLOAT:
            if st not in (2, 4, 8, 12, 16):
                raise BTFError(f"float of {st} bytes", type_id=type_id)
            return Float(name, st)
        raise BTFError(f"unknown BTF kind {kind}", type_id=type_id)  # pragma: no cover


def _restore_raw(state: dict[str, object]) -> RawBTF:
    raw = RawBTF.__new__(RawBTF)
    for k, v in state.items():
        setattr(raw, k, v)
    return raw


#: The kinds whose record is a name and one type id, by plain int (as read from records).
_REF_CLASSES: Final[dict[int, type[Type]]] = {
    int(Kind.PTR): Pointer, int(Kind.TYPEDEF): Typedef, int(Kind.VOLATILE): Volatile,
    int(Kind.CONST): Const, int(Kind.RESTRICT): Restrict, int(Kind.FUNC): Func,
    int(Kind.TYPE_TAG): TypeTag, int(Kind.VAR): Var, int(Kind.DECL_TAG): DeclTag,
}
