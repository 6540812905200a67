"""Linking: functions into programs, BTF func/line info alongside, map fds into instructions.

At spec time (no system calls) :func:`link_program` puts a program's own function and every
BPF function it calls or takes the address of (transitively, static and global alike) into one
instruction sequence. Each function starts with an instruction whose ``symbol`` is its name;
calls and function pointer loads carry the callee's name as ``reference``, so
:meth:`~ebpf.asm.Instructions.marshal` computes their offsets. Func info, line info and CO-RE
records stay attached to their function (:class:`FunctionBTF`), positioned relative to its
first instruction, and are laid out for the kernel only at load time
(:func:`marshal_ext_infos`), so editing a spec before loading cannot misplace them.

At load time :func:`resolve_maps` writes map descriptors into the instructions that refer to
maps (``ldimm64`` of a map or of a map value).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from .asm import Instruction, Instructions
from .asm._raw import PSEUDO_MAP_VALUE
from .errors import EbpfError

__all__ = [
    "CORERecord",
    "Function",
    "core_relocations",
    "FunctionBTF",
    "LineRecord",
    "ProgramBTF",
    "link_program",
    "marshal_ext_infos",
    "resolve_maps",
]


class LineRecord(NamedTuple):
    """One line info record: the source line of the instruction ``slot`` slots into a function."""

    slot: int
    file_name: str
    line: str
    line_num: int
    column: int


class CORERecord(NamedTuple):
    """One CO-RE relocation of the instruction ``slot`` slots into a function.

    ``relo`` is the :class:`ebpf.btf.ext_info.CORERelo` record it came from; it does not take
    part in comparisons (the first four fields say everything about the relocation).
    """

    slot: int
    type_id: int
    access_str: str
    kind: int
    relo: Any = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CORERecord):
            return NotImplemented
        return self[:4] == other[:4]

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self[:4])


class FunctionBTF(NamedTuple):
    """The BTF information of one function: its ``FUNC`` type id and its records."""

    func_type_id: int
    lines: tuple[LineRecord, ...] = ()
    core: tuple[CORERecord, ...] = ()


class ProgramBTF(NamedTuple):
    """What the loader needs of an object's BTF for one program (``ProgramSpec.btf``).

    Attributes:
        spec: the object file's :class:`ebpf.btf.Spec` (shared, never compared).
        functions: for every function of the program that has BTF, by symbol name.
    """

    spec: Any
    functions: tuple[tuple[str, FunctionBTF], ...] = ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProgramBTF):
            return NotImplemented
        return self.functions == other.functions

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self.functions)

    def __repr__(self) -> str:
        return f"ProgramBTF(functions={[n for n, _ in self.functions]!r})"

    def function(self, name: str) -> FunctionBTF | None:
        for n, f in self.functions:
            if n == name:
                return f
        return None

    @property
    def core_relocations(self) -> list[tuple[str, CORERecord]]:
        """Every CO-RE record of the program, with the name of its function."""
        return [(n, c) for n, f in self.functions for c in f.core]


class Function(NamedTuple):
    """One BPF function of an object file, before linking.

    Attributes:
        name: the symbol name.
        section: the ELF section it is in.
        instructions: its code; the first instruction's ``symbol`` is ``name``.
        btf: its func/line/CO-RE information, if the object has ``.BTF.ext``.
    """

    name: str
    section: str
    instructions: Instructions
    btf: FunctionBTF | None = None


def link_program(main: str, functions: Mapping[str, Function]) -> list[Function]:
    """``main`` followed by every function it needs, in a deterministic order.

    Functions are appended in the order they are first referenced (depth first), each once.

    Raises:
        EbpfError: a call or function pointer names a function that does not exist.
    """
    order: list[Function] = []
    seen: set[str] = set()

    def visit(name: str, by: str | None) -> None:
        if name in seen:
            return
        fn = functions.get(name)
        if fn is None:
            where = f" (called from {by!r})" if by else ""
            raise EbpfError(f"function {name!r}{where} is not defined in the object")
        seen.add(name)
        order.append(fn)
        for ins in fn.instructions:
            ref = ins.reference
            if ref is not None and (ins.is_function_call or ins.is_load_of_function_pointer):
                visit(ref, name)

    visit(main, None)
    return order


def concatenate(functions: Iterable[Function]) -> Instructions:
    """The instructions of ``functions``, one after the other."""
    out = Instructions()
    for fn in functions:
        out.extend(fn.instructions)
    return out


def resolve_maps(insns: Instructions, fd_of: Callable[[str], int | None],
                 context: str) -> Instructions:
    """A copy of ``insns`` whose map loads carry the descriptors ``fd_of(name)`` gives.

    References ``fd_of`` returns None for are left as they are.

    Raises:
        EbpfError: an instruction refers to a map that ``fd_of`` does not know.
    """
    out = insns.copy()
    for i, ins in enumerate(out):
        ref = ins.reference
        if ref is None or not ins.is_load_from_map:
            continue
        fd = fd_of(ref)
        if fd is None:
            raise EbpfError(f"{context}: instruction {i} refers to map {ref!r}, which is not "
                            "in the collection")
        out[i] = ins.with_map_fd(fd)
    return out


def map_references(insns: Iterable[Instruction]) -> list[str]:
    """The names of the maps ``insns`` refer to, in order of first use."""
    seen: dict[str, None] = {}
    for ins in insns:
        if ins.reference is not None and ins.is_load_from_map:
            seen.setdefault(ins.reference, None)
    return list(seen)


class ExtInfos(NamedTuple):
    """Func and line info records laid out for ``BPF_PROG_LOAD`` (host byte order)."""

    func_info: bytes
    func_info_cnt: int
    line_info: bytes
    line_info_cnt: int
    core_relos: list[tuple[int, CORERecord]]


FUNC_INFO_SIZE = 8
LINE_INFO_SIZE = 16


def marshal_ext_infos(insns: Instructions, btf: ProgramBTF,
                      string_offset: Callable[[str], int], byte_order: str) -> ExtInfos:
    """Func info and line info of the linked program ``insns``, for the kernel.

    ``string_offset`` gives the offset of a string in the BTF blob loaded for the program.
    Functions without BTF are skipped (the kernel then refuses the program if others have it,
    which is the honest outcome).
    """
    prefix = "<" if byte_order == "little" else ">"
    fi = struct.Struct(prefix + "II")
    li = struct.Struct(prefix + "IIII")
    slots: dict[str, int] = {}
    pos = 0
    for ins in insns:
        if ins.symbol is not None:
            slots[ins.symbol] = pos
        pos += ins.slots
    core_relos: list[tuple[int, CORERecord]] = []
    funcs: list[bytes] = []
    lines: list[bytes] = []
    for name, start in sorted(slots.items(), key=lambda kv: kv[1]):
        fb = btf.function(name)
        if fb is None:
            continue
        funcs.append(fi.pack(start, fb.func_type_id))
        for rec in fb.lines:
            lines.append(li.pack(start + rec.slot, string_offset(rec.file_name),
                                 string_offset(rec.line),
                                 (rec.line_num << 10) | (rec.column & 0x3FF)))
        for c in fb.core:
            core_relos.append((start + c.slot, c))
    return ExtInfos(b"".join(funcs), len(funcs), b"".join(lines), len(lines), core_relos)


def core_relocations(insns: Iterable[Instruction], btf: ProgramBTF
                     ) -> list[tuple[int, int, str, int]]:
    """Every CO-RE record of the linked program ``insns`` as ``(slot, type_id, access_str,
    kind)``, ``slot`` counting from the start of ``insns``, in slot order (the input of
    :func:`ebpf.btf.core.relocate`)."""
    starts: dict[str, int] = {}
    pos = 0
    for ins in insns:
        if ins.symbol is not None:
            starts.setdefault(ins.symbol, pos)
        pos += ins.slots
    out = []
    for name, fb in btf.functions:
        start = starts.get(name)
        if start is None:
            continue
        for c in fb.core:
            out.append((start + c.slot, c.type_id, c.access_str, c.kind))
    out.sort(key=lambda r: r[0])
    return out


def is_map_value_load(ins: Instruction) -> bool:
    """True for an ldimm64 of a pointer into a map value."""
    return ins.is_ldimm64 and int(ins.src) == PSEUDO_MAP_VALUE
