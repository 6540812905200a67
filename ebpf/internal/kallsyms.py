"""``/proc/kallsyms``: the kernel's symbol table, for typeless ``__ksym`` externs and kprobes.

The file has one line per symbol, ``ADDRESS TYPE NAME`` and, for a module's symbols, a
``\\t[MODULE]`` suffix. Addresses read as zero without ``CAP_SYSLOG`` (and under
``kptr_restrict``); :meth:`Kallsyms.address` then answers 0, which callers treat as "hidden".
Reading the whole file takes tens of milliseconds, so a :class:`Kallsyms` is one snapshot that
answers many questions; :func:`read_kallsyms` makes a fresh one.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from typing import Final

from ..errors import EbpfError

__all__ = ["Kallsyms", "read_kallsyms"]

PATH: Final = "/proc/kallsyms"

# Symbol types of code: text (t/T) and weak (w/W) symbols.
_FUNCTION_TYPES: Final = frozenset(b"tTwW")


class Kallsyms:
    """One snapshot of ``/proc/kallsyms``."""

    __slots__ = ("_text",)

    def __init__(self, text: bytes) -> None:
        self._text = text if text.endswith(b"\n") or not text else text + b"\n"

    def address(self, name: str) -> int | None:
        """The address of the first symbol called ``name`` (a symbol of the kernel image before
        one of a module), or None if there is none. 0 means the address is hidden."""
        text = self._text
        for end in (b"\n", b"\t"):  # the kernel image's symbols, then the modules'
            want = b" " + name.encode() + end
            pos = text.find(want)
            while pos >= 0:
                start = text.rfind(b"\n", 0, pos) + 1
                fields = text[start:pos].split()
                if len(fields) == 2:
                    try:
                        return int(fields[0], 16)
                    except ValueError:
                        return None
                pos = text.find(want, pos + 1)
        return None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.address(name) is not None

    def functions(self, pattern: str = "*", *, module: str | None = None) -> Iterator[str]:
        """The names of code symbols matching the shell-style ``pattern``, in file order and
        each once; only those of ``module`` if given (``"vmlinux"`` for the kernel image)."""
        seen: set[str] = set()
        regex = None if pattern == "*" else re.compile(fnmatch.translate(pattern))
        for line in self._text.splitlines():
            parts = line.split(None, 3)
            if len(parts) < 3 or len(parts[1]) != 1 or parts[1][0] not in _FUNCTION_TYPES:
                continue
            mod = parts[3].strip(b"[]").decode() if len(parts) == 4 else "vmlinux"
            if module is not None and mod != module:
                continue
            name = parts[2].decode(errors="replace")
            if name in seen or (regex is not None and not regex.match(name)):
                continue
            seen.add(name)
            yield name


def read_kallsyms() -> Kallsyms:
    """A fresh snapshot of ``/proc/kallsyms``.

    Raises:
        EbpfError: the file cannot be read (no procfs, or a kernel without ``CONFIG_KALLSYMS``).
    """
    try:
        with open(PATH, "rb") as f:
            return Kallsyms(f.read())
    except OSError as e:
        raise EbpfError(f"cannot read {PATH}: {e.strerror}") from e
