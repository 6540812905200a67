"""The BTF type model: one class per kind the kernel defines.

A type graph is made of plain Python objects. Types reference each other directly (a
:class:`Pointer` holds its ``target`` type, a :class:`Member` its ``type``), so graphs may be
cyclic; compare types by identity. Types decoded from a :class:`~ebpf.btf.Spec` resolve their
references lazily, on first access, which keeps opening vmlinux cheap.

The numeric constants follow the UAPI header ``linux/btf.h``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from enum import IntEnum, IntFlag
from typing import ClassVar, Final, overload

from ebpf.errors import BTFError

__all__ = [
    "Array", "Composite", "Const", "Datasec", "DeclTag", "Enum", "Enum64", "EnumValue",
    "Float", "Func", "FuncLinkage", "FuncParam", "FuncProto", "Fwd", "FwdKind", "Int",
    "IntEncoding", "Kind", "Member", "Pointer", "Qualifier", "Restrict", "Struct", "Type",
    "TypeTag", "Typedef", "Union", "Var", "VarLinkage", "VarSecinfo", "Void", "Volatile",
    "alignof", "copy_types", "sizeof", "skip_qualifiers", "underlying", "walk_types",
]

#: How many typedefs/qualifiers/arrays are followed before a chain is declared a loop.
MAX_RESOLVE_DEPTH: Final = 32

#: Size of a pointer on every BPF target.
POINTER_SIZE: Final = 8


class Kind(IntEnum):
    """BTF kinds (``BTF_KIND_*``)."""

    UNKN = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


class IntEncoding(IntFlag):
    """Encoding bits of a BTF ``INT`` (``BTF_INT_SIGNED`` and friends)."""

    NONE = 0
    SIGNED = 1
    CHAR = 2
    BOOL = 4


class FuncLinkage(IntEnum):
    """Linkage of a ``FUNC`` (``BTF_FUNC_STATIC`` ...)."""

    STATIC = 0
    GLOBAL = 1
    EXTERN = 2


class VarLinkage(IntEnum):
    """Linkage of a ``VAR`` (``BTF_VAR_STATIC`` ...)."""

    STATIC = 0
    GLOBAL = 1  # "global-alloc" in bpftool's words
    EXTERN = 2


class FwdKind(IntEnum):
    """What a forward declaration declares."""

    STRUCT = 0
    UNION = 1


Resolver = Callable[[int], "Type"]


class _Ref:
    """Descriptor for a reference to another type, resolved lazily from a type id.

    The value is kept in the slot named ``_<name>``. While it holds an ``int`` it is the id of a
    type of the spec the owner was decoded from, resolved through the owner's ``_res``.
    """

    __slots__ = ("slot",)

    def __init__(self) -> None:
        self.slot = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _Ref: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> Type: ...

    def __get__(self, obj: object | None, owner: type | None = None) -> Type | _Ref:
        if obj is None:
            return self
        value = getattr(obj, self.slot)
        if value.__class__ is int:
            value = obj._res(value)  # type: ignore[attr-defined]
            setattr(obj, self.slot, value)
        return value  # type: ignore[no-any-return]

    def __set__(self, obj: object, value: Type) -> None:
        if not isinstance(value, Type):
            raise TypeError(f"expected a btf.Type, got {value!r}")
        setattr(obj, self.slot, value)


def _no_resolver(type_id: int) -> Type:  # pragma: no cover - only reached through misuse
    raise BTFError("unresolved type reference", type_id=type_id)


def _show(name: str) -> str:
    return repr(name) if name else "'(anon)'"


def _brief(t: Type) -> str:
    """A short description of ``t`` for use inside another type's text."""
    return f"{t.kind.name} {_show(t.name)}" if not isinstance(t, Void) else "void"


