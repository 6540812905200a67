"""Uprobes on real processes: ``link.uprobe``, ``link.uretprobe`` and ``link.uprobe_multi``
count the calls a program the test compiled makes, with the arguments and return values it
passes, on PIE and non-PIE executables, a shared library, libc and a stripped Go binary.

The BPF side is ``testdata/uprobe.c``: each firing adds to the entry of its BPF cookie the
first two arguments (entry) or the return value (return) and records the process.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import ebpf
from ebpf import link
from ebpf.errors import (
    EbpfError,
    SymbolNotFoundError,
    SyscallError,
    TargetNotFoundError,
    UnsupportedFeatureError,
)
from ebpf.internal.kernel import kernel_version
from ebpf.link import Mechanism
from ebpf.link.uprobes import (
    attach_uprobe_at,
    have_uprobe_multi,
    have_uprobe_session,
    resolve_target,
)
from ebpf.types import LinkType
from tests.unit.userbins import file_offset, symbol_value

from .uprobe_targets import (
    Targets,
    build_go_stripped,
    build_targets,
    instruction_addresses,
    perf_fds,
    require,
    started,
    uprobe_spec,
)

pytestmark = pytest.mark.kernel

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
N = 40


@pytest.fixture(scope="module")
def bins(tmp_path_factory: pytest.TempPathFactory) -> Targets:
    return build_targets(tmp_path_factory.mktemp("uprobe_targets"))


@pytest.fixture
def objs() -> Iterator[ebpf.Collection]:
    with ebpf.Collection(uprobe_spec()) as c:
        yield c


def stats(objs: ebpf.Collection) -> dict[int, dict[str, int]]:
    return dict(objs.maps["stats"].items())


def sym_offset(path: Path, name: str) -> int:
    """The file offset of ``name`` by readelf's symbol table and program headers."""
    return file_offset(path, symbol_value(path, name))


# --- uprobe and uretprobe --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["pie", "nopie"])
def test_uprobe_and_uretprobe_count_calls_args_and_returns(
        bins: Targets, objs: ebpf.Collection, kind: str) -> None:
    exe = bins.pie if kind == "pie" else bins.nopie
    with started(exe, str(N)) as target:
        entry = link.uprobe(exe, "add", objs.programs["probe_entry"], pid=target.pid, cookie=1)
        ret = link.uretprobe(exe, "add", objs.programs["probe_return"], cookie=2)
        with entry, ret:
            assert entry.mechanism is Mechanism.BPF_LINK
            info = entry.info()
            assert info.type == LinkType.PERF_EVENT
            assert info.program_id == objs.programs["probe_entry"].info().id
            assert info.target is not None and info.target["file_name"] == str(exe)
            assert info.target["offset"] == sym_offset(exe, "add")
            assert info.target["cookie"] == 1
            assert info.target["perf_event_type"] == "uprobe"
            rinfo = ret.info()
            assert rinfo.target is not None and rinfo.target["perf_event_type"] == "uretprobe"
            out = target.go()
    total = sum(3 * i for i in range(1, N + 1))
    assert out.split()[0] == str(total)
    s = stats(objs)
    assert s[1]["calls"] == N and s[1]["last_tgid"] == target.pid
    assert s[1]["arg1_sum"] == sum(range(1, N + 1))
    assert s[1]["arg2_sum"] == 2 * sum(range(1, N + 1))
    assert s[2]["returns"] == N and s[2]["ret_sum"] == total
    # Closed: a new run of the program is not counted.
    with started(exe, "5") as again:
        again.go()
    assert stats(objs) == s


