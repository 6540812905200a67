"""USDT probes: the SystemTap SDT notes of a binary, and their arguments as ``usdt.bpf.h``
reads them.

``<sys/sdt.h>`` (``DTRACE_PROBEn``, ``STAP_PROBEn``) leaves a ``nop`` at each probe site and an
``NT_STAPSDT`` (3) note, owner ``stapsdt``, in ``.note.stapsdt``. The note's description holds
three addresses (the site's PC, the link-time address of ``.stapsdt.base``, the semaphore or 0;
each of the ELF class's address size) and three NUL-terminated strings: provider, name and
the argument specification, e.g. ``-4@%edi 8@-8(%rbp) -4@$5``. One probe name may have many
sites (one per inlined copy), each with its own argument locations.

Addresses are link-time addresses. If the binary was prelinked after linking, its sections
moved but its (non-allocated) notes did not; the difference between ``.stapsdt.base``'s
``sh_addr`` and the base recorded in the note is added to the PC and to the semaphore, as the
SystemTap documentation specifies (libbpf adjusts the PC only; without prelink both agree).
The adjusted addresses are then translated to file offsets with the ``PT_LOAD`` headers: the
PC's is the uprobe offset, the semaphore's the uprobe ``ref_ctr_offset``.

Each argument ``[-]SIZE@LOCATION`` becomes a :class:`USDTArg`, and a probe site's arguments a
:class:`USDTSpec` whose :meth:`USDTSpec.encode` gives the bytes of libbpf's
``struct __bpf_usdt_spec`` (``usdt.bpf.h``, the ABI the BPF side compiles against)::

    struct __bpf_usdt_arg_spec {      /* 16 bytes */
        __u64 val_off;                /* constant, or memory offset from the register */
        enum __bpf_usdt_arg_type arg_type;  /* CONST 0, REG 1, REG_DEREF 2 */
        short reg_off;                /* offsetof(struct pt_regs, reg) */
        bool arg_signed;
        char arg_bitshift;            /* 64 - 8 * size */
    };
    struct __bpf_usdt_spec {          /* 208 bytes */
        struct __bpf_usdt_arg_spec args[12];
        __u64 usdt_cookie;
        short arg_cnt;
    };

Location forms understood (x86-64, AT&T syntax as GCC and clang emit it):

===================  ============  ========================================================
``$5``, ``$-9``      CONST         the value
``%rdi`` ``%edi``    REG           any 64/32/16/8-bit name of a general register
``%di`` ``%dil``                   (``%ah``..``%dh`` are refused: bits 8-15 cannot be read)
``-8(%rbp)``         REG_DEREF     memory at register + displacement
``(%rsp)``           REG_DEREF     memory at the register
``sym(%rip)``        REG_DEREF     memory at symbol ``sym`` (+/- N): read relative to
``sym+8(%rip)``                    ``%rip``, which is the probe's address when it fires;
``sym``                            needs the symbol in ``.symtab``/``.dynsym``
``sym(%rax)``        REG_DEREF     a symbol as displacement, only in a non-PIE executable
``$sym``             CONST         (``absolute``): it runs at its link-time addresses
===================  ============  ========================================================

Base + index * scale operands (``-8(%rbp,%rax,8)``, which GCC emits for array elements) are
refused: the installed header (libbpf 1.1) has no way to express them. libbpf 1.7 added
``BPF_USDT_ARG_SIB``, but its header's bit-fields make ``struct __bpf_usdt_arg_spec`` 24
bytes (``reg_off`` at 14, the spec 304 bytes; checked by compiling it with clang for
bpfel, bpfeb and x86-64), so BPF code built against it needs a different encoding; this
module writes the 16-byte layout above only.

aarch64: ``x0``-``x30``, ``w0``-``w30``, ``sp`` (REG), ``[x1]``, ``[sp, 16]``, ``[x2, #-8]``
(REG_DEREF), ``5``, ``#5`` (CONST). Anything else raises
:class:`~ebpf.errors.USDTArgumentError` naming the probe and the argument.

Register offsets are those of the kernel's ``struct pt_regs`` for the architecture (x86-64
kernels also for 32-bit x86 binaries: their registers are the low halves of the same ones).
"""

