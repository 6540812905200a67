"""The load transaction: a :class:`~ebpf.CollectionSpec` made into kernel objects.

:func:`load` is the one entry point. :class:`~ebpf.Collection` calls it for everything in a
spec, :func:`ebpf.load_and_assign` for what the fields of a dataclass name. It creates objects
on demand in dependency order:

1. maps, inner map templates before their outer maps, a compatible pinned map or a
   replacement reused instead of a new one, ``.kconfig`` filled from the kernel's
   configuration;
2. programs, each after the maps it references: CO-RE relocations applied against the
   kernel's BTF (:mod:`ebpf.btf.core`), map fds and kernel symbols written into the
   instructions (:mod:`ebpf.linker`, :mod:`ebpf.externs`), loaded with the object's BTF and
   its func and line info;
3. then what map contents refer to (programs of a program array, inner maps), those contents,
   freezing and pinning.

The transaction owns everything it made until it hands the objects over; if any step fails,
everything is closed again and the exception names the object that failed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, NoReturn, cast, final

from .btf import Int, Spec
from .btf.core import AppliedRelocation, COREResolver, poisoned_relocation, relocate
from .btf.handle import Handle
from .btf.kernel_ready import ObjectBTF, load_object_btf
from .errors import COREError, EbpfError, SyscallError, UnsupportedFeatureError, VerifierError
from .externs import ExternResolver
from .internal.kernel import possible_cpus
from .internal.pin import DEFAULT_PIN_ROOT, is_bpffs
from .internal.sys import FD, MapCreateAttr, commands
from .linker import core_relocations, map_references, marshal_ext_infos, resolve_maps
from .map import _NO_KERNEL_BTF, Map, sanitize_name
from .program import Program, ProgramOptions, _LoadExtras
from .specs import CollectionSpec, MapSpec, PinType, ProgramSpec, StructOpsValue
from .types import AttachType, MapFlags, MapType, ProgramType

__all__ = ["CollectionOptions", "Loaded", "PreparedStructOps", "keep_prepared_struct_ops", "load",
           "take_prepared_struct_ops"]

_MAP_IN_MAP = (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS)

Kind = Literal["map", "program", "variable"]

@final
class PreparedStructOps:
    """The value the loader laid out for a struct_ops map without ``BPF_F_LINK``, which
    writing registers (:func:`ebpf.link.struct_ops` does), and duplicate descriptors of the
    programs it names, kept open until then: the value holds their numbers.

    Attributes:
        value: the map's value, as the kernel takes it.
    """

    __slots__ = ("__weakref__", "_finalizer", "value")

    def __init__(self, value: bytes, programs: list[Program]) -> None:
        self.value = value
        self._finalizer = weakref.finalize(self, _close_all, programs)

    def release(self) -> None:
        """Close the programs' descriptors (the kernel holds the programs once registered)."""
        self._finalizer()


def _close_all(programs: list[Program]) -> None:
    for p in programs:
        p.close()


# Struct_ops maps loaded without BPF_F_LINK and not registered yet; an entry lives as long as
# its Map object (the programs' descriptors are closed with it).
_PREPARED: weakref.WeakKeyDictionary[Map, PreparedStructOps] = weakref.WeakKeyDictionary()


def take_prepared_struct_ops(m: Map) -> PreparedStructOps | None:
    """Hand over what the loader prepared for struct_ops map ``m`` (loaded in this process
    without ``BPF_F_LINK``), if anything: the caller registers it and releases it, or gives
    it back with :func:`keep_prepared_struct_ops`."""
    return _PREPARED.pop(m, None)


def keep_prepared_struct_ops(m: Map, prepared: PreparedStructOps) -> None:
    """Give back what :func:`take_prepared_struct_ops` handed over (registering failed)."""
    _PREPARED[m] = prepared


def _unused_struct_ops(p: ProgramSpec) -> bool:
    """A struct_ops program that no struct_ops map of its object uses (libbpf does not load
    those either: the kernel needs the member a program implements)."""
    return p.type == ProgramType.STRUCT_OPS and ":" not in p.attach_to


