"""Collections: every map and program of an object file, as specs and as kernel objects.

:class:`CollectionSpec` is what :func:`~ebpf.load_collection_spec` reads from an object file:
plain data (maps, programs, BTF types, global variables) to inspect and edit. A
:class:`Collection` owns the maps and programs loaded from a spec. Loading is transactional:
maps are created first (inner map templates before their outer maps), then programs; contents
that refer to other objects (program arrays, maps of maps) are written once everything exists;
pinned maps are pinned last. If anything fails, every object created so far is closed and the
exception names the object that failed.

Instead of a whole :class:`Collection`, :meth:`CollectionSpec.load_and_assign` loads only what
the fields of a dataclass ask for (plus what those need) and assigns it::

    @dataclass
    class Objects(ebpf.Objects):
        count: ebpf.Program = ebpf.field("count_packets")
        stats: Annotated[ebpf.Map, ebpf.Name("stats")] = None

    with spec.load_and_assign(Objects()) as objs:
        ...
"""

from __future__ import annotations

import errno
import mmap
import os
from collections.abc import Iterator, Mapping
from types import TracebackType

from ._specs import CollectionSpec as CollectionSpec
from .errors import COREError, EbpfError, SyscallError, VerifierError
from .internal.record import dataclass as _record, field as _record_field
from .linker import ProgramBTF, core_relocations, map_references, marshal_ext_infos, resolve_maps
from .map import Map, MapSpec, PinType
from .program import Program, ProgramOptions, ProgramSpec, _LoadExtras
from .types import MapFlags, MapType, ProgramType
from .variables import Variable, VariableSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    import dataclasses
    from typing import Any, NoReturn, TypeVar, final

    from typing_extensions import Self

    T = TypeVar("T")
else:
    # replace()/fields() of the specs without importing dataclasses (and inspect); the rest
    # of the API, for the caller's dataclasses, is the standard library's on first use.
    from .internal import dataclasses_compat as dataclasses
    from .internal.static_typing import final

__all__ = [
    "Collection",
    "CollectionOptions",
    "CollectionSpec",
    "Name",
    "Objects",
    "field",
    "load_collection",
]

_MAP_IN_MAP = (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS)

#: Prefixes of syscall entry wrappers per architecture (``__x64_sys_bpf`` ...).
_SYSCALL_PREFIXES = ("__x64_", "__ia32_", "__arm64_", "__s390x_", "__s390_", "__riscv_",
                     "__powerpc_", "__loongarch_")

#: The helper id libbpf gives the call of a missing __weak kfunc (plus the extern's index), so
#: that the verifier names it if the call is reachable.
_POISON_KFUNC_BASE = 2002000000


# --- specs ---------------------------------------------------------------------------------------

# --- options -------------------------------------------------------------------------------------

@final
@_record(frozen=True, kw_only=True)
class CollectionOptions:
    """How to load a collection.

    Attributes:
        pin_path: the bpffs directory for maps marked ``LIBBPF_PIN_BY_NAME``; a compatible
            map already pinned there is reused, else the new map is pinned there.
        map_replacements: existing maps to use instead of creating the spec's map of that
            name; each must match the spec (type, sizes, entries, flags). They stay the
            caller's: the collection holds its own descriptor.
        log_level, log_size: the verifier log (see :class:`~ebpf.ProgramOptions`).
        program_options: all program options at once (overrides ``log_level``/``log_size``).
        kernel_types: the BTF to apply CO-RE relocations against instead of the running
            kernel's (an :class:`ebpf.btf.Spec`, e.g. from :func:`ebpf.btf.load_spec` of a
            BTFHub file). Kernel symbols, kfuncs and attach targets are still resolved
            against the running kernel, which is what the kernel checks them against.
            Without it, CO-RE uses the kernel's vmlinux BTF and then its module BTF.
    """

    pin_path: str | os.PathLike[str] | None = None
    map_replacements: Mapping[str, Map] = _record_field(default_factory=dict)
    log_level: int = 0
    log_size: int | None = None
    program_options: ProgramOptions | None = None
    kernel_types: Any = None

    def _program_options(self) -> ProgramOptions:
        if self.program_options is not None:
            return self.program_options
        return ProgramOptions(log_level=self.log_level, log_size=self.log_size)


# --- loading -------------------------------------------------------------------------------------

def _wrap(what: str, e: BaseException) -> BaseException:
    """``e`` with ``what`` (the object that failed) in its message, of the same class and with
    the same attributes where that is possible, else ``e`` itself."""
    text = str(e)
    if what in text or not isinstance(e, EbpfError):
        return e
    if isinstance(e, SyscallError):
        ctx = f"{what}: {e.context}" if e.context else what
        return type(e)(e.errno or 0, e.cmd, ctx)
    if type(e).__str__ is BaseException.__str__ and len(e.args) == 1:
        import copy  # only on this error path: not at import

        new = copy.copy(e)
        new.args = (f"{what}: {text}",)
        return new
    return e


def _reraise(what: str, e: BaseException) -> NoReturn:
    new = _wrap(what, e)
    if new is e:
        raise e
    raise new from e


