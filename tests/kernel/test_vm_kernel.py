"""What the VM runner's kernels offer and the development machine's kernel refuses.

Run in the guests with ``python3 scripts/vm.py --kernel all -- -m vm tests/kernel``. On the host
these skip, naming the reason found by a conclusive probe (a real load that the kernel refuses
with EPERM, a PMU or a sysfs file the kernel does not have). In a guest (``EBPF_VM_KERNEL`` set)
the same probe failing is a test failure: those kernels are known to have every feature here.

Every program counts, in a one-entry array map, how often the test process itself (its tgid,
compared inside the program) went through the hooked kernel function, so that other processes
cannot disturb the count.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ebpf import asm, btf
from ebpf.asm import R0, R1, R2
from ebpf.errors import SyscallError, VerifierError
from ebpf.info import btf_ids
from ebpf.internal.sys import FD, BtfInfo, LinkCreateAttr, commands
from ebpf.map import Map, MapSpec
from ebpf.program import Program, ProgramSpec
from ebpf.types import AttachType, MapType, ProgramType

pytestmark = [pytest.mark.kernel, pytest.mark.vm]

VM_KERNEL = os.environ.get("EBPF_VM_KERNEL", "")
#: Reached once per open(2): present in the BTF and the kallsyms of 6.1 and 6.12.
OPEN_FUNC = "do_sys_openat2"
TRIGGERS = 100


def unavailable(reason: str) -> None:
    """Skip on the host; fail in a VM runner guest, whose kernel must have the feature."""
    if VM_KERNEL:
        pytest.fail(f"the VM kernel {VM_KERNEL} should offer this: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def counter() -> Iterator[Map]:
    with Map(MapSpec(name="vm_count", type=MapType.ARRAY, key_size=4, value_size=8,
                     max_entries=1)) as m:
        yield m


def count(m: Map) -> int:
    return int.from_bytes(m[0], "little")


def counting_program(m: Map) -> asm.Instructions:
    """``if (tgid == ours) counter[0] += 1; return 0;``"""
    return asm.Instructions([
        asm.call(asm.Helper.get_current_pid_tgid),
        asm.rsh.imm(R0, 32),
        asm.jne.imm(R0, os.getpid(), "out"),
        asm.load_map_value(R1, m.fd, 0),
        asm.mov.imm(R2, 1),
        asm.atomic_add(R1, 0, R2),
        "out:",
        asm.mov.imm(R0, 0),
        asm.exit(),
    ])


@pytest.fixture
def open_files(tmp_path: Path) -> Callable[[int], None]:
    """``open_files(n)`` opens (and closes) a file ``n`` times: ``n`` calls of OPEN_FUNC.

    The file exists before any count starts, so that creating it is not counted.
    """
    path = tmp_path / "target"
    with open(path, "w"):
        pass

    def open_files(n: int) -> None:
        for _ in range(n):
            os.close(os.open(path, os.O_RDONLY))

    return open_files


def func_id(name: str) -> int:
    """The kernel BTF id of function ``name``."""
    spec = btf.load_kernel_spec()
    return spec.type_id(spec.type_by_name(name, btf.Func))


def tp_btf_loads() -> bool:
    """Whether a tp_btf program (same type and privileges as fentry, no trampoline) loads."""
    spec = btf.load_kernel_spec()
    target = spec.type_by_name("btf_trace_sys_enter", btf.Typedef)
    probe = ProgramSpec(name="vm_tp_btf", type=ProgramType.TRACING,
                        instructions=asm.Instructions([asm.mov.imm(R0, 0), asm.exit()]),
                        license="GPL", attach_type=AttachType.TRACE_RAW_TP,
                        attach_btf_id=spec.type_id(target))
    try:
        Program(probe).close()
    except SyscallError:
        return False
    return True


def load_trampoline(spec: ProgramSpec) -> Program:
    """Load a trampoline program; a kernel that refuses the family outright is unavailable."""
    try:
        return Program(spec)
    except VerifierError:
        raise
    except SyscallError as e:
        # EPERM is conclusive only if this process may load tracing programs at all: a tp_btf
        # program needs the same privileges and no trampoline.
        if e.errno != errno.EPERM or not tp_btf_loads():
            raise
        unavailable(f"trampoline programs refused: EPERM ({spec.type.name} "
                    f"{spec.attach_type.name if spec.attach_type else ''} on "
                    f"{spec.attach_to}; a tp_btf program loads)")
        raise  # not reached


def link(prog: Program, attach_type: AttachType, target_fd: int = 0) -> FD:
    attr = LinkCreateAttr(prog_fd=prog.fd, target_fd=target_fd, attach_type=attach_type)
    return commands.link_create(attr, f"attach {prog.name}")


# --- trampolines: fentry, fexit, lsm ------------------------------------------------------------

@pytest.mark.parametrize("attach_type", [AttachType.TRACE_FENTRY, AttachType.TRACE_FEXIT],
                         ids=["fentry", "fexit"])
def test_tracing_program_counts_calls(counter: Map, open_files: Callable[[int], None],
                                      attach_type: AttachType) -> None:
    spec = ProgramSpec(name="vm_tracing", type=ProgramType.TRACING,
                       instructions=counting_program(counter), license="GPL",
                       attach_type=attach_type, attach_to=OPEN_FUNC,
                       attach_btf_id=func_id(OPEN_FUNC))
    with load_trampoline(spec) as prog:
        assert prog.info().type is ProgramType.TRACING
        open_files(3)
        assert count(counter) == 0  # loaded, not attached: nothing runs
        with link(prog, attach_type):
            before = count(counter)
            open_files(TRIGGERS)
            assert count(counter) - before == TRIGGERS
        open_files(3)
        assert count(counter) - before == TRIGGERS  # detached with the link


def test_lsm_program_sees_every_open(counter: Map, open_files: Callable[[int], None]) -> None:
    # securityfs need not be mounted on the host; the guests mount it.
    with contextlib.suppress(FileNotFoundError), open("/sys/kernel/security/lsm") as f:
        active = f.read().split(",")
        if "bpf" not in active:
            unavailable(f"the bpf LSM is not active (lsm={','.join(active)})")
    spec = ProgramSpec(name="vm_lsm", type=ProgramType.LSM,
                       instructions=counting_program(counter), license="GPL",
                       attach_type=AttachType.LSM_MAC, attach_to="file_open",
                       attach_btf_id=func_id("bpf_lsm_file_open"))
    with load_trampoline(spec) as prog, link(prog, AttachType.LSM_MAC):
        before = count(counter)
        open_files(TRIGGERS)
        # Returning 0 allows the open: all of them succeeded, and each was seen.
        assert count(counter) - before == TRIGGERS


# --- kprobes ------------------------------------------------------------------------------------

KPROBE_PMU = "/sys/bus/event_source/devices/kprobe"
_libc = ctypes.CDLL(None, use_errno=True)
_NR_PERF_EVENT_OPEN = 298  # x86_64
_PERF_FLAG_FD_CLOEXEC = 8
_PERF_ATTR_SIZE_VER5 = 112


def kprobe_pmu() -> tuple[int, int]:
    """The kprobe PMU's type and the ``config`` bit that makes a kretprobe."""
    try:
        with open(f"{KPROBE_PMU}/type") as f:
            pmu = int(f.read())
    except FileNotFoundError:
        unavailable(f"kprobe PMU missing: no {KPROBE_PMU}/type (kernel without kprobes)")
        raise  # not reached
    with open(f"{KPROBE_PMU}/format/retprobe") as f:
        field = f.read().strip()  # "config:0"
    assert field.startswith("config:"), field
    return pmu, int(field.split(":")[1])


