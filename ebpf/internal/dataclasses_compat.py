"""The :mod:`dataclasses` API for modules that use it on both kinds of class: the library's own
(:mod:`ebpf.internal.record`) and their users' dataclasses.

:func:`replace`, :func:`fields` and :func:`is_dataclass` handle record classes without importing
:mod:`dataclasses`, and pass anything else to it; every other name (``field``, ``asdict``,
``MISSING`` ...) is the standard library's, imported on first use. A module that wants this
imports it under the standard name only at run time::

    if TYPE_CHECKING:
        import dataclasses
    else:
        from .internal import dataclasses_compat as dataclasses
"""

from __future__ import annotations

from .record import fields as fields, replace as replace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["fields", "is_dataclass", "replace"]


def is_dataclass(obj: object) -> bool:
    """True for a dataclass or an instance of one, as :func:`dataclasses.is_dataclass`."""
    cls = obj if isinstance(obj, type) else type(obj)
    return hasattr(cls, "__dataclass_fields__")


def __getattr__(name: str) -> Any:
    import dataclasses

    return getattr(dataclasses, name)
