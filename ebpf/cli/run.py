"""``ebpf run OBJ``: load an object, attach its programs by section and watch what they do.

Every program whose ELF section names its hook (``tp_btf/...``, ``raw_tp/...``,
``tracepoint/...``, ``uprobe/...`` ...) is attached with :func:`ebpf.link.attach`; those that
cannot be are reported and left loaded, and the command fails only when none can be attached.
Then, until Ctrl-C or ``--duration`` seconds:

* each record of a ring buffer or perf event array map is printed as it arrives, decoded
  through BTF when the object says what a record is (``--decode MAP=TYPE``, else the one
  struct whose name ends in ``event``), else as hex bytes;
* every ``--interval`` seconds (and once more at the end) the hash and array maps are shown:
  maps that hold log2 histograms (see :func:`ebpf.histogram.histogram_layout`) as histograms,
  the others as tables of their entries. On a terminal this view is redrawn in place.

Everything is detached and closed on the way out. Ctrl-C is the normal end: exit status 0.
With ``--json`` every event and every view of the maps is one JSON object per line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import selectors
import time
from typing import TYPE_CHECKING, Any

import ebpf
from ebpf.cli._output import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CommandError, Output, not_found
from ebpf.cli.machine import plain, value_text
from ebpf.errors import EbpfError
from ebpf.histogram import (
    LiveTable,
    counts_from_map,
    format_table,
    histogram_layout,
    histograms_by_key,
    histograms_from_map,
    log2_histogram,
)
from ebpf.types import MapType

if TYPE_CHECKING:
    from ebpf.btf.types import Type
    from ebpf.collection import Collection
    from ebpf.map import Map

__all__ = ["register"]

_EVENT_MAPS = (MapType.RINGBUF, MapType.PERF_EVENT_ARRAY)
_SHOWN_MAPS = frozenset({MapType.HASH, MapType.ARRAY, MapType.LRU_HASH, MapType.PERCPU_HASH,
                         MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH})
_PER_CPU = frozenset({MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH})
_ARRAYS = frozenset({MapType.ARRAY, MapType.PERCPU_ARRAY})
_PERF_BUFFER = 64 * 1024


# --- values as text ---------------------------------------------------------------------------

def _one(v: Any) -> str:
    """A value on one line: simple strings bare, the rest as ``map dump`` shows them."""
    if isinstance(v, str) and v and not any(c.isspace() or c in "\"=" for c in v):
        return v
    return value_text(v)


def _record_text(v: Any) -> str:
    """A decoded record on one line: ``field=value ...`` for structs."""
    if isinstance(v, dict):
        return " ".join(f"{k}={_one(x)}" for k, x in v.items())
    return _one(v)


def _is_zero(v: Any) -> bool:
    if isinstance(v, (bytes, bytearray)):
        return not any(v)
    if isinstance(v, dict):
        return all(_is_zero(x) for x in v.values())
    if isinstance(v, list):
        return all(_is_zero(x) for x in v)
    return v == 0 or v == "" or v is False


def _sort_value(v: Any) -> int:
    if isinstance(v, list):  # per-CPU
        return sum(x for x in v if isinstance(x, int))
    return v if isinstance(v, int) else 0


# --- events -----------------------------------------------------------------------------------

def _event_type(m: Map, coll: Collection, explicit: str | None) -> Type | None:
    """The BTF type the records of event map ``m`` decode as, or None (hex)."""
    from ebpf.btf.types import Struct, Var
    types = coll.types
    if explicit is not None:
        if types is None:
            raise CommandError(f"--decode {m.name}={explicit}: the object has no BTF",
                               EXIT_USAGE)
        try:
            return types.any_type_by_name(explicit)
        except EbpfError as e:
            raise CommandError(f"--decode {m.name}={explicit}: {e}", EXIT_USAGE) from None
    if types is None:
        return None
    candidates = [t for t in types.iter_types(Struct) if t.name.endswith("event")]
    if len(candidates) > 1:
        # The object's own record types are the ones its globals name (the usual
        # ``struct event *unused_event`` that keeps a type in the BTF), not the kernel's.
        # (Or the value of another map: a per-CPU scratch buffer the record is built in.)
        declared = {id(_pointee(v.type)) for v in types.iter_types(Var)}
        declared |= {id(_pointee(other.value_type)) for other in coll.maps.values()
                     if other.value_type is not None}
        candidates = [t for t in candidates if id(t) in declared] or candidates
    if len(candidates) > 1:
        stem = m.name.rstrip("s")
        candidates = [t for t in candidates if stem and stem in t.name]
    return candidates[0] if len(candidates) == 1 else None


def _pointee(t: Type) -> Type:
    """``t`` without qualifiers and typedefs, and what it points to if it is a pointer."""
    from ebpf.btf.types import Pointer, underlying
    u = underlying(t)
    return underlying(u.target) if isinstance(u, Pointer) else u


class _Events:
    """The readers of an object's event maps, and how their records print."""

    def __init__(self, coll: Collection, decode: dict[str, str], stack: contextlib.ExitStack,
                 ) -> None:
        from ebpf import perf, ringbuf
        from ebpf.btf.values import codec

        self.readers: list[tuple[str, Any]] = []
        self.codecs: dict[str, Any] = {}
        self.exact: set[str] = set()
        for name, m in coll.maps.items():
            if m.type not in _EVENT_MAPS:
                continue
            t = _event_type(m, coll, decode.get(name))
            if t is not None:
                self.codecs[name] = codec(t)
            if m.type == MapType.RINGBUF:
                self.exact.add(name)
                reader: Any = stack.enter_context(ringbuf.Reader(m))
            else:
                reader = stack.enter_context(perf.Reader(m, _PERF_BUFFER))
            self.readers.append((name, reader))
        unknown = set(decode) - {n for n, _ in self.readers}
        if unknown:
            raise CommandError(f"--decode: no ring buffer or perf event array called "
                               f"{', '.join(sorted(unknown))}", EXIT_USAGE)

    def decoded(self, name: str, sample: bytes) -> Any:
        """The record as its BTF type says, or the bytes if it has none or does not fit it
        (a ring buffer record has the exact size; perf pads its samples)."""
        c = self.codecs.get(name)
        if c is None or len(sample) < c.size or (name in self.exact and len(sample) != c.size):
            return sample
        try:
            return c.decode(sample[:c.size])
        except EbpfError:
            return sample

    def drain(self, emit: Any, limit: int = 4096) -> None:
        """Hand the records waiting in every reader to ``emit``, at most ``limit`` from each
        (so that a flood of events does not hold up the views of the maps, or the end)."""
        for name, reader in self.readers:
            for _ in range(limit):
                try:
                    rec = reader.read(timeout=0)
                except TimeoutError:
                    break
                lost = getattr(rec, "lost_samples", 0)
                if lost:
                    emit(name, None, lost)
                else:
                    emit(name, self.decoded(name, rec.sample), 0)


