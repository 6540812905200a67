"""Functions of user-space binaries to uprobe file offsets (ebpf.internal.elf_symbols).

Small C programs and libraries are compiled into a temporary directory; every expected offset
is computed from ``readelf``'s symbol values and program headers, and the bytes at the offset
are compared with the instruction bytes ``objdump`` disassembles at the symbol's address.
"""

from __future__ import annotations

import os
import shutil
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ebpf.errors import (
    AmbiguousSymbolError,
    EbpfError,
    ELFError,
    IndirectFunctionError,
    SymbolNotFoundError,
    TargetNotFoundError,
)
from ebpf.internal import elf_symbols
from ebpf.internal.elf_symbols import (
    STT_GNU_IFUNC,
    address_offset,
    clear_cache,
    find_symbol,
    find_symbols,
    symbol_offset,
    symbol_offsets,
    symbols_matching,
)
from ebpf.internal.ldcache import resolve_binary

from .userbins import (
    file_bytes,
    file_offset,
    gcc,
    load_segments,
    objdump_bytes,
    require_tool,
    run,
    symbol_value,
    symbols,
)

PROG = r"""
#include <stdio.h>
__attribute__((noinline)) int alpha(int x) { return x * 3 + 1; }
__attribute__((noinline)) int beta(int x) { return alpha(x) ^ 0x55; }
__attribute__((noinline, used)) static int only_local(int x) { return x - 7; }
__attribute__((weak, noinline)) int weakling(int x) { return x + 100; }
int alias_of_alpha(int) __attribute__((alias("alpha")));
static int ifunc_impl(int x) { return x; }
static void *ifunc_resolver(void) { return (void *)ifunc_impl; }
int indirect(int) __attribute__((ifunc("ifunc_resolver")));
int use_dup1(int), use_dup2(int), use_mixed(int);
int main(int argc, char **argv) {
    (void)argv;
    printf("%d\n", beta(argc) + only_local(argc) + weakling(argc) + indirect(argc)
           + use_dup1(argc) + use_dup2(argc) + use_mixed(argc));
    return 0;
}
"""

# Two local functions called "dup" at different addresses: ambiguous.
DUP1 = r"""
__attribute__((noinline, used)) static int dup(int x) { return x + 11; }
int use_dup1(int x) { return dup(x); }
"""
DUP2 = r"""
__attribute__((noinline, used)) static int dup(int x) { return x * 13; }
int use_dup2(int x) { return dup(x); }
"""
# A weak global and a local of the same name: the non-weak one wins (libbpf's rule).
MIXED1 = r"""
__attribute__((noinline, used)) static int mixed(int x) { return x + 21; }
int use_mixed(int x) { return mixed(x); }
"""
MIXED2 = r"""
__attribute__((weak, noinline)) int mixed(int x) { return x * 23; }
"""

LIB = r"""
__attribute__((noinline)) int vfn_old(int x) { return x + 1; }
__attribute__((noinline)) int vfn_new(int x) { return x * 2 + 5; }
__asm__(".symver vfn_old, vfn@VERS_1");
__asm__(".symver vfn_new, vfn@@VERS_2");
__attribute__((noinline)) int plain(int x) { return x ^ 0x1234; }
__attribute__((noinline)) int plain2(int x) { return plain(x) + 3; }
"""
VMAIN = r"""
int vfn_old(int), vfn_new(int), plain2(int);
int main(int argc, char **argv) { (void)argv; return vfn_old(argc) + vfn_new(argc) + plain2(argc); }
"""
LIB_MAP = """
VERS_1 { global: plain; plain2; vfn; local: *; };
VERS_2 { global: vfn; } VERS_1;
"""


