"""C formatting: type names, declarators, and compilable vmlinux.h subsets."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest

from ebpf import btf
from ebpf.btf.format import CFormatter, declaration, format_c, type_name

CLANG = "/usr/bin/clang-19" if os.path.exists("/usr/bin/clang-19") else shutil.which("clang-19")
VMLINUX = "/sys/kernel/btf/vmlinux"
needs_clang = pytest.mark.skipif(CLANG is None, reason="clang-19 is not installed "
                                 "(/usr/bin/clang-19): cannot compile the formatter's output")
needs_vmlinux = pytest.mark.skipif(not os.path.exists(VMLINUX), reason=f"{VMLINUX} is missing")

S32 = btf.Int("int", 4, btf.IntEncoding.SIGNED)
U8 = btf.Int("unsigned char", 1)
U32 = btf.Int("unsigned int", 4)
U64 = btf.Int("long long unsigned int", 8)
CHAR = btf.Int("char", 1, btf.IntEncoding.SIGNED)


def test_type_names() -> None:
    assert type_name(S32) == "int"
    assert type_name(btf.Pointer(btf.Const(CHAR))) == "const char *"
    assert type_name(btf.Const(btf.Pointer(CHAR))) == "char *const"
    assert type_name(btf.Struct("task_struct", 8)) == "struct task_struct"
    assert type_name(btf.Union("", 8)) == "union { ... }"
    assert type_name(btf.Pointer(btf.Void())) == "void *"
    proto = btf.FuncProto(S32, [btf.FuncParam("a", btf.Pointer(btf.Void())),
                                btf.FuncParam("", U32)])
    assert type_name(btf.Pointer(proto)) == "int (*)(void *a, unsigned int)"
    assert type_name(btf.Func("f", proto)) == "int f(void *a, unsigned int)"
    assert type_name(btf.Int("__ARRAY_SIZE_TYPE__", 4)) == "unsigned int"
    assert type_name(btf.Float("double", 8)) == "double"
    assert type_name(btf.Fwd("u", btf.FwdKind.UNION)) == "union u"
    variadic = btf.FuncProto(S32, [btf.FuncParam("fmt", btf.Pointer(CHAR)),
                                   btf.FuncParam("", btf.Void())])
    assert type_name(btf.Pointer(variadic)) == "int (*)(char *fmt, ...)"
    assert type_name(btf.FuncProto(btf.Void())) == "void (void)"


def test_declarations() -> None:
    assert declaration(btf.Array(CHAR, 16), "comm") == "char comm[16]"
    assert declaration(btf.Pointer(btf.Array(S32, 4)), "p") == "int (*p)[4]"
    assert declaration(btf.Array(btf.Pointer(S32), 4), "p") == "int *p[4]"
    assert declaration(btf.Array(btf.Array(U8, 3), 2), "m") == "unsigned char m[2][3]"
    fp = btf.Pointer(btf.FuncProto(btf.Pointer(CHAR), [btf.FuncParam("x", S32)]))
    assert declaration(fp, "fn") == "char *(*fn)(int x)"
    assert declaration(btf.Volatile(btf.Const(S32)), "v") == "volatile const int v"
    tagged = btf.Pointer(btf.TypeTag("user", S32))
    assert declaration(tagged, "p") == "int *p"
    assert CFormatter(emit_type_tags=True).decl(tagged, "p") == (
        'int __attribute__((btf_type_tag("user"))) *p')


def compile_with_layout_checks(types: Iterable[btf.Type], tmp: Path, *,
                               extra: str = "") -> tuple[str, int]:
    """Format ``types``, add static asserts of every size and offset, compile; returns the C
    and the number of asserts."""
    assert CLANG is not None
    types = list(types)
    f = CFormatter()
    code = f.format(types)
    asserts = []
    seen: set[int] = set()
    stack = list(types)
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.extend(t.references())
        if isinstance(t, btf.Composite) and t.name:
            cn = f"{'union' if isinstance(t, btf.Union) else 'struct'} {f._names[id(t)]}"
            asserts.append(f'_Static_assert(sizeof({cn}) == {t.size}, "{cn}");')
            for m in t.members:
                if m.name and not m.bitfield_size:
                    asserts.append(f"_Static_assert(__builtin_offsetof({cn}, {m.name}) == "
                                   f'{m.offset // 8}, "{cn}.{m.name}");')
    src = tmp / "out.c"
    src.write_text(code + "\n" + extra + "\n" + "\n".join(asserts) + "\n")
    r = subprocess.run([CLANG, "-target", "bpf", "-c", str(src), "-o", str(tmp / "out.o"),
                        "-Werror", "-Wno-incompatible-library-redeclaration",
                        "-ferror-limit=5"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[:4000]
    return code, len(asserts)


@needs_clang
def test_layout_tricks_compile(tmp_path: Path) -> None:
    # packed: a u64 at byte offset 1
    packed = btf.Struct("packed_s", 9, [btf.Member("a", U8, 0), btf.Member("b", U64, 8)])
    # bitfields with a gap, then a byte-aligned member and explicit trailing padding
    bits = btf.Struct("bits_s", 16, [btf.Member("a", U32, 0, 3), btf.Member("b", U32, 10, 5),
                                     btf.Member("c", U8, 32), btf.Member("d", U32, 64)])
    # a cacheline-aligned member: gap before it
    aligned = btf.Struct("aligned_s", 128, [btf.Member("x", S32, 0), btf.Member("y", S32, 512)])
    anon = btf.Struct("", 8, [btf.Member("lo", U32, 0), btf.Member("hi", U32, 32)])
    un = btf.Union("either", 16, [btf.Member("", anon, 0), btf.Member("raw", U64, 0)])
    holder = btf.Struct("holder", 32, [btf.Member("u", un, 0), btf.Member("p", btf.Pointer(
        btf.Struct("opaque", 0)), 128), btf.Member("fn", btf.Pointer(btf.FuncProto(S32, [
            btf.FuncParam("h", btf.Pointer(btf.Struct("holder", 32)))])), 192)])
    e8 = btf.Enum("small_e", 1, [btf.EnumValue("S_A", 1), btf.EnumValue("S_B", 200)])
    e64 = btf.Enum64("big_e", 8, [btf.EnumValue("B_A", (1 << 64) - 1),
                                  btf.EnumValue("B_B", 1 << 40)])
    neg = btf.Enum("neg_e", 4, [btf.EnumValue("N_A", -1)], signed=True)
    with_enums = btf.Struct("with_enums", 24, [btf.Member("s", e8, 0), btf.Member("b", e64, 64),
                                               btf.Member("n", neg, 128)])
    td = btf.Typedef("holder_t", holder)
    arr_td = btf.Typedef("table_t", btf.Array(btf.Typedef("elem_t", btf.Struct(
        "elem_s", 4, [btf.Member("v", S32, 0)])), 8))
    code, n = compile_with_layout_checks(
        [packed, bits, aligned, td, with_enums, arr_td], tmp_path,
        extra='_Static_assert(sizeof(holder_t) == 32, "");\n'
              '_Static_assert(sizeof(table_t) == 32, "");')
    assert "__attribute__((packed))" in code and n > 10
    assert "union {" not in code or "struct {" in code


@needs_clang
@needs_vmlinux
@pytest.mark.parametrize("names", [
    ("task_struct",), ("sk_buff", "xdp_md", "__sk_buff"), ("bpf_attr", "bpf_map_info"),
    ("file_operations", "inode", "super_block"), ("perf_event_attr", "pt_regs", "trace_entry"),
])
def test_vmlinux_structs_compile(names: tuple[str, ...], tmp_path: Path) -> None:
    k = btf.load_kernel_spec()
    roots = [t for n in names for t in k.types_by_name(n) if isinstance(t, btf.Composite)]
    assert len(roots) >= len(names)
    code, n = compile_with_layout_checks(roots, tmp_path)
    assert n > 20
    assert f"struct {names[0]} {{" in code or f"union {names[0]} {{" in code


@needs_clang
@needs_vmlinux
def test_all_of_vmlinux_compiles(tmp_path: Path) -> None:
    k = btf.load_kernel_spec()
    roots = [t for t in k if isinstance(t, (btf.Composite, btf.Typedef, btf.Enum)) and t.name]
    _, n = compile_with_layout_checks(roots, tmp_path)
    assert n > 10000


@needs_clang
@needs_vmlinux
def test_function_prototypes(tmp_path: Path) -> None:
    k = btf.load_kernel_spec()
    funcs = [k.type_by_name(n, btf.Func) for n in ("bpf_prog_load", "schedule", "kfree")]
    code, _ = compile_with_layout_checks(funcs, tmp_path)
    assert "extern void schedule(void);" in code


def test_guard_and_no_struct_twice() -> None:
    s = btf.Struct("s", 4, [btf.Member("x", S32, 0)])
    out = format_c([s, btf.Pointer(s), btf.Typedef("s_t", s)], guard="MY_H")
    assert out.startswith("#ifndef MY_H") and out.count("struct s {") == 1


def test_duplicate_names_are_renamed() -> None:
    a = btf.Struct("dup", 4, [btf.Member("x", S32, 0)])
    b = btf.Struct("dup", 8, [btf.Member("y", U64, 0)])
    e1 = btf.Enum("e1", 4, [btf.EnumValue("SAME", 1)])
    e2 = btf.Enum("e2", 4, [btf.EnumValue("SAME", 2)])
    out = format_c([a, b, e1, e2])
    assert "struct dup {" in out and "struct dup___2 {" in out
    assert "SAME = 1" in out and "SAME___2 = 2" in out
