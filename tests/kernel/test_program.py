"""Loading, running and handling programs against the running kernel."""

from __future__ import annotations

import ctypes
import errno
import os
import pickle
import struct
import sys

import pytest

from ebpf import asm
from ebpf.asm import R0, R1, R2, R3, R4, R5, R6, R7, R8, Size
from ebpf.errors import (
    ClosedError,
    EbpfError,
    NotSupportedError,
    SyscallError,
    VerifierError,
)
from ebpf.info import enable_stats
from ebpf.internal import caps
from ebpf.internal.sys import commands
from ebpf.program import Program, ProgramOptions, ProgramSpec, RunFlags, RunResult
from ebpf.types import AttachType, ProgramFlags, ProgramType, StatsType

from ..support import fd_is_open

pytestmark = pytest.mark.kernel

XDP_DROP, XDP_PASS, XDP_TX = 1, 2, 3


def spec_of(insns: list[asm.Instruction | str], *, name: str = "test_prog",
            type: ProgramType = ProgramType.SOCKET_FILTER, license: str = "MIT") -> ProgramSpec:
    return ProgramSpec(name=name, type=type, instructions=asm.Instructions(insns),
                       license=license)


def ret(value: int, **kw: object) -> ProgramSpec:
    return spec_of([asm.mov.imm(R0, value), asm.exit()], **kw)  # type: ignore[arg-type]


def packet(n: int) -> bytes:
    return bytes((i * 7 + 3) & 0xFF for i in range(n))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# --- loading and test runs -----------------------------------------------------------------

@pytest.mark.parametrize("value", [0, 2, 12345])
def test_socket_filter_returns_its_value(value: int) -> None:
    with Program(ret(value)) as prog:
        result = prog.test_run(packet(64))
        assert isinstance(result, RunResult)
        assert result.retval == value
        # Socket filters see the packet from the network header on; the kernel hands back the
        # Ethernet header zeroed.
        assert len(result.data) == 64
        assert result.data[14:] == packet(64)[14:]
        assert result.ctx is None
        assert prog.test_run(packet(64), repeat=50).retval == value


def test_socket_filter_reads_skb_len() -> None:
    # __sk_buff.len is at offset 0; a socket filter's packet starts after the Ethernet header.
    spec = spec_of([asm.load_mem(R0, R1, 0, Size.W), asm.exit()], name="skb_len")
    with Program(spec) as prog:
        for n in (14, 64, 333):
            assert prog.test_run(packet(n)).retval == n - 14


def test_xdp_swaps_mac_addresses_and_transmits() -> None:
    spec = spec_of([
        asm.load_mem(R2, R1, 0, Size.W),        # data
        asm.load_mem(R3, R1, 4, Size.W),        # data_end
        asm.mov.reg(R4, R2),
        asm.add.imm(R4, 12),
        asm.jgt.reg(R4, R3, "drop"),
        asm.load_mem(R5, R2, 0, Size.W),
        asm.load_mem(R6, R2, 4, Size.H),
        asm.load_mem(R7, R2, 6, Size.W),
        asm.load_mem(R8, R2, 10, Size.H),
        asm.store_mem(R2, 0, R7, Size.W),
        asm.store_mem(R2, 4, R8, Size.H),
        asm.store_mem(R2, 6, R5, Size.W),
        asm.store_mem(R2, 10, R6, Size.H),
        asm.mov.imm(R0, XDP_TX),
        asm.exit(),
        "drop:",
        asm.mov.imm(R0, XDP_DROP),
        asm.exit(),
    ], name="xdp_swap", type=ProgramType.XDP)
    pkt = packet(60)
    with Program(spec) as prog:
        result = prog.test_run(pkt)
        assert result.retval == XDP_TX
        assert result.data == pkt[6:12] + pkt[0:6] + pkt[12:]
        assert result.data != pkt
        assert prog.test_run(pkt, repeat=10).retval == XDP_TX


