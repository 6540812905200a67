"""Helpers for the tests that build small user-space programs (C, Go) and check what
``ebpf.internal`` finds in them against binutils' own reading of the same files.

The expected values are computed here from the text ``readelf``/``objdump``/``go tool nm``
print, independently of the code under test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REQUIRE = os.environ.get("EBPF_REQUIRE_KERNEL") == "1"


def require_tool(name: str) -> str:
    """The path of tool ``name``; skip the test without it (fail under EBPF_REQUIRE_KERNEL=1,
    where the toolchain is expected)."""
    path = shutil.which(name)
    if path is None:
        if REQUIRE:
            pytest.fail(f"EBPF_REQUIRE_KERNEL=1 but {name!r} is not installed", pytrace=False)
        pytest.skip(f"{name!r} is not installed")
    return path


def run(*cmd: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    out = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=300)
    if out.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({out.returncode}):\n"
                             f"{out.stdout}\n{out.stderr}")
    return out.stdout


def gcc(out: Path, *sources: Path, flags: tuple[str, ...] = ()) -> Path:
    require_tool("gcc")
    run("gcc", "-O2", "-g0", *flags, "-o", out, *sources)
    return out


# -- readelf ---------------------------------------------------------------------------------

def load_segments(path: Path) -> list[tuple[int, int, int, int, str]]:
    """(p_offset, p_vaddr, p_filesz, p_memsz, flags) of each PT_LOAD, from ``readelf -lW``."""
    require_tool("readelf")
    segs = []
    for line in run("readelf", "-lW", path).splitlines():
        parts = line.split()
        if parts and parts[0] == "LOAD":
            off, vaddr, _paddr, filesz, memsz = (int(p, 16) for p in parts[1:6])
            segs.append((off, vaddr, filesz, memsz, "".join(parts[6:-1])))
    return segs


def file_offset(path: Path, vaddr: int) -> int:
    """The file offset of ``vaddr`` by readelf's program headers."""
    for off, start, filesz, _memsz, _flags in load_segments(path):
        if start <= vaddr < start + filesz:
            return vaddr - start + off
    raise AssertionError(f"{vaddr:#x} is in no PT_LOAD segment of {path}")


def symbols(path: Path, *, dynamic: bool = False) -> list[dict[str, str]]:
    """Every symbol readelf prints (``--dyn-syms`` or ``-s``), with the table it is in."""
    require_tool("readelf")
    args = ["--dyn-syms"] if dynamic else ["-s"]
    table = ""
    out = []
    for line in run("readelf", "-W", *args, path).splitlines():
        m = re.match(r"Symbol table '([^']+)'", line)
        if m:
            table = m.group(1)
            continue
        parts = line.split()
        if len(parts) >= 8 and parts[0].endswith(":") and parts[0][:-1].isdigit():
            out.append({"value": parts[1], "size": parts[2], "type": parts[3],
                        "bind": parts[4], "ndx": parts[6], "name": parts[7], "table": table})
    return out


def symbol_value(path: Path, name: str, *, table: str | None = None) -> int:
    """The value of the one symbol called ``name`` (exactly) readelf shows."""
    found = {int(s["value"], 16) for s in symbols(path)
             if s["name"] == name and (table is None or s["table"] == table)}
    assert len(found) == 1, f"{name}: {found}"
    return found.pop()


def objdump_bytes(path: Path, vaddr: int, n: int) -> bytes:
    """The first ``n`` bytes of the instructions objdump disassembles at ``vaddr``."""
    require_tool("objdump")
    text = run("objdump", "-d", "-w", f"--start-address={vaddr:#x}",
               f"--stop-address={vaddr + n:#x}", path)
    out = bytearray()
    for line in text.splitlines():
        m = re.match(r"^\s*[0-9a-f]+:\t((?:[0-9a-f]{2} )+)", line)
        if m:
            out += bytes.fromhex(m.group(1).replace(" ", ""))
    return bytes(out[:n])


def file_bytes(path: Path, offset: int, n: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(n)