@pytest.fixture(scope="module")
def bins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_tool("gcc")
    d = tmp_path_factory.mktemp("elfsym")
    srcs = {}
    for name, text in (("prog.c", PROG), ("dup1.c", DUP1), ("dup2.c", DUP2),
                       ("mixed1.c", MIXED1), ("mixed2.c", MIXED2), ("lib.c", LIB),
                       ("vmain.c", VMAIN)):
        srcs[name] = d / name
        srcs[name].write_text(text)
    (d / "lib.map").write_text(LIB_MAP)
    objs = [srcs[n] for n in ("prog.c", "dup1.c", "dup2.c", "mixed1.c", "mixed2.c")]
    out = {
        "pie": gcc(d / "prog_pie", *objs, flags=("-fPIE", "-pie", "-fno-inline")),
        "nopie": gcc(d / "prog_nopie", *objs, flags=("-fno-pie", "-no-pie", "-fno-inline")),
        "lib": gcc(d / "libv.so", srcs["lib.c"],
                   flags=("-shared", "-fPIC", f"-Wl,--version-script={d / 'lib.map'}")),
        # A library linked at a non-zero base, as prelink leaves one: vaddr != offset.
        "lib_base": gcc(d / "libv_base.so", srcs["lib.c"],
                        flags=("-shared", "-fPIC", f"-Wl,--version-script={d / 'lib.map'}",
                               "-Wl,-Ttext-segment=0x40000000")),
        # Versions spelled in .symtab names (an executable has no .gnu.version_d).
        "vexe": gcc(d / "vexe", srcs["lib.c"], srcs["vmain.c"],
                    flags=("-fPIE", "-pie", f"-Wl,--version-script={d / 'lib.map'}")),
    }
    stripped = d / "prog_stripped"
    shutil.copy(out["pie"], stripped)
    run(require_tool("strip"), stripped)
    out["stripped"] = stripped
    return out


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


def expected(path: Path, name: str, *, table: str | None = None) -> int:
    return file_offset(path, symbol_value(path, name, table=table))


def check_bytes(path: Path, name: str, offset: int, *, table: str | None = None) -> None:
    """The file bytes at ``offset`` are the instructions objdump shows at the symbol."""
    want = objdump_bytes(path, symbol_value(path, name, table=table), 8)
    assert len(want) == 8
    assert file_bytes(path, offset, 8) == want


@pytest.mark.parametrize("kind", ["pie", "nopie"])
@pytest.mark.parametrize("name", ["alpha", "beta", "main", "weakling"])
def test_executable_functions(bins: dict[str, Path], kind: str, name: str) -> None:
    path = bins[kind]
    loc = find_symbol(path, name)
    assert loc.offset == expected(path, name)
    assert loc.address == symbol_value(path, name)
    assert loc.table == ".symtab"
    check_bytes(path, name, loc.offset)
    assert symbol_offset(path, name) == loc.offset


def test_non_pie_addresses_are_not_offsets(bins: dict[str, Path]) -> None:
    # In a non-PIE executable the link-time address is absolute: the translation matters.
    loc = find_symbol(bins["nopie"], "alpha")
    assert loc.address >= 0x400000
    assert loc.offset < loc.address


def test_local_function(bins: dict[str, Path]) -> None:
    loc = find_symbol(bins["pie"], "only_local")
    assert loc.binding == elf_symbols.STB_LOCAL
    assert loc.offset == expected(bins["pie"], "only_local")


def test_alias_at_the_same_address(bins: dict[str, Path]) -> None:
    assert find_symbol(bins["pie"], "alias_of_alpha").offset == find_symbol(
        bins["pie"], "alpha").offset


def test_duplicate_locals_are_ambiguous(bins: dict[str, Path]) -> None:
    with pytest.raises(AmbiguousSymbolError) as e:
        find_symbol(bins["pie"], "dup")
    addrs = {int(s["value"], 16) for s in symbols(bins["pie"]) if s["name"] == "dup"}
    assert len(addrs) == 2
    assert len(e.value.candidates) == 2
    for a in addrs:
        assert f"{a:#x}" in str(e.value)
    assert "dup" in str(e.value) and str(bins["pie"]) in str(e.value)


def test_weak_yields_to_non_weak(bins: dict[str, Path]) -> None:
    rows = [s for s in symbols(bins["pie"]) if s["name"] == "mixed"]
    assert {r["bind"] for r in rows} == {"LOCAL", "WEAK"}
    local = next(int(r["value"], 16) for r in rows if r["bind"] == "LOCAL")
    loc = find_symbol(bins["pie"], "mixed")
    assert loc.address == local
    assert loc.binding == elf_symbols.STB_LOCAL


def test_ifunc_is_refused(bins: dict[str, Path]) -> None:
    assert any(s["name"] == "indirect" and s["type"] == "IFUNC" for s in symbols(bins["pie"]))
    with pytest.raises(IndirectFunctionError, match="indirect function"):
        find_symbol(bins["pie"], "indirect")


def test_not_found_names_the_symbol_file_and_close_matches(bins: dict[str, Path]) -> None:
    with pytest.raises(SymbolNotFoundError) as e:
        find_symbol(bins["pie"], "alphaa")
    msg = str(e.value)
    assert "'alphaa'" in msg and str(bins["pie"]) in msg
    assert "alpha" in e.value.close_matches
    assert isinstance(e.value, LookupError)


