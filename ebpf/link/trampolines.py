"""Trampoline and BTF-typed programs: fentry, fexit, fmod_ret, tp_btf, freplace and LSM.

These programs name their attach point when they are loaded (``attach_btf_id``, resolved by
the loader from the section name): attaching only says "now". ``BPF_LINK_CREATE`` does that
on Linux 5.19+ (with a cookie, and with another target program for freplace); older kernels
take ``BPF_RAW_TRACEPOINT_OPEN`` without a name, which :func:`tracing` falls back to.
"""

from __future__ import annotations

import errno

from .. import asm
from ..btf import Func, NotFoundError, load_kernel_spec
from ..errors import (
    EbpfError,
    NotSupportedError,
    SyscallError,
    UnsupportedFeatureError,
    VerifierError,
)
from ..externs import program_function_btf_id
from ..info import program_info
from ..internal.feature import feature_test
from ..internal.sys import LinkCreateAttr, RawTracepointOpenAttr, commands
from ..program import Program, ProgramSpec
from ..types import AttachType, ProgramType
from ._common import check_program
from .link import BPFLink
from .perf_events import check_cookie
from .tracepoints import check_raw_tp_cookies

__all__ = ["lsm", "tracing"]

_ENOTSUPP = 524
_TRACING_TYPES = (ProgramType.TRACING, ProgramType.EXT, ProgramType.LSM)
# Attach types tracing() handles; iterators and cgroup LSM programs have their own families.
_OWN = frozenset({AttachType.TRACE_FENTRY, AttachType.TRACE_FEXIT, AttachType.MODIFY_RETURN,
                  AttachType.TRACE_RAW_TP, AttachType.LSM_MAC})


#: A kernel function that exists for BPF's own tests (net/bpf/test_run.c), in every kernel
#: with trampolines: what the probe below attaches to.
_PROBE_TARGET = "bpf_fentry_test1"


@feature_test("trampoline programs (fentry, fexit, fmod_ret, lsm, freplace)", "5.5")
def _have_trampolines() -> None:
    """Whether the kernel loads trampoline programs: an fentry program on a function made for
    BPF's tests. Some kernels refuse them outright (``EPERM`` although ``bpf(2)`` works)."""
    kernel = load_kernel_spec()
    try:
        btf_id = kernel.type_id(kernel.type_by_name(_PROBE_TARGET, Func))
    except NotFoundError:
        raise NotSupportedError(f"the kernel's BTF has no {_PROBE_TARGET}") from None
    spec = ProgramSpec(name="probe_fentry", type=ProgramType.TRACING, license="GPL",
                       attach_type=AttachType.TRACE_FENTRY, attach_btf_id=btf_id,
                       attach_to=_PROBE_TARGET,
                       instructions=asm.Instructions([asm.mov.imm(asm.R0, 0), asm.exit()]))
    try:
        Program(spec).close()
    except (SyscallError, VerifierError) as e:
        if e.errno not in (errno.EPERM, errno.EINVAL, errno.EOPNOTSUPP, _ENOTSUPP):
            raise
        # Only a refusal of this family is conclusive: a plain program must load.
        plain = ProgramSpec(name="probe_plain", type=ProgramType.SOCKET_FILTER, license="GPL",
                            instructions=spec.instructions)
        Program(plain).close()
        raise NotSupportedError(f"the kernel refuses an fentry program on {_PROBE_TARGET} "
                                f"({errno.errorcode.get(e.errno or 0, e.errno)}), while it "
                                "loads other programs") from e


def _loaded_function(program: Program, context: str) -> str:
    """The name of the function ``program`` was loaded to attach to: the spec's target, or
    what the kernel says (Linux 6.0+, for targets in kernel BTF)."""
    if program.attach_to:
        return program.attach_to
    from ..btf import Handle  # not at import: only retargeting needs BTF

    info = program_info(program.fd)
    if not info.attach_btf_obj_id or not info.attach_btf_id:
        raise EbpfError(f"{context}: the function the program was loaded for is unknown (it "
                        "was opened by fd, id or pin); give target_function")
    with Handle.from_id(info.attach_btf_obj_id) as handle:
        name = handle.spec().type_by_id(info.attach_btf_id).name
    if not name:
        raise EbpfError(f"{context}: the program's attach target has no name")
    return name


