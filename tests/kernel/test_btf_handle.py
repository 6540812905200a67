"""Loading marshaled BTF into this kernel, plain and sanitized."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest

from ebpf import btf
from ebpf.btf.handle import (
    BTFLoadError,
    Handle,
    detect_marshal_options,
    have_btf,
    have_datasec,
    have_decl_tag,
    have_enum64,
    have_float,
    have_func,
    have_func_linkage,
    have_type_tag,
    kernel_handle_ids,
)
from ebpf.btf.marshal import MarshalOptions, marshal_types
from ebpf.errors import BTFError, ClosedError

from ..unit.test_btf_elf import SOURCE

pytestmark = pytest.mark.kernel

CLANG = shutil.which("clang-19") or shutil.which("clang")


@pytest.fixture(scope="module")
def obj_spec(tmp_path_factory: pytest.TempPathFactory) -> btf.Spec:
    if CLANG is None:
        pytest.skip("clang-19 is not installed: cannot build the test object")
    d = tmp_path_factory.mktemp("handle")
    (d / "prog.c").write_text(SOURCE)
    subprocess.run([CLANG, "--target=bpf", "-g", "-O2", "-I/usr/include/x86_64-linux-gnu",
                    "-c", str(d / "prog.c"), "-o", str(d / "prog.o")], check=True)
    return btf.load_spec(d / "prog.o")


def test_probes_on_this_kernel() -> None:
    for probe in (have_btf, have_datasec, have_decl_tag, have_enum64, have_float,
                  have_func, have_func_linkage, have_type_tag):
        probe()
    opts = detect_marshal_options()
    assert not opts.sanitizing
    assert detect_marshal_options() is opts


def test_load_object_btf(obj_spec: btf.Spec) -> None:
    with Handle.from_spec(obj_spec) as h:
        info = h.info()
        assert info.id > 0 and not info.kernel_btf and info.size > 0
        assert info.id in set(kernel_handle_ids())
        back = h.spec()
        assert [back.dump(i) for i in range(1, len(back) + 1)] == [
            obj_spec.dump(i) for i in range(1, len(obj_spec) + 1)]
        with h.clone() as h2:
            assert h2.info().id == info.id and h2.fd != h.fd
    assert h.closed
    with pytest.raises(ClosedError):
        h.info()
    h.close()
    assert "closed" in repr(h)


OPTION_NAMES = [f.name for f in dataclasses.fields(MarshalOptions)
                if f.name.startswith(("strip_", "replace_"))]


@pytest.mark.parametrize("option", [*OPTION_NAMES, "all"])
def test_load_sanitized(obj_spec: btf.Spec, option: str) -> None:
    opts = (MarshalOptions.all_sanitized() if option == "all"
            else MarshalOptions(**{option: True}))  # type: ignore[arg-type]
    with Handle.from_spec(obj_spec, options=opts) as h:
        back = h.spec()
        assert len(back) == len(obj_spec)
        if option in ("all", "replace_float"):
            assert not any(isinstance(t, btf.Float) for t in back)
        if option in ("all", "replace_datasec"):
            assert not any(isinstance(t, (btf.Datasec, btf.Var)) for t in back)
        if option in ("all", "strip_decl_tags"):
            assert not any(isinstance(t, btf.DeclTag) for t in back)


def test_load_kernel_types() -> None:
    kspec = btf.load_kernel_spec()
    roots: list[btf.Type] = [kspec.type_by_name("task_struct", btf.Struct),
                             kspec.type_by_name("bpf_attr", btf.Union)]
    with Handle.from_types(roots) as h:
        back = h.spec()
        task = back.type_by_id(h.type_id(roots[0]))
        assert isinstance(task, btf.Struct) and task.size == btf.sizeof(roots[0])
    with Handle.from_types(roots, options=MarshalOptions.all_sanitized()) as h:
        assert h.info().size > 0


def test_rejected_btf_carries_the_log() -> None:
    bad = btf.Struct("s", 4, [btf.Member("x", btf.Int("long", 8), 0)])
    with pytest.raises(BTFLoadError, match="Member exceeds struct_size") as ei:
        Handle.from_bytes(marshal_types([bad])[0])
    assert "Member exceeds" in ei.value.log and isinstance(ei.value, BTFError)


def test_vmlinux_by_id() -> None:
    for btf_id in kernel_handle_ids():
        with Handle.from_id(btf_id) as h:
            info = h.info()
            if info.name == "vmlinux":
                assert info.kernel_btf
                assert len(h.spec()) == len(btf.load_kernel_spec())
                return
    pytest.fail("no vmlinux BTF object in the kernel")


def _testdata_objects() -> list[Path]:
    root = Path(__file__).resolve().parents[2] / "testdata"
    # (objects built without BTF say so in their names: nothing to load)
    return sorted(p for p in root.glob("*-el.elf") if p.is_file() and "nobtf" not in p.name)


@pytest.mark.parametrize("path", _testdata_objects(), ids=lambda p: p.name)
def test_load_testdata_btf(path: Path) -> None:
    spec = btf.load_spec(path)
    for opts in (None, MarshalOptions.all_sanitized()):
        with Handle.from_spec(spec, options=opts) as h:
            assert h.info().size > 0
