"""USDT probes (ebpf.internal.usdt): notes against ``readelf -n``, argument specs against the
installed ``usdt.bpf.h`` (compiled into BPF objects by clang), offsets against the program
headers, and malformed notes.
"""

from __future__ import annotations

import re
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from ebpf.errors import ELFError, USDTArgumentError, USDTNotFoundError
from ebpf.internal.elf import read_elf
from ebpf.internal.elf_symbols import clear_cache, elf_image, open_binary
from ebpf.internal.usdt import (
    AARCH64_PT_REGS,
    USDT_SPEC_SIZE,
    X86_64_PT_REGS,
    USDTArg,
    USDTArgKind,
    USDTSpec,
    find_usdt,
    parse_usdt_args,
    parse_usdt_notes,
    usdt_probes,
)

from .userbins import file_bytes, file_offset, gcc, require_tool, run

SEMA_C = r"""
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
unsigned short app_gated_semaphore __attribute__((unused, section(".probes")));
__attribute__((noinline)) int gated(int x, long y) {
    STAP_PROBE2(app, gated, x, y);
    return x;
}
"""

MAIN_C = r"""
#include <sys/sdt.h>
#include <stdio.h>
int gated(int x, long y);
volatile int counter = 7;
static short table[4] = {1, 2, 3, 4};
__attribute__((noinline)) void sites(int a, long b, short c, signed char d, unsigned long e,
                                     int i) {
    DTRACE_PROBE2(app, two, a, b);
    STAP_PROBE3(app, three, c, d, e);
    STAP_PROBE2(app, mem, counter, table[i & 3]);
    STAP_PROBE1(app, konst, -42);
    STAP_PROBE(app, none);
}
int main(int argc, char **argv) {
    (void)argv;
    for (int i = 0; i < 2; i++) {
        sites(argc, argc * 2L, -3, -4, 5UL, i);
        STAP_PROBE1(app, two, i);
    }
    return gated(argc, 1) == 12345;
}
"""

LIB_C = r"""
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
unsigned short lib_hit_semaphore __attribute__((unused, section(".probes")));
__attribute__((noinline)) int lib_fn(int x, long y) {
    STAP_PROBE2(lib, hit, x, y);
    return x + 1;
}
"""


@pytest.fixture(scope="module")
def bins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_tool("gcc")
    d = tmp_path_factory.mktemp("usdt")
    for name, text in (("sema.c", SEMA_C), ("main.c", MAIN_C), ("lib.c", LIB_C)):
        (d / name).write_text(text)
    return {
        "pie": gcc(d / "usdt_pie", d / "main.c", d / "sema.c", flags=("-fPIE", "-pie")),
        "nopie": gcc(d / "usdt_nopie", d / "main.c", d / "sema.c",
                     flags=("-fno-pie", "-no-pie")),
        "lib": gcc(d / "libusdt.so", d / "lib.c", flags=("-shared", "-fPIC")),
    }


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


def readelf_notes(path: Path) -> list[dict[str, str | int]]:
    """The stapsdt notes as ``readelf -n`` prints them."""
    require_tool("readelf")
    out: list[dict[str, str | int]] = []
    for line in run("readelf", "-n", path).splitlines():
        line = line.strip()
        if line.startswith("Provider:"):
            out.append({"provider": line.split(":", 1)[1].strip()})
        elif line.startswith("Name:") and out:
            out[-1]["name"] = line.split(":", 1)[1].strip()
        elif line.startswith("Location:") and out:
            m = re.match(r"Location: (\S+), Base: (\S+), Semaphore: (\S+)", line)
            assert m
            out[-1].update(pc=int(m.group(1), 16), base=int(m.group(2), 16),
                           sema=int(m.group(3), 16))
        elif line.startswith("Arguments:") and out:
            out[-1]["args"] = line.split(":", 1)[1].strip()
    for n in out:
        n.setdefault("args", "")
    return out


def section(path: Path, name: str) -> tuple[int, int]:
    """(sh_addr, sh_offset) of section ``name`` by ``readelf -SW``."""
    for line in run("readelf", "-SW", path).splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)", line)
        if m and m.group(1) == name:
            return int(m.group(2), 16), int(m.group(3), 16)
    raise AssertionError(name)


