"""Histograms as the BPF tracing tools print them, read from maps, and a live terminal view.

BPF programs count into *slots*: a log2 histogram counts a value ``v`` in slot
``floor(log2(v))`` (0 and 1 both go to slot 0), usually in an array map indexed by slot, or in
a ``slots`` array member of a per-key struct (one histogram per process, per disk ...).
:func:`log2_histogram` prints the counts in the layout of bcc and libbpf-tools::

    >>> print(log2_histogram([3, 0, 12, 6], unit="usecs"))
     usecs  : count    distribution
    0 -> 1  : 3        |**********                              |
    2 -> 3  : 0        |                                        |
    4 -> 7  : 12       |****************************************|
    8 -> 15 : 6        |********************                    |

Row ``i`` covers ``2**i`` to ``2**(i+1) - 1`` (row 0 covers 0 and 1). Empty slots after the
last count are left out; the bar of the largest count is ``width`` stars wide and the others
are scaled to it, rounding down. :func:`linear_histogram` prints slots of a fixed ``step``,
and :func:`histograms_by_key` one histogram per key under a ``key = value`` heading.

:func:`counts_from_map` and :func:`histograms_from_map` read the counts from a
:class:`~ebpf.Map` (per-CPU maps are summed over the CPUs); :func:`histogram_layout` tells
whether a map looks like it holds histograms. :class:`LiveTable` redraws a block of text in
place on a terminal (ANSI escapes) and appends frames one after the other on anything else.

Everything here is pure formatting, except the ``*_from_map`` functions, which read the map.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TextIO

from .errors import EbpfError
from .types import MapType

if TYPE_CHECKING:
    from .map import Map

__all__ = [
    "HistogramError",
    "HistogramLayout",
    "LiveTable",
    "counts_from_map",
    "format_table",
    "histogram_layout",
    "histograms_by_key",
    "histograms_from_map",
    "linear_histogram",
    "log2_histogram",
    "log2_slot",
]

_PER_CPU = frozenset({MapType.PERCPU_ARRAY, MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH})

_ORDER: Literal["little", "big"] = "little" if sys.byteorder == "little" else "big"

# The largest slot index a map key may name (a key past it is not a slot but, say, a pid).
_MAX_SLOT = 4096


class HistogramError(EbpfError, ValueError):
    """Counts that cannot make a histogram (negative, not integers), or a map whose entries
    are not histogram slots; the message says which entry."""


def log2_slot(value: int) -> int:
    """The log2 slot that counts ``value``: ``floor(log2(value))``, and 0 for 0 and 1.

    Raises:
        HistogramError: ``value`` is negative or not an int.
    """
    _check_count(value, "value")
    return max(value.bit_length() - 1, 0)


def _check_count(c: object, what: str) -> int:
    if isinstance(c, bool) or not isinstance(c, int):
        raise HistogramError(f"{what} must be an int, not {type(c).__name__} ({c!r})")
    if c < 0:
        raise HistogramError(f"{what} must not be negative, got {c}")
    return c


def _checked_counts(counts: Sequence[int]) -> list[int]:
    if isinstance(counts, (str, bytes)) or not isinstance(counts, Sequence):
        raise HistogramError(f"counts must be a sequence of ints, not {type(counts).__name__}")
    return [_check_count(c, f"count of slot {i}") for i, c in enumerate(counts)]


def _bar(count: int, most: int, width: int) -> str:
    stars = count * width // most if most else 0
    return "*" * stars + " " * (width - stars)


def _render(labels: list[str], counts: list[int], header: str, width: int) -> str:
    """Rows of ``label : count |bar|`` under a header; ``labels`` are already aligned."""
    most = max(counts)
    label_width = max(len(header), max(len(lab) for lab in labels))
    count_width = max(8, len(str(most)))
    lines = [f"{header:^{label_width}} : {'count':<{count_width}} distribution"]
    for lab, c in zip(labels, counts, strict=True):
        lines.append(f"{lab:<{label_width}} : {c:<{count_width}} |{_bar(c, most, width)}|")
    return "\n".join(lines)


def _range_labels(lows: list[int], highs: list[int]) -> list[str]:
    """``low -> high`` labels, the lows right-aligned and the highs left-aligned."""
    lw = max(len(str(v)) for v in lows)
    hw = max(len(str(v)) for v in highs)
    return [f"{lo:>{lw}} -> {hi:<{hw}}" for lo, hi in zip(lows, highs, strict=True)]


def _span(counts: list[int], strip_leading_zeros: bool) -> tuple[int, int] | None:
    """The slots to show: from the first (or the first counted) to the last counted."""
    used = [i for i, c in enumerate(counts) if c]
    if not used:
        return None
    return (used[0] if strip_leading_zeros else 0), used[-1] + 1


def _check_width(width: int) -> None:
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise HistogramError(f"width must be a positive int, not {width!r}")


def log2_histogram(counts: Sequence[int], *, unit: str = "", width: int = 40,
                   strip_leading_zeros: bool = False) -> str:
    """The log2 histogram of ``counts`` (``counts[i]``: how many values fell in slot ``i``,
    that is from ``2**i`` to ``2**(i+1) - 1``; see :func:`log2_slot`), as text without a final
    newline.

    ``unit`` heads the value column (``"value"`` if empty), ``width`` is the width of the
    longest bar, and ``strip_leading_zeros`` leaves out the empty slots before the first
    count (trailing empty slots are always left out). All counts zero (or none) give ``""``.

    Raises:
        HistogramError: a count is negative or not an int.
    """
    _check_width(width)
    values = _checked_counts(counts)
    span = _span(values, strip_leading_zeros)
    if span is None:
        return ""
    first, end = span
    lows = [0 if i == 0 else 1 << i for i in range(first, end)]
    highs = [(1 << (i + 1)) - 1 for i in range(first, end)]
    labels = _range_labels(lows, highs)
    return _render(labels, values[first:end], unit or "value", width)


def linear_histogram(counts: Sequence[int], *, start: int = 0, step: int = 1, unit: str = "",
                     width: int = 40, strip_leading_zeros: bool = False) -> str:
    """The histogram of ``counts`` in slots of ``step`` values from ``start`` (``counts[i]``
    counts the values from ``start + i*step`` to ``start + (i+1)*step - 1``), as text without
    a final newline. A step of 1 labels each row with its one value, a larger step with its
    range (``10 -> 19``). Other arguments as for :func:`log2_histogram`.

    Raises:
        HistogramError: a count is negative or not an int, or ``step`` is not a positive int.
    """
    _check_width(width)
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise HistogramError(f"step must be a positive int, not {step!r}")
    if isinstance(start, bool) or not isinstance(start, int):
        raise HistogramError(f"start must be an int, not {start!r}")
    values = _checked_counts(counts)
    span = _span(values, strip_leading_zeros)
    if span is None:
        return ""
    first, end = span
    lows = [start + i * step for i in range(first, end)]
    if step == 1:
        w = max(max(len(str(v)) for v in lows), len(unit or "value"))
        labels = [f"{lo:>{w}}" for lo in lows]
    else:
        highs = [lo + step - 1 for lo in lows]
        labels = _range_labels(lows, highs)
    return _render(labels, values[first:end], unit or "value", width)


def _sort_key(item: tuple[object, object]) -> tuple[int, Any, str]:
    k = item[0]
    if isinstance(k, (int, float)) and not isinstance(k, bool):
        return (0, k, "")
    return (1, 0, str(k))


def histograms_by_key(mapping: Mapping[Any, Sequence[int]], *,
                      kind: Literal["log2", "linear"] = "log2", key_label: str = "key",
                      unit: str = "", start: int = 0, step: int = 1, width: int = 40,
                      strip_leading_zeros: bool = False) -> str:
    """One histogram per key of ``mapping`` (key -> counts), each under a ``key_label =
    key`` line, separated by blank lines, keys in order (numbers first); keys whose counts are
    all zero are left out. ``kind`` picks :func:`log2_histogram` or :func:`linear_histogram`
    (which takes ``start`` and ``step``).

    Raises:
        HistogramError: as the histogram functions, naming the key.
    """
    if kind not in ("log2", "linear"):
        raise HistogramError(f"kind must be 'log2' or 'linear', not {kind!r}")
    sections: list[str] = []
    for key, counts in sorted(mapping.items(), key=_sort_key):
        try:
            if kind == "log2":
                text = log2_histogram(counts, unit=unit, width=width,
                                      strip_leading_zeros=strip_leading_zeros)
            else:
                text = linear_histogram(counts, start=start, step=step, unit=unit, width=width,
                                        strip_leading_zeros=strip_leading_zeros)
        except HistogramError as e:
            raise HistogramError(f"{key_label} {key}: {e}") from None
        if text:
            sections.append(f"{key_label} = {key}\n{text}")
    return "\n\n".join(sections)


# --- reading maps ----------------------------------------------------------------------------

HistogramLayout = Literal["slots", "by_key"]
"""How a map holds histograms: see :func:`histogram_layout`."""


def _underlying(t: Any) -> Any:
    from .btf.types import underlying

    return underlying(t) if t is not None else None


def _int_array(t: Any) -> bool:
    from .btf.types import Array, Int

    t = _underlying(t)
    return isinstance(t, Array) and isinstance(_underlying(t.type), Int) and t.nelems > 0


def _slots_member(t: Any, member: str) -> str | None:
    """The name of the member of struct ``t`` that holds the slots, or None."""
    from .btf.types import Composite

    u = _underlying(t)
    if not isinstance(u, Composite):
        return None
    for m in u.members:
        if m.name == member and _int_array(m.type):
            return m.name
    if "hist" in (u.name or "").lower() or "hist" in (getattr(t, "name", "") or "").lower():
        for m in u.members:
            if m.name and _int_array(m.type):
                return m.name
    return None


def _named_hist(m: Map) -> bool:
    name = m.name.lower()
    return any(w in name for w in ("hist", "log2", "slot"))


def histogram_layout(m: Map, *, member: str = "slots") -> HistogramLayout | None:
    """How map ``m`` holds log2 histograms, judged from its BTF types and name:

    * ``"by_key"``: each value is one histogram: a struct with an int array member called
      ``member`` (or, for a struct whose name has ``hist`` in it, its first int array), or an
      int array in a map whose name has ``hist`` in it;
    * ``"slots"``: the map is one histogram: integer keys are slots and integer values their
      counts, in a map whose name has ``hist``, ``log2`` or ``slot`` in it;
    * None: neither.
    """
    if m.type not in (MapType.ARRAY, MapType.HASH, MapType.LRU_HASH, *_PER_CPU):
        return None
    from .btf.types import Int

    vt = m.value_type
    if vt is not None:
        if _slots_member(vt, member) is not None:
            return "by_key"
        if _int_array(vt) and (_named_hist(m) or "hist" in (vt.name or "").lower()):
            return "by_key"
    kt = m.key_type
    int_key = isinstance(_underlying(kt), Int) if kt is not None else m.key_size in (4, 8)
    int_value = (isinstance(_underlying(vt), Int) if vt is not None
                 else m.value_size in (4, 8))
    if int_key and int_value and _named_hist(m):
        return "slots"
    return None


def _as_int(v: object, what: str) -> int:
    if isinstance(v, (bytes, bytearray)) and len(v) in (1, 2, 4, 8):
        return int.from_bytes(v, _ORDER)
    if isinstance(v, bool) or not isinstance(v, int):
        raise HistogramError(f"{what} is not an integer: {v!r}")
    return v


def _per_cpu(value: object, m: Map, what: str) -> list[object]:
    """The values of each CPU of a per-CPU map's ``value``; ``[value]`` for other maps."""
    if m.type in _PER_CPU:
        if not isinstance(value, list):
            raise HistogramError(f"{what}: expected one value per CPU, got {value!r}")
        return value
    return [value]


