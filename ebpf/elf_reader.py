"""Reading BPF object files (ELF, as clang emits them) into a :class:`~ebpf.CollectionSpec`.

What is read:

* programs: every function in an executable section other than ``.text`` is a program, named
  by its symbol; its type, attach type, target and flags come from the section name
  (:mod:`ebpf.section_names`). Functions in ``.text`` are subprograms. Each program's
  instructions hold its own function followed by every function it calls or takes the
  address of (callbacks of ``bpf_loop``, timers ...), static or global;
* ``license`` and ``version``;
* maps: the legacy ``maps`` section (``struct bpf_map_def``) and BTF-defined maps in
  ``.maps``, including inner map templates and the static initialisation of program arrays
  and maps of maps;
* global data: ``.data``, ``.rodata``, ``.bss`` and their named variants become array maps
  named after their section, with the section's bytes as contents; ``.rodata*`` maps are
  frozen after loading. Their variables are listed in ``CollectionSpec.variables``;
* struct_ops maps: each variable of ``.struct_ops`` and ``.struct_ops.link`` (registered by a
  bpf_link) becomes a ``STRUCT_OPS`` map whose value is a :class:`~ebpf.specs.StructOpsValue`;
  each program a function pointer member points at gets ``attach_to = "<struct>:<member>"``;
* ``.BTF`` and ``.BTF.ext``: func info, line info and CO-RE records stay with each function.

Reading makes no system calls and depends on nothing but the file: the same object gives an
equal spec on every host, in either byte order.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import IO, Any, Final, Literal, NamedTuple

from . import btf as _btf
from .asm import Instruction, InstructionError, Instructions, Register
from .asm._raw import (
    PSEUDO_BTF_ID,
    PSEUDO_CALL,
    PSEUDO_FUNC,
    PSEUDO_KFUNC_CALL,
    PSEUDO_MAP_FD,
    PSEUDO_MAP_VALUE,
)
from .errors import BTFError, EbpfError, ELFError
from .internal import elf as _elf
from .linker import (
    CORERecord,
    Function,
    FunctionBTF,
    LineRecord,
    ProgramBTF,
    concatenate,
    link_program,
)
from .section_names import parse_section_name
from .specs import CollectionSpec, MapSpec, PinType, ProgramSpec, StructOpsValue
from .types import MapFlags, MapType, ProgramType
from .variables import VariableSpec

__all__ = ["load_collection_spec"]

_R_BPF_64_64: Final = 1
_R_BPF_64_ABS64: Final = 2
_R_BPF_64_ABS32: Final = 3
_R_BPF_64_NODYLD32: Final = 4
_R_BPF_64_32: Final = 10

_DATA_PREFIXES: Final = (".data", ".rodata", ".bss")
_STRUCT_OPS: Final = ".struct_ops"
_STRUCT_OPS_LINK: Final = ".struct_ops.link"
_KCONFIG: Final = ".kconfig"
_KSYMS: Final = ".ksyms"
# Far beyond what the kernel takes as one map value (KMALLOC_MAX_SIZE); refuse before
# allocating the zeroes of a malformed .bss.
_MAX_DATA_SIZE: Final = 1 << 28


def _is_data_section(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in _DATA_PREFIXES)


def load_collection_spec(source: str | os.PathLike[str] | bytes | bytearray | memoryview
                         | IO[bytes]) -> CollectionSpec:
    """Parse a BPF object file into a :class:`~ebpf.CollectionSpec`.

    Args:
        source: a path, the file's bytes, or a binary file object.

    Raises:
        ELFError: the file is malformed, is not a BPF object, or uses something this reader
            does not support (the message names the file, when there is one, and the section
            and offset).
        OSError: the file cannot be read.
    """
    name: str | None = None
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        name = os.fsdecode(source)
        with open(source, "rb") as f:
            data = f.read()
    elif hasattr(source, "read"):
        given = getattr(source, "name", None)
        name = given if isinstance(given, str) else None
        raw = source.read()
        if not isinstance(raw, (bytes, bytearray)):
            raise ELFError("the file object must be opened in binary mode", file=name)
        data = bytes(raw)
    else:
        raise TypeError(f"load_collection_spec takes a path, bytes or a binary file, not "
                        f"{type(source).__name__}")
    try:
        return _Reader(data).read()
    except BTFError as e:  # BTF is decoded lazily: a broken type surfaces wherever it is used
        raise ELFError(f"invalid BTF: {e}", section=".BTF", file=name) from e
    except ELFError as e:
        if name is not None:
            e.name_file(name)
        raise


class _DataSection(NamedTuple):
    section: _elf.Section
    spec: MapSpec


class _Code(NamedTuple):
    """The decoded instructions of one code section."""

    insns: Instructions
    slot_of: list[int]          # instruction index -> slot (8-byte unit)
    index_at: dict[int, int]    # slot -> instruction index
    total: int                  # slots in the section


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.elf = _elf.read_elf(data, machine=_elf.EM_BPF)
        if self.elf.elf_type != 1:
            raise ELFError(f"not a relocatable object (e_type {self.elf.elf_type})")
        self.order: Literal["little", "big"] = self.elf.byte_order
        self.btf: Any = None
        self.ext: Any = None
        self.maps: dict[str, MapSpec] = {}
        # symbol index of a map definition -> map name, and (section, offset) -> map name
        self.map_at: dict[tuple[int, int], str] = {}
        self.data_sections: dict[int, _DataSection] = {}
        self.kconfig: dict[str, tuple[int, int]] = {}  # extern name -> (offset, size)
        self.ksyms: set[str] = set()
        # BTF map name -> (offset of its definition in .maps, its struct type)
        self._map_values_offset: dict[str, tuple[int, Any]] = {}
        self._code: dict[int, _Code] = {}
        # code section index -> {offset: (function name, size, is a program)}, in offset order
        self._starts: dict[int, dict[int, tuple[str, int, bool]]] = {}

    # --- top level ------------------------------------------------------------------------

    def read(self) -> CollectionSpec:
        self._read_btf()
        license = self._license()
        version = self._version()
        self._legacy_maps()
        self._btf_maps()
        self._global_data()
        functions, programs = self._functions(license, version)
        self._static_init(functions)
        self._struct_ops(programs)
        progs: dict[str, ProgramSpec] = {}
        for name, spec in programs.items():
            try:
                linked = link_program(name, functions)
            except EbpfError as e:
                raise ELFError(f"program {name!r}: {e}", section=spec.section_name) from e
            spec.instructions = concatenate(linked)
            if self.btf is not None:
                spec.btf = ProgramBTF(self.btf, tuple(
                    (fn.name, fn.btf) for fn in linked if fn.btf is not None))
            progs[name] = spec
        variables = self._variables()
        weak = frozenset(sym.name for sym in self.elf.symbols
                         if sym.section == _elf.SHN_UNDEF and sym.bind == _elf.STB_WEAK
                         and sym.name)
        return CollectionSpec(maps=self.maps, programs=progs, types=self.btf,
                              byte_order=self.order, variables=variables, weak_externs=weak)

    def _read_btf(self) -> None:
        if self.elf.section_by_name(".BTF") is None:
            return
        try:
            spec, ext = _btf.load_elf_btf(self.data)
        except BTFError as e:
            raise ELFError(f"invalid BTF: {e}", section=".BTF") from e
        self.btf = spec
        self.ext = ext

    def _license(self) -> str:
        sec = self.elf.section_by_name("license")
        if sec is None:
            return ""
        raw = sec.data.split(b"\0", 1)[0]
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise ELFError("the license is not ASCII text", section="license") from None

    def _version(self) -> int:
        sec = self.elf.section_by_name("version")
        if sec is None:
            return 0
        if len(sec.data) != 4:
            raise ELFError(f"expected 4 bytes, found {len(sec.data)}", section="version")
        return int.from_bytes(sec.data, self.order)

    # --- maps -------------------------------------------------------------------------------

    def _add_map(self, spec: MapSpec, section: str) -> None:
        if spec.name in self.maps:
            raise ELFError(f"map {spec.name!r} is defined twice", section=section)
        self.maps[spec.name] = spec

    def _legacy_maps(self) -> None:
        sec = self.elf.section_by_name("maps")
        if sec is None:
            return
        syms = sorted((s for s in self.elf.symbols_in(sec.index)
                       if s.type != _elf.STT_SECTION and s.name), key=lambda s: s.value)
        if not syms:
            if sec.size:
                raise ELFError("map definitions without symbols", section="maps")
            return
        stride = sec.size // len(syms)
        # The definitions in the order of their offsets: ``inner_map_idx`` counts in it.
        defined: list[tuple[_elf.Symbol, MapSpec, int]] = []
        for sym in syms:
            size = sym.size or stride
            if size < 20 or sym.value + size > len(sec.data):
                raise ELFError(f"map {sym.name!r}: definition of {size} bytes at {sym.value} "
                               "does not fit", section="maps", offset=sym.value)
            words = [int.from_bytes(sec.data[sym.value + 4 * i:sym.value + 4 * i + 4],
                                    self.order) for i in range(min(size // 4, 7))]
            extra = sec.data[sym.value + 28:sym.value + size]
            if any(extra):
                raise ELFError(f"map {sym.name!r}: unknown non-zero fields in the legacy "
                               "definition", section="maps", offset=sym.value + 28)
            spec = MapSpec(name=sym.name, type=_map_type(words[0]), key_size=words[1],
                           value_size=words[2], max_entries=words[3], flags=words[4],
                           numa_node=words[6] if len(words) > 6 else 0)
            inner_idx = words[5] if len(words) > 5 else -1
            if inner_idx > 0 and spec.type not in (MapType.ARRAY_OF_MAPS,
                                                   MapType.HASH_OF_MAPS):
                raise ELFError(f"map {sym.name!r}: inner_map_idx {inner_idx} in the definition "
                               f"of a {_type_name(spec.type)} map, which holds no maps",
                               section="maps", offset=sym.value + 20)
            self._add_map(spec, "maps")
            self.map_at[(sec.index, sym.value)] = sym.name
            defined.append((sym, spec, inner_idx))
        for sym, spec, inner_idx in defined:
            if spec.type in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS):
                self._legacy_inner_map(sym, spec, inner_idx, [d[1] for d in defined])

    @staticmethod
    def _legacy_inner_map(sym: _elf.Symbol, spec: MapSpec, index: int,
                          defined: list[MapSpec]) -> None:
        """The inner map of a legacy map of maps: the definition number ``inner_map_idx``
        among the legacy definitions in the order of their offsets (as the loader of the
        kernel's samples/bpf, which introduced the field, read it; libbpf never did)."""
        if index < 0:
            raise ELFError(f"map {sym.name!r}: a legacy map of maps needs inner_map_idx (the "
                           "sixth field of the definition)", section="maps", offset=sym.value)
        if index >= len(defined):
            raise ELFError(f"map {sym.name!r}: inner_map_idx {index} is out of range (the "
                           f"section defines {len(defined)} maps)", section="maps",
                           offset=sym.value + 20)
        inner = defined[index]
        if inner is spec or inner.type in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS):
            raise ELFError(f"map {sym.name!r}: inner_map_idx {index} names {inner.name!r}, "
                           "itself a map of maps", section="maps", offset=sym.value + 20)
        if spec.value_size not in (0, 4):
            raise ELFError(f"map {sym.name!r}: value_size must be 4 for a map of maps, not "
                           f"{spec.value_size}", section="maps", offset=sym.value + 8)
        spec.value_size = 4
        template = inner.copy()
        template.name = f"{sym.name}.inner"
        template.contents = []
        template.pinning = PinType.NONE
        spec.inner_map = template

    def _btf_maps(self) -> None:
        sec = self.elf.section_by_name(".maps")
        if sec is None:
            return
        if self.btf is None:
            raise ELFError("BTF-defined maps need a .BTF section", section=".maps")
        try:
            ds = self.btf.type_by_name(".maps", _btf.Datasec)
        except _btf.NotFoundError:
            raise ELFError("no DATASEC for .maps in BTF", section=".maps") from None
        except BTFError as e:
            raise ELFError(f"invalid BTF: {e}", section=".maps") from e
        for vs in ds.vars:
            var = vs.type
            if not isinstance(var, _btf.Var):
                raise ELFError(f"DATASEC entry {var!r} is not a variable", section=".maps")
            struct = _btf.skip_qualifiers(var.type)
            if isinstance(struct, _btf.Typedef):
                struct = _btf.underlying(struct)
            if not isinstance(struct, _btf.Struct):
                raise ELFError(f"map {var.name!r}: definition is not a struct",
                               section=".maps")
            spec = self._btf_map_def(var.name, struct, inner=False)
            self._add_map(spec, ".maps")
            self.map_at[(sec.index, vs.offset)] = var.name
            self._map_values_offset[var.name] = (vs.offset, struct)

    def _btf_map_def(self, name: str, struct: Any, *, inner: bool) -> MapSpec:
        spec = MapSpec(name=name)
        key_size = value_size = -1
        for m in struct.members:
            mname = m.name
            try:
                if mname == "type":
                    spec.type = _map_type(_uint(m.type, name, mname))
                elif mname == "max_entries":
                    spec.max_entries = _uint(m.type, name, mname)
                elif mname == "map_flags":
                    spec.flags = _uint(m.type, name, mname)
                elif mname == "numa_node":
                    spec.numa_node = _uint(m.type, name, mname)
                elif mname == "map_extra":
                    spec.map_extra = _uint(m.type, name, mname)
                elif mname == "key_size":
                    ks = _uint(m.type, name, mname)
                    if key_size not in (-1, ks):
                        raise ELFError(f"map {name!r}: key_size {ks} contradicts key type of "
                                       f"{key_size} bytes", section=".maps")
                    key_size = ks
                elif mname == "value_size":
                    vsz = _uint(m.type, name, mname)
                    if value_size not in (-1, vsz):
                        raise ELFError(f"map {name!r}: value_size {vsz} contradicts value type "
                                       f"of {value_size} bytes", section=".maps")
                    value_size = vsz
                elif mname == "key":
                    t = _pointee(m.type, name, mname)
                    ks = _btf.sizeof(t)
                    if key_size not in (-1, ks):
                        raise ELFError(f"map {name!r}: key type of {ks} bytes contradicts "
                                       f"key_size {key_size}", section=".maps")
                    key_size = ks
                    spec.key_type = t
                elif mname == "value":
                    t = _pointee(m.type, name, mname)
                    vsz = _btf.sizeof(t)
                    if value_size not in (-1, vsz):
                        raise ELFError(f"map {name!r}: value type of {vsz} bytes contradicts "
                                       f"value_size {value_size}", section=".maps")
                    value_size = vsz
                    spec.value_type = t
                elif mname == "pinning":
                    pin = _uint(m.type, name, mname)
                    if pin not in (PinType.NONE, PinType.BY_NAME):
                        raise ELFError(f"map {name!r}: unknown pinning {pin}", section=".maps")
                    spec.pinning = PinType(pin)
                elif mname == "values":
                    self._btf_map_values(spec, m.type, name)
                else:
                    raise ELFError(f"map {name!r}: unknown attribute {mname!r}",
                                   section=".maps")
            except BTFError as e:
                raise ELFError(f"map {name!r}: attribute {mname!r}: {e}",
                               section=".maps") from e
        if spec.type in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS, MapType.PROG_ARRAY):
            if value_size not in (-1, 4):
                raise ELFError(f"map {name!r}: value_size must be 4 for {spec.type.name}",
                               section=".maps")
            value_size = 4
        spec.key_size = max(key_size, 0)
        spec.value_size = max(value_size, 0)
        if spec.type in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS) and spec.inner_map is None:
            raise ELFError(f"map {name!r}: a map of maps needs an inner map (__array(values, "
                           "...))", section=".maps")
        return spec

    def _btf_map_values(self, spec: MapSpec, t: Any, name: str) -> None:
        arr = _btf.skip_qualifiers(t)
        if not isinstance(arr, _btf.Array):
            raise ELFError(f"map {name!r}: 'values' is not an array", section=".maps")
        ptr = _btf.skip_qualifiers(arr.type)
        if not isinstance(ptr, _btf.Pointer):
            raise ELFError(f"map {name!r}: 'values' is not an array of pointers",
                           section=".maps")
        target = _btf.skip_qualifiers(ptr.target)
        if spec.type == MapType.UNSPEC:
            raise ELFError(f"map {name!r}: 'values' must come after 'type'", section=".maps")
        if spec.type in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS):
            if not isinstance(target, _btf.Struct):
                raise ELFError(f"map {name!r}: the inner map of a map of maps must be a struct",
                               section=".maps")
            spec.inner_map = self._btf_map_def(f"{name}.inner", target, inner=True)
        elif spec.type == MapType.PROG_ARRAY:
            if not isinstance(target, _btf.FuncProto):
                raise ELFError(f"map {name!r}: the values of a program array must be "
                               "function pointers", section=".maps")
        else:
            raise ELFError(f"map {name!r}: 'values' is only allowed in maps of maps and "
                           "program arrays", section=".maps")

    def _global_data(self) -> None:
        for sec in self.elf.sections:
            if not _is_data_section(sec.name) or sec.type not in (_elf.SHT_PROGBITS,
                                                                  _elf.SHT_NOBITS):
                continue
            if sec.size == 0:
                continue
            if sec.size > _MAX_DATA_SIZE:
                raise ELFError(f"{sec.size} bytes of global data is more than a map value can "
                               "hold", section=sec.name)
            readonly = sec.name.startswith(".rodata")
            contents = b"\0" * sec.size if sec.type == _elf.SHT_NOBITS else sec.data
            flags = MapFlags.MMAPABLE | (MapFlags.RDONLY_PROG if readonly else 0)
            spec = MapSpec(name=sec.name, type=MapType.ARRAY, key_size=4, value_size=sec.size,
                           max_entries=1, flags=int(flags), contents=[(0, contents)],
                           freeze=readonly)
            if self.btf is not None:
                try:
                    spec.value_type = self.btf.type_by_name(sec.name, _btf.Datasec)
                    spec.key_type = _btf.Int("int", 4)
                except BTFError:
                    pass  # e.g. .rodata.str1.1 has no DATASEC: it holds no named variables
            self._add_map(spec, sec.name)
            self.data_sections[sec.index] = _DataSection(sec, spec)
        self._kconfig()

    def _kconfig(self) -> None:
        """Externs in ``.kconfig`` become variables of a ``.kconfig`` map the loader fills."""
        if self.btf is None:
            return
        try:
            ds = self.btf.type_by_name(_KCONFIG, _btf.Datasec)
        except BTFError:
            ds = None
        if ds is not None:
            for i, vs in enumerate(ds.vars):
                if not isinstance(vs.type, _btf.Var):
                    raise ELFError(f"entry {i} of DATASEC {_KCONFIG} is {_describe(vs.type)}, "
                                   "not a variable (extern)", section=_KCONFIG)
            # Laid out as libbpf lays them out, so that both loaders put each extern at the same
            # offset: largest alignment first, then smallest size, then by name.
            externs = sorted(((min(_btf.alignof(vs.type.type), 8), _btf.sizeof(vs.type.type),
                               vs.type.name) for vs in ds.vars),
                             key=lambda e: (-e[0], e[1], e[2]))
            offset = 0
            for align, size, name in externs:
                offset = (offset + align - 1) // align * align
                self.kconfig[name] = (offset, size)
                offset += size
            if offset > _MAX_DATA_SIZE:
                raise ELFError(f"{offset} bytes of kconfig externs is too much",
                               section=_KCONFIG)
            if offset:
                size = (offset + 7) // 8 * 8
                spec = MapSpec(name=_KCONFIG, type=MapType.ARRAY, key_size=4, value_size=size,
                               max_entries=1,
                               flags=int(MapFlags.MMAPABLE | MapFlags.RDONLY_PROG),
                               contents=[(0, b"\0" * size)], freeze=True)
                self._add_map(spec, _KCONFIG)
        try:
            ks = self.btf.type_by_name(_KSYMS, _btf.Datasec)
        except BTFError:
            ks = None
        if ks is not None:
            for i, vs in enumerate(ks.vars):
                if not isinstance(vs.type, (_btf.Var, _btf.Func)):
                    raise ELFError(f"entry {i} of DATASEC {_KSYMS} is {_describe(vs.type)}, "
                                   "neither a variable nor a function (extern)",
                                   section=_KSYMS)
            self.ksyms = {vs.type.name for vs in ks.vars}

    # --- functions and relocations -----------------------------------------------------------

    def _functions(self, license: str, version: int
                   ) -> tuple[dict[str, Function], dict[str, ProgramSpec]]:
        functions: dict[str, Function] = {}
        programs: dict[str, ProgramSpec] = {}
        code = [sec for sec in self.elf.sections
                if sec.type == _elf.SHT_PROGBITS and sec.executable and sec.size]
        for sec in code:
            self._decode(sec)
        self._find_functions(code)
        for sec in code:
            for fn, is_program in self._split(sec):
                if fn.name in functions:
                    raise ELFError(f"function {fn.name!r} is defined twice", section=sec.name)
                functions[fn.name] = fn
                if is_program:
                    info = parse_section_name(sec.name)
                    kver = version if info.type == ProgramType.KPROBE else 0
                    programs[fn.name] = ProgramSpec(
                        name=fn.name, type=info.type, instructions=Instructions(),
                        license=license, attach_type=info.attach_type,
                        attach_to=info.attach_to, flags=info.flags, kernel_version=kver,
                        section_name=sec.name, byte_order=self.order)
        return functions, programs

    def _decode(self, sec: _elf.Section) -> _Code:
        code = self._code.get(sec.index)
        if code is not None:
            return code
        try:
            insns = Instructions.unmarshal(sec.data, self.order)
        except InstructionError as e:
            raise ELFError(f"cannot decode instructions: {e}", section=sec.name,
                           offset=e.byte_offset) from e
        slot_of: list[int] = []
        pos = 0
        for ins in insns:
            slot_of.append(pos)
            pos += ins.slots
        code = _Code(insns, slot_of, {s: i for i, s in enumerate(slot_of)}, pos)
        self._code[sec.index] = code
        return code

    def _find_functions(self, code: list[_elf.Section]) -> None:
        """Where the functions of each code section start: at their symbols, and where old
        compilers left none (static functions in ``.text`` without ``STT_FUNC`` symbols), at
        the targets of calls and function pointers, and at the start of a program section."""
        symbols = self.elf.symbols
        targets: dict[int, set[int]] = {sec.index: set() for sec in code}
        for sec in code:
            c = self._code[sec.index]
            relocs = {r.offset: r for r in self.elf.relocations.get(sec.index, ())}
            for i, ins in enumerate(c.insns):
                r = relocs.get(c.slot_of[i] * 8)
                if r is not None:
                    if not 0 <= r.symbol < len(symbols):
                        continue  # reported where the relocation is applied
                    sym = symbols[r.symbol]
                    if sym.section not in targets:
                        continue
                    if ins.is_function_call or (ins.is_call and int(ins.src) == PSEUDO_CALL):
                        targets[sym.section].add(sym.value + (ins.constant + 1) * 8)
                    elif ins.is_ldimm64:
                        targets[sym.section].add(sym.value + (ins.constant & 0xFFFF_FFFF))
                elif ins.is_function_call or ins.is_load_of_function_pointer:
                    targets[sec.index].add((c.slot_of[i] + ins.constant + 1) * 8)
        used = {s.name for s in symbols if s.name}
        for sec in code:
            starts: dict[int, tuple[str, int, bool]] = {}
            programs = sec.name != ".text"
            for sym in sorted(self.elf.symbols_in(sec.index), key=lambda s: s.value):
                # Old LLVM left the type of some function symbols at STT_NOTYPE.
                if sym.type == _elf.STT_FUNC or (sym.type == _elf.STT_NOTYPE and sym.name
                                                 and sym.bind != _elf.STB_LOCAL):
                    starts.setdefault(sym.value, (sym.name, sym.size, programs))
            if not starts and sec.name == ".text" and not targets[sec.index]:
                raise ELFError("executable section without function symbols",
                               section=sec.name)
            c = self._code[sec.index]
            found = targets[sec.index]
            if sec.name != ".text" and not starts:
                found = found | {0}  # a program without a symbol: named after its section
            for off in sorted(found):
                if off in starts or off % 8 or off // 8 not in c.index_at:
                    continue  # a bad target is reported where it is used
                name = self._derived_name(sec, off, used)
                used.add(name)
                # Only a whole program section without symbols is a program; a function found
                # from its callers in a program section is a subprogram.
                starts[off] = (name, 0, programs and off == 0)
            self._starts[sec.index] = dict(sorted(starts.items()))

    def _derived_name(self, sec: _elf.Section, offset: int, used: set[str]) -> str:
        """A name for the function at ``offset`` of ``sec``, which has no symbol: its name in
        the BTF func info when there is one, else the section's name (a program) or the
        section and offset (``.text+0x60``)."""
        name = ""
        for fi in self._ext("func_infos", sec.name):
            if fi.insn_off == offset and isinstance(fi.func, _btf.Func):
                name = fi.func.name
        if not name:
            if sec.name == ".text" or offset:
                name = f"{sec.name}+{offset:#x}"
            else:
                name = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in sec.name)
        base, n = name, 1
        while name in used:
            name, n = f"{base}.{n}", n + 1
        return name

    def _split(self, sec: _elf.Section) -> list[tuple[Function, bool]]:
        insns, slot_of, index_at, total = self._decode(sec)
        starts = list(self._starts[sec.index].items())
        relocs = {r.offset: r for r in self.elf.relocations.get(sec.index, ())}
        for off in relocs:
            if off % 8 or off // 8 not in index_at:
                raise ELFError("relocation does not point at an instruction",
                               section=sec.name, offset=off)
        # Relocate every instruction first (needs section-wide offsets), then cut.
        out_insns: list[Instruction] = list(insns)
        for i, ins in enumerate(out_insns):
            r = relocs.get(slot_of[i] * 8)
            if r is not None:
                out_insns[i] = self._relocate(ins, r, sec, slot_of[i])
            elif ins.is_function_call or ins.is_load_of_function_pointer:
                # A call inside the section that the compiler did not relocate.
                target = slot_of[i] + ins.constant + 1
                out_insns[i] = ins.with_reference(self._function_at(sec, target * 8))
        result: list[tuple[Function, bool]] = []
        ext_funcs = self._ext("func_infos", sec.name)
        ext_lines = self._ext("line_infos", sec.name)
        ext_core = self._ext("core_relos", sec.name)
        for n, (value, (fname, fsize, is_program)) in enumerate(starts):
            if value % 8:
                raise ELFError(f"function {fname!r} is not aligned", section=sec.name,
                               offset=value)
            start = value // 8
            end = starts[n + 1][0] // 8 if n + 1 < len(starts) else total
            if fsize:
                end = min(end, start + fsize // 8)
            if start not in index_at or (end not in index_at and end != total) or end <= start:
                raise ELFError(f"function {fname!r} [{value}, +{fsize}) does not "
                               "cover whole instructions", section=sec.name, offset=value)
            lo = index_at[start]
            hi = index_at[end] if end != total else len(out_insns)
            body = Instructions(out_insns[lo:hi])
            body[0] = body[0].with_symbol(fname)
            for j in range(lo, hi):
                ins = out_insns[j]
                if ins.is_jump and ins.reference is None:
                    target = slot_of[j] + 1 + (ins.constant if ins.opcode == 0x06
                                               else ins.offset)
                    if not start <= target < end:
                        raise ELFError(f"function {fname!r}: jump out of the function at "
                                       f"instruction {j}", section=sec.name,
                                       offset=slot_of[j] * 8)
            fbtf = self._function_btf(fname, start, end, ext_funcs, ext_lines, ext_core,
                                      sec.name)
            result.append((Function(fname, sec.name, body, fbtf), is_program))
        return result

    def _ext(self, kind: str, section: str) -> list[Any]:
        if self.ext is None:
            return []
        recs: list[Any] = getattr(self.ext, kind).get(section, [])
        return recs

    def _function_btf(self, name: str, start: int, end: int, funcs: list[Any],
                      lines: list[Any], core: list[Any], section: str) -> FunctionBTF | None:
        if self.btf is None or self.ext is None:
            return None
        type_id = 0
        for fi in funcs:
            if fi.insn_off // 8 == start:
                type_id = fi.type_id
        if not type_id:
            return None
        lrecs = tuple(LineRecord(li.insn_off // 8 - start, li.file_name, li.line, li.line_num,
                                 li.column)
                      for li in lines if start <= li.insn_off // 8 < end)
        crecs = tuple(CORERecord(c.insn_off // 8 - start, c.type_id, c.access_str,
                                 int(c.kind), c)
                      for c in core if start <= c.insn_off // 8 < end)
        return FunctionBTF(type_id, lrecs, crecs)

    def _function_at(self, sec: _elf.Section, offset: int) -> str:
        start = self._starts.get(sec.index, {}).get(offset)
        if start is not None:
            return start[0]
        raise ELFError(f"call or function pointer to offset {offset}, where no function "
                       "starts", section=sec.name, offset=offset)

    def _relocate(self, ins: Instruction, r: _elf.Relocation, sec: _elf.Section,
                  slot: int) -> Instruction:
        sym = self.elf.symbol(r.symbol, context=sec.name)
        if sym.section == _elf.SHN_UNDEF:
            return self._relocate_extern(ins, sym, sec, slot)
        if sym.section >= len(self.elf.sections):
            raise ELFError(f"relocation against symbol {sym.name!r} in special section "
                           f"{sym.section:#x}", section=sec.name, offset=slot * 8)
        target = self.elf.sections[sym.section]
        if target.name in ("maps", ".maps"):
            if not ins.is_ldimm64:
                raise ELFError(f"map {sym.name or target.name!r} is used by an instruction that "
                               "is not a 64-bit load", section=sec.name, offset=slot * 8)
            off = sym.value + (ins.constant & 0xFFFF_FFFF if sym.type == _elf.STT_SECTION else 0)
            name = self.map_at.get((target.index, off))
            if name is None:
                raise ELFError(f"reference to offset {off} of {target.name}, where no map is "
                               "defined", section=sec.name, offset=slot * 8)
            return _patched(ins, PSEUDO_MAP_FD, 0, name)
        if target.index in self.data_sections:
            if not ins.is_ldimm64:
                raise ELFError(f"global variable {sym.name!r} is used by an instruction that "
                               "is not a 64-bit load", section=sec.name, offset=slot * 8)
            base = sym.value if sym.type != _elf.STT_SECTION else 0
            off = base + (ins.constant & 0xFFFF_FFFF)
            size = target.size
            if not 0 <= off <= size:
                raise ELFError(f"reference to offset {off} of {target.name}, which has "
                               f"{size} bytes", section=sec.name, offset=slot * 8)
            return _patched(ins, PSEUDO_MAP_VALUE, off << 32, target.name)
        if target.executable:
            if ins.is_function_call or (ins.is_call and int(ins.src) == PSEUDO_CALL):
                dest = sym.value + (ins.constant + 1) * 8
                return ins.with_reference(self._function_at(target, dest))
            if ins.is_ldimm64:
                dest = sym.value + (ins.constant & 0xFFFF_FFFF)
                return _patched(ins, PSEUDO_FUNC, 0, self._function_at(target, dest))
            raise ELFError(f"unsupported reference to code from instruction {ins}",
                           section=sec.name, offset=slot * 8)
        if target.name in _DATA_PREFIXES or _is_data_section(target.name):
            raise ELFError(f"reference to empty data section {target.name}",
                           section=sec.name, offset=slot * 8)
        raise ELFError(f"unsupported relocation against section {target.name!r} "
                       f"(symbol {sym.name!r})", section=sec.name, offset=slot * 8)

    def _relocate_extern(self, ins: Instruction, sym: _elf.Symbol, sec: _elf.Section,
                         slot: int) -> Instruction:
        name = sym.name
        if name in self.kconfig:
            if not ins.is_ldimm64:
                raise ELFError(f"kconfig extern {name!r} used by a non-64-bit load",
                               section=sec.name, offset=slot * 8)
            off, _ = self.kconfig[name]
            return _patched(ins, PSEUDO_MAP_VALUE, off << 32, _KCONFIG)
        if ins.is_call:
            # A kernel function (__ksym): the loader looks its BTF id up by name.
            return _patched(ins, PSEUDO_KFUNC_CALL, -1, name)
        if ins.is_ldimm64:
            return _patched(ins, PSEUDO_BTF_ID, 0, name)
        raise ELFError(f"unsupported use of extern symbol {name!r}", section=sec.name,
                       offset=slot * 8)

    # --- static initialisation of maps ---------------------------------------------------------

    def _static_init(self, functions: dict[str, Function]) -> None:
        sec = self.elf.section_by_name(".maps")
        if sec is None:
            return
        relocs = self.elf.relocations.get(sec.index, ())
        if not relocs:
            return
        slots: list[tuple[str, int, int]] = []  # map name, values offset, entry count
        for name, (var_off, struct) in self._map_values_offset.items():
            for m in struct.members:
                if m.name == "values":
                    start = var_off + m.offset // 8
                    slots.append((name, start, self.maps[name].max_entries))
        for r in sorted(relocs, key=lambda r: r.offset):
            owner = None
            for name, start, count in slots:
                if start <= r.offset < start + count * 8:
                    owner = (name, (r.offset - start) // 8)
                    break
            if owner is None:
                raise ELFError("relocation outside the 'values' of any map", section=".maps",
                               offset=r.offset)
            sym = self.elf.symbol(r.symbol, context=".maps")
            name, index = owner
            spec = self.maps[name]
            if spec.type == MapType.PROG_ARRAY:
                if sym.name not in functions or sym.type != _elf.STT_FUNC:
                    raise ELFError(f"map {name!r}: slot {index} refers to {sym.name!r}, which "
                                   "is not a program", section=".maps", offset=r.offset)
                target = sym.name
            else:
                target = self.map_at.get((sym.section, sym.value), "")
                if not target or target != sym.name:
                    raise ELFError(f"map {name!r}: slot {index} refers to {sym.name!r}, which "
                                   "is not a map", section=".maps", offset=r.offset)
            if index >= spec.max_entries:
                raise ELFError(f"map {name!r}: slot {index} is beyond max_entries "
                               f"{spec.max_entries}", section=".maps", offset=r.offset)
            spec.contents.append((index, target))

    # --- struct_ops ----------------------------------------------------------------------------

    def _struct_ops(self, programs: dict[str, ProgramSpec]) -> None:
        for sec in self.elf.sections:
            if sec.name in (_STRUCT_OPS, _STRUCT_OPS_LINK) and sec.size:
                self._struct_ops_section(sec, programs)

    def _struct_ops_section(self, sec: _elf.Section, programs: dict[str, ProgramSpec]) -> None:
        name = sec.name
        if self.btf is None:
            raise ELFError("struct_ops maps need BTF", section=name)
        if sec.type != _elf.SHT_PROGBITS:
            raise ELFError("a struct_ops section must hold data", section=name)
        try:
            ds = self.btf.type_by_name(name, _btf.Datasec)
        except _btf.NotFoundError:
            raise ELFError(f"no DATASEC for {name} in BTF", section=name) from None
        relocs = {r.offset: r for r in self.elf.relocations.get(sec.index, ())}
        for vs in ds.vars:
            var = vs.type
            if not isinstance(var, _btf.Var):
                raise ELFError(f"DATASEC entry {var!r} is not a variable", section=name)
            struct = _btf.underlying(var.type)
            if not isinstance(struct, _btf.Struct) or not struct.name:
                raise ELFError(f"struct_ops map {var.name!r}: not a named struct",
                               section=name, offset=vs.offset)
            start, size = vs.offset, struct.size
            if start + size > len(sec.data):
                raise ELFError(f"struct_ops map {var.name!r}: {size} bytes do not fit",
                               section=name, offset=start)
            data = bytearray(sec.data[start:start + size])
            members: dict[str, str] = {}
            for m in struct.members:
                if m.bitfield_size or m.offset % 8:
                    continue
                r = relocs.pop(start + m.offset // 8, None)
                if r is None:
                    continue
                at = start + m.offset // 8
                prog = self._struct_ops_program(sec, r, at, programs,
                                                f"struct_ops map {var.name!r} member "
                                                f"{m.name!r}")
                target = f"{struct.name}:{m.name}"
                if ":" in prog.attach_to and prog.attach_to != target:
                    raise ELFError(f"program {prog.name!r} is used as {prog.attach_to} and as "
                                   f"{target}: a struct_ops program serves one member",
                                   section=name, offset=at)
                prog.attach_to = target
                members[m.name] = prog.name
                data[m.offset // 8:m.offset // 8 + 8] = bytes(8)
            flags = MapFlags.LINK if name == _STRUCT_OPS_LINK else MapFlags(0)
            spec = MapSpec(name=var.name, type=MapType.STRUCT_OPS, key_size=4,
                           value_size=size, max_entries=1, flags=int(flags),
                           value_type=struct,
                           contents=[(0, StructOpsValue(bytes(data), members))])
            self._add_map(spec, name)
        if relocs:
            off = min(relocs)
            raise ELFError("relocation outside the function pointers of any struct_ops map",
                           section=name, offset=off)

    def _struct_ops_program(self, sec: _elf.Section, r: _elf.Relocation, at: int,
                            programs: dict[str, ProgramSpec], what: str) -> ProgramSpec:
        sym = self.elf.symbol(r.symbol, context=sec.name)
        fn = sym.name
        if sym.type == _elf.STT_SECTION and 0 < sym.section < len(self.elf.sections):
            # A static function: the section's symbol, the offset stored in the slot.
            addend = int.from_bytes(sec.data[at:at + 8], self.order)
            fn = self._function_at(self.elf.sections[sym.section], addend)
        prog = programs.get(fn)
        if prog is None:
            raise ELFError(f"{what} points at {fn!r}, which is not a program", section=sec.name,
                           offset=at)
        if prog.type != ProgramType.STRUCT_OPS:
            raise ELFError(f"{what} points at program {fn!r}, which is not in a struct_ops "
                           "section", section=sec.name, offset=at)
        return prog

    # --- variables ---------------------------------------------------------------------------

    def _variables(self) -> dict[str, VariableSpec]:
        out: dict[str, VariableSpec] = {}
        for index, ds in sorted(self.data_sections.items()):
            btf_types: dict[str, Any] = {}
            vt = ds.spec.value_type
            if isinstance(vt, _btf.Datasec):
                for vs in vt.vars:
                    if isinstance(vs.type, _btf.Var):
                        btf_types[vs.type.name] = vs.type.type
            for sym in sorted(self.elf.symbols_in(index), key=lambda s: (s.value, s.name)):
                if sym.type != _elf.STT_OBJECT or not sym.name:
                    continue
                if sym.value + sym.size > ds.section.size:
                    raise ELFError(f"variable {sym.name!r} lies outside its section",
                                   section=ds.section.name, offset=sym.value)
                if sym.name in out:
                    raise ELFError(f"variable {sym.name!r} is defined twice",
                                   section=ds.section.name, offset=sym.value)
                out[sym.name] = VariableSpec(
                    name=sym.name, map_name=ds.spec.name, offset=sym.value, size=sym.size,
                    type=btf_types.get(sym.name), byte_order=self.order)
        for name, (off, size) in self.kconfig.items():
            t = None
            if self.btf is not None:
                ds2 = self.btf.type_by_name(_KCONFIG, _btf.Datasec)
                for vs in ds2.vars:
                    if vs.type.name == name:
                        t = vs.type.type
            out[name] = VariableSpec(name=name, map_name=_KCONFIG, offset=off, size=size,
                                     type=t, byte_order=self.order)
        return out


def _describe(t: Any) -> str:
    """``t`` in a few words for an error message: its kind and name."""
    return "void" if isinstance(t, _btf.Void) else f"{t.kind.name} {t.name or '(anon)'!r}"


def _patched(ins: Instruction, src: int, constant: int, reference: str) -> Instruction:
    """``ins`` with another pseudo source, constant and reference (keeping its symbol)."""
    return replace(ins, src=Register(int(src)), constant=constant, reference=reference)


def _type_name(t: MapType | int) -> str:
    return t.name if isinstance(t, MapType) else str(t)


def _map_type(value: int) -> MapType:
    try:
        return MapType(value)
    except ValueError:
        return value  # type: ignore[return-value]  # newer kernel: keep the number


def _uint(t: Any, map_name: str, attr: str) -> int:
    """The value of ``__uint(name, N)`` (``int (*name)[N]``) or ``__ulong`` (an enum)."""
    t = _btf.skip_qualifiers(t)
    if isinstance(t, _btf.Pointer):
        arr = _btf.skip_qualifiers(t.target)
        if isinstance(arr, _btf.Array):
            return int(arr.nelems)
    if isinstance(t, _btf.Enum) and len(t.values) == 1:
        return int(t.values[0].value)
    raise ELFError(f"map {map_name!r}: attribute {attr!r} is not an integer (__uint/__ulong)",
                   section=".maps")


def _pointee(t: Any, map_name: str, attr: str) -> Any:
    t = _btf.skip_qualifiers(t)
    if not isinstance(t, _btf.Pointer):
        raise ELFError(f"map {map_name!r}: attribute {attr!r} is not a pointer (__type)",
                       section=".maps")
    return t.target

