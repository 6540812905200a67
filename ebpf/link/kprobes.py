"""Kernel probes: a program at the entry (kprobe) or return (kretprobe) of a kernel function.

:func:`kprobe` and :func:`kretprobe` open a perf event of the kprobe PMU (Linux 4.17+) and fall
back to a probe event written to tracefs ``kprobe_events`` where the PMU is missing, or where
only tracefs can do what was asked (``maxactive``). :func:`syscall_kprobe` and
:func:`syscall_kretprobe`
probe a system call under the name this kernel gives its entry point (``__x64_sys_openat``
on x86-64 kernels with syscall wrappers, ``sys_openat`` without), as libbpf's
``SEC("ksyscall/openat")`` does. :func:`kprobe_multi` attaches one program to many functions
at once through fprobe (``BPF_TRACE_KPROBE_MULTI``, Linux 5.18+), also as a "session"
(``BPF_TRACE_KPROBE_SESSION``, 6.10+: one program at entry and return).
"""

from __future__ import annotations

import ctypes
import errno
import fnmatch
import functools
import re
from collections.abc import Mapping, Sequence
from typing import NoReturn

from .. import asm
from ..errors import EbpfError, NotSupportedError, SyscallError, UnsupportedFeatureError
from ..internal.feature import feature_test
from ..internal.kallsyms import PATH as KALLSYMS, read_kallsyms
from ..internal.platform import syscall_prefix
from ..internal.sys import LinkCreateAttr, commands
from ..internal.tracefs import ProbeEvent, available_filter_functions, tracefs_root
from ..internal.unix import PerfEventAttr, PerfType, perf_event_open, pmu_format_bit, pmu_type
from ..program import Program, ProgramSpec
from ..types import AttachType, ProgramType
from ._common import check_program
from ._perf_attach import attach_perf_event
from .link import BPFLink, Link
from .perf_events import check_cookie

__all__ = ["kprobe", "kprobe_multi", "kretprobe", "syscall_kprobe", "syscall_kretprobe",
           "syscall_symbol"]

_ENOTSUPP = 524
_KPROBE_MULTI_RETURN = 1  # BPF_F_KPROBE_MULTI_RETURN
_MAX_MAXACTIVE = 4096     # the kernel's KRETPROBE_MAXACTIVE_MAX


def _check_symbol(symbol: object, family: str) -> str:
    if not isinstance(symbol, str) or not symbol or any(c.isspace() or c in "\0:+"
                                                          for c in symbol):
        raise EbpfError(f"attach {family}: invalid kernel symbol {symbol!r}")
    return symbol


def _symbol_is_known(symbol: str) -> bool | None:
    """Whether ``symbol`` is a function the kernel lists, None if that cannot be read."""
    try:
        return symbol in read_kallsyms()
    except EbpfError:
        return None


def _raise_missing_symbol(symbol: str, family: str, err: Exception) -> NoReturn:
    """Attaching to ``symbol`` failed with ``err``: raise an error naming the symbol and the
    file it was looked for in if the kernel does not have it, else ``err``."""
    if _symbol_is_known(symbol) is False:
        raise EbpfError(f"attach {family}: the kernel has no symbol {symbol!r} (looked for "
                        f"in {KALLSYMS})") from err
    raise err


def _kprobe_pmu() -> tuple[int, int | None]:
    """The kprobe PMU's type and the bit of its ``retprobe`` format field."""
    return pmu_type("kprobe"), pmu_format_bit("kprobe", "retprobe")


def _attach(symbol: str, program: Program, *, offset: int, retprobe: bool, maxactive: int,
            cookie: int) -> Link:
    family = "kretprobe" if retprobe else "kprobe"
    check_program(program, family, (ProgramType.KPROBE,))
    _check_symbol(symbol, family)
    cookie = check_cookie(cookie, family)
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset < 1 << 32:
        raise EbpfError(f"attach {family}: offset must be an int from 0 to 2**32-1, "
                        f"not {offset!r}")
    if retprobe and offset:
        raise EbpfError(f"attach {family}: a kretprobe has no offset")
    if (not isinstance(maxactive, int) or isinstance(maxactive, bool)
            or not 0 <= maxactive <= _MAX_MAXACTIVE):
        raise EbpfError(f"attach {family}: maxactive must be an int from 0 to "
                        f"{_MAX_MAXACTIVE}, not {maxactive!r}")
    where = f"{symbol}+{offset:#x}" if offset else symbol
    what = f"{family} {where}"
    pmu_error: NotSupportedError | None = None
    if not maxactive:
        try:
            kind, bit = _kprobe_pmu()
        except NotSupportedError as e:
            pmu_error = e
        else:
            if retprobe and bit is None:
                pmu_error = NotSupportedError("the kprobe PMU has no retprobe format bit")
            else:
                return _attach_pmu(program, kind, bit, symbol, offset, retprobe, cookie, what)
    try:
        probe = ProbeEvent("kprobe", where, retprobe=retprobe, maxactive=maxactive,
                           what=symbol)
    except NotSupportedError as e:
        try:
            tracefs_root()
        except NotSupportedError:
            raise e from pmu_error  # tracefs is not mounted: that is what to act on
        if maxactive:
            raise UnsupportedFeatureError(f"{family} with maxactive (tracefs kprobe_events)",
                                          "4.12", str(e)) from e
        raise UnsupportedFeatureError(family, "4.1",
                                      f"no kprobe PMU ({pmu_error}) and no tracefs "
                                      f"kprobe_events ({e})") from e
    except EbpfError as e:
        _raise_missing_symbol(symbol, family, e)
    attr = PerfEventAttr(type=PerfType.TRACEPOINT, config=probe.id)
    try:
        event = perf_event_open(attr, pid=-1, cpu=0, what=f"open {what}")
    except BaseException:
        probe.remove()
        raise
    return attach_perf_event(program, event, cookie=cookie, event=probe, what=what)