def counts_from_map(m: Map) -> list[int]:
    """The counts of a map that is one histogram: each key a slot index, each value its count
    (``int``, or the kernel's bytes for a map without BTF; summed over CPUs for per-CPU maps).
    ``counts[i]`` is the count of slot ``i``; slots with no entry count 0.

    Raises:
        HistogramError: a key is not a slot index (a non-negative int up to 4096) or a value
            is not an integer.
        EbpfError: reading the map failed.
    """
    counts: list[int] = []
    for key, value in m.items():
        slot = _as_int(key, f"key {key!r} of map {m.name!r}")
        if not 0 <= slot <= _MAX_SLOT:
            raise HistogramError(f"key {slot} of map {m.name!r} is not a slot index")
        what = f"value of key {slot} in map {m.name!r}"
        total = sum(_check_count(_as_int(v, what), what) for v in _per_cpu(value, m, what))
        if slot >= len(counts):
            counts.extend([0] * (slot + 1 - len(counts)))
        counts[slot] += total
    return counts


def _hashable(key: object) -> Hashable:
    if isinstance(key, (bytes, bytearray)) and len(key) in (1, 2, 4, 8):
        return int.from_bytes(key, _ORDER)
    if isinstance(key, (dict, list)):
        return json.dumps(key, default=_json_default)
    if isinstance(key, Hashable):
        return key
    return repr(key)


