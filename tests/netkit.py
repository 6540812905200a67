"""Network namespaces, veth pairs and real traffic, for tests that attach programs to
interfaces.

Nothing here touches the host's own interfaces: a :class:`VethPair` has one end in each of two
fresh, uniquely named network namespaces (``ebpf-<pid>-<random>-a`` / ``-b``), and is deleted
with them. Setup uses ``ip`` from iproute2; everything else happens in this process.

A namespace is a property of a *thread* on Linux, so each :class:`Netns` keeps one worker
thread that has ``setns()`` into it; :meth:`Netns.run` runs a callable there. A socket belongs
to the namespace it was created in for its whole life, so sockets made with
:meth:`Netns.socket` (and netlink clients made with :meth:`Netns.netlink`) are then used from
the test's own thread.

The links are kept quiet so that a program counting packets counts exactly the test's
traffic: IPv6 is disabled in both namespaces (no neighbour discovery, router solicitations or
MLD reports) and each end has a permanent neighbour entry for the other (no ARP).

Fixtures: bind them to a name in a test module to use them there (a plain assignment, so that
linters do not take the test's parameter of the same name for a redefined import)::

    from tests import netkit
    from tests.netkit import VethPair, udp_delivered

    veth_pair = netkit.veth_pair

    def test_x(veth_pair: VethPair) -> None:
        assert udp_delivered(veth_pair.a, veth_pair.b, count=5) == 5
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import secrets
import select
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn, TypeVar

import pytest

from ebpf.internal.netlink import RtNetlink

T = TypeVar("T")

REQUIRE_KERNEL = os.environ.get("EBPF_REQUIRE_KERNEL") == "1"
CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = "/run/netns"
IF_OPER_UP = 6

_libc = ctypes.CDLL(None, use_errno=True)


class NetkitError(RuntimeError):
    """Setting up or tearing down test networking failed (not a failure of the code under
    test)."""


def unique_name(prefix: str = "ebpf") -> str:
    """A name no other test process picks: the prefix, our pid and a random suffix."""
    return f"{prefix}-{os.getpid()}-{secrets.token_hex(3)}"


def run_ip(*args: str, netns: str | None = None) -> str:
    """Run ``ip [-n netns] ARGS`` and return its output.

    Raises:
        NetkitError: ``ip`` failed; its error output is in the message.
    """
    cmd = ["ip", *(("-n", netns) if netns else ()), *args]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise NetkitError(f"{' '.join(cmd)}: {e}") from e
    if done.returncode != 0:
        raise NetkitError(f"{' '.join(cmd)}: exit status {done.returncode}: "
                          f"{done.stderr.strip()}")
    return done.stdout


def netns_names() -> set[str]:
    """The named network namespaces (what ``ip netns list`` shows)."""
    try:
        return set(os.listdir(NETNS_RUN_DIR))
    except FileNotFoundError:
        return set()


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns(CLONE_NEWNET): {os.strerror(err)}")


def _current_netns_inode() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


class Netns:
    """A named network namespace, with a worker thread inside it.

    Create it with :meth:`create` (or the ``netns`` fixture) and :meth:`close` it, which stops
    the thread and deletes the namespace with every interface in it.
    """

    def __init__(self, name: str) -> None:
        """Enter the existing named namespace ``name`` (which this object then deletes on
        :meth:`close`)."""
        self.name = name
        self._fd = os.open(os.path.join(NETNS_RUN_DIR, name), os.O_RDONLY | os.O_CLOEXEC)
        self._pool: ThreadPoolExecutor | None = None
        try:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"netns-{name}",
                                            initializer=_setns, initargs=(self._fd,))
            inode = self.run(_current_netns_inode)
            if inode != os.fstat(self._fd).st_ino:
                raise NetkitError(f"the worker thread of {name} is not in that namespace")
        except BaseException:
            self.close()
            raise

    @classmethod
    def create(cls, prefix: str = "ebpf", *, name: str | None = None) -> Netns:
        """A new, empty namespace with its loopback up, named ``name`` or else uniquely
        after ``prefix``."""
        name = name or unique_name(prefix)
        run_ip("netns", "add", name)
        try:
            ns = cls(name)
        except BaseException:
            with contextlib.suppress(NetkitError):
                run_ip("netns", "delete", name)
            raise
        try:
            ns.ip("link", "set", "lo", "up")
        except BaseException:
            ns.close()
            raise
        return ns

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call ``fn(*args, **kwargs)`` in this namespace (on its worker thread) and return
        its result or raise its exception."""
        if self._pool is None:
            raise NetkitError(f"namespace {self.name} is closed")
        return self._pool.submit(fn, *args, **kwargs).result(timeout=60)

    def ip(self, *args: str) -> str:
        """``ip -n NAME ARGS``."""
        return run_ip(*args, netns=self.name)

    def socket(self, family: int = socket.AF_INET, type: int = socket.SOCK_DGRAM,
               proto: int = 0) -> socket.socket:
        """A new socket in this namespace (the caller owns and closes it)."""
        return self.run(socket.socket, family, type, proto)

    def netlink(self) -> RtNetlink:
        """A new rtnetlink client in this namespace (the caller owns and closes it)."""
        return self.run(RtNetlink)

    def sysctl(self, key: str, value: str) -> None:
        """Set ``net.*`` sysctl ``key`` (dotted) in this namespace."""
        path = "/proc/sys/" + key.replace(".", "/")

        def write() -> None:
            with open(path, "w") as f:
                f.write(value)

        self.run(write)

    def read_sysctl(self, key: str) -> str:
        path = "/proc/sys/" + key.replace(".", "/")

        def read() -> str:
            with open(path) as f:
                return f.read().strip()

        return self.run(read)

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def close(self) -> None:
        """Stop the worker thread and delete the namespace (and its interfaces)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
            if self.name in netns_names():
                run_ip("netns", "delete", self.name)

    def __enter__(self) -> Netns:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Netns {self.name}{' closed' if self.closed else ''}>"


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One end of a veth pair: its namespace, interface and IPv4 address."""

    ns: Netns
    ifname: str
    ifindex: int
    addr: str
    mac: str


