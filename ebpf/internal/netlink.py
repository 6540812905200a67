"""A small rtnetlink client: interfaces, legacy XDP attachment, and tc ``clsact`` BPF filters.

This is what attaching XDP and tc programs needs where the kernel has no bpf_link for it (and
what ``query`` needs to see attachments made by other tools). It speaks ``NETLINK_ROUTE``
directly: no iproute2, no pyroute2.

Usage::

    with RtNetlink() as nl:
        ifindex = nl.interface_index("eth0")
        nl.xdp_attach(ifindex, prog.fd, flags=XdpFlags.SKB_MODE)
        state = nl.xdp_query(ifindex)
        nl.xdp_detach(ifindex, flags=XdpFlags.SKB_MODE)

        nl.clsact_add(ifindex)
        f = nl.tc_filter_add(ifindex, ClsactHook.INGRESS, cls.fd, name="my_cls")
        nl.tc_filter_delete(ifindex, ClsactHook.INGRESS, priority=f.priority, handle=f.handle)

A :class:`RtNetlink` belongs to the network namespace of the thread that created it, for its
whole life: every interface index it takes or returns is one of that namespace.

Every request asks for an acknowledgement and turns a refusal into a :class:`NetlinkError`
holding the errno and the kernel's extended-ack message (``NETLINK_EXT_ACK``), such as
``"XDP program already attached"``. What the kernel sends back is parsed with every length
checked; a malformed reply is an :class:`EbpfError`, never an ``IndexError`` or
``struct.error``.

Messages are in the host's byte order, as netlink is (only the protocol field of ``tcm_info``
is in network order). The layouts are those of ``linux/netlink.h``, ``rtnetlink.h``,
``if_link.h``, ``pkt_sched.h`` and ``pkt_cls.h``.
"""

from __future__ import annotations

import enum
import errno
import socket
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import ClosedError, EbpfError, NetlinkError, SyscallError

__all__ = [
    "ETH_P_ALL",
    "TC_H_CLSACT",
    "TC_H_MIN_EGRESS",
    "TC_H_MIN_INGRESS",
    "ClsactHook",
    "LinkInfo",
    "Message",
    "Replies",
    "RtNetlink",
    "TcFilter",
    "XdpAttached",
    "XdpFlags",
    "XdpState",
    "attr",
    "attr_nested",
    "attr_s32",
    "attr_str",
    "attr_u32",
    "decode_error",
    "decode_messages",
    "encode_message",
    "parse_attrs",
    "parse_filter",
    "parse_link",
    "parse_tcmsg",
    "parse_xdp_state",
    "tc_handle",
]

# --- linux/netlink.h ---------------------------------------------------------------------------

NETLINK_ROUTE = 0
SOL_NETLINK = 270                   # bits/socket.h; not in Python's socket module
NETLINK_CAP_ACK = 10                # error acks echo only the request's header
NETLINK_EXT_ACK = 11                # error acks carry the kernel's message (Linux 4.12+)
NETLINK_GET_STRICT_CHK = 12         # strict checking of get requests (Linux 4.20+)

NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_ACK = 0x04
NLM_F_ECHO = 0x08
NLM_F_DUMP_INTR = 0x10
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_CAPPED = 0x100                # in an error ack: the request's payload is left out
NLM_F_ACK_TLVS = 0x200              # in an error ack: extended-ack attributes follow

NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4

NLMSGERR_ATTR_MSG = 1
NLMSGERR_ATTR_OFFS = 2

NLA_F_NESTED = 1 << 15
NLA_F_NET_BYTEORDER = 1 << 14
NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xFFFF

# --- linux/rtnetlink.h -------------------------------------------------------------------------

RTM_NEWLINK = 16
RTM_GETLINK = 18
RTM_SETLINK = 19
RTM_NEWQDISC = 36
RTM_DELQDISC = 37
RTM_GETQDISC = 38
RTM_NEWTFILTER = 44
RTM_DELTFILTER = 45
RTM_GETTFILTER = 46

TCA_KIND = 1
TCA_OPTIONS = 2
TCA_CHAIN = 11

# --- linux/if_link.h ---------------------------------------------------------------------------

IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_OPERSTATE = 16
IFLA_XDP = 43

IFLA_XDP_FD = 1
IFLA_XDP_ATTACHED = 2
IFLA_XDP_FLAGS = 3
IFLA_XDP_PROG_ID = 4
IFLA_XDP_DRV_PROG_ID = 5
IFLA_XDP_SKB_PROG_ID = 6
IFLA_XDP_HW_PROG_ID = 7
IFLA_XDP_EXPECTED_FD = 8

IFNAMSIZ = 16

# --- linux/pkt_sched.h, linux/pkt_cls.h, linux/if_ether.h --------------------------------------

TC_H_CLSACT = 0xFFFFFFF1            # == TC_H_INGRESS
TC_H_MIN_INGRESS = 0xFFF2
TC_H_MIN_EGRESS = 0xFFF3

TCA_BPF_FD = 6
TCA_BPF_NAME = 7
TCA_BPF_FLAGS = 8
TCA_BPF_FLAGS_GEN = 9
TCA_BPF_TAG = 10
TCA_BPF_ID = 11
TCA_BPF_FLAG_ACT_DIRECT = 1 << 0
BPF_NAME_MAX = 256                  # ACT_BPF_NAME_LEN: cls_bpf refuses longer names

