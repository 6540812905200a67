"""Programs on network interfaces: XDP, tcx, legacy tc and netkit.

Every function here takes the interface by name or by index, looked up in the network
namespace of the calling thread, which is also where the kernel looks it up (to attach to an
interface of another namespace, call the function from a thread in that namespace).

XDP and tcx prefer a bpf_link and fall back to the older netlink attachment where the kernel
has no link for them (XDP links: Linux 5.9; tcx: Linux 6.6): the returned Link's
:attr:`~ebpf.link.Link.mechanism` says which. A netlink attachment belongs to the interface,
not to a descriptor, so its Link keeps what detaching needs (a netlink socket of that
namespace and a duplicate of the program's descriptor) and removes exactly its own program
when closed, leaving anything that replaced it alone.
"""

from __future__ import annotations

import enum
import errno
from typing import TYPE_CHECKING, Final, Literal

from ..errors import EbpfError, NetlinkError, NotSupportedError, SyscallError
from ..internal.netlink import ClsactHook, RtNetlink, XdpFlags
from ..program import Program
from ..types import AttachType, LinkType, ProgramType
from ._common import (
    MPROG_HINTS,
    Anchor,
    DetachState,
    HandlelessLink,
    check_program,
    check_revision,
    explain,
    have_netkit,
    have_tcx,
    have_xdp_link,
    lacks,
    program_fd_dup,
    program_id,
    relative,
    relative_config,
    resolve_interface,
)
from .link import Link, LinkInfo, Mechanism, create_bpf_link

if TYPE_CHECKING:
    from ..internal.sys import FD

__all__ = ["XDPMode", "netkit", "tc", "tcx", "xdp"]


class XDPMode(enum.Enum):
    """Where an XDP program runs (the ``XDP_FLAGS_*`` mode)."""

    AUTO = 0
    """In the driver if it has native XDP, else generic (what the kernel picks)."""
    GENERIC = int(XdpFlags.SKB_MODE)
    """In the network stack, after the packet became an skb: works on every device."""
    DRIVER = int(XdpFlags.DRV_MODE)
    """In the driver, before an skb exists (native XDP; veth has it, loopback does not)."""
    OFFLOAD = int(XdpFlags.HW_MODE)
    """On the network card (the program must have been loaded for that device)."""


_XDP_HINTS: Final = {
    errno.EBUSY: "a program is attached in this mode already; a bpf_link never replaces one",
    errno.EEXIST: "a program is attached in another mode, or is not the expected one",
    errno.EOPNOTSUPP: "the device has no XDP in this mode",
    errno.ERANGE: "the MTU is too large for XDP in this mode",
}


def _check_mechanism(mechanism: object, family: str, allowed: tuple[Mechanism, ...]) -> None:
    if mechanism is not None and mechanism not in allowed:
        names = " or ".join(f"Mechanism.{m.name}" for m in allowed)
        raise EbpfError(f"{family}: mechanism must be None (the best the kernel has), "
                        f"{names}, not {mechanism!r}")


# --- XDP -------------------------------------------------------------------------------------

