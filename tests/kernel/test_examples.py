"""Every example in examples/ runs and prints what it promises: values the kernel produced, checked
against what the test knows independently (the packets it sent, the sizes it allocated ...)."""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.unit.userbins import REQUIRE, require_tool

pytestmark = pytest.mark.kernel

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(script: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_demo_shows_live_execs_then_the_maps() -> None:
    out = run("demo.py", "--seconds", "2.5")
    assert "Attached: <BPFLink bpf_link RAW_TRACEPOINT" in out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()
            and "/" in line]
    # The demo's own commands, seen by the kernel program as they exec: uname, ls, sh ...
    files = {row[-1] for row in rows}
    assert {"/usr/bin/uname", "/usr/bin/ls"} <= files or {"/bin/uname", "/bin/ls"} <= files
    assert any(row[3] == "python3" or row[3].startswith("python") for row in rows)
    assert f"Detached after {len(rows)} events." in out
    # The per-command table shows the ten busiest commands: on a busy machine the demo's own
    # may not be among them. Its counts come from the same execs as the events, so they are
    # positive and in order, and the histogram counted at least every exec that was read.
    table = out.split("Execs by command:")[1].split("arguments :")[0]
    counts = [int(line.split()[-1]) for line in table.splitlines() if line.strip()]
    assert counts and counts == sorted(counts, reverse=True) and min(counts) >= 1
    assert "2 -> 3" in out  # the log2 histogram of argument counts (uname -r: 2)
    assert sum(histogram(out).values()) >= len(rows)


def test_xdp_counter_loads_the_bundled_object_and_reads_its_results() -> None:
    out = run("xdp_counter.py")
    assert "Read xdp_counter-" in out
    assert "Set the constant drop_icmp = 1" in out
    # Both ICMP packets are dropped because of the .rodata constant; the rest pass.
    assert out.count("XDP_DROP") == 2 and out.count("XDP_PASS") == 6
    rows = {line.split()[0]: line.split()[-1] for line in out.splitlines()
            if line.strip().startswith(("ICMP", "TCP", "UDP"))}
    assert rows == {"ICMP": "2", "TCP": "2", "UDP": "2"}
    assert "not IPv4             2" in out
    assert "total_packets=8" in out and "last_protocol=65535" in out


def test_asm_demo_counts_protocols() -> None:
    out = run("asm_demo.py")
    assert out.count("XDP_DROP") == 2
    assert "total" in out


# --- the tour of attach families (examples/README.md) ------------------------------------------

def run_failing(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True,
                          text=True, timeout=120, check=False)


def histogram(out: str) -> dict[int, int]:
    """The rows of a printed log2 histogram: {bucket low bound: count}."""
    return {int(m.group(1)): int(m.group(3))
            for m in re.finditer(r"^\s*(\d+) -> (\d+)\s*: (\d+)", out, re.M)}


MALLOCS_C = r"""
#include <stdlib.h>
/* Known requests: 100 of 3000 bytes, 7 of 1.5 MB, 3 of 0 bytes (kept, so none is elided). */
static void *volatile keep[110];
int main(void)
{
    for (int i = 0; i < 100; i++) keep[i] = malloc(3000);
    for (int i = 0; i < 7; i++) keep[100 + i] = malloc(1500000);
    for (int i = 0; i < 3; i++) keep[107 + i] = malloc(0);
    for (int i = 0; i < 110; i++) free(keep[i]);
    return 0;
}
"""


def test_uprobe_malloc_sees_every_allocation_of_the_command(tmp_path: Path) -> None:
    exe = gcc(tmp_path / "mallocs", MALLOCS_C)
    out = run("uprobe_malloc.py", "--", str(exe))
    assert "Attached 'uprobe/libc.so.6:malloc' to pid " in out
    assert "(pid " in out and "exited with status 0" in out
    buckets = histogram(out)
    # malloc(3000) is in 2048..4095, malloc(1500000) in 2^20..2^21-1, malloc(0) in 0..1: all
    # of them, counted from the command's first instruction (the C runtime may add a few small
    # requests of its own, but none of those sizes).
    assert buckets[2048] == 100 and buckets[1 << 20] == 7 and buckets[0] == 3
    calls = re.search(r"malloc\(\) calls: (\d+)", out)
    assert calls is not None and int(calls.group(1)) == sum(buckets.values()) >= 110


