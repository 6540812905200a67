"""USDT probes: programs written against libbpf's ``<bpf/usdt.bpf.h>`` at the statically
defined probes of a binary (``DTRACE_PROBE``/``STAP_PROBE`` of ``<sys/sdt.h>``).

A probe ``provider:name`` may have many sites in a binary (one per place the macro was
expanded, or inlined). :func:`usdt` attaches the program with a uprobe at each site's file
offset, with the probe's semaphore (if it has one) as the uprobe's reference counter, so the
kernel enables the probe in the traced processes while it is attached.

The program finds each site's arguments (``bpf_usdt_arg()``, ``BPF_USDT(...)``) in two maps
``usdt.bpf.h`` declares, which :func:`usdt` fills:

* ``__bpf_usdt_specs`` (array): spec id -> ``struct __bpf_usdt_spec``, the 208-byte
  description of where each argument is (:meth:`ebpf.internal.usdt.USDTSpec.encode`), with
  the ``cookie`` given to :func:`usdt` (``bpf_usdt_cookie()``);
* ``__bpf_usdt_ip_to_spec_id`` (hash): the site's address in the process -> spec id, which
  the program uses on kernels without BPF cookies.

Each attachment's BPF cookie is its spec id (Linux 5.15+); sites whose arguments are
described the same way share one. The maps are found among the program's own
(:attr:`ebpf.info.ProgramInfo.map_ids`; the kernel keeps 15 characters of a map name, so
``__bpf_usdt_spec`` and ``__bpf_usdt_ip_t``), or given with ``specs_map=`` / ``ip_map=``.
The spec ids are chosen among the entries no other attachment of this process uses and that
are zero in the map; closing the Link zeroes them again and removes the addresses it added.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import ExitStack, suppress
from functools import partial
from typing import Final

from ..errors import (
    EbpfError,
    KeyExistsError,
    KeyNotFoundError,
    NotSupportedError,
    UnsupportedFeatureError,
)
from ..internal.ldcache import resolve_binary
from ..internal.usdt import USDT_SPEC_SIZE, USDTProbe, find_usdt
from ..map import Map
from ..program import Program
from ..types import MapType, UpdateFlags
from ._perf_attach import have_perf_link
from .group import LinkGroup
from .link import Link, Mechanism
from .uprobes import attach_uprobe_at, require_kprobe_program

__all__ = ["SPECS_MAP", "IP_MAP", "usdt"]

SPECS_MAP: Final = "__bpf_usdt_specs"
"""The name ``usdt.bpf.h`` gives the map of argument specs."""
IP_MAP: Final = "__bpf_usdt_ip_to_spec_id"
"""The name ``usdt.bpf.h`` gives the map from a site's address to its spec id."""

_NAME_LEN: Final = 15   # BPF_OBJ_NAME_LEN - 1: what the kernel keeps of a map name
_ZERO_SPEC: Final = bytes(USDT_SPEC_SIZE)

# Spec ids this process uses, by the kernel id of the specs map they index.
_used_ids: dict[int, set[int]] = {}
_ids_lock = threading.Lock()


def _program_map(program: Program, name: str) -> Map | None:
    """The map called ``name`` (as the kernel truncates it) among ``program``'s, opened."""
    short = name[:_NAME_LEN]
    for map_id in program.info().map_ids:
        m = Map.from_id(map_id)
        if m.name == short:
            return m
        m.close()
    return None


def _check_specs_map(m: Map) -> None:
    if m.type != MapType.ARRAY or m.key_size != 4 or m.value_size != USDT_SPEC_SIZE:
        raise EbpfError(
            f"usdt: map {m.name!r} is not usdt.bpf.h's {SPECS_MAP}: expected an ARRAY of "
            f"4-byte keys and {USDT_SPEC_SIZE}-byte values (struct __bpf_usdt_spec of "
            f"libbpf 1.1's usdt.bpf.h), got a {getattr(m.type, 'name', m.type)} of "
            f"{m.key_size}-byte keys and {m.value_size}-byte values; this library writes "
            "only that layout")