@final
@dataclass(frozen=True, kw_only=True)
class CollectionOptions:
    """How to load a collection.

    Attributes:
        pin_path: the bpffs directory for maps marked ``LIBBPF_PIN_BY_NAME``; a compatible
            map already pinned there is reused, else the new map is pinned there. None means
            libbpf's default, ``/sys/fs/bpf``, if a bpffs is mounted there; otherwise loading
            such a map fails with an error that says to set this (a map marked for pinning
            is never silently left unpinned).
        map_replacements: existing maps to use instead of creating the spec's map of that
            name; each must match the spec (type, sizes, entries, flags). They stay the
            caller's: the collection holds its own descriptor.
        log_level, log_size: the verifier log (see :class:`~ebpf.ProgramOptions`).
        program_options: all program options at once (overrides ``log_level``/``log_size``).
        kernel_types: the BTF to apply CO-RE relocations against instead of the running
            kernel's (e.g. from :func:`ebpf.btf.load_spec` of a BTFHub file). Kernel symbols,
            kfuncs and attach targets are still resolved against the running kernel, which
            is what the kernel checks them against. Without it, CO-RE uses the kernel's
            vmlinux BTF and then its module BTF.
        attach_targets: loaded programs by the name of a spec's program that attaches to
            them: an extension program (``SEC("freplace/func")``) replaces the global function
            ``func`` of its target; a tracing program (``SEC("fentry/func")``, ``fexit``)
            traces function ``func`` of its target instead of a kernel function. The target's
            BTF gives the function's id. The targets stay the caller's.
    """

    pin_path: str | os.PathLike[str] | None = None
    map_replacements: Mapping[str, Map] = field(default_factory=dict)
    log_level: int = 0
    log_size: int | None = None
    program_options: ProgramOptions | None = None
    kernel_types: Spec | None = None
    attach_targets: Mapping[str, Program] = field(default_factory=dict)

    def _program_options(self) -> ProgramOptions:
        if self.program_options is not None:
            return self.program_options
        return ProgramOptions(log_level=self.log_level, log_size=self.log_size)


@final
class Loaded:
    """The kernel objects of one load, owned by this value until :meth:`release`.

    Attributes:
        spec: the spec they were loaded from.
        maps, programs: the loaded objects by name.
    """

    __slots__ = ("maps", "programs", "spec")

    def __init__(self, spec: CollectionSpec, maps: dict[str, Map],
                 programs: dict[str, Program]) -> None:
        self.spec = spec
        self.maps = maps
        self.programs = programs

    def close(self) -> None:
        """Close every object still held."""
        for p in self.programs.values():
            p.close()
        for m in self.maps.values():
            m.close()
        self.programs = {}
        self.maps = {}


def load(spec: CollectionSpec, options: CollectionOptions | None = None, *,
         only: Iterable[tuple[Kind, str]] | None = None) -> Loaded:
    """Load ``spec``'s maps and programs: every one (``only=None``; programs in ``?``-prefixed
    sections are skipped), or the ``(kind, name)`` pairs of ``only`` and what they need
    (a variable brings its map).

    The caller owns the result: it closes what it does not hand on.

    Raises:
        VerifierError, COREError, SyscallError, EbpfError: a step failed; the message names
            the object. Nothing stays open then.
    """
    if not isinstance(spec, CollectionSpec):
        raise EbpfError(f"load: expected a CollectionSpec, not {type(spec).__name__}")
    options = options if options is not None else CollectionOptions()
    if not isinstance(options, CollectionOptions):
        raise EbpfError(f"load: expected CollectionOptions, not {type(options).__name__}")
    tx = _Transaction(spec, options)
    try:
        if only is None:
            for name in spec.maps:
                tx.map(name)
            for name, p in spec.programs.items():
                if not p.section_name.startswith("?") and not _unused_struct_ops(p):
                    tx.program(name)
        else:
            for kind, name in only:
                tx.wanted(kind, name)
        tx.finish()
    except BaseException:
        tx.close()
        raise
    return Loaded(spec, dict(tx.maps), dict(tx.programs))


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
        import copy  # only on this error path

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


def _module_specs() -> list[Spec]:
    """The BTF of every loaded kernel module (``/sys/kernel/btf/*`` but vmlinux)."""
    from .btf import load_kernel_module_spec

    try:
        names = sorted(os.listdir("/sys/kernel/btf"))
    except OSError:
        return []
    return [load_kernel_module_spec(n) for n in names if n != "vmlinux"]