def test_shared_library_function_by_library_name(
        bins: Targets, objs: ebpf.Collection, monkeypatch: pytest.MonkeyPatch) -> None:
    # "uptarget" is a short library name: libuptarget.so, found through LD_LIBRARY_PATH.
    monkeypatch.setenv("LD_LIBRARY_PATH", str(bins.dir))
    assert resolve_target("uptarget", "lib_scale")[0] == str(bins.lib)
    with started(bins.pie, str(N)) as target, \
            link.uprobe("uptarget", "lib_scale", objs.programs["probe_entry"], cookie=3,
                        pid=target.pid), \
            link.uretprobe("libuptarget.so", "lib_scale", objs.programs["probe_return"],
                           cookie=4, pid=target.pid):
        target.go()
    s = stats(objs)
    assert s[3]["calls"] == N and s[3]["arg1_sum"] == sum(range(1, N + 1))
    assert s[3]["arg2_sum"] == 5 * N
    assert s[4]["returns"] == N and s[4]["ret_sum"] == 5 * sum(range(1, N + 1))


def test_libc_getpid_with_pid_filter(bins: Targets) -> None:
    # Every process calls getpid; the pid filter must keep only the child's calls. The
    # program also counts, by itself, firings from any other process.
    with started(bins.pie, str(N)) as target:
        spec = uprobe_spec()
        spec.variables["target_tgid"].set(target.pid)
        with ebpf.Collection(spec) as objs:
            with link.uprobe("c", "getpid", objs.programs["probe_entry"], pid=target.pid,
                             cookie=0xC0FFEE) as lnk:
                info = lnk.info()
                assert info.target is not None
                assert os.path.samefile(str(info.target["file_name"]), _mapped_libc())
                for _ in range(100):
                    os.getpid()          # this process's calls must not count
                target.go()
            s = stats(objs)
    assert s[0xC0FFEE]["calls"] == N
    assert s[0xC0FFEE]["other_tgids"] == 0 and s[0xC0FFEE]["last_tgid"] == target.pid


def _mapped_libc() -> str:
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split(None, 5)[-1].strip()
            if os.path.basename(path).startswith("libc.so"):
                return path
    raise AssertionError("this process maps no libc")


def test_uprobe_by_offset_and_inside_a_function(bins: Targets, objs: ebpf.Collection) -> None:
    exe = bins.pie
    base = sym_offset(exe, "add")
    addrs = instruction_addresses(exe, "add")
    assert len(addrs) >= 2
    delta = addrs[1] - addrs[0]
    with started(exe, str(N)) as target:
        by_offset = link.uprobe(exe, None, objs.programs["probe_entry"], offset=base,
                                pid=target.pid, cookie=5)
        inside = link.uprobe(exe, f"add+{delta:#x}", objs.programs["probe_entry"],
                             pid=target.pid, cookie=6)
        with by_offset, inside:
            t = inside.info().target
            assert t is not None and t["offset"] == base + delta
            target.go()
    s = stats(objs)
    assert s[5]["calls"] == N and s[5]["arg1_sum"] == sum(range(1, N + 1))
    assert s[6]["calls"] == N


def test_ref_ctr_offset_enables_the_semaphore(bins: Targets, objs: ebpf.Collection) -> None:
    # A plain uprobe at the USDT site of test:gated, with the semaphore as its reference
    # counter: the kernel raises the semaphore, the program sees it and fires the probe.
    exe = bins.usdt_o2
    site = _note_site(exe, "gated")
    sema = file_offset(exe, symbol_value(exe, "test_gated_semaphore"))
    with started(exe, "3") as idle:
        assert "semaphore=0" in idle.go()
    with started(exe, "3") as target, \
            link.uprobe(exe, None, objs.programs["probe_entry"], offset=site,
                        ref_ctr_offset=sema, cookie=7) as lnk:
        t = lnk.info().target
        assert t is not None and t["offset"] == site
        if kernel_version() >= (6, 16):      # the kernel reports it since 6.16
            assert t["ref_ctr_offset"] == sema
        assert "semaphore=1" in target.go()
    assert stats(objs)[7]["calls"] == 1
    with started(exe, "3") as after:
        assert "semaphore=0" in after.go()


def _note_site(path: Path, probe: str) -> int:
    """The file offset of USDT probe ``test:probe``'s (only) site, by ``readelf -n``."""
    import re

    from tests.unit.userbins import run

    text = run("readelf", "-n", path)
    sites = [int(m.group(1), 16) for m in re.finditer(
        r"Name: " + probe + r"\n\s*Location: (0x[0-9a-f]+)", text)]
    assert len(sites) == 1, text
    return file_offset(path, sites[0])