from __future__ import annotations

import os
import re
import struct
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Final, Literal

from ..errors import ELFError, USDTArgumentError, USDTNotFoundError
from .elf_symbols import (
    EM_386,
    EM_AARCH64,
    EM_X86_64,
    ET_EXEC,
    SHT_NOTE,
    BinaryFile,
    ElfImage,
    elf_image,
    open_binary,
)

__all__ = [
    "USDT_ARG_SPEC_SIZE",
    "USDT_MAX_ARGS",
    "USDT_SPEC_SIZE",
    "USDTArg",
    "USDTArgKind",
    "USDTProbe",
    "USDTSpec",
    "X86_64_PT_REGS",
    "AARCH64_PT_REGS",
    "find_usdt",
    "parse_usdt_args",
    "parse_usdt_notes",
    "usdt_probes",
]

NT_STAPSDT: Final = 3
USDT_NOTE_SECTION: Final = ".note.stapsdt"
USDT_BASE_SECTION: Final = ".stapsdt.base"

USDT_MAX_ARGS: Final = 12
"""``BPF_USDT_MAX_ARG_CNT``."""
USDT_ARG_SPEC_SIZE: Final = 16
"""``sizeof(struct __bpf_usdt_arg_spec)``."""
USDT_SPEC_SIZE: Final = 208
"""``sizeof(struct __bpf_usdt_spec)``."""


class USDTArgKind(IntEnum):
    """``enum __bpf_usdt_arg_type``."""

    CONST = 0
    REG = 1
    REG_DEREF = 2


def _x86_64_pt_regs() -> dict[str, int]:
    # struct pt_regs (arch/x86/include/uapi/asm/ptrace.h, x86-64): 8-byte slots in this order.
    slots = ["r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx",
             "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss"]
    off = {name: 8 * i for i, name in enumerate(slots)}
    regs: dict[str, int] = {}
    for r64, r32, r16, r8 in (("rax", "eax", "ax", "al"), ("rbx", "ebx", "bx", "bl"),
                              ("rcx", "ecx", "cx", "cl"), ("rdx", "edx", "dx", "dl"),
                              ("rsi", "esi", "si", "sil"), ("rdi", "edi", "di", "dil"),
                              ("rbp", "ebp", "bp", "bpl"), ("rsp", "esp", "sp", "spl")):
        for alias in (r64, r32, r16, r8):
            regs[alias] = off[r64]
    for num in range(8, 16):
        for suffix in ("", "d", "w", "b"):
            regs[f"r{num}{suffix}"] = off[f"r{num}"]
    regs["rip"] = regs["eip"] = off["rip"]
    return regs


def _aarch64_pt_regs() -> dict[str, int]:
    # struct user_pt_regs (the start of the kernel's pt_regs): regs[31], sp, pc, pstate.
    regs = {f"x{n}": 8 * n for n in range(31)}
    regs.update({f"w{n}": 8 * n for n in range(31)})
    regs.update(fp=8 * 29, lr=8 * 30, sp=248, wsp=248)
    return regs


X86_64_PT_REGS: Final = _x86_64_pt_regs()
"""x86-64 register name (any width, without ``%``) -> offset in ``struct pt_regs``."""
AARCH64_PT_REGS: Final = _aarch64_pt_regs()
"""aarch64 register name -> offset in ``struct pt_regs`` (``user_pt_regs``)."""

_ARCHES: Final = {"x86_64": X86_64_PT_REGS, "aarch64": AARCH64_PT_REGS}
_MACHINE_ARCH: Final = {EM_X86_64: "x86_64", EM_386: "x86_64", EM_AARCH64: "aarch64"}


