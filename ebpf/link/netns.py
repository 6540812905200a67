"""Programs on a network namespace: socket lookup, the flow dissector and netfilter hooks.

:func:`sk_lookup` and :func:`flow_dissector` attach to the namespace given by a path such as
``/run/netns/NAME`` or ``/proc/PID/ns/net``, or a descriptor of one; by default to that of the
calling thread. :func:`netfilter` hooks into the calling thread's namespace (the kernel takes
no other). All three are bpf_links, which these kernels always have (netfilter links need
Linux 6.4).
"""

from __future__ import annotations

import enum
import errno
import os
from typing import TYPE_CHECKING, Final

from ..errors import EbpfError, SyscallError
from ..program import Program
from ..types import AttachType, ProgramType
from ._common import check_program, explain, open_directory
from .link import BPFLink, create_bpf_link

if TYPE_CHECKING:
    from ..internal.sys import LinkCreateAttr

__all__ = ["NFHook", "NFProto", "NetfilterFlags", "flow_dissector", "netfilter", "sk_lookup"]

_CURRENT_NETNS: Final = "/proc/thread-self/ns/net"

_NETNS_HINTS: Final = {
    errno.EINVAL: "the target is not a network namespace, or the program was loaded for "
                  "another attach type",
    errno.EEXIST: "the program is attached to the namespace already",
    errno.E2BIG: "the namespace holds the most programs of this kind it can (one flow "
                 "dissector, 64 sk_lookup programs)",
}


def _netns_link(program: Program, attach_type: AttachType, netns: object, family: str
                ) -> BPFLink:
    shown = "this thread's network namespace" if netns is None else (
        f"network namespace {netns!r}")
    context = f"attach {family} program {program.name!r} to {shown}"
    target = open_directory(_CURRENT_NETNS if netns is None else netns, "network namespace",
                            context)
    with target:
        try:
            return create_bpf_link(program, attach_type, target_fd=target.raw,
                                   context=context)
        except SyscallError as e:
            raise explain(e, context, _NETNS_HINTS) from None


def sk_lookup(program: Program,
              netns: str | os.PathLike[str] | int | None = None) -> BPFLink:
    """Attach the ``SK_LOOKUP`` ``program`` to a network namespace (Linux 5.9+): it runs when
    a TCP connection or UDP datagram arrives for a local address, before the kernel looks for
    a socket, and may pick the socket itself (``bpf_sk_assign``).

    ``netns`` is a path to a namespace (``/run/netns/NAME``, ``/proc/PID/ns/net``), a
    descriptor of one (the caller keeps it), or None for the calling thread's. Several
    programs may be attached; they run in attach order. The Link is a bpf_link; ``program``
    is borrowed.

    Raises:
        SyscallError: the namespace path does not exist (``ENOENT``), or the kernel refused.
        EbpfError: not an ``SK_LOOKUP`` program.
    """
    check_program(program, "sk_lookup", (ProgramType.SK_LOOKUP,))
    return _netns_link(program, AttachType.SK_LOOKUP, netns, "sk_lookup")


def flow_dissector(program: Program,
                   netns: str | os.PathLike[str] | int | None = None) -> BPFLink:
    """Attach the ``FLOW_DISSECTOR`` ``program`` to a network namespace (Linux 5.8+): it
    dissects the packets of that namespace in place of the kernel's own dissector. A
    namespace holds one (``E2BIG`` for a second). ``netns`` as in :func:`sk_lookup`.

    Raises:
        SyscallError: the namespace path does not exist (``ENOENT``), or the kernel refused.
        EbpfError: not a ``FLOW_DISSECTOR`` program.
    """
    check_program(program, "flow_dissector", (ProgramType.FLOW_DISSECTOR,))
    return _netns_link(program, AttachType.FLOW_DISSECTOR, netns, "flow_dissector")


# --- netfilter ---------------------------------------------------------------------------------

class NFProto(enum.IntEnum):
    """``NFPROTO_*``: the protocol family of a netfilter hook."""

    IPV4 = 2
    IPV6 = 10


class NFHook(enum.IntEnum):
    """``NF_INET_*``: where in the IP stack a netfilter hook runs."""

    PRE_ROUTING = 0
    LOCAL_IN = 1
    FORWARD = 2
    LOCAL_OUT = 3
    POST_ROUTING = 4


class NetfilterFlags(enum.IntFlag):
    """``BPF_F_NETFILTER_*``: options of a netfilter link."""

    NONE = 0
    IP_DEFRAG = 1 << 0
    """Reassemble IP fragments before the program sees them (Linux 6.6+)."""


_NF_HINTS: Final = {
    errno.ERANGE: "the priority is reserved (NF_IP_PRI_FIRST, NF_IP_PRI_LAST), or with "
                  "IP_DEFRAG not after defragmentation (above -400)",
    errno.EOPNOTSUPP: "unknown flags, or no defragmentation for this protocol family",
    errno.EAFNOSUPPORT: "unknown protocol family",
}


def netfilter(program: Program, *, protocol_family: NFProto | int, hook: NFHook | int,
              priority: int, flags: NetfilterFlags | int = 0) -> BPFLink:
    """Attach the ``NETFILTER`` ``program`` to netfilter hook ``hook`` of ``protocol_family``
    in the calling thread's network namespace (Linux 6.4+).

    The program returns a verdict, ``NF_ACCEPT`` (1) or ``NF_DROP`` (0). ``priority`` orders
    it among the hook's functions (lower runs earlier; conntrack is at -200, filter tables
    at 0); the extreme values ``-2**31`` and ``2**31-1`` are reserved. ``flags`` may ask for
    defragmentation (:attr:`NetfilterFlags.IP_DEFRAG`). The Link is a bpf_link.

    Raises:
        SyscallError: the kernel refused (``ERANGE``: a reserved priority, or ``IP_DEFRAG``
            with a priority of -400 or lower; ``EOPNOTSUPP``: unknown flags, or no
            defragmentation for this family).
        EbpfError: not a ``NETFILTER`` program, or invalid arguments.
    """
    family = "netfilter"
    check_program(program, family, (ProgramType.NETFILTER,))
    values = {}
    for what, value, lo, hi in (("protocol_family", protocol_family, 0, 0xFF),
                                ("hook", hook, 0, 0xFF),
                                ("priority", priority, -(1 << 31), (1 << 31) - 1),
                                ("flags", flags, 0, 0xFFFFFFFF)):
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise EbpfError(f"{family}: {what} must be an int from {lo} to {hi}, not "
                            f"{value!r}")
        values[what] = int(value)
    pf_name = NFProto(protocol_family).name if protocol_family in NFProto._value2member_map_ \
        else str(protocol_family)
    hook_name = NFHook(hook).name if hook in NFHook._value2member_map_ else str(hook)
    context = (f"attach netfilter program {program.name!r} to {pf_name} {hook_name} at "
               f"priority {priority}")

    def configure(attr: LinkCreateAttr) -> None:
        attr.netfilter.pf = values["protocol_family"]
        attr.netfilter.hooknum = values["hook"]
        attr.netfilter.priority = values["priority"]
        attr.netfilter.flags = values["flags"]

    try:
        return create_bpf_link(program, AttachType.NETFILTER, configure=configure,
                               context=context)
    except SyscallError as e:
        raise explain(e, context, _NF_HINTS) from None
