"""The pre-bound ``bpf(2)`` calls across ``fork()`` and where executable memory is refused.

A forked child must never change what the parent's calls do: closing an inherited map,
binding calls of its own, or exiting (finalizers free its trampoline slots) leaves the
parent's maps working. Each scenario runs in a fresh interpreter so that forking never touches
the test runner's own process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parents[2]
X86_64 = os.uname().machine in ("x86_64", "amd64")


def _run(code: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, f"subprocess failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


# The child closes its copy of the map, creates maps of its own (binding new calls, which may
# reuse the slots just freed), uses them, and exits normally so that every finalizer runs. The
# parent's map must answer lookups and updates afterwards exactly as before.
FORK_CHILD = """
    import gc, os, signal, sys
    from ebpf.internal.sys import trampoline_available
    from ebpf.map import Map, MapSpec
    from ebpf.types import MapType

    def spec(name):
        return MapSpec(name=name, type=MapType.HASH, key_size=4, value_size=8, max_entries=64)

    print("trampoline", trampoline_available())
    m = Map(spec("fork_parent"))
    for k in range(16):
        m[k] = 100 + k
    pid = os.fork()
    if pid == 0:
        signal.alarm(60)  # never outlive the test, even if something hangs
        try:
            assert m[3] == (103).to_bytes(8, sys.byteorder)
            m.close()
            gc.collect()
            mine = [Map(spec("fork_child")) for _ in range(3)]
            for n, c in enumerate(mine):
                c[7] = 7000 + n
                assert c[7] == (7000 + n).to_bytes(8, sys.byteorder)
            del mine, c
            gc.collect()
        except BaseException as e:
            print("child failed:", repr(e), flush=True)
            os._exit(1)
        sys.exit(0)  # a normal exit: atexit hooks and finalizers run
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, status
    for k in range(16):
        assert m[k] == (100 + k).to_bytes(8, sys.byteorder), k
    for k in range(16):
        m[k] = 200 + k
    assert [int.from_bytes(m[k], sys.byteorder) for k in range(16)] == list(range(200, 216))
    assert 99 not in m
    del m[0]
    assert 0 not in m
    m.close()
    print("ok")
"""


@pytest.mark.skipif(not X86_64, reason="the machine-code trampoline exists for x86_64 only")
def test_forked_child_leaves_the_parents_trampoline_calls_alone() -> None:
    out = _run(FORK_CHILD, env={"EBPF_NO_TRAMPOLINE": "0"})
    assert out.split() == ["trampoline", "True", "ok"]


def test_forked_child_leaves_the_parents_fallback_calls_alone() -> None:
    out = _run(FORK_CHILD, env={"EBPF_NO_TRAMPOLINE": "1"})
    assert out.split() == ["trampoline", "False", "ok"]


# A child whose lock was held by another thread at fork time must still be able to bind calls.
FORK_WHILE_LOCKED = """
    import os, signal, sys
    from ebpf.internal.sys import syscall
    from ebpf.map import Map, MapSpec
    from ebpf.types import MapType

    assert syscall.trampoline_available()
    spec = MapSpec(name="fork_lock", type=MapType.ARRAY, key_size=4, value_size=8,
                   max_entries=4)
    syscall._pages_lock.acquire()  # as if another thread were allocating a slot
    pid = os.fork()
    if pid == 0:
        signal.alarm(20)  # a deadlocked child dies instead of outliving the test
        try:
            with Map(spec) as c:
                c[1] = 5
                assert c[1] == (5).to_bytes(8, sys.byteorder)
        except BaseException as e:
            print("child failed:", repr(e), flush=True)
            os._exit(1)
        os._exit(0)
    syscall._pages_lock.release()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, status
    print("ok")
