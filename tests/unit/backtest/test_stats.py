"""Known-answer and edge-case tests for libra.backtest.stats."""

from __future__ import annotations

import json
import math
import statistics
from decimal import Decimal

import pytest

from libra.backtest.stats import (
    NS_PER_DAY,
    NS_PER_YEAR,
    TradeRecord,
    cagr,
    compute_stats,
    exposure,
    format_duration,
    infer_periods_per_year,
    max_drawdown,
    profit_factor,
    win_rate,
)

FIVE_MINUTES = 5 * 60 * 1_000_000_000


def curve(*values: str | int, step_ns: int = NS_PER_DAY) -> list[tuple[int, Decimal]]:
    return [(i * step_ns, Decimal(value)) for i, value in enumerate(values)]


def trade(pnl: str, entry_day: float = 0, exit_day: float = 1, fees: str = "0") -> TradeRecord:
    return TradeRecord(
        symbol="BTC/USDT",
        side="long",
        entry_ts_ns=int(entry_day * NS_PER_DAY),
        exit_ts_ns=int(exit_day * NS_PER_DAY),
        entry_price=Decimal(100),
        exit_price=Decimal(100) + Decimal(pnl),
        quantity=Decimal(1),
        pnl=Decimal(pnl),
        fees=Decimal(fees),
    )


def test_max_drawdown_of_recovered_dip() -> None:
    """100 -> 110 -> 99 -> 120: 10% below the 110 peak, back above it two days later."""
    result = compute_stats(curve(100, 110, 99, 120))

    assert result.max_dd == pytest.approx(0.1)
    assert result.max_drawdown.peak_ts_ns == 1 * NS_PER_DAY
    assert result.max_drawdown.trough_ts_ns == 2 * NS_PER_DAY
    assert result.max_drawdown.recovered
    assert result.max_dd_duration_ns == 2 * NS_PER_DAY
    assert result.max_dd_duration == "2d"
    assert result.total_return == pytest.approx(0.2)
    assert result.final_equity == Decimal(120)


def test_max_drawdown_not_recovered_lasts_to_end_of_curve() -> None:
    dd = max_drawdown(curve(100, 120, 90, 100, 110))

    assert dd.depth == pytest.approx(0.25)
    assert not dd.recovered
    assert (dd.peak_ts_ns, dd.trough_ts_ns, dd.end_ts_ns) == (
        NS_PER_DAY,
        2 * NS_PER_DAY,
        4 * NS_PER_DAY,
    )
    assert dd.duration_ns == 3 * NS_PER_DAY


def test_max_drawdown_picks_the_deepest_episode_not_the_longest() -> None:
    """A long shallow dip (5%) then a short deep one (50%)."""
    dd = max_drawdown(curve(100, 95, 96, 97, 98, 99, 101, 50, 102))

    assert dd.depth == pytest.approx((101 - 50) / 101)
    assert dd.peak_ts_ns == 6 * NS_PER_DAY
    assert dd.duration_ns == 2 * NS_PER_DAY


def test_max_drawdown_ties_keep_the_earliest() -> None:
    dd = max_drawdown(curve(100, 90, 100, 90, 100))

    assert dd.depth == pytest.approx(0.1)
    assert dd.peak_ts_ns == 0


def test_equity_at_zero_is_a_total_loss() -> None:
    result = compute_stats(curve(100, 50, 0, 0))

    assert result.max_dd == 1.0
    assert result.total_return == -1.0
    assert result.cagr == -1.0
    assert json.dumps(result.to_dict(), allow_nan=False)


def test_sharpe_and_sortino_known_answer() -> None:
    """Returns +10%, -5%, +10%, -5%: mean 2.5%, sample stdev 7.5%*2/sqrt(3), downside 5%/sqrt(2)."""
    equity = curve("100", "110", "104.5", "114.95", "109.2025")

    result = compute_stats(equity, periods_per_year=365)

    assert result.sharpe == pytest.approx(math.sqrt(3) / 6 * math.sqrt(365))
    assert result.sortino == pytest.approx(1 / math.sqrt(2) * math.sqrt(365))
    assert result.volatility == pytest.approx(0.075 * 2 / math.sqrt(3) * math.sqrt(365))


def test_risk_free_rate_is_subtracted_per_period() -> None:
    """With one period a year the per-period rate is the annual rate (5%)."""
    equity = curve("100", "110", "104.5", "114.95", "109.2025")

    result = compute_stats(equity, periods_per_year=1, risk_free_rate=0.05)

    assert result.sharpe == pytest.approx(-math.sqrt(3) / 6)
    # Excess returns +5%, -10%, +5%, -10%: downside deviation sqrt(2 * 0.01 / 4).
    assert result.sortino == pytest.approx(-0.025 / math.sqrt(0.005))
    assert result.risk_free_rate == 0.05