ETH_P_ALL = 0x0003

# --- wire layouts (host byte order, as netlink is) ---------------------------------------------

_NLMSGHDR = struct.Struct("=IHHII")       # len, type, flags, seq, pid
_NLATTR = struct.Struct("=HH")            # len, type
_IFINFOMSG = struct.Struct("=BxHiII")     # family, pad, type, index, flags, change
_TCMSG = struct.Struct("=BxxxiIII")       # family, pad, pad, ifindex, handle, parent, info
_U8 = struct.Struct("=B")
_U32 = struct.Struct("=I")
_S32 = struct.Struct("=i")

_MAX_DATAGRAM = 1 << 24                   # far above anything rtnetlink sends in one datagram
_MAX_DUMP_RETRIES = 5

_MESSAGE_NAMES = {
    RTM_NEWLINK: "RTM_NEWLINK", RTM_GETLINK: "RTM_GETLINK", RTM_SETLINK: "RTM_SETLINK",
    RTM_NEWQDISC: "RTM_NEWQDISC", RTM_DELQDISC: "RTM_DELQDISC", RTM_GETQDISC: "RTM_GETQDISC",
    RTM_NEWTFILTER: "RTM_NEWTFILTER", RTM_DELTFILTER: "RTM_DELTFILTER",
    RTM_GETTFILTER: "RTM_GETTFILTER",
}


def tc_handle(major: int, minor: int) -> int:
    """``TC_H_MAKE``: a tc handle from its major (upper 16 bits kept) and minor halves."""
    return (major & 0xFFFF0000) | (minor & 0x0000FFFF)


class XdpFlags(enum.IntFlag):
    """``XDP_FLAGS_*`` of ``IFLA_XDP_FLAGS``: the attach mode and the update conditions."""

    UPDATE_IF_NOEXIST = 1 << 0      # fail with EBUSY if a program is attached in this mode
    SKB_MODE = 1 << 1               # generic XDP, in the stack (works on any device)
    DRV_MODE = 1 << 2               # native XDP, in the driver
    HW_MODE = 1 << 3                # offloaded to the device
    REPLACE = 1 << 4                # replace only the program given as the expected one

    @classmethod
    def modes(cls) -> XdpFlags:
        return cls.SKB_MODE | cls.DRV_MODE | cls.HW_MODE


class XdpAttached(enum.IntEnum):
    """``XDP_ATTACHED_*`` of ``IFLA_XDP_ATTACHED``: how programs are attached to a device."""

    NONE = 0
    DRV = 1
    SKB = 2
    HW = 3
    MULTI = 4                       # more than one mode: see the per-mode program ids


class ClsactHook(enum.IntEnum):
    """The two hooks of the ``clsact`` qdisc, as the ``tcm_parent`` of a filter."""

    INGRESS = (TC_H_CLSACT & 0xFFFF0000) | TC_H_MIN_INGRESS
    EGRESS = (TC_H_CLSACT & 0xFFFF0000) | TC_H_MIN_EGRESS


@dataclass(frozen=True)
class XdpState:
    """What XDP programs an interface has (``IFLA_XDP`` of ``RTM_GETLINK``).

    Attributes:
        attached: the mode, or :attr:`XdpAttached.MULTI` when programs are attached in several.
        prog_id: the id of the program when only one mode is used, else 0.
        skb_prog_id, drv_prog_id, hw_prog_id: the program id in each mode, 0 where none.
    """

    attached: XdpAttached | int
    prog_id: int
    skb_prog_id: int
    drv_prog_id: int
    hw_prog_id: int

    @property
    def prog_ids(self) -> tuple[int, ...]:
        """The ids of every attached program, in the order generic, driver, offload."""
        return tuple(i for i in (self.skb_prog_id, self.drv_prog_id, self.hw_prog_id) if i)


@dataclass(frozen=True)
class LinkInfo:
    """An interface, as ``RTM_GETLINK`` describes it (the parts this module needs).

    Attributes:
        index: the interface index.
        name: the interface name.
        flags: ``IFF_*`` flags (``IFF_UP`` is 1).
        address: the link-layer address (the MAC address of an Ethernet device), or ``b""``.
        operstate: the RFC 2863 operational state (``IF_OPER_UP`` is 6, ``UNKNOWN`` 0).
        xdp: its XDP programs.
    """

    index: int
    name: str
    flags: int
    address: bytes
    operstate: int
    xdp: XdpState


@dataclass(frozen=True)
class TcFilter:
    """A tc filter on a hook (a ``RTM_NEWTFILTER`` message of a dump or an echo).

    Attributes:
        ifindex: the interface.
        parent: the ``tcm_parent`` it hangs from (e.g. :attr:`ClsactHook.INGRESS`).
        priority: its priority (also called preference), 1..65535.
        protocol: the ``ETH_P_*`` it matches, in host order (:data:`ETH_P_ALL` for all).
        handle: its handle within the priority.
        kind: the classifier, ``"bpf"`` for BPF filters.
        chain: the filter chain (0 unless chains are used).
        prog_id: for a BPF filter, the id of its program.
        prog_name: for a BPF filter, the name it was given when added (``TCA_BPF_NAME``).
        prog_tag: for a BPF filter, the program's tag as 16 hex digits.
        direct_action: for a BPF filter, whether the program's return value is the verdict.
    """

    ifindex: int
    parent: int
    priority: int
    protocol: int
    handle: int
    kind: str
    chain: int = 0
    prog_id: int | None = None
    prog_name: str | None = None
    prog_tag: str | None = None
    direct_action: bool = False


