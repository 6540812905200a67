"""Building the library's ``IntEnum`` and ``IntFlag`` classes quickly at import.

A class statement with ``enum.IntEnum`` as its base runs the enum metaclass's checks for every
member (about 25 microseconds each on CPython 3.11), and the library defines several hundred
members. On Python 3.11 and later, ``enum._simple_enum`` builds the same classes from a plain
class body in well under half the time; CPython uses it for its own enums (``re.RegexFlag``,
``http.HTTPStatus``). This module lets a definition read as an ordinary enum::

    @enum_class
    class MapType(IntEnum):
        HASH = 1

To type checkers ``IntEnum``/``IntFlag`` here are the ``enum`` classes and ``enum_class`` does
nothing. At run time they are plain marker bases, and ``enum_class`` turns the class into the
real ``enum.IntEnum``/``enum.IntFlag`` subclass: with ``enum._simple_enum`` where Python has it,
else by running the enum metaclass over the same body, which is what the class statement would
have done. Either way the result is an ordinary enum (same members, aliases, methods, ``repr``,
pickling); ``tests/unit/test_enums.py`` checks each one against a class-statement build.

Supported bodies: members with plain int values, aliases, methods, properties, classmethods
and docstrings. Not ``auto()``, ``_missing_``/``_generate_next_value_`` or ``__init_subclass__``.
"""

from __future__ import annotations

import enum

__all__ = ["IntEnum", "IntFlag", "enum_class", "member_or_int"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from enum import IntEnum as IntEnum, IntFlag as IntFlag
    from typing import Any, TypeVar

    _C = TypeVar("_C")
    _E = TypeVar("_E", bound=enum.IntEnum)

    def enum_class(cls: _C) -> _C:
        """Build the enum class that ``cls`` describes."""
        return cls

else:
    class IntEnum:
        """Marker base: :func:`enum_class` makes the class an :class:`enum.IntEnum`."""

        __slots__ = ()
        _enum_base_ = enum.IntEnum

    class IntFlag:
        """Marker base: :func:`enum_class` makes the class an :class:`enum.IntFlag`."""

        __slots__ = ()
        _enum_base_ = enum.IntFlag

    _simple_enum: Any = getattr(enum, "_simple_enum", None)

    def enum_class(cls: type) -> type:
        """Build the enum class that ``cls`` (a subclass of a marker base) describes."""
        base = cls._enum_base_
        if _simple_enum is not None:
            return _simple_enum(base)(cls)
        return _by_metaclass(cls, base)

    def _by_metaclass(cls: type, base: type) -> type:
        # What `class X(base): <body>` does: fill the enum's namespace in definition order.
        meta = type(base)
        body = meta.__prepare__(cls.__name__, (base,))
        for name, value in cls.__dict__.items():
            if name not in ("__dict__", "__weakref__", "__slots__"):
                body[name] = value
        return meta(cls.__name__, (base,), body)


def member_or_int(cls: type[_E], value: int) -> _E | int:
    """The member of ``cls`` with ``value``, or ``value`` itself if ``cls`` has none.

    For numbers the kernel reports: a newer kernel may know values this library does not.
    """
    try:
        return cls(value)
    except ValueError:
        return value