def test_xdp_that_grows_the_packet_fits_the_default_buffer() -> None:
    spec = spec_of([
        asm.mov.imm(R2, 100),
        asm.call(asm.Helper.xdp_adjust_tail),
        asm.mov.imm(R0, XDP_PASS),
        asm.exit(),
    ], name="xdp_grow", type=ProgramType.XDP)
    pkt = packet(64)
    with Program(spec) as prog:
        result = prog.test_run(pkt)
        assert result.retval == XDP_PASS
        assert len(result.data) == 164
        assert result.data[:64] == pkt

        with pytest.raises(SyscallError) as exc:
            prog.test_run(pkt, data_out_size=64)
        assert exc.value.errno == errno.ENOSPC
        assert "164" in str(exc.value) and "data_out_size" in str(exc.value)

        assert len(prog.test_run(pkt, data_out_size=164).data) == 164
        assert prog.test_run(pkt, data_out_size=0).data == b""


def test_sched_cls_returns_skb_len() -> None:
    spec = spec_of([asm.load_mem(R0, R1, 0, Size.W), asm.exit()], name="cls_len",
                   type=ProgramType.SCHED_CLS)
    with Program(spec) as prog:
        for n in (14, 100, 1500):
            result = prog.test_run(packet(n))
            assert result.retval == n
            assert result.data == packet(n)


def test_sched_cls_context_in_and_out() -> None:
    # struct __sk_buff: mark is at offset 8; the program doubles it and returns the old one.
    spec = spec_of([
        asm.load_mem(R0, R1, 8, Size.W),
        asm.mov.reg(R2, R0),
        asm.add.reg(R2, R0),
        asm.store_mem(R1, 8, R2, Size.W),
        asm.exit(),
    ], name="cls_mark", type=ProgramType.SCHED_CLS)
    skb = bytearray(192)  # sizeof(struct __sk_buff) on 6.x
    struct.pack_into("=I", skb, 8, 21)
    with Program(spec) as prog:
        result = prog.test_run(packet(64), ctx=bytes(skb))
        assert result.retval == 21
        assert result.ctx is not None and len(result.ctx) == len(skb)
        assert struct.unpack_from("=I", result.ctx, 8)[0] == 42


class TwoU32(ctypes.Structure):
    _fields_ = [("a", ctypes.c_uint32), ("b", ctypes.c_uint32)]


def test_syscall_program_writes_its_context() -> None:
    spec = spec_of([
        asm.load_mem(R2, R1, 0, Size.W),
        asm.load_mem(R3, R1, 4, Size.W),
        asm.add.reg(R2, R3),
        asm.store_mem(R1, 0, R2, Size.W),
        asm.mov.reg(R0, R2),
        asm.exit(),
    ], name="sys_sum", type=ProgramType.SYSCALL, license="GPL")
    spec.flags = ProgramFlags.SLEEPABLE  # the kernel insists for syscall programs
    with Program(spec) as prog:
        result = prog.test_run(ctx=TwoU32(a=40, b=2))
        assert result.retval == 42
        assert result.ctx is not None
        out = TwoU32.from_buffer_copy(result.ctx)
        assert (out.a, out.b) == (42, 2)
        assert result.duration_ns == 0

        result = prog.test_run(ctx=struct.pack("=II", 1000, 234))
        assert result.retval == 1234
        assert result.ctx == struct.pack("=II", 1234, 234)

        with pytest.raises(EbpfError, match="repeatedly"):
            prog.test_run(ctx=TwoU32(a=1, b=2), repeat=5)
        with pytest.raises(EbpfError, match="packet data"):
            prog.test_run(b"x" * 20, ctx=TwoU32(a=1, b=2))
        with pytest.raises(NotSupportedError):
            prog.benchmark(ctx=TwoU32(a=1, b=2), repeat=10)


def test_raw_tracepoint_test_run() -> None:
    spec = spec_of([
        asm.load_mem(R0, R1, 0, Size.DW),
        asm.load_mem(R2, R1, 8, Size.DW),
        asm.add.reg(R0, R2),
        asm.exit(),
    ], name="rawtp_sum", type=ProgramType.RAW_TRACEPOINT, license="GPL")
    with Program(spec) as prog:
        result = prog.test_run(ctx=struct.pack("=QQ", 1000, 337))
        assert result.retval == 1337
        assert result.data == b""
        result = prog.test_run(ctx=struct.pack("=QQ", 7, 8), flags=RunFlags.RUN_ON_CPU, cpu=0)
        assert result.retval == 15
        with pytest.raises(EbpfError, match="repeatedly"):
            prog.test_run(ctx=struct.pack("=QQ", 1, 2), repeat=3)