@dataclass(frozen=True, slots=True)
class USDTArg:
    """One argument of a probe site, as ``struct __bpf_usdt_arg_spec`` describes it.

    Attributes:
        text: the argument as written in the note (``-4@-20(%rbp)``).
        size: its size in bytes (1, 2, 4 or 8).
        signed: whether it is sign-extended (a negative size in the note).
        kind: :class:`USDTArgKind`.
        val_off: the constant (CONST) or the memory displacement (REG_DEREF), signed.
        reg: the register name (``rbp``; ``""`` for CONST).
        reg_off: its offset in ``struct pt_regs`` (0 for CONST).
    """

    text: str
    size: int
    signed: bool
    kind: USDTArgKind
    val_off: int = 0
    reg: str = ""
    reg_off: int = 0

    @property
    def bitshift(self) -> int:
        """``arg_bitshift``: ``64 - 8 * size``."""
        return 64 - 8 * self.size



@dataclass(frozen=True, slots=True)
class USDTSpec:
    """The arguments of one probe site: ``struct __bpf_usdt_spec`` less the cookie."""

    args: tuple[USDTArg, ...]

    def encode(self, cookie: int = 0, *,
               byte_order: Literal["little", "big"] | None = None) -> bytes:
        """The 208 bytes of ``struct __bpf_usdt_spec`` with ``usdt_cookie = cookie``, in
        ``byte_order`` (default: this host's, the BPF program's), for the
        ``__bpf_usdt_specs`` map.

        Raises:
            ValueError: more than 12 arguments, or ``cookie`` outside 64 bits.
        """
        if len(self.args) > USDT_MAX_ARGS:
            raise ValueError(f"{len(self.args)} USDT arguments, at most {USDT_MAX_ARGS} fit")
        if not -(1 << 63) <= cookie < (1 << 64):
            raise ValueError(f"USDT cookie {cookie} does not fit in 64 bits")
        order = byte_order or sys.byteorder
        prefix = "<" if order == "little" else ">"
        arg = struct.Struct(prefix + "QIhBb")
        out = bytearray(USDT_SPEC_SIZE)
        for i, a in enumerate(self.args):
            arg.pack_into(out, i * USDT_ARG_SPEC_SIZE, a.val_off & 0xFFFFFFFFFFFFFFFF,
                          int(a.kind), a.reg_off, int(a.signed), a.bitshift)
        struct.pack_into(prefix + "Qh", out, USDT_MAX_ARGS * USDT_ARG_SPEC_SIZE,
                         cookie & 0xFFFFFFFFFFFFFFFF, len(self.args))
        return bytes(out)


# --- argument parsing ---------------------------------------------------------------------

_NUM = r"[-+]?(?:0[xX][0-9a-fA-F]+|\d+)"
_SYM = r"[A-Za-z_.$][\w.$@]*"
_X86_REG = r"%([a-z0-9]+)"
_X86_DEREF = re.compile(rf"^(?P<disp>{_NUM}|{_SYM}(?:[-+]{_NUM})?)?"
                        rf"\(\s*{_X86_REG}\s*\)$")
_X86_SIB = re.compile(rf"^(?P<disp>{_NUM}|{_SYM}(?:[-+]{_NUM})?)?"
                      rf"\(\s*(?:{_X86_REG})?\s*,\s*{_X86_REG}\s*"
                      r"(?:,\s*(?P<scale>\d+)\s*)?\)$")
_X86_ABS = re.compile(rf"^(?P<sym>{_SYM})(?P<add>[-+]{_NUM})?$")
_A64_DEREF = re.compile(rf"^\[\s*([a-z0-9]+)\s*(?:,\s*#?(?P<off>{_NUM})\s*)?\]$")
_A64_CONST = re.compile(rf"^#?({_NUM})$")


def _int(text: str) -> int:
    """A decimal or ``0x`` hexadecimal number with an optional sign (leading zeros are
    decimal, as the assembler's output never has octal)."""
    digits = text.strip().lstrip("+-")
    value = int(digits, 16) if digits[:2].lower() == "0x" else int(digits, 10)
    return -value if text.strip().startswith("-") else value