def _compatible(m: Map, spec: MapSpec) -> str | None:
    """None if ``m`` can stand in for ``spec``, else why not."""
    diffs = []
    if int(m.type) != int(spec.type):
        diffs.append(f"type {getattr(m.type, 'name', m.type)} != "
                     f"{getattr(spec.type, 'name', spec.type)}")
    if m.key_size != spec.key_size:
        diffs.append(f"key_size {m.key_size} != {spec.key_size}")
    if m.value_size != spec.value_size:
        diffs.append(f"value_size {m.value_size} != {spec.value_size}")
    if m.max_entries != spec.max_entries and spec.type not in (MapType.RINGBUF,
                                                                MapType.PERF_EVENT_ARRAY):
        diffs.append(f"max_entries {m.max_entries} != {spec.max_entries}")
    # The kernel adds no flags of its own, but we compare only the ones a spec sets.
    if (m.flags & ~int(MapFlags.RDONLY | MapFlags.WRONLY)) != spec.flags:
        diffs.append(f"flags {m.flags:#x} != {spec.flags:#x}")
    return "; ".join(diffs) or None


# Map types whose kernel implementation refuses BTF key/value types (as libbpf does, the
# loader leaves the types out for these).
class _Loader:
    """Creates a spec's objects on demand, in dependency order, owning them until handed over."""

    def __init__(self, spec: CollectionSpec, options: CollectionOptions) -> None:
        if not isinstance(options, CollectionOptions):
            raise EbpfError(f"expected CollectionOptions, not {type(options).__name__}")
        self.spec = spec
        self.options = options
        self.prog_options = options._program_options()
        self.maps: dict[str, Map] = {}
        self.programs: dict[str, Program] = {}
        self.deferred: list[str] = []       # maps whose object-valued contents come last
        self.pending: list[tuple[str, str]] = []  # objects those contents name
        self.to_pin: list[tuple[Map, str]] = []
        self.reused: set[str] = set()       # maps taken from a pin or replacement
        self.handle: Any = None
        self.handle_failed = False          # the object's BTF could not be loaded for a map
        self.strings: dict[str, int] = {}
        self.in_progress: set[str] = set()
        self.kernel_btf: Any = None
        self.core_resolver: Any = None
        self.kallsyms: bytes | None = None

    # maps -----------------------------------------------------------------------------------

    def map(self, name: str) -> Map:
        m = self.maps.get(name)
        if m is not None:
            return m
        spec = self.spec.maps.get(name)
        if spec is None:
            raise EbpfError(f"load collection: no map {name!r} in the spec")
        if spec.type in _MAP_IN_MAP and name not in self.options.map_replacements:
            # Inner maps first.
            key = f"map {name}"
            if key in self.in_progress:
                raise EbpfError(f"map {name!r} contains itself")
            self.in_progress.add(key)
            try:
                for _, v in spec.contents:
                    if isinstance(v, str):
                        self.map(v)
            finally:
                self.in_progress.discard(key)
        try:
            m = self._make_map(name, spec)
        except BaseException as e:
            _reraise(f"map {name!r}", e)
        self.maps[name] = m
        if name not in self.reused:
            # Objects named in the contents must exist before they are written; they are
            # loaded after the current request (a program may tail-call itself).
            for _, v in spec.contents:
                if isinstance(v, str):
                    kind = "program" if spec.type == MapType.PROG_ARRAY else "map"
                    self.pending.append((kind, v))
        return m

    def load_pending(self) -> None:
        """Load what the contents of the maps created so far refer to."""
        while self.pending:
            kind, name = self.pending.pop(0)
            if kind == "program":
                self.program(name)
            else:
                self.map(name)

    def _make_map(self, name: str, spec: MapSpec) -> Map:
        repl = self.options.map_replacements.get(name)
        if repl is not None:
            why = _compatible(repl, spec)
            if why:
                raise EbpfError(f"replacement for map {name!r} is incompatible: {why}")
            self.reused.add(name)
            return repl.clone()
        pin_file = None
        if spec.pinning == PinType.BY_NAME and self.options.pin_path is not None:
            pin_file = os.path.join(os.fspath(self.options.pin_path), name)
            if "." in name:
                raise EbpfError(f"map {name!r} cannot be pinned: bpffs names may not "
                                "contain '.'")
            try:
                pinned = Map.load_pinned(pin_file)
            except SyscallError as e:
                if e.errno != errno.ENOENT:
                    raise
            else:
                why = _compatible(pinned, spec)
                if why:
                    pinned.close()
                    raise EbpfError(f"map {name!r} pinned at {pin_file!r} is incompatible "
                                    f"with the spec: {why}")
                self.reused.add(name)
                return pinned
        if spec.type == MapType.PERF_EVENT_ARRAY and spec.max_entries == 0:
            from .internal.kernel import possible_cpus

            spec = dataclasses.replace(spec, max_entries=possible_cpus())
        plain = [(k, v) for k, v in spec.contents if not isinstance(v, str)]
        later = len(plain) != len(spec.contents)
        create = dataclasses.replace(spec, contents=plain, freeze=spec.freeze and not later)
        if name == ".kconfig":
            create = dataclasses.replace(create, contents=[(0, self._kconfig(spec))])
        m = Map(create, btf=self._map_btf(create))
        if later:
            self.deferred.append(name)
        if pin_file is not None:
            self.to_pin.append((m, pin_file))
        return m

    def _map_btf(self, spec: MapSpec) -> Any:
        """The object's BTF handle if it describes the key and value types of ``spec`` (and of
        its inner map) as they are, else None: the map then gets a BTF object of its own."""
        from .map import _NO_KERNEL_BTF

        wanted = []
        m: MapSpec | None = spec
        while m is not None:
            if m.type not in _NO_KERNEL_BTF:
                wanted += [t for t in (m.key_type, m.value_type) if t is not None]
            m = m.inner_map
        if not wanted or self.spec.types is None or self.handle_failed:
            return None
        try:
            handle = self._btf_handle()
        except EbpfError:
            # Left for the programs to report, if they need the object's BTF.
            self.handle_failed = True
            return None
        for t in wanted:
            try:
                handle.type_id(t)
            except EbpfError:
                return None
        return handle

    def _kconfig(self, spec: MapSpec) -> bytes:
        """The ``.kconfig`` map's value: each extern from the running kernel's configuration."""
        from .internal.kernel import kernel_version

        buf = bytearray(spec.value_size)
        config: bytes | None = None
        for var in self.spec.variables.values():
            if var.map_name != ".kconfig":
                continue
            if var.name == "LINUX_KERNEL_VERSION":
                major, minor, patch = kernel_version()
                raw: str | int = (major << 16) | (minor << 8) | min(patch, 255)
            elif var.name == "LINUX_HAS_SYSCALL_WRAPPER":
                raw = int(self._has_syscall_wrapper())
            elif var.name.startswith("CONFIG_"):
                if config is None:
                    config = _read_kconfig()
                value = _kconfig_lookup(config, var.name)
                if value is None:
                    if var.name in self.spec._weak_externs:
                        continue
                    raise EbpfError(f"kconfig extern {var.name!r} is not set in the kernel's "
                                    "configuration (declare it __weak to default to 0)")
                raw = value
            else:
                raise EbpfError(f"kconfig extern {var.name!r} is not known to the loader")
            data = _kconfig_value(var, raw)
            buf[var.offset:var.offset + var.size] = data
        return bytes(buf)

    def _has_syscall_wrapper(self) -> bool:
        """Whether syscalls enter through arch wrappers (``__x64_sys_*`` and friends), as
        libbpf's ``LINUX_HAS_SYSCALL_WRAPPER`` tells BPF_KSYSCALL programs."""
        from .btf import Func

        kspec = self._kernel_spec()
        for prefix in _SYSCALL_PREFIXES:
            if kspec.types_by_name_and_class(f"{prefix}sys_bpf", Func):
                return True
        return False

    # programs -------------------------------------------------------------------------------

    def program(self, name: str) -> Program:
        p = self.programs.get(name)
        if p is not None:
            return p
        spec = self.spec.programs.get(name)
        if spec is None:
            raise EbpfError(f"load collection: no program {name!r} in the spec")
        if name in self.in_progress:
            raise EbpfError(f"program {name!r} depends on itself")
        self.in_progress.add(name)
        try:
            for ref in map_references(spec.instructions):
                self.map(ref)
            p = self._load_program(spec)
        except BaseException as e:
            _reraise(f"program {name!r}", e)
        finally:
            self.in_progress.discard(name)
        self.programs[name] = p
        return p

    def _load_program(self, spec: ProgramSpec) -> Program:
        context = f"load program {spec.name!r}"
        pbtf = spec.btf if isinstance(spec.btf, ProgramBTF) else None
        insns = spec.instructions
        applied: list[Any] = []
        if pbtf is not None and pbtf.core_relocations:
            insns, applied = self._apply_core(insns, pbtf, context)
        insns = resolve_maps(insns, lambda n: self.maps[n].fd
                             if n in self.maps else None, context)
        insns = self._resolve_kernel_symbols(insns, context)
        attach_btf_id = spec.attach_btf_id
        if not attach_btf_id and spec.type in (ProgramType.TRACING, ProgramType.LSM):
            attach_btf_id = self._attach_btf_id(spec, context)
        loadable = dataclasses.replace(spec, instructions=insns, attach_btf_id=attach_btf_id)
        extras = _LoadExtras()
        if pbtf is not None and pbtf.functions:
            handle = self._btf_handle()
            ext = marshal_ext_infos(insns, pbtf, self._string_offset, spec.byte_order)
            extras = _LoadExtras(btf_fd=handle.fd, func_info=ext.func_info,
                                 func_info_cnt=ext.func_info_cnt, line_info=ext.line_info,
                                 line_info_cnt=ext.line_info_cnt)
        try:
            return Program._load_with(loadable, self.prog_options, extras)
        except VerifierError as e:
            if applied:
                from .btf.core import poisoned_relocation

                hit = poisoned_relocation(e.log, applied)
                if hit is not None:
                    fx = hit.fixup
                    why = ("the load or store would change width unsafely"
                           if fx.bad_resize and not fx.poison
                           else "it has no match in the target BTF")
                    raise COREError(
                        f"{context}: instruction {hit.slot} reaches the poisoned CO-RE "
                        f"relocation {fx.description}: {why} (guard such code with "
                        "bpf_core_field_exists() or a similar check)") from e
            raise

    def _core_targets(self) -> tuple[list[Any], Any]:
        """The specs CO-RE searches: the option's, or vmlinux (then, lazily, modules)."""
        override = self.options.kernel_types
        if override is None:
            override = getattr(self.prog_options, "kernel_types", None)
        if override is not None:
            from .btf import Spec

            if not isinstance(override, Spec):
                raise EbpfError("kernel_types must be an ebpf.btf.Spec, not "
                                f"{type(override).__name__}")
            return [override], None
        return [self._kernel_spec()], _module_specs

    def _apply_core(self, insns: Any, pbtf: ProgramBTF, context: str) -> tuple[Any, list[Any]]:
        from .btf.core import COREResolver, relocate

        if self.core_resolver is None or self.core_resolver.local is not pbtf.spec:
            targets, more = self._core_targets()
            self.core_resolver = COREResolver(pbtf.spec, targets, more=more)
        relos = core_relocations(insns, pbtf)
        out, applied = relocate(insns, relos, self.core_resolver, context=context)
        return out, applied

    def _kernel_spec(self) -> Any:
        if self.kernel_btf is None:
            from .btf import load_kernel_spec

            self.kernel_btf = load_kernel_spec()
        return self.kernel_btf

    def _attach_btf_id(self, spec: ProgramSpec, context: str) -> int:
        from .btf import Func, NotFoundError, Typedef
        from .types import AttachType

        target = spec.attach_to
        if not target:
            raise EbpfError(f"{context}: {spec.type.name} programs need an attach target "
                            "in the section name (e.g. SEC(\"tp_btf/sched_switch\"))")
        at = spec.attach_type
        kspec = self._kernel_spec()
        name = target
        cls: type = Func
        if at == AttachType.TRACE_RAW_TP:
            name, cls = f"btf_trace_{target}", Typedef
        elif at == AttachType.TRACE_ITER:
            name = f"bpf_iter_{target}"
        elif spec.type == ProgramType.LSM:
            name = f"bpf_lsm_{target}"
        try:
            return int(kspec.type_id(kspec.type_by_name(name, cls)))
        except NotFoundError:
            raise EbpfError(f"{context}: attach target {target!r} ({name}) is not in the "
                            "kernel's BTF") from None

    def _resolve_kernel_symbols(self, insns: Any, context: str) -> Any:
        """Write kernel BTF ids (kfuncs, typed ksyms) and addresses (typeless ksyms, from
        ``/proc/kallsyms``) into the instructions that use ``__ksym`` externs. A missing
        ``__weak`` extern reads as 0, and a call of a missing ``__weak`` kfunc becomes a call
        of an invalid helper (``2002000000 + n``), which only dead code may contain."""
        from .asm import Instruction
        from .asm._raw import PSEUDO_BTF_ID
        from .btf import Func, NotFoundError, Void

        out = None
        weak = self.spec._weak_externs
        for i, ins in enumerate(insns):
            ref = ins.reference
            if ref is None:
                continue
            if ins.is_kfunc_call and ins.constant == -1:
                cls: type = Func
            elif ins.is_ldimm64 and int(ins.src) == PSEUDO_BTF_ID and ins.constant == 0:
                cls = self._extern_kind(ref)
            else:
                continue
            if out is None:
                out = insns.copy()
            if cls is Void:
                addr = self._ksym_address(ref)
                if addr is None and ref not in weak:
                    raise EbpfError(f"{context}: kernel symbol {ref!r} is not in "
                                    "/proc/kallsyms (declare it __weak to read 0)")
                out[i] = Instruction(ins.opcode, ins.dst, constant=addr or 0,
                                     symbol=ins.symbol, source=ins.source)
                continue
            kspec = self._kernel_spec()
            try:
                tid = kspec.type_id(kspec.type_by_name(ref, cls))
            except NotFoundError:
                if ref not in weak:
                    raise EbpfError(f"{context}: kernel symbol {ref!r} is not in the kernel's "
                                    "BTF") from None
                if ins.is_call:
                    out[i] = Instruction(ins.opcode, constant=_POISON_KFUNC_BASE
                                         + self._extern_index(ref), symbol=ins.symbol,
                                         source=ins.source)
                else:
                    out[i] = Instruction(ins.opcode, ins.dst, constant=0, symbol=ins.symbol,
                                         source=ins.source)
                continue
            out[i] = ins.with_constant(tid)
        return insns if out is None else out

    def _extern_kind(self, name: str) -> type:
        """``Func`` for a kfunc, ``Void`` for a typeless ksym, else ``Var``."""
        from .btf import Func, Var, Void, underlying

        for t in self.spec.types.types_by_name(name):
            if isinstance(t, Func):
                return Func
            if isinstance(t, Var):
                return Void if isinstance(underlying(t.type), Void) else Var
        return Var

    def _extern_index(self, name: str) -> int:
        names = sorted({n for p in self.spec.programs.values()
                        for n in (ins.reference for ins in p.instructions
                                  if ins.is_kfunc_call) if n is not None})
        return names.index(name) if name in names else 0

    def _ksym_address(self, name: str) -> int | None:
        if self.kallsyms is None:
            self.kallsyms = _read_kallsyms()
        return _kallsyms_lookup(self.kallsyms, name)

    def _btf_handle(self) -> Any:
        if self.handle is None:
            from .btf.handle import Handle, detect_marshal_options
            from .btf.marshal import MarshalOptions
            from .errors import BTFError

            types = self.spec.types
            opts = detect_marshal_options(_kinds_of(types))
            opts = MarshalOptions(**{f.name: getattr(opts, f.name)
                                     for f in dataclasses.fields(opts) if f.name != "dedup"},
                                  dedup=False)
            try:
                b = self._btf_builder(opts)
                blob = b.marshal()
            except (BTFError, AssertionError):
                # Malformed types. Types are copied from the blob where they were not decoded
                # yet; decode them all in id order, as loading always did, so that the error
                # names the first one. If they all decode, the same steps now see only decoded
                # types, and report the error as before.
                for tid in range(1, len(types) + 1):
                    types.type_by_id(tid)
                b = self._btf_builder(opts)
                blob = None
            try:
                if blob is None:
                    blob = b.marshal()
                self.handle = Handle.from_bytes(blob, what="load the object's BTF", builder=b)
            except BaseException as e:
                _reraise("BTF", e)
        return self.handle

    def _btf_builder(self, opts: Any) -> Any:
        """A builder holding the object's types as the kernel takes them (ids unchanged), the
        integer keys of global-data maps, and the strings of the line info."""
        from .btf import Int, NotFoundError
        from .btf.marshal import Builder

        types = self.spec.types
        b = Builder(opts)
        replace = _kernel_ready_replacements(types, self.spec)
        if types.base is None:
            b.add_spec(types, replace)
        else:
            for tid in range(1, len(types) + 1):
                b.add(replace.get(tid) or types.type_by_id(tid))
        # The ELF reader gives global-data maps an integer key that is not one of the
        # object's types: add those, so that these maps can share this BTF object too.
        maps = list(self.spec.maps.values())
        while maps:
            ms = maps.pop()
            if ms.inner_map is not None:
                maps.append(ms.inner_map)
            for t in (ms.key_type, ms.value_type):
                if isinstance(t, Int):
                    try:
                        types.type_id(t)
                    except NotFoundError:
                        b.add(t)
        strings: set[str] = set()
        for p in self.spec.programs.values():
            if isinstance(p.btf, ProgramBTF):
                for _, f in p.btf.functions:
                    for rec in f.lines:
                        strings.add(rec.file_name)
                        strings.add(rec.line)
        self.strings = {s: b._str(s) for s in sorted(strings)}
        return b

    def _string_offset(self, s: str) -> int:
        return self.strings[s]

    # finishing ------------------------------------------------------------------------------

    def finish(self) -> None:
        """Load what contents refer to, write those contents, freeze, pin; release the BTF
        handle."""
        self.load_pending()
        for name in self.deferred:
            spec = self.spec.maps[name]
            m = self.maps[name]
            try:
                for k, v in spec.contents:
                    if isinstance(v, str):
                        obj: object = (self.programs[v] if spec.type == MapType.PROG_ARRAY
                                       else self.maps[v])
                        m.update(k, obj)
                if spec.freeze:
                    m.freeze()
            except BaseException as e:
                _reraise(f"map {name!r}", e)
        for m, path in self.to_pin:
            try:
                m.pin(path)
            except BaseException as e:
                _reraise(f"map {m.name!r}", e)
        self.to_pin.clear()
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def close(self) -> None:
        for m, _ in self.to_pin:
            m.unpin()
        for p in self.programs.values():
            p.close()
        for m in self.maps.values():
            m.close()
        if self.handle is not None:
            self.handle.close()
        self.programs.clear()
        self.maps.clear()


