"""Modules written by ``ebpf gen`` load and run their object: ``load()`` with typed constants,
programs run with ``test_run``, map values and ring buffer records decode through the
generated ctypes types, globals read and write through ``objs.variables``."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import ebpf
from ebpf import ringbuf
from ebpf.gen import generate

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = ROOT / "testdata"
PACKET = bytes(range(64))
SKB_LEN = len(PACKET) - 14  # socket filters see the packet after the Ethernet header

_counter = iter(range(1_000_000))


def _import(source: str, directory: Path) -> ModuleType:
    name = f"gen_kernel_{next(_counter)}"
    path = directory / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def gen_types(tmp_path: Path) -> Iterator[ModuleType]:
    module = _import(generate(TESTDATA / "gen_types-el.elf"), tmp_path)
    yield module
    sys.modules.pop(module.__name__, None)


@pytest.fixture
def gen_globals(tmp_path: Path) -> Iterator[ModuleType]:
    module = _import(generate(TESTDATA / "globals-el.elf"), tmp_path)
    yield module
    sys.modules.pop(module.__name__, None)


def test_load_run_and_decode(gen_types: ModuleType) -> None:
    g = gen_types
    with g.load(verdict=1, origin=g.Point(x=11, y=-12)) as objs:  # XDP_DROP
        assert isinstance(objs.fill, ebpf.Program) and isinstance(objs.flows, ebpf.Map)
        assert objs.fill.test_run(PACKET).retval == 1

        items = list(objs.flows_view.items())
        assert len(items) == 1
        key, value = items[0]
        assert isinstance(key, g.FlowKey) and isinstance(value, g.FlowValue)
        assert (key.addr, key.port, key.proto, g.Color(key.color)) == (0x0a000001, 80, 6,
                                                                        g.Color.BLUE)
        assert value.packets == 1
        assert [(p.x, p.y) for p in value.where] == [(11, -12), (1, 2)]
        assert (value.range.lo, value.range.hi) == (10, 20)
        assert value.as_u32 == 0x04030201 and list(value.as_bytes) == [1, 2, 3, 4]
        assert (value.small, value.medium, value.big) == (5, 9, 0xabcde)
        assert value.seen is True and (value.ratio, value.weight) == (1.5, 2.5)
        assert g.Delta(value.trend) is g.Delta.DOWN and g.Wide(value.width) is g.Wide.WIDE_BIG
        assert value.label == b"flow!"
        # The same value as the library's BTF decoding sees it.
        decoded = objs.flows[bytes(key)]
        assert decoded["big"] == 0xabcde and decoded["trend"] == "DOWN"
        assert objs.flows_view[key].packets == 1 and key in objs.flows_view

        # Writing through the view: the kernel's copy changes.
        value.packets = 41
        objs.flows_view[key] = value
        assert objs.flows_view[key].packets == 41 and objs.flows_view[key].big == 0xabcde
        assert objs.fill.test_run(PACKET).retval == 1
        assert objs.flows_view[key].packets == 2  # the program counts `runs`, not packets
        assert objs.flows_view.get(g.FlowKey(addr=9)) is None
        del objs.flows_view[key]
        assert list(objs.flows_view.keys()) == []

        points = objs.per_cpu_points_view[0]
        assert len(points) == ebpf.possible_cpus()
        assert sum(p.x for p in points) == 2 and sum(p.y for p in points) == -2
        objs.per_cpu_points_view[1] = [g.Point(x=i, y=i) for i in range(len(points))]
        assert [p.x for p in objs.per_cpu_points_view[1]] == list(range(len(points)))

        with ringbuf.Reader(objs.records, decode=g.Record) as reader:
            first, second = reader.read(timeout=0), reader.read(timeout=0)
        for seq, record in ((1, first.value), (2, second.value)):
            assert isinstance(record, g.Record)
            assert (record.seq, record.packed.kind, record.packed.value, record.packed.tail) \
                == (seq, 2, 0x11223344, 0x5566)
            assert (record.comm, record.aligned, record.u.pt.x, record.u.pt.y) == (
                b"abcd", 0x7777, -1, 1)

        v = objs.variables
        assert (v.runs, v.last_color, v.verdict, v.origin.x) == (2, g.Color.GREEN, 1, 11)
        v.runs = 100
        v.last_point = g.Point(x=7, y=8)
        objs.fill.test_run(PACKET)
        assert [(p.x, p.y) for p in objs.flows_view[key].where] == [(11, -12), (7, 8)]
        assert objs.flows_view[key].packets == 101
        with pytest.raises(ebpf.MarshalError, match="read-only"):
            v.verdict = 2
    assert objs.fill is None or objs.fill.closed
    assert objs.flows.closed and objs.records.closed


def test_constant_changes_result(gen_globals: ModuleType) -> None:
    g = gen_globals
    results = {}
    for multiplier in (None, 5):
        with g.load(ro_multiplier=multiplier) as objs:
            assert objs.use_globals.test_run(PACKET).retval == SKB_LEN
            v = objs.variables
            results[multiplier] = v.bss_totals.bytes
            assert isinstance(v.bss_totals, g.Totals)
            assert (v.data_totals.packets, v.data_totals.last_len) == (1, SKB_LEN)
            assert v.data_counter == 101 and v.bss_flag == 1
    seed = 0x0123456789abcdef % 16
    assert results == {None: SKB_LEN * 3 + seed, 5: SKB_LEN * 5 + seed}

    # A struct constant, set on a spec before loading: the clamp limit.
    spec = g.load_spec()
    g.Variables(spec.variables).ro_config = g.Config(mode=1, limit=10, seed=0, tag=b"t")
    with g.load(spec=spec) as objs:
        assert objs.use_globals.test_run(PACKET).retval == 10
        assert objs.variables.ro_config.tag == b"t"


def test_renamed_constants(tmp_path: Path) -> None:
    module = _import(generate(TESTDATA / "gen_names-el.elf"), tmp_path)
    try:
        with module.load(spec2=10, ebpf2=20, options2=30, objs2=40) as objs:
            assert objs.load.test_run(PACKET).retval == 100
            objs.close2_view[module.Any2(x=1)] = module.Objects2(y=5)
            assert objs.close2_view[module.Any2(x=1)].y == 5
            assert (objs.variables.l_, objs.variables.match_) == (1, 1)
        with module.load(a_really_long_constant_name_that_also_goes_on_for_quite_some_time=7
                         ) as objs:
            objs.load.test_run(PACKET)
            view = objs.a_really_long_map_name_that_goes_on_and_on_for_a_while_view
            assert view[0].a_rather_long_member_name_for_counting_things == 7
    finally:
        sys.modules.pop(module.__name__, None)


def test_options_and_load_and_assign(tmp_path: Path, pin_dir: str) -> None:
    """``load(options=...)`` reaches the loader (a map pinned by name), and ``Objects`` works
    with the library's own ``load_and_assign`` too."""
    module = _import(generate(TESTDATA / "maps-el.elf"), tmp_path)
    try:
        with module.load(options=ebpf.CollectionOptions(pin_path=pin_dir)) as objs:
            objs.pinned_stats_view[7] = module.PktStats(packets=1, bytes=2)
            assert (Path(pin_dir) / "pinned_stats").exists()
            with ebpf.Map.load_pinned(Path(pin_dir) / "pinned_stats") as pinned:
                assert pinned[7] == {"packets": 1, "bytes": 2}
            objs.stats_view[0] = module.PktStats(packets=3, bytes=4)
            assert objs.stats[0] == {"packets": 3, "bytes": 4}
        spec = module.load_spec()
        spec.maps["pinned_stats"].pinning = ebpf.PinType.NONE
        with ebpf.load_and_assign(spec, module.Objects()) as objs:
            assert isinstance(objs.count_packets, ebpf.Program)
            assert objs.stats_view[0].packets == 0
    finally:
        sys.modules.pop(module.__name__, None)


