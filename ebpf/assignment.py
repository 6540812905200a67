"""Assigning loaded objects, or specs, to the fields of a dataclass.

Instead of looking objects up by name, a program declares what it needs as fields::

    @dataclass
    class Objects(ebpf.Objects):
        count: ebpf.Program = ebpf.field("count_packets")
        stats: Annotated[ebpf.Map, ebpf.Name("stats")] = None

    with ebpf.load_and_assign(spec, Objects()) as objs:      # or spec.load_and_assign(...)
        ...

A field names its object with :func:`field` or an ``Annotated[..., Name(...)]`` annotation, or by
its own name; its annotated class says what kind of object it takes: :class:`~ebpf.Map`,
:class:`~ebpf.Program` or :class:`~ebpf.Variable` after loading, :class:`~ebpf.MapSpec`,
:class:`~ebpf.ProgramSpec` or :class:`~ebpf.VariableSpec` before. Nested dataclasses are filled
too. Assignment is all or nothing: a missing name, a name used twice or a field of the wrong
kind raises before any field is set.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .errors import EbpfError
from .map import Map
from .program import Program
from .specs import CollectionSpec, MapSpec, ProgramSpec
from .variables import Variable, VariableSpec

if TYPE_CHECKING:
    from typing_extensions import Self

    from .collection import Collection

__all__ = ["OBJECT_KINDS", "SPEC_KINDS", "Name", "Objects", "assign", "assign_from", "field",
           "wanted"]

T = TypeVar("T")
Kind = Literal["map", "program", "variable"]


class Name:
    """Marks the object a field receives: ``Annotated[ebpf.Program, ebpf.Name("xdp_prog")]``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError("Name() takes a non-empty str")
        self.name = name

    def __repr__(self) -> str:
        return f"Name({self.name!r})"


_METADATA_KEY = "ebpf.name"


def field(name: str | None = None, **kwargs: Any) -> Any:
    """A dataclass field that receives the object called ``name`` (default: the field's name).

    Other keyword arguments go to :func:`dataclasses.field`; the default is None.
    """
    metadata = dict(kwargs.pop("metadata", None) or {})
    metadata[_METADATA_KEY] = name
    if "default" not in kwargs and "default_factory" not in kwargs:
        kwargs["default"] = None
    return dataclasses.field(metadata=metadata, **kwargs)


class Objects:
    """Base class for dataclasses that receive loaded objects: gives ``close()`` and ``with``.

    ``close()`` closes every :class:`~ebpf.Map` and :class:`~ebpf.Program` in the fields,
    nested dataclasses included.
    """

    def close(self) -> None:
        _close_fields(self, set())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _close_fields(obj: object, seen: set[int]) -> None:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name, None)
        if isinstance(value, (Map, Program)):
            value.close()
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            _close_fields(value, seen)


# Loaded variables read through their collection's maps, so they are not handed out (yet).
OBJECT_KINDS: dict[type, Kind] = {Map: "map", Program: "program"}
SPEC_KINDS: dict[type, Kind] = {MapSpec: "map", ProgramSpec: "program",
                                 VariableSpec: "variable"}


def _unwrap(hint: Any) -> tuple[Any, str | None]:
    """The class in a field annotation and the name from an ``ebpf.Name``, if any."""
    name = None
    if typing.get_origin(hint) is typing.Annotated:
        args = typing.get_args(hint)
        hint = args[0]
        for meta in args[1:]:
            if isinstance(meta, Name):
                name = meta.name
    origin = typing.get_origin(hint)
    if origin is typing.Union or type(hint).__name__ == "UnionType":
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])[0], name
    return hint, name


def _fields(obj: object) -> Iterator[tuple[str, Any, str | None]]:
    """(attribute, annotated class, ELF name or None) for every field of a dataclass."""
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        raise EbpfError(f"assign: {type(obj).__name__} is not a dataclass instance")
    try:
        hints = typing.get_type_hints(type(obj), include_extras=True)
    except (NameError, TypeError, AttributeError, SyntaxError) as e:  # unresolvable annotations
        raise EbpfError(f"assign: cannot resolve the annotations of {type(obj).__name__}: "
                        f"{e}") from e
    for f in dataclasses.fields(obj):
        hint, name = _unwrap(hints.get(f.name, typing.Any))
        tagged = f.metadata.get(_METADATA_KEY, None) if _METADATA_KEY in f.metadata else None
        yield f.name, hint, tagged or name


