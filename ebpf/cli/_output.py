"""What every command shares: exit statuses, errors and text-or-JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_INTERRUPTED = 130


class CommandError(Exception):
    """A command cannot do what it was asked; the message is printed, the status returned."""

    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.status = status

    def __reduce__(self) -> tuple[type[CommandError], tuple[str, int]]:
        return (type(self), (str(self), self.status))  # copy and pickle keep the status


def not_found(message: str) -> CommandError:
    return CommandError(message, EXIT_NOT_FOUND)


class Output:
    """Prints for people or for machines: ``emit(data, text)`` prints ``text()`` or ``data``."""

    def __init__(self, json: bool = False, stdout: TextIO | None = None,
                 stderr: TextIO | None = None) -> None:
        self.json = json
        self._out = stdout
        self._err = stderr

    @property
    def stdout(self) -> TextIO:
        return self._out if self._out is not None else sys.stdout

    @property
    def stderr(self) -> TextIO:
        return self._err if self._err is not None else sys.stderr

    def emit(self, data: Any, text: Callable[[], str] | str) -> None:
        """One result: ``data`` as JSON with ``--json``, else the text (or what it returns)."""
        if self.json:
            json.dump(data, self.stdout, indent=2, default=_json_default)
            self.stdout.write("\n")
        else:
            s = text() if callable(text) else text
            self.stdout.write(s if s.endswith("\n") or not s else s + "\n")
        self.stdout.flush()

    def line(self, text: str) -> None:
        """A line of progress or live output (text mode; JSON mode prints one JSON line)."""
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def error(self, message: str) -> None:
        self.stderr.write(f"ebpf: error: {message}\n")
        self.stderr.flush()


def _json_default(o: object) -> Any:
    if isinstance(o, bytes | bytearray | memoryview):
        return bytes(o).hex()
    if isinstance(o, set | frozenset | tuple):
        return list(o)
    name = getattr(o, "name", None)
    if isinstance(name, str):  # enums
        return name
    return str(o)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns, two spaces apart, a header line first."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)
