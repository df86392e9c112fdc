"""The backtest's two replay loops agree, and its float equity curve is the account's equity.

A single strategy on one paper venue takes the unrolled loop; a second strategy (or a venue
saving to the state store) takes the general one. Both must give the same fills, the same
equity, the same callbacks at the same simulated times, and the same isolation of a failing
bus handler or strategy. The unrolled loop routes events itself: interleaved series and
subscriptions made mid-run must reach exactly their subscribers.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest

from libra.backtest.api import run_backtest
from libra.backtest.engine import BacktestEngine, fingerprint
from libra.core.config import KernelConfig, RiskConfig
from libra.data import merge_streams, synthetic_bars
from libra.model.events import Quote
from libra.strategies.sma_cross import SmaCross
from libra.testing.factories import RecordingStrategy, paper_config, paper_gateway

RECORDING = "libra.testing.factories:RecordingStrategy"


def with_watcher(config: KernelConfig) -> KernelConfig:
    data = config.model_dump(mode="json", by_alias=True)
    data["strategies"].append({"id": "watch", "plugin": RECORDING,
                               "gateway": "paper", "symbols": ["ETH/BTC"]})
    return KernelConfig.model_validate(data)


async def test_unrolled_and_general_loops_give_the_same_run(make_config) -> None:
    config = make_config()
    alone = await run_backtest(config)
    watcher = RecordingStrategy()
    beside = await run_backtest(with_watcher(config), strategy_instances={"watch": watcher})

    assert len(alone.fills) > 20
    sma_fills = [f for f in beside.fills if f.strategy_id == "sma"]
    assert sma_fills == alone.fills
    assert fingerprint(sma_fills) == alone.fingerprint
    assert beside.equity == alone.equity
    assert len(watcher.seen) == alone.events
    assert beside.metrics()["sharpe"] == alone.metrics()["sharpe"]
    # A run prints as a summary, not as every fill and point of the curve.
    assert alone.fingerprint[:12] in repr(alone)
    assert len(repr(alone)) < 200


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
    engine = BacktestEngine(config, strategy_instances={"watch": RecordingStrategy()}
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


class Journal(SmaCross):
    """sma_cross that writes down every callback it gets and the simulated time of it; now
    and then it raises, and places an order too large for the risk limit."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.journal: list[tuple[Any, ...]] = []
        self.bars = 0

    async def initialize(self, context: dict[str, Any]) -> None:
        self.clock = context["clock"]
        await super().initialize(context)

    async def on_data(self, data: Any) -> None:
        self.journal.append(("data", data.ts_event, self.clock.timestamp_ns()))
        self.bars += 1
        await super().on_data(data)
        if self.bars % 300 == 0:
            self.buy_market(data.symbol, "1000")  # denied: over max_order_quantity
        if self.bars % 500 == 0:
            raise RuntimeError("now and then")

    async def on_order_update(self, update: Any) -> None:
        self.journal.append(("order", update.client_order_id, type(update).__name__,
                             self.clock.timestamp_ns()))

    async def on_fill(self, fill: Any) -> None:
        self.journal.append(("fill", fill.client_order_id, fill.ts_event,
                             self.clock.timestamp_ns()))
        await super().on_fill(fill)


async def run_on(config: KernelConfig, strategy: SmaCross, second_strategy: bool) -> Any:
    if second_strategy:
        config = with_watcher(config)
    instances: dict[str, Any] = {"sma": strategy}
    if second_strategy:
        instances["watch"] = RecordingStrategy()
    engine = BacktestEngine(config, strategy_instances=instances)
    run = await engine.run()
    return run, engine.kernel.runners["sma"]


async def test_both_loops_deliver_the_same_callbacks_in_the_same_order(make_config) -> None:
    params = {"fast": 10, "slow": 30, "quantity": "1"}
    runs = {}
    config = make_config().model_copy(update={"risk": RiskConfig(max_order_quantity=10)})
    for second in (False, True):
        strategy = Journal(params)
        run, runner = await run_on(config, strategy, second)
        runs[second] = (strategy.journal, runner.stats(), runner.events_in,
                        [f for f in run.fills if f.strategy_id == "sma"])

    journal, stats, events_in, fills = runs[False]
    assert runs[True] == runs[False]
    kinds = [entry[0] for entry in journal]
    denied = [entry for entry in journal if entry[0] == "order" and entry[2] == "OrderDenied"]
    assert kinds.count("fill") == len(fills) > 20
    assert len(denied) == kinds.count("data") // 300 > 0
    # submitted and accepted per filled order
    assert kinds.count("order") == 2 * len(fills) + len(denied)
    # Every order's events reach the strategy at the time of the bar that placed it, before
    # the next bar: submitted, accepted, filled; or denied.
    bar_ts, per_order = None, defaultdict(list)
    for entry in journal:
        if entry[0] == "data":
            bar_ts = entry[1]
            assert entry[2] == bar_ts
            continue
        assert entry[-1] == bar_ts
        per_order[entry[1]].append(entry[2] if entry[0] == "order" else "filled")
    filled, refused = ("OrderSubmitted", "OrderAccepted", "filled"), ("OrderDenied",)
    assert sorted(map(tuple, per_order.values())) == sorted(
        [filled] * len(fills) + [refused] * len(denied)
    )
    assert stats["errors"] == kinds.count("data") // 500 > 0
    assert stats["state"] == "stopped"  # by the end of the run, not failed
    assert stats["events"] == events_in == len(journal)


