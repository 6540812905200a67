"""BTF and .BTF.ext of object files built by clang, in both byte orders."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ebpf import btf
from ebpf.btf.ext_info import CORERelocKind, load_ext_info
from ebpf.btf.marshal import marshal_spec
from ebpf.errors import BTFError, ELFError

ROOT = Path(__file__).resolve().parents[2]
CLANG = shutil.which("clang-19") or shutil.which("clang")
BPFTOOL = shutil.which("bpftool") or (
    "/usr/sbin/bpftool" if Path("/usr/sbin/bpftool").exists() else None)

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define __tag(x) __attribute__((btf_decl_tag(x)))
#define __ttag(x) __attribute__((btf_type_tag(x)))

enum color { RED = -1, GREEN = 1, BLUE = 2 };
enum big { BIG_A = 0x100000000ULL, BIG_B = 0xffffffffffffffffULL };

struct flags {
    unsigned int a : 3;
    unsigned int b : 5;
    int c : 7;
    unsigned long long d : 40;
    char name[16];
};

union either { int i; float f; double d; };

struct event {
    int pid;
    enum color color;
    enum big big;
    struct flags fl __tag("member_tag");
    union either u;
    struct { short x, y; } point;
    int __ttag("user") *uptr;
    _Bool ok;
    __u64 counts[4];
} __tag("struct_tag");

struct task_struct___local { int pid; int tgid; } __attribute__((preserve_access_index));

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 128);
    __type(key, __u32);
    __type(value, struct event);
} events SEC(".maps");

volatile const int target_pid = 7;
int counter = 3;
long padding_before = 1;
int counter2 = 4;
struct event last_event;
char _license[] SEC("license") = "GPL";

static __attribute__((noinline)) int helper(struct event *e __tag("arg_tag"), int x)
{
    return e->pid + x;
}

SEC("socket")
int prog(struct __sk_buff *skb)
{
    struct event *e;
    __u32 key = 0;
    struct task_struct___local *t = (void *)(long)skb->data;

    e = bpf_map_lookup_elem(&events, &key);
    if (!e)
        return 0;
    if (bpf_core_field_exists(t->tgid))
        counter += BPF_CORE_READ(t, pid);
    return helper(e, target_pid) + counter + counter2;
}
"""


@pytest.fixture(scope="session")
def objects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if CLANG is None:
        pytest.skip("clang-19 is not installed: cannot build the test object")
    d = tmp_path_factory.mktemp("btfobj")
    src = d / "prog.c"
    src.write_text(SOURCE)
    out = {}
    for order in ("el", "eb"):
        obj = d / f"prog-{order}.o"
        subprocess.run([CLANG, f"--target=bpf{order}", "-g", "-O2",
                        "-I/usr/include/x86_64-linux-gnu", "-c", str(src), "-o", str(obj)],
                       check=True)
        out[order] = obj
    return out


@pytest.mark.parametrize("order", ["el", "eb"])
def test_elf_btf_matches_bpftool(objects: dict[str, Path], order: str) -> None:
    if BPFTOOL is None:
        pytest.skip("bpftool is not installed")
    spec = btf.load_spec(objects[order])
    assert spec.byte_order == ("<" if order == "el" else ">")
    ref = subprocess.run([BPFTOOL, "btf", "dump", "file", str(objects[order])], check=True,
                         capture_output=True, text=True).stdout
    ours = "\n".join(spec.dump(i) for i in range(1, len(spec) + 1)) + "\n"
    # bpftool shows the DATASECs as clang wrote them; we fix their sizes and offsets.
    strip = [line for line in ref.splitlines() if "DATASEC" not in line and "(VAR " not in line]
    mine = [line for line in ours.splitlines() if "DATASEC" not in line and "(VAR " not in line]
    assert mine == strip


