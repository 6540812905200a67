"""Formatting BTF types as C.

:func:`type_name` gives the C spelling of a type (``const char *``, ``struct task_struct``);
:func:`format_c` emits compilable C declarations for some types and everything they need: a
subset of a ``vmlinux.h``. Layout is reproduced exactly: where the C compiler would not place
a member at its BTF offset on its own, explicit padding or ``__attribute__((packed))`` is
emitted, so ``sizeof`` and ``offsetof`` agree with the BTF.

This module makes no system calls.
"""

from __future__ import annotations

from collections.abc import Iterable

from ebpf.btf.types import (
    Array,
    Composite,
    Const,
    Datasec,
    DeclTag,
    Enum,
    Float,
    Func,
    FuncProto,
    Fwd,
    FwdKind,
    Int,
    IntEncoding,
    Pointer,
    Qualifier,
    Restrict,
    Type,
    Typedef,
    TypeTag,
    Union,
    Var,
    Void,
    Volatile,
    alignof,
    sizeof,
    underlying,
    walk_types,
)
from ebpf.errors import BTFError

__all__ = ["CFormatter", "declaration", "format_c", "type_name"]

_INT_WORDS = frozenset({"signed", "unsigned", "char", "short", "int", "long", "__int128",
                        "_Bool"})
_KEYWORDS = frozenset((
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
    "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
    "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
    "union", "unsigned", "void", "volatile", "while", "_Bool",
))


def _int_name(t: Int) -> str:
    words = t.name.split()
    if words and set(words) <= _INT_WORDS:
        return t.name
    if t.encoding & IntEncoding.BOOL:
        return "_Bool"
    signed = bool(t.encoding & IntEncoding.SIGNED)
    base = {1: "char", 2: "short", 4: "int", 8: "long long", 16: "__int128"}.get(t.size)
    if base is None:
        raise BTFError(f"no C integer type of {t.size} bytes for {t!r}")
    if base == "char":
        return "signed char" if signed else "unsigned char"
    return base if signed else f"unsigned {base}"


def _float_name(t: Float) -> str:
    if t.name in ("float", "double", "long double", "_Float16", "__float128"):
        return t.name
    return {4: "float", 8: "double", 16: "long double"}.get(t.size, "double")


def _ident(name: str) -> str:
    """``name`` made into a valid C identifier."""
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    if not out or out[0].isdigit() or out in _KEYWORDS:
        out = "_" + out
    return out


