"""Run-time stand-ins for the two decorators of :mod:`typing` that loading a collection uses.

Importing :mod:`typing` costs about 9 ms in a fresh interpreter (it imports :mod:`re`,
:mod:`contextlib` and more), as much as half of what libbpf takes for a whole load. So the
modules that reading and loading an object import use :mod:`typing` for type checkers only::

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from typing import Final, final, overload
    else:
        from .internal.static_typing import final, overload

(Type checkers treat any ``TYPE_CHECKING`` as true, and ``from __future__ import annotations``
keeps annotations unevaluated.) ``tests/unit/test_import_cost.py`` checks that the load path
stays free of :mod:`typing`.

At run time both return what they decorate. :func:`typing.final` would only set
``__final__``, and :func:`typing.overload` would only record the signature for
:func:`typing.get_overloads`; the implementation that follows the overloads replaces them
either way.
"""

from __future__ import annotations

__all__ = ["final", "overload"]


def final(obj: object) -> object:
    """:func:`typing.final` for type checkers; nothing at run time."""
    return obj


def overload(func: object) -> object:
    """:func:`typing.overload` for type checkers; nothing at run time."""
    return func
