"""Helpers of the event reader tests: loading the test programs, running them, attaching a
tracepoint program with a raw perf event (``ebpf.link`` is not used here on purpose)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import ebpf
from ebpf.internal.unix import PerfEventAttr, PerfIoctl, PerfType, perf_event_ioctl, perf_event_open

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
PACKET = b"\0" * 64


def load(name: str, **max_entries: int) -> ebpf.Collection:
    """Load ``testdata/NAME-el.elf`` (the host is little endian), resizing maps by name."""
    spec = ebpf.load_collection_spec(TESTDATA / f"{name}-el.elf")
    for map_name, n in max_entries.items():
        spec.maps[map_name].max_entries = n
    return ebpf.Collection(spec)


def spec_types(name: str) -> ebpf.btf.Spec:
    types = ebpf.load_collection_spec(TESTDATA / f"{name}-el.elf").types
    assert types is not None
    return types


def run(coll: ebpf.Collection, program: str, times: int) -> None:
    """Run an XDP program ``times`` times (each run outputs one record)."""
    res = coll.programs[program].test_run(PACKET, repeat=times)
    assert res.retval == 2, f"{program} returned {res.retval}"  # XDP_PASS


@contextlib.contextmanager
def on_cpu(cpu: int) -> Iterator[None]:
    """Run this thread on ``cpu`` only (so test_run outputs go to one perf ring)."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@contextlib.contextmanager
def tracepoint(tracefs: str, group: str, name: str, prog: ebpf.Program) -> Iterator[None]:
    """Run ``prog`` on tracepoint ``group/name`` for this thread, through a perf event."""
    with open(os.path.join(tracefs, "events", group, name, "id")) as f:
        tp_id = int(f.read())
    attr = PerfEventAttr(type=PerfType.TRACEPOINT, config=tp_id, sample_period=1,
                         wakeup_events=1)
    with perf_event_open(attr, pid=0, cpu=-1, what=f"tracepoint {group}/{name}") as fd:
        perf_event_ioctl(fd.raw, PerfIoctl.SET_BPF, prog.fd)
        perf_event_ioctl(fd.raw, PerfIoctl.ENABLE)
        yield
