"""Pinning kernel objects in a bpffs: one place for the path rules and the two commands.

Every kernel object pins through these functions (by way of
:class:`~ebpf.internal.kernel_object.KernelObject`), so every object kind accepts the same
paths and fails the same way.
"""

from __future__ import annotations

import contextlib
import ctypes
import os

from ..errors import EbpfError
from .sys import FD, ObjPinAttr, commands

__all__ = ["DEFAULT_PIN_ROOT", "is_bpffs", "open_pinned", "pin_fd", "remove_pin"]


def _path(path: str | os.PathLike[str]) -> tuple[bytes, str]:
    """``path`` as the kernel takes it (bytes) and as messages show it (str)."""
    p = os.fsencode(path)
    if b"\0" in p:
        raise EbpfError(f"pin path {os.fsdecode(p)!r} contains a NUL character")
    return p, os.fsdecode(p)


def pin_fd(fd: int, path: str | os.PathLike[str], what: str) -> str:
    """Pin the object behind ``fd`` at ``path``; return the path as a str.

    ``what`` names the object in errors, e.g. ``"map 'counts'"``.

    Raises:
        EbpfError: ``path`` contains a NUL character.
        SyscallError: ``EEXIST`` if something is pinned there already; ``EPERM`` if ``path``
            is not in a bpffs or its name contains a ``.``; ``ENOENT`` if the directory does
            not exist.
    """
    raw, shown = _path(path)
    buf = ctypes.create_string_buffer(raw)
    commands.obj_pin(ObjPinAttr(pathname=ctypes.addressof(buf), bpf_fd=fd),
                     f"pin {what} at {shown!r}")
    return shown


def open_pinned(path: str | os.PathLike[str], what: str, file_flags: int = 0
                ) -> tuple[FD, str]:
    """Open the object pinned at ``path``; return its new fd and the path as a str.

    Raises:
        EbpfError: ``path`` contains a NUL character.
        SyscallError: nothing is pinned there (``ENOENT``).
    """
    raw, shown = _path(path)
    buf = ctypes.create_string_buffer(raw)
    attr = ObjPinAttr(pathname=ctypes.addressof(buf), file_flags=file_flags)
    return commands.obj_get(attr, f"open pinned {what} {shown!r}"), shown


def remove_pin(path: str | None) -> None:
    """Remove a pin; a pin that is already gone (or ``None``) is not an error."""
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


_BPF_FS_MAGIC = 0xCAFE4A11

#: Where libbpf pins maps marked ``LIBBPF_PIN_BY_NAME`` when no pin path is given.
DEFAULT_PIN_ROOT = "/sys/fs/bpf"


def is_bpffs(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is in a mounted bpffs (``statfs`` says ``BPF_FS_MAGIC``)."""
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(256)  # struct statfs; f_type is its first field
    if libc.statfs(os.fsencode(path), buf) != 0:
        return False
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF == _BPF_FS_MAGIC
