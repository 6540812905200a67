"""Parsing raw BTF blobs: both byte orders, split BTF, and malformed input."""

from __future__ import annotations

import contextlib
import random
import struct
import time
from pathlib import Path

import pytest

from ebpf import btf
from ebpf.errors import BTFError

INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF = 1, 2, 3, 4, 5, 6, 7, 8
VOLATILE, CONST, RESTRICT, FUNC, FUNC_PROTO, VAR, DATASEC, FLOAT = 9, 10, 11, 12, 13, 14, 15, 16
DECL_TAG, TYPE_TAG, ENUM64 = 17, 18, 19


class Strings:
    """A string table under construction."""

    def __init__(self) -> None:
        self.data = b"\0"

    def __call__(self, s: str) -> int:
        if not s:
            return 0
        off = len(self.data)
        self.data += s.encode() + b"\0"
        return off


def info(kind: int, vlen: int = 0, kflag: int = 0) -> int:
    return kflag << 31 | kind << 24 | vlen


def blob(words: list[int], strings: bytes, order: str = "<", *, hdr_len: int = 24,
         type_off: int | None = None, type_len: int | None = None, str_off: int | None = None,
         str_len: int | None = None, magic: int = 0xEB9F, version: int = 1) -> bytes:
    types = struct.pack(f"{order}{len(words)}I", *words)
    t_off = 0 if type_off is None else type_off
    t_len = len(types) if type_len is None else type_len
    s_off = len(types) if str_off is None else str_off
    s_len = len(strings) if str_len is None else str_len
    hdr = struct.pack(order + "HBBIIIII", magic, version, 0, hdr_len, t_off, t_len, s_off,
                      s_len)
    return hdr + b"\0" * (hdr_len - 24) + types + strings


def sample(order: str = "<") -> bytes:
    """[1] int, [2] struct s {int a; unsigned b:3} , [3] ptr->2, [4] typedef s_t->2,
    [5] enum e, [6] func_proto int(int x), [7] func f, [8] const->1, [9] array int[4]."""
    s = Strings()
    w = [
        s("int"), info(INT), 4, 1 << 24 | 32,
        s("s"), info(STRUCT, 2, kflag=1), 8,
        s("a"), 1, 0,
        s("b"), 1, 3 << 24 | 32,
        0, info(PTR), 2,
        s("s_t"), info(TYPEDEF), 2,
        s("e"), info(ENUM, 2, kflag=1), 4,
        s("NEG"), 0xFFFFFFFF,
        s("POS"), 7,
        0, info(FUNC_PROTO, 1), 1,
        s("x"), 1,
        s("f"), info(FUNC, 1), 6,
        0, info(CONST), 1,
        0, info(ARRAY), 0, 1, 1, 4,
    ]
    return blob(w, s.data, order)


@pytest.mark.parametrize("order", ["<", ">"])
def test_parse_sample(order: str) -> None:
    spec = btf.load_spec_from_bytes(sample(order))
    assert spec.byte_order == order
    assert len(spec) == 9
    s = spec.type_by_name("s", btf.Struct)
    assert s.size == 8
    a, b = s.members
    assert (a.name, a.offset, a.bitfield_size) == ("a", 0, 0)
    assert (b.name, b.offset, b.bitfield_size) == ("b", 32, 3)
    assert a.type is spec.type_by_id(1) is b.type
    ptr = spec.type_by_id(3)
    assert isinstance(ptr, btf.Pointer) and ptr.target is s
    e = spec.type_by_name("e", btf.Enum)
    assert [(v.name, v.value) for v in e.values] == [("NEG", -1), ("POS", 7)] and e.signed
    f = spec.any_type_by_name("f")
    assert isinstance(f, btf.Func) and f.linkage is btf.FuncLinkage.GLOBAL
    assert [p.name for p in f.proto.params] == ["x"]
    arr = spec.type_by_id(9)
    assert isinstance(arr, btf.Array) and arr.nelems == 4 and btf.sizeof(arr) == 16
    assert spec.type_id(s) == 2 and spec.type_id(btf.Void()) == 0
    assert isinstance(spec.type_by_id(0), btf.Void)
    assert [spec.type_id(t) for t in spec] == list(range(1, 10))
    assert spec.dump(2) == ("[2] STRUCT 's' size=8 vlen=2\n\t'a' type_id=1 bits_offset=0\n"
                            "\t'b' type_id=1 bits_offset=32 bitfield_size=3")
    assert spec.string(1) == "int"


