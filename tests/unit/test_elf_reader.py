"""The ELF reader: specs from every object in testdata/, in both byte orders, without a kernel."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pytest

from ebpf import CollectionSpec, Name, field
from ebpf.asm import PseudoLoad
from ebpf.elf_reader import load_collection_spec
from ebpf.errors import EbpfError, ELFError
from ebpf.linker import ProgramBTF
from ebpf.map import MapSpec, PinType
from ebpf.marshal import MarshalError
from ebpf.program import ProgramSpec
from ebpf.section_names import parse_section_name
from ebpf.types import AttachType, MapFlags, MapType, ProgramFlags, ProgramType

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
OBJECTS = sorted(TESTDATA.glob("*.elf"))
ORDERS = ("el", "eb")
# Sources whose code differs by byte order: libbpf's usdt.bpf.h shifts a value read from
# memory differently on big-endian targets (``#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__``).
BYTE_ORDER_DEPENDENT_CODE = frozenset({"usdt"})


def obj(name: str, order: str = "el") -> Path:
    return TESTDATA / f"{name}-{order}.elf"


@pytest.fixture(params=ORDERS)
def order(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# --- every object --------------------------------------------------------------------------------

@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: p.name)
def test_every_object_parses_deterministically(path: Path) -> None:
    a = load_collection_spec(path)
    b = load_collection_spec(path.read_bytes())
    with path.open("rb") as f:
        c = load_collection_spec(f)
    assert a == b == c
    assert a.byte_order == ("big" if path.name.endswith("-eb.elf") else "little")
    assert a.copy() == a


@pytest.mark.parametrize("name", sorted({p.name[:-7] for p in OBJECTS}))
def test_both_byte_orders_agree(name: str) -> None:
    el = load_collection_spec(obj(name, "el"))
    eb = load_collection_spec(obj(name, "eb"))
    assert list(el.programs) == list(eb.programs)
    assert list(el.maps) == list(eb.maps)
    for n, p in el.programs.items():
        q = eb.programs[n]
        assert (p.type, p.attach_type, p.attach_to, p.flags, p.section_name, p.license) == (
            q.type, q.attach_type, q.attach_to, q.flags, q.section_name, q.license)
        if name in BYTE_ORDER_DEPENDENT_CODE:
            assert {i.reference for i in p.instructions} == {i.reference
                                                             for i in q.instructions}
            continue
        assert len(p.instructions) == len(q.instructions)
        assert [i.reference for i in p.instructions] == [i.reference for i in q.instructions]
        assert [i.symbol for i in p.instructions] == [i.symbol for i in q.instructions]
    for n, m in el.maps.items():
        k = eb.maps[n]
        assert (m.type, m.key_size, m.value_size, m.max_entries, m.flags, m.pinning) == (
            k.type, k.key_size, k.value_size, k.max_entries, k.flags, k.pinning)
    assert {n: (v.map_name, v.offset, v.size) for n, v in el.variables.items()} == {
        n: (v.map_name, v.offset, v.size) for n, v in eb.variables.items()}


_OBJDUMP = shutil.which("llvm-objdump-19") or shutil.which("llvm-objdump")


@pytest.mark.skipif(_OBJDUMP is None, reason="llvm-objdump is not installed")
@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: p.name)
def test_spec_agrees_with_llvm_objdump(path: Path) -> None:
    assert _OBJDUMP is not None
    out = subprocess.run([_OBJDUMP, "-h", "-t", str(path)], check=True, capture_output=True,
                         text=True).stdout
    sections: dict[str, tuple[int, str]] = {}
    for m in re.finditer(r"^\s*\d+ (\S+)\s+([0-9a-f]+) [0-9a-f]+ ?(\w*)$", out, re.M):
        sections[m.group(1)] = (int(m.group(2), 16), m.group(3))
    symbols = []
    for m in re.finditer(r"^([0-9a-f]{16}) (.{7}) (\S+)\s+([0-9a-f]{16}) (\S+)$", out, re.M):
        symbols.append((m.group(2), m.group(3), int(m.group(4), 16), m.group(5)))
    spec = load_collection_spec(path)

    funcs = {name: sec for flags, sec, _, name in symbols if "F" in flags}
    text_funcs = {n for n, s in funcs.items() if s == ".text"}
    # Every function outside .text is a program named by its symbol, from its section.
    assert set(spec.programs) == set(funcs) - text_funcs
    for name, p in spec.programs.items():
        assert p.section_name == funcs[name]
        assert sections[p.section_name][1] == "TEXT"
        # Its own function comes first and its size matches the symbol.
        own = next(s for s in symbols if s[3] == name)
        slots = 0
        for ins in p.instructions:
            if ins.symbol is not None and ins.symbol != name:
                break
            slots += ins.slots
        assert slots * 8 == own[2]

    # Global-data maps are the data sections, sized like them.
    data_secs = {n: size for n, (size, _) in sections.items()
                 if re.fullmatch(r"\.(data|rodata|bss)(\..+)?", n) and size}
    assert {n for n in spec.maps if n.startswith(".") and n != ".kconfig"} == set(data_secs)
    for n, size in data_secs.items():
        assert spec.maps[n].value_size == size
        assert spec.maps[n].type == MapType.ARRAY
    # Every map symbol is a map; every object symbol in a data section is a variable.
    map_syms = {name for _, sec, _, name in symbols if sec in (".maps", "maps")
                and name not in (".maps", "maps")}
    assert map_syms <= set(spec.maps)
    var_syms = {(name, sec, size) for flags, sec, size, name in symbols
                if "O" in flags and sec in data_secs}
    assert {(v.name, v.map_name, v.size) for v in spec.variables.values()
            if v.map_name != ".kconfig"} == var_syms
    lic = sections.get("license")
    if lic is not None:
        assert spec.programs
        assert all(p.license for p in spec.programs.values())


# --- programs and sections ------------------------------------------------------------------------

SECTIONS = {
    # function: (type, attach type, attach_to, flags)
    "p_socket": (ProgramType.SOCKET_FILTER, None, "", 0),
    "p_sk_reuseport": (ProgramType.SK_REUSEPORT, AttachType.SK_REUSEPORT_SELECT, "", 0),
    "p_sk_reuseport_migrate": (ProgramType.SK_REUSEPORT,
                               AttachType.SK_REUSEPORT_SELECT_OR_MIGRATE, "", 0),
    "p_kprobe": (ProgramType.KPROBE, None, "do_unlinkat", 0),
    "p_kretprobe": (ProgramType.KPROBE, None, "do_unlinkat", 0),
    "p_uprobe": (ProgramType.KPROBE, None, "/bin/sh:main", 0),
    "p_uretprobe_s": (ProgramType.KPROBE, None, "/bin/sh:main", ProgramFlags.SLEEPABLE),
    "p_kprobe_multi": (ProgramType.KPROBE, AttachType.TRACE_KPROBE_MULTI, "vfs_*", 0),
    "p_uprobe_multi": (ProgramType.KPROBE, AttachType.TRACE_UPROBE_MULTI, "/bin/sh:*", 0),
    "p_ksyscall": (ProgramType.KPROBE, None, "openat", 0),
    "p_usdt": (ProgramType.KPROBE, None, "libc:setjmp", 0),
    "p_tc": (ProgramType.SCHED_CLS, None, "", 0),
    "p_tc_ingress": (ProgramType.SCHED_CLS, AttachType.TCX_INGRESS, "", 0),
    "p_tcx_egress": (ProgramType.SCHED_CLS, AttachType.TCX_EGRESS, "", 0),
    "p_netkit": (ProgramType.SCHED_CLS, AttachType.NETKIT_PRIMARY, "", 0),
    "p_classifier": (ProgramType.SCHED_CLS, None, "", 0),
    "p_action": (ProgramType.SCHED_ACT, None, "", 0),
    "p_tracepoint": (ProgramType.TRACEPOINT, None, "syscalls/sys_enter_openat", 0),
    "p_tp": (ProgramType.TRACEPOINT, None, "sched/sched_switch", 0),
    "p_raw_tracepoint": (ProgramType.RAW_TRACEPOINT, None, "sched_switch", 0),
    "p_raw_tp": (ProgramType.RAW_TRACEPOINT, None, "sys_enter", 0),
    "p_raw_tp_w": (ProgramType.RAW_TRACEPOINT_WRITABLE, None, "sys_enter", 0),
    "p_tp_btf": (ProgramType.TRACING, AttachType.TRACE_RAW_TP, "sched_switch", 0),
    "p_fentry": (ProgramType.TRACING, AttachType.TRACE_FENTRY, "do_unlinkat", 0),
    "p_fexit": (ProgramType.TRACING, AttachType.TRACE_FEXIT, "do_unlinkat", 0),
    "p_fmod_ret": (ProgramType.TRACING, AttachType.MODIFY_RETURN, "do_unlinkat", 0),
    "p_fentry_s": (ProgramType.TRACING, AttachType.TRACE_FENTRY, "do_unlinkat",
                   ProgramFlags.SLEEPABLE),
    "p_freplace": (ProgramType.EXT, None, "handler", 0),
    "p_lsm": (ProgramType.LSM, AttachType.LSM_MAC, "file_open", 0),
    "p_lsm_s": (ProgramType.LSM, AttachType.LSM_MAC, "file_open", ProgramFlags.SLEEPABLE),
    "p_iter": (ProgramType.TRACING, AttachType.TRACE_ITER, "task", 0),
    "p_syscall": (ProgramType.SYSCALL, None, "", ProgramFlags.SLEEPABLE),
    "p_xdp": (ProgramType.XDP, AttachType.XDP, "", 0),
    "p_xdp_frags": (ProgramType.XDP, AttachType.XDP, "", ProgramFlags.XDP_HAS_FRAGS),
    "p_xdp_devmap": (ProgramType.XDP, AttachType.XDP_DEVMAP, "", 0),
    "p_xdp_frags_cpumap": (ProgramType.XDP, AttachType.XDP_CPUMAP, "",
                           ProgramFlags.XDP_HAS_FRAGS),
    "p_perf_event": (ProgramType.PERF_EVENT, None, "", 0),
    "p_lwt_in": (ProgramType.LWT_IN, None, "", 0),
    "p_lwt_xmit": (ProgramType.LWT_XMIT, None, "", 0),
    "p_sockops": (ProgramType.SOCK_OPS, AttachType.CGROUP_SOCK_OPS, "", 0),
    "p_sk_skb_parser": (ProgramType.SK_SKB, AttachType.SK_SKB_STREAM_PARSER, "", 0),
    "p_sk_skb_verdict": (ProgramType.SK_SKB, AttachType.SK_SKB_STREAM_VERDICT, "", 0),
    "p_sk_msg": (ProgramType.SK_MSG, AttachType.SK_MSG_VERDICT, "", 0),
    "p_sk_lookup": (ProgramType.SK_LOOKUP, AttachType.SK_LOOKUP, "", 0),
    "p_flow_dissector": (ProgramType.FLOW_DISSECTOR, AttachType.FLOW_DISSECTOR, "", 0),
    "p_cgroup_skb_ingress": (ProgramType.CGROUP_SKB, AttachType.CGROUP_INET_INGRESS, "", 0),
    "p_cgroup_skb": (ProgramType.CGROUP_SKB, None, "", 0),
    "p_cgroup_sock_create": (ProgramType.CGROUP_SOCK, AttachType.CGROUP_INET_SOCK_CREATE, "",
                             0),
    "p_cgroup_connect4": (ProgramType.CGROUP_SOCK_ADDR, AttachType.CGROUP_INET4_CONNECT, "",
                          0),
    "p_cgroup_sendmsg_unix": (ProgramType.CGROUP_SOCK_ADDR, AttachType.CGROUP_UNIX_SENDMSG,
                              "", 0),
    "p_cgroup_sysctl": (ProgramType.CGROUP_SYSCTL, AttachType.CGROUP_SYSCTL, "", 0),
    "p_cgroup_getsockopt": (ProgramType.CGROUP_SOCKOPT, AttachType.CGROUP_GETSOCKOPT, "", 0),
    "p_cgroup_dev": (ProgramType.CGROUP_DEVICE, AttachType.CGROUP_DEVICE, "", 0),
    "p_netfilter": (ProgramType.NETFILTER, AttachType.NETFILTER, "", 0),
    "p_struct_ops": (ProgramType.STRUCT_OPS, None, "test_1", 0),
    "p_no_autoload": (ProgramType.XDP, AttachType.XDP, "", 0),
    "p_unknown": (ProgramType.UNSPEC, None, "", 0),
}


def test_section_names(order: str) -> None:
    spec = load_collection_spec(obj("loader_sections", order))
    assert set(spec.programs) == set(SECTIONS)
    for name, (ptype, attach, target, flags) in SECTIONS.items():
        p = spec.programs[name]
        assert (p.type, p.attach_type, p.attach_to, int(p.flags)) == (
            ptype, attach, target, int(flags)), name
        assert p.license == "GPL"
    assert spec.programs["p_no_autoload"].section_name == "?xdp"
    assert spec.programs["p_uprobe"].section_name == "uprobe//bin/sh:main"


@pytest.mark.parametrize(("name", "ptype", "autoload", "target"), [
    ("?kprobe/foo", ProgramType.KPROBE, False, "foo"),
    ("xdp/legacy_suffix", ProgramType.XDP, True, ""),
    ("socket1", ProgramType.UNSPEC, True, ""),
    ("", ProgramType.UNSPEC, True, ""),
    ("kprobe", ProgramType.KPROBE, True, ""),
    ("tracepoint/a/b/c", ProgramType.TRACEPOINT, True, "a/b/c"),
    ("lsm_cgroup/socket_bind", ProgramType.LSM, True, "socket_bind"),
    ("iter.s/task_vma", ProgramType.TRACING, True, "task_vma"),
])
def test_parse_section_name(name: str, ptype: ProgramType, autoload: bool,
                            target: str) -> None:
    info = parse_section_name(name)
    assert (info.type, info.autoload, info.attach_to) == (ptype, autoload, target)


def test_programs_split_and_link_subprograms(order: str) -> None:
    spec = load_collection_spec(obj("subprogs", order))
    assert list(spec.programs) == ["xdp_by_size", "xdp_by_bucket", "xdp_mixed", "tc_by_size",
                                   "tc_by_bucket"]
    def functions(p: ProgramSpec) -> list[str]:
        return [i.symbol for i in p.instructions if i.symbol is not None]
    assert functions(spec.programs["xdp_by_size"]) == ["xdp_by_size", "pick_verdict",
                                                       "is_small"]
    assert functions(spec.programs["xdp_by_bucket"]) == ["xdp_by_bucket", "bucket", "mix"]
    assert functions(spec.programs["xdp_mixed"]) == ["xdp_mixed", "is_small", "mix"]
    # Calls carry their callee's name, and encode (offsets resolved).
    for p in spec.programs.values():
        calls = [i.reference for i in p.instructions if i.is_function_call]
        assert calls and all(calls)
        assert len(p.instructions.marshal(spec.byte_order)) == p.instructions.slots * 8
    # Func info and line info ride along, per function.
    pbtf = spec.programs["xdp_mixed"].btf
    assert isinstance(pbtf, ProgramBTF)
    assert [n for n, _ in pbtf.functions] == ["xdp_mixed", "is_small", "mix"]
    assert all(f.lines and f.lines[0].slot == 0 for _, f in pbtf.functions)
    assert any("subprogs.c" in f.lines[0].file_name for _, f in pbtf.functions)


def test_callbacks_and_tail_call_objects(order: str) -> None:
    spec = load_collection_spec(obj("loader_calls", order))
    walk = spec.programs["walk"]
    funcs = [i.symbol for i in walk.instructions if i.symbol is not None]
    assert funcs[0] == "walk"
    assert {"sum_elem", "timer_cb", "twice"} <= set(funcs)
    ptrs = [i.reference for i in walk.instructions if i.is_load_of_function_pointer]
    assert set(ptrs) == {"sum_elem", "timer_cb"}
    assert spec.maps["jumps"].contents == [(0, "target_a"), (1, "target_b"), (2, "countdown")]
    assert spec.maps["by_id"].contents == [(1, "inner_one"), (2, "inner_two")]
    inner = spec.maps["by_id"].inner_map
    assert inner is not None
    assert (inner.type, inner.key_size, inner.value_size, inner.max_entries) == (
        MapType.ARRAY, 4, 4, 1)
    assert spec.programs["not_autoloaded"].section_name == "?socket"
    assert spec.programs["count_syscall"].flags & ProgramFlags.SLEEPABLE
    assert spec.programs["count_syscall"].type == ProgramType.SYSCALL


# --- maps -----------------------------------------------------------------------------------------

def test_btf_maps(order: str) -> None:
    spec = load_collection_spec(obj("maps", order))
    m = spec.maps
    assert (m["counts_by_len"].type, m["counts_by_len"].key_size, m["counts_by_len"].value_size,
            m["counts_by_len"].max_entries) == (MapType.HASH, 4, 8, 128)
    ps = m["pinned_stats"]
    assert ps.pinning == PinType.BY_NAME and ps.flags == MapFlags.NO_PREALLOC
    assert (ps.key_size, ps.value_size) == (8, 16)
    assert ps.value_type is not None and ps.value_type.name == "pkt_stats"
    assert (m["events"].type, m["events"].max_entries) == (MapType.RINGBUF, 4096)
    assert m["percpu_hits"].type == MapType.PERCPU_ARRAY
    assert m["jump_table"].contents == [(1, "tail_target")]
    assert m["outer"].contents == [(0, "inner_a"), (2, "inner_b")]
    assert m["outer"].value_size == 4 and m["outer"].inner_map is not None


def test_legacy_maps_version_license(order: str) -> None:
    spec = load_collection_spec(obj("loader_legacy", order))
    h, a = spec.maps["legacy_hash"], spec.maps["legacy_array"]
    assert (h.type, h.key_size, h.value_size, h.max_entries, h.flags) == (
        MapType.HASH, 4, 8, 16, MapFlags.NO_PREALLOC)
    assert (a.type, a.key_size, a.value_size, a.max_entries) == (MapType.ARRAY, 4, 4, 4)
    p = spec.programs["legacy_count"]
    assert p.license == "Dual MIT/GPL"
    refs = [i.reference for i in p.instructions if i.is_load_from_map]
    assert set(refs) == {"legacy_hash", "legacy_array"}


def test_global_data(order: str) -> None:
    spec = load_collection_spec(obj("globals", order))
    ro = spec.maps[".rodata"]
    assert ro.freeze and ro.flags & MapFlags.RDONLY_PROG and ro.flags & MapFlags.MMAPABLE
    assert not spec.maps[".data"].freeze
    assert spec.maps[".bss"].contents == [(0, bytes(spec.maps[".bss"].value_size))]
    assert set(spec.maps) == {".rodata", ".data", ".bss", ".data.custom"}
    prog = spec.programs["use_globals"]
    values = [i for i in prog.instructions if i.is_load_from_map]
    assert {i.reference for i in values} == {".rodata", ".data", ".bss", ".data.custom"}
    assert all(int(i.src) == PseudoLoad.MAP_VALUE for i in values)
    # Offsets into the section sit in the high 32 bits of the constant.
    offsets = {(i.reference, i.constant >> 32) for i in values}
    v = spec.variables
    assert (".data", v["data_totals"].offset) in offsets or (".data", 0) in offsets


def test_variables_get_set(order: str) -> None:
    spec = load_collection_spec(obj("globals", order))
    v = spec.variables
    assert v["ro_multiplier"].get() == 3
    assert v["ro_multiplier"].section == ".rodata" and v["ro_multiplier"].constant
    assert v["data_counter"].get() == 100
    assert v["custom_counter"].get() == 7
    assert v["bss_flag"].get() == 0
    cfg = v["ro_config"].get()
    assert isinstance(cfg, bytes) and len(cfg) == v["ro_config"].size == 24
    assert cfg.endswith(b"globals\0")
    assert v["ro_config"].type is not None
    v["data_counter"].set(5)
    assert v["data_counter"].get() == 5
    v["ro_config"].set(bytes(24))
    assert v["ro_config"].get_bytes() == bytes(24)
    with pytest.raises(MarshalError, match="expected 4 bytes"):
        v["ro_multiplier"].set(b"\0" * 8)
    with pytest.raises(MarshalError, match="does not fit"):
        v["ro_multiplier"].set(1 << 40)
    with pytest.raises(MarshalError):
        v["ro_multiplier"].set(1.5)
    spec.rewrite_constants({"ro_multiplier": 9})
    assert v["ro_multiplier"].get() == 9
    raw = spec.maps[".rodata"].contents[0][1]
    off = v["ro_multiplier"].offset
    assert int.from_bytes(raw[off:off + 4], spec.byte_order) == 9
    with pytest.raises(EbpfError, match="data_counter"):
        spec.rewrite_constants({"data_counter": 1})
    with pytest.raises(EbpfError, match="nope"):
        spec.rewrite_constants({"nope": 1})


def test_copy_is_independent() -> None:
    spec = load_collection_spec(obj("globals"))
    other = spec.copy()
    other.variables["data_counter"].set(1)
    other.maps[".data"].max_entries = 2
    other.programs["use_globals"].instructions.pop()
    assert spec.variables["data_counter"].get() == 100
    assert spec.maps[".data"].max_entries == 1
    assert spec != other
    assert spec == load_collection_spec(obj("globals"))


# --- malformed input ------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [
    b"", b"\x7fELF", b"not an elf at all" * 10, b"\x7fELF" + b"\x02\x01\x01" + b"\0" * 200,
])
def test_not_elf(data: bytes) -> None:
    with pytest.raises(ELFError):
        load_collection_spec(data)


def test_truncated_and_corrupted_objects() -> None:
    raw = obj("loader_calls").read_bytes()
    for cut in (64, 200, len(raw) // 2, len(raw) - 8):
        with pytest.raises(ELFError):
            load_collection_spec(raw[:cut])
    # Flip bytes across the file: whatever happens, only ELFError escapes.
    for pos in range(64, len(raw), 97):
        bad = bytearray(raw)
        bad[pos] ^= 0xFF
        with contextlib.suppress(ELFError):
            load_collection_spec(bytes(bad))


def test_wrong_machine() -> None:
    raw = bytearray(obj("minimal").read_bytes())
    raw[18] = 62  # EM_X86_64
    with pytest.raises(ELFError, match="not a BPF object"):
        load_collection_spec(bytes(raw))


def test_text_mode_file_is_refused() -> None:
    with pytest.raises((ELFError, TypeError)):
        load_collection_spec(io.StringIO("x"))  # type: ignore[arg-type]


# --- assign (specs) -------------------------------------------------------------------------------

@dataclass
class _SpecHolder:
    prog: ProgramSpec = field("use_globals")
    data: Annotated[MapSpec, Name(".data")] = None  # type: ignore[assignment]
    bss: MapSpec = field(".bss")
    unrelated: int = 3


def test_spec_assign() -> None:
    spec = load_collection_spec(obj("globals"))
    h = spec.assign(_SpecHolder())
    assert h.prog is spec.programs["use_globals"]
    assert h.data is spec.maps[".data"]
    assert h.bss is spec.maps[".bss"]
    assert h.unrelated == 3


def test_spec_assign_errors() -> None:
    spec = load_collection_spec(obj("globals"))

    @dataclass
    class Missing:
        m: MapSpec = field("nope")

    @dataclass
    class Twice:
        a: MapSpec = field(".data")
        b: MapSpec = field(".data")

    @dataclass
    class WrongKind:
        m: MapSpec = field("use_globals")

    with pytest.raises(EbpfError, match="no map 'nope'"):
        spec.assign(Missing())
    with pytest.raises(EbpfError, match="twice"):
        spec.assign(Twice())
    with pytest.raises(EbpfError, match="no map 'use_globals'"):
        spec.assign(WrongKind())
    with pytest.raises(EbpfError, match="not a dataclass"):
        spec.assign(object())


def test_collection_spec_repr() -> None:
    assert "programs" in repr(load_collection_spec(obj("minimal")))
    assert CollectionSpec() == CollectionSpec()


def test_externs(order: str) -> None:
    spec = load_collection_spec(obj("loader_externs", order))
    kc = spec.maps[".kconfig"]
    assert kc.freeze and kc.value_size == 16
    layout = {n: (v.offset, v.size) for n, v in spec.variables.items() if v.map_name == ".kconfig"}
    # libbpf's layout: largest alignment first, then smallest size, then by name.
    assert layout == {"CONFIG_HZ": (0, 4), "LINUX_KERNEL_VERSION": (4, 4),
                      "CONFIG_BPF_JIT": (8, 1), "CONFIG_BPF_SYSCALL": (9, 1),
                      "CONFIG_THIS_DOES_NOT_EXIST": (10, 1)}
    assert spec.weak_externs == {"CONFIG_THIS_DOES_NOT_EXIST"}
    insns = spec.programs["read_kconfig"].instructions
    loads = {(i.reference, i.constant >> 32) for i in insns if i.is_load_from_map}
    assert (".kconfig", layout["CONFIG_HZ"][0]) in loads
    assert (".kconfig", layout["CONFIG_BPF_JIT"][0]) in loads
    kfuncs = [i.reference for i in spec.programs["first_byte"].instructions if i.is_kfunc_call]
    assert kfuncs == ["bpf_dynptr_from_skb"]


def test_every_btf_map_attribute(order: str) -> None:
    spec = load_collection_spec(obj("loader_mapdefs", order))
    m = spec.maps
    bloom = m["bloom"]
    assert (bloom.type, bloom.key_size, bloom.value_size, bloom.max_entries, bloom.map_extra) == (
        MapType.BLOOM_FILTER, 0, 8, 32, 3)
    newer = load_collection_spec(obj("loader_newer", order))
    assert newer.maps["bloom_ulong"].map_extra == 5      # __ulong: an enum, not a pointer
    assert newer.maps[".bss.extra"].contents == [(0, bytes(8))]
    assert newer.variables["extra_bss"].map_name == ".bss.extra"
    sized = m["sized"]
    assert (sized.key_size, sized.value_size, sized.flags, sized.numa_node) == (
        2, 6, MapFlags.NUMA_NODE, 0)
    assert sized.key_type is None and sized.value_type is None
    lock = m["with_lock"]
    assert lock.value_type is not None and lock.value_type.name == "locked"
    assert (m["queue"].type, m["queue"].key_size, m["queue"].value_size) == (MapType.QUEUE, 0, 4)
    # Named global-data sections, including the string literal's mergeable section.
    assert m[".rodata.str1.1"].freeze and m[".rodata.str1.1"].contents[0][1] == b"len %d\n\0"
    assert not m[".data.extra"].freeze
    assert spec.variables["extra_data"].get() == 11


def test_reading_makes_no_syscalls(monkeypatch: pytest.MonkeyPatch) -> None:
    from ebpf.internal.sys import commands, syscall

    def refuse(*args: object, **kwargs: object) -> int:
        raise AssertionError("the ELF reader made a bpf() call")

    monkeypatch.setattr(syscall, "_require_syscall", refuse)
    monkeypatch.setattr(syscall, "bpf", refuse)
    monkeypatch.setattr(commands, "bpf", refuse)
    monkeypatch.setattr("builtins.open", _only_testdata(open))
    for path in OBJECTS:
        load_collection_spec(path)


def _only_testdata(real_open: Any) -> Any:
    def guarded(file: Any, *args: Any, **kwargs: Any) -> Any:
        if not str(file).startswith(str(TESTDATA)):
            raise AssertionError(f"the ELF reader opened {file!r}")
        return real_open(file, *args, **kwargs)
    return guarded


def test_ext_infos_are_laid_out_per_function() -> None:
    from ebpf.linker import marshal_ext_infos

    spec = load_collection_spec(obj("subprogs"))
    p = spec.programs["xdp_mixed"]
    assert isinstance(p.btf, ProgramBTF)
    strings: dict[str, int] = {}
    ext = marshal_ext_infos(p.instructions, p.btf, lambda s: strings.setdefault(s, len(strings)),
                            "little")
    starts = {}
    slot = 0
    for ins in p.instructions:
        if ins.symbol is not None:
            starts[ins.symbol] = slot
        slot += ins.slots
    assert ext.func_info_cnt == 3
    recs = [ext.func_info[i:i + 8] for i in range(0, len(ext.func_info), 8)]
    offs = [int.from_bytes(r[:4], "little") for r in recs]
    assert offs == sorted(starts.values())
    assert ext.line_info_cnt == sum(len(f.lines) for _, f in p.btf.functions)
    lines = [int.from_bytes(ext.line_info[i:i + 4], "little")
             for i in range(0, len(ext.line_info), 16)]
    assert lines == sorted(lines) and lines[0] == 0


def test_spec_reprs_are_one_line_summaries() -> None:
    spec = load_collection_spec(obj("tool_execsnoop"))
    prog = next(iter(spec.programs.values()))
    text = repr(prog)
    assert text.startswith(f"<ProgramSpec {prog.name!r} TRACING, {len(prog.instructions)} "
                           "instructions, section 'tp_btf/sched_process_exec'")
    assert "\n" not in text and len(text) < 120
    assert all(len(repr(m)) < 120 for m in spec.maps.values())
    assert len(repr(spec.programs)) < 200
    assert "exit" in str(prog.instructions)       # the disassembly is one call away