def test_uprobe_malloc_refuses_to_trace_everything_forever() -> None:
    proc = run_failing("uprobe_malloc.py")
    assert proc.returncode == 2 and "needs --seconds" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_usdt_probe_prints_the_arguments_the_program_passed() -> None:
    require_sdt_header()
    out = run("usdt_probe.py", "4")
    assert "Attached to demo:request in usdt_target: 1 site(s)" in out
    firings = re.findall(r"^\s*pid (\d+)\s+(demo:\w+)\s+\((.*)\)$", out, re.M)
    names = ["alpha", "beta", "gamma", "delta"]
    assert [(probe, args) for _, probe, args in firings] == [
        *[("demo:request", f"{i}, {1000 * (i + 1)}, '{names[i]}-{i}'") for i in range(4)],
        ("demo:done", "4")]
    pid = re.search(r"usdt_target \(pid (\d+)\) exited with status 0", out)
    assert pid is not None and {p for p, _, _ in firings} == {pid.group(1)}
    assert "5 firings" in out


def test_tcx_filter_drops_the_port_and_lets_the_rest_through() -> None:
    require_tool("ip")
    out = run("tcx_filter.py", "--packets", "5")
    assert "<BPFLink bpf_link TCX" in out or "NETLINK" in out  # tc on kernels before 6.6
    port = re.search(r"Dropping UDP to port (\d+)\.", out)
    assert port is not None
    assert f"port {port.group(1):<5} (filtered): 0 of 5 arrived" in out
    assert re.search(r"port \d+\s+\(other\):\s+5 of 5 arrived", out)
    assert re.search(r"packets=\d+ .* matched=5 dropped=5", out)
    netns = re.search(r"namespace (ebpf-example-\d+)", out)
    assert netns is not None and netns.group(1) not in subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout


def test_tcx_filter_only_counts_when_told_to() -> None:
    require_tool("ip")
    out = run("tcx_filter.py", "--packets", "3", "--count-only")
    assert "Counting UDP to port" in out
    assert out.count("3 of 3 arrived") == 2
    assert re.search(r"matched=3 dropped=0", out)


def test_cgroup_connect_refuses_the_port_inside_the_cgroup_only() -> None:
    out = run("cgroup_connect.py")
    lines = [line.split(" -> ") for line in out.splitlines() if "the cgroup: connect" in line]
    blocked = re.search(r"Connections to port (\d+) are refused", out)
    assert blocked is not None
    port = blocked.group(1)
    verdicts = {(where.split()[0], where.rsplit(":", 1)[1].strip()): verdict
                for where, verdict in lines}
    assert verdicts.pop(("inside", port)) == "refused: EPERM (Operation not permitted)"
    assert len(verdicts) == 3 and set(verdicts.values()) == {"connected"}
    assert "refused=1 allowed=1" in out
    cgroup = re.search(r"Made the cgroup (\S+)", out)
    assert cgroup is not None and not Path(cgroup.group(1)).exists()


CONNECT = ("import socket, sys\n"
           "with socket.socket() as s:\n"
           "    print('errno', s.connect_ex(('127.0.0.1', int(sys.argv[1]))))\n")


def test_cgroup_connect_runs_a_command_inside_the_cgroup() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port = str(server.getsockname()[1])
        out = run("cgroup_connect.py", "--port", port, "--",
                  sys.executable, "-c", CONNECT, port)
        assert f"errno {errno.EPERM}" in out and "refused=1 allowed=0" in out
        with socket.create_connection(("127.0.0.1", int(port)), timeout=10):
            pass                                # this process was never in the cgroup


def test_task_iter_lists_this_process() -> None:
    out = run("task_iter.py")
    rows = [line.split(None, 3) for line in out.splitlines()[1:] if line[:7].strip().isdigit()]
    mine = [row for row in rows if row[0] == str(os.getpid())]
    comm = Path("/proc/self/comm").read_text().strip()
    assert mine == [[str(os.getpid()), str(os.getpid()), str(os.getppid()), comm]]
    assert re.search(rf"^{len(rows)} processes, listed by the BPF program 'list_tasks'", out,
                     re.M)
    # One line per process: no tid differs from its pid.
    assert all(row[0] == row[1] for row in rows)


