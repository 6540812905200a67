"""CO-RE: fixing up an object's field offsets, sizes, type ids and enum values for a target.

A BPF object compiled against one set of types (the *local* BTF, e.g. a ``vmlinux.h`` from
another kernel) carries ``.BTF.ext`` CO-RE records: "this instruction uses the byte offset of
``task_struct.pid``". This module computes, for each record, the value the *target* BTF (the
running kernel's, or any :class:`~ebpf.btf.Spec`) gives, and rewrites the instruction, with the
rules libbpf documents and implements:

* candidates are the target types of the same kind whose *essential* name (the name without a
  ``___flavor`` suffix) equals the local one; vmlinux is searched first and further specs
  (kernel modules) only if vmlinux has none;
* a field access string (``"0:1:2"``) is followed through the local types, and member by member
  (by name, through anonymous structs and unions, with compatible member types) through each
  candidate; all candidates that match must agree on the result, else the relocation is
  ambiguous (:class:`~ebpf.errors.COREError`);
* a relocation that no candidate satisfies yields 0 for the "exists" kinds and for type based
  kinds, and otherwise *poisons* its instruction: it becomes a call of the invalid helper
  ``0xbad2310``, which the verifier accepts in dead code (guarded by
  ``bpf_core_field_exists()``) and refuses with ``invalid func unknown#195896080`` when
  reached. :func:`poisoned_relocation` maps such a refusal back to the relocation.

This module makes no system calls and reads no files.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Final, NamedTuple

from ebpf.asm import Instruction, Instructions
from ebpf.asm._raw import (
    CLASS_ALU,
    CLASS_ALU64,
    CLASS_JMP,
    CLASS_LDX,
    CLASS_ST,
    CLASS_STX,
    JUMP_CALL,
    LDIMM64,
    SIZE_B,
    SIZE_DW,
    SIZE_H,
    SIZE_W,
    SOURCE_K,
)
from ebpf.btf.ext_info import CORERelocKind
from ebpf.btf.spec import Spec
from ebpf.btf.types import (
    Array,
    Composite,
    Enum,
    Enum64,
    Float,
    FuncProto,
    Fwd,
    FwdKind,
    Int,
    IntEncoding,
    Kind,
    Pointer,
    Struct,
    Type,
    Union,
    Void,
    sizeof,
    underlying,
)
from ebpf.errors import BTFError, COREError

__all__ = [
    "POISON_HELPER",
    "AppliedRelocation",
    "COREFixup",
    "CORERelocKind",
    "COREResolver",
    "essential_name",
    "patch_instruction",
    "poison_instruction",
    "poisoned_relocation",
    "relocate",
]

#: The helper id a poisoned instruction calls (libbpf's "bad relo", ``0xbad2310``).
POISON_HELPER: Final = 0xBAD2310

#: Longest access string libbpf accepts (``BPF_CORE_SPEC_MAX_LEN``).
MAX_SPEC_LEN: Final = 64
#: Recursion limit of type comparisons.
_MAX_DEPTH: Final = 32
# Relocation kinds as plain ints (an IntEnum member read costs a descriptor call per use on
# Python 3.11).
_R_ENUMVAL_EXISTS: Final = int(CORERelocKind.ENUMVAL_EXISTS)
_R_FIELD_BYTE_OFFSET: Final = int(CORERelocKind.FIELD_BYTE_OFFSET)
_R_FIELD_BYTE_SIZE: Final = int(CORERelocKind.FIELD_BYTE_SIZE)
_R_FIELD_EXISTS: Final = int(CORERelocKind.FIELD_EXISTS)
_R_FIELD_LSHIFT_U64: Final = int(CORERelocKind.FIELD_LSHIFT_U64)
_R_FIELD_RSHIFT_U64: Final = int(CORERelocKind.FIELD_RSHIFT_U64)
_R_FIELD_SIGNED: Final = int(CORERelocKind.FIELD_SIGNED)
_R_TYPE_EXISTS: Final = int(CORERelocKind.TYPE_EXISTS)
_R_TYPE_ID_LOCAL: Final = int(CORERelocKind.TYPE_ID_LOCAL)
_R_TYPE_ID_TARGET: Final = int(CORERelocKind.TYPE_ID_TARGET)
_R_TYPE_MATCHES: Final = int(CORERelocKind.TYPE_MATCHES)
_R_TYPE_SIZE: Final = int(CORERelocKind.TYPE_SIZE)

_CALL: Final = CLASS_JMP | JUMP_CALL | SOURCE_K
_U64: Final = (1 << 64) - 1
_U32: Final = (1 << 32) - 1




def essential_name(name: str) -> str:
    """``name`` without its ``___flavor`` suffix: ``task_struct___old`` -> ``task_struct``.

    As in libbpf, the suffix starts at the last ``___`` that has a character other than ``_``
    on each side.
    """
    for i in range(len(name) - 5, -1, -1):
        if (name[i] != "_" and name[i + 1:i + 4] == "___" and name[i + 4] != "_"):
            return name[:i + 1]
    return name


_K_ENUM: Final = int(Kind.ENUM)
_ENUM_KINDS: Final = frozenset((_K_ENUM, int(Kind.ENUM64)))


def _kind_key(t: Type) -> int:
    """The kind used to pair candidates: enums of either width count as one kind."""
    return 6 if isinstance(t, Enum) else int(t.kind)


# ---- access specs -------------------------------------------------------------------------------


class _Accessor:
    """One step of an access: ``type`` is the composite (for a named member) or the element
    type (for an array index or the first, pointer-arithmetic, index)."""

    __slots__ = ("idx", "name", "type")

    def __init__(self, type: Type, idx: int, name: str | None) -> None:
        self.type = type
        self.idx = idx
        self.name = name


class _AccessSpec:
    """An access followed through one set of types (``struct bpf_core_spec``)."""

    __slots__ = ("accessors", "bit_offset", "raw", "root", "root_id", "spec")

    def __init__(self, spec: Spec, root: Type, root_id: int, raw: list[int]) -> None:
        self.spec = spec
        self.root = root
        self.root_id = root_id
        self.raw = raw
        self.accessors: list[_Accessor] = []
        self.bit_offset = 0


def _size(t: Type, what: str) -> int:
    try:
        return sizeof(t)
    except BTFError as e:
        raise COREError(f"{what}: {e}") from None


def _is_flex(acc: _Accessor, arr: Array) -> bool:
    """A zero-length array that is the last member of its struct."""
    if acc.name is None or arr.nelems > 0:
        return False
    t = acc.type
    return isinstance(t, Composite) and acc.idx == len(t.members) - 1


def _parse_access(spec: Spec, root: Type, access: list[int], kind: CORERelocKind,
                  what: str) -> _AccessSpec:
    """Follow ``access`` through the local types (``bpf_core_parse_spec``)."""
    if not access:
        raise COREError(f"{what}: empty access string")
    if len(access) > MAX_SPEC_LEN:
        raise COREError(f"{what}: access string is longer than {MAX_SPEC_LEN}")
    out = _AccessSpec(spec, root, spec.type_id(root), list(access))
    if kind.is_type:
        if access != [0]:
            raise COREError(f"{what}: a type relocation takes the access string '0'")
        return out
    t = underlying(root)
    first = access[0]
    if kind.is_enumval:
        if not isinstance(t, Enum) or len(access) > 1 or not 0 <= first < len(t.values):
            raise COREError(f"{what}: enumerator access does not fit the local type")
        out.accessors.append(_Accessor(t, first, t.values[first].name))
        return out
    if first < 0 or any(i < 0 for i in access):
        raise COREError(f"{what}: negative index in access string")
    out.accessors.append(_Accessor(t, first, None))
    out.bit_offset = first * _size(t, what) * 8
    for idx in access[1:]:
        t = underlying(t)
        if isinstance(t, Composite):
            if idx >= len(t.members):
                raise COREError(f"{what}: member #{idx} of {_describe(t)} does not exist")
            m = t.members[idx]
            out.bit_offset += m.offset
            if m.name:
                out.accessors.append(_Accessor(t, idx, m.name))
            t = m.type
        elif isinstance(t, Array):
            flex = _is_flex(out.accessors[-1], t)
            elem = underlying(t.type)
            if not flex and idx >= t.nelems:
                raise COREError(f"{what}: index {idx} is beyond the {t.nelems} elements of "
                                "the array")
            out.accessors.append(_Accessor(elem, idx, None))
            out.bit_offset += idx * _size(elem, what) * 8
            t = elem
        else:
            raise COREError(f"{what}: access string goes into {_describe(t)}, which has no "
                            "members or elements")
    return out


def _describe(t: Type) -> str:
    if isinstance(t, Void):
        return "void"
    if isinstance(t, Struct):
        kind = "struct"
    elif isinstance(t, Union):
        kind = "union"
    else:
        kind = "enum" if isinstance(t, Enum) else t.kind.name.lower()
    return f"{kind} {t.name}" if t.name else f"anonymous {kind}"


def _access_text(a: _AccessSpec) -> str:
    """A readable form of a field access: ``task_struct.real_parent``, ``foo[1].b.c[2]``."""
    root = underlying(a.root)
    parts = [root.name or "(anon)"]
    if a.raw and a.raw[0]:
        parts.append(f"[{a.raw[0]}]")
    t = root
    for idx in a.raw[1:]:
        t = underlying(t)
        if isinstance(t, Composite) and idx < len(t.members):
            m = t.members[idx]
            parts.append(f".{m.name}" if m.name else f".<anon#{idx}>")
            t = m.type
        elif isinstance(t, Array):
            parts.append(f"[{idx}]")
            t = t.type
        else:
            parts.append(f":{idx}")
    return "".join(parts)


# ---- compatibility ------------------------------------------------------------------------------


def _fields_compat(local: Type, targ: Type) -> bool:
    """Whether a member of type ``local`` may be relocated to one of type ``targ``."""
    for _ in range(_MAX_DEPTH):
        local = underlying(local)
        targ = underlying(targ)
        if isinstance(local, Composite) and isinstance(targ, Composite):
            return True
        if (isinstance(local, Enum) and isinstance(targ, Enum)) or (
                isinstance(local, Fwd) and isinstance(targ, Fwd)):
            ln, tn = essential_name(local.name), essential_name(targ.name)
            return not ln or not tn or ln == tn
        if local.kind != targ.kind:
            return False
        if isinstance(local, (Pointer, Float)):
            return True
        if isinstance(local, Int):
            assert isinstance(targ, Int)
            return local.offset == 0 and targ.offset == 0
        if isinstance(local, Array):
            assert isinstance(targ, Array)
            local, targ = local.type, targ.type
            continue
        return False
    raise COREError("type nesting is too deep while comparing fields")


def _types_compat(local: Type, targ: Type, level: int = _MAX_DEPTH) -> bool:
    """``bpf_core_types_are_compat``: the rules for type-based relocations."""
    if _kind_key(local) != _kind_key(targ):
        return False
    for _ in range(_MAX_DEPTH):
        local = underlying(local)
        targ = underlying(targ)
        if _kind_key(local) != _kind_key(targ):
            return False
        if isinstance(local, (Void, Composite, Enum, Fwd)):
            return True
        if isinstance(local, Int):
            assert isinstance(targ, Int)
            return local.offset == 0 and targ.offset == 0
        if isinstance(local, Pointer):
            assert isinstance(targ, Pointer)
            local, targ = local.target, targ.target
            continue
        if isinstance(local, Array):
            assert isinstance(targ, Array)
            local, targ = local.type, targ.type
            continue
        if isinstance(local, FuncProto):
            assert isinstance(targ, FuncProto)
            if len(local.params) != len(targ.params):
                return False
            if level <= 0:
                raise COREError("type nesting is too deep while comparing types")
            for lp, tp in zip(local.params, targ.params, strict=True):
                if not _types_compat(underlying(lp.type), underlying(tp.type), level - 1):
                    return False
            local, targ = local.return_type, targ.return_type
            continue
        return False
    raise COREError("type nesting is too deep while comparing types")


def _names_match(local: str, targ: str) -> bool:
    if not targ:
        return not local
    return essential_name(local) == essential_name(targ)


def _types_match(local: Type, targ: Type, behind_ptr: bool = False,
                 level: int = _MAX_DEPTH) -> bool:
    """``bpf_core_types_match``: the stricter rules of ``bpf_core_type_matches()``."""
    if level <= 0:
        raise COREError("type nesting is too deep while matching types")
    for _ in range(_MAX_DEPTH):
        local = underlying(local)
        targ = underlying(targ)
        if not _names_match(local.name, targ.name):
            return False
        if isinstance(local, Void):
            return isinstance(targ, Void)
        if isinstance(local, Fwd):
            is_union = local.fwd_kind == FwdKind.UNION
            if isinstance(targ, Fwd):
                return targ.fwd_kind == local.fwd_kind
            if behind_ptr:
                return isinstance(targ, Union) if is_union else isinstance(targ, Struct)
            return False
        if isinstance(local, Enum):
            if not isinstance(targ, Enum) or local.size != targ.size:
                return False
            return all(any(_names_match(lv.name, tv.name) for tv in targ.values)
                       for lv in local.values)
        if isinstance(local, Composite):
            if behind_ptr:
                if local.kind == targ.kind:
                    return True
                return isinstance(targ, Fwd) and (
                    (targ.fwd_kind == FwdKind.UNION) == isinstance(local, Union))
            if local.kind != targ.kind:
                return False
            assert isinstance(targ, Composite)
            if len(local.members) > len(targ.members):
                return False
            for lm in local.members:
                if not any(_names_match(lm.name, tm.name)
                           and lm.bitfield_size == tm.bitfield_size
                           and _types_match(lm.type, tm.type, behind_ptr, level - 1)
                           for tm in targ.members):
                    return False
            return True
        if local.kind != targ.kind:
            return False
        if isinstance(local, Int):
            assert isinstance(targ, Int)
            return local.size == targ.size and local.signed == targ.signed
        if isinstance(local, Pointer):
            assert isinstance(targ, Pointer)
            behind_ptr = True
            local, targ = local.target, targ.target
            continue
        if isinstance(local, Array):
            assert isinstance(targ, Array)
            if local.nelems != targ.nelems:
                return False
            local, targ = local.type, targ.type
            continue
        if isinstance(local, FuncProto):
            assert isinstance(targ, FuncProto)
            if len(local.params) != len(targ.params):
                return False
            for lp, tp in zip(local.params, targ.params, strict=True):
                if not _types_match(lp.type, tp.type, behind_ptr, level - 1):
                    return False
            local, targ = local.return_type, targ.return_type
            continue
        if isinstance(local, Float):
            assert isinstance(targ, Float)
            return local.size == targ.size
        return False
    raise COREError("type nesting is too deep while matching types")


# ---- matching a local access against a candidate ------------------------------------------------


def _match_member(local_acc: _Accessor, targ: Type, out: _AccessSpec,
                  depth: int = 0) -> Type | None:
    """Find the member ``local_acc`` names in composite ``targ`` (looking into anonymous
    members); on success extend ``out`` and return the member's type."""
    targ = underlying(targ)
    if not isinstance(targ, Composite):
        return None
    if depth > _MAX_DEPTH:
        raise COREError("anonymous members nest too deeply")
    local_t = local_acc.type
    assert isinstance(local_t, Composite)
    local_m = local_t.members[local_acc.idx]
    members = targ.members
    # A named member matches only by name: find it with one cheap pass, so that only the
    # anonymous members before it need a look (and their types decoding).
    name = local_m.name
    stop = len(members)
    if name:
        for j, m in enumerate(members):
            if m.name == name:
                stop = j + 1
                break
    for i in range(stop):
        m = members[i]
        if m.name and i + 1 < stop:
            continue
        if len(out.raw) >= MAX_SPEC_LEN:
            raise COREError(f"access is longer than {MAX_SPEC_LEN} steps in the target")
        out.bit_offset += m.offset
        out.raw.append(i)
        if not m.name:
            found = _match_member(local_acc, m.type, out, depth + 1)
            if found is not None:
                return found
        elif m.name == local_m.name:
            if not _fields_compat(local_m.type, m.type):
                return None
            out.accessors.append(_Accessor(targ, i, m.name))
            return m.type
        out.bit_offset -= m.offset
        out.raw.pop()
    return None


