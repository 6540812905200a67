"""What every probe shares: loading a tiny program, creating a map, reading the kernel's BTF,
telling a missing feature from a probe that could not run, and memoising by argument.

A probe returns ``None`` when the feature is present and raises
:class:`~ebpf.errors.NotSupportedError` when it is absent; the memo
(:func:`ebpf.internal.feature.feature_test`) turns that into an
:class:`~ebpf.errors.UnsupportedFeatureError` naming the feature and the release that added it.
Any other exception (a :class:`~ebpf.errors.SyscallError` such as ``EPERM``, or an
:class:`~ebpf.errors.EbpfError` saying why the answer cannot be trusted) means the probe could
not decide; it propagates and nothing is cached.

Every descriptor a probe makes is owned by an :class:`~ebpf.internal.sys.FD` and closed before
the probe returns, whatever happens.
"""

from __future__ import annotations

import ctypes
import errno
import sys
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Generic, NoReturn, TypeVar

from .. import asm
from ..asm import R0, Instructions
from ..errors import EbpfError, NotSupportedError, SyscallError
from ..internal.caps import CAP_BPF, CAP_SYS_ADMIN, has_capability
from ..internal.feature import feature_test
from ..internal.kernel import kernel_version
from ..internal.sys import FD, MapCreateAttr, ProgLoadAttr, commands
from ..types import ProgramType

if TYPE_CHECKING:
    from ..btf import Type

__all__ = [
    "ENOTSUPP",
    "U32_MAX",
    "Loaded",
    "ProbeCache",
    "ProbeProgram",
    "RETURN_0",
    "absent",
    "create_map",
    "encode",
    "errno_name",
    "kernel_btf_id",
    "load",
    "privileged",
    "try_load",
]

#: The kernel-internal "not supported" errno, which some commands let out.
ENOTSUPP: Final = 524
#: An fd (or ifindex) that is never valid: ``-1`` as the kernel's ``__u32``.
U32_MAX: Final = 0xFFFF_FFFF

_LOG_SIZE: Final = 64 * 1024
_LICENSE: Final = ctypes.create_string_buffer(b"GPL")


def encode(insns: Instructions) -> bytes:
    """Instructions in the host's byte order, as ``BPF_PROG_LOAD`` takes them."""
    return insns.marshal(sys.byteorder)


#: ``r0 = 0; exit``: what most probe programs run.
RETURN_0: Final = encode(Instructions([asm.mov.imm(R0, 0), asm.exit()]))


def privileged() -> bool:
    """Whether this process may use everything the verifier offers: ``CAP_BPF`` or
    ``CAP_SYS_ADMIN`` in its effective set, in the initial user namespace.

    Without them the verifier hides helpers, loops and kfuncs from a program, so a load it
    refuses says nothing about the kernel.
    """
    try:
        with open("/proc/self/uid_map", encoding="ascii", errors="replace") as f:
            uid_map = f.read().split()
    except OSError:
        return False
    # The initial namespace maps every id onto itself; a child namespace maps fewer.
    if uid_map[:3] != ["0", "0", "4294967295"]:
        return False
    return bool(has_capability(CAP_BPF) or has_capability(CAP_SYS_ADMIN))


def absent(reason: str, cause: BaseException | None = None, *,
           needs_privileges: bool = True) -> NoReturn:
    """Conclude that the feature is missing (``NotSupportedError``), or, when the verdict
    depends on privileges this process lacks, that the probe cannot tell (``EbpfError``).

    ``needs_privileges=False`` is for answers that do not depend on the caller (an unknown
    command or map type is unknown to everyone).
    """
    if needs_privileges and not privileged():
        raise EbpfError(f"cannot tell: {reason}, but this process lacks CAP_BPF/CAP_SYS_ADMIN "
                        "(in the initial user namespace), and the kernel refuses more to "
                        "unprivileged programs") from cause
    raise NotSupportedError(reason) from cause


@dataclass(frozen=True)
class ProbeProgram:
    """What a probe loads: ``BPF_PROG_LOAD`` fields, with GPL license and a verifier log."""

    type: int
    insns: bytes
    expected_attach_type: int = 0
    attach_btf_id: int = 0
    attach_prog_fd: int = 0
    flags: int = 0
    btf_fd: int = 0
    func_info: bytes = b""       # packed struct bpf_func_info records (8 bytes each)


