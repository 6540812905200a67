"""The fuzz targets, their seeds and the mutations that hypothesis draws.

Four targets read untrusted bytes:

``elf``
    a whole object file through :func:`ebpf.load_collection_spec` (as a file object), then the
    spec's programs through the disassembler and back to bytes, a copy of the spec, and its
    BTF as the loader prepares it for the kernel (no system call);
``btf``
    a raw ``.BTF`` blob through :func:`ebpf.btf.load_spec_from_bytes`, then the type API:
    names, C declarations and :func:`~ebpf.btf.format_c`, ``sizeof``/``alignof``, lookups by
    name, and the value codecs (decode, then encode what was decoded);
``btf_ext``
    a ``.BTF.ext`` section against the ``.BTF`` of the same object, through
    :func:`ebpf.btf.load_ext_info`; the input is ``u32 len (LE) | .BTF | .BTF.ext``;
``insn``
    an instruction stream through :meth:`ebpf.asm.Instructions.unmarshal`, the disassembler
    and :meth:`~ebpf.asm.Instructions.marshal`; the first byte says the byte order (bit 0 set:
    big endian).

The property is the same for all: any input gives a result or an :class:`ebpf.errors.EbpfError`
within a bounded time; anything else (``struct.error``, ``IndexError``, ``KeyError``,
``TypeError``, ``RecursionError``, ``MemoryError``, a hang) is a finding.

Seeds are the objects under ``testdata/`` and ``examples/bpf/`` cut into each target's input
shape. Each seed carries a list of *fields* (offset, width, kind): the ELF header, section
headers, symbols and relocations, the BTF header and type records, the ``.BTF.ext`` header and
records, the fields of each instruction. Mutations are generic (bit flips, byte and word
overwrites, truncation, insertion, deletion, duplication, splices of two seeds) or
structure-aware (a field set to a boundary value of its width, a BTF ``info`` word given
another kind and count, an opcode replaced by another valid one).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hypothesis import strategies as st

from ebpf import btf
from ebpf.asm import Instructions
from ebpf.asm.disasm import format_instructions
from ebpf.btf.ext_info import load_ext_info
from ebpf.btf.format import declaration, format_c, type_name
from ebpf.btf.kernel_ready import kernel_ready_types
from ebpf.btf.marshal import marshal_spec, marshal_types
from ebpf.btf.parse import parse_header
from ebpf.btf.values import Codec, codec
from ebpf.elf_reader import load_collection_spec
from ebpf.errors import EbpfError
from ebpf.internal import elf
from tests.support import deadline

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"
TARGETS = ("elf", "btf", "btf_ext", "insn")

#: How many types of one blob the BTF target exercises beyond parsing (bounded work per input).
_TYPE_LIMIT = 400
#: Largest value the codec target decodes (a mutated array can claim gigabytes).
_CODEC_LIMIT = 4096


# --- the targets --------------------------------------------------------------------------------

def run_elf(data: bytes) -> None:
    # Through a file object (the bytes path is the same reader, used everywhere else).
    spec = load_collection_spec(io.BytesIO(data))
    for prog in spec.programs.values():
        format_instructions(prog.instructions)
        _attempt(prog.instructions.marshal, spec.byte_order)
    spec.copy()
    if spec.types is not None:
        # What the loader makes of the object's BTF before the kernel sees it.
        _attempt(kernel_ready_types, spec.types, kconfig_offsets={}, kconfig_size=0)
        _attempt(marshal_spec, spec.types)


def _attempt(fn: Callable[..., object], *args: object, **kwargs: object) -> object:
    """``fn(*args)``, or None when it raised an ``ebpf`` error (an answer, not a finding)."""
    try:
        return fn(*args, **kwargs)
    except EbpfError:
        return None


def _exercise_types(spec: btf.Spec, order: str) -> None:
    types: list[btf.Type] = []
    for i, t in enumerate(spec):
        if i >= _TYPE_LIMIT:
            break
        types.append(t)
        _attempt(spec.dump, i + 1)
        _attempt(type_name, t)
        _attempt(declaration, t, "x")
        if t.name:
            _attempt(spec.types_by_name, t.name)
        _attempt(btf.alignof, t)
        size = _attempt(btf.sizeof, t)
        if not isinstance(size, int) or not 0 < size <= _CODEC_LIMIT:
            continue
        c = _attempt(codec, t, order)
        if not isinstance(c, Codec):
            continue
        for fill in (b"\0", b"\xa5", b"\xff"):
            value = _attempt(c.decode, fill * size)
            if value is not None:
                _attempt(c.encode, value)
    _attempt(format_c, types)


def run_btf(data: bytes) -> None:
    spec = btf.load_spec_from_bytes(data)
    _exercise_types(spec, spec.byte_order)
    # Marshalled back (ids kept, and deduplicated), the blob must parse again.
    blob = _attempt(marshal_spec, spec)
    if isinstance(blob, bytes):
        again = btf.load_spec_from_bytes(blob)
        if len(again) != len(spec):
            raise AssertionError(f"marshal_spec: {len(spec)} types became {len(again)}")
    types = list(itertools.islice(spec, _TYPE_LIMIT))
    deduped = _attempt(marshal_types, types)
    if isinstance(deduped, tuple):
        btf.load_spec_from_bytes(deduped[0])


def run_btf_ext(data: bytes) -> None:
    if len(data) < 4:
        return
    (n,) = struct.unpack_from("<I", data)
    spec = btf.load_spec_from_bytes(data[4:4 + n])
    info = load_ext_info(data[4 + n:], spec)
    for kind in (info.func_infos, info.line_infos, info.core_relos):
        for records in kind.values():
            for rec in records:
                str(rec)
    for relos in info.core_relos.values():
        for relo in relos:
            with contextlib.suppress(EbpfError):
                relo.accessor  # noqa: B018  # parses the access string


def run_insn(data: bytes) -> None:
    if not data:
        return
    order: Literal["little", "big"] = "big" if data[0] & 1 else "little"
    insns = Instructions.unmarshal(data[1:], order)
    format_instructions(insns)
    for ins in insns:
        str(ins)
    again = insns.marshal(order)
    if Instructions.unmarshal(again, order) != insns:
        raise AssertionError("instructions do not survive marshal(unmarshal(...))")


RUNNERS: dict[str, Callable[[bytes], None]] = {
    "elf": run_elf, "btf": run_btf, "btf_ext": run_btf_ext, "insn": run_insn,
}


@dataclass(frozen=True)
class Outcome:
    """What one input did: ``error`` is None for a result or an ``ebpf`` error."""

    error: BaseException | None
    accepted: bool


def run(target: str, data: bytes, *, seconds: float = 10.0) -> Outcome:
    """Run ``target`` on ``data``; an exception other than an ``ebpf`` error is a finding."""
    try:
        with deadline(seconds):
            RUNNERS[target](data)
    except EbpfError:
        return Outcome(None, False)
    except (Exception, RecursionError, MemoryError) as e:  # the finding
        return Outcome(e, False)
    return Outcome(None, True)


# --- seeds and their fields ------------------------------------------------------------------

#: Field kinds: how a structure-aware mutation chooses the new value.
INT, BTF_INFO, OPCODE = "int", "btf_info", "opcode"


@dataclass(frozen=True)
class Seed:
    name: str
    data: bytes
    fields: tuple[tuple[int, int, str], ...] = field(default=())  # (offset, width, kind)


def seed_objects() -> list[Path]:
    """The object files the seeds come from (testdata and the examples)."""
    return sorted([*ROOT.glob("testdata/*.elf"), *ROOT.glob("examples/bpf/*.elf")])


def _elf_fields(raw: bytes, f: elf.ElfFile) -> list[tuple[int, int, str]]:
    out: list[tuple[int, int, str]] = []
    pos = 16
    for ch in "HHIQQQIHHHHHH":
        w = struct.calcsize(ch)
        out.append((pos, w, INT))
        pos += w
    order = "<" if f.byte_order == "little" else ">"
    (shoff,) = struct.unpack_from(order + "Q", raw, 40)
    (shentsize,) = struct.unpack_from(order + "H", raw, 58)
    for s in f.sections:
        base = shoff + s.index * shentsize
        pos = base
        for ch in "IIQQQQIIQQ":
            w = struct.calcsize(ch)
            out.append((pos, w, INT))
            pos += w
        if s.type == elf.SHT_SYMTAB:
            for i in range(s.size // 24):
                base = s.offset + 24 * i
                out += [(base, 4, INT), (base + 4, 1, INT), (base + 5, 1, INT),
                        (base + 6, 2, INT), (base + 8, 8, INT), (base + 16, 8, INT)]
        elif s.type == elf.SHT_REL:
            for i in range(s.size // 16):
                base = s.offset + 16 * i
                out += [(base, 8, INT), (base + 8, 4, INT), (base + 12, 4, INT)]
        elif s.executable and s.type == elf.SHT_PROGBITS:
            out += _insn_fields(s.offset, s.size)
        elif s.name == ".BTF":
            out += _btf_fields(s.data, s.offset)
        elif s.name == ".BTF.ext":
            out += _ext_fields(s.data, s.offset)
    return out


def _insn_fields(start: int, size: int) -> list[tuple[int, int, str]]:
    out = []
    for pos in range(start, start + size - 7, 8):
        out += [(pos, 1, OPCODE), (pos + 1, 1, INT), (pos + 2, 2, INT), (pos + 4, 4, INT)]
    return out


def _btf_fields(blob: bytes, start: int) -> list[tuple[int, int, str]]:
    out: list[tuple[int, int, str]] = [(start, 2, INT), (start + 2, 1, INT),
                                       (start + 3, 1, INT)]
    out += [(start + p, 4, INT) for p in range(4, 24, 4)]
    try:
        hdr = parse_header(blob)
        spec = btf.load_spec_from_bytes(blob)
        index = spec.raw.index
    except EbpfError:
        return out
    if index is None:
        return out
    types = hdr.hdr_len + hdr.type_off
    records = set(index.offsets)
    for word in range(hdr.type_len // 4):
        kind = BTF_INFO if word - 1 in records else INT
        out.append((start + types + 4 * word, 4, kind))
    return out


def _ext_fields(blob: bytes, start: int) -> list[tuple[int, int, str]]:
    out: list[tuple[int, int, str]] = [(start, 2, INT), (start + 2, 1, INT),
                                       (start + 3, 1, INT)]
    out += [(start + p, 4, INT) for p in range(4, min(len(blob), 32) - 3, 4)]
    out += [(start + p, 4, INT) for p in range(32, len(blob) - 3, 4)]
    return out


def _load_seeds() -> dict[str, list[Seed]]:
    seeds: dict[str, list[Seed]] = {t: [] for t in TARGETS}
    for path in seed_objects():
        raw = path.read_bytes()
        try:
            f = elf.read_elf(raw)
        except EbpfError:
            continue
        seeds["elf"].append(Seed(path.name, raw, tuple(_elf_fields(raw, f))))
        b = f.section_by_name(".BTF")
        x = f.section_by_name(".BTF.ext")
        if b is not None:
            seeds["btf"].append(Seed(path.name, b.data, tuple(_btf_fields(b.data, 0))))
            if x is not None:
                head = struct.pack("<I", len(b.data)) + b.data
                seeds["btf_ext"].append(Seed(path.name, head + x.data,
                                             tuple(_ext_fields(x.data, len(head)))))
        flag = b"\1" if f.byte_order == "big" else b"\0"
        for s in f.sections:
            if s.executable and s.type == elf.SHT_PROGBITS and s.size:
                seeds["insn"].append(Seed(f"{path.name}:{s.name}", flag + s.data,
                                          tuple(_insn_fields(1, s.size))))
    return seeds


_SEEDS: dict[str, list[Seed]] = {}


def seeds(target: str) -> list[Seed]:
    """The seeds of ``target`` (read once per process)."""
    if not _SEEDS:
        _SEEDS.update(_load_seeds())
    return _SEEDS[target]


# --- mutations --------------------------------------------------------------------------------

_BOUNDARIES = (0, 1, 2, 3, 4, 7, 8, 16, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF,
               0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 32, (1 << 63) - 1, 1 << 63,
               (1 << 64) - 1)

# Every valid BPF opcode class/size/mode combination a verifier would see, and some that no
# kernel knows.
_OPCODES = tuple(range(256))


def _put(buf: bytearray, pos: int, width: int, value: int, order: str) -> None:
    if pos < 0 or pos + width > len(buf):
        return
    buf[pos:pos + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(
        width, "little" if order == "<" else "big")


def _order_of(data: bytes) -> str:
    if data[:4] == b"\x7fELF" and len(data) > 5:
        return ">" if data[5] == 2 else "<"
    if data[:2] == b"\xeb\x9f":
        return ">"
    return "<"


@st.composite
def _mutation(draw: st.DrawFn, pool: Sequence[Seed], me: Seed) -> Callable[[bytearray], None]:
    """One mutation of ``me`` (a function that edits a copy of its bytes in place)."""
    choices = ["flip", "byte", "word", "truncate", "insert", "delete", "dup", "splice"]
    if me.fields:
        choices += ["field"] * 6
    kind = draw(st.sampled_from(choices))
    order = _order_of(me.data)
    n = max(len(me.data), 1)
    if kind == "field":
        pos, width, fkind = draw(st.sampled_from(me.fields))
        if fkind == BTF_INFO:
            value = (draw(st.booleans()) << 31 | draw(st.integers(0, 31)) << 24
                     | draw(st.sampled_from((0, 1, 2, 3, 0xFFFF, 0x8000))))
        elif fkind == OPCODE:
            value = draw(st.sampled_from(_OPCODES))
        else:
            base = draw(st.sampled_from(_BOUNDARIES))
            delta = draw(st.sampled_from((0, 0, 1, -1, n, -n)))
            value = base + delta
        return lambda b: _put(b, pos, width, value, order)
    if kind == "flip":
        pos, bit = draw(st.integers(0, n - 1)), draw(st.integers(0, 7))

        def flip(b: bytearray) -> None:
            if pos < len(b):
                b[pos] ^= 1 << bit
        return flip
    if kind == "byte":
        pos = draw(st.integers(0, n - 1))
        val = draw(st.binary(min_size=1, max_size=8))

        def overwrite(b: bytearray) -> None:
            b[pos:pos + len(val)] = val[:max(0, len(b) - pos)]
        return overwrite
    if kind == "word":
        pos = draw(st.integers(0, n - 1)) & ~3
        width = draw(st.sampled_from((1, 2, 4, 8)))
        value = draw(st.sampled_from(_BOUNDARIES))
        return lambda b: _put(b, pos, width, value, order)
    if kind == "truncate":
        cut = draw(st.integers(0, n))
        return lambda b: b.__delitem__(slice(cut, None))
    if kind == "insert":
        pos = draw(st.integers(0, n))
        val = draw(st.binary(min_size=1, max_size=16))
        return lambda b: b.__setitem__(slice(pos, pos), val)
    if kind == "delete":
        pos = draw(st.integers(0, n - 1))
        length = draw(st.integers(1, 64))
        return lambda b: b.__delitem__(slice(pos, pos + length))
    if kind == "dup":
        pos = draw(st.integers(0, n - 1))
        length = draw(st.integers(1, 256))
        at = draw(st.integers(0, n))
        return lambda b: b.__setitem__(slice(at, at), b[pos:pos + length])
    other = draw(st.sampled_from(pool)).data
    cut_a = draw(st.integers(0, n))
    cut_b = draw(st.integers(0, max(len(other), 1)))

    def splice(b: bytearray) -> None:
        b[cut_a:] = other[cut_b:]
    return splice


@st.composite
def mutants(draw: st.DrawFn, target: str, extra: Sequence[Seed] = ()) -> bytes:
    """A seed of ``target`` (or of ``extra``, inputs found along the way) after 1-6 mutations."""
    pool = [*seeds(target), *extra]
    me = pool[draw(st.integers(0, len(pool) - 1))]
    buf = bytearray(me.data)
    for _ in range(draw(st.integers(1, 6))):
        draw(_mutation(pool, me))(buf)
    return bytes(buf)


# --- BTF built from scratch ----------------------------------------------------------------

_NAMES = (b"", b"int", b"x", b"s", b"u", b"long unsigned int", b"__u32", b".maps", b".data",
          b"a b", b"9lives", b"_Bool", b"char", b"f", b"x" * 300)


@st.composite
def btf_blobs(draw: st.DrawFn) -> bytes:
    """A well-formed BTF blob of up to 12 types of every kind, whose fields and references
    (to each other, to themselves, to ids that do not exist) are drawn freely: what no
    compiler emits, in a shape the parser accepts, so that the type API gets it."""
    order = draw(st.sampled_from("<>"))
    strings = b"\0"
    name_offs = [0]
    for text in _NAMES[1:]:
        name_offs.append(len(strings))
        strings += text + b"\0"
    n = draw(st.integers(1, 12))
    # One blob in ten may break the rules the parser checks (ids past the end, odd sizes);
    # the others reach the type API with ids that exist (any of them: cycles included).
    bad = draw(st.integers(0, 9)) == 0
    ref = st.integers(0, n + 1 if bad else n)
    any_name = st.sampled_from(name_offs)
    words: list[int] = []
    for _ in range(n):
        kind = draw(st.integers(1, 19))
        kflag = draw(st.booleans())
        vlen = 0
        extra: list[int] = []
        size_or_type = 0
        if kind == 1:  # INT
            size_or_type = draw(st.sampled_from((1, 2, 4, 8, 16, 0, 3) if bad
                                                else (1, 2, 4, 8, 16)))
            bits = draw(st.integers(0, 128) if bad else st.integers(1, 8 * size_or_type))
            extra = [draw(st.sampled_from((0, 1, 2, 4))) << 24
                     | draw(st.sampled_from((0, 0, 1, 7))) << 16 | bits]
        elif kind in (2, 7, 8, 9, 10, 11, 12, 18):  # PTR FWD TYPEDEF VOLATILE CONST RESTRICT
            size_or_type = draw(ref)                 # FUNC TYPE_TAG
            if kind == 12:
                vlen = draw(st.integers(0, 2))
        elif kind == 3:  # ARRAY
            extra = [draw(ref), draw(ref),
                     draw(st.sampled_from((0, 1, 4, 1 << 20, 0x7FFFFFFF, 0xFFFFFFFF)))]
        elif kind in (4, 5):  # STRUCT UNION
            vlen = draw(st.integers(0, 4))
            size_or_type = draw(st.sampled_from((0, 1, 4, 8, 16, 24, 0xFFFFFFFF)))
            for _ in range(vlen):
                offset = draw(st.integers(0, 256))
                if kflag:
                    offset |= draw(st.integers(0, 255)) << 24
                extra += [draw(any_name), draw(ref), offset]
        elif kind in (6, 19):  # ENUM ENUM64
            vlen = draw(st.integers(0, 3))
            size_or_type = draw(st.sampled_from((1, 2, 4, 8, 3) if bad else (1, 2, 4, 8)))
            for _ in range(vlen):
                extra += [draw(any_name), draw(st.sampled_from((0, 1, 0x80000000, 0xFFFFFFFF)))]
                if kind == 19:
                    extra.append(draw(st.sampled_from((0, 1, 0xFFFFFFFF))))
        elif kind == 13:  # FUNC_PROTO
            vlen = draw(st.integers(0, 3))
            size_or_type = draw(ref)
            for _ in range(vlen):
                extra += [draw(any_name), draw(ref)]
        elif kind == 14:  # VAR
            size_or_type = draw(ref)
            extra = [draw(st.integers(0, 3) if bad else st.integers(0, 2))]
        elif kind == 15:  # DATASEC
            vlen = draw(st.integers(0, 3))
            size_or_type = draw(st.sampled_from((0, 4, 16, 0xFFFFFFFF)))
            for _ in range(vlen):
                extra += [draw(ref), draw(st.sampled_from((0, 4, 0xFFFFFFF0))),
                          draw(st.sampled_from((0, 4, 8)))]
        elif kind == 16:  # FLOAT
            size_or_type = draw(st.sampled_from((2, 4, 8, 12, 16, 5) if bad
                                                else (2, 4, 8, 12, 16)))
        elif kind == 17:  # DECL_TAG
            size_or_type = draw(ref)
            extra = [draw(st.sampled_from((0xFFFFFFFF, 0, 1, 3)))]
        info = kflag << 31 | kind << 24 | vlen
        words += [draw(any_name), info, size_or_type, *extra]
    types = struct.pack(f"{order}{len(words)}I", *words)
    header = struct.pack(order + "HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types),
                         len(strings))
    return header + types + strings


def strategy(target: str, extra: Sequence[Seed] = ()) -> st.SearchStrategy[bytes]:
    """What the fuzzers draw for ``target``: mutated seeds, and for ``btf`` also BTF built
    from scratch."""
    if target == "btf":
        return st.one_of(mutants(target, extra), btf_blobs())
    return mutants(target, extra)


# --- the crash corpus ---------------------------------------------------------------------------

def corpus_files(target: str) -> list[Path]:
    d = CORPUS / target
    return sorted(p for p in d.iterdir() if p.is_file()) if d.is_dir() else []


def save_finding(target: str, data: bytes) -> Path:
    """Store ``data`` in the corpus of ``target`` (named by its hash); returns the path."""
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    path = d / (hashlib.sha256(data).hexdigest()[:16] + ".bin")
    if not path.exists():
        path.write_bytes(data)
    return path


def describe(e: BaseException) -> str:
    """The finding in one line: exception type, message, where it was raised."""
    tb: Any = e.__traceback__
    where = ""
    while tb is not None:
        where = f"{Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}"
        tb = tb.tb_next
    return f"{type(e).__name__}: {e} (at {where})"