def _kinds_of(types: Any) -> frozenset[int] | None:
    """The raw kinds of the types of ``types`` (None for split BTF): what the object's BTF
    handle holds besides the integers and the rewrites of _kernel_ready_replacements, which
    are of kinds it has."""
    if types.base is not None:
        return None
    raw = types.raw
    words = raw.words
    offsets = raw.index.offsets
    return frozenset(words[offsets[i] + 1] >> 24 & 0x1F for i in range(len(offsets) - 1))


def _kernel_ready_replacements(types: Any, spec: CollectionSpec) -> dict[int, Any]:
    """What the kernel refuses among the object's types, rewritten, by type id (ids stay
    unchanged): extern variables become global ones at their ``.kconfig`` offsets, extern
    functions (kfuncs) global ones, and ``.ksyms`` (which lists kfuncs) a section of
    placeholder variables, as the kernel accepts only variables in a ``DATASEC``. Only
    variables, functions and data sections are decoded to find them."""
    from .btf import (
        Datasec,
        Func,
        FuncLinkage,
        FuncParam,
        FuncProto,
        Int,
        Var,
        VarLinkage,
        VarSecinfo,
        Void,
        underlying,
    )

    out: dict[int, Any] = {}
    swapped: dict[int, Any] = {}
    for t in types.iter_types(Var):
        if t.linkage == VarLinkage.EXTERN:
            # A typeless ksym (const void) gets a type the kernel accepts, as libbpf does.
            vtype = Int("int", 4) if isinstance(underlying(t.type), Void) else t.type
            tid = types.type_id(t)
            out[tid] = swapped[tid] = Var(t.name, vtype, VarLinkage.GLOBAL)
    for t in types.iter_types(Func):
        if t.linkage == FuncLinkage.EXTERN:
            # The kernel wants every parameter of a global function named.
            proto = t.type
            assert isinstance(proto, FuncProto)
            named = FuncProto(proto.return_type, [
                FuncParam(p.name or f"arg{n}", p.type) for n, p in enumerate(proto.params)])
            out[types.type_id(proto)] = named
            out[types.type_id(t)] = Func(t.name, named, FuncLinkage.GLOBAL)
    kconfig = {v.name: v for v in spec.variables.values() if v.map_name == ".kconfig"}
    for t in types.iter_types(Datasec):
        tid = types.type_id(t)
        if not isinstance(out.get(tid, t), Datasec):
            continue
        if t.name == ".kconfig":
            size = spec.maps[".kconfig"].value_size if ".kconfig" in spec.maps else 0
            secinfos = []
            for vs in t.vars:
                var = swapped.get(types.type_id(vs.type), vs.type)
                v = kconfig.get(var.name)
                secinfos.append(VarSecinfo(var, v.offset if v else 0, vs.size))
            # The kernel wants a section's variables in offset order; the loader's layout (by
            # alignment, size and name) need not follow the order the compiler emitted.
            secinfos.sort(key=lambda si: si.offset)
            out[tid] = Datasec(t.name, size, secinfos)
        elif t.name == ".ksyms":
            dummies = [VarSecinfo(Var(f"__ksym_{n}", Int("int", 4), VarLinkage.GLOBAL),
                                  4 * n, 4) for n in range(len(t.vars))]
            out[tid] = Datasec(t.name, 4 * len(dummies), dummies)
        elif any(types.type_id(vs.type) in swapped for vs in t.vars):
            out[tid] = Datasec(t.name, t.size, [
                VarSecinfo(swapped.get(types.type_id(vs.type), vs.type), vs.offset, vs.size)
                for vs in t.vars])
    return out


