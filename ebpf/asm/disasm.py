"""Disassembly in the C-like syntax of the kernel's verifier log and ``llvm-objdump``.

Examples of the text::

    r0 = 0                                  w1 += 5
    r1 = *(u32 *)(r10 - 4)                  *(u64 *)(r10 - 8) = r1
    *(u32 *)(r1 + 0) = 5                    r1 = *(s16 *)(r2 + 2)
    lock *(u64 *)(r1 + 0) += r2             r0 = atomic64_fetch_add((u64 *)(r1 + 0), r0)
    r0 = atomic64_cmpxchg((u64 *)(r1 + 0), r0, r2)
    r1 = map[fd:5]                          r1 = map[counts]
    r1 = map[fd:5][0]+16                    r1 = 0x1234 ll
    call bpf_map_lookup_elem#1              call my_func        call kfunc#1234
    if r1 == 0x0 goto out                   if w1 s> w2 goto pc+3
    goto out        gotol out               may_goto out        exit
    r1 = be16 r1    r1 = bswap64 r1         r1 = (s8)r2         r1 s/= 3

ALU immediates are decimal; comparison immediates and 64-bit constants are hexadecimal.
Anything that is not a valid instruction (an unknown opcode, a reserved field that is not zero)
is shown raw, e.g. ``invalid: op=0xff dst=r1 src=r0 off=0 imm=0x0``, never an exception.

Two encodings only the kernel writes (programs may not contain them, but the kernel's rewritten
code does) are shown as the kernel's own disassembler shows them: the per-CPU address move
``r0 = &(void __percpu *)(r1)`` (``ALU64|MOV|X`` with offset -1, ``BPF_MOV64_PERCPU_REG``) and
the speculation barrier ``nospec`` (``ST|NOSPEC``).

Code read back from the kernel after loading (the "translated" or *xlated* instructions of
``BPF_OBJ_GET_INFO_BY_FD``, :meth:`ebpf.Program.xlated_instructions`) encodes some operands
differently from loadable code; ``xlated=True`` (or :func:`format_xlated`, which also names
maps and kernel functions) reads them the kernel's way: a map reference holds the map's id
(``r1 = map[id:7]``, ``r1 = map[id:7][0]+8``), a helper or kernel function call holds the
function's address relative to the kernel's ``__bpf_call_base`` (named when a resolver is
given: ``call __htab_map_lookup_elem#343344``), a bpf-to-bpf call keeps its target in the
offset and a function pointer load in the low 32 bits.

A whole sequence (:func:`format_instructions`) gets one instruction per line with its slot
offset, ``name:`` headers for symbols, and ``.L<slot>:`` labels for jump and call targets that
have no symbol.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Final

from .helpers import Helper
from .opcode import LDIMM64, ALUOp, AtomicOp, Class, JumpOp, Mode, PseudoCall, PseudoLoad, Size

if TYPE_CHECKING:
    from .instruction import Instruction

__all__ = ["format_instruction", "format_instructions", "format_xlated"]

_HELPER_NAMES: Final[dict[int, str]] = {h.value: h.c_name for h in Helper}

_ALU_OPS: Final[dict[int, str]] = {
    ALUOp.ADD: "+=", ALUOp.SUB: "-=", ALUOp.MUL: "*=", ALUOp.DIV: "/=", ALUOp.OR: "|=",
    ALUOp.AND: "&=", ALUOp.LSH: "<<=", ALUOp.RSH: ">>=", ALUOp.MOD: "%=", ALUOp.XOR: "^=",
    ALUOp.MOV: "=", ALUOp.ARSH: "s>>=",
}
_JUMP_OPS: Final[dict[int, str]] = {
    JumpOp.JEQ: "==", JumpOp.JGT: ">", JumpOp.JGE: ">=", JumpOp.JSET: "&", JumpOp.JNE: "!=",
    JumpOp.JSGT: "s>", JumpOp.JSGE: "s>=", JumpOp.JLT: "<", JumpOp.JLE: "<=",
    JumpOp.JSLT: "s<", JumpOp.JSLE: "s<=",
}
_ATOMIC_OPS: Final[dict[int, tuple[str, str]]] = {
    AtomicOp.ADD: ("+=", "add"), AtomicOp.OR: ("|=", "or"), AtomicOp.AND: ("&=", "and"),
    AtomicOp.XOR: ("^=", "xor"),
}
_UNSIGNED: Final[dict[int, str]] = {Size.B: "u8", Size.H: "u16", Size.W: "u32", Size.DW: "u64"}
_SIGNED: Final[dict[int, str]] = {Size.B: "s8", Size.H: "s16", Size.W: "s32"}
_MAP_PSEUDO: Final = frozenset(
    {PseudoLoad.MAP_FD, PseudoLoad.MAP_VALUE, PseudoLoad.MAP_IDX, PseudoLoad.MAP_IDX_VALUE})
_CALL: Final = Class.JMP | JumpOp.CALL
# ST|NOSPEC: the speculation barrier the verifier inserts (kernel-internal, BPF_NOSPEC 0xc0).
_NOSPEC: Final = Class.ST | 0xC0
# The offset of ALU64|MOV|X that makes it the per-CPU address move (BPF_ADDR_PERCPU).
_ADDR_PERCPU: Final = -1


def _hex(value: int) -> str:
    return f"-{-value:#x}" if value < 0 else f"{value:#x}"


def _rel(delta: int) -> str:
    return f"pc{delta:+d}"


def _mem(base: int, offset: int) -> str:
    sign = "-" if offset < 0 else "+"
    return f"(r{int(base)} {sign} {abs(offset)})"


def _raw(ins: Instruction) -> str:
    """The fields of ``ins`` as text, for instructions that do not decode."""
    constant = ins.constant
    if ins.opcode == LDIMM64:
        constant &= (1 << 64) - 1
    else:
        constant &= 0xFFFF_FFFF
    return (f"invalid: op={ins.opcode:#04x} dst=r{int(ins.dst)} src=r{int(ins.src)} "
            f"off={ins.offset} imm={constant:#x}")


def format_instruction(ins: Instruction, *, target: str | None = None,
                       xlated: bool = False) -> str:
    """The disassembly of one instruction.

    Args:
        ins: the instruction.
        target: how to name the target of a jump, bpf-to-bpf call or function pointer load.
            By default the instruction's ``reference``, else the pc-relative ``pc+N``.
        xlated: read the instruction as the kernel's translated code encodes it (see the
            module docstring); a helper or kernel function call is then named by its
            ``reference`` if it has one.

    Returns:
        One line of text without a newline; invalid instructions give their raw fields.
    """
    text = _format(ins, target, xlated)
    return _raw(ins) if text is None else text


def _format(ins: Instruction, target: str | None, xlated: bool = False) -> str | None:
    opcode = ins.opcode
    cls = opcode & 0x07
    if cls == Class.ALU64 or cls == Class.ALU:
        return _alu(ins, opcode, cls == Class.ALU64)
    if cls == Class.JMP or cls == Class.JMP32:
        return _jump(ins, opcode, cls == Class.JMP, target, xlated)
    mode = opcode & 0xE0
    size = opcode & 0x18
    if cls == Class.LDX:
        if ins.constant:
            return None
        if mode == Mode.MEM:
            return f"r{int(ins.dst)} = *({_UNSIGNED[size]} *){_mem(ins.src, ins.offset)}"
        if mode == Mode.MEMSX and size in _SIGNED:
            return f"r{int(ins.dst)} = *({_SIGNED[size]} *){_mem(ins.src, ins.offset)}"
        return None
    if cls == Class.ST:
        if opcode == _NOSPEC:
            if ins.dst or ins.src or ins.offset or ins.constant:
                return None
            return "nospec"
        if mode != Mode.MEM or ins.src:
            return None
        return f"*({_UNSIGNED[size]} *){_mem(ins.dst, ins.offset)} = {ins.constant}"
    if cls == Class.STX:
        if mode == Mode.MEM:
            if ins.constant:
                return None
            return f"*({_UNSIGNED[size]} *){_mem(ins.dst, ins.offset)} = r{int(ins.src)}"
        if mode == Mode.ATOMIC:
            return _atomic(ins, size)
        return None
    # Class.LD
    if opcode == LDIMM64:
        return _ldimm64(ins, target, xlated)
    if size == Size.DW or ins.offset:
        return None
    if mode == Mode.ABS:
        if ins.dst or ins.src:
            return None
        return f"r0 = *({_UNSIGNED[size]} *)skb[{ins.constant}]"
    if mode == Mode.IND:
        if ins.dst:
            return None
        return f"r0 = *({_UNSIGNED[size]} *)skb[{_mem(ins.src, ins.constant)[1:-1]}]"
    return None


def _alu(ins: Instruction, opcode: int, wide: bool) -> str | None:
    op = opcode & 0xF0
    use_reg = bool(opcode & 0x08)
    dst = int(ins.dst)
    src = int(ins.src)
    r = "r" if wide else "w"
    offset = ins.offset
    if op == ALUOp.END:
        if src or offset or ins.constant not in (16, 32, 64):
            return None
        if wide:
            if use_reg:
                return None
            return f"r{dst} = bswap{ins.constant} r{dst}"
        order = "be" if use_reg else "le"
        return f"r{dst} = {order}{ins.constant} r{dst}"
    if op == ALUOp.NEG:
        if use_reg or src or offset or ins.constant:
            return None
        return f"{r}{dst} = -{r}{dst}"
    symbol = _ALU_OPS.get(op)
    if symbol is None:
        return None
    if op == ALUOp.MOV and use_reg and offset:
        if wide and offset == _ADDR_PERCPU and not ins.constant:  # kernel-internal
            return f"r{dst} = &(void __percpu *)(r{src})"
        if ins.constant:
            if wide and offset == 1:  # addr_space_cast (Linux 6.9)
                imm = ins.constant & 0xFFFF_FFFF
                return f"r{dst} = addr_space_cast(r{src}, {imm >> 16}, {imm & 0xFFFF})"
            return None
        if offset in (8, 16) or (wide and offset == 32):
            return f"{r}{dst} = (s{offset}){r}{src}"
        return None
    if offset:
        if offset != 1 or op not in (ALUOp.DIV, ALUOp.MOD):
            return None
        symbol = "s" + symbol
    if use_reg:
        if ins.constant:
            return None
        return f"{r}{dst} {symbol} {r}{src}"
    if src:
        return None
    return f"{r}{dst} {symbol} {ins.constant}"


def _target(ins: Instruction, delta: int, target: str | None) -> str:
    if target is not None:
        return target
    if ins.reference is not None:
        return ins.reference
    return _rel(delta)


def _jump(ins: Instruction, opcode: int, wide: bool, target: str | None,
          xlated: bool = False) -> str | None:
    op = opcode & 0xF0
    use_reg = bool(opcode & 0x08)
    dst = int(ins.dst)
    src = int(ins.src)
    if op == JumpOp.CALL:
        if not wide or use_reg or dst:
            return None
        return _xlated_call(ins, target) if xlated else _call(ins, target)
    if op == JumpOp.EXIT:
        if not wide or use_reg or dst or src or ins.offset or ins.constant:
            return None
        return "exit"
    if op == JumpOp.JA:
        if use_reg or dst or src:
            return None
        if wide:
            if ins.constant:
                return None
            return f"goto {_target(ins, ins.offset, target)}"
        if ins.offset:
            return None
        return f"gotol {_target(ins, ins.constant, target)}"
    if op == JumpOp.JCOND:
        if not wide or use_reg or dst or ins.constant or src != 0:  # only MAY_GOTO exists
            return None
        return f"may_goto {_target(ins, ins.offset, target)}"
    symbol = _JUMP_OPS.get(op)
    if symbol is None:
        return None
    r = "r" if wide else "w"
    if use_reg:
        if ins.constant:
            return None
        operand = f"{r}{src}"
    else:
        if src:
            return None
        operand = _hex(ins.constant)
    return f"if {r}{dst} {symbol} {operand} goto {_target(ins, ins.offset, target)}"


def _call(ins: Instruction, target: str | None) -> str | None:
    src = int(ins.src)
    if src == PseudoCall.HELPER:
        if ins.offset:
            return None
        name = _HELPER_NAMES.get(ins.constant, "unknown")
        return f"call {name}#{ins.constant}"
    if src == PseudoCall.CALL:
        if ins.offset:
            return None
        return f"call {_target(ins, ins.constant, target)}"
    if src == PseudoCall.KFUNC_CALL:
        module = f" (btf fd index {ins.offset})" if ins.offset else ""
        if ins.reference is not None:
            return f"call kfunc {ins.reference}{module}"
        return f"call kfunc#{ins.constant}{module}"
    return None


def _xlated_call(ins: Instruction, target: str | None) -> str | None:
    """A call as the kernel's translated code holds it."""
    src = int(ins.src)
    if src == PseudoCall.CALL:  # the target is in the offset, the subprogram's index in imm
        return f"call {_target(ins, ins.offset, target)}"
    if src == PseudoCall.HELPER or src == PseudoCall.KFUNC_CALL:
        # imm is the function's address relative to __bpf_call_base; the kernel turns tail
        # calls back into a call of bpf_tail_call when it hands out the code.
        name = ins.reference
        if name is None:
            if src == PseudoCall.HELPER and ins.constant == Helper.tail_call:
                name = _HELPER_NAMES[Helper.tail_call]
            else:
                name = "kfunc" if src == PseudoCall.KFUNC_CALL else "unknown"
        return f"call {name}#{ins.constant}"
    return None


