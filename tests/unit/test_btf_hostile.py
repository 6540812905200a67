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