def xdp(interface: str | int, program: Program, *, mode: XDPMode = XDPMode.AUTO,
        replace: bool = False, mechanism: Mechanism | None = None) -> Link:
    """Attach the XDP ``program`` to ``interface`` (a name or an index), in ``mode``.

    Uses a bpf_link (``BPF_LINK_CREATE``, Linux 5.9+) and falls back to netlink
    (``IFLA_XDP``) on kernels without XDP links; ``mechanism=Mechanism.NETLINK`` asks for
    netlink, ``Mechanism.BPF_LINK`` forbids the fallback. A bpf_link never replaces an
    attached program, so ``replace=True`` (replace whatever program is attached in this mode)
    attaches through netlink; without it, attaching where a program is attached fails
    (``EBUSY``).

    The returned Link owns the attachment; ``program`` is borrowed and may be closed. Closing
    a netlink Link detaches its program in the mode it was attached in, and only if it is
    still the attached one (``IFLA_XDP_EXPECTED_FD``).

    Raises:
        SyscallError: no such interface (``ENODEV``, naming it), or the kernel refused
            (``EBUSY``: a program is attached; ``EOPNOTSUPP``: no XDP in this mode on this
            device; ``ERANGE``: MTU too large for native XDP). Netlink refusals are
            :class:`~ebpf.errors.NetlinkError` with the kernel's message.
        NotSupportedError: ``Mechanism.BPF_LINK`` on a kernel without XDP links.
        EbpfError: not an XDP program, or invalid arguments.
    """
    family = "XDP"
    check_program(program, family, (ProgramType.XDP,))
    if not isinstance(mode, XDPMode):
        raise EbpfError(f"{family}: mode must be an XDPMode, not {mode!r}")
    _check_mechanism(mechanism, family, (Mechanism.BPF_LINK, Mechanism.NETLINK))
    context = f"attach XDP program {program.name!r} to interface {interface!r}"
    ifindex, name = resolve_interface(interface, context)
    context = f"attach XDP program {program.name!r} to interface {name!r} (index {ifindex})"
    if replace and mechanism is Mechanism.BPF_LINK:
        raise EbpfError(f"{context}: a bpf_link cannot replace an attached program; use "
                        f"replace=True with Mechanism.NETLINK or None")
    if mechanism is Mechanism.NETLINK or replace:
        return _NetlinkXDP.attach(program, ifindex, name, mode, replace=replace)
    try:
        return create_bpf_link(program, AttachType.XDP, target_ifindex=ifindex,
                               flags=mode.value, context=context)
    except SyscallError as e:
        if e.errno == errno.EINVAL and mechanism is None and lacks(have_xdp_link):
            return _NetlinkXDP.attach(program, ifindex, name, mode, replace=False)
        if e.errno == errno.EINVAL and mechanism is Mechanism.BPF_LINK:
            have_xdp_link()   # raises UnsupportedFeatureError where that is why
        raise explain(e, context, _XDP_HINTS) from None


class _XdpState(DetachState):
    __slots__ = ("ifindex", "mode", "nl")

    def __init__(self, prog: FD, nl: RtNetlink, ifindex: int, mode: XDPMode) -> None:
        super().__init__(prog)
        self.nl, self.ifindex, self.mode = nl, ifindex, mode


def _xdp_detach(state: _XdpState) -> None:
    try:
        state.nl.xdp_detach(state.ifindex, flags=state.mode.value, expected_fd=state.prog.raw)
    except NetlinkError as e:
        # EEXIST: our program was replaced; ENODEV: the interface is gone.
        if e.errno not in (errno.EEXIST, errno.ENODEV):
            raise
    finally:
        state.nl.close()