def _json_default(o: object) -> object:
    if isinstance(o, (bytes, bytearray)):
        return o.hex()
    return str(o)


def _slot_list(value: object, member: str | None, slot_size: int, what: str) -> list[int]:
    if member is not None and isinstance(value, dict):
        value = value.get(member)
    if isinstance(value, (bytes, bytearray)):
        if len(value) % slot_size:
            raise HistogramError(f"{what}: {len(value)} bytes are not slots of {slot_size}")
        order = _ORDER
        return [int.from_bytes(value[i:i + slot_size], order)
                for i in range(0, len(value), slot_size)]
    if not isinstance(value, list):
        raise HistogramError(f"{what}: expected an array of counts, got {value!r}")
    return [_check_count(c, f"{what}, slot {i}") for i, c in enumerate(value)]


def histograms_from_map(m: Map, *, member: str = "slots", slot_size: int = 4
                        ) -> dict[Hashable, list[int]]:
    """The histograms of a map whose values each hold one (layout ``"by_key"`` of
    :func:`histogram_layout`): key -> counts, for :func:`histograms_by_key`.

    A value is an int array, or a struct whose ``member`` (see :func:`histogram_layout`) is
    one; without BTF it is the kernel's bytes, read as native integers of ``slot_size`` bytes.
    Per-CPU values are summed slot by slot. Keys are given as the map decodes them, made
    hashable: small raw keys as ints, structs as their JSON text.

    Raises:
        HistogramError: a value holds no array of counts.
        EbpfError: reading the map failed.
    """
    found = _slots_member(m.value_type, member) if m.value_type is not None else None
    out: dict[Hashable, list[int]] = {}
    for key, value in m.items():
        what = f"value of key {key!r} in map {m.name!r}"
        total: list[int] = []
        for v in _per_cpu(value, m, what):
            slots = _slot_list(v, found, slot_size, what)
            if len(slots) > len(total):
                total.extend([0] * (len(slots) - len(total)))
            for i, c in enumerate(slots):
                total[i] += c
        out[_hashable(key)] = total
    return out


