"""USDT probes on real processes: ``link.usdt`` attaches a program built with libbpf's
``<bpf/usdt.bpf.h>`` (``testdata/usdt.c``) at every site of a ``<sys/sdt.h>`` probe of a
program the test compiled, and ``bpf_usdt_arg()`` reads back exactly the arguments the
program passed: of 1, 2, 4 and 8 bytes, signed and unsigned, as constants, registers, stack
slots and globals, from probes with several sites and one behind a semaphore.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ebpf
from ebpf import link
from ebpf.elf_reader import load_collection_spec
from ebpf.errors import EbpfError, KeyNotFoundError, USDTNotFoundError
from ebpf.internal.kernel import kernel_version
from ebpf.internal.usdt import USDT_SPEC_SIZE, find_usdt
from ebpf.link import LinkGroup
from tests.unit.userbins import file_offset, run, symbol_value

from .uprobe_targets import Targets, build_targets, perf_fds, started, uprobe_spec, usdt_expected

pytestmark = pytest.mark.kernel

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
PROBES = ("consts", "regs", "mem", "multi", "gated")
N = 6


@pytest.fixture(scope="module")
def bins(tmp_path_factory: pytest.TempPathFactory) -> Targets:
    return build_targets(tmp_path_factory.mktemp("usdt_targets"))


@pytest.fixture
def objs() -> Iterator[ebpf.Collection]:
    with ebpf.Collection(load_collection_spec(TESTDATA / "usdt-el.elf")) as c:
        yield c


def firings(objs: ebpf.Collection) -> list[dict[str, Any]]:
    out = []
    q = objs.maps["firings"]
    while True:
        try:
            out.append(q.pop())
        except KeyNotFoundError:
            return out


def used_specs(objs: ebpf.Collection) -> list[int]:
    specs = objs.maps["__bpf_usdt_specs"]
    return [i for i in range(specs.max_entries) if specs.raw[i] != bytes(USDT_SPEC_SIZE)]


def note_arguments(path: Path) -> dict[str, list[str]]:
    """The argument strings of each probe's sites, by ``readelf -n``."""
    out: dict[str, list[str]] = {}
    text = run("readelf", "-n", path)
    for m in re.finditer(r"Name: (\w+)\n.*?\n\s*Arguments: ([^\n]*)", text, re.S):
        out.setdefault(m.group(1), []).append(m.group(2))
    return out


@pytest.mark.parametrize("build", ["usdt_o2", "usdt_o0", "usdt_nopie"])
def test_arguments_match_what_the_program_passed(bins: Targets, objs: ebpf.Collection,
                                                 build: str) -> None:
    exe: Path = getattr(bins, build)
    notes = note_arguments(exe)
    forms = " ".join(a for args in notes.values() for a in args)
    # The builds give the operand forms usdt.bpf.h must decode.
    if build == "usdt_o0":
        assert "(%rbp)" in forms
    else:
        assert "(%rip)" in forms and "@%" in forms
    assert "@$" in forms
    expected = usdt_expected(N)
    with started(exe, str(N)) as target:
        links = [link.usdt(exe, "test", probe, objs.programs["record"], cookie=100 + i,
                           pid=target.pid) for i, probe in enumerate(PROBES)]
        try:
            assert [len(lnk.links) for lnk in links] == [1, 1, 1, 2, 1]
            out = target.go()
        finally:
            for lnk in links:
                lnk.close()
    assert "semaphore=1" in out
    got: dict[str, list[list[int]]] = {}
    for f in firings(objs):
        assert f["errors"] == 0 and f["tgid"] == target.pid
        probe = PROBES[f["usdt_cookie"] - 100]
        got.setdefault(probe, []).append(f["args"][:f["arg_cnt"]])
    assert got == expected
    assert used_specs(objs) == []


def test_sites_get_their_own_specs_and_cookies(bins: Targets, objs: ebpf.Collection) -> None:
    # test:multi has two sites whose second arguments differ ($1, $2): two specs, and each
    # attachment's BPF cookie is its site's spec id.
    exe = bins.usdt_o2
    sites = find_usdt(exe, "test", "multi")
    assert len(sites) == 2
    with started(exe, str(N)) as target, \
            link.usdt(exe, "test", "multi", objs.programs["record"], cookie=7) as group:
        assert isinstance(group, LinkGroup)
        infos = [lnk.info().target for lnk in group.links]
        assert [t["offset"] for t in infos if t] == [s.offset for s in sites]
        spec_ids = [int(str(t["cookie"])) for t in infos if t]
        assert sorted(spec_ids) == used_specs(objs) and len(set(spec_ids)) == 2
        specs = objs.maps["__bpf_usdt_specs"]
        for site, spec_id in zip(sites, spec_ids, strict=True):
            assert specs.raw[spec_id] == site.spec().encode(7)
        target.go()
    seen = {(f["spec_id"], f["args"][1]) for f in firings(objs)}
    by_id = dict(zip(spec_ids, (int(s.args.split("$")[-1]) for s in sites), strict=True))
    assert seen == set(by_id.items())


