"""The ebpf pytest plugin's markers, options and leak check, in pytest sessions run inside
this one (pytester). Nothing here needs bpf(2): where the kernel marker is exercised, the
plugin's answer to "can bpf(2) be used?" is set for the inner session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ebpf.internal.kernel import kernel_version
from ebpf.testing import _env

pytest_plugins = ("pytester",)


@pytest.fixture
def no_bpf() -> Iterator[None]:
    """bpf(2) reported as unusable for the inner session."""
    saved = list(_env._problem)
    _env._problem[:] = ["bpf(2) needs privileges (CAP_BPF/CAP_SYS_ADMIN): simulated"]
    try:
        yield
    finally:
        _env._problem[:] = saved


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    text = result.stdout.str()
    for marker in ("@pytest.mark.kernel:", "@pytest.mark.requires_kernel(version)",
                   "@pytest.mark.requires_feature(*features)", "@pytest.mark.no_leaks:",
                   "@pytest.mark.allow_leaks:"):
        assert marker in text


def test_kernel_marker_skips_naming_why(pytester: pytest.Pytester, no_bpf: None,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EBPF_REQUIRE_KERNEL", raising=False)
    pytester.makepyfile("""
        import pytest

        @pytest.mark.kernel
        def test_needs_bpf():
            raise AssertionError("must not run")

        def test_plain():
            pass
    """)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*bpf(2) needs privileges*simulated*"])


def test_kernel_marker_fails_under_require_kernel(pytester: pytest.Pytester, no_bpf: None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EBPF_REQUIRE_KERNEL", "1")
    pytester.makepyfile("""
        import pytest

        pytestmark = pytest.mark.kernel

        def test_needs_bpf():
            pass
    """)
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)  # failed in set-up, before the test ran
    result.stdout.fnmatch_lines(["*EBPF_REQUIRE_KERNEL=1 but bpf(2) needs privileges*"])


def test_requires_kernel(pytester: pytest.Pytester) -> None:
    running = kernel_version()
    pytester.makepyfile("""
        import pytest

        @pytest.mark.requires_kernel("99.1")
        def test_future():
            raise AssertionError("must not run")

        @pytest.mark.requires_kernel("3.10")
        def test_past():
            pass
    """)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines([f"*needs Linux 99.1.0, the running kernel is {running}*"])


def test_marker_misuse_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.requires_feature("no_such_thing")
        def test_a():
            pass

        @pytest.mark.requires_kernel("6.1", "6.2")
        def test_b():
            pass
    """)
    result = pytester.runpytest()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*ebpf.features has no probe 'have_no_such_thing'*",
                                 "*requires_kernel takes one version*"])


@pytest.mark.parametrize(("feature", "described"), [
    ("ringbuf", "ringbuf"),
    ("map_type:ringbuf", "map type RINGBUF"),
    ("program_type:XDP", "program type XDP"),
    ("link_type:tcx", "link type TCX"),
    ("helper:xdp:bpf_redirect_map", "helper redirect_map in XDP programs"),
    ("attach_type:cgroup_skb:cgroup_inet_ingress",
     "attach type CGROUP_INET_INGRESS for CGROUP_SKB programs"),
    ("kfunc:syscall:bpf_obj_new_impl", "kfunc bpf_obj_new_impl in SYSCALL programs"),
])
def test_feature_strings_resolve(feature: str, described: str) -> None:
    assert _env.resolve_feature(feature)[0] == described


def test_feature_objects_resolve() -> None:
    from ebpf import features
    from ebpf.asm.helpers import Helper
    from ebpf.types import AttachType, LinkType, MapType, ProgramType

    assert _env.resolve_feature(MapType.LRU_HASH)[0] == "map type LRU_HASH"
    assert _env.resolve_feature(LinkType.NETKIT)[0] == "link type NETKIT"
    assert _env.resolve_feature((ProgramType.XDP, Helper.map_lookup_elem))[0] == (
        "helper map_lookup_elem in XDP programs")
    assert _env.resolve_feature((ProgramType.CGROUP_SOCK_ADDR,
                                 AttachType.CGROUP_INET4_CONNECT))[0].startswith("attach type")
    assert _env.resolve_feature(features.have_bpf_cookie)[0] == "have_bpf_cookie"
    for bad in (42, ("xdp", "x"), "map_type:NOPE", "helper:xdp:nope"):
        with pytest.raises(ValueError, match="requires_feature"):
            _env.resolve_feature(bad)


def test_leak_check_option_finds_an_open_file(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        kept = []

        def test_leaks(tmp_path):
            kept.append(open(tmp_path / "f", "w"))

        @pytest.mark.allow_leaks
        def test_allowed(tmp_path):
            kept.append(open(tmp_path / "g", "w"))

        def test_clean(tmp_path):
            with open(tmp_path / "h", "w"):
                pass

        def test_last():
            for f in kept:
                f.close()
    """)
    result = pytester.runpytest("--ebpf-leak-check=fds")
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(["*the test leaked:*", "*file descriptor * (*/f) left open*"])


def test_leak_check_is_off_by_default(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        kept = []

        def test_leaks(tmp_path):
            kept.append(open(tmp_path / "f", "w"))

        def test_close():
            kept.pop().close()
    """)
    pytester.runpytest().assert_outcomes(passed=2)


def test_leak_level_from_ini_and_bad_level(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nebpf_leak_check = sideways\n")
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest()
    assert result.ret != 0
    assert "ebpf_leak_check must be one of off, bpf, fds, full" in (
        result.stdout.str() + result.stderr.str())


def test_known_missing_ini_lets_a_feature_skip_under_require_kernel(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EBPF_REQUIRE_KERNEL", "1")
    pytester.makeini("[pytest]\nebpf_known_missing =\n    widget\n")
    pytester.makepyfile("""
        import pytest
        from ebpf.errors import UnsupportedFeatureError
        from ebpf.testing import skip_if_unsupported

        def test_known():
            with skip_if_unsupported():
                raise UnsupportedFeatureError("BPF widget", "9.9")

        def test_unknown():
            with skip_if_unsupported():
                raise UnsupportedFeatureError("BPF gadget", "9.9")
    """)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1, failed=1)
    result.stdout.fnmatch_lines(["*kernel lacks BPF widget*"])


def test_plugin_import_is_cheap() -> None:
    import ast
    import subprocess
    import sys

    code = ("import sys, ebpf.testing.plugin; "
            "print(sorted(m for m in sys.modules if m.startswith('ebpf')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    loaded = ast.literal_eval(out)
    assert set(loaded) <= {"ebpf", "ebpf.errors", "ebpf.internal", "ebpf.internal.lazy",
                           "ebpf.testing", "ebpf.testing._env", "ebpf.testing.plugin"}, loaded