class _NetlinkXDP(HandlelessLink):
    """An XDP program attached through netlink (see :func:`xdp`)."""

    __slots__ = ("_ifname",)

    _state: _XdpState
    _ifname: str

    @classmethod
    def attach(cls, program: Program, ifindex: int, name: str, mode: XDPMode, *,
               replace: bool) -> _NetlinkXDP:
        link = cls.__new__(cls)
        link._start(program_fd_dup(program), Mechanism.NETLINK)
        link._ifname = name
        try:
            nl = RtNetlink()
        except BaseException:
            link.close()
            raise
        try:
            flags = mode.value | (0 if replace else XdpFlags.UPDATE_IF_NOEXIST)
            try:
                nl.xdp_attach(ifindex, link._fd.raw, flags=flags)
            except NetlinkError as e:
                hint = _XDP_HINTS.get(e.errno or 0)
                raise NetlinkError(e.errno or 0, e.cmd, f"{e.context} ({hint})" if hint
                                   else e.context, e.extack) from None
        except BaseException:
            nl.close()
            link.close()
            raise
        state = _XdpState(link._fd, nl, ifindex, mode)
        link._arm(state, _xdp_detach)
        if mode is XDPMode.AUTO:    # the mode the kernel picked: detaching must name it
            try:
                ours = program_id(link._fd.raw)
                now = nl.xdp_query(ifindex)
            except BaseException:
                link.close()
                raise
            state.mode = (XDPMode.DRIVER if now.drv_prog_id == ours else
                          XDPMode.GENERIC if now.skb_prog_id == ours else
                          XDPMode.OFFLOAD if now.hw_prog_id == ours else XDPMode.AUTO)
        return link

    @property
    def mode(self) -> XDPMode:
        """The mode the program runs in."""
        return self._state.mode

    def update(self, program: Program) -> None:
        """Replace this Link's program with ``program`` in the same mode, if it is still the
        attached one (``IFLA_XDP_EXPECTED_FD``).

        Raises:
            NetlinkError: the kernel refused (``EEXIST``: this Link's program was replaced).
        """
        check_program(program, "XDP", (ProgramType.XDP,))
        old = self._checked_fd("update")
        state = self._state
        new = program_fd_dup(program)
        try:
            state.nl.xdp_attach(state.ifindex, new.raw, flags=state.mode.value,
                                expected_fd=old.raw)
        except BaseException:
            new.close()
            raise
        self._replace_program(new)

    def info(self) -> LinkInfo:
        state = self._state
        return LinkInfo(type=LinkType.UNSPEC, id=0,
                        program_id=program_id(self._checked_fd("get info of").raw),
                        mechanism=Mechanism.NETLINK, attach_type=AttachType.XDP,
                        target={"ifindex": state.ifindex, "interface": self._ifname,
                                "mode": state.mode})

    def _describe(self) -> str:
        state = getattr(self, "_state", None)
        mode = f" {state.mode.name.lower()}" if state is not None else ""
        return f"netlink XDP{mode} on {self._ifname!r}"


# --- tcx and tc ------------------------------------------------------------------------------

_DIRECTIONS: Final = {"ingress": AttachType.TCX_INGRESS, "egress": AttachType.TCX_EGRESS}
_HOOKS: Final = {AttachType.TCX_INGRESS: ClsactHook.INGRESS,
                 AttachType.TCX_EGRESS: ClsactHook.EGRESS}


def _direction(value: object, family: str) -> AttachType:
    if isinstance(value, str) and value in _DIRECTIONS:
        return _DIRECTIONS[value]
    if isinstance(value, int) and value in (AttachType.TCX_INGRESS, AttachType.TCX_EGRESS):
        return AttachType(value)
    raise EbpfError(f"{family}: the direction is 'ingress', 'egress', "
                    f"AttachType.TCX_INGRESS or AttachType.TCX_EGRESS, not {value!r}")