def test_ip_map_holds_where_each_site_fires(bins: Targets, objs: ebpf.Collection) -> None:
    # For kernels without cookies usdt.bpf.h looks a site's spec up by address: at link
    # time in a non-PIE executable, where the process mapped it otherwise (needs the pid).
    ips = objs.maps["__bpf_usdt_ip_to_spec_id"]
    nopie_sites = find_usdt(bins.usdt_nopie, "test", "multi")
    with link.usdt(bins.usdt_nopie, "test", "multi", objs.programs["record"]) as group:
        cookies = [t["cookie"] for t in (lnk.info().target for lnk in group.links) if t]
        assert dict(ips.items()) == {s.address: c for s, c in zip(nopie_sites, cookies,
                                                                   strict=True)}
    assert dict(ips.items()) == {}
    with started(bins.usdt_o2, str(N)) as target, \
            link.usdt(bins.usdt_o2, "test", "multi", objs.programs["record"],
                      pid=target.pid):
        table = dict(ips.items())
        assert len(table) == 2
        target.go()
    fired = {f["ip"]: f["spec_id"] for f in firings(objs)}
    assert fired == table
    assert dict(ips.items()) == {}
    # Without a pid the addresses in a PIE are unknown: the kernel's cookies do the work.
    with link.usdt(bins.usdt_o2, "test", "multi", objs.programs["record"]):
        assert dict(ips.items()) == {}


def test_semaphore_is_raised_while_attached(bins: Targets, objs: ebpf.Collection) -> None:
    exe = bins.usdt_o2
    (site,) = find_usdt(exe, "test", "gated")
    assert site.semaphore_offset == file_offset(exe, symbol_value(exe, "test_gated_semaphore"))
    with started(exe, "2") as idle:
        assert "semaphore=0" in idle.go()
    with started(exe, "2") as target, \
            link.usdt(exe, "test", "gated", objs.programs["record"]) as group:
        t = group.info().target
        assert t is not None and t["offset"] == site.offset
        if kernel_version() >= (6, 16):      # the kernel reports it since 6.16
            assert t["ref_ctr_offset"] == site.semaphore_offset
        assert "semaphore=1" in target.go()
    assert [f["args"][:1] for f in firings(objs)] == [[2]]
    with started(exe, "2") as after:
        assert "semaphore=0" in after.go()
    assert firings(objs) == []


def test_bpf_usdt_macro(bins: Targets, objs: ebpf.Collection) -> None:
    # BPF_USDT(two_typed, int small, long big) on test:multi (i, 1 or 2).
    with started(bins.usdt_o0, str(N)) as target, \
            link.usdt(bins.usdt_o0, "test", "multi", objs.programs["two_typed"]):
        target.go()
    typed = objs.maps["typed"]
    assert typed[1] == N
    assert typed[0] == sum(i + (1 if i % 2 else 2) for i in range(N))


def test_explicit_maps_and_spec_ids_in_use(bins: Targets, objs: ebpf.Collection) -> None:
    specs, ips = objs.maps["__bpf_usdt_specs"], objs.maps["__bpf_usdt_ip_to_spec_id"]
    exe = bins.usdt_nopie
    first = link.usdt(exe, "test", "consts", objs.programs["record"], specs_map=specs,
                      ip_map=ips)
    # A second attachment of the same program takes other spec ids; the maps given are
    # borrowed (the group keeps its own descriptors).
    with first, link.usdt(exe, "test", "multi", objs.programs["record"], specs_map=specs,
                          ip_map=ips) as second:
        a = {int(str(t["cookie"])) for t in (x.info().target for x in first.links) if t}
        b = {int(str(t["cookie"])) for t in (x.info().target for x in second.links) if t}
        assert a.isdisjoint(b) and sorted(a | b) == used_specs(objs)
        assert len(dict(ips.items())) == 3
        first.close()
        assert used_specs(objs) == sorted(b) and len(dict(ips.items())) == 2
        assert first.closed and not second.closed
    assert used_specs(objs) == [] and dict(ips.items()) == {}


def test_errors(bins: Targets, objs: ebpf.Collection) -> None:
    exe = bins.usdt_o2
    before = perf_fds()
    with pytest.raises(USDTNotFoundError) as e:
        link.usdt(exe, "test", "nope", objs.programs["record"])
    assert "test:nope" in str(e.value) and "test:consts" in str(e.value)
    assert set(e.value.available) == {f"test:{p}" for p in PROBES}
    # The specs map must hold struct __bpf_usdt_spec of usdt.bpf.h (208 bytes).
    with pytest.raises(EbpfError, match="208-byte values"):
        link.usdt(exe, "test", "consts", objs.programs["record"], specs_map=objs.maps["typed"])
    with ebpf.Collection(uprobe_spec()) as other:
        with pytest.raises(EbpfError, match=r"no __bpf_usdt_specs map .*'__bpf_usdt_spec'"):
            link.usdt(exe, "test", "consts", other.programs["probe_entry"])
        with pytest.raises(EbpfError, match="SOCKET_FILTER"):
            link.usdt(exe, "test", "consts", other.programs["not_a_probe"])
    assert perf_fds() == before and used_specs(objs) == []


def test_group_lifecycle(bins: Targets, objs: ebpf.Collection) -> None:
    before = perf_fds()
    group = link.usdt(bins.usdt_o2, "test", "multi", objs.programs["record"])
    assert perf_fds() == before + 2
    with pytest.raises(ebpf.NotSupportedError):
        group.pin("/sys/fs/bpf/x")
    group.close()
    group.close()
    assert group.closed and perf_fds() == before and used_specs(objs) == []
    with pytest.raises(ebpf.ClosedError):
        group.info()
