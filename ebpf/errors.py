"""The exception hierarchy of the library.

Everything the library raises on purpose derives from :class:`EbpfError`. Errors that the
kernel reported keep the errno: :class:`SyscallError` is also an :class:`OSError`, and the
more specific classes (:class:`KeyNotFoundError`, :class:`KeyExistsError`) derive from it.

Resolving a user-space target of a uprobe or USDT probe (a binary, a function in it, a probe)
raises :class:`TargetNotFoundError`, :class:`SymbolNotFoundError`,
:class:`AmbiguousSymbolError`, :class:`IndirectFunctionError`, :class:`USDTNotFoundError`,
:class:`USDTArgumentError` or :class:`LdCacheError`; each is also the built-in exception a
caller who does not know the library would catch (``FileNotFoundError``, ``LookupError``,
``ValueError``).
"""

from __future__ import annotations

import errno as _errno
import os
from collections.abc import Iterable, Sequence
from typing import SupportsIndex

__all__ = [
    "AmbiguousSymbolError",
    "BTFError",
    "BusyError",
    "COREError",
    "ClosedError",
    "ELFError",
    "EbpfError",
    "IndirectFunctionError",
    "KeyExistsError",
    "KeyNotFoundError",
    "LdCacheError",
    "MarshalError",
    "NetlinkError",
    "NotSupportedError",
    "SymbolNotFoundError",
    "SyscallError",
    "TargetNotFoundError",
    "USDTArgumentError",
    "USDTNotFoundError",
    "UnsupportedFeatureError",
    "VerifierError",
]


class EbpfError(Exception):
    """Base class of every error the library raises on purpose.

    Every error survives ``copy.copy``, ``copy.deepcopy`` and ``pickle`` with its message and
    its fields: a copy is rebuilt from ``args`` and the instance's attributes, without calling
    the constructor again (whose keyword-only fields ``args`` does not hold).
    """

    def __reduce__(self) -> tuple[object, ...]:
        return (_restore_error, (type(self), self.args), dict(self.__dict__) or None)


