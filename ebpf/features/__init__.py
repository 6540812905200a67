"""Does the running kernel have X? Memoised probes, with one answer for "no".

Each ``have_*`` function returns ``None`` if the kernel has the feature and raises
:class:`~ebpf.errors.UnsupportedFeatureError` (a :class:`~ebpf.errors.NotSupportedError`)
naming the feature and the first release that has it, with the reason, if it does not::

    from ebpf import features
    from ebpf.types import MapType

    features.have_map_type(MapType.RINGBUF)          # None, or raises
    if features.is_supported(features.have_link_type, LinkType.TCX):
        ...                                          # else fall back to tc via netlink

Only those two answers are conclusive, and only they are remembered (once per process, safely
from several threads). Any other exception (``SyscallError`` ``EPERM`` without privileges, an
:class:`~ebpf.errors.EbpfError` saying why the answer cannot be trusted) means the probe could
not decide; nothing is cached and a later call probes again. Probes work without
``CAP_SYS_ADMIN`` where the kernel lets them, and say "cannot tell" rather than "not supported"
where an unprivileged answer would be misleading.

Probes load tiny programs and make maps, never attach anything that runs (links are made
only to targets that cannot exist, or to kernel functions that only ``BPF_PROG_TEST_RUN``
calls), and close every descriptor they make. :func:`supported` runs them all;
:func:`report` prints the result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..internal.lazy import lazy_attributes

if TYPE_CHECKING:
    from ._api import is_supported as is_supported
    from ._attach import have_attach_type as have_attach_type
    from ._links import have_link_type as have_link_type
    from ._maps import have_map_type as have_map_type
    from ._misc import (
        have_atomics as have_atomics,
        have_batch_ops as have_batch_ops,
        have_bounded_loops as have_bounded_loops,
        have_bpf_cookie as have_bpf_cookie,
        have_bpf_token as have_bpf_token,
        have_btf as have_btf,
        have_btf_datasec as have_btf_datasec,
        have_btf_decl_tag as have_btf_decl_tag,
        have_btf_enum64 as have_btf_enum64,
        have_btf_float as have_btf_float,
        have_btf_func as have_btf_func,
        have_btf_global_func as have_btf_global_func,
        have_btf_type_tag as have_btf_type_tag,
        have_kprobe_pmu as have_kprobe_pmu,
        have_map_freeze as have_map_freeze,
        have_mmapable_maps as have_mmapable_maps,
        have_object_names as have_object_names,
        have_prog_test_run as have_prog_test_run,
        have_ringbuf as have_ringbuf,
        have_syscall_programs as have_syscall_programs,
        have_uprobe_pmu as have_uprobe_pmu,
        have_v2_isa as have_v2_isa,
        have_v3_isa as have_v3_isa,
        have_v4_isa as have_v4_isa,
    )
    from ._programs import (
        have_helper as have_helper,
        have_kfunc as have_kfunc,
        have_kfuncs as have_kfuncs,
        have_program_type as have_program_type,
        have_trampolines as have_trampolines,
    )
    from ._report import (
        ProbeResult as ProbeResult,
        report as report,
        supported as supported,
    )
    from ._tracing import have_tp_btf as have_tp_btf

#: Every public name of the package, with the module that defines it.
_PUBLIC: dict[str, str] = {
    "ProbeResult": "._report",
    "have_atomics": "._misc",
    "have_attach_type": "._attach",
    "have_batch_ops": "._misc",
    "have_bounded_loops": "._misc",
    "have_bpf_cookie": "._misc",
    "have_bpf_token": "._misc",
    "have_btf": "._misc",
    "have_btf_datasec": "._misc",
    "have_btf_decl_tag": "._misc",
    "have_btf_enum64": "._misc",
    "have_btf_float": "._misc",
    "have_btf_func": "._misc",
    "have_btf_global_func": "._misc",
    "have_btf_type_tag": "._misc",
    "have_helper": "._programs",
    "have_kfunc": "._programs",
    "have_kfuncs": "._programs",
    "have_kprobe_pmu": "._misc",
    "have_link_type": "._links",
    "have_map_freeze": "._misc",
    "have_map_type": "._maps",
    "have_mmapable_maps": "._misc",
    "have_object_names": "._misc",
    "have_prog_test_run": "._misc",
    "have_program_type": "._programs",
    "have_ringbuf": "._misc",
    "have_syscall_programs": "._misc",
    "have_tp_btf": "._tracing",
    "have_trampolines": "._programs",
    "have_uprobe_pmu": "._misc",
    "have_v2_isa": "._misc",
    "have_v3_isa": "._misc",
    "have_v4_isa": "._misc",
    "is_supported": "._api",
    "report": "._report",
    "supported": "._report",
}

__all__ = sorted(_PUBLIC)

__getattr__, __dir__ = lazy_attributes(__name__, globals(), _PUBLIC)
