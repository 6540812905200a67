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
import sys
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from itertools import compress

from ebpf.btf.parse import BTF_MAGIC, HEADER_SIZE, NATIVE_ORDER, RawBTF
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
        #: Set by :meth:`add_spec`: the spec whose types hold the first ids, and the ids among
        #: them that are encoded from its blob (``_order`` then holds None in their place).
        self._spec: Spec | None = None
        self._from_raw: set[int] = set()
        #: Also set by :meth:`add_spec`: the resolver of that spec's decoded types (whose
        #: references still held as ids need no decoding to be written) and the replaced ids.
        self._lazy: object = None
        self._replaced: frozenset[int] = frozenset()
        #: Whether ``_strtab`` starts with a spec's string table not yet indexed in ``_strings``.
        self._unindexed = False

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

    def add_spec(self, spec: Spec, replace: dict[int, Type] | None = None) -> None:
        """Add every type of ``spec`` in id order, so that each keeps its id, with the types
        whose ids ``replace`` names swapped for the ones it gives.

        The blob is the same as after ``add(spec.type_by_id(i))`` for every id (but with the
        replacements), and the same errors are raised for malformed types; but types ``spec``
        has not decoded yet (nobody can have changed them) are encoded straight from its blob,
        which costs a fraction of decoding them: records already as :meth:`_encode` would write
        them are copied as they are, and the blob keeps the spec's string table (with the
        strings of other types appended), so names keep their offsets. The blob is then
        equivalent to the other (the same types, names at other offsets), not identical. Only
        for an empty builder without deduplication or a base, and a spec that is not split.
        """
        if self._order or self.options.dedup or self.base is not None or spec.base is not None:
            raise BTFError("add_spec needs an empty builder without dedup or a base, and a "
                           "spec that is not split")
        replace = replace or {}
        raw = spec.raw
        words = raw.words
        offsets = raw.index.offsets
        decoded = spec._types
        opt = self.options
        # Kinds whose records are copied only when no option rewrites them; VAR (extern
        # linkage may need its type's size) and DATASEC (fixed up after parsing) never are.
        risky = {_K_VAR, _K_DATASEC}
        if opt.replace_funcs:
            risky.add(_K_FUNC_PROTO)
        if opt.strip_decl_tags or opt.replace_datasec or opt.replace_funcs:
            risky.add(_K_DECL_TAG)
        self._spec = spec
        self._lazy = spec.type_by_id
        self._replaced = frozenset(replace)
        if raw.strings:
            self._strtab = bytearray(raw.strings)
            self._unindexed = True
        n = len(spec)
        # Which ids are copied from the blob, one byte each: every id of a kind that is not
        # risky, but for those decoded, replaced, or referring to a replaced id. Worked out
        # with C loops (translate, compress, searching the words for the replaced ids): a
        # Python loop over every id cost more than the rest of add_spec.
        kind_mask = bytearray(b"\1" * 256)
        for kind in risky:
            kind_mask[kind] = 0
        copied = bytearray(raw.kinds().translate(kind_mask))
        for tid in (*decoded, *replace):
            if 0 < tid <= n:
                copied[tid - 1] = 0
        if replace:
            for k in _records_holding(raw, replace):
                if copied[k]:
                    o = offsets[k]
                    info = words[o + 1]
                    if _refs_any(words, o, info >> 24 & 0x1F, info & 0xFFFF, replace):
                        copied[k] = 0
        self._from_raw = set(compress(range(1, n + 1), copied))
        # None stands for a type encoded from the blob; the others, in id order (decoding
        # here raises the first error the blob holds among them).
        order = self._order
        order += [None] * n  # type: ignore[list-item]
        ids = self._ids
        for tid in compress(range(1, n + 1), copied.translate(_ZERO_TO_ONE)):
            t = replace.get(tid)
            if t is None:
                t = spec.type_by_id(tid)
            order[tid - 1] = t
            ids.setdefault(t, tid)

    def _spec_id(self, t: Type) -> int | None:
        """The id of ``t`` if it is a type of the spec given to :meth:`add_spec` that is
        encoded from the blob."""
        if self._spec is None:
            return None
        tid = self._spec._ids.get(t)
        return tid if tid in self._from_raw else None

    def type_id(self, t: Type) -> int:
        """The id ``t`` has in the blob (after :meth:`marshal`)."""
        bid = self._base_id(t)
        if bid is not None:
            return bid
        c = self._canon.get(t, t)
        try:
            return self._ids[c]
        except KeyError:
            sid = self._spec_id(t)
            if sid is not None:
                return sid
            raise BTFError(f"{t!r} was not marshaled") from None

    def _close(self) -> None:
        """Give ids to every referenced type, breadth first."""
        i = 0
        while i < len(self._order):
            t = self._order[i]
            if t is not None:  # None: copied from the blob, referencing only its own ids
                for ref in self._references(t):
                    if (ref not in self._ids and self._base_id(ref) is None
                            and self._spec_id(ref) is None):
                        self._order.append(ref)
                        self._ids[ref] = self._first + len(self._order) - 1
            i += 1

    def _references(self, t: Type) -> Iterable[Type]:
        """``t.references()``, without the references to types of the :meth:`add_spec` spec
        that ``t`` still holds as ids (those keep their ids; looking them up would decode
        them)."""
        lazy = self._lazy
        if lazy is None:
            return t.references()
        slots = _ref_slots(t)
        if slots is None:
            return t.references()
        out = []
        replaced = self._replaced
        for holder, slot in slots:
            v = getattr(holder, slot)
            if v.__class__ is int:
                if holder._res == lazy and v not in replaced:  # type: ignore[attr-defined]
                    continue
                v = getattr(holder, slot[1:])
            out.append(v)
        return out

    def _rid(self, holder: object, slot: str) -> int:
        """The id of the type referenced through ``holder``'s private ``slot`` (e.g.
        ``"_type"``), without decoding it when it is still an id of the :meth:`add_spec`
        spec."""
        v = getattr(holder, slot)
        if v.__class__ is int:
            if holder._res == self._lazy and v not in self._replaced:  # type: ignore[attr-defined]
                return v
            v = getattr(holder, slot[1:])
        return self._id(v)

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

    def string_offset(self, s: str) -> int:
        """The offset of ``s`` in the string table, which gets it if it lacks it (strings that
        records outside the types refer to, such as line info, are added this way)."""
        return self._str(s)

    def _str(self, s: str) -> int:
        off = self._strings.get(s)
        if off is None:
            if self._unindexed:
                self._index_strings()
                off = self._strings.get(s)
                if off is not None:
                    return off
            off = self._strings[s] = self._str_base + len(self._strtab)
            self._strtab += s.encode() + b"\0"
        return off

    def _index_strings(self) -> None:
        """Enter the strings of the spec's table (which ``_strtab`` starts with) into
        ``_strings``, so that they are not appended again. The empty string stays at 0."""
        self._unindexed = False
        table = bytes(self._strtab)
        strings = self._strings
        strings[""] = 0
        try:
            text = table.decode()
        except UnicodeDecodeError:
            return  # strings are appended again: a longer table, the same types
        ascii = len(text) == len(table)
        off = 0
        for part in text.split("\0")[:-1]:
            strings.setdefault(part, off)
            off += (len(part) if ascii else len(part.encode())) + 1

    def marshal(self) -> bytes:
        """Encode everything added so far (and what it references) as a raw BTF blob.

        Raises:
            BTFError: a value does not fit its BTF field (e.g. an enum value, a bit offset).
        """
        self._close()
        if self.options.dedup:
            self._dedup()
        words: list[int] = []
        spec = self._spec
        order_ = self._order
        first = self._first
        name_starts: bytearray | None = None
        i = 0
        while i < len(order_):
            t = order_[i]
            if t is not None:
                self._encode(t, words)
                i += 1
                continue
            # A run of types encoded from the spec's blob (see add_spec).
            j = i + 1
            while j < len(order_) and order_[j] is None:
                j += 1
            assert spec is not None
            if name_starts is None:
                # Once for all runs (for each, if the table is not UTF-8: rare, and cheap).
                name_starts = _name_starts(spec.raw)
            _copy_raw(spec, self.options, first + i, first + j, words, self._encode_raw,
                      name_starts)
            i = j
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
        tid = self._spec_id(t)
        if tid is not None:
            return tid
        bid = self._base_id(t)
        if bid is None:  # pragma: no cover - _close gave every reference an id
            raise BTFError(f"{t!r} has no id")
        return bid

    def _encode_raw(self, spec: Spec, tid: int, w: list[int]) -> None:
        """Encode type ``tid`` of ``spec`` from its record, as decoding it and :meth:`_encode`
        would (names interned in the same order); a record that decoding would refuse is
        decoded, to raise the same error."""
        raw = spec.raw
        words = raw.words
        o = raw.index.offsets[tid - 1]
        name_off, info, st = words[o], words[o + 1], words[o + 2]
        kind = info >> 24 & 0x1F
        vlen = info & 0xFFFF
        kflag = info >> 31
        max_id = len(spec)
        # Not split (see add_spec): the string offsets are the blob's own.
        string = raw.local_string
        intern = self._str
        name = string(name_off)  # checked as decoding checks it, even when not written
        opt = self.options
        out: list[int]
        if kind == _K_INT:
            v = words[o + 3]
            bits = v & 0xFF
            if st in (1, 2, 4, 8, 16) and bits <= 8 * st:
                w += [intern(name), _info(_K_INT), st, v & 0x07FF00FF]
                return
        elif kind in (_K_PTR, _K_VOLATILE, _K_CONST, _K_RESTRICT):
            if st <= max_id and st != tid:
                w += [0, _info(kind), st]
                return
        elif kind in (_K_TYPEDEF, _K_TYPE_TAG):
            if st <= max_id and st != tid:
                n = intern(name)
                if kind == _K_TYPE_TAG and opt.replace_type_tags:
                    w += [0, _info(_K_CONST), st]
                else:
                    w += [n, _info(kind), st]
                return
        elif kind == _K_ARRAY:
            if words[o + 3] <= max_id and words[o + 4] <= max_id:
                w += [0, _info(_K_ARRAY), 0, words[o + 3], words[o + 4], words[o + 5]]
                return
        elif kind in (_K_STRUCT, _K_UNION):
            end = o + 3 + 3 * vlen
            if all(words[j] <= max_id for j in range(o + 4, end, 3)):
                # A member's bitfield size survives only where kind_flag is set; the flag is
                # written only if some member has one.
                bitfields = kflag and any(words[j] >> 24 for j in range(o + 5, end, 3))
                out = [intern(name), _info(kind, vlen, bool(bitfields)), st]
                for j in range(o + 3, end, 3):
                    moff = words[j + 2]
                    out += [intern(string(words[j])), words[j + 1],
                            moff if bitfields or not kflag else moff & 0xFFFFFF]
                w += out
                return
        elif kind == _K_ENUM:
            if st in (1, 2, 4, 8):
                out = [intern(name), _info(_K_ENUM, vlen, bool(kflag)), st]
                for j in range(o + 3, o + 3 + 2 * vlen, 2):
                    out += [intern(string(words[j])), words[j + 1]]
                w += out
                return
        elif kind == _K_ENUM64:
            if st in (1, 2, 4, 8):
                n = intern(name)
                if opt.replace_enum64:
                    for j in range(o + 3, o + 3 + 3 * vlen, 3):
                        string(words[j])
                    w += [n, _info(_K_UNION), st]
                    return
                out = [n, _info(_K_ENUM64, vlen, bool(kflag)), st]
                for j in range(o + 3, o + 3 + 3 * vlen, 3):
                    out += [intern(string(words[j])), words[j + 1], words[j + 2]]
                w += out
                return
        elif kind == _K_FWD:
            w += [intern(name), _info(_K_FWD, 0, bool(kflag)), 0]
            return
        elif kind == _K_FUNC:
            if st <= max_id and vlen <= 2:
                n = intern(name)
                if opt.replace_funcs:
                    w += [n, _info(_K_TYPEDEF), st]
                    return
                linkage = vlen
                if opt.fixup_externs and linkage == 2:
                    linkage = 1
                if opt.replace_func_linkage:
                    linkage = 0
                w += [n, _info(_K_FUNC, linkage), st]
                return
        elif kind == _K_FUNC_PROTO:
            end = o + 3 + 2 * vlen
            if st <= max_id and all(words[j] <= max_id for j in range(o + 4, end, 2)):
                out = [0, _info(_K_FUNC_PROTO, vlen), st]
                for i, j in enumerate(range(o + 3, end, 2)):
                    pname = string(words[j])
                    ptype = words[j + 1]
                    if not pname and opt.fixup_externs and ptype != 0:
                        pname = f"__arg{i}"
                    out += [intern(pname), ptype]
                w += out
                return
        elif kind == _K_FLOAT:
            if st in (2, 4, 8, 12, 16):
                w += [intern(name), _info(_K_STRUCT if opt.replace_float else _K_FLOAT),
                      st]
                return
        elif kind == _K_DECL_TAG and st <= max_id and st != tid:
            w += [intern(name), _info(_K_DECL_TAG), st, words[o + 3]]
            return
        # Anything else (a malformed record, a kind add_spec leaves to the decoder): decode.
        self._encode(spec.type_by_id(tid), w)

    def _encode(self, t: Type, w: list[int]) -> None:
        opt = self.options
        name = self._str(t.name) if not isinstance(t, (Qualifier, Pointer, Array, FuncProto)) \
            or isinstance(t, TypeTag) else 0
        if isinstance(t, Int):
            if t.bits > 128 or t.offset > 255:
                raise BTFError(f"{t!r}: bits/offset out of range")
            w += [name, _info(Kind.INT), t.size, int(t.encoding) << 24 | t.offset << 16 | t.bits]
        elif isinstance(t, Pointer):
            w += [0, _info(Kind.PTR), self._rid(t, "_target")]
        elif isinstance(t, Array):
            w += [0, _info(Kind.ARRAY), 0, self._rid(t, "_type"), self._rid(t, "_index"),
                  t.nelems]
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
                w += [self._str(m.name), self._rid(m, "_type"), off]
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
            w += [name, _info(Kind.TYPEDEF), self._rid(t, "_type")]
        elif isinstance(t, TypeTag):
            if opt.replace_type_tags:
                w += [0, _info(Kind.CONST), self._rid(t, "_type")]
            else:
                w += [name, _info(Kind.TYPE_TAG), self._rid(t, "_type")]
        elif isinstance(t, Qualifier):
            w += [0, _info(t.kind), self._rid(t, "_type")]
        elif isinstance(t, Func):
            if opt.replace_funcs:
                w += [name, _info(Kind.TYPEDEF), self._rid(t, "_type")]
            else:
                linkage = t.linkage
                if opt.fixup_externs and linkage is FuncLinkage.EXTERN:
                    linkage = FuncLinkage.GLOBAL
                if opt.replace_func_linkage:
                    linkage = FuncLinkage.STATIC
                w += [name, _info(Kind.FUNC, int(linkage)), self._rid(t, "_type")]
        elif isinstance(t, FuncProto):
            if opt.replace_funcs:
                w += [0, _info(Kind.ENUM, _vlen(t, len(t.params))), 4]
                for p in t.params:
                    w += [self._str(p.name), 0]
            else:
                w += [0, _info(Kind.FUNC_PROTO, _vlen(t, len(t.params))),
                      self._rid(t, "_return_type")]
                for i, p in enumerate(t.params):
                    pname = p.name
                    if not pname and opt.fixup_externs and not isinstance(p.type, Void):
                        # Global (formerly extern) functions need named parameters.
                        pname = f"__arg{i}"
                    w += [self._str(pname), self._rid(p, "_type")]
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
                w += [name, _info(Kind.VAR), self._rid(t, "_type"), int(vlink)]
        elif isinstance(t, Datasec):
            if opt.replace_datasec or (opt.fixup_externs and (
                    t.size == 0 or any(not isinstance(v.type, Var) for v in t.vars))):
                w += [0, _info(Kind.STRUCT), t.size]
            else:
                w += [name, _info(Kind.DATASEC, _vlen(t, len(t.vars))), t.size]
                for vs in t.vars:
                    w += [self._rid(vs, "_type"), vs.offset, vs.size]
        elif isinstance(t, Float):
            if opt.replace_float:
                w += [name, _info(Kind.STRUCT), t.size]
            else:
                w += [name, _info(Kind.FLOAT), t.size]
        elif isinstance(t, DeclTag):
            if (opt.strip_decl_tags or (opt.replace_datasec and isinstance(t.type, Var))
                    or (opt.replace_funcs and isinstance(t.type, Func))):
                # Also when the tagged type was itself rewritten into a kind tags cannot name.
                w += [0, _info(Kind.INT), 1, 8]
            else:
                w += [name, _info(Kind.DECL_TAG), self._rid(t, "_type"),
                      t.component_idx & 0xFFFFFFFF]
        else:  # pragma: no cover - every concrete class is handled above
            raise BTFError(f"cannot marshal {t!r}")


