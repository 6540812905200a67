"""The running kernel's BTF: vmlinux and module BTF, parsed once per process.

This is the only module of ``ebpf.btf`` that reads ``/sys``. It keeps an on-disk index of the
type section (where each type starts and its name, and which names may carry a CO-RE flavor)
under ``$EBPF_BTF_CACHE_DIR``, else ``$XDG_CACHE_HOME/ebpf`` (or ``~/.cache/ebpf``), so a
later process can skip the pass over 100,000+ types. Indexes are keyed by content: the running
kernel's by its build id (the BTF of ``/sys/kernel/btf/vmlinux`` is part of the kernel image),
any other blob by a SHA-256 of its bytes, both with its size; copies of one blob share one
index. A few indexes are kept, always including the running kernel's. Set
``EBPF_BTF_CACHE=0`` to disable the cache. ``/sys/kernel/btf/vmlinux`` is mapped rather than
read where the kernel allows it, and then so is the index, and the spec works in place on both
(its strings and index tables are views; pickled copies own theirs).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import weakref
import zlib
from array import array
from typing import Literal

from ebpf.btf.parse import IntArray, RawBTF, RawIndex, parse_header
from ebpf.btf.spec import Spec, load_spec_from_bytes, load_split_spec
from ebpf.errors import NotSupportedError

__all__ = ["flush_kernel_spec", "load_kernel_module_spec", "load_kernel_spec"]

SYSFS_BTF = "/sys/kernel/btf"
_CACHE_MAGIC = b"EBPFBTFIDX2\0"
#: Places a vmlinux ELF with a .BTF section may be, for kernels without /sys/kernel/btf.
_VMLINUX_PATHS = (
    "/boot/vmlinux-{release}",
    "/lib/modules/{release}/vmlinux-{release}",
    "/lib/modules/{release}/build/vmlinux",
    "/usr/lib/modules/{release}/kernel/vmlinux",
    "/usr/lib/debug/boot/vmlinux-{release}",
    "/usr/lib/debug/boot/vmlinux-{release}.debug",
    "/usr/lib/debug/lib/modules/{release}/vmlinux",
)

_lock = threading.Lock()
_kernel: dict[str, Spec] = {}
_modules: dict[str, Spec] = {}


def flush_kernel_spec() -> None:
    """Forget the cached kernel and module specs (the next call parses again)."""
    with _lock:
        _kernel.clear()
        _modules.clear()


def load_kernel_spec(path: str | os.PathLike[str] | None = None) -> Spec:
    """The kernel's BTF, parsed once per process and shared by every caller.

    Without ``path``, reads ``/sys/kernel/btf/vmlinux``, or on kernels without it, a vmlinux
    ELF image in the usual places. With ``path``, reads that file (raw BTF or an ELF with a
    ``.BTF`` section, either possibly gzip/xz compressed, e.g. from BTFHub) and caches it under
    that path.

    The returned spec is shared: do not modify its types (copy what you change).

    Raises:
        NotSupportedError: no kernel BTF was found.
        BTFError, ELFError: the BTF is malformed.
    """
    key = os.fspath(path) if path is not None else ""
    spec = _kernel.get(key)
    if spec is not None:
        return spec
    with _lock:
        spec = _kernel.get(key)
        if spec is None:
            spec = _load_vmlinux(key or None)
            _kernel[key] = spec
        return spec


def load_kernel_module_spec(module: str) -> Spec:
    """The BTF of kernel module ``module`` (``/sys/kernel/btf/<module>``), split on vmlinux.

    Raises:
        NotSupportedError: the kernel has no BTF for this module (or no module BTF at all).
        BTFError: the BTF is malformed.
    """
    if module == "vmlinux":
        return load_kernel_spec()
    if not module or "/" in module or module.startswith("."):
        raise ValueError(f"invalid module name {module!r}")
    spec = _modules.get(module)
    if spec is not None:
        return spec
    base = load_kernel_spec()
    try:
        with open(os.path.join(SYSFS_BTF, module), "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise NotSupportedError(f"no BTF for kernel module {module!r} in {SYSFS_BTF}") from None
    spec = load_split_spec(data, base)
    with _lock:
        return _modules.setdefault(module, spec)


def _load_vmlinux(path: str | None) -> Spec:
    if path is not None:
        with open(path, "rb") as f:
            data = f.read()
        if data[:2] not in (b"\x9f\xeb", b"\xeb\x9f"):  # ELF, compressed: no index cache
            return load_spec_from_bytes(data)
        return _load_raw_with_index(path, data)
    sysfs = os.path.join(SYSFS_BTF, "vmlinux")
    from ebpf.internal.kernel import map_file

    mapped = map_file(sysfs)
    if mapped is not None and bytes(mapped[:2]) in (b"\x9f\xeb", b"\xeb\x9f"):
        return _load_raw_with_index(sysfs, mapped)
    try:
        with open(sysfs, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        pass
    else:
        return _load_raw_with_index(sysfs, data)
    release = os.uname().release
    for pattern in _VMLINUX_PATHS:
        candidate = pattern.format(release=release)
        try:
            with open(candidate, "rb") as f:
                return load_spec_from_bytes(f.read())
        except (FileNotFoundError, PermissionError):
            continue
    raise NotSupportedError(f"no kernel BTF: {sysfs} is missing and no vmlinux image was found")


# ---- the on-disk index


def cache_dir() -> str | None:
    """Where the index cache lives (``EBPF_BTF_CACHE_DIR``, else ``$XDG_CACHE_HOME/ebpf`` or
    ``~/.cache/ebpf``), or None if it is disabled (``EBPF_BTF_CACHE=0``)."""
    if os.environ.get("EBPF_BTF_CACHE", "1") in ("0", "", "no", "off", "false"):
        return None
    chosen = os.environ.get("EBPF_BTF_CACHE_DIR")
    if chosen:
        return chosen
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "ebpf")


#: Index file names: the version of the naming and of the index format, then the key.
_INDEX_PREFIX = "btf3-"
_SYSFS_VMLINUX = os.path.join(SYSFS_BTF, "vmlinux")


def _index_name(path: str, data: bytes | memoryview) -> str:
    """The name of the index file of BTF blob ``data`` read from ``path``: its content's key.

    The running kernel's BTF is keyed by the kernel's build id (with a CRC of the blob's
    first 64 KiB, a cheap check of the claim), which costs a read of a few hundred bytes,
    where hashing the 5 MB blob would cost milliseconds on every load; any other blob by a
    SHA-256 of its bytes (an index found under a blob's key must be that blob's: a wrong one
    would give wrong types, not an error).
    """
    if path == _SYSFS_VMLINUX:
        key = _kernel_key(len(data), data[:65536])
        if key is not None:
            return key
    import hashlib  # only when an index is looked up: not on the spec path

    digest = hashlib.sha256(data).hexdigest()[:40]
    return f"{_INDEX_PREFIX}s-{digest}-{len(data):x}-{sys.byteorder}.idx"


def _kernel_build_id() -> str | None:
    """The running kernel's GNU build id (hex), from the ELF notes in ``/sys/kernel/notes``,
    or None if it has none."""
    try:
        with open("/sys/kernel/notes", "rb") as f:
            notes = f.read(1 << 16)
    except OSError:
        return None
    pos = 0
    while pos + 12 <= len(notes):  # Elf_Nhdr: namesz, descsz, type; name and desc padded to 4
        namesz, descsz, ntype = (int.from_bytes(notes[i:i + 4], sys.byteorder)
                                 for i in range(pos, pos + 12, 4))
        name_at = pos + 12
        desc_at = name_at + (namesz + 3) // 4 * 4
        end = desc_at + (descsz + 3) // 4 * 4
        if end > len(notes):
            return None
        if ntype == 3 and notes[name_at:name_at + namesz] == b"GNU\0" and descsz:  # build id
            return notes[desc_at:desc_at + descsz].hex()
        pos = end
    return None


def _kernel_key(size: int, head: bytes | memoryview) -> str | None:
    """The index name of the running kernel's BTF of ``size`` bytes starting with ``head``,
    or None if the kernel has no build id."""
    build_id = _kernel_build_id()
    if build_id is None:
        return None
    crc = zlib.crc32(head)
    return f"{_INDEX_PREFIX}k-{build_id}-{size:x}-{crc:08x}-{sys.byteorder}.idx"


def _running_kernel_index() -> str | None:
    """The index name of the running kernel's BTF, or None if it has none here."""
    try:
        with open(_SYSFS_VMLINUX, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            key = _kernel_key(size, f.read(65536))
            if key is None:  # no build id: keyed by a hash of the whole blob
                f.seek(0)
                key = _index_name(_SYSFS_VMLINUX, f.read())
            return key
    except OSError:
        return None


def _read_index(file: str, count_words: int, *, mapped: bool = False) -> RawIndex | None:
    """The index in ``file``, or None if it is missing or does not fit. With ``mapped``, the
    file is mapped and the index's tables are views of the mapping (only the pages that
    lookups touch are ever read); otherwise it is read into arrays."""
    blob: bytes | memoryview | None = None
    if mapped:
        from ebpf.internal.kernel import map_file

        blob = map_file(file)
    if blob is None:
        try:
            with open(file, "rb") as f:
                blob = f.read()
        except OSError:
            return None
    n = len(_CACHE_MAGIC)
    if bytes(blob[:n]) != _CACHE_MAGIC or len(blob) < n + 16:
        return None
    ntypes, nothers, nfuncs, nflavored = (int.from_bytes(blob[i:i + 4], "little")
                                          for i in range(n, n + 16, 4))
    body = memoryview(blob)[n + 16:]
    a = 4 * (ntypes + 1)
    b = a + 8 * nothers
    c = b + 8 * nfuncs
    if len(body) != c + 4 * nflavored:
        return None
    tables: list[IntArray] = []
    parts: tuple[tuple[Literal["I", "Q"], memoryview], ...] = (
        ("I", body[:a]), ("Q", body[a:b]), ("Q", body[b:c]), ("I", body[c:]))
    for code, view in parts:
        if isinstance(blob, memoryview):
            tables.append(view.cast(code))
        else:
            table: array[int] = array(code)
            table.frombytes(view)
            tables.append(table)
    offsets, others, funcs, flavored = tables
    if offsets[-1] != count_words:
        return None
    return RawIndex(offsets, [others, funcs], flavored)


def _write_index(directory: str, file: str, index: RawIndex) -> None:
    others, funcs = index.by_name
    flavored = index.flavored
    if others is None or funcs is None or flavored is None:
        return
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        tmp = f"{file}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(_CACHE_MAGIC)
            for n in (len(index.offsets) - 1, len(others), len(funcs), len(flavored)):
                f.write(n.to_bytes(4, "little"))
            f.write(index.offsets.tobytes())
            f.write(others.tobytes())
            f.write(funcs.tobytes())
            f.write(flavored.tobytes())
        os.replace(tmp, file)
    except OSError:
        return  # a cache we cannot write is only a missed optimisation
    _prune_indexes(directory, keep=file)


#: How many BTF indexes the cache keeps. Each kernel and each other blob loaded with an index
#: has its own (a megabyte each for vmlinux), so without pruning every kernel update, and
#: every file loaded, would leave one behind.
_KEEP_INDEXES = 4


def _prune_indexes(directory: str, keep: str) -> None:
    """Remove all but the newest few index files and temporary files that a killed process
    left. ``keep`` always stays, and so does the running kernel's index: loading other BTF
    (a copy of vmlinux, BTFHub files) never costs the next process the kernel's."""
    try:
        entries = [e for e in os.scandir(directory) if e.is_file(follow_symlinks=False)]
    except OSError:
        return
    kept = {os.path.basename(keep), _running_kernel_index()}
    indexes = []
    stale = []
    for e in entries:
        try:
            mtime = e.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if e.name.startswith("btf") and e.name.endswith(".idx"):
            if e.name not in kept:
                indexes.append((mtime, e.path))
        elif e.name.startswith("btf") and e.name.endswith(".tmp") and mtime < time.time() - 3600:
            stale.append(e.path)
    indexes.sort(reverse=True)
    # Room for the others: what is left of the limit once the kept ones are counted.
    present = {e.name for e in entries}
    room = max(_KEEP_INDEXES - len({k for k in kept if k in present}), 0)
    for path in [p for _, p in indexes[room:]] + stale:
        try:  # noqa: SIM105 (no contextlib on the load path)
            os.unlink(path)
        except OSError:
            pass


def _load_raw_with_index(path: str, data: bytes | memoryview) -> Spec:
    # A mapped file is read-only and lives as long as the views of it: parse it in place.
    borrow = isinstance(data, memoryview)
    directory = cache_dir()
    if directory is None:
        return Spec(RawBTF(data, borrow=borrow))
    hdr = parse_header(data)
    # The format's version is in the name too, so that older and newer library versions
    # sharing a cache do not overwrite each other's files.
    file = os.path.join(directory, _index_name(path, data))
    index = _read_index(file, hdr.type_len // 4, mapped=borrow)
    spec = Spec(RawBTF(data, index=index, borrow=borrow))
    if spec.raw.index is not index and _writable(directory):
        # Write the index once both name tables exist (at exit at the latest), so that the
        # first process does not pay for hashing every function name up front.
        atexit.register(_finish_index, weakref.ref(spec), directory, file)
    return spec


def _writable(directory: str) -> bool:
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK | os.X_OK)


def _finish_index(ref: weakref.ref[Spec], directory: str, file: str) -> None:
    spec = ref()
    if spec is None:
        return
    raw = spec.raw
    for group in (0, 1):
        raw.name_table(group, spec._name_bytes)
    raw.flavored_strings()
    _write_index(directory, file, raw.index)
