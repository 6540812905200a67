"""Program types, helper functions and kfuncs: a tiny program of the type is loaded.

Most types load ``r0 = 0; exit`` as they are. The others get what the kernel checks at load
time: an expected attach type (cgroup socket address and sockopt hooks, sk_lookup, netfilter),
the sleepable flag (syscall programs), or an attach target the running kernel has (tracing,
LSM and struct_ops programs: from its BTF; extension programs: a program loaded for the
purpose). Tracing, LSM and extension programs need BPF trampolines, which a kernel may refuse
(see :mod:`._tracing`).
"""

from __future__ import annotations

import contextlib
import errno
import struct
import sys
from collections.abc import Iterator

from .. import asm
from ..asm import R0, Instructions
from ..asm.helpers import Helper
from ..errors import BTFError, EbpfError, NotSupportedError
from ..internal.feature import feature_test
from ..internal.sys import FD
from ..kernel_versions import PROGRAM_TYPE_VERSIONS, helper_version
from ..types import AttachType, ProgramType
from ._probe import (
    ENOTSUPP,
    RETURN_0,
    ProbeCache,
    ProbeProgram,
    absent,
    encode,
    kernel_btf_id,
    load,
    try_load,
)
from ._tracing import have_tp_btf, tracing_target, trampoline_refusal

__all__ = [
    "check_program_type",
    "have_helper",
    "have_kfunc",
    "have_kfuncs",
    "have_program_type",
    "have_trampolines",
    "program_for",
]

P, A = ProgramType, AttachType

_BPF_F_SLEEPABLE = 1 << 4

# Attach types the kernel checks when it loads a program of these types.
_LOAD_ATTACH_TYPE = {
    P.CGROUP_SOCK_ADDR: A.CGROUP_INET4_CONNECT,
    P.CGROUP_SOCKOPT: A.CGROUP_GETSOCKOPT,
    P.SK_LOOKUP: A.SK_LOOKUP,
    P.NETFILTER: A.NETFILTER,
}

# struct_ops types and the member a probe program implements.
STRUCT_OPS_TARGETS = (("tcp_congestion_ops", "init"), ("bpf_dummy_ops", "test_1"))


def _name(pt: ProgramType) -> str:
    return f"BPF_PROG_TYPE_{pt.name}"


def check_program_type(pt: object) -> ProgramType:
    try:
        member = ProgramType(pt)  # type: ignore[arg-type]
    except ValueError:
        raise EbpfError(f"{pt!r} is not a program type this library knows") from None
    if member is P.UNSPEC:
        raise EbpfError("ProgramType.UNSPEC is not a program type")
    return member


def _func_id(name: str, *, what: str) -> int:
    from ..btf import Func

    return kernel_btf_id(name, Func, what=what)


def _struct_ops_target() -> tuple[int, int] | None:
    """(BTF id, member index) of a struct_ops member this kernel has, or None."""
    from ..btf import NotFoundError, Struct, load_kernel_spec

    try:
        spec = load_kernel_spec()
    except NotSupportedError:
        return None
    for struct_name, member in STRUCT_OPS_TARGETS:
        try:
            st = spec.type_by_name(struct_name, Struct)
        except NotFoundError:
            continue
        for index, m in enumerate(st.members):
            if m.name == member:
                return spec.type_id(st), index
    return None


# --- freplace targets -------------------------------------------------------------------------
#
# An extension program replaces a global function of a loaded program with BTF. The probe's
# target is an XDP program whose one function is described by this BTF (native byte order):
#   [1] INT 'int' size 4 signed    [2] STRUCT 'xdp_md' size 0    [3] PTR -> [2]
#   [4] FUNC_PROTO int (ctx: [3])  [5] FUNC 'probe_target' -> [4], global

_EXT_STRINGS = b"\0int\0xdp_md\0ctx\0probe_target\0"
_EXT_TYPES = (
    1, 0x01000000, 4, 0x01000020,          # int
    5, 0x04000000, 0,                      # struct xdp_md {}
    0, 0x02000000, 2,                      # xdp_md *
    0, 0x0D000001, 1, 12, 3,               # int (xdp_md *ctx)
    16, 0x0C000001, 4,                     # global func probe_target
)
_EXT_FUNC_ID = 5


