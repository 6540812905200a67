"""Errors from encoding a Python value through a BTF type say where in the value the problem is
(``hdr.len``, ``slots[3]``) and name types as C does (``unsigned long long``, ``struct event``),
never by the type object's repr."""

from __future__ import annotations

import pickle
import re

import pytest

from ebpf import btf
from ebpf.btf.values import BTFTypeError, BTFValueError, encode

U8 = btf.Int("unsigned char", 1)
U16 = btf.Int("unsigned short", 2)
U32 = btf.Int("unsigned int", 4)
U64 = btf.Int("unsigned long long", 8)
S32 = btf.Int("int", 4, btf.IntEncoding.SIGNED)
CHAR = btf.Int("char", 1, btf.IntEncoding.SIGNED | btf.IntEncoding.CHAR)
KIND = btf.Enum("kind", 4, [btf.EnumValue("KIND_A", 0), btf.EnumValue("KIND_B", 1)])
HDR = btf.Struct("hdr", 4, [btf.Member("len", U16, 0), btf.Member("flags", U16, 16)])
PAIR = btf.Struct("", 8, [btf.Member("lo", U32, 0), btf.Member("hi", U32, 32)])
EVENT = btf.Struct("event", 80, [
    btf.Member("packets", U64, 0),
    btf.Member("hdr", HDR, 64),
    btf.Member("slots", btf.Array(U32, 4), 96),
    btf.Member("kind", KIND, 224),
    btf.Member("comm", btf.Array(CHAR, 16), 256),
    btf.Member("pairs", btf.Array(PAIR, 2), 384),
    btf.Member("", btf.Union("", 4, [btf.Member("raw", U32, 0), btf.Member("half", U16, 0)]),
               512),
    btf.Member("flag", S32, 544, bitfield_size=3),
    btf.Member("tail", btf.Typedef("__u32", U32), 576),
])
assert btf.sizeof(EVENT) == 80

CASES = [
    ({"packets": "many"}, BTFTypeError, ("packets",),
     "packets: unsigned long long needs an int, not str"),
    ({"packets": -1}, BTFValueError, ("packets",),
     "packets: -1 does not fit unsigned long long (0..18446744073709551615)"),
    ({"hdr": {"len": 70000}}, BTFValueError, ("hdr", "len"),
     "hdr.len: 70000 does not fit unsigned short (0..65535)"),
    ({"hdr": {"size": 1}}, BTFValueError, ("hdr",), "hdr: struct hdr has no member 'size'"),
    ({"hdr": 5}, BTFTypeError, ("hdr",),
     "hdr: struct hdr needs a mapping of member names, not int"),
    ({"slots": [1, 2, "x"]}, BTFTypeError, ("slots", 2),
     "slots[2]: unsigned int needs an int, not str"),
    ({"slots": [1, 2, 3, 4, 5]}, BTFValueError, ("slots",),
     "slots: 5 elements do not fit unsigned int [4] (4)"),
    ({"kind": "KIND_C"}, BTFValueError, ("kind",),
     "kind: 'KIND_C' is not an enumerator of enum kind"),
    ({"comm": "x" * 17}, BTFValueError, ("comm",),
     "comm: 17 bytes do not fit char [16] (16 bytes)"),
    ({"pairs": [{}, {"hi": None}]}, BTFTypeError, ("pairs", 1, "hi"),
     "pairs[1].hi: unsigned int needs an int, not NoneType"),
    ({"half": 1 << 16}, BTFValueError, ("half",),
     "half: 65536 does not fit unsigned short (0..65535)"),
    ({"flag": 9}, BTFValueError, ("flag",), "flag: 9 does not fit the 3-bit field 'flag' (int)"),
    ({"tail": 2.5}, BTFTypeError, ("tail",), "tail: unsigned int needs an int, not float"),
    ({"nope": 1}, BTFValueError, (), "struct event has no member 'nope'"),
    (7, BTFTypeError, (), "struct event needs a mapping of member names, not int"),
]


def test_errors_name_the_field_and_the_c_type() -> None:
    for value, cls, path, text in CASES:
        with pytest.raises(cls) as info:
            encode(EVENT, value)
        e = info.value
        assert str(e) == text
        assert e.path == path  # type: ignore[attr-defined]
        assert not re.search(r"<\w+ '", str(e)), "a type's repr leaked into the message"
        again = pickle.loads(pickle.dumps(e))
        assert (str(again), again.path) == (str(e), e.path)  # type: ignore[attr-defined]


def test_datasec_values_name_the_variable() -> None:
    ds = btf.Datasec(".data", 12, [btf.VarSecinfo(btf.Var("counter", U64), 0, 8),
                                   btf.VarSecinfo(btf.Var("limits", btf.Array(U8, 4)), 8, 4)])
    with pytest.raises(BTFTypeError, match=r"^counter: unsigned long long needs an int, not str$"):
        encode(ds, {"counter": "x"})
    with pytest.raises(BTFTypeError, match=r"^limits: unsigned char \[4\] needs bytes or str"):
        encode(ds, {"limits": 3})


def test_good_values_still_encode() -> None:
    data = encode(EVENT, {"packets": 3, "hdr": {"len": 2}, "slots": [1, 2], "kind": "KIND_B",
                          "comm": "sh", "pairs": [{"lo": 1}], "half": 5, "flag": -2, "tail": 9},
                  byte_order="<")
    assert len(data) == 80 and data[:8] == (3).to_bytes(8, "little")
