"""Uprobes: programs run when a process executes an instruction of a file.

A uprobe is placed at an offset in a file (an executable or a shared library), not at an
address in a process: every process that maps the file runs the program there, unless a
``pid`` filter says which one. :func:`uprobe` and :func:`uretprobe` attach one probe, at a
function's entry or at its return; :func:`uprobe_multi` attaches one program to many offsets
of one file with a single bpf_link (Linux 6.6+), at entry, at return, or both (a *session*,
Linux 6.13+).

**Targets.** ``path`` is a path (``/usr/bin/bash``), an executable found on ``PATH``
(``"bash"``), or a shared library found as the dynamic loader finds it (``"libc.so.6"``,
``"libc"``, ``"c"``); see :func:`ebpf.internal.ldcache.resolve_binary`. A function is named
by its symbol (``"malloc"``, ``"malloc@@GLIBC_2.2.5"``, ``"main.work"`` for Go, from the
``.gopclntab`` of a stripped Go binary too), optionally with an offset into it
(``"sym+0x10"``, or ``offset=0x10``); ``symbol=None`` takes ``offset`` as a file offset.

**Mechanisms.** A single probe is a perf event: the uprobe PMU (Linux 4.17+) or, where the
kernel has none, a ``uprobe_events`` event made through tracefs (removed again when the Link
closes). The program is attached to it with a bpf_link where the kernel has one (Linux 5.15,
which also carries the BPF cookie), else with ``PERF_EVENT_IOC_SET_BPF``;
:attr:`~ebpf.link.Link.mechanism` says which.

**Reference counters.** ``ref_ctr_offset`` is the file offset of a USDT semaphore (a 16-bit
counter the traced program tests before preparing a probe's arguments): the kernel
increments it in every process while the probe is attached (Linux 4.20+).

Every function returns a :class:`~ebpf.link.Link` that owns what it made; the program is
borrowed and may be closed after attaching. Programs must be ``KPROBE`` programs
(``SEC("uprobe")``, ``SEC("uretprobe")``, ``SEC("uprobe.multi")`` ...).
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Mapping, Sequence
from typing import Final

from ..errors import (
    EbpfError,
    NotSupportedError,
    SymbolNotFoundError,
    SyscallError,
    UnsupportedFeatureError,
)
from ..internal.elf_symbols import find_symbol, symbol_offsets, symbols_matching
from ..internal.feature import feature_test
from ..internal.kernel import kernel_version
from ..internal.ldcache import resolve_binary
from ..internal.sys import FD, LinkCreateAttr, ProgLoadAttr, commands
from ..internal.tracefs import ProbeEvent
from ..internal.unix import PerfEventAttr, PerfType, perf_event_open, pmu_format_bit, pmu_type
from ..program import Program
from ..types import AttachType, ProgramType
from ._perf_attach import attach_perf_event
from .link import BPFLink, Link, Mechanism, create_bpf_link

__all__ = [
    "have_uprobe_multi",
    "have_uprobe_session",
    "uprobe",
    "uprobe_multi",
    "uretprobe",
]

_BPF_F_UPROBE_MULTI_RETURN: Final = 1
_GLOB_CHARS: Final = frozenset("*?[")
_U64: Final = 1 << 64

# r0 = 0; exit
_RETURN_0: Final = bytes.fromhex("b700000000000000" "9500000000000000")


# --- arguments ---------------------------------------------------------------------------------


def _check_int(value: object, what: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value < hi:
        raise EbpfError(f"{what} must be an int from {lo} to {hi - 1}, not {value!r}")
    return value


def _check_pid(pid: object, what: str) -> int:
    """-1 (every process), 0 (this process) or a process id; returns the id to filter on."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid < -1 or pid >= 1 << 31:
        raise EbpfError(f"{what}: pid must be -1 (every process), 0 (this process) or a "
                        f"process id, not {pid!r}")
    return os.getpid() if pid == 0 else pid