@pytest.mark.parametrize("kind", ["pie", "nopie", "lib"])
def test_notes_match_readelf(bins: dict[str, Path], kind: str) -> None:
    path = bins[kind]
    want = readelf_notes(path)
    got = usdt_probes(path)
    assert len(got) == len(want) > 0
    probes_addr, probes_off = section(path, ".probes")
    for p, w in zip(got, want, strict=True):
        assert (p.provider, p.name, p.address, p.base, p.semaphore, p.args) == (
            w["provider"], w["name"], w["pc"], w["base"], w["sema"], w["args"])
        assert p.offset == file_offset(path, p.address)
        assert file_bytes(path, p.offset, 1) == b"\x90"      # the probe's nop
        if p.semaphore:
            # The semaphore is in .probes: its file offset by the section header agrees.
            assert p.semaphore_offset == p.semaphore - probes_addr + probes_off
            assert p.semaphore_offset == file_offset(path, p.semaphore)
        else:
            assert p.semaphore_offset == 0
        assert p.arch == "x86_64"


def test_semaphores(bins: dict[str, Path]) -> None:
    [gated] = find_usdt(bins["pie"], "app", "gated")
    assert gated.semaphore and gated.semaphore_offset
    assert all(p.semaphore == 0 for p in find_usdt(bins["pie"], "app", "two"))
    [hit] = find_usdt(bins["lib"], "lib", "hit")
    assert hit.semaphore_offset == file_offset(bins["lib"], hit.semaphore)


def test_several_sites(bins: dict[str, Path]) -> None:
    sites = find_usdt(bins["pie"], "app", "two")
    assert len(sites) == 2
    assert len({s.offset for s in sites}) == 2
    assert {len(s.arguments()) for s in sites} == {1, 2}


def test_not_found_lists_probes(bins: dict[str, Path]) -> None:
    with pytest.raises(USDTNotFoundError) as e:
        find_usdt(bins["pie"], "app", "nope")
    assert "app:two" in e.value.available and "app:gated" in e.value.available
    assert "app:nope" in str(e.value)
    assert isinstance(e.value, LookupError)


def test_no_notes(tmp_path: Path) -> None:
    src = tmp_path / "p.c"
    src.write_text("int main(void) { return 0; }\n")
    path = gcc(tmp_path / "p", src)
    assert usdt_probes(path) == ()
    with pytest.raises(USDTNotFoundError, match="no USDT probes"):
        find_usdt(path, "a", "b")


def test_arguments_of_compiled_probes(bins: dict[str, Path]) -> None:
    for path in (bins["pie"], bins["nopie"]):
        for p in usdt_probes(path):
            if "," in p.args:     # base+index*scale: not expressible in this header
                with pytest.raises(USDTArgumentError, match=r"base\+index\*scale") as e:
                    p.spec()
                assert p.qualified_name in str(e.value) and str(path) in str(e.value)
                continue
            spec = p.spec()
            assert len(spec.args) == (len(p.args.split()) if p.args else 0)
            assert len(spec.encode(7)) == USDT_SPEC_SIZE
        [konst] = find_usdt(path, "app", "konst")
        assert konst.arguments() == (USDTArg("-4@$-42", 4, True, USDTArgKind.CONST, -42),)
        [none] = find_usdt(path, "app", "none")
        assert none.arguments() == ()


def test_rip_relative_argument(bins: dict[str, Path]) -> None:
    for path in (bins["pie"], bins["nopie"]):
        [mem] = find_usdt(path, "app", "mem")
        first = mem.args.split()[0]
        if "counter" not in first:
            pytest.skip(f"the compiler put counter elsewhere: {mem.args}")
        counter = dict(mem.symbols)["counter"]
        [arg] = parse_usdt_args(first, pc=mem.address, symbols=dict(mem.symbols))
        # Read at %rip (the probe's address when it fires) + displacement = &counter.
        assert (arg.kind, arg.reg, arg.reg_off) == (USDTArgKind.REG_DEREF, "rip", 128)
        assert mem.address + arg.val_off == counter
        assert counter == int(next(
            line.split()[1] for line in run("readelf", "-sW", path).splitlines()
            if line.split()[-1:] == ["counter"]), 16)


# -- argument forms -------------------------------------------------------------------------

R = USDTArgKind.REG
D = USDTArgKind.REG_DEREF
C = USDTArgKind.CONST

