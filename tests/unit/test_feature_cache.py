"""The memo of ebpf.internal.feature: a cached "not supported" answer, raised again to every
later caller, must not keep any caller's frames (and what they hold) alive."""

from __future__ import annotations

import gc
import weakref

import pytest

from ebpf.errors import NotSupportedError, UnsupportedFeatureError
from ebpf.internal.feature import feature_test


class Held:
    """Stands for what a caller holds while it asks (a Link, a socket...)."""


def test_a_cached_refusal_keeps_no_caller_alive() -> None:
    calls = []

    @feature_test("Frobnication", "9.9")
    def have_frobnication() -> None:
        calls.append(1)
        raise NotSupportedError("no frobnicator here")

    def ask() -> weakref.ref[Held]:
        held = Held()
        with pytest.raises(UnsupportedFeatureError) as info:
            have_frobnication()
        assert info.value.feature == "Frobnication" and info.value.min_version == "9.9"
        assert str(info.value) == ("Frobnication is not supported by this kernel (requires "
                                   "Linux 9.9): no frobnicator here")
        assert isinstance(info.value.__cause__, NotSupportedError)
        del info
        return weakref.ref(held)

    refs = [ask() for _ in range(3)]
    gc.collect()
    assert [r() for r in refs] == [None, None, None]
    assert calls == [1]                        # probed once, answered from the memo after


def test_an_unsupported_feature_error_from_the_probe_is_cached_as_is() -> None:
    @feature_test("Widgets", "1.0")
    def have_widgets() -> None:
        raise UnsupportedFeatureError("Widgets", "2.0", "only gadgets")

    for _ in range(2):
        with pytest.raises(UnsupportedFeatureError, match=r"requires Linux 2\.0") as info:
            have_widgets()
        assert info.value.min_version == "2.0"
