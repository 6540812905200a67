"""``FD``: the single owner of one file descriptor."""

from __future__ import annotations

import os
import threading
import warnings
import weakref
from types import TracebackType

from ...errors import ClosedError

__all__ = ["FD"]


def _close_leaked(raw: int, what: str) -> None:
    warnings.warn(f"{what} (fd {raw}) was not closed; closing it now", ResourceWarning,
                  stacklevel=2)
    try:  # noqa: SIM105 (no contextlib on the load path)
        os.close(raw)
    except OSError:
        pass


class FD:
    """Owns one file descriptor.

    ``close()`` is idempotent and throws the number away, so a number the kernel later reuses is
    never touched by this object. A descriptor that is garbage-collected while still open is
    closed with a :class:`ResourceWarning`: that is a safety net, not a way to manage lifetime.

    Descriptor 0 is moved to a higher number on adoption, because the BPF UAPI reads fd 0 as
    "no fd". Every descriptor made here is close-on-exec.
    """

    __slots__ = ("__weakref__", "_finalizer", "_lock", "_raw", "what")

    def __init__(self, raw: int, what: str = "bpf object") -> None:
        """Take ownership of ``raw``."""
        if raw < 0:
            raise ValueError(f"invalid file descriptor {raw}")
        if raw == 0:
            import fcntl  # rare here, and fcntl costs time to import

            moved = fcntl.fcntl(raw, fcntl.F_DUPFD_CLOEXEC, 1)
            os.close(raw)
            raw = moved
        self._raw = raw
        self.what = what
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _close_leaked, raw, what)

    @property
    def raw(self) -> int:
        """The descriptor number, lent for the duration of a call.

        Raises:
            ClosedError: the descriptor was closed.
        """
        raw = self._raw
        if raw < 0:
            raise ClosedError(f"{self.what} is closed")
        return raw

    def fileno(self) -> int:
        """Same as :attr:`raw`, so an ``FD`` works with ``select`` and ``os`` functions."""
        return self.raw

    @property
    def closed(self) -> bool:
        return self._raw < 0

    def close(self) -> None:
        """Close the descriptor. Calling it again does nothing."""
        with self._lock:
            raw, self._raw = self._raw, -1
            if raw < 0:
                return
            self._finalizer.detach()
        os.close(raw)

    def detach(self) -> int:
        """Give up ownership and return the raw number; the caller must close it."""
        with self._lock:
            raw, self._raw = self._raw, -1
            if raw < 0:
                raise ClosedError(f"{self.what} is closed")
            self._finalizer.detach()
        return raw

    def dup(self) -> FD:
        """A new ``FD`` owning a duplicate (close-on-exec) of this descriptor."""
        import fcntl

        return FD(fcntl.fcntl(self.raw, fcntl.F_DUPFD_CLOEXEC, 1), self.what)

    def __enter__(self) -> FD:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FD({self._raw})" if self._raw >= 0 else "FD(closed)"
