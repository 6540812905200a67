"""Commands about BPF object files: ``inspect``, ``disasm``, ``btf dump`` and ``load``.

``inspect`` and ``disasm`` read the file only (no privileges needed); ``btf dump`` reads a file,
the kernel's BTF (``vmlinux``) or a BTF object loaded in the kernel (by id); ``load`` loads
every map and program into the running kernel and can pin them.

:func:`xlated_listing` is the disassembly of a loaded program as the kernel holds it, with map
ids, map names and kernel function names; ``ebpf show prog`` prints it.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ebpf.cli._output import CommandError, Output, not_found, table

if TYPE_CHECKING:
    import ebpf
    from ebpf.asm import Instruction
    from ebpf.btf import Spec, Type
    from ebpf.linker import CORERecord, LineRecord

__all__ = ["register", "xlated_listing"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser],
             common: argparse.ArgumentParser) -> None:
    """Add ``inspect``, ``disasm``, ``btf`` and ``load`` to the command line."""
    p = sub.add_parser(
        "inspect", parents=[common], help="describe the programs, maps, variables and "
        "externs of a BPF object file",
        description="Describe a BPF object file without loading it: programs (their size in "
                    "8-byte instruction slots, as the kernel counts), maps, global variables "
                    "with their initial values, externs, BTF and CO-RE relocations.")
    p.add_argument("object", metavar="OBJ", help="a BPF object file (ELF)")
    p.set_defaults(handler=_inspect)

    p = sub.add_parser(
        "disasm", parents=[common], help="disassemble the programs of a BPF object file",
        description="Disassemble the programs of a BPF object file, with the source lines "
                    "its BTF line info records.")
    p.add_argument("object", metavar="OBJ", help="a BPF object file (ELF)")
    p.add_argument("program", metavar="PROGRAM", nargs="?",
                   help="only this program (default: every program)")
    p.set_defaults(handler=_disasm)

    p = sub.add_parser("btf", parents=[common], help="show BTF type information",
                       description="Show BTF type information.")
    # Typed as plain parsers: the parents (``common``) are plain parsers too.
    btf_sub: argparse._SubParsersAction[argparse.ArgumentParser] = p.add_subparsers(
        dest="btf_command", metavar="COMMAND", parser_class=_IntermixedParser)
    btf_sub.required = True
    d = btf_sub.add_parser(
        "dump", parents=[common], help="print the types of a file, of the kernel or of a "
        "loaded BTF object",
        description="Print BTF types as C declarations or as a raw listing. SOURCE is a BPF "
                    "object or raw BTF file, 'vmlinux' (the running kernel's BTF) or the id "
                    "of a BTF object loaded in the kernel.")
    d.add_argument("source", metavar="OBJ|vmlinux|ID")
    d.add_argument("type", metavar="TYPE", nargs="?",
                   help="only the types of this name (C output adds what they depend on)")
    d.add_argument("--format", choices=("c", "raw"), default="c",
                   help="C declarations (default) or one record per type")
    d.set_defaults(handler=_btf_dump)

    p = sub.add_parser(
        "load", parents=[common], help="load every map and program of a BPF object file",
        description="Load every map and program of a BPF object file into the kernel and "
                    "print their ids. Without --pin they are unloaded when the command ends. "
                    "A program the verifier rejects prints the verifier log.")
    p.add_argument("object", metavar="OBJ", help="a BPF object file (ELF)")
    p.add_argument("--pin", metavar="DIR",
                   help="pin every map and program under DIR (a directory in a bpffs); maps "
                        "marked for pinning by name are pinned (or reused) there too")
    p.set_defaults(handler=_load)


class _IntermixedParser(argparse.ArgumentParser):
    """A parser that takes positionals after options (``dump vmlinux --format raw TYPE``);
    argparse otherwise gives an optional positional its default at the first chance."""

    _inside = False

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None
                         ) -> tuple[argparse.Namespace, list[str]]:
        if self._inside:  # parse_known_intermixed_args calls back into this method
            return super().parse_known_args(args, namespace)
        self._inside = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inside = False


# --- reading an object ----------------------------------------------------------------------


def _read_spec(path: str) -> ebpf.CollectionSpec:
    """The spec of the object file at ``path``, or a CommandError saying what is wrong."""
    import ebpf
    from ebpf.errors import BTFError, ELFError

    if not os.path.lexists(path):
        raise not_found(f"{path}: no such file")
    if os.path.isdir(path):
        raise CommandError(f"{path}: is a directory, not a BPF object")
    try:
        return ebpf.load_collection_spec(path)
    except ELFError as e:
        text = str(e)
        if "not a BPF object" in text:
            raise CommandError(text) from e
        raise CommandError(f"{path}: not a BPF object: {text}") from e
    except BTFError as e:
        raise CommandError(f"{path}: bad BTF: {e}") from e
    except OSError as e:
        if e.errno == errno.ENOENT:
            raise not_found(f"{path}: no such file") from e
        raise CommandError(f"{path}: {e.strerror or e}") from e


def _enum_name(value: object) -> str | None:
    if value is None:
        return None
    name = getattr(value, "name", None)
    return name if isinstance(name, str) else str(value)


def _flags(flags: int) -> str:
    """``BPF_F_*`` map flags by name (``RDONLY_PROG|MMAPABLE``), or ``0``."""
    from ebpf.types import MapFlags

    if not flags:
        return "0"
    names = [f.name for f in MapFlags if f.name and f.value & flags == f.value
             and bin(f.value).count("1") == 1]
    known = 0
    for f in MapFlags:
        if f.name in names:
            known |= f.value
    if flags & ~known:
        names.append(hex(flags & ~known))
    return "|".join(names)


def _type_text(t: Type | None) -> str | None:
    if t is None:
        return None
    from ebpf.btf.format import type_name
    from ebpf.errors import BTFError

    try:
        return type_name(t)
    except BTFError:
        return t.kind.name.lower()


def _jsonable(value: Any) -> Any:
    """A decoded BTF value as JSON data (bytes as hex strings)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