@pytest.mark.parametrize(("pmu", "mechanism"), [(False, Mechanism.BPF_LINK),
                                                (True, Mechanism.PERF_EVENT),
                                                (False, Mechanism.PERF_EVENT)])
def test_tracefs_event_and_ioctl_attachment(bins: Targets, objs: ebpf.Collection,
                                            tracefs: str, pmu: bool,
                                            mechanism: Mechanism) -> None:
    # The fallbacks this kernel does not need: a uprobe_events event instead of the PMU, and
    # PERF_EVENT_IOC_SET_BPF instead of a perf link. The tracefs event goes with the Link.
    exe = bins.pie
    file, offset, shown = resolve_target(exe, "add")
    events = os.path.join(tracefs, "uprobe_events")
    cookie = 8 if mechanism is Mechanism.BPF_LINK else 0
    with started(exe, str(N)) as target:
        lnk = attach_uprobe_at(objs.programs["probe_entry"], file, offset, pid=target.pid,
                               cookie=cookie, pmu=pmu, mechanism=mechanism, what=shown)
        with lnk:
            assert lnk.mechanism is mechanism
            with open(events) as f:
                mine = [ln for ln in f.read().splitlines() if f"ebpf_{os.getpid()}/" in ln]
            if pmu:
                assert mine == []
            else:
                assert len(mine) == 1 and f"{exe}:{offset:#018x}" in mine[0]
            info = lnk.info()
            assert info.mechanism is mechanism
            assert info.target is not None and info.target["offset"] == offset
            assert info.target["perf_event_type"] == "uprobe"
            target.go()
    with open(events) as f:
        assert f"ebpf_{os.getpid()}/" not in f.read()
    assert stats(objs)[cookie]["calls"] == N


def test_ioctl_attachment_refuses_a_cookie(bins: Targets, objs: ebpf.Collection) -> None:
    file, offset, _ = resolve_target(bins.pie, "add")
    before = perf_fds()
    with pytest.raises(UnsupportedFeatureError, match="cookie"):
        attach_uprobe_at(objs.programs["probe_entry"], file, offset, cookie=1,
                         mechanism=Mechanism.PERF_EVENT)
    assert perf_fds() == before


def test_stripped_go_binary(tmp_path: Path, objs: ebpf.Collection) -> None:
    # No symbol tables: main.work is found in .gopclntab. Go passes arguments in other
    # registers than C (its register ABI), so only the calls are counted.
    exe = build_go_stripped(tmp_path)
    with started(exe, str(N)) as target, \
            link.uprobe(exe, "main.work", objs.programs["probe_entry"], pid=target.pid,
                        cookie=9):
        out = target.go()
    assert out.strip() == str(sum(3 * i + 1 for i in range(N)))
    assert stats(objs)[9]["calls"] == N


# --- uprobe_multi ------------------------------------------------------------------------------


def test_uprobe_multi_functions_with_cookies(bins: Targets, objs: ebpf.Collection) -> None:
    require(have_uprobe_multi)
    exe = bins.nopie
    with started(exe, str(N)) as target:
        entry = link.uprobe_multi(exe, ["fn_a", "fn_b", "fn_c", "add"],
                                  objs.programs["multi_entry"], cookies=[10, 20, 30, 40],
                                  pid=target.pid)
        ret = link.uprobe_multi(exe, ["fn_a", "fn_c"], objs.programs["multi_return"],
                                retprobe=True, cookies={"fn_c": 31})
        with entry, ret:
            info = entry.info()
            assert info.type == LinkType.UPROBE_MULTI and info.target is not None
            assert info.target["count"] == 4 and info.target["path"] == str(exe)
            assert info.target["pid"] == target.pid
            rinfo = ret.info()
            assert rinfo.target is not None and rinfo.target["flags"] == 1  # RETURN
            target.go()
    s = stats(objs)
    assert [s[c]["calls"] for c in (10, 20, 30, 40)] == [N, 2 * N, 3 * N, N]
    assert s[40]["arg2_sum"] == 2 * sum(range(1, N + 1))
    assert s[31]["returns"] == 3 * N and s[31]["ret_sum"] == 3 * sum(range(2, N + 2))
    assert s[0]["returns"] == N     # fn_a: no cookie given