# --- tables and live views -------------------------------------------------------------------

def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns two spaces apart under a header line (``None`` shows empty)."""
    for n, r in enumerate(rows):
        if len(r) != len(headers):
            raise HistogramError(f"row {n} has {len(r)} cells for {len(headers)} columns")
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r]
                                           for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in cells)


class LiveTable:
    """A block of text redrawn in place: on a terminal the previous frame is erased (ANSI
    cursor-up and clear) before the next is drawn; elsewhere (a pipe, a file) each frame is
    appended, separated by a blank line, so logs keep every frame.

    :meth:`update` draws a new frame; :meth:`print_above` writes a line that stays (an event)
    above the frame, which is then drawn again below it; :meth:`clear` erases the frame
    (terminal) and forgets it. The stream is borrowed, never closed. Not thread-safe.
    """

    __slots__ = ("_drawn", "_frames", "_stream", "_text", "tty")

    def __init__(self, stream: TextIO, *, tty: bool | None = None) -> None:
        """Draw on ``stream``; ``tty`` forces terminal mode on or off (default: whether the
        stream is a terminal)."""
        self._stream = stream
        if tty is None:
            isatty = getattr(stream, "isatty", None)
            tty = bool(isatty()) if callable(isatty) else False
        self.tty = tty
        self._drawn = 0      # lines of the frame on the screen (terminal mode)
        self._frames = 0     # frames written (appending mode)
        self._text = ""

    def _fit(self, text: str) -> list[str]:
        lines = text.split("\n")
        if self.tty:
            columns = shutil.get_terminal_size().columns
            lines = [line[:columns] for line in lines]
        return lines

    def _erase(self) -> None:
        if self._drawn:
            self._stream.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def _draw(self) -> None:
        lines = self._fit(self._text)
        self._stream.write("\n".join(lines) + "\n")
        self._drawn = len(lines)

    def update(self, text: str) -> None:
        """Show ``text`` (without a final newline) as the new frame."""
        self._text = text
        if self.tty:
            self._erase()
            self._draw()
        else:
            if self._frames:
                self._stream.write("\n")
            self._stream.write(text + "\n")
            self._frames += 1
        self._stream.flush()

    def print_above(self, line: str) -> None:
        """Write ``line`` so that it stays; on a terminal the frame is redrawn below it."""
        if self.tty and self._drawn:
            self._erase()
            self._stream.write(line + "\n")
            self._draw()
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def clear(self) -> None:
        """Erase the frame from a terminal (a no-op elsewhere) and forget it."""
        if self.tty:
            self._erase()
            self._stream.flush()
        self._text = ""
