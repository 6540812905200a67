"""``Spec``: a parsed set of BTF types, with lookups by id and by name.

This module makes no system calls. Loading from a path reads that file and nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from itertools import compress
from typing import IO, TYPE_CHECKING, Final, TypeVar, overload

from ebpf.btf.parse import RawBTF, RawIndex
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
    Type,
    Typedef,
    Var,
    Void,
)
from ebpf.errors import BTFError

if TYPE_CHECKING:

    from ebpf.internal.elf import ElfBTF

    T = TypeVar("T", bound=Type)

__all__ = ["NotFoundError", "Spec", "load_spec", "load_spec_from_bytes",
           "load_spec_from_reader", "load_split_spec", "fixup_datasecs"]

#: Which raw kinds can yield an instance of each class, so that lookups by name and class
#: decode only the candidates that can match.
_KINDS_OF: dict[type, frozenset[int]] = {
    Int: frozenset({Kind.INT}), Pointer: frozenset({Kind.PTR}), Array: frozenset({Kind.ARRAY}),
    Composite: frozenset({Kind.STRUCT, Kind.UNION}), Enum: frozenset({Kind.ENUM, Kind.ENUM64}),
    Enum64: frozenset({Kind.ENUM64}), Fwd: frozenset({Kind.FWD}),
    Typedef: frozenset({Kind.TYPEDEF}), Func: frozenset({Kind.FUNC}),
    FuncProto: frozenset({Kind.FUNC_PROTO}), Var: frozenset({Kind.VAR}),
    Datasec: frozenset({Kind.DATASEC}), Float: frozenset({Kind.FLOAT}),
    DeclTag: frozenset({Kind.DECL_TAG}),
    Qualifier: frozenset({Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG}),
}


class NotFoundError(BTFError, KeyError):
    """No type matches a lookup. Also a :class:`KeyError`."""

    def __str__(self) -> str:
        return BTFError.__str__(self)


class Spec:
    """A set of BTF types parsed from one blob, optionally split on top of a base spec.

    Types are decoded on first use and then shared: the same id always gives the same object.
    Ids of a split spec continue after the base's; looking one up in the split spec gives the
    base's object. Iterating yields every type (base types first), without void.

    Build one with :func:`load_spec`, :func:`load_spec_from_bytes` or
    :func:`ebpf.btf.load_kernel_spec`.
    """

    __slots__ = ("__weakref__", "_base", "_ids", "_max_id", "_raw", "_types")

    def __init__(self, raw: RawBTF, base: Spec | None = None) -> None:
        self._raw = raw
        self._base = base
        self._types: dict[int, Type] = {}
        self._ids: dict[Type, int] = {}
        self._max_id = raw.base_count + raw.count - 1

    @property
    def base(self) -> Spec | None:
        """The base spec of a split spec, else None."""
        return self._base

    @property
    def byte_order(self) -> str:
        """``"<"`` (little endian) or ``">"`` (big endian)."""
        return self._raw.byte_order

    @property
    def raw(self) -> RawBTF:
        """The underlying blob and index (advanced use)."""
        return self._raw

    def __len__(self) -> int:
        """The number of types, without void (the largest type id)."""
        return self._max_id

    def __iter__(self) -> Iterator[Type]:
        for tid in range(1, self._max_id + 1):
            yield self.type_by_id(tid)

    def iter_types(self, cls: type[T]) -> Iterator[T]:
        """Every type that is an instance of ``cls`` (e.g. ``btf.Func``), in id order.

        Only candidates of the right kinds are decoded, so this is much cheaper than
        filtering ``iter(spec)``.
        """
        kinds = _kinds_for(cls)
        if self._base is not None:
            yield from self._base.iter_types(cls)
        raw = self._raw
        first = raw.base_count
        for k in _local_indexes(raw, kinds):
            t = self.type_by_id(first + k)
            if isinstance(t, cls):
                yield t

    def __repr__(self) -> str:
        split = f" split on {len(self._base)} base types" if self._base else ""
        return f"<Spec {self._max_id} types{split}>"

    def copy(self) -> Spec:
        """A spec with the same types whose objects are independent of this one's.

        Types already decoded (and possibly modified) are copied; the rest are decoded from
        the same blob on demand. Types of a base spec stay shared with the base.
        """
        from ebpf.btf.types import relink

        new = Spec(self._raw, self._base)
        mapping: dict[int, Type] = {}
        for tid, t in self._types.items():
            c = _shallow_type(t)
            mapping[id(t)] = c
            new._types[tid] = c
            new._ids[c] = tid

        def link(ref: Type | int) -> Type | int:
            if isinstance(ref, int):
                return ref
            return mapping.get(id(ref), ref)

        for c in mapping.values():
            relink(c, link, new.type_by_id)
        return new

    # ---- strings

    def string(self, offset: int) -> str:
        """The string at ``offset`` of the string section (of the base, for low offsets).

        Raises:
            BTFError: the offset is outside the string section or the text is not UTF-8.
        """
        raw = self._raw
        if offset < raw.base_str_len:
            assert self._base is not None
            return self._base.string(offset)
        return raw.local_string(offset - raw.base_str_len)

    @property
    def strings_size(self) -> int:
        """The size of this spec's own string section in bytes."""
        return len(self._raw.strings)

    # ---- lookups by id

    def type_by_id(self, type_id: int) -> Type:
        """The type with id ``type_id`` (0 is void).

        Raises:
            NotFoundError: no such id.
            BTFError: the type's record is malformed.
        """
        t = self._types.get(type_id)
        if t is not None:
            return t
        raw = self._raw
        if type_id < raw.base_count:
            if type_id == 0:
                t = Void()
            elif self._base is None or type_id < 0:
                raise NotFoundError(f"no type with id {type_id}", type_id=type_id)
            else:
                return self._base.type_by_id(type_id)
        else:
            if type_id > self._max_id:
                raise NotFoundError(f"no type with id {type_id} (largest is {self._max_id})",
                                    type_id=type_id)
            # Without a base every string is local: skip the base check for each name.
            t = raw.decode(type_id, self.type_by_id, self._max_id,
                           self.string if raw.base_str_len else raw.local_string)
        # setdefault: if another thread decoded the same id meanwhile, both get its object.
        t = self._types.setdefault(type_id, t)
        self._ids[t] = type_id
        return t

    def type_id(self, t: Type) -> int:
        """The id of ``t``, which must be a type of this spec (or of its base).

        Raises:
            NotFoundError: ``t`` does not belong to this spec.
        """
        tid = self._ids.get(t)
        if tid is not None:
            return tid
        if self._base is not None:
            return self._base.type_id(t)
        if isinstance(t, Void):
            return 0
        raise NotFoundError(f"{t!r} is not a type of this spec")

    # ---- lookups by name

    def _name_bytes(self, offset: int) -> bytes:
        raw = self._raw
        if offset < raw.base_str_len:
            assert self._base is not None
            return self._base._name_bytes(offset)
        return raw.local_name_bytes(offset - raw.base_str_len)

    def _ids_by_name(self, name: bytes, kinds: frozenset[int] | None) -> list[int]:
        raw = self._raw
        ids = self._base._ids_by_name(name, kinds) if self._base is not None else []
        funcs = kinds is None or _K_FUNC in kinds
        others = kinds is None or kinds != _FUNC_ONLY
        for tid in raw.ids_by_name(name, self._name_bytes, funcs=funcs, others=others):
            if kinds is None or raw.kind_of(tid) in kinds:
                ids.append(tid)
        return ids

    def types_by_name(self, name: str) -> list[Type]:
        """Every type called ``name``, of any kind, in id order."""
        if not name:
            return []
        return [self.type_by_id(i) for i in self._ids_by_name(name.encode(), None)]

    def any_type_by_name(self, name: str) -> Type:
        """The one type called ``name``, whatever its kind.

        Raises:
            NotFoundError: there is none.
            BTFError: several types have this name (use :meth:`type_by_name` with a class).
        """
        types = self.types_by_name(name)
        if not types:
            raise NotFoundError(f"no type named {name!r}")
        if len(types) > 1:
            kinds = ", ".join(f"{t.kind.name} [{self.type_id(t)}]" for t in types)
            raise BTFError(f"{len(types)} types are named {name!r}: {kinds}")
        return types[0]

    def types_by_name_and_class(self, name: str, cls: type[T]) -> list[T]:
        """Every type called ``name`` that is an instance of ``cls``."""
        if not name:
            return []
        kinds = _kinds_for(cls)
        out = []
        for tid in self._ids_by_name(name.encode(), kinds):
            t = self.type_by_id(tid)
            if isinstance(t, cls):
                out.append(t)
        return out

    @overload
    def type_by_name(self, name: str, cls: type[T]) -> T: ...
    @overload
    def type_by_name(self, name: str) -> Type: ...

    def type_by_name(self, name: str, cls: type[Type] = Type) -> Type:
        """The one type called ``name`` that is an instance of ``cls`` (e.g. ``btf.Struct``).

        Raises:
            NotFoundError: there is none.
            BTFError: there are several.
        """
        types = self.types_by_name_and_class(name, cls)
        if not types:
            raise NotFoundError(f"no {cls.__name__} named {name!r}")
        if len(types) > 1:
            ids = ", ".join(str(self.type_id(t)) for t in types)
            raise BTFError(f"{len(types)} {cls.__name__} types are named {name!r}: ids {ids}")
        return types[0]

    # ---- text

    def dump(self, type_id: int) -> str:
        """The type as ``bpftool btf dump`` prints it in raw format (with its member lines)."""
        return _dump(self, type_id)


