"""The running kernel's build configuration (``CONFIG_*``), as ``.kconfig`` externs need it.

The text comes from ``/proc/config.gz`` (``CONFIG_IKCONFIG_PROC``) or, failing that,
``/boot/config-$(uname -r)``. Only the options an object declares are looked up, by searching
the text: parsing every line costs more than a load needs.
"""

from __future__ import annotations

import os
import zlib

from ..errors import EbpfError

__all__ = ["KernelConfig", "read_kernel_config"]


class KernelConfig:
    """The text of a kernel configuration, searched on demand."""

    __slots__ = ("_text",)

    def __init__(self, text: bytes) -> None:
        self._text = text

    def get(self, name: str) -> str | None:
        """The value of the last ``NAME=value`` line (``"y"``, ``"m"``, a number or a quoted
        string), or None if the option is not set."""
        text = self._text
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


def _gunzip(data: bytes) -> bytes:
    """Every gzip member of ``data``, as :func:`gzip.decompress` reads them."""
    parts = []
    while data:
        d = zlib.decompressobj(31)
        parts.append(d.decompress(data) + d.flush())
        if not d.eof:
            raise OSError("truncated gzip data")
        data = d.unused_data
    return b"".join(parts)


def read_kernel_config() -> KernelConfig:
    """The running kernel's configuration.

    Raises:
        EbpfError: neither ``/proc/config.gz`` nor ``/boot/config-<release>`` can be read.
    """
    try:
        with open("/proc/config.gz", "rb") as f:
            return KernelConfig(_gunzip(f.read()))
    except (OSError, zlib.error):
        pass
    release = os.uname().release
    try:
        with open(f"/boot/config-{release}", "rb") as f:
            return KernelConfig(f.read())
    except OSError as e:
        raise EbpfError("the kernel configuration is needed, but neither /proc/config.gz nor "
                        f"/boot/config-{release} can be read") from e
