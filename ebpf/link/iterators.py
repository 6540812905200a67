"""BPF iterators: a program run over kernel objects (tasks, open files, maps, map entries,
programs, cgroups, sockets ...), whose output is read like a file.

:func:`iter` attaches an iterator program (``SEC("iter/task")``) and returns an
:class:`IterLink`; every :meth:`IterLink.open` starts a new walk (``BPF_ITER_CREATE``) whose
text or bytes (what the program wrote with ``bpf_seq_printf``/``bpf_seq_write``) are read from
the returned file.
"""

from __future__ import annotations

import ctypes
import enum
import errno
import io
import os

from .. import asm
from ..btf import Func, NotFoundError, load_kernel_spec
from ..errors import EbpfError, NotSupportedError, SyscallError
from ..internal.feature import feature_test
from ..internal.sys import FD, IterCreateAttr, IterLinkInfo, LinkCreateAttr, commands
from ..map import Map
from ..program import Program, ProgramSpec
from ..types import AttachType, ProgramType
from ._common import check_program
from .link import BPFLink, Mechanism

__all__ = ["CgroupIterOrder", "IterLink", "iter"]


class CgroupIterOrder(enum.IntEnum):
    """``enum bpf_cgroup_iter_order``: which cgroups a cgroup iterator visits, from the one
    it is given (Linux 6.1+)."""

    SELF_ONLY = 1
    DESCENDANTS_PRE = 2
    DESCENDANTS_POST = 3
    ANCESTORS_UP = 4


def _load_iterator(target: str) -> Program:
    """A trivial iterator program for ``target``."""
    kernel = load_kernel_spec()
    try:
        btf_id = kernel.type_id(kernel.type_by_name(f"bpf_iter_{target}", Func))
    except NotFoundError:
        raise NotSupportedError(f"the kernel has no {target} iterator (no bpf_iter_{target} "
                                "in its BTF)") from None
    spec = ProgramSpec(name="probe_iter", type=ProgramType.TRACING, license="GPL",
                       attach_type=AttachType.TRACE_ITER, attach_btf_id=btf_id,
                       instructions=asm.Instructions([asm.mov.imm(asm.R0, 0), asm.exit()]))
    return Program(spec)


@feature_test("bpf_map_elem iterator", "5.9")
def _have_map_elem_iterator() -> None:
    """Whether iterators over a map's entries load. Some kernels refuse them (``EPERM``)
    while other iterators load."""
    try:
        _load_iterator("bpf_map_elem").close()
    except (SyscallError, EbpfError) as e:
        if getattr(e, "errno", None) != errno.EPERM:
            raise
        _load_iterator("bpf_map").close()  # iterators as such load: the refusal is specific
        raise NotSupportedError(f"the kernel refuses bpf_map_elem iterator programs: {e}"
                                ) from e


class IterLink(BPFLink):
    """An iterator program attached to its target: each :meth:`open` runs it once over the
    target's objects."""

    __slots__ = ()

    @classmethod
    def _created_iter(cls, fd: FD) -> IterLink:
        link = cls.__new__(cls)
        link._setup_link(fd, Mechanism.BPF_LINK)
        return link

    def open(self) -> io.BufferedReader:
        """Start a walk (``BPF_ITER_CREATE``) and return its output as a binary file.

        The caller owns the file (a new descriptor): close it, or use ``with``. Reading it
        runs the program; it ends (``read`` returns ``b""``) when every object was visited.

        Raises:
            ClosedError: the link was closed.
            SyscallError: the kernel refused.
        """
        attr = IterCreateAttr(link_fd=self._checked_fd("open").raw)
        fd = commands.iter_create(attr, "create iterator")
        raw = fd.detach()
        try:
            return io.BufferedReader(io.FileIO(raw, "rb", closefd=True))
        except BaseException:
            os.close(raw)
            raise

    def read_bytes(self) -> bytes:
        """Run one walk and return all of its output.

        Raises:
            ClosedError: the link was closed.
            SyscallError: the kernel refused, or the program failed during the walk (e.g.
                ``E2BIG`` when one object's output exceeds the kernel's buffer).
        """
        with self.open() as f:
            try:
                return f.read()
            except OSError as e:
                raise SyscallError(e.errno or errno.EIO, "read", "read iterator output"
                                   ) from e

    def read_lines(self, *, encoding: str = "utf-8") -> list[str]:
        """Run one walk and return its output as text lines (without line ends).

        Raises:
            as :meth:`read_bytes`.
        """
        return self.read_bytes().decode(encoding, errors="replace").splitlines()


