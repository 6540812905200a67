"""Externs filled from the running kernel: Kconfig values of every type, the LINUX_* pseudo
options, typeless and typed __ksym symbols, __weak ones that are absent, kfuncs (present and
absent __weak), and an iterator's attach target."""

from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path

import pytest

from ebpf.collection import Collection
from ebpf.elf_reader import load_collection_spec
from ebpf.internal.kernel import kernel_version
from ebpf.internal.sys import RawTracepointOpenAttr, commands
from tests.support import kallsyms, kernel_config

pytestmark = pytest.mark.kernel

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
VALUES = struct.Struct("<2Q16s32s11Q")


def test_every_kind_of_extern() -> None:
    spec = load_collection_spec(TESTDATA / "core_externs-el.elf")
    with Collection(spec) as coll:
        coll.programs["read_externs"].test_run(ctx=bytes(16))
        raw = coll.variables["values"].get_bytes()
        # the tp_btf program calls kfuncs: attach it briefly so that it runs
        attr = RawTracepointOpenAttr(name=0, prog_fd=coll.programs["acquire_next"].fd)
        commands.raw_tracepoint_open(attr, "attach").close()
        assert "count_tasks" in coll.programs    # iter/task: target resolved and loaded
    (jit, no_tristate, hostname, localversion, hz, no_int, wrapper, version, bpf_syscall,
     no_bool, prog_put, no_symbol, no_typed, kfunc_exists, _) = VALUES.unpack(raw[:VALUES.size])
    cfg = kernel_config()
    major, minor, patch = kernel_version()
    assert jit == {"y": 1, "m": 2}.get(cfg.get("CONFIG_BPF_JIT", "n"), 0)
    assert no_tristate == 0 and no_int == 0 and no_bool == 0
    assert hostname.rstrip(b"\0").decode() == cfg["CONFIG_DEFAULT_HOSTNAME"].strip('"')
    assert localversion.rstrip(b"\0").decode() == cfg["CONFIG_LOCALVERSION"].strip('"')[:31]
    assert hz == int(cfg["CONFIG_HZ"])
    assert wrapper == 1
    assert version == (major << 16) | (minor << 8) | min(patch, 255)
    assert bpf_syscall == 1
    assert prog_put == kallsyms("bpf_prog_put")
    assert (no_symbol, no_typed, kfunc_exists) == (0, 0, 0)


def test_kfunc_program_ran() -> None:
    spec = load_collection_spec(TESTDATA / "core_externs-el.elf")
    with Collection(spec) as coll:
        attr = RawTracepointOpenAttr(name=0, prog_fd=coll.programs["acquire_next"].fd)
        link = commands.raw_tracepoint_open(attr, "attach")
        try:
            for _ in range(20):
                os.sched_yield()
                ctypes.CDLL(None).usleep(1000)
        finally:
            link.close()
        raw = coll.variables["values"].get_bytes()
    acquired = VALUES.unpack(raw[:VALUES.size])[-1]
    assert acquired > 0      # the pid of some task the scheduler switched to