@pytest.mark.parametrize("order", ["el", "eb"])
def test_elf_types(objects: dict[str, Path], order: str) -> None:
    spec = btf.load_spec(objects[order])
    ev = spec.type_by_name("event", btf.Struct)
    assert [m.name for m in ev.members] == ["pid", "color", "big", "fl", "u", "point", "uptr",
                                            "ok", "counts"]
    fl = btf.underlying(ev.member("fl").type)
    assert isinstance(fl, btf.Struct)
    assert [(m.offset, m.bitfield_size) for m in fl.members] == [(0, 3), (3, 5), (8, 7),
                                                                 (15, 40), (56, 0)]
    color = spec.type_by_name("color", btf.Enum)
    assert color.signed and color.value_name(-1) == "RED"
    big = spec.type_by_name("big", btf.Enum64)
    assert [v.value for v in big.values] == [1 << 32, (1 << 64) - 1] and not big.signed
    uptr = ev.member("uptr").type
    assert isinstance(uptr, btf.Pointer) and isinstance(uptr.target, btf.TypeTag)
    assert uptr.target.value == "user"
    tags = {t.value: t for t in spec if isinstance(t, btf.DeclTag)}
    assert tags["member_tag"].type is ev and tags["member_tag"].component_idx == 3
    assert tags["struct_tag"].component_idx == -1
    assert tags["arg_tag"].component_idx == 0
    either = btf.underlying(ev.member("u").type)
    assert isinstance(either, btf.Union) and isinstance(either.members[1].type, btf.Float)
    point = ev.member("point").type
    assert isinstance(point, btf.Struct) and point.name == ""
    helper = spec.type_by_name("helper", btf.Func)
    assert helper.linkage is btf.FuncLinkage.STATIC
    assert spec.type_by_name("prog", btf.Func).linkage is btf.FuncLinkage.GLOBAL
    assert btf.sizeof(ev) == ev.size == 104


@pytest.mark.parametrize("order", ["el", "eb"])
def test_datasec_fixups(objects: dict[str, Path], order: str) -> None:
    spec = btf.load_spec(objects[order])
    data = spec.type_by_name(".data", btf.Datasec)
    from ebpf.internal.elf import read_btf_sections
    elf = read_btf_sections(objects[order].read_bytes())
    assert data.size == elf.section_sizes[".data"] >= 16
    offsets = {v.type.name: v.offset for v in data.vars}
    assert set(offsets) == {"counter", "padding_before", "counter2"}
    assert len(set(offsets.values())) == 3 and offsets["padding_before"] % 8 == 0
    assert offsets == {name: elf.symbols[(".data", name)] for name in offsets}
    maps = spec.type_by_name(".maps", btf.Datasec)
    assert maps.size == 32 and maps.vars[0].type.name == "events"
    rodata = spec.type_by_name(".rodata", btf.Datasec)
    var = rodata.vars[0].type
    assert isinstance(var, btf.Var) and var.linkage is btf.VarLinkage.GLOBAL
    assert isinstance(var.type, (btf.Const, btf.Volatile))


@pytest.mark.parametrize("order", ["el", "eb"])
def test_hidden_functions_become_static(order: str) -> None:
    # usdt.bpf.h's helpers are __weak __hidden global functions: libbpf has them verified as
    # static ones (as global ones, their pointer arguments may be NULL and they fail).
    path = ROOT / "testdata" / f"usdt-{order}.elf"
    from ebpf.internal.elf import read_btf_sections
    hidden = read_btf_sections(path.read_bytes()).hidden_functions
    assert hidden == {"bpf_usdt_arg_cnt", "bpf_usdt_arg", "bpf_usdt_cookie"}
    spec = btf.load_spec(path)
    for name in hidden:
        assert spec.type_by_name(name, btf.Func).linkage is btf.FuncLinkage.STATIC
    assert spec.type_by_name("record", btf.Func).linkage is btf.FuncLinkage.GLOBAL


@pytest.mark.parametrize("order", ["el", "eb"])
def test_ext_info(objects: dict[str, Path], order: str) -> None:
    spec, ext = btf.load_elf_btf(objects[order])
    assert ext is not None
    assert set(ext.func_infos) == {"socket", ".text"}
    (fi,) = ext.func_infos["socket"]
    assert fi.insn_off == 0 and fi.func is spec.type_by_name("prog", btf.Func)
    assert ext.func_infos[".text"][0].func.name == "helper"
    lines = ext.line_infos["socket"]
    assert lines[0].file_name.endswith("prog.c") and "int prog(" in lines[0].line
    assert lines[0].line_num > 1 and all(li.insn_off % 8 == 0 for li in lines)
    assert any("bpf_map_lookup_elem" in li.line for li in lines)
    relos = ext.core_relos["socket"]
    kinds = {r.kind for r in relos}
    assert {CORERelocKind.FIELD_EXISTS, CORERelocKind.FIELD_BYTE_OFFSET} <= kinds
    local = spec.type_by_name("task_struct___local", btf.Struct)
    assert all(r.type is local for r in relos)
    assert {r.access_str for r in relos} == {"0:0", "0:1"}
    assert [r.accessor for r in relos if r.access_str == "0:1"] == [[0, 1]]


