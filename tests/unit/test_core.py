"""The CO-RE engine against synthetic local and target specs (no kernel needed)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ebpf import asm
from ebpf.asm import R0, R1, Instruction, Instructions
from ebpf.asm.opcode import Class, Mode, Size
from ebpf.btf import (
    Array,
    Enum,
    Enum64,
    EnumValue,
    Fwd,
    Int,
    IntEncoding,
    Member,
    Pointer,
    Spec,
    Struct,
    Type,
    Typedef,
    Union,
    load_spec_from_bytes,
)
from ebpf.btf.core import (
    POISON_HELPER,
    AppliedRelocation,
    COREFixup,
    CORERelocKind as K,
    COREResolver,
    essential_name,
    patch_instruction,
    poisoned_relocation,
    relocate,
)
from ebpf.btf.marshal import marshal_types
from ebpf.errors import COREError, EbpfError

U32 = Int("unsigned int", 4)
S32 = Int("int", 4, IntEncoding.SIGNED)
U64 = Int("long long unsigned int", 8)
S64 = Int("long long int", 8, IntEncoding.SIGNED)
U16 = Int("short unsigned int", 2)
CHAR = Int("char", 1, IntEncoding.SIGNED)


def spec_of(*types: Type) -> Spec:
    blob, _ = marshal_types(types)
    return load_spec_from_bytes(blob)


def tid(spec: Spec, name: str, cls: type[Type] = Struct) -> int:
    return spec.type_id(spec.type_by_name(name, cls))


def local_task() -> Spec:
    """struct task { int pid; int tgid; struct { u64 a; u32 b; }; char comm[16];
    unsigned flags:3, mode:5; int sflag:4; struct task *parent; }"""
    anon = Struct("", 16, [Member("a", U64, 0), Member("b", U32, 64)])
    task = Struct("task", 64, [])
    task.members = [
        Member("pid", S32, 0), Member("tgid", S32, 32), Member("", anon, 64),
        Member("comm", Array(CHAR, 16, U32), 192),
        Member("flags", U32, 320, 3), Member("mode", U32, 323, 5), Member("sflag", S32, 328, 4),
        Member("parent", Pointer(task), 384),
    ]
    return spec_of(task)


def target_task(*, drop: Sequence[str] = (), name: str = "task") -> Spec:
    """The same fields, moved: tgid first, a new field, the anonymous struct elsewhere."""
    anon = Struct("", 24, [Member("x", U64, 0), Member("a", U64, 64), Member("b", U32, 128)])
    task = Struct(name, 128, [])
    members = [
        Member("tgid", S32, 0), Member("extra", U64, 64), Member("pid", S32, 128),
        Member("", anon, 192), Member("comm", Array(CHAR, 16, U32), 384),
        Member("pad", U32, 512), Member("flags", U32, 544, 3), Member("mode", U32, 547, 5),
        Member("sflag", S32, 560, 4), Member("parent", Pointer(task), 576),
    ]
    task.members = [m for m in members if m.name not in drop]
    return spec_of(task)


def fix(local: Spec, target: Spec | Sequence[Spec], access: str, kind: K,
        name: str = "task", cls: type[Type] = Struct) -> COREFixup:
    return COREResolver(local, target).resolve(tid(local, name, cls), access, kind)


# ---- names ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "want"), [
    ("task_struct", "task_struct"),
    ("task_struct___old", "task_struct"),
    ("task_struct___v1___v2", "task_struct___v1"),
    ("a____b", "a____b"),          # a fourth underscore is not a separator
    ("___x", "___x"),
    ("x___", "x___"),
    ("", ""),
])
def test_essential_name(name: str, want: str) -> None:
    assert essential_name(name) == want


# ---- fields -----------------------------------------------------------------------------------

def test_field_offsets_move() -> None:
    local, target = local_task(), target_task()
    assert (fix(local, target, "0:0", K.FIELD_BYTE_OFFSET).local,
            fix(local, target, "0:0", K.FIELD_BYTE_OFFSET).target) == (0, 16)
    assert fix(local, target, "0:1", K.FIELD_BYTE_OFFSET).target == 0
    f = fix(local, target, "0:7", K.FIELD_BYTE_OFFSET)
    assert (f.local, f.target, f.local_size, f.target_size) == (48, 72, 8, 8)
    assert not f.poison and not f.bad_resize


def test_anonymous_member_and_array_element() -> None:
    local, target = local_task(), target_task()
    f = fix(local, target, "0:2:1", K.FIELD_BYTE_OFFSET)       # task.<anon>.b
    assert (f.local, f.target) == (16, 40)
    f = fix(local, target, "0:3:5", K.FIELD_BYTE_OFFSET)       # task.comm[5]
    assert (f.local, f.target, f.target_size) == (29, 53, 1)
    f = fix(local, target, "1:0", K.FIELD_BYTE_OFFSET)         # (&task)[1].pid
    assert (f.local, f.target) == (64, 128 + 16)
    assert fix(local, target, "0:3", K.FIELD_BYTE_SIZE).target == 16
    assert fix(local, target, "0:3:2", K.FIELD_BYTE_SIZE).target == 1


def test_array_index_beyond_the_target_poisons() -> None:
    local = local_task()
    short = Struct("task", 8, [Member("comm", Array(CHAR, 4, U32), 0)])
    f = fix(local, spec_of(short), "0:3:5", K.FIELD_BYTE_OFFSET)
    assert f.poison


def test_bitfields() -> None:
    local, target = local_task(), target_task()
    # local: flags at bit 320 (3 bits), mode at 323 (5 bits), sflag at 328 (signed, 4 bits)
    assert fix(local, target, "0:4", K.FIELD_BYTE_OFFSET).target == 68
    assert fix(local, target, "0:4", K.FIELD_BYTE_SIZE).target == 4
    assert fix(local, target, "0:5", K.FIELD_LSHIFT_U64).local == 64 - (323 + 5 - 320)
    assert fix(local, target, "0:5", K.FIELD_LSHIFT_U64).target == 64 - (547 + 5 - 544)
    assert fix(local, target, "0:5", K.FIELD_RSHIFT_U64).target == 64 - 5
    assert fix(local, target, "0:6", K.FIELD_SIGNED).target == 1
    assert fix(local, target, "0:5", K.FIELD_SIGNED).target == 0
    assert fix(local, target, "0:0", K.FIELD_SIGNED).target == 1
    # a bitfield straddling a 4-byte boundary is read as 8 bytes
    straddle = Struct("task", 16, [Member("flags", U32, 30, 3)])
    f = fix(local, spec_of(straddle), "0:4", K.FIELD_BYTE_SIZE)
    assert f.target == 8


def test_bitfield_too_wide_is_an_error() -> None:
    local = local_task()
    wide = Struct("task", 16, [Member("flags", U64, 62, 3)])
    with pytest.raises(COREError, match="64-bit"):
        fix(local, spec_of(wide), "0:4", K.FIELD_BYTE_OFFSET)


def test_missing_field_poisons_and_exists_is_zero() -> None:
    local, target = local_task(), target_task(drop=("pid",))
    assert fix(local, target, "0:0", K.FIELD_EXISTS).target == 0
    assert fix(local, target, "0:1", K.FIELD_EXISTS).target == 1
    for kind in (K.FIELD_BYTE_OFFSET, K.FIELD_BYTE_SIZE, K.FIELD_SIGNED, K.FIELD_LSHIFT_U64,
                 K.FIELD_RSHIFT_U64):
        assert fix(local, target, "0:0", kind).poison


def test_missing_type_poisons_fields_and_zeroes_type_relos() -> None:
    local = local_task()
    other = spec_of(Struct("other", 4, [Member("pid", S32, 0)]))
    assert fix(local, other, "0:0", K.FIELD_BYTE_OFFSET).poison
    assert fix(local, other, "0:0", K.FIELD_EXISTS).target == 0
    for kind in (K.TYPE_EXISTS, K.TYPE_SIZE, K.TYPE_ID_TARGET, K.TYPE_MATCHES):
        f = fix(local, other, "0", kind)
        assert (f.target, f.poison) == (0, False)


def test_incompatible_member_type_does_not_match() -> None:
    local = local_task()
    t = Struct("task", 8, [Member("pid", Pointer(U32), 0)])
    assert fix(local, spec_of(t), "0:0", K.FIELD_EXISTS).target == 0


def test_flavors_match_the_essential_name() -> None:
    anon = Struct("", 16, [Member("a", U64, 0), Member("b", U32, 64)])
    old = Struct("task___old", 8, [Member("pid", S32, 0), Member("", anon, 0)])
    local = spec_of(old)
    f = fix(local, target_task(), "0:0", K.FIELD_BYTE_OFFSET, name="task___old")
    assert f.target == 16
    # target flavors count too: task___v2 in the target is a candidate for task
    f = fix(local_task(), target_task(name="task___v2"), "0:0", K.FIELD_BYTE_OFFSET)
    assert f.target == 16


def test_ambiguous_candidates() -> None:
    a = Struct("task", 8, [Member("pid", S32, 0)])
    b = Struct("task", 8, [Member("pid", S32, 32)])
    local = local_task()
    with pytest.raises(COREError, match="ambiguous"):
        fix(local, spec_of(a, b), "0:0", K.FIELD_BYTE_OFFSET)
    # candidates that agree are fine
    c = Struct("task", 8, [Member("pid", S32, 0), Member("x", U32, 32)])
    assert fix(local, spec_of(a, c), "0:0", K.FIELD_BYTE_OFFSET).target == 0
    # one that does not match at all is ignored
    d = Struct("task", 8, [Member("nope", S32, 0)])
    assert fix(local, spec_of(d, b), "0:0", K.FIELD_BYTE_OFFSET).target == 4


def test_module_specs_are_searched_only_without_vmlinux_candidates() -> None:
    local = local_task()
    vmlinux = spec_of(Struct("other", 4, [Member("z", S32, 0)]))
    module_types = Struct("task", 8, [Member("x", S32, 0), Member("pid", S32, 32)])
    module = _split_on(vmlinux, marshal_types([module_types])[0])
    f = COREResolver(local, [vmlinux, module]).resolve(tid(local, "task"), "0:0",
                                                        K.FIELD_BYTE_OFFSET)
    assert f.target == 4
    assert f.target_type_id > len(vmlinux)
    # with a candidate in vmlinux, modules are not searched
    both = spec_of(Struct("task", 8, [Member("pid", S32, 0)]))
    f = COREResolver(local, [both, _split_on(both, marshal_types([module_types])[0])]
                     ).resolve(tid(local, "task"), "0:0", K.FIELD_BYTE_OFFSET)
    assert f.target == 0


def _split_on(base: Spec, raw: bytes) -> Spec:
    """``raw`` (a standalone blob whose types refer only to each other) as split BTF."""
    import struct

    from ebpf.btf.parse import parse_header
    from ebpf.btf.spec import load_split_spec

    hdr = parse_header(raw)
    start = hdr.hdr_len + hdr.type_off
    words = bytearray(raw[start:start + hdr.type_len])
    shift = len(base)
    strings = raw[hdr.hdr_len + hdr.str_off: hdr.hdr_len + hdr.str_off + hdr.str_len]
    base_strs = base.strings_size
    # Re-point names and type references: a tiny rewriter for the kinds used here.
    out = bytearray()
    pos = 0
    while pos < len(words):
        name_off, info, size_type = struct.unpack_from("<III", words, pos)
        kind = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        out += struct.pack("<III", name_off + base_strs if name_off else 0, info,
                           size_type + shift if kind in (2, 8, 9, 10, 11) and size_type
                           else size_type)
        pos += 12
        if kind == 1:
            out += words[pos:pos + 4]
            pos += 4
        elif kind == 3:
            t, idx, n = struct.unpack_from("<III", words, pos)
            out += struct.pack("<III", t + shift if t else 0, idx + shift if idx else 0, n)
            pos += 12
        elif kind in (4, 5):
            for _ in range(vlen):
                mn, mt, mo = struct.unpack_from("<III", words, pos)
                out += struct.pack("<III", mn + base_strs if mn else 0,
                                   mt + shift if mt else 0, mo)
                pos += 12
        else:  # pragma: no cover
            raise AssertionError(kind)
    new_hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(out), len(out), len(strings))
    return load_split_spec(new_hdr + bytes(out) + strings, base)


# ---- types and enums --------------------------------------------------------------------------

def test_type_relocations() -> None:
    local, target = local_task(), target_task()
    t = fix(local, target, "0", K.TYPE_ID_TARGET)
    assert t.target == tid(target, "task") and not t.validate
    assert fix(local, target, "0", K.TYPE_ID_LOCAL).target == tid(local, "task")
    assert fix(local, target, "0", K.TYPE_EXISTS).target == 1
    assert fix(local, target, "0", K.TYPE_SIZE).target == 128
    assert fix(local, target, "0", K.TYPE_SIZE).local == 64
    with pytest.raises(COREError, match="access string '0'"):
        fix(local, target, "0:1", K.TYPE_SIZE)


def test_type_matches_is_stricter_than_exists() -> None:
    local = spec_of(Struct("s", 8, [Member("a", S32, 0), Member("b", U32, 32)]))
    same_shape = spec_of(Struct("s", 16, [Member("b", U32, 0), Member("x", U64, 64),
                                          Member("a", S32, 32)]))
    wrong_sign = spec_of(Struct("s", 8, [Member("a", U32, 0), Member("b", U32, 32)]))
    missing = spec_of(Struct("s", 8, [Member("a", S32, 0)]))
    for target, exists, matches in ((same_shape, 1, 1), (wrong_sign, 1, 0), (missing, 1, 0)):
        assert fix(local, target, "0", K.TYPE_EXISTS, "s").target == exists
        assert fix(local, target, "0", K.TYPE_MATCHES, "s").target == matches


def test_typedef_and_pointer_type_relocations() -> None:
    local = spec_of(Typedef("pid_t", S32))
    assert fix(local, spec_of(Typedef("pid_t", U64)), "0", K.TYPE_SIZE, "pid_t",
               Typedef).target == 8
    assert fix(local, spec_of(Typedef("pid_t", Pointer(S32))), "0", K.TYPE_EXISTS, "pid_t",
               Typedef).target == 0
    assert fix(local, spec_of(Fwd("pid_t")), "0", K.TYPE_EXISTS, "pid_t",
               Typedef).target == 0


def test_enum_values() -> None:
    local = spec_of(Enum("state", 4, [EnumValue("RUNNING", 0), EnumValue("GONE___v1", 7),
                                      EnumValue("NEG", -1)], signed=True))
    target = spec_of(Enum64("state", 8, [EnumValue("GONE", 1 << 40), EnumValue("RUNNING", 5),
                                         EnumValue("NEG", -2)], signed=True))
    f = fix(local, target, "0", K.ENUMVAL_VALUE, "state", Enum)
    assert (f.local, f.target) == (0, 5)
    assert fix(local, target, "1", K.ENUMVAL_VALUE, "state", Enum).target == 1 << 40
    assert fix(local, target, "2", K.ENUMVAL_VALUE, "state", Enum).local == (1 << 64) - 1
    assert fix(local, target, "2", K.ENUMVAL_VALUE, "state", Enum).target == (1 << 64) - 2
    fewer = spec_of(Enum("state", 4, [EnumValue("RUNNING", 3)]))
    assert fix(local, fewer, "1", K.ENUMVAL_EXISTS, "state", Enum).target == 0
    assert fix(local, fewer, "1", K.ENUMVAL_VALUE, "state", Enum).poison
    assert fix(local, fewer, "0", K.ENUMVAL_EXISTS, "state", Enum).target == 1


def test_malformed_records() -> None:
    local = local_task()
    r = COREResolver(local, target_task())
    with pytest.raises(COREError, match="does not exist"):
        r.resolve(tid(local, "task"), "0:99", K.FIELD_BYTE_OFFSET)
    with pytest.raises(COREError, match="invalid access string"):
        r.resolve(tid(local, "task"), "0:x", K.FIELD_BYTE_OFFSET)
    with pytest.raises(COREError, match="unknown CO-RE relocation kind"):
        r.resolve(tid(local, "task"), "0", 99)
    with pytest.raises(COREError, match="does not exist"):
        r.resolve(999, "0", K.TYPE_SIZE)
    with pytest.raises(COREError, match="array element"):
        r.resolve(tid(local, "task"), "0:3:1", K.FIELD_SIGNED)
    assert issubclass(COREError, EbpfError)


def test_union_members() -> None:
    u = Union("u", 8, [Member("i", S32, 0), Member("l", S64, 0)])
    local = spec_of(Struct("holder", 16, [Member("x", U32, 0), Member("u", u, 64)]))
    target = spec_of(Struct("holder", 24, [Member("u", Union("u", 8, [Member("l", S64, 0),
                                                                      Member("i", S32, 0)]),
                                                  128)]))
    assert fix(local, target, "0:1:1", K.FIELD_BYTE_OFFSET, "holder").target == 16


# ---- patching ---------------------------------------------------------------------------------

def _fixup(kind: K, local: int, target: int, **kw: object) -> COREFixup:
    return COREFixup(kind, local, target, description="test relo", **kw)  # type: ignore[arg-type]


def test_patch_alu_ldx_ldimm64() -> None:
    alu = asm.mov.imm(R0, 4)
    assert patch_instruction(alu, _fixup(K.FIELD_BYTE_OFFSET, 4, 20), "x")[0].constant == 20
    ldx = asm.ldx(Size.W, R0, R1, 4) if hasattr(asm, "ldx") else Instruction(
        Class.LDX | Mode.MEM | Size.W, R0, R1, 4)
    out = patch_instruction(ldx, _fixup(K.FIELD_BYTE_OFFSET, 4, 24), "x")[0]
    assert out.offset == 24 and out.opcode == ldx.opcode
    wide = Instruction(Class.LD | Mode.IMM | Size.DW, R1, constant=4)
    out = patch_instruction(wide, _fixup(K.FIELD_BYTE_OFFSET, 4, 1 << 40), "x")[0]
    assert out.constant == 1 << 40
    with pytest.raises(COREError, match="expected 8"):
        patch_instruction(alu, _fixup(K.FIELD_BYTE_OFFSET, 8, 20), "x")
    assert patch_instruction(alu, _fixup(K.TYPE_ID_TARGET, 8, 20, validate=False),
                             "x")[0].constant == 20
    with pytest.raises(COREError, match="too large"):
        patch_instruction(ldx, _fixup(K.FIELD_BYTE_OFFSET, 4, 40000), "x")
    with pytest.raises(COREError, match="cannot relocate"):
        patch_instruction(asm.exit(), _fixup(K.FIELD_BYTE_OFFSET, 0, 1), "x")


def test_patch_resizes_loads() -> None:
    ldx = Instruction(Class.LDX | Mode.MEM | Size.DW, R0, R1, 8)
    f = _fixup(K.FIELD_BYTE_OFFSET, 8, 12, local_size=8, target_size=4)
    out = patch_instruction(ldx, f, "x")[0]
    assert (out.offset, out.opcode) == (12, Class.LDX | Mode.MEM | Size.W)
    bad = _fixup(K.FIELD_BYTE_OFFSET, 8, 12, local_size=8, target_size=4, bad_resize=True)
    assert patch_instruction(ldx, bad, "x")[0].constant == POISON_HELPER
    odd = _fixup(K.FIELD_BYTE_OFFSET, 8, 12, local_size=4, target_size=2)
    with pytest.raises(COREError, match="accesses 8 bytes"):
        patch_instruction(ldx, odd, "x")


def test_resize_only_between_unsigned_or_pointers() -> None:
    local = spec_of(Struct("s", 16, [Member("a", U64, 0), Member("b", S64, 64)]))
    target = spec_of(Struct("s", 8, [Member("a", U32, 0), Member("b", S32, 32)]))
    a = fix(local, target, "0:0", K.FIELD_BYTE_OFFSET, "s")
    b = fix(local, target, "0:1", K.FIELD_BYTE_OFFSET, "s")
    assert (a.local_size, a.target_size, a.bad_resize) == (8, 4, False)
    assert (b.local_size, b.target_size, b.bad_resize) == (8, 4, True)


def test_relocate_poisons_ldimm64_into_two_slots_and_keeps_symbols() -> None:
    local, target = local_task(), target_task(drop=("pid",))
    r = COREResolver(local, target)
    task = tid(local, "task")
    insns = Instructions([
        Instruction(Class.LD | Mode.IMM | Size.DW, R0, constant=0, symbol="prog"),
        Instruction(Class.LDX | Mode.MEM | Size.W, R0, R1, 4),
        asm.mov.imm(R0, 1),
        asm.exit(),
    ])
    out, applied = relocate(insns, [(0, task, "0:0", K.FIELD_BYTE_OFFSET),
                                    (2, task, "0:1", K.FIELD_BYTE_OFFSET),
                                    (3, task, "0:0", K.FIELD_EXISTS)], r, context="prog x")
    assert len(out) == 5 and out.slots == insns.slots
    assert out[0].symbol == "prog" and out[0].is_helper_call
    assert out[0].constant == POISON_HELPER and out[1].constant == POISON_HELPER
    assert out[2].offset == 0 and out[3].constant == 0
    assert [a.slot for a in applied] == [0, 2, 3]
    log = ["0: (85) call unknown#195896080", "invalid func unknown#195896080"]
    hit = poisoned_relocation(log, applied)
    assert hit is not None and "task.pid" in hit.fixup.description
    assert poisoned_relocation(["all good"], applied) is None
    with pytest.raises(COREError, match="prog x: CO-RE relocation #0 at instruction 1"):
        relocate(insns, [(1, task, "0:0", K.FIELD_BYTE_OFFSET)], r, context="prog x")


def test_relocate_error_names_the_relocation() -> None:
    local = local_task()
    insns = Instructions([Instruction(Class.LDX | Mode.MEM | Size.W, R0, R1, 8), asm.exit()])
    with pytest.raises(COREError, match=r"prog y: CO-RE relocation #0 at instruction 0: "
                                        r"field_byte_offset of \[\d+\] struct task: task.tgid "
                                        r"\(0:1\).*offset 8, expected 4"):
        relocate(insns, [(0, tid(local, "task"), "0:1", K.FIELD_BYTE_OFFSET)],
                 COREResolver(local, target_task()), context="prog y")


def test_applied_relocation_is_plain_data() -> None:
    a = AppliedRelocation(3, _fixup(K.TYPE_SIZE, 1, 2))
    assert a.slot == 3 and str(a.fixup) == "test relo: 1 -> 2"


def test_flexible_array_member_takes_any_index() -> None:
    flex = Struct("buf", 8, [Member("len", U32, 0), Member("data", Array(CHAR, 0, U32), 32)])
    local = spec_of(flex)
    target = spec_of(Struct("buf", 16, [Member("cap", U64, 0), Member("len", U32, 64),
                                        Member("data", Array(CHAR, 0, U32), 96)]))
    f = fix(local, target, "0:1:100", K.FIELD_BYTE_OFFSET, "buf")
    assert (f.local, f.target) == (104, 112)
    # a zero-length array that is not last is not flexible
    not_last = Struct("buf", 8, [Member("data", Array(CHAR, 0, U32), 0), Member("len", U32, 0)])
    with pytest.raises(COREError, match="beyond"):
        fix(spec_of(not_last), target, "0:0:1", K.FIELD_BYTE_OFFSET, "buf")


def test_typedef_of_anonymous_struct_as_root() -> None:
    local = spec_of(Typedef("foo_t", Struct("", 8, [Member("a", U32, 0), Member("b", U32, 32)])))
    target = spec_of(Typedef("foo_t", Struct("", 8, [Member("b", U32, 0), Member("a", U32, 32)])))
    assert fix(local, target, "0:1", K.FIELD_BYTE_OFFSET, "foo_t", Typedef).target == 0


def test_enum_widths_are_one_kind_for_candidates() -> None:
    local = spec_of(Enum("e", 4, [EnumValue("A", 1)]))
    target = spec_of(Enum64("e", 8, [EnumValue("A", 1 << 33)]))
    assert fix(local, target, "0", K.TYPE_EXISTS, "e", Enum).target == 1
    assert fix(local, target, "0", K.TYPE_SIZE, "e", Enum).target == 8
    assert fix(local, target, "0", K.ENUMVAL_VALUE, "e", Enum).target == 1 << 33
    assert fix(local, target, "0", K.TYPE_MATCHES, "e", Enum).target == 0   # sizes differ


def test_type_matches_through_pointers_accepts_forward_declarations() -> None:
    local = spec_of(Struct("holder", 8, [Member("p", Pointer(Struct("inner", 4, [])), 0)]))
    fwd = spec_of(Struct("holder", 8, [Member("p", Pointer(Fwd("inner")), 0)]))
    union = spec_of(Struct("holder", 8, [Member("p", Pointer(Union("inner", 4, [])), 0)]))
    assert fix(local, fwd, "0", K.TYPE_MATCHES, "holder").target == 1
    assert fix(local, union, "0", K.TYPE_MATCHES, "holder").target == 0


def test_poisoned_ldimm64_is_found_from_its_second_slot() -> None:
    a = AppliedRelocation(4, COREFixup(K.FIELD_BYTE_OFFSET, 0, 0, poison=True,
                                       description="relo a"))
    b = AppliedRelocation(9, COREFixup(K.FIELD_BYTE_OFFSET, 0, 0, poison=True,
                                       description="relo b"))
    log = ["5: (85) call unknown#195896080", "invalid func unknown#195896080"]
    hit = poisoned_relocation(log, [a, b])
    assert hit is a
    # a log that does not say where: only a single candidate is named
    assert poisoned_relocation(["invalid func unknown#195896080"], [a, b]) is None
    assert poisoned_relocation(["invalid func unknown#195896080"], [b]) is b
