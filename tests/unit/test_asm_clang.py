"""Decode code that clang-19 compiled, in both byte orders, and link it by hand.

The bytes below were produced once, not at test time, from this C source with
``clang-19 -O2 -g0 -target bpfel|bpfeb -mcpu=v4 -c prog.c`` and
``llvm-objcopy -O binary -j socket|.text``; ``llvm-objdump-19 -d`` agreed with the expected
disassembly (in its own syntax)::

    struct {
        __uint(type, BPF_MAP_TYPE_ARRAY);
        __uint(max_entries, 4);
        __type(key, __u32);
        __type(value, __u64);
    } counts SEC(".maps");

    static __noinline long mix(long a, long b)
    {
        return (a / b) ^ (a % 7) ^ __builtin_bswap32((unsigned)b);
    }

    SEC("socket")
    int count(struct __sk_buff *skb)
    {
        __u32 key = skb->len & 3;
        __u64 *val = bpf_map_lookup_elem(&counts, &key);
        long acc = (signed char)skb->mark;

        if (!val)
            return 0;
        __sync_fetch_and_add(val, 1);
        for (int i = 0; i < 4; i++)
            acc += mix(acc, i + 1);
        if (__sync_val_compare_and_swap(val, 5, acc) == 5)
            return 1;
        return acc > 0;
    }
"""

from __future__ import annotations

import pytest

from ebpf import asm
from ebpf.asm import R1, ByteOrder, Instructions

TEXT_EL = bytes.fromhex(
    "bf10000000000000 3f21010000000000 d702000020000000 9700010007000000"
    "af20000000000000 af10000000000000 9500000000000000"
)
TEXT_EB = bytes.fromhex(
    "bf01000000000000 3f12000100000000 d720000000000020 9700000100000007"
    "af02000000000000 af01000000000000 9500000000000000"
)
SOCKET_EL = bytes.fromhex(
    "bf16000000000000 6161000000000000 5401000003000000 631afcff00000000"
    "bfa2000000000000 07020000fcffffff 1801000000000000 0000000000000000"
    "8500000001000000 bf03000000000000 b400000000000000 1503240000000000"
    "6161080000000000 b702000001000000 db23000000000000 bf16080000000000"
    "bf61000000000000 b702000001000000 bf38000000000000 85100000ffffffff"
    "bf07000000000000 0f67000000000000 bf71000000000000 b702000002000000"
    "85100000ffffffff bf06000000000000 0f76000000000000 bf61000000000000"
    "b702000003000000 85100000ffffffff bf07000000000000 0f67000000000000"
    "bf71000000000000 b702000004000000 85100000ffffffff bf01000000000000"
    "0f71000000000000 b700000005000000 db180000f1000000 bf02000000000000"
    "b400000001000000 b403000001000000 1502010005000000 b403000000000000"
    "5403000001000000 5603020000000000 6501010000000000 b400000000000000"
    "9500000000000000"
)
SOCKET_EB = bytes.fromhex(
    "bf61000000000000 6116000000000000 5410000000000003 63a1fffc00000000"
    "bf2a000000000000 07200000fffffffc 1810000000000000 0000000000000000"
    "8500000000000001 bf30000000000000 b400000000000000 1530002400000000"
    "6116000800000000 b720000000000001 db32000000000000 bf61000800000000"
    "bf16000000000000 b720000000000001 bf83000000000000 85010000ffffffff"
    "bf70000000000000 0f76000000000000 bf17000000000000 b720000000000002"
    "85010000ffffffff bf60000000000000 0f67000000000000 bf16000000000000"
    "b720000000000003 85010000ffffffff bf70000000000000 0f76000000000000"
    "bf17000000000000 b720000000000004 85010000ffffffff bf10000000000000"
    "0f17000000000000 b700000000000005 db810000000000f1 bf20000000000000"
    "b400000000000001 b430000000000001 1520000100000005 b430000000000000"
    "5430000000000001 5630000200000000 6510000100000000 b400000000000000"
    "9500000000000000"
)