def _value_text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return "0x" + data.hex() if data else "(empty)"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_value_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _variable_value(var: ebpf.VariableSpec) -> Any:
    """The variable's initial value, decoded by its BTF type where possible."""
    from ebpf.btf import values
    from ebpf.errors import EbpfError

    data = var.get_bytes()
    if var.type is not None:
        try:
            return values.decode(var.type, data,
                                 byte_order="<" if var.byte_order == "little" else ">")
        except (EbpfError, ValueError, TypeError):
            pass
    return var.get()


def _program_rows(spec: ebpf.CollectionSpec) -> list[dict[str, Any]]:
    rows = []
    for name, prog in spec.programs.items():
        rows.append({
            "name": name,
            "section": prog.section_name,
            "type": _enum_name(prog.type),
            "attach_type": _enum_name(prog.attach_type),
            "attach_to": prog.attach_to or None,
            "instructions": prog.instructions.slots,
            "license": prog.license,
        })
    return rows


def _map_record(m: ebpf.MapSpec) -> dict[str, Any]:
    return {
        "name": m.name,
        "type": _enum_name(m.type),
        "key_size": m.key_size,
        "value_size": m.value_size,
        "max_entries": m.max_entries,
        "flags": _flags(m.flags),
        "pinning": _enum_name(m.pinning),
        "key_type": _type_text(m.key_type),
        "value_type": _type_text(m.value_type),
        "inner_map": _map_record(m.inner_map) if m.inner_map is not None else None,
    }


def _externs(spec: ebpf.CollectionSpec) -> list[dict[str, Any]]:
    """The kconfig values, kernel symbols and kernel functions the object needs."""
    from ebpf import btf
    from ebpf.asm.opcode import PseudoLoad

    found: dict[str, dict[str, Any]] = {}

    def add(name: str, kind: str, t: Type | None) -> None:
        if name not in found:
            found[name] = {"name": name, "kind": kind, "type": _type_text(t),
                           "weak": name in spec.weak_externs}

    for var in spec.variables.values():
        if var.map_name == ".kconfig":
            add(var.name, "kconfig", var.type)
    if spec.types is not None:
        for sec in spec.types.iter_types(btf.Datasec):
            if sec.name != ".ksyms":
                continue
            for info in sec.vars:
                t = info.type
                if isinstance(t, btf.Func):
                    add(t.name, "kfunc", t.type)
                elif isinstance(t, btf.Var):  # `extern const void sym __ksym` is typeless
                    typeless = isinstance(btf.skip_qualifiers(t.type), btf.Void)
                    add(t.name, "ksym" if typeless else "ksym (typed)",
                        None if typeless else t.type)
    for prog in spec.programs.values():  # objects without a .ksyms section in their BTF
        for ins in prog.instructions:
            if ins.reference is None or ins.reference in found:
                continue
            if ins.is_kfunc_call:
                add(ins.reference, "kfunc", None)
            elif ins.is_ldimm64 and int(ins.src) == PseudoLoad.BTF_ID:
                add(ins.reference, "ksym", None)
    return sorted(found.values(), key=lambda e: (e["kind"], e["name"]))