def test_sortino_is_none_without_a_losing_period() -> None:
    result = compute_stats(curve(100, 101, 103, 106), periods_per_year=365)

    assert result.sharpe is not None
    assert result.sharpe > 0
    assert result.sortino is None


def test_constant_growth_has_no_sharpe() -> None:
    """Identical returns have zero deviation up to float noise; Sharpe is undefined."""
    result = compute_stats(curve("100", "110", "121", "133.1"), periods_per_year=365)

    assert result.sharpe is None
    assert result.sortino is None


def test_flat_curve() -> None:
    result = compute_stats(curve(100, 100, 100, 100))

    assert result.sharpe is None
    assert result.sortino is None
    assert result.volatility == 0.0
    assert result.max_dd == 0.0
    assert result.max_dd_duration_ns == 0
    assert result.max_dd_duration == "0s"
    assert result.total_return == 0.0
    assert result.cagr == 0.0
    assert result.exposure == 0.0


def test_empty_curve() -> None:
    result = compute_stats([])

    assert result.start_ns is None
    assert result.final_equity == Decimal(0)
    assert result.total_return is None
    assert result.cagr is None
    assert result.sharpe is None
    assert result.max_dd == 0.0
    assert result.exposure is None
    assert result.periods_per_year is None
    assert result.trades == 0
    assert result.win_rate is None
    assert result.avg_trade is None
    assert json.dumps(result.to_dict(), allow_nan=False)


def test_empty_curve_with_starting_capital() -> None:
    result = compute_stats([], starting_capital=Decimal(1000))

    assert result.final_equity == Decimal(1000)
    assert result.total_return == 0.0


def test_single_point_curve() -> None:
    result = compute_stats(curve(100))

    assert result.total_return == 0.0
    assert result.cagr is None  # zero time span
    assert result.sharpe is None
    assert result.max_dd == 0.0
    assert result.exposure is None


def test_starting_capital_overrides_first_point() -> None:
    """Equity marked after the first fill can start below the capital that was deposited."""
    result = compute_stats(curve(990, 1100), starting_capital=Decimal(1000))

    assert result.total_return == pytest.approx(0.1)


def test_cagr_over_two_years() -> None:
    assert cagr(Decimal(100), Decimal(121), 2 * NS_PER_YEAR) == pytest.approx(0.1)
    assert cagr(Decimal(100), Decimal(50), NS_PER_YEAR) == pytest.approx(-0.5)


def test_cagr_undefined_cases() -> None:
    assert cagr(Decimal(100), Decimal(121), 0) is None
    assert cagr(Decimal(0), Decimal(121), NS_PER_YEAR) is None
    # +1,000,000x in five minutes does not fit in a float once annualised.
    assert cagr(Decimal(1), Decimal(1_000_000), FIVE_MINUTES) is None


def test_periods_per_year_from_median_spacing() -> None:
    assert infer_periods_per_year([i * FIVE_MINUTES for i in range(10)]) == 105_120
    assert infer_periods_per_year([0, NS_PER_DAY, 2 * NS_PER_DAY, 10 * NS_PER_DAY]) == 365
    assert infer_periods_per_year([5, 5, 5]) is None
    assert infer_periods_per_year([]) is None


def test_ratios_come_from_daily_returns_by_default() -> None:
    """Five-minute marks swing by 5 within each day; only each day's last equity counts."""
    closes = [105, 110, 99, 108.9]
    points = [(day * NS_PER_DAY + i * FIVE_MINUTES,
               Decimal(str(close if i == 287 else 100 + (i % 2) * 5)))
              for day, close in enumerate(closes) for i in range(288)]

    result = compute_stats(points)

    daily = [105 / 100 - 1, 110 / 105 - 1, 99 / 110 - 1, 108.9 / 99 - 1]
    expected = statistics.mean(daily) / statistics.stdev(daily) * math.sqrt(365)
    assert result.periods_per_year == 365
    assert result.sharpe == pytest.approx(expected)


def test_intraday_curve_has_no_daily_ratio() -> None:
    result = compute_stats(curve(100, 101, 99, 102, step_ns=FIVE_MINUTES))

    assert result.sharpe is None
    assert result.sortino is None
    assert result.total_return == pytest.approx(0.02)