def test_test_run_of_a_type_without_test_run_is_not_supported() -> None:
    with (Program(ret(0, type=ProgramType.TRACEPOINT, license="GPL")) as prog,
          pytest.raises(NotSupportedError, match="TRACEPOINT")):
        prog.test_run(b"\0" * 16)


def test_benchmark() -> None:
    with Program(ret(7)) as prog:
        retval, seconds = prog.benchmark(packet(64), repeat=1000)
        assert retval == 7
        assert 0 < seconds < 0.01
        with pytest.raises(EbpfError):
            prog.benchmark(packet(64), repeat=0)


def test_run_result_duration() -> None:
    r = RunResult(retval=1, data=b"", ctx=None, duration_ns=1500)
    assert r.duration == pytest.approx(1.5e-6)


def test_run_result_is_a_named_tuple() -> None:
    r = RunResult(2, b"x", None, 10)
    assert r == (2, b"x", None, 10) and r.retval == 2 and r._fields == (
        "retval", "data", "ctx", "duration_ns")
    assert repr(r) == "RunResult(retval=2, data=b'x', ctx=None, duration_ns=10)"
    assert r._replace(retval=3) == RunResult(3, b"x", None, 10)
    back = pickle.loads(pickle.dumps(r))
    assert back == r and type(back) is RunResult
    with pytest.raises(AttributeError):
        r.extra = 1  # type: ignore[attr-defined]


# --- verifier errors and logs ----------------------------------------------------------------

def test_verifier_rejects_uninitialised_register() -> None:
    spec = spec_of([asm.mov.imm(R0, 0), asm.mov.reg(R0, R2), asm.exit()], name="bad_read")
    with pytest.raises(VerifierError) as exc:
        Program(spec)
    err = exc.value
    assert any("R2 !read_ok" in line for line in err.log)
    assert any(line.startswith("1: ") and "r0 = r2" in line for line in err.log)
    assert not err.truncated
    assert err.errno == errno.EACCES
    assert "bad_read" in str(err)
    assert "R2 !read_ok" in str(err)
    assert isinstance(err.__cause__, SyscallError)


def test_verifier_rejects_missing_exit() -> None:
    with pytest.raises(VerifierError) as exc:
        Program(spec_of([asm.mov.imm(R0, 0)], name="no_exit"))
    assert any("last insn is not an exit or jmp" in line for line in exc.value.log)
    assert "no_exit" in str(exc.value)


def test_verifier_error_with_log_disabled() -> None:
    spec = spec_of([asm.mov.reg(R0, R2), asm.exit()], name="quiet")
    with pytest.raises(VerifierError) as exc:
        Program(spec, ProgramOptions(log_disabled=True))
    assert exc.value.log == ()
    assert "quiet" in str(exc.value)


def test_verifier_log_only_on_request() -> None:
    with Program(ret(1)) as prog:
        assert prog.verifier_log == ""
    with Program(ret(1), ProgramOptions(log_level=1)) as prog:
        assert "processed 2 insns" in prog.verifier_log
    with Program(ret(1), ProgramOptions(log_level=2)) as prog:
        assert "r0 = 1" in prog.verifier_log


def _long_program(n: int) -> ProgramSpec:
    insns: list[asm.Instruction | str] = [asm.mov.imm(R0, 0)]
    insns += [asm.add.imm(R0, i) for i in range(n)]
    insns.append(asm.exit())
    return spec_of(insns, name="long_log")


def _stable(log: str) -> list[str]:
    return [line for line in log.splitlines() if not line.startswith("verification time")]


class _CountingLoad:
    """Wraps commands.prog_load; optionally hides log_true_size as a pre-6.4 kernel would."""

    def __init__(self, hide_true_size: bool) -> None:
        self.real = commands.prog_load
        self.hide = hide_true_size
        self.sizes: list[int] = []

    def __call__(self, attr: object, context: str = "") -> object:
        self.sizes.append(int(attr.log_size))  # type: ignore[attr-defined]
        try:
            return self.real(attr, context)  # type: ignore[arg-type]
        except SyscallError:
            if self.hide:
                attr.log_true_size = 0  # type: ignore[attr-defined]
            raise


