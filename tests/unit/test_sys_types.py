"""The ctypes layouts of ``ebpf.internal.sys`` against the running kernel's own BTF.

Every layout module (``ebpf.internal.sys.LAYOUT_MODULES``: ``_types`` and the ones imported on
first use) is checked.

The reference is independent of this library: ``bpftool btf dump file /sys/kernel/btf/vmlinux``
(raw format), whose member lines carry ``bits_offset``. For every ``*Attr`` structure the member
of ``union bpf_attr`` it describes is found by its field names; every ``*Info`` structure is
compared with ``struct bpf_<name>_info``. Each field must sit at the kernel's offset with the
kernel's size, and each structure must be as large as the kernel's.

Nested containers may be named differently on the two sides (the kernel uses anonymous structs
and unions where Python needs a name, and the reverse), so fields are matched by their dotted
path where one path ends with the other.

Without bpftool or kernel BTF the tests skip, unless ``EBPF_REQUIRE_KERNEL=1``.
"""

from __future__ import annotations

import ctypes
import dataclasses
import enum
import importlib
import os
import re
import shutil
import subprocess

import pytest

from ebpf.internal import sys as _sys

LAYOUT_MODULES = [importlib.import_module(f"ebpf.internal.sys.{name}")
                  for name in _sys.LAYOUT_MODULES]

VMLINUX = "/sys/kernel/btf/vmlinux"
REQUIRE_KERNEL = os.environ.get("EBPF_REQUIRE_KERNEL") == "1"

# Structures that describe deliberately only the start of a larger kernel member.
PREFIX_LAYOUTS = {
    # BPF_MAP_FREEZE reads only map_fd, the first field of the map element member.
    "MapFreezeAttr",
}


# --- reading bpftool's raw dump ----------------------------------------------------------------

@dataclasses.dataclass
class BtfType:
    kind: str
    name: str
    attrs: dict[str, str]
    members: list[tuple[str, int, int, int]]   # name, type id, bits_offset, bitfield_size (0)
    values: dict[str, int]                      # enum values


_HEADER = re.compile(r"^\[(\d+)\] (\w+) '([^']*)'(.*)$")
_ATTR = re.compile(r"(\w+)=(\S+)")
_MEMBER = re.compile(r"^\t'([^']*)' type_id=(\d+) bits_offset=(\d+)(?: bitfield_size=(\d+))?$")
_VALUE = re.compile(r"^\t'([^']*)' val=(-?\d+)$")


def _parse_one(lines: list[str], start: int) -> BtfType:
    m = _HEADER.match(lines[start])
    assert m is not None
    t = BtfType(m[2], m[3], dict(_ATTR.findall(m[4])), [], {})
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if not line.startswith("\t"):
            break
        if t.kind in ("STRUCT", "UNION"):
            mm = _MEMBER.match(line)
            if mm:
                t.members.append((mm[1], int(mm[2]), int(mm[3]), int(mm[4] or 0)))
        elif t.kind in ("ENUM", "ENUM64"):
            mv = _VALUE.match(line)
            if mv:
                t.values[mv[1]] = int(mv[2])
    return t


class _LazyTypes(dict[int, BtfType]):
    """Type id -> parsed type, parsed on first use.

    Parsing all of vmlinux up front would create a few hundred thousand objects that the
    garbage collector then walks after every test.
    """

    def __init__(self, lines: list[str], starts: dict[int, int]) -> None:
        super().__init__()
        self._lines = lines
        self._starts = starts

    def __missing__(self, tid: int) -> BtfType:
        t = _parse_one(self._lines, self._starts[tid])
        self[tid] = t
        return t