def _ext_btf_blob() -> bytes:
    order = "<" if sys.byteorder == "little" else ">"
    types = struct.pack(f"{order}{len(_EXT_TYPES)}I", *_EXT_TYPES)
    header = struct.pack(f"{order}HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types),
                         len(_EXT_STRINGS))
    return header + types + _EXT_STRINGS


@contextlib.contextmanager
def _ext_target(what: str) -> Iterator[tuple[int, FD]]:
    """The fd of a BTF object and an XDP program to extend; both are closed on exit."""
    from ..btf import Handle

    func_info = struct.pack("=II", 0, _EXT_FUNC_ID)
    try:
        handle = Handle.from_bytes(_ext_btf_blob(), what=f"{what} (BTF)")
    except BTFError as e:   # the kernel rejected it: no functions with global linkage
        raise NotSupportedError(f"the kernel rejects the BTF of a target: {e}") from e
    with handle, load(
            ProbeProgram(P.XDP, RETURN_0, btf_fd=handle.fd, func_info=func_info),
            f"{what} (target)") as target:
        yield handle.fd, target


@contextlib.contextmanager
def program_for(pt: ProgramType, insns: bytes, *, what: str,
                tracing: AttachType = A.TRACE_FENTRY) -> Iterator[ProbeProgram]:
    """A loadable program of type ``pt`` running ``insns`` (with its attach target).

    TRACING programs attach as ``tracing`` (fentry by default, ``TRACE_RAW_TP`` for tp_btf).
    Whatever the program refers to (an extension's target) stays open until the exit.

    Raises:
        NotSupportedError: the kernel has no target for it (no BTF, no such function).
    """
    if pt == P.TRACING:
        yield ProbeProgram(pt, insns, expected_attach_type=tracing,
                           attach_btf_id=tracing_target(tracing, what=what))
    elif pt == P.LSM:
        yield ProbeProgram(pt, insns, expected_attach_type=A.LSM_MAC,
                           attach_btf_id=tracing_target(A.LSM_MAC, what=what))
    elif pt == P.STRUCT_OPS:
        target = _struct_ops_target()
        if target is None:
            yield ProbeProgram(pt, insns)    # the kernel answers ENOTSUPP if it knows the type
        else:
            yield ProbeProgram(pt, insns, expected_attach_type=target[1],
                               attach_btf_id=target[0])
    elif pt == P.EXT:
        with _ext_target(what) as (btf_fd, target_fd):
            yield ProbeProgram(pt, insns, attach_prog_fd=target_fd.raw,
                               attach_btf_id=_EXT_FUNC_ID, btf_fd=btf_fd,
                               func_info=struct.pack("=II", 0, _EXT_FUNC_ID))
    elif pt == P.SYSCALL:
        yield ProbeProgram(pt, insns, flags=_BPF_F_SLEEPABLE)
    else:
        yield ProbeProgram(pt, insns, expected_attach_type=_LOAD_ATTACH_TYPE.get(pt, 0))


# --- program types ----------------------------------------------------------------------------

def _probe_program_type(pt: ProgramType) -> None:
    what = f"probe {_name(pt)}"
    with program_for(pt, RETURN_0, what=what) as program:
        loaded = try_load(program, what)
    if loaded.fd is not None:
        loaded.fd.close()
        return
    err = loaded.error
    assert err is not None
    if pt == P.STRUCT_OPS and err.errno == ENOTSUPP and not program.attach_btf_id:
        return  # the type is known; no struct_ops target to load it against
    if pt in (P.TRACING, P.LSM, P.EXT):
        trampoline_refusal(loaded, _name(pt), PROGRAM_TYPE_VERSIONS[pt], what)
    if err.errno in (errno.EINVAL, errno.E2BIG):
        absent(f"the kernel does not know the program type or was built without it "
               f"({loaded.describe()})", err)
    loaded.fail(what)


_program_types: ProbeCache[ProgramType] = ProbeCache(
    lambda pt: (_name(pt), PROGRAM_TYPE_VERSIONS[pt]), _probe_program_type)


