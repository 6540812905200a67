"""``FD`` and the pure parts of the syscall layer, without privileges (pipes stand in for BPF
objects). ``tests/kernel/test_sys.py`` repeats the ownership checks on real maps."""

from __future__ import annotations

import fcntl
import gc
import os
import struct
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from ebpf.errors import ClosedError
from ebpf.internal.sys import FD, Cmd, command_name, syscall
from tests.support import fd_is_open

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def pipe_fd() -> tuple[FD, int]:
    r, w = os.pipe()
    return FD(r, "pipe"), w


def test_close_is_idempotent_and_forgets_the_number(pipe_fd: tuple[FD, int]) -> None:
    fd, w = pipe_fd
    raw = fd.raw
    fd.close()
    fd.close()
    os.close(w)
    assert fd.closed
    assert not fd_is_open(raw)
    with pytest.raises(ClosedError, match="pipe is closed"):
        _ = fd.raw
    with pytest.raises(ClosedError):
        fd.dup()
    assert repr(fd) == "FD(closed)"


def test_dup_is_independent(pipe_fd: tuple[FD, int]) -> None:
    fd, w = pipe_fd
    with fd, fd.dup() as copy:
        assert copy.raw != fd.raw
        assert copy.what == "pipe"
        assert fcntl.fcntl(copy.raw, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        os.write(w, b"x")
        assert os.read(copy.raw, 1) == b"x"      # same pipe
        fd.close()
        assert fd_is_open(copy.raw)               # closing one leaves the other
    os.close(w)


def test_detach(pipe_fd: tuple[FD, int]) -> None:
    fd, w = pipe_fd
    raw = fd.detach()
    assert fd.closed
    assert fd_is_open(raw)
    with pytest.raises(ClosedError):
        fd.detach()
    os.close(raw)
    os.close(w)


def test_leak_is_closed_with_resource_warning() -> None:
    r, w = os.pipe()
    fd = FD(r, "leaky pipe")
    with pytest.warns(ResourceWarning, match=r"leaky pipe \(fd \d+\) was not closed"):
        del fd
        gc.collect()
    assert not fd_is_open(r)
    os.close(w)


def test_concurrent_close_closes_once() -> None:
    r, w = os.pipe()
    fd = FD(r)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def closer() -> None:
        barrier.wait()
        try:
            fd.close()
        except BaseException as e:  # collected and asserted on below
            errors.append(e)

    threads = [threading.Thread(target=closer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    os.close(w)
    assert errors == []
    assert fd.closed


def test_fd_zero_is_moved() -> None:
    code = textwrap.dedent("""
        import os
        from ebpf.internal.sys import FD
        r, w = os.pipe()
        os.dup2(r, 0)
        os.close(r)
        fd = FD(0, "stdin pipe")
        assert fd.raw > 0, fd
        try:
            os.fstat(0)
        except OSError:
            pass
        else:
            raise AssertionError("fd 0 still open")
        os.write(w, b"y")
        assert os.read(fd.raw, 1) == b"y"
        fd.close()
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_invalid_numbers_are_refused() -> None:
    with pytest.raises(ValueError):
        FD(-1)


# --- syscall.py ------------------------------------------------------------------------------

def test_command_names() -> None:
    assert Cmd.MAP_CREATE == 0
    assert command_name(Cmd.PROG_TEST_RUN) == "BPF_PROG_TEST_RUN"
    assert command_name(99) == "BPF_CMD_99"


def test_syscall_numbers() -> None:
    table = syscall._SYS_BPF
    assert table["x86_64"] == 321
    assert table["aarch64"] == 280
    assert table["riscv64"] == 280


@pytest.mark.parametrize("slot", [0, 1, 57, syscall._SLOTS_PER_PAGE - 1])
def test_trampoline_stub_addresses_its_own_data_slot(slot: int) -> None:
    """Decode the x86_64 stub: each RIP-relative load must hit this slot's field."""
    page = syscall._x86_64_code_page()
    assert len(page) == syscall._PAGE
    code_at = slot * syscall._CODE_SLOT
    code = page[code_at:code_at + syscall._CODE_SLOT]
    data_at = syscall._PAGE + slot * syscall._DATA_SLOT
    pos = 0
    targets = []
    for prefix in (b"\x8b\x3d", b"\x8b\x15", b"\x48\x8b\x35"):   # edi, edx, rsi
        assert code[pos:pos + len(prefix)] == prefix
        pos += len(prefix)
        (rel,) = struct.unpack_from("<i", code, pos)
        pos += 4
        targets.append(code_at + pos + rel - data_at)
    assert targets == [0, 4, 8]                  # cmd (u32), size (u32), attr (u64)
    assert code[pos:pos + 5] == b"\xb8" + struct.pack("<I", 321)   # mov eax, __NR_bpf
    assert code[pos + 5:pos + 8] == b"\x0f\x05\xc3"                # syscall; ret
    assert set(code[pos + 8:]) <= {0xCC}                            # int3 padding
