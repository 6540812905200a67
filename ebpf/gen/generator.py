"""Writing a typed Python module for a BPF object file (the ``ebpf gen`` command).

:func:`generate` reads an object (or compiles a C file with clang first) and returns the source
of a module with:

* a ctypes structure or union for every struct and union that a map key or value, a global
  variable or a ring buffer record anchor (a global pointer to the record type) uses, with the
  offsets and size the BTF gives, and an ``enum.IntEnum`` for every enum among them;
* ``Variables``: one typed property per global variable (``.data``, ``.rodata``, ``.bss``),
  over a spec's variables before loading or a loaded collection's after;
* ``Objects``: an :class:`ebpf.Objects` dataclass with one field per program and map, plus a
  typed view (:class:`ebpf.gen.typed.TypedMap`) of each map whose key and value types are known;
* ``load_spec()`` and ``load(*, options=None, spec=None, <constants>...)``, reading the object
  embedded in the module (default) or from a file beside it.

The output depends only on the object's contents and the arguments: generating twice gives
the same text.
"""

from __future__ import annotations

import base64
import ctypes
import dataclasses
import json
import keyword
import os
import platform
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ebpf.btf import (
    Array,
    Composite,
    Datasec,
    Enum,
    Float,
    Int,
    IntEncoding,
    Member,
    Pointer,
    Type,
    Typedef,
    Union,
    Var,
    declaration,
    skip_qualifiers,
    underlying,
)
from ebpf.elf_reader import load_collection_spec
from ebpf.errors import BTFError, EbpfError, ELFError
from ebpf.specs import CollectionSpec, MapSpec
from ebpf.types import MapType, ProgramType

__all__ = ["GenerateError", "Generated", "compile_c", "generate", "generate_module",
           "read_object"]

_LINE = 100
_ELF_MAGIC = b"\x7fELF"
# Map types whose elements user space reads and writes by key: they get a typed view.
_VIEWABLE = frozenset({MapType.HASH, MapType.ARRAY, MapType.LRU_HASH, MapType.LPM_TRIE})
_PER_CPU = frozenset({MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH})
# Names the generated module defines itself.
_RESERVED = frozenset({"Objects", "Variables", "load", "load_spec", "ebpf", "ctypes", "enum",
                       "dataclasses", "base64", "pathlib", "Mapping", "TypedMap",
                       "PerCPUTypedMap", "integer", "floating", "raw", "structure", "annotations",
                       "Annotated", "Any"})
_OBJECTS_RESERVED = frozenset({"close", "variables", "_collection"})

_INT_CTYPES = {(1, False): "c_uint8", (1, True): "c_int8", (2, False): "c_uint16",
               (2, True): "c_int16", (4, False): "c_uint32", (4, True): "c_int32",
               (8, False): "c_uint64", (8, True): "c_int64"}


# platform.machine() -> the architecture name <bpf/bpf_tracing.h> expects.
_TARGET_ARCH = {"x86_64": "x86", "amd64": "x86", "i686": "x86", "aarch64": "arm64",
                "arm64": "arm64", "s390x": "s390", "ppc64le": "powerpc", "ppc64": "powerpc",
                "riscv64": "riscv", "loongarch64": "loongarch", "mips64": "mips",
                "armv7l": "arm"}


class GenerateError(EbpfError):
    """The generator cannot read, compile or describe its input; the message says which file
    and why."""


# --- input ----------------------------------------------------------------------------------


def compile_c(source: str | os.PathLike[str], cflags: Sequence[str] = ()) -> bytes:
    """Compile a BPF C file with clang (``-target bpf -O2 -g``) and return the object's bytes.

    The compiler is ``$CLANG``, else ``clang-19``, else ``clang``; the multiarch include
    directory is added as ``testdata/Makefile`` does, and ``-D__TARGET_ARCH_<arch>`` for the
    machine's architecture (``<bpf/bpf_tracing.h>`` needs it) unless ``cflags`` name one.
    DWARF is stripped when ``llvm-strip`` is at hand (BTF stays), so the object does not
    record the build directory.

    Raises:
        GenerateError: no compiler, or it failed (the message holds its diagnostics).
    """
    src = Path(source)
    if not src.is_file():
        raise GenerateError(f"compile {src}: no such file")
    clang = os.environ.get("CLANG") or shutil.which("clang-19") or shutil.which("clang")
    if not clang:
        raise GenerateError(f"compile {src}: clang not found (install clang-19 or set CLANG)")
    includes = []
    multiarch = sysconfig.get_config_var("MULTIARCH")
    if multiarch and Path("/usr/include", multiarch).is_dir():
        includes.append(f"-I/usr/include/{multiarch}")
    # <bpf/bpf_tracing.h> reads the target's registers (PT_REGS_PARM1 ...) by this name.
    arch = _TARGET_ARCH.get(platform.machine())
    if arch and not any("__TARGET_ARCH_" in flag for flag in cflags):
        includes.append(f"-D__TARGET_ARCH_{arch}")
    directory = src.resolve().parent
    with tempfile.TemporaryDirectory(prefix="ebpf-gen-") as tmp:
        out = Path(tmp, "object.o")
        cmd = [clang, "-target", "bpf", "-O2", "-g", f"-fdebug-prefix-map={directory}=.",
               *includes, *cflags, "-c", src.name, "-o", str(out)]
        try:
            proc = subprocess.run(cmd, cwd=directory, capture_output=True, text=True,
                                  check=False)
        except OSError as e:
            raise GenerateError(f"compile {src}: cannot run {clang}: {e}") from e
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip()
            raise GenerateError(f"compile {src}: clang failed (exit status {proc.returncode}):"
                                f"\n{detail}\ncommand: {shlex.join(cmd)}")
        strip = shutil.which("llvm-strip-19") or shutil.which("llvm-strip")
        if strip:
            done = subprocess.run([strip, "-g", str(out)], capture_output=True, text=True,
                                  check=False)
            if done.returncode != 0:
                raise GenerateError(f"compile {src}: {strip} -g failed: {done.stderr.strip()}")
        return out.read_bytes()


