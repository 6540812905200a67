"""Small conveniences over the probes."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec

from ..errors import NotSupportedError

__all__ = ["is_supported"]

_P = ParamSpec("_P")


def is_supported(probe: Callable[_P, object], /, *args: _P.args, **kwargs: _P.kwargs) -> bool:
    """``probe(*args, **kwargs)`` as a bool: False if it raises ``NotSupportedError``.

    For code with a fallback: ``if is_supported(have_link_type, LinkType.XDP): ... else: ...``.
    An inconclusive probe's error (``EPERM`` and the like) propagates: it is no answer.
    """
    try:
        probe(*args, **kwargs)
    except NotSupportedError:
        return False
    return True
