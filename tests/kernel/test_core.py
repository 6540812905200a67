"""CO-RE against the running kernel: objects built against vmlinux.h load with every access
fixed up, read the right values, and fail with a COREError that names a failed relocation."""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

import ebpf
from ebpf import Collection, CollectionOptions, Objects, btf
from ebpf.btf import Array, Int, IntEncoding, Member, Pointer, Struct
from ebpf.btf.marshal import marshal_types
from ebpf.elf_reader import load_collection_spec
from ebpf.errors import COREError
from ebpf.program import Program

pytestmark = pytest.mark.kernel

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
CTX = bytes(16)
INFO = struct.Struct("<4I16s7Q")
T = TypeVar("T")


def obj(name: str) -> Path:
    return TESTDATA / f"{name}-el.elf"


def bpf_fds() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if "bpf" in os.readlink(f"/proc/self/fd/{fd}"):
                n += 1
        except OSError:
            pass
    return n


@dataclass
class TaskInfo:
    pid: int
    tgid: int
    ppid: int
    state_from: int
    comm: bytes
    state: int
    user_dumpable: int
    in_execve: int
    bits: int
    bits_offset: int
    flags: int
    flags_wide: int

    @classmethod
    def decode(cls, raw: bytes) -> TaskInfo:
        f = INFO.unpack(raw[:INFO.size])
        return cls(f[0], f[1], f[2], f[3], f[4].rstrip(b"\0"), *f[5:])


COMMS: dict[int, bytes] = {}


def in_thread(fn: Callable[[], T]) -> tuple[T, int]:
    """``fn()`` run in a new thread, and that thread's id (which differs from the pid); the
    thread's comm is left in ``COMMS``."""
    out: list[T] = []
    tid: list[int] = []

    def run() -> None:
        me = threading.get_native_id()
        tid.append(me)
        COMMS[me] = Path(f"/proc/self/task/{me}/comm").read_bytes().strip()
        out.append(fn())

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out[0], tid[0]


def run_task_programs(coll: Collection) -> tuple[TaskInfo, TaskInfo, int]:
    def go() -> None:
        coll.programs["task_probed"].test_run(ctx=CTX)
        coll.programs["task_direct"].test_run(ctx=CTX)

    _, tid = in_thread(go)
    return (TaskInfo.decode(coll.variables["probed"].get_bytes()),
            TaskInfo.decode(coll.variables["direct"].get_bytes()), tid)


def kernel_member(name: str) -> btf.Member:
    return btf.load_kernel_spec().type_by_name("task_struct", Struct).member(name)


def test_task_struct_reads_match_the_process() -> None:
    spec = load_collection_spec(obj("core_task"))
    with Collection(spec) as coll:
        probed, direct, tid = run_task_programs(coll)
    comm = COMMS[tid]
    for info in (probed, direct):
        assert (info.pid, info.tgid, info.ppid) == (tid, os.getpid(), os.getppid())
        assert info.comm == comm[:15]
        assert (info.state_from, info.state) == (2, 0)   # __state, TASK_RUNNING
        assert info.in_execve == 0
    # the bitfield read agrees with the bits of the word holding it, taken apart here
    m = kernel_member("user_dumpable")
    assert probed.bits_offset == m.offset // 32 * 4
    shift = m.offset - probed.bits_offset * 8
    assert probed.user_dumpable == (probed.bits >> shift) & 1 == direct.user_dumpable
    # an 8-byte load of the kernel's 4-byte unsigned 'flags', narrowed by CO-RE
    assert direct.flags_wide == direct.flags != 0


def test_unsafe_width_change_is_refused() -> None:
    spec = load_collection_spec(obj("core_unguarded"))

    @dataclass
    class Unsafe(Objects):
        unsafe_resize: Program = None  # type: ignore[assignment]

    with pytest.raises(COREError, match=r"'unsafe_resize'.*task_struct___signed_wide\.pid"
                                        r".*change width unsafely"):
        spec.load_and_assign(Unsafe())