def _match_spec(local: _AccessSpec, kind: CORERelocKind, tspec: Spec, cand: Type,
                what: str) -> _AccessSpec | None:
    """``bpf_core_spec_match``: the target access of ``local`` in candidate ``cand``."""
    out = _AccessSpec(tspec, cand, tspec.type_id(cand), [])
    if kind.is_type:
        ok = (_types_match(local.root, cand) if kind == _R_TYPE_MATCHES
              else _types_compat(local.root, cand))
        return out if ok else None
    if kind.is_enumval:
        t = underlying(cand)
        if not isinstance(t, Enum):
            return None
        name = local.accessors[0].name
        assert name is not None
        ess = essential_name(name)
        for i, v in enumerate(t.values):
            if essential_name(v.name) == ess:
                out.accessors.append(_Accessor(t, i, v.name))
                out.raw.append(i)
                return out
        return None
    cur: Type = cand
    for n, acc in enumerate(local.accessors):
        cur = underlying(cur)
        if acc.name is not None:
            found = _match_member(acc, cur, out)
            if found is None:
                return None
            cur = found
            continue
        if n > 0:
            if not isinstance(cur, Array):
                return None
            if not _is_flex(out.accessors[-1], cur) and acc.idx >= cur.nelems:
                return None
            cur = underlying(cur.type)
        if len(out.raw) >= MAX_SPEC_LEN:
            raise COREError(f"{what}: access is longer than {MAX_SPEC_LEN} steps in the target")
        out.accessors.append(_Accessor(cur, acc.idx, None))
        out.raw.append(acc.idx)
        out.bit_offset += acc.idx * _size(cur, what) * 8
    return out