def _attach_pmu(program: Program, kind: int, bit: int | None, symbol: str, offset: int,
                retprobe: bool, cookie: int, what: str) -> Link:
    name = ctypes.create_string_buffer(symbol.encode())
    attr = PerfEventAttr(type=kind, config=(1 << bit) if retprobe and bit is not None else 0,
                         config1=ctypes.addressof(name), config2=offset)
    try:
        event = perf_event_open(attr, pid=-1, cpu=0, what=f"open {what}")
    except SyscallError as e:
        if e.errno in (errno.ENOENT, errno.EINVAL, errno.EADDRNOTAVAIL):
            _raise_missing_symbol(symbol, what.split()[0], e)
        raise
    return attach_perf_event(program, event, cookie=cookie, what=what)


def kprobe(symbol: str, program: Program, *, offset: int = 0, cookie: int = 0) -> Link:
    """Run ``program`` (a ``KPROBE`` program) when the kernel reaches ``symbol`` (+``offset``
    bytes), e.g. ``kprobe("do_unlinkat", prog)``.

    Uses the kprobe PMU (Linux 4.17+), else a probe event in tracefs ``kprobe_events``, which
    the Link removes when closed. ``cookie`` is what ``bpf_get_attach_cookie`` returns in the
    program (Linux 5.15+).

    The returned Link owns a new descriptor (a bpf_link on 5.15+, else the perf event) and
    the perf event; closing it detaches. ``program`` is borrowed.

    Raises:
        UnsupportedFeatureError: the kernel has neither the kprobe PMU nor tracefs
            ``kprobe_events`` (built without kprobes); a ``cookie`` before 5.15.
        NotSupportedError: no kprobe PMU, and tracefs is not mounted (the message says how).
        EbpfError: the kernel has no symbol ``symbol`` (the message names it and
            ``/proc/kallsyms``, where it was looked for); an invalid argument or program type.
        SyscallError: the kernel refused otherwise.
    """
    return _attach(symbol, program, offset=offset, retprobe=False, maxactive=0, cookie=cookie)


def kretprobe(symbol: str, program: Program, *, maxactive: int = 0, cookie: int = 0) -> Link:
    """Run ``program`` (a ``KPROBE`` program) when kernel function ``symbol`` returns; the
    program reads the return value (``PT_REGS_RC``).

    ``maxactive`` (up to 4096) is how many calls may be pending at once before returns are
    missed; it needs a tracefs probe event (``rN:`` in ``kprobe_events``), which is used
    then, and removed when the Link is closed. Otherwise as :func:`kprobe`.

    Raises:
        as :func:`kprobe`; :class:`NotSupportedError` if ``maxactive`` is given and tracefs
        ``kprobe_events`` cannot be used.
    """
    return _attach(symbol, program, offset=0, retprobe=True, maxactive=maxactive, cookie=cookie)


@functools.cache
def _wrapper_prefix() -> str:
    """The syscall wrapper prefix if this kernel enters syscalls through wrappers, else ""
    (decided once, from ``/proc/kallsyms``)."""
    prefix = syscall_prefix()
    if prefix is None:
        return ""
    return prefix if f"{prefix}sys_bpf" in read_kallsyms() else ""


