"""``ebpf load`` against the running kernel: ids, pinning into a private bpffs, the verifier log
of a rejected program; and the disassembly of a loaded program's translated code."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

import ebpf
from ebpf.cli import main
from ebpf.cli.objects import xlated_listing

pytestmark = pytest.mark.kernel

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
XLATED = str(TESTDATA / "cli_xlated-el.elf")
BROKEN = str(TESTDATA / "loader_broken-el.elf")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    got = capsys.readouterr()
    return status, got.out, got.err


def _kernel_at_least(major: int, minor: int) -> bool:
    found = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return found is not None and (int(found[1]), int(found[2])) >= (major, minor)


def test_load_prints_ids(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "load", XLATED)
    assert status == 0, err
    rows = {line.split()[1]: line.split() for line in out.splitlines()[1:] if line.strip()
            and not line.startswith("(")}
    assert set(rows) == {"per_cpu_hits", "by_cpu", ".bss", "count_cpu"}
    assert rows["count_cpu"][0] == "prog" and rows["count_cpu"][3] == "SOCKET_FILTER"
    assert rows["by_cpu"][0] == "map" and int(rows["by_cpu"][2]) > 0
    assert "--pin DIR keeps them" in out


def test_load_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "load", XLATED, "--json")
    assert status == 0, err
    data = json.loads(out)
    assert [m["name"] for m in data["maps"]] == ["per_cpu_hits", "by_cpu", ".bss"]
    assert [p["name"] for p in data["programs"]] == ["count_cpu"]
    ids = [m["id"] for m in data["maps"]] + [p["id"] for p in data["programs"]]
    assert all(isinstance(i, int) and i > 0 for i in ids)
    assert all(m["pinned"] is None for m in data["maps"])


def test_load_and_pin(capsys: pytest.CaptureFixture[str], pin_dir: str) -> None:
    status, out, err = run(capsys, "load", XLATED, "--pin", pin_dir, "--json")
    assert status == 0, err
    data: dict[str, Any] = json.loads(out)
    assert sorted(os.listdir(pin_dir)) == ["_bss", "by_cpu", "count_cpu", "per_cpu_hits"]
    (prog_row,) = data["programs"]
    assert prog_row["pinned"] == os.path.join(pin_dir, "count_cpu")
    map_ids = {m["name"]: m["id"] for m in data["maps"]}
    # The pins keep the objects alive after the command: the pinned program is the one loaded.
    with ebpf.Program.load_pinned(prog_row["pinned"]) as prog:
        info = prog.info()
        assert info.id == prog_row["id"]
        assert set(info.map_ids) == set(map_ids.values())
    with ebpf.Map.load_pinned(os.path.join(pin_dir, "by_cpu")) as m:
        assert m.info().id == map_ids["by_cpu"]

    # Pinning again where the names are taken fails, and pins nothing new.
    status, _, err = run(capsys, "load", XLATED, "--pin", pin_dir)
    assert status == 1
    assert "EEXIST" in err or "exists" in err
    assert sorted(os.listdir(pin_dir)) == ["_bss", "by_cpu", "count_cpu", "per_cpu_hits"]


def test_pin_outside_bpffs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, out, err = run(capsys, "load", XLATED, "--pin", str(tmp_path))
    assert status == 1
    assert "not in a bpffs" in err and str(tmp_path) in err
    assert out == "" and os.listdir(tmp_path) == []


def test_pin_into_missing_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run(capsys, "load", XLATED, "--pin", str(tmp_path / "nope"))
    assert status == 3 and "no such directory" in err


def test_verifier_failure_prints_the_log(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "load", BROKEN)
    assert status == 1
    assert out == ""
    first = err.splitlines()[0]
    assert first.startswith("ebpf: error: load program 'out_of_bounds'")
    assert "verifier log:" in err
    assert "invalid access to map value" in err
    # The kernel annotates the log with source lines from the object's line info.
    assert "@ loader_broken.c:32" in err
    assert "Traceback" not in err


def test_verifier_failure_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--json", "load", BROKEN)
    assert status == 1
    data = json.loads(out)
    assert data["errno"] == "EACCES"
    assert any("invalid access to map value" in line for line in data["log"])


def test_missing_object(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run(capsys, "load", str(tmp_path / "none.o"))
    assert status == 3 and "none.o" in err


def test_xlated_listing_has_map_ids_and_no_invalid(capsys: pytest.CaptureFixture[str],
                                                  pin_dir: str) -> None:
    """The kernel's rewritten code of a program with maps, inlined per-CPU accesses, patched
    helper calls, a subprogram and a callback disassembles completely."""
    status, _, err = run(capsys, "load", XLATED, "--pin", pin_dir)
    assert status == 0, err
    with ebpf.Program.load_pinned(os.path.join(pin_dir, "count_cpu")) as prog:
        map_ids = prog.info().map_ids
        text = xlated_listing(prog)
    assert "invalid" not in text
    names = {}
    for name in ("per_cpu_hits", "by_cpu", "_bss"):
        with ebpf.Map.load_pinned(os.path.join(pin_dir, name)) as m:
            names[name] = m.info().id
    assert set(names.values()) == set(map_ids)
    assert f"map[id:{names['per_cpu_hits']}]  ; per_cpu_hits" in text
    assert f"map[id:{names['by_cpu']}]  ; by_cpu" in text
    assert re.search(rf"map\[id:{names['_bss']}\]\[0\]\+0  ; \.bss", text)
    assert "map[fd:" not in text
    # The func and line info the kernel keeps name the functions and give source lines, so
    # the bpf-to-bpf call and the callback pointer name their targets.
    lines = text.splitlines()
    assert lines[0] == "count_cpu:"
    assert "add_one:" in lines and "twice:" in lines
    assert re.search(r"^ +\d+: call twice$", text, re.M)
    assert re.search(r"^ +\d+: r2 = func\[add_one\]$", text, re.M)
    assert "      ; bpf_loop(3, add_one, &loops, 0); @ cli_xlated.c:52" in lines
    if _kernel_at_least(6, 10):  # the kernel inlines per-CPU accesses with BPF_ADDR_PERCPU
        assert "= &(void __percpu *)(r" in text
    # The hash lookup becomes a direct call of a kernel function, named from kallsyms when
    # this process may see kernel addresses ("unknown" otherwise, never a wrong helper name).
    patched = re.findall(r": call (\S+)#-?\d+$", text, re.M)
    assert patched
    assert "bpf_map_lookup_elem" not in patched


MAPS = str(TESTDATA / "maps-el.elf")


def test_load_maps_pinned_by_name(capsys: pytest.CaptureFixture[str], pin_dir: str) -> None:
    """Maps of maps, program arrays and a map marked LIBBPF_PIN_BY_NAME: the loader pins the
    last under --pin DIR itself, the command pins the rest beside it."""
    status, out, err = run(capsys, "load", MAPS, "--pin", pin_dir, "--json")
    assert status == 0, err
    data = json.loads(out)
    pinned = {m["name"]: m["pinned"] for m in data["maps"]}
    assert pinned["pinned_stats"] == os.path.join(pin_dir, "pinned_stats")
    assert pinned["outer"] == os.path.join(pin_dir, "outer")
    assert set(os.listdir(pin_dir)) == {os.path.basename(p) for p in pinned.values()} | {
        p["name"] for p in data["programs"]}


def test_pin_by_name_needs_a_bpffs(capsys: pytest.CaptureFixture[str]) -> None:
    from ebpf.internal.pin import DEFAULT_PIN_ROOT, is_bpffs

    if is_bpffs(DEFAULT_PIN_ROOT):
        pytest.skip(f"{DEFAULT_PIN_ROOT} is a bpffs here: loading would pin there")
    status, out, err = run(capsys, "load", MAPS)
    assert status == 1 and out == ""
    assert "'pinned_stats'" in err and "--pin DIR" in err


def test_btf_dump_by_id(capsys: pytest.CaptureFixture[str], pin_dir: str) -> None:
    """``btf dump ID`` reads a BTF object loaded in the kernel: here the program's."""
    status, _, err = run(capsys, "load", XLATED, "--pin", pin_dir)
    assert status == 0, err
    with ebpf.Program.load_pinned(os.path.join(pin_dir, "count_cpu")) as prog:
        btf_id = prog.info().btf_id
    assert btf_id > 0
    status, out, err = run(capsys, "btf", "dump", str(btf_id), "--format", "raw", "count_cpu")
    assert status == 0, err
    assert "FUNC 'count_cpu'" in out
    status, out, err = run(capsys, "btf", "dump", str(btf_id), "twice")
    assert status == 0, err
    assert "twice(__u64 x);" in out
    status, _, err = run(capsys, "btf", "dump", "4000000000")
    assert status == 3 and "no BTF object with id 4000000000" in err
