"""The tracing families of ``ebpf.link`` that the development machine's kernel has, each proven
by what its program counts: tracepoints (over a bpf_link and over the perf event ioctl), raw
tracepoints, tp_btf, software perf events; and the Link base on them: info, pins kept across
processes, ids, clones, update, detach, close.

Every program (testdata/link_trace.c) counts how often the test process itself went through
its hook (its tgid is a constant of the program) and records the cookie it was attached with,
so other processes on the machine cannot change a count.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

import ebpf
from ebpf import features, link
from ebpf.asm import Helper
from ebpf.errors import (
    ClosedError,
    EbpfError,
    NotSupportedError,
    SyscallError,
    UnsupportedFeatureError,
)
from ebpf.internal.kernel import kernel_version, online_cpus
from ebpf.link import _perf_attach
from ebpf.types import LinkType, ProgramType

from ..support import fd_is_open

pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parents[2]
OBJECT = REPO / "testdata" / "link_trace-el.elf"
TP, TP_OTHER, RAW, BTF, SAMPLE = range(5)
GETPID_NR = {"x86_64": 39, "aarch64": 172, "riscv64": 172, "s390x": 20, "ppc64le": 20}
N = 50


@dataclass
class Objects(ebpf.Objects):
    tp_getpid: ebpf.Program = ebpf.field("tp_getpid")
    tp_getpid_other: ebpf.Program = ebpf.field("tp_getpid_other")
    raw_getpid: ebpf.Program = ebpf.field("raw_getpid")
    btf_getpid: ebpf.Program = ebpf.field("btf_getpid")
    sample: ebpf.Program = ebpf.field("sample")
    counts: ebpf.Map = ebpf.field("counts")
    cookies: ebpf.Map = ebpf.field("cookies")


@functools.cache
def raw_tp_cookies() -> bool:
    """raw_tp and tp_btf programs have cookies (Linux 6.10; the VM runner's 6.1 guest not)."""
    return features.is_supported(features.have_helper, ProgramType.RAW_TRACEPOINT,
                                 Helper.get_attach_cookie)


def perf_link_info() -> bool:
    """The kernel describes perf event links itself (Linux 6.6): a link opened by id or pin
    names its event. Before, only the Link that attached knows what it attached."""
    return kernel_version() >= (6, 6)


def shown_cookie(cookie: int) -> dict[str, int]:
    """The cookie as the info of a raw_tp or tp_btf link shows it: bpf_link_info has it from
    Linux 6.13 (the VM runner's 6.12 has the cookies but shows none)."""
    return {"cookie": cookie} if kernel_version() >= (6, 13) else {}


def load_objects(tgid: int) -> Objects:
    spec = ebpf.load_collection_spec(OBJECT)
    spec.variables["target_tgid"].set(tgid)
    spec.variables["getpid_nr"].set(GETPID_NR[os.uname().machine])
    spec.variables["raw_tp_cookies"].set(raw_tp_cookies())
    return spec.load_and_assign(Objects())


@pytest.fixture(scope="module")
def objs() -> Iterator[Objects]:
    with load_objects(os.getpid()) as o:
        yield o


@pytest.fixture
def counts(objs: Objects) -> Iterator[ebpf.Map]:
    """The counters and cookies, zeroed for each test."""
    for slot in range(5):
        objs.counts[slot] = 0
        objs.cookies[slot] = 0
    yield objs.counts


def count(m: ebpf.Map, slot: int) -> int:
    return int(m[slot])


def getpids(n: int) -> None:
    for _ in range(n):
        os.getpid()  # a real getpid(2) each time: glibc does not cache it


# --- tracepoints ---------------------------------------------------------------------------------

def test_tracepoint_counts_getpid_exactly(objs: Objects, counts: ebpf.Map, tracefs: str) -> None:
    with link.tracepoint("syscalls", "sys_enter_getpid", objs.tp_getpid,
                         cookie=0xC0FFEE_0123) as lk:
        assert lk.mechanism is link.Mechanism.BPF_LINK
        getpids(N)
        assert count(counts, TP) == N
        assert count(objs.cookies, TP) == 0xC0FFEE_0123
        info = lk.info()
        assert info.type is LinkType.PERF_EVENT
        assert info.program_id == objs.tp_getpid.info().id
        assert info.target is not None
        assert info.target["perf_event_type"] == "tracepoint"
        assert info.target["tp_name"] == "sys_enter_getpid"
        assert info.target["cookie"] == 0xC0FFEE_0123
        raw = lk.fd
    assert lk.closed and not fd_is_open(raw)
    getpids(10)
    assert count(counts, TP) == N  # closing detached the program


def test_tracepoint_over_perf_event_ioctl(objs: Objects, counts: ebpf.Map, tracefs: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The path kernels before 5.15 take (PERF_EVENT_IOC_SET_BPF), forced by making the
    bpf_link feature probe answer "not supported" in this process: the kernel is real."""

    def unsupported() -> None:
        raise UnsupportedFeatureError("BPF_LINK_CREATE for perf events (BPF_PERF_EVENT)",
                                      "5.15")

    monkeypatch.setattr(_perf_attach, "have_perf_link", unsupported)
    with link.tracepoint("syscalls", "sys_enter_getpid", objs.tp_getpid) as lk:
        assert lk.mechanism is link.Mechanism.PERF_EVENT
        getpids(N)
        assert count(counts, TP) == N
        info = lk.info()  # from BPF_TASK_FD_QUERY
        assert info.mechanism is link.Mechanism.PERF_EVENT
        assert info.program_id == objs.tp_getpid.info().id
        assert info.target == {"perf_event_type": "tracepoint", "tp_name": "sys_enter_getpid"}
        with pytest.raises(NotSupportedError, match="cannot be pinned"):
            lk.pin("/sys/fs/bpf/never")
        with pytest.raises(NotSupportedError, match="in place"):
            lk.update(objs.tp_getpid_other)
        with pytest.raises(NotSupportedError, match="cannot be cloned"):
            lk.clone()
    before = count(counts, TP)
    getpids(5)
    assert count(counts, TP) == before  # closing the perf event detached the program

    with pytest.raises(UnsupportedFeatureError, match=r"5\.15") as e:
        link.tracepoint("syscalls", "sys_enter_getpid", objs.tp_getpid, cookie=1)
    assert "cookie" in str(e.value)


def test_raw_tracepoint_counts_getpid_exactly(objs: Objects, counts: ebpf.Map) -> None:
    cookie = 77
    if not raw_tp_cookies():
        with pytest.raises(UnsupportedFeatureError, match=r"raw tracepoint cookies.*6\.10"):
            link.raw_tracepoint("sys_enter", objs.raw_getpid, cookie=77)
        cookie = 0
    with link.raw_tracepoint("sys_enter", objs.raw_getpid, cookie=cookie) as lk:
        getpids(N)
        assert count(counts, RAW) == N
        assert count(objs.cookies, RAW) == cookie
        info = lk.info()
        assert info.type is LinkType.RAW_TRACEPOINT
        assert info.target == {"tp_name": "sys_enter", **shown_cookie(cookie)}
        assert info.program_id == objs.raw_getpid.info().id
    getpids(10)
    assert count(counts, RAW) == N


def test_tp_btf_through_tracing_and_raw_tracepoint(objs: Objects, counts: ebpf.Map) -> None:
    cookie = 5
    if not raw_tp_cookies():
        with pytest.raises(UnsupportedFeatureError, match=r"tp_btf cookies.*6\.10"):
            link.tracing(objs.btf_getpid, cookie=5)
        cookie = 0
    with link.tracing(objs.btf_getpid, cookie=cookie) as lk:
        getpids(N)
        assert count(counts, BTF) == N
        assert count(objs.cookies, BTF) == cookie
        assert lk.info().target == {"tp_name": "sys_enter", **shown_cookie(cookie)}
    with link.raw_tracepoint(None, objs.btf_getpid):
        getpids(N)
    assert count(counts, BTF) == 2 * N
    with link.raw_tracepoint("sys_enter", objs.btf_getpid):
        getpids(1)
    assert count(counts, BTF) == 2 * N + 1
    with pytest.raises(EbpfError, match="loaded for tracepoint 'sys_enter', not 'sys_exit'"):
        link.raw_tracepoint("sys_exit", objs.btf_getpid)


# --- perf events ---------------------------------------------------------------------------------

def busy(seconds: float) -> None:
    """Spin for ``seconds`` of this thread's CPU time (cpu-clock counts that, not wall time,
    which a loaded machine stretches)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_software_perf_event_samples(objs: Objects, counts: ebpf.Map) -> None:
    # cpu-clock of this process, a sample every 100 µs of its CPU time.
    with link.perf_event(objs.sample, type=link.PerfType.SOFTWARE,
                         config=link.SoftwareEvent.CPU_CLOCK, sample_period=100_000,
                         pid=0, cpu=-1, cookie=3) as lk:
        busy(0.05)
        assert count(counts, SAMPLE) >= 50  # 50 ms of CPU: about 500 samples
        assert count(objs.cookies, SAMPLE) == 3
        info = lk.info()
        assert info.type is LinkType.PERF_EVENT
        assert info.target is not None
        assert info.target["perf_event_type"] == "event"
        assert info.target["config"] == link.SoftwareEvent.CPU_CLOCK
        assert info.target["cookie"] == 3
    seen = count(counts, SAMPLE)
    busy(0.02)
    assert count(counts, SAMPLE) == seen


def test_perf_event_on_every_cpu(objs: Objects, counts: ebpf.Map) -> None:
    links = link.perf_event_on_cpus(objs.sample, type=link.PerfType.SOFTWARE,
                                    config=link.SoftwareEvent.CPU_CLOCK, sample_freq=1000)
    try:
        assert len(links) == len(online_cpus())
        assert len({lk.info().id for lk in links}) == len(links)
        busy(0.05)
        assert count(counts, SAMPLE) > 0
    finally:
        for lk in links:
            lk.close()


def test_hardware_event_without_a_pmu(objs: Objects) -> None:
    has_pmu = os.path.exists("/sys/bus/event_source/devices/cpu")
    try:
        lk = link.perf_event(objs.sample, type=link.PerfType.HARDWARE, config=0,  # cycles
                             sample_period=1_000_000, pid=0, cpu=-1)
    except NotSupportedError as e:
        assert not has_pmu, f"the machine has a CPU PMU, yet: {e}"
        assert "hardware perf event" in str(e) and "no such event" in str(e)
        assert isinstance(e.__cause__, SyscallError)
        assert e.__cause__.errno in (errno.ENOENT, errno.EOPNOTSUPP, errno.ENODEV)
    else:
        lk.close()
        assert has_pmu


def test_perf_event_arguments(objs: Objects) -> None:
    with pytest.raises(EbpfError, match="exactly one of sample_period and sample_freq"):
        link.perf_event(objs.sample, type=link.PerfType.SOFTWARE, config=0)
    with pytest.raises(EbpfError, match="pid=-1 and cpu=-1"):
        link.perf_event(objs.sample, type=link.PerfType.SOFTWARE, config=0,
                        sample_period=1, pid=-1, cpu=-1)
    with pytest.raises(EbpfError, match="perf_event takes PERF_EVENT programs"):
        link.perf_event(objs.tp_getpid, type=link.PerfType.SOFTWARE, config=0,
                        sample_period=1)


# --- the Link base -------------------------------------------------------------------------------

CHILD = textwrap.dedent("""
    import json, os, sys
    sys.path.insert(0, sys.argv[1])
    import ebpf
    from ebpf import link
    from tests.kernel.test_link_trace import load_objects
    action, pins, tgid = sys.argv[2], sys.argv[3], int(sys.argv[4])
    if action == "attach":
        # Load, attach, pin the link and the counters, and exit.
        with load_objects(tgid) as objs:
            lk = link.tracepoint("syscalls", "sys_enter_getpid", objs.tp_getpid, cookie=42)
            lk.pin(os.path.join(pins, "link"))
            objs.counts.pin(os.path.join(pins, "counts"))
            print(json.dumps({"link_id": lk.info().id}))
            lk.close()
    else:
        with link.load_pinned(os.path.join(pins, "link")) as lk:
            info = lk.info()
            print(json.dumps({"id": info.id, "program_id": info.program_id,
                              "type": int(info.type), "target": info.target}))
""")


def run_child(*args: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(REPO), *args], check=True,
                         capture_output=True, text=True, timeout=120)
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_pinned_link_outlives_its_process(pin_dir: str, tracefs: str) -> None:
    # Another process loads the program (counting this process's getpid calls), attaches,
    # pins link and counters, and exits.
    made = run_child("attach", pin_dir, str(os.getpid()))
    with ebpf.Map.load_pinned(os.path.join(pin_dir, "counts")) as counts:
        before = int(counts[TP])
        getpids(N)
        assert int(counts[TP]) - before == N  # still attached, and counting
        # A third process opens the pin and sees the same link.
        seen = run_child("inspect", pin_dir, "0")
        assert seen["id"] == made["link_id"]
        assert seen["type"] == int(LinkType.PERF_EVENT)
        target = seen["target"]
        assert isinstance(target, dict)
        if perf_link_info():
            assert target["tp_name"] == "sys_enter_getpid" and target["cookie"] == 42
        else:  # only the attaching process knew; the kernel says what kind of link it is
            assert target == {"perf_event_type": 0}
        getpids(N)
        assert int(counts[TP]) - before == 2 * N  # closing a load_pinned link keeps it

        lk = link.load_pinned(os.path.join(pin_dir, "link"))
        assert lk.pinned_path == os.path.join(pin_dir, "link")
        assert lk.info().id == made["link_id"]
        by_id = link.from_id(lk.info().id)
        assert by_id.info().program_id == seen["program_id"]
        by_id.close()
        lk.detach()  # unpins (perf event links cannot be detached in place) and closes
        assert lk.closed
        assert not os.path.exists(os.path.join(pin_dir, "link"))
        getpids(N)
        assert int(counts[TP]) - before == 2 * N
        with pytest.raises(SyscallError) as e:
            link.from_id(int(str(made["link_id"])))
        assert e.value.errno == errno.ENOENT