# --- encoding --------------------------------------------------------------------------------

def _align(n: int) -> int:
    return (n + 3) & ~3


def attr(type: int, payload: bytes) -> bytes:
    """One attribute (``struct nlattr`` + payload), padded to a multiple of four bytes."""
    length = _NLATTR.size + len(payload)
    if length > 0xFFFF:
        raise EbpfError(f"netlink attribute {type & NLA_TYPE_MASK}: payload of "
                        f"{len(payload)} bytes is too long for an attribute")
    return _NLATTR.pack(length, type) + payload + bytes(_align(length) - length)


def attr_u32(type: int, value: int) -> bytes:
    """An attribute holding an unsigned 32-bit integer."""
    return attr(type, _U32.pack(value))


def attr_s32(type: int, value: int) -> bytes:
    """An attribute holding a signed 32-bit integer (such as a file descriptor or -1)."""
    return attr(type, _S32.pack(value))


def attr_str(type: int, value: str) -> bytes:
    """An attribute holding a NUL-terminated string."""
    return attr(type, value.encode() + b"\0")


def attr_nested(type: int, children: Iterable[bytes]) -> bytes:
    """An attribute holding the attributes ``children``, marked ``NLA_F_NESTED``."""
    return attr(type | NLA_F_NESTED, b"".join(children))


def encode_message(type: int, flags: int, seq: int, payload: bytes, pid: int = 0) -> bytes:
    """One netlink message: ``struct nlmsghdr`` followed by ``payload`` (padded)."""
    length = _NLMSGHDR.size + len(payload)
    return (_NLMSGHDR.pack(length, type, flags, seq & 0xFFFFFFFF, pid) + payload
            + bytes(_align(length) - length))


# --- decoding --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Message:
    """One received netlink message: its header fields and the payload after the header."""

    type: int
    flags: int
    seq: int
    pid: int
    payload: bytes


def decode_messages(data: bytes | bytearray | memoryview) -> list[Message]:
    """The messages of one datagram, each length checked against what was received.

    Raises:
        EbpfError: a header is cut short or claims more bytes than there are.
    """
    view = memoryview(data)
    out: list[Message] = []
    offset = 0
    end = len(view)
    while offset < end:
        if end - offset < _NLMSGHDR.size:
            raise EbpfError(f"netlink reply: {end - offset} stray bytes at offset {offset}, "
                            f"less than a message header")
        length, type, flags, seq, pid = _NLMSGHDR.unpack_from(view, offset)
        if length < _NLMSGHDR.size or length > end - offset:
            raise EbpfError(f"netlink reply: message at offset {offset} claims {length} bytes, "
                            f"but {end - offset} remain")
        out.append(Message(type, flags, seq, pid,
                           bytes(view[offset + _NLMSGHDR.size:offset + length])))
        offset += min(_align(length), end - offset)
    return out


def parse_attrs(data: bytes | memoryview, what: str = "attributes") -> dict[int, bytes]:
    """The attributes packed in ``data``, by type (the nested/byte-order flags masked off).

    A type that occurs more than once keeps its last value, as the kernel's own parser does.

    Raises:
        EbpfError: an attribute's length is below the header's or runs past ``data``.
    """
    view = memoryview(data)
    out: dict[int, bytes] = {}
    offset = 0
    end = len(view)
    while offset < end:
        if end - offset < _NLATTR.size:
            raise EbpfError(f"netlink {what}: {end - offset} stray bytes at offset {offset}")
        length, type = _NLATTR.unpack_from(view, offset)
        if length < _NLATTR.size or length > end - offset:
            raise EbpfError(f"netlink {what}: attribute {type & NLA_TYPE_MASK} at offset "
                            f"{offset} claims {length} bytes, but {end - offset} remain")
        out[type & NLA_TYPE_MASK] = bytes(view[offset + _NLATTR.size:offset + length])
        offset += min(_align(length), end - offset)
    return out


def _u8(attrs: dict[int, bytes], type: int, what: str, default: int = 0) -> int:
    raw = attrs.get(type)
    if raw is None:
        return default
    if len(raw) < 1:
        raise EbpfError(f"netlink {what}: attribute {type} is empty, expected a u8")
    return int(raw[0])


def _u32(attrs: dict[int, bytes], type: int, what: str, default: int = 0) -> int:
    raw = attrs.get(type)
    if raw is None:
        return default
    if len(raw) < 4:
        raise EbpfError(f"netlink {what}: attribute {type} has {len(raw)} bytes, expected "
                        f"a u32")
    return int(_U32.unpack_from(raw)[0])