def _check_ip_map(m: Map) -> None:
    if m.key_size != 8 or m.value_size != 4:
        raise EbpfError(f"usdt: map {m.name!r} is not usdt.bpf.h's {IP_MAP}: expected "
                        f"8-byte keys and 4-byte values, got {m.key_size} and {m.value_size}")


def _allocate_ids(specs: Map, count: int) -> list[int]:
    """``count`` spec ids free in ``specs`` (unused by this process and zero in the map),
    marked used."""
    map_id = specs.info().id
    out: list[int] = []
    with _ids_lock:
        used = _used_ids.setdefault(map_id, set())
        for i in range(specs.max_entries):
            if len(out) == count:
                break
            if i in used or specs.raw[i] != _ZERO_SPEC:
                continue
            out.append(i)
        if len(out) < count:
            raise EbpfError(f"usdt: {count} argument specs do not fit in {SPECS_MAP} "
                            f"({specs.max_entries} entries, {len(used)} used by this process; "
                            "raise BPF_USDT_MAX_SPEC_CNT)")
        used.update(out)
    return out


def _free_ids(specs: Map, map_id: int, ids: list[int]) -> None:
    try:
        for i in ids:
            specs.raw[i] = _ZERO_SPEC
    finally:
        with _ids_lock:
            used = _used_ids.get(map_id)
            if used is not None:
                used.difference_update(ids)
                if not used:
                    del _used_ids[map_id]


def _mapped_address(pid: int, file: str, offset: int) -> int | None:
    """Where file offset ``offset`` of ``file`` is mapped in process ``pid``, from
    ``/proc/PID/maps`` (None if it is not mapped there)."""
    try:
        st = os.stat(file)
        with open(f"/proc/{pid}/maps") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(None, 5)
        if len(parts) < 6 or "x" not in parts[1]:
            continue
        start, end = (int(x, 16) for x in parts[0].split("-"))
        map_off = int(parts[2], 16)
        if int(parts[4]) != st.st_ino:
            continue
        try:
            same = os.path.samefile(parts[5].strip(), file)
        except OSError:
            same = False
        if same and map_off <= offset < map_off + (end - start):
            return start + offset - map_off
    return None


def _site_address(site: USDTProbe, pid: int) -> int | None:
    """The address the program sees (``PT_REGS_IP``) when ``site`` fires, if it is known:
    the link-time address in an executable that is not position-independent, else the
    mapped address in process ``pid``."""
    if site.absolute:
        return site.address
    if pid > 0:
        return _mapped_address(pid, site.path, site.offset)
    return None


