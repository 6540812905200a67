"""What the networking families of :mod:`ebpf.link` share.

* checks of the program type a family takes, and of its other arguments;
* the targets: an interface by name or index, a cgroup or a network namespace by path or fd;
* the anchors of multi-program hooks (tcx, netkit): where a new program goes;
* :class:`ProgAttachLink`, the Link of a ``BPF_PROG_ATTACH`` attachment, which the kernel keeps
  no handle of;
* the memoised probes that tell a kernel lacking a kind of bpf_link from a refusal.

Every name here is internal to the package; the family modules re-export what is public.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import warnings
import weakref
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

from .. import asm
from ..errors import EbpfError, NotSupportedError, SyscallError
from ..internal.feature import feature_test
from ..internal.sys import (
    FD,
    LinkCreateAttr,
    ProgAttachAttr,
    ProgInfo,
    ProgQueryAttr,
    commands,
)
from ..program import Program, ProgramSpec
from ..types import AttachType, LinkType, ProgramType
from .link import BPFLink, Link, LinkInfo, Mechanism

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = [
    "BPF_F_AFTER", "BPF_F_ALLOW_MULTI", "BPF_F_ALLOW_OVERRIDE", "BPF_F_BEFORE", "BPF_F_ID",
    "BPF_F_LINK", "BPF_F_REPLACE", "Anchor", "DetachState", "HandlelessLink", "ProgAttachLink",
    "check_program",
    "have_cgroup_link", "have_netkit", "lacks", "have_sockmap_link", "have_tcx", "have_xdp_link",
    "open_directory", "program_fd_dup", "program_id", "relative", "relative_config",
    "resolve_interface",
    "type_name",
]

# linux/bpf.h: flags of BPF_PROG_ATTACH, BPF_LINK_CREATE and BPF_PROG_QUERY.
BPF_F_ALLOW_OVERRIDE: Final = 1 << 0
BPF_F_ALLOW_MULTI: Final = 1 << 1
BPF_F_REPLACE: Final = 1 << 2
BPF_F_BEFORE: Final = 1 << 3       # 6.6: tcx, netkit; 6.16: cgroup links
BPF_F_AFTER: Final = 1 << 4
BPF_F_ID: Final = 1 << 5           # the relative object is given by id, not fd
BPF_F_LINK: Final = 1 << 13        # the relative object is a bpf_link

#: A descriptor number no process has open: ``fdget`` fails with ``EBADF``.
_BAD_FD: Final = 0xFFFFFFFF

#: Where a new program goes on a multi-program hook: next to a program (an attached
#: :class:`Program`, or a program id), next to a bpf_link (:class:`BPFLink`), or ``"all"``:
#: ``before="all"`` puts it first, ``after="all"`` last.
Anchor: TypeAlias = Program | Link | int | Literal["all"]


def type_name(value: ProgramType | AttachType | int) -> str:
    return value.name if isinstance(value, (ProgramType, AttachType)) else str(value)


def check_program(program: object, family: str, allowed: Iterable[ProgramType]) -> Program:
    """``program``, checked to be an open :class:`Program` of a type the family takes.

    Raises:
        EbpfError: it is not a Program, or of another type (the message names both).
        ClosedError: it was closed.
    """
    if not isinstance(program, Program):
        raise EbpfError(f"{family}: expected a loaded Program, not {program!r}")
    program.fd  # noqa: B018 (raises ClosedError for a closed program)
    kinds = tuple(allowed)
    if program.type not in kinds:
        wanted = " or ".join(k.name for k in kinds)
        raise EbpfError(f"{family}: program {program.name!r} is a {type_name(program.type)} "
                        f"program; {family} takes {wanted} programs")
    return program


def program_fd_dup(program: Program) -> FD:
    """A new descriptor of ``program``'s kernel object, owned by the caller."""
    return program._checked_fd("attach").dup()


