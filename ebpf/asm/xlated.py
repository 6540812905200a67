"""The translated ("xlated") code of loaded programs, as text.

After loading, the kernel holds a rewritten copy of a program: helper calls patched into calls
of kernel functions, map lookups inlined, map references turned into pointers. It hands that
copy out (``BPF_OBJ_GET_INFO_BY_FD``, :meth:`ebpf.Program.xlated_instructions`) with map
pointers written back as map ids; :func:`disassemble_xlated` prints it, from raw bytes or
decoded instructions, with those ids and, given names, the names of maps and kernel functions
(:func:`ebpf.asm.disasm.format_xlated` does the same for decoded instructions).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

from .disasm import format_xlated
from .instruction import Instruction, Instructions

__all__ = ["disassemble_xlated"]


def disassemble_xlated(code: bytes | bytearray | memoryview | Iterable[Instruction],
                       map_ids: Sequence[int] = (), *, map_names: Sequence[str] = (),
                       call_name: Callable[[int], str | None] | None = None,
                       byteorder: Literal["little", "big"] | None = None) -> str:
    """The listing of a loaded program's translated ("xlated") code, as the kernel holds it.

    ``code`` is what ``BPF_OBJ_GET_INFO_BY_FD`` returns as ``xlated_prog_insns`` (raw bytes,
    in the host's byte order unless ``byteorder`` says otherwise) or those bytes already
    decoded (:meth:`ebpf.Program.xlated_instructions`). Map references print as the kernel
    wrote them, by map id: ``r1 = map[id:7]``, ``r1 = map[id:7][0]+16``. ``map_ids`` are the
    program's maps (:attr:`ebpf.ProgramInfo.map_ids`) and ``map_names`` their names in the same
    order; a reference to a map with a known name gets it as a trailing comment (``; counts``).
    Helper and kernel function calls carry the callee's address relative to the kernel's
    ``__bpf_call_base``; ``call_name(imm)``, if given, names it (from ``/proc/kallsyms``).
    Nothing here reads files or asks the kernel: callers provide the names.

    Raises:
        InstructionError: ``code`` is not a whole number of well-formed instructions.
    """
    if isinstance(code, bytes | bytearray | memoryview):
        insns: Iterable[Instruction] = Instructions.unmarshal(
            code, byteorder if byteorder is not None else sys.byteorder)
    else:
        insns = code
    return format_xlated(insns, map_ids, map_names=map_names, call_name=call_name)
