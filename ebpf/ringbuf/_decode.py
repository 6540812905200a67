"""Turning event records into values: ctypes structures, BTF-typed Python values, numpy dtypes.

Shared by :mod:`ebpf.ringbuf` and :mod:`ebpf.perf`. A *decoder specification* is one of:

* a ctypes type (``ctypes.Structure`` subclass, array, scalar): the record's first
  ``sizeof`` bytes are copied into a new instance (``from_buffer_copy``);
* a BTF type (:class:`ebpf.btf.Type`), or the name of one looked up in a BTF spec (the
  ``types`` of a :class:`~ebpf.CollectionSpec`): the record decodes into the same Python values
  a BTF-typed map returns (:mod:`ebpf.btf.values`: ints, strings, dicts, lists);
* any other callable, given the record's bytes.

numpy is optional: :func:`numpy_dtype` imports it on first use and raises a clear error
without it.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..btf.types import (
    Array,
    Composite,
    Enum,
    Float,
    Int,
    IntEncoding,
    Pointer,
    Type,
    Union,
    sizeof,
    underlying,
)
from ..errors import BTFError, EbpfError

if TYPE_CHECKING:
    import numpy

    from ..btf.spec import Spec

__all__ = ["DecodeSpec", "decoder", "numpy_dtype", "resolve_type"]

_CTYPES = (ctypes._SimpleCData, ctypes.Structure, ctypes.Union, ctypes.Array)

#: What a record can be decoded as (see the module docstring).
DecodeSpec = Any


def resolve_type(spec: DecodeSpec, types: Spec | None, what: str) -> Any:
    """``spec`` with a type name looked up in ``types``."""
    if isinstance(spec, str):
        if types is None:
            raise EbpfError(f"{what}: decoding by type name {spec!r} needs types= (the BTF of "
                            "the object file: CollectionSpec.types)")
        found = [t for t in types.types_by_name(spec)
                 if isinstance(underlying(t), (Composite, Int, Float, Enum, Array, Pointer))]
        if not found:
            raise EbpfError(f"{what}: the BTF has no struct, union or other value type named "
                            f"{spec!r}")
        return found[0]
    return spec


def decoder(spec: DecodeSpec, types: Spec | None = None, what: str = "decode record"
            ) -> Callable[[bytes], Any]:
    """A function from a record's bytes to its value, for ``spec`` (see the module docstring).

    The record may be longer than the type (the rest is ignored), not shorter.

    Raises:
        EbpfError: ``spec`` is none of the accepted kinds, or names no type in ``types``;
            the function raises it for a record shorter than the type.
        BTFError: the BTF type has no value representation (void, function).
    """
    spec = resolve_type(spec, types, what)
    if isinstance(spec, type) and issubclass(spec, _CTYPES):
        cls = spec
        size = ctypes.sizeof(cls)
        name = cls.__name__

        def from_ctypes(data: bytes) -> Any:
            if len(data) < size:
                raise EbpfError(f"{what}: a record of {len(data)} bytes is shorter than "
                                f"{name} ({size} bytes)")
            return cls.from_buffer_copy(data)

        return from_ctypes
    if isinstance(spec, Type):
        from ..btf.values import codec

        c = codec(spec)
        size = c.size
        dec = c.decode_from
        shown = str(spec) if spec.name else repr(spec)

        def from_btf(data: bytes) -> Any:
            if len(data) < size:
                raise EbpfError(f"{what}: a record of {len(data)} bytes is shorter than "
                                f"{shown} ({size} bytes)")
            return dec(data, 0)

        return from_btf
    if callable(spec):
        return spec  # type: ignore[no-any-return]
    raise EbpfError(f"{what}: decode must be a ctypes type, a BTF type, a type name or a "
                    f"callable, not {type(spec).__name__}")


# --- numpy ---------------------------------------------------------------------------------


def import_numpy(what: str) -> Any:
    """The numpy module.

    Raises:
        NotSupportedError: numpy is not installed (it is an optional dependency).
    """
    try:
        import numpy
    except ImportError:
        from ..errors import NotSupportedError

        raise NotSupportedError(f"{what} needs numpy, which is not installed (it is the "
                                "optional 'numpy' extra: pip install ebpf[numpy])") from None
    return numpy


def numpy_dtype(spec: DecodeSpec, types: Spec | None = None, what: str = "numpy dtype"
                ) -> numpy.dtype[Any]:
    """The numpy dtype of records shaped like ``spec``: a numpy dtype (returned as is), a
    ctypes structure type, a BTF type, or a BTF type name looked up in ``types``.

    A BTF struct becomes a structured dtype with the struct's member offsets and size (ints,
    enums, pointers as unsigned ints, floats, ``char[N]`` as ``S<N>``, other arrays as
    sub-arrays, nested structs and unions as nested dtypes; anonymous members' members appear
    at the outer level).

    Raises:
        NotSupportedError: numpy is not installed.
        EbpfError: the type has a bitfield, or another member numpy cannot represent.
    """
    np = import_numpy(what)
    spec = resolve_type(spec, types, what)
    if isinstance(spec, np.dtype):
        return spec  # type: ignore[no-any-return]
    if isinstance(spec, Type):
        try:
            return _btf_dtype(np, spec, what, 0)  # type: ignore[no-any-return]
        except BTFError as e:
            raise EbpfError(f"{what}: {e}") from e
    try:
        return np.dtype(spec)  # type: ignore[no-any-return]
    except (TypeError, ValueError) as e:
        raise EbpfError(f"{what}: {spec!r} is not a numpy dtype, ctypes type or BTF type: {e}"
                        ) from e


def _btf_dtype(np: Any, t: Type, what: str, depth: int) -> Any:
    if depth > 32:
        raise EbpfError(f"{what}: {t!r} nests too deeply")
    u = underlying(t)
    if isinstance(u, Int):
        if u.encoding & IntEncoding.BOOL and u.size == 1:
            return np.dtype("?")
        if u.size not in (1, 2, 4, 8) or u.bits != 8 * u.size or u.offset:
            raise EbpfError(f"{what}: {u!r} ({u.size} bytes, {u.bits} bits) has no numpy type")
        return np.dtype(("i" if u.signed else "u") + str(u.size))
    if isinstance(u, Enum):
        if u.size not in (1, 2, 4, 8):
            raise EbpfError(f"{what}: {u!r} has no numpy type")
        return np.dtype(("i" if u.signed else "u") + str(u.size))
    if isinstance(u, Pointer):
        return np.dtype("u8")
    if isinstance(u, Float):
        if u.size not in (2, 4, 8):
            raise EbpfError(f"{what}: {u!r} has no numpy type")
        return np.dtype("f" + str(u.size))
    if isinstance(u, Array):
        elem = underlying(u.type)
        if isinstance(elem, Int) and elem.size == 1 and not elem.encoding & IntEncoding.BOOL and (
                elem.encoding & IntEncoding.CHAR or elem.name == "char"):
            return np.dtype(f"S{u.nelems}")
        return np.dtype((_btf_dtype(np, u.type, what, depth + 1), (u.nelems,)))
    if isinstance(u, Composite):
        names: list[str] = []
        formats: list[Any] = []
        offsets: list[int] = []

        def add(c: Composite, base: int) -> None:
            for m in c.members:
                if m.bitfield_size or m.offset % 8:
                    raise EbpfError(
                        f"{what}: member {m.name!r} of {c!r} is a bitfield, which numpy "
                        "dtypes cannot represent (decode such records with ebpf.btf.values or "
                        "a ctypes structure instead)")
                mu = underlying(m.type)
                off = base + m.offset // 8
                if not m.name and isinstance(mu, Composite):
                    add(mu, off)
                    continue
                name = m.name or f"_anon{len(names)}"
                if name in names:
                    raise EbpfError(f"{what}: {c!r} has two members named {name!r}")
                names.append(name)
                formats.append(_btf_dtype(np, m.type, what, depth + 1))
                offsets.append(off)

        add(u, 0)
        if isinstance(u, Union) and not names:
            return np.dtype((np.void, u.size))
        return np.dtype({"names": names, "formats": formats, "offsets": offsets,
                         "itemsize": sizeof(u)})
    raise EbpfError(f"{what}: values of {u!r} have no numpy type")