def test_uprobe_multi_pattern_and_offsets(bins: Targets, objs: ebpf.Collection) -> None:
    require(have_uprobe_multi)
    exe = bins.pie
    offsets = [sym_offset(exe, "fn_b"), sym_offset(exe, "add")]
    with started(exe, str(N)) as target:
        by_pattern = link.uprobe_multi(exe, "fn_?", objs.programs["multi_entry"],
                                       cookies={"fn_a": 1, "fn_b": 2, "fn_c": 3},
                                       pid=target.pid)
        by_offset = link.uprobe_multi(exe, offsets, objs.programs["multi_entry"],
                                      cookies=[12, 14], pid=target.pid)
        with by_pattern, by_offset:
            t = by_pattern.info().target
            assert t is not None and t["count"] == 3
            target.go()
    s = stats(objs)
    assert [s[c]["calls"] for c in (1, 2, 3, 12, 14)] == [N, 2 * N, 3 * N, 2 * N, N]


def test_uprobe_session(bins: Targets, objs: ebpf.Collection) -> None:
    require(have_uprobe_session)
    exe = bins.pie
    with started(exe, str(N)) as target, \
            link.uprobe_multi(exe, ["add", "fn_b"], objs.programs["session"], session=True,
                              cookies=[50, 51], pid=target.pid):
        target.go()
    s = stats(objs)
    assert s[50]["calls"] == N and s[50]["returns"] == N
    assert s[50]["ret_sum"] == sum(3 * i for i in range(1, N + 1))
    assert s[51]["calls"] == 2 * N and s[51]["returns"] == 2 * N


# --- errors ------------------------------------------------------------------------------------


def test_missing_symbol_names_symbol_file_and_close_matches(
        bins: Targets, objs: ebpf.Collection) -> None:
    with pytest.raises(SymbolNotFoundError) as e:
        link.uprobe(bins.pie, "other_functon", objs.programs["probe_entry"])
    assert "'other_functon'" in str(e.value) and str(bins.pie) in str(e.value)
    assert "other_function" in e.value.close_matches


def test_uprobe_multi_missing_symbols(bins: Targets, objs: ebpf.Collection) -> None:
    require(have_uprobe_multi)
    with pytest.raises(SymbolNotFoundError) as e:
        link.uprobe_multi(bins.pie, ["fn_a", "nope_1", "nope_2"], objs.programs["multi_entry"])
    assert e.value.symbols == ("nope_1", "nope_2") and str(bins.pie) in str(e.value)
    with pytest.raises(SymbolNotFoundError, match="no_such_"):
        link.uprobe_multi(bins.pie, "no_such_*", objs.programs["multi_entry"])


def test_missing_library(objs: ebpf.Collection) -> None:
    with pytest.raises(TargetNotFoundError) as e:
        link.uprobe("libnosuchlib_ebpf_test.so.3", "f", objs.programs["probe_entry"])
    assert "libnosuchlib_ebpf_test.so.3" in str(e.value) and "ld.so.cache" in str(e.value)
    with pytest.raises(TargetNotFoundError):
        link.uprobe("/nonexistent/ebpf/binary", "f", objs.programs["probe_entry"])