def tcx(interface: str | int, program: Program,
        attach_type: AttachType | Literal["ingress", "egress"], *,
        before: Anchor | None = None, after: Anchor | None = None,
        expected_revision: int | None = None, mechanism: Mechanism | None = None) -> Link:
    """Attach the ``SCHED_CLS`` ``program`` to the ingress or egress hook of ``interface``
    with a tcx bpf_link (Linux 6.6+).

    A tcx hook runs several programs in order; each returns ``TCX_NEXT`` (-1) to hand the
    packet to the next one, or a verdict (``TCX_PASS`` 0, ``TCX_DROP`` 2, ``TCX_REDIRECT``
    7). Without ``before``/``after`` the program goes last. An anchor names the neighbour: a
    :class:`Program` or program id attached there, a :class:`~ebpf.link.BPFLink` of that
    hook, or ``"all"`` (``before="all"``: first; ``after="all"``: last). With
    ``expected_revision`` the kernel attaches only if the hook's revision (see
    :func:`~ebpf.link.query`) is still that one.

    On kernels without tcx, or with ``mechanism=Mechanism.NETLINK``, this is :func:`tc` (a
    clsact BPF filter; the Link's mechanism is ``NETLINK``), which cannot honour anchors or
    revisions (:class:`NotSupportedError` if they are given).

    Raises:
        SyscallError: no such interface (``ENODEV``), or the kernel refused: ``ESTALE`` (the
            revision changed), ``ENOENT`` (the anchor is not on this hook), ``EEXIST`` (the
            program is on this hook already), ``ERANGE`` (impossible position, hook full).
        EbpfError: not a ``SCHED_CLS`` program, or invalid arguments.
    """
    family = "tcx"
    check_program(program, family, (ProgramType.SCHED_CLS,))
    direction = _direction(attach_type, family)
    _check_mechanism(mechanism, family, (Mechanism.BPF_LINK, Mechanism.NETLINK))
    where = "ingress" if direction is AttachType.TCX_INGRESS else "egress"
    context = f"attach tcx program {program.name!r} to {where} of interface {interface!r}"
    ifindex, name = resolve_interface(interface, context)
    context = (f"attach tcx program {program.name!r} to {where} of interface {name!r} "
               f"(index {ifindex})")
    flags, rel = relative(before, after, context)
    revision = check_revision(expected_revision, context)

    def legacy() -> Link:
        if flags or revision:
            raise NotSupportedError(f"{context}: legacy tc (this kernel has no tcx, Linux "
                                    f"6.6) orders filters by priority; it cannot honour "
                                    f"before=, after= or expected_revision=")
        return _TcFilter.attach(program, ifindex, name, direction, priority=0, handle=0,
                                filter_name=None, replace=False)

    if mechanism is Mechanism.NETLINK:
        return legacy()
    try:
        return create_bpf_link(program, direction, target_ifindex=ifindex, flags=flags,
                               configure=relative_config(rel, revision, "tcx"),
                               context=context)
    except SyscallError as e:
        if e.errno == errno.EINVAL and mechanism is None and lacks(have_tcx):
            return legacy()
        if e.errno == errno.EINVAL and mechanism is Mechanism.BPF_LINK:
            have_tcx()
        raise explain(e, context, MPROG_HINTS) from None


