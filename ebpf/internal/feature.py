"""Memoised "does this kernel have X" probes.

A probe is a function that returns ``None`` when the feature is present and raises
:class:`~ebpf.errors.NotSupportedError` when it is absent. Any other exception means the probe
could not decide (no privileges, out of memory...): it propagates and is not cached, so a later
call probes again. Only conclusive answers are remembered.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

from ..errors import NotSupportedError, UnsupportedFeatureError

__all__ = ["feature_test"]


def _detached(err: NotSupportedError) -> NotSupportedError:
    """``err`` without its traceback (and its cause's and context's): a cached exception must
    not keep the frames of the probe's first caller, and their locals, alive."""
    seen: NotSupportedError | BaseException | None = err
    while seen is not None and seen.__traceback__ is not None:
        seen.__traceback__ = None
        seen = seen.__cause__ or seen.__context__
    return err


def _fresh(cached: NotSupportedError) -> NotSupportedError:
    """A new exception equal to ``cached``, to raise. Raising the cached one itself would
    grow its traceback with every caller's frames and keep them (and their locals: the
    objects a caller made) alive for as long as the process runs."""
    err = type(cached).__new__(type(cached))
    err.args = cached.args
    err.__dict__.update(cached.__dict__)
    err.__cause__ = cached.__cause__
    return err


def feature_test(name: str, min_version: str | None = None
                 ) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Decorate a probe so that its conclusive result is cached.

    The decorated function returns ``None`` if the feature is present and raises
    :class:`UnsupportedFeatureError` (naming ``name`` and ``min_version``) if not.
    """

    def wrap(probe: Callable[[], None]) -> Callable[[], None]:
        lock = threading.Lock()
        result: list[NotSupportedError | None] = []

        @functools.wraps(probe)
        def run() -> None:
            with lock:
                if not result:
                    try:
                        probe()
                    except UnsupportedFeatureError as e:
                        result.append(_detached(e))
                    except NotSupportedError as e:
                        err = UnsupportedFeatureError(name, min_version, str(e))
                        err.__cause__ = _detached(e)
                        result.append(err)
                    else:
                        result.append(None)
                outcome = result[0]
            if outcome is not None:
                raise _fresh(outcome)

        return run

    return wrap