_SECTIONS: Final = {
    None: 'SEC("uprobe"), SEC("uretprobe") or SEC("usdt")',
    AttachType.TRACE_UPROBE_MULTI: 'SEC("uprobe.multi") or SEC("uretprobe.multi")',
    AttachType.TRACE_UPROBE_SESSION: 'SEC("uprobe.session")',
}


def require_kprobe_program(program: Program, what: str,
                           attach_type: AttachType | None = None) -> None:
    """Raise unless ``program`` is a ``KPROBE`` program (what uprobes and USDT probes run)
    loaded for ``attach_type`` (None: a perf event), where the program says what it was
    loaded for (programs opened by fd, id or pin do not: the kernel checks).

    Raises:
        EbpfError: the program has another type or attach type (the message says which
            sections make the right one).
    """
    if not isinstance(program, Program):
        raise EbpfError(f"{what}: expected a loaded ebpf.Program, got "
                        f"{type(program).__name__}")
    kind = program.type
    if kind != ProgramType.KPROBE:
        shown = kind.name if isinstance(kind, ProgramType) else str(kind)
        raise EbpfError(f"{what}: program {program.name!r} is a {shown} program; uprobes run "
                        "KPROBE programs (SEC(\"uprobe\"), SEC(\"uretprobe\"), "
                        "SEC(\"uprobe.multi\"), SEC(\"usdt\") ...)")
    loaded_for = program.attach_type
    if program.section_name and loaded_for != attach_type:
        shown = loaded_for.name if isinstance(loaded_for, AttachType) else "perf events"
        raise EbpfError(f"{what}: program {program.name!r} was loaded for {shown} (from "
                        f"SEC({program.section_name!r})); {what} needs one loaded from "
                        f"{_SECTIONS.get(attach_type, attach_type)}")


def _split_symbol(symbol: str) -> tuple[str, int]:
    """``"name+0x10"`` -> ``("name", 16)``; a name without a numeric suffix stays whole."""
    name, plus, rest = symbol.rpartition("+")
    if plus and name:
        try:
            return name, int(rest, 0)
        except ValueError:
            pass
    return symbol, 0


def resolve_target(path: str | os.PathLike[str], symbol: str | None, offset: int = 0
                   ) -> tuple[str, int, str]:
    """``(file, file offset, description)`` of a uprobe target (see the module docstring).

    Raises:
        TargetNotFoundError: no such file, executable or library.
        SymbolNotFoundError: no such function (the message names the file and close matches).
        AmbiguousSymbolError, IndirectFunctionError, ELFError: see
            :func:`ebpf.internal.elf_symbols.find_symbol`.
        EbpfError: ``offset`` is not a non-negative int.
    """
    _check_int(offset, "uprobe offset", 0, _U64)
    file = resolve_binary(path)
    if symbol is None:
        return file, offset, f"{file}:{offset:#x}"
    if not isinstance(symbol, str) or not symbol:
        raise EbpfError(f"uprobe symbol must be a non-empty str or None, not {symbol!r}")
    name, extra = _split_symbol(symbol)
    try:
        loc = find_symbol(file, name, offset=offset + extra)
    except ValueError as e:
        raise EbpfError(f"uprobe {symbol!r} in {file!r}: {e}") from None
    shown = f"{file}:{symbol}" + (f"+{offset:#x}" if offset else "")
    return file, loc.offset, shown


# --- one probe: a perf event -------------------------------------------------------------------


def _pid_cpu(pid: int) -> tuple[int, int]:
    # Every process: any CPU would do, the program runs wherever the probe is hit; perf
    # wants a CPU when there is no task. One process: that task on every CPU.
    return (-1, 0) if pid == -1 else (pid, -1)