def _atomic(ins: Instruction, size: int) -> str | None:
    imm = ins.constant
    dst = int(ins.dst)
    src = int(ins.src)
    width = _UNSIGNED[size]
    if imm == AtomicOp.LOAD_ACQ:
        r = "r" if size == Size.DW else "w"
        return f"{r}{dst} = load_acquire(({width} *){_mem(src, ins.offset)})"
    if imm == AtomicOp.STORE_REL:
        r = "r" if size == Size.DW else "w"
        return f"store_release(({width} *){_mem(dst, ins.offset)}, {r}{src})"
    if size not in (Size.W, Size.DW):
        return None
    wide = size == Size.DW
    r = "r" if wide else "w"
    fn = "atomic64" if wide else "atomic"
    where = f"({width} *){_mem(dst, ins.offset)}"
    if imm == AtomicOp.XCHG:
        return f"{r}{src} = {fn}_xchg({where}, {r}{src})"
    if imm == AtomicOp.CMPXCHG:
        return f"{r}0 = {fn}_cmpxchg({where}, {r}0, {r}{src})"
    base = _ATOMIC_OPS.get(imm & ~1)
    if base is None:
        return None
    if imm & 1:
        return f"{r}{src} = {fn}_fetch_{base[1]}({where}, {r}{src})"
    return f"lock *{where} {base[0]} {r}{src}"


