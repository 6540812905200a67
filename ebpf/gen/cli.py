"""``ebpf gen``: write a typed Python module for a BPF object or C file."""

from __future__ import annotations

import argparse
import os
import shlex
import tempfile
from pathlib import Path

from ebpf.cli._output import EXIT_OK, CommandError, Output, not_found

__all__ = ["register"]

_DESCRIPTION = """\
Write a typed Python module for a BPF object (.o/.elf) or C file (.c, compiled with clang-19
-target bpf -O2 -g). The module has a ctypes class for every struct and union the maps,
globals and records use (IntEnum for enums), a typed Variables accessor for the globals, an
Objects dataclass with one field per program and map (plus typed views of the maps) and
load() / load_spec(). The object is embedded in the module (--embed, the default) or written
beside it (--beside)."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser],
             common: argparse.ArgumentParser) -> None:
    """Add the ``gen`` command."""
    p = sub.add_parser("gen", parents=[common], help="write a typed Python module for an object",
                       description=_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="OBJ_OR_C", help="a BPF object (.o, .elf) or C file (.c)")
    p.add_argument("-o", "--output", metavar="MODULE.py", default="-",
                   help="the module to write (default: print it)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--embed", dest="embed", action="store_true", default=True,
                       help="embed the object in the module (default)")
    where.add_argument("--beside", dest="embed", action="store_false",
                       help="write the object next to the module (MODULE.bpf.o) and read it "
                            "from there")
    p.add_argument("--name", metavar="NAME",
                   help="the module's name in its docstring (default: from the output file)")
    p.add_argument("--cflags", metavar="FLAGS", action="append", default=[],
                   help="extra clang arguments for a .c file, e.g. --cflags='-DDEBUG -I inc' "
                        "(may be repeated)")
    p.add_argument("--type", dest="types", metavar="NAME", action="append", default=[],
                   help="also describe this struct, union or enum (may be repeated)")
    p.add_argument("--check", action="store_true",
                   help="write nothing: exit 1 if the module (and object, with --beside) "
                        "differ from what would be written, e.g. in CI")
    p.set_defaults(handler=run_gen)


def run_gen(args: argparse.Namespace, out: Output) -> int:
    """Generate the module ``args`` asks for; print where it went (or the module itself)."""
    from ebpf.gen.generator import GenerateError, generate_module

    source = Path(args.source)
    to_stdout = args.output == "-"
    if to_stdout and not args.embed:
        raise CommandError("gen: --beside needs -o MODULE.py (the object goes next to it)")
    if to_stdout and args.check:
        raise CommandError("gen: --check needs -o MODULE.py (the module to compare)")
    output = None if to_stdout else Path(args.output)
    if output is not None and output.suffix != ".py":
        raise CommandError(f"gen: the output {output} must be a .py file")
    if not source.exists():
        raise not_found(f"gen: {source}: no such file")
    cflags: list[str] = []
    for flags in args.cflags:
        try:
            cflags += shlex.split(flags)
        except ValueError as e:
            raise CommandError(f"gen: --cflags {flags!r}: {e}") from e
    name = args.name or (output.stem if output is not None else source.stem)
    object_file = f"{output.stem}.bpf.o" if output is not None else None
    try:
        made = generate_module(source, module_name=name, embed=args.embed,
                               object_file=object_file, cflags=cflags, types=args.types)
    except GenerateError as e:
        raise CommandError(f"gen: {e}") from e
    if output is None:
        out.stdout.write(made.source)
        out.stdout.flush()
        return EXIT_OK
    if args.check:
        return _check(output, made.source.encode(),
                      None if args.embed else (output.with_name(made.object_file), made.data),
                      out)
    written = [str(output)]
    if not args.embed:
        beside = output.with_name(made.object_file)
        _write(beside, made.data)
        written.append(str(beside))
    _write(output, made.source.encode())
    data = {"module": str(output), "object": None if args.embed else written[1],
            "programs": list(made.programs), "maps": list(made.maps),
            "variables": list(made.variables), "types": list(made.types)}
    out.emit(data, lambda: (
        f"wrote {' and '.join(written)}: {len(made.programs)} programs, {len(made.maps)} "
        f"maps, {len(made.variables)} variables, {len(made.types)} types"))
    return EXIT_OK


def _check(module: Path, source: bytes, beside: tuple[Path, bytes] | None, out: Output) -> int:
    """Compare what would be written with what is there.

    Raises:
        CommandError: a file differs or is missing (exit status 1).
    """
    stale = []
    for path, data in ((module, source), *((beside,) if beside else ())):
        try:
            same = path.read_bytes() == data
        except OSError:
            same = False
        if not same:
            stale.append(str(path))
    if stale:
        raise CommandError(f"gen: {' and '.join(stale)} out of date: run ebpf gen without "
                           "--check to regenerate")
    out.emit({"module": str(module), "up_to_date": True}, f"{module} is up to date")
    return EXIT_OK


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all.

    Raises:
        CommandError: the directory is missing or not writable.
    """
    directory = path.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as e:
        raise CommandError(f"gen: cannot write {path}: {e.strerror or e}") from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise CommandError(f"gen: cannot write {path}: {e.strerror or e}") from e
