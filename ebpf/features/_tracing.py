"""Tracing and LSM programs: their attach targets, and the trampoline refusal.

Tracing (fentry, fexit, fmod_ret, tp_btf, iterators) and LSM programs name their target, a
type of the kernel's BTF, when they are loaded. The probes use targets that exist on every
kernel with the feature and that nothing but ``BPF_PROG_TEST_RUN`` calls.

fentry, fexit, fmod_ret, LSM and freplace programs need BPF trampolines. A kernel can refuse
those with ``EPERM`` even to a process with every capability; the probes tell that refusal from
missing privileges with a ``tp_btf`` program, which needs the same privileges but no
trampoline: if it loads, the refusal is the kernel's answer, reported (and cached) as not
supported, with the reason.
"""

from __future__ import annotations

import errno

from ..errors import EbpfError, UnsupportedFeatureError
from ..internal.feature import feature_test
from ..types import AttachType, ProgramType
from ._probe import (
    RETURN_0,
    Loaded,
    ProbeProgram,
    absent,
    kernel_btf_id,
    try_load,
)

__all__ = ["have_tp_btf", "tracing_target", "trampoline_refusal"]

A = AttachType

# Kernel functions fentry/fexit probes attach to: only BPF_PROG_TEST_RUN of a tracing program
# calls them.
FENTRY_TARGETS = ("bpf_fentry_test1", "bpf_fentry_test2")
# fmod_ret needs a function whose return value programs may change: security hooks always
# qualify, the kernel's own test function only where it is marked so.
FMOD_RET_TARGETS = ("security_file_open", "bpf_modify_return_test")
# A tracepoint every kernel has, for tp_btf programs (its typedef btf_trace_<name>).
TP_BTF_TARGET = "btf_trace_sched_switch"
# A BPF iterator target.
ITER_TARGET = "bpf_iter_task"
# LSM hooks (the kernel's bpf_lsm_<hook> functions); cgroup LSM programs take fewer hooks.
LSM_TARGETS = ("bpf_lsm_file_open", "bpf_lsm_file_mprotect")
LSM_CGROUP_TARGET = "bpf_lsm_socket_post_create"


def tracing_target(attach_type: AttachType, *, what: str) -> int:
    """The id of the kernel BTF type a TRACING or LSM program of ``attach_type`` attaches to.

    Raises:
        NotSupportedError: the kernel has no BTF or no such target.
    """
    from ..btf import Func, Typedef

    if attach_type == A.TRACE_RAW_TP:
        return kernel_btf_id(TP_BTF_TARGET, Typedef, what=what)
    if attach_type == A.TRACE_ITER:
        return kernel_btf_id(ITER_TARGET, Func, what=what)
    if attach_type == A.MODIFY_RETURN:
        return kernel_btf_id(FMOD_RET_TARGETS, Func, what=what)
    if attach_type == A.LSM_MAC:
        return kernel_btf_id(LSM_TARGETS, Func, what=what)
    if attach_type == A.LSM_CGROUP:
        return kernel_btf_id(LSM_CGROUP_TARGET, Func, what=what)
    return kernel_btf_id(FENTRY_TARGETS, Func, what=what)


@feature_test("tp_btf programs (BPF_TRACE_RAW_TP)", "5.5")
def have_tp_btf() -> None:
    """Probe: a ``tp_btf`` program (TRACING, ``BPF_TRACE_RAW_TP``) loads: tracing programs with
    BTF, without a trampoline."""
    what = "probe tp_btf programs"
    program = ProbeProgram(ProgramType.TRACING, RETURN_0, expected_attach_type=A.TRACE_RAW_TP,
                           attach_btf_id=tracing_target(A.TRACE_RAW_TP, what=what))
    loaded = try_load(program, what)
    if loaded.fd is not None:
        loaded.fd.close()
        return
    err = loaded.error
    assert err is not None
    if err.errno in (errno.EINVAL, errno.E2BIG):
        absent(f"the kernel does not load tp_btf programs ({loaded.describe()})", err)
    loaded.fail(what)


def trampoline_refusal(loaded: Loaded, feature: str, version: str | None, what: str) -> None:
    """If ``loaded`` failed with ``EPERM`` while a ``tp_btf`` program loads, raise the
    conclusive :class:`UnsupportedFeatureError` for ``feature`` (its name gains
    " (BPF trampolines)" unless it names them); otherwise return, the caller decides."""
    err = loaded.error
    if err is None or err.errno != errno.EPERM:
        return
    try:
        have_tp_btf()
    except (EbpfError, OSError):
        return  # the control does not load either: privileges, not the kernel's choice
    if "trampoline" not in feature:
        feature = f"{feature} (BPF trampolines)"
    raise UnsupportedFeatureError(
        feature, version,
        f"the kernel refused {what} with EPERM, although a tp_btf program of the same "
        "privileges loads: it does not allow the BPF trampolines that attach programs to kernel "
        "functions and programs (fentry, fexit, fmod_ret, LSM, freplace) here") from err

