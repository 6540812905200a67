"""The on-disk index cache of kernel BTF: keyed by content, the running kernel's index never
evicted by other BTF, and tests kept out of the user's cache.

Each scenario runs processes against a cache directory of its own (``EBPF_BTF_CACHE_DIR``), as
the cache is written when a process exits.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ebpf import btf
from ebpf.btf import kernel

VMLINUX = "/sys/kernel/btf/vmlinux"
ROOT = Path(__file__).resolve().parents[2]
needs_vmlinux = pytest.mark.skipif(not os.path.exists(VMLINUX),
                                   reason=f"{VMLINUX} is missing: the kernel has no BTF")

# Loads each file named on the command line (none: the running kernel's BTF), looks a type up
# and says whether the index came from the cache (both name tables present before any lookup).
LOAD = """
import sys
import ebpf.btf as b
for path in sys.argv[1:] or [None]:
    s = b.load_kernel_spec(path)
    cached = all(t is not None for t in s.raw.index.by_name)
    name = "task_struct" if path is None or "copy" in path else "marker"
    assert s.any_type_by_name(name) is not None
    print("cached" if cached else "built")
"""


def load(cache: Path, *paths: Path) -> list[str]:
    assert cache.name == "ebpf"  # the same directory by either variable
    env = dict(os.environ, EBPF_BTF_CACHE_DIR=str(cache), XDG_CACHE_HOME=str(cache.parent),
               EBPF_BTF_CACHE="1")
    out = subprocess.run([sys.executable, "-c", LOAD, *map(str, paths)], env=env, cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    return out.split()


def indexes(cache: Path) -> set[str]:
    return {p.name for p in cache.iterdir() if p.suffix == ".idx"}


def raw_blob(marker: str) -> bytes:
    b = btf.Builder(btf.MarshalOptions())
    b.add(btf.Typedef("marker", btf.Int(marker, 4)))
    return b.marshal()


def test_tests_use_a_private_cache() -> None:
    # tests/{unit,kernel}/conftest.py point the cache at a temporary directory.
    chosen = kernel.cache_dir()
    assert chosen is not None and chosen == os.environ["EBPF_BTF_CACHE_DIR"]
    assert not chosen.startswith(os.path.join(os.path.expanduser("~"), ".cache"))


def test_where_the_cache_is(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EBPF_BTF_CACHE_DIR", str(tmp_path / "here"))
    assert kernel.cache_dir() == str(tmp_path / "here")
    monkeypatch.delenv("EBPF_BTF_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert kernel.cache_dir() == str(tmp_path / "xdg" / "ebpf")
    monkeypatch.setenv("EBPF_BTF_CACHE", "0")
    assert kernel.cache_dir() is None


def test_index_names_follow_the_content(tmp_path: Path) -> None:
    one, other = raw_blob("one"), raw_blob("other")
    a, b = tmp_path / "a.btf", tmp_path / "b.btf"
    a.write_bytes(one)
    b.write_bytes(one)
    os.utime(a, (1_000_000, 1_000_000))
    # Same bytes under other names and times: one index. Other bytes: another.
    assert kernel._index_name(str(a), one) == kernel._index_name(str(b), one)
    assert kernel._index_name(str(a), one) != kernel._index_name(str(a), other)
    assert kernel._index_name(str(a), one) != kernel._index_name(str(a), one + b"\0")


@needs_vmlinux
def test_running_kernel_index_is_named_by_build_id() -> None:
    name = kernel._running_kernel_index()
    assert name is not None
    if kernel._kernel_build_id() is not None:
        assert name.startswith(f"btf3-k-{kernel._kernel_build_id()}-")
    with open(VMLINUX, "rb") as f:
        assert kernel._index_name(VMLINUX, f.read()) == name


@needs_vmlinux
def test_other_btf_never_evicts_the_running_kernels_index(tmp_path: Path) -> None:
    cache = tmp_path / "ebpf"
    assert load(cache) == ["built"]
    (mine,) = indexes(cache)
    # Copies of vmlinux (as tests make), each under another name and mtime: one shared index,
    # made by the first and used by the others.
    copies = []
    for i in range(6):
        copy = tmp_path / f"copy{i}.btf"
        shutil.copyfile(VMLINUX, copy)
        os.utime(copy, (1_000_000_000 + i, 1_000_000_000 + i))
        copies.append(copy)
    assert load(cache, copies[0]) == ["built"]
    assert load(cache, *copies[1:]) == ["cached"] * 5
    assert mine in indexes(cache) and len(indexes(cache)) == 2
    # More distinct blobs than the cache keeps: the oldest others go, never the kernel's.
    blobs = []
    for i in range(6):
        path = tmp_path / f"blob{i}.btf"
        path.write_bytes(raw_blob(f"m{i}"))
        blobs.append(path)
    for path in blobs:
        assert load(cache, path) == ["built"]
    left = indexes(cache)
    assert mine in left and len(left) == kernel._KEEP_INDEXES
    assert load(cache) == ["cached"]  # the next process skips indexing the kernel's BTF
    assert load(cache, blobs[-1]) == ["cached"]
