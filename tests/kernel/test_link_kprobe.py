"""kprobes through ``ebpf.link``: kprobe and kretprobe (kprobe PMU, and tracefs with
``maxactive``), the syscall_kprobe convention, kprobe_multi with patterns and cookies, and kprobe
sessions; each proven by what its program counts of the test process's own calls.

The development kernel has no kprobes: there these tests skip, naming the conclusive reason.
They run in the VM runner's guests (``python3 scripts/vm.py --kernel all -- -m vm
tests/kernel/test_link_kprobe.py``), where a missing feature fails instead.

Programs: testdata/link_kprobe.c and link_kprobe_session.c.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import ebpf
from ebpf import link
from ebpf.errors import EbpfError
from ebpf.link import kprobes
from ebpf.types import LinkType

from ..support import feature_or_skip

pytestmark = [pytest.mark.kernel, pytest.mark.vm]

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
OPEN_FUNC = "do_sys_openat2"  # once per open(2), in 6.1 and 6.12
OPEN, OPEN_RET, GETPID, GETPID_RET = range(4)
N = 20


@dataclass
class Objects(ebpf.Objects):
    kp_open: ebpf.Program = ebpf.field("kp_open")
    krp_open: ebpf.Program = ebpf.field("krp_open")
    ks_getpid: ebpf.Program = ebpf.field("ks_getpid")
    krs_getpid: ebpf.Program = ebpf.field("krs_getpid")
    kpm: ebpf.Program = ebpf.field("kpm")
    counts: ebpf.Map = ebpf.field("counts")
    values: ebpf.Map = ebpf.field("values")
    by_cookie: ebpf.Map = ebpf.field("by_cookie")


@pytest.fixture(scope="module")
def objs() -> Iterator[Objects]:
    spec = ebpf.load_collection_spec(TESTDATA / "link_kprobe-el.elf")
    spec.variables["target_tgid"].set(os.getpid())
    with spec.load_and_assign(Objects()) as o:
        yield o


@pytest.fixture
def fresh(objs: Objects) -> Objects:
    for slot in range(4):
        objs.counts[slot] = 0
        objs.values[slot] = 0
    for key in list(objs.by_cookie.keys()):
        del objs.by_cookie[key]
    return objs


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "target"
    path.write_bytes(b"")
    return path


def opens(path: Path, n: int) -> int:
    """Open ``path`` ``n`` times; the last descriptor number."""
    fd = -1
    for _ in range(n):
        fd = os.open(path, os.O_RDONLY)
        os.close(fd)
    return fd


def getpids(n: int) -> None:
    for _ in range(n):
        os.getpid()


def test_kprobe_and_kretprobe_see_calls_and_results(fresh: Objects, target: Path,
                                                    tracefs: str) -> None:
    with feature_or_skip():
        entry = link.kprobe(OPEN_FUNC, fresh.kp_open, cookie=7)
    with entry, link.kretprobe(OPEN_FUNC, fresh.krp_open) as ret:
        # (attaching the kretprobe read sysfs files: opens of its own, counted already)
        before = int(fresh.counts[OPEN]), int(fresh.counts[OPEN_RET])
        last = opens(target, N)
        assert int(fresh.counts[OPEN]) - before[0] == N
        assert int(fresh.counts[OPEN_RET]) - before[1] == N
        assert int(fresh.values[OPEN]) == 7  # the cookie
        assert int(fresh.values[OPEN_RET]) == last  # do_sys_openat2 returned the descriptor
        for lk, kind in ((entry, "kprobe"), (ret, "kretprobe")):
            info = lk.info()
            assert info.type is LinkType.PERF_EVENT
            assert info.program_id == (fresh.kp_open if lk is entry else fresh.krp_open
                                       ).info().id
            # (before 6.6 the kernel describes no perf event link: the Link asks the perf
            # event with BPF_TASK_FD_QUERY)
            assert info.target is not None
            assert info.target["perf_event_type"] == kind
            assert info.target["func_name"] == OPEN_FUNC
            assert info.target["cookie"] == (7 if lk is entry else 0)
    after = int(fresh.counts[OPEN])
    opens(target, 3)
    assert int(fresh.counts[OPEN]) == after


def test_ksyscall_and_kretsyscall(fresh: Objects, tracefs: str) -> None:
    symbol = link.syscall_symbol("getpid")
    assert symbol in ("__x64_sys_getpid", "sys_getpid")
    with feature_or_skip():
        entry = link.syscall_kprobe("getpid", fresh.ks_getpid, cookie=3)
    with entry, link.syscall_kretprobe("getpid", fresh.krs_getpid):
        getpids(N)
        assert int(fresh.counts[GETPID]) == N
        assert int(fresh.counts[GETPID_RET]) == N
        assert int(fresh.values[GETPID]) == 3
        assert int(fresh.values[GETPID_RET]) == os.getpid()


def test_kretprobe_through_tracefs_with_maxactive(fresh: Objects, target: Path,
                                                  tracefs: str) -> None:
    group = os.path.join(tracefs, "events", f"ebpf_{os.getpid()}")
    with feature_or_skip():
        lk = link.kretprobe(OPEN_FUNC, fresh.krp_open, maxactive=16)
    with lk:
        events = [e for e in os.listdir(group) if e not in ("enable", "filter")]
        assert len(events) == 1 and events[0].startswith("kr_")
        with open(os.path.join(tracefs, "kprobe_events")) as f:
            defs = [line for line in f if f"ebpf_{os.getpid()}/" in line]
        assert len(defs) == 1 and defs[0].startswith("r16:") and OPEN_FUNC in defs[0]
        before = int(fresh.counts[OPEN_RET])
        last = opens(target, N)
        assert int(fresh.counts[OPEN_RET]) - before == N
        assert int(fresh.values[OPEN_RET]) == last
    assert not os.path.exists(os.path.join(group, events[0]))  # removed with the Link
    after = int(fresh.counts[OPEN_RET])
    opens(target, 3)
    assert int(fresh.counts[OPEN_RET]) == after


def test_missing_symbol_names_where_it_was_looked_for(fresh: Objects, tracefs: str) -> None:
    with feature_or_skip():
        link.kprobe(OPEN_FUNC, fresh.kp_open).close()  # the family works here
    with pytest.raises(EbpfError, match=r"no symbol 'no_such_function_xyz' \(looked for in "
                                        r"/proc/kallsyms\)"):
        link.kprobe("no_such_function_xyz", fresh.kp_open)
    with pytest.raises(EbpfError, match=r"no symbol 'no_such_function_xyz'"):
        link.kretprobe("no_such_function_xyz", fresh.krp_open, maxactive=4)  # tracefs
    group = os.path.join(tracefs, "events", f"ebpf_{os.getpid()}")
    assert not os.path.exists(group) or set(os.listdir(group)) <= {"enable", "filter"}
    with pytest.raises(EbpfError, match="no function matches 'no_such_function_\\*'"):
        link.kprobe_multi("no_such_function_*", fresh.kpm)


def test_kprobe_multi_with_cookies_and_pattern(fresh: Objects, target: Path,
                                               tracefs: str) -> None:
    getpid = link.syscall_symbol("getpid")
    with feature_or_skip():
        lk = link.kprobe_multi([OPEN_FUNC, getpid], fresh.kpm, cookies=[11, 22])
    with lk:
        opens(target, N)
        getpids(N // 2)
        info = lk.info()
    assert int(fresh.by_cookie[11]) == N
    assert int(fresh.by_cookie[22]) == N // 2
    assert info.type is LinkType.KPROBE_MULTI
    assert info.target is not None and info.target["count"] == 2

    with link.kprobe_multi("do_sys_openat*", fresh.kpm, cookies={OPEN_FUNC: 33}) as lk:
        opens(target, N)
    assert int(fresh.by_cookie[33]) == N
    with link.kprobe_multi([OPEN_FUNC], fresh.kpm, cookies=[44], retprobe=True):
        opens(target, N)
    assert int(fresh.by_cookie[44]) == N


@dataclass
class SessionObjects(ebpf.Objects):
    kps: ebpf.Program = ebpf.field("kps")
    session_counts: ebpf.Map = ebpf.field("session_counts")


def test_kprobe_session_runs_at_entry_and_return(target: Path, tracefs: str) -> None:
    with feature_or_skip():
        kprobes._have_kprobe_session()  # 6.10+: skips on 6.1
    spec = ebpf.load_collection_spec(TESTDATA / "link_kprobe_session-el.elf")
    spec.variables["target_tgid"].set(os.getpid())
    with spec.load_and_assign(SessionObjects()) as objs:
        with link.kprobe_multi([OPEN_FUNC], objs.kps, session=True):
            opens(target, N)
        assert int(objs.session_counts[0]) == N
        assert int(objs.session_counts[1]) == N
