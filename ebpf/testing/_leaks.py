"""The leak check: what a test leaves behind that it did not have before.

Three kinds of leftovers are looked for, each compared before and after the test:

- open file descriptors (``/proc/self/fd``): a descriptor that is new, or now names another
  file. Objects only the garbage collector would close are collected first, so their
  ``ResourceWarning`` is raised as the test's (pytest turns it into an error where configured).
- pins: files that appeared in a mounted bpffs (other than the private ones of the ``bpffs``
  fixture, whose pins go when it is unmounted) and name an object this process made.
- kernel objects: programs and links this process created during the test (the library's
  ``BPF_PROG_LOAD``, ``BPF_LINK_CREATE`` and ``BPF_RAW_TRACEPOINT_OPEN`` calls are watched
  while a check runs) that the kernel still has afterwards, e.g. a program left attached to an
  interface through netlink, or a cgroup program attached without a link. Kernel object ids
  are global, so ids made by other processes are never counted.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from . import _system

__all__ = ["LeakCheck", "bpf_fds", "open_fds"]


def open_fds() -> dict[int, str]:
    """This process's descriptors: number -> what they name (``readlink``)."""
    out = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            out[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # the directory's own descriptor, or closed meanwhile
    return out


def bpf_fds() -> dict[int, str]:
    """The BPF objects among :func:`open_fds`."""
    return {fd: t for fd, t in open_fds().items()
            if t.startswith("anon_inode:bpf") or t.startswith("anon_inode:[bpf")}


def _fdinfo_id(fd: int) -> tuple[str, int] | None:
    """``("prog"|"map"|"link", id)`` of a BPF descriptor from its ``fdinfo``."""
    try:
        with open(f"/proc/self/fdinfo/{fd}") as f:
            text = f.read()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    for kind in ("link", "prog", "map"):  # a link's fdinfo also names its program
        value = fields.get(f"{kind}_id")
        if value is not None:
            return kind, int(value)
    return None


# --- watching what this process creates -----------------------------------------------------

_WATCHED = ("prog_load", "link_create", "raw_tracepoint_open", "map_create")


class _Recorder:
    """Wraps the library's object-creating ``bpf(2)`` commands while at least one check runs,
    recording the ids of what they made."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._originals: dict[str, Callable[..., Any]] = {}
        self.made: set[tuple[str, int]] = set()

    def _wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def recording(*args: Any, **kwargs: Any) -> Any:
            fd = fn(*args, **kwargs)
            raw = getattr(fd, "raw", None)
            if isinstance(raw, int):
                ident = _fdinfo_id(raw)
                if ident is not None:
                    with self._lock:
                        self.made.add(ident)
            return fd

        recording.__wrapped__ = fn  # type: ignore[attr-defined]
        return recording

    def start(self) -> None:
        from ..internal.sys import commands

        with self._lock:
            self._users += 1
            if self._users > 1:
                return
            self.made.clear()
            for name in _WATCHED:
                original = getattr(commands, name)
                self._originals[name] = original
                setattr(commands, name, self._wrap(original))

    def stop(self) -> None:
        from ..internal.sys import commands

        with self._lock:
            self._users -= 1
            if self._users > 0:
                return
            for name, original in self._originals.items():
                setattr(commands, name, original)
            self._originals.clear()


_recorder = _Recorder()


def _alive(kind: str, ident: int) -> bool:
    from ..errors import SyscallError
    from ..internal.sys import commands

    openers: dict[str, Callable[[int], Any]] = {
        "prog": commands.prog_get_fd_by_id, "link": commands.link_get_fd_by_id,
        "map": commands.map_get_fd_by_id}
    opener = openers[kind]
    try:
        opener(ident).close()
    except SyscallError:
        return False
    return True


def _bpffs_mounts() -> list[str]:
    private = _system.private_bpffs()
    out = []
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 2 and parts[2] == "bpf":
                    path = parts[1].replace("\\040", " ")
                    if os.path.realpath(path) not in private:
                        out.append(path)
    except OSError:
        pass
    return out


def _pins() -> set[str]:
    found: set[str] = set()
    for root in _bpffs_mounts():
        for dirpath, _dirs, files in os.walk(root):
            found.update(os.path.join(dirpath, f) for f in files)
    return found


def _pinned_id(path: str) -> tuple[str, int] | None:
    from ..errors import EbpfError
    from ..internal.pin import open_pinned

    try:
        fd, _ = open_pinned(path, "pinned object")
    except (EbpfError, OSError, ValueError):
        return None
    with fd:
        return _fdinfo_id(fd.raw)


@dataclasses.dataclass
class LeakCheck:
    """One test's check: :meth:`start` before it, :meth:`finish` after it.

    Args:
        kernel_objects: also watch the pins and the programs and links the test makes (else
            only descriptors are compared).
        only_bpf: compare only BPF descriptors (maps, programs, links, BTF), not every one.
    """

    kernel_objects: bool = True
    only_bpf: bool = False
    settle: float = 2.0   # seconds to wait for the kernel's deferred releases
    _fds: dict[int, str] = dataclasses.field(default_factory=dict)
    _pins: set[str] = dataclasses.field(default_factory=set)
    _started: bool = False

    def _fd_snapshot(self) -> dict[int, str]:
        return bpf_fds() if self.only_bpf else open_fds()

    def _new_fds(self) -> dict[int, str]:
        return {fd: t for fd, t in self._fd_snapshot().items() if self._fds.get(fd) != t}

    def start(self) -> None:
        if self.kernel_objects:
            self._pins = _pins()
            _recorder.start()
        self._started = True
        self._fds = self._fd_snapshot()

    def finish(self) -> list[str]:
        """What was leaked, one line each (empty: nothing). Stops watching."""
        if not self._started:
            return []
        self._started = False
        problems: list[str] = []
        try:
            leaked = self._new_fds()
            if leaked or self.kernel_objects:
                # What only the cyclic collector frees is not a leak. Collecting costs tens of
                # milliseconds with large object graphs (kernel BTF) in memory, so the quick
                # descriptor check runs it only when something looks left open.
                gc.collect()
                leaked = self._new_fds()
            problems += [f"file descriptor {fd} ({t}) left open"
                         for fd, t in sorted(leaked.items())]
            if self.kernel_objects:
                made = set(_recorder.made)
                for path in sorted(_pins() - self._pins):
                    # Only pins of objects this process made count: other processes (other
                    # test runs) pin and unpin in the same file systems meanwhile.
                    ident = _pinned_id(path)
                    if ident is not None and ident in made:
                        problems.append(f"pin {path} ({ident[0]} id {ident[1]}) left behind")
                problems += self._objects_alive(made)
        finally:
            if self.kernel_objects:
                _recorder.stop()
        return problems

    def _objects_alive(self, made: set[tuple[str, int]]) -> list[str]:
        # Closing the last descriptor frees a program or link at once; one attached to an
        # interface of a namespace that is being deleted goes when the kernel's clean-up work
        # has run: give that a moment before calling it a leak.
        watched = {(k, i) for k, i in made if k in ("prog", "link")}
        deadline = time.monotonic() + self.settle
        while True:
            alive = sorted((k, i) for k, i in watched if _alive(k, i))
            if not alive or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        return [f"BPF {'program' if k == 'prog' else k} id {i} still exists (attached or "
                "held by something the test left behind)" for k, i in alive]
