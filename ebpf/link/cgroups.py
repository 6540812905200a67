"""Programs on cgroups (cgroup v2): socket, address, device, sysctl and sockopt hooks.

:func:`cgroup` attaches with a bpf_link where the kernel has cgroup links (Linux 5.7), and with
``BPF_PROG_ATTACH`` otherwise or when a :class:`CgroupMode` other than ``LINK`` asks for it. A
program attached to a cgroup runs for every process in it and in its descendants (subject to
the modes of the programs attached below).
"""

from __future__ import annotations

import enum
import errno
import os
from typing import Final

from ..errors import EbpfError, SyscallError
from ..internal.sys import FD
from ..program import Program
from ..types import AttachType, ProgramType
from ._common import (
    BPF_F_ALLOW_MULTI,
    BPF_F_ALLOW_OVERRIDE,
    MPROG_HINTS,
    Anchor,
    ProgAttachLink,
    check_program,
    check_revision,
    explain,
    have_cgroup_link,
    lacks,
    open_directory,
    relative,
    relative_config,
    type_name,
)
from .link import Link, create_bpf_link

__all__ = ["CGROUP_ATTACH_TYPES", "CgroupMode", "cgroup", "cgroup_attach_type"]


class CgroupMode(enum.Enum):
    """How a program is attached to a cgroup hook."""

    LINK = "link"
    """A bpf_link (Linux 5.7+; on older kernels ``MULTI``): runs beside the other programs of
    the hook, in attach order, and detaches when the Link is closed."""
    MULTI = "multi"
    """``BPF_PROG_ATTACH`` with ``BPF_F_ALLOW_MULTI``: like a link, and programs attached to
    descendant cgroups run after this one."""
    OVERRIDE = "override"
    """``BPF_PROG_ATTACH`` with ``BPF_F_ALLOW_OVERRIDE``: the hook's only program, which a
    program attached to a descendant cgroup replaces for that subtree."""
    SINGLE = "single"
    """``BPF_PROG_ATTACH`` without flags: the hook's only program, and descendants cannot
    attach their own. Attaching again in this mode replaces the program there."""


_MODE_FLAGS: Final = {CgroupMode.MULTI: BPF_F_ALLOW_MULTI,
                      CgroupMode.OVERRIDE: BPF_F_ALLOW_OVERRIDE, CgroupMode.SINGLE: 0}

_A, _P = AttachType, ProgramType

