"""The code generator (``ebpf gen``): the modules it writes describe the object's types with the
offsets and sizes BTF gives, type-check under ``mypy --strict`` (and misuse does not), pass
ruff, are deterministic, and bad input gives a clear error. No kernel needed: the loading
side is tests/kernel/test_gen.py."""

from __future__ import annotations

import ctypes
import dataclasses
import importlib.util
import io
import json
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import ebpf
from ebpf.btf import Array, Composite, Enum, Int, Member, Type, Union, decode, underlying
from ebpf.cli import main as cli_main
from ebpf.gen import GenerateError, generate, generate_module

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = ROOT / "testdata"
GEN_TYPES = TESTDATA / "gen_types-el.elf"
GLOBALS = TESTDATA / "globals-el.elf"
RINGBUF = TESTDATA / "ringbuf-el.elf"
EXEC_EVENTS = ROOT / "examples" / "bpf" / "exec_events-el.elf"
HAVE_CLANG = shutil.which("clang-19") is not None or shutil.which("clang") is not None


_counter = iter(range(1_000_000))


def import_source(source: str, directory: Path, name: str = "") -> ModuleType:
    """Write ``source`` as a module in ``directory`` and import it (under a unique name)."""
    name = name or f"gen_module_{next(_counter)}"
    path = directory / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


@pytest.fixture
def modules(tmp_path: Path) -> Iterator[dict[str, ModuleType]]:
    made: dict[str, ModuleType] = {}
    for label, path in (("types", GEN_TYPES), ("globals", GLOBALS), ("ringbuf", RINGBUF),
                        ("exec", EXEC_EVENTS)):
        made[label] = import_source(generate(path), tmp_path)
    made["types_eb"] = import_source(generate(TESTDATA / "gen_types-eb.elf"), tmp_path)
    # Kernel structs the object's CO-RE reads name: bitfields, unions, anonymous members.
    made["task"] = import_source(generate(EXEC_EVENTS, types=["task_struct", "linux_binprm"]),
                                 tmp_path)
    yield made
    for m in made.values():
        sys.modules.pop(m.__name__, None)


# --- layout: every generated class against the BTF ------------------------------------------


def _btf_struct(spec: ebpf.CollectionSpec, name: str) -> Composite:
    assert spec.types is not None
    found = [t for t in spec.types.types_by_name(name) if isinstance(t, Composite)]
    assert found, name
    return found[0]


def _named_members(t: Composite) -> Iterator[Member]:
    """The members of ``t``, those of anonymous members in their place (at any depth)."""
    for m in t.members:
        inner = underlying(m.type)
        if not m.name and isinstance(inner, Composite):
            yield from _named_members(inner)
        elif m.name:
            yield m


def _same(ours: Any, theirs: Any, t: Type, where: str) -> None:
    """A value read through the generated ctypes class equals the BTF decoder's."""
    u = underlying(t)
    if isinstance(u, Union) and isinstance(ours, ctypes.Array):
        return  # a union in a structure of the other byte order: its bytes (test_big_endian)
    if isinstance(u, Composite):
        for m in _named_members(u):
            attr = m.name if hasattr(ours, m.name) else m.name + "_"  # keywords, ambiguous
            if m.name.startswith("__"):
                continue  # reachable only with getattr: checked by offset in the caller
            if not hasattr(ours, attr):  # in an anonymous union kept as bytes (other order)
                assert any(isinstance(getattr(ours, f[0]), ctypes.Array)
                           for f in type(ours)._fields_ if f[0].startswith("_anon")), where
                continue
            _same(getattr(ours, attr), theirs[m.name], m.type, f"{where}.{m.name}")
    elif isinstance(u, Array):
        elem = underlying(u.type)
        if isinstance(theirs, str):
            theirs = theirs.encode()
        if isinstance(theirs, bytes):
            mine = ours if isinstance(ours, bytes) else bytes(ours)
            if isinstance(elem, Int) and (elem.name == "char"):
                assert mine.split(b"\0")[0] == theirs.split(b"\0")[0], where
            else:
                assert mine == theirs, where
            return
        assert len(ours) == len(theirs) == u.nelems, where
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            _same(a, b, u.type, f"{where}[{i}]")
    elif isinstance(u, Enum):
        if isinstance(theirs, str):
            theirs = next(v.value for v in u.values if v.name == theirs)
        assert ours == theirs, where
    elif isinstance(theirs, bool):  # c_bool; c_uint8 in the other byte order (no c_bool form)
        assert bool(ours) == theirs, where
    elif isinstance(theirs, float):
        assert ours == theirs or (math.isnan(ours) and math.isnan(theirs)), where
    else:
        assert ours == theirs, f"{where}: {ours!r} != {theirs!r}"