def _btf_summary(types: Spec | None) -> dict[str, Any] | None:
    if types is None:
        return None
    kinds = Counter(t.kind.name for t in types)
    return {"types": len(types), "kinds": dict(sorted(kinds.items()))}


def _core_relocations(spec: ebpf.CollectionSpec) -> int:
    """CO-RE relocations of the object, each function counted once (subprograms are copied
    into every program that calls them)."""
    per_function: dict[str, int] = {}
    for prog in spec.programs.values():
        if prog.btf is None:
            continue
        for name, fn in prog.btf.functions:
            per_function[name] = len(fn.core)
    return sum(per_function.values())


def _inspect(args: argparse.Namespace, out: Output) -> int:
    path: str = args.object
    spec = _read_spec(path)
    variables = []
    for var in spec.variables.values():
        if var.map_name == ".kconfig":
            continue  # an extern: its value comes from the kernel at load time
        variables.append({"name": var.name, "section": var.map_name, "offset": var.offset,
                          "size": var.size, "type": _type_text(var.type),
                          "constant": var.constant, "value": _variable_value(var)})
    data: dict[str, Any] = {
        "file": path,
        "byte_order": spec.byte_order,
        "programs": _program_rows(spec),
        "maps": [_map_record(m) for m in spec.maps.values()],
        "variables": variables,
        "externs": _externs(spec),
        "btf": _btf_summary(spec.types),
        "core_relocations": _core_relocations(spec),
    }

    def text() -> str:
        parts = [f"{path}: {spec.byte_order}-endian BPF object"]
        progs = data["programs"]
        parts.append(f"\nprograms ({len(progs)}):")
        if progs:
            parts.append(table(
                ("NAME", "SECTION", "TYPE", "ATTACH", "INSNS", "LICENSE"),
                [(p["name"], p["section"], p["type"],
                  " ".join(x for x in (p["attach_type"], p["attach_to"]) if x) or "-",
                  p["instructions"], p["license"] or "-") for p in progs]))
        maps = data["maps"]
        parts.append(f"\nmaps ({len(maps)}):")
        if maps:
            parts.append(table(
                ("NAME", "TYPE", "KEY", "VALUE", "MAX", "FLAGS", "PINNING", "INNER"),
                [(m["name"], m["type"], m["key_size"], m["value_size"], m["max_entries"],
                  m["flags"], m["pinning"], _inner_text(m["inner_map"])) for m in maps]))
        parts.append(f"\nvariables ({len(variables)}):")
        if variables:
            parts.append(table(
                ("NAME", "SECTION", "SIZE", "TYPE", "VALUE"),
                [(v["name"], v["section"] + (" (const)" if v["constant"] else ""), v["size"],
                  v["type"] or "-", _value_text(v["value"])) for v in variables]))
        externs = data["externs"]
        parts.append(f"\nexterns ({len(externs)}):")
        if externs:
            parts.append(table(
                ("NAME", "KIND", "TYPE", "WEAK"),
                [(e["name"], e["kind"], e["type"] or "-", "weak" if e["weak"] else "")
                 for e in externs]))
        summary = data["btf"]
        if summary is None:
            parts.append("\nbtf: none")
        else:
            kinds = ", ".join(f"{k} {n}" for k, n in summary["kinds"].items())
            parts.append(f"\nbtf: {summary['types']} types ({kinds})")
        parts.append(f"core relocations: {data['core_relocations']}")
        return "\n".join(parts)

    out.emit({**data, "variables": [{**v, "value": _jsonable(v["value"])} for v in variables]},
             text)
    return 0


def _inner_text(inner: dict[str, Any] | None) -> str:
    if inner is None:
        return "-"
    return (f"{inner['type']} key {inner['key_size']} value {inner['value_size']} "
            f"max {inner['max_entries']}")