def _restore_error(cls: type[EbpfError], args: tuple[object, ...]) -> EbpfError:
    """An instance of ``cls`` with ``args``, its attributes to be restored by pickle's
    default ``__setstate__``; for :meth:`EbpfError.__reduce__`."""
    err = cls.__new__(cls)
    err.args = args
    return err


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

    def __reduce__(self) -> tuple[object, ...]:
        # errno and strerror live in OSError's own fields, which the constructor fills in.
        return (type(self), (self.errno or 0, self.cmd, self.context),
                dict(self.__dict__) or None)


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
        message: what is wrong, without the location.
        file: the file concerned, if the object was read from one.
        section: the ELF section concerned, if known.
        offset: the byte offset within that section, if known.
    """

    message: str
    file: str | None
    section: str | None
    offset: int | None

    def __init__(self, message: str, *, section: str | None = None,
                 offset: int | None = None, file: str | None = None) -> None:
        self.message = message
        self.file = file
        self.section = section
        self.offset = offset
        super().__init__(self._located())

    def _located(self) -> str:
        return located(self.message,
                       None if self.file is None else f"file {self.file!r}",
                       None if self.section is None else f"section {self.section!r}",
                       None if self.offset is None else f"offset {self.offset:#x}")

    def name_file(self, file: str) -> None:
        """Name ``file`` as the object file this error is about, unless one is named already
        (for readers that know the file only above the code that found the problem)."""
        if self.file is None:
            self.file = file
            self.args = (self._located(), *self.args[1:])


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


# --- resolving user-space targets (uprobes, USDT) ------------------------------------------
#
# The errors below are raised for well-formed input that does not contain what was asked for:
# a binary, a function in it, a USDT probe (malformed files raise ELFError). Each also derives
# from the built-in exception a caller who does not know the library would catch
# (FileNotFoundError, LookupError, ValueError).


def _listing(items: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    if len(items) > limit:
        shown += f", ... ({len(items) - limit} more)"
    return shown


class TargetNotFoundError(EbpfError, FileNotFoundError):
    """No binary or library of that name was found.

    Attributes:
        target: what was looked for, as given.
        searched: where it was looked for (directories, ``/etc/ld.so.cache``, ``PATH`` ...),
            in search order.
        detail: what kind of target it was taken for, or why it was not found.
    """

    target: str
    searched: tuple[str, ...]
    detail: str

    def __init__(self, target: str, searched: Sequence[str] = (), detail: str = "") -> None:
        self.target = target
        self.searched = tuple(searched)
        self.detail = detail
        msg = f"{target!r} not found"
        if detail:
            msg += f" ({detail})"
        if self.searched:
            msg += "; searched: " + "; ".join(self.searched)
        self._message = msg
        FileNotFoundError.__init__(self, _errno.ENOENT, msg)

    def __str__(self) -> str:
        return self._message

    def __reduce__(self) -> tuple[type[TargetNotFoundError], tuple[object, ...]]:
        return (type(self), (self.target, self.searched, self.detail))


class SymbolNotFoundError(EbpfError, LookupError):
    """A binary has no function of that name.

    Attributes:
        path: the binary searched.
        symbols: the names not found (one, or several for a batch lookup).
        close_matches: names in the binary that look like the first missing one.
        where: the symbol tables searched, for the message.
    """

    path: str
    symbols: tuple[str, ...]
    close_matches: tuple[str, ...]
    where: str

    def __init__(self, path: str, symbols: Sequence[str],
                 close_matches: Sequence[str] = (), where: str = "") -> None:
        self.where = where
        self.path = path
        self.symbols = tuple(symbols)
        self.close_matches = tuple(close_matches)
        if len(self.symbols) == 1:
            msg = f"function {self.symbols[0]!r} not found in {path!r}"
        else:
            msg = (f"{len(self.symbols)} functions not found in {path!r}: "
                   f"{_listing([repr(s) for s in self.symbols])}")
        if where:
            msg += f" (searched {where})"
        if self.close_matches:
            msg += f"; did you mean {_listing([repr(s) for s in self.close_matches], 5)}?"
        super().__init__(msg)

    def __reduce__(self) -> tuple[type[SymbolNotFoundError], tuple[object, ...]]:
        return (type(self), (self.path, self.symbols, self.close_matches, self.where))


class AmbiguousSymbolError(EbpfError, LookupError):
    """Several functions of that name live at different addresses, none preferred.

    Attributes:
        path: the binary searched.
        symbol: the name asked for.
        candidates: one line per candidate: name, address, binding, symbol table.
    """

    path: str
    symbol: str
    candidates: tuple[str, ...]

    def __init__(self, path: str, symbol: str, candidates: Sequence[str]) -> None:
        self.path = path
        self.symbol = symbol
        self.candidates = tuple(candidates)
        super().__init__(f"{symbol!r} is ambiguous in {path!r}: {len(self.candidates)} "
                         f"functions at different addresses ({'; '.join(self.candidates)}); "
                         "give a versioned name (name@VERSION), an address, or an offset")

    def __reduce__(self) -> tuple[type[AmbiguousSymbolError], tuple[object, ...]]:
        return (type(self), (self.path, self.symbol, self.candidates))


class IndirectFunctionError(EbpfError, LookupError):
    """The symbol is a GNU indirect function (``STT_GNU_IFUNC``).

    Its address is that of a resolver, run by the dynamic loader, that returns the function
    which actually runs (``memcpy`` picks ``__memcpy_avx_unaligned_erms`` and so on). A probe
    on the resolver fires once per process at load time, never on calls, so this is refused.

    Attributes:
        path: the binary.
        symbol: the name asked for.
        implementations: functions of the binary whose names suggest they implement it
            (a guess from the names, for the message).
    """

    path: str
    symbol: str
    implementations: tuple[str, ...]

    def __init__(self, path: str, symbol: str, implementations: Sequence[str] = ()) -> None:
        self.path = path
        self.symbol = symbol
        self.implementations = tuple(implementations)
        msg = (f"{symbol!r} in {path!r} is an indirect function (STT_GNU_IFUNC): its address is "
               "the resolver the dynamic loader calls once, not the code that runs; probe the "
               "implementation instead")
        if self.implementations:
            msg += f" (candidates: {_listing(list(self.implementations), 6)})"
        super().__init__(msg)

    def __reduce__(self) -> tuple[type[IndirectFunctionError], tuple[object, ...]]:
        return (type(self), (self.path, self.symbol, self.implementations))


class USDTNotFoundError(EbpfError, LookupError):
    """A binary has no USDT probe ``provider:name``.

    Attributes:
        path: the binary searched.
        provider, name: what was asked for.
        available: the ``provider:name`` pairs the binary does have.
    """

    path: str
    provider: str
    name: str
    available: tuple[str, ...]

    def __init__(self, path: str, provider: str, name: str,
                 available: Sequence[str] = ()) -> None:
        self.path = path
        self.provider = provider
        self.name = name
        self.available = tuple(available)
        if self.available:
            have = f"it has {_listing(list(self.available), 10)}"
        else:
            have = "it has no USDT probes (no .note.stapsdt section)"
        super().__init__(f"USDT probe {provider}:{name} not found in {path!r}; {have}")

    def __reduce__(self) -> tuple[type[USDTNotFoundError], tuple[object, ...]]:
        return (type(self), (self.path, self.provider, self.name, self.available))


class USDTArgumentError(EbpfError, ValueError):
    """A USDT argument specification cannot be expressed for ``usdt.bpf.h``.

    Attributes:
        probe: ``provider:name`` (and the site's address) the argument belongs to.
        index: the argument's position (0-based).
        text: the argument's text, e.g. ``-4@%edi``.
        reason: why it is refused.
    """

    probe: str
    index: int
    text: str
    reason: str

    def __init__(self, probe: str, index: int, text: str, reason: str) -> None:
        self.probe = probe
        self.index = index
        self.text = text
        self.reason = reason
        where = f"USDT probe {probe}, " if probe else ""
        super().__init__(f"{where}argument #{index} {text!r}: {reason}")

    def __reduce__(self) -> tuple[type[USDTArgumentError], tuple[object, ...]]:
        return (type(self), (self.probe, self.index, self.text, self.reason))


class LdCacheError(EbpfError, ValueError):
    """``/etc/ld.so.cache`` (or the bytes given as one) is malformed.

    Attributes:
        path: the file, if the data came from one.
        offset: the byte offset concerned, if known.
    """

    message: str
    path: str
    offset: int | None

    def __init__(self, message: str, *, path: str = "", offset: int | None = None) -> None:
        self.message = message
        self.path = path
        self.offset = offset
        where = ", ".join(p for p in (repr(path) if path else "",
                                      f"offset {offset:#x}" if offset is not None else "") if p)
        super().__init__(f"{where}: {message}" if where else message)

    def __reduce__(self) -> tuple[object, ...]:
        return (_make_ld_cache_error, (self.message, self.path, self.offset))


def _make_ld_cache_error(message: str, path: str, offset: int | None) -> LdCacheError:
    return LdCacheError(message, path=path, offset=offset)