TEXT_DISASM = """\
   0: r0 = r1
   1: r1 s/= r2
   2: r2 = bswap32 r2
   3: r0 s%= 7
   4: r0 ^= r2
   5: r0 ^= r1
   6: exit"""

SOCKET_DISASM = """\
   0: r6 = r1
   1: r1 = *(u32 *)(r6 + 0)
   2: w1 &= 3
   3: *(u32 *)(r10 - 4) = r1
   4: r2 = r10
   5: r2 += -4
   6: r1 = 0x0 ll
   8: call bpf_map_lookup_elem#1
   9: r3 = r0
  10: w0 = 0
  11: if r3 == 0x0 goto .L48
  12: r1 = *(u32 *)(r6 + 8)
  13: r2 = 1
  14: lock *(u64 *)(r3 + 0) += r2
  15: r6 = (s8)r1
  16: r1 = r6
  17: r2 = 1
  18: r8 = r3
.L19:
  19: call .L19
  20: r7 = r0
  21: r7 += r6
  22: r1 = r7
  23: r2 = 2
.L24:
  24: call .L24
  25: r6 = r0
  26: r6 += r7
  27: r1 = r6
  28: r2 = 3
.L29:
  29: call .L29
  30: r7 = r0
  31: r7 += r6
  32: r1 = r7
  33: r2 = 4
.L34:
  34: call .L34
  35: r1 = r0
  36: r1 += r7
  37: r0 = 5
  38: r0 = atomic64_cmpxchg((u64 *)(r8 + 0), r0, r1)
  39: r2 = r0
  40: w0 = 1
  41: w3 = 1
  42: if r2 == 0x5 goto .L44
  43: w3 = 0
.L44:
  44: w3 &= 1
  45: if w3 != 0x0 goto .L48
  46: if r1 s> 0x0 goto .L48
  47: w0 = 0
.L48:
  48: exit"""


@pytest.mark.parametrize(("little", "big", "text"), [
    (TEXT_EL, TEXT_EB, TEXT_DISASM),
    (SOCKET_EL, SOCKET_EB, SOCKET_DISASM),
], ids=[".text", "socket"])
def test_decode_clang_output(little: bytes, big: bytes, text: str) -> None:
    from_little = Instructions.unmarshal(little, "little")
    from_big = Instructions.unmarshal(big, "big")
    assert from_little == from_big
    assert from_little.marshal("little") == little
    assert from_little.marshal("big") == big
    assert str(from_little) == text


def test_link_by_hand() -> None:
    """What a linker does: name things, append the callee, resolve, encode."""
    cases: list[tuple[bytes, bytes, ByteOrder]] = [(SOCKET_EL, TEXT_EL, "little"),
                                                   (SOCKET_EB, TEXT_EB, "big")]
    for data, text_data, byteorder in cases:
        prog = Instructions.unmarshal(data, byteorder)
        prog[0] = prog[0].with_symbol("count")
        assert prog[6].is_ldimm64
        prog[6] = asm.load_map_by_name(R1, "counts")
        calls = [i for i, ins in enumerate(prog) if ins.is_function_call]
        assert calls == [18, 23, 28, 33]
        for i in calls:
            prog[i] = prog[i].with_reference("mix")
        callee = Instructions.unmarshal(text_data, byteorder)
        callee[0] = callee[0].with_symbol("mix")
        linked = prog + callee
        assert linked.function_references() == {"mix"}
        assert linked.references() == {"mix", "counts"}
        linked.resolve()
        # mix starts at slot 49; the calls sit at slots 19, 24, 29, 34.
        assert [linked[i].constant for i in calls] == [29, 24, 19, 14]
        encoded = linked.marshal(byteorder)
        assert len(encoded) == len(data) + len(text_data)
        decoded = Instructions.unmarshal(encoded, byteorder)
        assert [decoded[i].constant for i in calls] == [29, 24, 19, 14]
        lines = str(linked).splitlines()
        assert lines[0] == "count:"
        assert "   6: r1 = map[counts]" in lines
        assert lines.count("  19: call mix") == 1
        assert "mix:" in lines and lines[-1] == "  55: exit"
