"""The syscall layer against the real kernel: FD ownership, errors, FastCall, ids and info.

Everything here goes through ``ebpf.internal.sys`` only, so a failure points at that layer and
not at the Map or Program classes built on it.
"""

from __future__ import annotations

import ctypes
import errno
import gc
import os
import struct
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from ebpf.errors import ClosedError, SyscallError
from ebpf.internal.sys import (
    FD,
    Cmd,
    FastCall,
    MapCreateAttr,
    MapElemAttr,
    MapInfo,
    ProgInfo,
    ProgLoadAttr,
    ProgRunAttr,
    bpf,
    commands,
    trampoline_available,
)
from tests.support import fd_is_open

pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parents[2]

BPF_MAP_TYPE_HASH = 1
BPF_MAP_TYPE_ARRAY = 2
BPF_PROG_TYPE_SOCKET_FILTER = 1
BPF_ANY = 0


def _array_map(name: bytes = b"", max_entries: int = 4) -> FD:
    attr = MapCreateAttr(map_type=BPF_MAP_TYPE_ARRAY, key_size=4, value_size=8,
                         max_entries=max_entries, map_name=name)
    return commands.map_create(attr)


@pytest.fixture
def array_map() -> Iterator[FD]:
    with _array_map(b"sys_test") as fd:
        yield fd


def _map_info(fd: FD) -> MapInfo:
    return commands.obj_get_info_by_fd(fd.raw, MapInfo())