def test_pin_and_detach_raw_tracepoint(objs: Objects, counts: ebpf.Map, pin_dir: str) -> None:
    path = os.path.join(pin_dir, "raw")
    lk = link.raw_tracepoint("sys_enter", objs.raw_getpid)
    lk.pin(path)
    lk.close()  # pinned: still attached
    getpids(N)
    assert count(counts, RAW) == N
    again = link.load_pinned(path)
    assert again.info().target == {"tp_name": "sys_enter", **shown_cookie(0)}
    again.detach()
    assert not os.path.exists(path)
    getpids(N)
    assert count(counts, RAW) == N


def test_from_id_and_clone_are_independent_owners(objs: Objects, counts: ebpf.Map,
                                                   tracefs: str) -> None:
    lk = link.tracepoint("syscalls", "sys_enter_getpid", objs.tp_getpid)
    twin = lk.clone()
    other = link.from_id(lk.info().id)
    assert twin.info() == lk.info()
    assert lk.info().target == {"perf_event_type": "tracepoint", "tp_name": "sys_enter_getpid",
                                "cookie": 0}
    if perf_link_info():
        assert other.info() == lk.info()
    else:  # a link opened by id has what the kernel says: the kind of link, not the event
        assert other.info() == replace(lk.info(), target={"perf_event_type": 0})
    lk.close()
    with pytest.raises(ClosedError):
        lk.info()
    getpids(N)
    assert count(counts, TP) == N  # the clone and the id's descriptor keep it attached
    twin.close()
    getpids(N)
    assert count(counts, TP) == 2 * N
    other.close()
    getpids(N)
    assert count(counts, TP) == 2 * N


