"""What the machine has: ``ebpf list``, ``ebpf show``, ``ebpf map`` and ``ebpf features``.

``list progs|maps|links|btf`` walks the kernel's ids (``BPF_*_GET_NEXT_ID``, needs
``CAP_SYS_ADMIN``) and shows each object with the paths it is pinned at in every mounted bpffs.
``show prog|map|link`` describes one object, named by id, pinned path or name; a program comes
with its translated instructions. ``map dump|get|update|delete`` read and write a map's
elements, decoded through the map's BTF where it has some. ``features`` runs the feature probes
of :mod:`ebpf.features`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import errno
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import ebpf
from ebpf.cli._output import (
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    Output,
    not_found,
    table,
)
from ebpf.errors import (
    EbpfError,
    KeyNotFoundError,
    MarshalError,
    NotSupportedError,
    SyscallError,
)
from ebpf.types import MapType, UpdateFlags

__all__ = ["parse_bytes_argument", "pins", "plain", "register", "value_text"]

if TYPE_CHECKING:
    from ebpf.asm.instruction import Instruction
    from ebpf.info import MapInfo, ProgramInfo
    from ebpf.internal.kernel_object import KernelObject
    from ebpf.map import Map
    from ebpf.program import Program

# The library's modules are imported where a command needs them: `ebpf --help` stays quick.
K = TypeVar("K", bound="KernelObject")

_PER_CPU = frozenset({MapType.PERCPU_ARRAY, MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH,
                      MapType.PERCPU_CGROUP_STORAGE})

KEY_VALUE_HELP = """\
KEY and VALUE are written as one argument each (quote it if it has spaces):
  0x0100000a      hex bytes in memory order, exactly as many as the key (value) has
  "01 00 00 0a"   hex bytes, two digits each, separated by spaces
  42, -1          a decimal integer, stored in the key's (value's) size, host byte order
                  (a map with BTF encodes it through its type)
  '{"pid": 7}'    JSON (an object, list, string, true/false), for maps with BTF: encoded
                  through the map's key (value) type, as `map dump` shows it
For per-CPU maps VALUE is written to every CPU."""


# --- naming objects ----------------------------------------------------------------------------

def _lower(v: object) -> str:
    """An enum member's name in lower case (as bpftool spells types), or the number."""
    name = getattr(v, "name", None)
    return name.lower() if isinstance(name, str) else str(v)


def _wall_clock(load_time_ns: int) -> str:
    """``load_time_ns`` (since boot) as local time, ISO 8601 to the second."""
    boot = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
    t = datetime.datetime.fromtimestamp(boot + load_time_ns / 1e9)
    return t.isoformat(timespec="seconds")


def _mount_points() -> list[str]:
    """Every mounted bpffs, from /proc/self/mounts (octal escapes decoded)."""
    out: list[str] = []
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 3 and fields[2] == "bpf":
                    out.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)),
                                      fields[1]))
    except OSError:
        return []
    return out


_INODE_KINDS = {"anon_inode:bpf-prog": "prog", "anon_inode:bpf-map": "map",
                "anon_inode:bpf_link": "link", "anon_inode:bpf-link": "link"}


def _pinned_object(path: str) -> tuple[str, int] | None:
    """(kind, id) of the object pinned at ``path``, or None if it cannot be opened."""
    from ebpf.info import map_info, program_info
    from ebpf.internal.pin import open_pinned
    from ebpf.link.link import link_info

    try:
        fd, _ = open_pinned(path, "object")
    except (EbpfError, OSError):
        return None
    try:
        kind = _INODE_KINDS.get(os.readlink(f"/proc/self/fd/{fd.raw}"))
        if kind == "prog":
            return kind, program_info(fd.raw).id
        if kind == "map":
            return kind, map_info(fd.raw).id
        if kind == "link":
            return kind, link_info(fd.raw).id
        return None
    except (EbpfError, OSError):
        return None
    finally:
        fd.close()


def pins() -> dict[str, dict[int, list[str]]]:
    """kind (``prog``, ``map``, ``link``) -> id -> the paths it is pinned at, in every mounted
    bpffs (like ``bpftool -f``)."""
    out: dict[str, dict[int, list[str]]] = {"prog": {}, "map": {}, "link": {}}
    for root in _mount_points():
        for directory, _dirs, files in os.walk(root):
            for name in sorted(files):
                path = os.path.join(directory, name)
                found = _pinned_object(path)
                if found is not None:
                    out[found[0]].setdefault(found[1], []).append(path)
    return out


