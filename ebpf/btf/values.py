"""Decoding bytes into Python values by BTF type, and encoding them back.

==================================== =====================================================
BTF type                              Python value
==================================== =====================================================
int                                   ``int`` (``bool`` for ``_Bool``)
float                                 ``float``
enum                                  the enumerator's name (``str``), or ``int`` if none
pointer                               ``int`` (the address)
``char[N]``                           ``str`` up to the first NUL (``bytes`` if not UTF-8)
``unsigned char[N]``, ``__u8[N]``     ``bytes``
other arrays                          ``list``
struct, union, datasec                ``dict`` of member name to value; members of anonymous
                                      struct/union members appear at the outer level
typedef, qualifiers, var              the type they name
==================================== =====================================================

:func:`encode` accepts the same shapes, plus ``int`` for enums, ``bytes``/``str`` for any
byte array, and dictionaries that leave members out (they are zero). A union takes the members
given, in order. Bitfields are encoded in place.

Every codec is built once per (type, byte order) and cached.
"""

from __future__ import annotations

import keyword
import struct
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from ebpf.btf.types import (
    Array,
    Composite,
    Datasec,
    Enum,
    Float,
    Int,
    IntEncoding,
    Pointer,
    Type,
    Union,
    Var,
    sizeof,
    underlying,
)
from ebpf.errors import BTFError

__all__ = ["BTFTypeError", "BTFValueError", "Codec", "codec", "decode", "encode",
           "struct_class"]

_NATIVE = "<" if sys.byteorder == "little" else ">"
_Order = Literal["little", "big"]


class _BTFValueProblem(BTFError):
    """What is wrong with a value being encoded, and where in it.

    ``str()`` is ``"<path>: <detail>"``, e.g. ``"hdr.len: 70000 does not fit unsigned short
    (0..65535)"``, or the detail alone when the whole value is at fault.

    Attributes:
        detail: what is wrong, naming the BTF type briefly as C spells it.
        path: where: member names and array indexes from the outermost value, e.g.
            ``("hdr", "len")`` or ``("slots", 3)``; empty for the value itself.
    """

    detail: str
    path: tuple[str | int, ...]

    def __init__(self, message: str, *, path: Sequence[str | int] = (),
                 type_id: int | None = None, offset: int | None = None) -> None:
        self.detail = message
        self.path = tuple(path)
        where = _render_path(self.path)
        super().__init__(f"{where}: {message}" if where else message, type_id=type_id,
                         offset=offset)


class BTFValueError(_BTFValueProblem, ValueError):
    """A value does not fit its BTF type (out of range, too long, unknown name or member)."""


class BTFTypeError(_BTFValueProblem, TypeError):
    """A value has the wrong Python type for its BTF type."""


def _render_path(path: Sequence[str | int]) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else f".{step}" if out else step
    return out


def _within(e: _BTFValueProblem, step: str | int) -> _BTFValueProblem:
    """``e`` as seen from the value that holds the part at fault under ``step``."""
    return type(e)(e.detail, path=(step, *e.path), type_id=e.type_id, offset=e.offset)


def _c(t: Type) -> str:
    """``t`` as C spells it (``unsigned long long``, ``struct event``, ``char [16]``), for
    error messages; its repr if it has no C spelling."""
    from ebpf.btf.format import type_name  # only for an error message

    try:
        return type_name(t)
    except BTFError:
        return repr(t)


Decoder = Callable[[bytes | bytearray | memoryview, int], Any]
Encoder = Callable[[Any, bytearray, int], None]


