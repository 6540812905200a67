"""ebpf.features against the running kernel: every probe's answer, memoisation, privileges.

Each probe's answer is checked two ways: against the version table (a kernel older than a
feature's first release must lack it, a newer one must have it) and against what the machine
is known to lack: options its configuration leaves off (``CONFIG_BPF_LIRC_MODE2``,
``CONFIG_FPROBE``, ``CONFIG_NETKIT``, ``CONFIG_KPROBES``; on the development host all four, in
Debian's 6.1 the first two, in 6.12 the first), and, on the host only, BPF trampolines, which
it refuses with ``EPERM``.

The tests marked ``vm`` run in the guests too (``scripts/vm.py --kernel all -- -m vm``): there
the families the host refuses (trampolines, kprobes, netkit) must be supported.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ebpf import features
from ebpf.asm import Helper
from ebpf.errors import EbpfError, SyscallError, UnsupportedFeatureError
from ebpf.features import _maps, _probe, _programs
from ebpf.internal.kernel import KernelVersion, kernel_version
from ebpf.internal.sys import commands
from ebpf.kernel_versions import helper_version, version_tuple
from ebpf.types import AttachType, LinkType, MapType, ProgramType
from tests.support import kernel_config

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[2]
VM_KERNEL = os.environ.get("EBPF_VM_KERNEL", "")
ON_HOST = not VM_KERNEL

# Feature names of the trampoline families (their refusal names them "... (BPF trampolines)").
TRAMPOLINE_FEATURES = frozenset({
    "BPF_PROG_TYPE_TRACING", "BPF_PROG_TYPE_EXT", "BPF_PROG_TYPE_LSM",
    "BPF_TRACE_FENTRY for BPF_PROG_TYPE_TRACING", "BPF_TRACE_FEXIT for BPF_PROG_TYPE_TRACING",
    "BPF_MODIFY_RETURN for BPF_PROG_TYPE_TRACING", "BPF_LSM_MAC for BPF_PROG_TYPE_LSM",
    "BPF_LSM_CGROUP for BPF_PROG_TYPE_LSM", "bpf_link tracing",
    "BPF trampolines (fentry/fexit/fmod_ret/lsm/freplace)",
})
LIRC = frozenset({"BPF_PROG_TYPE_LIRC_MODE2", "BPF_LIRC_MODE2 for BPF_PROG_TYPE_LIRC_MODE2"})
FPROBE = frozenset({"bpf_link kprobe_multi", "BPF_TRACE_KPROBE_MULTI for BPF_PROG_TYPE_KPROBE",
                    "BPF_TRACE_KPROBE_SESSION for BPF_PROG_TYPE_KPROBE"})
NETKIT = frozenset({"bpf_link netkit", "BPF_NETKIT_PRIMARY for BPF_PROG_TYPE_SCHED_CLS",
                    "BPF_NETKIT_PEER for BPF_PROG_TYPE_SCHED_CLS"})
KPROBE_PMU = frozenset({"kprobe PMU (perf_event_open kprobes)"})


def known_missing() -> dict[str, str]:
    """Feature name -> why this machine lacks it although its release is new enough."""
    missing: dict[str, str] = {}
    config = kernel_config()
    for names, option in ((LIRC, "CONFIG_BPF_LIRC_MODE2"), (FPROBE, "CONFIG_FPROBE"),
                          (NETKIT, "CONFIG_NETKIT"), (KPROBE_PMU, "CONFIG_KPROBES")):
        if option not in config:
            missing.update(dict.fromkeys(names, f"{option} is off"))
    if ON_HOST:
        missing.update(dict.fromkeys(TRAMPOLINE_FEATURES, "the host refuses trampolines"))
    return missing


def expect_unsupported(probe: Callable[[], None], *words: str) -> UnsupportedFeatureError:
    with pytest.raises(UnsupportedFeatureError) as info:
        probe()
    for word in words:
        assert word in str(info.value), str(info.value)
    return info.value


def supported_here(probe: Callable[..., None], *args: object) -> None:
    """The probe finds the feature, or (on a VM guest's older kernel) reports it missing with
    a minimum version after the running kernel's: never missing where it should exist."""
    try:
        assert probe(*args) is None, (probe.__name__, args)
    except UnsupportedFeatureError as e:
        if ON_HOST or e.min_version is None or (
                kernel_version() >= KernelVersion.parse(e.min_version)):
            raise


def vm_only(probe: Callable[[], None], *host_words: str) -> None:
    """Unsupported on the host (with the reason), supported in the VM runner's guests."""
    if ON_HOST:
        expect_unsupported(probe, *host_words)
    else:
        assert probe() is None


# --- every probe ------------------------------------------------------------------------------

@pytest.mark.vm
def test_every_probe_agrees_with_the_release_and_the_machine() -> None:
    results = features.supported()
    release = tuple(kernel_version()[:2])
    missing = known_missing()
    assert len(results) > 150
    wrong = []
    for name, r in results.items():
        assert r.supported is not None, f"{name}: could not probe: {r.detail}"
        new_enough = r.min_version is None or release >= version_tuple(r.min_version)
        expected = new_enough and name not in missing
        if r.supported != expected:
            why = missing.get(name, f"Linux {r.min_version}, this is {kernel_version()}")
            wrong.append(f"{name}: {r.status} ({why}) {r.detail}")
        if not r.supported:
            assert r.detail, name
    assert not wrong, "\n".join(wrong)
    # Every reason given for a missing feature is one the machine really has.
    for name in missing:
        assert name in results, name


@pytest.mark.vm
def test_report_lists_every_probe() -> None:
    text = features.report()
    results = features.supported()
    for name in results:
        assert name in text
    counts = f"{sum(r.supported is True for r in results.values())} supported"
    assert counts in text.splitlines()[-1]


# --- explicit answers on this machine -------------------------------------------------------

def test_map_types() -> None:
    assert features.have_map_type(MapType.RINGBUF) is None
    supported_here(features.have_map_type, MapType.ARENA)
    assert features.have_map_type(MapType.STRUCT_OPS) is None       # known through ENOTSUPP
    assert features.have_map_type(MapType.TASK_STORAGE) is None     # known through EBADF
    assert features.have_ringbuf() is None
    with pytest.raises(EbpfError, match="UNSPEC"):
        features.have_map_type(MapType.UNSPEC)
    with pytest.raises(EbpfError, match="not a map type"):
        features.have_map_type(999)  # type: ignore[arg-type]


def test_program_types() -> None:
    for pt in (ProgramType.SOCKET_FILTER, ProgramType.XDP, ProgramType.KPROBE,
               ProgramType.SYSCALL, ProgramType.NETFILTER, ProgramType.STRUCT_OPS,
               ProgramType.SK_LOOKUP, ProgramType.CGROUP_SOCKOPT):
        supported_here(features.have_program_type, pt)
    assert features.have_syscall_programs() is None
    with pytest.raises(EbpfError, match="UNSPEC"):
        features.have_program_type(ProgramType.UNSPEC)


@pytest.mark.skipif(not ON_HOST, reason="the host's kernel configuration")
def test_lirc_mode2_is_compiled_out_here() -> None:
    assert "CONFIG_BPF_LIRC_MODE2" not in kernel_config()
    e = expect_unsupported(lambda: features.have_program_type(ProgramType.LIRC_MODE2),
                           "EINVAL")
    assert e.feature == "BPF_PROG_TYPE_LIRC_MODE2"
    assert e.min_version == "4.18"


@pytest.mark.vm
def test_tracing_programs_need_trampolines() -> None:
    vm_only(lambda: features.have_program_type(ProgramType.TRACING), "EPERM", "trampolines")
    vm_only(lambda: features.have_program_type(ProgramType.EXT), "EPERM", "trampolines")
    vm_only(lambda: features.have_program_type(ProgramType.LSM), "EPERM", "trampolines")
    vm_only(features.have_trampolines, "EPERM", "tp_btf")
    vm_only(lambda: features.have_attach_type(ProgramType.TRACING, AttachType.TRACE_FENTRY),
            "EPERM")
    vm_only(lambda: features.have_attach_type(ProgramType.TRACING, AttachType.MODIFY_RETURN),
            "EPERM")
    vm_only(lambda: features.have_attach_type(ProgramType.LSM, AttachType.LSM_MAC), "EPERM")
    vm_only(lambda: features.have_link_type(LinkType.TRACING), "EPERM")
    # What needs no trampoline loads everywhere.
    assert features.have_tp_btf() is None
    assert features.have_attach_type(ProgramType.TRACING, AttachType.TRACE_RAW_TP) is None
    assert features.have_attach_type(ProgramType.TRACING, AttachType.TRACE_ITER) is None
    assert features.have_link_type(LinkType.ITER) is None


def test_the_refusal_is_named_and_has_the_version() -> None:
    if not ON_HOST:
        pytest.skip("the host refuses trampolines, the guests do not")
    e = expect_unsupported(lambda: features.have_program_type(ProgramType.TRACING))
    assert e.feature == "BPF_PROG_TYPE_TRACING (BPF trampolines)"
    assert e.min_version == "5.5"
    assert "although a tp_btf program of the same privileges loads" in str(e)
    assert isinstance(e.__cause__, SyscallError) and e.__cause__.errno == errno.EPERM


@pytest.mark.vm
def test_kprobe_pmu() -> None:
    vm_only(features.have_kprobe_pmu, "no kprobe PMU")
    assert features.have_uprobe_pmu() is None
    assert features.have_program_type(ProgramType.KPROBE) is None   # the type loads anyway


@pytest.mark.vm
def test_netkit() -> None:
    if VM_KERNEL.startswith("6.1."):
        e = expect_unsupported(lambda: features.have_link_type(LinkType.NETKIT), "EINVAL")
        assert e.min_version == "6.7"
        return
    vm_only(lambda: features.have_link_type(LinkType.NETKIT), "EINVAL")
    vm_only(lambda: features.have_attach_type(ProgramType.SCHED_CLS, AttachType.NETKIT_PEER),
            "EINVAL")


@pytest.mark.vm
def test_links_of_the_older_guest() -> None:
    """On 6.1 the newer families are missing, each with its release."""
    if not VM_KERNEL.startswith("6.1."):
        assert features.have_link_type(LinkType.TCX) is None
        assert features.have_link_type(LinkType.UPROBE_MULTI) is None
        assert features.have_link_type(LinkType.NETFILTER) is None
        assert features.have_link_type(LinkType.SOCKMAP) is None
        return
    for lt, version in ((LinkType.TCX, "6.6"), (LinkType.NETKIT, "6.7"),
                        (LinkType.UPROBE_MULTI, "6.6"), (LinkType.NETFILTER, "6.4"),
                        (LinkType.SOCKMAP, "6.10"), (LinkType.STRUCT_OPS, "6.4")):
        e = expect_unsupported(lambda lt=lt: features.have_link_type(lt))
        assert e.min_version == version, lt
    e = expect_unsupported(
        lambda: features.have_attach_type(ProgramType.SCHED_CLS, AttachType.TCX_INGRESS))
    assert e.min_version == "6.6"
    e = expect_unsupported(lambda: features.have_program_type(ProgramType.NETFILTER))
    assert e.min_version == "6.4"
    e = expect_unsupported(features.have_bpf_token)
    assert e.min_version == "6.9"


def test_links_here() -> None:
    for lt in (LinkType.CGROUP, LinkType.XDP, LinkType.PERF_EVENT, LinkType.TCX,
               LinkType.UPROBE_MULTI, LinkType.NETFILTER, LinkType.SOCKMAP, LinkType.NETNS,
               LinkType.RAW_TRACEPOINT, LinkType.STRUCT_OPS):
        supported_here(features.have_link_type, lt)
    if ON_HOST:
        expect_unsupported(lambda: features.have_link_type(LinkType.KPROBE_MULTI),
                           "CONFIG_FPROBE", "EOPNOTSUPP")
    assert features.is_supported(features.have_link_type, LinkType.TCX) is (
        kernel_version() >= KernelVersion(6, 6, 0))
    assert features.is_supported(features.have_program_type, ProgramType.LIRC_MODE2) is False


def test_attach_types() -> None:
    P, A = ProgramType, AttachType
    for pt, at in ((P.CGROUP_SKB, A.CGROUP_INET_INGRESS), (P.CGROUP_SOCK_ADDR,
                   A.CGROUP_UNIX_CONNECT), (P.SK_SKB, A.SK_SKB_VERDICT),
                   (P.XDP, A.XDP_DEVMAP), (P.XDP, A.XDP_CPUMAP), (P.XDP, A.XDP),
                   (P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT_OR_MIGRATE),
                   (P.KPROBE, A.PERF_EVENT), (P.SCHED_CLS, A.TCX_EGRESS),
                   (P.NETFILTER, A.NETFILTER), (P.STRUCT_OPS, A.STRUCT_OPS)):
        supported_here(features.have_attach_type, pt, at)
    with pytest.raises(EbpfError, match="for CGROUP_SKB programs, not XDP"):
        features.have_attach_type(P.XDP, A.CGROUP_INET_INGRESS)


def test_helpers() -> None:
    P = ProgramType
    assert features.have_helper(P.KPROBE, Helper.map_lookup_elem) is None
    assert features.have_helper(P.SCHED_CLS, Helper.skb_vlan_push) is None
    assert features.have_helper(P.SYSCALL, Helper.sys_bpf) is None
    assert features.have_helper(P.TRACING, Helper.get_current_task_btf) is None  # tp_btf
    assert features.have_helper(P.STRUCT_OPS, Helper.tcp_send_ack) is None
    e = expect_unsupported(lambda: features.have_helper(P.KPROBE, Helper.skb_vlan_push),
                           "may not call bpf_skb_vlan_push")
    assert e.feature == "helper bpf_skb_vlan_push for BPF_PROG_TYPE_KPROBE"
    assert e.min_version == "4.3"
    expect_unsupported(lambda: features.have_helper(P.XDP, Helper.sys_bpf), "may not call")
    with pytest.raises(EbpfError, match="EXT"):
        features.have_helper(P.EXT, Helper.map_lookup_elem)
    with pytest.raises(EbpfError, match="not a helper"):
        features.have_helper(P.XDP, 9999)  # type: ignore[arg-type]
    assert features.have_bpf_cookie() is None


@pytest.mark.vm
def test_the_helpers_the_kernel_does_not_know_are_the_newer_ones() -> None:
    """The verifier says "invalid func" of exactly the helpers newer than the kernel."""
    release = tuple(kernel_version()[:2])
    for helper in Helper:
        version = helper_version(helper)
        assert version is not None
        try:
            features.have_helper(ProgramType.SOCKET_FILTER, helper)
        except UnsupportedFeatureError as e:
            unknown = "does not know" in str(e)
        else:
            unknown = False
        assert unknown == (version_tuple(version) > release), (helper, version)


def test_kfuncs() -> None:
    if not ON_HOST and kernel_version() < KernelVersion(6, 2, 0):
        e = expect_unsupported(features.have_kfuncs, "bpf_cast_to_kern_ctx")
        assert e.min_version == "6.2"
        return
    assert features.have_kfuncs() is None
    assert features.have_kfunc(ProgramType.XDP, "bpf_cast_to_kern_ctx") is None
    # A program that only takes the RCU lock is rejected for returning with it held: that
    # proves nothing either way, and nothing is cached.
    for _ in range(2):
        with pytest.raises(EbpfError, match="cannot tell") as info:
            features.have_kfunc(ProgramType.SOCKET_FILTER, "bpf_rcu_read_lock")
        assert not isinstance(info.value, UnsupportedFeatureError)
    expect_unsupported(
        lambda: features.have_kfunc(ProgramType.SOCKET_FILTER, "no_such_kfunc_anywhere"),
        "has no 'no_such_kfunc_anywhere'")
    # A kernel function that is no kfunc: the verifier does not let programs call it.
    expect_unsupported(lambda: features.have_kfunc(ProgramType.SOCKET_FILTER, "schedule"),
                       "may not call kfunc schedule")


def test_misc_features() -> None:
    for probe in (features.have_bounded_loops, features.have_v2_isa, features.have_v3_isa,
                  features.have_v4_isa, features.have_atomics, features.have_prog_test_run,
                  features.have_object_names, features.have_map_freeze,
                  features.have_batch_ops, features.have_mmapable_maps,
                  features.have_bpf_token, features.have_btf, features.have_btf_func,
                  features.have_btf_global_func, features.have_btf_datasec,
                  features.have_btf_float, features.have_btf_decl_tag,
                  features.have_btf_type_tag, features.have_btf_enum64):
        supported_here(probe)


# --- memoisation --------------------------------------------------------------------------------

@pytest.fixture
def prog_loads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Every BPF_PROG_LOAD from now on, by program type."""
    calls: list[int] = []
    real = commands.prog_load

    def counting(attr: object, context: str = "") -> object:
        calls.append(int(attr.prog_type))  # type: ignore[attr-defined]
        return real(attr, context)  # type: ignore[arg-type]

    monkeypatch.setattr(commands, "prog_load", counting)
    yield calls


def test_a_probe_loads_once(prog_loads: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    features.have_program_type(ProgramType.XDP)          # the helper probe's gate, cached
    monkeypatch.setattr(_programs._helpers, "_tests", {})  # a fresh memo for the helpers
    prog_loads.clear()
    assert features.have_helper(ProgramType.XDP, Helper.xdp_adjust_tail) is None
    assert prog_loads == [ProgramType.XDP]
    for _ in range(3):
        assert features.have_helper(ProgramType.XDP, Helper.xdp_adjust_tail) is None
    expect_unsupported(lambda: features.have_helper(ProgramType.XDP, Helper.sys_bpf))
    expect_unsupported(lambda: features.have_helper(ProgramType.XDP, Helper.sys_bpf))
    assert prog_loads == [ProgramType.XDP, ProgramType.XDP]   # one each, answers cached


def test_concurrent_callers_share_one_probe(prog_loads: list[int],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    features.have_program_type(ProgramType.SCHED_CLS)
    monkeypatch.setattr(_programs._helpers, "_tests", {})
    prog_loads.clear()
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def call() -> None:
        barrier.wait()
        try:
            features.have_helper(ProgramType.SCHED_CLS, Helper.skb_change_head)
        except BaseException as e:  # collected: the test fails on any
            errors.append(e)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert prog_loads == [ProgramType.SCHED_CLS]


def test_a_map_probe_creates_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_maps._map_types, "_tests", {})
    made: list[int] = []
    real = commands.map_create

    def counting(attr: object, context: str = "") -> object:
        made.append(int(attr.map_type))  # type: ignore[attr-defined]
        return real(attr, context)  # type: ignore[arg-type]

    monkeypatch.setattr(commands, "map_create", counting)
    for _ in range(3):
        assert features.have_map_type(MapType.BLOOM_FILTER) is None
    assert made == [MapType.BLOOM_FILTER]


def test_a_verdict_that_needs_privileges_is_not_cached(
        prog_loads: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper the verifier refuses is no answer for a process without CAP_BPF: the kernel
    hides helpers from unprivileged programs."""
    features.have_program_type(ProgramType.KPROBE)
    monkeypatch.setattr(_programs._helpers, "_tests", {})
    prog_loads.clear()
    with monkeypatch.context() as m:
        m.setattr(_probe, "privileged", lambda: False)
        for _ in range(2):
            with pytest.raises(EbpfError, match="cannot tell") as info:
                features.have_helper(ProgramType.KPROBE, Helper.skb_vlan_push)
            assert not isinstance(info.value, UnsupportedFeatureError)
    assert len(prog_loads) == 2                          # probed each time: nothing cached
    expect_unsupported(lambda: features.have_helper(ProgramType.KPROBE, Helper.skb_vlan_push))
    expect_unsupported(lambda: features.have_helper(ProgramType.KPROBE, Helper.skb_vlan_push))
    assert len(prog_loads) == 3                          # now conclusive, and cached


def test_privileges_are_read_from_the_process() -> None:
    assert _probe.privileged() is True   # the kernel marker: this process may use bpf(2)


# Run in a child process, which changes its own effective capabilities with capset(2).
_CAPS = textwrap.dedent("""
    import ctypes, json, sys
    from ebpf import features
    from ebpf.errors import EbpfError, UnsupportedFeatureError
    from ebpf.features import _probe
    from ebpf.internal.sys import commands
    from ebpf.types import MapType, ProgramType

    libc = ctypes.CDLL(None, use_errno=True)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    header, data = Header(0x20080522, 0), (Data * 2)()   # _LINUX_CAPABILITY_VERSION_3
    assert libc.capget(ctypes.byref(header), data) == 0

    def set_effective(drop):
        for word in range(2):
            data[word].effective = data[word].permitted
        for cap in drop:
            data[cap // 32].effective &= ~(1 << (cap % 32))
        assert libc.capset(ctypes.byref(header), data) == 0, ctypes.get_errno()

    def outcome(probe):
        try:
            probe()
        except UnsupportedFeatureError as e:
            return "unsupported: " + str(e)
        except (EbpfError, OSError) as e:
            return f"inconclusive: {type(e).__name__}: {e}"
        return "supported"
""")

CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF = 12, 21, 38, 39

_UNPRIVILEGED = _CAPS + textwrap.dedent("""
    calls = []
    real = commands.map_create
    def counting(attr, context=""):
        calls.append(attr.map_type)
        return real(attr, context)
    commands.map_create = counting

    out = {}
    set_effective([12, 21, 38, 39])
    out["privileged_without"] = _probe.privileged()
    out["without"] = [outcome(lambda: features.have_map_type(MapType.RINGBUF)) for _ in "ab"]
    out["calls_without"] = len(calls)
    out["type_without"] = outcome(lambda: features.have_program_type(ProgramType.XDP))
    set_effective([])
    out["privileged_with"] = _probe.privileged()
    out["with"] = [outcome(lambda: features.have_map_type(MapType.RINGBUF)) for _ in "ab"]
    out["calls_with"] = len(calls)
    print(json.dumps(out))
""")


def _child(script: str, *args: str) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_without_privileges_nothing_is_concluded_or_cached() -> None:
    """A process that drops CAP_BPF and CAP_SYS_ADMIN gets inconclusive answers, probed again
    on every call; with them back, the answer is conclusive and cached."""
    out = _child(_UNPRIVILEGED)
    assert out["privileged_without"] is False
    without = out["without"]
    assert isinstance(without, list)
    assert all(o.startswith("inconclusive: SyscallError") and "EPERM" in o
               for o in without), without
    assert out["calls_without"] == 2
    assert str(out["type_without"]).startswith("inconclusive"), out["type_without"]
    assert out["privileged_with"] is True
    assert out["with"] == ["supported", "supported"]
    assert out["calls_with"] == 3


_EVERY_PROBE = _CAPS + textwrap.dedent("""
    set_effective([int(cap) for cap in sys.argv[1:]])
    print(json.dumps({name: r.supported for name, r in features.supported().items()}))
""")


@pytest.mark.parametrize("drop", [
    (CAP_SYS_ADMIN,),
    (CAP_SYS_ADMIN, CAP_NET_ADMIN),
    (CAP_SYS_ADMIN, CAP_PERFMON),
    (CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_PERFMON),
], ids=["CAP_BPF+NET_ADMIN+PERFMON", "CAP_BPF+PERFMON", "CAP_BPF+NET_ADMIN", "CAP_BPF"])
def test_fewer_capabilities_never_give_another_answer(drop: tuple[int, ...]) -> None:
    """With fewer capabilities a probe may fail to decide, but what it decides is what it
    decides with all of them; CAP_SYS_ADMIN itself is needed by none."""
    full = {name: r.supported for name, r in features.supported().items()}
    reduced = _child(_EVERY_PROBE, *map(str, drop))
    assert set(reduced) == set(full)
    changed = {n: (full[n], v) for n, v in reduced.items() if v is not None and v != full[n]}
    assert not changed
    undecided = [n for n, v in reduced.items() if v is None]
    if drop == (CAP_SYS_ADMIN,):
        assert not undecided
    else:
        assert undecided   # the program types these capabilities guard