def _pmu_attr(retprobe: bool, ref_ctr_offset: int, reasons: list[str]) -> PerfEventAttr | None:
    """The ``perf_event_attr`` of a uprobe PMU event (without path and offset), or None
    with the reason added to ``reasons`` if the kernel's PMU cannot make this probe."""
    try:
        ptype = pmu_type("uprobe")
    except NotSupportedError as e:
        reasons.append(str(e))
        return None
    config = 0
    if retprobe:
        bit = pmu_format_bit("uprobe", "retprobe")
        if bit is None:
            reasons.append("the uprobe PMU has no retprobe bit")
            return None
        config |= 1 << bit
    if ref_ctr_offset:
        bit = pmu_format_bit("uprobe", "ref_ctr_offset")
        if bit is None:
            reasons.append("the uprobe PMU takes no reference counter offset (Linux 4.20)")
            return None
        config |= ref_ctr_offset << bit
    return PerfEventAttr(type=ptype, config=config)


def open_uprobe_event(file: str, offset: int, *, retprobe: bool = False, pid: int = -1,
                      ref_ctr_offset: int = 0, what: str = "", pmu: bool | None = None
                      ) -> tuple[FD, ProbeEvent | None]:
    """Open the perf event of a uprobe at ``offset`` of ``file``: with the uprobe PMU, else
    (or with ``pmu=False``) from a tracefs ``uprobe_events`` event, returned with it.

    Raises:
        NotSupportedError: the kernel has neither (or not what was asked: ``pmu=True``
            without the PMU, a reference counter without support for one).
        SyscallError: ``perf_event_open`` failed (``EINVAL``: e.g. an offset past the end of
            the file, or another ``ref_ctr_offset`` for a probe already at this offset).
        EbpfError: tracefs refused the event.
    """
    kind = "uretprobe" if retprobe else "uprobe"
    what = what or f"{file}:{offset:#x}"
    cpu_pid, cpu = _pid_cpu(pid)
    context = f"open {kind} {what}"
    reasons: list[str] = []
    if pmu is not False:
        attr = _pmu_attr(retprobe, ref_ctr_offset, reasons)
        if attr is not None:
            path = ctypes.create_string_buffer(os.fsencode(file))
            attr.config1 = ctypes.addressof(path)
            attr.config2 = offset
            return perf_event_open(attr, cpu_pid, cpu, what=context), None
        if pmu:
            raise NotSupportedError(f"{context}: {'; '.join(reasons)}")
    if any(c.isspace() for c in file):
        raise NotSupportedError(f"{context}: uprobe_events cannot name a file whose path "
                                f"has white space ({'; '.join(reasons)})")
    target = f"{file}:{offset:#x}" + (f"({ref_ctr_offset:#x})" if ref_ctr_offset else "")
    label = os.path.basename(file) + "_" + what.rpartition(":")[2]
    event = ProbeEvent("uprobe", target, retprobe=retprobe, what=label)
    try:
        attr = PerfEventAttr(type=int(PerfType.TRACEPOINT), config=event.id, sample_period=1,
                             wakeup_events=1)
        return perf_event_open(attr, cpu_pid, cpu, what=context), event
    except BaseException:
        event.remove()
        raise


def attach_uprobe_at(program: Program, file: str, offset: int, *, retprobe: bool = False,
                     pid: int = -1, ref_ctr_offset: int = 0, cookie: int = 0,
                     what: str = "", pmu: bool | None = None,
                     mechanism: Mechanism | None = None) -> Link:
    """Attach ``program`` at file offset ``offset`` of ``file`` (already resolved): the step
    :func:`uprobe`, :func:`uretprobe` and :func:`ebpf.link.usdt` share. ``pmu`` and
    ``mechanism`` force one way of doing it (for tests); see :func:`uprobe` for the rest."""
    kind = "uretprobe" if retprobe else "uprobe"
    require_kprobe_program(program, kind)
    pid = _check_pid(pid, kind)
    _check_int(ref_ctr_offset, f"{kind} ref_ctr_offset", 0, 1 << 32)
    _check_int(cookie, f"{kind} cookie", 0, _U64)
    fd, event = open_uprobe_event(file, offset, retprobe=retprobe, pid=pid,
                                  ref_ctr_offset=ref_ctr_offset, what=what, pmu=pmu)
    return attach_perf_event(program, fd, event=event, cookie=cookie, mechanism=mechanism,
                             what=f"{kind} {what or f'{file}:{offset:#x}'}")


