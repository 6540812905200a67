"""Reading perf event buffers (``BPF_MAP_TYPE_PERF_EVENT_ARRAY``): what BPF programs output
with ``bpf_perf_event_output``, one ring per CPU::

    from ebpf import perf

    with perf.Reader(objs.events, 64 * 1024) as reader:
        for record in reader:
            if record.lost_samples:
                lost += record.lost_samples
            else:
                handle(record.sample)

New programs should prefer ring buffers (:mod:`ebpf.ringbuf`, Linux 5.8+): one buffer for all
CPUs, records in order, exact sample lengths.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..internal.lazy import lazy_attributes

if TYPE_CHECKING:
    from ..errors import BusyError as BusyError
    from ..ringbuf._base import Batch as Batch, Segment as Segment
    from ._reader import Reader as Reader, Record as Record

#: Every public name of the package, with the module that defines it.
_PUBLIC: dict[str, str] = {
    "Batch": "ebpf.ringbuf._base",
    "BusyError": "ebpf.errors",
    "Reader": "._reader",
    "Record": "._reader",
    "Segment": "ebpf.ringbuf._base",
}

__all__ = sorted(_PUBLIC)

__getattr__, __dir__ = lazy_attributes(__name__, globals(), _PUBLIC)