def _ldimm64(ins: Instruction, target: str | None, xlated: bool = False) -> str | None:
    src = int(ins.src)
    dst = f"r{int(ins.dst)}"
    constant = ins.constant
    low = constant & 0xFFFF_FFFF
    high = (constant >> 32) & 0xFFFF_FFFF
    if ins.offset:
        return None
    if xlated and src in (PseudoLoad.MAP_FD, PseudoLoad.MAP_VALUE):
        name = ins.reference if ins.reference is not None else f"id:{low}"
        if src == PseudoLoad.MAP_FD:
            return f"{dst} = map[{name}]"
        return f"{dst} = map[{name}][0]+{high}"
    if xlated and src == PseudoLoad.FUNC:  # pc-relative target in the low half only
        return f"{dst} = func[{_target(ins, _s32(low), target)}]"
    if src == PseudoLoad.NONE:
        if ins.reference is not None:
            return f"{dst} = {ins.reference} ll"
        return f"{dst} = {constant & 0xFFFF_FFFF_FFFF_FFFF:#x} ll"
    if src in _MAP_PSEUDO:
        if ins.reference is not None:
            name = ins.reference
        elif src in (PseudoLoad.MAP_FD, PseudoLoad.MAP_VALUE):
            name = f"fd:{low}"
        else:
            name = f"idx:{low}"
        if src in (PseudoLoad.MAP_FD, PseudoLoad.MAP_IDX):
            if high:
                return None
            return f"{dst} = map[{name}]"
        return f"{dst} = map[{name}][0]+{high}"
    if src == PseudoLoad.BTF_ID:
        what = ins.reference if ins.reference is not None else f"{low}"
        module = f", btf fd {high}" if high else ""
        return f"{dst} = btf_id[{what}{module}]"
    if src == PseudoLoad.FUNC:
        return f"{dst} = func[{_target(ins, constant, target)}]"
    return None