@contextlib.contextmanager
def kprobe_event(func: str, ret: bool) -> Iterator[int]:
    """A perf event for a k(ret)probe on ``func``, created through the kprobe PMU."""
    pmu, retbit = kprobe_pmu()
    name = ctypes.create_string_buffer(func.encode())
    attr = ctypes.create_string_buffer(_PERF_ATTR_SIZE_VER5)
    struct.pack_into("<IIQQ", attr, 0, pmu, _PERF_ATTR_SIZE_VER5, (1 << retbit) if ret else 0, 1)
    struct.pack_into("<QQ", attr, 56, ctypes.addressof(name), 0)  # config1: name, config2: off
    _libc.syscall.restype = ctypes.c_long
    fd = _libc.syscall(ctypes.c_long(_NR_PERF_EVENT_OPEN), attr, ctypes.c_int(-1),
                       ctypes.c_int(0), ctypes.c_int(-1), ctypes.c_ulong(_PERF_FLAG_FD_CLOEXEC))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"perf_event_open(kprobe {func}): {os.strerror(err)}")
    try:
        yield fd
    finally:
        os.close(fd)


@pytest.mark.parametrize("ret", [False, True], ids=["kprobe", "kretprobe"])
def test_kprobe_counts_calls(counter: Map, open_files: Callable[[int], None], ret: bool
                             ) -> None:
    spec = ProgramSpec(name="vm_kprobe", type=ProgramType.KPROBE,
                       instructions=counting_program(counter), license="GPL")
    with kprobe_event(OPEN_FUNC, ret) as event, Program(spec) as prog:
        with link(prog, AttachType.PERF_EVENT, event):
            before = count(counter)
            open_files(TRIGGERS)
            assert count(counter) - before == TRIGGERS
        after = count(counter)
        open_files(3)
        assert count(counter) == after


