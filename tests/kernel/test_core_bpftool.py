"""Differential test: the instructions this library loads for a CO-RE object are the ones
``bpftool prog loadall`` (libbpf) loads, as the kernel holds them after verification, apart
from map ids."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ebpf.asm import Instructions, PseudoLoad
from ebpf.collection import Collection
from ebpf.elf_reader import load_collection_spec
from ebpf.map import Map
from ebpf.program import Program

pytestmark = pytest.mark.kernel

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
OBJECTS = sorted(p.name[:-7] for p in TESTDATA.glob("*-el.elf")
                 if p.name.startswith(("core_", "tool_")) and "unguarded" not in p.name)


def map_name(map_id: int) -> str:
    with Map.from_id(map_id) as m:
        return m.name


def normalised(insns: Instructions) -> list[tuple[int, int, int, int, int]]:
    """The instructions as plain tuples, map ids (which differ between loads) zeroed; offsets
    into map values, ``.kconfig`` included, are kept."""
    out = []
    for ins in insns:
        constant = ins.constant
        if ins.is_ldimm64 and int(ins.src) in (PseudoLoad.MAP_FD, PseudoLoad.MAP_VALUE):
            constant &= ~0xFFFF_FFFF  # keep a map value's offset, drop the map id
        out.append((ins.opcode, int(ins.dst), int(ins.src), ins.offset, constant))
    return out


def bpftool_programs(obj: Path, pin_dir: str
                     ) -> dict[str, list[tuple[int, int, int, int, int]]]:
    tool = shutil.which("bpftool")
    if tool is None:
        pytest.skip("bpftool is not installed")
    where = os.path.join(pin_dir, obj.name.replace(".", "_"))
    proc = subprocess.run([tool, "prog", "loadall", str(obj), where], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = {}
    try:
        for name in sorted(os.listdir(where)):
            show = subprocess.run([tool, "-j", "prog", "show", "pinned",
                                   os.path.join(where, name)],
                                  capture_output=True, text=True, check=True)
            with Program.from_id(json.loads(show.stdout)["id"]) as prog:
                out[name] = normalised(prog.xlated_instructions())
    finally:
        shutil.rmtree(where, ignore_errors=True)
    return out


@pytest.mark.parametrize("name", OBJECTS)
def test_same_instructions_as_bpftool(name: str, pin_dir: str) -> None:
    obj = TESTDATA / f"{name}-el.elf"
    theirs = bpftool_programs(obj, pin_dir)
    spec = load_collection_spec(obj)
    with Collection(spec) as coll:
        ours = {n: normalised(p.xlated_instructions()) for n, p in coll.programs.items()}
    assert sorted(theirs) == sorted(ours)
    for n, insns in ours.items():
        assert insns == theirs[n], n