@pytest.mark.parametrize("hide_true_size", [False, True])
def test_log_grows_until_complete(monkeypatch: pytest.MonkeyPatch, hide_true_size: bool) -> None:
    spec = _long_program(600)
    with Program(spec, ProgramOptions(log_level=2, log_size=1 << 24)) as ref:
        full = _stable(ref.verifier_log)
    assert len("\n".join(full)) > 20_000

    counter = _CountingLoad(hide_true_size)
    monkeypatch.setattr(commands, "prog_load", counter)
    with Program(spec, ProgramOptions(log_level=2, log_size=128)) as prog:
        assert _stable(prog.verifier_log) == full
    assert counter.sizes[0] == 128
    assert len(counter.sizes) >= (4 if hide_true_size else 2)
    assert counter.sizes == sorted(counter.sizes)


def test_failure_log_grows_until_complete(monkeypatch: pytest.MonkeyPatch) -> None:
    insns: list[asm.Instruction | str] = [asm.mov.imm(R0, 0)]
    insns += [asm.add.imm(R0, i) for i in range(200)]
    insns += [asm.mov.reg(R0, R2), asm.exit()]
    spec = spec_of(insns, name="long_bad")
    counter = _CountingLoad(hide_true_size=True)
    monkeypatch.setattr(commands, "prog_load", counter)
    with pytest.raises(VerifierError) as exc:
        Program(spec, ProgramOptions(log_level=2, log_size=128))
    err = exc.value
    assert not err.truncated
    assert err.log[0].startswith("func#0") or err.log[0].startswith("0:")
    assert any("R2 !read_ok" in line for line in err.log)
    assert len(counter.sizes) >= 3


def test_failed_loads_do_not_leak_fds() -> None:
    bad = spec_of([asm.mov.reg(R0, R2), asm.exit()], name="leak_check")
    unresolved = spec_of([asm.load_map_by_name(R1, "nowhere"), asm.mov.imm(R0, 0), asm.exit()])
    before = open_fds()
    for i in range(1000):
        with pytest.raises(EbpfError):
            Program(bad if i % 2 else unresolved)
    assert open_fds() == before