def _open_by_id(cls: type[K], kind: str, object_id: int) -> K:
    try:
        return cls.from_id(object_id)
    except SyscallError as e:
        if e.errno == errno.ENOENT:
            raise not_found(f"there is no {kind} with id {object_id}") from None
        raise


def _open_pinned(cls: type[K], kind: str, path: str) -> K:
    if not os.path.lexists(path):
        raise not_found(f"{path}: no such file")
    try:
        return cls.load_pinned(path)
    except SyscallError as e:
        if e.errno == errno.ENOENT:
            raise not_found(f"{path}: nothing is pinned there") from None
        raise CommandError(f"{path}: cannot open the pinned {kind}: {e}") from None
    except EbpfError as e:
        raise CommandError(f"{path} is not a pinned {kind}: {e}") from None


def _ids_named(kind: str, name: str) -> list[int]:
    """The ids of the loaded objects of ``kind`` called ``name``."""
    found: list[int] = []
    if kind == "program":
        for prog in _live(ebpf.program_ids(), ebpf.Program.from_id):
            with prog:
                if prog.name == name:
                    found.append(prog.info().id)
    else:
        for m in _live(ebpf.map_ids(), ebpf.Map.from_id):
            with m:
                if m.name == name:
                    found.append(m.info().id)
    return found


def _open(cls: type[K], kind: str, target: str) -> K:
    """The object ``target`` names: an id, a pinned path, or (programs, maps) a name."""
    if target.isdigit():
        return _open_by_id(cls, kind, int(target))
    if "/" in target or kind == "link":
        return _open_pinned(cls, kind, target)
    ids = _ids_named(kind, target)
    if not ids:
        raise not_found(f"there is no {kind} called {target!r} (give an id, a pinned path or "
                        "a name)")
    if len(ids) > 1:
        raise CommandError(f"{len(ids)} {kind}s are called {target!r} (ids "
                           f"{', '.join(map(str, ids))}): give an id")
    return _open_by_id(cls, kind, ids[0])


# --- list ---------------------------------------------------------------------------------------

def _live(ids: Iterator[int], opener: Callable[[int], Any]) -> Iterator[Any]:
    """Open each id, skipping objects that went away between the walk and the open."""
    for i in ids:
        try:
            obj = opener(i)
        except SyscallError as e:
            if e.errno == errno.ENOENT:
                continue
            raise
        yield obj


def _prog_record(info: ProgramInfo, pinned: list[str]) -> dict[str, Any]:
    return {
        "id": info.id, "name": info.name, "type": _lower(info.type), "tag": info.tag,
        "loaded_at": _wall_clock(info.load_time_ns), "load_time_ns": info.load_time_ns,
        "uid": info.created_by_uid, "xlated_size": info.xlated_size,
        "jited_size": info.jited_size, "map_ids": list(info.map_ids), "btf_id": info.btf_id,
        "verified_instructions": info.verified_instructions,
        "run_time_ns": info.run_time_ns, "run_count": info.run_count,
        "recursion_misses": info.recursion_misses, "gpl_compatible": info.gpl_compatible,
        "pinned": pinned,
    }


def _map_record(info: MapInfo, pinned: list[str]) -> dict[str, Any]:
    return {
        "id": info.id, "name": info.name, "type": _lower(info.type),
        "key_size": info.key_size, "value_size": info.value_size,
        "max_entries": info.max_entries, "flags": info.flags, "btf_id": info.btf_id,
        "btf_key_type_id": info.btf_key_type_id, "btf_value_type_id": info.btf_value_type_id,
        "pinned": pinned,
    }


def _target_text(target: dict[str, object] | None) -> str:
    return " ".join(f"{k}={v}" for k, v in (target or {}).items())


def _link_record(link: Any, pinned: list[str]) -> dict[str, Any]:
    info = link.info()
    target = dict(info.target or {})
    ifindex = target.get("ifindex")
    if isinstance(ifindex, int) and ifindex:
        import socket

        with contextlib.suppress(OSError):  # in another network namespace, or gone
            target["interface"] = socket.if_indextoname(ifindex)
    return {
        "id": info.id, "type": _lower(info.type), "program_id": info.program_id,
        "attach_type": None if info.attach_type is None else _lower(info.attach_type),
        "target": target, "pinned": pinned,
    }


