"""The code generator: a typed Python module for a BPF object file (``ebpf gen``).

Python's answer to bpf2go and libbpf skeletons::

    from ebpf.gen import generate

    source = generate("counter.bpf.c", module_name="counter")   # or an object file
    Path("counter.py").write_text(source)

The module it writes has ctypes types for the object's map keys and values, records and
globals, a typed ``Variables`` accessor, an ``Objects`` dataclass and ``load()``; see
:mod:`ebpf.gen.generator`. :mod:`ebpf.gen.typed` is what such a module uses at run time.
"""

# The names are imported on first use, so that the command line stays quick to start.
from __future__ import annotations

from typing import TYPE_CHECKING

from ebpf.internal.lazy import lazy_attributes

if TYPE_CHECKING:
    from ebpf.gen.generator import (
        Generated as Generated,
        GenerateError as GenerateError,
        compile_c as compile_c,
        generate as generate,
        generate_module as generate_module,
        read_object as read_object,
    )

#: Every public name of the package, with the module that defines it.
_PUBLIC: dict[str, str] = {
    "GenerateError": ".generator",
    "Generated": ".generator",
    "compile_c": ".generator",
    "generate": ".generator",
    "generate_module": ".generator",
    "read_object": ".generator",
}

__all__ = sorted(_PUBLIC)

__getattr__, __dir__ = lazy_attributes(__name__, globals(), _PUBLIC)