def tc(interface: str | int, program: Program,
       direction: AttachType | Literal["ingress", "egress"], *, priority: int = 0,
       handle: int = 0, name: str | None = None, replace: bool = False) -> Link:
    """Attach the ``SCHED_CLS`` ``program`` as a BPF filter (direct action) on the ingress or
    egress hook of the ``clsact`` qdisc of ``interface``, through netlink: the legacy way,
    which every kernel has.

    The qdisc is added if the interface has none. ``priority`` (1..65535; lower runs first)
    and ``handle`` of 0 let the kernel choose; ``info().target`` says what it chose. ``name``
    is what ``tc filter show`` reports (default: the program's name). With ``replace`` an
    existing filter of the same priority and handle gets this program instead (``EEXIST``
    without). The program returns a ``TC_ACT_*`` verdict; ``TC_ACT_UNSPEC`` (-1) passes the
    packet to the next filter.

    Closing the Link deletes its filter (if it still runs this Link's program), and the
    qdisc if this Link added it and no filter is left on either hook. The Link's mechanism
    is ``NETLINK``.

    Raises:
        NetlinkError: the kernel refused (``EEXIST``: a filter with that priority and handle
            exists; ``EINVAL``: another ingress-type qdisc is in the way).
        SyscallError: no such interface (``ENODEV``).
        EbpfError: not a ``SCHED_CLS`` program, or invalid arguments.
    """
    family = "tc"
    check_program(program, family, (ProgramType.SCHED_CLS,))
    hook = _direction(direction, family)
    where = "ingress" if hook is AttachType.TCX_INGRESS else "egress"
    context = f"attach tc program {program.name!r} to {where} of interface {interface!r}"
    ifindex, ifname = resolve_interface(interface, context)
    for value, what, top in ((priority, "priority", 0xFFFF), (handle, "handle", 0xFFFFFFFF)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
            raise EbpfError(f"{context}: {what} must be an int from 0 to {top}, not {value!r}")
    return _TcFilter.attach(program, ifindex, ifname, hook, priority=priority, handle=handle,
                            filter_name=name, replace=replace)


class _TcState(DetachState):
    __slots__ = ("handle", "hook", "ifindex", "nl", "own_qdisc", "priority", "prog_id")

    def __init__(self, prog: FD, nl: RtNetlink, ifindex: int, hook: ClsactHook,
                 priority: int, handle: int, prog_id: int, own_qdisc: bool) -> None:
        super().__init__(prog)
        self.nl, self.ifindex, self.hook = nl, ifindex, hook
        self.priority, self.handle, self.prog_id = priority, handle, prog_id
        self.own_qdisc = own_qdisc


def _tc_detach(state: _TcState) -> None:
    nl = state.nl
    try:
        here = nl.tc_filters(state.ifindex, state.hook)
        mine = [f for f in here
                if (f.priority, f.handle, f.kind) == (state.priority, state.handle, "bpf")
                and f.prog_id == state.prog_id]
        if mine:
            try:
                nl.tc_filter_delete(state.ifindex, state.hook, priority=state.priority,
                                    handle=state.handle)
            except NetlinkError as e:
                if e.errno != errno.ENOENT:
                    raise
        other = ClsactHook.EGRESS if state.hook == ClsactHook.INGRESS else ClsactHook.INGRESS
        if state.own_qdisc and len(here) == len(mine) and not nl.tc_filters(state.ifindex,
                                                                            other):
            nl.clsact_delete(state.ifindex, missing_ok=True)
    except NetlinkError as e:
        if e.errno != errno.ENODEV:      # the interface is gone, and its filters with it
            raise
    finally:
        nl.close()


class _TcFilter(HandlelessLink):
    """A BPF filter on a clsact hook, attached through netlink (see :func:`tc`)."""

    __slots__ = ("_direction", "_ifname")

    _state: _TcState
    _ifname: str
    _direction: AttachType

    @classmethod
    def attach(cls, program: Program, ifindex: int, ifname: str, hook: AttachType, *,
               priority: int, handle: int, filter_name: str | None,
               replace: bool) -> _TcFilter:
        link = cls.__new__(cls)
        link._start(program_fd_dup(program), Mechanism.NETLINK)
        link._ifname, link._direction = ifname, hook
        own_qdisc = False
        try:
            nl = RtNetlink()
        except BaseException:
            link.close()
            raise
        try:
            own_qdisc = nl.clsact_add(ifindex)
            made = nl.tc_filter_add(ifindex, _HOOKS[hook], link._fd.raw,
                                    name=filter_name or program.name or "bpf",
                                    priority=priority, handle=handle, replace=replace)
        except BaseException:
            try:
                if own_qdisc:
                    nl.clsact_delete(ifindex, missing_ok=True)
            finally:
                nl.close()
                link.close()
            raise
        link._arm(_TcState(link._fd, nl, ifindex, _HOOKS[hook], made.priority, made.handle,
                           made.prog_id or 0, own_qdisc), _tc_detach)
        return link

    @property
    def priority(self) -> int:
        """The filter's priority (chosen by the kernel if 0 was asked for)."""
        return self._state.priority

    @property
    def handle(self) -> int:
        """The filter's handle (chosen by the kernel if 0 was asked for)."""
        return self._state.handle

    def update(self, program: Program) -> None:
        """Give the filter ``program`` instead (a replace of the same priority and handle).

        Raises:
            NetlinkError: the kernel refused.
        """
        check_program(program, "tc", (ProgramType.SCHED_CLS,))
        self._checked_fd("update")
        state = self._state
        new = program_fd_dup(program)
        try:
            made = state.nl.tc_filter_add(state.ifindex, state.hook, new.raw,
                                          name=program.name or "bpf", priority=state.priority,
                                          handle=state.handle, replace=True)
        except BaseException:
            new.close()
            raise
        state.prog_id = made.prog_id or 0
        self._replace_program(new)

    def info(self) -> LinkInfo:
        state = self._state
        return LinkInfo(type=LinkType.UNSPEC, id=0,
                        program_id=program_id(self._checked_fd("get info of").raw),
                        mechanism=Mechanism.NETLINK, attach_type=self._direction,
                        target={"ifindex": state.ifindex, "interface": self._ifname,
                                "priority": state.priority, "handle": state.handle})

    def _describe(self) -> str:
        where = "ingress" if self._direction is AttachType.TCX_INGRESS else "egress"
        state = getattr(self, "_state", None)
        at = f" priority {state.priority} handle {state.handle:#x}" if state else ""
        return f"netlink tc {where} on {self._ifname!r}{at}"


# --- netkit ------------------------------------------------------------------------------------

_NETKIT: Final = {"primary": AttachType.NETKIT_PRIMARY, "peer": AttachType.NETKIT_PEER}
_NETKIT_HINTS: Final = {**MPROG_HINTS, errno.ENXIO: "the interface is not a netkit device"}


def netkit(interface: str | int, program: Program,
           attach_type: AttachType | Literal["primary", "peer"], *,
           before: Anchor | None = None, after: Anchor | None = None,
           expected_revision: int | None = None) -> Link:
    """Attach the ``SCHED_CLS`` ``program`` to the netkit device ``interface`` with a netkit
    bpf_link (Linux 6.7+).

    ``NETKIT_PRIMARY`` runs the program on what the primary device transmits,
    ``NETKIT_PEER`` on what its peer transmits; both are attached through the *primary*
    device. Ordering (``before``, ``after``, ``expected_revision``) works as in
    :func:`tcx`; verdicts are ``NETKIT_NEXT`` (-1), ``NETKIT_PASS`` (0), ``NETKIT_DROP`` (2)
    and ``NETKIT_REDIRECT`` (7).

    Raises:
        UnsupportedFeatureError: the kernel has no netkit (too old, or built without it).
        SyscallError: no such interface (``ENODEV``); ``ENXIO``: not a netkit device; the
            ordering errors of :func:`tcx`.
        EbpfError: not a ``SCHED_CLS`` program, or invalid arguments.
    """
    family = "netkit"
    check_program(program, family, (ProgramType.SCHED_CLS,))
    if isinstance(attach_type, str) and attach_type in _NETKIT:
        where = _NETKIT[attach_type]
    elif attach_type in (AttachType.NETKIT_PRIMARY, AttachType.NETKIT_PEER):
        where = AttachType(attach_type)
    else:
        raise EbpfError(f"{family}: the attach type is 'primary', 'peer', "
                        f"AttachType.NETKIT_PRIMARY or AttachType.NETKIT_PEER, not "
                        f"{attach_type!r}")
    side = "primary" if where is AttachType.NETKIT_PRIMARY else "peer"
    context = f"attach netkit {side} program {program.name!r} to interface {interface!r}"
    ifindex, name = resolve_interface(interface, context)
    context = (f"attach netkit {side} program {program.name!r} to interface {name!r} "
               f"(index {ifindex})")
    flags, rel = relative(before, after, context)
    revision = check_revision(expected_revision, context)
    try:
        return create_bpf_link(program, where, target_ifindex=ifindex, flags=flags,
                               configure=relative_config(rel, revision, "netkit"),
                               context=context)
    except SyscallError as e:
        if e.errno == errno.EINVAL:
            have_netkit()    # raises UnsupportedFeatureError on a kernel without netkit
        raise explain(e, context, _NETKIT_HINTS) from None