X86 = [
    # text, size, signed, kind, val_off, reg, reg_off
    ("-4@%edi", 4, True, R, 0, "edi", 112),
    ("8@%rax", 8, False, R, 0, "rax", 80),
    ("-8@%rsi", 8, True, R, 0, "rsi", 104),
    ("-2@%ax", 2, True, R, 0, "ax", 80),
    ("2@%cx", 2, False, R, 0, "cx", 88),
    ("-1@%sil", 1, True, R, 0, "sil", 104),
    ("1@%dil", 1, False, R, 0, "dil", 112),
    ("-1@%cl", 1, True, R, 0, "cl", 88),
    ("4@%r8d", 4, False, R, 0, "r8d", 72),
    ("2@%r9w", 2, False, R, 0, "r9w", 64),
    ("1@%r10b", 1, False, R, 0, "r10b", 56),
    ("8@%r15", 8, False, R, 0, "r15", 0),
    ("8@%rbp", 8, False, R, 0, "rbp", 32),
    ("8@%rsp", 8, False, R, 0, "rsp", 152),
    ("4@%ebx", 4, False, R, 0, "ebx", 40),
    ("-4@$5", 4, True, C, 5, "", 0),
    ("-4@$-9", 4, True, C, -9, "", 0),
    ("8@$0x10", 8, False, C, 16, "", 0),
    ("8@-8(%rbp)", 8, False, D, -8, "rbp", 32),
    ("-4@-1204(%rbp)", 4, True, D, -1204, "rbp", 32),
    ("8@16(%rsp)", 8, False, D, 16, "rsp", 152),
    ("8@(%rsp)", 8, False, D, 0, "rsp", 152),
    ("-4@-0x14(%r12)", 4, True, D, -20, "r12", 24),
    ("4@foo(%rip)", 4, False, D, 0x5000 - 0x1000, "rip", 128),
    ("4@foo+8(%rip)", 4, False, D, 0x5008 - 0x1000, "rip", 128),
    ("4@foo-4(%rip)", 4, False, D, 0x4FFC - 0x1000, "rip", 128),
    ("8@foo", 8, False, D, 0x5000 - 0x1000, "rip", 128),
]


@pytest.mark.parametrize(("text", "size", "signed", "kind", "val_off", "reg", "reg_off"), X86)
def test_x86_forms(text: str, size: int, signed: bool, kind: USDTArgKind, val_off: int,
                   reg: str, reg_off: int) -> None:
    [arg] = parse_usdt_args(text, pc=0x1000, symbols={"foo": 0x5000})
    assert (arg.text, arg.size, arg.signed, arg.kind, arg.val_off, arg.reg, arg.reg_off) == (
        text, size, signed, kind, val_off, reg, reg_off)
    assert arg.bitshift == 64 - 8 * size


@pytest.mark.parametrize("text", ["-2@(%rax,%r9,2)", "1@-96(%rbp,%rax,8)", "4@(%rbp,%rax)",
                                  "4@-96(%rbp,%rax)", "-2@table(%r9,%r9)", "4@(,%rax,8)"])
def test_x86_base_index_scale_is_refused(text: str) -> None:
    with pytest.raises(USDTArgumentError, match=r"base\+index\*scale"):
        parse_usdt_args(text, absolute=True, symbols={"table": 0x4000})


def test_x86_absolute_symbols() -> None:
    """A non-PIE executable runs at its link-time addresses: symbols are plain numbers."""
    syms = {"foo": 0x404020}
    [deref, const] = parse_usdt_args("-4@foo+8(%rax) 8@$foo", symbols=syms, absolute=True)
    assert (deref.kind, deref.val_off, deref.reg, deref.reg_off) == (D, 0x404028, "rax", 80)
    assert (const.kind, const.val_off) == (C, 0x404020)
    for text in ("-4@foo+8(%rax)", "8@$foo"):
        with pytest.raises(USDTArgumentError, match="position-independent"):
            parse_usdt_args(text, symbols=syms)