def test_wrong_program_type(bins: Targets, objs: ebpf.Collection) -> None:
    before = perf_fds()
    with pytest.raises(EbpfError, match="SOCKET_FILTER program; uprobes run KPROBE"):
        link.uprobe(bins.pie, "add", objs.programs["not_a_probe"])
    with pytest.raises(EbpfError, match="SOCKET_FILTER"):
        link.uprobe_multi(bins.pie, ["add"], objs.programs["not_a_probe"])
    # A KPROBE program loaded for perf events is refused for BPF_TRACE_UPROBE_MULTI; the
    # message says what to load it from.
    with pytest.raises(EbpfError, match=r'loaded for perf events .*SEC\("uprobe.multi"\)'):
        link.uprobe_multi(bins.pie, ["add"], objs.programs["probe_entry"])
    # A program opened by id does not say what it was loaded for: the kernel refuses
    # (EINVAL) and the message says what to load it from; a kernel without uprobe_multi
    # says it has none.
    try:
        have_uprobe_multi()
        expected: type[EbpfError] = SyscallError
    except UnsupportedFeatureError:
        expected = UnsupportedFeatureError
    with ebpf.Program.from_id(objs.programs["probe_entry"].info().id) as anonymous:
        with pytest.raises(expected, match=r"uprobe\.multi|UPROBE_MULTI") as e:
            link.uprobe_multi(bins.pie, ["add"], anonymous)
        if expected is SyscallError:
            assert isinstance(e.value, SyscallError) and e.value.errno == errno.EINVAL
    assert perf_fds() == before


def test_uprobe_multi_program_used_elsewhere(bins: Targets, objs: ebpf.Collection) -> None:
    require(have_uprobe_multi)
    before = perf_fds()
    with pytest.raises(EbpfError, match=r'loaded for TRACE_UPROBE_MULTI .*SEC\("uprobe"\)'):
        link.uprobe(bins.pie, "add", objs.programs["multi_entry"])
    with pytest.raises(EbpfError, match=r'needs one loaded from SEC\("uprobe.session"\)'):
        link.uprobe_multi(bins.pie, ["add"], objs.programs["multi_entry"], session=True)
    with ebpf.Program.from_id(objs.programs["multi_entry"].info().id) as anonymous:
        with pytest.raises(SyscallError) as e:
            link.uprobe(bins.pie, "add", anonymous)
        assert e.value.errno == errno.EINVAL
    assert perf_fds() == before


def test_invalid_arguments(bins: Targets, objs: ebpf.Collection) -> None:
    prog = objs.programs["probe_entry"]
    for kwargs in ({"offset": -1}, {"pid": -2}, {"cookie": 1 << 64},
                   {"ref_ctr_offset": 1 << 32}):
        with pytest.raises(EbpfError):
            link.uprobe(bins.pie, "add", prog, **kwargs)
    with pytest.raises(EbpfError, match="retprobe"):
        link.uprobe_multi(bins.pie, ["fn_a"], prog, session=True, retprobe=True)


def test_uprobe_multi_invalid_arguments(bins: Targets, objs: ebpf.Collection) -> None:
    require(have_uprobe_multi)
    with pytest.raises(EbpfError, match="2 cookies for 3 functions"):
        link.uprobe_multi(bins.pie, ["fn_a", "fn_b", "fn_c"], objs.programs["multi_entry"],
                          cookies=[1, 2])
    with pytest.raises(EbpfError, match="not among the functions"):
        link.uprobe_multi(bins.pie, ["fn_a"], objs.programs["multi_entry"],
                          cookies={"fn_z": 1})


def test_perf_link_lifecycle(bins: Targets, objs: ebpf.Collection) -> None:
    # close() is final and idempotent; detach() works; a clone keeps the attachment alive.
    exe = bins.pie
    before = perf_fds()
    lnk = link.uprobe(exe, "add", objs.programs["probe_entry"], cookie=60)
    assert perf_fds() == before + 1
    clone = lnk.clone()
    lnk.close()
    lnk.close()
    assert lnk.closed and perf_fds() == before
    with started(exe, "4") as target:
        target.go()
    assert stats(objs)[60]["calls"] == 4      # the clone's bpf_link holds the perf event
    clone.detach()
    with started(exe, "4") as target:
        target.go()
    assert stats(objs)[60]["calls"] == 4
    with pytest.raises(ebpf.ClosedError):
        lnk.info()
