"""The object-file commands of the command line: inspect, disasm and btf dump on committed
objects, in text and JSON, and their errors with exit statuses."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ebpf.cli import main
from ebpf.cli.objects import register

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = ROOT / "testdata"
GLOBALS = str(TESTDATA / "globals-el.elf")
GLOBALS_EB = str(TESTDATA / "globals-eb.elf")
SECTIONS = str(TESTDATA / "link_sections-el.elf")
EXTERNS = str(TESTDATA / "core_externs-el.elf")
MAPS = str(TESTDATA / "maps-el.elf")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    got = capsys.readouterr()
    return status, got.out, got.err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    status, out, err = run(capsys, *argv, "--json")
    assert status == 0, err
    return json.loads(out)


# --- inspect ----------------------------------------------------------------------------------


def test_inspect_text_lists_programs_maps_variables(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "inspect", GLOBALS)
    assert status == 0, err
    assert "use_globals  socket   SOCKET_FILTER" in out
    assert "GPL" in out
    # Global-data maps with their flags, and the variables' initial values decoded by BTF.
    assert ".rodata       ARRAY  4    32     1    RDONLY_PROG|MMAPABLE" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert lines["data_counter"].split()[-1] == "100"
    assert lines["custom_counter"].split()[-1] == "7"
    assert "limit: 1500" in lines["ro_config"] and "tag: 'globals'" in lines["ro_config"]
    assert "(const)" in lines["ro_multiplier"]
    assert "btf: 50 types" in out
    assert "core relocations: 0" in out


@pytest.mark.parametrize("path", [GLOBALS, GLOBALS_EB])
def test_inspect_json_same_in_both_byte_orders(capsys: pytest.CaptureFixture[str],
                                               path: str) -> None:
    data = run_json(capsys, "inspect", path)
    assert data["byte_order"] == ("little" if path == GLOBALS else "big")
    (prog,) = data["programs"]
    assert prog == {"name": "use_globals", "section": "socket", "type": "SOCKET_FILTER",
                    "attach_type": None, "attach_to": None, "instructions": 97,
                    "license": "GPL"}
    maps = {m["name"]: m for m in data["maps"]}
    assert set(maps) == {".rodata", ".data", ".data.custom", ".bss"}
    assert maps[".data"]["value_size"] == 32 and maps[".data"]["max_entries"] == 1
    values = {v["name"]: v["value"] for v in data["variables"]}
    assert values["data_counter"] == 100
    assert values["ro_multiplier"] == 3
    assert values["ro_config"] == {"mode": 1, "limit": 1500, "seed": 0x0123456789ABCDEF,
                                   "tag": "globals"}
    assert data["btf"]["types"] == 50 and data["btf"]["kinds"]["DATASEC"] == 5


def test_inspect_sections_attach_types(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, "inspect", SECTIONS)
    progs = {p["name"]: p for p in data["programs"]}
    assert len(progs) > 3
    for p in progs.values():
        assert p["instructions"] > 0 and p["section"]
    assert any(p["attach_type"] for p in progs.values())


def test_inspect_externs_and_core(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, "inspect", EXTERNS)
    externs = {e["name"]: e for e in data["externs"]}
    assert externs["CONFIG_HZ"]["kind"] == "kconfig"
    assert externs["CONFIG_NO_SUCH_INT"]["weak"] is True
    assert externs["bpf_task_acquire"]["kind"] == "kfunc"
    assert "task_struct" in externs["bpf_task_acquire"]["type"]
    assert externs["bpf_prog_put"]["kind"] == "ksym"          # extern const void ... __ksym
    assert externs["no_such_typed_var"]["kind"] == "ksym (typed)"
    # kconfig externs are not listed among the variables: the kernel gives their values.
    assert "CONFIG_HZ" not in {v["name"] for v in data["variables"]}
    assert data["core_relocations"] == 2


def test_inspect_map_in_map(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, "inspect", MAPS)
    inner = [m for m in data["maps"] if m["inner_map"] is not None]
    assert inner, "maps.c declares a map of maps"
    assert inner[0]["inner_map"]["max_entries"] > 0
    status, out, _ = run(capsys, "inspect", MAPS)
    assert status == 0 and "max " in out


# --- disasm -----------------------------------------------------------------------------------


def test_disasm_shows_source_lines(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "disasm", GLOBALS)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == "program use_globals (SOCKET_FILTER, section 'socket')"
    assert "use_globals:" in lines and "clamp_len:" in lines
    at = lines.index("      ; data_counter += 1; @ globals.c:74")
    assert lines[at + 1] == "   3: r1 = map[.data][0]+0"
    assert "  41: call bpf_loop#181" in lines


def test_disasm_one_program_json(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, "disasm", GLOBALS_EB, "use_globals")
    (listing,) = data
    insns = listing["instructions"]
    assert insns[0]["symbol"] == "use_globals" and insns[0]["offset"] == 0
    assert insns[0]["source"]["line"] == 70
    assert insns[0]["source"]["text"] == "__u32 len = clamp_len(skb->len);"
    third = next(i for i in insns if i["offset"] == 3)
    assert third["text"] == "r1 = map[.data][0]+0"
    assert not any(i["text"].startswith("invalid") for i in insns)


@pytest.mark.parametrize("order", ["el", "eb"])
def test_disasm_names_core_relocations(capsys: pytest.CaptureFixture[str], order: str) -> None:
    path = str(TESTDATA / f"core_macros-{order}.elf")
    status, out, err = run(capsys, "disasm", path)
    assert status == 0, err
    assert "; CO-RE field_byte_offset task_struct.se.vruntime" in out
    assert "; CO-RE field_exists task_struct___missing.no_such_field" in out
    assert "; CO-RE type_size struct task_struct" in out
    assert "; CO-RE enumval_value enum bpf_map_type::BPF_MAP_TYPE_RINGBUF" in out
    assert "; CO-RE field_byte_offset task_struct.comm[3]" in out
    data = run_json(capsys, "disasm", path)
    notes = [i["core"] for p in data for i in p["instructions"] if i["core"]]
    assert "CO-RE type_exists struct task_struct" in notes
    assert sum(1 for line in out.splitlines() if "; CO-RE " in line) == len(notes)


def test_disasm_unknown_program(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "disasm", GLOBALS, "nope")
    assert status == 3
    assert "no program named 'nope'" in err and "use_globals" in err
    assert out == ""


# --- btf dump ---------------------------------------------------------------------------------


def test_btf_dump_c_type(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "btf", "dump", GLOBALS, "totals")
    assert status == 0, err
    assert "struct totals {\n\t__u64 packets;\n\t__u64 bytes;\n\t__u32 last_len;" in out
    assert "typedef unsigned long long __u64;" in out  # what it depends on


def test_btf_dump_raw(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "btf", "dump", GLOBALS, "--format", "raw", "totals")
    assert status == 0, err
    assert out.splitlines()[0].endswith("STRUCT 'totals' size=24 vlen=4")
    assert "\t'last_len' type_id=1 bits_offset=128" in out


def test_btf_dump_raw_json_whole_file(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, "btf", "dump", GLOBALS, "--format", "raw")
    types = data["types"]
    assert len(types) == 50
    assert [t["id"] for t in types] == list(range(1, 51))
    totals = next(t for t in types if t["name"] == "totals")
    assert totals["kind"] == "STRUCT" and totals["size"] == 24
    assert [m["name"] for m in totals["members"]] == ["packets", "bytes", "last_len", "loops"]
    assert totals["members"][2]["bits_offset"] == 128


def test_btf_dump_c_json(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, "btf", "dump", GLOBALS, "config")
    assert data["format"] == "c" and "struct config {" in data["c"]


def test_btf_dump_unknown_type(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "btf", "dump", GLOBALS, "no_such_type")
    assert status == 3
    assert "no type named 'no_such_type'" in err
    assert out == ""


def test_btf_dump_vmlinux_type(capsys: pytest.CaptureFixture[str]) -> None:
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("the kernel has no BTF")
    status, out, err = run(capsys, "btf", "dump", "vmlinux", "--format", "raw", "bpf_attr")
    assert status == 0, err
    assert "UNION 'bpf_attr'" in out.splitlines()[0]
    status, out, err = run(capsys, "btf", "dump", "vmlinux", "no_such_type_anywhere")
    assert status == 3 and "no_such_type_anywhere" in err


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["inspect"], ["disasm"], ["btf", "dump"]])
def test_missing_file_is_not_found(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                   command: list[str]) -> None:
    missing = str(tmp_path / "nothing.o")
    status, out, err = run(capsys, *command, missing)
    assert status == 3
    assert err.startswith("ebpf: error: ") and missing in err and "Traceback" not in err
    assert out == ""


@pytest.mark.parametrize("command", [["inspect"], ["disasm"]])
def test_not_a_bpf_object(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    status, out, err = run(capsys, *command, "/bin/ls")
    assert status == 1
    assert "not a BPF object" in err and "/bin/ls" in err
    assert out == ""


def test_not_an_elf_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    junk = tmp_path / "junk.o"
    junk.write_bytes(b"hello world, not an object\n")
    status, _, err = run(capsys, "inspect", str(junk))
    assert status == 1
    assert "not a BPF object" in err and str(junk) in err


def test_directory_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run(capsys, "inspect", str(tmp_path))
    assert status == 1 and "directory" in err


def test_btf_dump_file_without_btf(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "btf", "dump", "/bin/ls")
    assert status == 1
    assert "/bin/ls" in err and "Traceback" not in err


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "inspect")[0] == 2
    assert run(capsys, "btf")[0] == 2
    assert run(capsys, "btf", "dump", GLOBALS, "--format", "yaml")[0] == 2


def test_register_on_a_parser_of_ones_own(capsys: pytest.CaptureFixture[str]) -> None:
    """The module adds its commands to any parser, --json after the command included."""
    from ebpf.cli._output import Output

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    parser = argparse.ArgumentParser(prog="t")
    sub = parser.add_subparsers(dest="command")
    register(sub, common)
    args = parser.parse_args(["inspect", GLOBALS, "--json"])
    assert args.json is True
    assert args.handler(args, Output(json=True)) == 0
    assert json.loads(capsys.readouterr().out)["programs"][0]["name"] == "use_globals"


def test_python_dash_m(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "ebpf", "inspect", GLOBALS, "--json"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["maps"][1]["name"] == ".data"
    done = subprocess.run([sys.executable, "-m", "ebpf", "inspect", "/bin/ls"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 1
    assert "not a BPF object" in done.stderr and "Traceback" not in done.stderr

