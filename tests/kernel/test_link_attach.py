"""Attaching by section name: ebpf.link.attach() and Collection.attach_all(), with real
effects (each tracing program counts this process's own getppid() calls)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import ebpf
from ebpf import link
from ebpf.errors import EbpfError
from ebpf.link import MissingTargetError

pytestmark = pytest.mark.kernel

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
OBJECT = TESTDATA / "link_sections-el.elf"
TP, RAW_TP, TP_BTF, UPROBE = range(4)


@pytest.fixture
def coll(tracefs: str) -> ebpf.Collection:
    spec = ebpf.load_collection_spec(OBJECT)
    spec.rewrite_constants({"target_pid": os.getpid()})
    return ebpf.Collection(spec)


def test_attach_all_runs_every_program_its_section_describes(coll: ebpf.Collection) -> None:
    with coll, coll.attach_all() as attached:
        assert sorted(attached) == ["count_raw_tp", "count_tp", "count_tp_btf", "count_uprobe",
                                    "dump_task"]
        skipped = attached.skipped
        assert "interface=" in skipped["pass_xdp"]
        assert "cgroup=" in skipped["allow_connect4"]
        assert "SO_ATTACH_BPF" in skipped["accept_all"]
        assert "optional_tp" not in coll.programs          # '?': not loaded by default
        for _ in range(7):
            os.getppid()
        hits = coll.maps["hits"]
        assert [hits[slot] for slot in (TP, RAW_TP, TP_BTF, UPROBE)] == [7] * 4
        tasks = attached["dump_task"].read_lines()  # type: ignore[attr-defined]
        assert any(line.split()[0] == str(os.getpid()) for line in tasks)
        assert attached["count_tp"].info().target is not None
    # Closing detaches: nothing counts any more.
    for _ in range(3):
        os.getppid()


def test_attach_one_program_and_arguments_for_what_sections_leave_out(
        coll: ebpf.Collection) -> None:
    with coll:
        with pytest.raises(MissingTargetError, match=r"'pass_xdp'.*pass interface=") as exc:
            link.attach(coll.programs["pass_xdp"])
        assert exc.value.argument == "interface"
        with link.attach(coll.programs["pass_xdp"], interface="lo") as xdp:
            assert xdp.info().target == {"ifindex": 1}
        with pytest.raises(MissingTargetError, match="pass cgroup=") as exc:
            link.attach(coll.programs["allow_connect4"])
        assert exc.value.argument == "cgroup"
        with pytest.raises(EbpfError, match="SO_ATTACH_BPF"):
            link.attach(coll.programs["accept_all"])


def test_programs_that_do_not_know_their_section(coll: ebpf.Collection) -> None:
    with coll, ebpf.Program.from_id(coll.programs["count_tp"].info().id) as reopened:
        assert reopened.section_name == ""
        with pytest.raises(MissingTargetError, match="pass section="):
            link.attach(reopened)
        with link.attach(reopened, section="tp/syscalls/sys_enter_getppid"):
            os.getppid()
        assert coll.maps["hits"][TP] == 1
        with pytest.raises(EbpfError, match="follows no convention"):
            link.attach(reopened, section="no_such_section")
        with pytest.raises(EbpfError, match="GROUP/NAME"):
            link.attach(reopened, section="tp/sys_enter_getppid")