def test_ext_info_malformed(objects: dict[str, Path]) -> None:
    from ebpf.internal.elf import read_btf_sections
    data = objects["el"].read_bytes()
    elf = read_btf_sections(data)
    assert elf.ext is not None
    spec = btf.load_spec_from_bytes(data)
    for cut in (0, 4, 20, 40, len(elf.ext) - 3):
        with pytest.raises(BTFError):
            load_ext_info(elf.ext[:cut], spec)
    bad = bytearray(elf.ext)
    bad[24:28] = (0xFFFFFFF0).to_bytes(4, "little")  # CO-RE section offset out of range
    with pytest.raises(BTFError):
        load_ext_info(bytes(bad), spec)


def test_malformed_elf(objects: dict[str, Path], tmp_path: Path) -> None:
    data = objects["el"].read_bytes()
    for cut in (3, 16, 64, len(data) // 2):
        path = tmp_path / f"cut{cut}.o"
        path.write_bytes(data[:cut])
        with pytest.raises((ELFError, BTFError)):
            btf.load_spec(path)
    nobtf = tmp_path / "nobtf.o"
    subprocess.run([CLANG or "clang", "--target=bpfel", "-O2", "-c", "-x", "c", "-",
                    "-o", str(nobtf)], input=b"int x;\n", check=True)
    with pytest.raises(ELFError, match=r"\.BTF"):
        btf.load_spec(nobtf)


def _testdata_objects(*, btf: bool = True) -> list[Path]:
    """The committed objects with BTF (or, with ``btf=False``, the ones built without it:
    their names say ``nobtf``)."""
    return sorted(p for p in (ROOT / "testdata").glob("**/*") if p.suffix in (".o", ".elf")
                  and p.is_file() and ("nobtf" not in p.name) == btf)


def test_objects_without_btf_say_so() -> None:
    paths = _testdata_objects(btf=False)
    assert paths
    for path in paths:
        with pytest.raises(ELFError, match=r"no \.BTF"):
            btf.load_elf_btf(path)


@pytest.mark.parametrize("path", _testdata_objects(), ids=lambda p: p.name)
def test_parse_every_testdata_object(path: Path) -> None:
    spec, _ = btf.load_elf_btf(path)
    for t in spec:
        str(t)
        repr(t)
    dump = [spec.dump(i) for i in range(1, len(spec) + 1)]
    again = btf.load_spec_from_bytes(marshal_spec(spec))
    assert [again.dump(i) for i in range(1, len(again) + 1)] == dump
    if BPFTOOL is not None:
        ref = subprocess.run([BPFTOOL, "btf", "dump", "file", str(path)], check=True,
                             capture_output=True, text=True).stdout

        from ebpf.internal.elf import read_btf_sections
        hidden = read_btf_sections(path.read_bytes()).hidden_functions

        def keep(lines: list[str]) -> list[str]:
            # Data sections are fixed up, and hidden global functions made static, on reading.
            out = [ln for ln in lines if "DATASEC" not in ln and "(VAR " not in ln]
            return [ln.replace("linkage=global", "linkage=static")
                    if any(f"FUNC '{n}'" in ln for n in hidden) else ln for ln in out]

        assert keep("\n".join(dump).splitlines()) == keep(ref.splitlines())


def test_mutated_objects_raise_only_our_errors(objects: dict[str, Path]) -> None:
    import random

    from ebpf.internal.elf import read_btf_sections

    rng = random.Random(99)
    for order in ("el", "eb"):
        good = objects[order].read_bytes()
        elf = read_btf_sections(good)
        btf_start = good.find(elf.btf)
        ext_start = good.find(elf.ext) if elf.ext else 0
        for i in range(150):
            data = bytearray(good)
            # Aim most mutations at the BTF sections, some anywhere.
            for _ in range(rng.randint(1, 6)):
                if i % 3 == 0:
                    pos = rng.randrange(len(data))
                elif i % 3 == 1:
                    pos = btf_start + rng.randrange(len(elf.btf))
                else:
                    pos = ext_start + rng.randrange(len(elf.ext or b"\0"))
                data[pos] = rng.randrange(256)
            try:
                spec, ext = btf.load_elf_btf(bytes(data))
                for t in spec:
                    str(t)
                    for ref in t.references():
                        repr(ref)
                if ext is not None:
                    for lines in ext.line_infos.values():
                        [str(li) for li in lines]
            except (BTFError, ELFError):
                pass