@pytest.mark.parametrize(("label", "struct", "cls", "size"), [
    ("types", "flow_key", "FlowKey", 12),
    ("types", "flow_value", "FlowValue", 88),
    ("types", "packed_rec", "PackedRec", 7),
    ("types", "record", "Record", 48),
    ("types", "point", "Point", 8),
    ("globals", "config", "Config", 24),
    ("globals", "totals", "Totals", 24),
    ("ringbuf", "event", "Event", 56),
    ("ringbuf", "pair", "Pair", 8),
    ("exec", "exec_event", "ExecEvent", 144),
    ("task", "task_struct", "TaskStruct", 3264),
    ("task", "linux_binprm", "LinuxBinprm", 408),
    ("types_eb", "flow_value", "FlowValue", 88),
    ("types_eb", "record", "Record", 48),
    ("types_eb", "flow_key", "FlowKey", 12),
])
def test_layout_matches_btf(modules: dict[str, ModuleType], label: str, struct: str, cls: str,
                            size: int) -> None:
    module = modules[label]
    spec = module.load_spec()
    t = _btf_struct(spec, struct)
    generated = getattr(module, cls)
    assert ctypes.sizeof(generated) == t.size == size
    for m in t.members:
        if m.name and not m.bitfield_size:
            attr = m.name if hasattr(generated, m.name) else m.name + "_"
            assert getattr(generated, attr).offset == m.offset // 8, m.name
    rng = random.Random(size)
    for _ in range(20):
        data = bytes(rng.randrange(256) for _ in range(size))
        order = ">" if spec.byte_order == "big" else "<"
        _same(generated.from_buffer_copy(data), decode(t, data, byte_order=order), t, struct)


def test_bitfields_union_enums(modules: dict[str, ModuleType]) -> None:
    g = modules["types"]
    v = g.FlowValue(small=5, medium=9, big=0xabcde, as_u32=0x04030201, trend=g.Delta.DOWN)
    spec = g.load_spec()
    decoded = decode(_btf_struct(spec, "flow_value"), bytes(v))
    assert (decoded["small"], decoded["medium"], decoded["big"]) == (5, 9, 0xabcde)
    assert decoded["as_bytes"] == b"\x01\x02\x03\x04"
    assert decoded["trend"] == "DOWN"
    assert list(v.as_bytes) == [1, 2, 3, 4]  # the anonymous union's members, flattened
    assert issubclass(g.Color, __import__("enum").IntEnum)
    assert (g.Color.RED, g.Color.GREEN, g.Color.BLUE) == (0, 1, 7)
    assert g.Delta.DOWN == -1 and g.Wide.WIDE_BIG == 1 << 32
    assert g.PackedRec._pack_ == 1
    assert g.Record.aligned.offset == 32  # __attribute__((aligned(16))): explicit padding


def test_objects_fields_and_views(modules: dict[str, ModuleType]) -> None:
    g = modules["types"]
    hints = typing.get_type_hints(g.Objects, include_extras=True)
    names = {f.name: typing.get_args(hints[f.name]) for f in dataclasses.fields(g.Objects)
             if typing.get_origin(hints[f.name]) is typing.Annotated}
    assert {n: (a[0], a[1].name) for n, a in names.items()} == {
        "fill": (ebpf.Program, "fill"), "flows": (ebpf.Map, "flows"),
        "per_cpu_points": (ebpf.Map, "per_cpu_points"), "records": (ebpf.Map, "records"),
        "rodata": (ebpf.Map, ".rodata"), "data": (ebpf.Map, ".data"),
        "bss": (ebpf.Map, ".bss"), "rodata_str1_1": (ebpf.Map, ".rodata.str1.1")}
    assert issubclass(g.Objects, ebpf.Objects)
    objs = g.Objects()
    assert objs.fill is None and objs.flows is None
    objs.close()  # nothing loaded: nothing to close
    assert isinstance(g.Objects.flows_view, property)
    assert isinstance(g.Objects.per_cpu_points_view, property)
    assert not hasattr(g.Objects, "records_view")  # a ring buffer has no elements to view


