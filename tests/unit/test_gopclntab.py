"""Go function tables (ebpf.internal.gopclntab) and stripped Go binaries as uprobe targets.

A small Go program is built twice, with and without ``-ldflags='-s -w'``; what the stripped
binary's pclntab says must match ``go tool nm`` on the unstripped one. The older table layouts
(Go 1.2 and 1.16), which this machine's Go no longer writes, are built byte by byte from their
documented format, in both byte orders and pointer sizes.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ebpf.errors import ELFError, SymbolNotFoundError
from ebpf.internal.elf_symbols import clear_cache, find_symbol, find_symbols
from ebpf.internal.gopclntab import GO_MAGICS, find_pclntab, parse_pclntab

from .userbins import file_offset, require_tool, run, symbol_value

GO_PROGRAM = """\
package main

import "fmt"

//go:noinline
func add(a, b int) int { return a + b }

type T struct{ x int }

//go:noinline
func (t *T) Method(y int) int { return t.x + y }

func main() {
	t := &T{1}
	fmt.Println(add(1, 2), t.Method(3))
}
"""

NAMES = ["main.add", "main.(*T).Method", "main.main", "runtime.mallocgc", "fmt.Fprintln"]


@pytest.fixture(scope="module")
def gobins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    go = require_tool("go")
    d = tmp_path_factory.mktemp("gobin")
    (d / "main.go").write_text(GO_PROGRAM)
    (d / "go.mod").write_text("module hello\n\ngo 1.17\n")
    # A build cache shared by runs (Go's cache is safe for concurrent use): a fresh one
    # recompiles the runtime, about 15 s.
    cache = Path(tempfile.gettempdir()) / "ebpf-tests-gocache"
    env = dict(os.environ, GOCACHE=str(cache), GOPATH=str(d / "gopath"),
               GOFLAGS="-mod=mod", GOTOOLCHAIN="local", CGO_ENABLED="0", GO111MODULE="on")
    out = {}
    for name, flags in (("full", []), ("stripped", ["-ldflags=-s -w"]),
                        ("pie_full", ["-buildmode=pie"]),
                        ("pie_stripped", ["-buildmode=pie", "-ldflags=-s -w"])):
        run(go, "build", "-o", d / name, *flags, ".", cwd=d, env=env)
        out[name] = d / name
    out["go"] = Path(go)
    # The stripped binary without section headers at all: the table must be found by scanning.
    data = bytearray(out["stripped"].read_bytes())
    assert data[4] == 2 and data[5] == 1
    struct.pack_into("<Q", data, 0x28, 0)             # e_shoff
    struct.pack_into("<HHH", data, 0x3C, 0, 0, 0)     # e_shentsize... e_shnum, e_shstrndx
    (d / "noshdr").write_bytes(bytes(data))
    out["noshdr"] = d / "noshdr"
    return out


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


def go_nm(go: Path, path: Path) -> dict[str, int]:
    """Text symbols of ``path`` by ``go tool nm``: name -> address."""
    out: dict[str, int] = {}
    for line in run(go, "tool", "nm", path).splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) == 3 and parts[1] in ("T", "t"):
            out.setdefault(parts[2], int(parts[0], 16))
    return out


def test_stripped_binary_has_no_symtab(gobins: dict[str, Path]) -> None:
    out = run("readelf", "-SW", gobins["stripped"])
    assert ".symtab" not in out and ".gopclntab" in out


@pytest.mark.parametrize(("full", "stripped"), [("full", "stripped"), ("full", "noshdr"),
                                                ("pie_full", "pie_stripped")])
def test_stripped_matches_unstripped(gobins: dict[str, Path], full: str, stripped: str) -> None:
    nm = go_nm(gobins["go"], gobins[full])
    locs = find_symbols(gobins[stripped], NAMES)
    for name, loc in zip(NAMES, locs, strict=True):
        assert loc.table == ".gopclntab"
        assert loc.address == nm[name], name
        # The unstripped binary's .symtab says the same, and so do its program headers.
        assert loc.address == symbol_value(gobins[full], name, table=".symtab")
        assert loc.offset == file_offset(gobins[full], nm[name])
        if stripped != "noshdr":
            assert loc.offset == file_offset(gobins[stripped], loc.address)
        assert find_symbol(gobins[full], name).offset == loc.offset


def test_every_function_matches_go_nm(gobins: dict[str, Path]) -> None:
    from ebpf.internal.elf_symbols import elf_image, open_binary

    nm = go_nm(gobins["go"], gobins["full"])
    with open_binary(gobins["stripped"]) as src:
        table = elf_image(src).go_functions(src)
    assert table is not None
    assert table.version in ("1.18", "1.20", "1.16", "1.2")
    funcs = table.functions()
    assert len(funcs) == table.count or len(funcs) < table.count   # duplicates collapse
    assert len(funcs) > 1000
    # Every entry is the address of a function go tool nm knows ...
    assert set(funcs.values()) <= set(nm.values())
    # ... under the same name; assembly functions carry an ".abi0" suffix in the symbol
    # table, and generic shapes are spelled "[...]" in the pclntab only.
    mismatched = {n: a for n, a in funcs.items()
                  if nm.get(n) != a and nm.get(n + ".abi0") != a and "[...]" not in n}
    assert not mismatched, list(mismatched.items())[:5]
    # The suffixed spelling finds the function too.
    asm = next(n for n in nm if n.endswith(".abi0") and n[:-5] in funcs)
    assert find_symbol(gobins["stripped"], asm).address == nm[asm]


def test_unknown_go_function(gobins: dict[str, Path]) -> None:
    with pytest.raises(SymbolNotFoundError, match=r"\.gopclntab") as e:
        find_symbol(gobins["stripped"], "main.ad")
    assert "main.add" in e.value.close_matches


# -- synthetic tables of every layout -------------------------------------------------------

MAGIC = {v: m for m, v in GO_MAGICS.items()}


def build_pclntab(version: str, funcs: list[tuple[str, int]], *, order: str = "little",
                  ptrsize: int = 8, text_start: int = 0x401000) -> bytes:
    """A pclntab of ``version``'s layout holding ``funcs`` (name, entry address)."""
    e = "<" if order == "little" else ">"
    ptr = e + ("Q" if ptrsize == 8 else "I")
    u32, i32 = e + "I", e + "i"
    n = len(funcs)
    names = b""
    name_offs = []
    for name, _ in funcs:
        name_offs.append(len(names))
        names += name.encode() + b"\0"
    head = MAGIC[version].to_bytes(4, order) + b"\0\0" + bytes([1, ptrsize])
    if version == "1.2":
        functab = 8 + ptrsize
        records = functab + (2 * n + 1) * ptrsize + 4
        rec_size = ptrsize + 4 * 9
        name_base = records + n * rec_size
        out = bytearray(name_base + len(names))
        out[:8] = head
        struct.pack_into(ptr, out, 8, n)
        for i, (_, entry) in enumerate(funcs):
            struct.pack_into(ptr, out, functab + 2 * i * ptrsize, entry)
            struct.pack_into(ptr, out, functab + (2 * i + 1) * ptrsize, records + i * rec_size)
            struct.pack_into(ptr, out, records + i * rec_size, entry)
            struct.pack_into(i32, out, records + i * rec_size + ptrsize, name_base + name_offs[i])
        struct.pack_into(ptr, out, functab + 2 * n * ptrsize, funcs[-1][1] + 16)
        out[name_base:] = names
        return bytes(out)
    words = 7 if version == "1.16" else 8
    name_tab = 8 + words * ptrsize
    pcln = name_tab + len(names)
    pcln += -pcln % 8
    field = ptrsize if version == "1.16" else 4
    fmt = ptr if version == "1.16" else u32
    rec_at = (2 * n + 1) * field
    rec_size = field + 4 * 9
    out = bytearray(pcln + rec_at + n * rec_size)
    out[:8] = head
    hdr = [n, 0, name_tab, pcln, pcln, pcln, pcln] if version == "1.16" else \
        [n, 0, text_start, name_tab, pcln, pcln, pcln, pcln]
    for i, w in enumerate(hdr):
        struct.pack_into(ptr, out, 8 + i * ptrsize, w)
    out[name_tab:name_tab + len(names)] = names
    for i, (_, entry) in enumerate(funcs):
        pc = entry if version == "1.16" else entry - text_start
        struct.pack_into(fmt, out, pcln + 2 * i * field, pc)
        struct.pack_into(fmt, out, pcln + (2 * i + 1) * field, rec_at + i * rec_size)
        struct.pack_into(fmt, out, pcln + rec_at + i * rec_size, pc)
        struct.pack_into(i32, out, pcln + rec_at + i * rec_size + field, name_offs[i])
    end = funcs[-1][1] + 16
    struct.pack_into(fmt, out, pcln + 2 * n * field, end if version == "1.16" else end - text_start)
    return bytes(out)