class Codec:
    """Decodes and encodes values of one type at a byte offset of a buffer.

    Attributes:
        type: the BTF type.
        size: ``sizeof(type)``.
    """

    __slots__ = ("_dec", "_enc", "size", "type")

    def __init__(self, t: Type, size: int, dec: Decoder, enc: Encoder) -> None:
        self.type = t
        self.size = size
        self._dec = dec
        self._enc = enc

    def decode(self, data: bytes | bytearray | memoryview) -> Any:
        """The value in ``data``, which must be exactly ``size`` bytes.

        Raises:
            BTFValueError: ``data`` has the wrong size.
        """
        if len(data) != self.size:
            raise BTFValueError(f"{_c(self.type)} needs {self.size} bytes, got {len(data)}")
        return self._dec(data, 0)

    def encode(self, value: Any) -> bytes:
        """``value`` as ``size`` bytes.

        Raises:
            BTFTypeError: ``value`` (or a part of it) has the wrong Python type.
            BTFValueError: ``value`` (or a part of it) does not fit. For both, ``path`` says
                which part (``hdr.len``, ``slots[3]``) and the message names the C type.
        """
        buf = bytearray(self.size)
        self._enc(value, buf, 0)
        return bytes(buf)

    def decode_from(self, data: bytes | bytearray | memoryview, offset: int) -> Any:
        """The value at ``offset`` of a larger buffer."""
        if offset < 0 or offset + self.size > len(data):
            raise BTFValueError(f"{_c(self.type)} at offset {offset} runs past {len(data)} "
                                "bytes")
        return self._dec(data, offset)

    def encode_into(self, value: Any, buf: bytearray, offset: int) -> None:
        """Write ``value`` at ``offset`` of ``buf``."""
        if offset < 0 or offset + self.size > len(buf):
            raise BTFValueError(f"{_c(self.type)} at offset {offset} runs past {len(buf)} "
                                "bytes")
        self._enc(value, buf, offset)


def _cached(t: Type, key: tuple[str, bool]) -> Codec | None:
    """The codec of ``t`` already built for ``key`` (byte order, classes), if any. Kept on
    the type itself: a cache beside the types would keep every type (and its spec) alive."""
    codecs: dict[tuple[str, bool], Codec] | None = getattr(t, "_codecs", None)
    return codecs.get(key) if codecs is not None else None


def _store(t: Type, key: tuple[str, bool], c: Codec) -> None:
    codecs: dict[tuple[str, bool], Codec] | None = getattr(t, "_codecs", None)
    if codecs is None:
        codecs = {}
        t._codecs = codecs  # type: ignore[attr-defined]
    codecs[key] = c


def codec(t: Type, byte_order: str = _NATIVE, *, classes: bool = False) -> Codec:
    """The (cached) codec for values of type ``t`` in ``byte_order`` (``"<"`` or ``">"``).

    With ``classes``, structs and unions decode to instances of generated dataclasses (see
    :func:`struct_class`) instead of dicts; encoding accepts both.

    Raises:
        BTFError: values of ``t`` cannot be represented (void, functions, forward
            declarations).
    """
    if byte_order not in ("<", ">"):
        raise ValueError(f"byte order must be '<' or '>', not {byte_order!r}")
    c = _cached(t, (byte_order, classes))
    if c is None:
        c = _build(t, byte_order, 0, classes)
    return c


def decode(t: Type, data: bytes | bytearray | memoryview, *, byte_order: str = _NATIVE,
           classes: bool = False) -> Any:
    """Decode ``data`` (exactly ``sizeof(t)`` bytes) as a value of type ``t``."""
    return codec(t, byte_order, classes=classes).decode(data)


def encode(t: Type, value: Any, *, byte_order: str = _NATIVE) -> bytes:
    """Encode ``value`` as ``sizeof(t)`` bytes of type ``t``."""
    return codec(t, byte_order).encode(value)


# ---- building codecs


def _build(t: Type, order: str, depth: int, classes: bool = False) -> Codec:
    """The codec of ``t``, from the cache or built (and cached) now. Every type a codec is
    made of gets its own codec once, shared by all the codecs that use it, so building costs
    time linear in the number of types, however often each is used."""
    c = _cached(t, (order, classes))
    if c is None:
        c = _build_new(t, order, depth, classes)
        _store(t, (order, classes), c)
    return c


