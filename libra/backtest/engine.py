"""Backtest runner: the live kernel, driven by history in simulated time.

The very same kernel, bus, strategy runners, risk engine, execution engine and
paper venue run here as in live trading. What changes: the clock is a
``SimulatedClock``, and there are no tasks and no queues between components.
Each historical event is handed to its paper venue (which matches resting
orders), published, and then every strategy inbox and every order command is
drained and awaited before the next event. The same inputs therefore give the
same fills, byte for byte; ``fingerprint`` proves it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from libra.backtest.stats import BacktestResult, EquityCurve, TradeRecord, compute_stats
from libra.core.bus import MessageBus
from libra.core.config import KernelConfig
from libra.data import merge_streams
from libra.gateways.paper import PaperGateway
from libra.kernel import TradingKernel
from libra.kernel.runner import RunnerState, StrategyRunner
from libra.model.events import Bar, OrderBook, Quote, Trade
from libra.model.fills import Fill
from libra.model.positions import Position
from libra.plugins.base import StrategyPlugin

_ZERO = Decimal(0)
# The market data events whose topic is made of their class, venue, symbol and (bars)
# timeframe alone
_SERIES_KINDS = frozenset({Bar, Quote, Trade, OrderBook})


@dataclass(repr=False)
class BacktestRun:
    """Everything a backtest produced."""

    result: BacktestResult
    fills: list[Fill]
    trades: list[TradeRecord]
    equity: EquityCurve
    fingerprint: str
    events: int
    wall_seconds: float
    orders: dict[str, int] = field(default_factory=dict)
    kernel: TradingKernel | None = None

    def metrics(self) -> dict[str, Any]:
        """Return the metrics dict (``sharpe``, ``max_dd``, ...) plus run facts."""
        out = self.result.to_dict()
        out["fingerprint"] = self.fingerprint
        out["events"] = self.events
        out["fills"] = len(self.fills)
        return out

    def __repr__(self) -> str:
        # A summary: the full fill list and curve would run to megabytes, and asyncio
        # formats a finished task's result on the way out of asyncio.run.
        return (f"BacktestRun(events={self.events}, fills={len(self.fills)}, "
                f"trades={len(self.trades)}, fingerprint={self.fingerprint[:12]!r}, "
                f"wall_seconds={self.wall_seconds:.3f})")


@dataclass
class _Played:
    equity: EquityCurve
    events: int
    final_equity: Decimal
    starting_balance: Decimal | None


class BacktestEngine:
    """Run a ``KernelConfig`` (environment ``backtest``) over its paper venues' data."""

    def __init__(
        self,
        config: KernelConfig,
        strategy_instances: dict[str, StrategyPlugin] | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> None:
        if config.environment != "backtest":
            config = config.model_copy(update={"environment": "backtest"})
        self.config = config
        self.kernel = TradingKernel(config, strategy_instances=strategy_instances)
        self.start_ns = start_ns
        self.end_ns = end_ns

    async def run(self, events: Sequence[Any] | None = None) -> BacktestRun:
        """Play every event in timestamp order; return fills, trades, equity and metrics."""
        started = time.perf_counter()
        kernel = self.kernel
        await kernel.start()
        try:
            venues = self._venues()
            stream = self._events(events, venues)
            played = await self._play(stream, venues)
        finally:
            await kernel.stop()
        return self._results(played, time.perf_counter() - started)

    def _venues(self) -> dict[str, PaperGateway]:
        venues = {gid: g for gid, g in self.kernel.gateways.items() if isinstance(g, PaperGateway)}
        if not venues:
            raise ValueError("a backtest needs at least one paper gateway")
        return venues

    def _events(self, events: Sequence[Any] | None, venues: dict[str, PaperGateway]) -> list[Any]:
        if events is None:
            streams = [v.replay_events for v in venues.values() if v.replay_events]
            events = streams[0] if len(streams) == 1 else list(merge_streams(*streams))
        start, end = self.start_ns, self.end_ns
        if start is not None or end is not None:
            events = [
                e for e in events
                if (start is None or e.ts_event >= start) and (end is None or e.ts_event <= end)
            ]
        return list(events)

    async def _play(self, events: list[Any], venues: dict[str, PaperGateway]) -> _Played:
        kernel = self.kernel
        venue = next(iter(venues.values()))
        account, currency = self._equity_account(venue, events)
        equity = _Equity(kernel, account, currency)
        runners = list(kernel.runners.values())
        one = len(venues) == 1 and len(runners) == 1 and not venue.has_store
        if events and one:
            await self._play_one(events, venue, runners[0], equity)
        elif events:
            await self._play_any(events, venues, venue, runners, equity)
        final = kernel.trading.portfolio.equity(account, currency)
        if events:
            equity.stamps.append(events[-1].ts_event)
            equity.values.append(float(final))
        return _Played(equity.curve(), len(events), final,
                       venue.options.starting_balances.get(currency))

    async def _play_one(  # noqa: C901 -- the per-event steps inline, measured below
        self, events: list[Any], venue: PaperGateway, runner: StrategyRunner, equity: _Equity
    ) -> None:
        """One paper venue without a state store and one strategy: every plain backtest.

        The venue's ``on_market_data``, the bus's ``publish``, the runner's delivery of
        market data and the equity mark are unrolled into this loop, which saves several
        calls per event over ``_play_any``. The same matching engine sees each event first,
        then the same bus handlers in the same order. The strategy's hook is awaited here
        after them, where its inbox would deliver the event, so the order events queued
        before it (fills of resting orders) reach the strategy first, and the orders it
        places are sent before the next callback, as ``dispatch`` does.

        Four steps are inlined rather than called, because a call costs more than the step:
        calling the runner's callback boundary as a coroutine costs about 1,450 CPU
        instructions per bar, a bus method for the handler loop about 900, a venue method
        wrapping the matching about 450, ``_Equity.mark`` about 380 (cachegrind, count-only,
        against about 12,300 for the whole bar): together a quarter of the throughput.
        ``tests/integration/backtest/test_engine_paths.py`` holds this loop to ``_play_any``,
        which calls the live path's functions: same callbacks, fills, equity and isolation.
        """
        kernel = self.kernel
        pending, flush = kernel.trading.pending, kernel.trading.flush
        advance = kernel.clock.advance_to  # type: ignore[union-attr]
        match, emit_report = venue.matching.on_market_data, venue.emit_order_event
        venue_id = venue.id
        bus = kernel.bus
        handler_failed = bus.handler_failed
        inbox, dispatch, callback_failed = runner.inbox, runner.dispatch, runner.callback_failed
        # topic -> (the handlers other than the runner's intake, the hook), for one bus version
        plans: dict[str, tuple[tuple[Any, ...], Any]] = {}
        # (event class, symbol, timeframe, bus version) of the last event published
        series: tuple[Any, ...] = (None, None, None, -1)
        plan: tuple[tuple[Any, ...], Any] = ((), None)
        topic = ""
        running = RunnerState.RUNNING
        delivered = 0
        counts, marks = equity.counts, equity.marks
        mark_ts, mark_value = equity.stamps.append, equity.values.append
        last_ts = events[0].ts_event
        advance(last_ts)
        try:
            for event in events:
                ts = event.ts_event
                if ts != last_ts:
                    # _Equity.mark, inline
                    if counts.get("filled", 0) != equity.fills_seen:
                        equity.refresh()
                    value = equity.cash
                    for symbol, quantity, price in equity.held:
                        mark = marks.get(symbol)
                        value += quantity * (price if mark is None else float(mark))
                    mark_ts(last_ts)
                    mark_value(value)
                    advance(ts)
                    last_ts = ts
                for report in match(event):
                    emit_report(report)
                hook = None
                if event.venue == venue_id:
                    # The events of one series (one symbol's bars of one timeframe) share
                    # their symbol and timeframe objects: while they follow each other and no
                    # subscription changes, they share a topic, which is not built again.
                    cls = event.__class__
                    if cls is not series[0] or event.symbol is not series[1] or \
                            (cls is Bar and event.timeframe is not series[2]) or \
                            bus.version != series[3]:
                        topic, plan, series = _route(bus, plans, series, runner, event)
                    for handler in plan[0]:
                        try:
                            handler(event)
                        except Exception:
                            handler_failed(topic, handler)
                    hook = plan[1]
                # Drain until quiet: the order events queued so far (fills of resting orders)
                # reach the strategy before this event, and the orders it places now are
                # sent, and their fills delivered, before the next event.
                while True:
                    while inbox:
                        await dispatch(inbox.popleft())
                    if hook is not None:
                        if runner.state is running:
                            delivered += 1
                            try:
                                await hook(event)
                            except Exception as exc:  # as in StrategyRunner.dispatch
                                callback_failed(hook, event, exc)
                            else:
                                if runner.consecutive_errors:
                                    runner.consecutive_errors = 0
                        hook = None
                    if pending:
                        await flush()
                    elif not inbox:
                        break
        finally:
            runner.events_in += delivered
            runner.events_handled += delivered

    async def _play_any(
        self, events: list[Any], venues: dict[str, PaperGateway], default_venue: PaperGateway,
        runners: list[StrategyRunner], equity: _Equity,
    ) -> None:
        """Any number of venues and strategies, venues that save to the state store."""
        trading = self.kernel.trading
        advance = self.kernel.clock.advance_to  # type: ignore[union-attr]
        inboxes = [(runner.dispatch, runner.inbox) for runner in runners]
        last_ts = None
        for event in events:
            ts = event.ts_event
            if ts != last_ts:
                if last_ts is not None:
                    equity.mark(last_ts)
                advance(ts)
                last_ts = ts
            venues.get(event.venue, default_venue).on_market_data(event)
            busy = True
            while busy:
                busy = False
                for dispatch, inbox in inboxes:
                    while inbox:
                        await dispatch(inbox.popleft())
                        busy = True
                if trading.pending:
                    await trading.flush()
                    busy = True

    def _equity_account(self, venue: PaperGateway, events: list[Any]) -> tuple[str, str]:
        symbol = events[0].symbol if events else None
        if symbol is not None:
            return venue.id, venue.instrument(symbol).quote
        return venue.id, next(iter(venue.options.starting_balances), "USDT")

    def _results(self, played: _Played, wall: float) -> BacktestRun:
        kernel = self.kernel
        fills: list[Fill] = []
        for gateway in kernel.gateways.values():
            if isinstance(gateway, PaperGateway):
                fills.extend(gateway.matching.fills)
        trades = round_trips(fills)
        equity = played.equity
        result = compute_stats(
            equity,
            trades,
            starting_capital=played.starting_balance,  # else the curve's first point
            final_equity=played.final_equity if equity else None,
            fees=sum((f.fee for f in fills), _ZERO),
            periods_per_year=self.config.backtest.periods_per_year,
        )
        return BacktestRun(
            result=result,
            fills=fills,
            trades=trades,
            equity=equity,
            fingerprint=fingerprint(fills),
            events=played.events,
            wall_seconds=wall,
            orders=dict(kernel.trading.counts),
            kernel=kernel,
        )


class _Equity:
    """Account equity marked once per timestamp, in floats.

    Cash and open positions change only with a fill, so they are read from the portfolio
    after each fill and multiplied by the cache's latest prices in between: a Decimal
    equity per bar would cost more than the rest of the bar.
    """

    __slots__ = ("account", "cash", "counts", "currency", "fills_seen", "held", "marks",
                 "portfolio", "stamps", "values")

    def __init__(self, kernel: TradingKernel, account: str, currency: str) -> None:
        self.portfolio = kernel.trading.portfolio
        self.counts = kernel.trading.counts
        self.marks = kernel.cache.last_prices
        self.account, self.currency = account, currency
        # Lists while playing, packed once at the end (see EquityCurve.from_columns)
        self.stamps: list[int] = []
        self.values: list[float] = []
        self.fills_seen = -1
        self.cash = 0.0
        self.held: list[tuple[str, float, float]] = []

    def refresh(self) -> None:
        """Read the cash and each open position's (symbol, quantity, unmarked price)."""
        self.fills_seen = self.counts.get("filled", 0)
        cash, held = self.portfolio.equity_terms(self.account, self.currency)
        self.cash = float(cash)
        self.held = [(p.symbol, float(p.quantity), float(price)) for p, price in held]

    def mark(self, ts: int) -> None:
        """Append the equity at ``ts``."""
        if self.counts.get("filled", 0) != self.fills_seen:
            self.refresh()
        value = self.cash
        for symbol, quantity, price in self.held:
            mark = self.marks.get(symbol)
            value += quantity * (price if mark is None else float(mark))
        self.stamps.append(ts)
        self.values.append(value)

    def curve(self) -> EquityCurve:
        return EquityCurve.from_columns(self.stamps, self.values)


def _route(
    bus: MessageBus, plans: dict[str, tuple[tuple[Any, ...], Any]], series: tuple[Any, ...],
    runner: StrategyRunner, event: Any,
) -> tuple[str, tuple[tuple[Any, ...], Any], tuple[Any, ...]]:
    """Return ``event``'s topic, its plan (see ``_plan``) and its series key, for
    ``_play_one`` when the event starts a new series; plans go stale with the bus version."""
    if bus.version != series[3]:
        plans.clear()
    topic = event.topic
    plan = plans.get(topic)
    if plan is None:
        plan = plans[topic] = _plan(bus, topic, runner, event.kind)
    cls = event.__class__
    return topic, plan, (cls if cls in _SERIES_KINDS else None, event.symbol,
                         event.timeframe if cls is Bar else None, bus.version)


def _plan(
    bus: MessageBus, topic: str, runner: StrategyRunner, kind: str
) -> tuple[tuple[Any, ...], Any]:
    """Split a topic's handlers for ``_play_one``: the runner's intake is replaced by
    awaiting its hook directly (market data kinds only; anything else stays queued)."""
    handlers = bus.handlers(topic)
    hook = runner.market_hook(kind)
    if hook is None:
        return handlers, None
    intake = runner.on_market_data
    others = tuple(h for h in handlers if h != intake)
    return others, hook if len(others) != len(handlers) else None


def fingerprint(fills: Sequence[Fill]) -> str:
    """Return a SHA-256 over every fill's identity, side, quantity, price, fee and time."""
    digest = hashlib.sha256()
    for f in fills:
        digest.update(
            f"{f.client_order_id}|{f.trade_id}|{f.symbol}|{f.side}|{f.quantity}|{f.price}|"
            f"{f.fee}|{f.ts_event}\n".encode()
        )
    return digest.hexdigest()


def round_trips(fills: Sequence[Fill]) -> list[TradeRecord]:
    """Turn fills into closed round trips: flat -> position -> flat (per strategy and symbol)."""
    trades: list[TradeRecord] = []
    open_trips: dict[tuple[str, str], dict[str, Any]] = {}
    positions: dict[tuple[str, str], Position] = {}
    for fill in fills:
        key = (fill.strategy_id, fill.symbol)
        position = positions.get(key)
        if position is None:
            position = positions[key] = Position(
                strategy_id=fill.strategy_id, venue=fill.venue, symbol=fill.symbol,
                base="", quote=fill.fee_currency,
            )
        was_flat = position.is_flat
        realized_before = position.realized_pnl
        position.apply_fill(fill)
        trip = open_trips.get(key)
        if was_flat:
            trip = open_trips[key] = {
                "side": "long" if fill.side == "buy" else "short",
                "entry_ts": fill.ts_event, "entry_price": fill.price, "quantity": fill.quantity,
                "pnl": _ZERO, "fees": _ZERO, "exit_value": _ZERO, "exit_qty": _ZERO,
            }
        assert trip is not None
        trip["fees"] += fill.fee
        trip["pnl"] += position.realized_pnl - realized_before
        trip["quantity"] = max(trip["quantity"], abs(position.quantity))
        if not was_flat:
            trip["exit_value"] += fill.price * fill.quantity
            trip["exit_qty"] += fill.quantity
        if position.is_flat and not was_flat:
            exit_price = trip["exit_value"] / trip["exit_qty"] if trip["exit_qty"] else fill.price
            trades.append(TradeRecord(
                symbol=fill.symbol, side=trip["side"], entry_ts_ns=trip["entry_ts"],
                exit_ts_ns=fill.ts_event, entry_price=trip["entry_price"],
                exit_price=exit_price, quantity=trip["quantity"],
                pnl=trip["pnl"] - trip["fees"], fees=trip["fees"],
            ))
            del open_trips[key]
    return trades
