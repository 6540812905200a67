"""Programs: :class:`ProgramSpec` describes one, :class:`Program` owns one loaded in the kernel.

Loading (``BPF_PROG_LOAD``) runs the kernel's verifier. By default the program is loaded
without a verifier log, and only when the kernel refuses it is it loaded again with a log, so
that a :class:`~ebpf.errors.VerifierError` can say why (:attr:`ProgramOptions.log_level` asks
for the log of a successful load too). A log that does not fit the buffer is fetched again with
a larger one, so it is never silently cut short.

A loaded program can be test-run without attaching it (``BPF_PROG_TEST_RUN``,
:meth:`Program.test_run`), pinned in a bpffs, inspected (:meth:`Program.info`,
:meth:`Program.xlated_instructions`) and handed to the attach functions of :mod:`ebpf.link`.
"""

from __future__ import annotations

import ctypes
import errno
import sys
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntFlag
from typing import TYPE_CHECKING, Final, NamedTuple, NoReturn, final

from .asm import InstructionError, Instructions, UnresolvedReferenceError
from .asm._raw import PSEUDO_BTF_ID
from .errors import (
    COREError,
    EbpfError,
    NotSupportedError,
    SyscallError,
    UnsupportedFeatureError,
    VerifierError,
)
from .internal.feature import feature_test
from .internal.kernel import kernel_version
from .internal.kernel_object import KernelObject
from .internal.sys import (
    BPF_OBJ_NAME_LEN,
    FD,
    ProgBindMapAttr,
    ProgLoadAttr,
    ProgRunAttr,
    commands,
)
from .specs import ProgramSpec as ProgramSpec
from .types import AttachType, ProgramFlags, ProgramType, member_or_int

if TYPE_CHECKING:
    from .btf.spec import Spec
    from .info import ProgramInfo
    from .map import Map


class _RunResultFields(NamedTuple):
    retval: int
    data: bytes
    ctx: bytes | None
    duration_ns: int

__all__ = [
    "Program",
    "ProgramOptions",
    "ProgramSpec",
    "RunFlags",
    "RunResult",
]

_ENOTSUPP: Final = 524  # the kernel-internal "not supported", which leaks out of some commands

_MIN_LOG_SIZE: Final = 128  # the kernel rejects smaller log buffers (EINVAL)
_DEFAULT_LOG_SIZE: Final = 64 * 1024
# The largest log_size the kernel accepts: UINT_MAX >> 2 since Linux 5.2, UINT_MAX >> 8 before.
_MAX_LOG_SIZE: Final = 0xFFFF_FFFF >> 2
_MAX_LOG_SIZE_OLD: Final = 0xFFFF_FFFF >> 8
_LOG_LEVEL_MASK: Final = 1 | 2 | 4 | 8  # BPF_LOG_LEVEL1 | LEVEL2 | STATS | FIXED (6.4)

_MAX_U32: Final = 0xFFFF_FFFF
_DATA_HEADROOM: Final = 4096  # room for programs that grow the packet (adjust_head/tail)

# Types that need the BTF id of their attach target at load time.
_NEEDS_ATTACH_BTF_ID: Final = frozenset({ProgramType.TRACING, ProgramType.LSM, ProgramType.EXT,
                                         ProgramType.STRUCT_OPS})

# Program types whose test run builds a packet: the kernel wants an Ethernet header at least.
_ETH_HLEN: Final = 14
_ETHERNET_TYPES: Final = frozenset({
    ProgramType.SOCKET_FILTER, ProgramType.SCHED_CLS, ProgramType.SCHED_ACT, ProgramType.XDP,
    ProgramType.CGROUP_SKB, ProgramType.LWT_IN, ProgramType.LWT_OUT, ProgramType.LWT_XMIT,
    ProgramType.LWT_SEG6LOCAL, ProgramType.FLOW_DISSECTOR})

# Program types the kernel runs through a BPF trampoline (refused where it has none).
_TRAMPOLINE_TYPES: Final = frozenset({ProgramType.TRACING, ProgramType.LSM, ProgramType.EXT,
                                      ProgramType.STRUCT_OPS})

# Program types whose BPF_PROG_TEST_RUN takes only a context (no packet), writes nothing but
# the return value, and rejects repeat, duration and ctx_out (net/bpf/test_run.c).
_RUN_CTX_ONLY: Final = frozenset({ProgramType.RAW_TRACEPOINT, ProgramType.SYSCALL})

_NO_FLAGS: Final = ProgramFlags(0)

# "mov r0, 0; exit": the same bytes in either byte order. Used by the feature probes.
_PROBE_INSNS: Final = bytes.fromhex("b700000000000000" "9500000000000000")


class RunFlags(IntFlag):
    """``flags`` of ``BPF_PROG_TEST_RUN`` (``BPF_F_TEST_*``)."""

    RUN_ON_CPU = 1 << 0
    """Run on the CPU given by ``cpu`` (raw tracepoint programs only)."""
    XDP_LIVE_FRAMES = 1 << 1
    """XDP: send the resulting frames for real (Linux 5.18+)."""
    SKB_CHECKSUM_COMPLETE = 1 << 2
    """skb programs: compute a CHECKSUM_COMPLETE checksum for the packet (Linux 6.11+)."""


