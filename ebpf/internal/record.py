"""``@dataclass`` for the library's own plain-data classes, without importing :mod:`dataclasses`.

Importing :mod:`dataclasses` imports :mod:`inspect` (about 12 ms), and each ``@dataclass``
compiles several methods from source (1 to 2 ms a class). The specs, options and records on the
path from ``import ebpf`` to a loaded collection are two dozen classes, so that was a large part
of the time to load a program. This module offers the same spelling::

    from .internal.record import dataclass, field

    @dataclass(frozen=True)
    class LineRecord:
        slot: int
        file_name: str = field(default="", repr=False)

To type checkers these names *are* :func:`dataclasses.dataclass`, :func:`dataclasses.field`,
:data:`dataclasses.KW_ONLY`, :func:`dataclasses.replace` and :func:`dataclasses.fields`, so the
classes are checked as dataclasses. At run time :func:`dataclass` builds the class itself, with
shared ``__init__``, ``__repr__``, ``__eq__``, ``__hash__`` and frozen ``__setattr__`` that
behave as the dataclass ones do (fields in declaration order, defaults and factories,
``compare``/``repr`` per field, ``__post_init__``, ``kw_only``, ``slots``, ``__match_args__``,
``inspect.signature``). A class constructed often switches to an ``__init__`` compiled for it,
as dataclasses writes one. ``__dataclass_fields__`` is built on first use, with the real
:mod:`dataclasses` then, so :func:`dataclasses.replace`, :func:`dataclasses.fields`,
:func:`dataclasses.asdict` and :func:`dataclasses.is_dataclass` work on these classes too;
:func:`replace` and :func:`fields` here do the common cases without importing anything.

Not supported (and not used): ``order=True``, ``unsafe_hash=True``, ``init=False`` fields,
``InitVar``, ``ClassVar`` fields, and inheriting fields from a base class.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

__all__ = ["KW_ONLY", "dataclass", "field", "fields", "replace"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    _T = TypeVar("_T")

    from dataclasses import (
        KW_ONLY as KW_ONLY,
        dataclass as dataclass,
        field as field,
        fields as fields,
        replace as replace,
    )

else:
    class _Missing:
        __slots__ = ()

        def __repr__(self) -> str:
            return "MISSING"

    _MISSING: Any = _Missing()

    class KW_ONLY:
        """Annotate a pseudo-field ``_: KW_ONLY``: the fields after it are keyword-only."""

    class _FieldSpec:
        __slots__ = ("compare", "default", "default_factory", "kw_only", "repr")

        def __init__(self, default: Any, default_factory: Any, repr: bool, compare: bool,
                     kw_only: Any) -> None:
            self.default = default
            self.default_factory = default_factory
            self.repr = repr
            self.compare = compare
            self.kw_only = kw_only

    def field(*, default: Any = _MISSING, default_factory: Any = _MISSING, repr: bool = True,
              compare: bool = True, kw_only: Any = _MISSING) -> Any:
        """A field with options, as :func:`dataclasses.field` (the options used here)."""
        if default is not _MISSING and default_factory is not _MISSING:
            raise ValueError("cannot specify both default and default_factory")
        return _FieldSpec(default, default_factory, repr, compare, kw_only)

    class RecordField:
        """What :func:`fields` gives for a record class: the parts of a ``dataclasses.Field``
        that code here reads."""

        __slots__ = ("compare", "default", "default_factory", "kw_only", "name", "repr", "type")

        def __init__(self, name: str, type: Any, default: Any, default_factory: Any,
                     repr: bool, compare: bool, kw_only: bool) -> None:
            self.name = name
            self.type = type
            self.default = default
            self.default_factory = default_factory
            self.repr = repr
            self.compare = compare
            self.kw_only = kw_only

        def __repr__(self) -> str:
            return f"RecordField(name={self.name!r}, type={self.type!r})"

    class _LazyDataclassAttr:
        """``__dataclass_fields__``/``__dataclass_params__``, built by the real dataclasses
        module when something first asks (``dataclasses.replace``, ``fields``, ``asdict`` ...).
        """

        def __init__(self, name: str) -> None:
            self.name = name

        def __get__(self, obj: object, owner: type) -> Any:
            import dataclasses

            specs = []
            for f in owner.__record_fields__:
                kw: dict[str, Any] = {"repr": f.repr, "compare": f.compare,
                                      "kw_only": f.kw_only}
                if f.default is not _MISSING:
                    kw["default"] = f.default
                if f.default_factory is not _MISSING:
                    kw["default_factory"] = f.default_factory
                specs.append((f.name, f.type, dataclasses.field(**kw)))
            shadow = dataclasses.make_dataclass(
                owner.__name__, specs, frozen=owner.__record_frozen__,
                eq=owner.__record_eq__)
            # Class attributes replace this descriptor for the next lookup.
            type.__setattr__(owner, "__dataclass_fields__", shadow.__dataclass_fields__)
            type.__setattr__(owner, "__dataclass_params__", shadow.__dataclass_params__)
            return getattr(shadow, self.name)

    def _frozen_error(name: str) -> Exception:
        from dataclasses import FrozenInstanceError

        return FrozenInstanceError(f"cannot assign to field {name!r}")

    def _repr(self: Any) -> str:
        cls = type(self)
        args = ", ".join(f"{n}={getattr(self, n)!r}" for n in cls.__record_repr__)
        return f"{cls.__qualname__}({args})"

    def _eq(self: Any, other: object) -> Any:
        if other.__class__ is self.__class__:
            key = self.__class__.__record_key__
            return key(self) == key(other)
        return NotImplemented

    def _hash(self: Any) -> int:
        return hash(self.__class__.__record_key__(self))

    def _getstate(self: Any) -> list[Any]:
        return [getattr(self, f.name) for f in self.__record_fields__]

    def _setstate(self: Any, state: list[Any]) -> None:
        for f, value in zip(self.__record_fields__, state, strict=True):
            object.__setattr__(self, f.name, value)

    def _key_getter(names: tuple[str, ...]) -> Callable[[Any], Any]:
        if not names:
            return lambda obj: ()
        if len(names) == 1:
            one = operator.attrgetter(names[0])
            return lambda obj: (one(obj),)
        return operator.attrgetter(*names)

    def _init_source(cls_fields: list[RecordField], frozen: bool, post_init: bool,
                     ns: dict[str, Any]) -> str:
        params: list[str] = []
        kw_params: list[str] = []
        body: list[str] = []
        for f in cls_fields:
            if f.default is not _MISSING:
                ns[f"_dflt_{f.name}"] = f.default
                param = f"{f.name}=_dflt_{f.name}"
                value = f.name
            elif f.default_factory is not _MISSING:
                ns[f"_fct_{f.name}"] = f.default_factory
                param = f"{f.name}=_HAS_FACTORY"
                value = f"_fct_{f.name}() if {f.name} is _HAS_FACTORY else {f.name}"
            else:
                param = f.name
                value = f.name
            (kw_params if f.kw_only else params).append(param)
            if frozen:
                body.append(f"    _setattr(self, {f.name!r}, {value})")
            else:
                body.append(f"    self.{f.name} = {value}")
        if post_init:
            body.append("    self.__post_init__()")
        if not body:
            body.append("    pass")
        sig = ", ".join(["self", *params, *(["*", *kw_params] if kw_params else [])])
        return f"def __init__({sig}) -> None:\n" + "\n".join(body) + "\n"

    # Compiling an __init__ from source costs about 0.2 ms a class, more than most classes
    # here spend being constructed in a process. So a class starts with a generic __init__,
    # and compiles its own once it has been constructed this many times.
    _COMPILE_AFTER = 100

    def _generic_init(cls: type, ordered: list[RecordField], npos: int, frozen: bool,
                      post_init: bool) -> Callable[..., None]:
        names = tuple(f.name for f in ordered)
        pos_names = names[:npos]
        known = frozenset(names)
        defaults = {f.name: f.default for f in ordered if f.default is not _MISSING}
        factories = {f.name: f.default_factory for f in ordered
                     if f.default_factory is not _MISSING}
        store = object.__setattr__ if frozen else None
        calls = 0

        def default(name: str) -> Any:
            if name in defaults:
                return defaults[name]
            if name in factories:
                return factories[name]()
            raise TypeError(f"{cls.__qualname__}.__init__() missing required argument: "
                            f"{name!r}")

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            nonlocal calls
            calls += 1
            if calls == _COMPILE_AFTER:
                _compile_init(type(self), cls, ordered, frozen, post_init)
            setter = setattr if store is None else store
            if not kwargs and len(args) <= npos:
                # The common call, with positional arguments only: no dict of values to
                # build, fields set in the same order as below.
                for name, value in zip(names, args, strict=False):
                    setter(self, name, value)
                for name in names[len(args):]:
                    setter(self, name, default(name))
                if post_init:
                    self.__post_init__()
                return
            if len(args) > npos:
                raise TypeError(f"{cls.__qualname__}.__init__() takes {npos + 1} positional "
                                f"arguments but {len(args) + 1} were given")
            values = dict(zip(pos_names, args, strict=False))
            for name in kwargs:
                if name not in known:
                    raise TypeError(f"{cls.__qualname__}.__init__() got an unexpected "
                                    f"keyword argument {name!r}")
                if name in values:
                    raise TypeError(f"{cls.__qualname__}.__init__() got multiple values "
                                    f"for argument {name!r}")
            values.update(kwargs)
            for name in names:
                setter(self, name, values[name] if name in values else default(name))
            if post_init:
                self.__post_init__()

        __init__.__qualname__ = f"{cls.__qualname__}.__init__"
        __init__.__module__ = cls.__module__
        return __init__

    def _compile_init(owner: type, cls: type, ordered: list[RecordField], frozen: bool,
                      post_init: bool) -> None:
        # `owner` is the class __init__ was called on: the record class itself (for slotted
        # classes, the one built in _process), unless it was a subclass.
        target = next((c for c in owner.__mro__ if c.__dict__.get("__record_fields__")
                       is not None and c.__qualname__ == cls.__qualname__
                       and c.__module__ == cls.__module__), None)
        if target is None:
            return
        ns: dict[str, Any] = {"_setattr": object.__setattr__, "_HAS_FACTORY": _HAS_FACTORY}
        source = _init_source(ordered, frozen, post_init, ns)
        exec(compile(source, f"<record {cls.__qualname__}>", "exec", dont_inherit=True), ns)
        fn = ns["__init__"]
        fn.__qualname__ = f"{cls.__qualname__}.__init__"
        fn.__module__ = cls.__module__
        type.__setattr__(target, "__init__", fn)

    class _LazySignature:
        """``inspect.signature(cls)``: the dataclass one, built when asked for."""

        def __get__(self, obj: object, owner: type) -> Any:
            if obj is not None:
                raise AttributeError("__signature__")
            import inspect

            params = []
            for f in owner.__record_fields__:
                kind = (inspect.Parameter.KEYWORD_ONLY if f.kw_only
                        else inspect.Parameter.POSITIONAL_OR_KEYWORD)
                default = (f.default if f.default is not _MISSING
                           else _HAS_FACTORY if f.default_factory is not _MISSING
                           else inspect.Parameter.empty)
                params.append(inspect.Parameter(f.name, kind, default=default,
                                                annotation=f.type))
            params.sort(key=lambda p: p.kind)
            return inspect.Signature(params, return_annotation=None)

    class _HasFactory:
        __slots__ = ()

        def __repr__(self) -> str:
            return "<factory>"

    _HAS_FACTORY = _HasFactory()

    def _process(cls: type, *, init: bool, repr: bool, eq: bool, frozen: bool,
                 kw_only: bool, slots: bool, match_args: bool) -> type:
        # The class's own annotations, in order (strings: `from __future__ import annotations`).
        annotations = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
        record_fields: list[RecordField] = []
        in_kw_only = kw_only
        for name, ann in annotations.items():
            if ann == "KW_ONLY" or ann is KW_ONLY:
                in_kw_only = True
                continue
            if isinstance(ann, str) and ann.startswith(("ClassVar", "typing.ClassVar")):
                continue
            value = cls.__dict__.get(name, _MISSING)
            if isinstance(value, _FieldSpec):
                spec = value
            else:
                spec = _FieldSpec(value, _MISSING, True, True, _MISSING)
            if spec.default is not _MISSING and spec.default.__class__.__hash__ is None:
                raise ValueError(f"mutable default {type(spec.default)} for field {name} "
                                 "is not allowed: use default_factory")
            f_kw_only = in_kw_only if spec.kw_only is _MISSING else bool(spec.kw_only)
            record_fields.append(RecordField(name, ann, spec.default, spec.default_factory,
                                             spec.repr, spec.compare, f_kw_only))
            # As dataclasses does: a plain default stays a class attribute, a field() marker
            # does not (its default, if any, takes its place).
            if isinstance(value, _FieldSpec):
                if spec.default is _MISSING:
                    delattr(cls, name)
                else:
                    setattr(cls, name, spec.default)
        positional = [f for f in record_fields if not f.kw_only]
        seen_default = False
        for f in positional:
            has_default = f.default is not _MISSING or f.default_factory is not _MISSING
            if seen_default and not has_default:
                raise TypeError(f"non-default argument {f.name!r} follows default argument")
            seen_default = seen_default or has_default

        attrs: dict[str, Any] = {
            "__record_fields__": tuple(record_fields),
            "__record_repr__": tuple(f.name for f in record_fields if f.repr),
            "__record_key__": _key_getter(tuple(f.name for f in record_fields if f.compare)),
            "__record_frozen__": frozen,
            "__record_eq__": eq,
            "__dataclass_fields__": _LazyDataclassAttr("__dataclass_fields__"),
            "__dataclass_params__": _LazyDataclassAttr("__dataclass_params__"),
        }
        own = cls.__dict__
        if init and "__init__" not in own:
            # Fields after the first keyword-only one are declared in order, so positional
            # parameters come first: the signature matches dataclasses'.
            ordered = positional + [f for f in record_fields if f.kw_only]
            attrs["__init__"] = _generic_init(cls, ordered, len(positional), frozen,
                                              hasattr(cls, "__post_init__"))
            attrs["__signature__"] = _LazySignature()
        if repr and "__repr__" not in own:
            attrs["__repr__"] = _repr
        if eq and "__eq__" not in own:
            attrs["__eq__"] = _eq
        if "__hash__" not in own or own["__hash__"] is None:
            if eq and frozen:
                attrs["__hash__"] = _hash
            elif eq:
                attrs["__hash__"] = None
        if frozen:
            if "__setattr__" in own or "__delattr__" in own:
                raise TypeError(f"cannot overwrite attribute __setattr__ in class "
                                f"{cls.__name__}")
            names = frozenset(f.name for f in record_fields)

            def __setattr__(self: Any, name: str, value: Any) -> None:
                if type(self) is new_cls or name in names:
                    raise _frozen_error(name)
                super(new_cls, self).__setattr__(name, value)

            def __delattr__(self: Any, name: str) -> None:
                if type(self) is new_cls or name in names:
                    raise _frozen_error(name)
                super(new_cls, self).__delattr__(name)

            attrs["__setattr__"] = __setattr__
            attrs["__delattr__"] = __delattr__
        if match_args and "__match_args__" not in own:
            attrs["__match_args__"] = tuple(f.name for f in positional)

        if slots:
            body = {k: v for k, v in own.items() if k not in ("__dict__", "__weakref__")}
            for f in record_fields:
                body.pop(f.name, None)
            body["__slots__"] = tuple(f.name for f in record_fields)
            body.update(attrs)
            if frozen:
                body.setdefault("__getstate__", _getstate)
                body.setdefault("__setstate__", _setstate)
            new_cls = type(cls)(cls.__name__, cls.__bases__, body)
            new_cls.__qualname__ = cls.__qualname__
        else:
            for k, v in attrs.items():
                setattr(cls, k, v)
            new_cls = cls
        return new_cls

    def dataclass(cls: Any = None, /, *, init: bool = True, repr: bool = True,
                  eq: bool = True, order: bool = False, unsafe_hash: bool = False,
                  frozen: bool = False, match_args: bool = True, kw_only: bool = False,
                  slots: bool = False) -> Any:
        """Make ``cls`` a plain-data class, as :func:`dataclasses.dataclass` does."""
        if order or unsafe_hash:
            raise NotImplementedError("order and unsafe_hash are not supported")

        def wrap(c: type) -> type:
            return _process(c, init=init, repr=repr, eq=eq, frozen=frozen, kw_only=kw_only,
                            slots=slots, match_args=match_args)

        return wrap if cls is None else wrap(cls)

    def replace(obj: _T, /, **changes: Any) -> _T:
        """A copy of ``obj`` with ``changes``, as :func:`dataclasses.replace`."""
        record_fields = getattr(type(obj), "__record_fields__", None)
        if record_fields is None:
            import dataclasses

            return dataclasses.replace(obj, **changes)
        for f in record_fields:
            if f.name not in changes:
                changes[f.name] = getattr(obj, f.name)
        return obj.__class__(**changes)

    def fields(class_or_instance: Any) -> tuple[Any, ...]:
        """The fields of a record class or instance (:class:`RecordField`), or of any other
        dataclass (:func:`dataclasses.fields`)."""
        record_fields = getattr(class_or_instance, "__record_fields__", None)
        if record_fields is None:
            import dataclasses

            return dataclasses.fields(class_or_instance)
        return tuple(record_fields)