# --- module BTF ---------------------------------------------------------------------------------

#: A module the VM runner's initramfs always loads (the guest's root is an overlay), and a type
#: that module defines.
MODULE, MODULE_TYPE = "overlay", "ovl_fs"


def test_module_btf() -> None:
    if not os.path.exists("/proc/modules"):
        unavailable("kernel module BTF: the kernel has no loadable modules (no /proc/modules)")
    with open("/proc/modules") as f:
        loaded = {line.split()[0] for line in f}
    if MODULE not in loaded:
        unavailable(f"kernel module {MODULE!r} is not loaded")
    if not os.path.exists(f"/sys/kernel/btf/{MODULE}"):
        unavailable(f"kernel module BTF: no /sys/kernel/btf/{MODULE} (modules without BTF)")

    # The module's BTF is split on vmlinux: its own types follow the kernel's ids.
    vmlinux = btf.load_kernel_spec()
    spec = btf.load_kernel_module_spec(MODULE)
    own = spec.type_by_name(MODULE_TYPE, btf.Struct)
    assert spec.type_id(own) > len(vmlinux)
    assert not vmlinux.types_by_name(MODULE_TYPE)
    assert own.size > 0 and own.members
    # Types from the base resolve through the split spec.
    assert spec.type_by_name("task_struct", btf.Struct) is vmlinux.type_by_name(
        "task_struct", btf.Struct)

    # The kernel lists the module's BTF as a kernel BTF object named after the module.
    names = {}
    for btf_id in btf_ids():
        try:
            fd = commands.btf_get_fd_by_id(btf_id)
        except SyscallError as e:
            if e.errno == errno.ENOENT:  # freed meanwhile (another test's BTF)
                continue
            raise
        with fd:
            buf = ctypes.create_string_buffer(64)
            info = BtfInfo(name=ctypes.addressof(buf), name_len=len(buf))
            commands.obj_get_info_by_fd(fd.raw, info)
            if info.kernel_btf:
                names[buf.value.decode()] = info.btf_size
    assert "vmlinux" in names
    assert MODULE in names
    assert names[MODULE] == os.path.getsize(f"/sys/kernel/btf/{MODULE}")