def _read_kallsyms() -> bytes:
    """The text of ``/proc/kallsyms``."""
    try:
        with open("/proc/kallsyms", "rb") as f:
            return f.read()
    except OSError as e:
        raise EbpfError("typeless __ksym externs need /proc/kallsyms, which cannot be "
                        "read") from e


def _kallsyms_lookup(text: bytes, name: str) -> int | None:
    """The address of the first symbol called ``name`` in ``/proc/kallsyms`` text (lines
    ``ADDRESS TYPE NAME`` and, for modules, ``\t[MODULE]``)."""
    want = name.encode()
    for end in (b"\n", b"\t"):
        pos = text.find(b" " + want + end)
        while pos >= 0:
            start = text.rfind(b"\n", 0, pos) + 1
            fields = text[start:pos].split()
            if len(fields) == 2:
                try:
                    return int(fields[0], 16)
                except ValueError:
                    return None
            pos = text.find(b" " + want + end, pos + 1)
    return None


def _module_specs() -> list[Any]:
    """The BTF of every loaded kernel module (``/sys/kernel/btf/*`` but vmlinux)."""
    from .btf import load_kernel_module_spec

    try:
        names = sorted(os.listdir("/sys/kernel/btf"))
    except OSError:
        return []
    return [load_kernel_module_spec(n) for n in names if n != "vmlinux"]