def uprobe(path: str | os.PathLike[str], symbol: str | None, program: Program, *,
           offset: int = 0, pid: int = -1, ref_ctr_offset: int = 0, cookie: int = 0) -> Link:
    """Run ``program`` when a process enters function ``symbol`` of ``path``.

    ``symbol`` may carry an offset (``"sym+0x10"``) and a version (``"malloc@@GLIBC_2.2.5"``);
    ``offset`` is added to it, or is the file offset itself when ``symbol`` is None. ``pid``
    limits the probe to one process (0: this one; -1, the default: every process).
    ``ref_ctr_offset`` is the file offset of a USDT semaphore the kernel increments while
    attached. ``cookie`` is what ``bpf_get_attach_cookie()`` returns in the program
    (Linux 5.15+).

    Returns a Link owning the perf event (and any tracefs event); closing it detaches.

    Raises:
        TargetNotFoundError: ``path`` is not a file, an executable on ``PATH`` or a library.
        SymbolNotFoundError: ``path`` has no function ``symbol`` (the message names both and
            lists close matches).
        AmbiguousSymbolError, IndirectFunctionError, ELFError: the symbol cannot be
            resolved to one function (see :mod:`ebpf.internal.elf_symbols`).
        EbpfError: ``program`` is not a ``KPROBE`` program, or an argument is invalid.
        UnsupportedFeatureError: a cookie on a kernel without perf event links (5.15).
        NotSupportedError: the kernel has neither the uprobe PMU nor ``uprobe_events``.
        SyscallError: the kernel refused (``.errno`` says why).
    """
    file, off, shown = resolve_target(path, symbol, offset)
    return attach_uprobe_at(program, file, off, pid=pid, ref_ctr_offset=ref_ctr_offset,
                            cookie=cookie, what=shown)


def uretprobe(path: str | os.PathLike[str], symbol: str | None, program: Program, *,
              offset: int = 0, pid: int = -1, ref_ctr_offset: int = 0, cookie: int = 0
              ) -> Link:
    """Run ``program`` when a process returns from function ``symbol`` of ``path``
    (``PT_REGS_RC(ctx)`` is the return value). Arguments and errors as :func:`uprobe`; the
    probe goes at the function's entry, which is where the kernel hooks the return."""
    file, off, shown = resolve_target(path, symbol, offset)
    return attach_uprobe_at(program, file, off, retprobe=True, pid=pid,
                            ref_ctr_offset=ref_ctr_offset, cookie=cookie, what=shown)


# --- many probes: BPF_TRACE_UPROBE_MULTI -------------------------------------------------------


def _load_probe_program(attach: AttachType) -> FD:
    insns = ctypes.create_string_buffer(_RETURN_0, len(_RETURN_0))
    lic = ctypes.create_string_buffer(b"GPL")
    major, minor, patch = kernel_version()
    attr = ProgLoadAttr(prog_type=int(ProgramType.KPROBE), insn_cnt=2,
                        insns=ctypes.addressof(insns), license=ctypes.addressof(lic),
                        kern_version=(major << 16) | (minor << 8) | min(patch, 255),
                        expected_attach_type=int(attach))
    try:
        return commands.prog_load(attr, f"probe {attach.name}")
    except SyscallError as e:
        if e.errno in (errno.EINVAL, errno.E2BIG):
            raise NotSupportedError(f"the kernel does not load KPROBE programs for "
                                    f"{attach.name}: {e}") from e
        raise