def _s32(value: int) -> int:
    return value - (1 << 32) if value & 0x8000_0000 else value


def format_instructions(insns: Iterable[Instruction], *, xlated: bool = False,
                        comments: Mapping[int, str] | None = None) -> str:
    """The disassembly of a sequence of instructions, one per line.

    Each line starts with the instruction's slot offset. A symbol becomes a ``name:`` line
    before its instruction; the target of a jump, call or function pointer load that has no
    symbol gets a ``.L<slot>:`` label. A ``source`` annotation is shown as a ``;`` comment line.
    Targets outside the sequence stay ``pc+N``. ``xlated`` reads the kernel's translated
    encoding (see the module docstring and :func:`format_xlated`). ``comments`` (by index
    into ``insns``) are appended to their instruction's line after ``"  ; "``.
    """
    return listing(insns, xlated, comments or {})


def listing(insns: Iterable[Instruction], xlated: bool, comments: Mapping[int, str]) -> str:
    """:func:`format_instructions`, with ``comments`` (by instruction index) after the text."""
    entries: list[tuple[int, Instruction]] = []
    slot = 0
    for ins in insns:
        entries.append((slot, ins))
        slot += 2 if ins.opcode == LDIMM64 else 1
    index_at_slot = {s: i for i, (s, _) in enumerate(entries)}

    # Find the target of every jump, call and function pointer that names no symbol.
    target_of: dict[int, int] = {}
    for i, (slot, ins) in enumerate(entries):
        if ins.reference is not None:
            continue
        delta = _relative_target(ins, xlated)
        if delta is not None:
            found = index_at_slot.get(slot + 1 + delta)
            if found is not None:
                target_of[i] = found

    labels: dict[int, str] = {}
    for found in target_of.values():
        if found not in labels:
            symbol = entries[found][1].symbol
            labels[found] = symbol if symbol is not None else f".L{entries[found][0]}"

    lines: list[str] = []
    for i, (slot, ins) in enumerate(entries):
        if ins.symbol is not None:
            lines.append(f"{ins.symbol}:")
        elif i in labels:
            lines.append(f"{labels[i]}:")
        if ins.source is not None:
            lines.append(f"      ; {ins.source}")
        found = target_of.get(i)
        label = labels[found] if found is not None else None
        text = format_instruction(ins, target=label, xlated=xlated)
        comment = comments.get(i)
        if comment:
            text = f"{text}  ; {comment}"
        lines.append(f"{slot:>4}: {text}")
    return "\n".join(lines)