# Kinds as plain ints, for the loops over raw records (an IntEnum member costs a descriptor
# call per use on Python 3.11).
(_K_INT, _K_PTR, _K_ARRAY, _K_STRUCT, _K_UNION, _K_ENUM, _K_FWD, _K_TYPEDEF, _K_VOLATILE,
 _K_CONST, _K_RESTRICT, _K_FUNC, _K_FUNC_PROTO, _K_VAR, _K_DATASEC, _K_FLOAT, _K_DECL_TAG,
 _K_TYPE_TAG, _K_ENUM64) = range(1, 20)
_K_ANON_QUALS = frozenset({_K_PTR, _K_VOLATILE, _K_CONST, _K_RESTRICT})
_K_ONE_REF = frozenset({_K_PTR, _K_TYPEDEF, _K_VOLATILE, _K_CONST, _K_RESTRICT, _K_FUNC,
                        _K_TYPE_TAG, _K_VAR, _K_DECL_TAG})


#: Maps 0 to 1 and everything else to 0 (to select the zero bytes of a mask).
_ZERO_TO_ONE = bytes([1] + [0] * 255)


def _records_holding(raw: RawBTF, values: Iterable[int]) -> set[int]:
    """The local indexes of the records of ``raw`` with a word equal to one of ``values``: a
    superset of those that refer to one of these ids, found by searching the type section's
    bytes (a C loop) rather than reading every record's references in Python."""
    data = raw.words.tobytes()
    offsets = raw.index.offsets
    out: set[int] = set()
    for v in values:
        if not 0 <= v <= 0xFFFFFFFF:
            continue
        needle = v.to_bytes(4, sys.byteorder)
        pos = data.find(needle)
        while pos >= 0:
            if not pos & 3:  # a whole word
                out.add(bisect_right(offsets, pos >> 2) - 1)
            pos = data.find(needle, pos + 1)
    return out


