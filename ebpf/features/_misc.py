"""Features that are no map, program, attach or link type: instruction sets, verifier
abilities, commands, flags, BTF kinds and the perf PMUs that kprobes and uprobes use.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os

from .. import asm
from ..asm import R0, R1, R2, R10, Instructions
from ..btf.handle import (
    have_btf as have_btf,
    have_datasec as have_btf_datasec,
    have_decl_tag as have_btf_decl_tag,
    have_enum64 as have_btf_enum64,
    have_float as have_btf_float,
    have_func as have_btf_func,
    have_func_linkage as have_btf_global_func,
    have_type_tag as have_btf_type_tag,
)
from ..errors import EbpfError, NotSupportedError, SyscallError
from ..internal.feature import feature_test
from ..internal.sys import (
    MapBatchAttr,
    MapCreateAttr,
    MapFreezeAttr,
    ProgRunAttr,
    TokenCreateAttr,
    commands,
)
from ..program import _have_bpf_cookie, _have_object_names
from ..types import MapFlags, MapType, ProgramType
from ._maps import have_map_type
from ._probe import (
    ENOTSUPP,
    RETURN_0,
    U32_MAX,
    ProbeProgram,
    absent,
    encode,
    errno_name,
    load,
    try_load,
)
from ._programs import have_program_type

__all__ = [
    "have_atomics",
    "have_batch_ops",
    "have_bounded_loops",
    "have_bpf_cookie",
    "have_bpf_token",
    "have_btf",
    "have_btf_datasec",
    "have_btf_decl_tag",
    "have_btf_enum64",
    "have_btf_float",
    "have_btf_func",
    "have_btf_global_func",
    "have_btf_type_tag",
    "have_kprobe_pmu",
    "have_map_freeze",
    "have_mmapable_maps",
    "have_object_names",
    "have_prog_test_run",
    "have_ringbuf",
    "have_syscall_programs",
    "have_uprobe_pmu",
    "have_v2_isa",
    "have_v3_isa",
    "have_v4_isa",
]

def have_object_names() -> None:
    """Probe: maps and programs take a name (``BPF_OBJ_NAME``, 4.15); the loader's own probe,
    with one memo for both."""
    _have_object_names()


def _instruction_probe(insns: Instructions, what: str, *, absent_if: tuple[str, ...]) -> None:
    """Load a socket filter running ``insns``: absent if the verifier rejects it with one of
    ``absent_if`` in its last lines (or any EINVAL when ``absent_if`` is empty)."""
    loaded = try_load(ProbeProgram(ProgramType.SOCKET_FILTER, encode(insns)), what)
    if loaded.fd is not None:
        loaded.fd.close()
        return
    err = loaded.error
    assert err is not None
    if err.errno in (errno.EINVAL, errno.EACCES, ENOTSUPP) and (
            not absent_if or any(loaded.log_has(n) for n in absent_if)):
        absent(f"the verifier rejects it ({loaded.describe()})", err)
    loaded.fail(what)


# --- the instruction set -----------------------------------------------------------------------

@feature_test("bounded loops", "5.3")
def have_bounded_loops() -> None:
    """Probe: the verifier accepts a loop that ends (``r0 = 10; do r0 -= 1 while r0``)."""
    _instruction_probe(Instructions([
        asm.mov.imm(R0, 10),
        "loop:",
        asm.sub.imm(R0, 1),
        asm.jne.imm(R0, 0, "loop"),
        asm.exit(),
    ]), "probe bounded loops", absent_if=("back-edge",))


@feature_test("ISA v2 (BPF_JLT, BPF_JLE, BPF_JSLT, BPF_JSLE)", "4.14")
def have_v2_isa() -> None:
    """Probe: the jumps of instruction set v2 (``jlt`` and friends)."""
    _instruction_probe(Instructions([
        asm.mov.imm(R0, 0),
        asm.jlt.imm(R0, 1, "out"),
        asm.mov.imm(R0, 1),
        "out:",
        asm.exit(),
    ]), "probe ISA v2", absent_if=())


@feature_test("ISA v3 (BPF_JMP32)", "5.1")
def have_v3_isa() -> None:
    """Probe: the 32-bit jumps of instruction set v3 (``BPF_JMP32``)."""
    _instruction_probe(Instructions([
        asm.mov.imm(R0, 0),
        asm.jlt32.imm(R0, 1, "out"),
        asm.mov.imm(R0, 1),
        "out:",
        asm.exit(),
    ]), "probe ISA v3", absent_if=())


@feature_test("atomic operations (BPF_ATOMIC fetch, xchg, cmpxchg)", "5.12")
def have_atomics() -> None:
    """Probe: the atomic instructions beyond add (fetch-and-add, exchange, compare-and-exchange,
    as clang emits for ``__sync_fetch_and_add`` and friends with ``-mcpu=v3``)."""
    _instruction_probe(Instructions([
        asm.store_imm(R10, -8, 0, asm.Size.DW),
        asm.mov.imm(R1, 1),
        asm.atomic_add(R10, -8, R1, fetch=True),
        asm.xchg(R10, -8, R1),
        asm.mov.imm(R0, 0),
        asm.cmpxchg(R10, -8, R1),
        asm.mov.imm(R0, 0),
        asm.exit(),
    ]), "probe atomics", absent_if=())


@feature_test("ISA v4 (sign extension, signed division, bswap, gotol)", "6.6")
def have_v4_isa() -> None:
    """Probe: the instructions of instruction set v4: sign-extending loads and moves, signed
    division and modulo, unconditional byte swap and the long jump."""
    _instruction_probe(Instructions([
        asm.store_imm(R10, -8, -1, asm.Size.DW),
        asm.load_mem_sx(R1, R10, -8, asm.Size.B),
        asm.movsx(R2, R1, 16),
        asm.mov.imm(R0, 7),
        asm.sdiv.imm(R0, -2),
        asm.smod.imm(R0, 3),
        asm.bswap(R0, 32),
        asm.jeq.imm(R0, 1, "one"),
        asm.ja32("out"),
        "one:",
        asm.mov.imm(R0, 1),
        "out:",
        asm.mov.imm(R0, 0),
        asm.exit(),
    ]), "probe ISA v4", absent_if=())


# --- programs and maps ------------------------------------------------------------------------

@feature_test("BPF_PROG_TEST_RUN", "4.12")
def have_prog_test_run() -> None:
    """Probe: a socket filter runs once on a 14-byte packet (``BPF_PROG_TEST_RUN``)."""
    what = "probe BPF_PROG_TEST_RUN"
    packet = ctypes.create_string_buffer(14)
    with load(ProbeProgram(ProgramType.SOCKET_FILTER, RETURN_0), what) as prog:
        attr = ProgRunAttr(prog_fd=prog.raw, data_in=ctypes.addressof(packet),
                           data_size_in=14, repeat=1)
        try:
            commands.prog_run(attr, what)
        except SyscallError as e:
            if e.errno in (errno.EINVAL, ENOTSUPP):
                absent(f"the kernel does not run programs on request ({errno_name(e.errno)})",
                       e, needs_privileges=False)
            raise


def _array(what: str, flags: int = 0) -> MapCreateAttr:
    return MapCreateAttr(map_type=MapType.ARRAY, key_size=4, value_size=4, max_entries=1,
                         map_flags=flags)


@feature_test("BPF_MAP_FREEZE", "5.2")
def have_map_freeze() -> None:
    """Probe: a map can be frozen (read-only for user space from then on)."""
    what = "probe BPF_MAP_FREEZE"
    with commands.map_create(_array(what), what) as fd:
        try:
            commands.map_freeze(MapFreezeAttr(map_fd=fd.raw), what)
        except SyscallError as e:
            if e.errno == errno.EINVAL:
                absent("the kernel does not know BPF_MAP_FREEZE (EINVAL)", e,
                       needs_privileges=False)
            raise


@feature_test("batch map operations (BPF_MAP_*_BATCH)", "5.6")
def have_batch_ops() -> None:
    """Probe: ``BPF_MAP_LOOKUP_BATCH`` reads an array map's entry."""
    what = "probe batch map operations"
    keys = ctypes.create_string_buffer(4)
    values = ctypes.create_string_buffer(4)
    out = ctypes.create_string_buffer(4)
    with commands.map_create(_array(what), what) as fd:
        attr = MapBatchAttr(map_fd=fd.raw, keys=ctypes.addressof(keys),
                            values=ctypes.addressof(values), out_batch=ctypes.addressof(out),
                            count=1)
        try:
            commands.map_lookup_batch(attr, what)
        except SyscallError as e:
            if e.errno == errno.EINVAL:
                absent("the kernel does not know BPF_MAP_LOOKUP_BATCH (EINVAL)", e,
                       needs_privileges=False)
            raise