# ---- computing values ---------------------------------------------------------------------------


class _Poison(Exception):
    """The relocation cannot be satisfied: poison the instruction."""


class _FieldValue:
    """One side's answer to a field relocation; ``size`` and ``type`` describe a
    non-bitfield field for LDX/ST/STX width adjustment."""

    __slots__ = ("size", "type", "validate", "value")

    def __init__(self, value: int, size: int = 0, type: Type | None = None,
                 validate: bool = True) -> None:
        self.value = value
        self.size = size
        self.type = type
        self.validate = validate


def _field_value(a: _AccessSpec | None, kind: CORERelocKind, what: str,
                 order: str) -> _FieldValue:
    """``bpf_core_calc_field_relo`` for one side."""
    if kind == _R_FIELD_EXISTS:
        return _FieldValue(1 if a is not None else 0)
    if a is None:
        raise _Poison
    acc = a.accessors[-1]
    if acc.name is None:
        sz = _size(acc.type, what)
        if kind == _R_FIELD_BYTE_OFFSET:
            return _FieldValue(a.bit_offset // 8, sz, acc.type)
        if kind == _R_FIELD_BYTE_SIZE:
            return _FieldValue(sz)
        raise COREError(f"{what}: {kind.macro} cannot be applied to an array element")
    comp = acc.type
    assert isinstance(comp, Composite)
    m = comp.members[acc.idx]
    mtype = underlying(m.type)
    bit_off = a.bit_offset
    bit_sz = m.bitfield_size
    bitfield = bit_sz > 0
    if bitfield:
        if not isinstance(mtype, (Int, Enum)):
            raise COREError(f"{what}: bitfield {m.name!r} is not an integer")
        byte_sz = mtype.size
        byte_off = bit_off // 8 // byte_sz * byte_sz
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8:
            if byte_sz >= 8:
                raise COREError(f"{what}: bitfield {m.name!r} cannot be read with one "
                                "64-bit load")
            byte_sz *= 2
            byte_off = bit_off // 8 // byte_sz * byte_sz
    else:
        byte_sz = _size(mtype, what)
        byte_off = bit_off // 8
        bit_sz = byte_sz * 8
    validate = not bitfield
    if kind == _R_FIELD_BYTE_OFFSET:
        if bitfield:
            return _FieldValue(byte_off, validate=validate)
        return _FieldValue(byte_off, byte_sz, mtype, validate)
    if kind == _R_FIELD_BYTE_SIZE:
        return _FieldValue(byte_sz, validate=validate)
    if kind == _R_FIELD_SIGNED:
        signed = (isinstance(mtype, Enum) and mtype.signed) or (
            isinstance(mtype, Int) and bool(mtype.encoding & IntEncoding.SIGNED))
        return _FieldValue(int(signed), validate=validate)
    if kind == _R_FIELD_LSHIFT_U64:
        if order == "<":
            return _FieldValue(64 - (bit_off + bit_sz - byte_off * 8), validate=validate)
        return _FieldValue((8 - byte_sz) * 8 + (bit_off - byte_off * 8), validate=validate)
    if kind == _R_FIELD_RSHIFT_U64:
        return _FieldValue(64 - bit_sz, validate=True)
    raise COREError(f"{what}: {kind.name} is not a field relocation")  # pragma: no cover


def _type_value(a: _AccessSpec | None, kind: CORERelocKind, what: str) -> int:
    if a is None:
        return 0
    if kind == _R_TYPE_ID_TARGET:
        return a.root_id
    if kind in (_R_TYPE_EXISTS, _R_TYPE_MATCHES):
        return 1
    if kind == _R_TYPE_SIZE:
        return _size(a.root, what)
    raise COREError(f"{what}: {kind.name} is not a type relocation")  # pragma: no cover


def _enum_value(a: _AccessSpec | None, kind: CORERelocKind) -> int:
    if kind == _R_ENUMVAL_EXISTS:
        return 1 if a is not None else 0
    if a is None:
        raise _Poison
    acc = a.accessors[0]
    t = acc.type
    assert isinstance(t, Enum)
    v = t.values[acc.idx].value
    if not isinstance(t, Enum64):
        v &= _U32
        if v & 0x8000_0000:  # BTF_KIND_ENUM holds an s32, which libbpf widens with its sign
            v -= 1 << 32
    return v & _U64


class COREFixup(NamedTuple):
    """The outcome of one CO-RE relocation.

    Attributes:
        kind: what is relocated.
        local: the value the instruction holds as compiled (the local BTF's answer).
        target: the value to write instead.
        poison: no target satisfies the relocation: the instruction is to be poisoned.
        validate: whether the instruction must hold ``local`` (checked when patching).
        local_size, target_size: for a field's byte offset, the field's size in bytes on
            each side (a load or store of it changes width when they differ).
        bad_resize: the width change is unsafe (not between unsigned integers or pointers):
            a load or store is poisoned instead.
        target_type_id: the id of the target type that matched (0 if none).
        description: the relocation in words, for messages.
    """

    kind: CORERelocKind
    local: int
    target: int
    poison: bool = False
    validate: bool = True
    local_size: int = 0
    target_size: int = 0
    bad_resize: bool = False
    target_type_id: int = 0
    description: str = ""

    def __str__(self) -> str:
        if self.poison:
            return f"{self.description}: poisoned"
        return f"{self.description}: {self.local} -> {self.target}"


def _unsigned_or_ptr(a: Type | None, b: Type | None) -> bool:
    if isinstance(a, Pointer) and isinstance(b, Pointer):
        return True
    return (isinstance(a, Int) and isinstance(b, Int) and not a.signed and not b.signed)


_FLAVORED: weakref.WeakKeyDictionary[Spec, dict[str, list[str]]] = weakref.WeakKeyDictionary()
_FLAVORED_LOCK: Final = threading.Lock()


def _flavored_names(spec: Spec) -> dict[str, list[str]]:
    """Names in ``spec``'s own string section that carry a flavor, by essential name.

    Found by scanning the strings for ``___`` (a C-speed search; the kernel's scan is kept in
    its on-disk index), once per spec.
    """
    got = _FLAVORED.get(spec)
    if got is not None:
        return got
    raw = spec.raw
    out: dict[str, list[str]] = {}
    for start in raw.flavored_strings():
        name = raw.local_name_bytes(start).decode("utf-8", "replace")
        ess = essential_name(name)
        if ess != name and name not in out.setdefault(ess, []):
            out[ess].append(name)
    with _FLAVORED_LOCK:
        return _FLAVORED.setdefault(spec, out)


# ---- the resolver -------------------------------------------------------------------------------


class COREResolver:
    """Computes CO-RE relocations of objects described by ``local`` against ``targets``.

    ``targets`` are searched in order for candidates, each only if the ones before it
    offered none: pass the kernel's spec first, then module specs (split on it). Candidates
    and results are cached, so one resolver should serve every program of an object.

    Args:
        local: the object's BTF.
        targets: the target specs (at least one).
        more: gives further target specs (kernel modules), called once, only when a type
            has no candidate in ``targets``.
    """

    def __init__(self, local: Spec, targets: Spec | Sequence[Spec], *,
                 more: Callable[[], Sequence[Spec]] | None = None) -> None:
        self.local = local
        self.targets: tuple[Spec, ...] = (targets,) if isinstance(targets, Spec) else tuple(
            targets)
        if not self.targets:
            raise ValueError("CO-RE needs at least one target spec")
        self._more = more
        self._cands: dict[tuple[str, int], list[tuple[Spec, Type]]] = {}
        self._results: dict[tuple[int, str, int], COREFixup] = {}

    def candidates(self, local: Type) -> list[tuple[Spec, Type]]:
        """The target types that may stand for ``local``: same kind (enums of either width
        together), same essential name; from the first target spec that has any."""
        name = essential_name(local.name)
        key = (name, _kind_key(local))
        got = self._cands.get(key)
        if got is not None:
            return got
        out = self._search(self.targets, name, key[1])
        if not out and self._more is not None:
            searched = len(self.targets)
            self.targets += tuple(self._more())
            self._more = None
            out = self._search(self.targets[searched:], name, key[1])
        self._cands[key] = out
        return out

    @staticmethod
    def _search(targets: Sequence[Spec], name: str, kind: int) -> list[tuple[Spec, Type]]:
        out: list[tuple[Spec, Type]] = []
        for tspec in targets:
            base = tspec.base
            first_own = len(base) + 1 if base is not None else 1
            names = [name, *_flavored_names(tspec).get(name, ())]
            # Filter by the records' kind and id before decoding: only the candidates
            # themselves are built (a name may be shared by a big struct and its typedef).
            kinds = _ENUM_KINDS if kind == _K_ENUM else frozenset((kind,))
            for n in names:
                if not n:
                    continue
                for tid in tspec._ids_by_name(n.encode(), kinds):
                    if tid < first_own:
                        continue  # a base type: found (or not) in the base already
                    out.append((tspec, tspec.type_by_id(tid)))
            if out:
                break
        return out

    def resolve(self, type_id: int, access_str: str, kind: int) -> COREFixup:
        """The fixup of the relocation (``type_id``, ``access_str``, ``kind``).

        Raises:
            COREError: the record is malformed for the local BTF, the candidates disagree
                (ambiguity), or a field cannot be relocated (e.g. a bitfield too wide).
        """
        key = (type_id, access_str, int(kind))
        got = self._results.get(key)
        if got is None:
            got = self._resolve(type_id, access_str, kind)
            self._results[key] = got
        return got

    def _resolve(self, type_id: int, access_str: str, kind_n: int) -> COREFixup:
        try:
            kind = CORERelocKind(kind_n)
        except ValueError:
            raise COREError(f"unknown CO-RE relocation kind {kind_n}") from None
        try:
            root = self.local.type_by_id(type_id)
        except BTFError:
            raise COREError(f"{kind.macro} relocation names local type id {type_id}, which "
                            "does not exist") from None
        what = f"{kind.macro} of [{type_id}] {_describe(underlying(root))} ({access_str})"
        try:
            access = [int(p) for p in access_str.split(":")]
        except ValueError:
            raise COREError(f"{what}: invalid access string") from None
        if kind == _R_TYPE_ID_LOCAL:
            if access != [0]:
                raise COREError(f"{what}: a type relocation takes the access string '0'")
            return COREFixup(kind, type_id, type_id, description=what)
        if not root.name:
            raise COREError(f"{what}: CO-RE relocations of anonymous types are not possible")
        local = _parse_access(self.local, root, access, kind, what)
        if kind.is_field:
            what = (f"{kind.macro} of [{type_id}] {_describe(underlying(root))}: "
                    f"{_access_text(local)} ({access_str})")
        elif kind.is_enumval:
            what = (f"{kind.macro} of [{type_id}] {_describe(underlying(root))}::"
                    f"{local.accessors[0].name} ({access_str})")
        order = self.local.byte_order
        result: COREFixup | None = None
        matched: _AccessSpec | None = None
        for tspec, cand in self.candidates(root):
            targ = _match_spec(local, kind, tspec, cand, what)
            if targ is None:
                continue
            fix = self._compute(kind, local, targ, what, order)
            if result is None:
                result, matched = fix, targ
                continue
            assert matched is not None
            if kind.is_field and targ.bit_offset != matched.bit_offset:
                raise COREError(f"{what}: ambiguous: candidates [{matched.root_id}] and "
                                f"[{targ.root_id}] put the field at different offsets "
                                f"({matched.bit_offset} != {targ.bit_offset} bits)")
            if fix.poison != result.poison or fix.target != result.target:
                raise COREError(f"{what}: ambiguous: candidates [{matched.root_id}] and "
                                f"[{targ.root_id}] give different results "
                                f"({result.target} != {fix.target})")
        if result is None:
            result = self._compute(kind, local, None, what, order)
        return result

    def _compute(self, kind: CORERelocKind, local: _AccessSpec, targ: _AccessSpec | None,
                 what: str, order: str) -> COREFixup:
        tid = targ.root_id if targ is not None else 0
        if kind.is_field:
            lv = _field_value(local, kind, what, order)
            try:
                tv = _field_value(targ, kind, what, order)
            except _Poison:
                return COREFixup(kind, lv.value, 0, poison=True, validate=lv.validate,
                                 description=what)
            bad = lv.size != tv.size and not _unsigned_or_ptr(lv.type, tv.type)
            return COREFixup(kind, lv.value, tv.value, validate=lv.validate,
                             local_size=lv.size, target_size=tv.size, bad_resize=bad,
                             target_type_id=tid, description=what)
        if kind.is_type:
            validate = kind != _R_TYPE_ID_TARGET
            return COREFixup(kind, _type_value(local, kind, what), _type_value(targ, kind, what),
                             validate=validate, target_type_id=tid, description=what)
        lval = _enum_value(local, kind)
        try:
            tval = _enum_value(targ, kind)
        except _Poison:
            return COREFixup(kind, lval, 0, poison=True, description=what)
        return COREFixup(kind, lval, tval, target_type_id=tid, description=what)


# ---- patching instructions ----------------------------------------------------------------------

_SIZES: Final = {1: SIZE_B, 2: SIZE_H, 4: SIZE_W, 8: SIZE_DW}
_BYTES: Final = {SIZE_B: 1, SIZE_H: 2, SIZE_W: 4, SIZE_DW: 8}


def poison_instruction(ins: Instruction) -> list[Instruction]:
    """The instruction(s) that replace ``ins`` when its relocation fails: a call of helper
    :data:`POISON_HELPER` per slot (an ldimm64 becomes two), keeping ``ins``'s symbol."""
    bad = Instruction(_CALL, constant=POISON_HELPER, symbol=ins.symbol, source=ins.source)
    if ins.is_ldimm64:
        return [bad, Instruction(_CALL, constant=POISON_HELPER)]
    return [bad]


def patch_instruction(ins: Instruction, fix: COREFixup, what: str) -> list[Instruction]:
    """``ins`` rewritten by ``fix`` (``bpf_core_patch_insn``): one instruction, or two
    poisoned slots for an ldimm64.

    Raises:
        COREError: the instruction cannot carry this relocation or does not hold the value
            the local BTF predicts.
    """
    if fix.poison:
        return poison_instruction(ins)
    op = ins.opcode
    cls = op & 0x07
    local, new = fix.local, fix.target
    if cls in (CLASS_ALU, CLASS_ALU64):
        if op & 0x08 != SOURCE_K:
            raise COREError(f"{what}: ALU instruction {ins} has no immediate to relocate")
        if fix.validate and (ins.constant & _U32) != (local & _U32):
            raise COREError(f"{what}: instruction {ins} holds {ins.constant}, expected {local}")
        return [replace(ins, constant=new & _U32)]
    if cls in (CLASS_LDX, CLASS_ST, CLASS_STX):
        if fix.validate and ins.offset != local:
            raise COREError(f"{what}: instruction {ins} has offset {ins.offset}, expected "
                            f"{local}")
        if new > 0x7FFF:
            raise COREError(f"{what}: offset {new} is too large for {ins}")
        if fix.bad_resize:
            return poison_instruction(ins)
        out = replace(ins, offset=new)
        if fix.local_size != fix.target_size:
            size = _BYTES[op & 0x18]
            if size != fix.local_size:
                raise COREError(f"{what}: {ins} accesses {size} bytes, expected "
                                f"{fix.local_size}")
            new_size = _SIZES.get(fix.target_size)
            if new_size is None:
                raise COREError(f"{what}: cannot access a field of {fix.target_size} bytes "
                                "with one instruction")
            out = replace(out, opcode=(op & ~0x18) | new_size)
        return [out]
    if op == LDIMM64:
        if int(ins.src) != 0 or ins.offset != 0:
            raise COREError(f"{what}: 64-bit load {ins} has an unexpected form")
        if fix.validate and (ins.constant & _U64) != (local & _U64):
            raise COREError(f"{what}: instruction {ins} holds {ins.constant}, expected {local}")
        return [replace(ins, constant=new & _U64)]
    raise COREError(f"{what}: cannot relocate instruction {ins}")


class AppliedRelocation(NamedTuple):
    """One relocation as applied to a program: the slot of its instruction and the fixup."""

    slot: int
    fixup: COREFixup


def relocate(insns: Instructions, relos: Iterable[tuple[int, int, str, int]],
             resolver: COREResolver, *, context: str = "") -> tuple[Instructions,
                                                                     list[AppliedRelocation]]:
    """A copy of ``insns`` with every relocation applied.

    Args:
        insns: the linked program.
        relos: ``(slot, type_id, access_str, kind)`` of each relocation, ``slot`` counting
            8-byte slots from the start of ``insns``.
        resolver: computes the fixups.
        context: names the program in error messages.

    Returns:
        The new instructions (slot positions unchanged: a poisoned ldimm64 becomes two
        one-slot calls) and the relocations applied, in the order given.

    Raises:
        COREError: a relocation could not be computed or applied; the message names it,
            the instruction and ``context``.
    """
    index: dict[int, int] = {}
    pos = 0
    for i, ins in enumerate(insns):
        index[pos] = i
        pos += ins.slots
    replaced: dict[int, list[Instruction]] = {}
    applied: list[AppliedRelocation] = []
    prefix = f"{context}: " if context else ""
    for n, (slot, type_id, access_str, kind) in enumerate(relos):
        at = index.get(slot)
        where = f"{prefix}CO-RE relocation #{n} at instruction {slot}"
        if at is None:
            raise COREError(f"{where}: no instruction starts at this slot")
        i = at
        try:
            fix = resolver.resolve(type_id, access_str, kind)
        except COREError as e:
            raise COREError(f"{where}: {e}") from None
        current = replaced.get(i, [insns[i]])
        if len(current) != 1:
            continue  # already poisoned by another relocation
        try:
            replaced[i] = patch_instruction(current[0], fix, fix.description)
        except COREError as e:
            raise COREError(f"{where}: {e}") from None
        applied.append(AppliedRelocation(slot, fix))
    if not replaced:
        return insns.copy(), applied
    out = Instructions()
    for i, ins in enumerate(insns):
        out.extend(replaced.get(i, (ins,)))
    return out, applied


_POISON_CALL: Final = r"^(\d+): \(85\) call unknown#" + str(POISON_HELPER) + r"\b"


def poisoned_relocation(log: Sequence[str], applied: Iterable[AppliedRelocation]
                        ) -> AppliedRelocation | None:
    """The poisoned relocation a verifier log shows the program reaching, if any.

    The verifier refuses a reachable poisoned instruction with ``invalid func
    unknown#195896080``, after a line ``N: (85) call unknown#195896080`` giving its slot.
    """
    if not any(f"unknown#{POISON_HELPER}" in line for line in log):
        return None
    import re  # here, after a failed load: importing re costs milliseconds

    call = re.compile(_POISON_CALL)
    slot = None
    for line in log:
        m = call.match(line.strip())
        if m:
            slot = int(m.group(1))
    by_slot = {a.slot: a for a in applied if a.fixup.poison or a.fixup.bad_resize}
    if slot is not None:
        hit = by_slot.get(slot) or by_slot.get(slot - 1)  # 2nd slot of a poisoned ldimm64
        if hit is not None:
            return hit
    return next(iter(by_slot.values()), None) if len(by_slot) == 1 else None
