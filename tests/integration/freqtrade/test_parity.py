"""LIBRA's freqtrade adapter against freqtrade itself, on 5,760 real ETH/BTC 5m candles.

Signals: the adapter analyses every closed candle in a rolling window; its entry and exit
candles must equal freqtrade's ``advise_*`` over the whole history. Trades: a LIBRA backtest
(paper venue filling at the next open) against ``freqtrade backtesting``, run for real with
the same fee, stake and precision: trade by trade (open and close candle, rates, amount,
exit reason). The only accepted differences are named below with their cause.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from libra.strategies.freqtrade import FreqtradeAdapter

PAIR = "ETH/BTC"
FIVE_MINUTES = timedelta(minutes=5)
# freqtrade's own backtester calls pandas APIs that pandas 3.1 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")


def _adapter(name: str, folder: str, **options: Any) -> FreqtradeAdapter:
    return FreqtradeAdapter({"strategy": name, "strategy_path": folder,
                             "pairs": [PAIR], "stake_amount": "0.01", "max_open_trades": 1,
                             "fee": "0.001", **options})


async def _backtest(adapter: FreqtradeAdapter, candles: Path, **options: Any) -> dict[str, Any]:
    return await adapter.backtest({"data": str(candles), "symbol": PAIR,
                                   "starting_balances": {"BTC": "1"}, **options})


def _freqtrade_signals(name: str, folder: str, candles: Path) -> Any:
    """Return freqtrade's own ``advise_*`` output over the whole file."""
    import pandas as pd

    from libra.strategies.freqtrade.config import FreqtradeAdapterConfig
    from libra.strategies.freqtrade.loader import freqtrade_config, load_strategy

    options = FreqtradeAdapterConfig(strategy=name, strategy_path=folder)
    strategy = load_strategy(freqtrade_config(options, [PAIR], "BTC"))
    frame = pd.read_feather(candles)
    analyzed = strategy.ft_advise_signals(strategy.advise_indicators(frame, {"pair": PAIR}),
                                          {"pair": PAIR})
    return analyzed.iloc[strategy.startup_candle_count:]


@pytest.mark.parametrize(("name", "end"), [("SampleStrategy", "2018-01-14 12:00"),
                                           ("LibraRoiStop", "2018-01-17 00:00")])
async def test_per_candle_signals_equal_freqtrades_advise(freqtrade, candles, strategy_folder,
                                                          name, end):
    """Analysing each closed candle in a window gives freqtrade's whole-history signals."""
    adapter = _adapter(name, strategy_folder(name))
    await _backtest(adapter, candles, end=end)
    ours = list(adapter.signals[PAIR])
    theirs = _freqtrade_signals(name, strategy_folder(name), candles)
    theirs = theirs[theirs["date"].array.as_unit("ns").asi8 <= ours[-1].ts_open]
    assert len(ours) == len(theirs) > 900
    assert [s.ts_open for s in ours] == theirs["date"].array.as_unit("ns").asi8.tolist()
    enters = {s.ts_open for s in ours if s.enter_long}
    exits = {s.ts_open for s in ours if s.exit_long}
    dates = theirs["date"].array.as_unit("ns").asi8
    assert enters == set(dates[(theirs["enter_long"] == 1).to_numpy()].tolist())
    assert exits == set(dates[(theirs["exit_long"] == 1).to_numpy()].tolist())
    assert enters


def _compare(ours: list[Any], theirs: list[dict[str, Any]]) -> dict[str, Any]:
    """Count the trades equal to freqtrade's: same open and close candle, rates (to float
    noise), exit reason; and the amounts within one lot step (1e-8)."""
    by_open = {datetime.fromtimestamp(t.open_time / 1e9, UTC): t for t in ours}
    same, amounts, diffs = 0, 0, []
    for trade in theirs:
        mine = by_open.get(trade["open_date"])
        assert mine is not None, f"freqtrade trade at {trade['open_date']} missing in LIBRA"
        assert mine.open_rate == pytest.approx(trade["open_rate"], rel=1e-12)
        amounts += abs(mine.amount - trade["amount"]) <= LOT_STEP
        close = datetime.fromtimestamp(mine.close_time / 1e9, UTC)
        if close == trade["close_date"] and mine.exit_reason == trade["exit_reason"] and \
                mine.close_rate == pytest.approx(trade["close_rate"], rel=1e-12):
            same += 1
        else:
            diffs.append((trade, mine, close - trade["close_date"]))
    return {"same": same, "amounts": amounts, "diffs": diffs}