def _shallow_type(t: Type) -> Type:
    from ebpf.btf.types import _shallow
    c = _shallow(t)
    assert isinstance(c, Type)
    return c


_K_FUNC: Final = int(Kind.FUNC)
_FUNC_ONLY: Final = frozenset((_K_FUNC,))
_DATASEC_ONLY: Final = frozenset((int(Kind.DATASEC),))


def _kinds_for(cls: type) -> frozenset[int] | None:
    for klass in cls.__mro__:
        kinds = _KINDS_OF.get(klass)
        if kinds is not None:
            return kinds
    return None


#: For each set of kinds asked for: a table mapping a kind byte to 1 if it is in the set.
_KIND_MASKS: dict[frozenset[int], bytes] = {}


def _local_indexes(raw: RawBTF, kinds: frozenset[int] | None) -> Iterable[int]:
    """The local indexes of the types of ``raw`` of ``kinds`` (all for None), in order.

    Selected from the one-byte-per-type kind table by C loops (translate, compress): a scan
    of every type in Python costs more than decoding the few that match.
    """
    if kinds is None:
        return range(raw.count)
    mask = _KIND_MASKS.get(kinds)
    if mask is None:
        mask = _KIND_MASKS[kinds] = bytes(1 if b in kinds else 0 for b in range(256))
    return compress(range(raw.count), raw.kinds().translate(mask))


