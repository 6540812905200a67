"""The examples the README points at run and print what they promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
    assert "uname            1" in out and "ls               1" in out
    assert "2 -> 3" in out  # the log2 histogram of argument counts


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