def _read_kconfig() -> bytes:
    """The text of the running kernel's configuration (``/proc/config.gz``, else
    ``/boot/config-*``)."""
    import zlib

    try:
        with open("/proc/config.gz", "rb") as f:
            data = f.read()
        parts = []
        while data:  # every gzip member, as gzip.open() reads them
            d = zlib.decompressobj(31)
            parts.append(d.decompress(data) + d.flush())
            if not d.eof:
                raise OSError("truncated /proc/config.gz")
            data = d.unused_data
        return b"".join(parts)
    except (OSError, zlib.error):
        release = os.uname().release
        try:
            with open(f"/boot/config-{release}", "rb") as f:
                return f.read()
        except OSError as e:
            raise EbpfError("kconfig externs need the kernel configuration, but neither "
                            "/proc/config.gz nor /boot/config-<release> can be read") from e


def _kconfig_lookup(text: bytes, name: str) -> str | None:
    """The value of the last ``NAME=value`` line of the configuration ``text``, if any
    (only the externs an object declares are looked up: parsing every line costs more)."""
    key = name.encode() + b"="
    pos = len(text)
    while True:
        pos = text.rfind(key, 0, pos)
        if pos < 0:
            return None
        if pos == 0 or text[pos - 1] in b"\n\r":
            break
    start = pos + len(key)
    end = text.find(b"\n", start)
    line = text[start:end if end >= 0 else len(text)].decode("utf-8", "replace")
    return line.splitlines()[0] if line else ""


