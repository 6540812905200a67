"""Finding a binary the way the dynamic loader and the shell do, and reading ``ld.so.cache``.

A uprobe target may be given as a path (``/usr/bin/bash``), an executable name found on
``PATH`` (``bash``), or a library name: a file name (``libc.so.6``), or a short name (``libc``
or ``c``) that stands for ``libc.so`` or the highest ``libc.so.N``. Libraries are searched as
``ld.so(8)`` does for a program without ``DT_RPATH``/``DT_RUNPATH``: the directories of
``LD_LIBRARY_PATH``, then ``/etc/ld.so.cache``, then the system directories. Files that are
not ELF (a ``libc.so`` linker script) or are built for another architecture are skipped, as
the loader skips them. The search uses this process's environment unless given another; the
traced process may of course have a different one.

``/etc/ld.so.cache`` is parsed here, in both formats glibc has written: the new one
(``glibc-ld.so.cache1.1``, alone as since glibc 2.32, or after the old table) and the old one
(``ld.so-1.7.0``, libc5 to glibc 2.1). Of its entries only those with the flags this host's
loader accepts (``libc6,x86-64`` on x86-64) are used; entries for a ``glibc-hwcaps``
subdirectory are listed but not chosen (which of them the loader would pick depends on the
CPU).

Errors: :class:`~ebpf.errors.TargetNotFoundError` names what was looked for
and every place searched; :class:`~ebpf.errors.LdCacheError` is raised by
:func:`parse_ld_cache` for malformed data (a lookup that meets a malformed system cache skips
it, as the loader does, and says so in its not-found message).
"""

from __future__ import annotations

import os
import stat as _stat
import struct
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from threading import Lock
from typing import Final, Literal

from ..errors import LdCacheError, TargetNotFoundError

__all__ = [
    "LD_SO_CACHE",
    "LdCache",
    "LdCacheEntry",
    "default_library_dirs",
    "find_executable",
    "find_library",
    "host_cache_flags",
    "parse_ld_cache",
    "read_ld_cache",
    "resolve_binary",
]

LD_SO_CACHE: Final = "/etc/ld.so.cache"

_OLD_MAGIC: Final = b"ld.so-1.7.0"
_NEW_MAGIC: Final = b"glibc-ld.so.cache1.1"
_EXTENSION_MAGIC: Final = 0xEAA42174     # (uint32_t) -358342284
_EXT_TAG_GENERATOR: Final = 0
_HWCAP_EXTENSION: Final = 1 << 62
_ISA_LEVEL_MASK: Final = (1 << 10) - 1

# ld.so.cache entry flags: the low byte is the kind of library, the next the ABI it requires.
FLAG_TYPE_MASK: Final = 0x00FF
FLAG_REQUIRED_MASK: Final = 0xFF00
FLAG_ELF: Final = 0x0001
FLAG_ELF_LIBC6: Final = 0x0003
_TYPE_NAMES: Final = {0: "libc4", 1: "ELF", 2: "libc5", 3: "libc6"}
_REQUIRED_NAMES: Final = {
    0x0100: "64bit", 0x0200: "IA-64", 0x0300: "x86-64", 0x0400: "64bit", 0x0500: "64bit",
    0x0600: "N32", 0x0700: "64bit", 0x0800: "x32", 0x0900: "hard-float", 0x0A00: "AArch64",
    0x0B00: "soft-float", 0x0C00: "nan2008", 0x0D00: "N32,nan2008", 0x0E00: "64bit,nan2008",
    0x0F00: "soft-float", 0x1000: "double-float",
}

# uname machine -> (the cache flags its loader accepts, ELF class, e_machine, multiarch triplet)
_HOSTS: Final = {
    "x86_64": (0x0303, 2, 62, "x86_64-linux-gnu"),
    "aarch64": (0x0A03, 2, 183, "aarch64-linux-gnu"),
    "s390x": (0x0403, 2, 22, "s390x-linux-gnu"),
    "ppc64le": (0x0503, 2, 21, "powerpc64le-linux-gnu"),
    "ppc64": (0x0503, 2, 21, "powerpc64-linux-gnu"),
    "riscv64": (0x1003, 2, 243, "riscv64-linux-gnu"),
    "i386": (0x0003, 1, 3, "i386-linux-gnu"),
    "i686": (0x0003, 1, 3, "i386-linux-gnu"),
    "armv7l": (0x0903, 1, 40, "arm-linux-gnueabihf"),
}


