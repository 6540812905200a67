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

import contextlib
import dataclasses
import errno
import os
import re
import struct
from pathlib import Path

import pytest

from ebpf import Collection, load_collection
from ebpf.elf_reader import load_collection_spec
from ebpf.errors import EbpfError, SyscallError
from ebpf.map import Map
from ebpf.types import MapType
from tests.support import kallsyms, kernel_config

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



# --- kconfig externs the loader defines itself ---------------------------------------------

def _has_syscall_wrapper() -> bool:
    """Whether this kernel enters syscalls through arch wrappers (``__x64_sys_bpf`` ...)."""
    for prefix in ("__x64_", "__ia32_", "__arm64_", "__s390x_", "__s390_", "__riscv_",
                   "__powerpc_", "__loongarch_"):
        with contextlib.suppress(KeyError):
            kallsyms(f"{prefix}sys_bpf")
            return True
    return False


def test_linux_kconfig_externs() -> None:
    spec = load_collection_spec(obj("compat_kconfig"))
    with Collection(spec) as coll:
        coll.programs["read_kconfig"].test_run(PACKET)
        raw = coll.variables["seen"].get_bytes()
    version, wrapper, cookie, bpf_syscall, newer = struct.unpack("<4IQ", raw)
    release = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", os.uname().release)
    assert release is not None
    major, minor, patch = (int(g or 0) for g in release.groups())
    assert version == major << 16 | minor << 8 | min(patch, 255)
    assert wrapper == _has_syscall_wrapper()
    # BPF cookies came with Linux 5.15 (perf event and kprobe multi links).
    assert cookie == ((major, minor) >= (5, 15))
    assert bpf_syscall == (kernel_config().get("CONFIG_BPF_SYSCALL") == "y")
    assert newer == 0  # unknown to every loader, __weak: zero, as libbpf leaves it


def test_unknown_linux_extern_must_be_weak() -> None:
    spec = load_collection_spec(obj("compat_kconfig"))
    strict = dataclasses.replace(spec, weak_externs=frozenset())
    with pytest.raises(EbpfError, match=r"'LINUX_HAS_SOMETHING_NEWER' is not known"):
        Collection(strict)
