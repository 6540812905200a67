"""ebpf.histogram: the text of histograms and tables, exactly, and the live view's output."""

from __future__ import annotations

import io

import pytest

from ebpf.errors import EbpfError
from ebpf.histogram import (
    HistogramError,
    LiveTable,
    format_table,
    histograms_by_key,
    linear_histogram,
    log2_histogram,
    log2_slot,
)


def test_log2_histogram_rows_ranges_and_bars() -> None:
    assert log2_histogram([3, 0, 12, 6], unit="usecs") == (
        " usecs  : count    distribution\n"
        "0 -> 1  : 3        |**********                              |\n"
        "2 -> 3  : 0        |                                        |\n"
        "4 -> 7  : 12       |****************************************|\n"
        "8 -> 15 : 6        |********************                    |"
    )


def test_log2_histogram_drops_trailing_and_optionally_leading_empty_slots() -> None:
    counts = [0, 0, 0, 5, 1, 0, 0]
    assert log2_histogram(counts, width=10, strip_leading_zeros=True) == (
        " value   : count    distribution\n"
        " 8 -> 15 : 5        |**********|\n"
        "16 -> 31 : 1        |**        |"
    )
    assert log2_histogram(counts, width=10).splitlines()[1] == (
        " 0 -> 1  : 0        |          |")


def test_log2_histogram_wide_counts_and_large_slots() -> None:
    counts = [0] * 20 + [123456789]
    text = log2_histogram(counts, width=4, strip_leading_zeros=True)
    assert text == (
        "      value        : count     distribution\n"
        "1048576 -> 2097151 : 123456789 |****|"
    )


def test_empty_histograms_are_empty_text() -> None:
    assert log2_histogram([]) == ""
    assert log2_histogram([0, 0, 0]) == ""
    assert linear_histogram([0]) == ""


def test_linear_histogram_single_values_and_ranges() -> None:
    assert linear_histogram([1, 2, 0, 4], width=8) == (
        "value : count    distribution\n"
        "    0 : 1        |**      |\n"
        "    1 : 2        |****    |\n"
        "    2 : 0        |        |\n"
        "    3 : 4        |********|"
    )
    assert linear_histogram([1, 2], start=10, step=10, unit="ms", width=4) == (
        "   ms    : count    distribution\n"
        "10 -> 19 : 1        |**  |\n"
        "20 -> 29 : 2        |****|"
    )


def test_histograms_by_key_orders_keys_and_skips_empty_ones() -> None:
    text = histograms_by_key({"sh": [1], 7: [0, 2], 3: [0, 0], 2: [4]}, key_label="pid",
                             width=4)
    assert text == (
        "pid = 2\n"
        "value  : count    distribution\n"
        "0 -> 1 : 4        |****|\n"
        "\n"
        "pid = 7\n"
        "value  : count    distribution\n"
        "0 -> 1 : 0        |    |\n"
        "2 -> 3 : 2        |****|\n"
        "\n"
        "pid = sh\n"
        "value  : count    distribution\n"
        "0 -> 1 : 1        |****|"
    )


def test_histograms_by_key_linear() -> None:
    assert histograms_by_key({1: [0, 3]}, kind="linear", start=5, width=2) == (
        "key = 1\n"
        "value : count    distribution\n"
        "    5 : 0        |  |\n"
        "    6 : 3        |**|"
    )


@pytest.mark.parametrize(("value", "slot"), [(0, 0), (1, 0), (2, 1), (3, 1), (4, 2), (7, 2),
                                             (8, 3), (1 << 40, 40)])
def test_log2_slot(value: int, slot: int) -> None:
    assert log2_slot(value) == slot


@pytest.mark.parametrize("bad", [[1, -1], [1, 2.5], ["3"], "123", [True]])
def test_bad_counts_are_named(bad: object) -> None:
    with pytest.raises(HistogramError, match=r"slot|sequence") as info:
        log2_histogram(bad)  # type: ignore[arg-type]
    assert isinstance(info.value, EbpfError) and isinstance(info.value, ValueError)


def test_bad_arguments() -> None:
    with pytest.raises(HistogramError, match="step"):
        linear_histogram([1], step=0)
    with pytest.raises(HistogramError, match="width"):
        log2_histogram([1], width=0)
    with pytest.raises(HistogramError, match="pid 4: count of slot 1"):
        histograms_by_key({4: [1, -2]}, key_label="pid")
    with pytest.raises(HistogramError, match="kind"):
        histograms_by_key({}, kind="cubic")  # type: ignore[arg-type]
    with pytest.raises(HistogramError, match="negative"):
        log2_slot(-1)


def test_format_table() -> None:
    assert format_table(["ID", "NAME", "X"], [[1, "counts", None], [100, "a", 3]]) == (
        "ID   NAME    X\n"
        "1    counts\n"
        "100  a       3"
    )
    with pytest.raises(HistogramError, match="row 0 has 1 cells for 2 columns"):
        format_table(["A", "B"], [[1]])


def test_live_table_appends_frames_when_not_a_terminal() -> None:
    out = io.StringIO()
    live = LiveTable(out)
    assert not live.tty
    live.update("a\nb")
    live.print_above("event 1")
    live.update("c")
    live.clear()
    assert out.getvalue() == "a\nb\nevent 1\n\nc\n"


def test_live_table_redraws_in_place_on_a_terminal() -> None:
    out = io.StringIO()
    live = LiveTable(out, tty=True)
    live.update("a\nb")
    live.update("c")
    live.print_above("event")
    live.clear()
    live.print_above("after")
    assert out.getvalue() == (
        "a\nb\n"
        "\x1b[2F\x1b[J" "c\n"
        "\x1b[1F\x1b[J" "event\n" "c\n"
        "\x1b[1F\x1b[J"
        "after\n"
    )


def test_histograms_read_from_maps_without_a_kernel() -> None:
    """The map readers run against ebpf.testing.FakeMap, as a user's tool would be tested
    without root: one histogram keyed by slot, and per-CPU counts summed slot by slot."""
    from ebpf import MapSpec, MapType
    from ebpf.histogram import counts_from_map
    from ebpf.testing import FakeMap

    with FakeMap(MapSpec(name="lat_hist", type=MapType.HASH, key_size=4, value_size=8,
                         max_entries=64)) as m:
        m[0] = 2
        m[3] = 5
        m[1] = 1
        assert counts_from_map(m) == [2, 1, 0, 5]  # type: ignore[arg-type]
    with FakeMap(MapSpec(name="slots", type=MapType.PERCPU_ARRAY, key_size=4, value_size=8,
                         max_entries=3), possible_cpus=2) as m:
        m[0] = [1, 2]
        m[2] = [4, 0]
        assert counts_from_map(m) == [3, 0, 4]  # type: ignore[arg-type]
    with FakeMap(MapSpec(name="bad", type=MapType.HASH, key_size=4, value_size=8,
                         max_entries=4)) as m:
        m[1 << 20] = 1
        with pytest.raises(HistogramError, match="slot"):
            counts_from_map(m)  # type: ignore[arg-type]