@feature_test("memory-mapped maps (BPF_F_MMAPABLE)", "5.5")
def have_mmapable_maps() -> None:
    """Probe: an array map created with ``BPF_F_MMAPABLE`` maps into this process."""
    what = "probe BPF_F_MMAPABLE"
    try:
        fd = commands.map_create(_array(what, MapFlags.MMAPABLE), what)
    except SyscallError as e:
        if e.errno == errno.EINVAL:
            absent("array maps do not take BPF_F_MMAPABLE (EINVAL)", e, needs_privileges=False)
        raise
    with fd:
        view = mmap.mmap(fd.raw, mmap.PAGESIZE, mmap.MAP_SHARED,
                         mmap.PROT_READ | mmap.PROT_WRITE)
        view.close()


def have_ringbuf() -> None:
    """Probe: BPF ring buffers (``BPF_MAP_TYPE_RINGBUF``, 5.8); see :func:`have_map_type`."""
    have_map_type(MapType.RINGBUF)


def have_syscall_programs() -> None:
    """Probe: programs of type SYSCALL (5.14); see :func:`have_program_type`."""
    have_program_type(ProgramType.SYSCALL)


def have_bpf_cookie() -> None:
    """Probe: attached programs may call ``bpf_get_attach_cookie`` (the cookie of a kprobe,
    uprobe, tracepoint or perf_event attachment); the loader's own probe, with one memo for
    both."""
    _have_bpf_cookie()