def _build_new(t: Type, order: str, depth: int, classes: bool) -> Codec:
    if depth > 64:
        raise BTFError(f"type {t!r} nests too deeply to decode")
    u = underlying(t)
    if isinstance(u, Var):
        return _build(u.type, order, depth + 1, classes)
    if isinstance(u, Int):
        return _int_codec(u, order)
    if isinstance(u, Float):
        fmt = {2: "e", 4: "f", 8: "d"}.get(u.size)
        if fmt is None:
            return _raw_codec(u, u.size)
        return _struct_codec(u, struct.Struct(order + fmt), float, "a float")
    if isinstance(u, Enum):
        return _enum_codec(u, order)
    if isinstance(u, Pointer):
        return _struct_codec(u, struct.Struct(order + "Q"), int, "an int (address)")
    if isinstance(u, Array):
        return _array_codec(u, order, depth, classes)
    if isinstance(u, (Composite, Datasec)):
        return _composite_codec(u, order, depth, classes)
    raise BTFError(f"values of {u!r} cannot be decoded")


def _check_int(v: Any, what: Type) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, bool):
            return int(v)
        raise BTFTypeError(f"{_c(what)} needs an int, not {type(v).__name__}")
    return v


def _int_codec(t: Int, order: str) -> Codec:
    size = t.size
    if size not in (1, 2, 4, 8, 16):
        raise BTFError(f"{t!r}: integers of {size} bytes cannot be decoded")
    signed = bool(t.encoding & IntEncoding.SIGNED)
    is_bool = bool(t.encoding & IntEncoding.BOOL)
    bits = t.bits if 0 < t.bits <= 8 * size else 8 * size
    lo = -(1 << (bits - 1)) if signed else 0
    hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    fmt = {1: "b", 2: "h", 4: "i", 8: "q"}.get(size)
    byteorder: _Order = "little" if order == "<" else "big"
    st = struct.Struct(order + (fmt if signed else fmt.upper())) if fmt else None

    if st is not None and t.offset == 0 and bits == 8 * size:
        unpack = st.unpack_from

        def dec(data: bytes | bytearray | memoryview, off: int) -> Any:
            v = unpack(data, off)[0]
            return bool(v) if is_bool else v
    else:
        def dec(data: bytes | bytearray | memoryview, off: int) -> Any:
            raw = int.from_bytes(data[off:off + size], byteorder)
            v = raw >> t.offset & ((1 << bits) - 1)
            if signed and v >> (bits - 1):
                v -= 1 << bits
            return bool(v) if is_bool else v

    def enc(value: Any, buf: bytearray, off: int) -> None:
        v = _check_int(value, t)
        if not lo <= v <= hi:
            raise BTFValueError(f"{v} does not fit {_c(t)} ({lo}..{hi})")
        buf[off:off + size] = ((v & ((1 << bits) - 1)) << t.offset).to_bytes(size, byteorder)

    return Codec(t, size, dec, enc)


def _struct_codec(t: Type, st: struct.Struct, pytype: type, what: str) -> Codec:
    unpack, pack = st.unpack_from, st.pack_into

    def dec(data: bytes | bytearray | memoryview, off: int) -> Any:
        return unpack(data, off)[0]

    def enc(value: Any, buf: bytearray, off: int) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float) if pytype is float
                                                     else int):
            raise BTFTypeError(f"{_c(t)} needs {what}, not {type(value).__name__}")
        try:
            pack(buf, off, value)
        except (struct.error, OverflowError) as e:
            raise BTFValueError(f"{value!r} does not fit {_c(t)}: {e}") from None

    return Codec(t, st.size, dec, enc)


def _raw_codec(t: Type, size: int) -> Codec:
    def dec(data: bytes | bytearray | memoryview, off: int) -> Any:
        return bytes(data[off:off + size])

    def enc(value: Any, buf: bytearray, off: int) -> None:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise BTFTypeError(f"{_c(t)} needs bytes, not {type(value).__name__}")
        if len(value) != size:
            raise BTFValueError(f"{_c(t)} needs {size} bytes, got {len(value)}")
        buf[off:off + size] = value

    return Codec(t, size, dec, enc)