def have_program_type(program_type: ProgramType) -> None:
    """Probe: the kernel loads programs of ``program_type``.

    TRACING is probed with a fentry program, LSM with a hook from the kernel's BTF, EXT with a
    freplace of a program loaded for the purpose, STRUCT_OPS against a struct_ops type of the
    kernel: all of these need the kernel's BTF.

    Raises:
        UnsupportedFeatureError: the kernel lacks the type (or refuses BPF trampolines, which
            TRACING, LSM and EXT programs need: the feature name then says so).
        EbpfError: ``program_type`` is not a program type, or the probe could not decide
            (e.g. ``SyscallError`` ``EPERM`` without privileges); nothing is cached then.
    """
    _program_types(check_program_type(program_type))


# --- helpers ----------------------------------------------------------------------------------

def _helper_gate(pt: ProgramType) -> None:
    """Raise if programs of ``pt`` cannot be loaded here (their helpers then do not matter)."""
    if pt == P.TRACING:
        have_tp_btf()   # the helper probes load tp_btf programs: no trampoline needed
    else:
        have_program_type(pt)


def _probe_helper(key: tuple[ProgramType, Helper]) -> None:
    pt, helper = key
    if pt == P.EXT:
        raise EbpfError("no helper probe for EXT programs: an extension may call the helpers "
                        "of the program it extends")
    _helper_gate(pt)
    what = f"probe helper {helper.c_name} for {_name(pt)}"
    insns = encode(Instructions([asm.call(helper), asm.mov.imm(R0, 0), asm.exit()]))
    with program_for(pt, insns, what=what, tracing=A.TRACE_RAW_TP) as program:
        loaded = try_load(program, what)
    if loaded.fd is not None:
        loaded.fd.close()
        return
    err = loaded.error
    assert err is not None
    tag = f"#{int(helper)}"
    if err.errno == errno.EINVAL and loaded.log_has("invalid func", tag):
        absent(f"the kernel does not know helper {helper.c_name}{tag} "
               f"({loaded.last_line()})", err)
    if err.errno == errno.EINVAL and (loaded.log_has("cannot use helper", tag)
                                      or loaded.log_has("helper call is not allowed")):
        absent(f"programs of type {pt.name} may not call {helper.c_name} "
               f"({loaded.last_line()})", err)
    if err.errno == errno.EINVAL and loaded.log_has("unknown func", tag):
        # Older kernels say this both of helpers they lack and of helpers the type may not
        # call.
        absent(f"programs of type {pt.name} may not call {helper.c_name}: the kernel lacks "
               f"it or does not allow it for the type ({loaded.last_line()})", err)
    if err.errno == ENOTSUPP and loaded.log_has("not supported for program type"):
        absent(f"programs of type {pt.name} may not call {helper.c_name} "
               f"({loaded.last_line()})", err)
    if err.errno in (errno.EINVAL, errno.EACCES) and loaded.log_has(tag):
        # The verifier found the helper and got as far as checking the call's arguments (or
        # the program's flags), which the probe does not set up.
        return
    loaded.fail(what)


_helpers: ProbeCache[tuple[ProgramType, Helper]] = ProbeCache(
    lambda key: (f"helper {key[1].c_name} for {_name(key[0])}", helper_version(key[1])),
    _probe_helper)


def have_helper(program_type: ProgramType, helper: Helper) -> None:
    """Probe: a program of ``program_type`` may call ``helper``.

    The version in the error is the one that added the helper; a program type may have gained
    it later. TRACING programs are probed as tp_btf programs.

    Raises:
        UnsupportedFeatureError: the kernel does not know the helper, does not allow it for
            the program type, or lacks the program type.
        EbpfError: bad arguments, or the probe could not decide (nothing is cached then).
    """
    pt = check_program_type(program_type)
    try:
        member = Helper(helper)
    except ValueError:
        raise EbpfError(f"{helper!r} is not a helper this library knows") from None
    _helpers((pt, member))


# --- kfuncs -----------------------------------------------------------------------------------

# What the verifier says when a program may not call a kfunc (or the kernel has no kfunc calls).
_KFUNC_ABSENT = ("is not allowed", "reserved fields", "not a function", "invalid kernel function",
                 "unknown opcode")