@dataclass(frozen=True, slots=True)
class LdCacheEntry:
    """One entry of ``ld.so.cache``.

    Attributes:
        name: the name looked up (usually the soname): ``libc.so.6``.
        path: the file: ``/lib/x86_64-linux-gnu/libc.so.6``.
        flags: kind and ABI (``0x0303`` is ``libc6,x86-64``).
        osversion: the required OS version (0 if none).
        hwcap: hardware capabilities; with bit 62 set, the low 32 bits index the
            ``glibc-hwcaps`` subdirectory names.
        hwcaps_subdir: that subdirectory's name (``x86-64-v3``), or ``""``.
    """

    name: str
    path: str
    flags: int
    osversion: int = 0
    hwcap: int = 0
    hwcaps_subdir: str = ""

    @property
    def description(self) -> str:
        """The flags as ``ldconfig -p`` prints them: ``libc6,x86-64``."""
        out = _TYPE_NAMES.get(self.flags & FLAG_TYPE_MASK, "unknown")
        req = self.flags & FLAG_REQUIRED_MASK
        if req:
            out += "," + _REQUIRED_NAMES.get(req, str(req))
        return out


@dataclass(frozen=True, slots=True)
class LdCache:
    """A parsed ``ld.so.cache``.

    Attributes:
        entries: every entry, in file order (the loader's sort order).
        format: ``"new"``, ``"old"``, or ``"old+new"`` (the new table inside the old; its
            entries are the ones listed).
        generator: the generator string of the new format's extension, if any.
    """

    entries: tuple[LdCacheEntry, ...]
    format: Literal["new", "old", "old+new"]
    generator: str = ""

    def lookup(self, name: str, flags: int | None = None) -> list[LdCacheEntry]:
        """The entries called ``name`` that the loader with ``flags`` would accept
        (default: this host's, see :func:`host_cache_flags`), ``glibc-hwcaps`` entries
        left out, in cache order."""
        accept = _acceptor(host_cache_flags() if flags is None else flags)
        return [e for e in self.entries
                if e.name == name and accept(e.flags) and not e.hwcaps_subdir]


def host_cache_flags() -> int:
    """The ``ld.so.cache`` flags this machine's loader looks for (``0x0303`` on x86-64)."""
    host = _HOSTS.get(os.uname().machine)
    return host[0] if host is not None else FLAG_ELF_LIBC6


def _acceptor(flags: int) -> Callable[[int], bool]:
    # The generic loader accepts plain ELF (1) and libc6 (3) entries; 64-bit ports accept
    # only their own ABI's flags.
    if flags == FLAG_ELF_LIBC6:
        return lambda f: f in (FLAG_ELF, FLAG_ELF_LIBC6)
    return lambda f: f == flags


# --- parsing ----------------------------------------------------------------------------


def _string(data: bytes, base: int, offset: int, what: str, path: str) -> str:
    pos = base + offset
    end = data.find(b"\0", pos) if 0 <= pos < len(data) else -1
    if end < 0:
        raise LdCacheError(f"{what}: string offset {offset:#x} is outside the file or not "
                           "NUL-terminated", path=path, offset=pos)
    return data[pos:end].decode("utf-8", "surrogateescape")


