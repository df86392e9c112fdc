"""Backtest/live parity: sma_cross through the backtest engine and through the live kernel.

The live path is a paper kernel (``environment = "paper"``): a wall clock, one task per
strategy runner, the execution engine's flush task, and the paper venue fed the same
recorded bars. Compared per fill, in order: client order id (the order sequence), side,
quantity, price and fee, plus the order counters. Fed by hand (no replay), the kernel
runs on the wall clock, which stamps a fill with wall time where the backtest's simulated
clock uses the time of the bar it filled on; a replay runs on the data's time
(``ReplayClock``), and its fills are the backtest's, stamps included.

Two ways to feed the live kernel, both must match the backtest exactly:

* the replay feed at full speed (``speed = 0``), as ``libra run`` plays a file. The feed
  waits after every bar until the kernel has settled, so the strategy sees a bar and its
  order reaches the venue before the venue sees the next bar, as in a backtest. (When the
  feed yielded only every 64 bars, market orders filled up to 63 bars late, at later
  closes: the orders, sides and quantities matched but prices and fees did not.)
* lock-step by hand: each bar enters the venue as the replay feed hands it over
  (``gateway.on_market_data``) and the next one waits until the strategy has handled
  everything queued. This pins the kernel's part of parity independently of the feed.
"""

from __future__ import annotations

from typing import Any

from libra.backtest.api import run_backtest
from libra.backtest.engine import fingerprint
from libra.core.kernel import TradingKernel
from libra.gateways.paper import PaperGateway


def compared(fills: list[Any]) -> list[tuple[Any, ...]]:
    """Return the fields parity covers, fill by fill."""
    return [(f.client_order_id, str(f.side), f.quantity, f.price, f.fee) for f in fills]


def settled(kernel: TradingKernel) -> bool:
    """Return whether every queued event was handled and no order command waits.

    ``kernel.status()`` counts queued and handled events but not the event being handled,
    nor the commands the execution engine holds: this reads the runners and the engine.
    """
    runners = kernel.runners.values()
    return all(r.events_in == r.events_handled for r in runners) and not kernel.trading.pending


async def test_live_kernel_in_lockstep_fills_like_backtest(make_config, wait_for) -> None:
    backtest = await run_backtest(make_config())
    bars = backtest.kernel.gateways["paper"].replay_events
    bars = [b for b in bars if backtest.equity[0][0] <= b.ts_event <= backtest.equity[-1][0]]
    kernel = TradingKernel(make_config("paper", data={"source": "none"}))
    await kernel.start()
    try:
        venue = kernel.gateways["paper"]
        assert isinstance(venue, PaperGateway)
        for bar in bars:
            venue.on_market_data(bar)
            await wait_for(lambda: settled(kernel))
    finally:
        await kernel.stop()

    live_fills = await venue.fetch_fills()
    assert len(backtest.fills) > 20
    assert compared(live_fills) == compared(backtest.fills)
    assert kernel.status()["orders"] == backtest.orders
    # Wall-clock stamps in live, bar stamps in the backtest.
    assert live_fills[0].ts_event > bars[-1].ts_event


async def test_live_replay_at_full_speed_fills_like_backtest(make_config, wait_for) -> None:
    config = make_config(start=None, end=None)
    backtest = await run_backtest(config)
    kernel = TradingKernel(config.model_copy(update={"environment": "paper"}))
    await kernel.start()
    try:
        venue = kernel.gateways["paper"]
        assert isinstance(venue, PaperGateway)
        assert venue.options.data.speed == 0
        await wait_for(lambda: venue.feed is not None and venue.feed.finished and settled(kernel))
    finally:
        await kernel.stop()

    live = await venue.fetch_fills()
    assert venue.feed is not None
    assert venue.feed.emitted == backtest.events == 5_760
    assert len(backtest.fills) > 100
    assert compared(live) == compared(backtest.fills)
    assert fingerprint(live) == backtest.fingerprint  # the stamps too: the data's time
    assert kernel.status()["orders"] == backtest.orders
