"""The system pieces the fixtures set up: a private bpffs, a network namespace for the test's
thread, a veth pair in it and a cgroup v2 directory. Each is undone by its ``close()``.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import fcntl
import os
import secrets
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = [
    "Cgroup",
    "NetNamespace",
    "VethEnd",
    "VethPair",
    "cgroup2_root",
    "make_veth_pair",
    "mount",
    "mounted_bpffs",
    "umount",
]

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
MNT_DETACH = 2
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1

_libc = ctypes.CDLL(None, use_errno=True)

# The bpffs directories this process mounted (the leak check leaves them out: whatever is
# pinned there goes with the mount).
_private_mounts: set[str] = set()
_mounts_lock = threading.Lock()


def _os_error(what: str) -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str, target: str, fstype: str) -> None:
    """``mount -t fstype source target``.

    Raises:
        OSError: the kernel refused (``EPERM`` without ``CAP_SYS_ADMIN``).
    """
    if _libc.mount(source.encode(), os.fsencode(target), fstype.encode(), 0, None) != 0:
        raise _os_error(f"mount -t {fstype} {target}")


def umount(target: str) -> None:
    """Detach the mount at ``target`` (lazily: it goes when its last user does)."""
    if _libc.umount2(os.fsencode(target), MNT_DETACH) != 0:
        raise _os_error(f"umount {target}")


def mounted_bpffs(tmp: str) -> str:
    """Mount a new bpffs on ``tmp`` (an empty directory) and return it; :func:`release_bpffs`
    undoes it."""
    mount("bpf", tmp, "bpf")
    with _mounts_lock:
        _private_mounts.add(os.path.realpath(tmp))
    return tmp


def release_bpffs(path: str) -> None:
    """Unmount a bpffs made by :func:`mounted_bpffs` (its pins go with it)."""
    with _mounts_lock:
        _private_mounts.discard(os.path.realpath(path))
    umount(path)


def private_bpffs() -> frozenset[str]:
    with _mounts_lock:
        return frozenset(_private_mounts)


# --- network namespaces ----------------------------------------------------------------------

def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        raise _os_error("setns(CLONE_NEWNET)")


def _thread_netns() -> int:
    return os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)


def _set_up(ifname: str) -> None:
    """Bring interface ``ifname`` of the calling thread's namespace up."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14x", ifname.encode(), 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, _SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH14x", ifname.encode(), flags | _IFF_UP))