def _parse_new(data: bytes, start: int, path: str) -> tuple[list[LdCacheEntry], str]:
    if len(data) < start + 48:
        raise LdCacheError("truncated header of the new format", path=path, offset=start)
    endian = data[start + 28] & 3
    if endian == 1:
        raise LdCacheError("the cache marks itself invalid (endianness flag 1)", path=path,
                           offset=start + 28)
    if endian == 0:
        prefix = "<" if sys.byteorder == "little" else ">"
    else:
        prefix = "<" if endian == 2 else ">"
    nlibs, _len_strings = struct.unpack_from(prefix + "II", data, start + 20)
    (ext_offset,) = struct.unpack_from(prefix + "I", data, start + 32)
    entry = struct.Struct(prefix + "iIIIQ")
    table = start + 48
    if nlibs > (len(data) - table) // entry.size:
        raise LdCacheError(f"{nlibs} entries of {entry.size} bytes do not fit in the file "
                           f"({len(data)} bytes)", path=path, offset=start + 20)
    hwcaps, generator = _parse_extensions(data, ext_offset, prefix, path)
    out = []
    for i, (flags, key, value, osversion, hwcap) in enumerate(
            entry.iter_unpack(memoryview(data)[table:table + nlibs * entry.size])):
        what = f"entry {i}"
        subdir = ""
        if ((hwcap >> 32) & ~_ISA_LEVEL_MASK) == (_HWCAP_EXTENSION >> 32):
            index = hwcap & 0xFFFFFFFF
            if index < len(hwcaps):
                subdir = _string(data, 0, hwcaps[index], f"{what} hwcaps name", path)
        out.append(LdCacheEntry(_string(data, start, key, what, path),
                                _string(data, start, value, what, path),
                                flags & 0xFFFFFFFF, osversion, hwcap, subdir))
    return out, generator


def _parse_extensions(data: bytes, offset: int, prefix: str, path: str
                      ) -> tuple[list[int], str]:
    """(glibc-hwcaps string offsets, generator) of the new format's extension directory."""
    if offset == 0:
        return [], ""
    if offset % 4 or offset + 8 > len(data):
        raise LdCacheError(f"extension directory offset {offset:#x} is misaligned or outside "
                           "the file", path=path, offset=offset)
    magic, count = struct.unpack_from(prefix + "II", data, offset)
    if magic != _EXTENSION_MAGIC:
        raise LdCacheError(f"bad extension magic {magic:#x}", path=path, offset=offset)
    if count > (len(data) - offset - 8) // 16:
        raise LdCacheError(f"{count} extension sections do not fit in the file", path=path,
                           offset=offset + 4)
    hwcaps: list[int] = []
    generator = ""
    for i in range(count):
        tag, _flags, off, size = struct.unpack_from(prefix + "IIII", data, offset + 8 + 16 * i)
        if off + size > len(data):
            raise LdCacheError(f"extension section {i} ({off:#x}+{size:#x}) is outside the "
                               "file", path=path, offset=offset + 8 + 16 * i)
        if tag == _EXT_TAG_GENERATOR:
            generator = data[off:off + size].decode("utf-8", "replace")
        elif tag == 1 and size % 4 == 0 and off % 4 == 0:
            hwcaps = list(struct.unpack_from(f"{prefix}{size // 4}I", data, off))
    return hwcaps, generator


def _parse_old(data: bytes, path: str) -> tuple[list[LdCacheEntry], int]:
    """The old table's entries, and where a new-format table would start after it."""
    if len(data) < 16:
        raise LdCacheError("truncated header of the old format", path=path, offset=0)
    # The old format has no endianness mark: it is always the writer's (this host's).
    prefix = "<" if sys.byteorder == "little" else ">"
    (nlibs,) = struct.unpack_from(prefix + "I", data, 12)
    if nlibs > (len(data) - 16) // 12:
        raise LdCacheError(f"{nlibs} entries of 12 bytes do not fit in the file "
                           f"({len(data)} bytes)", path=path, offset=12)
    strings = 16 + 12 * nlibs
    out = []
    for i, (flags, key, value) in enumerate(
            struct.iter_unpack(prefix + "iII", memoryview(data)[16:strings])):
        out.append(LdCacheEntry(_string(data, strings, key, f"entry {i}", path),
                                _string(data, strings, value, f"entry {i}", path),
                                flags & 0xFFFFFFFF))
    new_start = (strings + 7) & ~7
    return out, new_start


