"""A backtest is a pure function of its config and data: same inputs, same fills."""

from __future__ import annotations

from libra.backtest.api import run_backtest
from libra.backtest.engine import fingerprint
from libra.data import synthetic_bars


async def test_same_config_gives_identical_runs(make_config) -> None:
    config = make_config()

    first = await run_backtest(config)
    second = await run_backtest(config)

    assert len(first.fills) > 20
    assert first.fingerprint == second.fingerprint == fingerprint(second.fills)
    assert first.fills == second.fills
    assert first.trades == second.trades
    assert first.equity == second.equity
    assert first.metrics() == second.metrics()


async def test_window_limits_events(make_config) -> None:
    """Two days of 5-minute bars are 576 bars (both ends included)."""
    run = await run_backtest(make_config(start="2018-01-12", end="2018-01-14"))

    assert run.events == 2 * 288 + 1
    assert all(run.equity[0][0] <= f.ts_event <= run.equity[-1][0] for f in run.fills)


async def test_synthetic_seed_changes_fills_not_bar_count(make_config) -> None:
    """Data from another seed of the random walk trades differently on as many bars."""
    config = make_config(data={"source": "none"}, params={"fast": 5, "slow": 20},
                         start=None, end=None)

    def bars(seed: int) -> list:
        return synthetic_bars(3_000, "ETH/BTC", "5m", seed=seed, start_price="0.05000",
                              venue="paper")

    seed_1 = await run_backtest(config, events=bars(1))
    seed_1_again = await run_backtest(config, events=bars(1))
    seed_2 = await run_backtest(config, events=bars(2))

    assert seed_1.fingerprint == seed_1_again.fingerprint
    assert seed_1.fills == seed_1_again.fills
    assert seed_1.events == seed_2.events == 3_000
    assert seed_1.fills
    assert seed_2.fills
    assert seed_1.fingerprint != seed_2.fingerprint


async def test_strategy_param_changes_fingerprint(make_config) -> None:
    fast_10 = await run_backtest(make_config(params={"fast": 10}))
    fast_12 = await run_backtest(make_config(params={"fast": 12}))

    assert fast_10.events == fast_12.events
    assert fast_10.fingerprint != fast_12.fingerprint


async def test_periods_per_year_from_config_annualises(make_config) -> None:
    config = make_config()
    default = await run_backtest(config)
    section = config.backtest.model_copy(update={"periods_per_year": 288 * 365})
    daily_bars = await run_backtest(config.model_copy(update={"backtest": section}))

    assert daily_bars.metrics()["periods_per_year"] == 288 * 365
    assert default.fingerprint == daily_bars.fingerprint
    assert default.result.sharpe is not None
    assert daily_bars.result.sharpe is not None
