"""Typed values: decoding bytes by BTF type and encoding them back, in both byte orders."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ebpf import btf
from ebpf.btf.values import BTFTypeError, BTFValueError, codec, decode, encode
from ebpf.errors import BTFError

CLANG = shutil.which("clang-19") or shutil.which("clang")

S8 = btf.Int("signed char", 1, btf.IntEncoding.SIGNED)
S32 = btf.Int("int", 4, btf.IntEncoding.SIGNED)
U16 = btf.Int("unsigned short", 2)
U32 = btf.Int("unsigned int", 4)
U64 = btf.Int("unsigned long long", 8)
CHAR = btf.Int("char", 1, btf.IntEncoding.SIGNED)
U8 = btf.Int("unsigned char", 1)
BOOL = btf.Int("_Bool", 1, btf.IntEncoding.BOOL)
COLOR = btf.Enum("color", 4, [btf.EnumValue("RED", -1), btf.EnumValue("GREEN", 1)], signed=True)


def test_scalars() -> None:
    assert decode(S32, struct.pack("<i", -5), byte_order="<") == -5
    assert decode(S32, struct.pack(">i", -5), byte_order=">") == -5
    assert encode(U64, 1 << 63) == (1 << 63).to_bytes(8, "little")
    assert decode(BOOL, b"\1") is True and encode(BOOL, False) == b"\0"
    assert decode(btf.Float("double", 8), struct.pack("<d", 1.5), byte_order="<") == 1.5
    assert encode(btf.Float("float", 4), 2, byte_order=">") == struct.pack(">f", 2.0)
    assert decode(btf.Pointer(btf.Void()), (0x1234).to_bytes(8, "little"), byte_order="<") == 0x1234
    td = btf.Typedef("pid_t", btf.Const(S32))
    assert encode(td, 7, byte_order=">") == b"\0\0\0\7"


def test_enums() -> None:
    assert decode(COLOR, struct.pack("<i", -1), byte_order="<") == "RED"
    assert decode(COLOR, struct.pack("<i", 9), byte_order="<") == 9
    assert encode(COLOR, "GREEN", byte_order="<") == struct.pack("<i", 1)
    assert encode(COLOR, -1, byte_order="<") == b"\xff" * 4
    with pytest.raises(BTFValueError, match="BLUE"):
        encode(COLOR, "BLUE")
    e64 = btf.Enum64("big", 8, [btf.EnumValue("MAXV", (1 << 64) - 1)])
    assert decode(e64, b"\xff" * 8) == "MAXV"


def test_int_range_and_type_errors() -> None:
    with pytest.raises(BTFValueError):
        encode(U16, 1 << 16)
    with pytest.raises(BTFValueError):
        encode(S8, -129)
    with pytest.raises(BTFTypeError):
        encode(S32, "1")
    with pytest.raises(BTFTypeError):
        encode(btf.Float("double", 8), "x")
    with pytest.raises(BTFValueError, match="needs 4 bytes"):
        decode(S32, b"\0")
    assert isinstance(BTFValueError("x"), ValueError) and isinstance(BTFTypeError("x"), TypeError)
    for bad in (btf.Void(), btf.Fwd("f"), btf.FuncProto(S32)):
        with pytest.raises(BTFError):
            codec(bad)


def test_arrays() -> None:
    comm = btf.Array(CHAR, 16)
    data = encode(comm, "bash")
    assert data == b"bash" + b"\0" * 12
    assert decode(comm, data) == "bash"
    assert decode(comm, b"\xff" * 16) == b"\xff" * 16
    assert encode(comm, b"ab\0c") == b"ab\0c" + b"\0" * 12
    raw = btf.Array(btf.Typedef("__u8", U8), 4)
    assert decode(raw, b"\1\2\3\4") == b"\1\2\3\4"
    assert encode(raw, [1, 2]) == b"\1\2\0\0"
    with pytest.raises(BTFValueError):
        encode(comm, "x" * 17)
    nums = btf.Array(U32, 3)
    assert decode(nums, encode(nums, [1, 2, 3])) == [1, 2, 3]
    assert encode(nums, [5]) == struct.pack("=III", 5, 0, 0)
    with pytest.raises(BTFValueError):
        encode(nums, [1, 2, 3, 4])
    with pytest.raises(BTFTypeError):
        encode(nums, "abc")


def event_type() -> btf.Struct:
    anon = btf.Union("", 8, [btf.Member("as_u64", U64, 0), btf.Member("as_s32", S32, 0)])
    return btf.Struct("event", 40, [
        btf.Member("pid", U32, 0),
        btf.Member("a", U32, 32, 3),
        btf.Member("b", S32, 35, 5),
        btf.Member("color", COLOR, 40, 2),
        btf.Member("flag", BOOL, 42, 1),
        btf.Member("", anon, 64),
        btf.Member("comm", btf.Array(CHAR, 16), 128),
        btf.Member("ratio", btf.Float("double", 8), 256),
    ])


@pytest.mark.parametrize("order", ["<", ">"])
def test_struct_round_trip(order: str) -> None:
    ev = event_type()
    value = {"pid": 42, "a": 5, "b": -3, "color": "RED", "flag": True, "as_u64": 1 << 40,
             "comm": "bash", "ratio": 0.25}
    data = encode(ev, value, byte_order=order)
    assert len(data) == 40
    got = decode(ev, data, byte_order=order)
    assert got["as_s32"] == (0 if order == "<" else 256)
    got.pop("as_s32")
    assert got == value
    # Partial dicts leave the rest zero.
    assert decode(ev, encode(ev, {"pid": 1}, byte_order=order), byte_order=order)["comm"] == ""
    with pytest.raises(BTFValueError, match="no member"):
        encode(ev, {"nope": 1})
    with pytest.raises(BTFTypeError):
        encode(ev, [1, 2])
    with pytest.raises(BTFValueError, match="3-bit"):
        encode(ev, {"a": 8})


def test_bitfield_bit_positions() -> None:
    s = btf.Struct("s", 4, [btf.Member("lo", U32, 0, 4), btf.Member("hi", U32, 4, 4)])
    assert encode(s, {"lo": 1, "hi": 2}, byte_order="<")[0] == 0x21
    assert encode(s, {"lo": 1, "hi": 2}, byte_order=">")[0] == 0x12


def test_datasec_values() -> None:
    a = btf.Var("a", U32, btf.VarLinkage.GLOBAL)
    b = btf.Var("name", btf.Array(CHAR, 4), btf.VarLinkage.GLOBAL)
    ds = btf.Datasec(".data", 8, [btf.VarSecinfo(a, 0, 4), btf.VarSecinfo(b, 4, 4)])
    data = encode(ds, {"a": 3, "name": "hi"}, byte_order="<")
    assert data == b"\3\0\0\0hi\0\0"
    assert decode(ds, data, byte_order="<") == {"a": 3, "name": "hi"}


def test_codec_offsets() -> None:
    c = codec(U32, "<")
    assert c is codec(U32, "<") and c.size == 4
    buf = bytearray(8)
    c.encode_into(9, buf, 4)
    assert c.decode_from(buf, 4) == 9
    with pytest.raises(BTFValueError):
        c.decode_from(buf, 6)
    with pytest.raises(ValueError):
        codec(U32, "=")


INIT_SOURCE = r"""
enum color { RED = -1, GREEN = 1, BLUE = 2 };
struct flags { unsigned int a : 3; int b : 5; enum color c : 3; unsigned long long d : 40; };
struct event {
    int pid;
    struct flags fl;
    union { unsigned long long u64; int s32; };
    char comm[16];
    unsigned char raw[3];
    short arr[3];
    double ratio;
    _Bool ok;
    enum color color;
};
struct event ev = {
    .pid = -7, .fl = { .a = 5, .b = -9, .c = GREEN, .d = 0x123456789aULL },
    .u64 = 0x1122334455667788ULL, .comm = "bash", .raw = {1, 2, 3},
    .arr = {-1, 2, 300}, .ratio = 0.5, .ok = 1, .color = BLUE,
};
int counter = 3;
"""


@pytest.mark.parametrize("order", ["el", "eb"])
def test_decode_what_clang_initialised(tmp_path: Path, order: str) -> None:
    if CLANG is None:
        pytest.skip("clang-19 is not installed: cannot build the test object")
    from ebpf.internal.elf import read_elf

    src = tmp_path / "init.c"
    src.write_text(INIT_SOURCE)
    obj = tmp_path / f"init-{order}.o"
    subprocess.run([CLANG, f"--target=bpf{order}", "-g", "-O2", "-c", str(src), "-o", str(obj)],
                   check=True)
    spec = btf.load_spec(obj)
    sec = read_elf(obj.read_bytes()).section_by_name(".data")
    assert sec is not None
    section = bytes(sec.data)
    ds = spec.type_by_name(".data", btf.Datasec)
    value = decode(ds, section, byte_order=spec.byte_order)
    assert value["counter"] == 3
    ev = value["ev"]
    assert ev == {
        "pid": -7, "fl": {"a": 5, "b": -9, "c": "GREEN", "d": 0x123456789A},
        "u64": 0x1122334455667788, "s32": ev["s32"], "comm": "bash", "raw": b"\1\2\3",
        "arr": [-1, 2, 300], "ratio": 0.5, "ok": True, "color": "BLUE",
    }
    assert ev["s32"] == (0x55667788 if order == "el" else 0x11223344)
    ev.pop("s32")
    assert encode(ds, value, byte_order=spec.byte_order) == section


@pytest.mark.parametrize("order", ["<", ">"])
def test_generated_classes(order: str) -> None:
    ev = event_type()
    cls = btf.struct_class(ev)
    assert cls is btf.struct_class(ev) and cls.__name__ == "event"
    data = encode(ev, {"pid": 3, "comm": "sh", "color": "GREEN"}, byte_order=order)
    obj: Any = decode(ev, data, byte_order=order, classes=True)
    assert (obj.pid, obj.comm, obj.color, obj.as_u64) == (3, "sh", "GREEN", 0)
    assert encode(ev, obj, byte_order=order) == data
    assert type(obj) is cls
    # Unset fields of a new instance are zero.
    assert encode(ev, cls(pid=3, comm="sh", color="GREEN"), byte_order=order) == data
    kw = btf.Struct("kw", 4, [btf.Member("from", U32, 0)])
    inst = btf.struct_class(kw)(from_=7)
    assert encode(kw, inst) == encode(kw, {"from": 7})
    nested = btf.Struct("outer", 8, [btf.Member("inner", btf.Struct("in", 4, [
        btf.Member("x", U32, 0)]), 0), btf.Member("y", U32, 32)])
    o = decode(nested, encode(nested, {"inner": {"x": 1}, "y": 2}), classes=True)
    assert (o.inner.x, o.y) == (1, 2)


def test_codecs_and_classes_do_not_keep_their_types_alive() -> None:
    """What the codecs build is kept on the types: once a spec is dropped, its types, codecs
    and generated classes go too (a cache beside the types kept every spec of a long-running
    process alive: 19 KiB a load in the soak)."""
    import gc
    import weakref

    from ebpf.elf_reader import load_collection_spec

    path = Path(__file__).resolve().parents[2] / "testdata" / "globals-el.elf"
    refs = []
    for _ in range(3):
        spec = load_collection_spec(path)
        data = spec.maps[".data"]
        assert data.value_type is not None
        values = codec(data.value_type, "<", classes=True).decode(bytes(data.value_size))
        assert values is not None
        refs.append(weakref.ref(data.value_type))
        del spec, data, values
    gc.collect()
    assert [r() for r in refs] == [None, None, None]