def _check_id(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= 0xFFFF_FFFF:
        raise EbpfError(f"attach iterator: {what} must be a positive int, not {value!r}")
    return value


def iter(program: Program, *, map: Map | None = None, pid: int | None = None,
         tid: int | None = None, pid_fd: int | None = None,
         cgroup: str | os.PathLike[str] | None = None, cgroup_id: int | None = None,
         order: CgroupIterOrder | None = None) -> IterLink:
    """Attach iterator program ``program`` (``SEC("iter/<target>")``: ``task``,
    ``task_file``, ``task_vma``, ``bpf_map``, ``bpf_map_elem``, ``bpf_prog``, ``bpf_link``,
    ``tcp``, ``udp``, ``unix``, ``netlink``, ``cgroup``, ``ksym`` ...) and return the link
    whose :meth:`IterLink.open` runs it.

    What the iterator walks, where its target takes a parameter (``bpf_iter_link_info``):

    * ``map``: the map of a ``bpf_map_elem``, ``bpf_sk_storage_map`` or ``sockmap`` iterator
      (the program's reads of key and value must fit the map's sizes);
    * ``pid`` / ``tid`` / ``pid_fd`` (Linux 6.1+): only the tasks of one process, one thread,
      or the process of a pidfd, for the ``task*`` iterators (at most one of them);
    * ``cgroup`` (a cgroup v2 directory) or ``cgroup_id``, and ``order`` (Linux 6.1+): where
      a ``cgroup`` iterator starts and how it walks.

    The returned link owns a new bpf_link descriptor, and each file :meth:`IterLink.open`
    returns owns its own. ``program`` and ``map`` are borrowed.

    Raises:
        EbpfError: the program is not an iterator, or the parameters do not fit together.
        SyscallError: the kernel refused (``EACCES``: the program reads more of a map entry
            than ``map`` has; ``EINVAL``: a parameter the target does not take).
    """
    check_program(program, "iterator", (ProgramType.TRACING,))
    if program.attach_type not in (AttachType.TRACE_ITER, None):
        raise EbpfError(f"attach iterator: program {program.name!r} is not an iterator "
                        f"program (its attach type is "
                        f"{getattr(program.attach_type, 'name', program.attach_type)})")
    tasks = [(n, v) for n, v in (("pid", pid), ("tid", tid), ("pid_fd", pid_fd))
             if v is not None]
    if len(tasks) > 1:
        raise EbpfError("attach iterator: give at most one of pid, tid and pid_fd")
    if cgroup is not None and cgroup_id is not None:
        raise EbpfError("attach iterator: give cgroup or cgroup_id, not both")
    kinds = sum(x for x in (map is not None, bool(tasks),
                            cgroup is not None or cgroup_id is not None or order is not None))
    if kinds > 1:
        raise EbpfError("attach iterator: map, task (pid/tid/pid_fd) and cgroup parameters "
                        "are for different iterators; give one kind")
    info = IterLinkInfo()
    context = f"attach iterator {program.name!r}"
    cgroup_fd: int | None = None
    try:
        if map is not None:
            if not isinstance(map, Map):
                raise EbpfError(f"attach iterator: map must be a Map, not {type(map).__name__}")
            info.map.map_fd = map.fd
            context += f" to map {map.name!r}"
        elif tasks:
            name, value = tasks[0]
            setattr(info.task, name, _check_id(value, name))
            context += f" to {name} {value}"
        elif cgroup is not None or cgroup_id is not None or order is not None:
            if order is not None:
                info.cgroup.order = int(CgroupIterOrder(order))
            if cgroup is not None:
                path = os.fspath(cgroup)
                try:
                    cgroup_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                except OSError as e:
                    raise EbpfError(f"{context}: cannot open cgroup {path!r}: {e.strerror}"
                                    ) from e
                info.cgroup.cgroup_fd = cgroup_fd
                context += f" to cgroup {path!r}"
            elif cgroup_id is not None:
                if not isinstance(cgroup_id, int) or not 0 < cgroup_id < 1 << 64:
                    raise EbpfError(f"attach iterator: cgroup_id must be a positive int, "
                                    f"not {cgroup_id!r}")
                info.cgroup.cgroup_id = cgroup_id
                context += f" to cgroup id {cgroup_id}"
        attr = LinkCreateAttr(attach_type=int(AttachType.TRACE_ITER))
        attr.prog_fd = program.fd
        if kinds:
            attr.iter.iter_info = ctypes.addressof(info)
            attr.iter.iter_info_len = ctypes.sizeof(info)
        fd = commands.link_create(attr, context)
    finally:
        if cgroup_fd is not None:
            os.close(cgroup_fd)
    return IterLink._created_iter(fd)