def _split_args(text: str) -> list[str]:
    """Whitespace-separated arguments; spaces inside ``[]`` or ``()`` do not separate."""
    out: list[str] = []
    depth = 0
    cur: list[str] = []
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch.isspace() and depth <= 0:
            if cur:
                out.append("".join(cur))
                cur = []
            continue
        cur.append(ch)
    if cur:
        out.append("".join(cur))
    return out


def _symbol_refs(text: str, arch: str) -> set[str]:
    """The symbol names the x86 arguments of ``text`` refer to (for pre-resolution)."""
    if arch != "x86_64":
        return set()
    out = set()
    for arg in _split_args(text):
        loc = arg.partition("@")[2].lstrip("$")
        m = re.match(rf"^({_SYM})", loc.partition("(")[0])
        if m and not loc.startswith("%"):
            out.add(m.group(1))
    return out


class _ArgParser:
    __slots__ = ("absolute", "arch", "index", "pc", "probe", "regs", "symbols", "text")

    def __init__(self, arch: str, probe: str, pc: int, symbols: Mapping[str, int],
                 absolute: bool) -> None:
        self.absolute = absolute
        self.arch = arch
        self.regs = _ARCHES[arch]
        self.probe = probe
        self.pc = pc
        self.symbols = symbols
        self.index = 0
        self.text = ""

    def fail(self, reason: str) -> USDTArgumentError:
        return USDTArgumentError(self.probe, self.index, self.text, reason)

    def reg(self, name: str) -> int:
        off = self.regs.get(name)
        if off is None:
            if self.arch == "x86_64" and name in ("ah", "bh", "ch", "dh"):
                raise self.fail(f"register %{name} holds bits 8-15, which usdt.bpf.h cannot "
                                "extract")
            raise self.fail(f"unknown or unsupported {self.arch} register {name!r}")
        return off

    def symbol(self, name: str) -> int:
        addr = self.symbols.get(name)
        if addr is None:
            raise self.fail(f"symbol {name!r} is not in the binary's symbol tables (stripped?)")
        return addr

    def parse(self, index: int, text: str) -> USDTArg:
        self.index, self.text = index, text
        size_text, at, loc = text.partition("@")
        if not at:
            raise self.fail("no SIZE@ prefix (old SDT v1 notes are not supported)")
        try:
            size = int(size_text, 10)
        except ValueError:
            raise self.fail(f"size {size_text!r} is not a number") from None
        if abs(size) not in (1, 2, 4, 8):
            raise self.fail(f"size {abs(size)} is not 1, 2, 4 or 8 bytes")
        loc = loc.strip()
        if not loc:
            raise self.fail("empty location")
        kind, val, reg = self.x86(loc) if self.arch == "x86_64" else self.aarch64(loc)
        return USDTArg(text, abs(size), size < 0, kind, val, reg, self.reg(reg) if reg else 0)

    def x86(self, loc: str) -> tuple[USDTArgKind, int, str]:
        if loc.startswith("%"):
            name = loc[1:]
            if ":" in name:
                raise self.fail("segment-relative memory (thread-local variables) is not "
                                "supported")
            return USDTArgKind.REG, 0, name
        if loc.startswith("$"):
            value = loc[1:]
            if re.fullmatch(_NUM, value):
                return USDTArgKind.CONST, _int(value), ""
            if not self.absolute:
                raise self.fail("a symbolic constant (an address) is not supported in a "
                                "position-independent binary")
            return USDTArgKind.CONST, self.sym_disp(value), ""
        if ":" in loc:
            raise self.fail("segment-relative memory (thread-local variables) is not supported")
        m = _X86_DEREF.match(loc)
        if m:
            disp, base = m.group("disp") or "0", m.group(2)
            if re.fullmatch(_NUM, disp):
                if base in ("rip", "eip"):
                    raise self.fail("a numeric displacement from %rip is relative to an "
                                    "instruction the note does not identify")
                return USDTArgKind.REG_DEREF, _int(disp), base
            if base in ("rip", "eip"):
                return USDTArgKind.REG_DEREF, self.sym_disp(disp) - self.pc, "rip"
            return USDTArgKind.REG_DEREF, self.absolute_disp(disp), base
        m = _X86_SIB.match(loc)
        if m:
            raise self.fail("base+index*scale addressing cannot be expressed in this "
                            "usdt.bpf.h (BPF_USDT_ARG_SIB needs libbpf 1.7's header, whose "
                            "record layout differs)")
        m = _X86_ABS.match(loc)
        if m:   # memory at an absolute (link-time) address: read it relative to %rip
            return USDTArgKind.REG_DEREF, self.sym_disp(loc) - self.pc, "rip"
        if re.fullmatch(_NUM, loc):
            return USDTArgKind.REG_DEREF, _int(loc) - self.pc, "rip"
        raise self.fail("unrecognised x86-64 location")

    def absolute_disp(self, disp: str) -> int:
        """A symbol used as a displacement from a register: its absolute address, which
        only a non-PIE executable (loaded where it was linked) has."""
        if not self.absolute:
            raise self.fail("a symbol-relative address with a base register is not "
                            "supported in a position-independent binary")
        return self.sym_disp(disp)

    def sym_disp(self, disp: str) -> int:
        m = _X86_ABS.match(disp)
        if m is None:
            raise self.fail("unrecognised symbol expression")
        return self.symbol(m.group("sym")) + (_int(m.group("add")) if m.group("add") else 0)

    def aarch64(self, loc: str) -> tuple[USDTArgKind, int, str]:
        m = _A64_DEREF.match(loc)
        if m:
            return USDTArgKind.REG_DEREF, _int(m.group("off") or "0"), m.group(1)
        if loc.startswith("["):
            raise self.fail("register-offset or pre/post-indexed addressing is not supported")
        m = _A64_CONST.match(loc)
        if m:
            return USDTArgKind.CONST, _int(m.group(1)), ""
        if re.fullmatch(r"[a-z][a-z0-9]*", loc):
            return USDTArgKind.REG, 0, loc
        raise self.fail("unrecognised aarch64 location")


