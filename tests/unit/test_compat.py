"""Reading objects in the styles of older toolchains (no kernel needed; the kernel side is
tests/kernel/test_compat.py): legacy maps of maps with ``inner_map_idx``, code sections without
function symbols, function symbols old LLVM left untyped."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ebpf.elf_reader import load_collection_spec
from ebpf.errors import ELFError
from ebpf.internal import elf
from ebpf.types import MapType

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
ORDERS = ["el", "eb"]


def obj(name: str, order: str) -> Path:
    return TESTDATA / f"{name}-{order}.elf"


def edit_symbol(raw: bytes, name: str, *, info: int | None = None,
                st_name: int | None = None) -> bytes:
    """``raw`` with the ``st_info`` (and ``st_name``) of symbol ``name`` replaced."""
    f = elf.read_elf(raw)
    (tab,) = [s for s in f.sections if s.type == elf.SHT_SYMTAB]
    (sym,) = [s for s in f.symbols if s.name == name]
    layout = struct.Struct(("<" if f.byte_order == "little" else ">") + "IBBHQQ")
    pos = tab.offset + sym.index * layout.size
    fields = list(layout.unpack_from(raw, pos))
    if info is not None:
        fields[1] = info
    if st_name is not None:
        fields[0] = st_name
    out = bytearray(raw)
    layout.pack_into(out, pos, *fields)
    return bytes(out)


def edit_map_word(raw: bytes, map_name: str, word: int, value: int) -> bytes:
    """``raw`` with 32-bit field ``word`` of the legacy definition of ``map_name`` replaced."""
    f = elf.read_elf(raw)
    sec = f.section_by_name("maps")
    assert sec is not None
    (sym,) = [s for s in f.symbols if s.name == map_name]
    out = bytearray(raw)
    order = "<" if f.byte_order == "little" else ">"
    struct.pack_into(order + "I", out, sec.offset + sym.value + 4 * word, value)
    return bytes(out)


# --- legacy maps of maps ---------------------------------------------------------------------

@pytest.mark.parametrize("order", ORDERS)
def test_inner_map_idx_names_a_definition(order: str) -> None:
    spec = load_collection_spec(obj("compat_legacy_maps", order))
    assert list(spec.maps) == ["calls", "inner_values", "outer_array", "outer_hash"]
    values = spec.maps["inner_values"]
    for outer, kind in (("outer_array", MapType.ARRAY_OF_MAPS),
                        ("outer_hash", MapType.HASH_OF_MAPS)):
        m = spec.maps[outer]
        assert m.type == kind and m.value_size == 4
        inner = m.inner_map
        assert inner is not None
        assert inner.name == f"{outer}.inner"
        assert (inner.type, inner.key_size, inner.value_size, inner.max_entries, inner.flags) == \
            (values.type, values.key_size, values.value_size, values.max_entries, values.flags)
        assert inner is not values  # a template of its own: editing one leaves the other
    assert spec.maps["calls"].inner_map is None and values.inner_map is None
    # The specs copy and compare like any other.
    assert spec.copy().maps["outer_hash"].inner_map == spec.maps["outer_hash"].inner_map


@pytest.mark.parametrize("order", ORDERS)
def test_inner_map_idx_index_zero_and_other_indexes(order: str) -> None:
    raw = obj("compat_legacy_maps", order).read_bytes()
    spec = load_collection_spec(edit_map_word(raw, "outer_array", 5, 0))
    inner = spec.maps["outer_array"].inner_map
    assert inner is not None and inner.value_size == 8  # definition 0, "calls"


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(("map_name", "word", "value", "message"), [
    ("outer_array", 5, 4, r"inner_map_idx 4 is out of range \(the section defines 4 maps\)"),
    ("outer_array", 5, 2, r"inner_map_idx 2 names 'outer_array', itself a map of maps"),
    ("outer_hash", 5, 2, r"inner_map_idx 2 names 'outer_array', itself a map of maps"),
    ("outer_array", 5, 0xFFFFFFFF, "out of range"),
    ("outer_array", 2, 8, "value_size must be 4 for a map of maps, not 8"),
    ("calls", 5, 1, r"inner_map_idx 1 in the definition of a ARRAY map, which holds no maps"),
])
def test_bad_inner_map_idx(order: str, map_name: str, word: int, value: int,
                           message: str) -> None:
    raw = obj("compat_legacy_maps", order).read_bytes()
    with pytest.raises(ELFError, match=message) as info:
        load_collection_spec(edit_map_word(raw, map_name, word, value))
    assert "section 'maps'" in str(info.value) and repr(map_name) in str(info.value)


@pytest.mark.parametrize("order", ORDERS)
def test_five_field_definition_of_a_map_of_maps(order: str) -> None:
    # loader_legacy has 20-byte definitions: a map of maps there has no inner_map_idx at all.
    raw = edit_map_word(obj("loader_legacy", order).read_bytes(), "legacy_array", 0,
                        int(MapType.ARRAY_OF_MAPS))
    with pytest.raises(ELFError, match="a legacy map of maps needs inner_map_idx"):
        load_collection_spec(raw)


# --- code without function symbols ----------------------------------------------------------

def _shape(insns: object) -> list[tuple[int, int, int, int, int]]:
    return [(int(i.opcode), int(i.dst), int(i.src), i.offset, i.constant)
            for i in insns]  # type: ignore[attr-defined]


@pytest.mark.parametrize("order", ORDERS)
def test_subprograms_found_from_calls(order: str) -> None:
    reference = load_collection_spec(obj("compat_calls", order))
    cases = {"compat_calls_nofunc": ["sum_of_squares", "square", "add_index"],
             "compat_calls_nobtf": [".text+0x0", ".text+0x60", ".text+0x38"]}
    for name, subprograms in cases.items():
        spec = load_collection_spec(obj(name, order))
        assert sorted(spec.programs) == ["compute", "compute_loop", "compute_xdp"]
        insns = spec.programs["compute_loop"].instructions
        # Named by the BTF func info when there is one, else by section and offset.
        assert [i.symbol for i in insns if i.symbol] == ["compute_loop", *subprograms], name
        # The same code as read from the object with symbols.
        assert _shape(insns) == _shape(reference.programs["compute_loop"].instructions), name
        xdp = spec.programs["compute_xdp"].instructions
        assert _shape(xdp) == _shape(reference.programs["compute_xdp"].instructions), name
        if name == "compat_calls_nofunc":
            assert spec.programs["compute"].btf == reference.programs["compute"].btf
        else:
            assert spec.programs["compute"].btf is None


@pytest.mark.parametrize("order", ORDERS)
def test_untyped_global_function_symbol(order: str) -> None:
    """Old LLVM left program symbols STT_NOTYPE: still a program, with its name."""
    raw = obj("compat_calls_nobtf", order).read_bytes()
    notype = edit_symbol(raw, "compute_xdp", info=elf.STB_GLOBAL << 4 | elf.STT_NOTYPE)
    spec = load_collection_spec(notype)
    assert "compute_xdp" in spec.programs


@pytest.mark.parametrize("order", ORDERS)
def test_program_section_without_symbol(order: str) -> None:
    """A program section with no function symbol at all: its program is named after it."""
    raw = obj("compat_calls_nobtf", order).read_bytes()
    hidden = edit_symbol(raw, "compute_xdp", info=elf.STB_LOCAL << 4 | elf.STT_NOTYPE,
                         st_name=0)
    spec = load_collection_spec(hidden)
    assert "compute_xdp" not in spec.programs
    prog = spec.programs["xdp"]
    assert prog.section_name == "xdp"
    assert _shape(prog.instructions) == _shape(
        load_collection_spec(raw).programs["compute_xdp"].instructions)



# --- kconfig externs the loader defines itself ----------------------------------------------

@pytest.mark.parametrize("order", ORDERS)
def test_linux_kconfig_externs_are_read(order: str) -> None:
    spec = load_collection_spec(obj("compat_kconfig", order))
    assert spec.weak_externs == {"LINUX_HAS_SOMETHING_NEWER"}
    layout = {name: (v.offset, v.size) for name, v in spec.variables.items()
              if v.map_name == ".kconfig"}
    # libbpf's layout: largest alignment first, then smallest size, then by name.
    assert layout == {"LINUX_HAS_SOMETHING_NEWER": (0, 8), "LINUX_KERNEL_VERSION": (8, 4),
                      "CONFIG_BPF_SYSCALL": (12, 1), "LINUX_HAS_BPF_COOKIE": (13, 1),
                      "LINUX_HAS_SYSCALL_WRAPPER": (14, 1)}
    assert spec.maps[".kconfig"].value_size == 16
