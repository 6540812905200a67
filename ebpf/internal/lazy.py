"""Package attributes imported on first use (PEP 562), for the packages that keep their
``import`` cheap: ``ebpf``, ``ebpf.asm``, ``ebpf.btf`` and ``ebpf.internal.sys``.

A package lists each lazy name with the module that defines it and installs the pair of
functions this module makes::

    __getattr__, __dir__ = lazy_attributes(__name__, globals(), {"Map": ".map", ...})

A module path may be absolute or relative to the package. A name equal to the last part of its
module path is that module itself (``ebpf.asm.builder``). A name, once looked up, is stored in
the package's namespace, so later lookups never come back here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, namespace: dict[str, Any], lazy: Mapping[str, str]
                    ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` whose names ``lazy`` maps to the
    modules defining them."""

    def __getattr__(name: str) -> Any:
        path = lazy.get(name)
        if path is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        # importlib.import_module(path, package), without importing importlib (and warnings)
        # on the way to loading a collection.
        absolute = _absolute(path, package)
        __import__(absolute)
        module = sys.modules[absolute]
        value = module if path.rsplit(".", 1)[-1] == name else getattr(module, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(lazy))

    return __getattr__, __dir__


def _absolute(path: str, package: str) -> str:
    """The absolute name of module ``path``, which may be relative to ``package``."""
    level = len(path) - len(path.lstrip("."))
    if not level:
        return path
    base = package.rsplit(".", level - 1)[0]
    return f"{base}.{path[level:]}" if path[level:] else base