class KernelTypes:
    _QUALIFIERS = ("TYPEDEF", "CONST", "VOLATILE", "RESTRICT", "TYPE_TAG")

    def __init__(self, raw_dump: str) -> None:
        lines = raw_dump.splitlines()
        starts: dict[int, int] = {}
        self.by_name: dict[tuple[str, str], int] = {}
        for i, line in enumerate(lines):
            if line.startswith("["):
                m = _HEADER.match(line)
                if m:
                    tid = int(m[1])
                    starts[tid] = i
                    self.by_name.setdefault((m[2], m[3]), tid)
        self.types = _LazyTypes(lines, starts)

    def resolve(self, tid: int) -> BtfType:
        t = self.types[tid]
        while t.kind in self._QUALIFIERS:
            t = self.types[int(t.attrs["type_id"])]
        return t

    def size(self, tid: int) -> int:
        t = self.types[tid]
        if t.kind in self._QUALIFIERS:
            return self.size(int(t.attrs["type_id"]))
        if t.kind == "PTR":
            return ctypes.sizeof(ctypes.c_void_p)
        if t.kind == "ARRAY":
            return int(t.attrs["nr_elems"]) * self.size(int(t.attrs["type_id"]))
        return int(t.attrs["size"])

    def named(self, kind: str, name: str) -> tuple[int, BtfType]:
        tid = self.by_name.get((kind, name))
        if tid is None:
            pytest.fail(f"kernel BTF has no {kind.lower()} {name}")
        return tid, self.types[tid]

    def flatten(self, tid: int, base: int = 0, prefix: str = "",
                out: dict[str, tuple[int, int]] | None = None) -> dict[str, tuple[int, int]]:
        """Dotted path -> (bit offset, size in bits) of every member, anonymous ones inlined."""
        out = {} if out is None else out
        for name, mtid, bits, bitfield in self.resolve(tid).members:
            off = base + bits
            inner = self.resolve(mtid)
            if name in ("", "(anon)"):
                self.flatten(mtid, off, prefix, out)
                continue
            out[prefix + name] = (off, bitfield or self.size(mtid) * 8)
            if inner.kind in ("STRUCT", "UNION"):
                self.flatten(mtid, off, f"{prefix}{name}.", out)
        return out


@pytest.fixture(scope="module")
def kernel() -> KernelTypes:
    problem = None
    bpftool = shutil.which("bpftool")
    if bpftool is None:
        for candidate in ("/usr/sbin/bpftool", "/sbin/bpftool"):
            if os.access(candidate, os.X_OK):
                bpftool = candidate
    if bpftool is None:
        problem = "bpftool is not installed (apt-get install bpftool)"
    elif not os.path.exists(VMLINUX):
        problem = f"the kernel exposes no BTF at {VMLINUX}"
    if problem is None:
        assert bpftool is not None
        proc = subprocess.run([bpftool, "btf", "dump", "file", VMLINUX], capture_output=True,
                              text=True, check=False)
        if proc.returncode != 0:
            problem = f"bpftool btf dump failed: {proc.stderr.strip()}"
        else:
            return KernelTypes(proc.stdout)
    if REQUIRE_KERNEL:
        pytest.fail(f"EBPF_REQUIRE_KERNEL=1 but {problem}", pytrace=False)
    pytest.skip(problem)


# --- the Python side -------------------------------------------------------------------------

def _field_bits(desc: object) -> tuple[int, int]:
    """(bit offset within the structure's field storage, size in bits) of a ctypes field."""
    offset = int(desc.offset)  # type: ignore[attr-defined]
    if hasattr(desc, "bit_size"):           # Python 3.14+: explicit bit-field attributes
        return offset * 8 + int(desc.bit_offset), int(desc.bit_size)  # type: ignore[attr-defined]
    size = int(desc.size)  # type: ignore[attr-defined]
    if size >> 16:                          # a bit-field: (bits << 16) | bit offset
        return offset * 8 + (size & 0xFFFF), size >> 16
    return offset * 8, size * 8


_Composite = (ctypes.Structure, ctypes.Union)


def py_flatten(cls: type, base: int = 0, prefix: str = "",
               out: dict[str, tuple[int, int]] | None = None,
               containers: set[str] | None = None) -> dict[str, tuple[int, int]]:
    """Dotted path -> (bit offset, size in bits), anonymous members inlined.

    Paths of named nested structures are also added to ``containers``.
    """
    out = {} if out is None else out
    anonymous = set(getattr(cls, "_anonymous_", ()))
    for field in cls._fields_:  # type: ignore[attr-defined]
        name, ftype = field[0], field[1]
        off, bits = _field_bits(getattr(cls, name))
        if name in anonymous:
            py_flatten(ftype, base + off, prefix, out, containers)
            continue
        out[prefix + name] = (base + off, bits)
        if isinstance(ftype, type) and issubclass(ftype, _Composite):
            if containers is not None:
                containers.add(prefix + name)
            py_flatten(ftype, base + off, f"{prefix}{name}.", out, containers)
    return out