def usdt(path: str | os.PathLike[str], provider: str, name: str, program: Program, *,
         pid: int = -1, cookie: int = 0, specs_map: Map | None = None,
         ip_map: Map | None = None) -> LinkGroup:
    """Run ``program`` (a ``SEC("usdt")`` program using ``<bpf/usdt.bpf.h>``) at every site
    of USDT probe ``provider:name`` of ``path``.

    ``path`` is resolved as for :func:`~ebpf.link.uprobe`. ``pid`` limits the probe to one
    process (0: this one; -1: every process). ``cookie`` is what ``bpf_usdt_cookie()``
    returns. ``specs_map``/``ip_map`` are the program's ``usdt.bpf.h`` maps, if they are not
    to be found among its own (they are borrowed: the Link keeps its own descriptors).

    Returns one Link for all sites (its :attr:`~LinkGroup.links` are the uprobes); closing
    it detaches them all and removes the specs it wrote.

    Raises:
        TargetNotFoundError: no such file, executable or library.
        USDTNotFoundError: the binary has no such probe (the message lists those it has).
        USDTArgumentError: an argument of a site cannot be described for ``usdt.bpf.h``.
        EbpfError: ``program`` is not a ``KPROBE`` program, lacks the ``usdt.bpf.h`` maps,
            or its specs map has another layout than ``struct __bpf_usdt_spec`` (208 bytes).
        NotSupportedError: the kernel has no BPF cookies and the sites' addresses are not
            known (a position-independent binary without ``pid``).
        SyscallError: the kernel refused an attachment.
    """
    what = f"usdt {provider}:{name}"
    require_kprobe_program(program, what)
    if not isinstance(cookie, int) or isinstance(cookie, bool) or not 0 <= cookie < 1 << 64:
        raise EbpfError(f"{what}: cookie must be an int from 0 to 2**64-1, not {cookie!r}")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid < -1:
        raise EbpfError(f"{what}: pid must be -1, 0 or a process id, not {pid!r}")
    target_pid = os.getpid() if pid == 0 else pid
    file = resolve_binary(path)
    sites = find_usdt(file, provider, name)
    specs = [site.spec().encode(cookie) for site in sites]
    try:
        have_perf_link()
        cookies = True
    except UnsupportedFeatureError:
        cookies = False
    addresses = [_site_address(site, target_pid) for site in sites]
    if not cookies and None in addresses:
        raise NotSupportedError(
            f"{what} in {file!r}: this kernel has no BPF cookies (Linux 5.15), so the program "
            "finds a site's arguments by its address, which is known only for a "
            "non-PIE executable or with a pid")
    with ExitStack() as stack:
        if specs_map is not None:
            spec_m = stack.enter_context(specs_map.clone())
        else:
            found = _program_map(program, SPECS_MAP)
            if found is None:
                raise EbpfError(f"{what}: program {program.name!r} has no {SPECS_MAP} map "
                                f"(named {SPECS_MAP[:_NAME_LEN]!r} in the kernel); was it "
                                "built with <bpf/usdt.bpf.h>? Pass specs_map= otherwise")
            spec_m = stack.enter_context(found)
        _check_specs_map(spec_m)
        ip_m: Map | None
        if ip_map is not None:
            ip_m = stack.enter_context(ip_map.clone())
        else:
            ip_m = _program_map(program, IP_MAP)
            if ip_m is not None:
                stack.enter_context(ip_m)
        if ip_m is not None:
            _check_ip_map(ip_m)
        elif not cookies:
            raise EbpfError(f"{what}: program {program.name!r} has no {IP_MAP} map, which "
                            "kernels without BPF cookies need")
        # One spec id per distinct spec, in site order.
        distinct = list(dict.fromkeys(specs))
        ids = _allocate_ids(spec_m, len(distinct))
        spec_map_id = spec_m.info().id
        stack.callback(_free_ids, spec_m, spec_map_id, ids)
        id_of = dict(zip(distinct, ids, strict=True))
        for data, spec_id in id_of.items():
            spec_m.raw[spec_id] = data
        added_ips: list[int] = []
        if ip_m is not None:
            stack.callback(_delete_ips, ip_m, added_ips)
            for addr, data in zip(addresses, specs, strict=True):
                if addr is None:
                    continue
                try:
                    ip_m.update(addr, id_of[data], UpdateFlags.NOEXIST)
                except KeyExistsError:
                    if not cookies:
                        raise EbpfError(f"{what}: the site at {addr:#x} is already attached "
                                        f"with {IP_MAP} of program {program.name!r}") from None
                    continue
                added_ips.append(addr)
        links: list[Link] = []
        for site, data in zip(sites, specs, strict=True):
            links.append(stack.enter_context(attach_uprobe_at(
                program, file, site.offset, pid=pid,
                ref_ctr_offset=site.semaphore_offset,
                cookie=id_of[data] if cookies else 0,
                what=f"{file}:{provider}:{name}@{site.address:#x}",
                mechanism=Mechanism.BPF_LINK if cookies else None)))
        cleanups: list[Callable[[], None]] = []
        if ip_m is not None:
            cleanups += [partial(_delete_ips, ip_m, added_ips), ip_m.close]
        cleanups += [partial(_free_ids, spec_m, spec_map_id, ids), spec_m.close]
        group = LinkGroup._made(links, cleanups)
        stack.pop_all()
        return group


def _delete_ips(ip_m: Map, addresses: list[int]) -> None:
    for addr in addresses:
        with suppress(KeyNotFoundError):
            ip_m.delete(addr)
    addresses.clear()