FUNCS = [("runtime.text", 0x401000), ("main.add", 0x401020), ("main.(*T).Method", 0x401040),
         ("main.main", 0x401100)]


@pytest.mark.parametrize("version", ["1.2", "1.16", "1.18", "1.20"])
@pytest.mark.parametrize(("order", "ptrsize"), [("little", 8), ("big", 8), ("little", 4),
                                                ("big", 4)])
def test_synthetic_layouts(version: str, order: str, ptrsize: int) -> None:
    data = build_pclntab(version, FUNCS, order=order, ptrsize=ptrsize)
    table = parse_pclntab(data)
    assert (table.version, table.byte_order, table.ptrsize) == (version, order, ptrsize)
    assert table.functions() == dict(FUNCS)
    assert table.entry("main.main") == 0x401100
    assert table.entry("main.nope") is None
    # Found by scanning when embedded at an aligned place in other data.
    blob = b"\x01" * 64 + data + b"\xff" * 8
    assert 64 in find_pclntab(blob)


def test_text_start_from_section_when_unrelocated() -> None:
    data = bytearray(build_pclntab("1.18", FUNCS))
    struct.pack_into("<Q", data, 8 + 2 * 8, 0)          # textStart relocated at run time
    with pytest.raises(ELFError, match="textStart"):
        parse_pclntab(bytes(data))
    table = parse_pclntab(bytes(data), text_start=0x401000)
    assert table.entry("main.add") == 0x401020


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda d: d.__setitem__(slice(0, 4), b"\0\0\0\0"), "bad magic"),
    (lambda d: d.__setitem__(6, 3), "quantum"),
    (lambda d: d.__setitem__(7, 5), "pointer size"),
    (lambda d: struct.pack_into("<Q", d, 8, 1 << 40), "functions need"),
    (lambda d: struct.pack_into("<Q", d, 8 + 3 * 8, 1 << 40), "name table offset"),
    (lambda d: struct.pack_into("<Q", d, 8 + 7 * 8, 1 << 40), "function table offset"),
    (lambda d: d.__delitem__(slice(12, None)), "too short"),
])
def test_malformed_headers(mutate: object, match: str) -> None:
    data = bytearray(build_pclntab("1.18", FUNCS))
    mutate(data)  # type: ignore[operator]
    with pytest.raises(ELFError, match=match) as e:
        parse_pclntab(bytes(data), where=".gopclntab", path="prog")
    assert "prog" in str(e.value) and ".gopclntab" in str(e.value)