def _structures(suffix: str) -> list[type[ctypes.Structure]]:
    seen: dict[int, type[ctypes.Structure]] = {}
    for module in LAYOUT_MODULES:
        for name in dir(module):
            obj = getattr(module, name)
            if (not name.startswith("_") and name.endswith(suffix) and isinstance(obj, type)
                    and issubclass(obj, ctypes.Structure) and obj.__name__ == name
                    and obj.__module__ == module.__name__):
                seen.setdefault(id(obj), obj)
    return sorted(seen.values(), key=lambda c: c.__name__)


ATTRS = _structures("Attr")
INFOS = _structures("Info")


def _match(py: dict[str, tuple[int, int]], kern: dict[str, tuple[int, int]],
           path: str) -> tuple[str, tuple[int, int]] | None:
    """The kernel field for Python ``path``: same path, or one path a dotted suffix of the
    other (preferring one at the same offset)."""
    if path in kern:
        return path, kern[path]
    leaf = path.rpartition(".")[2]
    candidates = [(k, v) for k, v in kern.items()
                  if k.rpartition(".")[2] == leaf
                  and (path.endswith("." + k) or k.endswith("." + path))]
    for k, v in candidates:
        if v[0] == py[path][0]:
            return k, v
    return candidates[0] if candidates else None


def compare(cls: type, kern: dict[str, tuple[int, int]], kern_size: int,
            kern_name: str) -> list[str]:
    containers: set[str] = set()
    py = py_flatten(cls, containers=containers)
    problems = []
    for path, (off, bits) in py.items():
        found = _match(py, kern, path)
        if found is None:
            if path in containers:          # a name only Python gives a nested struct/union
                continue
            problems.append(f"{cls.__name__}.{path}: no such field in {kern_name}")
            continue
        kpath, (koff, kbits) = found
        if off != koff:
            problems.append(f"{cls.__name__}.{path}: at bit {off}, kernel {kern_name}.{kpath} "
                            f"at bit {koff}")
        if bits != kbits:
            problems.append(f"{cls.__name__}.{path}: {bits} bits, kernel {kern_name}.{kpath} "
                            f"has {kbits}")
    size = ctypes.sizeof(cls)
    if cls.__name__ in PREFIX_LAYOUTS:
        if size > kern_size:
            problems.append(f"{cls.__name__}: {size} bytes, more than {kern_name} ({kern_size})")
    elif size != kern_size:
        problems.append(f"{cls.__name__}: {size} bytes, kernel {kern_name} has {kern_size}")
    return problems


def _attr_candidates(kernel: KernelTypes) -> list[tuple[str, int, dict[str, tuple[int, int]]]]:
    _, union = kernel.named("UNION", "bpf_attr")
    out = []
    for name, mtid, _bits, _bf in union.members:
        label = f"bpf_attr.{name}" if name not in ("", "(anon)") else \
            f"bpf_attr.<anonymous struct {mtid}>"
        out.append((label, kernel.size(mtid), kernel.flatten(mtid)))
    return out


# --- the tests -------------------------------------------------------------------------------

def test_there_is_something_to_check() -> None:
    assert ATTRS and INFOS


def test_each_layout_has_one_owner() -> None:
    """No structure is defined twice, and every public layout name of the package resolves to
    the class of the module that owns it (lazily imported ones included)."""
    owners: dict[str, str] = {}
    for module in LAYOUT_MODULES:
        for name, obj in vars(module).items():
            if (isinstance(obj, type) and issubclass(obj, (ctypes.Structure, ctypes.Union))
                    and obj.__module__ == module.__name__):
                assert name not in owners, f"{name} in {owners.get(name)} and {module.__name__}"
                owners[name] = module.__name__
    for name in dir(_sys):
        obj = getattr(_sys, name)
        if isinstance(obj, type) and issubclass(obj, ctypes.Structure):
            assert obj.__module__ == owners[obj.__name__], name
    assert {c.__name__ for c in ATTRS + INFOS} <= set(dir(_sys))


@pytest.mark.parametrize("cls", ATTRS, ids=lambda c: c.__name__)
def test_attr_layout(kernel: KernelTypes, cls: type) -> None:
    py = py_flatten(cls)
    best = None
    best_score = (-1, False)
    for label, size, kern in _attr_candidates(kernel):
        hits = sum(1 for p in py if (m := _match(py, kern, p)) and m[1][0] == py[p][0])
        score = (hits, size == ctypes.sizeof(cls))
        if score > best_score:
            best, best_score = (label, size, kern), score
    assert best is not None and best_score[0] > 0, \
        f"no member of union bpf_attr looks like {cls.__name__}"
    label, size, kern = best
    problems = compare(cls, kern, size, label)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("cls", INFOS, ids=lambda c: c.__name__)
