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
        print(link.query("eth0", "ingress").program_ids)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..internal.lazy import lazy_attributes

if TYPE_CHECKING:
    from ._common import Anchor as Anchor
    from .cgroups import CgroupMode as CgroupMode, cgroup as cgroup
    from .device import (
        XDPMode as XDPMode,
        netkit as netkit,
        tc as tc,
        tcx as tcx,
        xdp as xdp,
    )
    from .group import LinkGroup as LinkGroup
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
    from .queries import (
        AttachedProgram as AttachedProgram,
        QueryResult as QueryResult,
        query as query,
    )
    from .sockmaps import sockmap as sockmap
    from .uprobes import (
        uprobe as uprobe,
        uprobe_multi as uprobe_multi,
        uretprobe as uretprobe,
    )
    from .usdt_probes import usdt as usdt

#: Every public name of the package, with the module that defines it.
_PUBLIC: dict[str, str] = {
    "Anchor": "._common",
    "AttachedProgram": ".queries",
    "BPFLink": ".link",
    "CgroupMode": ".cgroups",
    "Link": ".link",
    "LinkGroup": ".group",
    "LinkInfo": ".link",
    "Mechanism": ".link",
    "NFHook": ".netns",
    "NFProto": ".netns",
    "NetfilterFlags": ".netns",
    "QueryResult": ".queries",
    "XDPMode": ".device",
    "cgroup": ".cgroups",
    "flow_dissector": ".netns",
    "from_fd": ".link",
    "from_id": ".link",
    "load_pinned": ".link",
    "netfilter": ".netns",
    "netkit": ".device",
    "query": ".queries",
    "sk_lookup": ".netns",
    "sockmap": ".sockmaps",
    "tc": ".device",
    "tcx": ".device",
    "xdp": ".device",
    "uprobe": ".uprobes",
    "uprobe_multi": ".uprobes",
    "uretprobe": ".uprobes",
    "usdt": ".usdt_probes",
}

__all__ = sorted(_PUBLIC)

__getattr__, __dir__ = lazy_attributes(__name__, globals(), _PUBLIC)