AARCH64 = [
    ("8@x0", 8, False, R, 0, "x0", 0),
    ("-4@w1", 4, True, R, 0, "w1", 8),
    ("-8@x30", 8, True, R, 0, "x30", 240),
    ("8@sp", 8, False, R, 0, "sp", 248),
    ("4@[sp, 16]", 4, False, D, 16, "sp", 248),
    ("-4@[sp, -12]", 4, True, D, -12, "sp", 248),
    ("-4@[x1]", 4, True, D, 0, "x1", 8),
    ("8@[x29, #-8]", 8, False, D, -8, "x29", 232),
    ("-4@7", 4, True, C, 7, "", 0),
    ("-4@#-7", 4, True, C, -7, "", 0),
]


@pytest.mark.parametrize(("text", "size", "signed", "kind", "val_off", "reg", "reg_off"),
                         AARCH64)
def test_aarch64_forms(text: str, size: int, signed: bool, kind: USDTArgKind, val_off: int,
                       reg: str, reg_off: int) -> None:
    [arg] = parse_usdt_args(text, arch="aarch64")
    assert (arg.size, arg.signed, arg.kind, arg.val_off, arg.reg, arg.reg_off) == (
        size, signed, kind, val_off, reg, reg_off)


def test_aarch64_clang_output(tmp_path: Path) -> None:
    """Argument strings clang writes for aarch64 all parse (object file only: no linker)."""
    require_tool("clang-19")
    src = tmp_path / "a.c"
    src.write_text(r"""
#include <sys/sdt.h>
volatile long g = 5;
long f(long a, int b, long *p, short c) {
    long loc[4] = {a, b, *p, c};
    STAP_PROBE5(arm, five, a, b, *p, c, loc[b & 3]);
    STAP_PROBE2(arm, konst, 7, g);
    return a + b + loc[1];
}
""")
    obj = tmp_path / "a.o"
    run("clang-19", "--target=aarch64-linux-gnu", "-O2", "-ffreestanding",
        "-I/usr/include/x86_64-linux-gnu", "-c", "-o", obj, src)
    notes = readelf_notes(obj)
    assert len(notes) == 2
    for n in notes:
        args = parse_usdt_args(str(n["args"]), arch="aarch64")
        assert len(args) == len(str(n["args"]).split())
        assert {a.kind for a in args} <= {R, D, C}


@pytest.mark.parametrize(("text", "arch", "match"), [
    ("%edi", "x86_64", "no SIZE@"),
    ("3@%edi", "x86_64", "size 3"),
    ("x@%edi", "x86_64", "not a number"),
    ("16@%rax", "x86_64", "size 16"),
    ("4@%ah", "x86_64", "bits 8-15"),
    ("4@%xmm0", "x86_64", "register 'xmm0'"),
    ("8@%fs:foo@tpoff", "x86_64", "thread-local"),
    ("8@$foo", "x86_64", "symbolic constant"),
    ("8@$bar", "x86_64", "symbolic constant"),
    ("4@8(%rip)", "x86_64", "numeric displacement from %rip"),
    ("4@foo(%rbx)", "x86_64", "base register"),
    ("4@(%rax,%rbx,3)", "x86_64", "base"),
    ("4@bar(%rip)", "x86_64", "symbol 'bar'"),
    ("4@", "x86_64", "empty location"),
    ("4@[x1, x2]", "aarch64", "register-offset"),
    ("4@x31", "aarch64", "register 'x31'"),
    ("4@{x1}", "aarch64", "unrecognised"),
])
def test_unsupported_forms(text: str, arch: str, match: str) -> None:
    with pytest.raises(USDTArgumentError, match=match) as e:
        parse_usdt_args(f"8@%rax {text}" if arch == "x86_64" else f"8@x0 {text}", arch=arch,
                        probe="prov:name", symbols={"foo": 1})
    assert e.value.index == 1 and e.value.text == text
    assert "prov:name" in str(e.value) and repr(text) in str(e.value)


def test_too_many_arguments() -> None:
    with pytest.raises(USDTArgumentError, match="at most 12"):
        parse_usdt_args(" ".join(["8@%rax"] * 13))
    assert len(parse_usdt_args(" ".join(["8@%rax"] * 12))) == 12


def test_unknown_arch() -> None:
    with pytest.raises(ValueError, match="riscv"):
        parse_usdt_args("8@a0", arch="riscv64")


