"""tracefs: tracepoint ids and the dynamic kprobe/uprobe events of ``kprobe_events`` and
``uprobe_events``.

The library never mounts tracefs itself (that changes the machine); when it is not mounted,
the functions here raise :class:`~ebpf.NotSupportedError` saying how to mount it. Dynamic
events get names unique to this process (``ebpf_<pid>_<n>_<what>``), so that two processes, or
two probes on one symbol, never collide, and each is removed again by its creator.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
from typing import Final, Literal

from ..errors import EbpfError, NotSupportedError

__all__ = ["ProbeEvent", "available_filter_functions", "event_id", "tracefs_root",
           "tracepoint_id"]

_CANDIDATES: Final = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
_NAME: Final = re.compile(r"[A-Za-z0-9_.-]+")

_counter = itertools.count()
_lock = threading.Lock()


def tracefs_root() -> str:
    """Where tracefs is mounted.

    Raises:
        NotSupportedError: tracefs is not mounted (the message says how to mount it).
    """
    for path in _CANDIDATES:
        if os.path.isdir(os.path.join(path, "events")):
            return path
    raise NotSupportedError("tracefs is not mounted: mount it with "
                            "'mount -t tracefs tracefs /sys/kernel/tracing'")


def _checked(part: str, what: str) -> str:
    if not isinstance(part, str) or not _NAME.fullmatch(part) or part in (".", ".."):
        raise EbpfError(f"invalid {what} {part!r}: use letters, digits, '_', '.' and '-'")
    return part


def event_id(group: str, name: str) -> int:
    """The perf event id of tracefs event ``group/name`` (``events/GROUP/NAME/id``).

    Raises:
        EbpfError: there is no such event (the message names the file looked for).
        NotSupportedError: tracefs is not mounted.
    """
    path = os.path.join(tracefs_root(), "events", _checked(group, "event group"),
                        _checked(name, "event name"), "id")
    try:
        with open(path) as f:
            return int(f.read().strip())
    except FileNotFoundError:
        raise EbpfError(f"no tracepoint {group}:{name} (no {path})") from None
    except (OSError, ValueError) as e:
        raise EbpfError(f"cannot read the id of tracepoint {group}:{name} from {path}: {e}"
                        ) from e


tracepoint_id = event_id


def available_filter_functions() -> list[str]:
    """The kernel functions that kprobes and fentry can attach to (ftrace's list), each once.

    Raises:
        NotSupportedError: tracefs is not mounted, or the kernel has no function tracer.
    """
    path = os.path.join(tracefs_root(), "available_filter_functions")
    try:
        with open(path, "rb") as f:
            text = f.read()
    except FileNotFoundError:
        raise NotSupportedError(f"the kernel has no function tracer ({path} is missing)"
                                ) from None
    seen: dict[str, None] = {}
    for line in text.splitlines():
        name = line.split(None, 1)[0].decode(errors="replace") if line.strip() else ""
        if name:
            seen.setdefault(name)
    return list(seen)


class ProbeEvent:
    """A dynamic kprobe or uprobe event made through tracefs, removed by :meth:`remove`.

    ``target`` is the probe's definition after the name, as ``kprobe_events`` /
    ``uprobe_events`` take it: ``do_unlinkat``, ``do_unlinkat+0x10``,
    ``/usr/lib/libc.so.6:0x9d0c0`` (uprobes take a file offset), ``...(0x1f4)`` for a uprobe's
    reference counter. ``maxactive`` (kretprobes) is how many instances may be pending.
    """

    __slots__ = ("_root", "group", "id", "kind", "name")

    def __init__(self, kind: Literal["kprobe", "uprobe"], target: str, *,
                 retprobe: bool = False, maxactive: int = 0, what: str = "") -> None:
        """Create the event.

        Raises:
            NotSupportedError: tracefs is not mounted, or the kernel has no such event file.
            EbpfError: the kernel refused the definition (e.g. no such symbol); the message
                names the target.
        """
        if kind not in ("kprobe", "uprobe"):
            raise EbpfError(f"unknown probe kind {kind!r}")
        if not isinstance(maxactive, int) or maxactive < 0:
            raise EbpfError(f"maxactive must be an int >= 0, not {maxactive!r}")
        self._root = tracefs_root()
        self.kind = kind
        self.group = f"ebpf_{os.getpid()}"
        with _lock:
            n = next(_counter)
        base = re.sub(r"[^A-Za-z0-9_]", "_", what or target)[:48]
        self.name = f"{kind[0]}{'r' if retprobe else ''}_{n}_{base}"
        letter = "r" if retprobe else "p"
        if retprobe and maxactive:
            letter += str(maxactive)
        line = f"{letter}:{self.group}/{self.name} {target}\n"
        self._write(line, f"create {kind} event for {target!r}")
        try:
            self.id = event_id(self.group, self.name)
        except BaseException:
            self.remove()
            raise

    def _write(self, line: str, action: str) -> None:
        path = os.path.join(self._root, f"{self.kind}_events")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NotSupportedError(f"{action}: the kernel has no {self.kind} events "
                                    f"({path} is missing)") from None
        except OSError as e:
            raise EbpfError(f"{action}: cannot open {path}: {e.strerror}") from e
        try:
            os.write(fd, line.encode())
        except OSError as e:
            raise EbpfError(f"{action}: the kernel refused {line.strip()!r} "
                            f"({e.strerror}; see {os.path.join(self._root, 'error_log')})"
                            ) from e
        finally:
            os.close(fd)

    def remove(self) -> None:
        """Remove the event. An event that is gone already is not an error."""
        try:
            self._write(f"-:{self.group}/{self.name}\n", f"remove {self.kind} event")
        except EbpfError:
            if os.path.isdir(os.path.join(self._root, "events", self.group, self.name)):
                raise

    def __repr__(self) -> str:
        return f"<ProbeEvent {self.kind} {self.group}/{self.name}>"