def program_id(fd: int) -> int:
    """The kernel id of the program behind descriptor ``fd``."""
    info = ProgInfo()
    commands.obj_get_info_by_fd(fd, info, "get info of program")
    return int(info.id)


# --- targets ---------------------------------------------------------------------------------

_IFNAMSIZ: Final = 16


def resolve_interface(interface: object, context: str) -> tuple[int, str]:
    """``(index, name)`` of ``interface`` (a name or an index) in the calling thread's network
    namespace, which is where ``bpf(2)`` and netlink look it up too.

    Raises:
        SyscallError: there is no such interface (``ENODEV``); the message names it.
        EbpfError: ``interface`` is neither a valid name nor a valid index.
    """
    if isinstance(interface, str):
        raw = interface.encode("utf-8", "surrogateescape")
        if not raw or len(raw) >= _IFNAMSIZ or b"\0" in raw or b"/" in raw \
                or any(c in raw for c in b" \t\n\r\v\f:") or interface in (".", ".."):
            raise EbpfError(f"{context}: {interface!r} is not a valid interface name "
                            f"(1 to {_IFNAMSIZ - 1} bytes, without '/', ':', NUL or white "
                            f"space)")
        try:
            return socket.if_nametoindex(interface), interface
        except OSError as e:
            raise SyscallError(e.errno or errno.ENODEV, "if_nametoindex",
                               f"{context}: no interface named {interface!r} in this "
                               f"thread's network namespace") from None
    if isinstance(interface, bool) or not isinstance(interface, int):
        raise EbpfError(f"{context}: an interface is a name or an index, not {interface!r}")
    if not 0 < interface <= 0x7FFFFFFF:
        raise EbpfError(f"{context}: interface index must be from 1 to 2**31-1, not "
                        f"{interface}")
    try:
        return interface, socket.if_indextoname(interface)
    except OSError as e:
        raise SyscallError(e.errno or errno.ENODEV, "if_indextoname",
                           f"{context}: no interface with index {interface} in this "
                           f"thread's network namespace") from None


def open_directory(target: object, what: str, context: str) -> FD:
    """A new descriptor of ``target``: a path (opened read-only) or a descriptor (duplicated;
    the caller keeps its own).

    Raises:
        SyscallError: the path does not exist (``ENOENT``) or cannot be opened; the message
            names it.
        EbpfError: ``target`` is neither a path nor a descriptor.
    """
    if isinstance(target, (str, os.PathLike)):
        path = os.fspath(target)
        if not isinstance(path, str):
            raise EbpfError(f"{context}: {what} path must be text, not {target!r}")
        try:
            return FD(os.open(path, os.O_RDONLY | os.O_CLOEXEC), what)
        except OSError as e:
            reason = "does not exist" if e.errno == errno.ENOENT else "cannot be opened"
            raise SyscallError(e.errno or errno.EINVAL, "open",
                               f"{context}: {what} {path!r} {reason}") from None
    if isinstance(target, bool) or not isinstance(target, int) or target < 0:
        raise EbpfError(f"{context}: {what} must be a path or an open file descriptor, not "
                        f"{target!r}")
    import fcntl

    try:
        return FD(fcntl.fcntl(target, fcntl.F_DUPFD_CLOEXEC, 1), what)
    except OSError as e:
        raise SyscallError(e.errno or errno.EBADF, "fcntl",
                           f"{context}: {what} descriptor {target} is not open") from None


# --- anchors -----------------------------------------------------------------------------------

