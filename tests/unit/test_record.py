"""The specs and options built by :mod:`ebpf.internal.record` behave as dataclasses do."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle

import pytest

import ebpf
from ebpf.asm import R1, Instruction
from ebpf.internal import dataclasses_compat, record


def test_keyword_construction_defaults_repr_eq() -> None:
    spec = ebpf.MapSpec(name="m", type=ebpf.MapType.HASH, key_size=4, value_size=8,
                        max_entries=1)
    assert spec.contents == [] and spec.contents is not ebpf.MapSpec().contents
    assert repr(spec).startswith("MapSpec(name='m', type=<MapType.HASH: 1>, key_size=4,")
    assert spec == copy.deepcopy(spec) and spec != ebpf.MapSpec()
    assert spec.__hash__ is None
    with pytest.raises(TypeError):
        ebpf.MapSpec(nonsense=1)  # type: ignore[call-arg]
    assert list(inspect.signature(ebpf.MapSpec).parameters)[:3] == ["name", "type", "key_size"]


def test_frozen_and_keyword_only() -> None:
    opts = ebpf.ProgramOptions(log_level=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.log_level = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        ebpf.ProgramOptions(1)  # type: ignore[misc]
    assert hash(opts) == hash(ebpf.ProgramOptions(log_level=1))
    assert pickle.loads(pickle.dumps(opts)) == opts


def test_dataclasses_api_works_on_records() -> None:
    spec = ebpf.MapSpec(name="m", max_entries=3)
    assert dataclasses.is_dataclass(spec)
    assert [f.name for f in dataclasses.fields(spec)][:2] == ["name", "type"]
    assert dataclasses.replace(spec, name="n").name == "n"
    assert dataclasses.asdict(spec)["max_entries"] == 3
    for mod in (record, dataclasses_compat):
        assert mod.replace(spec, max_entries=4) == dataclasses.replace(spec, max_entries=4)
        assert [f.name for f in mod.fields(spec)] == [f.name for f in dataclasses.fields(spec)]
    assert dataclasses_compat.is_dataclass(ebpf.MapSpec)


def test_slotted_frozen_instruction() -> None:
    ins = Instruction(0xB7, R1, constant=5, symbol="f")
    assert not hasattr(ins, "__dict__")
    assert ins.__match_args__ == ("opcode", "dst", "src", "offset", "constant")
    assert ins == ins.with_source("x") and hash(ins) == hash(ins.with_source("x"))
    assert pickle.loads(pickle.dumps(ins)) == ins and copy.deepcopy(ins) == ins
    assert dataclasses.replace(ins, constant=6) == record.replace(ins, constant=6)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ins.constant = 1  # type: ignore[misc]