def parse_ld_cache(data: bytes, *, path: str = "") -> LdCache:
    """Parse the contents of an ``ld.so.cache`` file (``path`` names it in errors).

    Raises:
        LdCacheError: the data is neither format, or its counts and string offsets do not
            fit in it.
    """
    if data.startswith(_NEW_MAGIC):
        entries, generator = _parse_new(data, 0, path)
        return LdCache(tuple(entries), "new", generator)
    if data.startswith(_OLD_MAGIC):
        entries, new_start = _parse_old(data, path)
        if data[new_start:new_start + len(_NEW_MAGIC)] == _NEW_MAGIC:
            new_entries, generator = _parse_new(data, new_start, path)
            return LdCache(tuple(new_entries), "old+new", generator)
        return LdCache(tuple(entries), "old")
    raise LdCacheError(f"not an ld.so.cache file (magic {data[:20]!r})", path=path, offset=0)


_cache_lock = Lock()
_cache_memo: dict[str, tuple[tuple[int, int, int, int], LdCache]] = {}


def read_ld_cache(path: str = LD_SO_CACHE) -> LdCache:
    """Read and parse ``path``; the result is kept until the file changes.

    Raises:
        OSError: the file cannot be read (``FileNotFoundError`` if there is none).
        LdCacheError: it is malformed.
    """
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        with _cache_lock:
            hit = _cache_memo.get(path)
        if hit is not None and hit[0] == key:
            return hit[1]
        data = f.read()
    parsed = parse_ld_cache(data, path=path)
    with _cache_lock:
        _cache_memo[path] = (key, parsed)
    return parsed


# --- searching --------------------------------------------------------------------------


def _host() -> tuple[int, int, int, str] | None:
    return _HOSTS.get(os.uname().machine)


def default_library_dirs() -> list[str]:
    """The loader's system directories for this host, those that exist: the multiarch ones
    (``/lib/x86_64-linux-gnu``, ``/usr/lib/x86_64-linux-gnu``), ``/lib64``, ``/usr/lib64``,
    ``/lib``, ``/usr/lib``."""
    host = _host()
    dirs = []
    if host is not None:
        dirs += [f"/lib/{host[3]}", f"/usr/lib/{host[3]}"]
    if host is None or host[1] == 2:
        dirs += ["/lib64", "/usr/lib64"]
    dirs += ["/lib", "/usr/lib"]
    return [d for d in dirs if os.path.isdir(d)]


def _is_host_elf(path: str) -> bool:
    """Whether ``path`` is a regular ELF file this host's loader could load."""
    try:
        with open(path, "rb") as f:
            if not _stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return False
            head = f.read(20)
    except OSError:
        return False
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return False
    host = _host()
    if host is None:
        return True
    machine = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
    return head[4] == host[1] and machine == host[2]


def _version_key(name: str, stem: str) -> tuple[int, ...] | None:
    """For ``libc.so.6`` and stem ``libc.so``: (6,); () for the stem itself; None otherwise."""
    if name == stem:
        return ()
    if not name.startswith(stem + "."):
        return None
    parts = name[len(stem) + 1:].split(".")
    if not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def _pick(names: Iterator[tuple[str, str]], stem: str | None, exact: str) -> str | None:
    """Of (name, path) candidates, the exact name, or for a stem the highest version
    (an unversioned ``stem`` last), that is a loadable ELF file."""
    if stem is None:
        for name, path in names:
            if name == exact and _is_host_elf(path):
                return path
        return None
    ranked = []
    for name, path in names:
        key = _version_key(name, stem)
        if key is not None:
            ranked.append(((1 if key else 0, key), path))
    for _key, path in sorted(ranked, key=lambda kp: kp[0], reverse=True):
        if _is_host_elf(path):
            return path
    return None


def _dir_candidates(directory: str, stem: str | None, exact: str) -> Iterator[tuple[str, str]]:
    if stem is None:
        yield exact, os.path.join(directory, exact)
        return
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for n in names:
        if n.startswith(stem):
            yield n, os.path.join(directory, n)


def _library_stem(name: str) -> tuple[str | None, str]:
    """(stem to match versions of, or None for an exact file name; the name for messages)."""
    if ".so" in name:
        return None, name
    base = name if name.startswith("lib") else "lib" + name
    return base + ".so", base + ".so*"