def _string(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _str_attr(attrs: dict[int, bytes], type: int) -> str | None:
    raw = attrs.get(type)
    return None if raw is None else _string(raw)


def decode_error(msg: Message) -> tuple[int, str, int | None]:
    """The errno (positive, 0 for an acknowledgement), the extended-ack message (``""`` if
    none) and the offset of the offending attribute in the request (if given) of an
    ``NLMSG_ERROR`` message, or of the trailer of an ``NLMSG_DONE`` one.

    Raises:
        EbpfError: the message is too short for what its flags say it holds.
    """
    what = "error message" if msg.type == NLMSG_ERROR else "end of dump"
    payload = msg.payload
    if msg.type == NLMSG_DONE and not payload:
        return 0, "", None                   # some families end a dump with an empty DONE
    if len(payload) < _S32.size:
        raise EbpfError(f"netlink {what}: {len(payload)} bytes, too short for an error code")
    err = -int(_S32.unpack_from(payload)[0])
    if msg.type != NLMSG_ERROR:
        rest = 4
    else:
        # After the code: the request's header, and its payload too unless the ack is capped
        # (it always is for a success, or with NETLINK_CAP_ACK).
        if len(payload) < 4 + _NLMSGHDR.size:
            raise EbpfError(f"netlink {what}: {len(payload)} bytes, too short for the "
                            f"request header it must echo")
        request_len = int(_U32.unpack_from(payload, 4)[0])
        if err == 0 or msg.flags & NLM_F_CAPPED:
            rest = 4 + _NLMSGHDR.size
        else:
            if request_len < _NLMSGHDR.size:
                raise EbpfError(f"netlink {what}: echoed request claims {request_len} bytes")
            rest = 4 + _align(request_len)
        if rest > len(payload):
            raise EbpfError(f"netlink {what}: echoed request of {request_len} bytes runs past "
                            f"the message ({len(payload)} bytes)")
    if not msg.flags & NLM_F_ACK_TLVS or rest >= len(payload):
        return err, "", None
    tlvs = parse_attrs(payload[rest:], f"{what} attributes")
    message = _str_attr(tlvs, NLMSGERR_ATTR_MSG) or ""
    offset = _u32(tlvs, NLMSGERR_ATTR_OFFS, what) if NLMSGERR_ATTR_OFFS in tlvs else None
    return err, message.strip(), offset


def parse_xdp_state(raw: bytes | None) -> XdpState:
    """An :class:`XdpState` from the payload of an ``IFLA_XDP`` attribute (None: no XDP)."""
    if raw is None:
        return XdpState(XdpAttached.NONE, 0, 0, 0, 0)
    what = "IFLA_XDP"
    xdp = parse_attrs(raw, what)
    mode = _u8(xdp, IFLA_XDP_ATTACHED, what)
    try:
        attached: XdpAttached | int = XdpAttached(mode)
    except ValueError:
        attached = mode
    return XdpState(attached, _u32(xdp, IFLA_XDP_PROG_ID, what),
                    _u32(xdp, IFLA_XDP_SKB_PROG_ID, what), _u32(xdp, IFLA_XDP_DRV_PROG_ID, what),
                    _u32(xdp, IFLA_XDP_HW_PROG_ID, what))


def parse_link(msg: Message) -> LinkInfo:
    """A :class:`LinkInfo` from an ``RTM_NEWLINK`` message."""
    if len(msg.payload) < _IFINFOMSG.size:
        raise EbpfError(f"netlink RTM_NEWLINK: {len(msg.payload)} bytes, too short for "
                        f"struct ifinfomsg")
    _family, _type, index, flags, _change = _IFINFOMSG.unpack_from(msg.payload)
    attrs = parse_attrs(msg.payload[_align(_IFINFOMSG.size):], "RTM_NEWLINK attributes")
    name = _str_attr(attrs, IFLA_IFNAME)
    if name is None:
        raise EbpfError(f"netlink RTM_NEWLINK: interface {index} has no IFLA_IFNAME")
    return LinkInfo(index, name, flags, attrs.get(IFLA_ADDRESS, b""),
                    _u8(attrs, IFLA_OPERSTATE, "RTM_NEWLINK"), parse_xdp_state(attrs.get(IFLA_XDP)))


def parse_tcmsg(msg: Message) -> tuple[int, int, int, int, dict[int, bytes]]:
    """``(ifindex, handle, parent, info, attributes)`` of a tc message."""
    if len(msg.payload) < _TCMSG.size:
        raise EbpfError(f"netlink tc message: {len(msg.payload)} bytes, too short for "
                        f"struct tcmsg")
    _family, ifindex, handle, parent, info = _TCMSG.unpack_from(msg.payload)
    attrs = parse_attrs(msg.payload[_align(_TCMSG.size):], "tc attributes")
    return ifindex, handle, parent, info, attrs


def parse_filter(msg: Message) -> TcFilter:
    """A :class:`TcFilter` from an ``RTM_NEWTFILTER`` message."""
    ifindex, handle, parent, info, attrs = parse_tcmsg(msg)
    kind = _str_attr(attrs, TCA_KIND) or ""
    priority = info >> 16
    protocol = socket.ntohs(info & 0xFFFF)
    chain = _u32(attrs, TCA_CHAIN, "tc filter")
    if kind != "bpf" or TCA_OPTIONS not in attrs:
        return TcFilter(ifindex, parent, priority, protocol, handle, kind, chain)
    what = "tc filter TCA_OPTIONS"
    opts = parse_attrs(attrs[TCA_OPTIONS], what)
    tag = opts.get(TCA_BPF_TAG)
    return TcFilter(
        ifindex, parent, priority, protocol, handle, kind, chain,
        prog_id=_u32(opts, TCA_BPF_ID, what) if TCA_BPF_ID in opts else None,
        prog_name=_str_attr(opts, TCA_BPF_NAME),
        prog_tag=None if tag is None else tag.hex(),
        direct_action=bool(_u32(opts, TCA_BPF_FLAGS, what) & TCA_BPF_FLAG_ACT_DIRECT))


class Replies:
    """Collects the answer to one request from the datagrams the socket receives.

    :meth:`feed` takes each datagram and says when the answer is complete: the acknowledgement
    of a request, or the ``NLMSG_DONE`` of a dump. Messages with another sequence number (late
    answers to an abandoned request) are skipped.

    Attributes:
        messages: the replies so far, without the acknowledgement or ``NLMSG_DONE``.
        interrupted: the kernel flagged the dump as inconsistent (``NLM_F_DUMP_INTR``): it
            changed while it was read, and should be asked for again.
    """

    _MAX_REPLIES = 1024            # to a request that is not a dump; rtnetlink sends one or two

    def __init__(self, type: int, seq: int, *, dump: bool, context: str = "") -> None:
        self.type = type
        self.seq = seq
        self.dump = dump
        self.context = context
        self.messages: list[Message] = []
        self.interrupted = False
        self.done = False

    def feed(self, datagram: bytes | bytearray | memoryview) -> bool:
        """Take one received datagram; True once the answer is complete.

        Raises:
            NetlinkError: the kernel answered with an error.
            EbpfError: the datagram is malformed, or more came than a request can have.
        """
        if self.done:
            raise EbpfError(f"{self._what()}: answer already complete")
        for msg in decode_messages(datagram):
            if msg.seq != self.seq:
                continue
            if msg.flags & NLM_F_DUMP_INTR:
                self.interrupted = True
            if msg.type == NLMSG_NOOP:
                continue
            if msg.type == NLMSG_OVERRUN:
                raise EbpfError(f"{self._what()}: netlink reported an overrun")
            if msg.type in (NLMSG_ERROR, NLMSG_DONE):
                err, extack, _offset = decode_error(msg)
                if err:
                    raise NetlinkError(err, _name(self.type), self.context, extack)
                if msg.type == NLMSG_DONE or not self.dump:
                    self.done = True
                    return True
                continue
            self.messages.append(msg)
            if not self.dump and len(self.messages) > self._MAX_REPLIES:
                raise EbpfError(f"{self._what()}: more than {self._MAX_REPLIES} replies to "
                                f"one request")
        return False

    def _what(self) -> str:
        return self.context or _name(self.type)


# --- argument checks -------------------------------------------------------------------------

def _check_int(value: object, what: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise EbpfError(f"{what} must be an integer in [{lo}, {hi}], not {value!r}")
    return int(value)


def _check_ifindex(ifindex: object) -> int:
    return _check_int(ifindex, "interface index", 1, 0x7FFFFFFF)


def _check_fd(fd: object, what: str) -> int:
    return _check_int(fd, what, 0, 0x7FFFFFFF)


def _check_name(name: str) -> str:
    if not isinstance(name, str):
        raise EbpfError(f"interface must be a name or an index, not {name!r}")
    encoded = name.encode("utf-8", "surrogateescape")
    if not encoded or len(encoded) >= IFNAMSIZ or b"\0" in encoded or b"/" in encoded \
            or any(c in encoded for c in b" \t\n\r\v\f:") or name in (".", ".."):
        raise EbpfError(f"{name!r} is not a valid interface name (1 to {IFNAMSIZ - 1} bytes, "
                        f"without '/', ':', NUL or white space)")
    return name


# --- the socket ------------------------------------------------------------------------------

class RtNetlink:
    """One ``NETLINK_ROUTE`` socket and the requests this library makes over it.

    The socket is close-on-exec and is closed by :meth:`close` or by leaving a ``with`` block.
    It lives in the network namespace of the thread that created it. Requests from several
    threads are serialised. Each request waits at most ``timeout`` seconds for the kernel.
    """

    def __init__(self, *, timeout: float = 10.0) -> None:
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                 NETLINK_ROUTE)
        except OSError as e:
            raise SyscallError(e.errno or errno.EINVAL, "socket",
                               "open a NETLINK_ROUTE socket") from e
        try:
            for option in (NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK):
                try:
                    sock.setsockopt(SOL_NETLINK, option, 1)
                except OSError as e:     # older kernels: go on without the option
                    if e.errno != errno.ENOPROTOOPT:
                        raise
            sock.bind((0, 0))
            sock.settimeout(timeout)
        except OSError as e:
            sock.close()
            raise SyscallError(e.errno or errno.EINVAL, "setsockopt/bind",
                               "set up a NETLINK_ROUTE socket") from e
        except BaseException:
            sock.close()
            raise
        self._sock: socket.socket | None = sock
        self._timeout = timeout
        self._seq = 0
        self._buf = bytearray(65536)
        self._lock = threading.Lock()

    # -- ownership

    @property
    def closed(self) -> bool:
        return self._sock is None

    def close(self) -> None:
        """Close the socket. Calling it again does nothing."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def __enter__(self) -> RtNetlink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def fileno(self) -> int:
        """The socket's descriptor number (lent, not given)."""
        return self._socket().fileno()

    def _socket(self) -> socket.socket:
        sock = self._sock
        if sock is None:
            raise ClosedError("the netlink socket is closed")
        return sock

    # -- requests

    def request(self, type: int, payload: bytes, *, flags: int = 0,
                context: str = "") -> list[Message]:
        """Send one request and return the kernel's replies to it (not the final ack).

        ``flags`` are added to ``NLM_F_REQUEST``, and ``NLM_F_ACK`` unless they ask for a dump
        (``NLM_F_DUMP``), which ends with ``NLMSG_DONE`` instead. Every part of a dump is
        returned; a dump the kernel flags as inconsistent is asked for again.

        Raises:
            NetlinkError: the kernel refused the request (``errno`` and ``extack`` say why).
            EbpfError: no answer within the timeout, or a malformed one.
        """
        with self._lock:
            for _ in range(_MAX_DUMP_RETRIES):
                replies = self._exchange(type, payload, flags, context)
                if replies is not None:
                    return replies
        raise EbpfError(f"{context or _name(type)}: the dump kept changing while it was read "
                        f"({_MAX_DUMP_RETRIES} tries)")

    def _exchange(self, type: int, payload: bytes, flags: int,
                  context: str) -> list[Message] | None:
        sock = self._socket()
        dump = flags & NLM_F_DUMP == NLM_F_DUMP
        self._seq = (self._seq % 0xFFFFFFFF) + 1
        seq = self._seq
        # A dump ends with NLMSG_DONE; an ack on top of it would only be one more message.
        data = encode_message(type, flags | NLM_F_REQUEST | (0 if dump else NLM_F_ACK), seq,
                              payload)
        try:
            sock.sendto(data, (0, 0))
        except OSError as e:
            raise SyscallError(e.errno or errno.EIO, "sendto",
                               context or f"send {_name(type)}") from e
        replies = Replies(type, seq, dump=dump, context=context)
        while not replies.feed(self._receive(type, context)):
            pass
        return None if replies.interrupted else replies.messages

    def _receive(self, type: int, context: str) -> memoryview:
        sock = self._socket()
        try:
            size = sock.recv_into(self._buf, 0, socket.MSG_PEEK | socket.MSG_TRUNC)
            if size > len(self._buf):
                if size > _MAX_DATAGRAM:
                    sock.recv_into(self._buf, 1)            # drop it, or it stays first
                    raise EbpfError(f"{context or _name(type)}: netlink datagram of {size} "
                                    f"bytes is too large")
                self._buf = bytearray(size)
            size = sock.recv_into(self._buf)
        except TimeoutError:
            raise EbpfError(f"{context or _name(type)}: no answer from the kernel within "
                            f"{self._timeout} s") from None
        except OSError as e:
            raise SyscallError(e.errno or errno.EIO, "recvmsg",
                               context or f"receive the answer to {_name(type)}") from e
        return memoryview(self._buf)[:size]

    # -- interfaces

    def link(self, interface: str | int) -> LinkInfo:
        """The interface named ``interface``, or with that index.

        Raises:
            NetlinkError: there is no such interface (``ENODEV``).
            EbpfError: ``interface`` is not a valid name or index.
        """
        if isinstance(interface, str):
            name = _check_name(interface)
            payload = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + attr_str(IFLA_IFNAME,
                                                                                 name)
            context = f"look up interface {name!r}"
        else:
            index = _check_ifindex(interface)
            payload = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, 0, 0)
            context = f"look up interface {index}"
        replies = self.request(RTM_GETLINK, payload, context=context)
        links = [parse_link(m) for m in replies if m.type == RTM_NEWLINK]
        if len(links) != 1:
            raise EbpfError(f"{context}: expected one RTM_NEWLINK reply, got {len(links)}")
        return links[0]

    def interface_index(self, interface: str | int) -> int:
        """The index of ``interface`` (a name, or an index that is checked to exist)."""
        return self.link(interface).index

    def interface_name(self, ifindex: int) -> str:
        """The name of the interface with index ``ifindex``."""
        return self.link(ifindex).name

    def _describe(self, ifindex: int) -> str:
        """``interface 4 ('eth0')`` for error messages, or without the name if it is gone."""
        try:
            return f"interface {ifindex} ({self.link(ifindex).name!r})"
        except EbpfError:
            return f"interface {ifindex}"

    # -- XDP (the legacy, netlink way; no bpf_link)

    def xdp_attach(self, ifindex: int, prog_fd: int, *, flags: XdpFlags | int = 0,
                   expected_fd: int | None = None) -> None:
        """Attach the XDP program ``prog_fd`` to interface ``ifindex`` (``RTM_SETLINK``).

        ``flags`` picks the mode (``SKB_MODE``, ``DRV_MODE``, ``HW_MODE``; none: native if the
        driver has it, else generic) and ``UPDATE_IF_NOEXIST``. With ``expected_fd`` the
        program replaces only that one (``XDP_FLAGS_REPLACE`` is added); ``-1`` expects none.
        The attachment belongs to the interface, not to ``prog_fd``: closing the fd does not
        detach it.

        Raises:
            NetlinkError: the kernel refused (``EBUSY`` if a program is attached and
                ``UPDATE_IF_NOEXIST`` was given or it was attached through a bpf_link;
                ``EEXIST`` if ``expected_fd`` is not the attached program; ``EINVAL`` if the
                program is not an XDP one; ``EOPNOTSUPP`` if the driver lacks the mode).
        """
        fd = _check_fd(prog_fd, "program fd")
        self._set_xdp(ifindex, fd, flags, expected_fd,
                      f"attach XDP program (fd {fd}) to {{}}")

    def xdp_detach(self, ifindex: int, *, flags: XdpFlags | int = 0,
                   expected_fd: int | None = None) -> None:
        """Detach the XDP program of interface ``ifindex`` in the mode ``flags`` names.

        Without a mode flag the kernel detaches the driver-mode program if the driver has
        native XDP, else the generic one: to detach a generic program from a device with
        native XDP (veth, for one), pass ``XdpFlags.SKB_MODE``. Detaching where nothing is
        attached succeeds. With ``expected_fd`` only that program is detached.
        """
        self._set_xdp(ifindex, -1, flags, expected_fd, "detach XDP program from {}")

    def _set_xdp(self, ifindex: int, fd: int, flags: XdpFlags | int, expected_fd: int | None,
                 action: str) -> None:
        index = _check_ifindex(ifindex)
        bits = _check_int(int(flags) if isinstance(flags, XdpFlags) else flags, "XDP flags",
                          0, 0xFFFFFFFF)
        known = int(XdpFlags.UPDATE_IF_NOEXIST | XdpFlags.modes() | XdpFlags.REPLACE)
        if bits & ~known:
            raise EbpfError(f"unknown XDP flags {bits & ~known:#x}")
        children = [attr_s32(IFLA_XDP_FD, fd)]
        if expected_fd is not None:
            _check_int(expected_fd, "expected program fd", -1, 0x7FFFFFFF)
            bits |= XdpFlags.REPLACE
        if bits:
            children.append(attr_u32(IFLA_XDP_FLAGS, bits))
        if expected_fd is not None:
            children.append(attr_s32(IFLA_XDP_EXPECTED_FD, expected_fd))
        payload = (_IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, 0, 0)
                   + attr_nested(IFLA_XDP, children))
        try:
            self.request(RTM_SETLINK, payload, context=action.format(f"interface {index}"))
        except NetlinkError as e:
            raise NetlinkError(e.errno or 0, e.cmd, action.format(self._describe(index)),
                               e.extack) from None

    def xdp_query(self, ifindex: int) -> XdpState:
        """The XDP programs of interface ``ifindex``, in every mode (bpf_link ones too)."""
        return self.link(_check_ifindex(ifindex)).xdp

    # -- tc: the clsact qdisc

    def _qdisc_payload(self, index: int) -> bytes:
        return (_TCMSG.pack(socket.AF_UNSPEC, index, tc_handle(TC_H_CLSACT, 0), TC_H_CLSACT, 0)
                + attr_str(TCA_KIND, "clsact"))

    def clsact_add(self, ifindex: int, *, exist_ok: bool = True) -> bool:
        """Add the ``clsact`` qdisc to interface ``ifindex``; True if this call added it.

        Raises:
            NetlinkError: the kernel refused; ``EEXIST`` if it is there and not ``exist_ok``
                (also when another ingress-type qdisc such as ``ingress`` is there).
        """
        index = _check_ifindex(ifindex)
        try:
            self.request(RTM_NEWQDISC, self._qdisc_payload(index),
                         flags=NLM_F_CREATE | NLM_F_EXCL,
                         context=f"add clsact qdisc to interface {index}")
        except NetlinkError as e:
            if e.errno == errno.EEXIST and exist_ok and self.clsact_exists(index):
                return False
            raise NetlinkError(e.errno or 0, e.cmd,
                               f"add clsact qdisc to {self._describe(index)}",
                               e.extack) from None
        return True

    def clsact_delete(self, ifindex: int, *, missing_ok: bool = False) -> bool:
        """Delete the ``clsact`` qdisc of interface ``ifindex`` and with it every filter on
        both of its hooks; True if this call deleted it.

        Raises:
            NetlinkError: the kernel refused; ``ENOENT`` (or ``EINVAL``) if there is none and
                not ``missing_ok``.
        """
        index = _check_ifindex(ifindex)
        try:
            self.request(RTM_DELQDISC, self._qdisc_payload(index),
                         context=f"delete clsact qdisc of interface {index}")
        except NetlinkError as e:
            if missing_ok and e.errno in (errno.ENOENT, errno.EINVAL) \
                    and not self.clsact_exists(index):
                return False
            raise NetlinkError(e.errno or 0, e.cmd,
                               f"delete clsact qdisc of {self._describe(index)}",
                               e.extack) from None
        return True

    def clsact_exists(self, ifindex: int) -> bool:
        """Whether interface ``ifindex`` has the ``clsact`` qdisc."""
        index = _check_ifindex(ifindex)
        replies = self.request(RTM_GETQDISC, _TCMSG.pack(socket.AF_UNSPEC, index, 0, 0, 0),
                               flags=NLM_F_DUMP,
                               context=f"list the qdiscs of interface {index}")
        for msg in replies:
            if msg.type != RTM_NEWQDISC:
                continue
            q_index, _handle, parent, _info, attrs = parse_tcmsg(msg)
            if q_index == index and parent == TC_H_CLSACT \
                    and _str_attr(attrs, TCA_KIND) == "clsact":
                return True
        return False

    # -- tc: BPF filters on a clsact hook

    def tc_filter_add(self, ifindex: int, hook: ClsactHook | int, prog_fd: int, *, name: str,
                      priority: int = 0, handle: int = 0, replace: bool = False,
                      protocol: int = ETH_P_ALL, direct_action: bool = True) -> TcFilter:
        """Add a BPF filter running ``prog_fd`` (a ``SCHED_CLS`` program) on ``hook`` of the
        ``clsact`` qdisc of interface ``ifindex``, and return it as the kernel made it.

        ``priority`` and ``handle`` of 0 let the kernel choose; the returned filter says what
        it chose (the kernel echoes the new filter). ``name`` is what ``tc filter show`` and
        :meth:`tc_filters` report as the program's name. Without ``replace`` a filter that
        exists with the same priority and handle is an error (``EEXIST``); with it, that
        filter's program is replaced. The filter holds its own reference to the program.

        Raises:
            NetlinkError: the kernel refused (no ``clsact`` qdisc: ``EINVAL`` or ``ENOENT``;
                not a ``SCHED_CLS`` program: ``EINVAL``; ``EEXIST``, see above).
        """
        index = _check_ifindex(ifindex)
        parent = _check_int(int(hook), "tc hook (tcm_parent)", 0, 0xFFFFFFFF)
        fd = _check_fd(prog_fd, "program fd")
        prio = _check_int(priority, "filter priority", 0, 0xFFFF)
        handle = _check_int(handle, "filter handle", 0, 0xFFFFFFFF)
        proto = _check_int(protocol, "filter protocol", 0, 0xFFFF)
        if not isinstance(name, str) or len(name.encode()) >= BPF_NAME_MAX:
            raise EbpfError(f"tc filter name must be a str shorter than {BPF_NAME_MAX} bytes, "
                            f"not {name!r}")
        options = [attr_u32(TCA_BPF_FD, fd), attr_str(TCA_BPF_NAME, name)]
        if direct_action:
            options.append(attr_u32(TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT))
        payload = (_TCMSG.pack(socket.AF_UNSPEC, index, handle, parent,
                               tc_handle(prio << 16, socket.htons(proto)))
                   + attr_str(TCA_KIND, "bpf") + attr_nested(TCA_OPTIONS, options))
        hook_name = _hook_name(parent)
        flags = NLM_F_CREATE | NLM_F_ECHO | (NLM_F_REPLACE if replace else NLM_F_EXCL)
        try:
            replies = self.request(RTM_NEWTFILTER, payload, flags=flags,
                                   context=f"add BPF filter {name!r} to {hook_name} of "
                                           f"interface {index}")
        except NetlinkError as e:
            raise NetlinkError(e.errno or 0, e.cmd, f"add BPF filter {name!r} to {hook_name} "
                               f"of {self._describe(index)}", e.extack) from None
        made = [parse_filter(m) for m in replies if m.type == RTM_NEWTFILTER]
        made = [f for f in made if f.handle and f.kind == "bpf"]
        if len(made) != 1:
            raise EbpfError(f"add BPF filter {name!r} to {hook_name} of interface {index}: "
                            f"expected the kernel to echo one filter, got {len(made)}")
        return made[0]

    def tc_filter_delete(self, ifindex: int, hook: ClsactHook | int, *, priority: int,
                         handle: int, protocol: int = ETH_P_ALL, kind: str = "bpf") -> None:
        """Delete the filter ``(priority, handle)`` of kind ``kind`` on ``hook`` of interface
        ``ifindex``.

        Raises:
            NetlinkError: the kernel refused; ``ENOENT`` if there is no such filter (or no
                ``clsact`` qdisc: ``EINVAL``).
        """
        index = _check_ifindex(ifindex)
        parent = _check_int(int(hook), "tc hook (tcm_parent)", 0, 0xFFFFFFFF)
        # Priority 0 would mean "every filter on the hook" to the kernel: not via this call.
        prio = _check_int(priority, "filter priority", 1, 0xFFFF)
        handle = _check_int(handle, "filter handle", 1, 0xFFFFFFFF)
        proto = _check_int(protocol, "filter protocol", 0, 0xFFFF)
        payload = (_TCMSG.pack(socket.AF_UNSPEC, index, handle, parent,
                               tc_handle(prio << 16, socket.htons(proto)))
                   + attr_str(TCA_KIND, kind))
        action = f"delete filter (priority {prio}, handle {handle:#x}) from {_hook_name(parent)}"
        try:
            self.request(RTM_DELTFILTER, payload, context=f"{action} of interface {index}")
        except NetlinkError as e:
            raise NetlinkError(e.errno or 0, e.cmd, f"{action} of {self._describe(index)}",
                               e.extack) from None

    def tc_filters(self, ifindex: int, hook: ClsactHook | int) -> list[TcFilter]:
        """The filters on ``hook`` of interface ``ifindex``, in the kernel's order (by
        priority). A hook without a ``clsact`` qdisc has none.

        Raises:
            NetlinkError: the kernel refused the dump.
        """
        index = _check_ifindex(ifindex)
        parent = _check_int(int(hook), "tc hook (tcm_parent)", 0, 0xFFFFFFFF)
        context = f"list the filters on {_hook_name(parent)} of interface {index}"
        replies = self.request(RTM_GETTFILTER, _TCMSG.pack(socket.AF_UNSPEC, index, 0, parent, 0),
                               flags=NLM_F_DUMP, context=context)
        # Each priority's classifier is reported once without a handle, then its filters.
        return [f for f in (parse_filter(m) for m in replies if m.type == RTM_NEWTFILTER)
                if f.handle and f.ifindex == index and f.parent == parent]


def _name(type: int) -> str:
    return _MESSAGE_NAMES.get(type, f"netlink message {type}")


def _hook_name(parent: int) -> str:
    if parent == ClsactHook.INGRESS:
        return "clsact ingress"
    if parent == ClsactHook.EGRESS:
        return "clsact egress"
    return f"tc parent {parent >> 16:x}:{parent & 0xFFFF:x}"
