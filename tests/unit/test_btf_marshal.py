"""Marshaling type graphs back into raw BTF: round trips, dedup and sanitization."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import ebpf
from ebpf import btf
from ebpf.btf.marshal import Builder, MarshalOptions, marshal_spec, marshal_types
from ebpf.errors import BTFError

from .test_btf_elf import SOURCE
from .test_btf_parse import sample

CLANG = shutil.which("clang-19") or shutil.which("clang")
VMLINUX = "/sys/kernel/btf/vmlinux"

S32 = btf.Int("int", 4, btf.IntEncoding.SIGNED)


def dump_all(spec: btf.Spec) -> list[str]:
    return [spec.dump(i) for i in range(1, len(spec) + 1)]


@pytest.fixture(scope="module")
def elf_specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, btf.Spec]:
    if CLANG is None:
        pytest.skip("clang-19 is not installed: cannot build the test object")
    d = tmp_path_factory.mktemp("marshal")
    (d / "prog.c").write_text(SOURCE)
    out = {}
    for order in ("el", "eb"):
        obj = d / f"prog-{order}.o"
        subprocess.run([CLANG, f"--target=bpf{order}", "-g", "-O2",
                        "-I/usr/include/x86_64-linux-gnu", "-c", str(d / "prog.c"), "-o",
                        str(obj)], check=True)
        out[order] = btf.load_spec(obj)
    return out


@pytest.mark.parametrize("order", ["<", ">"])
def test_sample_round_trip(order: str) -> None:
    spec = btf.load_spec_from_bytes(sample("<"))
    blob = marshal_spec(spec, MarshalOptions(byte_order=order))
    again = btf.load_spec_from_bytes(blob)
    assert again.byte_order == order
    assert dump_all(again) == dump_all(spec)


@pytest.mark.parametrize("src", ["el", "eb"])
@pytest.mark.parametrize("order", ["<", ">"])
def test_elf_round_trip(elf_specs: dict[str, btf.Spec], src: str, order: str) -> None:
    spec = elf_specs[src]
    again = btf.load_spec_from_bytes(marshal_spec(spec, MarshalOptions(byte_order=order)))
    assert dump_all(again) == dump_all(spec)


def test_marshal_types_gives_ids_and_dedups() -> None:
    a = btf.Int("int", 4, btf.IntEncoding.SIGNED)
    b = btf.Int("int", 4, btf.IntEncoding.SIGNED)
    s1 = btf.Struct("pair", 8, [btf.Member("x", a, 0), btf.Member("y", b, 32)])
    s2 = btf.Struct("pair", 8, [btf.Member("x", b, 0), btf.Member("y", a, 32)])
    blob, builder = marshal_types([s1, s2, btf.Pointer(s1)])
    spec = btf.load_spec_from_bytes(blob)
    assert len(spec) == 3  # one struct, one int, one pointer
    assert builder.type_id(s1) == builder.type_id(s2) == 1
    assert builder.type_id(a) == builder.type_id(b)
    assert spec.type_by_id(builder.type_id(a)).name == "int"
    # Strings are stored once.
    assert spec.raw.strings.count(b"int\0") == 1 and spec.raw.strings.count(b"pair\0") == 1


def test_cycles_are_kept() -> None:
    node = btf.Struct("node", 8, [])
    node.members.append(btf.Member("next", btf.Pointer(node), 0))
    other = btf.Struct("node", 8, [])
    other.members.append(btf.Member("next", btf.Pointer(other), 0))
    blob, builder = marshal_types([node, other])
    spec = btf.load_spec_from_bytes(blob)
    n = spec.type_by_id(builder.type_id(node))
    assert isinstance(n, btf.Struct)
    ptr = n.members[0].type
    assert isinstance(ptr, btf.Pointer) and ptr.target is n
    assert len(spec) <= 4


def test_void_and_unknown_lookups() -> None:
    b = Builder()
    assert b.add(btf.Void()) == 0
    b.marshal()
    assert b.type_id(btf.Void()) == 0
    with pytest.raises(BTFError, match="not marshaled"):
        b.type_id(S32)


def test_values_that_do_not_fit() -> None:
    with pytest.raises(BTFError, match="32-bit enum"):
        marshal_types([btf.Enum("e", 4, [btf.EnumValue("A", 1 << 33)])])
    with pytest.raises(BTFError, match="32-bit enum"):
        marshal_types([btf.Enum("e", 4, [btf.EnumValue("A", -1)], signed=False)])
    with pytest.raises(BTFError, match="65535"):
        marshal_types([btf.Struct("s", 4, [btf.Member(f"m{i}", S32) for i in range(70000)])])
    with pytest.raises(BTFError, match="bitfield"):
        marshal_types([btf.Struct("s", 4, [btf.Member("m", S32, 1 << 25, 3)])])
    e = btf.Enum("e", 4, [btf.EnumValue("NEG", -5)], signed=True)
    spec = btf.load_spec_from_bytes(marshal_types([e])[0])
    assert spec.type_by_name("e", btf.Enum).values[0].value == -5


def test_sanitization_keeps_ids(elf_specs: dict[str, btf.Spec]) -> None:
    spec = elf_specs["el"]
    blob = marshal_spec(spec, MarshalOptions.all_sanitized())
    again = btf.load_spec_from_bytes(blob)
    assert len(again) == len(spec)
    kinds_before = {type(t) for t in spec}
    kinds_after = {type(t) for t in again}
    assert {btf.DeclTag, btf.TypeTag, btf.Float, btf.Enum64, btf.Var,
            btf.Datasec} <= kinds_before
    assert not kinds_after & {btf.DeclTag, btf.TypeTag, btf.Float, btf.Enum64, btf.Var,
                              btf.Datasec}
    for tid in range(1, len(spec) + 1):
        old, new = spec.type_by_id(tid), again.type_by_id(tid)
        if isinstance(old, btf.TypeTag):
            assert isinstance(new, btf.Const) and again.type_id(new.type) == spec.type_id(old.type)
        elif isinstance(old, btf.Float):
            assert isinstance(new, btf.Struct) and new.size == old.size and not new.members
        elif isinstance(old, btf.Enum64):
            assert isinstance(new, btf.Union) and new.size == old.size
        elif isinstance(old, btf.Datasec):
            assert isinstance(new, btf.Struct) and new.size == old.size
        elif isinstance(old, (btf.DeclTag, btf.Var)):
            assert isinstance(new, btf.Int) and new.size == 1
        elif isinstance(old, btf.Func):
            assert isinstance(new, btf.Func) and new.linkage is btf.FuncLinkage.STATIC
        else:
            assert spec.dump(tid) == again.dump(tid)


def test_replace_funcs(elf_specs: dict[str, btf.Spec]) -> None:
    spec = elf_specs["el"]
    again = btf.load_spec_from_bytes(marshal_spec(spec, MarshalOptions(replace_funcs=True)))
    prog = spec.type_by_name("prog", btf.Func)
    new = again.type_by_id(spec.type_id(prog))
    assert isinstance(new, btf.Typedef) and new.name == "prog"
    assert isinstance(new.type, btf.Enum)


def test_options() -> None:
    assert not MarshalOptions().sanitizing
    assert MarshalOptions(replace_float=True).sanitizing
    assert MarshalOptions.all_sanitized().replace_func_linkage


@pytest.mark.skipif(not os.path.exists(VMLINUX), reason=f"{VMLINUX} is missing")
def test_vmlinux_subset_round_trip() -> None:
    kspec = btf.load_kernel_spec()
    roots = [kspec.type_by_name(n, btf.Struct) for n in ("task_struct", "sk_buff", "bpf_prog")]
    blob, builder = marshal_types(roots)
    spec = btf.load_spec_from_bytes(blob)

    def same(a: btf.Type, b: btf.Type, seen: set[int]) -> None:
        if id(a) in seen:
            return
        seen.add(id(a))
        assert type(a) is type(b) and a.name == b.name
        if isinstance(a, btf.Composite):
            assert isinstance(b, btf.Composite) and a.size == b.size
            assert [(m.name, m.offset, m.bitfield_size) for m in a.members] == [
                (m.name, m.offset, m.bitfield_size) for m in b.members]
        for ra, rb in zip(a.references(), b.references(), strict=True):
            same(ra, rb, seen)

    for r in roots:
        t = spec.type_by_id(builder.type_id(r))
        same(r, t, set())
        assert btf.sizeof(t) == btf.sizeof(r)


@pytest.mark.skipif(not os.path.exists(VMLINUX), reason=f"{VMLINUX} is missing")
def test_vmlinux_full_round_trip() -> None:
    kspec = btf.load_kernel_spec()
    again = btf.load_spec_from_bytes(marshal_spec(kspec))
    assert len(again) == len(kspec)
    for tid in range(1, len(kspec) + 1, 37):
        assert again.dump(tid) == kspec.dump(tid)


def test_write_to_file_and_load(tmp_path: Path) -> None:
    path = tmp_path / "types.btf"
    path.write_bytes(marshal_types([btf.Typedef("pid_t", S32)])[0])
    spec = btf.load_spec(path)
    assert btf.sizeof(spec.type_by_name("pid_t", btf.Typedef)) == 4


def test_fixup_externs() -> None:
    proto = btf.FuncProto(S32, [btf.FuncParam("", btf.Pointer(btf.Void())),
                                btf.FuncParam("n", S32)])
    kfunc = btf.Func("bpf_kfunc", proto, btf.FuncLinkage.EXTERN)
    kver = btf.Var("LINUX_KERNEL_VERSION", S32, btf.VarLinkage.EXTERN)
    typeless = btf.Var("tcp_v4_connect", btf.Const(btf.Void()), btf.VarLinkage.EXTERN)
    ksyms = btf.Datasec(".ksyms", 0, [btf.VarSecinfo(kfunc, 0, 0),
                                      btf.VarSecinfo(typeless, 0, 1)])
    kconfig = btf.Datasec(".kconfig", 0, [btf.VarSecinfo(kver, 0, 4)])
    data = btf.Datasec(".data", 4, [btf.VarSecinfo(btf.Var("x", S32, btf.VarLinkage.GLOBAL),
                                                   0, 4)])
    roots: list[btf.Type] = [ksyms, kconfig, data]
    plain = btf.load_spec_from_bytes(marshal_types(roots)[0])
    assert plain.type_by_name("bpf_kfunc", btf.Func).linkage is btf.FuncLinkage.EXTERN
    blob, b = marshal_types(roots, MarshalOptions(fixup_externs=True))
    spec = btf.load_spec_from_bytes(blob)
    f = spec.type_by_id(b.type_id(kfunc))
    assert isinstance(f, btf.Func) and f.linkage is btf.FuncLinkage.GLOBAL
    assert [p.name for p in f.proto.params] == ["__arg0", "n"]
    v = spec.type_by_id(b.type_id(kver))
    assert isinstance(v, btf.Var) and v.linkage is btf.VarLinkage.GLOBAL
    ksym = spec.type_by_id(b.type_id(typeless))
    assert isinstance(ksym, btf.Int) and ksym.size == 1
    assert isinstance(spec.type_by_id(b.type_id(ksyms)), btf.Struct)
    assert isinstance(spec.type_by_id(b.type_id(kconfig)), btf.Struct)
    assert isinstance(spec.type_by_id(b.type_id(data)), btf.Datasec)


def test_split_round_trip() -> None:
    from .test_btf_parse import blob, info

    base = btf.load_spec_from_bytes(sample())
    own = b"\0mod_t\0"
    w = [base.strings_size + 1, info(8), 2, 0, info(2), 10]
    split = btf.load_spec_from_bytes(blob(w, own), base=base)
    again = btf.load_spec_from_bytes(marshal_spec(split), base=base)
    assert [again.dump(i) for i in range(10, 12)] == [split.dump(i) for i in range(10, 12)]
    assert again.type_by_name("mod_t", btf.Typedef).type is base.type_by_id(2)


@pytest.mark.skipif(not os.path.exists(VMLINUX), reason=f"{VMLINUX} is missing")
def test_split_on_vmlinux() -> None:
    kspec = btf.load_kernel_spec()
    task = kspec.type_by_name("task_struct", btf.Struct)
    u64 = kspec.type_by_name("u64", btf.Typedef)
    mine = btf.Struct("my_module_state", 16, [btf.Member("owner", btf.Pointer(task), 0),
                                              btf.Member("count", u64, 64)])
    blob, b = marshal_types([mine, btf.Typedef("my_state_t", mine)], base=kspec)
    assert b.type_id(task) == kspec.type_id(task)
    split = btf.load_split_spec(blob, kspec)
    assert len(split) == len(kspec) + 3  # struct, pointer, typedef
    st = split.type_by_name("my_module_state", btf.Struct)
    assert split.type_id(st) == b.type_id(mine) > len(kspec)
    owner = st.member("owner").type
    assert isinstance(owner, btf.Pointer) and owner.target is task
    assert st.member("count").type is u64
    assert split.type_by_name("task_struct", btf.Struct) is task
    assert btf.sizeof(split.type_by_name("my_state_t", btf.Typedef)) == 16


# ---- add_spec: records copied from the blob, the spec's string table kept

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"

_ADD_SPEC_OPTIONS = [
    MarshalOptions(dedup=False),
    MarshalOptions(dedup=False, fixup_externs=True),
    MarshalOptions(dedup=False, fixup_externs=True, byte_order=">"),
    MarshalOptions(dedup=False, replace_funcs=True),
    MarshalOptions(dedup=False, strip_decl_tags=True, replace_type_tags=True,
                   replace_float=True, replace_enum64=True, replace_datasec=True,
                   replace_func_linkage=True, fixup_externs=True),
]


def _ready(cs: ebpf.CollectionSpec) -> dict[int, btf.Type]:
    """The loader's rewrites of ``cs``'s types, with its ``.kconfig`` layout."""
    from ebpf.btf.kernel_ready import kernel_ready_types

    assert cs.types is not None
    kconfig = {v.name: v.offset for v in cs.variables.values() if v.map_name == ".kconfig"}
    size = cs.maps[".kconfig"].value_size if ".kconfig" in cs.maps else 0
    return kernel_ready_types(cs.types, kconfig_offsets=kconfig, kconfig_size=size)


def _by_decoding(path: Path, opts: MarshalOptions) -> bytes:
    """What add_spec wrote before it copied records: every type decoded and encoded."""
    cs = ebpf.load_collection_spec(path)
    types = cs.types
    assert types is not None
    replace = _ready(cs)
    b = Builder(opts)
    for tid in range(1, len(types) + 1):
        b.add(replace.get(tid) or types.type_by_id(tid))
    return b.marshal()


@pytest.mark.parametrize("path", sorted(TESTDATA.glob("*.elf")), ids=lambda p: p.name)
def test_add_spec_is_equivalent_to_encoding_decoded_types(path: Path) -> None:
    for opts in _ADD_SPEC_OPTIONS:
        cs = ebpf.load_collection_spec(path)
        types = cs.types
        if types is None:
            return
        replace = _ready(cs)
        decoded = len(types._types)
        b = Builder(opts)
        b.add_spec(types, replace)
        blob = b.marshal()
        # Types were decoded only where records are rewritten from decoded types.
        rewritten = {btf.Kind.VAR, btf.Kind.DATASEC, btf.Kind.FUNC_PROTO, btf.Kind.DECL_TAG}
        assert len(types._types) - decoded <= sum(
            types.raw.kind_of(i) in rewritten for i in range(1, len(types) + 1))
        again = btf.load_spec_from_bytes(blob)
        assert again.byte_order == opts.byte_order
        expected = btf.load_spec_from_bytes(_by_decoding(path, opts))
        assert dump_all(again) == dump_all(expected), opts
        # The spec's string table is kept as it is, at the start of the blob's.
        strings = types.raw.strings
        assert again.raw.strings[:len(strings)] == strings


def test_add_spec_rewrites_records_the_builder_would_change() -> None:
    from .test_btf_parse import blob, info

    strings = b"\0int\0s\0a\0p\0\0"
    empty = len(strings) - 1  # an empty string at a non-zero offset
    w = [
        1, info(1), 4, 1 << 24 | 32,                 # [1] int
        5, info(4, 1, kflag=1), 4, 7, 1, 0,          # [2] struct s, kind_flag, no bitfield
        9, info(2), 1,                               # [3] named pointer
        0, info(1), 4, 0xF0000020,                   # [4] int, stray encoding bits, no name
        empty, info(4, 1), 4, empty, 1, 0,           # [5] struct, empty names off 0
        0, info(3), 5, 1, 1, 4,                      # [6] array with a size word
        0, info(13, 2), 1, 0, 1, 0, 0,               # [7] proto(int, ...): unnamed, vararg
        1, info(6, 1) | 1 << 20, 4, 7, 3,            # [8] enum with stray info bits
    ]
    data = blob(w, strings)
    for opts in _ADD_SPEC_OPTIONS:
        spec = btf.load_spec_from_bytes(data)
        b = Builder(opts)
        b.add_spec(spec)
        got = btf.load_spec_from_bytes(b.marshal())
        ref = Builder(opts)
        for t in btf.load_spec_from_bytes(data):
            ref.add(t)
        raw_ref = ref.marshal()
        assert dump_all(got) == dump_all(btf.load_spec_from_bytes(raw_ref)), opts
        # Records the builder rewrites are written as it writes them.
        words = got.raw.words
        offs = got.raw.index.offsets
        assert words[offs[1] + 1] >> 31 == 0          # kind_flag dropped
        assert words[offs[2]] == 0                    # pointer name dropped
        assert words[offs[3] + 3] == 0x00000020       # encoding masked
        assert words[offs[4]] == 0 and words[offs[4] + 3] == 0  # empty names at 0
        assert words[offs[5] + 2] == 0                # array size word cleared
        if opts.fixup_externs and not opts.replace_funcs:
            assert got.type_by_id(7).params[0].name == "__arg0"  # type: ignore[attr-defined]


def test_probe_blobs_are_what_the_builder_makes(monkeypatch: pytest.MonkeyPatch) -> None:
    from ebpf.btf import handle
    from ebpf.btf.parse import HEADER_SIZE

    i32 = btf.Int("int", 4, btf.IntEncoding.SIGNED)
    var = btf.Var("a", i32, btf.VarLinkage.STATIC)
    probes = {
        handle.have_btf: [btf.Pointer(i32)],
        handle.have_func: [btf.Func("a", btf.FuncProto(i32), btf.FuncLinkage.STATIC)],
        handle.have_func_linkage: [btf.Func("a", btf.FuncProto(i32), btf.FuncLinkage.GLOBAL)],
        handle.have_datasec: [btf.Datasec(".data", 4, [btf.VarSecinfo(var, 0, 4)])],
        handle.have_float: [btf.Float("float", 4)],
        handle.have_decl_tag: [btf.DeclTag("tag", btf.Struct("s", 4, []), -1)],
        handle.have_type_tag: [btf.Pointer(btf.TypeTag("tag", i32))],
        handle.have_enum64: [btf.Enum64("e", 8, [btf.EnumValue("A", 1 << 40)])],
    }
    seen: list[bytes] = []

    def fake_load(attr: object, context: str = "") -> object:
        import ctypes

        size = attr.btf_size  # type: ignore[attr-defined]
        seen.append(ctypes.string_at(attr.btf, size))  # type: ignore[attr-defined]
        raise handle.SyscallError(1, "BPF_BTF_LOAD", context)  # EPERM: not cached

    monkeypatch.setattr(handle.commands, "btf_load", fake_load)
    for probe, types in probes.items():
        seen.clear()
        with pytest.raises(handle.SyscallError):
            probe.__wrapped__()  # type: ignore[attr-defined]
        blob, _ = marshal_types(types)
        assert seen == [blob], probe.__name__
        assert len(blob) > HEADER_SIZE


def test_detect_marshal_options_probes_only_the_kinds_written(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from ebpf.btf import handle
    from ebpf.errors import NotSupportedError

    ran: list[str] = []
    missing = {"have_func_linkage", "have_float"}

    def fake(name: str) -> object:
        def probe() -> None:
            ran.append(name)
            if name in missing:
                raise NotSupportedError(name)
        return probe

    for name in ("have_btf", "have_func", "have_func_linkage", "have_datasec", "have_float",
                 "have_decl_tag", "have_type_tag", "have_enum64"):
        monkeypatch.setattr(handle, name, fake(name))
    monkeypatch.setattr(handle, "_detected", [])
    K = btf.Kind
    opts = handle.detect_marshal_options(frozenset({K.INT, K.PTR, K.FUNC, K.FUNC_PROTO}))
    assert sorted(ran) == ["have_func", "have_func_linkage"]
    assert opts.replace_func_linkage and not opts.replace_funcs and not opts.replace_float
    assert opts.fixup_externs
    assert handle._detected == []  # partial answers are not kept as the full one
    ran.clear()
    # No probe for the kinds loaded anything: BTF itself is probed.
    opts = handle.detect_marshal_options(frozenset({K.INT, K.FLOAT}))
    assert ran == ["have_float", "have_btf"] and opts.replace_float
    ran.clear()
    full = handle.detect_marshal_options()
    assert ran[0] == "have_btf" and len(ran) == 8
    assert full.replace_func_linkage and full.replace_float and not full.replace_datasec
    assert handle.detect_marshal_options(frozenset({K.INT})) is full