def test_stripped_binary_has_no_local_functions(bins: dict[str, Path]) -> None:
    with pytest.raises(SymbolNotFoundError, match=r"searched \.dynsym"):
        find_symbol(bins["stripped"], "alpha")


def test_offset_argument(bins: dict[str, Path]) -> None:
    base = find_symbol(bins["nopie"], "beta")
    inside = find_symbol(bins["nopie"], "beta", offset=4)
    assert inside.offset == base.offset + 4
    assert file_bytes(bins["nopie"], inside.offset, 4) == objdump_bytes(
        bins["nopie"], base.address + 4, 4)
    with pytest.raises(ValueError):
        find_symbol(bins["nopie"], "beta", offset=-1)
    with pytest.raises(ELFError, match="outside the segment"):
        find_symbol(bins["nopie"], "beta", offset=1 << 40)


@pytest.mark.parametrize("kind", ["lib", "lib_base"])
def test_shared_library_versions(bins: dict[str, Path], kind: str) -> None:
    path = bins[kind]
    dyn = {s["name"]: int(s["value"], 16) for s in symbols(path, dynamic=True)}
    old, new = dyn["vfn@VERS_1"], dyn["vfn@@VERS_2"]
    assert old != new
    # Unversioned: the default version (what a program linked today binds to).
    loc = find_symbol(path, "vfn")
    assert (loc.name, loc.address, loc.table) == ("vfn@@VERS_2", new, ".dynsym")
    assert loc.offset == file_offset(path, new)
    assert find_symbol(path, "vfn@VERS_1").offset == file_offset(path, old)
    assert find_symbol(path, "vfn@@VERS_2").offset == file_offset(path, new)
    assert find_symbol(path, "plain@@VERS_1").offset == file_offset(path, dyn["plain@@VERS_1"])
    with pytest.raises(SymbolNotFoundError):
        find_symbol(path, "vfn@VERS_3")
    for name in ("plain", "plain2", "vfn"):
        loc = find_symbol(path, name)
        check_bytes(path, loc.name, loc.offset)


def test_prelinked_base(bins: dict[str, Path]) -> None:
    # The same library linked at 0x40000000: same code, same file offsets.
    a = find_symbol(bins["lib"], "plain2")
    b = find_symbol(bins["lib_base"], "plain2")
    assert b.address == a.address + 0x40000000
    assert b.offset == a.offset == file_offset(bins["lib_base"], b.address)


def test_versions_spelled_in_symtab(bins: dict[str, Path]) -> None:
    path = bins["vexe"]
    rows = {s["name"]: int(s["value"], 16) for s in symbols(path) if s["table"] == ".symtab"}
    assert "vfn@VERS_1" in rows and "vfn@@VERS_2" in rows
    assert find_symbol(path, "vfn").address == rows["vfn@@VERS_2"]
    assert find_symbol(path, "vfn@VERS_1").address == rows["vfn@VERS_1"]
    assert find_symbol(path, "vfn").table == ".symtab"


def test_symbols_matching(bins: dict[str, Path]) -> None:
    locs = symbols_matching(bins["lib"], "plain*")
    assert [loc.name for loc in locs] == sorted((loc.name for loc in locs),
                                               key=lambda n: find_symbol(bins["lib"], n).offset)
    assert {loc.name.split("@")[0] for loc in locs} == {"plain", "plain2"}
    assert symbols_matching(bins["lib"], "nothing*") == []
    # IFUNCs are left out of patterns.
    assert all(loc.type != STT_GNU_IFUNC for loc in symbols_matching(bins["pie"], "*"))


def test_address_offset(bins: dict[str, Path]) -> None:
    addr = symbol_value(bins["nopie"], "beta")
    assert address_offset(bins["nopie"], addr) == file_offset(bins["nopie"], addr)
    with pytest.raises(ELFError, match="no file-backed loadable segment"):
        address_offset(bins["nopie"], 0x10)


def test_missing_file() -> None:
    with pytest.raises(TargetNotFoundError) as e:
        find_symbol("/nonexistent/dir/prog", "main")
    assert isinstance(e.value, FileNotFoundError)
    assert "/nonexistent/dir/prog" in str(e.value)