@feature_test("BPF tokens (BPF_TOKEN_CREATE)", "6.9")
def have_bpf_token() -> None:
    """Probe: the kernel knows ``BPF_TOKEN_CREATE``.

    Making a token needs a bpffs mounted with delegation options; the probe passes a bad
    descriptor instead, which a kernel that knows the command rejects with ``EBADF`` (and one
    that does not with ``EINVAL``).
    """
    what = "probe BPF_TOKEN_CREATE"
    try:
        commands.token_create(TokenCreateAttr(flags=0, bpffs_fd=U32_MAX), what).close()
    except SyscallError as e:
        if e.errno == errno.EBADF:
            return
        if e.errno == errno.EINVAL:
            absent("the kernel does not know BPF_TOKEN_CREATE (EINVAL)", e,
                   needs_privileges=False)
        raise
    raise EbpfError(f"{what}: the kernel made a token from a bad descriptor")


# --- perf PMUs ---------------------------------------------------------------------------------

_PMU_DIR = "/sys/bus/event_source/devices"


def _pmu(name: str, config: str) -> None:
    if os.path.exists(f"{_PMU_DIR}/{name}/type"):
        return
    if not os.path.isdir(_PMU_DIR):
        raise EbpfError(f"cannot tell: {_PMU_DIR} is not there (sysfs not mounted?)")
    raise NotSupportedError(f"there is no {name} PMU in {_PMU_DIR}: the kernel was built "
                            f"without {config}")


@feature_test("kprobe PMU (perf_event_open kprobes)", "4.17")
def have_kprobe_pmu() -> None:
    """Probe: the kernel has the kprobe PMU, through which kprobes are made with
    ``perf_event_open`` (what kprobe and kretprobe links use)."""
    _pmu("kprobe", "kprobes (CONFIG_KPROBES, CONFIG_KPROBE_EVENTS)")


@feature_test("uprobe PMU (perf_event_open uprobes)", "4.17")
def have_uprobe_pmu() -> None:
    """Probe: the kernel has the uprobe PMU, through which uprobes are made with
    ``perf_event_open``."""
    _pmu("uprobe", "uprobes (CONFIG_UPROBES, CONFIG_UPROBE_EVENTS)")