def _kconfig_value(var: VariableSpec, raw: str | int) -> bytes:
    """Encode a Kconfig value for an extern of ``var``'s type, as libbpf's conventions say:
    ``bool`` takes y/n, ``char`` the letter, ``enum libbpf_tristate`` y=1/n=0/m=2, integers
    the number, ``char[]`` the string."""
    from .btf import Array, Enum, Int, IntEncoding, underlying

    order = var.byte_order
    t = underlying(var.type) if var.type is not None else None
    what = f"kconfig extern {var.name!r}"
    if isinstance(raw, int):
        return raw.to_bytes(var.size, order)
    if isinstance(t, Int) and t.encoding & IntEncoding.BOOL:
        if raw not in ("y", "n"):
            raise EbpfError(f"{what}: a bool takes y or n, the kernel has {raw!r}")
        return (1 if raw == "y" else 0).to_bytes(var.size, order)
    if isinstance(t, Int) and var.size == 1 and (t.encoding & IntEncoding.CHAR
                                                 or t.name == "char"):
        if raw not in ("y", "n", "m"):
            raise EbpfError(f"{what}: a char takes y, n or m, the kernel has {raw!r}")
        return raw.encode()
    if isinstance(t, Enum) and raw in ("y", "n", "m"):
        return {"n": 0, "y": 1, "m": 2}[raw].to_bytes(var.size, order)
    if isinstance(t, Array):
        if not (raw.startswith('"') and raw.endswith('"')):
            raise EbpfError(f"{what}: a char array takes a string, the kernel has {raw!r}")
        text = raw[1:-1].encode()[: var.size - 1]
        return text + bytes(var.size - len(text))
    if isinstance(t, (Int, Enum)):
        try:
            value = int(raw, 0)
        except ValueError:
            raise EbpfError(f"{what}: {raw!r} is not a number") from None
        signed = isinstance(t, Int) and bool(t.encoding & IntEncoding.SIGNED)
        try:
            return value.to_bytes(var.size, order, signed=signed)
        except OverflowError:
            raise EbpfError(f"{what}: {value} does not fit in {var.size} bytes") from None
    raise EbpfError(f"{what}: unsupported type {t}")