@dataclasses.dataclass(frozen=True)
class VethPair:
    """A veth pair with end ``a`` in one namespace and end ``b`` in another."""

    a: Endpoint
    b: Endpoint

    def ends(self, direction: str) -> tuple[Endpoint, Endpoint]:
        """``(sender, receiver)`` for ``"a->b"`` or ``"b->a"``."""
        if direction == "a->b":
            return self.a, self.b
        if direction == "b->a":
            return self.b, self.a
        raise ValueError(f"direction must be 'a->b' or 'b->a', not {direction!r}")


def _quiet(ns: Netns) -> None:
    for key in ("net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"):
        ns.sysctl(key, "1")


@contextlib.contextmanager
def make_veth_pair(prefix: str = "ebpf", *, addr_a: str = "203.0.113.1",
                   addr_b: str = "203.0.113.2") -> Iterator[VethPair]:
    """Two new namespaces joined by a veth pair (``veth-a`` in one, ``veth-b`` in the
    other), both ends up with an address in a /24, a permanent neighbour entry for the other
    end, and IPv6 off. Everything is deleted on exit, also on error."""
    with contextlib.ExitStack() as stack:
        base = unique_name(prefix)
        ns_a = stack.enter_context(Netns.create(name=f"{base}-a"))
        ns_b = stack.enter_context(Netns.create(name=f"{base}-b"))
        for ns in (ns_a, ns_b):
            _quiet(ns)
        ns_a.ip("link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b",
                "netns", ns_b.name)
        ends = []
        for ns, ifname, addr in ((ns_a, "veth-a", addr_a), (ns_b, "veth-b", addr_b)):
            ns.ip("addr", "add", f"{addr}/24", "dev", ifname)
            with ns.netlink() as nl:
                link = nl.link(ifname)
            ends.append((ns, ifname, link.index, addr, link.address.hex(":")))
        a = Endpoint(*ends[0])
        b = Endpoint(*ends[1])
        for here, there in ((a, b), (b, a)):
            here.ns.ip("neigh", "replace", there.addr, "lladdr", there.mac, "dev", here.ifname,
                       "nud", "permanent")
        for end in (a, b):
            end.ns.ip("link", "set", end.ifname, "up")
        for end in (a, b):
            wait_until_up(end)
        yield VethPair(a, b)


def wait_until_up(end: Endpoint, timeout: float = 10.0) -> None:
    """Wait until ``end``'s interface is operationally up.

    Until the kernel's link watcher has run after ``ip link set up`` (it may wait up to a
    second), the interface still has the "noop" qdisc, which drops whatever is sent.
    """
    deadline = time.monotonic() + timeout
    with end.ns.netlink() as nl:
        while nl.link(end.ifindex).operstate != IF_OPER_UP:
            if time.monotonic() > deadline:
                raise NetkitError(f"{end.ifname} in {end.ns.name} is not up after {timeout} s")
            time.sleep(0.01)


# --- traffic ---------------------------------------------------------------------------------

def udp_receiver(end: Endpoint, port: int = 0) -> socket.socket:
    """A UDP socket bound to ``end``'s address (``port`` 0: any free one); caller closes it."""
    sock = end.ns.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((end.addr, port))
    except BaseException:
        sock.close()
        raise
    return sock