def test_lookups() -> None:
    spec = btf.load_spec_from_bytes(sample())
    assert spec.types_by_name("s") == [spec.type_by_id(2)]
    assert spec.types_by_name("nope") == [] and spec.types_by_name("") == []
    with pytest.raises(btf.NotFoundError) as ei:
        spec.type_by_name("s", btf.Union)
    assert isinstance(ei.value, KeyError) and isinstance(ei.value, BTFError)
    with pytest.raises(btf.NotFoundError):
        spec.any_type_by_name("missing")
    with pytest.raises(btf.NotFoundError):
        spec.type_by_id(10)
    with pytest.raises(btf.NotFoundError):
        spec.type_by_id(-1)
    # Qualifier lookups by class narrow to that class.
    assert spec.type_by_name("s_t", btf.Typedef).type is spec.type_by_id(2)
    t = spec.type_by_name("int")
    assert isinstance(t, btf.Int)


def test_ambiguous_name() -> None:
    s = Strings()
    w = [s("x"), info(INT), 4, 32, s("x"), info(STRUCT), 0, s("x"), info(TYPEDEF), 1]
    spec = btf.load_spec_from_bytes(blob(w, s.data))
    with pytest.raises(BTFError, match="3 types are named 'x'"):
        spec.any_type_by_name("x")
    assert isinstance(spec.type_by_name("x", btf.Struct), btf.Struct)
    assert len(spec.types_by_name("x")) == 3


def test_split_btf() -> None:
    base_blob = sample()
    base = btf.load_spec_from_bytes(base_blob)
    base_strings_len = base.strings_size
    own = b"\0mod_t\0"
    # [10] typedef mod_t -> 2 (base struct), [11] ptr -> 10, [12] typedef 's_t2' using a base
    # string offset ("s_t" lives in the base strings).
    s_t_off = base.raw.strings.index(b"\0s_t\0") + 1
    assert base.string(s_t_off) == "s_t"
    w = [base_strings_len + 1, info(TYPEDEF), 2, 0, info(PTR), 10, s_t_off, info(TYPEDEF), 11]
    split = btf.load_spec_from_bytes(blob(w, own), base=base)
    assert len(split) == 12 and split.base is base
    mod = split.type_by_name("mod_t", btf.Typedef)
    assert mod.type is base.type_by_id(2)
    assert split.type_by_id(1) is base.type_by_id(1)
    assert [split.type_id(t) for t in split.types_by_name("s_t")] == [4, 12]
    assert split.type_id(base.type_by_id(5)) == 5


HDR_CASES = {
    "short": b"\x9f\xeb\x01\x00",
    "magic": blob([], b"\0", magic=0x1234),
    "version": blob([], b"\0", version=2),
    "hdr_len": blob([], b"\0", hdr_len=16),
    "type section outside": blob([], b"\0", type_len=400),
    "misaligned": blob([0, info(PTR), 0], b"\0", type_off=2),
    "string section outside": blob([], b"\0", str_len=1 << 31),
    "strings not terminated": blob([], b"\0ab"),
    "strings start": blob([], b"x\0"),
    "hdr nonzero tail": blob([], b"\0", hdr_len=28)[:24] + b"\1\0\0\0" + b"\0",
}


@pytest.mark.parametrize("case", sorted(HDR_CASES))
def test_bad_header(case: str) -> None:
    with pytest.raises(BTFError):
        btf.load_spec_from_bytes(HDR_CASES[case])


def bad_types() -> dict[str, tuple[list[int], bytes]]:
    return {
        "truncated int": ([1, info(INT), 4], b"\0int\0"),
        "huge vlen": ([0, info(STRUCT, 0xFFFF), 4, 0, 1, 0], b"\0"),
        "unknown kind": ([0, info(25), 0], b"\0"),
        "kind 0": ([0, info(0), 0], b"\0"),
    }


@pytest.mark.parametrize("case", sorted(bad_types()))
def test_bad_type_section(case: str) -> None:
    words, strings = bad_types()[case]
    with pytest.raises(BTFError) as ei:
        btf.load_spec_from_bytes(blob(words, strings))
    assert ei.value.type_id == 1


def test_bad_string_offset_names_type() -> None:
    spec = btf.load_spec_from_bytes(blob([999, info(INT), 4, 32], b"\0"))
    with pytest.raises(BTFError, match="string offset 999"):
        spec.type_by_id(1)
    with pytest.raises(BTFError) as ei:
        spec.type_by_name("x")
    assert ei.value.type_id == 1


def test_bad_type_reference() -> None:
    spec = btf.load_spec_from_bytes(blob([0, info(PTR), 77], b"\0"))
    with pytest.raises(BTFError, match="type id 77") as ei:
        spec.type_by_id(1)
    assert ei.value.type_id == 1