def relative(before: object, after: object, context: str) -> tuple[int, int]:
    """``(flags, relative fd or id)`` of a ``before=`` / ``after=`` anchor pair.

    Raises:
        EbpfError: both are given, or one is not an anchor.
        ClosedError: the anchor program or link was closed.
    """
    if before is not None and after is not None:
        raise EbpfError(f"{context}: give before= or after=, not both")
    if before is None and after is None:
        return 0, 0
    anchor, flags = (before, BPF_F_BEFORE) if before is not None else (after, BPF_F_AFTER)
    if anchor == "all":
        return flags, 0
    if isinstance(anchor, BPFLink):
        return flags | BPF_F_LINK, anchor.fd
    if isinstance(anchor, Link):
        raise EbpfError(f"{context}: a {anchor.mechanism.value} attachment cannot be an "
                        f"anchor; give a bpf_link, a program or a program id")
    if isinstance(anchor, Program):
        return flags, anchor.fd
    if isinstance(anchor, int) and not isinstance(anchor, bool) and 0 < anchor <= 0xFFFFFFFF:
        return flags | BPF_F_ID, anchor
    raise EbpfError(f"{context}: an anchor is a Program, a BPFLink, a program id or 'all', "
                    f"not {anchor!r}")


def relative_config(rel: int, revision: int, member: str
                    ) -> Callable[[LinkCreateAttr], object]:
    """A ``configure`` for :func:`~ebpf.link.link.create_bpf_link` that sets the relative
    object and expected revision of ``attr.<member>`` (``tcx``, ``netkit``, ``cgroup``)."""
    def configure(attr: LinkCreateAttr) -> None:
        part = getattr(attr, member)
        part.relative_fd = rel
        part.expected_revision = revision

    return configure


def check_revision(expected_revision: object, context: str) -> int:
    if expected_revision is None:
        return 0
    if isinstance(expected_revision, bool) or not isinstance(expected_revision, int) \
            or not 0 < expected_revision < 1 << 64:
        raise EbpfError(f"{context}: expected_revision must be a positive int (revisions "
                        f"start at 1), not {expected_revision!r}")
    return expected_revision


#: Why a multi-program attachment (tcx, netkit) was refused, by errno.
MPROG_HINTS: Final = {
    errno.ESTALE: "the hook's revision is not the expected one (it changed since it was read)",
    errno.ENOENT: "the anchor is not attached to this hook",
    errno.EEXIST: "the program is attached to this hook already",
    errno.ERANGE: "the position is impossible, or the hook is full",
}


def explain(e: SyscallError, context: str, hints: dict[int, str]) -> SyscallError:
    """``e`` again, with the operation and a hint for its errno in the message."""
    hint = hints.get(e.errno or 0)
    return SyscallError(e.errno or 0, e.cmd, f"{context} ({hint})" if hint else context)


# --- probes ------------------------------------------------------------------------------------

def lacks(probe: Callable[[], None]) -> bool:
    """True if the feature probe says the kernel lacks the feature; False if it has it or
    the probe could not tell (then the caller reports the kernel's own refusal)."""
    try:
        probe()
    except NotSupportedError:
        return True
    except SyscallError:
        return False
    return False


def _tiny_program(type: ProgramType) -> Program:
    """``return 0`` as a program of ``type``."""
    return Program(ProgramSpec(name="probe", type=type, license="GPL",
                               instructions=asm.Instructions([asm.mov.imm(asm.R0, 0),
                                                              asm.exit()])))


def _link_create_errno(attr: LinkCreateAttr) -> int:
    """The errno of a ``BPF_LINK_CREATE`` that must fail (0 if it succeeded, then closed)."""
    try:
        commands.link_create(attr, "probe").close()
    except SyscallError as e:
        return e.errno or 0
    return 0


def _decide(err: int, present: int, feature: str) -> None:
    if err == present:
        return
    if err == errno.EINVAL:
        raise NotSupportedError(f"BPF_LINK_CREATE refuses {feature}")
    raise SyscallError(err, "BPF_LINK_CREATE", f"probe for {feature}")  # inconclusive


@feature_test("XDP bpf_link", "5.9")
def have_xdp_link() -> None:
    """Kernels that know the XDP attach type fetch the program first (``EBADF``); older ones
    reject the attach type (``EINVAL``)."""
    attr = LinkCreateAttr(attach_type=AttachType.XDP)
    attr.prog_fd = _BAD_FD
    _decide(_link_create_errno(attr), errno.EBADF, "XDP links")


