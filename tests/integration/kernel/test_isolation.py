"""Strategies are isolated from each other: errors, slowness, lag."""

from __future__ import annotations

import functools
from typing import Any

from libra.core.config import KernelConfig
from libra.core.kernel import TradingKernel
from libra.core.lifecycle import ComponentState
from libra.testing import eventually as eventually_
from libra.testing.factories import RecordingStrategy, paper_config, paper_gateway

eventually = functools.partial(eventually_, timeout=20.0)


def config(strategies: list[dict[str, Any]], **bus: Any) -> KernelConfig:
    """Bundled BTC/USD 1m bars replayed at full speed to ``strategies``, not waiting for
    them (``lockstep = false``), as a live feed does not."""
    gateway = paper_gateway()
    gateway["data"]["lockstep"] = False
    return paper_config(*strategies, gateway=gateway, kernel={"name": "iso"}, bus=bus,
                        logging={"heartbeat_interval": 60})


def stats(kernel: TradingKernel, strategy_id: str) -> dict[str, Any]:
    """Return one strategy's counters as ``kernel.status()`` reports them."""
    return kernel.status()["strategies"][strategy_id]


async def test_a_raising_strategy_stops_alone_after_n_errors():
    kernel = TradingKernel(config(
        [{"id": "bad", "plugin": "libra_test_plugins:Raising", "max_consecutive_errors": 3},
         {"id": "good", "plugin": "libra_test_plugins:Recording"}]
    ))
    await kernel.start()
    try:
        good = kernel.strategies["good"]
        await eventually(lambda: len(good.seen) >= 2000)
        assert kernel.strategy_state("bad") is ComponentState.FAILED
        assert stats(kernel, "bad")["errors"] == 3
        assert len(kernel.strategies["bad"].seen) == 3
        assert kernel.strategy_state("good") is ComponentState.RUNNING
        assert kernel.failed_strategies == ["bad"]
    finally:
        await kernel.stop()
    assert kernel.strategies["good"].shutdown_called
    assert kernel.strategies["bad"].shutdown_called


async def test_a_slow_strategy_does_not_delay_a_fast_one():
    kernel = TradingKernel(config(
        [{"id": "slow", "plugin": "libra_test_plugins:Slow", "params": {"delay": 0.05},
          "inbox_size": 100},
         {"id": "fast", "plugin": "libra_test_plugins:Recording"}]
    ))
    await kernel.start()
    try:
        feed_done = lambda: kernel.gateways["paper"].feed is not None and \
            kernel.gateways["paper"].feed.finished  # noqa: E731
        fast = kernel.strategies["fast"]
        slow = kernel.strategies["slow"]
        await eventually(feed_done)
        await eventually(lambda: len(fast.seen) == 45031)
        # All 45,031 bars reached the fast strategy while the slow one took a handful.
        assert len(slow.seen) < 200
        slow_stats = stats(kernel, "slow")
        assert slow_stats["inbox"] <= 101  # bounded: 100 queued + the latest conflated
        assert slow_stats["dropped"] > 40_000
        assert stats(kernel, "fast")["dropped"] == 0
    finally:
        await kernel.stop()


async def test_lagging_strategy_gets_the_latest_bar_after_conflation():
    kernel = TradingKernel(config(
        [{"id": "slow", "plugin": "libra_test_plugins:Slow", "params": {"delay": 0.01},
          "inbox_size": 5}]
    ))
    await kernel.start()
    try:
        feed = lambda: kernel.gateways["paper"].feed  # noqa: E731
        await eventually(lambda: feed() is not None and feed().finished)
        await eventually(lambda: stats(kernel, "slow")["inbox"] == 0)
        last = kernel.strategies["slow"].seen[-1]
        assert last.ts_event == feed().events[-1].ts_event
    finally:
        await kernel.stop()


async def test_on_tick_gets_quotes_and_trades_when_overridden():
    from libra.kernel.runner import StrategyRunner
    from libra.model.events import Bar, Trade

    class TickStrategy(RecordingStrategy):
        async def on_tick(self, tick: Any) -> None:
            self.seen.append(("tick", tick))

    from decimal import Decimal as D

    strategy = TickStrategy()
    runner = StrategyRunner("t", strategy)
    runner.start(own_task=False)
    trade = Trade("v", "X/Y", D(1), D(1), "buy", "1", 1, 1)
    bar = Bar("v", "X/Y", "1m", D(1), D(1), D(1), D(1), D(1), 1, 1)
    runner.on_market_data(trade)
    runner.on_market_data(bar)
    await runner.drain()
    assert strategy.seen == [("tick", trade), bar]
