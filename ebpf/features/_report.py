"""Every probe's outcome at once: :func:`supported` (data) and :func:`report` (text)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Literal

from ..asm.helpers import Helper
from ..errors import EbpfError, UnsupportedFeatureError
from ..kernel_versions import (
    ATTACH_TYPE_VERSIONS,
    LINK_TYPE_VERSIONS,
    MAP_TYPE_VERSIONS,
    PROGRAM_TYPE_VERSIONS,
    helper_version,
)
from ..types import LinkType, MapType, ProgramType
from ._attach import ATTACH_PROGRAM_TYPES, have_attach_type
from ._links import have_link_type, reason_of
from ._maps import have_map_type
from ._misc import (
    have_atomics,
    have_batch_ops,
    have_bounded_loops,
    have_bpf_cookie,
    have_bpf_token,
    have_btf,
    have_btf_datasec,
    have_btf_decl_tag,
    have_btf_enum64,
    have_btf_float,
    have_btf_func,
    have_btf_global_func,
    have_btf_type_tag,
    have_kprobe_pmu,
    have_map_freeze,
    have_mmapable_maps,
    have_object_names,
    have_prog_test_run,
    have_uprobe_pmu,
    have_v2_isa,
    have_v3_isa,
    have_v4_isa,
)
from ._programs import have_helper, have_kfuncs, have_program_type, have_trampolines
from ._tracing import have_tp_btf

__all__ = ["ProbeResult", "report", "supported"]

Status = Literal["supported", "not supported", "unknown"]


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one probe.

    Attributes:
        group: what kind of feature: ``"map type"``, ``"program type"``, ``"attach type"``,
            ``"link"``, ``"feature"`` or ``"helper"``.
        name: the feature, e.g. ``"BPF_MAP_TYPE_RINGBUF"``.
        supported: True, False, or None if the probe could not decide.
        min_version: the first kernel release with the feature, if known.
        detail: why it is not supported, or why the probe could not decide ("" if supported).
    """

    group: str
    name: str
    supported: bool | None
    min_version: str | None
    detail: str = ""

    @property
    def status(self) -> Status:
        """``"supported"``, ``"not supported"`` or ``"unknown"``."""
        if self.supported is None:
            return "unknown"
        return "supported" if self.supported else "not supported"


# name, first release, probe
_FEATURES: tuple[tuple[str, str | None, Callable[[], None]], ...] = (
    ("BTF", "4.18", have_btf),
    ("BTF_KIND_FUNC and BTF_KIND_FUNC_PROTO", "5.0", have_btf_func),
    ("BTF_KIND_FUNC with global linkage", "5.6", have_btf_global_func),
    ("BTF_KIND_VAR and BTF_KIND_DATASEC", "5.2", have_btf_datasec),
    ("BTF_KIND_FLOAT", "5.13", have_btf_float),
    ("BTF_KIND_DECL_TAG", "5.16", have_btf_decl_tag),
    ("BTF_KIND_TYPE_TAG", "5.17", have_btf_type_tag),
    ("BTF_KIND_ENUM64", "6.0", have_btf_enum64),
    ("BPF_OBJ_NAME", "4.15", have_object_names),
    ("BPF_PROG_TEST_RUN", "4.12", have_prog_test_run),
    ("ISA v2 (BPF_JLT, BPF_JLE, BPF_JSLT, BPF_JSLE)", "4.14", have_v2_isa),
    ("ISA v3 (BPF_JMP32)", "5.1", have_v3_isa),
    ("atomic operations (BPF_ATOMIC fetch, xchg, cmpxchg)", "5.12", have_atomics),
    ("ISA v4 (sign extension, signed division, bswap, gotol)", "6.6", have_v4_isa),
    ("bounded loops", "5.3", have_bounded_loops),
    ("BPF_MAP_FREEZE", "5.2", have_map_freeze),
    ("batch map operations (BPF_MAP_*_BATCH)", "5.6", have_batch_ops),
    ("memory-mapped maps (BPF_F_MMAPABLE)", "5.5", have_mmapable_maps),
    ("BPF cookies (bpf_get_attach_cookie)", "5.15", have_bpf_cookie),
    ("tp_btf programs (BPF_TRACE_RAW_TP)", "5.5", have_tp_btf),
    ("BPF trampolines (fentry/fexit/fmod_ret/lsm/freplace)", "5.5", have_trampolines),
    ("kfunc calls from any program type (bpf_cast_to_kern_ctx)", "6.2", have_kfuncs),
    ("BPF tokens (BPF_TOKEN_CREATE)", "6.9", have_bpf_token),
    ("kprobe PMU (perf_event_open kprobes)", "4.17", have_kprobe_pmu),
    ("uprobe PMU (perf_event_open uprobes)", "4.17", have_uprobe_pmu),
)


