"""BTF that no compiler emits, or that is valid but built to cost: formatting, sizes and the
value codec answer with a :class:`~ebpf.errors.BTFError` (or a result) in bounded time and
memory, never a hang, a ``RecursionError`` or exponential work."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator

import pytest

from ebpf import btf
from ebpf.btf.format import CFormatter, declaration, format_c, type_name
from ebpf.errors import BTFError

INT = btf.Int("int", 4, btf.IntEncoding.SIGNED)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail (instead of hanging the run) if the body takes longer than ``seconds``."""
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


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


@pytest.mark.parametrize("make", CYCLES.values(), ids=list(CYCLES))
def test_qualifier_cycles_raise_btf_error(make: Callable[[], btf.Type]) -> None:
    t = make()
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


@pytest.mark.parametrize("make", [self_referencing_anonymous_struct, self_referencing_proto],
                         ids=["anonymous-struct", "func-proto"])
def test_unnamed_types_that_contain_themselves(make: Callable[[], btf.Type]) -> None:
    # No C declaration can name these (nothing breaks the cycle); with two or three
    # references per level, formatting them without noticing was exponential.
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


@pytest.mark.parametrize("make", HOSTILE_VALUES.values(), ids=list(HOSTILE_VALUES))
def test_anonymous_member_containing_itself(make: Callable[[], btf.Type]) -> None:
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