def _q(name: str) -> str:
    return f"'{name}'" if name else "'(anon)'"


def _dump(spec: Spec, type_id: int) -> str:
    from ebpf.btf.types import (
        FuncLinkage,
        IntEncoding,
        Struct,
        Union,
        VarLinkage,
    )
    t = spec.type_by_id(type_id)
    tid = spec.type_id
    head = f"[{type_id}] {t.kind.name} {_q(t.name)}"
    if isinstance(t, Int):
        enc = ("SIGNED" if t.encoding & IntEncoding.SIGNED else "CHAR"
               if t.encoding & IntEncoding.CHAR else "BOOL"
               if t.encoding & IntEncoding.BOOL else "(none)")
        return f"{head} size={t.size} bits_offset={t.offset} nr_bits={t.bits} encoding={enc}"
    if isinstance(t, Pointer):
        return f"{head} type_id={tid(t.target)}"
    if isinstance(t, Array):
        return f"{head} type_id={tid(t.type)} index_type_id={tid(t.index)} nr_elems={t.nelems}"
    if isinstance(t, (Struct, Union)):
        lines = [f"{head} size={t.size} vlen={len(t.members)}"]
        for m in t.members:
            bf = f" bitfield_size={m.bitfield_size}" if m.bitfield_size else ""
            lines.append(f"\t{_q(m.name)} type_id={tid(m.type)} bits_offset={m.offset}{bf}")
        return "\n".join(lines)
    if isinstance(t, Enum):
        enc = "SIGNED" if t.signed else "UNSIGNED"
        lines = [f"{head} encoding={enc} size={t.size} vlen={len(t.values)}"]
        suffix = ("LL" if t.signed else "ULL") if isinstance(t, Enum64) else ""
        for v in t.values:
            lines.append(f"\t{_q(v.name)} val={v.value}{suffix}")
        return "\n".join(lines)
    if isinstance(t, Fwd):
        return f"{head} fwd_kind={t.fwd_kind.name.lower()}"
    if isinstance(t, (Typedef, Qualifier)):
        return f"{head} type_id={tid(t.type)}"
    if isinstance(t, Func):
        link = {FuncLinkage.STATIC: "static", FuncLinkage.GLOBAL: "global",
                FuncLinkage.EXTERN: "extern"}[t.linkage]
        return f"{head} type_id={tid(t.type)} linkage={link}"
    if isinstance(t, FuncProto):
        lines = [f"{head} ret_type_id={tid(t.return_type)} vlen={len(t.params)}"]
        for p in t.params:
            lines.append(f"\t{_q(p.name)} type_id={tid(p.type)}")
        return "\n".join(lines)
    if isinstance(t, Var):
        link = {VarLinkage.STATIC: "static", VarLinkage.GLOBAL: "global",
                VarLinkage.EXTERN: "extern"}[t.linkage]
        return f"{head} type_id={tid(t.type)}, linkage={link}"
    if isinstance(t, Datasec):
        lines = [f"{head} size={t.size} vlen={len(t.vars)}"]
        for vs in t.vars:
            lines.append(f"\ttype_id={tid(vs.type)} offset={vs.offset} size={vs.size} "
                         f"({vs.type.kind.name} {_q(vs.type.name)})")
        return "\n".join(lines)
    if isinstance(t, Float):
        return f"{head} size={t.size}"
    if isinstance(t, DeclTag):
        return f"{head} type_id={tid(t.type)} component_idx={t.component_idx}"
    return head


