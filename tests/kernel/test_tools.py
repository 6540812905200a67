"""The realistic tools in testdata/tool_*.c: they load on this kernel (CO-RE against its BTF,
kconfig and ksym externs), and once attached (raw tracepoint / tp_btf, through a minimal
BPF_RAW_TRACEPOINT_OPEN of our own) the values their CO-RE reads produce are the right ones."""

from __future__ import annotations

import ctypes
import mmap
import os
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from ebpf import Collection, CollectionSpec
from ebpf.elf_reader import load_collection_spec
from ebpf.internal.kernel import kernel_version
from ebpf.internal.sys import RawTracepointOpenAttr, commands
from ebpf.map import Map
from ebpf.program import Program
from tests.support import kallsyms, kernel_config

pytestmark = pytest.mark.kernel

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
TOOLS = ["execsnoop", "opensnoop", "runqlat", "tcpconnect", "biolatency"]


def tool(name: str) -> CollectionSpec:
    return load_collection_spec(TESTDATA / f"tool_{name}-el.elf")


@contextmanager
def attached(*progs: tuple[Program, str | None]) -> Iterator[None]:
    """Attach raw_tp programs to the named tracepoints (None: tp_btf, whose target is in the
    program), detaching on exit."""
    with ExitStack() as stack:
        for prog, name in progs:
            buf = ctypes.create_string_buffer(name.encode()) if name else None
            attr = RawTracepointOpenAttr(name=ctypes.addressof(buf) if buf else 0,
                                         prog_fd=prog.fd)
            fd = commands.raw_tracepoint_open(attr, "attach")
            stack.callback(fd.close)
        yield


def ringbuf_records(m: Map) -> list[bytes]:
    """Consume every committed record of ring buffer map ``m``."""
    size = m.max_entries
    page = mmap.PAGESIZE
    with mmap.mmap(m.fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE) as cons, \
            mmap.mmap(m.fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ,
                      offset=page) as prod:
        (cpos,) = struct.unpack_from("<Q", cons, 0)
        (ppos,) = struct.unpack_from("<Q", prod, 0)
        out = []
        while cpos < ppos:
            at = page + (cpos & (size - 1))
            (hdr,) = struct.unpack_from("<I", prod, at)
            if hdr & (1 << 31):      # busy: not committed yet
                break
            length = hdr & ~(3 << 30)
            if not hdr & (1 << 30):  # not discarded
                out.append(bytes(prod[at + 8:at + 8 + length]))
            cpos += (length + 8 + 7) & ~7
        struct.pack_into("<Q", cons, 0, cpos)
    return out


def kver() -> int:
    major, minor, patch = kernel_version()
    return (major << 16) | (minor << 8) | min(patch, 255)


@pytest.mark.parametrize("name", TOOLS)
def test_tool_loads(name: str) -> None:
    with Collection(tool(name)) as coll:
        assert coll.programs


EXEC = struct.Struct("<8I16s128s")


def test_execsnoop_sees_our_child() -> None:
    spec = tool("execsnoop")
    spec.variables["target_ppid"].set(os.getpid())
    with Collection(spec) as coll:
        with attached((coll.programs["execsnoop"], None)):
            child = subprocess.Popen(["/bin/true"])
            child.wait()
        events = [EXEC.unpack(r[:EXEC.size]) for r in ringbuf_records(coll.maps["events"])]
        by_uid = coll.maps["execs_by_uid"][os.getuid()]
    mine = [e for e in events if e[0] == child.pid]
    assert len(mine) == 1, events
    _, ppid, uid, old_pid, version, hz, wrapper, jit, comm, filename = mine[0]
    cfg = kernel_config()
    assert (ppid, uid, old_pid) == (os.getpid(), os.getuid(), child.pid)
    assert comm.rstrip(b"\0") == b"true"
    assert filename.rstrip(b"\0") == b"/bin/true"
    assert version == kver()
    assert hz == int(cfg["CONFIG_HZ"])
    assert wrapper == 1                                   # x86_64 has __x64_sys_* wrappers
    assert jit == {"y": 1, "m": 2}.get(cfg.get("CONFIG_BPF_JIT", "n"), 0)
    assert by_uid >= 1


def test_opensnoop_reads_the_syscall_registers(tmp_path: Path) -> None:
    target = tmp_path / "opened-by-the-test"
    target.write_text("x")
    spec = tool("opensnoop")
    spec.variables["target_tgid"].set(os.getpid())
    result: list[tuple[int, int]] = []

    def do_open() -> None:
        fd = os.open(target, os.O_RDONLY | os.O_CLOEXEC)
        result.append((fd, threading.get_native_id()))
        os.close(fd)

    with Collection(spec) as coll:
        with attached((coll.programs["opensnoop_enter"], "sys_enter"),
                      (coll.programs["opensnoop_exit"], "sys_exit")):
            t = threading.Thread(target=do_open)
            t.start()
            t.join()
        summary = coll.maps["summaries"][os.getpid()]
        in_flight = len(list(coll.maps["start"].keys()))
    fd, tid = result[0]
    comm = Path("/proc/self/comm").read_text().strip()
    assert summary["opens"] >= 1
    assert summary["last_fname"] == str(target)[:63]
    assert summary["last_ret"] == fd
    assert summary["last_flags"] == os.O_RDONLY | os.O_CLOEXEC
    assert summary["last_tid"] == tid
    assert summary["last_comm"] == comm[:15]
    assert in_flight == 0


