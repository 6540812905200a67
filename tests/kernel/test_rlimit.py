"""RLIMIT_MEMLOCK handling on a kernel that charges BPF memory to the memory cgroup."""

from __future__ import annotations

import resource

import pytest

from ebpf import Map, MapSpec, MapType
from ebpf.internal.kernel import kernel_version
from ebpf.rlimit import memlock_limits_bpf, remove_memlock

pytestmark = pytest.mark.kernel


def test_probe_matches_kernel_version_and_restores_the_limit() -> None:
    before = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    assert memlock_limits_bpf() == (kernel_version() < (5, 11, 0))
    assert resource.getrlimit(resource.RLIMIT_MEMLOCK) == before


def test_remove_memlock_is_a_no_op_with_memcg_accounting() -> None:
    before = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    remove_memlock()
    assert resource.getrlimit(resource.RLIMIT_MEMLOCK) == before


def test_maps_do_not_depend_on_memlock_here() -> None:
    # With memcg accounting a map bigger than the soft limit still gets created.
    soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (0, hard))
    try:
        with Map(MapSpec(name="big", type=MapType.ARRAY, key_size=4, value_size=1024,
                         max_entries=1024)) as m:
            m[1023] = bytes(1024)
    finally:
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (soft, hard))