def test_variables_before_load(modules: dict[str, ModuleType]) -> None:
    g = modules["globals"]
    spec = g.load_spec()
    v = g.Variables(spec.variables)
    assert v.ro_multiplier == 3
    cfg = v.ro_config
    assert isinstance(cfg, g.Config)
    assert (cfg.mode, cfg.limit, cfg.seed, cfg.tag) == (1, 1500, 0x0123456789abcdef, b"globals")
    assert v.data_counter == 100 and v.custom_counter == 7
    v.ro_multiplier = 9
    v.ro_config = g.Config(mode=2, limit=10, seed=1, tag=b"x")
    assert spec.variables["ro_multiplier"].get() == 9
    assert g.Variables(spec.variables).ro_config.limit == 10
    assert g.load_spec().variables["ro_multiplier"].get() == 3  # a fresh spec each call

    t = modules["types"]
    tv = t.Variables(t.load_spec().variables)
    assert (tv.signed_byte, tv.scale, tv.name) == (-5, 0.5, b"gen\0\0\0\0\0")
    tv.name = b"abc"  # char arrays are padded
    assert tv.name == b"abc\0\0\0\0\0"
    assert (tv.origin.x, tv.origin.y) == (3, -4)
    with pytest.raises(ebpf.MarshalError):
        tv.name = b"too long!"


def test_clashing_names(tmp_path: Path) -> None:
    """C names that would shadow the module's own names, or that linters reject, are
    renamed; the objects keep their names."""
    mod = import_source(generate(TESTDATA / "gen_names-el.elf"), tmp_path)
    try:
        assert {"Any2", "Objects2"} <= set(mod.__all__)  # struct any, struct objects
        assert mod.Any is Any  # typing.Any, as the module uses it
        hints = typing.get_type_hints(mod.Objects, include_extras=True)
        assert typing.get_args(hints["close2"])[1].name == "close"  # the map
        assert typing.get_args(hints["load"])[1].name == "load"  # the program
        params = set(typing.get_type_hints(mod.load))
        assert {"options", "spec", "spec2", "ebpf2", "options2", "objs2"} <= params
        v = mod.Variables(mod.load_spec().variables)
        assert (v.spec2, v.ebpf2, v.options2, v.objs2, v.l_, v.match_) == (1, 2, 3, 4, 0, 0)
    finally:
        sys.modules.pop(mod.__name__, None)


def test_hostile_btf_strings() -> None:
    """Names from a damaged object (quotes, backslashes, odd bytes) never make a module that
    does not compile: the generator either describes the object or says why not."""
    data = GEN_TYPES.read_bytes()
    btf = data.find(b"\x9f\xeb\x01\x00")
    header, _, _, str_off, str_len = struct.unpack_from("<IIIII", data, btf + 4)
    strings = btf + header + str_off
    rng = random.Random(7)
    described = 0
    for _ in range(300):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 6)):
            damaged[strings + rng.randrange(str_len)] = rng.choice(
                [rng.randrange(1, 256), ord('"'), ord("\\"), ord("."), ord(" "), 0xc3])
        try:
            source = generate(bytes(damaged))
        except GenerateError:
            continue
        exec(compile(source, "<generated>", "exec"), {})
        described += 1
    assert described > 50  # most damage is to names, which are sanitised


