"""Encoding a type graph into a raw BTF blob, for ``BPF_BTF_LOAD`` or for a file.

:class:`Builder` gives every type an id, merges identical types and strings, and writes the
blob in either byte order. :class:`MarshalOptions` can rewrite kinds that an older kernel does
not know into ones it does, keeping every type id where it was (programs refer to function
ids through their func info):

===================== ========================================================================
option                what an older kernel receives instead
===================== ========================================================================
strip_decl_tags       ``DECL_TAG`` becomes a one-byte anonymous ``INT`` (6.0 lacks nothing)
replace_type_tags     ``TYPE_TAG`` becomes ``CONST`` of the same type
replace_float         ``FLOAT`` becomes an empty ``STRUCT`` of the same name and size
replace_enum64        ``ENUM64`` becomes an empty ``UNION`` of the same name and size
replace_datasec       ``VAR`` becomes a one-byte ``INT``, ``DATASEC`` an empty ``STRUCT``
replace_func_linkage  global and extern ``FUNC`` become static
replace_funcs         ``FUNC`` becomes ``TYPEDEF``, ``FUNC_PROTO`` an ``ENUM`` (pre-5.0)
fixup_externs         extern ``FUNC``/``VAR`` become global (no kernel loads extern linkage),
                      unnamed parameters are named ``__argN``, typeless ksyms (extern ``VAR``
                      of type void) a one-byte ``INT``; a ``DATASEC`` not laid out yet
                      (size 0) or naming functions (``.ksyms``) becomes an empty ``STRUCT``
===================== ========================================================================

This module makes no system calls.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from ebpf.btf.parse import BTF_MAGIC, HEADER_SIZE, NATIVE_ORDER
from ebpf.btf.spec import Spec
from ebpf.btf.types import (
    Array,
    Composite,
    Datasec,
    DeclTag,
    Enum,
    Enum64,
    Float,
    Func,
    FuncLinkage,
    FuncProto,
    Fwd,
    Int,
    Kind,
    Pointer,
    Qualifier,
    Struct,
    Type,
    Typedef,
    TypeTag,
    Var,
    VarLinkage,
    Void,
    sizeof,
)
from ebpf.errors import BTFError
from ebpf.internal.record import dataclass, fields

__all__ = ["Builder", "MarshalOptions", "marshal_spec", "marshal_types"]


@dataclass(frozen=True)
class MarshalOptions:
    """How to encode types; every ``replace_*``/``strip_*`` is for kernels lacking a kind.

    Attributes:
        byte_order: ``"<"`` or ``">"``; the kernel needs its native order (the default).
        dedup: merge structurally identical types (acyclic parts of the graph).
    """

    byte_order: str = NATIVE_ORDER
    dedup: bool = True
    strip_decl_tags: bool = False
    replace_type_tags: bool = False
    replace_float: bool = False
    replace_enum64: bool = False
    replace_datasec: bool = False
    replace_func_linkage: bool = False
    replace_funcs: bool = False
    fixup_externs: bool = False

    @property
    def sanitizing(self) -> bool:
        """Whether any kind is rewritten."""
        return any(getattr(self, f.name) for f in fields(self)
                   if f.name.startswith(("strip_", "replace_")))

    @classmethod
    def all_sanitized(cls, byte_order: str = NATIVE_ORDER) -> MarshalOptions:
        """Every rewrite on: what the oldest BTF-capable kernels accept."""
        return cls(byte_order=byte_order, strip_decl_tags=True, replace_type_tags=True,
                   replace_float=True, replace_enum64=True, replace_datasec=True,
                   replace_func_linkage=True, fixup_externs=True)


def _info(kind: int, vlen: int = 0, kflag: bool = False) -> int:
    return (1 << 31 if kflag else 0) | kind << 24 | vlen


class _Cycle(Exception):
    pass


class Builder:
    """Collects types, gives them ids and encodes them.

    Types added explicitly get consecutive ids in the order they were added; types they
    reference get ids after all of those, when the blob is built. Use :meth:`type_id` after
    :meth:`marshal` to learn the id of any type.
    """

    def __init__(self, options: MarshalOptions | None = None, *,
                 base: Spec | None = None) -> None:
        """With ``base``, the blob is split BTF on top of it: types of ``base`` (e.g. of
        vmlinux) are referred to by their ids there and not written again."""
        self.options = options or MarshalOptions()
        self.base = base
        self._first = 1
        self._str_base = 0
        if base is not None:
            self._first = len(base) + 1
            raw = base.raw
            self._str_base = raw.base_str_len + len(raw.strings)
        self._order: list[Type] = []
        self._ids: dict[Type, int] = {}
        self._canon: dict[Type, Type] = {}
        self._strings: dict[str, int] = {"": 0}
        self._strtab = bytearray(b"\0")

    def _base_id(self, t: Type) -> int | None:
        if isinstance(t, Void):
            return 0
        if self.base is None:
            return None
        try:
            return self.base.type_id(t)
        except BTFError:
            return None

    def add(self, t: Type) -> int:
        """Add ``t`` (and, later, all it references); returns its id (0 for void)."""
        bid = self._base_id(t)
        if bid is not None:
            return bid
        tid = self._ids.get(t)
        if tid is None:
            self._order.append(t)
            tid = self._ids[t] = self._first + len(self._order) - 1
        return tid

    def type_id(self, t: Type) -> int:
        """The id ``t`` has in the blob (after :meth:`marshal`)."""
        bid = self._base_id(t)
        if bid is not None:
            return bid
        c = self._canon.get(t, t)
        try:
            return self._ids[c]
        except KeyError:
            raise BTFError(f"{t!r} was not marshaled") from None

    def _close(self) -> None:
        """Give ids to every referenced type, breadth first."""
        i = 0
        while i < len(self._order):
            for ref in self._order[i].references():
                if ref not in self._ids and self._base_id(ref) is None:
                    self._order.append(ref)
                    self._ids[ref] = self._first + len(self._order) - 1
            i += 1

    def _dedup(self) -> None:
        """Map every type to a canonical representative; renumber the survivors."""
        canon: dict[object, Type] = {}
        memo: dict[Type, Type] = self._canon

        def key_of(t: Type, refs: list[Type]) -> object:
            return (type(t), _fields_key(t), tuple(id(r) for r in refs))

        for root in list(self._order):
            if root in memo:
                continue
            # Iterative post-order walk; a back edge (cycle) makes the types on it unique.
            stack: list[tuple[Type, list[Type], int]] = [(root, list(root.references()), 0)]
            on_stack = {root}
            cyclic: set[Type] = set()
            while stack:
                t, refs, i = stack[-1]
                if i < len(refs):
                    stack[-1] = (t, refs, i + 1)
                    r = refs[i]
                    if r in memo:
                        continue
                    if self._base_id(r) is not None:  # void or a base type: kept as is
                        memo[r] = r
                        continue
                    if r in on_stack:
                        # Everything from r up to t is on a cycle: keep those as they are.
                        for st, _, _ in reversed(stack):
                            cyclic.add(st)
                            if st is r:
                                break
                        continue
                    stack.append((r, list(r.references()), 0))
                    on_stack.add(r)
                    continue
                stack.pop()
                on_stack.discard(t)
                if t in cyclic:
                    memo[t] = t
                    continue
                crefs = [memo.get(r, r) for r in refs]
                if any(r in cyclic for r in refs):
                    memo[t] = t
                    continue
                memo[t] = canon.setdefault(key_of(t, crefs), t)
        survivors: list[Type] = []
        ids: dict[Type, int] = {}
        for t in self._order:
            c = memo.get(t, t)
            if c not in ids:
                survivors.append(c)
                ids[c] = self._first + len(survivors) - 1
        for t in self._order:
            ids.setdefault(t, ids[memo.get(t, t)])
        self._order = survivors
        self._ids = ids

    def _str(self, s: str) -> int:
        off = self._strings.get(s)
        if off is None:
            off = self._strings[s] = self._str_base + len(self._strtab)
            self._strtab += s.encode() + b"\0"
        return off

    def marshal(self) -> bytes:
        """Encode everything added so far (and what it references) as a raw BTF blob.

        Raises:
            BTFError: a value does not fit its BTF field (e.g. an enum value, a bit offset).
        """
        self._close()
        if self.options.dedup:
            self._dedup()
        words: list[int] = []
        for t in self._order:
            self._encode(t, words)
        order = self.options.byte_order
        types = struct.pack(f"{order}{len(words)}I", *words)
        strings = bytes(self._strtab)
        hdr = struct.pack(order + "HBBIIIII", BTF_MAGIC, 1, 0, HEADER_SIZE, 0, len(types),
                          len(types), len(strings))
        return hdr + types + strings

    def _id(self, t: Type) -> int:
        tid = self._ids.get(self._canon.get(t, t))
        if tid is not None:
            return tid
        bid = self._base_id(t)
        if bid is None:  # pragma: no cover - _close gave every reference an id
            raise BTFError(f"{t!r} has no id")
        return bid

    def _encode(self, t: Type, w: list[int]) -> None:
        opt = self.options
        name = self._str(t.name) if not isinstance(t, (Qualifier, Pointer, Array, FuncProto)) \
            or isinstance(t, TypeTag) else 0
        if isinstance(t, Int):
            if t.bits > 128 or t.offset > 255:
                raise BTFError(f"{t!r}: bits/offset out of range")
            w += [name, _info(Kind.INT), t.size, int(t.encoding) << 24 | t.offset << 16 | t.bits]
        elif isinstance(t, Pointer):
            w += [0, _info(Kind.PTR), self._id(t.target)]
        elif isinstance(t, Array):
            w += [0, _info(Kind.ARRAY), 0, self._id(t.type), self._id(t.index), t.nelems]
        elif isinstance(t, Composite):
            kind = Kind.STRUCT if isinstance(t, Struct) else Kind.UNION
            kflag = any(m.bitfield_size for m in t.members)
            w += [name, _info(kind, _vlen(t, len(t.members)), kflag), t.size]
            for m in t.members:
                off = m.offset
                if kflag:
                    if off >= 1 << 24 or m.bitfield_size > 255:
                        raise BTFError(f"member {m.name!r} of {t!r}: bitfield does not fit")
                    off |= m.bitfield_size << 24
                w += [self._str(m.name), self._id(m.type), off]
        elif isinstance(t, Enum64):
            if opt.replace_enum64:
                w += [name, _info(Kind.UNION), t.size]
            else:
                w += [name, _info(Kind.ENUM64, _vlen(t, len(t.values)), t.signed), t.size]
                for v in t.values:
                    val = v.value & 0xFFFFFFFFFFFFFFFF
                    w += [self._str(v.name), val & 0xFFFFFFFF, val >> 32]
        elif isinstance(t, Enum):
            w += [name, _info(Kind.ENUM, _vlen(t, len(t.values)), t.signed), t.size]
            lo, hi = (-(1 << 31), (1 << 31) - 1) if t.signed else (0, (1 << 32) - 1)
            for v in t.values:
                if not lo <= v.value <= hi:
                    raise BTFError(f"value {v.value} of {v.name!r} does not fit a 32-bit enum")
                w += [self._str(v.name), v.value & 0xFFFFFFFF]
        elif isinstance(t, Fwd):
            w += [name, _info(Kind.FWD, 0, bool(t.fwd_kind)), 0]
        elif isinstance(t, Typedef):
            w += [name, _info(Kind.TYPEDEF), self._id(t.type)]
        elif isinstance(t, TypeTag):
            if opt.replace_type_tags:
                w += [0, _info(Kind.CONST), self._id(t.type)]
            else:
                w += [name, _info(Kind.TYPE_TAG), self._id(t.type)]
        elif isinstance(t, Qualifier):
            w += [0, _info(t.kind), self._id(t.type)]
        elif isinstance(t, Func):
            if opt.replace_funcs:
                w += [name, _info(Kind.TYPEDEF), self._id(t.type)]
            else:
                linkage = t.linkage
                if opt.fixup_externs and linkage is FuncLinkage.EXTERN:
                    linkage = FuncLinkage.GLOBAL
                if opt.replace_func_linkage:
                    linkage = FuncLinkage.STATIC
                w += [name, _info(Kind.FUNC, int(linkage)), self._id(t.type)]
        elif isinstance(t, FuncProto):
            if opt.replace_funcs:
                w += [0, _info(Kind.ENUM, _vlen(t, len(t.params))), 4]
                for p in t.params:
                    w += [self._str(p.name), 0]
            else:
                w += [0, _info(Kind.FUNC_PROTO, _vlen(t, len(t.params))),
                      self._id(t.return_type)]
                for i, p in enumerate(t.params):
                    pname = p.name
                    if not pname and opt.fixup_externs and not isinstance(p.type, Void):
                        # Global (formerly extern) functions need named parameters.
                        pname = f"__arg{i}"
                    w += [self._str(pname), self._id(p.type)]
        elif isinstance(t, Var):
            if opt.replace_datasec or (opt.fixup_externs and t.linkage is VarLinkage.EXTERN
                                       and not _sized(t.type)):
                # Also typeless ksyms (``extern const void sym __ksym``): no kernel takes a
                # VAR of type void.
                w += [0, _info(Kind.INT), 1, 8]
            else:
                vlink = t.linkage
                if opt.fixup_externs and vlink is VarLinkage.EXTERN:
                    vlink = VarLinkage.GLOBAL
                w += [name, _info(Kind.VAR), self._id(t.type), int(vlink)]
        elif isinstance(t, Datasec):
            if opt.replace_datasec or (opt.fixup_externs and (
                    t.size == 0 or any(not isinstance(v.type, Var) for v in t.vars))):
                w += [0, _info(Kind.STRUCT), t.size]
            else:
                w += [name, _info(Kind.DATASEC, _vlen(t, len(t.vars))), t.size]
                for vs in t.vars:
                    w += [self._id(vs.type), vs.offset, vs.size]
        elif isinstance(t, Float):
            if opt.replace_float:
                w += [name, _info(Kind.STRUCT), t.size]
            else:
                w += [name, _info(Kind.FLOAT), t.size]
        elif isinstance(t, DeclTag):
            target = t.type
            if (opt.strip_decl_tags or (opt.replace_datasec and isinstance(target, Var))
                    or (opt.replace_funcs and isinstance(target, Func))):
                # Also when the tagged type was itself rewritten into a kind tags cannot name.
                w += [0, _info(Kind.INT), 1, 8]
            else:
                w += [name, _info(Kind.DECL_TAG), self._id(t.type),
                      t.component_idx & 0xFFFFFFFF]
        else:  # pragma: no cover - every concrete class is handled above
            raise BTFError(f"cannot marshal {t!r}")


def _sized(t: Type) -> bool:
    try:
        sizeof(t)
    except BTFError:
        return False
    return True


def _vlen(t: Type, n: int) -> int:
    if n > 0xFFFF:
        raise BTFError(f"{t!r} has {n} members/values/params; BTF allows 65535")
    return n


def _fields_key(t: Type) -> object:
    """The fields of ``t`` other than references, for deduplication."""
    if isinstance(t, Int):
        return (t.name, t.size, int(t.encoding), t.bits, t.offset)
    if isinstance(t, Composite):
        return (t.name, t.size, tuple((m.name, m.offset, m.bitfield_size) for m in t.members))
    if isinstance(t, Enum):
        return (t.name, t.size, t.signed, tuple((v.name, v.value) for v in t.values))
    if isinstance(t, Array):
        return (t.nelems,)
    if isinstance(t, Fwd):
        return (t.name, int(t.fwd_kind))
    if isinstance(t, Func):
        return (t.name, int(t.linkage))
    if isinstance(t, FuncProto):
        return tuple(p.name for p in t.params)
    if isinstance(t, Var):
        return (t.name, int(t.linkage))
    if isinstance(t, Datasec):
        return (t.name, t.size, tuple((v.offset, v.size) for v in t.vars))
    if isinstance(t, Float):
        return (t.name, t.size)
    if isinstance(t, DeclTag):
        return (t.name, t.component_idx)
    return (t.name,)


def marshal_types(types: Iterable[Type], options: MarshalOptions | None = None, *,
                  base: Spec | None = None) -> tuple[bytes, Builder]:
    """Encode ``types`` and everything they reference; returns the blob and the builder
    (ask it :meth:`Builder.type_id` for the ids). With ``base``, the blob is split BTF whose
    references to the base's types use the base's ids."""
    b = Builder(options, base=base)
    for t in types:
        b.add(t)
    return b.marshal(), b


def marshal_spec(spec: Spec, options: MarshalOptions | None = None) -> bytes:
    """Encode every type of ``spec`` keeping its ids (no deduplication), e.g. to load an
    object file's BTF into the kernel.

    For a split spec only its own types are written, as split BTF on top of the base.
    """
    opts = options or MarshalOptions()
    if opts.dedup:
        opts = MarshalOptions(**{f.name: getattr(opts, f.name) for f in fields(opts)
                                 if f.name != "dedup"}, dedup=False)
    b = Builder(opts, base=spec.base)
    first = len(spec.base) + 1 if spec.base is not None else 1
    for tid in range(first, len(spec) + 1):
        b.add(spec.type_by_id(tid))
    return b.marshal()