def test_not_an_executable(tmp_path: Path) -> None:
    require_tool("gcc")
    src = tmp_path / "x.c"
    src.write_text("int f(void) { return 1; }\n")
    run("gcc", "-c", "-o", tmp_path / "x.o", src)
    with pytest.raises(ELFError, match="relocatable object"):
        find_symbol(tmp_path / "x.o", "f")
    with pytest.raises(EbpfError):
        find_symbol(tmp_path, "f")   # a directory


# -- libc -----------------------------------------------------------------------------------

def libc_path() -> Path:
    return Path(resolve_binary("libc.so.6"))


def test_libc_malloc() -> None:
    path = libc_path()
    dyn = {s["name"]: s for s in symbols(path, dynamic=True)}
    [mname] = [n for n in dyn if n.startswith("malloc@@")]
    loc = find_symbol(path, "malloc")
    assert loc.name == mname
    assert loc.offset == file_offset(path, int(dyn[mname]["value"], 16))
    assert find_symbol(path, mname).offset == loc.offset
    assert file_bytes(path, loc.offset, 8) == objdump_bytes(path, loc.address, 8)


def test_libc_ifunc() -> None:
    path = libc_path()
    ifuncs = [s["name"].split("@")[0] for s in symbols(path, dynamic=True)
              if s["type"] == "IFUNC" and s["ndx"] != "UND"]
    if not ifuncs:
        pytest.skip("this libc has no indirect functions")
    with pytest.raises(IndirectFunctionError):
        find_symbol(path, ifuncs[0])


def libc_functions(path: Path) -> list[tuple[str, int]]:
    """(versioned name, value) of every defined FUNC of libc's .dynsym, names unique."""
    rows = [(s["name"], int(s["value"], 16)) for s in symbols(path, dynamic=True)
            if s["type"] == "FUNC" and s["ndx"] != "UND"]
    counts: dict[str, int] = {}
    for n, _ in rows:
        counts[n] = counts.get(n, 0) + 1
    return [(n, v) for n, v in rows if counts[n] == 1]


def test_libc_batch_matches_readelf_and_parses_once(monkeypatch: pytest.MonkeyPatch) -> None:
    path = libc_path()
    funcs = libc_functions(path)
    assert len(funcs) > 1000
    builds = []
    real = elf_symbols._SymbolTable._build

    def counting(self: elf_symbols._SymbolTable, p: str) -> object:
        builds.append(self.name)
        return real(self, p)

    monkeypatch.setattr(elf_symbols._SymbolTable, "_build", counting)
    names = [n for n, _ in funcs]
    got = symbol_offsets(path, names)
    segs = load_segments(path)
    want = [next(v - start + off for off, start, size, _m, _f in segs if start <= v < start + size)
            for _, v in funcs]
    assert got == want
    again = find_symbols(path, names[:1000])
    assert [loc.offset for loc in again] == got[:1000]
    assert builds == [".dynsym"]      # one index for both calls and every name


def test_batch_reports_every_missing_name() -> None:
    path = libc_path()
    with pytest.raises(SymbolNotFoundError) as e:
        symbol_offsets(path, ["malloc", "no_such_fn_1", "free", "no_such_fn_2"])
    assert e.value.symbols == ("no_such_fn_1", "no_such_fn_2")


