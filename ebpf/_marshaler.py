"""The :class:`Marshaler` protocol, re-exported by :mod:`ebpf.marshal`.

It lives apart because a ``Protocol`` class needs :mod:`typing` at run time, which maps (and so
loading a collection) do not otherwise import (see :mod:`ebpf.internal.static_typing`);
:mod:`ebpf.marshal` imports this module on first use of the name.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Marshaler"]


@runtime_checkable
class Marshaler(Protocol):
    """An object that knows its own byte representation."""

    def __bytes__(self) -> bytes: ...
