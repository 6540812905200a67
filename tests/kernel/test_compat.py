"""Objects in the styles of older toolchains and loaders load and run.

* ``compat_legacy_maps``: maps of maps in ``SEC("maps") struct bpf_map_def`` whose sixth field,
  ``inner_map_idx``, names the inner map by its position among the definitions;
* ``compat_calls_nofunc`` / ``compat_calls_nobtf``: ``.text`` without function symbols, as old
  clang emitted it: the subprograms are found from the calls into them (and, with BTF, named
  by the func info). They are made from ``compat_calls-*.elf`` with::

      S="--strip-symbol=sum_of_squares --strip-symbol=add_index --strip-symbol=square"
      llvm-objcopy-19 $S compat_calls-el.elf compat_calls_nofunc-el.elf
      llvm-objcopy-19 $S -R .BTF -R .BTF.ext -R .rel.BTF -R .rel.BTF.ext \\
          compat_calls-el.elf compat_calls_nobtf-el.elf      # and the same for -eb

* ``compat_kconfig``: the kconfig externs libbpf fills without a config file.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from ebpf import Collection, load_collection
from ebpf.elf_reader import load_collection_spec
from ebpf.errors import SyscallError
from ebpf.map import Map
from ebpf.types import MapType

pytestmark = pytest.mark.kernel

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
PACKET = bytes(range(64))


def obj(name: str) -> Path:
    return TESTDATA / f"{name}-el.elf"


# --- legacy maps of maps ------------------------------------------------------------------------

def test_legacy_inner_map_idx() -> None:
    spec = load_collection_spec(obj("compat_legacy_maps"))
    for outer in ("outer_array", "outer_hash"):
        inner = spec.maps[outer].inner_map
        assert inner is not None and inner.type == MapType.ARRAY and inner.max_entries == 4
    with load_collection(obj("compat_legacy_maps")) as coll:
        prog = coll.programs["read_inner"]
        assert prog.test_run(PACKET).retval == 1000  # outer_array[0] is empty
        inner_values = coll.maps["inner_values"]
        inner_values[2] = (40).to_bytes(4, "little")
        coll.maps["outer_array"][0] = inner_values
        assert prog.test_run(PACKET).retval == 2000  # outer_hash[7] is empty
        template = spec.maps["outer_hash"].inner_map
        assert template is not None
        with Map(template) as other:
            other[3] = (2).to_bytes(4, "little")
            coll.maps["outer_hash"][7] = other
        # The program reads slot 2 through outer_array and slot 3 through outer_hash.
        assert prog.test_run(PACKET).retval == 42
        assert int.from_bytes(coll.maps["calls"][0], "little") == 3
        # The inner map's shape is enforced by the kernel: a map of another size is refused.
        with Map(spec.maps["calls"]) as wrong, pytest.raises(SyscallError) as info:
            coll.maps["outer_array"][1] = wrong
        assert info.value.errno == errno.EINVAL


# --- .text without function symbols -------------------------------------------------------------

@pytest.mark.parametrize("name", ["compat_calls", "compat_calls_nofunc", "compat_calls_nobtf"])
def test_text_without_function_symbols_runs(name: str) -> None:
    spec = load_collection_spec(obj(name))
    if name == "compat_calls_nobtf":
        # A bpf_loop callback needs BTF func info: the kernel refuses it without.
        del spec.programs["compute_loop"]
    with Collection(spec) as coll:
        # 3*3 + 4*4 from two nested subprogram calls (one .text function calling another).
        assert coll.programs["compute"].test_run(PACKET).retval == 25
        assert coll.programs["compute_xdp"].test_run(PACKET).retval == 2  # XDP_PASS
        if "compute_loop" in coll.programs:
            # ... plus 0+..+9 from the bpf_loop callback, found from its function pointer.
            assert coll.programs["compute_loop"].test_run(PACKET).retval == 70

