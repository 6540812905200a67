"""This machine's kernel BTF, checked against bpftool's raw dump of the same file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from ebpf import btf
from ebpf.errors import BTFError, NotSupportedError

VMLINUX = "/sys/kernel/btf/vmlinux"
BPFTOOL = shutil.which("bpftool") or ("/usr/sbin/bpftool" if os.path.exists(
    "/usr/sbin/bpftool") else None)

pytestmark = pytest.mark.skipif(not os.path.exists(VMLINUX),
                                reason=f"{VMLINUX} is missing: the kernel has no BTF")

SAMPLE_NAMES = [
    ("task_struct", btf.Struct), ("sk_buff", btf.Struct), ("bpf_attr", btf.Union),
    ("list_head", btf.Struct), ("pid_t", btf.Typedef), ("bpf_map_type", btf.Enum),
    ("bpf_prog_load", btf.Func), ("file_operations", btf.Struct), ("page", btf.Struct),
    ("perf_event_attr", btf.Struct), ("cpuhp_state", btf.Enum), ("atomic_t", btf.Typedef),
    ("inode", btf.Struct), ("xdp_md", btf.Struct), ("bpf_func_id", btf.Enum),
    ("sockaddr_in", btf.Struct), ("cgroup", btf.Struct), ("net_device", btf.Struct),
    ("mm_struct", btf.Struct), ("dentry", btf.Struct),
]


@cache
def bpftool_dump() -> str:
    if BPFTOOL is None:
        pytest.skip("bpftool is not installed")
    return subprocess.run([BPFTOOL, "btf", "dump", "file", VMLINUX], check=True,
                          capture_output=True, text=True).stdout


def bpftool_records() -> Iterator[tuple[int, str, str, dict[str, str], list[str]]]:
    """(id, kind, name, fields, member lines) for every type of bpftool's raw dump."""
    rec: tuple[int, str, str, dict[str, str], list[str]] | None = None
    head = re.compile(r"^\[(\d+)\] (\w+) '([^']*)'(.*)$")
    for line in bpftool_dump().splitlines():
        if line.startswith("\t"):
            assert rec is not None
            rec[4].append(line[1:])
            continue
        if rec is not None:
            yield rec
        m = head.match(line)
        assert m, line
        fields = dict(kv.split("=", 1) for kv in m.group(4).replace(",", "").split())
        rec = (int(m.group(1)), m.group(2), m.group(3), fields, [])
    if rec is not None:
        yield rec


def test_type_count_matches_bpftool() -> None:
    spec = btf.load_kernel_spec()
    assert len(spec) == bpftool_dump().count("\n[") + 1
    assert len(spec) > 1000


def test_kernel_spec_is_shared_and_lazy() -> None:
    spec = btf.load_kernel_spec()
    assert btf.load_kernel_spec() is spec
    task = spec.type_by_name("task_struct", btf.Struct)
    assert spec.type_by_name("task_struct", btf.Struct) is task
    # A fresh spec decodes only what was asked for, not the ~100,000 other types.
    fresh = btf.load_spec(VMLINUX)
    task = fresh.type_by_name("task_struct", btf.Struct)
    assert len(task.members) > 50 and task.member("pid").offset > 0
    assert len(fresh._types) < 10