def parse_usdt_args(text: str, *, arch: str = "x86_64", pc: int = 0,
                    symbols: Mapping[str, int] | None = None, probe: str = "",
                    absolute: bool = False) -> tuple[USDTArg, ...]:
    """Parse a note's argument specification (``-4@%edi 8@-8(%rbp)``).

    ``arch`` is ``"x86_64"`` or ``"aarch64"``. ``pc`` is the address the probe is attached at
    (link-time; rip-relative arguments are computed from it), ``symbols`` the addresses of
    the symbols the arguments name, ``probe`` names the probe in errors. ``absolute`` says the
    binary runs at its link-time addresses (a non-PIE executable, ``ET_EXEC``), where a
    symbol may also be a constant (``$sym``) or a displacement from a register
    (``sym(%rax)``, ``sym(%r9,%r9)``).

    Raises:
        USDTArgumentError: an argument cannot be expressed (naming probe, index and text),
            or there are more than 12.
        ValueError: ``arch`` is not supported.
    """
    if arch not in _ARCHES:
        raise ValueError(f"USDT arguments of {arch!r} binaries are not supported "
                         f"(supported: {', '.join(_ARCHES)})")
    parts = _split_args(text)
    if len(parts) > USDT_MAX_ARGS:
        raise USDTArgumentError(probe, USDT_MAX_ARGS, parts[USDT_MAX_ARGS],
                                f"{len(parts)} arguments; usdt.bpf.h holds at most "
                                f"{USDT_MAX_ARGS}")
    parser = _ArgParser(arch, probe, pc, symbols or {}, absolute)
    return tuple(parser.parse(i, p) for i, p in enumerate(parts))