# The one accepted difference, a float-representation case: on 2018-01-22 the 20:00 candle
# opens at its low, 0.09214001000000001 as a float. Both engines exit the 19:25 trade on
# the exit signal at that open; freqtrade first rounds the price to the 1e-8 step, and
# 0.09214001 is below the candle's float low, so its order fills one candle later, at the
# same price. LIBRA's venue fills the market order at the open.
FLOAT_CASES = {datetime(2018, 1, 22, 19, 25, tzinfo=UTC)}
LOT_STEP = 1e-8 + 1e-15


@pytest.mark.parametrize(("name", "trades", "float_cases"),
                         [("SampleStrategy", 14, 0), ("LibraRoiStop", 170, 1)])
async def test_trades_equal_freqtrade_backtesting(freqtrade, candles, reference_trades,
                                                  strategy_folder, name, trades, float_cases):
    """Every trade equals freqtrade's, the one at the end (force_exit) included."""
    adapter = _adapter(name, strategy_folder(name), history=str(candles))
    await _backtest(adapter, candles)
    theirs = reference_trades(name)
    assert len(adapter.closed_trades) == len(theirs) == trades
    assert theirs[-1]["exit_reason"] == adapter.closed_trades[-1].exit_reason == "force_exit"
    result = _compare(adapter.closed_trades, theirs)
    assert result["amounts"] == trades  # sized from the entry fill, as freqtrade sizes them
    assert result["same"] == trades - float_cases
    assert {trade["open_date"] for trade, _, _ in result["diffs"]} <= FLOAT_CASES
    for trade, mine, delay in result["diffs"]:
        assert mine.exit_reason == trade["exit_reason"]
        assert delay == -FIVE_MINUTES
        assert mine.close_rate == pytest.approx(trade["close_rate"], rel=1e-12)
    assert Counter(t.exit_reason for t in adapter.closed_trades) == \
        Counter(t["exit_reason"] for t in theirs)


async def test_trailing_and_custom_stoploss_follow_freqtrade(freqtrade, candles,
                                                             reference_trades, strategy_folder):
    """Trailing stops exit on the same entries, at most one candle after freqtrade."""
    adapter = _adapter("LibraTrailing", strategy_folder("LibraTrailing"), history=str(candles))
    await _backtest(adapter, candles)
    theirs = reference_trades("LibraTrailing")
    result = _compare(adapter.closed_trades, theirs)
    # 157 of 170: the others are trailing stops freqtrade raises with a candle's high and
    # hits with the same candle's low; LIBRA's resting stop is the one set a candle
    # before, so it exits one candle later (and the float case above).
    assert len(adapter.closed_trades) == len(theirs) == 170
    assert result["same"] == 157
    assert result["amounts"] == 170
    for trade, mine, delay in result["diffs"]:
        assert mine.exit_reason == trade["exit_reason"]
        assert abs(delay) <= FIVE_MINUTES
        assert mine.close_rate == pytest.approx(trade["close_rate"], rel=0.03)


async def test_per_candle_and_precomputed_backtests_trade_alike(freqtrade, candles,
                                                                strategy_folder):
    """Signals from one pass over the history trade exactly like per-candle analysis."""
    end = "2018-01-16 00:00"
    folder = strategy_folder("LibraRoiStop")
    per_candle = _adapter("LibraRoiStop", folder)
    precomputed = _adapter("LibraRoiStop", folder, history=str(candles))
    first = await _backtest(per_candle, candles, end=end)
    second = await _backtest(precomputed, candles, end=end)
    assert per_candle.closed_trades == precomputed.closed_trades
    assert first["fingerprint"] == second["fingerprint"]
