"""Keep this directory's tests, and the processes they start, out of the user's BTF cache."""

from __future__ import annotations

import pytest

from tests.support import use_private_btf_cache


def pytest_configure(config: pytest.Config) -> None:
    use_private_btf_cache()