# --- notes --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class USDTProbe:
    """One USDT probe site.

    Attributes:
        path: the binary.
        provider, name: the probe's names.
        address: the site's link-time address (prelink-adjusted).
        offset: its file offset: the uprobe offset.
        semaphore: the semaphore's address (prelink-adjusted), 0 if the probe has none.
        semaphore_offset: its file offset, the uprobe ``ref_ctr_offset``; 0 if none.
        base: the ``.stapsdt.base`` address recorded in the note (0 if none).
        args: the argument specification text (``""`` for none).
        arch: ``"x86_64"``, ``"aarch64"``, or ``""`` for an architecture whose arguments
            are not supported.
        symbols: the addresses of the symbols the arguments name, as (name, address) pairs.
        absolute: the binary runs at its link-time addresses (``ET_EXEC``).
    """

    path: str
    provider: str
    name: str
    address: int
    offset: int
    semaphore: int
    semaphore_offset: int
    base: int
    args: str
    arch: str
    symbols: tuple[tuple[str, int], ...] = ()
    absolute: bool = False

    @property
    def qualified_name(self) -> str:
        return f"{self.provider}:{self.name}"

    def arguments(self) -> tuple[USDTArg, ...]:
        """The parsed arguments (see :func:`parse_usdt_args`).

        Raises:
            USDTArgumentError: an argument cannot be expressed, or the binary's
                architecture is not supported.
        """
        where = f"{self.qualified_name} at {self.address:#x} in {self.path!r}"
        if not self.arch:
            raise USDTArgumentError(where, 0, self.args, "USDT arguments of this binary's "
                                    "architecture are not supported")
        return parse_usdt_args(self.args, arch=self.arch, pc=self.address,
                               symbols=dict(self.symbols), probe=where,
                               absolute=self.absolute)

    def spec(self) -> USDTSpec:
        """The site's :class:`USDTSpec` (encode it with the cookie for the specs map).

        Raises:
            USDTArgumentError: as :meth:`arguments`.
        """
        return USDTSpec(self.arguments())


def _note_probes(img: ElfImage, src: BinaryFile) -> tuple[USDTProbe, ...]:
    sec = img.section(USDT_NOTE_SECTION)
    if sec is None:
        return ()
    where = USDT_NOTE_SECTION
    if sec.type != SHT_NOTE:
        raise ELFError(f"section type {sec.type} is not SHT_NOTE [{img.path}]", section=where)
    data = img.read_section(src, sec)
    base_sec = img.section(USDT_BASE_SECTION)
    base_addr = base_sec.addr if base_sec is not None else 0
    arch = _MACHINE_ARCH.get(img.machine, "")
    return parse_usdt_notes(data, img, src, base_addr=base_addr, arch=arch,
                            align=8 if sec.addralign == 8 else 4)