#: Every cgroup attach type: its program type and the name libbpf's ``cgroup/NAME`` sections
#: (and :func:`cgroup`) use for it.
CGROUP_ATTACH_TYPES: Final[dict[AttachType, tuple[ProgramType, str]]] = {
    _A.CGROUP_INET_INGRESS: (_P.CGROUP_SKB, "ingress"),
    _A.CGROUP_INET_EGRESS: (_P.CGROUP_SKB, "egress"),
    _A.CGROUP_INET_SOCK_CREATE: (_P.CGROUP_SOCK, "sock_create"),
    _A.CGROUP_INET_SOCK_RELEASE: (_P.CGROUP_SOCK, "sock_release"),
    _A.CGROUP_INET4_POST_BIND: (_P.CGROUP_SOCK, "post_bind4"),
    _A.CGROUP_INET6_POST_BIND: (_P.CGROUP_SOCK, "post_bind6"),
    _A.CGROUP_SOCK_OPS: (_P.SOCK_OPS, "sock_ops"),
    _A.CGROUP_DEVICE: (_P.CGROUP_DEVICE, "dev"),
    _A.CGROUP_INET4_BIND: (_P.CGROUP_SOCK_ADDR, "bind4"),
    _A.CGROUP_INET6_BIND: (_P.CGROUP_SOCK_ADDR, "bind6"),
    _A.CGROUP_INET4_CONNECT: (_P.CGROUP_SOCK_ADDR, "connect4"),
    _A.CGROUP_INET6_CONNECT: (_P.CGROUP_SOCK_ADDR, "connect6"),
    _A.CGROUP_UNIX_CONNECT: (_P.CGROUP_SOCK_ADDR, "connect_unix"),
    _A.CGROUP_UDP4_SENDMSG: (_P.CGROUP_SOCK_ADDR, "sendmsg4"),
    _A.CGROUP_UDP6_SENDMSG: (_P.CGROUP_SOCK_ADDR, "sendmsg6"),
    _A.CGROUP_UNIX_SENDMSG: (_P.CGROUP_SOCK_ADDR, "sendmsg_unix"),
    _A.CGROUP_UDP4_RECVMSG: (_P.CGROUP_SOCK_ADDR, "recvmsg4"),
    _A.CGROUP_UDP6_RECVMSG: (_P.CGROUP_SOCK_ADDR, "recvmsg6"),
    _A.CGROUP_UNIX_RECVMSG: (_P.CGROUP_SOCK_ADDR, "recvmsg_unix"),
    _A.CGROUP_INET4_GETPEERNAME: (_P.CGROUP_SOCK_ADDR, "getpeername4"),
    _A.CGROUP_INET6_GETPEERNAME: (_P.CGROUP_SOCK_ADDR, "getpeername6"),
    _A.CGROUP_UNIX_GETPEERNAME: (_P.CGROUP_SOCK_ADDR, "getpeername_unix"),
    _A.CGROUP_INET4_GETSOCKNAME: (_P.CGROUP_SOCK_ADDR, "getsockname4"),
    _A.CGROUP_INET6_GETSOCKNAME: (_P.CGROUP_SOCK_ADDR, "getsockname6"),
    _A.CGROUP_UNIX_GETSOCKNAME: (_P.CGROUP_SOCK_ADDR, "getsockname_unix"),
    _A.CGROUP_SYSCTL: (_P.CGROUP_SYSCTL, "sysctl"),
    _A.CGROUP_GETSOCKOPT: (_P.CGROUP_SOCKOPT, "getsockopt"),
    _A.CGROUP_SETSOCKOPT: (_P.CGROUP_SOCKOPT, "setsockopt"),
    _A.LSM_CGROUP: (_P.LSM, "lsm_cgroup"),
}
_BY_NAME: Final = {name: at for at, (_, name) in CGROUP_ATTACH_TYPES.items()}

_HINTS: Final = {
    errno.EPERM: "the hook holds a program attached in another mode, or one that does not "
                 "allow descendants to attach",
    errno.EINVAL: "the program was loaded for another attach type, or the mode does not fit",
    errno.EEXIST: "the program is attached to this hook already",
    errno.E2BIG: "the hook has the most programs it can hold",
    errno.EBADF: "the target is not a cgroup v2 directory",
    errno.ENOENT: "the program to replace is not attached",
}


_ORDER_HINTS: Final = {
    **MPROG_HINTS,
    errno.EINVAL: "a link takes a link as its anchor and a PROG_ATTACH program a program, or "
                  "the program was loaded for another attach type, or the kernel cannot "
                  "order cgroup programs (Linux 6.16)",
}


def cgroup_attach_type(value: object, context: str = "cgroup") -> AttachType:
    """The cgroup :class:`AttachType` named by ``value`` (a member, its number, or its libbpf
    name such as ``"connect4"``).

    Raises:
        EbpfError: ``value`` names no cgroup attach type.
    """
    if isinstance(value, str):
        at = _BY_NAME.get(value.removeprefix("cgroup/"))
        if at is not None:
            return at
    elif isinstance(value, int) and not isinstance(value, bool):
        try:
            at = AttachType(value)
        except ValueError:
            pass
        else:
            if at in CGROUP_ATTACH_TYPES:
                return at
    raise EbpfError(f"{context}: {value!r} is not a cgroup attach type (an AttachType such as "
                    f"CGROUP_INET4_CONNECT, or a name such as 'connect4')")