def test_sampled_types_field_by_field() -> None:
    spec = btf.load_kernel_spec()
    wanted: dict[int, btf.Type] = {}
    for name, cls in SAMPLE_NAMES:
        t: btf.Type = spec.type_by_name(name, cls)
        wanted[spec.type_id(t)] = t
    seen = 0
    for tid, kind, name, fields, members in bpftool_records():
        found = wanted.get(tid)
        if found is None:
            continue
        t = found
        seen += 1
        assert t.kind.name == kind and t.name == name
        if isinstance(t, btf.Composite):
            assert t.size == int(fields["size"]) and len(t.members) == int(fields["vlen"])
            for m, line in zip(t.members, members, strict=True):
                mm = re.match(r"'([^']*)' type_id=(\d+) bits_offset=(\d+)"
                              r"(?: bitfield_size=(\d+))?$", line)
                assert mm, line
                assert m.name == ("" if mm.group(1) == "(anon)" else mm.group(1))
                assert spec.type_id(m.type) == int(mm.group(2))
                assert m.offset == int(mm.group(3))
                assert m.bitfield_size == int(mm.group(4) or 0)
        elif isinstance(t, btf.Enum):
            assert t.size == int(fields["size"]) and t.signed == (fields["encoding"] == "SIGNED")
            for v, line in zip(t.values, members, strict=True):
                mm = re.match(r"'([^']*)' val=(-?\d+)", line)
                assert mm and (v.name, v.value) == (mm.group(1), int(mm.group(2)))
        elif isinstance(t, btf.Typedef):
            assert spec.type_id(t.type) == int(fields["type_id"])
        elif isinstance(t, btf.Func):
            assert spec.type_id(t.type) == int(fields["type_id"])
            assert t.linkage.name.lower() == fields["linkage"]
    assert seen == len(SAMPLE_NAMES)


def test_every_type_matches_bpftool_raw_dump() -> None:
    spec = btf.load_kernel_spec()
    ours = "\n".join(spec.dump(i) for i in range(1, len(spec) + 1)) + "\n"
    theirs = bpftool_dump()
    if ours != theirs:
        for a, b in zip(ours.splitlines(), theirs.splitlines(), strict=False):
            assert a == b
    assert ours == theirs


def test_kernel_lookups() -> None:
    spec = btf.load_kernel_spec()
    task = spec.type_by_name("task_struct", btf.Struct)
    assert btf.sizeof(task) == task.size > 1000
    pid = task.member("pid")
    assert btf.sizeof(pid.type) == 4 and pid.offset % 32 == 0
    assert isinstance(btf.underlying(pid.type), btf.Int)
    bpf_attr = spec.type_by_name("bpf_attr", btf.Union)
    assert btf.alignof(bpf_attr) == 8
    assert isinstance(spec.any_type_by_name("bpf_map_type"), btf.Enum)
    assert spec.types_by_name_and_class("bpf_prog_load", btf.Func)
    with pytest.raises(btf.NotFoundError):
        spec.type_by_name("no_such_type_anywhere", btf.Struct)
    kinds = {type(t) for t in (spec.type_by_id(i) for i in range(1, len(spec) + 1, 97))}
    assert btf.Func in kinds and btf.Pointer in kinds


def test_load_kernel_spec_from_file(tmp_path: Path) -> None:
    copy = tmp_path / "vmlinux.btf"
    copy.write_bytes(Path(VMLINUX).read_bytes())
    spec = btf.load_kernel_spec(copy)
    assert spec is btf.load_kernel_spec(str(copy))
    assert spec is not btf.load_kernel_spec()
    assert len(spec) == len(btf.load_kernel_spec())
    assert spec.type_by_name("task_struct", btf.Struct).size == btf.load_kernel_spec(
    ).type_by_name("task_struct", btf.Struct).size


def test_module_btf() -> None:
    modules = [p for p in os.listdir("/sys/kernel/btf") if p != "vmlinux"]
    if not modules:
        with pytest.raises(NotSupportedError):
            btf.load_kernel_module_spec("no_such_module")
        pytest.skip("the kernel has no module BTF (modules are disabled)")
    spec = btf.load_kernel_module_spec(modules[0])
    assert spec.base is btf.load_kernel_spec()
    assert len(spec) > len(spec.base)


