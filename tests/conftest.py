"""The project's own test settings, on top of the ``ebpf`` pytest plugin (ebpf.testing.plugin),
which gives the ``kernel``/``requires_*`` markers, the ``bpffs``, ``pin_dir``, ``tracefs``,
``netns``, ``veth_pair``, ``cgroup`` and ``load_collection`` fixtures, and the leak check.

Here: which feature families the kernels the project tests on are known to lack (so that under
``EBPF_REQUIRE_KERNEL=1`` only those may skip), and the leak check of BPF descriptors for every
test (``@pytest.mark.allow_fd_growth`` exempts one; ``--ebpf-leak-check=full`` checks more).
"""

from __future__ import annotations

import contextlib
import os

import pytest

from ebpf.testing import _env
from ebpf.testing._env import bpf_problem as bpf_problem

REQUIRE_KERNEL = os.environ.get("EBPF_REQUIRE_KERNEL") == "1"

# The kernel release of the VM runner's guest (scripts/vm.py), or "" on the host.
VM_KERNEL = os.environ.get("EBPF_VM_KERNEL", "")

# The families the kernel the tests run on is known to lack; under EBPF_REQUIRE_KERNEL only
# these may skip, and only from a conclusive feature probe. The host (the project's reference
# kernel, see shared/MACHINE.md) lacks kprobes, trampolines, modules and netkit; the VM guests
# have them, except what 6.1 predates.
if VM_KERNEL.startswith("6.1."):
    KNOWN_MISSING: tuple[str, ...] = ("netkit", "kprobe_multi", "kprobe session", "tcx",
                                      "uprobe_multi", "uprobe session",
                                      "struct_ops maps registered by a bpf_link")
elif VM_KERNEL:
    KNOWN_MISSING = ("uprobe session",)
else:
    KNOWN_MISSING = ("kprobe", "kretprobe", "kprobe_multi", "fentry", "fexit", "fmod_ret",
                     "lsm", "freplace", "netkit", "trampoline", "kernel module",
                     "bpf_map_elem iterator")


def skip_if_unsupported() -> contextlib.AbstractContextManager[None]:
    __tracebackhide__ = True
    """Turn an :class:`~ebpf.errors.UnsupportedFeatureError` into a skip; under
    ``EBPF_REQUIRE_KERNEL=1`` only for the families in :data:`KNOWN_MISSING`."""
    return _env.skip_if_unsupported(KNOWN_MISSING)


def pytest_configure(config: pytest.Config) -> None:
    for name in KNOWN_MISSING:
        config.addinivalue_line(_env.KNOWN_MISSING_INI, name)
    # Every test of the project is checked for leaked BPF descriptors unless asked otherwise.
    if getattr(config.option, "ebpf_leak_check", None) is None:
        config.option.ebpf_leak_check = "bpf"
