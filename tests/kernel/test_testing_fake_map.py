"""FakeMap against the kernel: the same operations on a real map and on a FakeMap made from
the same spec give the same results and raise the same errors (class, errno and message)."""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ebpf import Map, MapSpec, MapType, UpdateFlags, load_collection_spec
from ebpf.internal.kernel import possible_cpus
from ebpf.testing import FakeMap

pytestmark = pytest.mark.kernel

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
SUFFIX = "el" if sys.byteorder == "little" else "eb"
NCPU = possible_cpus()

Outcome = tuple[Any, ...]


def outcome(fn: Callable[[], Any]) -> Outcome:
    """What calling ``fn`` did: its result (iterators listed, in a stable order) or the error
    it raised (class, errno, message)."""
    try:
        result = fn()
        if isinstance(result, Iterator):
            result = sorted(result, key=repr)
    except Exception as e:  # every error is part of the comparison
        return ("raises", type(e).__name__, getattr(e, "errno", None), str(e))
    return ("returns", result)


def both(spec: MapSpec, ops: list[tuple[str, Callable[[Any], Any]]]) -> None:
    with Map(spec) as real, FakeMap(spec) as fake:
        for i, (what, op) in enumerate(ops):
            got_real = outcome(lambda op=op: op(real))  # type: ignore[misc]
            got_fake = outcome(lambda op=op: op(fake))  # type: ignore[misc]
            assert got_fake == got_real, f"operation {i}: {what}"


def random_ops(rng: random.Random, n: int, keys: list[Any], values: Callable[[], Any],
               keyless: bool = False) -> list[tuple[str, Callable[[Any], Any]]]:
    ops: list[tuple[str, Callable[[Any], Any]]] = []
    for _ in range(n):
        k = rng.choice(keys)
        v = values()
        flags = rng.choice([UpdateFlags.ANY, UpdateFlags.NOEXIST, UpdateFlags.EXIST,
                            UpdateFlags.LOCK, 8])
        if keyless:
            choice = rng.choice(["push", "push", "pop", "peek", "delete", "keys", "update"])
            table: dict[str, tuple[str, Callable[[Any], Any]]] = {
                "push": (f"push {v!r} {flags!r}", lambda m, v=v, f=flags: m.push(v, f)),
                "pop": ("pop", lambda m: m.pop()),
                "peek": ("peek", lambda m: m.peek()),
                "delete": ("delete None", lambda m: m.delete(None)),
                "keys": ("keys", lambda m: m.keys()),
                "update": (f"update 1 {v!r}", lambda m, v=v: m.update(1, v)),
            }
        else:
            choice = rng.choice(["set", "update", "update", "get", "delete", "contains",
                                 "items", "keys", "lookup_and_delete", "lookup_flags"])
            table = {
                "set": (f"m[{k!r}] = {v!r}", lambda m, k=k, v=v: m.__setitem__(k, v)),
                "update": (f"update {k!r} {v!r} {flags!r}",
                           lambda m, k=k, v=v, f=flags: m.update(k, v, f)),
                "get": (f"m[{k!r}]", lambda m, k=k: m[k]),
                "delete": (f"del m[{k!r}]", lambda m, k=k: m.delete(k)),
                "contains": (f"{k!r} in m", lambda m, k=k: k in m),
                "items": ("items", lambda m: m.items()),
                "keys": ("keys", lambda m: m.keys()),
                "lookup_and_delete": (f"lookup_and_delete {k!r}",
                                      lambda m, k=k: m.lookup_and_delete(k)),
                "lookup_flags": (f"lookup {k!r} LOCK", lambda m, k=k: m.lookup(k, 4)),
            }
        ops.append(table[choice])
    return ops


@pytest.mark.parametrize("map_type", [MapType.HASH, MapType.ARRAY], ids=str)
def test_random_operations_agree(map_type: MapType) -> None:
    rng = random.Random(f"fake-map-{map_type.name}")
    spec = MapSpec("diff", map_type, 4, 8, 4)
    keys: list[Any] = [0, 1, 2, 3, 4, 7, b"\x05\0\0\0", -1, 1 << 40, b"x", "s"]
    values: Callable[[], Any] = lambda: rng.choice(  # noqa: E731
        [rng.randrange(1 << 32), b"12345678", b"short", -5, None])
    both(spec, random_ops(rng, 400, keys, values))