class NetNamespace:
    """A new network namespace that the creating thread has entered.

    A namespace is a property of a *thread*: the thread that made this object (the test's)
    runs in it until :meth:`close`, which returns that thread to the namespace it came from.
    Threads the test starts afterwards inherit it; to use it from a thread that existed
    before, wrap the work in :meth:`enter` or pass it to :meth:`run`. Sockets made in the
    namespace stay in it for their whole life. The namespace itself goes away with its last
    user (this object, sockets, processes).
    """

    def __init__(self) -> None:
        """Make a new namespace, enter it on this thread and bring its loopback up.

        Raises:
            OSError: the kernel refused (``EPERM`` without ``CAP_SYS_ADMIN``).
        """
        self._thread = threading.get_ident()
        self._previous = _thread_netns()
        self._fd = -1
        try:
            if _libc.unshare(CLONE_NEWNET) != 0:
                raise _os_error("unshare(CLONE_NEWNET)")
            self._fd = _thread_netns()
            self.inode = os.fstat(self._fd).st_ino
            _set_up("lo")
        except BaseException:
            self.close()
            raise

    @property
    def fd(self) -> int:
        """A descriptor of the namespace (``/proc/thread-self/ns/net``), e.g. to attach
        ``sk_lookup`` or flow dissector programs to it."""
        if self._fd < 0:
            raise ValueError("the network namespace was closed")
        return self._fd

    @property
    def path(self) -> str:
        """A path naming the namespace while it is open (``nsenter --net=PATH``, or where
        :mod:`ebpf.link` takes a namespace path)."""
        return f"/proc/{os.getpid()}/fd/{self.fd}"

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def enter(self) -> _Entered:
        """A context manager that moves the calling thread into this namespace and back."""
        return _Entered(self.fd)

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call ``fn(*args, **kwargs)`` on a new thread inside this namespace; return its
        result or raise its exception."""
        fd = self.fd
        with ThreadPoolExecutor(1, initializer=_setns, initargs=(fd,)) as pool:
            return pool.submit(fn, *args, **kwargs).result()

    def ip(self, *args: str) -> str:
        """Run ``ip ARGS`` in this namespace and return its output.

        Raises:
            OSError: ``ip`` is missing or failed (its error output is in the message).
        """
        return self.run(_run_ip, *args)

    def close(self) -> None:
        """Return the creating thread to its previous namespace (idempotent).

        Raises:
            RuntimeError: called from another thread than the one that made the namespace.
        """
        if self._previous < 0:
            return
        if threading.get_ident() != self._thread:
            raise RuntimeError("a NetNamespace must be closed by the thread that made it")
        previous, self._previous = self._previous, -1
        fd, self._fd = self._fd, -1
        try:
            _setns(previous)
        finally:
            os.close(previous)
            if fd >= 0:
                os.close(fd)

    def __enter__(self) -> NetNamespace:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<NetNamespace {'closed' if self.closed else self.inode}>"


class _Entered:
    def __init__(self, fd: int) -> None:
        self._target = fd
        self._saved: list[int] = []

    def __enter__(self) -> None:
        saved = _thread_netns()
        try:
            _setns(self._target)
        except BaseException:
            os.close(saved)
            raise
        self._saved.append(saved)

    def __exit__(self, *exc_info: object) -> None:
        saved = self._saved.pop()
        try:
            _setns(saved)
        finally:
            os.close(saved)


def _write_sysctl(key: str, value: str) -> None:
    """Write ``/proc/sys/KEY`` (``net/...`` keys are those of the calling thread's network
    namespace); a key the kernel lacks (no IPv6) is left alone."""
    try:
        with open(f"/proc/sys/{key}", "w") as f:
            f.write(value)
    except FileNotFoundError:
        pass


def _run_ip(*args: str) -> str:
    ip = shutil.which("ip") or "/sbin/ip"
    cmd = [ip, *args]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise OSError(errno.EIO, f"ip {' '.join(args)}: {e}") from e
    if done.returncode != 0:
        raise OSError(errno.EIO, f"ip {' '.join(args)}: exit status {done.returncode}: "
                                 f"{done.stderr.strip()}")
    return done.stdout


@dataclasses.dataclass(frozen=True)
class VethEnd:
    """One end of a veth pair: interface name and index, IPv4 address (without prefix
    length) and MAC address (``"aa:bb:..."``)."""

    name: str
    ifindex: int
    addr: str
    mac: str


@dataclasses.dataclass(frozen=True)
class VethPair:
    """A veth pair, both ends in ``netns``, up, each with an IPv4 address in one /24."""

    a: VethEnd
    b: VethEnd
    netns: NetNamespace

    def __iter__(self) -> Iterator[VethEnd]:
        return iter((self.a, self.b))


_SIOCGIFHWADDR = 0x8927


def _mac(ifname: str) -> str:
    """The MAC address of ``ifname`` in the calling thread's namespace (sysfs would show the
    namespace that mounted it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        out = fcntl.ioctl(s, _SIOCGIFHWADDR, struct.pack("16s16x", ifname.encode()))
    return out[18:24].hex(":")


def make_veth_pair(ns: NetNamespace, *, names: tuple[str, str] = ("veth0", "veth1"),
                   addrs: tuple[str, str] = ("10.11.0.1", "10.11.0.2"),
                   ipv6: bool = False) -> VethPair:
    """Create a veth pair in ``ns``, give each end its address in a /24 and bring both up.
    The pair goes with the namespace.

    Unless ``ipv6``, IPv6 is off on both ends, so that no neighbour discovery or MLD packet
    crosses the pair unasked: what a program attached there sees is what the test sent.

    Raises:
        OSError: ``ip`` is missing or refused.
    """
    with ns.enter():
        _run_ip("link", "add", names[0], "type", "veth", "peer", "name", names[1])
        ends = []
        for name, addr in zip(names, addrs, strict=True):
            if not ipv6:
                _write_sysctl(f"net/ipv6/conf/{name}/disable_ipv6", "1")
            _run_ip("addr", "add", f"{addr}/24", "dev", name)
            _set_up(name)
            ends.append(VethEnd(name, socket.if_nametoindex(name), addr, _mac(name)))
    return VethPair(ends[0], ends[1], ns)