def _enum_codec(t: Enum, order: str) -> Codec:
    size = t.size
    if size not in (1, 2, 4, 8):
        raise BTFError(f"{t!r}: enums of {size} bytes cannot be decoded")
    byteorder: _Order = "little" if order == "<" else "big"
    names: dict[int, str] = {}
    for v in t.values:
        names.setdefault(v.value & ((1 << (8 * size)) - 1), v.name)
    values = {v.name: v.value for v in t.values}
    signed = t.signed

    def dec(data: bytes | bytearray | memoryview, off: int) -> Any:
        raw = int.from_bytes(data[off:off + size], byteorder)
        name = names.get(raw)
        if name is not None:
            return name
        if signed and raw >> (8 * size - 1):
            raw -= 1 << (8 * size)
        return raw

    def enc(value: Any, buf: bytearray, off: int) -> None:
        if isinstance(value, str):
            if value not in values:
                raise BTFValueError(f"{value!r} is not an enumerator of {_c(t)}")
            v = values[value]
        else:
            v = _check_int(value, t)
        if not -(1 << (8 * size - 1)) <= v < (1 << (8 * size)):
            raise BTFValueError(f"{v} does not fit {_c(t)}")
        buf[off:off + size] = (v & ((1 << (8 * size)) - 1)).to_bytes(size, byteorder)

    return Codec(t, size, dec, enc)


def _is_byte(t: Type) -> tuple[bool, bool]:
    """(is a one-byte integer, is a C ``char``)."""
    u = underlying(t)
    if isinstance(u, Int) and u.size == 1 and not u.encoding & IntEncoding.BOOL:
        is_char = bool(u.encoding & IntEncoding.CHAR) or u.name == "char"
        return True, is_char
    return False, False


def _array_codec(t: Array, order: str, depth: int, classes: bool) -> Codec:
    n = t.nelems
    size = sizeof(t)
    byte, is_char = _is_byte(t.type)
    if byte:
        def dec_bytes(data: bytes | bytearray | memoryview, off: int) -> Any:
            raw = bytes(data[off:off + size])
            if not is_char:
                return raw
            text = raw.split(b"\0", 1)[0]
            try:
                return text.decode()
            except UnicodeDecodeError:
                return raw

        def enc_bytes(value: Any, buf: bytearray, off: int) -> None:
            if isinstance(value, str):
                value = value.encode()
            elif isinstance(value, (list, tuple)):
                value = bytes(value)
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise BTFTypeError(f"{_c(t)} needs bytes or str, not {type(value).__name__}")
            if len(value) > size:
                raise BTFValueError(f"{len(value)} bytes do not fit {_c(t)} ({size} bytes)")
            buf[off:off + size] = bytes(value) + b"\0" * (size - len(value))

        return Codec(t, size, dec_bytes, enc_bytes)

    elem = _build(t.type, order, depth + 1, classes)
    esize = elem.size
    edec, eenc = elem._dec, elem._enc

    def dec(data: bytes | bytearray | memoryview, off: int) -> Any:
        return [edec(data, off + i * esize) for i in range(n)]

    def enc(value: Any, buf: bytearray, off: int) -> None:
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
            raise BTFTypeError(f"{_c(t)} needs a sequence, not {type(value).__name__}")
        if len(value) > n:
            raise BTFValueError(f"{len(value)} elements do not fit {_c(t)} ({n})")
        for i, v in enumerate(value):
            try:
                eenc(v, buf, off + i * esize)
            except _BTFValueProblem as e:
                raise _within(e, i) from None

    return Codec(t, size, dec, enc)