def test_self_reference_and_loops() -> None:
    with pytest.raises(BTFError, match="refers to itself"):
        btf.load_spec_from_bytes(blob([0, info(CONST), 1], b"\0")).type_by_id(1)
    s = Strings()
    # typedef a -> b, typedef b -> a: parses, but sizeof reports the loop.
    spec = btf.load_spec_from_bytes(blob([s("a"), info(TYPEDEF), 2, s("b"), info(TYPEDEF), 1],
                                         s.data))
    with pytest.raises(BTFError, match="loop"):
        btf.sizeof(spec.type_by_id(1))
    # struct node { struct node *next; } is fine.
    s = Strings()
    spec = btf.load_spec_from_bytes(blob([s("node"), info(STRUCT, 1), 8, s("next"), 2, 0,
                                          0, info(PTR), 1], s.data))
    node = spec.type_by_name("node", btf.Struct)
    assert btf.sizeof(node) == 8 and btf.alignof(node) == 8


def test_bad_values() -> None:
    with pytest.raises(BTFError, match="linkage"):
        btf.load_spec_from_bytes(blob([1, info(FUNC, 3), 0], b"\0f\0")).type_by_id(1)
    with pytest.raises(BTFError, match="float"):
        btf.load_spec_from_bytes(blob([1, info(FLOAT), 3], b"\0f\0")).type_by_id(1)
    with pytest.raises(BTFError, match="bits"):
        btf.load_spec_from_bytes(blob([1, info(INT), 1, 64], b"\0i\0")).type_by_id(1)
    with pytest.raises(BTFError, match="int of 3 bytes"):
        btf.load_spec_from_bytes(blob([1, info(INT), 3, 8], b"\0i\0")).type_by_id(1)
    with pytest.raises(BTFError, match="enum of 4278190088 bytes"):
        btf.load_spec_from_bytes(blob([1, info(ENUM64), 0xFF000008], b"\0e\0")).type_by_id(1)


def test_huge_counts_are_fast() -> None:
    # A header that claims 4 GiB of types must not allocate or loop: it does not fit the blob.
    start = time.perf_counter()
    for case in (blob([], b"\0", type_len=0xFFFFFFFC), blob([], b"\0", str_len=0xFFFFFFFF),
                 blob([0, info(ENUM64, 0xFFFF), 8], b"\0")):
        with pytest.raises(BTFError):
            btf.load_spec_from_bytes(case)
    assert time.perf_counter() - start < 1


def test_mutated_blobs_raise_only_btf_error() -> None:
    good = sample()
    rng = random.Random(1234)
    for _ in range(400):
        data = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(data))
            data[pos] = rng.randrange(256)
        if rng.random() < 0.2:
            data = data[:rng.randrange(len(data))]
        try:
            spec = btf.load_spec_from_bytes(bytes(data))
            for t in spec:
                str(t)
                with contextlib.suppress(BTFError):
                    btf.sizeof(t)
                for ref in t.references():
                    repr(ref)
            spec.types_by_name("s")
        except BTFError:
            pass


def test_spec_copy_is_independent() -> None:
    spec = btf.load_spec_from_bytes(sample())
    s = spec.type_by_name("s", btf.Struct)
    s.size = 16  # a fixup, as done to DATASECs of object files
    dup = spec.copy()
    s2 = dup.type_by_name("s", btf.Struct)
    assert s2 is not s and s2.size == 16 and dup.type_id(s2) == 2
    s2.members[0].name = "renamed"
    assert s.members[0].name == "a"
    # Types not decoded before the copy are decoded fresh, references resolve within the copy.
    ptr = dup.type_by_id(3)
    assert isinstance(ptr, btf.Pointer) and ptr.target is s2
    assert spec.type_by_id(3) is not ptr
    assert len(dup) == len(spec)


@pytest.mark.parametrize("method", ["gzip", "lzma"])
def test_compressed_blobs(method: str, tmp_path: Path) -> None:
    import gzip
    import lzma

    raw = sample()
    packed = gzip.compress(raw) if method == "gzip" else lzma.compress(raw)
    path = tmp_path / "vmlinux.btf.z"
    path.write_bytes(packed)
    spec = btf.load_spec(path)
    assert spec.type_by_name("s", btf.Struct).size == 8
    assert len(btf.load_kernel_spec(path)) == 9
    with pytest.raises(BTFError, match="decompress"):
        btf.load_spec_from_bytes(packed[:len(packed) // 2])


def test_iter_types_by_class() -> None:
    spec = btf.load_spec_from_bytes(sample())
    assert [t.name for t in spec.iter_types(btf.Struct)] == ["s"]
    assert [spec.type_id(t) for t in spec.iter_types(btf.Qualifier)] == [8]
    assert len(list(spec.iter_types(btf.Type))) == len(spec)
    funcs = list(spec.iter_types(btf.Func))
    assert len(funcs) == 1 and funcs[0].name == "f"