def test_task_iter_lists_the_threads_of_one_process() -> None:
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        out = run("task_iter.py", "--pid", str(os.getpid()), "--threads")
    finally:
        stop.set()
        worker.join()
    tids = {int(line.split()[1]) for line in out.splitlines()[1:] if line[:7].strip().isdigit()}
    assert {os.getpid(), worker.native_id} <= tids
    assert f"{len(tids)} threads, listed by" in out


def test_globals_config_constants_before_load_data_and_bss_after() -> None:
    out = run("globals_config.py", "--calls", "7", "--weight", "3")
    assert re.search(r"target_tid\s+\.rodata\s+constant", out)
    assert re.search(r"weight\s+\.data\s+variable\s+initial value 1", out)
    assert "variable 'target_tid' is in the frozen map '.rodata'" in out
    rows = re.findall(r"calls=(\d+)\s+weighted_calls=(\d+)", out)
    # Seven getpid() calls with weight 1, seven with weight 3, seven after detaching.
    assert rows == [("7", "7"), ("14", "28"), ("14", "28")]


def gcc(out: Path, source: str) -> Path:
    require_tool("gcc")
    src = out.with_suffix(".c")
    src.write_text(source)
    subprocess.run(["gcc", "-O2", "-o", str(out), str(src)], check=True, timeout=120)
    return out


def require_sdt_header() -> None:
    """Skip (fail under EBPF_REQUIRE_KERNEL=1) when cc cannot include <sys/sdt.h>."""
    require_tool("cc")
    proc = subprocess.run(["cc", "-E", "-x", "c", "-"], input="#include <sys/sdt.h>\n",
                          capture_output=True, text=True, check=False, timeout=60)
    if proc.returncode != 0:
        reason = "<sys/sdt.h> is not installed (Debian: systemtap-sdt-dev)"
        if REQUIRE:
            pytest.fail(f"EBPF_REQUIRE_KERNEL=1 but {reason}", pytrace=False)
        pytest.skip(reason)


# --- ebpf gen: generate a typed module, check code against it with mypy, run it --------------

TYPO = """from xdp_counter_objects import load

with load(drop_icmp=1) as objs:
    print(objs.variables.total_pakets)
"""


def gen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ebpf", "gen",
                           str(EXAMPLES / "bpf" / "xdp_counter-el.elf"), *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_committed_generated_module_is_current() -> None:
    module = EXAMPLES / "xdp_counter_objects.py"
    check = gen("-o", str(module), "--check")
    assert check.returncode == 0, (
        f"{module.name} is stale: regenerate it with `python3 -m ebpf gen "
        f"examples/bpf/xdp_counter-el.elf -o examples/xdp_counter_objects.py`\n"
        f"{check.stdout}{check.stderr}")


def test_generated_module_is_generated_type_checked_and_run(tmp_path: Path) -> None:
    example = tmp_path / "generated_module.py"
    shutil.copy(EXAMPLES / "generated_module.py", example)
    missing = subprocess.run([sys.executable, str(example)], capture_output=True, text=True,
                             timeout=120, check=False)
    assert missing.returncode == 1 and "generate the module first" in missing.stderr

    # A fresh module next to a copy of the example, as a user would make it.
    fresh = gen("-o", str(tmp_path / "xdp_counter_objects.py"))
    assert fresh.returncode == 0, fresh.stderr

    proc = subprocess.run([sys.executable, str(example)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "with drop_icmp=1" in out
    verdicts = re.findall(r"^\s+(\w+)\s+\d+ bytes -> (\w+)$", out, re.M)
    assert verdicts == [("TCP", "XDP_PASS"), ("ICMP", "XDP_DROP"), ("UDP", "XDP_PASS"),
                        ("ICMP", "XDP_DROP"), ("TCP", "XDP_PASS")]
    assert "proto_counts: 1=2, 6=2, 17=1" in out
    assert "total_packets=5 total_bytes=1286 last_protocol=6" in out

    # The module's types are real: the example checks clean, a misspelt global does not.
    # (MYPYPATH: an editable install is found by an import hook, which mypy does not run.)
    (tmp_path / "typo.py").write_text(TYPO)
    mypy = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                           "--cache-dir", str(tmp_path / "mypy_cache"), "generated_module.py",
                           "typo.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, check=False,
                          env={**os.environ, "MYPYPATH": str(EXAMPLES.parent)})
    errors = [line for line in mypy.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, mypy.stdout
    assert errors[0].startswith("typo.py:4: error:") and "total_pakets" in errors[0]