@feature_test("cgroup bpf_link", "5.7")
def have_cgroup_link() -> None:
    """Without ``BPF_LINK_CREATE`` at all the command is ``EINVAL``."""
    attr = LinkCreateAttr(attach_type=AttachType.CGROUP_INET4_CONNECT)
    attr.prog_fd = _BAD_FD
    _decide(_link_create_errno(attr), errno.EBADF, "cgroup links")


def _probe_device_link(attach_type: AttachType, feature: str) -> None:
    """A ``SCHED_CLS`` link to interface 0: ``ENODEV`` where the attach type is known."""
    with _tiny_program(ProgramType.SCHED_CLS) as prog:
        attr = LinkCreateAttr(attach_type=int(attach_type))
        attr.prog_fd = prog.fd
        attr.target_ifindex = 0
        _decide(_link_create_errno(attr), errno.ENODEV, feature)


@feature_test("TCX", "6.6")
def have_tcx() -> None:
    _probe_device_link(AttachType.TCX_INGRESS, "TCX")


@feature_test("netkit", "6.7")
def have_netkit() -> None:
    """Also absent where the kernel was built without netkit (``CONFIG_NETKIT``)."""
    _probe_device_link(AttachType.NETKIT_PRIMARY, "netkit links")


@feature_test("sockmap bpf_link", "6.10")
def have_sockmap_link() -> None:
    """Kernels with sockmap links look the map up (``EBADF`` for no map); older ones have no
    link for ``SK_SKB`` programs (``EINVAL``)."""
    with _tiny_program(ProgramType.SK_SKB) as prog:
        attr = LinkCreateAttr(attach_type=AttachType.SK_SKB_STREAM_VERDICT)
        attr.prog_fd = prog.fd
        attr.target_fd = _BAD_FD
        _decide(_link_create_errno(attr), errno.EBADF, "sockmap links")


# --- BPF_PROG_ATTACH attachments ---------------------------------------------------------------

class DetachState:
    """What a Link without a kernel handle keeps for detaching: at least a duplicate of the
    program's descriptor (:attr:`prog`, which is also the Link's own). Kept apart from the
    Link, so that dropping the Link can detach too (see :class:`HandlelessLink`)."""

    __slots__ = ("closing", "prog")

    def __init__(self, prog: FD) -> None:
        self.prog = prog
        self.closing = False


class HandlelessLink(Link):
    """Base of the Links of attachments the kernel keeps no handle of (``PROG_ATTACH``,
    netlink). Closing one detaches its program; so does dropping it unclosed, with a
    :class:`ResourceWarning`, as dropping a bpf_link's last descriptor detaches it."""

    __slots__ = ("_finalizer", "_state")

    _finalizer: weakref.finalize[..., HandlelessLink] | None

    def _start(self, prog: FD, mechanism: Mechanism) -> None:
        self._setup_link(prog, mechanism)
        self._finalizer = None

    def _arm(self, state: DetachState, detach: Callable[[Any], None]) -> None:
        """Attached: from now on closing or dropping this Link runs ``detach(state)``."""
        self._state = state
        self._finalizer = weakref.finalize(self, _run_detach, detach, state,
                                           type(self).__name__)

    def _release(self) -> None:
        finalizer, self._finalizer = getattr(self, "_finalizer", None), None
        if finalizer is not None:
            self._state.closing = True
            finalizer()

    def _replace_program(self, new: FD) -> None:
        """This Link's program is now the one behind ``new`` (after an update)."""
        old, self._fd = self._fd, new
        self._state.prog = new
        old.close()


def _run_detach(detach: Callable[[Any], None], state: DetachState, kind: str) -> None:
    try:
        if not state.closing:
            warnings.warn(f"a {kind} was not closed; detaching its program now",
                          ResourceWarning, stacklevel=2)
        detach(state)
    finally:
        state.prog.close()


class _ProgAttachState(DetachState):
    __slots__ = ("attach_type", "exact", "target", "what")

    def __init__(self, prog: FD, target: FD, attach_type: AttachType | int, exact: bool,
                 what: str) -> None:
        super().__init__(prog)
        self.target = target
        self.attach_type = attach_type
        self.exact = exact
        self.what = what


