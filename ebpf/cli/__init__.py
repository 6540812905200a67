"""The ``ebpf`` command line (also ``python -m ebpf``).

Each group of commands lives in its own module with a ``register(subparsers, common)`` function
that adds its parsers (each with ``parents=[common]``, the parser carrying ``--json``) and sets
``handler`` on each: a function ``(args, out) -> int`` returning the exit status. Text for people
is the default; ``--json`` (before or after the command) prints one JSON document for machines.

Exit status: :data:`EXIT_OK` (0) on success, :data:`EXIT_FAILURE` (1) when the operation failed
(the kernel refused, a file is not a BPF object), :data:`EXIT_USAGE` (2) for a bad command line,
:data:`EXIT_NOT_FOUND` (3) when a named object, id, pin or type does not exist, and 130 when
interrupted with Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ebpf.cli._output import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    Output,
)

__all__ = ["EXIT_FAILURE", "EXIT_NOT_FOUND", "EXIT_OK", "EXIT_USAGE", "CommandError", "main",
           "build_parser"]

# The modules that add commands, in the order ``ebpf --help`` lists them.
COMMAND_MODULES = (
    "ebpf.cli.objects",    # inspect, disasm, btf, load
    "ebpf.cli.run",        # run
    "ebpf.cli.machine",    # list, show, map, features
    "ebpf.gen.cli",        # gen
)


def build_parser() -> argparse.ArgumentParser:
    """The parser for every command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print one JSON document instead of text")
    parser = argparse.ArgumentParser(
        prog="ebpf", parents=[common],
        description="Inspect, load, run and generate code for eBPF objects; list and show what "
                    "the kernel has loaded.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (the console script exits with it)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2)
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    out = Output(json=bool(getattr(args, "json", False)))
    try:
        status: int = args.handler(args, out)
    except CommandError as e:
        out.error(str(e))
        return e.status
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `ebpf ... | head`
        sys.stderr.close()
        return EXIT_OK
    except Exception as e:
        from ebpf.errors import EbpfError

        if isinstance(e, EbpfError):
            out.error(f"{type(e).__name__}: {e}")
            return EXIT_NOT_FOUND if isinstance(e, FileNotFoundError | LookupError) \
                else EXIT_FAILURE
        if isinstance(e, FileNotFoundError):
            out.error(str(e))
            return EXIT_NOT_FOUND
        raise
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
