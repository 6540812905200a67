"""Testing BPF programs and the Python code around them.

- :mod:`ebpf.testing.plugin`: the pytest plugin (markers ``kernel``, ``requires_kernel``,
  ``requires_feature``, ``no_leaks``; fixtures ``bpffs``, ``netns``, ``veth_pair``,
  ``cgroup``, ``load_collection``, ``ebpf_leak_check``), loaded automatically by pytest.
- :mod:`ebpf.testing.packets`: Ethernet, IPv4/IPv6, TCP, UDP, ICMP and ICMPv6 packets with
  correct checksums, for ``Program.test_run``.
- :class:`FakeMap`: an in-memory map with the API and errors of :class:`ebpf.Map`, for unit
  tests of code that reads and writes maps.

A test of an XDP program with all three::

    import pytest
    from ebpf.testing import packets

    @pytest.mark.kernel
    @pytest.mark.requires_feature("prog_test_run")
    def test_drops_udp_to_port_53(load_collection, ebpf_leak_check):
        coll = load_collection("filter.o")             # closed after the test
        frame = packets.udp4(src="10.0.0.1", dst="10.0.0.2", sport=1, dport=53)
        assert coll.programs["xdp_filter"].test_run(frame).retval == 1  # XDP_DROP

Names are imported on first use: ``import ebpf.testing`` costs nothing, and only the plugin's
helpers need pytest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..internal.lazy import lazy_attributes

if TYPE_CHECKING:
    from ._env import (
        bpf_problem as bpf_problem,
        require_kernel as require_kernel,
        resolve_feature as resolve_feature,
        skip_if_unsupported as skip_if_unsupported,
        skip_or_fail as skip_or_fail,
    )
    from ._leaks import LeakCheck as LeakCheck
    from ._system import (
        Cgroup as Cgroup,
        NetNamespace as NetNamespace,
        VethEnd as VethEnd,
        VethPair as VethPair,
        cgroup2_root as cgroup2_root,
    )
    from .fake_map import FakeMap as FakeMap

_PUBLIC: dict[str, str] = {
    "Cgroup": "._system",
    "FakeMap": ".fake_map",
    "LeakCheck": "._leaks",
    "NetNamespace": "._system",
    "VethEnd": "._system",
    "VethPair": "._system",
    "bpf_problem": "._env",
    "cgroup2_root": "._system",
    "packets": ".packets",
    "require_kernel": "._env",
    "resolve_feature": "._env",
    "skip_if_unsupported": "._env",
    "skip_or_fail": "._env",
}

__all__ = sorted(_PUBLIC)

__getattr__, __dir__ = lazy_attributes(__name__, globals(), _PUBLIC)