# --- maps -------------------------------------------------------------------------------------

def _nothing(m: Map) -> str:
    return "all zero" if m.type in _ARRAYS else "empty"


def _map_view(m: Map, limit: int) -> tuple[dict[str, Any], str]:
    """What map ``m`` holds, as JSON data and as text (with a heading)."""
    kind = m.type.name.lower() if isinstance(m.type, MapType) else str(m.type)
    head = f"{m.name} ({kind})"
    layout = histogram_layout(m)
    if layout == "slots":
        counts = counts_from_map(m)
        text = log2_histogram(counts)
        data = {"kind": "log2_histogram", "counts": counts}
        return data, f"{head}:\n{text}" if text else f"{head}: {_nothing(m)}"
    if layout == "by_key":
        hists = histograms_from_map(m)
        text = histograms_by_key(hists)
        data = {"kind": "log2_histograms",
                "histograms": [{"key": plain(k), "counts": c} for k, c in hists.items()]}
        return data, f"{head}:\n{text}" if text else f"{head}: {_nothing(m)}"
    entries = [(k, v) for k, v in m.items()]
    if m.type in _ARRAYS:
        entries = [(k, v) for k, v in entries if not _is_zero(v)]
    if entries and all(isinstance(_sort_value(v), int) for _, v in entries):
        entries.sort(key=lambda kv: _sort_value(kv[1]), reverse=True)
    data = {"kind": "entries",
            "entries": [{"key": plain(k), "value": plain(v)} for k, v in entries]}
    if not entries:
        return data, f"{head}: {_nothing(m)}"
    shown = entries[:limit]
    rows = [[_one(k), _one(v)] for k, v in shown]
    text = format_table(["KEY", "VALUE"], rows)
    if len(entries) > limit:
        text += f"\n... {len(entries) - limit} more"
    n = len(entries)
    return data, f"{head}, {n} entr{'y' if n == 1 else 'ies'}:\n{text}"