def _probe_multi_link(attach: AttachType) -> None:
    """A link of ``attach`` on a directory fails with ``EBADF`` where the kernel has it."""
    prog = _load_probe_program(attach)
    try:
        path = ctypes.create_string_buffer(b"/")
        offsets = (ctypes.c_uint64 * 1)(0)
        attr = LinkCreateAttr(attach_type=int(attach))
        attr.prog_fd = prog.raw
        attr.uprobe_multi.path = ctypes.addressof(path)
        attr.uprobe_multi.offsets = ctypes.addressof(offsets)
        attr.uprobe_multi.cnt = 1
        try:
            commands.link_create(attr, f"probe {attach.name}").close()
        except SyscallError as e:
            if e.errno == errno.EBADF:
                return
            if e.errno in (errno.EINVAL, errno.EOPNOTSUPP, 524):
                raise NotSupportedError(str(e)) from e
            raise
        raise NotSupportedError(f"BPF_LINK_CREATE accepted {attach.name} on a directory")
    finally:
        prog.close()


@feature_test("BPF_TRACE_UPROBE_MULTI links", "6.6")
def have_uprobe_multi() -> None:
    """Probe: ``BPF_LINK_CREATE`` with ``BPF_TRACE_UPROBE_MULTI`` (Linux 6.6)."""
    _probe_multi_link(AttachType.TRACE_UPROBE_MULTI)


@feature_test("BPF_TRACE_UPROBE_SESSION links (uprobe sessions)", "6.13")
def have_uprobe_session() -> None:
    """Probe: ``BPF_LINK_CREATE`` with ``BPF_TRACE_UPROBE_SESSION`` (Linux 6.13)."""
    _probe_multi_link(AttachType.TRACE_UPROBE_SESSION)


def _multi_targets(file: str, targets: str | Sequence[str | int]
                   ) -> tuple[list[str], list[int]]:
    """(names, file offsets) of the functions ``targets`` names (see :func:`uprobe_multi`)."""
    if isinstance(targets, str):
        if _GLOB_CHARS & set(targets):
            found = symbols_matching(file, targets)
            if not found:
                raise SymbolNotFoundError(file, [targets], where="no function matches the "
                                          "pattern")
            return [loc.name.partition("@")[0] for loc in found], [loc.offset for loc in found]
        targets = [targets]
    if not isinstance(targets, Sequence) or not targets:
        raise EbpfError(f"uprobe_multi: expected a function name, a pattern, or a non-empty "
                        f"sequence of names and file offsets, not {targets!r}")
    names: list[str] = []
    offsets: list[int | None] = []
    plain: list[str] = []
    for t in targets:
        if isinstance(t, str) and t:
            name, extra = _split_symbol(t)
            names.append(t)
            if extra:
                offsets.append(find_symbol(file, name, offset=extra).offset)
            else:
                offsets.append(None)
                plain.append(t)
        elif isinstance(t, int) and not isinstance(t, bool) and 0 <= t < _U64:
            names.append(f"{t:#x}")
            offsets.append(t)
        else:
            raise EbpfError(f"uprobe_multi: {t!r} is neither a function name nor a file offset")
    resolved = iter(symbol_offsets(file, plain)) if plain else iter(())
    return names, [o if o is not None else next(resolved) for o in offsets]


def _per_target(values: Sequence[int] | Mapping[str, int] | None, names: list[str],
                what: str, file: str) -> ctypes.Array[ctypes.c_uint64] | None:
    if values is None:
        return None
    if isinstance(values, Mapping):
        unknown = [k for k in values if k not in names]
        if unknown:
            raise EbpfError(f"uprobe_multi: {what} for {unknown!r}, which are not among the "
                            f"functions attached in {file!r}")
        seq = [values.get(n, 0) for n in names]
    else:
        seq = list(values)
        if len(seq) != len(names):
            raise EbpfError(f"uprobe_multi: {len(seq)} {what} for {len(names)} functions")
    for v in seq:
        _check_int(v, f"uprobe_multi {what[:-1]}", 0, _U64)
    return (ctypes.c_uint64 * len(seq))(*seq)