def tracing(program: Program, *, cookie: int = 0, target: Program | None = None,
            target_function: str | None = None) -> BPFLink:
    """Attach a trampoline or BTF-typed program where it was loaded to attach:
    ``fentry``/``fexit``/``fmod_ret`` (``TRACING``), ``tp_btf`` (``TRACING``), ``freplace``
    (``EXT``) and ``lsm`` (``LSM``).

    ``cookie`` (Linux 5.19+; tp_btf 6.10+) is what ``bpf_get_attach_cookie`` returns in the
    program. ``target`` attaches a freplace program (or an fentry/fexit program that traces
    a BPF program) to another loaded program than the one it was loaded for: its function
    ``target_function`` (by default the one the program was loaded for), found in the
    target's BTF. Without ``target`` the program attaches to what it
    was loaded for.

    The returned Link owns a new bpf_link descriptor; closing it detaches. ``program`` (and
    ``target``) are borrowed.

    Raises:
        UnsupportedFeatureError: a ``cookie`` or ``target`` on a kernel whose
            ``BPF_LINK_CREATE`` does not take tracing programs (before 5.19; freplace targets
            5.10), or a ``cookie`` for a tp_btf program before 6.10 (``"tp_btf cookies"``:
            kernels from 5.19 would drop it).
        EbpfError: the program is of another type, an iterator (:func:`ebpf.link.iter`), or
            its attach type is unknown where it is needed (a program opened by fd or id).
        SyscallError: the kernel refused (``EINVAL``: e.g. the program is attached already
            and has no target to attach to again).
    """
    check_program(program, "tracing", _TRACING_TYPES)
    cookie = check_cookie(cookie, "tracing")
    attach_type = program.attach_type
    if attach_type == AttachType.TRACE_ITER:
        raise EbpfError(f"attach tracing: program {program.name!r} is an iterator; use "
                        "ebpf.link.iter")
    if attach_type is not None and program.type != ProgramType.EXT and attach_type not in _OWN:
        raise EbpfError(f"attach tracing: program {program.name!r} has attach type "
                        f"{getattr(attach_type, 'name', attach_type)}, which another family "
                        "attaches")
    if target_function is not None and target is None:
        raise EbpfError("attach tracing: target_function needs a target program")
    context = f"attach program {program.name!r}"
    target_fd = btf_id = 0
    if target is not None:
        if not isinstance(target, Program):
            raise EbpfError(f"attach tracing: target must be a Program, not "
                            f"{type(target).__name__}")
        function = target_function or _loaded_function(program, context)
        context += f" to function {function!r} of program {target.name!r}"
        btf_id = program_function_btf_id(target, function, context)
        target_fd = target.fd
    if program.type == ProgramType.EXT:
        link_type = 0  # the kernel ignores the attach type of extension programs
    elif attach_type is None:
        if cookie or target is not None:
            raise EbpfError(f"{context}: the program's attach type is unknown (it was opened "
                            "by fd, id or pin), and a cookie or target needs it")
        return _raw_tracepoint_open(program, context)
    else:
        link_type = int(attach_type)
    if cookie and attach_type == AttachType.TRACE_RAW_TP:
        # Kernels 5.19 to 6.9 take a tp_btf program through BPF_LINK_CREATE but drop its
        # cookie: asked first, so a cookie is never lost in silence.
        check_raw_tp_cookies("tp_btf cookies", context)
    attr = LinkCreateAttr(attach_type=link_type)
    attr.prog_fd = program.fd
    attr.target_fd = target_fd
    attr.tracing.target_btf_id = btf_id
    attr.tracing.cookie = cookie
    try:
        return BPFLink._created(commands.link_create(attr, context))
    except SyscallError as e:
        # Before 5.19 (5.10 for freplace) BPF_LINK_CREATE does not take these programs.
        if e.errno not in (errno.EINVAL, errno.EOPNOTSUPP, _ENOTSUPP):
            raise
        if target is not None:
            raise UnsupportedFeatureError("freplace targets (BPF_LINK_CREATE for tracing "
                                          "programs)", "5.10", str(e)) from e
        if cookie and attach_type == AttachType.TRACE_RAW_TP:
            # tp_btf programs went through BPF_LINK_CREATE only with their cookies.
            raise UnsupportedFeatureError("tp_btf cookies (BPF_LINK_CREATE for tp_btf "
                                          "programs)", "6.10", str(e)) from e
        if cookie:
            raise UnsupportedFeatureError("tracing cookies (BPF_LINK_CREATE for tracing "
                                          "programs)", "5.19", str(e)) from e
        # The older command; if it fails too, both errors are shown.
        try:
            return _raw_tracepoint_open(program, context)
        except SyscallError as older:
            raise older from e


def _raw_tracepoint_open(program: Program, context: str) -> BPFLink:
    attr = RawTracepointOpenAttr(prog_fd=program.fd)
    return BPFLink._created(commands.raw_tracepoint_open(attr, context))


def lsm(program: Program, *, cookie: int = 0) -> BPFLink:
    """Attach an ``LSM`` program (``SEC("lsm/file_open")``) to the LSM hook it was loaded
    for; a non-zero return value from the program denies the operation (``-EPERM`` ...).

    Needs the kernel to run with the ``bpf`` LSM active (``lsm=...,bpf``). ``cookie`` as in
    :func:`tracing`. The returned Link owns a new bpf_link descriptor; closing it detaches.
    ``program`` is borrowed.

    Raises:
        EbpfError: the program is not an ``LSM`` program.
        SyscallError, UnsupportedFeatureError: as :func:`tracing`.
    """
    check_program(program, "lsm", (ProgramType.LSM,))
    if program.attach_type == AttachType.LSM_CGROUP:
        raise EbpfError(f"attach lsm: program {program.name!r} is a cgroup LSM program "
                        "(lsm_cgroup), which attaches to a cgroup")
    return tracing(program, cookie=cookie)
