"""Reading and writing BPF ring buffers (``BPF_MAP_TYPE_RINGBUF``, ``..._USER_RINGBUF``).

:class:`Reader` consumes what BPF programs submit with ``bpf_ringbuf_output`` /
``bpf_ringbuf_reserve`` + ``submit``: record by record (blocking with deadlines, iterable,
asyncio-ready), into a caller's buffer, or in zero-copy batches (optionally as numpy arrays)::

    from ebpf import ringbuf

    with ringbuf.Reader(objs.events, decode="event", types=spec.types) as reader:
        for record in reader:
            handle(record.ring, record.value)

:class:`Writer` produces records that a BPF program consumes with ``bpf_user_ringbuf_drain``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..internal.lazy import lazy_attributes

if TYPE_CHECKING:
    from ..errors import BusyError as BusyError
    from ._base import Batch as Batch, Segment as Segment
    from ._decode import numpy_dtype as numpy_dtype
    from ._reader import Reader as Reader, Record as Record
    from ._writer import Writer as Writer

#: Every public name of the package, with the module that defines it.
_PUBLIC: dict[str, str] = {
    "Batch": "._base",
    "BusyError": "ebpf.errors",
    "Reader": "._reader",
    "Record": "._reader",
    "Segment": "._base",
    "Writer": "._writer",
    "numpy_dtype": "._decode",
}

__all__ = sorted(_PUBLIC)

__getattr__, __dir__ = lazy_attributes(__name__, globals(), _PUBLIC)