def receive_all(sock: socket.socket, count: int, timeout: float) -> list[bytes]:
    """Datagrams from ``sock`` until ``count`` arrived or none came for ``timeout`` s."""
    got: list[bytes] = []
    while len(got) < count:
        ready, _, _ = select.select([sock], [], [], timeout)
        if not ready:
            break
        got.append(sock.recv(65536))
    return got


def udp_send(src: Endpoint, dst: Endpoint, port: int, payloads: list[bytes]) -> None:
    """Send each of ``payloads`` as one datagram from ``src`` to ``dst``:``port``."""
    with src.ns.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((src.addr, 0))
        for p in payloads:
            sock.sendto(p, (dst.addr, port))


def udp_delivered(src: Endpoint, dst: Endpoint, count: int = 5, *,
                  timeout: float = 1.0) -> int:
    """Send ``count`` distinct datagrams from ``src`` to ``dst`` and return how many
    arrived (each checked to be one that was sent). Waits up to ``timeout`` s for stragglers
    (that is how long a test waits to be sure that dropped packets stay dropped)."""
    payloads = [f"netkit {i} {secrets.token_hex(4)}".encode() for i in range(count)]
    with udp_receiver(dst) as rx:
        port = rx.getsockname()[1]
        udp_send(src, dst, port, payloads)
        got = receive_all(rx, count, timeout)
    assert set(got) <= set(payloads), f"unexpected datagrams: {set(got) - set(payloads)}"
    return len(got)


def tcp_exchange(src: Endpoint, dst: Endpoint, *, timeout: float = 2.0) -> bool:
    """Connect from ``src`` to a listener on ``dst``, send a line and read the echo back.
    True if the whole exchange worked within ``timeout`` s, False if it timed out or was
    refused."""
    with dst.ns.socket(socket.AF_INET, socket.SOCK_STREAM) as listener, \
            src.ns.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        listener.bind((dst.addr, 0))
        listener.listen(1)
        listener.settimeout(timeout)
        client.settimeout(timeout)
        message = f"netkit tcp {secrets.token_hex(4)}\n".encode()
        try:
            client.connect(listener.getsockname())
            server, _ = listener.accept()
            with server:
                server.settimeout(timeout)
                client.sendall(message)
                data = b""
                while len(data) < len(message):
                    chunk = server.recv(len(message) - len(data))
                    if not chunk:
                        return False
                    data += chunk
                server.sendall(data)
                back = b""
                while len(back) < len(message):
                    chunk = client.recv(len(message) - len(back))
                    if not chunk:
                        return False
                    back += chunk
            return back == message
        except (TimeoutError, ConnectionError):
            return False


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmp_echo(src: Endpoint, dst: Endpoint, count: int = 3, *, timeout: float = 1.0) -> int:
    """Send ``count`` ICMP echo requests from ``src`` to ``dst`` and return how many replies
    came back (waiting up to ``timeout`` s after the last request)."""
    ident = secrets.randbits(16)
    with src.ns.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.bind((src.addr, 0))
        for seq in range(count):
            body = f"netkit icmp {seq}".encode()
            header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
            packet = struct.pack("!BBHHH", 8, 0, _checksum(header + body), ident, seq) + body
            sock.sendto(packet, (dst.addr, 0))
        replies: set[int] = set()
        deadline = time.monotonic() + timeout
        while len(replies) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([sock], [], [], left)
            if not ready:
                break
            data, (addr, _) = sock.recvfrom(65536)
            ihl = (data[0] & 0x0F) * 4
            icmp = data[ihl:ihl + 8]
            if addr != dst.addr or len(icmp) < 8:
                continue
            kind, _code, _sum, rid, rseq = struct.unpack("!BBHHH", icmp)
            if kind == 0 and rid == ident:
                replies.add(rseq)
    return len(replies)


# --- fixtures ----------------------------------------------------------------------------------

def _unavailable(e: BaseException) -> NoReturn:
    reason = f"cannot set up network namespaces: {e}"
    if REQUIRE_KERNEL:
        pytest.fail(f"EBPF_REQUIRE_KERNEL=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def netns() -> Iterator[Netns]:
    """A fresh network namespace, deleted after the test."""
    try:
        ns = Netns.create()
    except (NetkitError, OSError) as e:
        _unavailable(e)
    with ns:
        yield ns


@pytest.fixture
def veth_pair() -> Iterator[VethPair]:
    """A quiet veth pair between two fresh namespaces (see :func:`make_veth_pair`)."""
    with contextlib.ExitStack() as stack:
        try:
            pair = stack.enter_context(make_veth_pair())
        except (NetkitError, OSError) as e:
            _unavailable(e)
        yield pair
