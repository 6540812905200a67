"""BPF Type Format: parse, look up, format, marshal and use BTF type information.

Typical use::

    from ebpf import btf

    spec = btf.load_kernel_spec()                     # vmlinux, parsed once per process
    task = spec.type_by_name("task_struct", btf.Struct)
    size, first = btf.sizeof(task), [m.name for m in task.members][:5]

The parsing side (:mod:`types`, :mod:`parse`, :mod:`spec`, :mod:`ext_info`, :mod:`format`,
:mod:`values`, :mod:`marshal`) makes no system calls; only :mod:`handle` talks to the kernel
and only :mod:`kernel` reads ``/sys``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ebpf.btf.spec import (
    NotFoundError as NotFoundError,
    Spec as Spec,
    load_spec as load_spec,
    load_spec_from_bytes as load_spec_from_bytes,
    load_spec_from_reader as load_spec_from_reader,
    load_split_spec as load_split_spec,
)
from ebpf.btf.types import (
    Array as Array,
    Composite as Composite,
    Const as Const,
    Datasec as Datasec,
    DeclTag as DeclTag,
    Enum as Enum,
    Enum64 as Enum64,
    EnumValue as EnumValue,
    Float as Float,
    Func as Func,
    FuncLinkage as FuncLinkage,
    FuncParam as FuncParam,
    FuncProto as FuncProto,
    Fwd as Fwd,
    FwdKind as FwdKind,
    Int as Int,
    IntEncoding as IntEncoding,
    Kind as Kind,
    Member as Member,
    Pointer as Pointer,
    Qualifier as Qualifier,
    Restrict as Restrict,
    Struct as Struct,
    Type as Type,
    Typedef as Typedef,
    TypeTag as TypeTag,
    Union as Union,
    Var as Var,
    VarLinkage as VarLinkage,
    VarSecinfo as VarSecinfo,
    Void as Void,
    Volatile as Volatile,
    alignof as alignof,
    copy_types as copy_types,
    sizeof as sizeof,
    skip_qualifiers as skip_qualifiers,
    underlying as underlying,
)
from ebpf.internal.lazy import lazy_attributes

if TYPE_CHECKING:
    from ebpf.btf.ext_info import (
        CORERelo as CORERelo,
        CORERelocKind as CORERelocKind,
        ExtInfo as ExtInfo,
        FuncInfo as FuncInfo,
        LineInfo as LineInfo,
        load_elf_btf as load_elf_btf,
        load_ext_info as load_ext_info,
    )
    from ebpf.btf.format import (
        CFormatter as CFormatter,
        declaration as declaration,
        format_c as format_c,
        type_name as type_name,
    )
    from ebpf.btf.handle import (
        BTFLoadError as BTFLoadError,
        Handle as Handle,
        HandleInfo as HandleInfo,
        detect_marshal_options as detect_marshal_options,
    )
    from ebpf.btf.kernel import (
        flush_kernel_spec as flush_kernel_spec,
        load_kernel_module_spec as load_kernel_module_spec,
        load_kernel_spec as load_kernel_spec,
    )
    from ebpf.btf.marshal import (
        Builder as Builder,
        MarshalOptions as MarshalOptions,
        marshal_spec as marshal_spec,
        marshal_types as marshal_types,
    )
    from ebpf.btf.values import (
        BTFTypeError as BTFTypeError,
        BTFValueError as BTFValueError,
        Codec as Codec,
        codec as codec,
        decode as decode,
        encode as encode,
        struct_class as struct_class,
    )

__all__ = [
    "BTFLoadError",
    "Array", "BTFTypeError", "BTFValueError", "Builder", "CFormatter", "CORERelo",
    "CORERelocKind", "Codec", "Composite", "Const", "Datasec", "DeclTag", "Enum", "Enum64",
    "EnumValue", "ExtInfo", "Float", "Func", "FuncInfo", "FuncLinkage", "FuncParam",
    "FuncProto", "Fwd", "FwdKind", "Handle", "HandleInfo", "Int", "IntEncoding", "Kind",
    "LineInfo", "MarshalOptions", "Member", "NotFoundError", "Pointer", "Qualifier", "Restrict",
    "Spec", "Struct", "Type", "TypeTag", "Typedef", "Union", "Var", "VarLinkage", "VarSecinfo",
    "Void", "Volatile", "alignof", "codec", "copy_types", "declaration", "decode",
    "detect_marshal_options",
    "encode", "flush_kernel_spec", "format_c", "load_elf_btf", "load_ext_info",
    "load_kernel_module_spec", "load_kernel_spec", "load_spec", "load_spec_from_bytes",
    "load_spec_from_reader", "load_split_spec", "marshal_spec", "marshal_types", "sizeof",
    "skip_qualifiers", "struct_class", "type_name", "underlying",
]

# Modules imported on first use, to keep `import ebpf.btf` cheap.
_LAZY = {
    "flush_kernel_spec": "ebpf.btf.kernel",
    "load_kernel_module_spec": "ebpf.btf.kernel",
    "load_kernel_spec": "ebpf.btf.kernel",
    "CORERelo": "ebpf.btf.ext_info",
    "CORERelocKind": "ebpf.btf.ext_info",
    "ExtInfo": "ebpf.btf.ext_info",
    "FuncInfo": "ebpf.btf.ext_info",
    "LineInfo": "ebpf.btf.ext_info",
    "load_elf_btf": "ebpf.btf.ext_info",
    "load_ext_info": "ebpf.btf.ext_info",
    "CFormatter": "ebpf.btf.format",
    "declaration": "ebpf.btf.format",
    "format_c": "ebpf.btf.format",
    "type_name": "ebpf.btf.format",
    "BTFLoadError": "ebpf.btf.handle",
    "Handle": "ebpf.btf.handle",
    "HandleInfo": "ebpf.btf.handle",
    "detect_marshal_options": "ebpf.btf.handle",
    "Builder": "ebpf.btf.marshal",
    "MarshalOptions": "ebpf.btf.marshal",
    "marshal_spec": "ebpf.btf.marshal",
    "marshal_types": "ebpf.btf.marshal",
    "BTFTypeError": "ebpf.btf.values",
    "BTFValueError": "ebpf.btf.values",
    "Codec": "ebpf.btf.values",
    "codec": "ebpf.btf.values",
    "decode": "ebpf.btf.values",
    "encode": "ebpf.btf.values",
    "struct_class": "ebpf.btf.values",
}


__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY)