def test_runqlat_histograms_our_wakeups() -> None:
    spec = tool("runqlat")
    spec.variables["target_tgid"].set(os.getpid())

    def sleeper() -> None:
        for _ in range(50):
            time.sleep(0.001)

    with Collection(spec) as coll:
        progs = coll.programs
        with attached((progs["runqlat_wakeup"], None), (progs["runqlat_wakeup_new"], None),
                      (progs["runqlat_switch"], None)):
            t = threading.Thread(target=sleeper)
            t.start()
            t.join()
        hist = coll.maps["hists"][os.getpid()]
        weak = coll.variables["weak_kfunc_present"].get_bytes()
    assert hist["count"] >= 10
    assert sum(hist["slots"]) == hist["count"]
    assert hist["total_ns"] > 0
    assert hist["leader_pid"] == os.getpid()
    assert hist["comm"] == Path("/proc/self/comm").read_text().strip()[:15]
    assert weak == bytes(8)       # the __weak kfunc is missing: its guarded call was dead


CONN = struct.Struct("<2I4H2I16s16s16s")


def test_tcpconnect_sees_our_connection() -> None:
    with Collection(tool("tcpconnect")) as coll:
        with socket.socket() as server, socket.socket() as client:
            server.bind(("127.0.0.1", 0))
            server.listen()
            port = server.getsockname()[1]
            with attached((coll.programs["tcpconnect"], None)):
                client.connect(("127.0.0.1", port))
            sport = client.getsockname()[1]
        events = [CONN.unpack(r[:CONN.size]) for r in ringbuf_records(coll.maps["events"])]
        count = coll.maps["conns_by_port"][socket.htons(port)]
        v = coll.variables
        addr = struct.unpack("<Q", v["tcp_v4_connect_addr"].get_bytes())[0]
        missing = struct.unpack("<Q", v["no_such_symbol_addr"].get_bytes())[0]
        version = struct.unpack("<I", v["kernel_version"].get_bytes())[0]
    mine = [e for e in events if socket.ntohs(e[4]) == port]
    assert len(mine) == 1, events
    pid, uid, family, e_sport, dport, _, saddr, daddr, _, _, comm = mine[0]
    loopback = struct.unpack("<I", socket.inet_aton("127.0.0.1"))[0]
    assert (pid, uid, family, e_sport, socket.ntohs(dport)) == (
        os.getpid(), os.getuid(), socket.AF_INET, sport, port)
    assert (saddr, daddr) == (loopback, loopback)
    assert comm.rstrip(b"\0").decode() == Path("/proc/self/comm").read_text().strip()[:15]
    assert count == 1
    assert addr == kallsyms("tcp_v4_connect") and missing == 0
    assert version == kver()


BIO = struct.Struct("<4I2Q2I32s")


def test_biolatency_times_our_direct_io() -> None:
    st = os.stat("/")
    disk_dir = Path(tempfile.gettempdir())
    if os.stat(disk_dir).st_dev != st.st_dev:
        disk_dir = Path("/var/tmp")
    with Collection(tool("biolatency")) as coll:
        progs = coll.programs
        buf = mmap.mmap(-1, 64 * 1024)
        buf.write(b"x" * len(buf))
        fd, path = tempfile.mkstemp(dir=disk_dir)
        os.close(fd)
        try:
            with attached((progs["biolatency_insert"], None),
                          (progs["biolatency_issue"], None),
                          (progs["biolatency_complete"], None)):
                fd = os.open(path, os.O_RDWR | os.O_DIRECT)
                try:
                    os.write(fd, buf)
                    os.fsync(fd)
                    os.preadv(fd, [buf], 0)
                finally:
                    os.close(fd)
        finally:
            os.unlink(path)
            buf.close()
        events = [BIO.unpack(r[:BIO.size]) for r in ringbuf_records(coll.maps["events"])]
        hists = list(coll.maps["hists"].items())
    dev = os.stat(disk_dir).st_dev
    major, minor = os.major(dev), os.minor(dev)
    mine = [e for e in events if (e[0], e[1]) == (major, minor)]
    assert mine, events[:5]
    disk = Path(f"/sys/dev/block/{major}:{minor}/uevent").read_text()
    devname = dict(line.split("=", 1) for line in disk.split())["DEVNAME"]
    assert {e[8].rstrip(b"\0").decode() for e in mine} == {devname}
    assert any(e[3] >= len(b"x" * 4096) for e in mine)
    assert all(e[5] > 0 for e in mine)
    counts = [v["count"] for k, v in hists if (k["major"], k["minor"]) == (major, minor)]
    assert counts and sum(counts) == len(mine)