# --- disasm ---------------------------------------------------------------------------------


def _line_records(prog: ebpf.ProgramSpec) -> dict[int, LineRecord]:
    """The line info of the program by slot offset into its instructions."""
    if prog.btf is None:
        return {}
    starts: dict[str, int] = {}
    for slot, ins in prog.instructions.iter_offsets():
        if ins.symbol is not None:
            starts.setdefault(ins.symbol, slot)
    lines: dict[int, LineRecord] = {}
    for name, fn in prog.btf.functions:
        start = starts.get(name)
        if start is None:
            continue
        for rec in fn.lines:
            lines[start + rec.slot] = rec
    return lines


def _core_records(prog: ebpf.ProgramSpec) -> dict[int, list[CORERecord]]:
    """The CO-RE relocations of the program by slot offset into its instructions."""
    if prog.btf is None:
        return {}
    starts: dict[str, int] = {}
    for slot, ins in prog.instructions.iter_offsets():
        if ins.symbol is not None:
            starts.setdefault(ins.symbol, slot)
    found: dict[int, list[CORERecord]] = {}
    for name, fn in prog.btf.functions:
        start = starts.get(name)
        if start is not None:
            for rec in fn.core:
                found.setdefault(start + rec.slot, []).append(rec)
    return found


def _core_text(rec: CORERecord) -> str:
    """A CO-RE relocation as text: ``CO-RE field_byte_offset task_struct.comm``."""
    from ebpf import btf
    from ebpf.btf.ext_info import CORERelocKind
    from ebpf.errors import BTFError

    try:
        kind = CORERelocKind(rec.kind).name.lower()
    except ValueError:
        kind = f"kind {rec.kind}"
    root = getattr(rec.relo, "type", None)
    if not isinstance(root, btf.Type):
        return f"CO-RE {kind} type {rec.type_id} {rec.access_str}"
    try:
        access = [int(p) for p in rec.access_str.split(":")]
        t = btf.underlying(root)
        if kind.startswith("type_") or not access:
            return f"CO-RE {kind} {_type_text(root)}"
        if kind.startswith("enumval_") and isinstance(t, btf.Enum | btf.Enum64):
            return f"CO-RE {kind} {_type_text(root)}::{t.values[access[0]].name}"
        text = getattr(t, "name", "") or "(anon)"
        if access[0]:
            text += f"[{access[0]}]"
        for idx in access[1:]:
            t = btf.underlying(t)
            if isinstance(t, btf.Composite):
                member = t.members[idx]
                text += f".{member.name}" if member.name else f".<anon#{idx}>"
                t = member.type
            elif isinstance(t, btf.Array):
                text += f"[{idx}]"
                t = t.type
            else:
                text += f":{idx}"
        return f"CO-RE {kind} {text}"
    except (BTFError, ValueError, IndexError):
        return f"CO-RE {kind} {_type_text(root)} {rec.access_str}"


def _source_text(rec: LineRecord) -> str:
    return f"{rec.line.strip()} @ {os.path.basename(rec.file_name)}:{rec.line_num}"


def _with_sources(prog: ebpf.ProgramSpec) -> Iterator[tuple[int, Instruction,
                                                              LineRecord | None]]:
    lines = _line_records(prog)
    last: str | None = None
    for slot, ins in prog.instructions.iter_offsets():
        rec = lines.get(slot)
        if rec is not None:
            text = _source_text(rec)
            if text == last:  # the same line again (as the verifier log does, shown once)
                rec = None
            last = text
        yield slot, ins, rec


def _disasm(args: argparse.Namespace, out: Output) -> int:
    from ebpf.asm import Instructions, format_instruction, format_instructions

    spec = _read_spec(args.object)
    names = list(spec.programs)
    if args.program is not None:
        if args.program not in spec.programs:
            have = ", ".join(names) or "none"
            raise not_found(f"{args.object}: no program named {args.program!r} "
                            f"(programs: {have})")
        names = [args.program]
    listings: list[dict[str, Any]] = []
    texts: list[str] = []
    for name in names:
        prog = spec.programs[name]
        annotated = list(_with_sources(prog))
        insns = Instructions(ins.with_source(_source_text(rec)) if rec is not None else ins
                             for _, ins, rec in annotated)
        core = {slot: "; ".join(_core_text(r) for r in recs)
                for slot, recs in _core_records(prog).items()}
        comments = {i: core[slot] for i, (slot, _, _) in enumerate(annotated) if slot in core}
        head = f"program {name} ({_enum_name(prog.type)}, section {prog.section_name!r})"
        texts.append(f"{head}\n{format_instructions(insns, comments=comments)}")
        listings.append({
            "name": name, "section": prog.section_name, "type": _enum_name(prog.type),
            "instructions": [
                {"offset": slot, "symbol": ins.symbol, "text": format_instruction(ins),
                 "core": core.get(slot),
                 "source": None if rec is None else {
                     "file": rec.file_name, "line": rec.line_num, "column": rec.column,
                     "text": rec.line.strip()}}
                for slot, ins, rec in annotated],
        })
    out.emit(listings, lambda: "\n\n".join(texts))
    return 0