def test_unguarded_missing_field_names_the_relocation() -> None:
    spec = load_collection_spec(obj("core_unguarded"))

    @dataclass
    class Guarded(Objects):
        guarded: Program = None  # type: ignore[assignment]

    @dataclass
    class Unguarded(Objects):
        unguarded: Program = None  # type: ignore[assignment]

    with spec.load_and_assign(Guarded()) as objs:
        assert objs.guarded.test_run(ctx=CTX).retval == 0
    before = bpf_fds()
    with pytest.raises(COREError) as info:
        spec.load_and_assign(Unguarded())
    text = str(info.value)
    assert "'unguarded'" in text
    assert "task_struct___old" in text and "task_struct___old.state" in text
    assert "(0:0)" in text and "instruction 1" in text
    assert isinstance(info.value.__cause__, ebpf.VerifierError)
    assert bpf_fds() == before
    assert issubclass(ebpf.COREError, ebpf.EbpfError)


R = ["FIELD_EXISTS", "FIELD_MISSING", "FIELD_SIZE", "FIELD_OFFSET", "FIELD_OFFSET_NESTED",
     "TYPE_ID_LOCAL", "TYPE_ID_KERNEL", "TYPE_EXISTS", "TYPE_MISSING", "TYPE_SIZE",
     "TYPE_MATCHES", "TYPE_NOT_MATCHES", "ENUM_EXISTS", "ENUM_MISSING", "ENUM_VALUE",
     "BITFIELD_PROBED", "BITFIELD_SIZE", "READ", "READ_STR", "READ_INTO", "READ_STR_INTO",
     "READ_USER", "ARRAY_ELEM_OFFSET", "TYPE_SIZE_MISSING", "ENUM64_VALUE", "FIELD_SIGNED",
     "ANON_UNION_OFFSET"]


def test_every_bpf_core_macro() -> None:
    spec = load_collection_spec(obj("core_macros"))
    k = btf.load_kernel_spec()
    task = k.type_by_name("task_struct", Struct)
    local_task = spec.types.type_by_name("task_struct", Struct)
    se = task.member("se")
    se_t = btf.underlying(se.type)
    assert isinstance(se_t, Struct)
    map_types = k.type_by_name("bpf_map_type", btf.Enum)
    values = {v.name: v.value for v in map_types.values}
    if "BPF_MAP_TYPE_ARENA" not in values:  # the VM runner's 6.1 guest
        pytest.skip(f"kernel {os.uname().release} predates BPF_MAP_TYPE_ARENA (Linux 6.9), "
                    "whose value core_macros.c reads unguarded")
    with Collection(spec) as coll:
        def go() -> None:
            coll.programs["core_macros"].test_run(ctx=CTX)
        _, tid = in_thread(go)
        raw = coll.variables["results"].get_bytes()
        comm = coll.variables["comm"].get_bytes().rstrip(b"\0")
        comm_into = coll.variables["comm_into"].get_bytes().rstrip(b"\0")
    got = dict(zip(R, struct.unpack(f"<{len(R)}Q", raw), strict=True))
    want = {
        "FIELD_EXISTS": 1, "FIELD_MISSING": 0, "FIELD_SIZE": 16,
        "FIELD_OFFSET": task.member("tgid").offset // 8,
        "FIELD_OFFSET_NESTED": (se.offset + se_t.member("vruntime").offset) // 8,
        "TYPE_ID_LOCAL": spec.types.type_id(local_task),
        "TYPE_ID_KERNEL": k.type_id(task),
        "TYPE_EXISTS": 1, "TYPE_MISSING": 0, "TYPE_SIZE": task.size,
        "TYPE_MATCHES": 1, "TYPE_NOT_MATCHES": 0,
        "ENUM_EXISTS": 1, "ENUM_MISSING": 0, "ENUM_VALUE": values["BPF_MAP_TYPE_RINGBUF"],
        "BITFIELD_PROBED": 0, "BITFIELD_SIZE": 4,
        "READ": os.getpid(), "READ_STR": len(comm) + 1, "READ_INTO": os.getppid(),
        "READ_STR_INTO": len(comm) + 1, "READ_USER": 1,
        "ARRAY_ELEM_OFFSET": task.member("comm").offset // 8 + 3, "TYPE_SIZE_MISSING": 0,
        "ENUM64_VALUE": values["BPF_MAP_TYPE_ARENA"], "FIELD_SIGNED": 1,
        "ANON_UNION_OFFSET": task.member("__state").offset // 8,
    }
    assert got == want
    assert comm == comm_into == COMMS[tid][:15]


