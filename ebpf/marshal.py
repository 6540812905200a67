"""Turning map keys and values into the bytes the kernel wants, and back.

Accepted inputs, checked against the size the map expects:

* bytes-like objects (``bytes``, ``bytearray``, ``memoryview``, ``array``) of exactly that size;
* ``int`` for sizes 1, 2, 4 and 8 (and any other size), in the map's byte order, two's
  complement for negative numbers;
* ctypes structures, unions and arrays of exactly that size;
* any object with ``__bytes__`` (the :class:`Marshaler` protocol).

Anything else raises :class:`MarshalError` naming the map and what was wrong.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any, Protocol, runtime_checkable

from .errors import MarshalError as MarshalError

__all__ = ["Marshaler", "MarshalError", "encode", "round_up"]


@runtime_checkable
class Marshaler(Protocol):
    """An object that knows its own byte representation."""

    def __bytes__(self) -> bytes: ...


def round_up(n: int, align: int) -> int:
    return (n + align - 1) // align * align


def encode(value: Any, size: int, what: str, byteorder: str = sys.byteorder) -> bytes:
    """The ``size`` bytes for ``value``; ``what`` names it in errors (e.g. "key of map 'x'")."""
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, int) and not isinstance(value, bool):
        if size == 0:
            raise MarshalError(f"{what}: the map takes no {_noun(what)} (size 0), got {value!r}")
        bits = size * 8
        if not -(1 << (bits - 1)) <= value < (1 << bits):
            raise MarshalError(f"{what}: {value} does not fit in {size} bytes")
        return (value & ((1 << bits) - 1)).to_bytes(size, byteorder)  # type: ignore[arg-type]
    elif isinstance(value, bool):
        raise MarshalError(f"{what}: bool is ambiguous; pass an int or bytes")
    elif isinstance(value, (bytearray, memoryview, ctypes.Structure, ctypes.Union,
                            ctypes.Array)):
        data = bytes(value)
    elif isinstance(value, (str, float)) or value is None:
        raise MarshalError(
            f"{what}: cannot use {type(value).__name__} {value!r}; pass bytes, an int, "
            f"a ctypes structure, or an object with __bytes__")
    else:
        try:
            data = bytes(memoryview(value))
        except TypeError:
            if getattr(value, "__bytes__", None) is not None:  # the Marshaler protocol
                data = bytes(value)
            else:
                raise MarshalError(
                    f"{what}: cannot marshal {type(value).__name__}; pass bytes, an int, "
                    f"a ctypes structure, or an object with __bytes__") from None
    if len(data) != size:
        raise MarshalError(f"{what}: expected {size} bytes, got {len(data)}")
    return data


def _noun(what: str) -> str:
    return what.split(" ", 1)[0]
