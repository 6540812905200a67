"""The CO-RE engine on the objects in testdata, against the recorded vmlinux BTF (no kernel)."""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

import pytest

from ebpf.btf import Spec, Struct, load_spec_from_bytes
from ebpf.btf.core import POISON_HELPER, CORERelocKind, COREResolver, relocate
from ebpf.elf_reader import load_collection_spec
from ebpf.linker import ProgramBTF, core_relocations

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
CORE_OBJECTS = sorted(p.name[:-7] for p in TESTDATA.glob("*-el.elf")
                      if p.name.startswith(("core_", "tool_")))


@functools.cache
def vmlinux() -> Spec:
    return load_spec_from_bytes(gzip.decompress((TESTDATA / "vmlinux.btf.gz").read_bytes()))


@pytest.mark.parametrize("order", ["el", "eb"])
@pytest.mark.parametrize("name", CORE_OBJECTS)
def test_every_program_relocates(name: str, order: str) -> None:
    spec = load_collection_spec(TESTDATA / f"{name}-{order}.elf")
    for pname, prog in spec.programs.items():
        pbtf = prog.btf
        assert isinstance(pbtf, ProgramBTF)
        relos = core_relocations(prog.instructions, pbtf)
        out, applied = relocate(prog.instructions, relos, COREResolver(pbtf.spec, vmlinux()),
                                context=pname)
        assert out.slots == prog.instructions.slots
        poisoned = [a.fixup.description for a in applied if a.fixup.poison]
        # only the accesses to fields this kernel lacks (flavored types, guarded where the
        # program must load) are poisoned
        assert all("___old" in d or "___missing" in d for d in poisoned), poisoned
        if pname == "unguarded":
            assert poisoned


def test_task_fields_get_the_recorded_kernel_offsets() -> None:
    spec = load_collection_spec(TESTDATA / "core_task-el.elf")
    prog = spec.programs["task_probed"]
    pbtf = prog.btf
    assert isinstance(pbtf, ProgramBTF)
    task = vmlinux().type_by_name("task_struct", Struct)
    _, applied = relocate(prog.instructions, core_relocations(prog.instructions, pbtf),
                          COREResolver(pbtf.spec, vmlinux()))
    offsets = {a.fixup.description.split(": ")[1].split(" ")[0]: a.fixup.target
               for a in applied if a.fixup.kind == CORERelocKind.FIELD_BYTE_OFFSET}
    assert offsets["task_struct.pid"] == task.member("pid").offset // 8
    assert offsets["task_struct.tgid"] == task.member("tgid").offset // 8
    assert offsets["task_struct.comm"] == task.member("comm").offset // 8
    exists = [a.fixup for a in applied if a.fixup.kind == CORERelocKind.FIELD_EXISTS]
    assert [f.target for f in exists] == [0]          # task_struct___old.state: not here


def test_unguarded_program_is_poisoned_where_the_read_is() -> None:
    spec = load_collection_spec(TESTDATA / "core_unguarded-el.elf")
    prog = spec.programs["unguarded"]
    pbtf = prog.btf
    assert isinstance(pbtf, ProgramBTF)
    relos = core_relocations(prog.instructions, pbtf)
    out, applied = relocate(prog.instructions, relos, COREResolver(pbtf.spec, vmlinux()))
    slot = applied[0].slot
    pos = 0
    for ins in out:
        if pos == slot:
            assert ins.is_helper_call and ins.constant == POISON_HELPER
        pos += ins.slots
