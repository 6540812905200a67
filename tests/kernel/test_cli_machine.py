"""``ebpf list``, ``show``, ``map`` and ``features`` on objects the tests load, through the
command line's entry point: what they print for people and for machines, and exit statuses."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import ebpf
from ebpf import link
from ebpf.cli import main
from ebpf.types import MapType

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[2]
GLOBALS = ROOT / "testdata" / "globals-el.elf"
CLI_RUN = ROOT / "testdata" / "cli_run-el.elf"

if sys.byteorder != "little":  # pragma: no cover - the objects are the host's byte order
    GLOBALS = ROOT / "testdata" / "globals-eb.elf"
    CLI_RUN = ROOT / "testdata" / "cli_run-eb.elf"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run one command; its exit status, stdout and stderr."""
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    status, out, err = cli(capsys, "--json", *argv)
    assert status == 0, err
    return json.loads(out)


@pytest.fixture
def globals_coll() -> Iterator[ebpf.Collection]:
    with ebpf.load_collection(GLOBALS) as coll:
        yield coll


@pytest.fixture
def run_coll() -> Iterator[ebpf.Collection]:
    with ebpf.load_collection(CLI_RUN) as coll:
        yield coll


@pytest.fixture
def raw_map() -> Iterator[ebpf.Map]:
    spec = ebpf.MapSpec(name="cli_raw", type=MapType.HASH, key_size=4, value_size=8,
                        max_entries=4)
    with ebpf.Map(spec) as m:
        yield m


def test_list_progs_shows_a_loaded_program(capsys: pytest.CaptureFixture[str],
                                           globals_coll: ebpf.Collection) -> None:
    prog = globals_coll.programs["use_globals"]
    info = prog.info()
    status, out, _ = cli(capsys, "list", "progs")
    assert status == 0
    assert out.splitlines()[0].split()[:4] == ["ID", "TYPE", "NAME", "TAG"]
    row = [line.split() for line in out.splitlines() if line.split()[0] == str(info.id)]
    assert len(row) == 1
    assert row[0][1:4] == ["socket_filter", "use_globals", info.tag]

    records = cli_json(capsys, "list", "progs")
    assert isinstance(records, list)
    mine = [r for r in records if r["id"] == info.id]
    assert len(mine) == 1
    assert mine[0]["name"] == "use_globals"
    assert mine[0]["type"] == "socket_filter"
    assert mine[0]["tag"] == info.tag
    assert sorted(mine[0]["map_ids"]) == sorted(
        m.info().id for m in globals_coll.maps.values())


def test_list_maps_and_btf(capsys: pytest.CaptureFixture[str],
                           globals_coll: ebpf.Collection) -> None:
    data = globals_coll.maps[".data"].info()
    records = cli_json(capsys, "list", "maps")
    assert isinstance(records, list)
    (mine,) = [r for r in records if r["id"] == data.id]
    assert (mine["name"], mine["type"], mine["key_size"], mine["value_size"]) == (
        ".data", "array", 4, data.value_size)
    status, out, _ = cli(capsys, "list", "maps")
    assert status == 0
    assert any(line.split()[:3] == [str(data.id), "array", ".data"]
               for line in out.splitlines())

    prog_id = globals_coll.programs["use_globals"].info().id
    btf = cli_json(capsys, "list", "btf")
    assert isinstance(btf, list)
    (obj,) = [b for b in btf if b["id"] == data.btf_id]
    assert prog_id in obj["prog_ids"] and data.id in obj["map_ids"]
    assert any(b["kernel"] and b["name"] == "vmlinux" for b in btf)


def test_show_prog_has_the_translated_instructions(capsys: pytest.CaptureFixture[str],
                                                   globals_coll: ebpf.Collection) -> None:
    info = globals_coll.programs["use_globals"].info()
    data_id = globals_coll.maps[".data"].info().id
    status, out, _ = cli(capsys, "show", "prog", str(info.id))
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"{info.id}: socket_filter  name use_globals  tag {info.tag}")
    assert f"{data_id} (.data)" in out
    listing = lines[lines.index("") + 1:]  # the instructions follow the first blank line
    instructions = [line for line in listing if re.match(r"\s*\d+: ", line)]
    assert instructions[0].split(":")[0].strip() == "0"
    assert any(line.rstrip().endswith("exit") for line in instructions)
    assert any(str(data_id) in line for line in instructions)  # map references by id

    record = cli_json(capsys, "show", "prog", str(info.id))
    assert isinstance(record, dict)
    assert record["id"] == info.id and record["xlated_size"] == info.xlated_size
    assert {"id": data_id, "name": ".data"} in record["maps"]
    assert any(line.rstrip().endswith("exit") for line in record["xlated"])

    # by name too
    status, by_name, _ = cli(capsys, "show", "prog", "use_globals")
    assert status == 0 and by_name.splitlines()[0] == lines[0]