def _run_python(code: str, env: dict[str, str] | None = None) -> str:
    """Run ``code`` in a fresh interpreter (from the repo root); return its stdout."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, f"subprocess failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


# --- FD ownership ----------------------------------------------------------------------------

def test_close_is_idempotent(array_map: FD) -> None:
    raw = array_map.raw
    array_map.close()
    array_map.close()
    assert array_map.closed
    assert not fd_is_open(raw)


def test_use_after_close_raises_closed_error() -> None:
    fd = _array_map()
    fd.close()
    with pytest.raises(ClosedError):
        _ = fd.raw
    with pytest.raises(ClosedError):
        fd.fileno()
    with pytest.raises(ClosedError):
        fd.dup()
    with pytest.raises(ClosedError):
        fd.detach()
    assert "closed" in repr(fd)


def test_context_manager_closes() -> None:
    with _array_map() as fd:
        raw = fd.raw
        assert fd_is_open(raw)
    assert fd.closed
    assert not fd_is_open(raw)


def test_dup_is_a_different_number_for_the_same_map(array_map: FD) -> None:
    with array_map.dup() as copy:
        assert copy.raw != array_map.raw
        assert _map_info(copy).id == _map_info(array_map).id
        raw = copy.raw
    assert not fd_is_open(raw)
    assert _map_info(array_map).id > 0          # the original is untouched


def test_descriptors_are_close_on_exec(array_map: FD) -> None:
    import fcntl

    assert fcntl.fcntl(array_map.raw, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    with array_map.dup() as copy:
        assert fcntl.fcntl(copy.raw, fcntl.F_GETFD) & fcntl.FD_CLOEXEC


def test_detach_hands_over_the_number(array_map: FD) -> None:
    raw = array_map.detach()
    try:
        assert array_map.closed
        assert fd_is_open(raw)
    finally:
        os.close(raw)


def test_fd_zero_is_moved_away() -> None:
    # Standard input is closed in a child process, so the kernel hands out descriptor 0.
    out = _run_python("""
        import os
        from ebpf.internal.sys import FD, MapCreateAttr, MapInfo, commands

        os.close(0)
        made = commands.map_create(MapCreateAttr(map_type=2, key_size=4, value_size=4,
                                                 max_entries=1))
        assert made.raw != 0, made
        try:
            os.fstat(0)
        except OSError:
            pass
        else:
            raise AssertionError("descriptor 0 was left open")

        # Adopting a descriptor that is 0 moves it as well.
        os.dup2(made.raw, 0)
        adopted = FD(0)
        assert adopted.raw != 0, adopted
        ids = {commands.obj_get_info_by_fd(f.raw, MapInfo()).id for f in (made, adopted)}
        assert len(ids) == 1, ids
        adopted.close()
        made.close()
        print("ok")
    """)
    assert out.strip() == "ok"


def test_negative_fd_is_rejected() -> None:
    with pytest.raises(ValueError):
        FD(-1)


def test_finalizer_closes_a_leaked_fd_with_a_warning() -> None:
    fd = _array_map()
    raw = fd.raw
    with pytest.warns(ResourceWarning, match="not closed"):
        del fd
        gc.collect()
    assert not fd_is_open(raw)


# --- bpf() errors ----------------------------------------------------------------------------

def test_bad_attr_raises_syscall_error() -> None:
    attr = MapCreateAttr(map_type=0xFFFF, key_size=4, value_size=4, max_entries=1)
    with pytest.raises(SyscallError) as info:
        bpf(Cmd.MAP_CREATE, attr)
    assert info.value.errno == errno.EINVAL
    assert info.value.cmd == "BPF_MAP_CREATE"
    assert "BPF_MAP_CREATE" in str(info.value)


def test_bad_fd_raises_syscall_error_with_context() -> None:
    key = ctypes.c_uint32(0)
    value = ctypes.c_uint64(0)
    r, w = os.pipe()                       # a real descriptor that is not a map
    try:
        attr = MapElemAttr(map_fd=r, key=ctypes.addressof(key), value=ctypes.addressof(value))
        with pytest.raises(SyscallError) as info:
            commands.map_lookup_elem(attr, "lookup in a pipe")
    finally:
        os.close(r)
        os.close(w)
    assert info.value.errno in (errno.EBADF, errno.EINVAL)
    assert info.value.cmd == "BPF_MAP_LOOKUP_ELEM"
    assert "lookup in a pipe" in str(info.value)


def test_missing_id_raises_enoent() -> None:
    with pytest.raises(SyscallError) as info:
        commands.map_get_fd_by_id(0xFFFFFFF0)
    assert info.value.errno == errno.ENOENT


# --- FastCall ---------------------------------------------------------------------------------

def fastcall_roundtrip(expect_trampoline: bool) -> None:
    """Update and look up a real map through FastCall; also run in subprocesses."""
    assert trampoline_available() is expect_trampoline
    key = ctypes.c_uint32(0)
    value = ctypes.c_uint64(0)
    attr = MapElemAttr()
    addr, size = ctypes.addressof(attr), ctypes.sizeof(attr)
    update = FastCall(Cmd.MAP_UPDATE_ELEM, addr, size)
    lookup = FastCall(Cmd.MAP_LOOKUP_ELEM, addr, size)
    hash_attr = MapCreateAttr(map_type=BPF_MAP_TYPE_HASH, key_size=4, value_size=8,
                              max_entries=8)
    with commands.map_create(hash_attr) as m:
        attr.map_fd = m.raw
        attr.key = ctypes.addressof(key)
        attr.value = ctypes.addressof(value)
        for k in range(5):
            key.value, value.value = k, 1000 + k * k
            attr.flags = BPF_ANY
            assert update.call() == 0
        for k in range(5):
            key.value, value.value = k, 0
            assert lookup.call() == 0
            assert value.value == 1000 + k * k
        key.value = 99
        assert lookup.call() == -errno.ENOENT
        # The slow path agrees with what the fast path wrote.
        key.value = 3
        commands.map_lookup_elem(attr)
        assert value.value == 1009
    update.release()
    lookup.release()
    assert lookup.call() == -errno.EBADF       # a released call never reaches the kernel


@pytest.mark.skipif(os.uname().machine not in ("x86_64", "amd64"),
                    reason="the machine-code trampoline exists for x86_64 only")
def test_fastcall_trampoline() -> None:
    if os.environ.get("EBPF_NO_TRAMPOLINE") == "1":
        pytest.skip("EBPF_NO_TRAMPOLINE=1 is set for this run")
    fastcall_roundtrip(expect_trampoline=True)


@pytest.mark.skipif(os.uname().machine not in ("x86_64", "amd64"),
                    reason="the machine-code trampoline exists for x86_64 only")
def test_fastcall_trampoline_in_fresh_process() -> None:
    out = _run_python("""
        from tests.kernel.test_sys import fastcall_roundtrip
        fastcall_roundtrip(expect_trampoline=True)
        print("ok")
    """, env={"EBPF_NO_TRAMPOLINE": "0"})
    assert out.strip() == "ok"


def test_fastcall_ctypes_fallback() -> None:
    out = _run_python("""
        from tests.kernel.test_sys import fastcall_roundtrip
        fastcall_roundtrip(expect_trampoline=False)
        print("ok")
    """, env={"EBPF_NO_TRAMPOLINE": "1"})
    assert out.strip() == "ok"


def test_many_fastcalls_reuse_slots() -> None:
    """More calls than fit in one trampoline page, created, used and released twice."""
    key = ctypes.c_uint32(1)
    value = ctypes.c_uint64(0)
    attr = MapElemAttr(key=ctypes.addressof(key), value=ctypes.addressof(value))
    with _array_map() as m:
        attr.map_fd = m.raw
        for _ in range(2):
            calls = [FastCall(Cmd.MAP_LOOKUP_ELEM, ctypes.addressof(attr), ctypes.sizeof(attr))
                     for _ in range(300)]
            assert {c.call() for c in calls} == {0}
            for c in calls:
                c.release()


# --- ids, get_fd_by_id, obj_get_info ---------------------------------------------------------

def test_map_id_roundtrip(array_map: FD) -> None:
    info = _map_info(array_map)
    assert info.id > 0
    assert info.type == BPF_MAP_TYPE_ARRAY
    assert (info.key_size, info.value_size, info.max_entries) == (4, 8, 4)
    assert info.name == b"sys_test"

    ids = []
    next_id: int | None = 0
    while (next_id := commands.map_get_next_id(next_id)) is not None:
        ids.append(next_id)
    assert info.id in ids
    assert ids == sorted(ids)

    with commands.map_get_fd_by_id(info.id) as again:
        assert again.raw != array_map.raw
        info2 = _map_info(again)
        assert (info2.id, info2.name, info2.max_entries) == (info.id, b"sys_test", 4)


def _load_socket_filter(retval: int) -> FD:
    # r0 = retval; exit
    insns = struct.pack("<BBhi", 0xB7, 0, 0, retval) + struct.pack("<BBhi", 0x95, 0, 0, 0)
    buf = ctypes.create_string_buffer(insns, len(insns))
    license = ctypes.create_string_buffer(b"GPL")
    attr = ProgLoadAttr(prog_type=BPF_PROG_TYPE_SOCKET_FILTER, insn_cnt=len(insns) // 8,
                        insns=ctypes.addressof(buf), license=ctypes.addressof(license),
                        prog_name=b"sys_test_prog")
    return commands.prog_load(attr)


def test_prog_id_roundtrip_and_test_run() -> None:
    with _load_socket_filter(7) as prog:
        info = commands.obj_get_info_by_fd(prog.raw, ProgInfo())
        assert info.id > 0
        assert info.type == BPF_PROG_TYPE_SOCKET_FILTER
        assert info.name == b"sys_test_prog"
        assert info.xlated_prog_len == 16

        ids = []
        next_id: int | None = 0
        while (next_id := commands.prog_get_next_id(next_id)) is not None:
            ids.append(next_id)
        assert info.id in ids

        with commands.prog_get_fd_by_id(info.id) as again:
            assert commands.obj_get_info_by_fd(again.raw, ProgInfo()).id == info.id

        packet = ctypes.create_string_buffer(b"\x00" * 64, 64)
        run = ProgRunAttr(prog_fd=prog.raw, data_in=ctypes.addressof(packet),
                          data_size_in=64, repeat=1)
        commands.prog_run(run)
        assert run.retval == 7