# --- btf dump -------------------------------------------------------------------------------


def _btf_source(source: str) -> Spec:
    """The BTF that ``source`` names: vmlinux, a kernel BTF id, or a file."""
    from ebpf import btf
    from ebpf.errors import BTFError, ELFError, SyscallError

    if source == "vmlinux":
        try:
            return btf.load_kernel_spec()
        except OSError as e:
            raise not_found(f"the kernel's BTF cannot be read: {e}") from e
    if source.isdigit():
        from ebpf.btf.handle import Handle

        try:
            with Handle.from_id(int(source)) as handle:
                info = handle.info()
                base = None
                if info.kernel_btf and info.name != "vmlinux":  # module BTF splits vmlinux
                    base = btf.load_kernel_spec()
                return handle.spec(base=base)
        except SyscallError as e:
            if e.errno == errno.ENOENT:
                raise not_found(f"no BTF object with id {source} is loaded") from e
            raise CommandError(f"BTF object {source}: {e}") from e
    if not os.path.lexists(source):
        raise not_found(f"{source}: no such file (and not 'vmlinux' or a BTF id)")
    try:
        return btf.load_spec(source)
    except (BTFError, ELFError) as e:
        raise CommandError(f"{source}: no usable BTF: {e}") from e
    except OSError as e:
        raise CommandError(f"{source}: {e.strerror or e}") from e


def _raw_record(spec: Spec, t: Type) -> dict[str, Any]:
    """One type as JSON: id, kind, name, size and what it refers to."""
    from ebpf import btf
    from ebpf.errors import BTFError

    def tid(x: Type) -> int | None:
        try:
            return spec.type_id(x)
        except BTFError:
            return None

    rec: dict[str, Any] = {"id": tid(t), "kind": t.kind.name, "name": getattr(t, "name", "")}
    size = getattr(t, "size", None)
    if isinstance(size, int):
        rec["size"] = size
    if isinstance(t, btf.Composite):
        rec["members"] = [{"name": m.name, "type_id": tid(m.type), "bits_offset": m.offset,
                           "bitfield_size": m.bitfield_size} for m in t.members]
    elif isinstance(t, btf.Enum):
        rec["values"] = [{"name": v.name, "value": v.value} for v in t.values]
    elif isinstance(t, btf.FuncProto):
        rec["ret_type_id"] = tid(t.return_type)
        rec["params"] = [{"name": p.name, "type_id": tid(p.type)} for p in t.params]
    elif isinstance(t, btf.Array):
        rec["type_id"] = tid(t.type)
        rec["index_type_id"] = tid(t.index)
        rec["nr_elems"] = t.nelems
    elif isinstance(t, btf.Datasec):
        rec["vars"] = [{"type_id": tid(v.type), "offset": v.offset, "size": v.size}
                       for v in t.vars]
    else:
        target = getattr(t, "type", None)
        if target is not None and not isinstance(target, int):
            rec["type_id"] = tid(target)
    return rec


def _btf_dump(args: argparse.Namespace, out: Output) -> int:
    from ebpf.btf.format import format_c

    spec = _btf_source(args.source)
    if args.type is not None:
        types = spec.types_by_name(args.type)
        if not types and args.type.isdigit():
            from ebpf.errors import BTFError

            try:
                types = [spec.type_by_id(int(args.type))]
            except BTFError:
                types = []
        if not types:
            raise not_found(f"{args.source}: no type named {args.type!r}")
        selected: Iterable[Type] = types
    else:
        selected = spec
    if args.format == "c":
        listed = list(selected)
        body = format_c(listed)
        out.emit({"source": args.source, "format": "c", "c": body}, body)
        return 0
    if out.json:
        out.emit({"source": args.source, "format": "raw",
                  "types": [_raw_record(spec, t) for t in selected]}, "")
        return 0
    # Text: the listing of bpftool's raw format, one record (and its member lines) per type.
    write = out.stdout.write
    for t in selected:
        write(spec.dump(spec.type_id(t)) + "\n")
    out.stdout.flush()
    return 0


