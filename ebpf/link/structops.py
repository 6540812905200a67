"""struct_ops: registering a set of BPF programs as an implementation of a kernel interface
(a TCP congestion control, a scheduler class, HID or qdisc operations ...).

The object file defines the implementation as a struct in ``SEC(".struct_ops.link")`` (or
``SEC(".struct_ops")``) whose function pointers name the programs; the loader creates a
struct_ops map for it and lays its value out for the running kernel. :func:`struct_ops`
registers it: a bpf_link (``BPF_LINK_CREATE``, Linux 6.4+) for maps created with
``BPF_F_LINK``, else by writing the map's value (:attr:`Mechanism.MAP_UPDATE`), which deleting
it undoes.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
from typing import ClassVar

from ..errors import EbpfError, SyscallError
from ..internal.sys import FD, LinkCreateAttr, MapElemAttr, commands
from ..loader import keep_prepared_struct_ops, take_prepared_struct_ops
from ..map import Map
from ..types import AttachType, LinkType, MapFlags, MapType
from .link import BPFLink, Link, LinkInfo, Mechanism

__all__ = ["struct_ops"]


class StructOpsRegistration(Link):
    """A struct_ops map registered by writing its value: closing the Link unregisters it
    (deletes the value). The Link owns a duplicate of the map's descriptor."""

    __slots__ = ("_map_name",)

    _pinnable: ClassVar[bool] = False
    _map_name: str

    @classmethod
    def _made(cls, fd: FD, name: str) -> StructOpsRegistration:
        link = cls.__new__(cls)
        link._setup_link(fd, Mechanism.MAP_UPDATE)
        link._map_name = name
        return link

    def _cloned(self, fd: FD) -> StructOpsRegistration:
        raise EbpfError("a struct_ops registration cannot be cloned: closing either would "
                        "unregister it")

    def _release(self) -> None:
        key = ctypes.c_uint32(0)
        attr = MapElemAttr(map_fd=self._fd.raw, key=ctypes.addressof(key))
        try:
            commands.map_delete_elem(attr, f"unregister struct_ops map {self._map_name!r}")
        except SyscallError as e:
            if e.errno not in (errno.ENOENT, errno.EINVAL):  # unregistered already
                raise

    def info(self) -> LinkInfo:
        """The registration as a :class:`LinkInfo` (``target``: the map's id)."""
        from ..info import map_info

        return LinkInfo(type=LinkType.UNSPEC, id=0, program_id=0, mechanism=Mechanism.MAP_UPDATE,
                        attach_type=AttachType.STRUCT_OPS,
                        target={"map_id": map_info(self._checked_fd("get info of").raw).id})

    def _describe(self) -> str:
        return f"struct_ops map {self._map_name!r} registered"


def struct_ops(map: Map) -> Link:
    """Register the struct_ops map ``map`` (loaded from ``SEC(".struct_ops.link")`` or
    ``SEC(".struct_ops")``): from now on the kernel calls its programs, e.g. a TCP congestion
    control becomes selectable by its name.

    A map created with ``BPF_F_LINK`` (``.struct_ops.link``, Linux 6.4+) is registered by a
    bpf_link (``BPF_LINK_CREATE``, attach type ``STRUCT_OPS``): pinnable, with an id and info.
    Other maps are registered by writing the value the loader prepared for them
    (:attr:`Mechanism.MAP_UPDATE`); closing the Link unregisters them.

    The returned Link owns a new descriptor; closing it unregisters. ``map`` is borrowed.

    Raises:
        EbpfError: ``map`` is not a struct_ops map, or (without ``BPF_F_LINK``) was not loaded
            by this library in this process, so its value is unknown.
        SyscallError: the kernel refused (``EEXIST``: something of that name is registered
            already; ``EBUSY``: the map was registered before).
    """
    if not isinstance(map, Map):
        raise EbpfError(f"attach struct_ops: expected a Map, not {type(map).__name__}")
    if map.type != MapType.STRUCT_OPS:
        have = map.type.name if isinstance(map.type, MapType) else map.type
        raise EbpfError(f"attach struct_ops: map {map.name!r} is a {have} map, not a "
                        "STRUCT_OPS map")
    context = f"register struct_ops map {map.name!r}"
    if map.flags & MapFlags.LINK:
        attr = LinkCreateAttr(attach_type=int(AttachType.STRUCT_OPS))
        attr.map_fd = map.fd
        return BPFLink._created(commands.link_create(attr, context))
    prepared = take_prepared_struct_ops(map)
    if prepared is None:
        raise EbpfError(f"{context}: its value is unknown here (it is prepared when the map is "
                        "loaded from an object file, in the loading process, and used once)")
    fd = FD(fcntl.fcntl(map.fd, fcntl.F_DUPFD_CLOEXEC, 1), "struct_ops map")
    try:
        map.update(0, prepared.value)
    except BaseException:
        fd.close()
        keep_prepared_struct_ops(map, prepared)
        raise
    prepared.release()  # registered: the kernel holds the programs now
    return StructOpsRegistration._made(fd, map.name)