def test_links_without_in_place_update(objs: Objects, tracefs: str) -> None:
    with link.tracepoint("syscalls", "sys_enter_getpid", objs.tp_getpid) as lk, \
            pytest.raises(NotSupportedError, match="cannot change its program in place"):
        lk.update(objs.tp_getpid_other)
    with link.raw_tracepoint("sys_enter", objs.raw_getpid) as lk, \
            pytest.raises(NotSupportedError, match="cannot change its program in place"):
        lk.update(objs.raw_getpid)


# --- errors --------------------------------------------------------------------------------------

def bpf_fds() -> set[int]:
    """This process's descriptors of BPF objects and perf events."""
    out = set()
    for n in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{n}")
        except FileNotFoundError:  # the directory listing's own descriptor
            continue
        if target.startswith(("anon_inode:bpf", "anon_inode:[perf")):
            out.add(int(n))
    return out


def test_missing_tracepoint_names_what_was_looked_for(objs: Objects, tracefs: str) -> None:
    before = bpf_fds()
    with pytest.raises(EbpfError) as e:
        link.tracepoint("syscalls", "sys_enter_no_such_call", objs.tp_getpid)
    assert "syscalls:sys_enter_no_such_call" in str(e.value)
    assert os.path.join("events", "syscalls", "sys_enter_no_such_call", "id") in str(e.value)
    with pytest.raises(SyscallError, match="no tracepoint 'no_such_tp'") as e2:
        link.raw_tracepoint("no_such_tp", objs.raw_getpid)
    assert e2.value.errno == errno.ENOENT
    with pytest.raises(EbpfError, match="invalid event group"):
        link.tracepoint("../..", "x", objs.tp_getpid)
    assert bpf_fds() == before