def test_x86_register_offsets_match_ptrace_h(tmp_path: Path) -> None:
    """The 64-bit names' offsets are offsetof(struct pt_regs, ...) from the UAPI header."""
    regs = ["r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx",
            "rdx", "rsi", "rdi", "rip", "rsp"]
    src = tmp_path / "off.c"
    src.write_text("#include <stdio.h>\n#include <stddef.h>\n#include <asm/ptrace.h>\n"
                   "int main(void) {\n" + "".join(
                       f'printf("{r} %zu\\n", offsetof(struct pt_regs, {r}));\n' for r in regs)
                   + "return 0; }\n")
    exe = gcc(tmp_path / "off", src)
    offsets = dict(line.split() for line in run(exe).splitlines())
    assert {r: X86_64_PT_REGS[r] for r in regs} == {r: int(v) for r, v in offsets.items()}


def test_aarch64_register_offsets() -> None:
    # struct user_pt_regs { __u64 regs[31]; __u64 sp; __u64 pc; __u64 pstate; }
    assert [AARCH64_PT_REGS[f"x{i}"] for i in range(31)] == [8 * i for i in range(31)]
    assert AARCH64_PT_REGS["sp"] == 31 * 8


# -- the encoded spec, against the installed header -----------------------------------------

HEADER_TEST = r"""
#include <stdbool.h>
#include <linux/types.h>
#include <linux/bpf.h>
#include <asm/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/usdt.bpf.h>

_Static_assert(sizeof(struct __bpf_usdt_arg_spec) == 16, "arg spec size");
_Static_assert(sizeof(struct __bpf_usdt_spec) == 208, "spec size");
_Static_assert(__builtin_offsetof(struct __bpf_usdt_spec, usdt_cookie) == 192, "cookie");
_Static_assert(__builtin_offsetof(struct __bpf_usdt_spec, arg_cnt) == 200, "arg_cnt");

struct __bpf_usdt_spec spec_out = {
    .args = {
        { .val_off = (__u64)-1204, .arg_type = BPF_USDT_ARG_REG_DEREF, .reg_off = 32,
          .arg_signed = true, .arg_bitshift = 32 },
        { .val_off = 0, .arg_type = BPF_USDT_ARG_REG, .reg_off = 112, .arg_signed = false,
          .arg_bitshift = 0 },
        { .val_off = (__u64)-9, .arg_type = BPF_USDT_ARG_CONST, .reg_off = 0,
          .arg_signed = true, .arg_bitshift = 56 },
        { .val_off = 0x1234, .arg_type = BPF_USDT_ARG_REG_DEREF, .reg_off = 128,
          .arg_signed = false, .arg_bitshift = 48 },
    },
    .usdt_cookie = 0x1122334455667788ULL,
    .arg_cnt = 4,
};
char LICENSE[] SEC("license") = "GPL";
"""

def compile_bpf(tmp_path: Path, name: str, text: str, target: str) -> bytes:
    """The bytes of global ``name`` in the .data of ``text`` compiled for ``target``."""
    require_tool("clang-19")
    src = tmp_path / f"{name}.c"
    src.write_text(text)
    obj = tmp_path / f"{name}-{target}.o"
    run("clang-19", f"--target={target}", "-O2", "-g", "-D__TARGET_ARCH_x86",
        "-I/usr/include/x86_64-linux-gnu", "-c", "-o", obj, src)
    elf = read_elf(obj.read_bytes())
    [sym] = [s for s in elf.symbols if s.name == name]
    sec = elf.section(sym.section)
    return sec.data[sym.value:sym.value + sym.size]


@pytest.mark.parametrize(("target", "order"), [("bpfel", "little"), ("bpfeb", "big")])
def test_encode_matches_usdt_bpf_h(tmp_path: Path, target: str, order: str) -> None:
    if not Path("/usr/include/bpf/usdt.bpf.h").exists():
        require_tool("usdt.bpf.h (libbpf-dev)")
    want = compile_bpf(tmp_path, "spec_out", HEADER_TEST, target)
    spec = USDTSpec(parse_usdt_args("-4@-1204(%rbp) 8@%rdi -1@$-9 2@foo(%rip)", pc=0x1000,
                                    symbols={"foo": 0x2234}))
    assert spec.encode(0x1122334455667788, byte_order=order) == want