@final
@dataclass(frozen=True, kw_only=True)
class ProgramOptions:
    """How to load a program.

    Attributes:
        log_level: 0 loads without a verifier log and, only if the load fails, loads again
            with a log (level 1) to explain the failure. 1 (``BPF_LOG_LEVEL1``) or 2
            (``BPF_LOG_LEVEL2``, every instruction's state) always collect the log, which is
            then available as :attr:`Program.verifier_log`. 4 (``BPF_LOG_STATS``) may be added.
        log_size: the initial log buffer size in bytes (at least 128). The buffer grows and the
            load is retried whenever the log did not fit, up to the kernel's limit. ``None``
            means 64 KiB, or the exact size when the kernel reports it (Linux 6.4+).
        log_disabled: never ask for a verifier log, not even to explain a failure.
        kernel_types: the BTF (an :class:`ebpf.btf.Spec`) that CO-RE relocations are applied
            against instead of the running kernel's, when programs are loaded through a
            :class:`~ebpf.Collection`.
    """

    log_level: int = 0
    log_size: int | None = None
    log_disabled: bool = False
    kernel_types: Spec | None = None


class RunResult(_RunResultFields):
    """The outcome of :meth:`Program.test_run` (an immutable named tuple).

    Attributes:
        retval: the program's return value, as the kernel reports it (an unsigned 32-bit int).
        data: the packet after the run (empty for program types without packet data, or if no
            output was requested).
        ctx: the context after the run, or None if there was none to return.
        duration_ns: the average time of one run in nanoseconds (0 for program types whose
            test run does not measure time).
    """

    __slots__ = ()

    @property
    def duration(self) -> float:
        """:attr:`duration_ns` in seconds."""
        return self.duration_ns / 1e9


# Builds a RunResult from a tuple without the generated __new__'s Python frame (test_run's hot
# path); the fields are in declaration order.
_new_tuple = tuple.__new__


# --- feature probes ----------------------------------------------------------------------------

def _probe_load(what: str, *, name: bytes = b"", code: bytes = _PROBE_INSNS,
                prog_type: ProgramType = ProgramType.SOCKET_FILTER,
                license: bytes = b"MIT", absent: tuple[int, ...] = (errno.EINVAL, errno.E2BIG)
                ) -> None:
    """Load (and close) a probe program: ``NotSupportedError`` if the kernel refuses it with
    one of the ``absent`` errnos, the error itself otherwise (inconclusive)."""
    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(license)
    attr = ProgLoadAttr(prog_type=int(prog_type), insn_cnt=len(code) // 8,
                        insns=ctypes.addressof(insns), license=ctypes.addressof(lic),
                        prog_name=name)
    try:
        commands.prog_load(attr, what).close()
    except SyscallError as e:
        if e.errno in absent:
            raise NotSupportedError(str(e)) from e
        raise


@feature_test("BPF_OBJ_NAME", "4.15")
def _have_object_names() -> None:
    _probe_load("probe object names", name=b"probe_name")


@feature_test("dots in object names", "5.2")
def _have_dots_in_names() -> None:
    _probe_load("probe object names", name=b"probe.name")


# r1 = ctx (already); call bpf_get_attach_cookie; r0 = 0; exit
_COOKIE_PROBE: Final = bytes.fromhex("85000000ae000000" "b700000000000000" "9500000000000000")


@feature_test("BPF cookies (bpf_get_attach_cookie)", "5.15")
def _have_bpf_cookie() -> None:
    """A tracepoint program may call ``bpf_get_attach_cookie`` (the loader's
    ``LINUX_HAS_BPF_COOKIE``, and :func:`ebpf.features.have_bpf_cookie`)."""
    _probe_load("probe bpf_get_attach_cookie", code=_COOKIE_PROBE,
                prog_type=ProgramType.TRACEPOINT, license=b"GPL",
                absent=(errno.EINVAL, errno.EACCES))


def _kernel_name(name: str) -> bytes:
    """``name`` in the form the running kernel accepts as an object name (may be empty)."""
    clean = "".join(c for c in name if c.isascii() and (c.isalnum() or c in "_."))
    if not clean:
        return b""
    try:
        _have_object_names()
    except NotSupportedError:
        return b""
    if "." in clean:
        try:
            _have_dots_in_names()
        except NotSupportedError:
            clean = clean.replace(".", "")
    return clean[: BPF_OBJ_NAME_LEN - 1].encode("ascii")


def _kernel_version_code() -> int:
    major, minor, patch = kernel_version()
    return (major << 16) | (minor << 8) | min(patch, 255)


def _max_log_size() -> int:
    return _MAX_LOG_SIZE if kernel_version() >= (5, 2, 0) else _MAX_LOG_SIZE_OLD


# --- loading -----------------------------------------------------------------------------------