def test_on_disk_index_is_reused(tmp_path: Path) -> None:
    code = ("import ebpf.btf as b; s = b.load_kernel_spec(); "
            "t = s.type_by_name('task_struct', b.Struct); "
            "print(len(s), s.type_id(t), t.size, len(s.types_by_name('bpf_prog_load')))")
    env = dict(os.environ, EBPF_BTF_CACHE_DIR=str(tmp_path / "ebpf"), EBPF_BTF_CACHE="1")
    root = Path(__file__).resolve().parents[2]
    first = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, check=True,
                           capture_output=True, text=True).stdout
    files = list((tmp_path / "ebpf").iterdir())
    assert len(files) == 1 and files[0].suffix == ".idx"
    second = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, check=True,
                            capture_output=True, text=True).stdout
    assert first == second
    # A damaged index is ignored and rewritten, never trusted.
    files[0].write_bytes(files[0].read_bytes()[:100])
    third = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, check=True,
                           capture_output=True, text=True).stdout
    assert third == first
    env["EBPF_BTF_CACHE"] = "0"
    env["EBPF_BTF_CACHE_DIR"] = str(tmp_path / "other")
    subprocess.run([sys.executable, "-c", code], env=env, cwd=root, check=True)
    assert not (tmp_path / "other").exists()


def test_borrowed_kernel_spec_copies_own_their_data(tmp_path: Path) -> None:
    # A process that finds the index on disk maps it (and vmlinux, where the kernel allows):
    # lookups work in place, and pickled copies hold bytes and arrays of their own.
    code = ("import array, pickle, ebpf.btf as b; s = b.load_kernel_spec(); "
            "t = s.type_by_name('task_struct', b.Struct); "
            "r = pickle.loads(pickle.dumps(s.raw)); ix = r.index; "
            "assert type(r.strings) is bytes and bytes(s.raw.strings) == r.strings; "
            "assert all(isinstance(a, array.array) for a in (r.words, ix.offsets, "
            "ix.flavored, *ix.by_name) if a is not None); "
            "assert list(ix.offsets) == list(s.raw.index.offsets); "
            "print(len(s), s.type_id(t), len(t.members), type(s.raw.index.offsets).__name__)")
    env = dict(os.environ, EBPF_BTF_CACHE_DIR=str(tmp_path / "ebpf"), EBPF_BTF_CACHE="1")
    root = Path(__file__).resolve().parents[2]
    outs = [subprocess.run([sys.executable, "-c", code], env=env, cwd=root, check=True,
                           capture_output=True, text=True).stdout.split() for _ in range(2)]
    assert outs[0][:3] == outs[1][:3]
    assert outs[0][3] == "array"  # built by the first process


def test_old_indexes_are_pruned(tmp_path: Path) -> None:
    # Indexes of earlier boots (another mtime, so another key) and stale temporary files.
    cache = tmp_path / "ebpf"
    cache.mkdir()
    old = []
    for n in range(6):
        f = cache / f"btf2-{n:x}-old.idx"
        f.write_bytes(b"stale")
        os.utime(f, (1_000_000 + n, 1_000_000 + n))
        old.append(f)
    tmp = cache / "btf2-0-old.idx.123.tmp"
    tmp.write_bytes(b"")
    os.utime(tmp, (1_000_000, 1_000_000))
    unrelated = cache / "notes.txt"
    unrelated.write_text("kept")
    code = "import ebpf.btf as b; b.load_kernel_spec().type_by_name('task_struct')"
    env = dict(os.environ, EBPF_BTF_CACHE_DIR=str(tmp_path / "ebpf"), EBPF_BTF_CACHE="1")
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], env=env, cwd=root, check=True)
    left = sorted(p.name for p in cache.iterdir())
    # The new index and the three newest old ones stay; the rest and the .tmp file go.
    assert len([n for n in left if n.endswith(".idx") and "old" not in n]) == 1
    assert [n for n in left if "old" in n] == sorted(f.name for f in old[-3:])
    assert "notes.txt" in left


def test_truncated_vmlinux_raises(tmp_path: Path) -> None:
    data = Path(VMLINUX).read_bytes()
    for cut in (10, 1000, len(data) // 2):
        path = tmp_path / f"cut{cut}"
        path.write_bytes(data[:cut])
        with pytest.raises(BTFError):
            btf.load_spec(path)