def test_trade_statistics() -> None:
    trades = [trade("10", fees="1"), trade("-5", fees="1"), trade("20"), trade("-15"), trade("0")]

    result = compute_stats(curve(100, 110), trades)

    assert result.trades == 5
    assert (result.wins, result.losses) == (2, 2)
    assert result.win_rate == pytest.approx(0.4)
    assert result.profit_factor == pytest.approx(1.5)
    assert result.avg_trade == Decimal(2)
    assert result.best_trade == Decimal(20)
    assert result.worst_trade == Decimal(-15)
    assert result.fees == Decimal(2)


def test_one_winning_trade_has_no_profit_factor() -> None:
    result = compute_stats(curve(100, 110), [trade("10")])

    assert result.win_rate == 1.0
    assert result.profit_factor is None
    assert result.avg_trade == result.best_trade == result.worst_trade == Decimal(10)


def test_all_losing_trades() -> None:
    result = compute_stats(curve(100, 90, 80), [trade("-10"), trade("-10", 1, 2)])

    assert result.win_rate == 0.0
    assert result.profit_factor == 0.0
    assert result.wins == 0
    assert result.losses == 2
    assert result.max_dd == pytest.approx(0.2)


def test_win_rate_and_profit_factor_without_trades() -> None:
    assert win_rate([]) is None
    assert profit_factor([]) is None


def test_explicit_fees_override_trade_fees() -> None:
    result = compute_stats(curve(100, 110), [trade("10", fees="1")], fees=Decimal("3.5"))

    assert result.fees == Decimal("3.5")


def test_exposure_defaults_to_trade_intervals() -> None:
    """Trades over days 0-1 and 2-3 of a four-day curve: half the time in a position."""
    result = compute_stats(curve(100, 101, 102, 103, 104), [trade("1", 0, 1), trade("1", 2, 3)])

    assert result.exposure == pytest.approx(0.5)


def test_exposure_merges_overlaps_and_clips_to_the_curve() -> None:
    day = NS_PER_DAY
    intervals = [(-5 * day, 1 * day), (2 * day, 5 * day), (3 * day, 4 * day), (9 * day, 20 * day)]

    assert exposure(intervals, 0, 10 * day) == pytest.approx(0.5)
    assert exposure([], 0, 10 * day) == 0.0
    assert exposure([(0, day)], 0, 0) is None


def test_exposure_from_in_position_intervals() -> None:
    """A position still open at the end of the run is not a closed trade; pass it explicitly."""
    result = compute_stats(curve(100, 101, 102, 103, 104), [], in_position=[(NS_PER_DAY, 10**30)])

    assert result.exposure == pytest.approx(0.75)


def test_to_dict_keys_and_json_safety() -> None:
    result = compute_stats(curve(100, 110, 99, 120), [trade("10", fees="0.1"), trade("-1")])

    data = result.to_dict()

    expected = {
        "sharpe", "sortino", "max_dd", "max_dd_duration", "total_return", "cagr", "win_rate",
        "profit_factor", "exposure", "trades", "fees", "final_equity",
    }  # fmt: skip
    assert expected <= data.keys()
    assert data["max_dd"] == pytest.approx(0.1)
    assert data["max_dd_duration"] == "2d"
    assert data["trades"] == 2
    assert data["fees"] == "0.1"
    assert data["final_equity"] == "120"
    assert json.loads(json.dumps(data, allow_nan=False)) == data


def test_format_duration() -> None:
    second = 1_000_000_000
    assert format_duration(0) == "0s"
    assert format_duration(-5) == "0s"
    assert format_duration(500) == "<1s"
    assert format_duration(45 * second) == "45s"
    assert format_duration(FIVE_MINUTES) == "5m"
    assert format_duration(3_725 * second) == "1h 2m 5s"
    assert format_duration(2 * NS_PER_DAY + 3 * 3_600 * second + 59) == "2d 3h"


def test_unsorted_curve_is_rejected() -> None:
    with pytest.raises(ValueError, match="time order"):
        compute_stats([(2, Decimal(1)), (1, Decimal(1))])


def test_invalid_periods_per_year_is_rejected() -> None:
    with pytest.raises(ValueError, match="periods_per_year"):
        compute_stats(curve(1, 2), periods_per_year=0)


def test_trade_record_validation() -> None:
    with pytest.raises(ValueError, match="side"):
        TradeRecord("X", "buy", 0, 1, Decimal(1), Decimal(1), Decimal(1), Decimal(0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exit_ts_ns"):
        TradeRecord("X", "short", 5, 1, Decimal(1), Decimal(1), Decimal(1), Decimal(0))


def test_trade_record_to_dict_keeps_decimal_text() -> None:
    record = trade("0.10000000000000000001")

    data = record.to_dict()

    assert data["pnl"] == "0.10000000000000000001"
    assert record.duration_ns == NS_PER_DAY