def test_wrong_program_type_is_named(objs: Objects, tracefs: str) -> None:
    before = bpf_fds()
    with pytest.raises(EbpfError, match="'raw_getpid' is a RAW_TRACEPOINT program; "
                                        "tracepoint takes TRACEPOINT programs"):
        link.tracepoint("syscalls", "sys_enter_getpid", objs.raw_getpid)
    with pytest.raises(EbpfError, match="raw_tracepoint takes RAW_TRACEPOINT or "
                                        "RAW_TRACEPOINT_WRITABLE or TRACING programs"):
        link.raw_tracepoint("sys_enter", objs.tp_getpid)
    with pytest.raises(EbpfError, match="kprobe takes KPROBE programs"):
        link.kprobe("do_sys_openat2", objs.tp_getpid)
    with pytest.raises(EbpfError, match="tracing takes TRACING or EXT or LSM programs"):
        link.tracing(objs.sample)
    with pytest.raises(EbpfError, match="needs the name of the tracepoint"):
        link.raw_tracepoint(None, objs.raw_getpid)
    with pytest.raises(EbpfError, match="cookie must be an int"):
        link.raw_tracepoint("sys_enter", objs.raw_getpid, cookie=-1)
    assert bpf_fds() == before


def test_attach_after_close_fails_cleanly(tracefs: str) -> None:
    objs = load_objects(os.getpid())
    prog = objs.tp_getpid
    objs.close()
    with pytest.raises(ClosedError):
        link.tracepoint("syscalls", "sys_enter_getpid", prog)