def test_encode_limits() -> None:
    arg = parse_usdt_args("8@%rax")[0]
    assert USDTSpec(()).encode() == bytes(USDT_SPEC_SIZE)
    with pytest.raises(ValueError):
        USDTSpec((arg,) * 13).encode()
    with pytest.raises(ValueError):
        USDTSpec((arg,)).encode(1 << 64)
    assert USDTSpec((arg,)).encode(-1)[192:200] == b"\xff" * 8


# -- prelink and malformed notes -------------------------------------------------------------

def prelink_copy(src: Path, dst: Path, delta: int) -> None:
    """What prelink does to a library: every segment and section moved by ``delta``, the
    (non-allocated) notes left as they were."""
    data = bytearray(src.read_bytes())
    phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 0x36)
    for i in range(phnum):
        h = phoff + i * phentsize
        if struct.unpack_from("<I", data, h)[0] == 1:            # PT_LOAD
            vaddr, paddr = struct.unpack_from("<QQ", data, h + 16)
            struct.pack_into("<QQ", data, h + 16, vaddr + delta, paddr + delta)
    for i in range(1, shnum):
        h = shoff + i * shentsize
        addr = struct.unpack_from("<Q", data, h + 16)[0]
        if addr:
            struct.pack_into("<Q", data, h + 16, addr + delta)
    dst.write_bytes(bytes(data))


def test_prelinked_library(bins: dict[str, Path], tmp_path: Path) -> None:
    moved = tmp_path / "libmoved.so"
    delta = 0x7F0000000
    prelink_copy(bins["lib"], moved, delta)
    [orig] = usdt_probes(bins["lib"])
    [p] = usdt_probes(moved)
    assert p.base == orig.base                          # the note did not move ...
    assert p.address == orig.address + delta            # ... the adjusted PC did
    assert p.offset == orig.offset == file_offset(moved, p.address)
    assert p.semaphore == orig.semaphore + delta
    assert p.semaphore_offset == orig.semaphore_offset


def note_section(path: Path) -> tuple[int, int]:
    """(offset, size) of .note.stapsdt."""
    for line in run("readelf", "-SW", path).splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+\.note\.stapsdt\s+\S+\s+[0-9a-f]+\s+([0-9a-f]+)\s+"
                     r"([0-9a-f]+)", line)
        if m:
            return int(m.group(1), 16), int(m.group(2), 16)
    raise AssertionError("no .note.stapsdt")


@pytest.mark.parametrize(("patch", "match"), [
    (lambda d, o: struct.pack_into("<I", d, o + 4, 0x7FFFFFF0), "run past the end"),
    (lambda d, o: struct.pack_into("<I", d, o, 0xFFFFFFF0), "run past the end"),
    (lambda d, o: struct.pack_into("<I", d, o + 4, 10), "too short"),
    (lambda d, o: d.__setitem__(slice(o + 12 + 8 + 24, o + 12 + 8 + 40),
                                b"A" * 16), "NUL-terminated"),
    (lambda d, o: struct.pack_into("<Q", d, o + 12 + 8, 0x7FFF0000), "no file-backed"),
    (lambda d, o: struct.pack_into("<Q", d, o + 12 + 8 + 16,
                                   struct.unpack_from("<Q", d, o + 12 + 8)[0]),
     "semaphore .* is in an executable segment"),
])
def test_malformed_notes(bins: dict[str, Path], tmp_path: Path, patch: object,
                         match: str) -> None:
    path = tmp_path / "bad.so"
    shutil.copy(bins["lib"], path)
    off, _size = note_section(path)
    data = bytearray(path.read_bytes())
    assert data[off + 12:off + 20] == b"stapsdt\0"
    patch(data, off)  # type: ignore[operator]
    path.write_bytes(bytes(data))
    with pytest.raises(ELFError, match=match) as e:
        usdt_probes(path)
    assert str(path) in str(e.value)


def test_truncated_note_section(bins: dict[str, Path]) -> None:
    with open_binary(bins["pie"]) as src:
        img = elf_image(src)
        sec = img.section(".note.stapsdt")
        assert sec is not None
        data = img.read_section(src, sec)
        for cut in range(0, len(data), 3):
            try:
                probes = parse_usdt_notes(data[:cut], img, src)
            except ELFError as e:
                assert ".note.stapsdt" in str(e)
            else:
                # Only the last note's padding may be missing.
                assert len(probes) < len(usdt_probes(bins["pie"])) or cut > len(data) - 4
