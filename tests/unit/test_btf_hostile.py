"""BTF that no compiler emits, or that is valid but built to cost: formatting, sizes and the
value codec answer with a :class:`~ebpf.errors.BTFError` (or a result) in bounded time and
memory, never a hang, a ``RecursionError`` or exponential work."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

import pytest

from ebpf import btf
from ebpf.btf.format import CFormatter, declaration, format_c, type_name
from ebpf.errors import BTFError
from tests.support import deadline

INT = btf.Int("int", 4, btf.IntEncoding.SIGNED)


# --- qualifier cycles ----------------------------------------------------------------------------

def const_volatile_cycle() -> btf.Const:
    """``const -> volatile -> const -> ...``: only hostile BTF has it."""
    c = btf.Const(INT)
    c.type = btf.Volatile(c)
    return c


def restrict_tag_cycle() -> btf.Restrict:
    r = btf.Restrict(INT)
    r.type = btf.TypeTag("user", btf.Const(r))
    return r


CYCLES: dict[str, Callable[[], btf.Type]] = {
    "const-volatile": const_volatile_cycle,
    "volatile-start": lambda: btf.Volatile(const_volatile_cycle()),
    "pointer": lambda: btf.Pointer(const_volatile_cycle()),
    "pointer-to-pointer": lambda: btf.Pointer(btf.Pointer(const_volatile_cycle())),
    "array": lambda: btf.Array(const_volatile_cycle(), 4),
    "restrict-tag": restrict_tag_cycle,
    "pointer-tag": lambda: btf.Pointer(restrict_tag_cycle()),
    "typedef": lambda: btf.Typedef("cyc_t", const_volatile_cycle()),
    "func-proto": lambda: btf.Pointer(btf.FuncProto(
        INT, [btf.FuncParam("a", btf.Pointer(const_volatile_cycle()))])),
}


def test_qualifier_cycles_raise_btf_error() -> None:
    for label, make in CYCLES.items():
        print("case", label)  # shown with a failure
        _check_qualifier_cycle(make())


def _check_qualifier_cycle(t: btf.Type) -> None:
    if not isinstance(t, btf.Pointer):
        with pytest.raises(BTFError):  # sizeof always did
            btf.sizeof(t)
    with deadline(5):  # these used to loop forever
        if isinstance(t, btf.Typedef):  # named: spelling it needs nothing behind the name
            assert (type_name(t), declaration(t, "x")) == ("cyc_t", "cyc_t x")
        else:
            with pytest.raises(BTFError):
                type_name(t)
            with pytest.raises(BTFError):
                declaration(t, "x")
            with pytest.raises(BTFError):
                CFormatter().decl(t, "x")
        holder = btf.Struct("holder", 8, [btf.Member("p", btf.Pointer(t), 0)])
        with pytest.raises(BTFError):
            format_c([holder])
        with pytest.raises(BTFError):
            format_c([btf.Typedef("named_t", t)])


def self_referencing_anonymous_struct() -> btf.Struct:
    s = btf.Struct("", 16)
    s.members = [btf.Member("a", btf.Pointer(s), 0), btf.Member("b", btf.Pointer(s), 64)]
    return s


def self_referencing_proto() -> btf.FuncProto:
    proto = btf.FuncProto(INT, [])
    ptr = btf.Pointer(proto)
    proto.params = [btf.FuncParam("a", ptr), btf.FuncParam("b", ptr), btf.FuncParam("c", ptr)]
    return proto


def test_unnamed_types_that_contain_themselves() -> None:
    # No C declaration can name these (nothing breaks the cycle); with two or three
    # references per level, formatting them without noticing was exponential.
    for make in (self_referencing_anonymous_struct, self_referencing_proto):
        t = make()
        with deadline(5):
            with pytest.raises(BTFError):
                type_name(btf.Pointer(t))
            holder = btf.Struct("holder", 8, [btf.Member("p", btf.Pointer(t), 0)])
            with pytest.raises(BTFError):
                format_c([holder])


def test_shared_types_are_not_cycles() -> None:
    # The same type twice in one declaration, and a named struct that points at itself.
    proto = btf.FuncProto(INT, [btf.FuncParam("a", btf.Pointer(INT)),
                                btf.FuncParam("b", btf.Pointer(INT))])
    assert type_name(btf.Pointer(proto)) == "int (*)(int *a, int *b)"
    node = btf.Struct("node", 16)
    node.members = [btf.Member("next", btf.Pointer(node), 0),
                    btf.Member("prev", btf.Pointer(node), 64)]
    out = format_c([node])
    assert "struct node *next;" in out and "struct node *prev;" in out
    cv = btf.Const(btf.Volatile(INT))
    assert type_name(cv) == "const volatile int"


# --- the value codec: anonymous members that contain themselves -------------------------------

@contextlib.contextmanager
def bounded(seconds: float, megabytes: float) -> Iterator[None]:
    """Fail if the body takes longer than ``seconds`` or allocates more than ``megabytes``
    at its peak (as tracemalloc counts)."""
    import tracemalloc

    tracemalloc.start()
    try:
        with deadline(seconds):
            yield
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < megabytes * 1e6, f"peak {peak / 1e6:.1f} MB"


def _codec_uses(t: btf.Type) -> list[Callable[[], object]]:
    from ebpf.btf import values

    size = t.size if isinstance(t, btf.Composite) else 8
    return [lambda: values.decode(t, bytes(size)),
            lambda: values.decode(t, bytes(size), classes=True),
            lambda: values.encode(t, {}),
            lambda: values.codec(t, ">"),
            lambda: values.struct_class(t)]  # type: ignore[arg-type]


def _self_containing(n_fields: int) -> btf.Struct:
    s = btf.Struct("loop", 4 * n_fields, [])
    s.members = [*(btf.Member(f"f{i}", INT, 32 * i) for i in range(n_fields)),
                 btf.Member("", s, 0)]
    return s


def _parsed(t: btf.Type, name: str) -> btf.Type:
    """``t`` written as a BTF blob and read back, as an object file would carry it."""
    b = btf.Builder(btf.MarshalOptions())
    b.add(t)
    blob = b.marshal()
    return btf.load_spec_from_bytes(blob).type_by_name(name)


def _mutual() -> btf.Struct:
    a = btf.Struct("a", 8, [])
    b = btf.Struct("b", 8, [btf.Member("y", INT, 32), btf.Member("", a, 0)])
    a.members = [btf.Member("x", INT, 0), btf.Member("", btf.Const(b), 0)]
    return a


def _through_union() -> btf.Union:
    u = btf.Union("", 8, [])
    s = btf.Struct("outer", 8, [btf.Member("z", INT, 0), btf.Member("", u, 0)])
    u.members = [btf.Member("w", INT, 0), btf.Member("", btf.Typedef("s_t", s), 0)]
    return u


HOSTILE_VALUES: dict[str, Callable[[], btf.Type]] = {
    "self": lambda: _self_containing(1),
    # 400 members and itself: a 6.7 KB blob; 32 s and +766 MB to a RecursionError before.
    "self-parsed": lambda: _parsed(_self_containing(400), "loop"),
    "mutual": _mutual,
    "through-union-and-typedef": _through_union,
}


def test_anonymous_member_containing_itself() -> None:
    for label, make in HOSTILE_VALUES.items():
        print("case", label)
        t = make()
        for use in _codec_uses(t):
            with bounded(2, 20), pytest.raises(BTFError, match="contains itself"):
                use()


def test_deeply_nested_anonymous_members() -> None:
    # Not a loop, but deeper than any real program nests anonymous structs: a clear error
    # rather than Python's recursion limit.
    t: btf.Struct = btf.Struct("leaf", 4, [btf.Member("x", INT, 0)])
    for _ in range(2000):
        t = btf.Struct("", 4, [btf.Member("", t, 0)])
    top = btf.Struct("top", 4, [btf.Member("", t, 0)])
    for use in _codec_uses(top):
        with bounded(2, 20), pytest.raises(BTFError, match="nest more than"):
            use()
    shallow: btf.Struct = btf.Struct("leaf", 4, [btf.Member("x", INT, 0)])
    for _ in range(10):
        shallow = btf.Struct("", 4, [btf.Member("", shallow, 0)])
    from ebpf.btf import values

    assert values.decode(btf.Struct("top", 4, [btf.Member("", shallow, 0)]),
                         (7).to_bytes(4, "little"), byte_order="<") == {"x": 7}


# --- valid BTF built to cost: each type used twice by the next --------------------------------

class TooMuchWork(Exception):
    pass


@contextlib.contextmanager
def at_most_calls(budget: int) -> Iterator[list[int]]:
    """Count the Python function calls the body makes (the library's unit of work here) and
    stop it with :class:`TooMuchWork` past ``budget``; yields ``[count]``."""
    count = [0]

    def profile(frame: object, event: str, arg: object) -> None:
        if event == "call":
            count[0] += 1
            if count[0] > budget:
                raise TooMuchWork(f"more than {budget} calls")

    sys.setprofile(profile)
    try:
        yield count
    finally:
        sys.setprofile(None)


def doubling(depth: int, *, anonymous: bool = False, leaf: btf.Type = INT) -> btf.Struct:
    """``S_i = struct { S_{i-1} a; S_{i-1} b; }``: 2**depth leaves from depth + 2 types."""
    t = btf.Struct("s0", 4, [btf.Member("x", leaf, 0)])
    for i in range(1, depth + 1):
        name = "" if anonymous else f"s{i}"
        t = btf.Struct(name, 2 * t.size, [btf.Member("a", t, 0),
                                          btf.Member("b", t, 8 * t.size)])
    return t


def doubling_parsed(depth: int) -> btf.Struct:
    b = btf.Builder(btf.MarshalOptions())
    b.add(doubling(depth))
    blob = b.marshal()
    assert len(blob) < 1000  # 789 bytes at depth 18
    t = btf.load_spec_from_bytes(blob).type_by_name(f"s{depth}")
    assert isinstance(t, btf.Struct)
    return t


DOUBLING = {"objects": lambda d: doubling(d), "parsed": doubling_parsed}


def chains() -> Iterator[tuple[btf.Struct, int]]:
    """The chain at depth 18 and 20, from Python objects and parsed from a blob."""
    for label, make in DOUBLING.items():
        for depth in (18, 20):
            print("case", label, depth)  # shown with a failure
            yield make(depth), depth


def test_alignof_is_linear() -> None:
    for t, depth in chains():
        _check_alignof(t, depth)


def _check_alignof(t: btf.Struct, depth: int) -> None:
    # 1.9 s at depth 18 before (2**18 visits of s0); now each struct is visited once.
    with deadline(2), at_most_calls(200 * depth) as calls:
        assert btf.alignof(t) == 4
    assert calls[0] > depth  # it did walk the types
    memo: dict[btf.Type, int] = {}
    assert btf.alignof(t, memo=memo) == 4
    assert len(memo) == depth + 1
    with at_most_calls(5):  # a shared memo answers at once
        assert btf.alignof(t, memo=memo) == 4


def test_format_c_is_linear() -> None:
    for t, depth in chains():
        # 13.5 s at depth 18 before.
        with deadline(2), at_most_calls(1000 * depth):
            out = format_c([t])
        for i in range(depth + 1):  # each struct defined once
            assert out.count(f"struct s{i} {{") == 1


def test_codec_is_built_once_per_type() -> None:
    from ebpf.btf import values

    for t, depth in chains():
        # 206 s and +1.3 GB at depth 18 before: every use of a type built its codec again.
        for order, classes in (("<", False), (">", False), ("<", True)):
            with deadline(2), at_most_calls(2000 * depth):
                c = values.codec(t, order, classes=classes)
            assert c.size == 4 << depth
            inner = t.members[0].type
            with at_most_calls(10):  # built along with t: shared, not built again
                assert values.codec(inner, order, classes=classes).size == 2 << depth
    # Decoding and encoding still work (a value of 2**depth leaves: time linear in it).
    small = doubling(4)
    data = bytes(range(64))
    value = values.decode(small, data, byte_order="<")
    assert value["a"]["a"]["a"]["a"] == {"x": 0x03020100}
    assert value["b"]["b"]["b"]["b"] == {"x": 0x3f3e3d3c}
    assert values.encode(small, value, byte_order="<") == data


def test_anonymous_members_used_twice() -> None:
    from ebpf.btf import values

    # The same anonymous member type twice gives the same names twice: refused at the first
    # repeat, not after flattening 2**20 of them.
    twice = doubling(20, anonymous=True)
    for m in twice.members:
        m.name = ""
    holder = btf.Struct("holder", twice.size, [btf.Member("", twice, 0)])
    for use in (lambda: values.codec(holder), lambda: values.struct_class(holder)):
        with deadline(2), at_most_calls(20_000), pytest.raises(BTFError, match="several"):
            use()
    # ... and one with no named members at all gives nothing, however often it is repeated.
    empty: btf.Struct = btf.Struct("", 0, [])
    for _ in range(20):
        empty = btf.Struct("", 0, [btf.Member("", empty, 0), btf.Member("", empty, 0)])
    holder = btf.Struct("holder", 4, [btf.Member("", empty, 0), btf.Member("x", INT, 0)])
    with deadline(2), at_most_calls(20_000):
        assert values.decode(holder, bytes(4)) == {"x": 0}
        assert [f.name for f in dataclass_fields(values.struct_class(holder))] == ["x"]


def dataclass_fields(cls: type) -> list[object]:
    import dataclasses

    return list(dataclasses.fields(cls))


def test_format_of_nested_anonymous_types_is_bounded() -> None:
    # Anonymous types are written out wherever they are used, so text for this one would
    # double with each level: the formatter gives up with BTFError instead.
    t = doubling(30, anonymous=True)
    holder = btf.Struct("holder", t.size, [btf.Member("v", t, 0)])
    with deadline(10), pytest.raises(BTFError, match="more than"):
        format_c([holder])
    small = btf.Struct("holder", 64, [btf.Member("v", doubling(4, anonymous=True), 0)])
    out = format_c([small])
    assert out.count("struct s0 a;") == out.count("struct s0 b;") == 8