def test_cache_follows_file_changes(bins: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "lib.so"
    shutil.copy(bins["lib"], path)
    a = find_symbol(path, "plain")
    shutil.copy(bins["lib_base"], path)        # same path, different file
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    b = find_symbol(path, "plain")
    assert b.address == a.address + 0x40000000


# -- malformed files ------------------------------------------------------------------------

def _resolve_any(path: Path) -> None:
    clear_cache()
    try:
        find_symbol(path, "plain")
        symbols_matching(path, "*")
    except (EbpfError, ValueError) as e:
        assert isinstance(e, EbpfError), f"{type(e).__name__}: {e}"


@pytest.mark.parametrize("data", [b"", b"\x7fELF", b"garbage" * 10, b"\x7fELF\x02\x01\x01" +
                                  b"\0" * 9, b"\x7fELF\x03\x01\x01" + b"\0" * 100])
def test_garbage_is_an_elf_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "bad"
    path.write_bytes(data)
    with pytest.raises(ELFError):
        find_symbol(path, "main")


def test_truncated_files(bins: dict[str, Path], tmp_path: Path) -> None:
    whole = bins["lib"].read_bytes()
    path = tmp_path / "cut"
    start = time.monotonic()
    for size in [*range(0, 256, 7), *range(256, len(whole), max(1, len(whole) // 97))]:
        path.write_bytes(whole[:size])
        with pytest.raises(EbpfError):
            clear_cache()
            find_symbol(path, "plain")
    assert time.monotonic() - start < 30


def test_corrupted_headers(bins: dict[str, Path], tmp_path: Path) -> None:
    """Random bytes written over the headers and tables: only ebpf errors, quickly."""
    import random

    whole = bins["lib"].read_bytes()
    shoff = struct.unpack_from("<Q", whole, 0x28)[0]
    rng = random.Random(1234)
    path = tmp_path / "mutant"
    start = time.monotonic()
    for i in range(400):
        data = bytearray(whole)
        region = rng.choice([(0, 64), (64, 64 + 56 * 11), (shoff, len(whole)),
                             (0x2E0, 0x600)])   # header, phdrs, shdrs, dynsym/dynstr area
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(region[0], min(region[1], len(data)))
            data[pos] = rng.randrange(256) if i % 2 else 0xFF
        path.write_bytes(bytes(data))
        _resolve_any(path)
    assert time.monotonic() - start < 60


def _patch_section(path: Path, name: str, field: str, value: int) -> None:
    """Overwrite ``field`` (``size``, ``link``, ``offset``) of section ``name`` in place."""
    data = bytearray(path.read_bytes())
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shnum, shstrndx = struct.unpack_from("<HH", data, 0x3C)
    str_off = struct.unpack_from("<Q", data, shoff + shstrndx * 64 + 24)[0]
    fields = {"offset": 24, "size": 32, "link": 40, "entsize": 56}
    for i in range(shnum):
        h = shoff + i * 64
        sh_name = struct.unpack_from("<I", data, h)[0]
        end = data.index(b"\0", str_off + sh_name)
        if data[str_off + sh_name:end].decode() == name:
            fmt = "<I" if field == "link" else "<Q"
            struct.pack_into(fmt, data, h + fields[field], value)
            path.write_bytes(bytes(data))
            return
    raise AssertionError(name)


@pytest.mark.parametrize(("section", "field", "value", "match"), [
    (".dynsym", "size", 1 << 40, "outside the file|extend past"),
    (".dynsym", "link", 999, "string table index"),
    (".dynsym", "entsize", 7, "entries of 7 bytes"),
    (".dynstr", "size", 3, "name offset"),
    (".gnu.version_d", "size", 4, "version definition"),
])
def test_bad_tables(bins: dict[str, Path], tmp_path: Path, section: str, field: str,
                    value: int, match: str) -> None:
    path = tmp_path / "bad.so"
    shutil.copy(bins["lib"], path)
    _patch_section(path, section, field, value)
    with pytest.raises(ELFError, match=match) as e:
        find_symbol(path, "plain")
    assert str(path) in str(e.value)


def _outcome(img: elf_symbols.ElfImage, src: elf_symbols.BinaryFile, name: str) -> object:
    try:
        return img.lookup(src, name)
    except EbpfError as e:
        return type(e).__name__


def test_scan_and_index_agree(bins: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The first lookups of a table scan it instead of building the index: same answers."""
    monkeypatch.setattr(elf_symbols, "_SCAN_LOOKUPS", 10**9)
    scans = []
    real = elf_symbols._SymbolTable._scan

    def counting(self: elf_symbols._SymbolTable, base: bytes) -> object:
        out = real(self, base)
        scans.append(out is not None)
        return out

    monkeypatch.setattr(elf_symbols._SymbolTable, "_scan", counting)
    for path in (libc_path(), bins["pie"], bins["nopie"], bins["lib"], bins["vexe"]):
        with elf_symbols.open_binary(path) as src:
            scanning = elf_symbols.ElfImage(src)
            indexed = elf_symbols.ElfImage(src)
            names = indexed.function_names(src)       # builds indexed's name index
            versioned = [loc.name for loc in symbols_matching(path, "*")]
            tables = [t for t in (scanning.symbol_table(src, elf_symbols.SHT_DYNSYM),
                                  scanning.symbol_table(src, elf_symbols.SHT_SYMTAB)) if t]
            for name in [*names, *versioned, "nope", "a", "f", "_", "alph", "vfn@VERS_9"]:
                assert _outcome(scanning, src, name) == _outcome(indexed, src, name), name
                for t in tables:     # a scan that gave up built the index: forget it
                    t._index = None
    assert sum(scans) > 0.9 * len(scans)