def test_map_roundtrip_on_a_map_without_btf(capsys: pytest.CaptureFixture[str],
                                            raw_map: ebpf.Map) -> None:
    mid = str(raw_map.info().id)
    assert cli(capsys, "map", "update", mid, "1", "0x0200000000000000")[0] == 0
    assert raw_map[1] == (2).to_bytes(8, sys.byteorder)
    status, out, _ = cli(capsys, "map", "get", mid, "0x01000000")
    assert status == 0
    assert out == f"key: {' '.join(f'{b:02x}' for b in (1).to_bytes(4, sys.byteorder))}  " \
                  f"value: {' '.join(f'{b:02x}' for b in (2).to_bytes(8, sys.byteorder))}\n"

    assert cli(capsys, "map", "update", mid, "01 00 00 00", "3")[0] == 0
    assert raw_map[(1).to_bytes(4, "little")] == (3).to_bytes(8, sys.byteorder)
    assert cli(capsys, "map", "update", mid, "7", "-1", "--flags", "noexist")[0] == 0
    assert raw_map[7] == b"\xff" * 8

    status, out, _ = cli(capsys, "map", "dump", mid)
    assert status == 0
    assert out.splitlines()[-1] == "2 entries"
    dump = cli_json(capsys, "map", "dump", mid)
    assert isinstance(dump, list)
    assert sorted((e["key"], e["value"]) for e in dump) == sorted([
        ((1).to_bytes(4, sys.byteorder).hex(), (3).to_bytes(8, sys.byteorder).hex()),
        ((7).to_bytes(4, sys.byteorder).hex(), "ff" * 8)])

    assert cli(capsys, "map", "delete", mid, "7")[0] == 0
    assert 7 not in raw_map
    status, _, err = cli(capsys, "map", "delete", mid, "7")
    assert status == 3 and "no key 7" in err
    status, _, err = cli(capsys, "map", "get", mid, "7")
    assert status == 3
    status, _, err = cli(capsys, "map", "update", mid, "9", "1", "--flags", "exist")
    assert status == 3
    assert 9 not in raw_map


@pytest.mark.parametrize(("key", "value", "message"), [
    ("0x0100", "1", "gives 2 bytes; the map takes 4"),
    ("1", "0x01", "gives 1 bytes; the map takes 8"),
    ("zz", "1", "neither hex bytes"),
    ('{"a": 1}', "1", "JSON needs a map with BTF"),
    ("4294967296", "1", "does not fit 4 bytes"),
])
def test_bad_keys_and_values_are_usage_errors(capsys: pytest.CaptureFixture[str],
                                              raw_map: ebpf.Map, key: str, value: str,
                                              message: str) -> None:
    status, out, err = cli(capsys, "map", "update", str(raw_map.info().id), key, value)
    assert status == 2
    assert message in err and "cli_raw" in err
    assert out == ""


def test_map_dump_and_update_through_btf(capsys: pytest.CaptureFixture[str],
                                         globals_coll: ebpf.Collection,
                                         run_coll: ebpf.Collection) -> None:
    data = globals_coll.maps[".data"]
    mid = str(data.info().id)
    status, out, _ = cli(capsys, "map", "dump", mid)
    assert status == 0
    assert out.splitlines()[0] == (
        'key: 0  value: {"data_counter": 100, "data_totals": {"packets": 0, "bytes": 0, '
        '"last_len": 0, "loops": 0}}')
    assert cli_json(capsys, "map", "dump", mid) == [{"key": 0, "value": {
        "data_counter": 100, "data_totals": {"packets": 0, "bytes": 0, "last_len": 0,
                                             "loops": 0}}}]

    new = {"data_counter": 5, "data_totals": {"packets": 1, "bytes": 2}}
    assert cli(capsys, "map", "update", mid, "0", json.dumps(new))[0] == 0
    assert data[0]["data_counter"] == 5
    assert data[0]["data_totals"] == {"packets": 1, "bytes": 2, "last_len": 0, "loops": 0}

    hists = run_coll.maps["pid_hists"]
    hid = str(hists.info().id)
    value = {"slots": [1, 2] + [0] * 22, "total": 9}
    assert cli(capsys, "map", "update", hid, "42", json.dumps(value))[0] == 0
    assert hists[42] == value
    assert cli_json(capsys, "map", "get", hid, "42") == {"key": 42, "value": value}
    status, out, _ = cli(capsys, "map", "get", hid, "42")
    assert out == f"key: 42  value: {json.dumps(value)}\n"
    status, _, err = cli(capsys, "map", "update", hid, "42", '{"slots": "x"}')
    assert status == 2 and "slots" in err