def _similar(name: str, names: Iterable[str]) -> str:
    """``name`` among ``names`` as a message fragment: the names there are, or none."""
    listed = sorted(names)
    if not listed:
        return "it has none"
    shown = ", ".join(repr(n) for n in listed[:12])
    return f"it has {shown}{', ...' if len(listed) > 12 else ''}"


class _Transaction:
    """Creates a spec's objects on demand, in dependency order, owning them until handed over."""

    def __init__(self, spec: CollectionSpec, options: CollectionOptions) -> None:
        self.spec = spec
        self.options = options
        self.prog_options = options._program_options()
        self.maps: dict[str, Map] = {}
        self.programs: dict[str, Program] = {}
        self.deferred: list[str] = []       # maps whose object-valued contents come last
        self.pending: list[tuple[str, str]] = []  # objects those contents name
        self.to_pin: list[tuple[Map, str]] = []
        self.reused: set[str] = set()       # maps taken from a pin or replacement
        self.in_progress: set[str] = set()
        self.object_btf: ObjectBTF | None = None  # the object's BTF in the kernel
        self.object_btf_failed = False      # it could not be loaded for a map
        self.core_resolver: COREResolver | None = None
        self.externs = ExternResolver(spec)

    # what a caller asks for ----------------------------------------------------------------------

    def wanted(self, kind: Kind, name: str) -> None:
        """Load the object ``kind`` ``name`` asks for, with a message naming what exists
        when the spec has no such object."""
        tables: dict[str, Mapping[str, object]] = {
            "map": self.spec.maps, "program": self.spec.programs,
            "variable": self.spec.variables}
        if name not in tables[kind]:
            others = [k for k, t in tables.items() if k != kind and name in t]
            hint = (f"; {name!r} is a {others[0]}, so the field should hold a "
                    f"{ {'map': 'Map', 'program': 'Program', 'variable': 'Variable'}[others[0]]}"
                    if others else "")
            raise EbpfError(f"load and assign: the spec has no {kind} {name!r} "
                            f"({_similar(name, tables[kind])}){hint}")
        if kind == "map":
            self.map(name)
        elif kind == "program":
            self.program(name)
        else:
            self.map(self.spec.variables[name].map_name)

    # maps -------------------------------------------------------------------------------------

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
                elif isinstance(v, StructOpsValue):
                    self.pending += [("program", p) for p in v.programs.values()]
        return m

    def _make_map(self, name: str, spec: MapSpec) -> Map:
        repl = self.options.map_replacements.get(name)
        if repl is not None:
            why = _compatible(repl, spec)
            if why:
                raise EbpfError(f"replacement for map {name!r} is incompatible: {why}")
            self.reused.add(name)
            return repl.clone()
        pin_file = None
        if spec.pinning == PinType.BY_NAME:
            pin_file = os.path.join(self._pin_root(name), name)
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
        if spec.type == MapType.STRUCT_OPS:
            m = self._make_struct_ops_map(name, spec)
            self.deferred.append(name)  # the value needs the programs
            return m
        if spec.type == MapType.PERF_EVENT_ARRAY and spec.max_entries == 0:
            spec = replace(spec, max_entries=possible_cpus())
        plain = [(k, v) for k, v in spec.contents if not isinstance(v, str)]
        later = len(plain) != len(spec.contents)
        create = replace(spec, contents=plain, freeze=spec.freeze and not later)
        if name == ".kconfig":
            create = replace(create, contents=[(0, self.externs.kconfig_value(spec))])
        m = Map(create, btf=self._map_btf(create))
        if later:
            self.deferred.append(name)
        if pin_file is not None:
            self.to_pin.append((m, pin_file))
        return m

    def _make_struct_ops_map(self, name: str, spec: MapSpec) -> Map:
        """A struct_ops map: its value is the kernel's ``bpf_struct_ops_<name>``."""
        context = f"create map {name!r}"
        if spec.pinning != PinType.NONE:
            raise EbpfError(f"{context}: struct_ops maps cannot be pinned by name")
        type_id, size = self.externs.struct_ops_map_type(spec, context)

        # The kernel wants the object's BTF with it, though it reads only its own type.
        btf_fd = self._object_btf().handle.fd

        def create(flags: int) -> FD:
            attr = MapCreateAttr(map_type=int(MapType.STRUCT_OPS), key_size=4,
                                 value_size=size, max_entries=1, map_flags=flags,
                                 map_name=sanitize_name(name).encode(), btf_fd=btf_fd,
                                 btf_vmlinux_value_type_id=type_id)
            return commands.map_create(attr, context)

        try:
            fd = create(int(spec.flags))
        except SyscallError as e:
            if e.errno != errno.EINVAL or not spec.flags & MapFlags.LINK:
                raise
            create(int(spec.flags) & ~MapFlags.LINK).close()  # the flag is what the kernel lacks
            raise UnsupportedFeatureError(
                "struct_ops maps registered by a bpf_link (.struct_ops.link, BPF_F_LINK)",
                "6.4", str(e)) from e
        return Map._take(fd)

    def _pin_root(self, name: str) -> str:
        """The directory maps marked ``LIBBPF_PIN_BY_NAME`` are pinned in: the option's, else
        libbpf's default root when a bpffs is mounted there."""
        if self.options.pin_path is not None:
            return os.fspath(self.options.pin_path)
        if is_bpffs(DEFAULT_PIN_ROOT):
            return DEFAULT_PIN_ROOT
        raise EbpfError(f"map {name!r} is marked LIBBPF_PIN_BY_NAME, but no pin path is set "
                        f"and {DEFAULT_PIN_ROOT} is not a mounted bpffs: set "
                        "CollectionOptions(pin_path=...) to a directory in a bpffs, or mount "
                        f"one at {DEFAULT_PIN_ROOT} ('mount -t bpf bpf {DEFAULT_PIN_ROOT}')")

    def _map_btf(self, spec: MapSpec) -> Handle | None:
        """The object's BTF handle if it describes the key and value types of ``spec`` (and of
        its inner map) as they are, else None: the map then gets a BTF object of its own."""
        wanted = []
        m: MapSpec | None = spec
        while m is not None:
            if m.type not in _NO_KERNEL_BTF:
                wanted += [t for t in (m.key_type, m.value_type) if t is not None]
            m = m.inner_map
        if not wanted or self.spec.types is None or self.object_btf_failed:
            return None
        try:
            handle = self._object_btf().handle
        except EbpfError:
            # Left for the programs to report, if they need the object's BTF.
            self.object_btf_failed = True
            return None
        for t in wanted:
            try:
                handle.type_id(t)
            except EbpfError:
                return None
        return handle

    # programs ---------------------------------------------------------------------------------

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
        pbtf = spec.btf
        insns = spec.instructions
        applied: list[AppliedRelocation] = []
        if pbtf is not None and pbtf.core_relocations:
            if self.core_resolver is None or self.core_resolver.local is not pbtf.spec:
                targets, more = self._core_targets()
                self.core_resolver = COREResolver(pbtf.spec, targets, more=more)
            insns, applied = relocate(insns, core_relocations(insns, pbtf), self.core_resolver,
                                      context=context)
        insns = resolve_maps(insns, lambda n: self.maps[n].fd
                             if n in self.maps else None, context)
        insns = self.externs.resolve_kernel_symbols(insns, context)
        attach_btf_id = spec.attach_btf_id
        target = self.options.attach_targets.get(spec.name)
        if target is not None:
            # A function of a loaded BPF program (freplace, or fentry/fexit on a program).
            if not attach_btf_id:
                attach_btf_id = self.externs.program_attach_btf_id(spec, target, context)
        elif spec.type == ProgramType.EXT:
            raise EbpfError(f"{context}: an extension (freplace) program needs the program "
                            "whose function it replaces: pass it in "
                            f"CollectionOptions(attach_targets={{{spec.name!r}: program}})")
        elif not attach_btf_id and spec.type in (ProgramType.TRACING, ProgramType.LSM):
            attach_btf_id = self.externs.attach_btf_id(spec, context)
        attach_type = spec.attach_type
        if spec.type == ProgramType.STRUCT_OPS and not attach_btf_id:
            # The struct it serves, and the member's index as its expected attach type.
            attach_btf_id, member = self.externs.struct_ops_target(spec, context)
            attach_type = cast(AttachType, member)
        loadable = replace(spec, instructions=insns, attach_btf_id=attach_btf_id,
                           attach_type=attach_type)
        target_fd = target.fd if target is not None else 0
        extras = _LoadExtras(attach_prog_fd=target_fd)
        if pbtf is not None and pbtf.functions:
            obj = self._object_btf()
            ext = marshal_ext_infos(insns, pbtf, obj.strings.__getitem__, spec.byte_order)
            extras = _LoadExtras(btf_fd=obj.handle.fd, func_info=ext.func_info,
                                 func_info_cnt=ext.func_info_cnt, line_info=ext.line_info,
                                 line_info_cnt=ext.line_info_cnt, attach_prog_fd=target_fd)
        try:
            return Program._load_with(loadable, self.prog_options, extras)
        except VerifierError as e:
            if applied:
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

    def _core_targets(self) -> tuple[list[Spec], Callable[[], list[Spec]] | None]:
        """The specs CO-RE searches: the option's, or vmlinux (then, lazily, modules)."""
        override = self.options.kernel_types
        if override is None:
            override = self.prog_options.kernel_types
        if override is not None:
            if not isinstance(override, Spec):
                raise EbpfError("kernel_types must be an ebpf.btf.Spec, not "
                                f"{type(override).__name__}")
            return [override], None
        return [self.externs.kernel_spec()], _module_specs

    def _object_btf(self) -> ObjectBTF:
        if self.object_btf is None:
            types = self.spec.types
            if types is None:
                raise EbpfError("the object has no BTF")
            kconfig = {v.name: v.offset for v in self.spec.variables.values()
                       if v.map_name == ".kconfig"}
            kconfig_map = self.spec.maps.get(".kconfig")
            # The ELF reader gives global-data maps an integer key that is not one of the
            # object's types: add those, so that these maps can share this BTF object too.
            extra = []
            maps = list(self.spec.maps.values())
            while maps:
                ms = maps.pop()
                if ms.inner_map is not None:
                    maps.append(ms.inner_map)
                extra += [t for t in (ms.key_type, ms.value_type) if isinstance(t, Int)]
            strings = {text for p in self.spec.programs.values() if p.btf is not None
                       for _, f in p.btf.functions for rec in f.lines
                       for text in (rec.file_name, rec.line)}
            try:
                self.object_btf = load_object_btf(
                    types, kconfig_offsets=kconfig,
                    kconfig_size=kconfig_map.value_size if kconfig_map is not None else 0,
                    extra_types=extra, strings=strings)
            except BaseException as e:
                _reraise("BTF", e)
        return self.object_btf

    # finishing --------------------------------------------------------------------------------

    def finish(self) -> None:
        """Load what contents refer to, write those contents, freeze, pin; release the BTF."""
        while self.pending:
            kind, name = self.pending.pop(0)
            if kind == "program":
                self.program(name)
            else:
                self.map(name)
        for name in self.deferred:
            spec = self.spec.maps[name]
            m = self.maps[name]
            try:
                if spec.type == MapType.STRUCT_OPS:
                    self._write_struct_ops(name, spec, m)
                    continue
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
        self._release_btf()

    def _write_struct_ops(self, name: str, spec: MapSpec, m: Map) -> None:
        """Lay out a struct_ops map's value for this kernel. A map with ``BPF_F_LINK`` gets
        it now (the kernel registers it only when a link is made). Writing the value of one
        without registers it at once: that is left to ``ebpf.link.struct_ops``, with
        duplicates of the programs, which the value names, kept open for it."""
        for _, v in spec.contents:
            if not isinstance(v, StructOpsValue):
                raise EbpfError(f"struct_ops map {name!r}: its value must be a StructOpsValue")
            context = f"map {name!r}"
            if spec.flags & MapFlags.LINK:
                m.update(0, self.externs.struct_ops_value(spec, v, self.programs, context))
                continue
            kept = {n: self.programs[n].clone() for n in set(v.programs.values())}
            prepared = PreparedStructOps(b"", list(kept.values()))
            try:
                prepared.value = self.externs.struct_ops_value(spec, v, kept, context)
            except BaseException:
                prepared.release()
                raise
            _PREPARED[m] = prepared

    def _release_btf(self) -> None:
        if self.object_btf is not None:
            self.object_btf.handle.close()
            self.object_btf = None

    def close(self) -> None:
        """Undo: remove the pins made and close everything (after a failure)."""
        for m, _ in self.to_pin:
            with contextlib.suppress(EbpfError, OSError):
                m.unpin()
        for p in self.programs.values():
            p.close()
        for m in self.maps.values():
            m.close()
        self._release_btf()
        self.programs.clear()
        self.maps.clear()