def syscall_symbol(name: str) -> str:
    """The kernel symbol of system call ``name`` (``"openat"``) on this kernel:
    ``__x64_sys_openat`` where syscalls enter through architecture wrappers (x86-64 since
    4.17, and the others that have them), else ``sys_openat``.

    Raises:
        EbpfError: ``/proc/kallsyms`` cannot be read, or ``name`` is invalid.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise EbpfError(f"invalid system call name {name!r}")
    name = name.removeprefix("sys_")
    return f"{_wrapper_prefix()}sys_{name}"


def syscall_kprobe(name: str, program: Program, *, cookie: int = 0) -> Link:
    """:func:`kprobe` on the entry of system call ``name`` (``"openat"``), under the symbol
    :func:`syscall_symbol` gives. With wrappers the program's first argument is the
    ``struct pt_regs *`` of the caller (libbpf's ``BPF_KSYSCALL`` reads the arguments from it).

    Raises:
        as :func:`kprobe`.
    """
    return kprobe(syscall_symbol(name), program, cookie=cookie)


def syscall_kretprobe(name: str, program: Program, *, maxactive: int = 0, cookie: int = 0) -> Link:
    """:func:`kretprobe` on the return of system call ``name``; the program reads the
    system call's return value.

    Raises:
        as :func:`kretprobe`.
    """
    return kretprobe(syscall_symbol(name), program, maxactive=maxactive, cookie=cookie)


# --- kprobe_multi ------------------------------------------------------------------------------

def _probe_program(attach_type: AttachType) -> Program:
    spec = ProgramSpec(name="probe_kpm", type=ProgramType.KPROBE, license="GPL",
                       attach_type=attach_type,
                       instructions=asm.Instructions([asm.mov.imm(asm.R0, 0), asm.exit()]))
    try:
        return Program(spec)
    except SyscallError as e:
        if e.errno in (errno.EINVAL, errno.E2BIG):
            raise NotSupportedError(f"a kprobe program with expected attach type "
                                    f"{attach_type.name} does not load: {e}") from e
        raise


_MULTI = "kprobe_multi (BPF_TRACE_KPROBE_MULTI)"
_SESSION = "kprobe_multi session (BPF_TRACE_KPROBE_SESSION)"


def _probe_multi_attach(attach_type: AttachType, feature: str) -> None:
    with _probe_program(attach_type) as prog:
        sym = ctypes.create_string_buffer(b"vprintk")
        syms = (ctypes.c_uint64 * 1)(ctypes.addressof(sym))
        attr = LinkCreateAttr(attach_type=int(attach_type))
        attr.prog_fd = prog.fd
        attr.kprobe_multi.cnt = 1
        attr.kprobe_multi.syms = ctypes.addressof(syms)
        try:
            commands.link_create(attr, f"probe {attach_type.name}").close()
        except SyscallError as e:
            if e.errno in (errno.EOPNOTSUPP, _ENOTSUPP):
                # No kernel version helps: it was built without fprobe.
                raise UnsupportedFeatureError(feature, None, "the kernel is built without "
                                              f"fprobe (CONFIG_FPROBE): {e}") from e
            if e.errno == errno.EINVAL:  # the attach type is newer than the kernel
                raise NotSupportedError(str(e)) from e
            raise


@feature_test(_MULTI, "5.18")
def _have_kprobe_multi() -> None:
    _probe_multi_attach(AttachType.TRACE_KPROBE_MULTI, _MULTI)


@feature_test(_SESSION, "6.10")
def _have_kprobe_session() -> None:
    _have_kprobe_multi()
    _probe_multi_attach(AttachType.TRACE_KPROBE_SESSION, _SESSION)


def _attachable_functions(pattern: str) -> tuple[list[str], str]:
    """The functions matching ``pattern`` that kprobes can attach to, and where they were
    looked up: tracefs ``available_filter_functions``, else ``/proc/kallsyms``."""
    try:
        names = available_filter_functions()
        source = "available_filter_functions"
    except NotSupportedError:
        return list(read_kallsyms().functions(pattern, module="vmlinux")), KALLSYMS
    match = re.compile(fnmatch.translate(pattern)).match
    # ftrace lists a few placeholders that are no functions.
    return ([n for n in names if match(n) and not n.startswith("__ftrace_invalid_address__")],
            source)


def kprobe_multi(symbols: str | Sequence[str], program: Program, *,
                 cookies: Sequence[int] | Mapping[str, int] | None = None,
                 retprobe: bool = False, session: bool = False) -> BPFLink:
    """Attach ``program`` (a ``KPROBE`` program loaded for ``kprobe.multi``, or
    ``kprobe.session`` with ``session=True``) to many kernel functions at once, through
    fprobe.

    ``symbols`` is a list of function names or a shell-style pattern (``"vfs_*"``), which is
    matched against tracefs ``available_filter_functions`` (the functions ftrace can hook)
    or, without tracefs, the functions of ``/proc/kallsyms``. ``cookies`` gives each function
    the value ``bpf_get_attach_cookie`` returns: a list parallel to a list of ``symbols``, or
    a mapping from function name (functions it does not name get 0). ``retprobe`` attaches at
    the functions' returns instead of their entries; ``session`` (Linux 6.10+) runs the
    program at both, and its entry return value decides whether it runs at return.

    The returned Link owns a new bpf_link descriptor; closing it detaches. ``program`` is
    borrowed.

    Raises:
        UnsupportedFeatureError: the kernel lacks kprobe_multi (before 5.18, or built without
            fprobe) or sessions (before 6.10).
        EbpfError: a pattern matches nothing, or some functions are missing (the message
            names them and where they were looked for); invalid arguments.
        SyscallError: the kernel refused otherwise.
    """
    check_program(program, "kprobe_multi", (ProgramType.KPROBE,))
    if retprobe and session:
        raise EbpfError("attach kprobe_multi: a session runs at entry and return already; "
                        "retprobe and session exclude each other")
    if isinstance(symbols, str):
        if isinstance(cookies, Sequence):
            raise EbpfError("attach kprobe_multi: with a pattern, give cookies as a mapping "
                            "from function name")
        names, source = _attachable_functions(symbols)
        if not names:
            raise EbpfError(f"attach kprobe_multi: no function matches {symbols!r} (looked "
                            f"for in {source})")
    else:
        names = list(symbols)
        if not names:
            raise EbpfError("attach kprobe_multi: no functions given")
        for n in names:
            _check_symbol(n, "kprobe_multi")
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise EbpfError(f"attach kprobe_multi: functions given twice: {', '.join(dup)}")
    if cookies is None:
        values = [0] * len(names)
    elif isinstance(cookies, Mapping):
        unknown = sorted(set(cookies) - set(names))
        if unknown:
            raise EbpfError(f"attach kprobe_multi: cookies for functions not attached: "
                            f"{', '.join(unknown)}")
        values = [cookies.get(n, 0) for n in names]
    else:
        values = list(cookies)
        if len(values) != len(names):
            raise EbpfError(f"attach kprobe_multi: {len(values)} cookies for {len(names)} "
                            "functions")
    for v in values:
        check_cookie(v, "kprobe_multi")
    # The kernel looks the names up with a binary search: they must be in strcmp order, and
    # the cookies go with them.
    order = sorted(range(len(names)), key=lambda i: names[i].encode())
    names = [names[i] for i in order]
    values = [values[i] for i in order]

    attach_type = AttachType.TRACE_KPROBE_SESSION if session else AttachType.TRACE_KPROBE_MULTI
    (_have_kprobe_session if session else _have_kprobe_multi)()
    bufs = [ctypes.create_string_buffer(n.encode()) for n in names]
    syms = (ctypes.c_uint64 * len(bufs))(*(ctypes.addressof(b) for b in bufs))
    cookie_arr = (ctypes.c_uint64 * len(values))(*values) if any(values) else None
    attr = LinkCreateAttr(attach_type=int(attach_type))
    attr.prog_fd = program.fd
    attr.kprobe_multi.flags = _KPROBE_MULTI_RETURN if retprobe else 0
    attr.kprobe_multi.cnt = len(names)
    attr.kprobe_multi.syms = ctypes.addressof(syms)
    if cookie_arr is not None:
        attr.kprobe_multi.cookies = ctypes.addressof(cookie_arr)
    shown = symbols if isinstance(symbols, str) else f"{len(names)} functions"
    context = f"attach program {program.name!r} to kprobe_multi {shown}"
    try:
        fd = commands.link_create(attr, context)
    except SyscallError as e:
        if e.errno in (errno.ESRCH, errno.ENOENT):
            missing, where = _missing_functions(names)
            if missing:
                more = " ..." if len(missing) > 10 else ""
                raise EbpfError(f"{context}: the kernel cannot attach to "
                                f"{', '.join(missing[:10])}{more} (not in {where})") from e
        if e.errno == errno.EINVAL and program.attach_type not in (attach_type, None):
            raise EbpfError(f"{context}: the program was loaded for "
                            f"{getattr(program.attach_type, 'name', program.attach_type)}, "
                            f"not {attach_type.name}") from e
        raise
    return BPFLink._created(fd)


def _missing_functions(names: list[str]) -> tuple[list[str], str]:
    """The names ftrace cannot hook, by ``available_filter_functions`` (else kallsyms), and
    which of the two said so."""
    try:
        known = set(available_filter_functions())
    except NotSupportedError:
        try:
            ks = read_kallsyms()
        except EbpfError:
            return [], KALLSYMS
        return [n for n in names if n not in ks], KALLSYMS
    return [n for n in names if n not in known], "available_filter_functions"