def _run(group: str, name: str, version: str | None, probe: Callable[[], None]) -> ProbeResult:
    try:
        probe()
    except UnsupportedFeatureError as e:
        return ProbeResult(group, name, False, e.min_version or version, reason_of(e))
    except (EbpfError, OSError) as e:
        return ProbeResult(group, name, None, version, f"{type(e).__name__}: {e}")
    return ProbeResult(group, name, True, version)


def _all(helpers: bool) -> Iterator[ProbeResult]:
    for mt in MapType:
        if mt is not MapType.UNSPEC:
            yield _run("map type", f"BPF_MAP_TYPE_{mt.name}", MAP_TYPE_VERSIONS[mt],
                       partial(have_map_type, mt))
    for pt in ProgramType:
        if pt is not ProgramType.UNSPEC:
            yield _run("program type", f"BPF_PROG_TYPE_{pt.name}", PROGRAM_TYPE_VERSIONS[pt],
                       partial(have_program_type, pt))
    for at, users in ATTACH_PROGRAM_TYPES.items():
        for pt in users:
            yield _run("attach type", f"BPF_{at.name} for BPF_PROG_TYPE_{pt.name}",
                       ATTACH_TYPE_VERSIONS[at], partial(have_attach_type, pt, at))
    for lt in LinkType:
        if lt is not LinkType.UNSPEC:
            yield _run("link", f"bpf_link {lt.name.lower()}", LINK_TYPE_VERSIONS[lt],
                       partial(have_link_type, lt))
    for name, version, probe in _FEATURES:
        yield _run("feature", name, version, probe)
    if helpers:
        for pt in ProgramType:
            if pt in (ProgramType.UNSPEC, ProgramType.EXT):
                continue
            for helper in Helper:
                yield _run("helper", f"{helper.c_name} for BPF_PROG_TYPE_{pt.name}",
                           helper_version(helper), partial(have_helper, pt, helper))


def supported(*, helpers: bool = False) -> dict[str, ProbeResult]:
    """Run every probe (memoised: each runs once per process) and return each outcome, by
    feature name, grouped: map types, program types, attach types, links, other features and,
    with ``helpers=True``, every helper for every program type (several thousand loads).

    Probes that cannot decide (no privileges, ...) give ``supported=None`` and their error;
    they are not cached, so a later call probes them again.
    """
    return {r.name: r for r in _all(helpers)}


def report(*, helpers: bool = False) -> str:
    """:func:`supported` as text: one line per feature, with the first release that has it
    and, for what is missing or could not be probed, why."""
    results = list(_all(helpers))
    width = max((len(r.name) for r in results), default=0)
    lines: list[str] = []
    group = ""
    for r in results:
        if r.group != group:
            group = r.group
            if lines:
                lines.append("")
            lines.append(f"{group}s:")
        since = f"  (Linux {r.min_version})" if r.min_version else ""
        line = f"  {r.name:<{width}}  {r.status}{since}"
        if r.detail:
            line += f": {r.detail}"
        lines.append(line)
    counts = {s: sum(1 for r in results if r.status == s)
              for s in ("supported", "not supported", "unknown")}
    lines.append("")
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines)