# --- load -----------------------------------------------------------------------------------


def _pin_name(name: str) -> str:
    """A name bpffs accepts: it refuses ``.`` (``.data`` is pinned as ``_data``)."""
    return name.replace(".", "_")


def _load(args: argparse.Namespace, out: Output) -> int:
    import ebpf
    from ebpf.internal.pin import DEFAULT_PIN_ROOT, is_bpffs
    from ebpf.specs import PinType

    spec = _read_spec(args.object)
    pin_dir: str | None = args.pin
    if pin_dir is not None:
        if not os.path.isdir(pin_dir):
            raise not_found(f"--pin {pin_dir}: no such directory")
        if not is_bpffs(pin_dir):
            raise CommandError(f"--pin {pin_dir}: not in a bpffs (mount one with "
                               f"'mount -t bpf bpf {pin_dir}')")
    elif not is_bpffs(DEFAULT_PIN_ROOT):
        by_name = [n for n, m in spec.maps.items() if m.pinning == PinType.BY_NAME]
        if by_name:
            raise CommandError(
                f"map {by_name[0]!r} is pinned by name (LIBBPF_PIN_BY_NAME) and "
                f"{DEFAULT_PIN_ROOT} is not a bpffs: give --pin DIR (a directory in a bpffs) "
                f"or mount one with 'mount -t bpf bpf {DEFAULT_PIN_ROOT}'")
    options = ebpf.CollectionOptions(pin_path=pin_dir)
    try:
        coll = ebpf.Collection(spec, options)
    except ebpf.VerifierError as e:
        return _verifier_failure(e, out)
    with coll:
        made: list[str] = []
        loaded: dict[str, list[dict[str, Any]]] = {"maps": [], "programs": []}
        try:
            for kind, objects in (("maps", coll.maps), ("programs", coll.programs)):
                for name, obj in objects.items():
                    info = obj.info()
                    pinned = obj.pinned_path
                    if pin_dir is not None and pinned is None:
                        pinned = os.path.join(pin_dir, _pin_name(name))
                        obj.pin(pinned)
                        made.append(pinned)
                    loaded[kind].append({"name": name, "id": info.id,
                                         "type": _enum_name(info.type), "pinned": pinned})
        except ebpf.EbpfError as e:
            for path in made:  # all or nothing: remove what this command pinned
                with contextlib.suppress(OSError):
                    os.unlink(path)
            raise CommandError(f"pin under {pin_dir}: {e}") from e

    def text() -> str:
        rows = [("map", r["name"], r["id"], r["type"], r["pinned"] or "-")
                for r in loaded["maps"]]
        rows += [("prog", r["name"], r["id"], r["type"], r["pinned"] or "-")
                 for r in loaded["programs"]]
        body = table(("KIND", "NAME", "ID", "TYPE", "PINNED"), rows)
        if pin_dir is None:
            body += "\n(unloaded again when this command exits; --pin DIR keeps them)"
        return body

    out.emit({"file": args.object, **loaded}, text)
    return 0


def _verifier_failure(e: ebpf.VerifierError, out: Output) -> int:
    """Report a rejected program: the summary, then the whole verifier log."""
    if out.json:
        out.emit({"error": e.context + ": verifier rejected the program",
                  "errno": errno.errorcode.get(e.errno, e.errno) if e.errno else None,
                  "truncated": e.truncated, "log": list(e.log)}, "")
        return 1
    head = str(e).split("\n", 1)[0].rstrip(":")
    out.error(head)
    err = out.stderr
    err.write("verifier log:\n")
    for line in e.log:
        err.write(f"  {line}\n")
    if e.truncated:
        err.write("  (log truncated)\n")
    err.flush()
    return 1


# --- translated code of loaded programs -----------------------------------------------------