@dataclass
class Loaded:
    """The outcome of :func:`try_load`: the new program, or the error and the verifier log."""

    fd: FD | None
    error: SyscallError | None
    log: str

    def log_has(self, *needles: str) -> bool:
        """Whether one of the last lines of the log contains every needle."""
        lines = [line for line in self.log.splitlines() if line.strip()]
        return any(all(n in line for n in needles) for line in lines[-6:])

    def last_line(self) -> str:
        """The verifier's last line that says something (not its statistics)."""
        for line in reversed(self.log.splitlines()):
            text = line.strip()
            if text and not text.startswith(("processed ", "verification time", "stack depth")):
                return text
        return ""

    def describe(self) -> str:
        """The command, the errno and the verifier's reason, for a message."""
        err = self.error
        assert err is not None
        why = self.last_line()
        return f"{err.cmd}: {errno_name(err.errno or 0)}" + (f": {why}" if why else "")

    def fail(self, what: str) -> NoReturn:
        """Raise the load's error as an inconclusive answer, with the verifier's reason."""
        err = self.error
        assert err is not None
        why = self.last_line()
        raise SyscallError(err.errno or 0, err.cmd,
                           what + (f" (verifier: {why})" if why else "")) from err


def try_load(program: ProbeProgram, what: str) -> Loaded:
    """Load ``program`` with a verifier log. The caller owns (and must close) ``fd``."""
    insns = ctypes.create_string_buffer(program.insns, len(program.insns))
    log = ctypes.create_string_buffer(_LOG_SIZE)
    attr = ProgLoadAttr(
        prog_type=program.type,
        insn_cnt=len(program.insns) // 8,
        insns=ctypes.addressof(insns),
        license=ctypes.addressof(_LICENSE),
        log_level=1,
        log_size=_LOG_SIZE,
        log_buf=ctypes.addressof(log),
        prog_flags=program.flags,
        expected_attach_type=program.expected_attach_type,
        attach_btf_id=program.attach_btf_id,
        prog_btf_fd=program.btf_fd,
    )
    if program.attach_prog_fd:
        attr.attach_prog_fd = program.attach_prog_fd
    if program.type == ProgramType.KPROBE:  # kernels before 5.0 want their version here
        major, minor, patch = kernel_version()
        attr.kern_version = (major << 16) | (minor << 8) | min(patch, 255)
    info = None  # kept alive until the load is done
    if program.func_info:
        info = ctypes.create_string_buffer(program.func_info, len(program.func_info))
        attr.func_info = ctypes.addressof(info)
        attr.func_info_rec_size = 8
        attr.func_info_cnt = len(program.func_info) // 8
    try:
        fd = commands.prog_load(attr, what)
    except SyscallError as e:
        return Loaded(None, e, log.value.decode("utf-8", errors="replace"))
    return Loaded(fd, None, "")


def load(program: ProbeProgram, what: str) -> FD:
    """Load ``program``; the caller owns the result.

    Raises:
        SyscallError: the kernel refused (the verifier's reason is in the message).
    """
    loaded = try_load(program, what)
    if loaded.fd is None:
        loaded.fail(what)
    return loaded.fd


def create_map(attr: MapCreateAttr, what: str) -> FD:
    """``BPF_MAP_CREATE``; the caller owns the result."""
    return commands.map_create(attr, what)


def kernel_btf_id(names: str | tuple[str, ...], cls: type[Type], *, what: str) -> int:
    """The id of the kernel BTF type called ``names`` (the first of them the kernel has) of
    class ``cls`` (e.g. ``btf.Func``).

    Raises:
        NotSupportedError: the kernel has no BTF, or none of these types (both conclusive:
            programs that need such a target cannot be loaded on this kernel).
    """
    from ..btf import NotFoundError, load_kernel_spec

    spec = load_kernel_spec()   # NotSupportedError without kernel BTF
    candidates = (names,) if isinstance(names, str) else names
    for name in candidates:
        try:
            return spec.type_id(spec.type_by_name(name, cls))
        except NotFoundError:
            continue
    raise NotSupportedError(
        f"{what}: the kernel's BTF has no {' or '.join(repr(n) for n in candidates)}")


K = TypeVar("K", bound=Hashable)


class ProbeCache(Generic[K]):
    """A memoised probe per key (a map type, a pair of program type and helper...).

    ``describe(key)`` gives the feature's name and first release; ``probe(key)`` decides.
    Each key's result is cached by :func:`~ebpf.internal.feature.feature_test`: only
    conclusive answers, and one probe at a time per key.
    """

    def __init__(self, describe: Callable[[K], tuple[str, str | None]],
                 probe: Callable[[K], None]) -> None:
        self._describe = describe
        self._probe = probe
        self._lock = threading.Lock()
        self._tests: dict[K, Callable[[], None]] = {}

    def __call__(self, key: K) -> None:
        test = self._tests.get(key)
        if test is None:
            with self._lock:
                test = self._tests.get(key)
                if test is None:
                    name, version = self._describe(key)
                    test = feature_test(name, version)(self._bind(key))
                    self._tests[key] = test
        test()

    def _bind(self, key: K) -> Callable[[], None]:
        probe = self._probe

        def run() -> None:
            probe(key)

        return run


def errno_name(err: int) -> str:
    """``EINVAL`` for 22, the kernel's names for its internal errnos."""
    if err == ENOTSUPP:
        return "ENOTSUPP"
    return errno.errorcode.get(err, str(err))