def _probe_kfunc(key: tuple[ProgramType, str]) -> None:
    pt, name = key
    _helper_gate(pt)
    what = f"probe kfunc {name} for {_name(pt)}"
    func_id = _func_id(name, what=what)
    insns = encode(Instructions([asm.call_kfunc(func_id), asm.mov.imm(R0, 0), asm.exit()]))
    with program_for(pt, insns, what=what, tracing=A.TRACE_RAW_TP) as program:
        loaded = try_load(program, what)
    if loaded.fd is not None:
        loaded.fd.close()
        return
    err = loaded.error
    assert err is not None
    if err.errno in (errno.EINVAL, errno.EACCES) and any(
            loaded.log_has(needle) for needle in _KFUNC_ABSENT):
        absent(f"programs of type {pt.name} may not call kfunc {name} "
               f"({loaded.last_line()})", err)
    raise EbpfError(f"{what}: cannot tell: the probe program was rejected "
                    f"({loaded.describe()}); the kfunc may need arguments") from err


_kfuncs: ProbeCache[tuple[ProgramType, str]] = ProbeCache(
    lambda key: (f"kfunc {key[1]} for {_name(key[0])}", None), _probe_kfunc)


def have_kfunc(program_type: ProgramType, name: str) -> None:
    """Probe: a program of ``program_type`` may call kernel function ``name`` (found by name
    in the kernel's BTF) with no arguments set up.

    Only a program that loads is proof: a kfunc that needs arguments makes the probe
    inconclusive (an ``EbpfError``), unless the kernel says the call is not allowed.

    Raises:
        UnsupportedFeatureError: the kernel's BTF has no such function, or the verifier does
            not allow it for the program type (or the kernel has no kfunc calls).
        EbpfError: the probe could not decide (nothing is cached then).
    """
    pt = check_program_type(program_type)
    if not isinstance(name, str) or not name or "\0" in name:
        raise EbpfError(f"a kfunc name must be a non-empty str, not {name!r}")
    _kfuncs((pt, name))


@feature_test("kfunc calls from any program type (bpf_cast_to_kern_ctx)", "6.2")
def have_kfuncs() -> None:
    """Probe: programs call kernel functions (kfuncs): a socket filter that calls
    ``bpf_cast_to_kern_ctx`` on its context loads.

    Kernels from 5.13 call some kfuncs from a few program types (TCP congestion control,
    connection tracking); since 6.2 a set of kfuncs is open to every program type.
    """
    what = "probe kfunc calls"
    func_id = _func_id("bpf_cast_to_kern_ctx", what=what)
    insns = encode(Instructions([asm.call_kfunc(func_id), asm.mov.imm(R0, 0), asm.exit()]))
    loaded = try_load(ProbeProgram(P.SOCKET_FILTER, insns), what)
    if loaded.fd is not None:
        loaded.fd.close()
        return
    err = loaded.error
    assert err is not None
    if err.errno in (errno.EINVAL, errno.EACCES):
        absent(f"the verifier rejects the kfunc call ({loaded.describe()})", err)
    loaded.fail(what)


# --- trampolines ------------------------------------------------------------------------------

_TRAMPOLINES = "BPF trampolines (fentry/fexit/fmod_ret/lsm/freplace)"


@feature_test(_TRAMPOLINES, "5.5")
def have_trampolines() -> None:
    """Probe: the kernel loads fentry programs: the BPF trampolines that attach programs to
    kernel functions and to other programs (fentry, fexit, fmod_ret, LSM, freplace).

    A kernel may refuse them with ``EPERM`` even with every capability; that is told apart
    from missing privileges by a ``tp_btf`` program of the same privileges.
    """
    what = "probe BPF trampolines (fentry)"
    program = ProbeProgram(P.TRACING, RETURN_0, expected_attach_type=A.TRACE_FENTRY,
                           attach_btf_id=tracing_target(A.TRACE_FENTRY, what=what))
    loaded = try_load(program, what)
    if loaded.fd is not None:
        loaded.fd.close()
        return
    trampoline_refusal(loaded, _TRAMPOLINES, "5.5", what)
    err = loaded.error
    assert err is not None
    if err.errno in (errno.EINVAL, errno.E2BIG, errno.ENOTSUP, ENOTSUPP):
        absent(f"the kernel rejects fentry programs ({loaded.describe()})", err)
    loaded.fail(what)

