"""An object file's BTF made loadable by the kernel, ids unchanged.

clang writes BTF the kernel refuses as it is: extern variables (``.kconfig``, ``__ksym``) and
extern functions (kfuncs), a ``.ksyms`` section that lists kfuncs, typeless ksyms of type
``void``, and kinds an older kernel lacks. :func:`load_object_btf` rewrites those the way libbpf
does, keeping every type id (func and line info and CO-RE records refer to them), and loads the
result as one BTF object that the programs and maps of a collection share.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import NamedTuple

from ebpf.btf.handle import Handle, detect_marshal_options
from ebpf.btf.marshal import Builder, MarshalOptions
from ebpf.btf.spec import NotFoundError, Spec
from ebpf.btf.types import (
    Datasec,
    Func,
    FuncLinkage,
    FuncParam,
    FuncProto,
    Int,
    Type,
    Var,
    VarLinkage,
    VarSecinfo,
    Void,
    underlying,
)
from ebpf.errors import BTFError

__all__ = ["ObjectBTF", "kernel_ready_types", "load_object_btf"]


class ObjectBTF(NamedTuple):
    """An object's BTF loaded into the kernel.

    Attributes:
        handle: the BTF object; its :meth:`~ebpf.btf.Handle.type_id` gives the ids of the
            object's types and of the extra types.
        strings: the offset of each requested string (line info file names and source lines)
            in the loaded string table.
    """

    handle: Handle
    strings: dict[str, int]


def _kinds_of(types: Spec) -> frozenset[int] | None:
    """The raw kinds of the types of ``types`` (None for split BTF): what the loaded object
    holds besides the integers and the rewrites of :func:`kernel_ready_types`, which are of
    kinds it has."""
    if types.base is not None:
        return None
    raw = types.raw
    words = raw.words
    offsets = raw.index.offsets
    return frozenset(words[offsets[i] + 1] >> 24 & 0x1F for i in range(len(offsets) - 1))


def kernel_ready_types(types: Spec, *, kconfig_offsets: Mapping[str, int],
                       kconfig_size: int) -> dict[int, Type]:
    """What the kernel refuses among the types of ``types``, rewritten, by type id.

    Extern variables become global ones (in ``.kconfig`` at the offsets the loader laid them out
    at, ``kconfig_offsets``, in a section of ``kconfig_size`` bytes), extern functions global
    ones with every parameter named, and ``.ksyms`` (which lists kfuncs) a section of
    placeholder variables, as the kernel accepts only variables in a ``DATASEC``. Only
    variables, functions and data sections are decoded to find them.
    """
    out: dict[int, Type] = {}
    swapped: dict[int, Var] = {}
    for t in types.iter_types(Var):
        if t.linkage == VarLinkage.EXTERN:
            # A typeless ksym (const void) gets a type the kernel accepts, as libbpf does.
            vtype = Int("int", 4) if isinstance(underlying(t.type), Void) else t.type
            tid = types.type_id(t)
            out[tid] = swapped[tid] = Var(t.name, vtype, VarLinkage.GLOBAL)
    for f in types.iter_types(Func):
        if f.linkage == FuncLinkage.EXTERN:
            proto = f.type
            if not isinstance(proto, FuncProto):
                raise BTFError(f"extern function {f.name!r} has no prototype")
            named = FuncProto(proto.return_type, [
                FuncParam(p.name or f"arg{n}", p.type) for n, p in enumerate(proto.params)])
            out[types.type_id(proto)] = named
            out[types.type_id(f)] = Func(f.name, named, FuncLinkage.GLOBAL)
    for sec in types.iter_types(Datasec):
        tid = types.type_id(sec)
        if not isinstance(out.get(tid, sec), Datasec):
            continue
        if sec.name == ".kconfig":
            infos = []
            for vs in sec.vars:
                var = swapped.get(types.type_id(vs.type), vs.type)
                offset = kconfig_offsets.get(getattr(var, "name", ""), 0)
                infos.append(VarSecinfo(var, offset, vs.size))
            # The kernel wants a section's variables in offset order; the loader's layout (by
            # alignment, size and name) need not follow the order the compiler emitted.
            infos.sort(key=lambda si: si.offset)
            out[tid] = Datasec(sec.name, kconfig_size, infos)
        elif sec.name == ".ksyms":
            dummies = [VarSecinfo(Var(f"__ksym_{n}", Int("int", 4), VarLinkage.GLOBAL),
                                  4 * n, 4) for n in range(len(sec.vars))]
            out[tid] = Datasec(sec.name, 4 * len(dummies), dummies)
        elif any(types.type_id(vs.type) in swapped for vs in sec.vars):
            out[tid] = Datasec(sec.name, sec.size, [
                VarSecinfo(swapped.get(types.type_id(vs.type), vs.type), vs.offset, vs.size)
                for vs in sec.vars])
    return out


def _builder(types: Spec, replacements: dict[int, Type], extra_types: Iterable[Type],
             options: MarshalOptions) -> Builder:
    b = Builder(options)
    if types.base is None:
        b.add_spec(types, replacements)
    else:
        for tid in range(1, len(types) + 1):
            b.add(replacements.get(tid) or types.type_by_id(tid))
    for t in extra_types:
        try:
            types.type_id(t)
        except NotFoundError:
            b.add(t)
    return b


def load_object_btf(types: Spec, *, kconfig_offsets: Mapping[str, int] | None = None,
                    kconfig_size: int = 0, extra_types: Iterable[Type] = (),
                    strings: Iterable[str] = ()) -> ObjectBTF:
    """Load the types of an object file into the kernel as one BTF object, ids unchanged.

    ``extra_types`` (types the object's BTF lacks, such as the integer keys the ELF reader
    gives global-data maps) are added after the object's own; ``strings`` are added to the
    string table and their offsets returned. Kinds this kernel lacks are rewritten as
    :func:`~ebpf.btf.handle.detect_marshal_options` says.

    Raises:
        BTFError: the types are malformed (the first malformed one is named), or the kernel
            rejected them (its log ends the message).
        SyscallError: loading failed for another reason (e.g. ``EPERM``).
    """
    replacements = kernel_ready_types(types, kconfig_offsets=kconfig_offsets or {},
                                      kconfig_size=kconfig_size)
    # No deduplication: the ids must stay those the func, line and CO-RE records use.
    options = replace(detect_marshal_options(_kinds_of(types)), dedup=False)
    extra = list(extra_types)
    wanted = sorted(set(strings))

    def build() -> Builder:
        b = _builder(types, replacements, extra, options)
        for text in wanted:
            b.string_offset(text)
        return b

    try:
        b = build()
        blob = b.marshal()
    except (BTFError, AssertionError):
        # Malformed types. Types are copied from the blob where they were not decoded yet;
        # decode them all in id order so that the error names the first one. If they all
        # decode, the same steps now see only decoded types and report the error as before.
        for tid in range(1, len(types) + 1):
            types.type_by_id(tid)
        b = build()
        blob = b.marshal()
    handle = Handle.from_bytes(blob, what="load the object's BTF", builder=b)
    return ObjectBTF(handle, {text: b.string_offset(text) for text in wanted})