def test_kernel_types_from_a_file(tmp_path: Path) -> None:
    # A copy of the running kernel's types (the committed vmlinux.btf.gz is the host kernel's:
    # the VM runner's guests have other layouts).
    raw = tmp_path / "vmlinux.btf"
    raw.write_bytes(Path("/sys/kernel/btf/vmlinux").read_bytes())
    target = btf.load_spec(raw)
    spec = load_collection_spec(obj("core_task"))
    with Collection(spec, CollectionOptions(kernel_types=target)) as coll:
        probed, direct, tid = run_task_programs(coll)
    assert (probed.pid, probed.tgid, direct.pid, direct.tgid) == (tid, os.getpid()) * 2


def synthetic_task(*, swap_ids: bool = False, old_state: bool = False,
                   drop: tuple[str, ...] = ()) -> btf.Spec:
    """A target ``task_struct`` with only the fields core_task.c reads, at the running
    kernel's offsets, optionally with pid and tgid swapped and ``state`` for ``__state``."""
    real = {m.name: m for m in btf.load_kernel_spec().type_by_name("task_struct",
                                                                     Struct).members}
    s32 = Int("int", 4, IntEncoding.SIGNED)
    u32 = Int("unsigned int", 4)
    char = Int("char", 1, IntEncoding.SIGNED)
    task = Struct("task_struct", 4096, [])
    pid, tgid = real["pid"].offset, real["tgid"].offset
    if swap_ids:
        pid, tgid = tgid, pid
    members = [
        Member("state", Int("long", 8, IntEncoding.SIGNED), real["__state"].offset)
        if old_state else Member("__state", u32, real["__state"].offset),
        Member("user_dumpable", u32, real["user_dumpable"].offset, 1),
        Member("in_execve", u32, real["in_execve"].offset, 1),
        Member("pid", s32, pid), Member("tgid", s32, tgid),
        Member("real_parent", Pointer(task), real["real_parent"].offset),
        Member("comm", Array(char, 16, u32), real["comm"].offset),
    ]
    task.members = sorted((m for m in members if m.name not in drop), key=lambda m: m.offset)
    blob, _ = marshal_types([task])
    return btf.load_spec_from_bytes(blob)


@dataclass
class Probed(Objects):
    task_probed: Program = None  # type: ignore[assignment]


def load_probed(target: btf.Spec) -> tuple[TaskInfo, int]:
    spec = load_collection_spec(obj("core_task"))
    objs = spec.load_and_assign(Probed(), CollectionOptions(kernel_types=target))
    with objs:
        _, tid = in_thread(lambda: objs.task_probed.test_run(ctx=CTX))
        # the program wrote into .bss: read it back through a fresh lookup of the map
        info_bytes = _bss_of(objs.task_probed)
    return TaskInfo.decode(info_bytes[:INFO.size]), tid


def _bss_of(prog: Program) -> bytes:
    """The value of the ``.bss`` map ``prog`` uses (found through the program's map ids)."""
    from ebpf.map import Map

    for map_id in prog.info().map_ids:
        with Map.from_id(map_id) as m:
            if m.name.endswith(".bss"):
                return bytes(m.raw[0])
    raise AssertionError("no .bss map")


def test_synthetic_target_moves_offsets_and_picks_the_flavor() -> None:
    info, tid = load_probed(synthetic_task(swap_ids=True, old_state=True))
    # pid and tgid trade places, and the old 'state' field is used now
    assert (info.pid, info.tgid) == (os.getpid(), tid)
    assert info.state_from == 1


def test_synthetic_target_without_a_field_poisons_its_reads() -> None:
    with pytest.raises(COREError, match=r"task_probed.*task_struct\.comm"):
        load_probed(synthetic_task(drop=("comm",)))


def test_program_alone_refuses_unrelocated_core_code() -> None:
    # Program() cannot apply CO-RE relocations; loading compiled offsets unchanged would read
    # the wrong fields, so it must say so instead of loading.
    from ebpf import COREError, Program, load_collection_spec

    spec = load_collection_spec(TESTDATA / "core_task-el.elf")
    prog = next(p for p in spec.programs.values()
                if getattr(p.btf, "core_relocations", None))
    with pytest.raises(COREError, match="through a Collection"):
        Program(prog)