# --- the collection ------------------------------------------------------------------------------

@final
class Collection:
    """The maps and programs of a :class:`CollectionSpec`, loaded. Owns all of them.

    ``Collection(spec)`` loads every map and every program (programs in ``?``-prefixed
    sections are skipped: those load only through :meth:`CollectionSpec.load_and_assign`).
    Close with :meth:`close` or ``with``; :meth:`detach_map`, :meth:`detach_program` and
    :meth:`assign` hand objects over to the caller.

    Attributes:
        maps: the loaded maps by name.
        programs: the loaded programs by name.
        variables: the global variables, reading and writing the live maps.
    """

    maps: dict[str, Map]
    programs: dict[str, Program]
    variables: dict[str, Variable]

    def __init__(self, spec: CollectionSpec, options: CollectionOptions | None = None) -> None:
        """Load every map and program of ``spec``.

        Raises:
            VerifierError, SyscallError, EbpfError: loading an object failed; the message
                names it. Nothing stays open.
        """
        if not isinstance(spec, CollectionSpec):
            raise EbpfError(f"Collection() takes a CollectionSpec, not {type(spec).__name__}")
        loader = _Loader(spec, options or CollectionOptions())
        try:
            for name in spec.maps:
                loader.map(name)
            for name, p in spec.programs.items():
                if not p.section_name.startswith("?"):
                    loader.program(name)
            loader.finish()
            self._setup(loader)
        except BaseException:
            loader.close()
            raise

    @classmethod
    def _from_loader(cls, loader: _Loader) -> Collection:
        c = cls.__new__(cls)
        c._setup(loader)
        return c

    def _setup(self, loader: _Loader) -> None:
        self.maps = dict(loader.maps)
        self.programs = dict(loader.programs)
        self._mmaps: dict[str, mmap.mmap] = {}
        self.variables = {}
        for name, var in loader.spec.variables.items():
            if var.map_name in self.maps:
                self.variables[name] = self._variable(var, loader.spec.maps[var.map_name])

    def _variable(self, var: VariableSpec, spec: MapSpec) -> Variable:
        m = self.maps[var.map_name]
        frozen = spec.freeze
        if m.flags & MapFlags.MMAPABLE:
            mm = self._mmaps.get(var.map_name)
            if mm is None:
                size = (m.value_size + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE
                prot = mmap.PROT_READ | (0 if frozen else mmap.PROT_WRITE)
                mm = mmap.mmap(m.fd, size, mmap.MAP_SHARED, prot)
                self._mmaps[var.map_name] = mm
            view = mm

            def read(off: int, size: int) -> bytes:
                return bytes(view[off:off + size])

            def write(off: int, data: bytes) -> None:
                view[off:off + len(data)] = data
        else:
            def read(off: int, size: int) -> bytes:
                value = m.raw[0]
                return bytes(value[off:off + size])

            def write(off: int, data: bytes) -> None:
                value = bytearray(m.raw[0])
                value[off:off + len(data)] = data
                m.update(0, bytes(value))
        return Variable(var, read, None if frozen else write)

    # ownership -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close every map and program still held. Idempotent."""
        self.variables = {}
        for mm in getattr(self, "_mmaps", {}).values():
            try:  # noqa: SIM105 (no contextlib on the load path)
                mm.close()
            except BufferError:
                pass
        self._mmaps = {}
        for p in self.programs.values():
            p.close()
        for m in self.maps.values():
            m.close()
        self.programs = {}
        self.maps = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def detach_map(self, name: str) -> Map:
        """Remove the map ``name`` from the collection and hand it to the caller.

        Raises:
            KeyError: no such map.
        """
        m = self.maps.pop(name)
        mm = self._mmaps.pop(name, None)
        if mm is not None:
            try:  # noqa: SIM105 (no contextlib on the load path)
                mm.close()
            except BufferError:
                pass
        self.variables = {n: v for n, v in self.variables.items() if v.map_name != name}
        return m

    def detach_program(self, name: str) -> Program:
        """Remove the program ``name`` from the collection and hand it to the caller.

        Raises:
            KeyError: no such program.
        """
        return self.programs.pop(name)

    def assign(self, obj: T) -> T:
        """Move the maps, programs and variables the tagged fields of ``obj`` name into it.

        ``obj`` owns what it receives; the collection keeps (and closes) the rest.

        Raises:
            EbpfError: a name is missing, assigned twice or of the wrong kind (nothing moves).
        """
        taken = _assign(obj, _OBJECT_KINDS, "the collection",
                        {"map": self.maps, "program": self.programs, "variable": self.variables})
        for kind, name in taken:
            if kind == "map":
                self.maps.pop(name, None)
            elif kind == "program":
                self.programs.pop(name, None)
        # Variables keep reading through the collection's mapping: keep the maps they use.
        return obj

    def __repr__(self) -> str:
        return f"<Collection {len(self.programs)} programs, {len(self.maps)} maps>"


def load_collection(source: Any, options: CollectionOptions | None = None) -> Collection:
    """Read an object file (path, bytes or binary file) and load all of it.

    Raises:
        ELFError: the object is malformed.
        VerifierError, SyscallError, EbpfError: loading failed (nothing stays open).
    """
    from .elf_reader import load_collection_spec

    return Collection(load_collection_spec(source), options)


# --- assignment ----------------------------------------------------------------------------------

class Name:
    """Marks the object a field receives: ``Annotated[ebpf.Program, ebpf.Name("xdp_prog")]``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError("Name() takes a non-empty str")
        self.name = name

    def __repr__(self) -> str:
        return f"Name({self.name!r})"


_METADATA_KEY = "ebpf.name"


def field(name: str | None = None, **kwargs: Any) -> Any:
    """A dataclass field that receives the object called ``name`` (default: the field's name).

    Other keyword arguments go to :func:`dataclasses.field`; the default is None.
    """
    metadata = dict(kwargs.pop("metadata", None) or {})
    metadata[_METADATA_KEY] = name
    if "default" not in kwargs and "default_factory" not in kwargs:
        kwargs["default"] = None
    return dataclasses.field(metadata=metadata, **kwargs)


class Objects:
    """Base class for dataclasses that receive loaded objects: gives ``close()`` and ``with``.

    ``close()`` closes every :class:`~ebpf.Map` and :class:`~ebpf.Program` in the fields,
    nested dataclasses included.
    """

    def close(self) -> None:
        _close_fields(self, set())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _close_fields(obj: object, seen: set[int]) -> None:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name, None)
        if isinstance(value, (Map, Program)):
            value.close()
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            _close_fields(value, seen)


_OBJECT_KINDS: dict[type, str] = {Map: "map", Program: "program"}
_SPEC_KINDS: dict[type, str] = {MapSpec: "map", ProgramSpec: "program",
                                VariableSpec: "variable"}


def _unwrap(hint: Any) -> tuple[Any, str | None]:
    """The class in a field annotation and the name from an ``ebpf.Name``, if any."""
    import typing  # load_and_assign only: loading a collection does not import typing

    name = None
    if typing.get_origin(hint) is typing.Annotated:
        args = typing.get_args(hint)
        hint = args[0]
        for meta in args[1:]:
            if isinstance(meta, Name):
                name = meta.name
    origin = typing.get_origin(hint)
    if origin is typing.Union or type(hint).__name__ == "UnionType":
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])[0], name
    return hint, name


def _fields(obj: object) -> Iterator[tuple[str, Any, str | None]]:
    """(attribute, annotated class, ELF name or None) for every field of a dataclass."""
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        raise EbpfError(f"assign: {type(obj).__name__} is not a dataclass instance")
    import typing  # load_and_assign only: loading a collection does not import typing

    try:
        hints = typing.get_type_hints(type(obj), include_extras=True)
    except (NameError, TypeError, AttributeError, SyntaxError) as e:  # unresolvable annotations
        raise EbpfError(f"assign: cannot resolve the annotations of {type(obj).__name__}: "
                        f"{e}") from e
    for f in dataclasses.fields(obj):
        hint, name = _unwrap(hints.get(f.name, typing.Any))
        tagged = f.metadata.get(_METADATA_KEY, None) if _METADATA_KEY in f.metadata else None
        yield f.name, hint, tagged or name


def _walk(obj: object, kinds: dict[type, str], path: str
          ) -> Iterator[tuple[object, str, str, str, str]]:
    """(holder, attribute, path, kind, ELF name) for every field to fill, nested included."""
    for attr, hint, name in _fields(obj):
        where = f"{path}{attr}"
        known = isinstance(hint, type) and (hint in _OBJECT_KINDS or hint in _SPEC_KINDS)
        if not known and isinstance(hint, type) and dataclasses.is_dataclass(hint):
            inner = getattr(obj, attr, None)
            if inner is None:
                try:
                    inner = hint()
                except TypeError as e:
                    raise EbpfError(f"assign: field {where!r}: cannot create {hint.__name__}: "
                                    f"{e}") from e
                setattr(obj, attr, inner)
            yield from _walk(inner, kinds, where + ".")
            continue
        kind = kinds.get(hint) if isinstance(hint, type) else None
        if kind is None:
            other = _OBJECT_KINDS.get(hint) or _SPEC_KINDS.get(hint)
            if other is not None or name is not None:
                expected = ", ".join(k.__name__ for k in kinds)
                raise EbpfError(f"assign: field {where!r} has type "
                                f"{getattr(hint, '__name__', hint)}, expected one of {expected}")
            continue  # an unrelated field
        yield obj, attr, where, kind, name or attr


def _wanted(obj: object) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    seen: dict[tuple[str, str], str] = {}
    for _, _, where, kind, name in _walk(obj, _OBJECT_KINDS, ""):
        key = (kind, name)
        if key in seen:
            raise EbpfError(f"assign: {kind} {name!r} is assigned twice (fields "
                            f"{seen[key]!r} and {where!r})")
        seen[key] = where
        out.append(key)
    return out


def _assign(obj: object, kinds: dict[type, str], owner: str,
            tables: Mapping[str, Mapping[str, object]]) -> list[tuple[str, str]]:
    """Set the tagged fields of ``obj`` from ``tables`` (kind -> name -> object) of ``owner``
    (for messages), all or none; return the (kind, name) of each object assigned."""
    plan = list(_walk(obj, kinds, ""))
    seen: dict[tuple[str, str], str] = {}
    values = []
    for holder, attr, where, kind, name in plan:
        key = (kind, name)
        if key in seen:
            raise EbpfError(f"assign: {kind} {name!r} is assigned twice (fields "
                            f"{seen[key]!r} and {where!r})")
        seen[key] = where
        table = tables[kind]
        if name not in table:
            raise EbpfError(f"assign: {owner} has no {kind} {name!r}")
        values.append((holder, attr, table[name]))
    for holder, attr, value in values:
        setattr(holder, attr, value)
    return list(seen)
