"""``ebpf run``: a real object loaded and attached by a separate ``ebpf`` process, events the
test causes printed as they arrive, histogram maps printed as histograms, and a clean exit at
``--duration`` or Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

import pytest

from ebpf.histogram import log2_histogram

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[2]
SUFFIX = "el" if sys.byteorder == "little" else "eb"
EXEC_EVENTS = ROOT / "examples" / "bpf" / f"exec_events-{SUFFIX}.elf"
CLI_RUN = ROOT / "testdata" / f"cli_run-{SUFFIX}.elf"

MARKER = 0x5E << 24  # cli_run.c counts only getpgid() calls whose argument carries it
VALUES = (1, 2, 3, 5, 100)
HIST = [1, 2, 1, 0, 0, 0, 1]  # the log2 slots of VALUES


@contextmanager
def ebpf_run(*args: str) -> Iterator[subprocess.Popen[str]]:
    """``ebpf run ARGS`` in a child process, stdout and stderr piped; killed if the test
    fails before it ends."""
    proc = subprocess.Popen([sys.executable, "-m", "ebpf", "run", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def read_until(stream: IO[str] | None, predicate: object, lines: list[str]) -> str:
    """Read lines into ``lines`` until one satisfies ``predicate``; that line."""
    assert stream is not None and callable(predicate)
    for line in stream:
        lines.append(line)
        if predicate(line):
            return line
    raise AssertionError("ebpf run ended before the expected line:\n" + "".join(lines))


def trigger() -> None:
    for v in VALUES:
        with suppress(ProcessLookupError):  # no such process: only the tracepoint matters
            os.getpgid(MARKER + v)


def test_run_prints_exec_events_until_the_duration_ends() -> None:
    lines: list[str] = []
    # (every command name in the table: a busy machine execs many others meanwhile)
    with ebpf_run(str(EXEC_EVENTS), "--duration", "2", "--max-entries", "100000") as proc:
        read_until(proc.stdout, lambda line: line.startswith("watching "), lines)
        for _ in range(3):
            subprocess.run(["/bin/true"], check=True)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines.extend(out.splitlines(keepends=True))
    assert lines[0] == "attached trace_exec (tp_btf/sched_process_exec)\n"
    # The three children of this process, decoded through the object's struct exec_event.
    mine = f" ppid={os.getpid()} "
    events = [line for line in lines if " events: " in line and mine in line]
    assert len(events) == 3, "".join(lines)
    for e in events:
        assert f" comm=true parent={comm()} filename=/bin/true" in e or \
            f" comm=true parent={comm()} filename=/usr/bin/true" in e, e
    assert "argc_log2 (array):" in out  # the example's log2 map, shown as a histogram
    assert "execs_by_comm (hash)" in out
    assert any(line.split()[:1] == ["true"] for line in out.splitlines())


def without_counts(histogram: str) -> str:
    """A histogram's text with its counts blanked: the same for any multiple of its counts
    (another run of this test at the same time adds the same values to the shared map)."""
    return re.sub(r" : \d+ +\|", " : N |", histogram)


def test_run_shows_histograms_and_stops_at_ctrl_c() -> None:
    lines: list[str] = []
    pid = os.getpid()
    with ebpf_run(str(CLI_RUN), "--interval", "0.2") as proc:
        read_until(proc.stdout, lambda line: line.startswith("watching "), lines)
        trigger()
        read_until(proc.stdout, lambda line: f" events: pid={pid} value=100 " in line, lines)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert err == ""
    text = "".join(lines) + out
    assert lines[0] == "attached on_getpgid (raw_tp/sys_enter)\n"
    assert lines[1] == "watching 1 event map and 4 maps (until Ctrl-C)\n"
    events = [line.split(" ", 1)[1] for line in text.splitlines()
              if f" events: pid={pid} " in line]
    assert events == [f"events: pid={pid} value={v} comm={comm()}" for v in VALUES]

    # The last view of the maps, printed after Ctrl-C, holds every count.
    final = out.split("value_hist (array):\n")[-1]
    shared = final.split("\n\n")[0]
    assert without_counts(shared) == without_counts(log2_histogram(HIST))
    assert f"key = {pid}\n{log2_histogram(HIST)}\n" in final.split("pid_hists (hash):\n")[1]
    calls = final.split("calls (hash), ")[1].split("\n\n")[0].splitlines()
    assert calls[1].split() == ["KEY", "VALUE"]
    assert [str(pid), "5"] in [row.split() for row in calls[2:]]


def comm() -> str:
    with open("/proc/self/comm", encoding="utf-8") as f:
        return f.read().strip()


def test_run_json_lines() -> None:
    lines: list[str] = []
    with ebpf_run(str(CLI_RUN), "--json", "--interval", "0.2") as proc:
        read_until(proc.stdout, lambda line: '"watching"' in line, lines)
        trigger()
        read_until(proc.stdout, lambda line: '"event"' in line and '"value": 100' in line
                   and f'"pid": {os.getpid()},' in line, lines)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    records = [json.loads(line) for line in "".join(lines).splitlines() + out.splitlines()]
    assert records[0] == {"type": "attached", "program": "on_getpgid",
                          "section": "raw_tp/sys_enter"}
    assert records[1]["type"] == "watching" and records[1]["event_maps"] == ["events"]
    events = [r["value"] for r in records
              if r["type"] == "event" and r["value"]["pid"] == os.getpid()]
    assert events == [{"pid": os.getpid(), "value": v, "comm": comm()} for v in VALUES]
    final = [r for r in records if r["type"] == "maps"][-1]["maps"]
    assert final["value_hist"]["kind"] == "log2_histogram"
    counts = final["value_hist"]["counts"]
    runs = counts[0] // HIST[0]  # this test's runs at the time (1 unless run twice at once)
    assert counts == [runs * n for n in HIST] + [0] * (len(counts) - len(HIST))
    mine = [h for h in final["pid_hists"]["histograms"] if h["key"] == os.getpid()]
    assert [h["counts"][:len(HIST)] for h in mine] == [HIST]
    assert {"key": os.getpid(), "value": 5} in final["calls"]["entries"]


def test_run_reports_what_it_cannot_do(tmp_path: Path) -> None:
    missing = subprocess.run([sys.executable, "-m", "ebpf", "run", str(tmp_path / "nope.o")],
                             capture_output=True, text=True, check=False)
    assert missing.returncode == 3
    assert "nope.o: no such file" in missing.stderr and "Traceback" not in missing.stderr

    for decode, message in (("events=no_such_type", "no type named 'no_such_type'"),
                            ("calls=run_event", "no ring buffer or perf event array called "
                                                "calls"),
                            ("events", "write MAP=TYPE")):
        bad = subprocess.run([sys.executable, "-m", "ebpf", "run", str(CLI_RUN),
                              "--duration", "0.1", "--decode", decode],
                             capture_output=True, text=True, check=False)
        assert bad.returncode == 2, bad.stderr
        assert message in bad.stderr and "Traceback" not in bad.stderr

    # A socket filter has no hook to attach to by section: nothing can run.
    globals_obj = ROOT / "testdata" / f"globals-{SUFFIX}.elf"
    none = subprocess.run([sys.executable, "-m", "ebpf", "run", str(globals_obj),
                           "--duration", "0.1"], capture_output=True, text=True, check=False)
    assert none.returncode == 1
    assert "use_globals (socket) not attached" in none.stderr
    assert "no program could be attached" in none.stderr
    assert "Traceback" not in none.stderr


# --- the histogram helpers, on the kinds of maps `ebpf run` reads ------------------------------

def test_histogram_helpers_read_real_maps() -> None:
    import ebpf
    from ebpf.histogram import (
        HistogramError,
        counts_from_map,
        histogram_layout,
        histograms_from_map,
    )
    from ebpf.types import MapType

    with ebpf.load_collection(CLI_RUN) as coll:
        value_hist, pid_hists = coll.maps["value_hist"], coll.maps["pid_hists"]
        assert histogram_layout(value_hist) == "slots"
        assert histogram_layout(pid_hists) == "by_key"
        assert histogram_layout(coll.maps["calls"]) is None
        assert histogram_layout(coll.maps["events"]) is None
        for slot, n in enumerate(HIST):
            value_hist[slot] = n
        assert counts_from_map(value_hist) == HIST + [0] * (24 - len(HIST))
        pid_hists[7] = {"slots": HIST + [0] * (24 - len(HIST)), "total": 1}
        pid_hists[8] = {"slots": [0, 4], "total": 1}
        assert histograms_from_map(pid_hists) == {7: HIST + [0] * (24 - len(HIST)),
                                                  8: [0, 4] + [0] * 22}
        coll.maps["calls"][1 << 20] = 1
        with pytest.raises(HistogramError, match="not a slot index"):
            counts_from_map(coll.maps["calls"])

    # Without BTF: the name says "histogram", per-CPU counts are added up.
    spec = ebpf.MapSpec(name="lat_hist", type=MapType.PERCPU_ARRAY, key_size=4,
                        value_size=8, max_entries=4)
    with ebpf.Map(spec) as m:
        ncpu = len(m[0])
        m[2] = [(5).to_bytes(8, sys.byteorder)] * ncpu
        assert histogram_layout(m) == "slots"
        assert counts_from_map(m) == [0, 0, 5 * ncpu, 0]
    spec = ebpf.MapSpec(name="raw_hists", type=MapType.HASH, key_size=4, value_size=16,
                        max_entries=4)
    with ebpf.Map(spec) as m:
        m[3] = b"".join(n.to_bytes(4, sys.byteorder) for n in (1, 0, 2, 0))
        assert histogram_layout(m) is None  # no BTF says what the 16 bytes are
        assert histograms_from_map(m) == {3: [1, 0, 2, 0]}
        assert histograms_from_map(m, slot_size=8) == {
            3: [1, 2] if sys.byteorder == "little" else [1 << 32, 2 << 32]}