def read_object(path: str | os.PathLike[str], cflags: Sequence[str] = ()) -> bytes:
    """The bytes of the object at ``path``; a ``.c`` file is compiled first (:func:`compile_c`).

    Raises:
        GenerateError: the file cannot be read, does not compile or is not an ELF file.
    """
    p = Path(path)
    if p.suffix == ".c":
        return compile_c(p, cflags)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise GenerateError(f"read {p}: {e.strerror or e}") from e
    if not data.startswith(_ELF_MAGIC):
        raise GenerateError(f"{p} is not a BPF object (no ELF header); pass a .o/.elf file or "
                            "a .c file to compile")
    return data


# --- names ----------------------------------------------------------------------------------


def _identifier(name: str) -> str:
    """``name`` as a Python identifier: other characters become ``_``, keywords get a ``_``."""
    out = "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in name)
    if not out:
        out = "_"
    if out[0].isdigit():
        out = "_" + out
    if keyword.iskeyword(out) or keyword.issoftkeyword(out) or out in ("l", "O", "I"):
        out += "_"  # keywords, and the names linters find ambiguous
    return out


def _camel(name: str) -> str:
    parts = [p for p in _identifier(name).split("_") if p]
    out = "".join(p[:1].upper() + p[1:] for p in parts) or "Anon"
    return "_" + out if out[0].isdigit() else out


class _Names:
    """Hands out unique names."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self.taken = set(taken)

    def take(self, want: str) -> str:
        name = want
        n = 2
        while name in self.taken:
            name = f"{want}{n}" if not want.endswith("_") else f"{want}{n}_"
            n += 1
        self.taken.add(name)
        return name


def _wrap_list(head: str, items: Sequence[str], tail: str, indent: str) -> list[str]:
    """``head item, item tail`` on one line if it fits, else one item per line (the way ruff
    formats it, with a trailing comma)."""
    one = f"{indent}{head}{', '.join(items)}{tail}"
    if len(one) <= _LINE and items:
        return [one]
    if not items:
        return [f"{indent}{head}{tail}"]
    return [f"{indent}{head}", *(f"{indent}    {i}," for i in items), f"{indent}{tail}"]


def _def(indent: str, name: str, params: Sequence[str], returns: str) -> list[str]:
    """A ``def`` line, split the way ruff formats one that is too long."""
    one = f"{indent}def {name}({', '.join(params)}) -> {returns}:"
    if len(one) <= _LINE:
        return [one]
    inner = f"{indent}    {', '.join(params)}"
    if len(params) > 1 and len(inner) <= _LINE:
        return [f"{indent}def {name}(", inner, f"{indent}) -> {returns}:"]
    return [f"{indent}def {name}(", *(f"{indent}    {p}," for p in params),
            f"{indent}) -> {returns}:"]


def _lit(text: str) -> str:
    """``text`` as a double-quoted Python string literal."""
    return json.dumps(text)


def _plain(text: str) -> str:
    """``text`` (names from the object) with what cannot stand in a docstring replaced."""
    return "".join(c if c.isprintable() or c == "\n" else "?" for c in text)


def _docstring(text: str, indent: str) -> list[str]:
    text = _plain(text).replace("\\", "\\\\").replace('"', '\\"')
    raw_lines = text.splitlines() or [""]
    if len(raw_lines) == 1 and len(indent) + len(raw_lines[0]) + 6 <= _LINE:
        return [f'{indent}"""{raw_lines[0]}"""']
    lines: list[str] = []
    for ln in raw_lines:
        stripped = ln.lstrip(" ")
        lead = ln[:len(ln) - len(stripped)]
        width = _LINE - len(indent) - len(lead) - (3 if not lines else 0)
        lines += [lead + part for part in _fill(stripped, width)] if stripped else [""]
    if len(lines) == 1:  # a formatter joins one line with its closing quotes: make two
        lines = _fill(lines[0], len(lines[0]) // 2 + 8)
    return [f'{indent}"""{lines[0]}', *(f"{indent}{ln}" if ln else "" for ln in lines[1:]),
            f'{indent}"""']


# --- types ----------------------------------------------------------------------------------


@dataclass
class _PyType:
    """How a C type appears in Python: the ctypes expression for it in ``_fields_``, the type
    of the attribute (for type checkers), its size and alignment in the emitted layout."""

    ctype: str
    annotation: str
    size: int
    align: int
    # kind of Python value: "int", "bool", "float", "bytes", "struct", "array"
    value: Literal["int", "bool", "float", "bytes", "struct", "array"]
    signed: bool = False


@dataclass
class _Slot:
    """Entries of ``_fields_`` that occupy ``size`` bytes from ``offset`` together."""

    entries: list[str]
    offset: int
    size: int
    align: int


@dataclass
class _Emitted:
    name: str
    kind: Literal["struct", "union", "enum"]
    lines: list[str]