def test_unresolved_references_fail_before_any_syscall(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_syscall(*args: object) -> None:
        raise AssertionError("bpf(BPF_PROG_LOAD) must not be called")

    # Warm up the name feature probes, which legitimately load programs.
    Program(ret(0)).close()
    monkeypatch.setattr(commands, "prog_load", no_syscall)

    spec = spec_of([asm.load_map_by_name(R1, "counts"), asm.mov.imm(R0, 0), asm.exit()],
                   name="needs_map")
    with pytest.raises(asm.UnresolvedReferenceError) as exc:
        Program(spec)
    assert exc.value.reference == "counts"
    assert "'counts'" in str(exc.value) and "needs_map" in str(exc.value)

    spec = spec_of([asm.ja("nowhere"), asm.mov.imm(R0, 0), asm.exit()], name="bad_jump")
    with pytest.raises(asm.UnresolvedReferenceError) as exc:
        Program(spec)
    assert exc.value.reference == "nowhere"
    assert "bad_jump" in str(exc.value)

    other = "big" if sys.byteorder == "little" else "little"
    spec = ret(0)
    spec.byte_order = other  # type: ignore[assignment]
    with pytest.raises(EbpfError, match="endian"):
        Program(spec)

    with pytest.raises(EbpfError, match="no instructions"):
        Program(spec_of([]))

    with pytest.raises(EbpfError, match="attach_btf_id"):
        Program(ret(0, type=ProgramType.TRACING))


def test_eperm_without_log_gets_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    Program(ret(0)).close()  # warm up the feature probes

    def eperm(attr: object, context: str = "") -> None:
        raise SyscallError(errno.EPERM, "BPF_PROG_LOAD", context)

    monkeypatch.setattr(commands, "prog_load", eperm)
    # This process is privileged: the hint says what else the kernel may have refused.
    with pytest.raises(SyscallError) as exc:
        Program(ret(0, name="denied"))
    assert exc.value.errno == errno.EPERM
    assert not isinstance(exc.value, VerifierError)
    assert "although the process has CAP_BPF" in str(exc.value)
    assert "MEMLOCK" not in str(exc.value) and "denied" in str(exc.value)
    # A process without the capabilities is told it needs them.
    monkeypatch.setattr(caps, "has_capability", lambda cap: False)
    with pytest.raises(SyscallError) as exc:
        Program(ret(0, name="denied"))
    assert "needs CAP_BPF" in str(exc.value) and "MEMLOCK" in str(exc.value)


def test_bad_options_are_rejected() -> None:
    with pytest.raises(EbpfError):
        Program(ret(0), ProgramOptions(log_level=99))
    with pytest.raises(EbpfError):
        Program(ret(0), ProgramOptions(log_size=-1))
    with pytest.raises(EbpfError):
        Program("not a spec")  # type: ignore[arg-type]


# --- names, handles, pins ----------------------------------------------------------------------

def test_names_are_sanitised_for_the_kernel() -> None:
    with Program(ret(0, name="my-prog.v2 with a long name")) as prog:
        assert prog.name == "my-prog.v2 with a long name"
        assert prog.info().name == "myprog.v2withal"
    with Program(ret(0, name="---")) as prog:
        assert prog.info().name == ""


def test_properties_and_repr() -> None:
    prog = Program(ret(0, name="repr_me"))
    assert prog.type is ProgramType.SOCKET_FILTER
    assert prog.name == "repr_me"
    assert not prog.closed
    text = repr(prog)
    assert "SOCKET_FILTER" in text and "repr_me" in text and f"fd={prog.fd}" in text
    prog.close()
    assert prog.closed
    assert "closed" in repr(prog)


def test_closed_program_raises_closed_error(pin_dir: str) -> None:
    prog = Program(ret(0))
    prog.close()
    prog.close()  # idempotent
    with pytest.raises(ClosedError):
        _ = prog.fd
    with pytest.raises(ClosedError):
        prog.test_run(packet(14))
    with pytest.raises(ClosedError):
        prog.info()
    with pytest.raises(ClosedError):
        prog.clone()
    with pytest.raises(ClosedError):
        prog.pin(os.path.join(pin_dir, "closed"))
    with pytest.raises(ClosedError):
        prog.xlated_instructions()
    with pytest.raises(ClosedError):
        prog.benchmark(packet(14), repeat=2)


@pytest.mark.parametrize("kwargs", [
    {"repeat": -1},
    {"repeat": 1 << 40},
    {"repeat": "3"},
    {"ctx": "a string"},
    {"ctx": 42},
    {"ctx": object()},
    {"flags": -1},
    {"cpu": 1},
    {"data_out_size": -5},
    {"ctx_out_size": -5},
])
def test_bad_test_run_arguments(kwargs: dict[str, object]) -> None:
    with Program(ret(0)) as prog, pytest.raises(EbpfError):
        prog.test_run(packet(14), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("data", ["text", 5, None, object()])
def test_bad_test_run_data(data: object) -> None:
    with Program(ret(0)) as prog, pytest.raises(EbpfError):
        prog.test_run(data)


def test_test_run_accepts_bytes_like_inputs() -> None:
    spec = spec_of([asm.load_mem(R0, R1, 0, Size.W), asm.exit()], name="skb_len",
                   type=ProgramType.SCHED_CLS)
    with Program(spec) as prog:
        assert prog.test_run(bytearray(20)).retval == 20
        assert prog.test_run(memoryview(bytes(30))).retval == 30
        assert prog.test_run((ctypes.c_uint8 * 40)()).retval == 40


def test_clone_is_an_independent_handle() -> None:
    prog = Program(ret(5))
    clone = prog.clone()
    try:
        assert clone.fd != prog.fd
        assert clone.info().id == prog.info().id
        assert clone.name == prog.name and clone.type == prog.type
        prog.close()
        assert clone.test_run(packet(14)).retval == 5
    finally:
        prog.close()
        clone.close()


def test_pin_and_load_pinned(pin_dir: str) -> None:
    path = os.path.join(pin_dir, "prog")
    with Program(ret(9, name="pinned")) as prog:
        prog.pin(path)
        assert prog.pinned_path == path
        assert os.path.exists(path)
        with pytest.raises(SyscallError) as exc:
            prog.pin(path)
        assert exc.value.errno == errno.EEXIST
        prog_id = prog.info().id

    with Program.load_pinned(path) as again:
        assert again.info().id == prog_id
        assert again.name == "pinned"
        assert again.type is ProgramType.SOCKET_FILTER
        assert again.test_run(packet(14)).retval == 9
        again.unpin()
        assert not os.path.exists(path)
        again.unpin()  # nothing pinned any more: no error

    with pytest.raises(SyscallError) as exc:
        Program.load_pinned(path)
    assert exc.value.errno == errno.ENOENT


def test_load_pinned_refuses_a_map(pin_dir: str) -> None:
    from ebpf.map import Map, MapSpec
    from ebpf.types import MapType

    path = os.path.join(pin_dir, "a_map")
    with Map(MapSpec(name="m", type=MapType.ARRAY, key_size=4, value_size=4,
                     max_entries=1)) as m:
        m.pin(path)
        with pytest.raises(EbpfError, match="not a BPF program"):
            Program.load_pinned(path)


def test_from_id_and_from_fd() -> None:
    with Program(ret(3, name="by_id")) as prog:
        prog_id = prog.info().id
        with Program.from_id(prog_id) as other:
            assert other.info().id == prog_id
            assert other.name == "by_id"
            assert other.test_run(packet(14)).retval == 3

        raw = os.dup(prog.fd)
        adopted = Program.from_fd(raw)
        assert adopted.info().id == prog_id
        adopted.close()
        with pytest.raises(OSError):
            os.fstat(raw)  # closed by its new owner

    with pytest.raises(SyscallError) as exc:
        Program.from_id(0xFFFF_FFF0)
    assert exc.value.errno == errno.ENOENT


def test_from_fd_refuses_other_descriptors() -> None:
    # KernelObject's rule: from_fd takes the descriptor whatever happens, as open(fd) does.
    r, w = os.pipe()
    try:
        with pytest.raises(EbpfError, match="not a BPF program"):
            Program.from_fd(r)
        assert not fd_is_open(r)
    finally:
        os.close(w)
    with pytest.raises(EbpfError):
        Program.from_fd(-1)


# --- info and statistics -----------------------------------------------------------------------

def test_info_fields() -> None:
    from ebpf.map import Map, MapSpec
    from ebpf.types import MapType

    with Map(MapSpec(name="info_map", type=MapType.HASH, key_size=4, value_size=8,
                     max_entries=16)) as m:
        insns: list[asm.Instruction | str] = [
            asm.load_map_ptr(R1, m.fd),
            asm.mov.imm(R0, 0),
            asm.exit(),
        ]
        with Program(spec_of(insns, name="info_prog", license="GPL")) as prog:
            info = prog.info()
            assert info.name == "info_prog"
            assert info.type is ProgramType.SOCKET_FILTER
            assert len(info.tag) == 16 and int(info.tag, 16) >= 0
            assert info.xlated_size == 8 * 4  # ldimm64 takes two slots
            assert info.instruction_count == 4
            assert info.map_ids == (m.info().id,)
            assert info.gpl_compatible
            assert info.id > 0
            assert info.created_by_uid == os.getuid()
            assert info.load_time_ns > 0
            assert info.verified_instructions > 0
            with Program(ret(0, name="no_maps")) as other:
                other_info = other.info()
                assert other_info.map_ids == ()
                assert not other_info.gpl_compatible
                assert other_info.tag != info.tag


def test_bind_map_adds_to_map_ids() -> None:
    from ebpf.map import Map, MapSpec
    from ebpf.types import MapType

    with Map(MapSpec(name="bound", type=MapType.ARRAY, key_size=4, value_size=4,
                     max_entries=1)) as m, Program(ret(0)) as prog:
        assert prog.info().map_ids == ()
        prog.bind_map(m)
        assert prog.info().map_ids == (m.info().id,)


def test_xlated_instructions_decode() -> None:
    insns = [asm.mov.imm(R0, 2), asm.add.imm(R0, 40), asm.exit()]
    with Program(spec_of(list(insns))) as prog:
        xlated = prog.xlated_instructions()
        assert isinstance(xlated, asm.Instructions)
        assert list(xlated) == insns
        assert len(xlated) * 8 == prog.info().xlated_size


def test_xlated_instructions_of_a_program_with_a_map() -> None:
    from ebpf.map import Map, MapSpec
    from ebpf.types import MapType

    with Map(MapSpec(name="xl_map", type=MapType.ARRAY, key_size=4, value_size=4,
                     max_entries=1)) as m:
        insns = [asm.load_map_ptr(R1, m.fd), asm.mov.imm(R0, 0), asm.exit()]
        with Program(spec_of(list(insns))) as prog:
            xlated = prog.xlated_instructions()
            assert xlated[0].is_load_from_map
            assert list(xlated)[1:] == insns[1:]
            assert len(xlated) == 3 and xlated.slots * 8 == prog.info().xlated_size


def _stats_enabled_by_sysctl() -> bool:
    try:
        with open("/proc/sys/kernel/bpf_stats_enabled") as f:
            return f.read().strip() != "0"
    except OSError:
        return False


def test_run_statistics_with_enable_stats() -> None:
    if _stats_enabled_by_sysctl():
        pytest.skip("kernel.bpf_stats_enabled is already set")
    with Program(ret(1)) as prog:
        prog.test_run(packet(14), repeat=10)
        assert prog.info().run_count == 0
        with enable_stats(StatsType.RUN_TIME) as stats:
            assert not stats.closed
            prog.test_run(packet(14), repeat=10)
            info = prog.info()
            assert info.run_count >= 10
            assert info.run_time_ns > 0
        assert stats.closed
        prog.test_run(packet(14), repeat=10)
        assert prog.info().run_count == info.run_count


def test_spec_copy_is_deep() -> None:
    spec = ret(1)
    copy = spec.copy()
    copy.instructions[0] = asm.mov.imm(R0, 2)
    copy.name = "other"
    assert spec.instructions[0] == asm.mov.imm(R0, 1)
    assert spec.name == "test_prog"
    with Program(spec) as a, Program(copy) as b:
        assert a.test_run(packet(14)).retval == 1
        assert b.test_run(packet(14)).retval == 2


# --- many runs -------------------------------------------------------------------------------

def _length_verdict() -> ProgramSpec:
    """XDP: XDP_PASS (2) for packets of more than 100 bytes, else XDP_DROP (1)."""
    from ebpf.asm import R1, R2, R3

    return spec_of([
        asm.load_mem(R2, R1, 0, Size.W),      # data
        asm.load_mem(R3, R1, 4, Size.W),      # data_end
        asm.sub.reg(R3, R2),
        asm.mov.imm(R0, 1),
        asm.jle.imm(R3, 100, "out"),
        asm.mov.imm(R0, 2),
        "out:",
        asm.exit(),
    ], name="by_len", type=ProgramType.XDP)


def test_test_run_many_equals_one_by_one() -> None:
    inputs = [packet(n) for n in (64, 101, 100, 1500, 200, 60)] * 10
    with Program(_length_verdict()) as prog:
        results = prog.test_run_many(inputs)
        assert list(results.retvals) == [prog.test_run(p).retval for p in inputs]
        assert len(results) == len(inputs) and results.data is None
        assert results[1] == RunResult(2, b"", None, results.durations_ns[1])
        kept = prog.test_run_many([bytearray(packet(300)), memoryview(packet(9000))],
                                  keep_data=True, repeat=3)
        assert kept.data == [packet(300), packet(9000)]
        assert list(kept.retvals) == [2, 2]
        # The common test_run still works after a run with repeat.
        assert prog.test_run(packet(50)).retval == 1


def test_test_run_many_errors_name_the_input() -> None:
    with Program(_length_verdict()) as prog:
        with pytest.raises(SyscallError, match=r"input 1\)") as exc:
            prog.test_run_many([packet(64), packet(5)])
        assert exc.value.errno == errno.EINVAL
        with pytest.raises(EbpfError, match="input 0 is empty"):
            prog.test_run_many([b""])
    spec = spec_of([asm.mov.imm(R0, 0), asm.exit()], name="syscall_prog",
                   type=ProgramType.SYSCALL, license="GPL")
    spec.flags = ProgramFlags.SLEEPABLE
    with Program(spec) as prog, pytest.raises(NotSupportedError, match="no packet data"):
        prog.test_run_many([packet(64)])


def test_short_packets_and_privileged_eperm_say_why() -> None:
    with (Program(ret(2, type=ProgramType.XDP)) as prog,
          pytest.raises(SyscallError, match="at least 14 bytes")):
        prog.test_run(bytes(5))
    from ebpf import btf

    kernel = btf.load_kernel_spec()
    target = kernel.type_id(kernel.type_by_name("do_sys_openat2", btf.Func))
    spec = ret(0, type=ProgramType.TRACING, license="GPL")
    spec.attach_type = AttachType.TRACE_FENTRY
    spec.attach_btf_id = target
    try:
        Program(spec).close()
    except SyscallError as e:
        # As root, an EPERM names what the kernel refused, not missing privileges.
        assert e.errno == errno.EPERM
        assert "trampolines" in str(e) and "needs CAP_BPF" not in str(e)