def _check_int(value: object, what: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise EbpfError(f"{what} must be an int, not {type(value).__name__}")
    if not lo <= value <= hi:
        raise EbpfError(f"{what} {value} is out of range ({lo}..{hi})")
    return int(value)


def _check_options(options: ProgramOptions) -> None:
    _check_int(options.log_level, "log_level", 0, _LOG_LEVEL_MASK)
    if options.log_size is not None:
        _check_int(options.log_size, "log_size", 1, _MAX_LOG_SIZE)


def _unresolved(message: str, reference: str, index: int | None) -> UnresolvedReferenceError:
    # The message already names the program and instruction; keep the index as data only.
    err = UnresolvedReferenceError(message, reference=reference)
    err.index = index
    return err


def _encode_instructions(spec: ProgramSpec, context: str) -> bytes:
    """The spec's instructions encoded for the kernel, after checking every reference."""
    insns = spec.instructions
    if spec.byte_order != sys.byteorder:
        raise EbpfError(f"{context}: the instructions are {spec.byte_order}-endian, but this "
                        f"host is {sys.byteorder}-endian")
    for index, ins in enumerate(insns):
        ref = ins.reference
        if ref is None:
            continue
        # A linker resolves a map reference by writing the map's fd into the constant; a
        # still-unset fd (0 or -1) means nothing did.
        if ins.is_load_from_map and (ins.constant & _MAX_U32) in (0, _MAX_U32):
            raise _unresolved(
                f"{context}: instruction {index} ({ins}) references map {ref!r}, which was not "
                "resolved (no map fd was filled in; load it through a collection or use "
                "asm.load_map_ptr with a map's fd)", ref, index)
        if (ins.is_ldimm64 and int(ins.src) == PSEUDO_BTF_ID
                and (ins.constant & _MAX_U32) in (0, _MAX_U32)):
            raise _unresolved(
                f"{context}: instruction {index} ({ins}) loads kernel variable {ref!r}, whose "
                "BTF id was not resolved", ref, index)
        if ins.is_kfunc_call and ins.constant in (0, -1):
            raise _unresolved(
                f"{context}: instruction {index} ({ins}) calls kernel function {ref!r}, whose "
                "BTF id was not resolved", ref, index)
    try:
        raw = insns.marshal(spec.byte_order)
    except UnresolvedReferenceError as e:
        raise _unresolved(f"{context}: {e}", e.reference, e.index) from e
    except InstructionError as e:
        raise EbpfError(f"{context}: {e}") from e
    if not raw:
        raise EbpfError(f"{context}: the program has no instructions")
    return raw


def _log_text(buf: ctypes.Array[ctypes.c_char]) -> str:
    return buf.value.decode("utf-8", errors="replace")


class _Loaded:
    """The outcome of the load attempts: an fd, or the last error; and the log."""

    __slots__ = ("error", "fd", "log", "truncated")

    def __init__(self, fd: FD | None, error: SyscallError | None, log: str,
                 truncated: bool) -> None:
        self.fd = fd
        self.error = error
        self.log = log
        self.truncated = truncated


def _load_with_log(attr: ProgLoadAttr, level: int, size: int, context: str) -> _Loaded:
    """Load with a log of ``level``, growing the buffer until the whole log fits."""
    limit = _max_log_size()
    size = min(max(size, _MIN_LOG_SIZE), limit)
    while True:
        buf = ctypes.create_string_buffer(size)
        attr.log_level = level
        attr.log_size = size
        attr.log_buf = ctypes.addressof(buf)
        attr.log_true_size = 0
        try:
            fd = commands.prog_load(attr, context)
        except SyscallError as e:
            log = _log_text(buf)
            needed = int(attr.log_true_size)
            # ENOSPC means the log did not fit (the program may even be fine): when the kernel
            # says how much it needs (6.4+) use that, else grow geometrically.
            if e.errno == errno.ENOSPC and (needed > size or len(log) >= size - 1):
                if size >= limit:
                    return _Loaded(None, e, log, True)
                size = min(limit, needed if needed > size else size * 4)
                continue
            return _Loaded(None, e, log, False)
        return _Loaded(fd, None, _log_text(buf), False)


class _LoadExtras(NamedTuple):
    """Internal: what the collection loader adds to ``BPF_PROG_LOAD`` (host byte order).

    ``func_info``/``line_info`` are packed ``bpf_func_info``/``bpf_line_info`` records
    (8/16 bytes each) whose type ids and strings refer to the BTF object ``btf_fd``.
    """

    btf_fd: int = 0
    func_info: bytes = b""
    func_info_cnt: int = 0
    line_info: bytes = b""
    line_info_cnt: int = 0
    attach_btf_obj_fd: int = 0
    fd_array: tuple[int, ...] = ()
    attach_prog_fd: int = 0  # the program an extension or tracing program attaches to


def _load(spec: ProgramSpec, options: ProgramOptions, *,
          extras: _LoadExtras | None = None) -> tuple[FD, str]:
    """Load ``spec``; return the new fd (owned by the caller) and the verifier log."""
    if not isinstance(spec, ProgramSpec):
        raise EbpfError(f"expected a ProgramSpec, not {type(spec).__name__}")
    if not isinstance(options, ProgramOptions):
        raise EbpfError(f"expected ProgramOptions, not {type(options).__name__}")
    context = f"load program {spec.name!r}"
    _check_options(options)
    core = getattr(spec.btf, "core_relocations", None)
    if core and extras is None:
        # Loading the compiled offsets unchanged would read the wrong fields.
        raise COREError(
            f"{context}: the program has {len(core)} CO-RE relocations, which are applied when "
            "it is loaded through a Collection (ebpf.load_collection or "
            "CollectionSpec.load_and_assign), not by Program() alone")
    prog_type = _check_int(spec.type, f"{context}: type", 0, _MAX_U32)
    if not isinstance(spec.license, str) or "\0" in spec.license:
        raise EbpfError(f"{context}: the license must be a str without NUL characters")
    attach_btf_id = _check_int(spec.attach_btf_id, f"{context}: attach_btf_id", 0, _MAX_U32)
    if prog_type in _NEEDS_ATTACH_BTF_ID and attach_btf_id == 0:
        target = f" {spec.attach_to!r}" if spec.attach_to else ""
        raise EbpfError(
            f"{context}: {ProgramType(prog_type).name} programs need the BTF id of their "
            f"attach target{target} (set ProgramSpec.attach_btf_id)")
    flags = _check_int(spec.flags, f"{context}: flags", 0, _MAX_U32)
    kver = _check_int(spec.kernel_version, f"{context}: kernel_version", 0, _MAX_U32)
    if kver == 0 and prog_type == ProgramType.KPROBE:
        kver = _kernel_version_code()
    expected = spec.attach_type
    expected_attach = 0 if expected is None else _check_int(
        expected, f"{context}: attach_type", 0, _MAX_U32)

    raw = _encode_instructions(spec, context)
    insns = ctypes.create_string_buffer(raw, len(raw))
    lic = ctypes.create_string_buffer(spec.license.encode("utf-8"))
    attr = ProgLoadAttr(
        prog_type=prog_type,
        insn_cnt=len(raw) // 8,
        insns=ctypes.addressof(insns),
        license=ctypes.addressof(lic),
        kern_version=kver,
        prog_flags=flags,
        prog_name=_kernel_name(spec.name),
        expected_attach_type=expected_attach,
        attach_btf_id=attach_btf_id,
    )
    keep: list[object] = []  # buffers the attr points into, alive until the load is done
    if extras is not None:
        attr.prog_btf_fd = extras.btf_fd
        if extras.func_info_cnt:
            fi = ctypes.create_string_buffer(extras.func_info, len(extras.func_info))
            keep.append(fi)
            attr.func_info = ctypes.addressof(fi)
            attr.func_info_cnt = extras.func_info_cnt
            attr.func_info_rec_size = len(extras.func_info) // extras.func_info_cnt
        if extras.line_info_cnt:
            li = ctypes.create_string_buffer(extras.line_info, len(extras.line_info))
            keep.append(li)
            attr.line_info = ctypes.addressof(li)
            attr.line_info_cnt = extras.line_info_cnt
            attr.line_info_rec_size = len(extras.line_info) // extras.line_info_cnt
        if extras.attach_btf_obj_fd:
            attr.attach_btf_obj_fd = extras.attach_btf_obj_fd
        elif extras.attach_prog_fd:  # the same field of the attr
            attr.attach_prog_fd = extras.attach_prog_fd
        if extras.fd_array:
            fds = (ctypes.c_int32 * len(extras.fd_array))(*extras.fd_array)
            keep.append(fds)
            attr.fd_array = ctypes.addressof(fds)

    level = options.log_level
    size = options.log_size if options.log_size is not None else _DEFAULT_LOG_SIZE
    if level and not options.log_disabled:
        loaded = _load_with_log(attr, level, size, context)
    else:
        try:
            return commands.prog_load(attr, context), ""
        except SyscallError as e:
            if options.log_disabled:
                _raise_load_error(context, e, "", False, log_disabled=True, prog_type=prog_type)
            # Load again with a log to learn why (cheap next to a human reading it).
            loaded = _load_with_log(attr, 1, size, context)
            if loaded.fd is not None:  # the second attempt succeeded after all
                return loaded.fd, ""
            if loaded.error is not None and loaded.error.errno != e.errno and not loaded.log:
                loaded.error = e
    if loaded.fd is not None:
        return loaded.fd, loaded.log
    assert loaded.error is not None
    _raise_load_error(context, loaded.error, loaded.log, loaded.truncated,
                      prog_type=prog_type)


def _refused_program_type(prog_type: int, context: str, err: SyscallError) -> None:
    """Raise UnsupportedFeatureError if the running kernel predates the program type."""
    from .kernel_versions import PROGRAM_TYPE_VERSIONS, predates  # only on this error path

    if prog_type not in ProgramType._value2member_map_:
        return
    t = ProgramType(prog_type)
    version = PROGRAM_TYPE_VERSIONS.get(t)
    if predates(version):
        raise UnsupportedFeatureError(f"BPF_PROG_TYPE_{t.name}", version,
                                      f"{context}: {err.strerror}") from err


def _eperm_hint(prog_type: int) -> str:
    """Why the kernel may have refused a load with ``EPERM`` before verifying, for this
    process: missing privileges only if it lacks them."""
    from .internal.caps import CAP_BPF, CAP_SYS_ADMIN, has_capability, lockdown_mode

    privileged = has_capability(CAP_BPF) or has_capability(CAP_SYS_ADMIN)
    if privileged is False:
        return ("; the kernel refused before verifying: loading needs CAP_BPF (or "
                "CAP_SYS_ADMIN), some program types also CAP_PERFMON or CAP_NET_ADMIN, and "
                "before Linux 5.11 a high enough RLIMIT_MEMLOCK (see ebpf.rlimit)")
    if prog_type in _TRAMPOLINE_TYPES:
        return ("; the kernel refused this program type although the process is privileged: "
                "this kernel does not allow BPF trampolines (fentry, fexit, fmod_ret, lsm, "
                "freplace, struct_ops), e.g. because it is built or run without trampoline "
                "support")
    mode = lockdown_mode()
    locked = f", the kernel is in lockdown ({mode})" if mode not in (None, "none") else ""
    return ("; the kernel refused although the process has CAP_BPF: a security module or "
            f"lockdown may forbid it{locked}, or the program type or a flag needs more "
            "(CAP_PERFMON for tracing, CAP_NET_ADMIN for networking)")


def _raise_load_error(context: str, err: SyscallError, log: str, truncated: bool, *,
                      log_disabled: bool = False, prog_type: int = 0) -> NoReturn:
    lines = log.splitlines()
    if lines or (log_disabled and err.errno in (errno.EACCES, errno.EINVAL)):
        if log_disabled:
            context += " (verifier log disabled)"
        raise VerifierError(context, lines, err=err.errno or 0, truncated=truncated) from err
    hint = ""
    if err.errno in (errno.EINVAL, errno.EOPNOTSUPP, _ENOTSUPP):
        _refused_program_type(prog_type, context, err)
    if err.errno == errno.EPERM:
        hint = _eperm_hint(prog_type)
    elif err.errno == errno.EINVAL:
        hint = ("; the kernel may not support this program type, attach type or flag")
    elif err.errno == errno.E2BIG:
        hint = "; the program is too large for this kernel"
    raise SyscallError(err.errno or 0, err.cmd, f"{context}{hint}") from err


# --- the program -------------------------------------------------------------------------------

def _bytes_of(value: object, what: str) -> bytes:
    """A bytes-like object or ctypes instance as bytes (clear error for anything else)."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, (ctypes.Structure, ctypes.Union, ctypes.Array)):
        return ctypes.string_at(ctypes.addressof(value), ctypes.sizeof(value))
    if isinstance(value, (str, int)):
        raise EbpfError(f"{what} must be bytes-like or a ctypes object, not "
                        f"{type(value).__name__}")
    try:
        with memoryview(value) as view:  # type: ignore[arg-type]
            return view.tobytes()
    except TypeError:
        raise EbpfError(f"{what} must be bytes-like or a ctypes object, not "
                        f"{type(value).__name__}") from None


def _round_up(n: int, to: int) -> int:
    return (n + to - 1) // to * to


# Indexes of BPF_PROG_TEST_RUN's u32 fields in the attr seen as an array of u32, for the
# fast path of test_run (buffer-protocol access costs less than ctypes' field descriptors).
_RUN_RETVAL: Final = ProgRunAttr.retval.offset // 4
_RUN_SIZE_IN: Final = ProgRunAttr.data_size_in.offset // 4
_RUN_SIZE_OUT: Final = ProgRunAttr.data_size_out.offset // 4
_RUN_DURATION: Final = ProgRunAttr.duration.offset // 4
_RUN_REPEAT: Final = ProgRunAttr.repeat.offset // 4

# One thread's packet test run as a plain tuple: (capacity, data_in, attr_words, call, data_out,
# out_size, owner). data_in/data_out: the packet buffers as bytes; attr_words: the attr as u32s.
@final
class _RunCalls:
    """Buffers and a pre-bound ``BPF_PROG_TEST_RUN`` call for packets up to ``capacity``.

    A :class:`Program` keeps a pool of these (one per thread in a test run at the same
    time), so the common ``test_run(packet)`` and :meth:`Program.test_run_many` allocate
    nothing per call.

    Attributes:
        capacity: the largest input packet the buffers take.
        packet_in, packet_out: byte views of the input and output packet buffers.
        out_size: the size of ``packet_out``.
        words: the attr as native u32 words (``_RUN_*`` indexes name them).
        call: the pre-bound call, returning the kernel's result or ``-errno``.
    """

    __slots__ = ("_bound", "attr", "call", "capacity", "data_in", "data_out", "out_size",
                 "packet_in", "packet_out", "words")

    def __init__(self, prog_fd: int, size: int) -> None:
        self.capacity = cap = _round_up(max(size, 256), 256)
        self.data_in = ctypes.create_string_buffer(cap)
        self.out_size = _round_up(cap + _DATA_HEADROOM, 256)
        self.data_out = ctypes.create_string_buffer(self.out_size)
        self.attr = attr = ProgRunAttr(prog_fd=prog_fd, repeat=1,
                                       data_in=ctypes.addressof(self.data_in),
                                       data_out=ctypes.addressof(self.data_out))
        self._bound = commands.bind_prog_run(attr)
        self.call = self._bound.call
        self.packet_in = memoryview(self.data_in).cast("B")
        self.packet_out = memoryview(self.data_out).cast("B")
        self.words = memoryview(attr).cast("B").cast("I")

    def release(self) -> None:
        """Give the pre-bound call back (it answers ``-EBADF`` afterwards)."""
        self._bound.release()


@final
class RunResults:
    """The outcome of :meth:`Program.test_run_many`: one entry per input, compactly.

    Attributes:
        retvals: the program's return value for each input (``array('I')``).
        durations_ns: the average time of one run for each input (``array('I')``, ns).
        data: the packet after each run, if asked for (``keep_data=True``), else None.
    """

    __slots__ = ("data", "durations_ns", "retvals")

    def __init__(self, retvals: array[int], durations_ns: array[int],
                 data: list[bytes] | None) -> None:
        self.retvals = retvals
        self.durations_ns = durations_ns
        self.data = data

    def __len__(self) -> int:
        return len(self.retvals)

    def __getitem__(self, index: int) -> RunResult:
        """Input ``index``'s outcome as the :class:`RunResult` :meth:`Program.test_run`
        gives (``data`` is empty unless kept)."""
        data = self.data[index] if self.data is not None else b""
        return RunResult(self.retvals[index], data, None, self.durations_ns[index])

    def __repr__(self) -> str:
        return f"<RunResults of {len(self.retvals)} runs>"


class Program(KernelObject):
    """A program loaded into the kernel. Owns one file descriptor.

    ``Program(spec)`` loads ``spec``; :meth:`from_fd`, :meth:`from_id` and
    :meth:`load_pinned` open existing programs. Close it with :meth:`close` or a ``with``
    block; the kernel frees the program once no descriptor, pin or attachment holds it.
    Ownership follows the rules of :class:`~ebpf.internal.kernel_object.KernelObject`: every
    method raises :class:`~ebpf.errors.ClosedError` after :meth:`close`.
    """

    __slots__ = ("_attach_to", "_attach_type", "_name", "_run_calls", "_section", "_type",
                 "_verifier_log")

    kind = "program"
    _pinnable = True

    _name: str
    _type: ProgramType | int
    _verifier_log: str

    def __init__(self, spec: ProgramSpec, options: ProgramOptions | None = None) -> None:
        """Load ``spec`` into the kernel (``BPF_PROG_LOAD``).

        The new Program owns the new descriptor. ``spec`` is only read. If loading fails,
        nothing stays open.

        Raises:
            VerifierError: the verifier rejected the program; ``.log`` has the whole log.
            UnresolvedReferenceError: an instruction still refers to a map, label or function
                that was not resolved (raised before any system call).
            SyscallError: the kernel refused without a verifier log (e.g. ``EPERM``: missing
                privileges); the message carries a hint.
            EbpfError: the spec or options are invalid.
        """
        fd, log = _load(spec, options if options is not None else ProgramOptions())
        self._setup(fd, spec.name, member_or_int(ProgramType, int(spec.type)), log, spec)

    def _setup(self, fd: FD, name: str, type: ProgramType | int, log: str,
               spec: ProgramSpec | None = None) -> None:
        self._own(fd)
        self._name = name
        self._type = type
        self._verifier_log = log
        # What the spec said about attaching (ebpf.link.attach reads it).
        self._section = spec.section_name if spec is not None else ""
        self._attach_type = spec.attach_type if spec is not None else None
        self._attach_to = spec.attach_to if spec is not None else ""
        # Pre-bound buffers for the common test_run (bytes in, defaults), one set per thread
        # in use; only program types that take packet data use it.
        self._run_calls: list[_RunCalls] | None = (
            None if type in _RUN_CTX_ONLY else [])

    @classmethod
    def _load_with(cls, spec: ProgramSpec, options: ProgramOptions,
                   extras: _LoadExtras) -> Program:
        """Internal: load ``spec`` with BTF, func/line info and fds from a collection loader."""
        fd, log = _load(spec, options, extras=extras)
        prog = cls.__new__(cls)
        prog._setup(fd, spec.name, member_or_int(ProgramType, int(spec.type)), log, spec)
        return prog

    # --- ownership (the rules are KernelObject's) ----------------------------------------------

    @classmethod
    def _adopt(cls, fd: FD) -> Program:
        from .info import program_info  # not at import: loading does not need ebpf.info

        return cls._described(fd, program_info(fd.raw))

    @classmethod
    def _described(cls, fd: FD, info: ProgramInfo) -> Program:
        prog = cls.__new__(cls)
        prog._setup(fd, info.name, info.type, "")
        return prog

    @classmethod
    def _open_id(cls, object_id: int) -> FD:
        return commands.prog_get_fd_by_id(object_id, f"open program id {object_id}")

    def _raw(self, action: str) -> int:
        return self._checked_fd(action).raw

    @property
    def name(self) -> str:
        """The program's name: the spec's name, or the kernel's (15 characters at most) for
        programs opened by fd, id or pin."""
        return self._name

    @property
    def type(self) -> ProgramType | int:
        """The program type (an ``int`` if this library does not know the number)."""
        return self._type

    @property
    def section_name(self) -> str:
        """The ELF section the program was loaded from (``""`` if unknown: built by hand, or
        opened by fd, id or pin). :func:`ebpf.link.attach` reads how to attach it from it."""
        return self._section

    @property
    def attach_type(self) -> AttachType | None:
        """The attach type the program was loaded for, if its spec named one."""
        return self._attach_type

    @property
    def attach_to(self) -> str:
        """The attach target the program's spec named (the text after the section prefix,
        e.g. ``do_unlinkat`` for ``kprobe/do_unlinkat``), or ``""``."""
        return self._attach_to

    @property
    def verifier_log(self) -> str:
        """The verifier's log of the load (empty unless :attr:`ProgramOptions.log_level` > 0)."""
        return self._verifier_log

    def _release(self) -> None:
        calls = self._run_calls
        while calls:
            calls.pop().release()

    def _cloned(self, fd: FD) -> Program:
        prog = Program.__new__(Program)
        prog._setup(fd, self._name, self._type, self._verifier_log)
        prog._section, prog._attach_type = self._section, self._attach_type
        prog._attach_to = self._attach_to
        return prog

    def _describe(self) -> str:
        t = self._type.name if isinstance(self._type, ProgramType) else str(self._type)
        return f"{t} {self._name!r}"

    # --- inspection ------------------------------------------------------------------------

    def info(self) -> ProgramInfo:
        """What the kernel says about this program (id, tag, sizes, maps, statistics...).

        Raises:
            ClosedError: the program was closed.
            SyscallError: the info call failed.
        """
        from .info import program_info

        return program_info(self._raw("get info of"))

    def xlated_instructions(self) -> Instructions:
        """The program as the kernel holds it after verification and rewriting.

        Map references show the kernel's rewritten form, and calls may be patched, so the
        result differs from the loaded spec in places.

        Raises:
            ClosedError: the program was closed.
            NotSupportedError: the kernel withholds the instructions from this process.
            SyscallError: the info call failed.
        """
        from .info import _xlated_bytes

        raw = _xlated_bytes(self._raw("read instructions of"))
        try:
            return Instructions.unmarshal(raw, sys.byteorder)
        except InstructionError as e:
            raise EbpfError(f"decode translated instructions of program {self._name!r}: {e}"
                            ) from e

    # --- running ---------------------------------------------------------------------------

    def test_run(self, data: object = b"", *, ctx: object = None, repeat: int = 1,
                 flags: RunFlags | int = 0, cpu: int = 0, data_out_size: int | None = None,
                 ctx_out_size: int | None = None) -> RunResult:
        """Run the program once (or ``repeat`` times) on ``data`` without attaching it.

        ``data`` (bytes-like) is the packet for networking programs; ``ctx`` (bytes-like or a
        ctypes structure) is the context: ``struct __sk_buff`` / ``struct xdp_md`` for
        networking programs, the arguments (u64 each) for raw tracepoint programs, any struct
        for syscall programs. The packet coming out is returned in full: its buffer is
        ``data_out_size`` bytes (default: the input size plus 4 KiB of headroom for programs
        that grow the packet). The context coming out is returned for program types that
        give it back (``ctx_out_size`` bytes, default the size of ``ctx``); for syscall
        programs it is the context as the program left it.

        Raw tracepoint and syscall programs take only ``ctx``: they accept no ``data`` and no
        ``repeat`` above 1, and report no duration.

        Raises:
            NotSupportedError: the kernel cannot test-run programs of this type.
            SyscallError: the kernel refused; ``ENOSPC`` says that an output did not fit and
                how large it was.
            EbpfError: an argument is invalid (wrong type, negative ``repeat`` ...).
            ClosedError: the program was closed.
        """
        pool = self._run_calls
        if (pool is not None and type(data) is bytes and ctx is None and repeat == 1
                and not (flags or cpu) and data_out_size is None and ctx_out_size is None):
            # The common call, test_run(packet): pre-bound buffers, no per-call ctypes objects.
            n = len(data)
            calls = pool.pop() if pool else None
            if calls is not None and 0 < n <= calls.capacity:
                try:
                    calls.packet_in[:n] = data
                    words = calls.words
                    words[_RUN_SIZE_IN] = n
                    words[_RUN_SIZE_OUT] = calls.out_size
                    if calls.call() >= 0:
                        out = calls.packet_out[:words[_RUN_SIZE_OUT]].tobytes()
                        return _new_tuple(RunResult, (words[_RUN_RETVAL], out, None,
                                                      words[_RUN_DURATION]))
                finally:
                    pool.append(calls)
            elif n:
                if calls is not None:
                    calls.release()
                pool.append(_RunCalls(self._raw("test-run"), n))
                return self.test_run(data)
            elif calls is not None:
                pool.append(calls)
            # An error, or no data: the general path below reports it precisely.
        what = f"test run of program {self._name!r}"
        data_in = _bytes_of(data, f"{what}: data")
        ctx_in = None if ctx is None else _bytes_of(ctx, f"{what}: ctx")
        repeat = _check_int(repeat, f"{what}: repeat", 0, _MAX_U32)
        flags = _check_int(flags, f"{what}: flags", 0, _MAX_U32)
        cpu = _check_int(cpu, f"{what}: cpu", 0, _MAX_U32)
        if cpu and not flags & RunFlags.RUN_ON_CPU:
            raise EbpfError(f"{what}: cpu={cpu} needs flags=RunFlags.RUN_ON_CPU")
        if len(data_in) > _MAX_U32 or (ctx_in is not None and len(ctx_in) > _MAX_U32):
            raise EbpfError(f"{what}: input too large")
        ctx_only = self._type in _RUN_CTX_ONLY
        if ctx_only:
            kind = ProgramType(self._type).name.lower()
            if data_in:
                raise EbpfError(f"{what}: {kind} programs take no packet data, only ctx")
            if repeat > 1:
                raise EbpfError(f"{what}: {kind} programs cannot be run repeatedly")
            if data_out_size or ctx_out_size:
                raise EbpfError(f"{what}: {kind} programs return no data or ctx buffer")
            repeat = 0
            out_size = ctx_out = 0
        else:
            if data_out_size is None:
                out_size = _round_up(len(data_in) + _DATA_HEADROOM, 256) if data_in else 0
            else:
                out_size = _check_int(data_out_size, f"{what}: data_out_size", 0, _MAX_U32)
            if ctx_out_size is None:
                ctx_out = len(ctx_in) if ctx_in else 0
            else:
                ctx_out = _check_int(ctx_out_size, f"{what}: ctx_out_size", 0, _MAX_U32)

        attr = ProgRunAttr(prog_fd=self._raw("test-run"), repeat=repeat, flags=flags, cpu=cpu)
        data_buf = ctypes.create_string_buffer(data_in, len(data_in)) if data_in else None
        if data_buf is not None:
            attr.data_in = ctypes.addressof(data_buf)
            attr.data_size_in = len(data_in)
        out_buf = ctypes.create_string_buffer(out_size) if out_size else None
        if out_buf is not None:  # never a pointer with size 0: old kernels read that as "any"
            attr.data_out = ctypes.addressof(out_buf)
            attr.data_size_out = out_size
        # Syscall programs write the context back into the input buffer: give them a copy.
        ctx_buf = ctypes.create_string_buffer(ctx_in, len(ctx_in)) if ctx_in else None
        if ctx_buf is not None and ctx_in is not None:
            attr.ctx_in = ctypes.addressof(ctx_buf)
            attr.ctx_size_in = len(ctx_in)
        ctx_out_buf = ctypes.create_string_buffer(ctx_out) if ctx_out else None
        if ctx_out_buf is not None:
            attr.ctx_out = ctypes.addressof(ctx_out_buf)
            attr.ctx_size_out = ctx_out

        try:
            commands.prog_run(attr, what)
        except SyscallError as e:
            raise self._run_error(e, attr, out_size, ctx_out, what) from e

        out_data = b""
        if out_buf is not None:
            out_data = out_buf.raw[: min(int(attr.data_size_out), out_size)]
        out_ctx: bytes | None = None
        if ctx_out_buf is not None:
            out_ctx = ctx_out_buf.raw[: min(int(attr.ctx_size_out), ctx_out)]
        elif self._type == ProgramType.SYSCALL and ctx_buf is not None:
            out_ctx = ctx_buf.raw
        return RunResult(retval=int(attr.retval), data=out_data, ctx=out_ctx,
                         duration_ns=int(attr.duration))

    def test_run_many(self, inputs: Iterable[object], *, repeat: int = 1,
                      keep_data: bool = False) -> RunResults:
        """Run the program on each packet of ``inputs`` (bytes-like), as :meth:`test_run`
        would one by one, reusing one attr and one pair of buffers and building no Python
        object per run but what is kept: the return values and durations go into arrays, and
        the packets after each run only with ``keep_data=True``.

        ``repeat`` runs each input that many times (the duration is then the average).

        Raises:
            NotSupportedError: the kernel cannot test-run programs of this type, or the type
                takes no packet data (raw tracepoint and syscall programs).
            SyscallError, EbpfError: as :meth:`test_run`, for the first input that fails
                (``.context`` names its index); the results of earlier inputs are lost.
            ClosedError: the program was closed.
        """
        what = f"test run of program {self._name!r}"
        pool = self._run_calls
        if pool is None:
            kind = ProgramType(self._type).name.lower()
            raise NotSupportedError(f"{what}: {kind} programs take no packet data; call "
                                    "test_run(ctx=...) for each input")
        repeat = _check_int(repeat, f"{what}: repeat", 0, _MAX_U32)
        retvals = array("I")
        durations = array("I")
        kept: list[bytes] | None = [] if keep_data else None
        calls = pool.pop() if pool else _RunCalls(self._raw("test-run"), 0)
        try:
            words = calls.words
            words[_RUN_REPEAT] = repeat
            for index, item in enumerate(inputs):
                data = item if type(item) is bytes else _bytes_of(item, f"{what}: input {index}")
                n = len(data)
                if not 0 < n <= calls.capacity:
                    if not n:
                        raise EbpfError(f"{what}: input {index} is empty")
                    calls.release()
                    calls = _RunCalls(self._raw("test-run"), n)
                    words = calls.words
                    words[_RUN_REPEAT] = repeat
                calls.packet_in[:n] = data
                words[_RUN_SIZE_IN] = n
                words[_RUN_SIZE_OUT] = calls.out_size
                if calls.call() < 0:
                    # Run it again the general way, which explains the failure precisely.
                    try:
                        self.test_run(data, repeat=repeat)
                    except SyscallError as e:
                        raise type(e)(e.errno or 0, e.cmd, f"{e.context} (input {index})"
                                      ) from e
                    raise EbpfError(f"{what}: input {index} failed, then passed when run alone")
                retvals.append(words[_RUN_RETVAL])
                durations.append(words[_RUN_DURATION])
                if kept is not None:
                    kept.append(calls.packet_out[:words[_RUN_SIZE_OUT]].tobytes())
        finally:
            calls.words[_RUN_REPEAT] = 1
            pool.append(calls)
        return RunResults(retvals, durations, kept)

    def _run_error(self, e: SyscallError, attr: ProgRunAttr, out_size: int, ctx_out: int,
                   what: str) -> EbpfError:
        if e.errno in (_ENOTSUPP, errno.EOPNOTSUPP):
            t = self._type.name if isinstance(self._type, ProgramType) else str(self._type)
            return NotSupportedError(f"{what}: the kernel cannot test-run {t} programs")
        if e.errno == errno.ENOSPC:
            needed_data = int(attr.data_size_out)
            needed_ctx = int(attr.ctx_size_out)
            parts = []
            if needed_data > out_size:
                parts.append(f"the output packet is {needed_data} bytes but the buffer holds "
                             f"{out_size}; pass data_out_size={needed_data}")
            if needed_ctx > ctx_out:
                parts.append(f"the output context is {needed_ctx} bytes but the buffer holds "
                             f"{ctx_out}; pass ctx_out_size={needed_ctx}")
            if parts:
                return SyscallError(e.errno, e.cmd, f"{what}: {'; '.join(parts)}")
        if e.errno == errno.EINVAL:
            size = int(attr.data_size_in)
            if self._type in _ETHERNET_TYPES and size < _ETH_HLEN:
                return SyscallError(e.errno, e.cmd, f"{what}: {size} bytes of data are too "
                                    f"few: {ProgramType(self._type).name} programs run on "
                                    f"packets of at least {_ETH_HLEN} bytes (an Ethernet "
                                    "header)")
            return SyscallError(e.errno, e.cmd, f"{what} (the kernel rejected the arguments "
                                "for this program type: check data, ctx size and flags)")
        return e

    def benchmark(self, data: object = b"", *, repeat: int, ctx: object = None
                  ) -> tuple[int, float]:
        """Run the program ``repeat`` times in the kernel and time it.

        Returns:
            the return value of the last run and the average time of one run in seconds.

        Raises:
            NotSupportedError: the kernel cannot test-run or time programs of this type.
            EbpfError: ``repeat`` is not positive, or another argument is invalid.
        """
        if isinstance(repeat, int) and not isinstance(repeat, bool) and repeat < 1:
            raise EbpfError(f"benchmark of program {self._name!r}: repeat must be at least 1")
        if self._type in _RUN_CTX_ONLY:
            raise NotSupportedError(
                f"benchmark of program {self._name!r}: the kernel does not time "
                f"{ProgramType(self._type).name} programs")
        result = self.test_run(data, ctx=ctx, repeat=repeat)
        return result.retval, result.duration

    def bind_map(self, map: Map | int) -> None:
        """Make the program hold a reference to ``map`` (``BPF_PROG_BIND_MAP``, Linux 5.10+).

        The map then lives as long as the program, even if no instruction refers to it, and
        appears in :attr:`ProgramInfo.map_ids`. ``map`` (a Map or a map fd) is borrowed.

        Raises:
            UnsupportedFeatureError: the kernel lacks ``BPF_PROG_BIND_MAP``.
            SyscallError: the kernel refused.
            ClosedError: the program or the map was closed.
        """
        from .errors import UnsupportedFeatureError

        map_fd = map if isinstance(map, int) else map.fd
        _check_int(map_fd, "map fd", 0, 0x7FFF_FFFF)
        attr = ProgBindMapAttr(prog_fd=self._raw("bind a map to"), map_fd=map_fd)
        try:
            commands.prog_bind_map(attr, f"bind map to program {self._name!r}")
        except SyscallError as e:
            if e.errno == errno.EINVAL and kernel_version() < (5, 10, 0):
                raise UnsupportedFeatureError("BPF_PROG_BIND_MAP", "5.10") from e
            raise