def test_exec_events_and_extra_types(tmp_path: Path, modules: dict[str, ModuleType]) -> None:
    e = modules["exec"]
    assert "execs_by_comm_view" in dir(e.Objects) and "argc_log2_view" in dir(e.Objects)
    assert e.__all__ == sorted(e.__all__, key=lambda n: (not n[0].isupper(), n))
    assert not hasattr(e, "LinuxBinprm")  # no map or variable uses it ...
    assert ctypes.sizeof(modules["task"].LinuxBinprm) == 408  # ... unless asked for
    with pytest.raises(GenerateError, match="no struct, union or enum"):
        generate(RINGBUF, types=["no_such_type"])


def test_big_endian_unions(modules: dict[str, ModuleType]) -> None:
    g = modules["types_eb"]
    if sys.byteorder == "little":
        assert issubclass(g.FlowValue, ctypes.BigEndianStructure)
    # Unions of the other byte order are their bytes (ctypes cannot nest them before 3.12).
    assert not hasattr(g, "RecordU") and not hasattr(g, "FlowValueAnon3")
    record = g.Record.from_buffer_copy(bytes(40) + b"\xff\xff\xff\xfe\0\0\0\x02")
    assert bytes(record.u) == b"\xff\xff\xff\xfe\0\0\0\x02"
    assert g.Point.from_buffer_copy(bytes(record.u)).x == -2  # a struct member decodes them


def test_big_endian_object(tmp_path: Path) -> None:
    mod = import_source(generate(TESTDATA / "globals-eb.elf"), tmp_path)
    try:
        if sys.byteorder == "little":
            assert issubclass(mod.Config, ctypes.BigEndianStructure)
        cfg = mod.Variables(mod.load_spec().variables).ro_config
        assert (cfg.mode, cfg.limit, cfg.seed) == (1, 1500, 0x0123456789abcdef)
    finally:
        sys.modules.pop(mod.__name__, None)


# --- the output as text -------------------------------------------------------------------


def test_deterministic() -> None:
    assert generate(GEN_TYPES) == generate(GEN_TYPES)
    from_bytes = generate(GEN_TYPES.read_bytes(), module_name="gen_types-el")
    assert from_bytes.replace("<bytes>", GEN_TYPES.name) == generate(GEN_TYPES)
    assert "/" + "work" not in generate(GEN_TYPES)


def test_beside(tmp_path: Path) -> None:
    shutil.copy(GLOBALS, tmp_path / "globals.bpf.o")
    source = generate(GLOBALS, embed=False, object_file="globals.bpf.o")
    assert "b64decode" not in source
    mod = import_source(source, tmp_path)
    try:
        assert mod.load_spec() == ebpf.load_collection_spec(GLOBALS)
    finally:
        sys.modules.pop(mod.__name__, None)
    with pytest.raises(GenerateError, match="plain file name"):
        generate(GLOBALS, embed=False, object_file="../x.o")


@pytest.mark.skipif(shutil.which("ruff") is None and importlib.util.find_spec("ruff") is None,
                    reason="ruff is not installed")
def test_ruff_defaults(tmp_path: Path) -> None:
    """Other projects' configurations: the lint rules pass without this project's exceptions
    (test_every_object_ruff_clean checks every module with the project's configuration)."""
    out = tmp_path / "generated.py"
    out.write_text(generate(GEN_TYPES))
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated",
                           "--select", "E,F,W,I,UP,B,SIM,RUF", "--line-length", "100",
                           str(out)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


USE_OK = '''\
from __future__ import annotations

import ebpf
import gmod


def run() -> int:
    with gmod.load(verdict=2, origin=gmod.Point(x=1, y=2)) as objs:
        prog: ebpf.Program = objs.fill
        for key, value in objs.flows_view.items():
            color: int = key.color
            packets: int = value.packets
            label: bytes = value.label
            ratio: float = value.ratio
            where: gmod.Point = value.where[0]
            print(color, packets, label, ratio, where.x, value.small)
        per_cpu: list[gmod.Point] = objs.per_cpu_points_view[0]
        objs.flows_view[gmod.FlowKey(port=1)] = gmod.FlowValue(packets=2)
        objs.variables.runs = 5
        n: int = objs.variables.runs
        last: gmod.Point = objs.variables.last_point
        return prog.test_run(b"\\0" * 64).retval + n + last.x + len(per_cpu)


spec: ebpf.CollectionSpec = gmod.load_spec()
gmod.Variables(spec.variables).verdict = 1
color: gmod.Color = gmod.Color.BLUE
record: gmod.Record = gmod.Record.from_buffer_copy(bytes(48))
seq: int = record.seq + record.packed.value
'''