def test_info_layout(kernel: KernelTypes, cls: type) -> None:
    stem = re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__.removesuffix("Info")).lower()
    struct_name = f"bpf_{stem}_info"
    tid, _ = kernel.named("STRUCT", struct_name)
    problems = compare(cls, kernel.flatten(tid), kernel.size(tid), f"struct {struct_name}")
    assert not problems, "\n".join(problems)


def test_attr_fits_the_kernel_union(kernel: KernelTypes) -> None:
    tid, _ = kernel.named("UNION", "bpf_attr")
    limit = kernel.size(tid)
    too_big = [f"{c.__name__}: {ctypes.sizeof(c)} > {limit}" for c in ATTRS
               if ctypes.sizeof(c) > limit]
    assert not too_big


def _constants(cls: type) -> dict[str, int]:
    """The named numbers of an ``IntEnum`` or of a plain class of int constants (``Cmd``)."""
    if issubclass(cls, enum.IntEnum):
        return {m.name: m.value for m in cls}
    return {name: value for name, value in vars(cls).items()
            if not name.startswith("_") and type(value) is int}


# Python enum or constants class -> (kernel enum, prefix of the kernel's constant names)
ENUM_NAMES = {"Cmd": ("bpf_cmd", "BPF_")}


def test_enums_match_the_kernel(kernel: KernelTypes) -> None:
    problems = []
    checked = set()
    for module in LAYOUT_MODULES:
        for name, (kname, prefix) in ENUM_NAMES.items():
            cls = vars(module).get(name)
            if cls is None:
                continue
            checked.add(name)
            _, kenum = kernel.named("ENUM", kname)
            constants = _constants(cls)
            assert constants, f"{name} defines no constants"
            for member, value in constants.items():
                kval = kenum.values.get(prefix + member)
                if kval is None:
                    problems.append(f"{name}.{member}: no {prefix}{member} in enum {kname}")
                elif kval != value:
                    problems.append(f"{name}.{member} = {value}, kernel says {kval}")
    assert checked == set(ENUM_NAMES)
    assert not problems, "\n".join(problems)


def test_raw_dump_parser() -> None:
    """The parser reads the lines bpftool prints (a fixed sample, so this runs everywhere)."""
    sample = "\n".join([
        "[1] INT 'unsigned int' size=4 bits_offset=0 nr_bits=32 encoding=(none)",
        "[2] TYPEDEF '__u32' type_id=1",
        "[3] STRUCT 'pair' size=8 vlen=3",
        "\t'a' type_id=2 bits_offset=0",
        "\t'(anon)' type_id=4 bits_offset=32",
        "\t'flag' type_id=2 bits_offset=63 bitfield_size=1",
        "[4] UNION '(anon)' size=4 vlen=2",
        "\t'b' type_id=2 bits_offset=0",
        "\t'c' type_id=5 bits_offset=0",
        "[5] ARRAY '(anon)' type_id=6 index_type_id=1 nr_elems=4",
        "[6] INT 'char' size=1 bits_offset=0 nr_bits=8 encoding=SIGNED",
        "[7] ENUM 'e' encoding=UNSIGNED size=4 vlen=1",
        "\t'E_ONE' val=1",
    ])
    k = KernelTypes(sample)
    assert k.flatten(3) == {"a": (0, 32), "b": (32, 32), "c": (32, 32), "flag": (63, 1)}
    assert k.size(5) == 4
    assert k.types[7].values == {"E_ONE": 1}


def test_compare_reports_mismatches() -> None:
    """``compare`` notices a wrong offset, a wrong size, a missing field and a wrong total."""

    class Wrong(ctypes.Structure):
        _fields_ = [("a", ctypes.c_uint32), ("b", ctypes.c_uint64), ("extra", ctypes.c_uint8)]

    kern = {"a": (0, 32), "b": (32, 32)}
    problems = "\n".join(compare(Wrong, kern, 8, "struct k"))
    assert "Wrong.b: at bit 64" in problems
    assert "Wrong.b: 64 bits" in problems
    assert "Wrong.extra: no such field" in problems
    assert "Wrong: 24 bytes, kernel struct k has 8" in problems
