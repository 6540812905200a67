"""Attaching programs: every way the kernel runs a BPF program, as a :class:`Link`.

Each family is a function that attaches a loaded :class:`~ebpf.Program` and returns a
:class:`Link`; closing the Link (or leaving its ``with`` block) detaches the program::

    from ebpf import link

    with link.tracepoint("syscalls", "sys_enter_openat", objs.count_opens):
        ...

:func:`attach` reads what a program's ELF section says (libbpf's conventions, such as
``SEC("tp/syscalls/sys_enter_openat")``) and calls the right family;
:meth:`Collection.attach_all <ebpf.Collection.attach_all>` does it for a whole collection.
A Link is a bpf_link where the kernel has one for the family, else the older mechanism (perf
event, ``BPF_PROG_ATTACH``, netlink); :attr:`Link.mechanism` says which.

The networking families: :func:`xdp`, :func:`tcx` and :func:`tc`, :func:`netkit` on an
interface (by name or index, in the calling thread's network namespace); :func:`cgroup` on a
cgroup v2 directory; :func:`sk_lookup`, :func:`flow_dissector` and :func:`netfilter` on a
network namespace; :func:`sockmap` on a sockmap. :func:`query` lists what is attached to any
of those hooks, whoever attached it::

    with link.tcx("eth0", objs.first, "ingress"), \
            link.tcx("eth0", objs.second, "ingress", after=objs.first):
        attached = link.query("eth0", "ingress").program_ids

The tracing families: :func:`tracepoint` and :func:`raw_tracepoint`; :func:`perf_event` (and
:func:`perf_event_on_cpus`) on software or hardware events; :func:`kprobe`,
:func:`kretprobe`, :func:`syscall_kprobe`, :func:`syscall_kretprobe` and
:func:`kprobe_multi` on kernel functions; :func:`uprobe`, :func:`uretprobe`,
:func:`uprobe_multi` and :func:`usdt` in user space; :func:`tracing` for the programs whose
target is fixed at load (fentry, fexit, fmod_ret, tp_btf, freplace) and :func:`lsm`;
:func:`iter` for iterators, whose output :meth:`IterLink.open` reads; :func:`struct_ops`
registers a struct_ops map::

    with link.kprobe_multi("vfs_*", objs.count_vfs, cookies={"vfs_read": 1}):
        ...
    with link.iter(objs.dump_tasks) as it:
        tasks = it.read_lines()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..internal.lazy import lazy_attributes

if TYPE_CHECKING:
    from ._common import Anchor as Anchor
    from .by_section import (
        Attachments as Attachments,
        MissingTargetError as MissingTargetError,
        attach as attach,
        attach_all as attach_all,
    )
    from .cgroups import CgroupMode as CgroupMode, cgroup as cgroup
    from .device import (
        XDPMode as XDPMode,
        netkit as netkit,
        tc as tc,
        tcx as tcx,
        xdp as xdp,
    )
    from .group import LinkGroup as LinkGroup
    from .iterators import (
        CgroupIterOrder as CgroupIterOrder,
        IterLink as IterLink,
        iter as iter,
    )
    from .kprobes import (
        kprobe as kprobe,
        kprobe_multi as kprobe_multi,
        kretprobe as kretprobe,
        syscall_kprobe as syscall_kprobe,
        syscall_kretprobe as syscall_kretprobe,
        syscall_symbol as syscall_symbol,
    )
    from .link import (
        BPFLink as BPFLink,
        Link as Link,
        LinkInfo as LinkInfo,
        Mechanism as Mechanism,
        from_fd as from_fd,
        from_id as from_id,
        load_pinned as load_pinned,
    )
    from .netns import (
        NetfilterFlags as NetfilterFlags,
        NFHook as NFHook,
        NFProto as NFProto,
        flow_dissector as flow_dissector,
        netfilter as netfilter,
        sk_lookup as sk_lookup,
    )
    from .perf_events import (
        PerfType as PerfType,
        SoftwareEvent as SoftwareEvent,
        perf_event as perf_event,
        perf_event_on_cpus as perf_event_on_cpus,
    )
    from .queries import (
        AttachedProgram as AttachedProgram,
        QueryResult as QueryResult,
        query as query,
    )
    from .sockmaps import sockmap as sockmap
    from .structops import struct_ops as struct_ops
    from .tracepoints import raw_tracepoint as raw_tracepoint, tracepoint as tracepoint
    from .trampolines import lsm as lsm, tracing as tracing
    from .uprobes import (
        uprobe as uprobe,
        uprobe_multi as uprobe_multi,
        uretprobe as uretprobe,
    )
    from .usdt_probes import usdt as usdt

#: Every public name of the package, with the module that defines it.
_PUBLIC: dict[str, str] = {
    "Anchor": "._common",
    "Attachments": ".by_section",
    "MissingTargetError": ".by_section",
    "attach": ".by_section",
    "attach_all": ".by_section",
    "AttachedProgram": ".queries",
    "BPFLink": ".link",
    "CgroupIterOrder": ".iterators",
    "CgroupMode": ".cgroups",
    "IterLink": ".iterators",
    "Link": ".link",
    "LinkGroup": ".group",
    "LinkInfo": ".link",
    "Mechanism": ".link",
    "NFHook": ".netns",
    "NFProto": ".netns",
    "NetfilterFlags": ".netns",
    "PerfType": ".perf_events",
    "QueryResult": ".queries",
    "SoftwareEvent": ".perf_events",
    "XDPMode": ".device",
    "cgroup": ".cgroups",
    "flow_dissector": ".netns",
    "from_fd": ".link",
    "from_id": ".link",
    "iter": ".iterators",
    "kprobe": ".kprobes",
    "kprobe_multi": ".kprobes",
    "kretprobe": ".kprobes",
    "syscall_kprobe": ".kprobes",
    "syscall_kretprobe": ".kprobes",
    "load_pinned": ".link",
    "lsm": ".trampolines",
    "netfilter": ".netns",
    "netkit": ".device",
    "perf_event": ".perf_events",
    "perf_event_on_cpus": ".perf_events",
    "query": ".queries",
    "raw_tracepoint": ".tracepoints",
    "sk_lookup": ".netns",
    "sockmap": ".sockmaps",
    "struct_ops": ".structops",
    "syscall_symbol": ".kprobes",
    "tc": ".device",
    "tcx": ".device",
    "tracepoint": ".tracepoints",
    "tracing": ".trampolines",
    "uprobe": ".uprobes",
    "uprobe_multi": ".uprobes",
    "uretprobe": ".uprobes",
    "usdt": ".usdt_probes",
    "xdp": ".device",
}

__all__ = sorted(_PUBLIC)

__getattr__, __dir__ = lazy_attributes(__name__, globals(), _PUBLIC)