def _refs_any(words: object, o: int, kind: int, vlen: int, ids: dict[int, Type]) -> bool:
    """Whether the record at ``o`` refers to a type id in ``ids``."""
    w: list[int] = words  # type: ignore[assignment]
    if kind in _K_ONE_REF:
        return w[o + 2] in ids
    if kind == _K_ARRAY:
        return w[o + 3] in ids or w[o + 4] in ids
    if kind in (_K_STRUCT, _K_UNION):
        return any(w[j] in ids for j in range(o + 4, o + 3 + 3 * vlen, 3))
    if kind == _K_FUNC_PROTO:
        return w[o + 2] in ids or any(w[j] in ids for j in range(o + 4, o + 3 + 2 * vlen, 2))
    if kind == _K_DATASEC:
        return any(w[j] in ids for j in range(o + 3, o + 3 + 3 * vlen, 3))
    return False


def _ref_slots(t: Type) -> list[tuple[object, str]] | None:
    """Where ``t`` keeps its references (holder, private slot), in ``references()`` order;
    None for a class this does not know."""
    if isinstance(t, Pointer):
        return [(t, "_target")]
    if isinstance(t, (Typedef, Qualifier, Func, Var, DeclTag)):
        return [(t, "_type")]
    if isinstance(t, Composite):
        return [(m, "_type") for m in t.members]
    if isinstance(t, Array):
        return [(t, "_type"), (t, "_index")]
    if isinstance(t, FuncProto):
        return [(t, "_return_type"), *((p, "_type") for p in t.params)]
    if isinstance(t, Datasec):
        return [(v, "_type") for v in t.vars]
    if isinstance(t, (Int, Enum, Fwd, Float, Void)):
        return []
    return None


