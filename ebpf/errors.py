"""The exception hierarchy of the library.

Everything the library raises on purpose derives from :class:`EbpfError`. Errors that the
kernel reported keep the errno: :class:`SyscallError` is also an :class:`OSError`, and the
more specific classes (:class:`KeyNotFoundError`, :class:`KeyExistsError`) derive from it.
"""

from __future__ import annotations

import errno as _errno
import os
from collections.abc import Iterable, Sequence
from typing import SupportsIndex

__all__ = [
    "BTFError",
    "BusyError",
    "COREError",
    "ClosedError",
    "ELFError",
    "EbpfError",
    "KeyExistsError",
    "KeyNotFoundError",
    "MarshalError",
    "NetlinkError",
    "NotSupportedError",
    "SyscallError",
    "UnsupportedFeatureError",
    "VerifierError",
]


class EbpfError(Exception):
    """Base class of every error the library raises on purpose."""


def located(message: str, *where: str | None) -> str:
    """``message`` prefixed with the non-empty location parts, e.g. ``"section '.text',
    offset 0x18: bad relocation"``. For the errors that say where in their input they
    happened."""
    parts = [w for w in where if w]
    return f"{', '.join(parts)}: {message}" if parts else message


# Errno values the kernel uses internally that leak to user space through bpf(2); libc has no
# name or text for them.
_KERNEL_ERRNOS = {
    524: ("ENOTSUPP", "Operation not supported by this kernel"),
    525: ("ETOOSMALL", "Buffer too small"),
}


class SyscallError(EbpfError, OSError):
    """A system call failed; ``errno`` and ``strerror`` say why.

    Attributes:
        errno: the kernel's error number.
        strerror: the text for ``errno``.
        cmd: the name of the ``bpf(2)`` command (or other system call) that failed.
        context: what the library was doing, e.g. ``"update map 'counts'"``.
    """

    cmd: str
    context: str

    def __init__(self, err: int, cmd: str, context: str = "") -> None:
        text = _KERNEL_ERRNOS[err][1] if err in _KERNEL_ERRNOS else os.strerror(err)
        OSError.__init__(self, err, text)
        self.cmd = cmd
        self.context = context

    def __str__(self) -> str:
        err = self.errno or 0
        name = _KERNEL_ERRNOS[err][0] if err in _KERNEL_ERRNOS else _errno.errorcode.get(
            err, str(err))
        where = f"{self.context}: " if self.context else ""
        return f"{where}{self.cmd}: {self.strerror} ({name})"

    def __reduce__(self) -> tuple[type[SyscallError], tuple[int, str, str]]:
        return (type(self), (self.errno or 0, self.cmd, self.context))


class KeyNotFoundError(SyscallError, KeyError):
    """The key is not in the map (the kernel said ``ENOENT``). Also a :class:`KeyError`."""

    def __init__(self, err: int = _errno.ENOENT, cmd: str = "BPF_MAP_LOOKUP_ELEM",
                 context: str = "") -> None:
        super().__init__(err, cmd, context)


class KeyExistsError(SyscallError):
    """The key is already in the map and the update asked for ``NOEXIST`` (``EEXIST``)."""

    def __init__(self, err: int = _errno.EEXIST, cmd: str = "BPF_MAP_UPDATE_ELEM",
                 context: str = "") -> None:
        super().__init__(err, cmd, context)


class NetlinkError(SyscallError):
    """A netlink request failed: ``errno`` says why, ``extack`` is the kernel's own explanation.

    Attributes:
        extack: the message of the kernel's extended acknowledgement, or ``""`` if it sent none.
    """

    extack: str

    def __init__(self, err: int, cmd: str, context: str = "", extack: str = "") -> None:
        super().__init__(err, cmd, context)
        self.extack = extack

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text}: {self.extack}" if self.extack else text

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[type[NetlinkError],
                                                              tuple[int, str, str, str]]:
        return (type(self), (self.errno or 0, self.cmd, self.context, self.extack))


class NotSupportedError(EbpfError):
    """The running kernel lacks what was asked for (too old, or compiled out)."""