def _list_progs(pinned: dict[int, list[str]]) -> list[dict[str, Any]]:
    out = []
    for prog in _live(ebpf.program_ids(), ebpf.Program.from_id):
        with prog:
            info = prog.info()
        out.append(_prog_record(info, pinned.get(info.id, [])))
    return out


def _list_maps(pinned: dict[int, list[str]]) -> list[dict[str, Any]]:
    out = []
    for m in _live(ebpf.map_ids(), ebpf.Map.from_id):
        with m:
            info = m.info()
        out.append(_map_record(info, pinned.get(info.id, [])))
    return out


def _list_links(pinned: dict[int, list[str]]) -> list[dict[str, Any]]:
    from ebpf.link.link import from_id as link_from_id

    out = []
    for link in _live(ebpf.link_ids(), link_from_id):
        with link:
            record = _link_record(link, [])
        record["pinned"] = pinned.get(record["id"], [])
        out.append(record)
    return out


def _list_btf(progs: list[dict[str, Any]], maps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from ebpf.btf.handle import Handle

    out = []
    for handle in _live(ebpf.btf_ids(), Handle.from_id):
        with handle:
            info = handle.info()
        out.append({
            "id": info.id, "name": info.name, "size": info.size, "kernel": info.kernel_btf,
            "prog_ids": [p["id"] for p in progs if p["btf_id"] == info.id],
            "map_ids": [m["id"] for m in maps if m["btf_id"] == info.id],
        })
    return out


def _pins_text(paths: list[str]) -> str:
    return " ".join(paths)


def _cmd_list(args: argparse.Namespace, out: Output) -> int:
    kind: str = args.kind.rstrip("s") if args.kind != "btf" else "btf"
    found = pins() if kind in ("prog", "map", "link") else {}
    if kind == "prog":
        progs = _list_progs(found["prog"])
        out.emit(progs, lambda: table(
            ["ID", "TYPE", "NAME", "TAG", "LOADED", "UID", "XLATED", "JITED", "MAPS", "PINNED"],
            [[p["id"], p["type"], p["name"], p["tag"], p["loaded_at"], p["uid"],
              p["xlated_size"], p["jited_size"], ",".join(map(str, p["map_ids"])),
              _pins_text(p["pinned"])] for p in progs]))
    elif kind == "map":
        maps = _list_maps(found["map"])
        out.emit(maps, lambda: table(
            ["ID", "TYPE", "NAME", "KEY", "VALUE", "ENTRIES", "FLAGS", "BTF", "PINNED"],
            [[m["id"], m["type"], m["name"], m["key_size"], m["value_size"], m["max_entries"],
              hex(m["flags"]), m["btf_id"] or "", _pins_text(m["pinned"])] for m in maps]))
    elif kind == "link":
        links = _list_links(found["link"])
        out.emit(links, lambda: table(
            ["ID", "TYPE", "PROG", "ATTACH", "TARGET", "PINNED"],
            [[k["id"], k["type"], k["program_id"], k["attach_type"] or "",
              _target_text(k["target"]), _pins_text(k["pinned"])] for k in links]))
    else:
        objs = _list_btf(_list_progs({}), _list_maps({}))
        out.emit(objs, lambda: table(
            ["ID", "NAME", "SIZE", "KERNEL", "PROGS", "MAPS"],
            [[b["id"], b["name"], b["size"], "yes" if b["kernel"] else "",
              ",".join(map(str, b["prog_ids"])), ",".join(map(str, b["map_ids"]))]
             for b in objs]))
    return EXIT_OK


# --- show ---------------------------------------------------------------------------------------

def _stats_enabled() -> bool | None:
    try:
        with open("/proc/sys/kernel/bpf_stats_enabled", encoding="ascii") as f:
            return f.read().strip() == "1"
    except OSError:
        return None


_ADDRESS_MASK = (1 << 64) - 1


def _s32(v: int) -> int:
    v &= 0xFFFF_FFFF
    return v - (1 << 32) if v & 0x8000_0000 else v


def kernel_call_names(insns: Sequence[Instruction]) -> Callable[[int], str | None] | None:
    """Names the kernel functions the translated code calls: the kernel writes a helper or
    kfunc call as the callee's address relative to ``__bpf_call_base``, which
    ``/proc/kallsyms`` turns back into a name. None when the addresses are hidden or there
    is no such call."""
    from ebpf.asm.opcode import Class, JumpOp, PseudoCall

    call = int(Class.JMP) | int(JumpOp.CALL)
    imms = {_s32(ins.constant) for ins in insns
            if ins.opcode == call and int(ins.src) in (PseudoCall.HELPER, PseudoCall.KFUNC_CALL)}
    if not imms:
        return None
    try:
        with open("/proc/kallsyms", "rb") as f:
            text = f.read()
    except OSError:
        return None
    found = re.search(rb"^([0-9a-f]+) [tT] __bpf_call_base$", text, re.MULTILINE)
    base = int(found.group(1), 16) if found else 0
    if not base:
        return None  # addresses hidden (kptr_restrict, no CAP_SYSLOG)
    wanted = {f"{(base + imm) & _ADDRESS_MASK:x}".encode(): imm for imm in imms}
    names: dict[int, str] = {}
    for line in text.splitlines():
        parts = line.split()
        imm = wanted.get(parts[0].lstrip(b"0")) if parts else None
        if imm is not None and imm not in names and len(parts) >= 3 and parts[1] in (
                b"t", b"T", b"w", b"W"):
            names[imm] = parts[2].decode(errors="replace")
            if len(names) == len(wanted):
                break
    return lambda imm: names.get(_s32(imm))


def disassemble_xlated(prog: Program, map_ids: Sequence[int], map_names: Sequence[str]
                       ) -> list[str]:
    """The kernel's translated instructions of ``prog``, one line each: map references by map
    id with the map's name, kernel calls by function name where ``/proc/kallsyms`` tells.

    Raises:
        NotSupportedError: the kernel withholds the instructions from this process.
    """
    from ebpf.asm.xlated import disassemble_xlated as listing

    insns = list(prog.xlated_instructions())
    text = listing(insns, map_ids, map_names=map_names, call_name=kernel_call_names(insns))
    return text.splitlines()


def _map_names(ids: tuple[int, ...] | list[int]) -> dict[int, str]:
    names: dict[int, str] = {}
    for i in ids:
        try:
            with ebpf.Map.from_id(i) as m:
                names[i] = m.name
        except SyscallError:
            continue
    return names


def _cmd_show_prog(args: argparse.Namespace, out: Output) -> int:
    with _open(ebpf.Program, "program", args.target) as prog:
        info = prog.info()
        names = _map_names(info.map_ids)
        try:
            xlated: list[str] | None = disassemble_xlated(
                prog, info.map_ids, [names.get(i, "") for i in info.map_ids])
            withheld = ""
        except NotSupportedError as e:
            xlated, withheld = None, str(e)
    record = _prog_record(info, pins()["prog"].get(info.id, []))
    record["maps"] = [{"id": i, "name": names.get(i, "")} for i in info.map_ids]
    record["links"] = [k for k in _list_links({}) if k["program_id"] == info.id]
    record["xlated"] = xlated
    stats = _stats_enabled()

    def text() -> str:
        lines = [
            f"{info.id}: {_lower(info.type)}  name {info.name or '-'}  tag {info.tag}"
            f"{'  gpl' if info.gpl_compatible else ''}",
            f"  loaded at {record['loaded_at']}  uid {info.created_by_uid}",
            f"  xlated {info.xlated_size} B ({info.instruction_count} instructions)  "
            f"jited {info.jited_size} B  verified {info.verified_instructions} instructions",
        ]
        if info.map_ids:
            lines.append("  maps: " + ", ".join(
                f"{i} ({names[i]})" if names.get(i) else str(i) for i in info.map_ids))
        if info.btf_id:
            lines.append(f"  btf id {info.btf_id}")
        for k in record["links"]:
            lines.append(f"  attached by link {k['id']} ({k['type']}"
                         + (f" {_target_text(k['target'])}" if k["target"] else "") + ")")
        run = f"  run time {info.run_time_ns} ns over {info.run_count} runs"
        if info.run_count:
            run += f" ({info.run_time_ns // info.run_count} ns per run)"
        if not stats:
            run += ("  (counted only while BPF statistics are enabled: "
                    "sysctl kernel.bpf_stats_enabled=1, or ebpf.info.enable_stats())")
        lines.append(run)
        if info.recursion_misses:
            lines.append(f"  recursion misses {info.recursion_misses}")
        for p in record["pinned"]:
            lines.append(f"  pinned {p}")
        if xlated is None:
            lines.append(f"  (instructions not shown: {withheld})")
        else:
            lines.append("")
            lines.extend(xlated)
        return "\n".join(lines)

    out.emit(record, text)
    return EXIT_OK


def _type_text(t: Any) -> str | None:
    if t is None:
        return None
    from ebpf.btf.format import type_name

    return type_name(t)


def _cmd_show_map(args: argparse.Namespace, out: Output) -> int:
    with _open(ebpf.Map, "map", args.target) as m:
        info = m.info()
        key_type, value_type = _type_text(m.key_type), _type_text(m.value_type)
    record = _map_record(info, pins()["map"].get(info.id, []))
    record["key_type"], record["value_type"] = key_type, value_type
    users = []
    for prog in _live(ebpf.program_ids(), ebpf.Program.from_id):
        with prog:
            pinfo = prog.info()
        if info.id in pinfo.map_ids:
            users.append({"id": pinfo.id, "name": pinfo.name})
    record["programs"] = users

    def text() -> str:
        lines = [
            f"{info.id}: {_lower(info.type)}  name {info.name or '-'}  flags {info.flags:#x}",
            f"  key {info.key_size} B  value {info.value_size} B  "
            f"max entries {info.max_entries}",
        ]
        if info.btf_id:
            lines.append(f"  btf id {info.btf_id}  key type {key_type or '-'}  "
                         f"value type {value_type or '-'}")
        if users:
            lines.append("  used by programs: " + ", ".join(
                f"{u['id']} ({u['name']})" if u["name"] else str(u["id"]) for u in users))
        for p in record["pinned"]:
            lines.append(f"  pinned {p}")
        return "\n".join(lines)

    out.emit(record, text)
    return EXIT_OK


def _cmd_show_link(args: argparse.Namespace, out: Output) -> int:
    from ebpf.link.link import BPFLink

    with _open(BPFLink, "link", args.target) as link:
        record = _link_record(link, [])
    record["pinned"] = pins()["link"].get(record["id"], [])
    try:
        with ebpf.Program.from_id(record["program_id"]) as prog:
            record["program_name"] = prog.name
    except SyscallError:
        record["program_name"] = ""

    def text() -> str:
        prog = str(record["program_id"])
        if record["program_name"]:
            prog += f" ({record['program_name']})"
        lines = [f"{record['id']}: {record['type']}  prog {prog}"]
        if record["attach_type"]:
            lines.append(f"  attach type {record['attach_type']}")
        for k, v in record["target"].items():
            lines.append(f"  {k} {v}")
        for p in record["pinned"]:
            lines.append(f"  pinned {p}")
        return "\n".join(lines)

    out.emit(record, text)
    return EXIT_OK


def _cmd_show(args: argparse.Namespace, out: Output) -> int:
    kind = args.kind
    if kind in ("prog", "program"):
        return _cmd_show_prog(args, out)
    if kind == "map":
        return _cmd_show_map(args, out)
    return _cmd_show_link(args, out)


# --- map ----------------------------------------------------------------------------------------

_HEX_BYTES = re.compile(r"[0-9a-fA-F]{1,2}(?:\s+[0-9a-fA-F]{1,2})+")
_DECIMAL = re.compile(r"[-+]?[0-9]+")


def parse_bytes_argument(text: str, size: int, what: str, typed: bool) -> Any:
    """A KEY or VALUE argument (see :data:`KEY_VALUE_HELP`) as what a map takes: ``bytes`` of
    exactly ``size``, an ``int`` (a map with BTF, ``typed``, encodes it) or a JSON value.

    Raises:
        CommandError: (usage) the text is none of those, or does not fit ``size``.
    """
    s = text.strip()
    if s[:2].lower() == "0x":
        digits = s[2:].replace("_", "")
        try:
            data = bytes.fromhex(digits)
        except ValueError:
            raise CommandError(f"{what}: {text!r} is not hex bytes", EXIT_USAGE) from None
        if len(digits) % 2 or len(data) != size:
            raise CommandError(f"{what}: {text!r} gives {len(digits) / 2:g} bytes; the map "
                               f"takes {size}", EXIT_USAGE)
        return data
    if _HEX_BYTES.fullmatch(s):
        data = bytes(int(b, 16) for b in s.split())
        if len(data) != size:
            raise CommandError(f"{what}: {text!r} gives {len(data)} bytes; the map takes "
                               f"{size}", EXIT_USAGE)
        return data
    if _DECIMAL.fullmatch(s):
        n = int(s)
        if typed:
            return n
        try:
            return n.to_bytes(size, sys.byteorder, signed=n < 0)
        except OverflowError:
            raise CommandError(f"{what}: {n} does not fit {size} bytes", EXIT_USAGE) from None
    if not typed:
        raise CommandError(
            f"{what}: {text!r} is neither hex bytes (0x0100 or '01 00') nor a decimal "
            "integer; JSON needs a map with BTF types", EXIT_USAGE)
    try:
        return json.loads(s)
    except ValueError as e:
        raise CommandError(f"{what}: {text!r} is not hex bytes, a decimal integer or JSON "
                           f"({e})", EXIT_USAGE) from None


def plain(v: Any) -> Any:
    """A decoded key or value as JSON data (bytes as hex strings)."""
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    name = getattr(v, "name", None)
    if isinstance(name, str):
        return name
    return str(v)


def value_text(v: Any) -> str:
    """A decoded key or value on one line: bytes as spaced hex, the rest as JSON."""
    if isinstance(v, (bytes, bytearray, memoryview)):
        return " ".join(f"{b:02x}" for b in bytes(v))
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return json.dumps(plain(v), ensure_ascii=False)


def _entry_text(m: Map, key: Any, value: Any) -> str:
    if m.type in _PER_CPU and isinstance(value, list):
        lines = [f"key: {value_text(key)}"]
        lines.extend(f"  cpu {i}: {value_text(v)}" for i, v in enumerate(value))
        return "\n".join(lines)
    return f"key: {value_text(key)}  value: {value_text(value)}"


def _map_error(e: EbpfError, what: str) -> CommandError:
    return CommandError(f"{what}: {e}", EXIT_USAGE)


def _key_of(m: Map, text: str) -> Any:
    return parse_bytes_argument(text, m.key_size, f"key of map {m.name!r}",
                                m.key_type is not None)


def _cmd_map_dump(args: argparse.Namespace, out: Output) -> int:
    with _open(ebpf.Map, "map", args.target) as m:
        try:
            entries = [(k, v) for k, v in m.items()]
        except NotSupportedError as e:
            raise CommandError(str(e)) from None
        data = [{"key": plain(k), "value": plain(v)} for k, v in entries]

        def text() -> str:
            lines = [_entry_text(m, k, v) for k, v in entries]
            lines.append(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
            return "\n".join(lines)

        out.emit(data, text)
    return EXIT_OK


def _cmd_map_get(args: argparse.Namespace, out: Output) -> int:
    with _open(ebpf.Map, "map", args.target) as m:
        key = _key_of(m, args.key)
        try:
            value = m[key]
        except KeyNotFoundError:
            raise not_found(f"map {m.name!r} has no key {args.key}") from None
        except MarshalError as e:
            raise _map_error(e, "key") from None
        except NotSupportedError as e:
            raise CommandError(str(e)) from None
        out.emit({"key": plain(key), "value": plain(value)},
                 lambda: _entry_text(m, key, value))
    return EXIT_OK


def _cmd_map_update(args: argparse.Namespace, out: Output) -> int:
    flags = {"any": UpdateFlags.ANY, "noexist": UpdateFlags.NOEXIST,
             "exist": UpdateFlags.EXIST}[args.flags]
    with _open(ebpf.Map, "map", args.target) as m:
        key = _key_of(m, args.key)
        value = parse_bytes_argument(args.value, m.value_size, f"value of map {m.name!r}",
                                     m.value_type is not None)
        if m.type in _PER_CPU:
            from ebpf.internal.kernel import possible_cpus

            value = [value] * possible_cpus()
        try:
            m.update(key, value, flags)
        except KeyNotFoundError:
            raise not_found(f"map {m.name!r} has no key {args.key} (--flags exist)") from None
        except MarshalError as e:
            raise _map_error(e, "update") from None
        out.emit({"key": plain(key), "updated": True}, f"updated key {args.key}")
    return EXIT_OK


def _cmd_map_delete(args: argparse.Namespace, out: Output) -> int:
    with _open(ebpf.Map, "map", args.target) as m:
        key = _key_of(m, args.key)
        try:
            m.delete(key)
        except KeyNotFoundError:
            raise not_found(f"map {m.name!r} has no key {args.key}") from None
        except MarshalError as e:
            raise _map_error(e, "key") from None
        out.emit({"key": plain(key), "deleted": True}, f"deleted key {args.key}")
    return EXIT_OK


# --- features -----------------------------------------------------------------------------------

def _cmd_features(args: argparse.Namespace, out: Output) -> int:
    from ebpf.features import supported

    results = supported(helpers=args.helpers)
    data = {name: {"group": r.group, "supported": r.supported, "status": r.status,
                   "min_version": r.min_version, "detail": r.detail}
            for name, r in results.items()}

    def text() -> str:
        groups: dict[str, list[list[object]]] = {}
        for r in results.values():
            groups.setdefault(r.group, []).append(
                [r.name, r.status, r.min_version or "", r.detail])
        parts = []
        for group, rows in groups.items():
            parts.append(f"{group}s:\n" + table(["NAME", "STATUS", "SINCE", "DETAIL"], rows))
        counts: dict[str, int] = {}
        for r in results.values():
            counts[r.status] = counts.get(r.status, 0) + 1
        parts.append(", ".join(f"{n} {s}" for s, n in counts.items()))
        return "\n\n".join(parts)

    out.emit(data, text)
    return EXIT_OK


# --- the parsers --------------------------------------------------------------------------------

def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``list``, ``show``, ``map`` and ``features`` to the ``ebpf`` command line."""
    p = sub.add_parser(
        "list", parents=[common], help="list the programs, maps, links or BTF objects loaded",
        description="List what is loaded in the kernel, with ids, names, types and the paths "
                    "each object is pinned at in the mounted bpffs instances.")
    p.add_argument("kind", choices=["progs", "maps", "links", "btf"],
                   help="what to list")
    p.set_defaults(handler=_cmd_list)

    p = sub.add_parser(
        "show", parents=[common], help="describe one program, map or link",
        description="Describe one loaded object. TARGET is its id, a path it is pinned at, or "
                    "(programs and maps) its name. A program is shown with its translated "
                    "instructions.")
    p.add_argument("kind", choices=["prog", "map", "link"], help="what kind of object")
    p.add_argument("target", metavar="TARGET", help="id, pinned path or name")
    p.set_defaults(handler=_cmd_show)

    p = sub.add_parser(
        "map", parents=[common], help="dump, read, write or delete map elements",
        description="Work on the elements of a loaded map. MAP is its id, a path it is "
                    "pinned at, or its name. Keys and values of maps with BTF are decoded "
                    "through their types; others show as hex bytes.",
        epilog=KEY_VALUE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    ops = p.add_subparsers(dest="op", metavar="OP")
    ops.required = True
    q = ops.add_parser("dump", parents=[common], help="every element")
    q.add_argument("target", metavar="MAP")
    q.set_defaults(handler=_cmd_map_dump)
    q = ops.add_parser("get", parents=[common], help="the value of KEY", epilog=KEY_VALUE_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("target", metavar="MAP")
    q.add_argument("key", metavar="KEY")
    q.set_defaults(handler=_cmd_map_get)
    q = ops.add_parser("update", parents=[common], help="set KEY to VALUE",
                       epilog=KEY_VALUE_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("target", metavar="MAP")
    q.add_argument("key", metavar="KEY")
    q.add_argument("value", metavar="VALUE")
    q.add_argument("--flags", choices=["any", "noexist", "exist"], default="any",
                   help="any: create or replace (default); noexist: create only; exist: "
                        "replace only")
    q.set_defaults(handler=_cmd_map_update)
    q = ops.add_parser("delete", parents=[common], help="delete KEY", epilog=KEY_VALUE_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("target", metavar="MAP")
    q.add_argument("key", metavar="KEY")
    q.set_defaults(handler=_cmd_map_delete)

    p = sub.add_parser(
        "features", parents=[common], help="what this kernel supports",
        description="Probe the running kernel for program types, map types, attach types, "
                    "link types and other features (each probe loads a tiny program or makes "
                    "a map; nothing is attached).")
    p.add_argument("--helpers", action="store_true",
                   help="also probe every helper for every program type (thousands of loads)")
    p.set_defaults(handler=_cmd_features)