def uprobe_multi(path: str | os.PathLike[str], targets: str | Sequence[str | int],
                 program: Program, *, retprobe: bool = False, pid: int = -1,
                 cookies: Sequence[int] | Mapping[str, int] | None = None,
                 ref_ctr_offsets: Sequence[int] | None = None,
                 session: bool = False) -> BPFLink:
    """Run ``program`` at many functions of ``path`` through one bpf_link
    (``BPF_TRACE_UPROBE_MULTI``, Linux 6.6).

    ``targets`` is a shell-style pattern (``"lib_*"``: every matching function, see
    :func:`ebpf.internal.elf_symbols.symbols_matching`), one function name, or a sequence of
    function names (``"sym+0x10"`` allowed) and file offsets (ints), all resolved in one
    pass over the file. ``cookies`` gives each target its ``bpf_get_attach_cookie()`` value:
    a sequence in the order of ``targets`` (for a pattern: the matches in file order), or a
    mapping from function name (without version) to cookie, others getting 0.
    ``ref_ctr_offsets`` are USDT semaphore offsets, one per target.

    ``retprobe`` runs the program at the functions' returns instead. ``session`` runs it at
    both (``BPF_TRACE_UPROBE_SESSION``, Linux 6.13): at entry, and at return when the entry
    run returned 0; ``bpf_session_is_return()`` tells them apart. The program must have been
    loaded for that attach type (``SEC("uprobe.multi")``, ``SEC("uretprobe.multi")``,
    ``SEC("uprobe.session")``).

    Raises:
        TargetNotFoundError, SymbolNotFoundError (every missing name at once, or a pattern
            that matches nothing), AmbiguousSymbolError, IndirectFunctionError, ELFError: as
            :func:`uprobe`.
        EbpfError: a program of another type, or arguments that do not fit the targets.
        UnsupportedFeatureError: the kernel has no uprobe_multi (or session) links.
        SyscallError: the kernel refused (``EINVAL`` with a hint: e.g. a program loaded for
            another attach type).
    """
    what = "uprobe_multi"
    attach = AttachType.TRACE_UPROBE_SESSION if session else AttachType.TRACE_UPROBE_MULTI
    if session and retprobe:
        raise EbpfError("uprobe_multi: a session runs the program at entry and return; "
                        "retprobe=True does not apply")
    require_kprobe_program(program, "uprobe session" if session else what, attach)
    pid = _check_pid(pid, what)
    file = resolve_binary(path)
    names, offsets = _multi_targets(file, targets)
    off_array = (ctypes.c_uint64 * len(offsets))(*offsets)
    cookie_array = _per_target(cookies, names, "cookies", file)
    ref_array = None
    if ref_ctr_offsets is not None:
        ref_array = _per_target(list(ref_ctr_offsets), names, "ref_ctr_offsets", file)
    path_buf = ctypes.create_string_buffer(os.fsencode(file))

    def configure(attr: LinkCreateAttr) -> object:
        um = attr.uprobe_multi
        um.path = ctypes.addressof(path_buf)
        um.offsets = ctypes.addressof(off_array)
        um.ref_ctr_offsets = commands.addr_of(ref_array)
        um.cookies = commands.addr_of(cookie_array)
        um.cnt = len(offsets)
        um.flags = _BPF_F_UPROBE_MULTI_RETURN if retprobe else 0
        um.pid = pid if pid > 0 else 0
        return None

    kind = "uprobe session" if session else ("uretprobe_multi" if retprobe else what)
    context = (f"attach program {program.name!r} as {kind} to {len(offsets)} functions of "
               f"{file!r}")
    try:
        return create_bpf_link(program, attach, configure=configure, context=context)
    except SyscallError as e:
        if e.errno not in (errno.EINVAL, errno.EOPNOTSUPP, 524):
            raise
        try:
            (have_uprobe_session if session else have_uprobe_multi)()
        except UnsupportedFeatureError as missing:
            raise missing from e
        section = ("SEC(\"uprobe.session\")" if session else
                   "SEC(\"uprobe.multi\") or SEC(\"uretprobe.multi\")")
        raise SyscallError(e.errno or errno.EINVAL, e.cmd,
                           f"{context} (was the program loaded for {attach.name}, from "
                           f"{section}?)") from e