@pytest.mark.parametrize("map_type", [MapType.PERCPU_HASH, MapType.PERCPU_ARRAY],
                         ids=str)
def test_per_cpu_operations_agree(map_type: MapType) -> None:
    rng = random.Random(f"fake-map-{map_type.name}")
    spec = MapSpec("diff", map_type, 4, 4, 3)
    keys: list[Any] = [0, 1, 2, 3]
    values: Callable[[], Any] = lambda: rng.choice(  # noqa: E731
        [[rng.randrange(1 << 32) for _ in range(NCPU)], [1] * (NCPU + 1), 7, b"abcd"])
    both(spec, random_ops(rng, 200, keys, values))


@pytest.mark.parametrize("map_type", [MapType.QUEUE, MapType.STACK], ids=str)
def test_queue_and_stack_operations_agree(map_type: MapType) -> None:
    rng = random.Random(f"fake-map-{map_type.name}")
    spec = MapSpec("diff", map_type, 0, 4, 3)
    values: Callable[[], Any] = lambda: rng.choice(  # noqa: E731
        [rng.randrange(1 << 32), b"abcd", b"toolong"])
    both(spec, random_ops(rng, 300, [None], values, keyless=True))


def test_full_hash_map_and_flags_agree() -> None:
    spec = MapSpec("full", MapType.HASH, 4, 4, 2)
    ops: list[tuple[str, Callable[[Any], Any]]] = [
        ("m[1] = 1", lambda m: m.__setitem__(1, 1)),
        ("m[2] = 2", lambda m: m.__setitem__(2, 2)),
        ("m[3] = 3 (full)", lambda m: m.__setitem__(3, 3)),
        ("m[2] = 5 (replace while full)", lambda m: m.__setitem__(2, 5)),
        ("NOEXIST on 1", lambda m: m.update(1, 9, UpdateFlags.NOEXIST)),
        ("EXIST on 3", lambda m: m.update(3, 9, UpdateFlags.EXIST)),
        ("del 1", lambda m: m.delete(1)),
        ("m[3] = 3 (room again)", lambda m: m.__setitem__(3, 3)),
        ("items", lambda m: m.items()),
        ("next_key of a missing key", lambda m: m.next_key(42) in (2 .to_bytes(4, "little"),
                                                                   3 .to_bytes(4, "little"))),
        ("freeze", lambda m: m.freeze()),
        ("update frozen", lambda m: m.__setitem__(3, 4)),
        ("delete frozen", lambda m: m.delete(3)),
        ("read frozen", lambda m: m[3]),
    ]
    both(spec, ops)


def test_btf_typed_values_agree() -> None:
    spec = load_collection_spec(TESTDATA / f"testing_packets-{SUFFIX}.elf").maps["parsed"]
    assert spec.value_type is not None
    value = {"ethertype": 0x800, "l4_proto": 17, "ip_csum_ok": 1, "l4_csum_ok": 1,
             "sport": 1, "dport": 2, "l4_len": 8, "ttl": 64, "src": bytes(16),
             "dst": bytes(range(16))}
    ops: list[tuple[str, Callable[[Any], Any]]] = [
        ("read zeroes", lambda m: m[0]),
        ("write a dict", lambda m: m.__setitem__(0, value)),
        ("read it back", lambda m: m[0]),
        ("write a wrong field", lambda m: m.__setitem__(0, {"nope": 1})),
        ("write raw bytes", lambda m: m.__setitem__(0, bytes(spec.value_size))),
        ("items", lambda m: list(m.items())),
        ("out of range", lambda m: m[1]),
    ]
    both(spec, ops)
    with FakeMap(spec) as fake:
        fake[0] = value
        assert fake[0]["dst"] == value["dst"] or list(fake[0]["dst"]) == list(value["dst"])