def _shown_maps(coll: Collection) -> list[Map]:
    out = []
    for name, m in coll.maps.items():
        if m.type not in _SHOWN_MAPS:
            continue
        if name.startswith(".") and not name.startswith((".bss", ".data")):
            continue  # .rodata and .kconfig: constants
        out.append(m)
    return out


def _maps_frame(maps: list[Map], limit: int, started: float) -> tuple[dict[str, Any], str]:
    data: dict[str, Any] = {}
    parts = [f"{time.strftime('%H:%M:%S')}  after {time.monotonic() - started:.1f} s"]
    for m in maps:
        try:
            d, text = _map_view(m, limit)
        except EbpfError as e:
            d, text = {"kind": "error", "error": str(e)}, f"{m.name}: {e}"
        data[m.name] = d
        parts.append(text)
    return data, "\n\n".join(parts)


# --- the command ------------------------------------------------------------------------------

def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _decode_options(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, type_name = item.partition("=")
        if not sep or not name or not type_name:
            raise CommandError(f"--decode {item!r}: write MAP=TYPE", EXIT_USAGE)
        out[name] = type_name
    return out


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 seconds")
    return v


def _cmd_run(args: argparse.Namespace, out: Output) -> int:
    from ebpf import link
    from ebpf.elf_reader import load_collection_spec

    if not os.path.exists(args.object):
        raise not_found(f"{args.object}: no such file")
    decode = _decode_options(args.decode)
    spec = load_collection_spec(args.object)
    json_mode = out.json

    def line(data: dict[str, Any], text: str) -> None:
        out.line(json.dumps(data, default=str) if json_mode else text)

    with contextlib.ExitStack() as stack:
        options = None
        if args.pin_path is not None:
            from ebpf.loader import CollectionOptions

            options = CollectionOptions(pin_path=args.pin_path)
        coll = stack.enter_context(ebpf.Collection(spec, options))
        links = 0
        targets: dict[str, Any] = {}
        if args.interface is not None:
            targets["interface"] = int(args.interface) if args.interface.isdigit() \
                else args.interface
        if args.cgroup is not None:
            targets["cgroup"] = args.cgroup
        for name, prog in coll.programs.items():
            try:
                stack.enter_context(link.attach(prog, **targets))
            except EbpfError as e:
                if json_mode:
                    out.line(json.dumps({"type": "skipped", "program": name,
                                         "section": prog.section_name, "reason": str(e)}))
                else:
                    out.stderr.write(f"ebpf: warning: {name} ({prog.section_name}) not "
                                     f"attached: {e}\n")
                    out.stderr.flush()
                continue
            links += 1
            line({"type": "attached", "program": name, "section": prog.section_name},
                 f"attached {name} ({prog.section_name})")
        if not links:
            raise CommandError(f"{args.object}: no program could be attached"
                               + ("" if coll.programs else " (the object has none)"),
                               EXIT_FAILURE)
        events = _Events(coll, decode, stack)
        maps = _shown_maps(coll)
        live = None if json_mode else LiveTable(out.stdout)
        started = time.monotonic()
        stop = None if args.duration is None else started + args.duration
        line({"type": "watching", "event_maps": [n for n, _ in events.readers],
              "maps": [m.name for m in maps]},
             f"watching {_count(len(events.readers), 'event map')} and "
             f"{_count(len(maps), 'map')} "
             f"({'for ' + format(args.duration, 'g') + ' s' if stop else 'until Ctrl-C'})")

        pending: list[str] = []  # event lines, printed together after each drain

        def emit(name: str, value: Any, lost: int) -> None:
            now = time.time()
            if json_mode:
                data = ({"type": "lost", "map": name, "time": now, "count": lost} if lost else
                        {"type": "event", "map": name, "time": now, "value": plain(value)})
                out.line(json.dumps(data, default=str))
            else:
                what = f"lost {lost} records" if lost else _record_text(value)
                pending.append(f"{time.strftime('%H:%M:%S')} {name}: {what}")

        def drain() -> None:
            events.drain(emit)
            if pending and live is not None:
                text = "\n".join(pending)
                pending.clear()  # first: a Ctrl-C while printing must not print them twice
                live.print_above(text)

        def show_maps() -> None:
            if not maps:
                return
            data, text = _maps_frame(maps, args.max_entries, started)
            if live is None:
                out.line(json.dumps({"type": "maps", "time": time.time(), "maps": data},
                                    default=str))
            else:
                live.update(text)

        selector = stack.enter_context(selectors.DefaultSelector())
        for _name, reader in events.readers:
            selector.register(reader.fd, selectors.EVENT_READ)
        next_view = started + args.interval
        try:
            while True:
                now = time.monotonic()
                wake = min(next_view, stop) if stop is not None else next_view
                if events.readers:
                    selector.select(max(wake - now, 0))
                else:
                    time.sleep(max(wake - now, 0))
                drain()
                now = time.monotonic()
                if stop is not None and now >= stop:
                    break
                if now >= next_view:
                    show_maps()
                    next_view = max(next_view + args.interval, now)
        except KeyboardInterrupt:
            pass
        drain()
        show_maps()
    return EXIT_OK


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``run`` to the ``ebpf`` command line."""
    p = sub.add_parser(
        "run", parents=[common], help="load an object, attach its programs, watch events and maps",
        description="Load OBJ, attach every program its section names a hook for, then print "
                    "each ring buffer and perf event record as it arrives and, every "
                    "--interval seconds, the hash and array maps (log2 histogram maps as "
                    "histograms) until Ctrl-C or --duration. Everything is detached on exit; "
                    "Ctrl-C is a normal end (exit status 0).")
    p.add_argument("object", metavar="OBJ", help="the BPF object file (ELF)")
    p.add_argument("--duration", type=_positive, default=None, metavar="S",
                   help="stop after S seconds (default: at Ctrl-C)")
    p.add_argument("--interval", type=_positive, default=1.0, metavar="S",
                   help="show the maps every S seconds (default: 1)")
    p.add_argument("--decode", action="append", default=[], metavar="MAP=TYPE",
                   help="decode the records of event map MAP as BTF type TYPE (default: the "
                        "object's one struct whose name ends in 'event', else hex)")
    p.add_argument("--interface", metavar="IF", default=None,
                   help="network interface (name or index) for XDP, tc and tcx programs")
    p.add_argument("--cgroup", metavar="DIR", default=None,
                   help="cgroup v2 directory for cgroup programs")
    p.add_argument("--pin-path", metavar="DIR", default=None,
                   help="bpffs directory for maps the object marks for pinning by name "
                        "(default: /sys/fs/bpf if mounted)")
    p.add_argument("--max-entries", type=int, default=20, metavar="N",
                   help="entries shown per map (default: 20)")
    p.set_defaults(handler=_cmd_run)