@pytest.mark.parametrize("second_strategy", [False, True], ids=["unrolled", "general"])
async def test_a_strategy_raising_on_every_bar_fails_after_the_limit(
    make_config, second_strategy: bool
) -> None:
    class AlwaysRaising(SmaCross):
        seen = 0

        async def on_data(self, data: Any) -> None:
            self.seen += 1
            raise RuntimeError("always")

    strategy = AlwaysRaising({})
    run, runner = await run_on(make_config(), strategy, second_strategy)

    assert runner.stats()["state"] == "failed"
    assert strategy.seen == runner.errors == runner.max_consecutive_errors
    assert run.events > 100 * strategy.seen  # the replay went on without it
    assert run.fills == []


def two_symbol_config() -> KernelConfig:
    gateway = paper_gateway(gateway_id="sim", data={"source": "none"}, balances={"USD": "1000"})
    recording = {"id": "rec", "plugin": RECORDING, "symbols": ["AAA/USD"], "params": {}}
    return paper_config(recording, gateway=gateway, environment="backtest", log_plugins=False)


async def test_interleaved_series_reach_exactly_their_subscribers() -> None:
    """Two symbols, two timeframes and quotes, interleaved; a subscription made mid-run."""
    start = synthetic_bars(1, "AAA/USD", "1m", venue="sim")[0].ts_event
    streams = [
        synthetic_bars(120, "AAA/USD", "1m", seed=1, venue="sim", start_ns=start),
        synthetic_bars(24, "AAA/USD", "5m", seed=2, venue="sim", start_ns=start),
        synthetic_bars(120, "BBB/USD", "1m", seed=3, venue="sim", start_ns=start),
        [Quote("sim", "AAA/USD", b.low, b.high, Decimal(1), Decimal(1), b.ts_event + 1,
               b.ts_event + 1) for b in synthetic_bars(60, "AAA/USD", "2m", seed=4, venue="sim")],
    ]
    events = list(merge_streams(*streams))
    recording = RecordingStrategy()
    engine = BacktestEngine(two_symbol_config(), strategy_instances={"rec": recording})
    bus = engine.kernel.bus
    b_bars: list[Any] = []
    late_5m: list[Any] = []
    midway = events[len(events) // 2].ts_event

    def on_b_bar(bar: Any) -> None:
        b_bars.append(bar)
        if bar.ts_event >= midway and not late_5m:
            bus.subscribe("data.bar.sim.AAA/USD.5m", late_5m.append)

    bus.subscribe("data.bar.sim.BBB/USD.1m", on_b_bar)
    await engine.run(events)

    assert recording.seen == [e for e in events if e.symbol == "AAA/USD"]
    assert b_bars == [e for e in events if e.symbol == "BBB/USD"]
    subscribed_at = next(i for i, e in enumerate(events)
                         if e.symbol == "BBB/USD" and e.ts_event >= midway)
    assert late_5m == [e for e in events[subscribed_at + 1:]
                       if e.symbol == "AAA/USD" and getattr(e, "timeframe", "") == "5m"]
    assert late_5m


async def test_a_subscription_made_mid_series_takes_effect_at_the_next_event() -> None:
    bars = synthetic_bars(200, "AAA/USD", "1m", seed=5, venue="sim")
    engine = BacktestEngine(two_symbol_config(), strategy_instances={"rec": RecordingStrategy()})
    bus = engine.kernel.bus
    late: list[Any] = []

    def subscribe_at_100(bar: Any) -> None:
        if bar is bars[99]:
            bus.subscribe("data.bar.sim.AAA/USD.*", late.append)

    bus.subscribe("data.bar.sim.AAA/USD.1m", subscribe_at_100)
    await engine.run(bars)

    assert late == bars[100:]