class CFormatter:
    """Emits C for a set of types; keeps the names it chose so that it stays consistent.

    Args:
        indent: the indentation unit.
        emit_type_tags: write ``__attribute__((btf_type_tag(...)))`` for type tags.
    """

    def __init__(self, *, indent: str = "\t", emit_type_tags: bool = False) -> None:
        self.indent = indent
        self.emit_type_tags = emit_type_tags
        self._names: dict[int, str] = {}
        self._taken: dict[tuple[str, str], int] = {}
        self._enumerators: dict[str, int] = {}
        self._enum_names: dict[tuple[int, int], str] = {}
        self._out: list[str] = []
        self._state: dict[int, int] = {}  # id(type) -> 1 in progress, 2 done
        self._declared: set[int] = set()
        self._pads = 0
        # Alignments by type, shared by every layout decision (each struct is worked out once).
        self._aligns: dict[Type, int] = {}
        self._layouts: dict[Type, tuple[bool, int]] = {}
        # Members written so far and how many may be: anonymous types are written out
        # wherever they are used, and a shared one nested in shared ones would repeat
        # exponentially often (format() raises the limit in proportion to its input).
        self._members_out = 0
        self._members_limit = _MIN_MEMBER_LIMIT

    # ---- names

    def _name(self, t: Type) -> str:
        """The (possibly disambiguated) C name of a named struct/union/enum/typedef."""
        key = id(t)
        got = self._names.get(key)
        if got is not None:
            return got
        ns = "tag" if isinstance(t, (Composite, Enum, Fwd)) else "ordinary"
        base = _ident(t.name)
        # Names the compiler reserves (e.g. __builtin_va_list) are always renamed.
        n = self._taken.get((ns, base), 1 if base.startswith("__builtin_") else 0) + 1
        self._taken[(ns, base)] = n
        name = base if n == 1 else f"{base}___{n}"
        self._names[key] = name
        return name

    def _tag(self, t: Type) -> str:
        if isinstance(t, Union) or (isinstance(t, Fwd) and t.fwd_kind is FwdKind.UNION):
            return "union"
        if isinstance(t, Enum):
            return "enum"
        return "struct"

    # ---- declarators

    def decl(self, t: Type, inner: str, depth: int = 0) -> str:
        """The C declaration of ``inner`` (a name, or "") of type ``t``."""
        if depth > 64:
            raise BTFError(f"type {t!r} nests too deeply to format")
        if isinstance(t, Pointer):
            target = t.target
            skipped = _skip(target, tags=False)
            star = "*" + inner
            if isinstance(skipped, (Array, FuncProto)):
                star = f"(*{inner})"
            return self.decl(target, star, depth + 1)
        if isinstance(t, Array):
            return self.decl(t.type, f"{inner}[{t.nelems}]", depth + 1)
        if isinstance(t, FuncProto):
            params = [p for p in t.params]
            variadic = t.variadic
            if variadic:
                params = params[:-1]
            parts = [self.decl(p.type, _ident(p.name) if p.name else "", depth + 1)
                     for p in params]
            if variadic:
                parts.append("...")
            args = ", ".join(parts) if parts else "void"
            return self.decl(t.return_type, f"{inner}({args})", depth + 1)
        if isinstance(t, TypeTag):
            if self.emit_type_tags:
                return self.decl(t.type, f'__attribute__((btf_type_tag("{t.value}"))) {inner}'
                                 .rstrip(), depth + 1)
            return self.decl(t.type, inner, depth + 1)
        if isinstance(t, (Const, Volatile, Restrict)):
            q = {Const: "const", Volatile: "volatile", Restrict: "restrict"}[type(t)]
            target = t.type
            skipped = _skip(target, tags=True)
            if isinstance(skipped, Pointer):
                return self.decl(target, f"{q} {inner}".rstrip(), depth + 1)
            if isinstance(skipped, FuncProto):  # qualifiers on functions mean nothing
                return self.decl(target, inner, depth + 1)
            rest = self.decl(target, inner, depth + 1)
            if rest.startswith(q + " ") or f" {q} " in rest.split("(")[0].split("[")[0]:
                return rest  # already qualified (e.g. const applied to an array of const)
            return f"{q} {rest}"
        base = self._base(t, depth)
        return f"{base} {inner}" if inner else base

    def _base(self, t: Type, depth: int) -> str:
        if isinstance(t, Void):
            return "void"
        if isinstance(t, Int):
            return _int_name(t)
        if isinstance(t, Float):
            return _float_name(t)
        if isinstance(t, Typedef):
            return self._name(t)
        if isinstance(t, (Composite, Enum)):
            if t.name:
                return f"{self._tag(t)} {self._name(t)}"
            return self._body(t, depth)
        if isinstance(t, Fwd):
            return f"{self._tag(t)} {self._name(t)}"
        if isinstance(t, (Func, Var, Datasec, DeclTag)):
            raise BTFError(f"{t!r} is not a type that can be named in C")
        raise BTFError(f"cannot format {t!r}")  # pragma: no cover

    # ---- definitions

    def _body(self, t: Composite | Enum, depth: int) -> str:
        """``struct name { ... }`` (the body of a definition, inline or not)."""
        head = f"{self._tag(t)} {self._name(t)} " if t.name else f"{self._tag(t)} "
        ind = self.indent * (depth + 1)
        end = self.indent * depth
        if isinstance(t, Enum):
            lines = []
            for v in t.values:
                n = self._enumerator(t, v.name)
                lines.append(f"{ind}{n} = {_enum_literal(v.value)},")
            body = "\n".join(lines)
            attr = " __attribute__((packed))" if t.size < 4 else ""
            return f"{head}{{\n{body}\n{end}}}{attr}" if lines else f"{head}{{}}{attr}"
        lines, packed = self._members(t, depth + 1)
        attr = " __attribute__((packed))" if packed else ""
        if not lines:
            return f"{head}{{}}{attr}"
        return f"{head}{{\n" + "\n".join(lines) + f"\n{end}}}{attr}"

    def _enumerator(self, e: Enum, name: str) -> str:
        key = (id(e), hash(name))
        got = self._enum_names.get(key)
        if got is not None:
            return got
        base = _ident(name)
        n = self._enumerators.get(base, 0) + 1
        self._enumerators[base] = n
        out = base if n == 1 else f"{base}___{n}"
        self._enum_names[key] = out
        return out

    def _members(self, t: Composite, depth: int) -> tuple[list[str], bool]:
        ind = self.indent * depth
        self._members_out += len(t.members)
        if self._members_out > self._members_limit:
            raise BTFError(f"formatting {t!r} would write more than {self._members_limit} "
                           "members (anonymous types nested in anonymous types, each written "
                           "out wherever it is used)")
        aligns = self._aligns
        packed, struct_align = self._layout(t)
        lines: list[str] = []
        cur = 0  # bit offset where the compiler would place the next member
        for m in t.members:
            mtype = m.type
            decl = self.decl(mtype, _ident(m.name) if m.name else "", depth)
            if isinstance(t, Union):
                if m.offset != 0:
                    raise BTFError(f"union member {m.name!r} of {t!r} is at offset {m.offset}")
                lines.append(f"{ind}{decl}: {m.bitfield_size};" if m.bitfield_size
                             else f"{ind}{decl};")
                continue
            if m.bitfield_size:
                natural = cur
                unit = 8 * _align(mtype, aligns)
                if not packed and natural // unit != (natural + m.bitfield_size - 1) // unit:
                    natural = -(-natural // unit) * unit
                if m.offset < natural:
                    raise BTFError(f"bitfield {m.name!r} of {t!r} overlaps the member before")
                if m.offset > natural:
                    lines += self._pad(cur, m.offset, ind)
                lines.append(f"{ind}{decl}: {m.bitfield_size};")
                cur = m.offset + m.bitfield_size
                continue
            a = 8 * (1 if packed else _align(mtype, aligns))
            natural = -(-cur // a) * a
            if m.offset < natural:
                raise BTFError(f"member {m.name!r} of {t!r} overlaps the member before")
            if m.offset > natural:
                lines += self._pad(cur, m.offset, ind)
            lines.append(f"{ind}{decl};")
            cur = m.offset + 8 * sizeof(mtype)
        if isinstance(t, Union):
            natural_size = max((sizeof(m.type) for m in t.members), default=0)
            align = 1 if packed else struct_align
            natural_size = -(-natural_size // align) * align
            if t.size > natural_size:
                self._pads += 1
                lines.append(f"{ind}char __pad{self._pads}[{t.size}];")
        else:
            align = 8 * (1 if packed else struct_align)
            end = -(-cur // align) * align
            if end < 8 * t.size:
                lines += self._pad(cur, 8 * t.size, ind)
        return lines, packed

    def _layout(self, t: Composite) -> tuple[bool, int]:
        """Whether ``t`` is packed, and the alignment of its most aligned member (once per
        type: anonymous types are laid out wherever they are written)."""
        got = self._layouts.get(t)
        if got is None:
            got = self._layouts[t] = (_is_packed(t, self._aligns),
                                      _struct_align(t, self._aligns))
        return got

    def _pad(self, cur: int, to: int, ind: str) -> list[str]:
        """Padding from bit ``cur`` to bit ``to``: unnamed bitfields (they never straddle a
        64-bit unit, so the compiler places each one exactly where it follows), and for large
        byte-aligned gaps a ``char`` array."""
        out = []
        while cur < to:
            if cur % 64 == 0 and to - cur >= 8 * 64:
                n = (to - cur) // 8
                self._pads += 1
                out.append(f"{ind}char __pad{self._pads}[{n}];")
                cur += 8 * n
                continue
            n = min(to - cur, 64 - cur % 64)
            out.append(f"{ind}long: {n};" if n == 64 and cur % 64 == 0
                       else f"{ind}unsigned long long: {n};")
            cur += n
        return out

    # ---- top level

    def _emit_named(self, t: Type) -> None:
        """Emit the definition of a named struct/union/enum or a typedef, after its needs."""
        key = id(t)
        state = self._state.get(key)
        if state is not None:
            return  # done, or in progress (a cycle through pointers: forward decls cover it)
        self._state[key] = 1
        for dep in self._needs(t):
            self._emit_named(dep)
        if isinstance(t, Typedef):
            self._out.append(f"typedef {self.decl(t.type, self._name(t))};\n")
        elif isinstance(t, (Composite, Enum)):
            self._out.append(f"{self._body(t, 0)};\n")
        self._state[key] = 2

    def _needs(self, t: Type) -> list[Type]:
        """Named types whose definitions must come before ``t``'s."""
        out: list[Type] = []
        seen: set[tuple[int, bool]] = set()
        if isinstance(t, Typedef):
            self._walk(t.type, out, seen, by_value=False, depth=0)
        elif isinstance(t, Composite):
            for m in t.members:
                self._walk(m.type, out, seen, by_value=True, depth=0)
        return out

    def _walk(self, t: Type, out: list[Type], seen: set[tuple[int, bool]], *, by_value: bool,
              depth: int) -> None:
        """Collect what a declarator of ``t`` needs: every typedef it names, every named
        enum, and named structs/unions used by value (others are forward declared).
        ``seen`` holds what was walked already (each type once per way it is used)."""
        if depth > 64:
            raise BTFError(f"type {t!r} nests too deeply to format")
        key = (id(t), by_value)
        if key in seen:
            return
        seen.add(key)
        if isinstance(t, Typedef):
            out.append(t)
            if by_value:
                self._walk(t.type, out, seen, by_value=True, depth=depth + 1)
        elif isinstance(t, Qualifier):
            self._walk(t.type, out, seen, by_value=by_value, depth=depth + 1)
        elif isinstance(t, Array):  # array elements must be complete, even behind pointers
            self._walk(t.type, out, seen, by_value=True, depth=depth + 1)
        elif isinstance(t, Pointer):
            self._walk(t.target, out, seen, by_value=False, depth=depth + 1)
        elif isinstance(t, FuncProto):
            self._walk(t.return_type, out, seen, by_value=False, depth=depth + 1)
            for p in t.params:
                self._walk(p.type, out, seen, by_value=False, depth=depth + 1)
        elif isinstance(t, Enum):
            if t.name:
                out.append(t)
        elif isinstance(t, Composite):
            if t.name:
                if by_value:
                    out.append(t)
            else:  # defined inline (even behind a pointer): its members' needs are ours
                for m in t.members:
                    self._walk(m.type, out, seen, by_value=True, depth=depth + 1)

    def format(self, roots: Iterable[Type]) -> str:
        """C declarations for ``roots`` and everything they reference.

        Functions become prototypes and variables ``extern`` declarations; data sections and
        declaration tags are skipped.
        """
        roots = list(roots)
        every = walk_types(roots)
        self._members_limit = max(self._members_limit,
                                  _MIN_MEMBER_LIMIT + _MEMBERS_PER_TYPE * len(every))
        out = self._out
        start = len(out)
        fwd = []
        for t in every:
            if isinstance(t, (Composite, Fwd)) and t.name and id(t) not in self._declared:
                self._declared.add(id(t))
                fwd.append(f"{self._tag(t)} {self._name(t)};")
        if fwd:
            out.append("\n".join(fwd) + "\n")
        for t in every:
            if (isinstance(t, (Composite, Enum)) and t.name) or isinstance(t, Typedef):
                self._emit_named(t)
        for t in roots:
            if isinstance(t, (Func, Var)):
                out.append(f"extern {self.decl(t.type, _ident(t.name))};\n")
        return "\n".join(out[start:])


#: How many qualifiers in a row are followed before the chain is declared a loop (as
#: ``types.MAX_RESOLVE_DEPTH`` for sizes).
_MAX_QUALIFIERS = 32


def _skip(t: Type, *, tags: bool) -> Type:
    """``t`` without its qualifiers (type tags too if ``tags``, else they stop the walk).

    Raises:
        BTFError: the chain is too long: it loops (``const -> volatile -> const``).
    """
    for _ in range(_MAX_QUALIFIERS):
        if not isinstance(t, Qualifier) or (not tags and isinstance(t, TypeTag)):
            return t
        t = t.type
    raise BTFError(f"qualifier chain through {t!r} is too long (a loop?)")


def _enum_literal(v: int) -> str:
    if v > 0x7FFFFFFFFFFFFFFF:
        return f"{v:#x}ULL"
    if v > 0x7FFFFFFF or v < -0x80000000:
        return f"{v}LL"
    return str(v)


#: Members the formatter writes at least before it gives up, and how many more per type it
#: was given: real types (vmlinux) come to about 7 members per type.
_MIN_MEMBER_LIMIT = 50_000
_MEMBERS_PER_TYPE = 64


def _align(t: Type, memo: dict[Type, int]) -> int:
    """Alignment of ``t`` as emitted (enums take the alignment of their size)."""
    try:
        return alignof(t, memo=memo)
    except BTFError:
        u = underlying(t)
        if isinstance(u, Fwd):
            raise BTFError(f"incomplete type {u!r} used by value") from None
        raise


def _struct_align(t: Composite, memo: dict[Type, int]) -> int:
    return max((_align(m.type, memo) for m in t.members), default=1)


def _is_packed(t: Composite, memo: dict[Type, int]) -> bool:
    if not t.members:
        return False
    for m in t.members:
        if m.bitfield_size:
            continue
        if m.offset % (8 * _align(m.type, memo)):
            return True
    return bool(t.size % _struct_align(t, memo))


def format_c(types: Iterable[Type], *, guard: str | None = None) -> str:
    """Compilable C declarations for ``types`` and their dependencies (a vmlinux.h subset).

    Args:
        types: the types (and functions/variables) to declare.
        guard: if given, wrap the output in ``#ifndef guard`` / ``#define guard``.
    """
    body = CFormatter().format(types)
    if guard:
        g = _ident(guard)
        return f"#ifndef {g}\n#define {g}\n\n{body}\n#endif /* {g} */\n"
    return body


def type_name(t: Type) -> str:
    """The C spelling of ``t`` (``struct task_struct``, ``const char *``, ``int (*)(void)``);
    anonymous structs, unions and enums show as ``struct { ... }``."""
    if isinstance(t, (Composite, Enum)) and not t.name:
        return f"{CFormatter()._tag(t)} {{ ... }}"
    if isinstance(t, Func):
        return CFormatter().decl(t.type, _ident(t.name))
    if isinstance(t, Var):
        return CFormatter().decl(t.type, _ident(t.name))
    if isinstance(t, (Datasec, DeclTag)):
        return f"{t.kind.name.lower()} {t.name}"
    return CFormatter().decl(t, "")


def declaration(t: Type, name: str) -> str:
    """``t name`` as a C declaration (``char comm[16]``, ``void (*fn)(int)``)."""
    return CFormatter().decl(t, name)