class UnsupportedFeatureError(NotSupportedError):
    """A named kernel feature is missing.

    Attributes:
        feature: what is missing, e.g. ``"BPF_MAP_TYPE_RINGBUF"``.
        min_version: the first kernel version that has it, e.g. ``"5.8"``, if known.
    """

    feature: str
    min_version: str | None

    def __init__(self, feature: str, min_version: str | None = None, detail: str = "") -> None:
        self.feature = feature
        self.min_version = min_version
        msg = f"{feature} is not supported by this kernel"
        if min_version:
            msg += f" (requires Linux {min_version})"
        if detail:
            msg += f": {detail}"
        super().__init__(msg)


class BusyError(EbpfError, RuntimeError):
    """An event reader or writer was used by two callers at once (two threads reading, a read
    while a batch is still open). Serialise the callers; nothing was read or written."""


class ClosedError(EbpfError, ValueError):
    """The object was used after ``close()``."""


class MarshalError(EbpfError, ValueError):
    """A key or value cannot be turned into the bytes the map expects.

    (Defined here and re-exported by :mod:`ebpf.marshal`, so that code which only raises it,
    such as the variables of a spec, need not import the marshalling code and ``ctypes``.)
    """


class ELFError(EbpfError):
    """An object file is malformed or uses something the library does not support.

    Attributes:
        section: the ELF section concerned, if known.
        offset: the byte offset within that section, if known.
    """

    section: str | None
    offset: int | None

    def __init__(self, message: str, *, section: str | None = None,
                 offset: int | None = None) -> None:
        self.section = section
        self.offset = offset
        super().__init__(located(message,
                                 None if section is None else f"section {section!r}",
                                 None if offset is None else f"offset {offset:#x}"))


class BTFError(EbpfError):
    """BTF type information is malformed or unsupported.

    Attributes:
        type_id: the BTF type id concerned, if known.
        offset: the byte offset in the blob, if known.
    """

    type_id: int | None
    offset: int | None

    def __init__(self, message: str, *, type_id: int | None = None,
                 offset: int | None = None) -> None:
        self.type_id = type_id
        self.offset = offset
        super().__init__(located(message,
                                 None if type_id is None else f"type id {type_id}",
                                 None if offset is None else f"offset {offset:#x}"))


class COREError(EbpfError):
    """A CO-RE relocation could not be applied."""


class VerifierError(EbpfError):
    """The kernel's verifier rejected a program.

    ``str()`` gives a short summary: what was loaded and the lines of the log that say why.
    The whole log is kept in :attr:`log`; :meth:`format_log` prints it.

    Attributes:
        log: every line of the verifier log.
        truncated: True if the kernel had more log than the buffer could hold.
        errno: the errno of the failed load (also in ``__cause__``).
    """

    log: tuple[str, ...]
    truncated: bool
    errno: int

    def __init__(self, context: str, log: Iterable[str], *, err: int = 0,
                 truncated: bool = False) -> None:
        self.context = context
        self.log = tuple(log)
        self.truncated = truncated
        self.errno = err
        super().__init__(self._summary())

    def _summary(self) -> str:
        name = _errno.errorcode.get(self.errno, str(self.errno)) if self.errno else ""
        head = f"{self.context}: verifier rejected the program"
        if name:
            head += f" ({name})"
        lines = _interesting_lines(self.log)
        if not lines:
            return head
        body = "\n".join(f"    {line}" for line in lines)
        more = "\n    (log truncated)" if self.truncated else ""
        return f"{head}:\n{body}{more}"

    def __str__(self) -> str:
        return self._summary()

    def format_log(self, *, head: int | None = None, tail: int | None = None) -> str:
        """The verifier log as text, optionally only the first ``head`` / last ``tail`` lines."""
        lines: Sequence[str] = self.log
        if head is not None or tail is not None:
            first = list(lines[:head]) if head else []
            last = list(lines[-tail:]) if tail else []
            skipped = len(lines) - len(first) - len(last)
            if skipped > 0:
                lines = [*first, f"... ({skipped} lines) ...", *last]
        return "\n".join(lines)


def _interesting_lines(log: Sequence[str], limit: int = 6) -> list[str]:
    """The lines of a verifier log that say why it failed: the last instructions and error."""
    lines = [line for line in log if line.strip()]
    # Drop the closing statistics, which say nothing about the cause.
    while lines and (lines[-1].startswith("processed ") or lines[-1].startswith("verification time")
                     or lines[-1].startswith("stack depth")):
        lines.pop()
    return lines[-limit:]