def test_malformed_records() -> None:
    data = bytearray(build_pclntab("1.18", FUNCS))
    pcln = struct.unpack_from("<Q", data, 8 + 7 * 8)[0]
    struct.pack_into("<I", data, pcln + 4, 1 << 30)      # func 0's record offset
    with pytest.raises(ELFError, match="record offset"):
        parse_pclntab(bytes(data)).entry("main.add")
    data = bytearray(build_pclntab("1.18", FUNCS))
    rec = struct.unpack_from("<I", data, pcln + 4)[0]
    struct.pack_into("<i", data, pcln + rec + 4, -(1 << 20))   # name offset before the table
    with pytest.raises(ELFError, match="name offset"):
        parse_pclntab(bytes(data)).entry("main.add")


def test_real_binary_with_a_bad_table(gobins: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "bad"
    shutil.copy(gobins["stripped"], path)
    data = bytearray(path.read_bytes())
    at = data.find(b"\xf0\xff\xff\xff\x00\x00")
    if at < 0:
        at = data.find(b"\xf1\xff\xff\xff\x00\x00")
    assert at > 0
    struct.pack_into("<Q", data, at + 8, 1 << 33)      # nfunc: far more than fit
    path.write_bytes(bytes(data))
    start = time.monotonic()
    with pytest.raises(ELFError, match="Go function table") as e:
        find_symbol(path, "main.add")
    assert str(path) in str(e.value)
    assert time.monotonic() - start < 5