"""


@pytest.mark.skipif(not X86_64, reason="the machine-code trampoline exists for x86_64 only")
def test_child_forked_while_slots_were_locked_can_bind_calls() -> None:
    # Without the lock rebuilt in the child, the child's Map() blocks forever (timeout).
    assert _run(FORK_WHILE_LOCKED, env={"EBPF_NO_TRAMPOLINE": "0"}).split() == ["ok"]


# --- executable memory refused ------------------------------------------------------------------

PR_SET_MDWE = 65
PR_GET_MDWE = 66
PR_MDWE_REFUSE_EXEC_GAIN = 1

# Memory-deny-write-execute (Linux 6.3+), set for this process only: from then on mprotect()
# may not make a page executable (EACCES). The library must fall back to ctypes calls.
MDWE_CHILD = f"""
    import ctypes, errno, mmap, sys
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl({PR_SET_MDWE}, {PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0) == 0
    assert libc.prctl({PR_GET_MDWE}, 0, 0, 0, 0) & {PR_MDWE_REFUSE_EXEC_GAIN}
    # The refusal is real: a fresh page may not become executable.
    page = mmap.mmap(-1, mmap.PAGESIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(page))
    assert libc.mprotect(ctypes.c_void_p(addr), ctypes.c_size_t(mmap.PAGESIZE),
                         mmap.PROT_READ | mmap.PROT_EXEC) == -1
    assert ctypes.get_errno() == errno.EACCES
    from ebpf.internal.sys import FastCall, trampoline_available
    from ebpf.map import Map, MapSpec
    from ebpf.types import MapType
    assert trampoline_available() is False
    with Map(MapSpec(name="mdwe", type=MapType.HASH, key_size=4, value_size=8,
                     max_entries=8)) as m:
        for k in range(5):
            m[k] = k * k
        assert [int.from_bytes(m[k], sys.byteorder) for k in range(5)] == [0, 1, 4, 9, 16]
        del m[2]
        assert 2 not in m and 3 in m
    print("ok")
"""


MDWE_PROBE = f"""
    import ctypes, errno
    libc = ctypes.CDLL(None, use_errno=True)
    ok = libc.prctl({PR_SET_MDWE}, {PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0) == 0
    print("mdwe" if ok else errno.errorcode.get(ctypes.get_errno(), "?"))
"""


def _require_mdwe() -> None:
    """Skip unless this kernel has PR_SET_MDWE (the probe runs in a throw-away process)."""
    answer = _run(MDWE_PROBE).strip()
    if answer == "EINVAL":  # conclusive: the kernel does not know the option
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+) to refuse executable memory")
    assert answer == "mdwe", answer


@pytest.mark.skipif(not X86_64, reason="the machine-code trampoline exists for x86_64 only")
def test_trampoline_falls_back_when_executable_memory_is_refused() -> None:
    _require_mdwe()
    assert _run(MDWE_CHILD, env={"EBPF_NO_TRAMPOLINE": "0"}).split() == ["ok"]


MDWE_LATER = f"""
    import ctypes, sys
    from ebpf.internal.sys import Cmd, FastCall, MapElemAttr, syscall, trampoline_available
    from ebpf.map import Map, MapSpec
    from ebpf.types import MapType
    assert trampoline_available() is True  # the first page was mapped before the refusal
    attr = MapElemAttr()
    # Fill every page mapped so far, so that the next call needs a new one.
    free = sum(len(page.free) for page in syscall._pages)
    held = [FastCall(Cmd.MAP_LOOKUP_ELEM, ctypes.addressof(attr), ctypes.sizeof(attr))
            for _ in range(free)]
    assert not any(page.free for page in syscall._pages)
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl({PR_SET_MDWE}, {PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0) == 0
    with Map(MapSpec(name="mdwe_late", type=MapType.ARRAY, key_size=4, value_size=8,
                     max_entries=8)) as m:
        m[1] = 11
        assert m[1] == (11).to_bytes(8, sys.byteorder)
    print("ok")
"""


@pytest.mark.skipif(not X86_64, reason="the machine-code trampoline exists for x86_64 only")
def test_calls_fall_back_when_a_later_trampoline_page_is_refused() -> None:
    _require_mdwe()
    assert _run(MDWE_LATER, env={"EBPF_NO_TRAMPOLINE": "0"}).split() == ["ok"]


# A finalizer may run at any allocation, also while this thread holds the slot lock (e.g. the
# cyclic garbage collector freeing a map while a new trampoline page is being set up).
FREE_UNDER_LOCK = """
    import ctypes, signal
    from ebpf.internal.sys import Cmd, FastCall, MapElemAttr, syscall
    assert syscall.trampoline_available()
    signal.alarm(20)  # a deadlock kills the process instead of hanging the test
    attr = MapElemAttr()
    call = FastCall(Cmd.MAP_LOOKUP_ELEM, ctypes.addressof(attr), ctypes.sizeof(attr))
    with syscall._pages_lock:
        del call  # its finalizer frees the slot right here
    again = FastCall(Cmd.MAP_LOOKUP_ELEM, ctypes.addressof(attr), ctypes.sizeof(attr))
    print("ok")
"""


@pytest.mark.skipif(not X86_64, reason="the machine-code trampoline exists for x86_64 only")
def test_slot_freed_while_the_lock_is_held() -> None:
    assert _run(FREE_UNDER_LOCK, env={"EBPF_NO_TRAMPOLINE": "0"}).split() == ["ok"]
