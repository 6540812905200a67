"""ebpf.internal.elf: the pyelftools gateway gives plain data and only ELFError."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ebpf.errors import ELFError
from ebpf.internal import elf

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"


@pytest.mark.parametrize("order", ["el", "eb"])
def test_sections_symbols_relocations(order: str) -> None:
    f = elf.read_elf((TESTDATA / f"maps-{order}.elf").read_bytes())
    assert f.byte_order == ("little" if order == "el" else "big")
    assert f.machine == elf.EM_BPF and f.elf_type == 1
    xdp = f.section_by_name("xdp")
    assert xdp is not None and xdp.executable and xdp.size == len(xdp.data)
    assert f.section(xdp.index) is xdp
    names = {s.name for s in f.symbols_in(xdp.index) if s.type == elf.STT_FUNC}
    assert names == {"tail_target", "count_packets"}
    relocs = f.relocations[xdp.index]
    assert relocs and all(r.offset % 8 == 0 for r in relocs)
    assert {f.symbol(r.symbol).name for r in relocs} >= {"counts_by_len", "jump_table"}
    assert f.section_by_name("nope") is None
    with pytest.raises(ELFError):
        f.section(10_000)
    with pytest.raises(ELFError):
        f.symbol(10_000)


def test_bss_has_no_contents() -> None:
    f = elf.read_elf((TESTDATA / "globals-el.elf").read_bytes())
    bss = f.section_by_name(".bss")
    assert bss is not None and bss.type == elf.SHT_NOBITS and bss.size > 0 and bss.data == b""


def test_malformed_headers_raise_elf_error() -> None:
    raw = bytearray((TESTDATA / "minimal-el.elf").read_bytes())
    with pytest.raises(ELFError, match="magic"):
        elf.read_elf(b"\x7fELG" + bytes(60))
    bad = bytearray(raw)
    struct.pack_into("<Q", bad, 0x28, len(raw) + 4096)   # e_shoff beyond the file
    with pytest.raises(ELFError):
        elf.read_elf(bytes(bad))
    bad = bytearray(raw)
    struct.pack_into("<H", bad, 0x3E, 999)                # e_shstrndx out of range
    with pytest.raises(ELFError):
        elf.read_elf(bytes(bad))
    with pytest.raises(ELFError):
        elf.read_elf(bytes(raw[:40]))