class Type:
    """Base class of every BTF type.

    Attributes:
        name: the type's name, ``""`` for anonymous types.
    """

    # _codecs and _pyclass: what ebpf.btf.values built for the type, kept on it (a cache
    # beside the types would keep every type, and its spec, alive).
    __slots__ = ("__weakref__", "_codecs", "_pyclass", "_res", "name")
    kind: ClassVar[Kind]

    name: str

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._res: Resolver = _no_resolver

    def references(self) -> Iterator[Type]:
        """The types this type refers to directly."""
        return iter(())

    def _fields(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self._fields()
        return f"<{type(self).__name__} {_show(self.name)}{' ' + extra if extra else ''}>"

    def __str__(self) -> str:
        extra = self._fields()
        return f"{self.kind.name} {_show(self.name)}{' ' + extra if extra else ''}"


class Void(Type):
    """The ``void`` type, type id 0. Also the target of ``void *``."""

    __slots__ = ()
    kind = Kind.UNKN

    def __init__(self) -> None:
        super().__init__("")

    def __repr__(self) -> str:
        return "<Void>"

    def __str__(self) -> str:
        return "void"


class Int(Type):
    """An integer, a ``char`` or a ``bool``.

    Attributes:
        size: size in bytes.
        encoding: :class:`IntEncoding` flags.
        bits: number of value bits (``nr_bits``), normally ``8 * size``.
        offset: bit offset of the value inside the storage (``bits_offset``), normally 0.
    """

    __slots__ = ("bits", "encoding", "offset", "size")
    kind = Kind.INT

    def __init__(self, name: str, size: int, encoding: IntEncoding = IntEncoding.NONE, *,
                 bits: int | None = None, offset: int = 0) -> None:
        super().__init__(name)
        self.size = size
        self.encoding = IntEncoding(encoding)
        self.bits = size * 8 if bits is None else bits
        self.offset = offset

    @property
    def signed(self) -> bool:
        """Whether the integer is signed."""
        return bool(self.encoding & IntEncoding.SIGNED)

    def _fields(self) -> str:
        enc = self.encoding
        names = [n for n, f in (("SIGNED", IntEncoding.SIGNED), ("CHAR", IntEncoding.CHAR),
                                ("BOOL", IntEncoding.BOOL)) if enc & f]
        return (f"size={self.size} bits_offset={self.offset} nr_bits={self.bits} "
                f"encoding={'|'.join(names) if names else '(none)'}")


class Pointer(Type):
    """A pointer to ``target`` (``void *`` points at :class:`Void`)."""

    __slots__ = ("_target",)
    kind = Kind.PTR
    target = _Ref()
    _target: Type | int

    def __init__(self, target: Type, name: str = "") -> None:
        super().__init__(name)
        self.target = target

    def references(self) -> Iterator[Type]:
        yield self.target

    def _fields(self) -> str:
        return f"target=({_brief(self.target)})"


class Array(Type):
    """An array of ``nelems`` elements of ``type``, indexed by ``index`` (an :class:`Int`)."""

    __slots__ = ("_index", "_type", "nelems")
    kind = Kind.ARRAY
    type = _Ref()
    index = _Ref()
    _type: Type | int
    _index: Type | int

    def __init__(self, type: Type, nelems: int, index: Type | None = None) -> None:
        super().__init__("")
        self.type = type
        self.index = index if index is not None else Int("int", 4, IntEncoding.SIGNED)
        self.nelems = nelems

    def references(self) -> Iterator[Type]:
        yield self.type
        yield self.index

    def _fields(self) -> str:
        return f"type=({_brief(self.type)}) nr_elems={self.nelems}"


class Member:
    """A member of a struct or union.

    Attributes:
        name: the member's name, ``""`` for an anonymous struct/union member.
        type: the member's type.
        offset: offset from the start of the enclosing type, in bits.
        bitfield_size: width in bits if the member is a bitfield, else 0.
    """

    __slots__ = ("_res", "_type", "bitfield_size", "name", "offset")
    type = _Ref()
    _type: Type | int

    def __init__(self, name: str, type: Type, offset: int = 0, bitfield_size: int = 0) -> None:
        self.name = name
        self.type = type
        self.offset = offset
        self.bitfield_size = bitfield_size
        self._res: Resolver = _no_resolver

    def __repr__(self) -> str:
        bf = f" bitfield_size={self.bitfield_size}" if self.bitfield_size else ""
        return f"<Member {_show(self.name)} ({_brief(self.type)}) bits_offset={self.offset}{bf}>"


class Composite(Type):
    """Common base of :class:`Struct` and :class:`Union`."""

    __slots__ = ("members", "size")

    def __init__(self, name: str, size: int, members: Sequence[Member] = ()) -> None:
        super().__init__(name)
        self.size = size
        self.members: list[Member] = list(members)

    def references(self) -> Iterator[Type]:
        for m in self.members:
            yield m.type

    def member(self, name: str) -> Member:
        """The member called ``name``; raises ``KeyError`` if there is none."""
        for m in self.members:
            if m.name == name:
                return m
        raise KeyError(name)

    def _fields(self) -> str:
        return f"size={self.size} vlen={len(self.members)}"


class Struct(Composite):
    """A ``struct``."""

    __slots__ = ()
    kind = Kind.STRUCT


class Union(Composite):
    """A ``union``."""

    __slots__ = ()
    kind = Kind.UNION


class EnumValue:
    """One enumerator: ``name`` and integer ``value``."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: int) -> None:
        self.name = name
        self.value = value

    def __repr__(self) -> str:
        return f"<EnumValue {self.name!r}={self.value}>"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, EnumValue) and other.name == self.name
                and other.value == self.value)

    def __hash__(self) -> int:
        return hash((self.name, self.value))


class Enum(Type):
    """An enumeration of ``size`` bytes (``BTF_KIND_ENUM``, values fit in 32 bits).

    Attributes:
        size: size in bytes.
        signed: whether values are signed (the kind_flag of the BTF record).
        values: the enumerators.
    """

    __slots__ = ("signed", "size", "values")
    kind = Kind.ENUM

    def __init__(self, name: str, size: int = 4, values: Sequence[EnumValue] = (), *,
                 signed: bool = False) -> None:
        super().__init__(name)
        self.size = size
        self.signed = signed
        self.values: list[EnumValue] = list(values)

    def value_name(self, value: int) -> str | None:
        """The name of the first enumerator whose value is ``value``, or None."""
        for v in self.values:
            if v.value == value:
                return v.name
        return None

    def _fields(self) -> str:
        return (f"encoding={'SIGNED' if self.signed else 'UNSIGNED'} size={self.size} "
                f"vlen={len(self.values)}")


class Enum64(Enum):
    """An enumeration with 64-bit values (``BTF_KIND_ENUM64``)."""

    __slots__ = ()
    kind = Kind.ENUM64

    def __init__(self, name: str, size: int = 8, values: Sequence[EnumValue] = (), *,
                 signed: bool = False) -> None:
        super().__init__(name, size, values, signed=signed)


class Fwd(Type):
    """A forward declaration of a struct or union."""

    __slots__ = ("fwd_kind",)
    kind = Kind.FWD

    def __init__(self, name: str, fwd_kind: FwdKind = FwdKind.STRUCT) -> None:
        super().__init__(name)
        self.fwd_kind = FwdKind(fwd_kind)

    def _fields(self) -> str:
        return f"fwd_kind={self.fwd_kind.name.lower()}"


class Typedef(Type):
    """A ``typedef`` naming ``type``."""

    __slots__ = ("_type",)
    kind = Kind.TYPEDEF
    type = _Ref()
    _type: Type | int

    def __init__(self, name: str, type: Type) -> None:
        super().__init__(name)
        self.type = type

    def references(self) -> Iterator[Type]:
        yield self.type

    def _fields(self) -> str:
        return f"type=({_brief(self.type)})"


class Qualifier(Type):
    """Common base of :class:`Const`, :class:`Volatile`, :class:`Restrict` and :class:`TypeTag`."""

    __slots__ = ("_type",)
    type = _Ref()
    _type: Type | int

    def __init__(self, type: Type) -> None:
        super().__init__("")
        self.type = type

    def references(self) -> Iterator[Type]:
        yield self.type

    def _fields(self) -> str:
        return f"type=({_brief(self.type)})"


class Volatile(Qualifier):
    """``volatile``."""

    __slots__ = ()
    kind = Kind.VOLATILE


class Const(Qualifier):
    """``const``."""

    __slots__ = ()
    kind = Kind.CONST


class Restrict(Qualifier):
    """``restrict``."""

    __slots__ = ()
    kind = Kind.RESTRICT


class TypeTag(Qualifier):
    """``__attribute__((btf_type_tag(value)))`` on ``type``; ``name`` holds the tag's value."""

    __slots__ = ()
    kind = Kind.TYPE_TAG

    def __init__(self, value: str, type: Type) -> None:
        super().__init__(type)
        self.name = value

    @property
    def value(self) -> str:
        """The tag's text."""
        return self.name


class FuncParam:
    """A parameter of a :class:`FuncProto`; a trailing unnamed :class:`Void` means ``...``."""

    __slots__ = ("_res", "_type", "name")
    type = _Ref()
    _type: Type | int

    def __init__(self, name: str, type: Type) -> None:
        self.name = name
        self.type = type
        self._res: Resolver = _no_resolver

    def __repr__(self) -> str:
        return f"<FuncParam {_show(self.name)} ({_brief(self.type)})>"


class FuncProto(Type):
    """A function signature: ``return_type`` and ``params``."""

    __slots__ = ("_return_type", "params")
    kind = Kind.FUNC_PROTO
    return_type = _Ref()
    _return_type: Type | int

    def __init__(self, return_type: Type, params: Sequence[FuncParam] = ()) -> None:
        super().__init__("")
        self.return_type = return_type
        self.params: list[FuncParam] = list(params)

    @property
    def variadic(self) -> bool:
        """Whether the function takes ``...`` (a last parameter that is an unnamed void)."""
        return bool(self.params) and not self.params[-1].name and isinstance(
            self.params[-1].type, Void)

    def references(self) -> Iterator[Type]:
        yield self.return_type
        for p in self.params:
            yield p.type

    def _fields(self) -> str:
        return f"ret=({_brief(self.return_type)}) vlen={len(self.params)}"


class Func(Type):
    """A function: ``name``, its :class:`FuncProto` ``type`` and its ``linkage``."""

    __slots__ = ("_type", "linkage")
    kind = Kind.FUNC
    type = _Ref()
    _type: Type | int

    def __init__(self, name: str, type: Type, linkage: FuncLinkage = FuncLinkage.STATIC) -> None:
        super().__init__(name)
        self.type = type
        self.linkage = FuncLinkage(linkage)

    @property
    def proto(self) -> FuncProto:
        """The function's prototype."""
        t = self.type
        if not isinstance(t, FuncProto):
            raise BTFError(f"function {self.name!r} has a {t.kind.name}, not a FUNC_PROTO")
        return t

    def references(self) -> Iterator[Type]:
        yield self.type

    def _fields(self) -> str:
        return f"linkage={self.linkage.name.lower()}"


class Var(Type):
    """A global variable: ``name``, ``type`` and ``linkage``."""

    __slots__ = ("_type", "linkage")
    kind = Kind.VAR
    type = _Ref()
    _type: Type | int

    def __init__(self, name: str, type: Type, linkage: VarLinkage = VarLinkage.STATIC) -> None:
        super().__init__(name)
        self.type = type
        self.linkage = VarLinkage(linkage)

    def references(self) -> Iterator[Type]:
        yield self.type

    def _fields(self) -> str:
        return f"type=({_brief(self.type)}) linkage={self.linkage.name.lower()}"


class VarSecinfo:
    """A variable placed in a :class:`Datasec`: ``type`` (a Var or Func), ``offset``, ``size``."""

    __slots__ = ("_res", "_type", "offset", "size")
    type = _Ref()
    _type: Type | int

    def __init__(self, type: Type, offset: int, size: int) -> None:
        self.type = type
        self.offset = offset
        self.size = size
        self._res: Resolver = _no_resolver

    def __repr__(self) -> str:
        return f"<VarSecinfo ({_brief(self.type)}) offset={self.offset} size={self.size}>"


class Datasec(Type):
    """An ELF data section (``.data``, ``.bss``, ``.maps`` ...) and the variables in it."""

    __slots__ = ("size", "vars")
    kind = Kind.DATASEC

    def __init__(self, name: str, size: int = 0, vars: Sequence[VarSecinfo] = ()) -> None:
        super().__init__(name)
        self.size = size
        self.vars: list[VarSecinfo] = list(vars)

    def references(self) -> Iterator[Type]:
        for v in self.vars:
            yield v.type

    def _fields(self) -> str:
        return f"size={self.size} vlen={len(self.vars)}"


class Float(Type):
    """A floating point type of ``size`` bytes."""

    __slots__ = ("size",)
    kind = Kind.FLOAT

    def __init__(self, name: str, size: int) -> None:
        super().__init__(name)
        self.size = size

    def _fields(self) -> str:
        return f"size={self.size}"


class DeclTag(Type):
    """``__attribute__((btf_decl_tag(value)))`` on ``type``.

    ``component_idx`` is -1 for the declaration itself, else the index of the member or
    parameter the tag is attached to. ``name`` holds the tag's value.
    """

    __slots__ = ("_type", "component_idx")
    kind = Kind.DECL_TAG
    type = _Ref()
    _type: Type | int

    def __init__(self, value: str, type: Type, component_idx: int = -1) -> None:
        super().__init__(value)
        self.type = type
        self.component_idx = component_idx

    @property
    def value(self) -> str:
        """The tag's text."""
        return self.name

    def references(self) -> Iterator[Type]:
        yield self.type

    def _fields(self) -> str:
        return f"type=({_brief(self.type)}) component_idx={self.component_idx}"


_SKIP_QUALIFIERS = (Const, Volatile, Restrict, TypeTag)
_SKIP_UNDERLYING = (Const, Volatile, Restrict, TypeTag, Typedef)


def skip_qualifiers(t: Type) -> Type:
    """Follow ``const``, ``volatile``, ``restrict`` and type tags down to the qualified type.

    Raises:
        BTFError: the chain is longer than :data:`MAX_RESOLVE_DEPTH` (a loop).
    """
    for _ in range(MAX_RESOLVE_DEPTH):
        if not isinstance(t, _SKIP_QUALIFIERS):
            return t
        t = t.type
    raise BTFError(f"qualifier chain of {t!r} is too long (a loop?)")


def underlying(t: Type) -> Type:
    """Follow typedefs, qualifiers and type tags down to the type they name.

    Raises:
        BTFError: the chain is longer than :data:`MAX_RESOLVE_DEPTH` (a loop).
    """
    for _ in range(MAX_RESOLVE_DEPTH):
        if not isinstance(t, _SKIP_UNDERLYING):
            return t
        t = t.type
    raise BTFError(f"typedef/qualifier chain of {t!r} is too long (a loop?)")


def sizeof(t: Type) -> int:
    """The size in bytes of a value of type ``t``.

    Raises:
        BTFError: ``t`` has no size (a function, a forward declaration, void) or is a loop.
    """
    n = 1
    for _ in range(MAX_RESOLVE_DEPTH):
        if isinstance(t, (Int, Enum, Composite, Datasec, Float)):
            return n * t.size
        if isinstance(t, Pointer):
            return n * POINTER_SIZE
        if isinstance(t, Array):
            n *= t.nelems
            t = t.type
        elif isinstance(t, (Typedef, Qualifier, Var)):
            t = t.type
        else:
            raise BTFError(f"{_brief(t)} has no size")
    raise BTFError(f"type {t!r} nests too deeply (a loop?)")


def alignof(t: Type, *, memo: dict[Type, int] | None = None) -> int:
    """The alignment in bytes of ``t``, as the C compiler for the BPF target lays it out.

    A packed struct (one whose members are not at their natural alignment) reports 1.
    Each struct and union is worked out once, however often it is used by value, so the
    cost is linear in the number of types.

    Args:
        memo: alignments already worked out, by type, filled in by this call: pass the same
            dict to several calls on types that do not change in between (as the C formatter
            does) to work each type out once for all of them.

    Raises:
        BTFError: ``t`` has no size, or its definition loops.
    """
    return _alignof(t, 0, {} if memo is None else memo)


def _alignof(t: Type, depth: int, memo: dict[Type, int]) -> int:
    if depth > MAX_RESOLVE_DEPTH:
        raise BTFError(f"type {t!r} nests too deeply (a loop?)")
    t = underlying(t)
    if isinstance(t, (Int, Float, Enum)):
        return max(1, min(t.size, 8))
    if isinstance(t, Pointer):
        return POINTER_SIZE
    if isinstance(t, Array):
        return _alignof(t.type, depth + 1, memo)
    if isinstance(t, Var):
        return _alignof(t.type, depth + 1, memo)
    if isinstance(t, Composite):
        got = memo.get(t)
        if got is not None:
            if got:
                return got
            raise BTFError(f"{_brief(t)} contains itself (a loop)")
        memo[t] = 0  # in progress
        try:
            align = _composite_align(t, depth, memo)
        except BaseException:
            del memo[t]
            raise
        memo[t] = align
        return align
    if isinstance(t, Datasec):
        return 1
    raise BTFError(f"{_brief(t)} has no alignment")


def _composite_align(t: Composite, depth: int, memo: dict[Type, int]) -> int:
    align = 1
    for m in t.members:
        a = _alignof(m.type, depth + 1, memo)
        if not m.bitfield_size and m.offset % (8 * a):
            return 1  # packed
        align = max(align, a)
    if t.size % align:
        return 1
    return align


# ---- copying

_REF_SLOTS = ("_type", "_target", "_index", "_return_type")
_LIST_SLOTS = ("members", "params", "vars", "values")


def _slots(cls: type) -> list[str]:
    out: list[str] = []
    for klass in cls.__mro__:
        for name in getattr(klass, "__slots__", ()):
            if name != "__weakref__" and name not in out:
                out.append(name)
    return out


def _shallow(obj: object) -> object:
    """A copy of a slotted object, its slot values taken as they are (ids stay ids)."""
    new = object.__new__(type(obj))
    for name in _slots(type(obj)):
        if hasattr(obj, name):
            setattr(new, name, getattr(obj, name))
    return new


def relink(t: Type, link: Callable[[Type | int], Type | int], resolver: Resolver) -> None:
    """Copy ``t``'s member lists and pass every reference it holds through ``link``.

    Used to copy type graphs: ``t`` is a fresh shallow copy; ``link`` maps an old reference
    (a type, or a not yet resolved id) to the new one; ``resolver`` resolves ids afterwards.
    """
    holders: list[object] = [t]
    for name in _LIST_SLOTS:
        items = getattr(t, name, None)
        if isinstance(items, list):
            copies = [_shallow(item) for item in items]
            setattr(t, name, copies)
            holders += copies
    for h in holders:
        for name in _REF_SLOTS:
            if hasattr(h, name) and not isinstance(h, EnumValue):
                setattr(h, name, link(getattr(h, name)))
        if hasattr(h, "_res"):
            object.__setattr__(h, "_res", resolver)


def walk_types(roots: Iterable[Type]) -> list[Type]:
    """``roots`` and every type they reference, each once, depth first in reference order
    (a type comes before the types it refers to, unless a cycle reached it first)."""
    order: list[Type] = []
    seen: set[int] = set()
    stack = list(roots)[::-1]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        order.append(t)
        stack.extend(list(t.references())[::-1])  # resolves lazy references
    return order


def copy_types(types: Iterable[Type]) -> list[Type]:
    """Deep copies of ``types`` and of everything they reference.

    Sharing and cycles are preserved within the copy; nothing in it is shared with the
    originals, so the copies may be modified freely (e.g. types of the shared kernel spec).
    """
    roots = list(types)
    order = walk_types(roots)
    mapping: dict[int, Type] = {id(t): _shallow(t) for t in order}  # type: ignore[misc]

    def link(ref: Type | int) -> Type | int:
        if isinstance(ref, int):  # pragma: no cover - references() resolved them all
            raise BTFError("unresolved reference while copying", type_id=ref)
        return mapping[id(ref)]

    for t in order:
        relink(mapping[id(t)], link, _no_resolver)
    return [mapping[id(t)] for t in roots]