# --- cgroup v2 -------------------------------------------------------------------------------

_CGROUP2_MAGIC = 0x63677270


def _is_cgroup2(path: str) -> bool:
    buf = ctypes.create_string_buffer(256)  # struct statfs; f_type first
    if _libc.statfs(os.fsencode(path), buf) != 0:
        return False
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF == _CGROUP2_MAGIC


def cgroup2_root() -> str:
    """Where cgroup v2 is mounted: ``/sys/fs/cgroup/unified`` (hybrid hierarchy) or
    ``/sys/fs/cgroup``, else the first ``cgroup2`` entry of ``/proc/self/mounts``.

    Raises:
        OSError: no cgroup v2 hierarchy is mounted (``ENOENT``).
    """
    for candidate in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        if _is_cgroup2(candidate):
            return candidate
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 2 and parts[2] == "cgroup2":
                return parts[1]
    raise OSError(errno.ENOENT, "no cgroup v2 hierarchy is mounted")


def _own_cgroup(root: str) -> str:
    """This process's cgroup v2 directory under ``root``."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                rel = line[3:].strip().lstrip("/")
                path = os.path.join(root, rel)
                if os.path.isdir(path):
                    return path
    return root


class Cgroup:
    """A new, empty cgroup v2 directory; :meth:`close` moves out what is left in it (back to
    the cgroup this process was in) and removes it.

    ``os.fspath(cgroup)`` is its path, so it goes wherever a cgroup path does
    (``ebpf.link.cgroup(cgroup, prog, ...)``).
    """

    def __init__(self, root: str | None = None, prefix: str = "ebpf-test") -> None:
        """Make the directory under ``root`` (default: :func:`cgroup2_root`).

        Raises:
            OSError: cgroup v2 is not mounted, or the directory cannot be made.
        """
        self.root = root if root is not None else cgroup2_root()
        self._home = _own_cgroup(self.root)
        self.path = os.path.join(self.root, f"{prefix}-{os.getpid()}-{secrets.token_hex(4)}")
        os.mkdir(self.path)
        self._closed = False

    @property
    def id(self) -> int:
        """The cgroup id (its directory's inode number), as ``bpf_get_current_cgroup_id()``
        returns it."""
        return os.stat(self.path).st_ino

    def open(self) -> int:
        """A new read-only descriptor of the directory (the caller closes it)."""
        return os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def add(self, pid: int = 0) -> None:
        """Move process ``pid`` (0: this one, all its threads) into the cgroup."""
        with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
            f.write(str(pid or os.getpid()))

    def pids(self) -> list[int]:
        """The processes in the cgroup now."""
        with open(os.path.join(self.path, "cgroup.procs")) as f:
            return [int(p) for p in f.read().split()]

    def close(self) -> None:
        """Move every process left inside back to where this process was, then remove the
        directory (idempotent). An exiting child may take a moment to leave: this waits up
        to a few seconds for the kernel to let the directory go.

        Raises:
            OSError: the directory still cannot be removed.
        """
        if self._closed:
            return
        deadline = time.monotonic() + 5
        while True:
            try:
                for pid in self.pids():
                    try:
                        with open(os.path.join(self._home, "cgroup.procs"), "w") as f:
                            f.write(str(pid))
                    except ProcessLookupError:
                        pass
                os.rmdir(self.path)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        self._closed = True

    def __fspath__(self) -> str:
        return self.path

    def __str__(self) -> str:
        return self.path

    def __enter__(self) -> Cgroup:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Cgroup {self.path}{' closed' if self._closed else ''}>"
