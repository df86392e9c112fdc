"""EquityCurve: packed storage that reads as a sequence of (ts, equity) points."""

from __future__ import annotations

from array import array
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libra.backtest.stats import EquityCurve, compute_stats, max_drawdown


def test_reads_as_points() -> None:
    curve = EquityCurve([(1, Decimal("100.5")), (2, 101.25)])
    curve.append(3, Decimal(99))

    assert len(curve) == 3
    assert curve[0] == (1, 100.5)
    assert curve[-1] == (3, 99.0)
    assert list(curve) == [(1, 100.5), (2, 101.25), (3, 99.0)]
    assert list(curve[1:]) == [(2, 101.25), (3, 99.0)]
    assert curve == [(1, 100.5), (2, 101.25), (3, 99.0)]
    assert curve != [(1, 100.5)]
    assert curve.timestamps.tolist() == [1, 2, 3]
    assert curve.values.tolist() == [100.5, 101.25, 99.0]


def test_from_columns_packs_lists_or_arrays_and_checks_their_lengths() -> None:
    stamps = [1_704_067_260_000_000_000, 1_704_067_320_000_000_000]
    from_lists = EquityCurve.from_columns(stamps, [1.5, 2.25])
    assert list(from_lists) == [(stamps[0], 1.5), (stamps[1], 2.25)]
    assert EquityCurve.from_columns(array("q", stamps), array("d", [1.5, 2.25])) == from_lists
    assert len(EquityCurve.from_columns([], [])) == 0

    with pytest.raises(ValueError, match="2 timestamps for 1 values"):
        EquityCurve.from_columns([5, 6], [1.0])


def test_arrays_are_copies() -> None:
    curve = EquityCurve([(1, 1.0)])
    values = curve.values
    values[0] = 5.0
    curve.append(2, 2.0)  # no exported buffer blocks growth

    assert list(curve) == [(1, 1.0), (2, 2.0)]


def test_stats_of_a_curve_equal_stats_of_its_points() -> None:
    points = [(i * 60_000_000_000, Decimal(100 + (i * 7) % 13)) for i in range(200)]
    from_points = compute_stats(points)
    from_curve = compute_stats(EquityCurve(points), final_equity=points[-1][1])

    assert from_curve == from_points


def _reference_drawdown(points: list[tuple[int, Decimal]]) -> tuple[float, int, int, int, bool]:
    """The definition, walked point by point in exact arithmetic."""
    best = (0.0, -1, -1, -1, True)
    peak_ts, peak = points[0]
    trough_ts, trough = peak_ts, peak

    def close(end_ts: int, recovered: bool) -> None:
        nonlocal best
        if trough < peak and peak > 0:
            depth = 1.0 if trough <= 0 else float((peak - trough) / peak)
            if depth > best[0]:
                best = (depth, peak_ts, trough_ts, end_ts, recovered)

    for ts, value in points[1:]:
        if value >= peak:
            close(ts, recovered=True)
            peak_ts, peak, trough_ts, trough = ts, value, ts, value
        elif value < trough:
            trough_ts, trough = ts, value
    close(points[-1][0], recovered=False)
    return best


@given(st.lists(st.integers(min_value=-5, max_value=40), min_size=1, max_size=60))
def test_max_drawdown_matches_the_episode_walk(values: list[int]) -> None:
    points = [(i * 10, Decimal(v)) for i, v in enumerate(values)]
    depth, peak_ts, trough_ts, end_ts, recovered = _reference_drawdown(points)
    dd = max_drawdown(points)

    assert dd.depth == pytest.approx(depth, abs=1e-12)
    if depth > 0:
        assert (dd.peak_ts_ns, dd.trough_ts_ns, dd.end_ts_ns, dd.recovered) == (
            peak_ts, trough_ts, end_ts, recovered)