#: 1 for the bytes a non-empty UTF-8 string can start with (not NUL, not a continuation byte).
_NAME_START = bytes([0] + [1] * 127 + [0] * 64 + [1] * 64)


def _name_starts(raw: RawBTF) -> bytearray | None:
    """For each offset of the string table of ``raw``, 1 where a name offset may be kept as
    it is (0, or the start of a non-empty string), else 0; None if the table is not UTF-8
    (then no record is kept: names are left to the checks of ``_encode_raw``)."""
    strs = bytes(raw.strings)
    try:
        strs.decode()
    except UnicodeDecodeError:
        return None
    valid = bytearray(strs.translate(_NAME_START))
    if valid:
        valid[0] = 1
    return valid


def _copy_raw(spec: Spec, opt: MarshalOptions, first: int, stop: int, out: list[int],
              encode: Callable[[Spec, int, list[int]], None],
              valid: bytearray | None) -> None:
    """Append the records of types ``first`` to ``stop - 1`` of ``spec`` to ``out``: as they
    are where :meth:`Builder._encode_raw` would write the same record (its names at the same
    offsets of the spec's string table, which the blob keeps), else through ``encode``.

    A name offset is kept if it is 0 or starts a non-empty string: the one the builder would
    write holds the same text (an empty name is written as 0, and the kernel treats a name
    offset of an empty string differently from 0). Consecutive kept records are copied as one
    slice. ``valid`` is :func:`_name_starts` of the spec's blob.
    """
    raw = spec.raw
    words = raw.words
    offsets = raw.index.offsets
    max_id = len(spec)
    if valid is None:
        # Names may not decode: leave every record to the checks of _encode_raw.
        for tid in range(first, stop):
            encode(spec, tid, out)
        return
    nstr = len(valid)
    ok_name = valid.__getitem__
    fixup = opt.fixup_externs
    tag_ok = not opt.replace_type_tags
    float_ok = not opt.replace_float
    enum64_ok = not opt.replace_enum64
    funcs_ok = not opt.replace_funcs
    linkage_ok = not opt.replace_func_linkage
    ptr, struct_, union, fwd, typedef, array = _K_PTR, _K_STRUCT, _K_UNION, _K_FWD, \
        _K_TYPEDEF, _K_ARRAY
    quals = _K_ANON_QUALS
    run = -1  # where the pending slice of kept records starts, or -1
    for tid in range(first, stop):
        o = offsets[tid - 1]
        name_off, info, st = words[o], words[o + 1], words[o + 2]
        kind = info >> 24 & 0x1F
        if kind == ptr or kind in quals:
            ok = name_off == 0 and info == kind << 24 and st <= max_id and st != tid
        else:
            ok = name_off < nstr and valid[name_off] == 1
            if not ok:
                pass
            elif kind in (struct_, union):
                ok = not info & 0x60FF0000
                e = offsets[tid]
                if ok and e > o + 3:
                    m = words[o + 3:e]
                    names = m[0::3]
                    ok = (max(m[1::3]) <= max_id and max(names) < nstr
                          and all(map(ok_name, names))
                          and not (info >> 31 and max(m[2::3]) < 1 << 24))
            elif kind == fwd:
                ok = info & 0x7FFFFFFF == _K_FWD << 24 and st == 0
            elif kind in (typedef, _K_TYPE_TAG):
                ok = (info == kind << 24 and st <= max_id and st != tid
                      and (tag_ok or kind == typedef))
            elif kind == array:
                ok = (name_off == 0 and info == _K_ARRAY << 24 and st == 0
                      and words[o + 3] <= max_id and words[o + 4] <= max_id)
            elif kind == _K_INT:
                v = words[o + 3]
                ok = (info == _K_INT << 24 and st in (1, 2, 4, 8, 16) and v & 0xFF <= 8 * st
                      and v == v & 0x07FF00FF)
            elif kind == _K_FUNC_PROTO:
                ok = (name_off == 0 and info & 0xFFFF0000 == _K_FUNC_PROTO << 24
                      and st <= max_id)
                e = offsets[tid]
                if ok and e > o + 3:
                    m = words[o + 3:e]
                    names = m[0::2]
                    ok = (max(m[1::2]) <= max_id and max(names) < nstr
                          and all(map(ok_name, names))
                          and not (fixup and any(not n and p for n, p in zip(
                              names, m[1::2], strict=True))))
            elif kind == _K_ENUM or (kind == _K_ENUM64 and enum64_ok):
                names = words[o + 3:offsets[tid]:2 if kind == _K_ENUM else 3]
                ok = (not info & 0x60FF0000 and st in (1, 2, 4, 8)
                      and (not names or max(names) < nstr) and all(map(ok_name, names)))
            elif kind == _K_FUNC:
                vlen = info & 0xFFFF
                ok = (info == _K_FUNC << 24 | vlen and vlen <= 2 and st <= max_id
                      and funcs_ok and not (fixup and vlen == 2)
                      and (linkage_ok or vlen == 0))
            elif kind == _K_FLOAT:
                ok = float_ok and info == _K_FLOAT << 24 and st in (2, 4, 8, 12, 16)
            elif kind == _K_DECL_TAG:
                ok = info == _K_DECL_TAG << 24 and st <= max_id and st != tid
            else:
                ok = False
        if ok:
            if run < 0:
                run = o
        else:
            if run >= 0:
                out += words[run:o]
                run = -1
            encode(spec, tid, out)
    if run >= 0:
        out += words[run:offsets[stop - 1]]


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