def test_pinned_objects_are_found_by_path_and_listed(
        capsys: pytest.CaptureFixture[str], pin_dir: str, run_coll: ebpf.Collection) -> None:
    m = run_coll.maps["calls"]
    prog = run_coll.programs["on_getpgid"]
    map_pin = os.path.join(pin_dir, "calls_pin")
    prog_pin = os.path.join(pin_dir, "prog_pin")
    link_pin = os.path.join(pin_dir, "link_pin")
    m.pin(map_pin)
    prog.pin(prog_pin)
    with link.attach(prog) as lk:
        lk.pin(link_pin)
        link_id = lk.info().id
        try:
            maps = cli_json(capsys, "list", "maps")
            assert isinstance(maps, list)
            (rec,) = [r for r in maps if r["id"] == m.info().id]
            assert rec["pinned"] == [map_pin]
            status, out, _ = cli(capsys, "list", "maps")
            assert any(line.split()[0] == str(m.info().id) and line.endswith(map_pin)
                       for line in out.splitlines()[1:])

            progs = cli_json(capsys, "list", "progs")
            assert isinstance(progs, list)
            (prec,) = [r for r in progs if r["id"] == prog.info().id]
            assert prec["pinned"] == [prog_pin]

            links = cli_json(capsys, "list", "links")
            assert isinstance(links, list)
            (lrec,) = [r for r in links if r["id"] == link_id]
            assert lrec["type"] == "raw_tracepoint"
            assert lrec["program_id"] == prog.info().id
            assert lrec["target"]["tp_name"] == "sys_enter"
            assert lrec["pinned"] == [link_pin]
            status, out, _ = cli(capsys, "list", "links")
            assert any(line.split()[:3] == [str(link_id), "raw_tracepoint",
                                            str(prog.info().id)] and "tp_name=sys_enter" in line
                       for line in out.splitlines())

            status, out, _ = cli(capsys, "show", "map", map_pin)
            assert status == 0
            assert out.splitlines()[0].startswith(f"{m.info().id}: hash  name calls")
            assert "key type unsigned int" in out or "key type __u32" in out
            assert f"pinned {map_pin}" in out
            assert f"used by programs: {prog.info().id} (on_getpgid)" in out
            assert cli(capsys, "map", "update", map_pin, "3", "4")[0] == 0
            assert m[3] == 4
            status, out, _ = cli(capsys, "map", "dump", map_pin)
            # (the attached program may count another process's marked calls meanwhile)
            assert "key: 3  value: 4" in out.splitlines()
            assert re.fullmatch(r"\d+ entr(y|ies)", out.splitlines()[-1])

            status, out, _ = cli(capsys, "show", "prog", prog_pin)
            assert out.splitlines()[0].startswith(f"{prog.info().id}: raw_tracepoint")
            assert (f"  attached by link {link_id} (raw_tracepoint tp_name=sys_enter cookie=0)"
                    in out.splitlines())
            # maps by id with their names; kernel functions named through /proc/kallsyms
            events_id = run_coll.maps["events"].info().id
            assert f"r1 = map[id:{events_id}]  ; events" in out
            assert re.search(r"call bpf_ringbuf_submit#-?\d+", out)
            status, out, _ = cli(capsys, "show", "link", link_pin)
            assert status == 0
            assert out.splitlines()[0] == (
                f"{link_id}: raw_tracepoint  prog {prog.info().id} (on_getpgid)")
            assert "  tp_name sys_enter" in out.splitlines()
            status, out2, _ = cli(capsys, "show", "link", str(link_id))
            assert status == 0 and out2.splitlines()[0] == out.splitlines()[0]

            status, _, err = cli(capsys, "show", "map", prog_pin)
            assert status == 1 and "is not a pinned map" in err
        finally:
            lk.unpin()
            prog.unpin()
            m.unpin()


def test_features_lists_ringbuf_as_supported(capsys: pytest.CaptureFixture[str]) -> None:
    data = cli_json(capsys, "features")
    assert isinstance(data, dict)
    assert data["BPF_MAP_TYPE_RINGBUF"]["supported"] is True
    assert data["BPF_MAP_TYPE_RINGBUF"]["group"] == "map type"
    assert data["BPF_PROG_TYPE_SOCKET_FILTER"]["status"] == "supported"
    status, out, _ = cli(capsys, "features")
    assert status == 0
    assert any(line.split()[:3] == ["BPF_MAP_TYPE_RINGBUF", "supported", "5.8"]
               for line in out.splitlines())
    assert "map types:" in out.splitlines()


@pytest.mark.parametrize("argv", [
    ["show", "prog", "4294967295"],
    ["show", "map", "4294967295"],
    ["show", "link", "4294967295"],
    ["map", "dump", "4294967295"],
    ["map", "get", "4294967295", "1"],
    ["show", "map", "/sys/fs/bpf/ebpf-cli-test-no-such-pin"],
    ["show", "prog", "no_such_program_name"],
])
def test_unknown_objects_exit_3(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    status, out, err = cli(capsys, *argv)
    assert status == 3
    assert out == ""
    assert err.startswith("ebpf: error: ") and "Traceback" not in err