def _relative_target(ins: Instruction, xlated: bool = False) -> int | None:
    """The pc-relative distance to the target of a jump, call or function pointer load."""
    opcode = ins.opcode
    cls = opcode & 0x07
    if cls == Class.JMP or cls == Class.JMP32:
        op = opcode & 0xF0
        if op == JumpOp.CALL:
            if cls == Class.JMP and int(ins.src) == PseudoCall.CALL:
                return ins.offset if xlated else ins.constant
            return None
        if op == JumpOp.JA:
            if opcode & 0x08:
                return None
            return ins.constant if cls == Class.JMP32 else ins.offset
        if op == JumpOp.JCOND:
            return ins.offset if opcode == JumpOp.JCOND | Class.JMP else None
        return ins.offset if op in _JUMP_OPS else None
    if opcode == LDIMM64 and int(ins.src) == PseudoLoad.FUNC:
        return _s32(ins.constant & 0xFFFF_FFFF) if xlated else ins.constant
    return None



def format_xlated(insns: Iterable[Instruction], map_ids: Sequence[int] = (), *,
                  map_names: Sequence[str] = (),
                  call_name: Callable[[int], str | None] | None = None) -> str:
    """The listing of a loaded program's translated ("xlated") instructions.

    ``insns`` are the instructions the kernel hands out after loading
    (:meth:`ebpf.Program.xlated_instructions`; :func:`ebpf.asm.xlated.disassemble_xlated`
    takes the raw bytes). Map references print as the kernel wrote them, by map id:
    ``r1 = map[id:7]``, ``r1 = map[id:7][0]+16``. ``map_ids`` are the program's maps
    (:attr:`ebpf.ProgramInfo.map_ids`) and ``map_names`` their names in the same order; a
    reference to a map with a known name gets it as a trailing comment (``; counts``). Helper and
    kernel function calls carry the callee's address relative to the kernel's
    ``__bpf_call_base``; ``call_name(imm)``, if given, names it (e.g. from
    ``/proc/kallsyms``). Symbols and sources already on the instructions are shown as by
    :func:`format_instructions`. Nothing here reads files or asks the kernel.
    """
    names = dict(zip(map_ids, map_names, strict=False))
    resolved: list[Instruction] = []
    comments: dict[int, str] = {}
    for i, ins in enumerate(insns):
        src = int(ins.src)
        if ins.opcode == LDIMM64 and src in (PseudoLoad.MAP_FD, PseudoLoad.MAP_VALUE):
            name = names.get(ins.constant & 0xFFFF_FFFF)
            if name:
                comments[i] = name
        elif (ins.opcode == _CALL and call_name is not None and ins.reference is None
              and src in (PseudoCall.HELPER, PseudoCall.KFUNC_CALL)):
            found = call_name(ins.constant)
            if found:
                ins = ins.with_reference(found)
        resolved.append(ins)
    return listing(resolved, True, comments)