# ---- loading


def load_spec_from_bytes(data: bytes | bytearray | memoryview, *,
                         base: Spec | None = None) -> Spec:
    """Parse a raw BTF blob, or an ELF object file's ``.BTF`` section.

    Args:
        data: the blob or the whole ELF file, either possibly gzip or xz compressed.
        base: for split BTF (kernel modules), the spec it extends (usually vmlinux).

    Raises:
        BTFError: the BTF is malformed.
        ELFError: the ELF file is malformed or has no ``.BTF`` section.
    """
    head = bytes(data[:6])
    if head[:2] == b"\x1f\x8b" or head == b"\xfd7zXZ\x00":
        # Compressed, as BTFHub and kernel test suites ship vmlinux BTF (.btf.gz, .btf.xz).
        data = _decompress(bytes(data), head)
        head = bytes(data[:6])
    if head[:4] == b"\x7fELF":
        from ebpf.internal.elf import read_btf_sections
        return spec_from_elf_btf(read_btf_sections(data), base=base)
    if base is not None:
        return load_split_spec(data, base)
    return Spec(RawBTF(data))


def spec_from_elf_btf(elf: ElfBTF, *, base: Spec | None = None) -> Spec:
    """The spec of the ``.BTF`` section of an ELF file read by
    :func:`ebpf.internal.elf.read_btf_sections`, its data sections fixed up."""
    spec = load_spec_from_bytes(elf.btf, base=base)
    fixup_datasecs(spec, elf.section_sizes, elf.symbols)
    fixup_hidden_functions(spec, elf.hidden_functions)
    return spec