def _walk(obj: object, kinds: Mapping[type, Kind], path: str
          ) -> Iterator[tuple[object, str, str, Kind, str]]:
    """(holder, attribute, path, kind, ELF name) for every field to fill, nested included."""
    for attr, hint, name in _fields(obj):
        where = f"{path}{attr}"
        known = isinstance(hint, type) and (hint in OBJECT_KINDS or hint in SPEC_KINDS)
        if not known and isinstance(hint, type) and dataclasses.is_dataclass(hint):
            inner = getattr(obj, attr, None)
            if inner is None:
                try:
                    inner = hint()
                except TypeError as e:
                    raise EbpfError(f"assign: field {where!r}: cannot create {hint.__name__}: "
                                    f"{e}") from e
                setattr(obj, attr, inner)
            yield from _walk(inner, kinds, where + ".")
            continue
        kind = kinds.get(hint) if isinstance(hint, type) else None
        if hint is Variable:
            # Not left None in silence: a loaded variable reads through its collection's maps.
            raise EbpfError(f"assign: field {where!r} has type Variable, which is not handed "
                            "out to dataclasses: read it through Collection.variables (or set "
                            "a VariableSpec before loading)")
        if kind is None:
            other = OBJECT_KINDS.get(hint) or SPEC_KINDS.get(hint)
            if other is not None or name is not None:
                expected = ", ".join(k.__name__ for k in kinds)
                raise EbpfError(f"assign: field {where!r} has type "
                                f"{getattr(hint, '__name__', hint)}, expected one of {expected}")
            continue  # an unrelated field
        yield obj, attr, where, kind, name or attr


def wanted(obj: object) -> list[tuple[Kind, str]]:
    """The ``(kind, name)`` of every loaded object the fields of ``obj`` ask for, each once.

    Raises:
        EbpfError: ``obj`` is not a dataclass instance, a field has the wrong kind, or two
            fields ask for the same object.
    """
    out: list[tuple[Kind, str]] = []
    seen: dict[tuple[Kind, str], str] = {}
    for _, _, where, kind, name in _walk(obj, OBJECT_KINDS, ""):
        key = (kind, name)
        if key in seen:
            raise EbpfError(f"assign: {kind} {name!r} is assigned twice (fields "
                            f"{seen[key]!r} and {where!r})")
        seen[key] = where
        out.append(key)
    return out


def assign_from(obj: object, kinds: Mapping[type, Kind], owner: str,
                tables: Mapping[Kind, Mapping[str, object]]) -> list[tuple[Kind, str]]:
    """Set the tagged fields of ``obj`` from ``tables`` (kind -> name -> object) of ``owner``
    (for messages), all or none; return the ``(kind, name)`` of each object assigned."""
    plan = list(_walk(obj, kinds, ""))
    seen: dict[tuple[Kind, str], str] = {}
    values = []
    for holder, attr, where, kind, name in plan:
        key = (kind, name)
        if key in seen:
            raise EbpfError(f"assign: {kind} {name!r} is assigned twice (fields "
                            f"{seen[key]!r} and {where!r})")
        seen[key] = where
        table = tables[kind]
        if name not in table:
            others = [k for k, t in tables.items() if k != kind and name in t]
            hint = f"; {name!r} is a {others[0]}" if others else ""
            listed = ", ".join(repr(n) for n in sorted(table)[:12]) or "none"
            raise EbpfError(f"assign: {owner} has no {kind} {name!r} (its {kind}s: "
                            f"{listed}){hint}")
        values.append((holder, attr, table[name]))
    for holder, attr, value in values:
        setattr(holder, attr, value)
    return list(seen)


def assign(source: CollectionSpec | Collection, obj: T) -> T:
    """Assign the specs of a :class:`~ebpf.CollectionSpec`, or move the maps and programs of a
    :class:`~ebpf.Collection`, to the tagged fields of ``obj``; return ``obj``.

    From a collection, ``obj`` then owns what it receives and the collection keeps (and
    closes) the rest; this is :meth:`Collection.assign <ebpf.Collection.assign>`.

    Raises:
        EbpfError: a name is missing, assigned twice or of the wrong kind (nothing is set).
    """
    if isinstance(source, CollectionSpec):
        assign_from(obj, SPEC_KINDS, "the spec",
                    {"map": source.maps, "program": source.programs,
                     "variable": source.variables})
        return obj
    return source.assign(obj)
