"""Trampoline programs through ``ebpf.link.tracing`` and ``ebpf.link.lsm``: fentry/fexit on a
kernel function the test calls, fmod_ret changing a kernel function's result and an LSM
program denying an open, and freplace changing what a test program computes.

The development kernel refuses trampoline programs (EPERM): there these tests skip with the
reason a conclusive probe gives. They run in the VM runner's guests (``python3 scripts/vm.py
--kernel all -- -m vm tests/kernel/test_link_tracing.py``), where a refusal fails instead.

Programs: testdata/link_tracing.c, link_freplace_target.c, link_freplace.c.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import ebpf
from ebpf import btf, link
from ebpf.errors import EbpfError
from ebpf.types import AttachType, LinkType

from ..support import trampolines_or_skip

pytestmark = [pytest.mark.kernel, pytest.mark.vm]

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
FENTRY, FEXIT, FMOD_RET, LSM = range(4)
N = 20


@dataclass
class Objects(ebpf.Objects):
    fentry_open: ebpf.Program = ebpf.field("fentry_open")
    fexit_open: ebpf.Program = ebpf.field("fexit_open")
    fmod_ret_open: ebpf.Program = ebpf.field("fmod_ret_open")
    deny_open: ebpf.Program = ebpf.field("deny_open")
    counts: ebpf.Map = ebpf.field("counts")
    values: ebpf.Map = ebpf.field("values")


@pytest.fixture(scope="module")
def denied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The file the LSM program denies the test process (by inode number)."""
    path = tmp_path_factory.mktemp("lsm") / "denied"
    path.write_bytes(b"secret")
    return path


@pytest.fixture(scope="module")
def objs(denied: Path) -> Iterator[Objects]:
    spec = ebpf.load_collection_spec(TESTDATA / "link_tracing-el.elf")
    spec.variables["target_tgid"].set(os.getpid())
    spec.variables["target_ino"].set(os.stat(denied).st_ino)
    with trampolines_or_skip():
        loaded = spec.load_and_assign(Objects())
    with loaded as o:
        yield o


def opens(path: Path, n: int) -> int:
    fd = -1
    for _ in range(n):
        fd = os.open(path, os.O_RDONLY)
        os.close(fd)
    return fd


def test_fentry_and_fexit_see_opens_and_results(objs: Objects, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"")
    with link.tracing(objs.fentry_open, cookie=5) as entry, link.tracing(objs.fexit_open):
        before = int(objs.counts[FENTRY]), int(objs.counts[FEXIT])
        last = opens(target, N)
        assert int(objs.counts[FENTRY]) - before[0] == N
        assert int(objs.counts[FEXIT]) - before[1] == N
        assert int(objs.values[FENTRY]) == 5  # the cookie
        assert int(objs.values[FEXIT]) == last  # do_sys_openat2's result
        info = entry.info()
        kernel = btf.load_kernel_spec()
        assert info.type is LinkType.TRACING
        assert info.attach_type is AttachType.TRACE_FENTRY
        assert info.target is not None
        assert info.target["target_btf_id"] == kernel.type_id(
            kernel.type_by_name("do_sys_openat2", btf.Func))
    after = int(objs.counts[FENTRY])
    opens(target, 3)
    assert int(objs.counts[FENTRY]) == after


def test_fmod_ret_changes_what_a_kernel_function_returns(objs: Objects, denied: Path,
                                                         tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.write_bytes(b"")
    with link.tracing(objs.fmod_ret_open) as lk:
        before = int(objs.counts[FMOD_RET])
        # security_file_open() returned -EACCES instead of running (and allowing the open).
        with pytest.raises(PermissionError) as e:
            denied.read_bytes()
        assert e.value.errno == errno.EACCES
        assert other.read_bytes() == b""
        assert int(objs.counts[FMOD_RET]) - before == 1
        assert lk.info().attach_type is AttachType.MODIFY_RETURN
    assert denied.read_bytes() == b"secret"


def test_lsm_program_denies_an_open(objs: Objects, denied: Path, tmp_path: Path) -> None:
    with contextlib.suppress(FileNotFoundError), open("/sys/kernel/security/lsm") as f:
        if "bpf" not in f.read().split(","):
            pytest.skip("the bpf LSM is not active (lsm= of the kernel command line)")
    other = tmp_path / "other"
    other.write_bytes(b"")
    assert denied.read_bytes() == b"secret"
    with link.lsm(objs.deny_open) as lk:
        before = int(objs.counts[LSM])
        with pytest.raises(PermissionError) as e:
            denied.read_bytes()
        assert e.value.errno == errno.EPERM
        assert other.read_bytes() == b""  # only that file
        assert int(objs.counts[LSM]) - before == 1
        assert lk.info().attach_type is AttachType.LSM_MAC
    assert denied.read_bytes() == b"secret"  # allowed again once detached


@dataclass
class TargetObjects(ebpf.Objects):
    freplace_target: ebpf.Program = ebpf.field("freplace_target")


@dataclass
class ExtObjects(ebpf.Objects):
    new_compute: ebpf.Program = ebpf.field("new_compute")


def test_freplace_replaces_a_global_function(objs: Objects) -> None:
    packet = bytes(64)
    target_spec = ebpf.load_collection_spec(TESTDATA / "link_freplace_target-el.elf")
    ext_spec = ebpf.load_collection_spec(TESTDATA / "link_freplace-el.elf")
    with target_spec.load_and_assign(TargetObjects()) as target:
        base = target.freplace_target.test_run(packet).retval  # compute(len) = len + 1
        options = ebpf.CollectionOptions(attach_targets={"new_compute": target.freplace_target})
        with ext_spec.load_and_assign(ExtObjects(), options) as ext:
            with link.tracing(ext.new_compute) as lk:
                assert target.freplace_target.test_run(packet).retval == base - 1 + 1000
                info = lk.info()
                assert info.type is LinkType.TRACING
                assert info.target is not None
                assert info.target["target_obj_id"] == target.freplace_target.info().id
            assert target.freplace_target.test_run(packet).retval == base
            # The load-time target is used up: attach again by naming the target.
            with link.tracing(ext.new_compute, target=target.freplace_target):
                assert target.freplace_target.test_run(packet).retval == base - 1 + 1000
            with pytest.raises(EbpfError, match="has no function 'no_such_function'"):
                link.tracing(ext.new_compute, target=target.freplace_target,
                             target_function="no_such_function")
        assert target.freplace_target.test_run(packet).retval == base


def test_freplace_without_a_target_is_refused_before_loading() -> None:
    ext_spec = ebpf.load_collection_spec(TESTDATA / "link_freplace-el.elf")
    with pytest.raises(EbpfError, match=r"attach_targets=\{'new_compute': program\}"):
        ext_spec.load_and_assign(ExtObjects())