def _kernel_call_names() -> Callable[[int], str | None] | None:
    """Names for the call immediates of translated code (addresses relative to
    ``__bpf_call_base``), from ``/proc/kallsyms``; None where addresses are hidden."""
    try:
        with open("/proc/kallsyms", "rb") as f:
            text = f.read()
    except OSError:
        return None
    by_address: dict[int, str] = {}
    base = 0
    for line in text.splitlines():
        fields = line.split(None, 3)
        if len(fields) < 3 or fields[1] not in (b"t", b"T", b"w", b"W"):
            continue
        try:
            address = int(fields[0], 16)
        except ValueError:
            continue
        name = fields[2].decode(errors="replace")
        if name == "__bpf_call_base":
            base = address
        by_address.setdefault(address, name)
    if not base:
        return None

    def name_of(imm: int) -> str | None:
        return by_address.get(base + imm)

    return name_of


def xlated_listing(prog: ebpf.Program) -> str:
    """The disassembly of ``prog`` as the kernel holds it after verification.

    Map references show the kernel's map ids (``r1 = map[id:7]``) with the map's name as a
    comment, and calls of helpers and kernel functions the kernel function's name (from
    ``/proc/kallsyms``). ``prog`` is borrowed.

    Raises:
        NotSupportedError: the kernel withholds the instructions from this process.
        EbpfError: reading the program failed.
    """
    import ebpf
    from ebpf.asm.xlated import disassemble_xlated

    info = prog.info()
    names = []
    for map_id in info.map_ids:
        try:
            with ebpf.Map.from_id(map_id) as m:
                names.append(m.info().name)
        except ebpf.EbpfError:
            names.append("")
    functions, lines = _xlated_btf_info(prog)
    insns = []
    last: str | None = None
    for slot, ins in prog.xlated_instructions().iter_offsets():
        name = functions.get(slot)
        if name and ins.symbol is None:
            ins = ins.with_symbol(name)
        source = lines.get(slot)
        if source is not None and source != last:
            ins = ins.with_source(source)
        last = source if source is not None else last
        insns.append(ins)
    return disassemble_xlated(insns, info.map_ids, map_names=names,
                              call_name=_kernel_call_names())


def _xlated_btf_info(prog: ebpf.Program) -> tuple[dict[int, str], dict[int, str]]:
    """The function names and source lines of a loaded program's translated code, by slot,
    from the func and line info the kernel keeps with it (empty where it has none)."""
    import ctypes
    import struct

    from ebpf.btf.handle import Handle
    from ebpf.errors import EbpfError
    from ebpf.internal.sys import ProgInfo, commands

    fd = prog.fd
    try:
        raw = ProgInfo()
        commands.obj_get_info_by_fd(fd, raw, "get info of program")
        n_lines, line_size = int(raw.nr_line_info), int(raw.line_info_rec_size)
        n_funcs, func_size = int(raw.nr_func_info), int(raw.func_info_rec_size)
        if not raw.btf_id or line_size < 16 or func_size < 8:
            return {}, {}
        line_buf = (ctypes.c_uint8 * (n_lines * line_size))()
        func_buf = (ctypes.c_uint8 * (n_funcs * func_size))()
        again = ProgInfo(nr_line_info=n_lines, line_info_rec_size=line_size,
                         line_info=commands.addr_of(line_buf), nr_func_info=n_funcs,
                         func_info_rec_size=func_size, func_info=commands.addr_of(func_buf))
        commands.obj_get_info_by_fd(fd, again, "get line info of program")
        with Handle.from_id(int(raw.btf_id)) as handle:
            spec = handle.spec()
        functions: dict[int, str] = {}
        for i in range(min(n_funcs, int(again.nr_func_info))):
            slot, type_id = struct.unpack_from("=II", func_buf, i * func_size)
            name = getattr(spec.type_by_id(type_id), "name", "")
            if name:
                functions[slot] = name
        lines: dict[int, str] = {}
        for i in range(min(n_lines, int(again.nr_line_info))):
            slot, file_off, line_off, line_col = struct.unpack_from("=IIII", line_buf,
                                                                    i * line_size)
            text = spec.string(line_off).strip()
            if text:
                lines[slot] = (f"{text} @ {os.path.basename(spec.string(file_off))}:"
                               f"{line_col >> 10}")
        return functions, lines
    except EbpfError:  # no BTF, or it cannot be read: the listing goes without
        return {}, {}