def _prog_detach(state: _ProgAttachState) -> None:
    try:
        if not state.exact:
            ours = program_id(state.prog.raw)
            raw = state.target.raw
            attached = [p for p, _ in query_prog_ids(lambda a: setattr(a, "target_fd", raw),
                                                     state.attach_type,
                                                     f"query {state.what}")[0]]
            if ours not in attached:
                return   # replaced by someone else: what is attached now is not ours
        attr = ProgAttachAttr(attach_bpf_fd=state.prog.raw, attach_type=int(state.attach_type))
        attr.target_fd = state.target.raw
        try:
            commands.prog_detach(attr, f"detach program from {state.what}")
        except SyscallError as e:
            if e.errno != errno.ENOENT:   # already detached (replaced, or target gone)
                raise
    finally:
        state.target.close()


class ProgAttachLink(HandlelessLink):
    """An attachment made with ``BPF_PROG_ATTACH`` (cgroups, sockmaps): the kernel keeps no
    handle of it, so this Link holds what detaching needs: a descriptor of the target (a
    cgroup, a map), the attach type and a duplicate of the program's descriptor (its
    :attr:`fd`), and detaches exactly that program with ``BPF_PROG_DETACH`` when closed.

    Where the kernel detaches whatever is attached rather than a given program (a cgroup hook
    attached without ``BPF_F_ALLOW_MULTI``), closing first checks with ``BPF_PROG_QUERY``
    that the program is still the one attached, and leaves a replacement alone.
    """

    __slots__ = ("_flags",)

    _state: _ProgAttachState
    _flags: int

    @classmethod
    def attach(cls, program: Program, target: FD, attach_type: AttachType | int, *,
               flags: int, replace: Program | None, exact: bool, what: str,
               hints: dict[int, str] | None = None, relative_fd: int = 0,
               expected_revision: int = 0) -> ProgAttachLink:
        """Attach ``program`` to ``target`` (which the new Link owns from now on, even if
        attaching fails) and return the Link. ``flags`` may hold ``BPF_F_BEFORE`` /
        ``BPF_F_AFTER`` with ``relative_fd`` and an ``expected_revision``, where the hook
        orders its programs.

        Raises:
            SyscallError: the kernel refused (the message says what was attached where).
        """
        try:
            prog_fd = program_fd_dup(program)
        except BaseException:
            target.close()
            raise
        link = cls.__new__(cls)
        link._start(prog_fd, Mechanism.PROG_ATTACH)
        link._flags = flags
        context = f"attach program {program.name!r} to {what}"
        try:
            attr = ProgAttachAttr(attach_bpf_fd=prog_fd.raw, attach_type=int(attach_type),
                                  attach_flags=flags)
            attr.target_fd = target.raw
            attr.relative_fd = relative_fd
            attr.expected_revision = expected_revision
            if replace is not None:
                attr.attach_flags |= BPF_F_REPLACE
                attr.replace_bpf_fd = replace.fd
            try:
                commands.prog_attach(attr, context)
            except SyscallError as e:
                raise explain(e, context, hints or {}) from None
        except BaseException:
            target.close()
            link.close()
            raise
        link._arm(_ProgAttachState(prog_fd, target, attach_type, exact, what), _prog_detach)
        return link

    @property
    def target_fd(self) -> int:
        """The descriptor of the target (the cgroup, the map) this Link holds, lent."""
        self._checked_fd("use")
        return self._state.target.raw

    def update(self, program: Program) -> None:
        """Replace the attached program with ``program`` in place (``BPF_F_REPLACE``; only
        for cgroup hooks attached with ``BPF_F_ALLOW_MULTI``, Linux 5.6+).

        Raises:
            NotSupportedError: this attachment cannot be replaced exactly.
            SyscallError: the kernel refused (``ENOENT``: this Link's program is no longer
                attached).
        """
        state = self._state
        if not self._flags & BPF_F_ALLOW_MULTI:
            raise NotSupportedError(f"the attachment to {state.what} cannot be replaced in "
                                    f"place; attach the new program and close this link")
        new_fd = program_fd_dup(program)
        try:
            attr = ProgAttachAttr(attach_bpf_fd=new_fd.raw, attach_type=int(state.attach_type),
                                  attach_flags=self._flags | BPF_F_REPLACE,
                                  replace_bpf_fd=self._checked_fd("update").raw)
            attr.target_fd = state.target.raw
            commands.prog_attach(attr, f"replace the program on {state.what} with "
                                       f"{program.name!r}")
        except BaseException:
            new_fd.close()
            raise
        self._replace_program(new_fd)

    def info(self) -> LinkInfo:
        """What this Link knows of its attachment (the kernel keeps no link object): the
        program id, the attach type and ``target`` with ``attach_flags``."""
        return LinkInfo(type=LinkType.UNSPEC, id=0,
                        program_id=program_id(self._checked_fd("get info of").raw),
                        mechanism=Mechanism.PROG_ATTACH, attach_type=self._state.attach_type,
                        target={"attach_flags": self._flags})

    def _describe(self) -> str:
        state = getattr(self, "_state", None)
        if state is None:
            return "prog_attach"
        return f"prog_attach {type_name(state.attach_type)} on {state.what}"


