"""BPF iterators through ``ebpf.link.iter``: what a walk prints is checked against what this
process knows (its own pid and threads, the ids of maps it made, the entries it wrote).

Programs: testdata/link_iter.c.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import ebpf
from ebpf import link
from ebpf.errors import ClosedError, EbpfError, NotSupportedError, SyscallError
from ebpf.link import iterators
from ebpf.types import LinkType

from ..conftest import skip_if_unsupported

pytestmark = pytest.mark.kernel

OBJECT = Path(__file__).resolve().parents[2] / "testdata" / "link_iter-el.elf"


@dataclass
class Objects(ebpf.Objects):
    dump_task: ebpf.Program = ebpf.field("dump_task")
    dump_task_pids: ebpf.Program = ebpf.field("dump_task_pids")
    dump_map: ebpf.Program = ebpf.field("dump_map")
    elems: ebpf.Map = ebpf.field("elems")


@pytest.fixture(scope="module")
def objs() -> Iterator[Objects]:
    with ebpf.load_collection_spec(OBJECT).load_and_assign(Objects()) as o:
        yield o


def test_task_iterator_lists_this_process(objs: Objects) -> None:
    with link.iter(objs.dump_task) as lk:
        assert isinstance(lk, link.IterLink)
        lines = lk.read_lines()
        info = lk.info()
    me = [line.split(" ", 2) for line in lines if line.split(" ", 1)[0] == str(os.getpid())]
    assert [os.getpid(), os.getpid()] in [[int(t), int(p)] for t, p, _ in me]
    assert len(me) == len(os.listdir("/proc/self/task"))  # one line per thread
    assert info.type is LinkType.ITER
    assert info.target == {"iter_target": "task", "tid": 0, "pid": 0}


def test_task_iterator_for_one_thread_or_process(objs: Objects) -> None:
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        assert worker.native_id is not None
        with link.iter(objs.dump_task, tid=os.getpid()) as lk:
            assert lk.info().target == {"iter_target": "task", "tid": os.getpid(), "pid": 0}
            lines = lk.read_lines()
        assert [line.split()[:2] for line in lines] == [[str(os.getpid())] * 2]
        with link.iter(objs.dump_task, pid=os.getpid()) as lk:
            tids = {int(line.split()[1]) for line in lk.read_lines()}
        assert {os.getpid(), worker.native_id} <= tids
        assert tids <= {int(t) for t in os.listdir("/proc/self/task")} | {worker.native_id}
    finally:
        stop.set()
        worker.join()


def test_each_open_is_a_new_walk_and_owns_its_descriptor(objs: Objects) -> None:
    with link.iter(objs.dump_task, tid=os.getpid()) as lk:
        first = lk.open()
        second = lk.open()
        assert first.fileno() != second.fileno()
        head = first.read(3)
        assert head == str(os.getpid()).encode()[:3]
        whole = second.read()  # its own walk, from the start
        assert whole == head + first.read() == lk.read_bytes()
        first.close()
        second.close()
    with pytest.raises(ClosedError):
        lk.open()


def test_map_iterator_lists_the_maps_of_this_process(objs: Objects) -> None:
    with link.iter(objs.dump_map) as lk:
        listed = dict(line.split(" ", 1) for line in lk.read_lines())
    assert listed[str(objs.elems.info().id)] == "elems"


def test_update_swaps_the_iterator_program(objs: Objects) -> None:
    with link.iter(objs.dump_task, tid=os.getpid()) as lk:
        assert lk.read_lines()[0].startswith(f"{os.getpid()} {os.getpid()} ")
        lk.update(objs.dump_task_pids)
        assert lk.read_lines() == [f"pid={os.getpid()}"]
        assert lk.info().program_id == objs.dump_task_pids.info().id
        with pytest.raises(SyscallError):  # only the attached program can be expected
            lk.update(objs.dump_task, expected=objs.dump_task)


def test_pinned_iterator_runs_from_the_pin(objs: Objects, pin_dir: str) -> None:
    path = os.path.join(pin_dir, "tasks")
    with link.iter(objs.dump_task_pids, tid=os.getpid()) as lk:
        lk.pin(path)
    with link.IterLink.load_pinned(path) as again:
        assert again.read_lines() == [f"pid={os.getpid()}"]
        again.unpin()
    assert not os.path.exists(path)


def test_iterator_arguments_are_checked(objs: Objects) -> None:
    with pytest.raises(EbpfError, match="at most one of pid, tid and pid_fd"):
        link.iter(objs.dump_task, pid=1, tid=1)
    with pytest.raises(EbpfError, match="for different iterators"):
        link.iter(objs.dump_task, tid=1, map=objs.elems)
    with pytest.raises(EbpfError, match="tid must be a positive int"):
        link.iter(objs.dump_task, tid=0)
    with pytest.raises(EbpfError, match="expected a loaded Program, not <Map HASH"):
        link.iter(objs.elems)  # type: ignore[arg-type]


# --- map entries: refused by the development machine's kernel, proven in the VM guests --------

@dataclass
class ElemObjects(ebpf.Objects):
    dump_elem: ebpf.Program = ebpf.field("dump_elem")
    elems: ebpf.Map = ebpf.field("elems")


@pytest.mark.vm
def test_map_elem_iterator_dumps_the_entries() -> None:
    with skip_if_unsupported():
        try:
            iterators._have_map_elem_iterator()
        except NotSupportedError as e:
            if os.environ.get("EBPF_VM_KERNEL"):
                pytest.fail(f"the VM kernel should run bpf_map_elem iterators: {e}")
            raise
    spec = ebpf.load_collection_spec(OBJECT)
    with spec.load_and_assign(ElemObjects()) as objs:
        entries = {3: 33, 5: 55, 7: 1 << 40}
        for k, v in entries.items():
            objs.elems[k] = v
        with link.iter(objs.dump_elem, map=objs.elems) as lk:
            dumped = dict(map(int, line.split()) for line in lk.read_lines())
            info = lk.info()
        assert dumped == entries
        assert info.target == {"iter_target": "bpf_map_elem",
                               "map_id": objs.elems.info().id}