def parse_usdt_notes(data: bytes, img: ElfImage, src: BinaryFile | None = None, *,
                     base_addr: int = 0, arch: str = "x86_64",
                     align: int = 4) -> tuple[USDTProbe, ...]:
    """The probes of the ``.note.stapsdt`` contents ``data`` of the binary ``img``.

    ``base_addr`` is the ``sh_addr`` of ``.stapsdt.base`` (0 if absent), ``align`` the
    note alignment (4, or 8 for a section aligned to 8). ``src`` (the open file) is needed to
    resolve symbols the arguments name; without it they are left unresolved.

    Raises:
        ELFError: a note's sizes run past the section, its description is malformed, or
            an address lies in no suitable loadable segment.
    """
    where = USDT_NOTE_SECTION
    addr = struct.Struct(img.fmt.prefix + ("QQQ" if img.is64 else "III"))
    head = struct.Struct(img.fmt.prefix + "III")
    path = img.path
    out = []
    pos = 0
    n = len(data)
    while pos < n:
        if pos + head.size > n:
            raise ELFError(f"note header at {pos:#x} is truncated ({n - pos} bytes left) "
                           f"[{path}]", section=where, offset=pos)
        namesz, descsz, ntype = head.unpack_from(data, pos)
        name_at = pos + head.size
        desc_at = name_at + _align(namesz, align)
        end = desc_at + _align(descsz, align)
        if desc_at + descsz > n or name_at + namesz > n:
            raise ELFError(f"note at {pos:#x}: name size {namesz} and description size "
                           f"{descsz} run past the end of the section ({n} bytes) [{path}]",
                           section=where, offset=pos)
        owner = data[name_at:name_at + namesz].rstrip(b"\0")
        note_at, pos = pos, max(end, desc_at + descsz)
        if owner != b"stapsdt" or ntype != NT_STAPSDT:
            continue
        desc = data[desc_at:desc_at + descsz]
        if descsz < addr.size + 3:
            raise ELFError(f"stapsdt note at {note_at:#x}: description of {descsz} bytes is too "
                           f"short [{path}]", section=where, offset=note_at)
        loc, base, sema = addr.unpack_from(desc, 0)
        strings = desc[addr.size:].split(b"\0")
        if len(strings) < 4 or not strings[1]:
            raise ELFError(f"stapsdt note at {note_at:#x}: provider, name and arguments are "
                           f"not three NUL-terminated strings [{path}]", section=where,
                           offset=note_at)
        provider, pname, args = (s.decode("utf-8", "surrogateescape") for s in strings[:3])
        if args.startswith(":"):
            args = ""
        delta = base_addr - base if base_addr and base else 0
        mask = (1 << (64 if img.is64 else 32)) - 1
        pc = (loc + delta) & mask
        what = f"USDT probe {provider}:{pname}"
        offset = img.file_offset(pc, what, executable=True)
        sema_addr = sema_off = 0
        if sema:
            sema_addr = (sema + delta) & mask
            sema_off = img.file_offset(sema_addr, f"semaphore of {what}", executable=False)
        out.append(USDTProbe(path, provider, pname, pc, offset, sema_addr, sema_off, base,
                             args, arch, (), img.elf_type == ET_EXEC))
    # The symbols the arguments name, resolved in one pass over the symbol tables.
    refs = {p: _symbol_refs(p.args, arch) for p in out} if src is not None and arch else {}
    wanted = set().union(*refs.values()) if refs else set()
    if not wanted:
        return tuple(out)
    assert src is not None
    found = img.symbol_addresses(src, wanted)
    return tuple(
        replace(p, symbols=tuple((n, found[n]) for n in sorted(refs[p])
                                             if n in found)) if refs[p] else p
        for p in out)


def _align(size: int, align: int) -> int:
    return (size + align - 1) & ~(align - 1)


def usdt_probes(path: str | os.PathLike[str]) -> tuple[USDTProbe, ...]:
    """Every USDT probe site of binary ``path``, in note order (cached with the file).

    Raises:
        TargetNotFoundError: ``path`` does not exist.
        ELFError: the file or its notes are malformed.
        SyscallError: the file cannot be read.
    """
    with open_binary(path) as src:
        img = elf_image(src)
        try:
            return img.cached("usdt")  # type: ignore[return-value]
        except KeyError:
            pass
        probes = _note_probes(img, src)
        img.store("usdt", probes)
        return probes


def find_usdt(path: str | os.PathLike[str], provider: str, name: str) -> list[USDTProbe]:
    """The sites of USDT probe ``provider:name`` in ``path`` (at least one).

    Raises:
        USDTNotFoundError: there is none (the message lists the probes there are).
        TargetNotFoundError, ELFError, SyscallError: as :func:`usdt_probes`.
    """
    probes = usdt_probes(path)
    sites = [p for p in probes if p.provider == provider and p.name == name]
    if not sites:
        available = list(dict.fromkeys(p.qualified_name for p in probes))
        raise USDTNotFoundError(os.fspath(path), provider, name, available)
    return sites