def test_beside_module_loads(tmp_path: Path) -> None:
    shutil.copy(TESTDATA / "globals-el.elf", tmp_path / "objects.bpf.o")
    module = _import(generate(TESTDATA / "globals-el.elf", embed=False,
                              object_file="objects.bpf.o"), tmp_path)
    try:
        with module.load() as objs:
            assert objs.use_globals.test_run(PACKET).retval == SKB_LEN
    finally:
        sys.modules.pop(module.__name__, None)


def test_view_checks_sizes(gen_types: ModuleType) -> None:
    from ebpf.gen.typed import TypedMap, integer, structure

    with gen_types.load() as objs:
        with pytest.raises(ebpf.MarshalError, match="12-byte keys and 88-byte values"):
            TypedMap(objs.flows, integer(4), structure(gen_types.FlowValue))
        view = objs.flows_view
    with pytest.raises(ebpf.EbpfError, match="not available"):
        objs.variables.runs  # noqa: B018
    with pytest.raises(ebpf.ClosedError):
        list(view.keys())


def test_failed_load_closes_everything(gen_types: ModuleType) -> None:
    g = gen_types
    spec = g.load_spec()
    spec.programs["fill"].instructions = spec.programs["fill"].instructions[:2]  # no exit
    with pytest.raises(ebpf.EbpfError):
        g.load(spec=spec)