def cgroup(path_or_fd: str | os.PathLike[str] | int, program: Program,
           attach_type: AttachType | str, *, mode: CgroupMode = CgroupMode.LINK,
           replace: Program | None = None, before: Anchor | None = None,
           after: Anchor | None = None, expected_revision: int | None = None) -> Link:
    """Attach ``program`` to the cgroup v2 directory ``path_or_fd`` (a path, or an open
    descriptor of the directory, which stays the caller's) at ``attach_type`` (an
    :class:`AttachType` or its libbpf name, e.g. ``"connect4"``, ``"ingress"``, ``"sysctl"``).

    ``mode`` is :attr:`CgroupMode.LINK` (a bpf_link; ``BPF_PROG_ATTACH`` with
    ``BPF_F_ALLOW_MULTI`` on kernels before 5.7) or one of the ``BPF_PROG_ATTACH`` modes.
    ``replace`` (``MULTI`` only) replaces that attached program in place
    (``BPF_F_REPLACE``, Linux 5.6+) instead of adding this one at the end.

    In ``LINK`` and ``MULTI`` modes, Linux 6.16+ can also place the program relative to the
    others (``before``, ``after``) and attach only if the hook's revision (see
    :func:`~ebpf.link.query`) is ``expected_revision``, as :func:`tcx` does; but the anchor
    of a link must be a :class:`~ebpf.link.BPFLink` of that hook, and the anchor of a
    ``MULTI`` program a :class:`Program` (or program id) attached there with
    ``BPF_PROG_ATTACH``. ``"all"`` (first, or last) works for both.

    The returned Link owns the attachment; ``program`` is borrowed. A ``PROG_ATTACH`` Link
    holds a descriptor of the cgroup and one of the program, and detaches exactly its program
    with ``BPF_PROG_DETACH`` when closed (in ``OVERRIDE`` and ``SINGLE`` modes, only if it is
    still the attached one).

    Raises:
        SyscallError: the path does not exist (``ENOENT``, naming it); the kernel refused
            (``EPERM``: the hook holds programs of another mode; ``EINVAL``: the program was
            loaded for another attach type; ``EBADF``: not a cgroup v2 directory).
        EbpfError: the program type does not fit the attach type, or invalid arguments.
    """
    at = cgroup_attach_type(attach_type)
    wanted, short = CGROUP_ATTACH_TYPES[at]
    family = f"cgroup {short}"
    check_program(program, family, (wanted,))
    if not isinstance(mode, CgroupMode):
        raise EbpfError(f"{family}: mode must be a CgroupMode, not {mode!r}")
    if replace is not None:
        if mode is not CgroupMode.MULTI:
            raise EbpfError(f"{family}: replace= needs CgroupMode.MULTI (a link is replaced "
                            f"with Link.update)")
        check_program(replace, family, (wanted,))
    shown = os.fspath(path_or_fd) if isinstance(path_or_fd, os.PathLike) else path_or_fd
    context = f"attach {type_name(at)} program {program.name!r} to cgroup {shown!r}"
    order, rel = relative(before, after, context)
    revision = check_revision(expected_revision, context)
    if (order or revision) and mode not in (CgroupMode.LINK, CgroupMode.MULTI):
        raise EbpfError(f"{context}: before=, after= and expected_revision= need "
                        f"CgroupMode.LINK or MULTI")
    hints = _HINTS if not (order or revision) else {**_HINTS, **_ORDER_HINTS}
    target: FD | None = open_directory(path_or_fd, "cgroup", context)
    assert target is not None
    try:
        if mode is CgroupMode.LINK:
            try:
                return create_bpf_link(program, at, target_fd=target.raw, flags=order,
                                       configure=relative_config(rel, revision, "cgroup"),
                                       context=context)
            except SyscallError as e:
                if e.errno != errno.EINVAL or not lacks(have_cgroup_link):
                    raise explain(e, context, hints) from None
            flags = BPF_F_ALLOW_MULTI          # the kernel predates cgroup links
        else:
            flags = _MODE_FLAGS[mode]
        held, target = target, None
        return ProgAttachLink.attach(program, held, at, flags=flags | order, replace=replace,
                                     exact=bool(flags & BPF_F_ALLOW_MULTI),
                                     what=f"cgroup {shown!r} ({type_name(at)})", hints=hints,
                                     relative_fd=rel, expected_revision=revision)
    finally:
        if target is not None:
            target.close()