@dataclass
class _TypeTable:
    byte_order: Literal["little", "big"]
    native: bool
    names: _Names
    emitted: list[_Emitted] = field(default_factory=list)
    by_type: dict[int, _PyType] = field(default_factory=dict)
    enums: dict[int, str] = field(default_factory=dict)
    in_progress: set[int] = field(default_factory=set)
    namespace: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        exec("import ctypes\nimport enum\n", self.namespace)

    def base(self, union: bool) -> str:
        """The base class of structures (or unions) of the object's byte order.

        Unions of the other byte order are never emitted: ``ctypes.BigEndianUnion`` and its
        twin need Python 3.11, and before 3.12 no structure of the other order may hold
        one. Such unions are their bytes, whatever Python generates the module.
        """
        if self.native:
            return "ctypes.Union" if union else "ctypes.Structure"
        assert not union
        order = "BigEndian" if self.byte_order == "big" else "LittleEndian"
        return f"ctypes.{order}Structure"

    def of(self, t: Type, hint: str) -> _PyType:
        """The Python form of ``t`` used by value; named types are emitted on first use."""
        named = _typedef_name(t)
        u = underlying(t)
        if isinstance(u, Var):
            return self.of(u.type, hint)
        if isinstance(u, Int):
            return self._int(u)
        if isinstance(u, Enum):
            self.enum(u, named or hint)
            key = (u.size, u.signed)
            if key not in _INT_CTYPES:
                return self._bytes_array(u.size)
            return _PyType(f"ctypes.{_INT_CTYPES[key]}", "int", u.size, u.size, "int", u.signed)
        if isinstance(u, Pointer):
            return _PyType("ctypes.c_uint64", "int", 8, 8, "int")
        if isinstance(u, Float):
            if u.size == 4:
                return _PyType("ctypes.c_float", "float", 4, 4, "float")
            if u.size == 8:
                return _PyType("ctypes.c_double", "float", 8, 8, "float")
            return self._bytes_array(u.size)
        if isinstance(u, Array):
            elem_t = underlying(u.type)
            if isinstance(elem_t, Int) and elem_t.size == 1 and _is_char(elem_t):
                return _PyType(f"ctypes.c_char * {u.nelems}", "bytes", u.nelems, 1, "bytes")
            elem = self.of(u.type, hint)
            inner = f"({elem.ctype})" if " * " in elem.ctype else elem.ctype
            return _PyType(f"{inner} * {u.nelems}", f"ctypes.Array[{_element(elem)}]",
                           elem.size * u.nelems, elem.align, "array")
        if isinstance(u, Composite):
            if isinstance(u, Union) and not self.native:
                return self._bytes_array(u.size)
            return self.composite(u, named or hint)
        raise GenerateError(f"{t} has no value form (it is not a sized data type)")

    def _int(self, u: Int) -> _PyType:
        if u.encoding & IntEncoding.BOOL and u.size == 1 and self.native:
            return _PyType("ctypes.c_bool", "bool", 1, 1, "bool")  # (no other-endian form)
        key = (u.size, u.signed)
        if key not in _INT_CTYPES:  # __int128 and odd sizes: their bytes
            return self._bytes_array(u.size)
        return _PyType(f"ctypes.{_INT_CTYPES[key]}", "int", u.size, u.size, "int", u.signed)

    @staticmethod
    def _bytes_array(size: int) -> _PyType:
        return _PyType(f"ctypes.c_uint8 * {size}", "ctypes.Array[ctypes.c_uint8]", size, 1,
                       "array")

    def enum(self, u: Enum, hint: str) -> str:
        name = self.enums.get(id(u))
        if name is not None:
            return name
        name = self.names.take(_camel(u.name or hint))
        self.enums[id(u)] = name
        members = _Names(("name", "value", "mro"))
        body = []
        for v in u.values:
            ident = _identifier(v.name)
            if ident.startswith("_"):
                ident = "V" + ident
            body.append(f"    {members.take(ident)} = {v.value}")
        what = f"enum {u.name}" if u.name else "an anonymous enum"
        lines = [f"class {name}(enum.IntEnum):",
                 *_docstring(f"Values of {what} ({u.size} bytes).", "    ")]
        if body:
            lines += ["", *body]
        self.emitted.append(_Emitted(name, "enum", lines))
        self._exec(lines)
        return name

    def composite(self, u: Composite, hint: str) -> _PyType:
        got = self.by_type.get(id(u))
        if got is not None:
            return got
        if id(u) in self.in_progress:
            raise GenerateError(f"{u} contains itself by value")
        self.in_progress.add(id(u))
        name = self.names.take(_camel(u.name or hint))
        try:
            lines, align = self._layout(u, name, bitfields=True)
            if not self._verified(lines, name, u, bitfields=True):
                lines, align = self._layout(u, name, bitfields=False)
                if not self._verified(lines, name, u, bitfields=False):
                    raise GenerateError(f"cannot lay out {u} as a ctypes structure")
        finally:
            self.in_progress.discard(id(u))
        py = _PyType(name, name, u.size, align, "struct")
        self.by_type[id(u)] = py
        self.emitted.append(_Emitted(name, "union" if isinstance(u, Union) else "struct",
                                     lines))
        return py

    def _layout(self, u: Composite, name: str, *, bitfields: bool) -> tuple[list[str], int]:
        """The class text for ``u`` and its alignment. Members go at their natural offsets
        with explicit padding where the BTF leaves more room; a struct whose members are not
        all at natural offsets is packed (``_pack_ = 1``) with explicit padding throughout.
        Each run of bitfield members shares one storage unit of ctypes bitfields (or, without
        ``bitfields``, becomes an opaque byte array)."""
        is_union = isinstance(u, Union)
        slots: list[_Slot] = []
        annotations: list[tuple[str, str]] = []
        anonymous: list[str] = []
        member_names = _Names(("_fields_", "_pack_", "_anonymous_"))
        counter = [0]

        def pad_name(prefix: str) -> str:
            counter[0] += 1
            return member_names.take(f"{prefix}{counter[0] - 1}")

        run: list[tuple[str, Member, _PyType]] = []

        def flush_run() -> None:
            if run:
                slots.extend(self._bitfield_slots(run, bitfields, pad_name))
                run.clear()

        for i, m in enumerate(u.members):
            hint = f"{name}_{m.name or f'anon{i}'}"
            mt = self.of(m.type, hint)
            if (m.bitfield_size or m.offset % 8) and not is_union:
                pyname = member_names.take(_identifier(m.name)) if m.name else ""
                if pyname and bitfields and mt.value in ("int", "bool"):
                    annotations.append((pyname, "int"))
                run.append((pyname, m, mt))
                continue
            flush_run()
            if m.name:
                pyname = member_names.take(_identifier(m.name))
                annotations.append((pyname, mt.annotation))
            else:
                pyname = member_names.take(f"_anon{i}")
                if mt.value == "struct":
                    anonymous.append(pyname)
                    inner = underlying(m.type)
                    if isinstance(inner, Composite):
                        annotations += self._flattened(inner)
            bits = m.bitfield_size if is_union else 0
            entry = (f'("{pyname}", {mt.ctype}, {bits})' if bits
                     else f'("{pyname}", {mt.ctype})')
            slots.append(_Slot([entry], m.offset // 8, mt.size, mt.align))
        flush_run()

        align = max((sl.align for sl in slots), default=1)
        packed = u.size % align != 0
        if not is_union:
            end = 0
            for sl in slots:
                if sl.offset % sl.align or sl.offset < end:
                    packed = True
                end = max(end, sl.offset + sl.size)
            if -(-end // align) * align > u.size:
                packed = True
        if packed:
            align = 1

        entries: list[str] = []
        if is_union:
            for sl in slots:
                entries += sl.entries
            biggest = max((sl.size for sl in slots), default=0)
            if u.size > biggest:
                entries.append(f'("{pad_name("_pad")}", ctypes.c_uint8 * {u.size})')
        else:
            pos = 0
            for sl in slots:
                aligned = pos if packed else -(-pos // sl.align) * sl.align
                if sl.offset > aligned:
                    entries.append(f'("{pad_name("_pad")}", ctypes.c_uint8 * {sl.offset - pos})')
                entries += sl.entries
                pos = sl.offset + sl.size
            natural = pos if packed else -(-pos // align) * align
            if u.size > natural:
                entries.append(f'("{pad_name("_pad")}", ctypes.c_uint8 * {u.size - pos})')

        kind = "union" if is_union else "struct"
        what = f"{kind} {u.name}" if u.name else f"an anonymous {kind}"
        lines = [f"class {name}({self.base(is_union)}):",
                 *_docstring(f"{what} ({u.size} bytes).", "    "), ""]
        # A class body would mangle ``__name``: such members go without an annotation.
        annotations = [(n, a) for n, a in annotations
                       if not (n.startswith("__") and not n.endswith("__"))]
        for pyname, ann in annotations:
            lines.append(f"    {pyname}: {ann}")
        if annotations:
            lines.append("")
        if packed:
            lines.append("    _pack_ = 1")
        if anonymous:
            lines += _wrap_list("_anonymous_ = (", [f'"{a}"' for a in anonymous],
                                ",)" if len(anonymous) == 1 else ")", "    ")
        lines += _wrap_list("_fields_ = [", entries, "]", "    ")
        return lines, align

    def _bitfield_slots(self, run: list[tuple[str, Member, _PyType]], bitfields: bool,
                        pad_name: Callable[[str], str]) -> list[_Slot]:
        """Storage units of ctypes bitfields holding a run of bitfield members (as few as
        fit, none overlapping), or, if they cannot, one opaque byte array of the run."""
        def width(m: Member, mt: _PyType) -> int:
            return m.bitfield_size or mt.size * 8

        def unit(first: int, last: int, floor: int, least: int) -> tuple[int, int] | None:
            for size in (1, 2, 4, 8):
                if size < least:
                    continue
                start = first // 8 // size * size
                if start >= floor and last <= (start + size) * 8:
                    return start, size
            return None

        if bitfields and all(mt.value in ("int", "bool") for _, _, mt in run):
            groups: list[tuple[int, int, list[tuple[str, Member, _PyType]]]] = []
            floor = 0
            i = 0
            while i < len(run):
                group = [run[i]]
                first = run[i][1].offset
                last = first + width(run[i][1], run[i][2])
                least = run[i][2].size  # the declared type's: a unit of at least that
                placed = unit(first, last, floor, least)
                if placed is None:
                    break
                i += 1
                while i < len(run):
                    _, m, mt = run[i]
                    grown = unit(first, max(last, m.offset + width(m, mt)), floor,
                                 max(least, mt.size))
                    if grown is None or m.offset < last:
                        break
                    group.append(run[i])
                    last = max(last, m.offset + width(m, mt))
                    least = max(least, mt.size)
                    placed = grown
                    i += 1
                groups.append((placed[0], placed[1], group))
                floor = placed[0] + placed[1]
            else:
                slots = []
                for n, (start, size, group) in enumerate(groups):
                    entries = []
                    bit = start * 8
                    for pyname, m, mt in group:
                        if m.offset > bit:
                            entries.append(f'("{pad_name("_padbits")}", '
                                           f"ctypes.c_uint{size * 8}, {m.offset - bit})")
                        ctype = f"ctypes.c_{'' if mt.signed else 'u'}int{size * 8}"
                        entries.append(f'("{pyname or pad_name("_unnamed")}", {ctype}, '
                                       f"{width(m, mt)})")
                        bit = m.offset + width(m, mt)
                    end = (start + size) * 8
                    if n + 1 < len(groups) and bit < end:  # keep ctypes from sharing the unit
                        entries.append(f'("{pad_name("_padbits")}", ctypes.c_uint{size * 8}, '
                                       f"{end - bit})")
                    slots.append(_Slot(entries, start, size, size))
                return slots
        first = run[0][1].offset
        last = max(m.offset + width(m, mt) for _, m, mt in run)
        start, end = first // 8, (last + 7) // 8
        return [_Slot([f'("{pad_name("_bitfields")}", ctypes.c_uint8 * {end - start})'], start,
                      end - start, 1)]

    def _flattened(self, inner: Composite) -> list[tuple[str, str]]:
        """Annotations for the members an anonymous member makes visible."""
        out = []
        for m in inner.members:
            if m.name:
                mt = self.by_type.get(id(underlying(m.type)))
                out.append((_identifier(m.name),
                            mt.annotation if mt else self.of(m.type, "x").annotation))
            else:
                nested = underlying(m.type)
                if isinstance(nested, Composite):
                    out += self._flattened(nested)
        return out

    def _exec(self, lines: list[str]) -> None:
        code = "from __future__ import annotations\n" + "\n".join(lines) + "\n"
        exec(compile(code, "<ebpf gen>", "exec"), self.namespace)

    def _verified(self, lines: list[str], name: str, u: Composite, *, bitfields: bool) -> bool:
        """Whether the class ``lines`` define lays ``u`` out as the BTF says."""
        try:
            self._exec(lines)
        except (TypeError, ValueError, AttributeError) as e:  # ctypes refused the layout
            if not bitfields:
                raise GenerateError(f"cannot describe {u} with ctypes: {e}") from e
            return False
        cls = self.namespace[name]
        if not isinstance(cls, type) or ctypes.sizeof(cls) != u.size:
            return False
        for m in u.members:
            if not m.name:
                continue
            attr = _identifier(m.name)
            descriptor = cls.__dict__.get(attr)
            if m.bitfield_size or m.offset % 8:
                if not bitfields:
                    continue
                if descriptor is None or not _bitfield_ok(cls, attr, m.offset,
                                                          m.bitfield_size, u.size,
                                                          self.byte_order):
                    return False
                continue
            if descriptor is None or getattr(descriptor, "offset", None) != m.offset // 8:
                return False
        return True


def _bitfield_ok(cls: type, attr: str, bit_offset: int, bits: int, size: int,
                 order: str) -> bool:
    """Setting the bitfield to all ones sets exactly the bits the BTF says it has."""
    obj = cls()
    try:
        setattr(obj, attr, (1 << bits) - 1 if bits else -1)
    except (TypeError, ValueError, OverflowError):
        return False
    got = int.from_bytes(bytes(obj), "little" if order == "little" else "big")
    if order == "little":
        want = ((1 << bits) - 1) << bit_offset
    else:
        want = ((1 << bits) - 1) << (size * 8 - bit_offset - bits)
    return got == want


def _is_char(t: Int) -> bool:
    return bool(t.encoding & IntEncoding.CHAR) or t.name in ("char", "signed char")


def _element(t: _PyType) -> str:
    """The class of one element, for ``ctypes.Array[...]``."""
    if t.value == "array":
        return t.annotation  # ctypes.Array[...] itself
    if t.value == "bytes":
        return "ctypes.Array[ctypes.c_char]"  # in an array, a char array stays one
    return t.ctype  # a structure or a simple type


def _typedef_name(t: Type) -> str:
    """The name of the typedef ``t`` is (under qualifiers), if it is one: it names anonymous
    structs, unions and enums."""
    t = skip_qualifiers(t)
    return t.name if isinstance(t, Typedef) else ""


# --- the module -----------------------------------------------------------------------------


@dataclass
class _Variable:
    name: str        # in the object
    attr: str        # the property
    annotation: str
    getter: str      # expression over `v` (the variable)
    setter: str      # statement over `v` and `value`
    constant: bool
    c: str = ""      # its C declaration


def _variable(table: _TypeTable, name: str, attr: str, t: Type | None, size: int,
              constant: bool) -> _Variable:
    if t is None:
        return _Variable(name, attr, "bytes", "v.get_bytes()", "v.set(value)", constant)
    py = table.of(t, name)
    if py.value == "int":
        return _Variable(name, attr, "int", "int(v.get())", "v.set(value)", constant)
    if py.value == "bool":
        return _Variable(name, attr, "bool", "bool(v.get())", "v.set(value)", constant)
    if py.value == "float":
        return _Variable(name, attr, "float", "float(v.get())", "v.set(value)", constant)
    if py.value == "bytes":
        return _Variable(name, attr, "bytes", "v.get_bytes()",
                         f'v.set(bytes(value).ljust({py.size}, b"\\0"))', constant)
    ctype = py.ctype if py.value == "struct" else f"({py.ctype})"
    return _Variable(name, attr, py.annotation, f"{ctype}.from_buffer_copy(v.get_bytes())",
                     "v.set(value)", constant)


def _c_declaration(t: Type | None, name: str) -> str:
    """``t name`` as C declares it, or "" when that cannot be said."""
    if t is None:
        return ""
    try:
        return " ".join(declaration(t, name).split())
    except BTFError:
        return ""


def _codec(table: _TypeTable, t: Type, hint: str, order: str) -> tuple[str, str]:
    """The codec expression and value annotation for map keys or values of type ``t``."""
    py = table.of(t, hint)
    if py.value in ("int", "bool"):
        signed = ", signed=True" if py.signed else ""
        return f'integer({py.size}{signed}, byte_order="{order}")', "int"
    if py.value == "float":
        return f'floating({py.size}, byte_order="{order}")', "float"
    if py.value == "bytes":
        return f"raw({py.size})", "bytes"
    if py.value == "struct":
        return f"structure({py.ctype})", py.ctype
    return f"structure({py.ctype})", py.annotation


def _roots(spec: CollectionSpec, extra: Sequence[str]) -> list[tuple[Type, str]]:
    """The types to describe: map keys and values, variables (and what pointer variables
    point at: the usual anchor for ring buffer record types) and ``extra`` by name."""
    roots: list[tuple[Type, str]] = []
    for name, m in spec.maps.items():
        for t, what in ((m.key_type, "key"), (m.value_type, "value")):
            if t is not None and not isinstance(underlying(t), (Datasec, Var)):
                roots.append((t, f"{name}_{what}"))
    for name, v in spec.variables.items():
        if v.type is None or v.map_name == ".kconfig":
            continue
        target = underlying(v.type)
        if isinstance(target, Pointer):
            pointee = underlying(target.target)
            if isinstance(pointee, (Composite, Enum)):
                roots.append((target.target, name))
            continue
        roots.append((v.type, name))
    for type_name in extra:
        if spec.types is None:
            raise GenerateError(f"type {type_name!r}: the object has no BTF")
        found = [t for t in spec.types.types_by_name(type_name)
                 if isinstance(underlying(t), (Composite, Enum))]
        if not found:
            raise GenerateError(f"type {type_name!r}: the object's BTF has no struct, union or "
                                "enum of that name")
        roots.append((found[0], type_name))
    return roots


def _loadable_programs(spec: CollectionSpec) -> list[str]:
    # As ebpf.Collection loads them: not ``?``-sections, not struct_ops no map uses.
    return [n for n, p in spec.programs.items()
            if not p.section_name.startswith("?")
            and not (p.type == ProgramType.STRUCT_OPS and ":" not in p.attach_to)]


def _is_viewable(m: MapSpec) -> bool:
    return (m.type in _VIEWABLE or m.type in _PER_CPU) and m.key_type is not None \
        and m.value_type is not None and not isinstance(underlying(m.value_type), Datasec)


@dataclass(frozen=True)
class Generated:
    """What :func:`generate_module` made.

    Attributes:
        source: the module's text.
        data: the object file's bytes (compiled, for a C file).
        object_file: the name the module reads the object by when it is not embedded.
        programs, maps, variables: the names the module gives access to (in the object).
        types: the Python names of the generated classes (structs, unions, enums).
    """

    source: str
    data: bytes
    object_file: str
    programs: tuple[str, ...]
    maps: tuple[str, ...]
    variables: tuple[str, ...]
    types: tuple[str, ...]


def generate(source: str | os.PathLike[str] | bytes, *, module_name: str | None = None,
             embed: bool = True, object_file: str | None = None,
             cflags: Sequence[str] = (), types: Sequence[str] = ()) -> str:
    """The source of a typed Python module for a BPF object file.

    Args:
        source: the object (``.o``/``.elf``) or a C file (``.c``, compiled with
            :func:`compile_c`), as a path; or the object's bytes.
        module_name: how the module's docstring names it (default: from ``source``).
        embed: put the object into the module (base64); else the module reads
            ``object_file`` from its own directory.
        object_file: the object's file name beside the module when not embedding (default:
            the name of ``source``, ``NAME.o`` for ``NAME.c``).
        cflags: extra clang arguments for a C file.
        types: names of more structs, unions or enums to describe (e.g. record types no map
            or variable uses).

    Raises:
        GenerateError: the input is not a BPF object, does not compile, or has a type the
            generator cannot describe.
    """
    return generate_module(source, module_name=module_name, embed=embed,
                           object_file=object_file, cflags=cflags, types=types).source


def generate_module(source: str | os.PathLike[str] | bytes, *, module_name: str | None = None,
                    embed: bool = True, object_file: str | None = None,
                    cflags: Sequence[str] = (), types: Sequence[str] = ()) -> Generated:
    """:func:`generate`, returning the object's bytes and what the module holds too."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        shown = where = "<bytes>"
        if not data.startswith(_ELF_MAGIC):
            raise GenerateError("the data is not a BPF object (no ELF header)")
    else:
        path = Path(source)
        data = read_object(path, cflags)
        shown, where = path.name, str(path)
        if object_file is None:
            object_file = path.with_suffix(".o").name if path.suffix == ".c" else path.name
    if not embed and not object_file:
        raise GenerateError("embed=False needs object_file: the name of the object beside the "
                            "module")
    if object_file and (Path(object_file).name != object_file or object_file in (".", "..")):
        raise GenerateError(f"object_file must be a plain file name, not {object_file!r}")
    try:
        spec = load_collection_spec(data)
    except ELFError as e:
        raise GenerateError(f"{where} is not a usable BPF object: {e}") from e
    except BTFError as e:
        raise GenerateError(f"{where}: its BTF cannot be read: {e}") from e
    module = _Module(spec, data, shown, module_name or Path(shown).stem, embed,
                     object_file or "", types)
    try:
        text = module.text()
    except (BTFError, GenerateError) as e:
        raise GenerateError(f"{where}: {e}") from e
    except RecursionError as e:  # hostile BTF: types nested thousands deep
        raise GenerateError(f"{where}: its types nest too deeply to describe") from e
    return Generated(
        source=text, data=data, object_file=object_file or "",
        programs=tuple(_loadable_programs(spec)), maps=tuple(spec.maps),
        variables=tuple(n for n, v in spec.variables.items() if v.map_name != ".kconfig"),
        types=tuple(e.name for e in module.table.emitted))


class _Module:
    def __init__(self, spec: CollectionSpec, data: bytes, shown: str, module_name: str,
                 embed: bool, object_file: str, types: Sequence[str]) -> None:
        self.spec = spec
        self.data = data
        self.shown = shown
        self.module_name = module_name
        self.embed = embed
        self.object_file = object_file
        order = spec.byte_order
        self.order = order
        self.table = _TypeTable(order, order == sys.byteorder, _Names(_RESERVED))
        self.extra = types

    def text(self) -> str:
        spec = self.spec
        table = self.table
        for t, hint in _roots(spec, self.extra):
            table.of(t, hint)

        # Variables
        # Property names are load()'s keyword names too: none may shadow what it uses.
        var_names = _Names(_RESERVED | {"_vars", "_var", "options", "spec", "constants",
                                        "collection", "objs"})
        variables = [
            dataclasses.replace(
                _variable(table, name, var_names.take(_identifier(name)), v.type, v.size,
                          v.constant), c=_c_declaration(v.type, name))
            for name, v in spec.variables.items() if v.map_name != ".kconfig"]

        # Objects fields
        field_names = _Names(_OBJECTS_RESERVED)
        programs = [(field_names.take(_identifier(n)), n, spec.programs[n])
                    for n in _loadable_programs(spec)]
        maps = [(field_names.take(_identifier(n.lstrip("."))), n, m)
                for n, m in spec.maps.items()]
        views = []
        for attr, name, m in maps:
            if not _is_viewable(m):
                continue
            assert m.key_type is not None and m.value_type is not None
            try:
                kc, ka = _codec(table, m.key_type, f"{name}_key", self.order)
                vc, va = _codec(table, m.value_type, f"{name}_value", self.order)
            except GenerateError:
                continue
            per_cpu = m.type in _PER_CPU
            views.append((field_names.take(f"{attr}_view"), attr, name, kc, ka, vc, va,
                          per_cpu))

        names = [e.name for e in table.emitted]
        body: list[str] = [""]
        public = sorted(["Objects", "Variables", "load", "load_spec", *names],
                        key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n))
        body += _wrap_list("__all__ = [", [f'"{n}"' for n in public], "]", "")
        body += self._object_source()
        body += ["", "# What the fields of Objects hold until load() fills them.",
                 "_UNLOADED: Any = None"]
        for e in table.emitted:
            body += ["", "", *e.lines]
        body += ["", "", *self._variables(variables)]
        body += ["", "", *self._objects(programs, maps, views)]
        body += ["", "", *self._load_spec()]
        body += ["", "", *self._load(variables)]
        text = "\n".join(body)
        head = self._header(programs, maps)
        head += self._imports(text, {v[7] for v in views}, " ".join(v[3] + v[5] for v in views))
        return "\n".join(head + body) + "\n"

    def _header(self, programs: Sequence[tuple[str, str, object]],
                maps: list[tuple[str, str, MapSpec]]) -> list[str]:
        prog_list = ", ".join(n for _, n, _ in programs) or "none"
        map_list = ", ".join(n for _, n, _ in maps) or "none"
        body = (f"Typed access to the BPF object {self.shown} (module {self.module_name}).\n\n"
                f"Generated by `ebpf gen`; do not edit: regenerate instead.\n\n"
                f"Programs: {prog_list}.\nMaps: {map_list}.\n\n"
                "Usage::\n\n"
                "    with load() as objs:\n"
                "        ...  # objs.<program>, objs.<map>, objs.variables.<global>")
        body = _plain(body).replace("\\", "\\\\").replace('"', '\\"')
        lines: list[str] = []
        for para in body.split("\n"):
            lines += [para] if para.startswith(" ") else _fill(para, _LINE)
        return ['"""' + lines[0], *lines[1:], '"""', "", "from __future__ import annotations",
                ""]

    def _imports(self, body: str, per_cpu: set[bool], codecs: str) -> list[str]:
        """The import block for a module whose code after it is ``body``."""
        std = [m for m in ("base64", "ctypes", "dataclasses", "enum", "pathlib")
               if f"{m}." in body]
        views = bool(per_cpu)
        lines = [f"import {m}" for m in std]
        lines.append("from collections.abc import Mapping")
        lines.append("from typing import Annotated, Any")
        lines += ["", "import ebpf"]
        if views:
            names = [n for n in ("floating", "integer", "raw", "structure")
                     if f"{n}(" in codecs]
            names += (["PerCPUTypedMap"] if True in per_cpu else []) + \
                (["TypedMap"] if False in per_cpu else [])
            names.sort(key=lambda n: (not n[0].isupper(), n))
            one = "from ebpf.gen.typed import " + ", ".join(names)
            if len(one) <= _LINE:
                lines.append(one)
            else:
                lines += ["from ebpf.gen.typed import (", *(f"    {n}," for n in names), ")"]
        return lines

    def _object_source(self) -> list[str]:
        if self.embed:
            encoded = base64.b64encode(self.data).decode("ascii")
            chunk = 88
            parts = [f'    "{encoded[i:i + chunk]}"' for i in range(0, len(encoded), chunk)]
            return ["", "# The object file, embedded.", "_OBJECT = base64.b64decode(", *parts,
                    ")"]
        return ["", "# The object file, read from beside this module.",
                f"_OBJECT_PATH = pathlib.Path(__file__).with_name({_lit(self.object_file)})"]

    def _variables(self, variables: list[_Variable]) -> list[str]:
        lines = ["class Variables:",
                 *_docstring(
                     f"The global variables of {self.shown}, typed.\n\n"
                     "Over a spec's variables (``Variables(spec.variables)``) it reads and sets "
                     "the values\nloading starts with; over a loaded collection's "
                     "(``objs.variables``) it reads and\nwrites the live maps (constants, in "
                     ".rodata, are read-only then).", "    "),
                 "",
                 '    __slots__ = ("_vars",)',
                 "",
                 "    def __init__(self, variables: Mapping[str, ebpf.Variable | "
                 "ebpf.VariableSpec]) -> None:",
                 "        self._vars = variables",
                 "",
                 "    def _var(self, name: str) -> ebpf.Variable | ebpf.VariableSpec:",
                 "        try:",
                 "            return self._vars[name]",
                 "        except KeyError:",
                 "            raise ebpf.EbpfError(",
                 '                f"variable {name!r} is not available: the objects are closed or '
                 'were never loaded"',
                 "            ) from None"]
        for v in variables:
            lines += ["",
                      "    @property",
                      *_def("    ", v.attr, ["self"], v.annotation),
                      *_docstring(self._variable_doc(v), "        "),
                      f"        v = self._var({_lit(v.name)})",
                      f"        return {v.getter}",
                      "",
                      f"    @{v.attr}.setter",
                      *_def("    ", v.attr, ["self", f"value: {v.annotation}"], "None"),
                      f"        v = self._var({_lit(v.name)})",
                      f"        {v.setter}"]
        return lines

    def _variable_doc(self, v: _Variable) -> str:
        what = "constant" if v.constant else "variable"
        where = self.spec.variables[v.name].map_name
        return f"The {what} ``{v.c}`` (in {where})." if v.c else f"The {what} {v.name}."

    def _objects(self, programs: Sequence[tuple[str, str, object]],
                 maps: list[tuple[str, str, MapSpec]],
                 views: list[tuple[str, str, str, str, str, str, str, bool]]) -> list[str]:
        lines = ["@dataclasses.dataclass",
                 "class Objects(ebpf.Objects):",
                 *_docstring(f"The programs and maps of {self.shown}, loaded by :func:`load`.\n\n"
                             "Owns them: ``close()`` (or leaving ``with``) closes every one.",
                             "    "),
                 ""]
        for kind, items in (("ebpf.Program", programs), ("ebpf.Map", maps)):
            for attr, name, _ in items:
                one = f"    {attr}: Annotated[{kind}, ebpf.Name({_lit(name)})] = _UNLOADED"
                if len(one) <= _LINE:
                    lines.append(one)
                else:  # as a formatter splits it
                    lines += [f"    {attr}: Annotated[",
                              f"        {kind}, ebpf.Name({_lit(name)})",
                              "    ] = _UNLOADED"]
        lines += ["    variables: Variables = dataclasses.field(default_factory=lambda: "
                  "Variables({}), repr=False)",
                  "    _collection: ebpf.Collection | None = dataclasses.field(default=None, "
                  "repr=False)",
                  "",
                  "    def close(self) -> None:",
                  *_docstring("Close every program and map. Idempotent.", "        "),
                  "        super().close()",
                  "        if self._collection is not None:",
                  "            self._collection.close()",
                  "            self._collection = None",
                  "        self.variables = Variables({})"]
        for attr, field_attr, name, kc, ka, vc, va, per_cpu in views:
            cls = "PerCPUTypedMap" if per_cpu else "TypedMap"
            m = self.spec.maps[name]
            kc_, vc_ = _c_declaration(m.key_type, ""), _c_declaration(m.value_type, "")
            values = f"lists of {va} (one per possible CPU)" if per_cpu else va
            lines += ["",
                      "    @property",
                      *_def("    ", attr, ["self"], f"{cls}[{ka}, {va}]"),
                      *_docstring(f"The map {name} (keys ``{kc_}``, values ``{vc_}``) with keys "
                                  f"as {ka} and values as {values}.", "        ")]
            call = f"return {cls}(self.{field_attr}, {kc}, {vc})"
            if len(call) + 8 <= _LINE:
                lines.append(f"        {call}")
            else:
                lines += [f"        return {cls}(", f"            self.{field_attr},",
                          f"            {kc},", f"            {vc},", "        )"]
        return lines

    def _load_spec(self) -> list[str]:
        source = "_OBJECT" if self.embed else "_OBJECT_PATH.read_bytes()"
        return ["def load_spec() -> ebpf.CollectionSpec:",
                *_docstring(f"A new spec of {self.shown} (each call reads it afresh: edit it "
                            "freely).", "    "),
                f"    return ebpf.load_collection_spec({source})"]

    def _load(self, variables: list[_Variable]) -> list[str]:
        constants = [v for v in variables if v.constant]
        params = ["*", "options: ebpf.CollectionOptions | None = None",
                  "spec: ebpf.CollectionSpec | None = None",
                  *(f"{v.attr}: {v.annotation} | None = None" for v in constants)]
        doc = (f"Load the programs and maps of {self.shown}; the caller owns the result.\n\n"
               "Args:\n"
               "    options: how to load (pin path, program options).\n"
               "    spec: the spec to load (default: :func:`load_spec`); constants given "
               "here are\n        set in it first.\n")
        for v in constants:
            doc += f"    {v.attr}: the constant {v.name} (None: as the object sets it).\n"
        doc += ("\nRaises:\n"
                "    ebpf.VerifierError, ebpf.SyscallError, ebpf.EbpfError: loading failed; "
                "nothing\n        stays open.")
        head = "def load("
        one = head + ", ".join(params) + ") -> Objects:"
        if len(one) <= _LINE:
            lines = [one]
        else:
            lines = [head, *(f"    {p}," for p in params), ") -> Objects:"]
        lines += _docstring(doc, "    ")
        lines += ["    if spec is None:", "        spec = load_spec()"]
        if constants:
            lines.append("    constants = Variables(spec.variables)")
            for v in constants:
                lines.append(f"    if {v.attr} is not None:")
                one = f"        constants.{v.attr} = {v.attr}"
                lines += [one] if len(one) <= _LINE else [
                    f"        constants.{v.attr} = (", f"            {v.attr}", "        )"]
        lines += ["    collection = ebpf.Collection(spec, options)",
                  "    try:",
                  "        objs = collection.assign(Objects())",
                  "    except BaseException:",
                  "        collection.close()",
                  "        raise",
                  "    objs.variables = Variables(collection.variables)",
                  "    objs._collection = collection",
                  "    return objs"]
        return lines


def _fill(text: str, width: int) -> list[str]:
    """``text`` wrapped at ``width`` (indented lines are kept as they are)."""
    if not text:
        return [text]
    words = text.split(" ")
    lines: list[str] = []
    cur = ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    lines.append(cur)
    return lines
