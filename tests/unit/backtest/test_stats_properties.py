"""Property tests for libra.backtest.stats."""

from __future__ import annotations

import json
import math
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from libra.backtest.stats import compute_stats, exposure, max_drawdown

equity_values = st.lists(
    st.decimals(min_value="0.01", max_value="1000000", places=2, allow_nan=False),
    min_size=1,
    max_size=60,
)
gaps = st.integers(min_value=0, max_value=10**15)


@st.composite
def equity_curves(draw: st.DrawFn) -> list[tuple[int, Decimal]]:
    values = draw(equity_values)
    steps = draw(st.lists(gaps, min_size=len(values), max_size=len(values)))
    ts, points = 0, []
    for step, value in zip(steps, values, strict=True):
        ts += step
        points.append((ts, value))
    return points


@given(equity_curves())
def test_max_drawdown_is_a_fraction(equity: list[tuple[int, Decimal]]) -> None:
    result = compute_stats(equity)

    assert 0.0 <= result.max_dd <= 1.0
    assert result.max_dd_duration_ns >= 0


@given(equity_curves())
def test_total_return_matches_first_and_last_equity(equity: list[tuple[int, Decimal]]) -> None:
    result = compute_stats(equity)

    first, last = equity[0][1], equity[-1][1]
    assert result.total_return is not None
    assert math.isclose(result.total_return, float(last / first) - 1, rel_tol=1e-9, abs_tol=1e-12)
    assert result.final_equity == last


@given(equity_curves())
def test_max_drawdown_matches_brute_force(equity: list[tuple[int, Decimal]]) -> None:
    values = [value for _, value in equity]
    expected = max(
        (float((values[i] - values[j]) / values[i]) for i in range(len(values))
         for j in range(i, len(values))),
        default=0.0,
    )  # fmt: skip

    assert math.isclose(max_drawdown(equity).depth, max(expected, 0.0), abs_tol=1e-12)


@given(equity_curves())
def test_result_is_always_json_safe(equity: list[tuple[int, Decimal]]) -> None:
    data = compute_stats(equity).to_dict()

    json.dumps(data, allow_nan=False)
    for key in ("sharpe", "sortino", "cagr", "volatility"):
        assert data[key] is None or math.isfinite(data[key])


@given(
    st.lists(st.tuples(st.integers(-100, 200), st.integers(-100, 200)), max_size=20),
    st.integers(0, 50),
    st.integers(1, 100),
)
def test_exposure_is_a_fraction(intervals: list[tuple[int, int]], start: int, span: int) -> None:
    share = exposure(intervals, start, start + span)

    assert share is not None
    assert 0.0 <= share <= 1.0
