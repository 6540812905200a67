"""Loading collections into the running kernel: programs run, globals and maps change."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import pytest

import ebpf
from ebpf import Collection, CollectionOptions, Name, Objects, field, load_collection
from ebpf.elf_reader import load_collection_spec
from ebpf.errors import COREError, EbpfError, SyscallError, VerifierError
from ebpf.internal.kernel import KernelVersion, kernel_version
from ebpf.internal.pin import DEFAULT_PIN_ROOT, is_bpffs
from ebpf.map import Map, MapSpec
from ebpf.marshal import MarshalError
from ebpf.program import Program
from ebpf.types import MapFlags, MapType, ProgramType

pytestmark = pytest.mark.kernel

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
PACKET = bytes(range(64))
SKB_LEN = len(PACKET) - 14  # socket filters see the packet after the Ethernet header


def obj(name: str) -> Path:
    return TESTDATA / f"{name}-el.elf"


def _bpf_fd_count() -> int:
    n = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}").startswith("anon_inode:bpf"):
                n += 1
        except OSError:
            pass
    return n


# --- global data, subprograms, callbacks ---------------------------------------------------------

def test_globals_are_read_and_written_by_programs() -> None:
    with load_collection(obj("globals")) as coll:
        assert set(coll.maps) == {".rodata", ".data", ".bss", ".data.custom"}
        v = coll.variables
        assert v["data_counter"].get() == 100
        ret = coll.programs["use_globals"].test_run(PACKET)
        assert ret.retval == SKB_LEN
        assert v["data_counter"].get() == 101
        assert v["bss_flag"].get() == 1
        # bpf_loop ran sum_cb for index 0..4 (mode 1 -> stops at index 4): 3 * (0+1+2+3+4)
        assert v["custom_counter"].get() == 7 + 3 * 10
        # The global subprogram clamp_len and the static one (scale) both ran.
        totals = v["bss_totals"].get_bytes()
        assert int.from_bytes(totals[:8], "little") == 1
        assert int.from_bytes(totals[8:16], "little") == SKB_LEN * 3 + 0xF
        # User space writes, programs see it.
        v["data_counter"].set(1000)
        coll.programs["use_globals"].test_run(PACKET)
        assert v["data_counter"].get() == 1001
        assert coll.maps[".data"].raw[0][:8] == (1001).to_bytes(8, "little")


def test_rodata_is_frozen_and_rewritable_before_load() -> None:
    spec = load_collection_spec(obj("globals"))
    cfg = bytearray(spec.variables["ro_config"].get_bytes())
    cfg[0:4] = (0).to_bytes(4, "little")          # mode = 0: the program returns 0
    cfg[4:8] = (10).to_bytes(4, "little")         # limit = 10
    spec.rewrite_constants({"ro_config": bytes(cfg), "ro_multiplier": 5})
    with Collection(spec) as coll:
        assert coll.programs["use_globals"].test_run(PACKET).retval == 0
        var = coll.variables["ro_multiplier"]
        assert var.get() == 5 and var.readonly
        with pytest.raises(MarshalError, match="read-only"):
            var.set(1)
        with pytest.raises(SyscallError):
            coll.maps[".rodata"].update(0, bytes(coll.maps[".rodata"].value_size))
        # clamp_len used the rewritten limit.
        totals = coll.variables["data_totals"].get_bytes()
        assert int.from_bytes(totals[16:20], "little") == 10


def test_subprograms_shared_between_programs() -> None:
    with load_collection(obj("subprogs")) as coll:
        assert len(coll.programs) == 5
        xdp_pass, xdp_drop = 2, 1
        assert coll.programs["xdp_by_size"].test_run(PACKET[:32]).retval == xdp_pass
        assert coll.programs["xdp_by_size"].test_run(PACKET * 2).retval == xdp_drop
        for name in ("xdp_by_bucket", "xdp_mixed"):
            assert coll.programs[name].test_run(PACKET).retval in (xdp_pass, xdp_drop)
        assert coll.programs["tc_by_size"].test_run(PACKET[:32]).retval == 0


def test_tail_calls_map_of_maps_and_callbacks() -> None:
    with load_collection(obj("loader_calls")) as coll:
        assert "not_autoloaded" not in coll.programs
        dispatch = coll.programs["dispatch"]
        v = coll.variables
        # skb->len is the packet less its 14-byte Ethernet header.
        assert dispatch.test_run(bytes(14)).retval == 1      # slot 0: target_a
        assert v["last_target"].get() == 1
        assert dispatch.test_run(bytes(15)).retval == 4      # slot 1: target_b (2 + twice(1))
        assert v["last_target"].get() == 2
        assert dispatch.test_run(bytes(17)).retval == 110    # slot 3 empty: falls through
        # Slot 2 holds countdown, which tail-calls itself until the kernel's limit of 33 tail
        # calls (the first from dispatch) stops it.
        assert dispatch.test_run(bytes(16)).retval == 33
        assert v["depth"].get() == 33
        # The prog array holds the loaded targets.
        with coll.maps["jumps"].lookup(0) as held:
            assert held.info().id == coll.programs["target_a"].info().id
        # bpf_for_each_map_elem callback sums `values`.
        coll.maps["values"][0] = 5
        coll.maps["values"][3] = 37
        assert coll.programs["walk"].test_run(bytes(14)).retval == 42
        assert v["elem_sum"].get() == 42
        # by_id[1] is inner_one, which walk incremented.
        assert coll.maps["inner_one"].raw[0] == (1).to_bytes(4, "little")
        assert coll.maps["inner_two"].raw[0] == bytes(4)
        inner = coll.maps["by_id"].lookup(1)
        try:
            assert inner.info().id == coll.maps["inner_one"].info().id
        finally:
            inner.close()
        # The sleepable syscall program.
        assert coll.programs["count_syscall"].type == ProgramType.SYSCALL
        assert coll.programs["count_syscall"].test_run(ctx=bytes(8)).retval == 6
        assert v["syscall_runs"].get() == 1


def test_legacy_maps() -> None:
    with load_collection(obj("loader_legacy")) as coll:
        coll.programs["legacy_count"].test_run(PACKET)
        coll.programs["legacy_count"].test_run(PACKET)
        assert coll.maps["legacy_hash"].raw[SKB_LEN] == (2).to_bytes(8, "little")
        assert coll.maps["legacy_array"].raw[0] == (SKB_LEN).to_bytes(4, "little")


def test_btf_maps_object(pin_dir: str) -> None:
    with load_collection(obj("maps"), CollectionOptions(pin_path=pin_dir)) as coll:
        assert coll.maps["events"].type == MapType.RINGBUF
        assert coll.programs["count_packets"].test_run(PACKET).retval == 2
        assert coll.maps["counts_by_len"].raw[64] == (1).to_bytes(8, "little")
        assert coll.maps["inner_a"].raw[0] == (64).to_bytes(4, "little")
        with coll.maps["jump_table"].lookup(1) as held:
            assert held.info().name == "tail_target"


def test_verifier_log_option() -> None:
    with load_collection(obj("minimal"), CollectionOptions(log_level=1)) as coll:
        assert "processed" in coll.programs["xdp_pass"].verifier_log


def test_section_types_load() -> None:
    """Programs of the section conventions this kernel loads (kprobe, fentry, lsm, freplace,
    struct_ops and netkit cannot load here: their specs are tested in tests/unit)."""

    @dataclass
    class Loadable(Objects):
        p_socket: Program = None  # type: ignore[assignment]
        p_xdp: Program = None  # type: ignore[assignment]
        p_xdp_frags: Program = None  # type: ignore[assignment]
        p_tc: Program = None  # type: ignore[assignment]
        p_tcx_egress: Program = None  # type: ignore[assignment]
        p_classifier: Program = None  # type: ignore[assignment]
        p_syscall: Program = None  # type: ignore[assignment]
        p_raw_tp: Program = None  # type: ignore[assignment]
        p_tracepoint: Program = None  # type: ignore[assignment]
        p_tp_btf: Program = None  # type: ignore[assignment]
        p_iter: Program = None  # type: ignore[assignment]
        p_cgroup_skb_ingress: Program = None  # type: ignore[assignment]
        p_cgroup_sock_create: Program = None  # type: ignore[assignment]
        p_cgroup_connect4: Program = None  # type: ignore[assignment]
        p_cgroup_dev: Program = None  # type: ignore[assignment]
        p_sk_lookup: Program = None  # type: ignore[assignment]
        p_perf_event: Program = None  # type: ignore[assignment]
        p_no_autoload: Program = None  # type: ignore[assignment]

    spec = load_collection_spec(obj("loader_sections"))
    with spec.load_and_assign(Loadable()) as objs:
        assert objs.p_tp_btf.type == ProgramType.TRACING
        assert objs.p_iter.info().type == ProgramType.TRACING
        assert objs.p_syscall.test_run(ctx=bytes(8)).retval == 0
        assert objs.p_no_autoload.type == ProgramType.XDP


def test_unloadable_section_types_fail_cleanly() -> None:
    spec = load_collection_spec(obj("loader_sections"))
    before = _bpf_fd_count()
    with pytest.raises(EbpfError):
        Collection(spec)
    assert _bpf_fd_count() == before


# --- failures -------------------------------------------------------------------------------------

def test_broken_object_names_the_program_and_leaks_nothing() -> None:
    spec = load_collection_spec(obj("loader_broken"))
    before = _bpf_fd_count()
    with pytest.raises(VerifierError, match="out_of_bounds") as info:
        Collection(spec)
    assert "invalid access to map value" in "\n".join(info.value.log)
    # Line info reached the kernel: the log quotes the source (and, since 6.2, its file).
    log = "\n".join(info.value.log)
    assert "; int out_of_bounds(struct __sk_buff *skb)" in log
    if kernel_version() >= KernelVersion(6, 2, 0):
        assert "loader_broken.c:" in log
    assert _bpf_fd_count() == before

    @dataclass
    class Fine(Objects):
        fine: Program = None  # type: ignore[assignment]

    with spec.load_and_assign(Fine()) as objs:
        assert objs.fine.test_run(PACKET).retval == 0


def test_core_relocations_are_refused_at_load() -> None:
    spec = load_collection_spec(obj("loader_core"))

    @dataclass
    class NoCore(Objects):
        without_core: Program = None  # type: ignore[assignment]

    with spec.load_and_assign(NoCore()) as objs:
        assert objs.without_core.test_run(PACKET).retval == 1
    before = _bpf_fd_count()
    with pytest.raises(COREError, match=r"with_core.*CO-RE"):
        Collection(spec)
    assert _bpf_fd_count() == before


def test_map_creation_failure_closes_everything() -> None:
    spec = load_collection_spec(obj("loader_calls"))
    spec.maps["values"].max_entries = 0     # the kernel refuses an empty array
    before = _bpf_fd_count()
    with pytest.raises(SyscallError, match="map 'values'"):
        Collection(spec)
    assert _bpf_fd_count() == before


# --- replacements and pinning ---------------------------------------------------------------------

def test_map_replacement() -> None:
    spec = load_collection_spec(obj("loader_legacy"))
    with Map(spec.maps["legacy_hash"]) as mine:
        opts = CollectionOptions(map_replacements={"legacy_hash": mine})
        with Collection(spec, opts) as coll:
            coll.programs["legacy_count"].test_run(PACKET)
            assert coll.maps["legacy_hash"].info().id == mine.info().id
        # Still open: the collection held a dup of it.
        assert mine.raw[SKB_LEN] == (1).to_bytes(8, "little")
        bad = MapSpec(name="other", type=MapType.HASH, key_size=4, value_size=4, max_entries=16)
        with Map(bad) as wrong:
            before = _bpf_fd_count()
            with pytest.raises(EbpfError, match=r"incompatible.*value_size"):
                Collection(spec, CollectionOptions(map_replacements={"legacy_hash": wrong}))
            assert _bpf_fd_count() == before


def test_pinning_reuses_a_pinned_map(pin_dir: str) -> None:
    spec = load_collection_spec(obj("maps"))
    opts = CollectionOptions(pin_path=pin_dir)
    with Collection(spec, opts) as first:
        first.programs["stats_by_flow"].test_run(PACKET)
        first_id = first.maps["pinned_stats"].info().id
        assert os.listdir(pin_dir) == ["pinned_stats"]
    with Collection(spec, opts) as second:
        assert second.maps["pinned_stats"].info().id == first_id
        second.programs["stats_by_flow"].test_run(PACKET)
        entries = list(second.maps["pinned_stats"].raw.items())
        assert len(entries) == 1
        assert int.from_bytes(entries[0][1][:8], "little") == 2
    os.unlink(os.path.join(pin_dir, "pinned_stats"))


def test_pinning_refuses_an_incompatible_map(pin_dir: str) -> None:
    spec = load_collection_spec(obj("maps"))
    other = MapSpec(name="pinned_stats", type=MapType.HASH, key_size=8, value_size=8,
                    max_entries=64)
    with Map(other) as m:
        m.pin(os.path.join(pin_dir, "pinned_stats"))
    before = _bpf_fd_count()
    with pytest.raises(EbpfError, match=r"pinned_stats.*incompatible.*value_size"):
        Collection(spec, CollectionOptions(pin_path=pin_dir))
    assert _bpf_fd_count() == before
    os.unlink(os.path.join(pin_dir, "pinned_stats"))


def test_a_map_marked_for_pinning_is_never_left_unpinned(pin_dir: str) -> None:
    spec = load_collection_spec(obj("maps"))
    before = _bpf_fd_count()
    if is_bpffs(DEFAULT_PIN_ROOT):  # as libbpf: pinned under its default root
        default = os.path.join(DEFAULT_PIN_ROOT, "pinned_stats")
        assert not os.path.exists(default)
        try:
            with Collection(spec):
                assert os.path.exists(default)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(default)
    else:
        with pytest.raises(EbpfError, match=r"'pinned_stats' is marked LIBBPF_PIN_BY_NAME.*"
                                            r"CollectionOptions\(pin_path=\.\.\.\)"):
            Collection(spec)
    assert _bpf_fd_count() == before
    with Collection(spec, CollectionOptions(pin_path=pin_dir)):
        assert os.listdir(pin_dir) == ["pinned_stats"]
    os.unlink(os.path.join(pin_dir, "pinned_stats"))


def test_failed_load_leaves_no_pin(pin_dir: str) -> None:
    spec = load_collection_spec(obj("maps"))
    spec.programs["count_packets"].instructions.pop()   # no exit: the verifier refuses
    with pytest.raises(EbpfError, match="count_packets"):
        Collection(spec, CollectionOptions(pin_path=pin_dir))
    assert os.listdir(pin_dir) == []


# --- assignment -----------------------------------------------------------------------------------

@dataclass
class _Inner:
    jumps: Map = None  # type: ignore[assignment]


@dataclass
class _CallsObjects(Objects):
    dispatch: Program = field()
    walker: Annotated[Program, Name("walk")] = None  # type: ignore[assignment]
    values: Optional[Map] = field("values")  # noqa: UP045
    nested: _Inner = None  # type: ignore[assignment]
    note: str = "untouched"


def test_load_and_assign() -> None:
    spec = load_collection_spec(obj("loader_calls"))
    before = _bpf_fd_count()
    objs = _CallsObjects()
    assert spec.load_and_assign(objs) is objs
    with objs:
        assert isinstance(objs.dispatch, Program) and objs.dispatch.name == "dispatch"
        assert objs.walker.name == "walk"
        assert objs.values is not None and objs.values.name == "values"
        assert objs.nested.jumps.name == "jumps"
        assert objs.note == "untouched"
        # Dependencies were loaded: the tail call reaches target_b.
        assert objs.dispatch.test_run(bytes(15)).retval == 4
        # Only what was asked for is held: 4 objects.
        assert _bpf_fd_count() == before + 4
    assert objs.dispatch.closed and objs.nested.jumps.closed
    assert _bpf_fd_count() == before


def test_load_and_assign_errors() -> None:
    spec = load_collection_spec(obj("loader_calls"))

    @dataclass
    class Missing:
        nope: Program = None  # type: ignore[assignment]

    @dataclass
    class Twice:
        a: Program = field("walk")
        b: Program = field("walk")

    @dataclass
    class WrongType:
        walk: Map = None  # type: ignore[assignment]

    @dataclass
    class BadField:
        walk: int = field("walk")

    @dataclass
    class LoadedVariable:
        counter: ebpf.Variable = None  # type: ignore[assignment]

    before = _bpf_fd_count()
    with pytest.raises(EbpfError, match="no program 'nope'"):
        spec.load_and_assign(Missing())
    with pytest.raises(EbpfError, match=r"'counter' has type Variable.*Collection\.variables"):
        spec.load_and_assign(LoadedVariable())  # once silently left None
    with pytest.raises(EbpfError, match="assigned twice"):
        spec.load_and_assign(Twice())
    with pytest.raises(EbpfError, match="no map 'walk'"):
        spec.load_and_assign(WrongType())
    with pytest.raises(EbpfError, match="has type int"):
        spec.load_and_assign(BadField())
    assert _bpf_fd_count() == before


def test_collection_assign_and_detach() -> None:
    @dataclass
    class Holder(Objects):
        walk: Program = None  # type: ignore[assignment]
        values: Map = None  # type: ignore[assignment]

    before = _bpf_fd_count()
    coll = load_collection(obj("loader_calls"))
    with coll:
        h = coll.assign(Holder())
        assert "walk" not in coll.programs and "values" not in coll.maps
        det = coll.detach_map("timers")
        prog = coll.detach_program("dispatch")
    assert not h.walk.closed and not det.closed and not prog.closed
    assert h.walk.test_run(bytes(14)).retval == 42
    det.close()
    prog.close()
    h.close()
    assert _bpf_fd_count() == before


def test_spec_equality_survives_load() -> None:
    spec = load_collection_spec(obj("globals"))
    copy = spec.copy()
    with Collection(spec):
        pass
    assert spec == copy


# --- against bpftool (libbpf) ---------------------------------------------------------------------

BPFTOOL = shutil.which("bpftool")


@pytest.fixture
def bpftool_dir(bpffs: str) -> Iterator[str]:
    d = tempfile.mkdtemp(prefix="bpftool", dir=bpffs)
    try:
        yield d
    finally:
        subprocess.run(["rm", "-rf", d], check=False)


def _ident(map_name: str) -> str:
    return map_name.lstrip(".").replace(".", "_")


@pytest.mark.skipif(BPFTOOL is None, reason="bpftool is not installed")
@pytest.mark.parametrize("path", sorted(TESTDATA.glob("*-el.elf")), ids=lambda p: p.name)
def test_names_agree_with_bpftool_skeleton(path: Path) -> None:
    """libbpf (through ``bpftool gen skeleton``) finds the same maps and programs."""
    assert BPFTOOL is not None
    spec = load_collection_spec(path)
    run = subprocess.run([BPFTOOL, "gen", "skeleton", str(path), "name", "obj"],
                         capture_output=True, text=True)
    if path.name.startswith(("loader_legacy", "loader_newer", "compat_legacy")):
        # libbpf 1.x dropped legacy map definitions; libbpf 1.1 predates __ulong.
        assert run.returncode != 0
        return
    assert run.returncode == 0, run.stderr
    head = run.stdout.split("struct obj {", 1)[1]
    maps_block = head.split("} maps;", 1)[0] if "} maps;" in head else ""
    progs_block = head.split("} progs;", 1)[0].split("struct {")[-1]
    maps = re.findall(r"struct bpf_map \*(\w+);", maps_block)
    progs = re.findall(r"struct bpf_program \*(\w+);", progs_block)
    assert progs == list(spec.programs)
    # libbpf 1.1 predates .struct_ops.link (1.2): it does not see those maps.
    ours = [n for n, m in spec.maps.items()
            if not (m.type == MapType.STRUCT_OPS and m.flags & MapFlags.LINK)]
    assert sorted(maps) == sorted(_ident(n) for n in ours)


@pytest.mark.skipif(BPFTOOL is None, reason="bpftool is not installed")
@pytest.mark.parametrize("name", ["minimal", "subprogs", "globals"])
def test_loaded_objects_agree_with_bpftool(name: str, bpftool_dir: str) -> None:
    """``bpftool prog loadall`` (libbpf) loads the same programs and maps we do."""
    assert BPFTOOL is not None
    spec = load_collection_spec(obj(name))
    progs = os.path.join(bpftool_dir, "progs")
    maps = os.path.join(bpftool_dir, "maps")
    subprocess.run([BPFTOOL, "prog", "loadall", str(obj(name)), progs, "pinmaps", maps],
                   check=True, capture_output=True, text=True)
    seen = {}
    for pin in os.listdir(progs):
        out = subprocess.run([BPFTOOL, "-j", "prog", "show", "pinned", os.path.join(progs, pin)],
                             check=True, capture_output=True, text=True).stdout
        seen[pin] = json.loads(out)
    assert set(seen) == set(spec.programs)
    with Collection(spec) as coll:
        for pin, info in seen.items():
            assert info["name"] == pin[:15]
            assert info["type"] == spec.programs[pin].type.name.lower()
            ours = coll.programs[pin].info()
            assert ours.name == info["name"]
        for pin in os.listdir(maps) if os.path.isdir(maps) else []:
            out = subprocess.run([BPFTOOL, "-j", "map", "show", "pinned",
                                  os.path.join(maps, pin)],
                                 check=True, capture_output=True, text=True).stdout
            info = json.loads(out)
            kname = info["name"]
            # libbpf names global-data maps "<object>.<section>", truncated.
            name = kname if kname in spec.maps else "." + kname.split(".", 1)[1]
            cands = [name] if name in spec.maps else [n for n in spec.maps
                                                       if n.startswith(name)]
            assert len(cands) == 1, kname
            m = spec.maps[cands[0]]
            mine = coll.maps[cands[0]]
            assert info["type"] == m.type.name.lower()
            assert (info["bytes_key"], info["bytes_value"], info["max_entries"],
                    info["flags"]) == (m.key_size, m.value_size, m.max_entries, m.flags)
            assert (mine.key_size, mine.value_size, mine.max_entries, mine.flags) == (
                m.key_size, m.value_size, m.max_entries, m.flags)
            assert bool(info.get("frozen")) == m.freeze


# --- externs --------------------------------------------------------------------------------------

def test_kconfig_and_kfunc_externs() -> None:
    from tests.support import kernel_config

    hz = int(kernel_config()["CONFIG_HZ"])

    major, minor, patch = kernel_version()
    spec = load_collection_spec(obj("loader_externs"))
    # The kfunc came in 6.4: the VM runner's 6.1 guest loads the rest.
    have_dynptr = kernel_version() >= KernelVersion(6, 4, 0)
    if not have_dynptr:
        del spec.programs["first_byte"]
    with Collection(spec) as coll:
        assert ".kconfig" in coll.maps
        coll.programs["read_kconfig"].test_run(PACKET)
        v = coll.variables
        assert v["seen_version"].get() == (major << 16) | (minor << 8) | min(patch, 255)
        assert v["seen_hz"].get() == hz
        # CONFIG_BPF_SYSCALL=y (bool), the __weak missing one is 0, CONFIG_BPF_JIT is 'y'.
        assert v["seen_flags"].get() == 1 | 4
        assert v["CONFIG_BPF_JIT"].get() == ord("y") and v["CONFIG_HZ"].readonly
        # The kfunc bpf_dynptr_from_skb, resolved against the kernel's BTF.
        if have_dynptr:
            assert coll.programs["first_byte"].test_run(b"\x42" + PACKET[1:]).retval == 0x42


def test_map_attributes_and_named_data_sections() -> None:
    with load_collection(obj("loader_mapdefs")) as coll:
        assert coll.programs["use_defs"].test_run(PACKET).retval == 0
        # The spin-lock value needed BTF at creation; the program updated it under the lock.
        assert coll.maps["with_lock"].raw[0][4:] == (11).to_bytes(4, "little")
        assert coll.maps["queue"].pop() in (5, (5).to_bytes(4, "little"))
        info = coll.maps["bloom"].info()
        assert (info.map_extra, info.value_size) == (3, 8)
        assert coll.maps["sized"].info().flags == 4
        assert coll.maps[".rodata.str1.1"].raw[0] == b"len %d\n\0"
    with load_collection(obj("loader_newer")) as coll:
        coll.programs["count_extra"].test_run(PACKET)
        assert coll.variables["extra_bss"].get() == 1
        assert coll.maps["bloom_ulong"].info().map_extra == 5


def test_variables_without_mmap() -> None:
    spec = load_collection_spec(obj("globals"))
    spec.maps[".data"].flags = 0            # not mmapable: lookups and updates instead
    with Collection(spec) as coll:
        var = coll.variables["data_counter"]
        assert var.get() == 100
        var.set(7)
        coll.programs["use_globals"].test_run(PACKET)
        assert var.get() == 8
        with pytest.raises(MarshalError, match="expected 8 bytes"):
            var.set(b"\0")


def test_pinning_a_map_with_a_dot_is_refused(pin_dir: str) -> None:
    spec = load_collection_spec(obj("maps"))
    spec.maps["pinned_stats"].name = "pinned.stats"
    spec.maps["pinned.stats"] = spec.maps.pop("pinned_stats")
    for p in spec.programs.values():
        for i, ins in enumerate(p.instructions):
            if ins.reference == "pinned_stats":
                p.instructions[i] = ins.with_reference("pinned.stats")
    before = _bpf_fd_count()
    with pytest.raises(EbpfError, match=r"may not contain '\.'"):
        Collection(spec, CollectionOptions(pin_path=pin_dir))
    assert _bpf_fd_count() == before