def _decompress(data: bytes, head: bytes) -> bytes:
    import gzip
    import lzma
    import zlib
    try:
        if head[:2] == b"\x1f\x8b":
            return gzip.decompress(data)
        return lzma.decompress(data)
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as e:
        raise BTFError(f"cannot decompress the BTF: {e}", offset=0) from None


def fixup_hidden_functions(spec: Spec, hidden: Iterable[str]) -> None:
    """Give the global functions named in ``hidden`` (ELF visibility hidden or internal)
    static linkage, as libbpf does before loading.

    Such a function cannot be called from outside its object, so nothing needs the kernel to
    verify it on its own as a global function, where every pointer argument may be NULL;
    libbpf's own ``__weak __hidden`` helpers (``bpf_usdt_arg`` of ``usdt.bpf.h``) only pass the
    verifier as static functions.
    """
    for name in hidden:
        for f in spec.types_by_name_and_class(name, Func):
            if f.linkage == FuncLinkage.GLOBAL:
                f.linkage = FuncLinkage.STATIC


def fixup_datasecs(spec: Spec, section_sizes: dict[str, int],
                   symbols: dict[tuple[str, str], int]) -> None:
    """Fill in what the compiler leaves out of an object file's ``DATASEC`` types.

    clang emits data sections with size 0 and their variables at offset 0; the real values
    are the ELF section's size and the symbols' offsets, which the kernel checks.

    Raises:
        BTFError: a section or a symbol's offset does not fit the 32 bits BTF has for it, or
            a variable would lie outside its section.
    """
    raw = spec.raw
    for k in _local_indexes(raw, _DATASEC_ONLY):
        ds = spec.type_by_id(raw.base_count + k)
        assert isinstance(ds, Datasec)
        if ds.size == 0 and ds.name in section_sizes:
            size = section_sizes[ds.name]
            if size > 0xFFFF_FFFF:
                raise BTFError(f"DATASEC {ds.name!r}: section size {size:#x} does not fit "
                               "32 bits", type_id=raw.base_count + k)
            ds.size = size
        for vs in ds.vars:
            var = vs.type
            if isinstance(var, Var) and vs.offset == 0:
                value = symbols.get((ds.name, var.name))
                if value is None:
                    continue  # e.g. an extern of .kconfig or .ksyms: no section, no symbol
                if value > ds.size or vs.size > ds.size - value:
                    raise BTFError(f"DATASEC {ds.name!r}: symbol {var.name!r} has value "
                                   f"{value:#x}, which puts its {vs.size} bytes outside the "
                                   f"section ({ds.size} bytes)", type_id=raw.base_count + k)
                vs.offset = value


def load_split_spec(data: bytes | bytearray | memoryview, base: Spec,
                    *, index: RawIndex | None = None) -> Spec:
    """Parse split BTF ``data`` (a raw blob) on top of ``base``."""
    braw = base.raw
    base_count = braw.base_count + braw.count
    base_str_len = braw.base_str_len + len(braw.strings)
    return Spec(RawBTF(data, base_count=base_count, base_str_len=base_str_len, index=index),
                base)


def load_spec_from_reader(reader: IO[bytes], *, base: Spec | None = None) -> Spec:
    """Like :func:`load_spec_from_bytes`, reading everything from the binary file ``reader``."""
    return load_spec_from_bytes(reader.read(), base=base)


def load_spec(path: str | os.PathLike[str], *, base: Spec | None = None) -> Spec:
    """Parse the BTF in the file at ``path``: an ELF object file or a raw BTF blob.

    Raises:
        BTFError, ELFError: the content is malformed.
        OSError: the file cannot be read.
    """
    with open(path, "rb") as f:
        return load_spec_from_reader(f, base=base)