def find_library(name: str, *, env: Mapping[str, str] | None = None,
                 cache_path: str = LD_SO_CACHE,
                 system_dirs: Sequence[str] | None = None) -> str:
    """The path of the shared library ``name``, found as the dynamic loader would.

    ``name`` is a file name (``libc.so.6``; taken as is), or a short name (``libc``, ``c``)
    for ``libc.so`` or its highest version ``libc.so.N``. Searched: ``LD_LIBRARY_PATH`` (from
    ``env``, default ``os.environ``), ``cache_path``, then ``system_dirs`` (default
    :func:`default_library_dirs`). Only regular ELF files of this host's architecture count.

    Raises:
        TargetNotFoundError: not found; the message lists everything searched.
    """
    environ = os.environ if env is None else env
    stem, shown = _library_stem(name)
    searched: list[str] = []
    lib_path = environ.get("LD_LIBRARY_PATH", "")
    if lib_path:
        dirs = [d or "." for d in lib_path.replace(";", ":").split(":")]
        searched.append("LD_LIBRARY_PATH=" + ":".join(dirs))
        for d in dirs:
            found = _pick(_dir_candidates(d, stem, name), stem, name)
            if found is not None:
                return os.path.abspath(found)
    try:
        cache = read_ld_cache(cache_path)
    except FileNotFoundError:
        searched.append(f"{cache_path} (absent)")
    except (OSError, LdCacheError) as e:
        searched.append(f"{cache_path} (unusable: {e})")
    else:
        accept = _acceptor(host_cache_flags())
        usable = [(e.name, e.path) for e in cache.entries
                  if accept(e.flags) and not e.hwcaps_subdir]
        searched.append(f"{cache_path} ({len(usable)} entries for this architecture)")
        found = _pick(iter(usable), stem, name)
        if found is not None:
            return found
    dirs = list(default_library_dirs() if system_dirs is None else system_dirs)
    searched.extend(dirs)
    for d in dirs:
        found = _pick(_dir_candidates(d, stem, name), stem, name)
        if found is not None:
            return os.path.abspath(found)
    raise TargetNotFoundError(shown, searched, detail="shared library")


def find_executable(name: str, *, env: Mapping[str, str] | None = None) -> str:
    """The path of executable ``name`` on ``PATH`` (from ``env``, default ``os.environ``),
    as the shell finds it: the first regular file with execute permission.

    Raises:
        TargetNotFoundError: not found; the message lists the directories searched.
    """
    environ = os.environ if env is None else env
    dirs = [d or "." for d in environ.get("PATH", os.defpath).split(":")]
    for d in dirs:
        path = os.path.join(d, name)
        try:
            st = os.stat(path)
        except OSError:
            continue
        if _stat.S_ISREG(st.st_mode) and os.access(path, os.X_OK):
            return os.path.abspath(path)
    raise TargetNotFoundError(name, ["PATH=" + ":".join(dirs)], detail="executable")


def resolve_binary(target: str | os.PathLike[str], *,
                   env: Mapping[str, str] | None = None) -> str:
    """The file a uprobe target names.

    * A target containing ``/`` is a path: it must exist (returned absolute, symlinks kept).
    * A name containing ``.so`` is a library: :func:`find_library`.
    * Any other name is looked for as an executable on ``PATH`` first
      (:func:`find_executable`), then as a library short name (``c`` -> ``libc.so.6``).

    Raises:
        TargetNotFoundError: nothing found; the message lists every place searched.
    """
    name = os.fspath(target)
    if not name:
        raise TargetNotFoundError(name, detail="empty name")
    if "/" in name:
        if not os.path.exists(name):
            raise TargetNotFoundError(name, detail="no such file")
        return os.path.abspath(name)
    if ".so" in name:
        return find_library(name, env=env)
    try:
        return find_executable(name, env=env)
    except TargetNotFoundError as e:
        first = e
    try:
        return find_library(name, env=env)
    except TargetNotFoundError as e:
        raise TargetNotFoundError(name, first.searched + e.searched,
                                  detail="neither an executable on PATH nor a shared "
                                         "library") from None