USE_BAD = '''\
from __future__ import annotations

import gmod

with gmod.load(verdict="pass") as objs:
    objs.flows_view[gmod.Point()] = gmod.FlowValue()
    objs.variables.runs = "many"
    s: str = objs.variables.last_point
    objs.no_such_map.close()
    r = gmod.Record()
    r.seq = b"x"
'''


def _all_objects() -> list[Path]:
    return sorted(TESTDATA.glob("*.elf")) + sorted((ROOT / "examples" / "bpf").glob("*.elf"))


@pytest.fixture(scope="module")
def every_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the module generated from every committed object."""
    directory = tmp_path_factory.mktemp("every")
    for path in _all_objects():
        name = "m_" + path.name.replace("-", "_").replace(".", "_")
        (directory / f"{name}.py").write_text(generate(path))
    return directory


def test_every_object(every_module: Path) -> None:
    """Each committed object (CO-RE, struct_ops, externs, maps of maps ...) gives a module
    that imports and has what its object has."""
    for path in _all_objects():
        name = "m_" + path.name.replace("-", "_").replace(".", "_")
        module = import_source((every_module / f"{name}.py").read_text(), every_module,
                               f"{name}_imported")
        try:
            spec = module.load_spec()
            assert spec == ebpf.load_collection_spec(path)
            fields = {f.name for f in dataclasses.fields(module.Objects)}
            assert len(fields) >= len(spec.maps) + 2, name  # + variables, _collection
        finally:
            sys.modules.pop(module.__name__, None)


@pytest.mark.skipif(shutil.which("ruff") is None and importlib.util.find_spec("ruff") is None,
                    reason="ruff is not installed")
def test_every_object_ruff_clean(every_module: Path) -> None:
    for args in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        done = subprocess.run([sys.executable, "-m", "ruff", *args, "--config",
                               str(ROOT / "pyproject.toml"), str(every_module)],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def mypy_results(tmp_path_factory: pytest.TempPathFactory, every_module: Path
                 ) -> dict[str, tuple[int, str]]:
    pytest.importorskip("mypy")
    directory = tmp_path_factory.mktemp("mypy")
    (directory / "gmod.py").write_text(generate(GEN_TYPES, module_name="gmod"))
    (directory / "use_ok.py").write_text(USE_OK)
    (directory / "use_bad.py").write_text(USE_BAD)
    env = {**os.environ, "MYPYPATH": str(ROOT)}
    out = {}
    # The little-endian half of the objects: the other half has the same types.
    little = [str(p) for p in sorted(every_module.glob("*.py")) if "_eb_" not in p.name]
    for name, files in (("good", ["gmod.py", "use_ok.py", *little]),
                        ("use_bad", ["use_bad.py"])):
        done = subprocess.run(
            [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(directory / ".cache"),
             "--no-error-summary", *files],
            cwd=directory, env=env, capture_output=True, text=True, check=False)
        out[name] = (done.returncode, done.stdout + done.stderr)
    return out


def test_mypy_accepts_modules_and_use(mypy_results: dict[str, tuple[int, str]]) -> None:
    """The module of every committed object, and code using one, pass ``mypy --strict``."""
    status, text = mypy_results["good"]
    assert status == 0, text


def test_mypy_rejects_misuse(mypy_results: dict[str, tuple[int, str]]) -> None:
    status, text = mypy_results["use_bad"]
    assert status == 1, text
    for line, code in ((5, "arg-type"), (6, "index"), (7, "assignment"), (8, "assignment"),
                       (9, "attr-defined"), (11, "assignment")):
        assert f"use_bad.py:{line}: error:" in text and f"[{code}]" in text, text
    assert text.count(": error:") == 6, text


# --- C input and errors -------------------------------------------------------------------


@pytest.mark.skipif(not HAVE_CLANG, reason="clang is not installed")
def test_from_c_file(tmp_path: Path) -> None:
    src = tmp_path / "prog.c"
    shutil.copy(TESTDATA / "gen_types.c", src)
    made = generate_module(src, cflags=["-DUNUSED_MACRO=1"])
    assert made.object_file == "prog.o"
    assert made.data.startswith(b"\x7fELF")
    assert "class FlowValue(ctypes.Structure):" in made.source
    assert made.programs == ("fill",)
    assert generate(src) == made.source  # the compiled object is the same each time


@pytest.mark.skipif(not HAVE_CLANG, reason="clang is not installed")
def test_from_c_file_with_tracing_macros(tmp_path: Path) -> None:
    """BPF_KPROBE needs the target architecture, which the compile step defines; --cflags
    reach clang (here: where vmlinux.h is)."""
    src = tmp_path / "probe.c"
    src.write_text(
        '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_tracing.h>\n'
        "struct seen { long dfd; };\n"
        "struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 8);\n"
        "        __type(key, __u32); __type(value, struct seen); } seen SEC(\".maps\");\n"
        'SEC("kprobe/do_unlinkat") int BPF_KPROBE(probe, int dfd)\n'
        "{ __u32 k = 0; struct seen s = { .dfd = dfd };\n"
        "  bpf_map_update_elem(&seen, &k, &s, 0); return 0; }\n"
        'char LICENSE[] SEC("license") = "GPL";\n')
    with pytest.raises(GenerateError, match=r"vmlinux\.h. file not found"):
        generate(src)
    made = generate_module(src, cflags=[f"-I{TESTDATA}"])
    assert made.programs == ("probe",) and "class Seen(ctypes.Structure):" in made.source


@pytest.mark.skipif(not HAVE_CLANG, reason="clang is not installed")
def test_clang_failure(tmp_path: Path) -> None:
    src = tmp_path / "broken.c"
    src.write_text("int broken(\n")
    with pytest.raises(GenerateError, match=r"compile .*broken\.c: clang failed") as info:
        generate(src)
    assert "broken.c:1:" in str(info.value)  # clang's diagnostics are in the message


def test_not_an_object(tmp_path: Path) -> None:
    junk = tmp_path / "junk.o"
    junk.write_bytes(b"not an ELF file")
    with pytest.raises(GenerateError, match=r"junk\.o is not a BPF object"):
        generate(junk)
    truncated = tmp_path / "truncated.o"
    truncated.write_bytes(GLOBALS.read_bytes()[:200])
    with pytest.raises(GenerateError, match=r"truncated\.o is not a usable BPF object"):
        generate(truncated)
    with pytest.raises(GenerateError, match=r"no-such\.o"):
        generate(tmp_path / "no-such.o")


# --- the command line -----------------------------------------------------------------------


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = cli_main(args)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_cli_writes_module(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "gen_globals.py"
    status, text, err = _cli(["gen", str(GLOBALS), "-o", str(out)], capsys)
    assert (status, err) == (0, "")
    assert f"wrote {out}" in text
    assert out.read_text() == generate(GLOBALS, module_name="gen_globals")

    status, text, _ = _cli(["--json", "gen", str(GLOBALS), "-o", str(out), "--beside"], capsys)
    assert status == 0
    data = json.loads(text)
    assert data["object"] == str(tmp_path / "gen_globals.bpf.o")
    assert data["programs"] == ["use_globals"] and "Config" in data["types"]
    assert (tmp_path / "gen_globals.bpf.o").read_bytes() == GLOBALS.read_bytes()
    mod = import_source(out.read_text(), tmp_path, "gen_globals")
    try:
        assert mod.Variables(mod.load_spec().variables).ro_multiplier == 3
    finally:
        sys.modules.pop("gen_globals", None)

    status, text, _ = _cli(["gen", str(GLOBALS), "--name", "shown"], capsys)
    assert status == 0 and "(module shown)" in text and "class Config(" in text


def test_cli_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mod.py"
    args = ["gen", str(GLOBALS), "-o", str(out), "--beside"]
    status, _, err = _cli([*args, "--check"], capsys)
    assert status == 1 and "out of date" in err and not out.exists()
    assert _cli(args, capsys)[0] == 0
    status, text, _ = _cli([*args, "--check"], capsys)
    assert status == 0 and "up to date" in text
    (tmp_path / "mod.bpf.o").write_bytes(b"changed")
    status, _, err = _cli([*args, "--check"], capsys)
    assert status == 1 and "mod.bpf.o out of date" in err and "mod.py" not in err
    status, _, err = _cli(["gen", str(GLOBALS), "--check"], capsys)
    assert status == 1 and "--check needs -o" in err


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.o"
    junk.write_bytes(b"\0" * 64)
    status, _, err = _cli(["gen", str(junk), "-o", str(tmp_path / "m.py")], capsys)
    assert status == 1 and "is not a BPF object" in err and "Traceback" not in err

    status, _, err = _cli(["gen", str(GLOBALS), "-o", str(tmp_path / "nodir" / "m.py")], capsys)
    assert status == 1 and "cannot write" in err and "nodir" in err

    status, _, err = _cli(["gen", str(tmp_path / "missing.o"), "-o", str(tmp_path / "m.py")],
                          capsys)
    assert status == 3 and "no such file" in err

    status, _, err = _cli(["gen", str(GLOBALS), "--beside"], capsys)
    assert status == 1 and "--beside needs -o" in err

    status, _, err = _cli(["gen", str(GLOBALS), "-o", str(tmp_path / "m.txt")], capsys)
    assert status == 1 and "must be a .py file" in err
    assert not (tmp_path / "m.py").exists() and list(tmp_path.iterdir()) == [junk]

    if HAVE_CLANG:
        bad = tmp_path / "bad.c"
        bad.write_text("int x(\n")
        status, _, err = _cli(["gen", str(bad), "-o", str(tmp_path / "m.py")], capsys)
        assert status == 1 and "clang failed" in err


def test_python_dash_m(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "ebpf", "gen", str(RINGBUF)],
                          capture_output=True, text=True, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "class Event(ctypes.Structure):" in done.stdout
    assert io.StringIO(done.stdout).readline().startswith('"""Typed access')


