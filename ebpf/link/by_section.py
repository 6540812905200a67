"""Attaching by section name: :func:`attach` and :func:`attach_all`.

A BPF object says where each program goes in its ELF section name, by libbpf's conventions:
``SEC("kprobe/do_unlinkat")``, ``SEC("tp/syscalls/sys_enter_openat")``,
``SEC("uprobe/libc.so.6:malloc")``, ``SEC("usdt/./app:provider:probe")``, ``SEC("tp_btf/...")``,
``SEC("iter/task")``, ``SEC("xdp")``, ``SEC("tcx/ingress")``, ``SEC("cgroup/connect4")`` ...
:func:`attach` reads it from the :class:`~ebpf.Program` (which remembers the section it was
loaded from) and calls the family function with the target it names. Sections that do not name
everything (an interface, a cgroup, a sockmap, a program to replace) take it as a keyword
argument, and say which one is missing when it is not given. :func:`attach_all` attaches every
program of a collection that its section (and the arguments given) says enough about, so a
typical tracing object runs with one call::

    with ebpf.load_collection("execsnoop.o") as coll, coll.attach_all():
        ...
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, final

from ..errors import EbpfError
from ..map import Map
from ..program import Program
from ..section_names import parse_section_name
from ..types import AttachType, ProgramType
from .link import Link

if TYPE_CHECKING:
    from typing_extensions import Self

    from ..collection import Collection

__all__ = ["Attachments", "MissingTargetError", "attach", "attach_all"]


class MissingTargetError(EbpfError):
    """The program's section does not say enough to attach it: an argument is missing.

    Attributes:
        program: the program's name.
        section: its section name.
        argument: the keyword argument of :func:`attach` that would supply what is missing.
    """

    def __init__(self, message: str, *, program: str = "", section: str = "",
                 argument: str = "") -> None:
        super().__init__(message)
        self.program = program
        self.section = section
        self.argument = argument


class _Args:
    """The keyword arguments of :func:`attach`, with what a family asks of them."""

    def __init__(self, program: Program, section: str, given: Mapping[str, Any]) -> None:
        self.program = program
        self.section = section
        self.given = given

    def need(self, argument: str, what: str) -> Any:
        value = self.given.get(argument)
        if value is None:
            raise MissingTargetError(
                f"cannot attach program {self.program.name!r}: its section "
                f"{self.section!r} does not say {what}; pass {argument}=...",
                program=self.program.name, section=self.section, argument=argument)
        return value

    def get(self, argument: str, default: Any = None) -> Any:
        value = self.given.get(argument)
        return default if value is None else value

    def refuse(self, why: str) -> EbpfError:
        return EbpfError(f"cannot attach program {self.program.name!r} (section "
                         f"{self.section!r}): {why}")


def _split_binary(target: str, args: _Args, parts: int) -> list[str]:
    """``BINARY:REST`` (``REST`` itself split on ``:`` into ``parts - 1`` pieces); the binary
    may contain ``:`` only if the rest does not, as libbpf reads it."""
    pieces = target.rsplit(":", parts - 1)
    if len(pieces) != parts or not all(pieces):
        shape = {2: "BINARY:FUNCTION", 3: "BINARY:PROVIDER:NAME"}[parts]
        raise MissingTargetError(
            f"cannot attach program {args.program.name!r}: section {args.section!r} needs "
            f"the form {shape}; call the family function with the target instead",
            program=args.program.name, section=args.section, argument="target")
    return pieces


def _function_and_offset(spec: str) -> tuple[str | None, int]:
    """``sym``, ``sym+0x10`` or a raw ``0x1234`` file offset."""
    name, plus, off = spec.partition("+")
    if not plus:
        try:
            return None, int(spec, 0)
        except ValueError:
            return spec, 0
    try:
        return name, int(off, 0)
    except ValueError:
        return spec, 0


def _attach_kprobes(prefix: str, target: str, args: _Args) -> Link:
    from .kprobes import kprobe, kprobe_multi, kretprobe, syscall_kprobe, syscall_kretprobe

    program, cookie = args.program, args.get("cookie", 0)
    if not target:
        args.need("target", "which kernel function")
    if prefix in ("kprobe.multi", "kretprobe.multi", "kprobe.session"):
        return kprobe_multi(target, program, retprobe=prefix == "kretprobe.multi",
                            session=prefix == "kprobe.session")
    if prefix == "ksyscall":
        return syscall_kprobe(target, program, cookie=cookie)
    if prefix == "kretsyscall":
        return syscall_kretprobe(target, program, cookie=cookie)
    symbol, offset = _function_and_offset(target)
    if symbol is None:
        raise args.refuse("a kprobe needs a function name, not an address")
    if prefix == "kretprobe":
        if offset:
            raise args.refuse("a kretprobe takes no offset")
        return kretprobe(symbol, program, maxactive=args.get("maxactive", 0), cookie=cookie)
    return kprobe(symbol, program, offset=offset, cookie=cookie)


def _attach_uprobes(prefix: str, target: str, args: _Args) -> Link:
    from .uprobes import uprobe, uprobe_multi, uretprobe
    from .usdt_probes import usdt

    program, pid, cookie = args.program, args.get("pid", -1), args.get("cookie", 0)
    base = prefix.removesuffix(".s")
    if not target:
        args.need("target", "which binary and function")
    if base == "usdt":
        binary, provider, name = _split_binary(target, args, 3)
        return usdt(binary, provider, name, program, pid=pid, cookie=cookie)
    binary, function = _split_binary(target, args, 2)
    if base in ("uprobe.multi", "uretprobe.multi", "uprobe.session"):
        return uprobe_multi(binary, function, program, retprobe=base == "uretprobe.multi",
                            session=base == "uprobe.session", pid=pid)
    symbol, offset = _function_and_offset(function)
    family = uretprobe if base == "uretprobe" else uprobe
    return family(binary, symbol, program, offset=offset, pid=pid, cookie=cookie)


def _attach_tracing(prefix: str, target: str, args: _Args) -> Link:
    from .iterators import iter as iter_link
    from .trampolines import lsm, tracing

    program, cookie = args.program, args.get("cookie", 0)
    base = prefix.removesuffix(".s")
    if base == "iter":
        return iter_link(program, map=args.get("map"), pid=args.get("pid"),
                         cgroup=args.get("cgroup"))
    if base == "lsm":
        return lsm(program, cookie=cookie)
    if base == "lsm_cgroup":
        from .cgroups import cgroup

        return cgroup(args.need("cgroup", "which cgroup"), program, AttachType.LSM_CGROUP)
    if base == "freplace":
        replaced = args.need("target", "which program's function to replace")
        return tracing(program, target=replaced, target_function=target or None)
    return tracing(program, cookie=cookie)


def _attach_networking(prefix: str, args: _Args) -> Link:
    from .cgroups import cgroup
    from .device import netkit, tc, tcx, xdp
    from .netns import flow_dissector, sk_lookup
    from .sockmaps import sockmap

    program = args.program
    at = program.attach_type
    if prefix in ("xdp", "xdp.frags"):
        return xdp(args.need("interface", "which network interface"), program)
    if prefix in ("tcx/ingress", "tcx/egress", "tc/ingress", "tc/egress"):
        hook = AttachType.TCX_INGRESS if prefix.endswith("ingress") else AttachType.TCX_EGRESS
        return tcx(args.need("interface", "which network interface"), program, hook)
    if prefix in ("tc", "classifier"):
        interface = args.need("interface", "which network interface")
        direction = args.need("direction", "which direction (\"ingress\" or \"egress\")")
        return tc(interface, program, direction)
    if prefix in ("netkit/primary", "netkit/peer"):
        side = AttachType.NETKIT_PRIMARY if prefix.endswith("primary") else AttachType.NETKIT_PEER
        return netkit(args.need("interface", "which netkit device"), program, side)
    if prefix == "sk_lookup":
        return sk_lookup(program, args.get("netns"))
    if prefix == "flow_dissector":
        return flow_dissector(program, args.get("netns"))
    if prefix == "netfilter":
        raise MissingTargetError(
            f"cannot attach program {program.name!r}: section 'netfilter' does not say the "
            "protocol family, hook and priority; call ebpf.link.netfilter(program, "
            "protocol_family=..., hook=..., priority=...)",
            program=program.name, section=args.section, argument="hook")
    if prefix.startswith(("sk_skb", "sk_msg")):
        if at is None:
            raise args.refuse("the section names no sockmap attach type (use "
                              "sk_skb/stream_parser, sk_skb/stream_verdict, sk_skb/verdict or "
                              "sk_msg)")
        return sockmap(args.need("map", "which sockmap or sockhash"), program, at)
    if prefix.startswith(("cgroup", "sockops")):
        if at is None:
            raise args.refuse("the section names no cgroup attach type")
        return cgroup(args.need("cgroup", "which cgroup (a cgroup v2 directory)"), program, at)
    raise args.refuse("the library does not know how to attach this section")


# Sections whose programs are not attached to a hook by a link.
_NOT_ATTACHED = {
    "socket": "socket filters attach to a socket: sock.setsockopt(SOL_SOCKET, SO_ATTACH_BPF, "
              "program.fd)",
    "syscall": "syscall programs are not attached; run them with test_run()",
    "struct_ops": "struct_ops programs run through their map: ebpf.link.struct_ops(map)",
    "struct_ops.s": "struct_ops programs run through their map: ebpf.link.struct_ops(map)",
    "perf_event": "perf event programs need an event: ebpf.link.perf_event(program, type=..., "
                  "config=...)",
    "xdp/devmap": "devmap programs run from a devmap entry, not an interface",
    "xdp.frags/devmap": "devmap programs run from a devmap entry, not an interface",
    "xdp/cpumap": "cpumap programs run from a cpumap entry, not an interface",
    "xdp.frags/cpumap": "cpumap programs run from a cpumap entry, not an interface",
}


def attach(program: Program, *, section: str | None = None, interface: str | int | None = None,
           cgroup: str | os.PathLike[str] | int | None = None, map: Map | None = None,
           target: Program | str | None = None, direction: str | None = None,
           netns: str | os.PathLike[str] | int | None = None, pid: int | None = None,
           cookie: int | None = None, maxactive: int | None = None) -> Link:
    """Attach ``program`` where its ELF section name says (libbpf's conventions).

    ``section`` overrides the program's own :attr:`~ebpf.Program.section_name` (needed for
    programs opened by id, fd or pin, which do not know theirs). The other arguments supply
    what a section does not say: ``interface`` (XDP, TCX, tc, netkit), ``direction`` (a bare
    ``SEC("tc")``), ``cgroup`` (cgroup programs), ``map`` (sockmap programs; an iterator's
    map), ``target`` (the program a ``freplace`` program replaces a function of; or the
    target of a kprobe/uprobe section that names none), ``netns`` (sk_lookup, flow
    dissector), ``pid`` (uprobes, USDT, task iterators), ``cookie``, ``maxactive``
    (kretprobes).

    Returns the family function's :class:`Link`; the program is borrowed.

    Raises:
        MissingTargetError: the section does not name the target and the argument that would
            was not given (``.argument`` says which).
        EbpfError: the section is unknown, or names a kind of program that is not attached
            to a hook (socket filters, syscall programs ...); the message says what to do.
        SyscallError, NotSupportedError: the family function failed.
    """
    if not isinstance(program, Program):
        raise EbpfError(f"attach() takes a Program, not {type(program).__name__}")
    name = section if section is not None else program.section_name
    if not name:
        raise MissingTargetError(
            f"cannot attach program {program.name!r}: it does not know the section it was "
            "loaded from (opened by id, fd or pin, or built by hand); pass section=...",
            program=program.name, argument="section")
    info = parse_section_name(name)
    prefix, attach_to = info.prefix, info.attach_to
    given = {"interface": interface, "cgroup": cgroup, "map": map, "target": target,
             "direction": direction, "netns": netns, "pid": pid, "cookie": cookie,
             "maxactive": maxactive}
    args = _Args(program, name, given)
    if not prefix:
        raise args.refuse("the section name follows no convention the library knows")
    if prefix in _NOT_ATTACHED:
        raise args.refuse(_NOT_ATTACHED[prefix])
    if isinstance(target, str) and not attach_to:
        attach_to = target
    if info.type == ProgramType.KPROBE:
        if prefix.startswith(("kprobe", "kretprobe", "ksyscall", "kretsyscall")):
            return _attach_kprobes(prefix, attach_to, args)
        return _attach_uprobes(prefix, attach_to, args)
    if info.type in (ProgramType.TRACEPOINT, ProgramType.RAW_TRACEPOINT,
                     ProgramType.RAW_TRACEPOINT_WRITABLE):
        from .tracepoints import raw_tracepoint, tracepoint

        if not attach_to:
            args.need("target", "which tracepoint")
        if info.type == ProgramType.TRACEPOINT:
            group, sep, event = attach_to.partition("/")
            if not sep or not event:
                raise args.refuse(f"a tracepoint section names GROUP/NAME, not {attach_to!r}")
            return tracepoint(group, event, program, cookie=args.get("cookie", 0))
        return raw_tracepoint(attach_to, program, cookie=args.get("cookie", 0))
    if info.type in (ProgramType.TRACING, ProgramType.LSM, ProgramType.EXT):
        return _attach_tracing(prefix, attach_to, args)
    return _attach_networking(prefix, args)


@final
class Attachments(Mapping[str, Link]):
    """The links :func:`attach_all` made, by program name; closing it closes them all.

    Attributes:
        skipped: the programs left unattached, by name, with why (the argument their section
            needed and that was not given, or why they are not attached to a hook).
    """

    __slots__ = ("_links", "skipped")

    def __init__(self, links: dict[str, Link], skipped: dict[str, str]) -> None:
        self._links = links
        self.skipped = skipped

    def __getitem__(self, name: str) -> Link:
        return self._links[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._links)

    def __len__(self) -> int:
        return len(self._links)

    def close(self) -> None:
        """Detach every program (close every link). Calling it again does nothing."""
        links, self._links = self._links, {}
        first: BaseException | None = None
        for link in reversed(list(links.values())):
            try:
                link.close()
            except Exception as e:  # close the rest, then report
                first = first or e
        if first is not None:
            raise first

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Attachments {sorted(self._links)} skipped={sorted(self.skipped)}>"


def attach_all(collection: Collection, **arguments: Any) -> Attachments:
    """Attach every program of ``collection`` that its section says enough about (with the
    keyword ``arguments`` of :func:`attach`, given to every program); the others are listed in
    :attr:`Attachments.skipped` with why. All or nothing: if attaching one fails for another
    reason, the ones attached already are detached and the error propagates.

    :meth:`Collection.attach_all <ebpf.Collection.attach_all>` is the same.
    """
    links: dict[str, Link] = {}
    skipped: dict[str, str] = {}
    try:
        for name, program in collection.programs.items():
            info = parse_section_name(program.section_name)
            if not info.prefix or info.prefix in _NOT_ATTACHED:
                skipped[name] = _NOT_ATTACHED.get(info.prefix, "no known section convention")
                continue
            try:
                links[name] = attach(program, **arguments)
            except MissingTargetError as e:
                skipped[name] = str(e)
    except BaseException:
        Attachments(links, skipped).close()
        raise
    return Attachments(links, skipped)