def _bitfield(name: str, mtype: Type, bit_off: int, width: int, order: str
              ) -> tuple[Decoder, Encoder]:
    u = underlying(mtype)
    names: dict[int, str] = {}
    values: dict[str, int] = {}
    if isinstance(u, Enum):
        signed = u.signed
        names = {v.value & ((1 << width) - 1): v.name for v in reversed(u.values)}
        values = {v.name: v.value for v in u.values}
    elif isinstance(u, Int):
        signed = bool(u.encoding & IntEncoding.SIGNED)
    else:
        raise BTFError(f"bitfield {name!r} has type {u!r}")
    is_bool = isinstance(u, Int) and bool(u.encoding & IntEncoding.BOOL)
    first = bit_off // 8
    nbytes = (bit_off % 8 + width + 7) // 8
    mask = (1 << width) - 1
    byteorder: _Order = "little" if order == "<" else "big"
    shift = bit_off % 8 if order == "<" else nbytes * 8 - bit_off % 8 - width

    def dec(data: bytes | bytearray | memoryview, off: int) -> Any:
        raw = int.from_bytes(data[off + first:off + first + nbytes], byteorder)
        v = raw >> shift & mask
        if names and v in names:
            return names[v]
        if signed and v >> (width - 1):
            v -= 1 << width
        return bool(v) if is_bool else v

    def enc(value: Any, buf: bytearray, off: int) -> None:
        if isinstance(value, str) and values:
            if value not in values:
                raise BTFValueError(f"{value!r} is not an enumerator of {_c(u)}")
            v = values[value]
        else:
            v = _check_int(value, mtype)
        lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, mask)
        if not lo <= v <= hi:
            raise BTFValueError(f"{v} does not fit the {width}-bit field {name!r} "
                                f"({_c(mtype)})")
        start = off + first
        raw = int.from_bytes(buf[start:start + nbytes], byteorder)
        raw = raw & ~(mask << shift) | (v & mask) << shift
        buf[start:start + nbytes] = raw.to_bytes(nbytes, byteorder)

    return dec, enc


def _composite_codec(t: Composite | Datasec, order: str, depth: int, classes: bool) -> Codec:
    size = t.size
    fields: list[tuple[str, Decoder, Encoder]] = []
    by_name: dict[str, Encoder] = {}
    inside: list[Type] = [t]  # the anonymous members being flattened, outermost first
    flattened: dict[Type, int] = {}  # anonymous member types done: how many fields each gave

    def add(members: Sequence[tuple[str, Type, int, int]], base_bits: int) -> None:
        for name, mtype, moff, width in members:
            bit = base_bits + moff
            inner = underlying(mtype)
            if not name and isinstance(inner, Composite):
                # Anonymous struct/union member: its fields belong to the outer value.
                if _flattened_again(flattened, inner, t):
                    continue
                _enter_anonymous(inside, inner, t)
                before = len(fields)
                add([(m.name, m.type, m.offset, m.bitfield_size) for m in inner.members], bit)
                inside.pop()
                flattened[inner] = len(fields) - before
                continue
            if not name:
                continue
            if name in by_name:
                raise BTFError(f"{t!r} has several members named {name}")
            if width:
                dec, enc = _bitfield(name, mtype, bit, width, order)
            else:
                if bit % 8:
                    raise BTFError(f"member {name!r} of {t!r} is not byte aligned")
                c = _build(mtype, order, depth + 1, classes)
                byte = bit // 8
                if byte + c.size > size:
                    raise BTFError(f"member {name!r} of {t!r} runs past its end")
                dec, enc = _at(c._dec, byte), _at_enc(c._enc, byte)
            fields.append((name, dec, enc))
            by_name[name] = enc

    if isinstance(t, Datasec):
        add([(vs.type.name, vs.type, vs.offset * 8, 0) for vs in t.vars], 0)
    else:
        add([(m.name, m.type, m.offset, m.bitfield_size) for m in t.members], 0)
    decs = [(name, dec) for name, dec, _ in fields]
    is_union = isinstance(t, Union)

    if classes:
        cls = struct_class(t)
        attrs = [(_field_name(name), d) for name, d in decs]

        def dec(data: bytes | bytearray | memoryview, off: int) -> Any:
            obj: Any = object.__new__(cls)
            for attr, d in attrs:
                object.__setattr__(obj, attr, d(data, off))
            return obj
    else:
        def dec(data: bytes | bytearray | memoryview, off: int) -> Any:
            return {name: d(data, off) for name, d in decs}

    def enc(value: Any, buf: bytearray, off: int) -> None:
        if hasattr(type(value), "__dataclass_fields__") and not isinstance(value, type):
            # A generated class (or any dataclass): unset (None) fields stay zero. (The test
            # is dataclasses.is_dataclass's, without importing dataclasses for every codec.)
            import dataclasses

            value = {f.metadata.get("btf_name", f.name): getattr(value, f.name)
                     for f in dataclasses.fields(value) if getattr(value, f.name) is not None}
        if not isinstance(value, Mapping):
            raise BTFTypeError(f"{_c(t)} needs a mapping of member names, "
                               f"not {type(value).__name__}")
        for name, v in value.items():
            e = by_name.get(name)
            if e is None:
                raise BTFValueError(f"{_c(t)} has no member {name!r}")
            if is_union and len(value) > 1:
                pass  # several views of a union: applied in order, last wins where they overlap
            try:
                e(v, buf, off)
            except _BTFValueProblem as err:
                raise _within(err, name) from None

    return Codec(t, size, dec, enc)


