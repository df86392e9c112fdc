"""The backtest's two replay loops agree, and its float equity curve is the account's equity.

A single strategy on one paper venue takes the unrolled loop; a second strategy (or a venue
saving to the state store) takes the general one. Both must give the same fills, the same
equity and the same isolation of a failing bus handler.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from libra_test_plugins import Recording

from libra.backtest.api import run_backtest
from libra.backtest.engine import BacktestEngine, fingerprint
from libra.core.config import KernelConfig


def with_watcher(config: KernelConfig) -> KernelConfig:
    data = config.model_dump(mode="json", by_alias=True)
    data["strategies"].append({"id": "watch", "plugin": "libra_test_plugins:Recording",
                               "gateway": "paper", "symbols": ["ETH/BTC"]})
    return KernelConfig.model_validate(data)


async def test_unrolled_and_general_loops_give_the_same_run(make_config) -> None:
    config = make_config()
    alone = await run_backtest(config)
    watcher = Recording()
    beside = await run_backtest(with_watcher(config), strategy_instances={"watch": watcher})

    assert len(alone.fills) > 20
    sma_fills = [f for f in beside.fills if f.strategy_id == "sma"]
    assert sma_fills == alone.fills
    assert fingerprint(sma_fills) == alone.fingerprint
    assert beside.equity == alone.equity
    assert len(watcher.seen) == alone.events
    assert beside.metrics()["sharpe"] == alone.metrics()["sharpe"]


async def test_equity_curve_is_cash_plus_position_at_each_close(make_config) -> None:
    """Rebuild equity from the fills and the bar closes alone, in Decimal, and compare."""
    run = await run_backtest(make_config())
    kernel = run.kernel
    assert kernel is not None
    venue = kernel.gateways["paper"]
    bars = [b for b in venue.replay_events
            if run.equity[0][0] <= b.ts_event <= run.equity[-1][0]]
    cash, quantity = Decimal(10), Decimal(0)
    fills = iter(run.fills)
    pending = next(fills, None)
    expected = []
    for bar in bars:
        while pending is not None and pending.ts_event <= bar.ts_event:
            sign = 1 if pending.side == "buy" else -1
            quantity += sign * pending.quantity
            cash -= sign * pending.quantity * pending.price + pending.fee
            pending = next(fills, None)
        expected.append((bar.ts_event, cash + quantity * bar.close))

    assert len(run.equity) == len(expected)
    for (ts, value), (expected_ts, expected_value) in zip(run.equity, expected, strict=True):
        assert ts == expected_ts
        assert value == pytest.approx(float(expected_value), rel=1e-12)
    assert run.result.final_equity == expected[-1][1]  # exact, from the portfolio


@pytest.mark.parametrize("second_strategy", [False, True], ids=["unrolled", "general"])
async def test_a_failing_bus_handler_is_isolated(make_config, second_strategy: bool) -> None:
    config = make_config()
    reference = await BacktestEngine(config).run()
    if second_strategy:
        config = with_watcher(config)
    engine = BacktestEngine(config, strategy_instances={"watch": Recording()}
                            if second_strategy else None)
    calls = []

    def broken(event: Any) -> None:
        calls.append(event)
        raise RuntimeError("handler bug")

    engine.kernel.bus.subscribe("data.bar.**", broken)
    run = await engine.run()

    assert len(calls) == reference.events
    assert engine.kernel.bus.handler_errors == reference.events
    assert [f for f in run.fills if f.strategy_id == "sma"] == reference.fills