# --- ebpf.gen.typed: the codecs generated modules use --------------------------------------


def test_typed_codecs() -> None:
    from ebpf.gen.typed import floating, integer, raw, structure

    u16 = integer(2, byte_order="big")
    assert u16.encode(0x1234) == b"\x12\x34" and u16.decode(b"\x12\x34") == 0x1234
    s32 = integer(4, signed=True)
    assert s32.decode(s32.encode(-5)) == -5
    with pytest.raises(ebpf.MarshalError, match="uint16: cannot encode 65536"):
        u16.encode(65536)
    with pytest.raises(ebpf.MarshalError, match="needs 2 bytes, got 3"):
        u16.decode(b"abc")
    f64 = floating(8)
    assert f64.decode(f64.encode(2.5)) == 2.5
    with pytest.raises(ValueError, match="4 or 8"):
        floating(2)
    text = raw(6)
    assert text.encode(b"ab") == b"ab\0\0\0\0" and text.decode(b"abcdef") == b"abcdef"
    with pytest.raises(ebpf.MarshalError, match="needs 6 bytes, got 7"):
        text.encode(b"toolong")
    with pytest.raises(ebpf.MarshalError, match="expected bytes"):
        text.encode("str")  # type: ignore[arg-type]

    class Pair(ctypes.Structure):
        _fields_ = [("a", ctypes.c_uint32), ("b", ctypes.c_uint16)]

    pair = structure(Pair)
    assert pair.size == 8
    got = pair.decode(pair.encode(Pair(a=1, b=2)))
    assert isinstance(got, Pair) and (got.a, got.b) == (1, 2)
    with pytest.raises(ebpf.MarshalError, match="expected Pair, got int"):
        pair.encode(3)  # type: ignore[arg-type]


def test_variables_closed(modules: dict[str, ModuleType]) -> None:
    g = modules["globals"]
    with pytest.raises(ebpf.EbpfError, match="'data_counter' is not available"):
        _ = g.Objects().variables.data_counter