# --- BPF_PROG_QUERY ---------------------------------------------------------------------------

def query_prog_ids(set_target: Callable[[ProgQueryAttr], object],
                   attach_type: AttachType | int, context: str, *, query_flags: int = 0
                   ) -> tuple[list[tuple[int, int]], int, int | None, list[int] | None]:
    """``BPF_PROG_QUERY``: ``([(program id, link id)], attach flags, revision,
    per-program attach flags)`` of a hook, asking for what the running kernel can report.

    ``set_target`` fills the target (fd or ifindex) of the attr. Kernels before 6.6 know
    neither link ids nor revisions (returned as 0 and None), kernels before 5.19/6.0 no
    per-program flags (None).

    Raises:
        SyscallError: the kernel refused.
    """
    # From the richest request down: older kernels refuse fields they do not know (EINVAL).
    for level in (2, 1, 0):
        try:
            return _query(set_target, attach_type, context, query_flags, level)
        except SyscallError as e:
            if e.errno != errno.EINVAL or level == 0:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _query(set_target: Callable[[ProgQueryAttr], object], attach_type: AttachType | int,
           context: str, query_flags: int, level: int
           ) -> tuple[list[tuple[int, int]], int, int | None, list[int] | None]:
    count = 0
    for _ in range(8):   # the hook may change between the two calls: ask again if it grew
        attr = ProgQueryAttr(attach_type=int(attach_type), query_flags=query_flags)
        set_target(attr)
        ids = (ctypes.c_uint32 * max(count, 1))()
        links = (ctypes.c_uint32 * max(count, 1))()
        flags = (ctypes.c_uint32 * max(count, 1))()
        if count:
            attr.prog_ids = ctypes.addressof(ids)
            attr.count = count
            if level >= 1:
                attr.prog_attach_flags = ctypes.addressof(flags)
            if level >= 2:
                attr.link_ids = ctypes.addressof(links)
        try:
            commands.prog_query(attr, context)
        except SyscallError as e:
            if e.errno == errno.ENOSPC and count:
                count = int(attr.count)
                continue
            raise
        got = int(attr.count)
        if got > count:
            count = got
            continue
        revision = int(attr.revision) if level >= 2 else None
        pairs = [(int(ids[i]), int(links[i]) if level >= 2 else 0) for i in range(got)]
        per_prog = [int(flags[i]) for i in range(got)] if level >= 1 else None
        return pairs, int(attr.attach_flags), revision or None, per_prog
    raise EbpfError(f"{context}: the attachments kept changing while they were read")
