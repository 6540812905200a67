"""The BTF type model: construction, sizes, alignment, qualifier skipping and text."""

from __future__ import annotations

import pytest

from ebpf import btf
from ebpf.errors import BTFError

U32 = btf.Int("unsigned int", 4)
S32 = btf.Int("int", 4, btf.IntEncoding.SIGNED)
U64 = btf.Int("unsigned long long", 8)
CHAR = btf.Int("char", 1, btf.IntEncoding.SIGNED | btf.IntEncoding.CHAR)


def test_int_fields() -> None:
    assert S32.signed and not U32.signed
    assert S32.bits == 32 and S32.offset == 0
    assert S32.kind is btf.Kind.INT
    assert str(S32) == "INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED"


def test_sizeof_follows_typedefs_qualifiers_and_arrays() -> None:
    td = btf.Typedef("u32_t", btf.Const(btf.Volatile(U32)))
    arr = btf.Array(td, 10)
    assert btf.sizeof(td) == 4
    assert btf.sizeof(arr) == 40
    assert btf.sizeof(btf.Array(arr, 3)) == 120
    assert btf.sizeof(btf.Pointer(btf.Void())) == 8
    assert btf.sizeof(btf.Var("v", arr)) == 40
    assert btf.sizeof(btf.Enum("e", 2)) == 2
    assert btf.sizeof(btf.Float("double", 8)) == 8


@pytest.mark.parametrize("t", [btf.Void(), btf.Fwd("x"), btf.FuncProto(btf.Void()),
                               btf.Func("f", btf.FuncProto(btf.Void()))])
def test_sizeof_of_sizeless_types_raises(t: btf.Type) -> None:
    with pytest.raises(BTFError, match="has no size"):
        btf.sizeof(t)


def test_typedef_loop_is_an_error_not_a_hang() -> None:
    a = btf.Typedef("a", U32)
    b = btf.Typedef("b", a)
    a.type = b
    with pytest.raises(BTFError, match="loop"):
        btf.sizeof(a)
    with pytest.raises(BTFError, match="loop"):
        btf.underlying(a)
    c = btf.Const(U32)
    v = btf.Volatile(c)
    c.type = v
    with pytest.raises(BTFError, match="loop"):
        btf.skip_qualifiers(c)


def test_underlying_and_skip_qualifiers() -> None:
    s = btf.Struct("s", 4, [btf.Member("x", U32)])
    td = btf.Typedef("s_t", btf.Const(s))
    assert btf.underlying(td) is s
    assert btf.skip_qualifiers(td) is td
    assert btf.skip_qualifiers(btf.Restrict(btf.TypeTag("user", td))) is td
    assert btf.underlying(U32) is U32


def test_alignof() -> None:
    s = btf.Struct("s", 16, [btf.Member("a", CHAR, 0), btf.Member("b", U64, 64)])
    assert btf.alignof(s) == 8
    assert btf.alignof(btf.Array(U32, 3)) == 4
    packed = btf.Struct("p", 9, [btf.Member("a", CHAR, 0), btf.Member("b", U64, 8)])
    assert btf.alignof(packed) == 1
    bits = btf.Struct("b", 4, [btf.Member("a", U32, 0, 3), btf.Member("b", U32, 3, 5)])
    assert btf.alignof(bits) == 4
    with pytest.raises(BTFError):
        btf.alignof(btf.Fwd("f"))


def test_struct_members_and_lookup() -> None:
    m = btf.Member("flag", U32, offset=35, bitfield_size=1)
    s = btf.Struct("s", 8, [btf.Member("x", S32), m])
    assert s.member("flag") is m
    assert (m.name, m.type, m.offset, m.bitfield_size) == ("flag", U32, 35, 1)
    with pytest.raises(KeyError):
        s.member("nope")
    assert list(s.references()) == [S32, U32]
    assert repr(s) == "<Struct 's' size=8 vlen=2>"
    assert "bitfield_size=1" in repr(m)


def test_references_must_be_types() -> None:
    with pytest.raises(TypeError):
        btf.Pointer(42)  # type: ignore[arg-type]


def test_enum_and_enum64() -> None:
    e = btf.Enum("color", 4, [btf.EnumValue("RED", -1), btf.EnumValue("GREEN", 1)], signed=True)
    assert e.value_name(1) == "GREEN" and e.value_name(5) is None
    assert str(e) == "ENUM 'color' encoding=SIGNED size=4 vlen=2"
    e64 = btf.Enum64("big", values=[btf.EnumValue("A", 1 << 40)])
    assert isinstance(e64, btf.Enum) and e64.kind is btf.Kind.ENUM64 and e64.size == 8


def test_func_proto_variadic_and_func() -> None:
    proto = btf.FuncProto(S32, [btf.FuncParam("fmt", btf.Pointer(CHAR)),
                                btf.FuncParam("", btf.Void())])
    assert proto.variadic
    f = btf.Func("printk", proto, btf.FuncLinkage.GLOBAL)
    assert f.proto is proto
    assert str(f) == "FUNC 'printk' linkage=global"
    with pytest.raises(BTFError):
        _ = btf.Func("bad", S32).proto


def test_tags_and_datasec() -> None:
    v = btf.Var("counter", U32, btf.VarLinkage.GLOBAL)
    ds = btf.Datasec(".data", 4, [btf.VarSecinfo(v, 0, 4)])
    tag = btf.DeclTag("kfunc", v)
    tt = btf.TypeTag("user", U32)
    assert tag.value == "kfunc" and tag.component_idx == -1
    assert tt.value == "user" and tt.type is U32
    assert list(ds.references()) == [v]
    assert "VAR 'counter'" in repr(ds.vars[0])
    assert str(btf.Void()) == "void"


def test_copy_types_is_deep_and_keeps_cycles() -> None:
    node = btf.Struct("node", 16, [btf.Member("val", S32, 0)])
    node.members.append(btf.Member("next", btf.Pointer(node), 64))
    td = btf.Typedef("node_t", node)
    c_td, c_node = btf.copy_types([td, node])
    assert isinstance(c_td, btf.Typedef) and isinstance(c_node, btf.Struct)
    assert c_td is not td and c_node is not node and c_td.type is c_node
    nxt = c_node.members[1].type
    assert isinstance(nxt, btf.Pointer) and nxt.target is c_node
    c_node.members[0].name = "changed"
    c_node.size = 99
    assert node.members[0].name == "val" and node.size == 16
    assert c_node.members[0].type is not S32 and c_node.members[0].type.name == "int"
