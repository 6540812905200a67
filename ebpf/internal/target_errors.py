"""The errors of resolving a user-space target: a binary, a symbol in it, a USDT probe.

Malformed files raise :class:`~ebpf.errors.ELFError` (naming the file, section and offset);
the classes here are for well-formed input that does not contain what was asked for. Each
derives from :class:`~ebpf.errors.EbpfError` and from the built-in exception a caller who
does not know the library would catch (``FileNotFoundError``, ``LookupError``,
``ValueError``).

They live under ``ebpf.internal`` until the uprobe/USDT attach code gives them a public home
(``ebpf.errors``); callers should catch them by those public bases.
"""

from __future__ import annotations

import errno as _errno
from collections.abc import Sequence

from ..errors import EbpfError

__all__ = [
    "AmbiguousSymbolError",
    "IndirectFunctionError",
    "LdCacheError",
    "SymbolNotFoundError",
    "TargetNotFoundError",
    "USDTArgumentError",
    "USDTNotFoundError",
]


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