#: How deeply anonymous struct/union members may nest inside one another.
_MAX_ANONYMOUS_DEPTH = 64


def _enter_anonymous(inside: list[Type], inner: Composite, outer: Type) -> None:
    """Push ``inner``, an anonymous member being flattened into ``outer``.

    Raises:
        BTFError: ``inner`` is already being flattened (it contains itself, which only
            malformed BTF can say), or anonymous members nest too deeply.
    """
    if any(x is inner for x in inside):
        raise BTFError(f"{outer!r}: anonymous member {inner!r} contains itself")
    if len(inside) > _MAX_ANONYMOUS_DEPTH:
        raise BTFError(f"{outer!r}: anonymous members nest more than "
                       f"{_MAX_ANONYMOUS_DEPTH} deep")
    inside.append(inner)


def _flattened_again(flattened: dict[Type, int], inner: Composite, outer: Type) -> bool:
    """Whether anonymous member type ``inner`` was flattened into ``outer`` already and gave
    no fields (nothing to do again; cheap however often it recurs).

    Raises:
        BTFError: it gave fields, which it would give again under the same names.
    """
    done = flattened.get(inner)
    if done is None:
        return False
    if done:
        raise BTFError(f"{outer!r} has several members named as those of {inner!r}")
    return True


def _field_name(name: str) -> str:
    return name + "_" if keyword.iskeyword(name) else name


def struct_class(t: Composite | Datasec) -> type:
    """A dataclass (generated once per type) with one field per member of ``t``.

    Members of anonymous struct/union members are fields of their own; names that are Python
    keywords get a trailing ``_``. Fields default to None, meaning "leave zero" on encoding.
    """
    cls: type | None = getattr(t, "_pyclass", None)  # kept on the type, as codecs are
    if cls is not None:
        return cls
    names: list[str] = []
    inside: list[Type] = [t]
    flattened: dict[Type, int] = {}
    taken: set[str] = set()

    def add(members: Sequence[tuple[str, Type]]) -> None:
        for name, mtype in members:
            inner = underlying(mtype)
            if not name and isinstance(inner, Composite):
                if _flattened_again(flattened, inner, t):
                    continue
                _enter_anonymous(inside, inner, t)
                before = len(names)
                add([(m.name, m.type) for m in inner.members])
                inside.pop()
                flattened[inner] = len(names) - before
            elif name:
                if name in taken:
                    raise BTFError(f"{t!r} has several members named {name}")
                taken.add(name)
                names.append(name)

    if isinstance(t, Datasec):
        add([(vs.type.name, vs.type) for vs in t.vars])
    else:
        add([(m.name, m.type) for m in t.members])
    base = t.name.lstrip(".") or f"anon_{t.kind.name.lower()}"
    clsname = "".join(c if c.isalnum() else "_" for c in base)
    if clsname[0].isdigit():
        clsname = "_" + clsname
    import dataclasses

    fields = [(_field_name(n), Any, dataclasses.field(default=None, metadata={"btf_name": n}))
              for n in names]
    cls = dataclasses.make_dataclass(clsname, fields, repr=True, eq=True)
    cls.__doc__ = f"Values of BTF {t.kind.name.lower()} {t.name!r} ({t.size} bytes)."
    t._pyclass = cls  # type: ignore[union-attr]
    return cls


def _at(d: Decoder, byte: int) -> Decoder:
    return lambda data, off: d(data, off + byte)


def _at_enc(e: Encoder, byte: int) -> Encoder:
    return lambda value, buf, off: e(value, buf, off + byte)
