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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from itertools import chain
from typing import Any

from libra.backtest.per_symbol import per_symbol_stats
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
#: The exit tag of a position closed because the backtest's data ended.
FORCE_EXIT = "force_exit"
#: (topic, (handlers other than the runner's intake, the hook), series key) of a topic
_Route = tuple[str, tuple[tuple[Any, ...], Any], tuple[Any, ...]]
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
        #: client order id -> the tag its strategy gave it (see ``Order.tag``)
        self.order_tags: dict[str, str] = {}

    async def run(self, events: Iterable[Any] | None = None) -> BacktestRun:
        """Play every event in timestamp order; return fills, trades, equity and metrics.

        ``events`` is a list, or any iterable in time order that is read as it is played
        (``libra.data.bar_stream.BarStream`` over many files): only the events in play are held.
        Without it, the paper venues' replay files are played.
        """
        started = time.perf_counter()
        kernel = self.kernel
        await kernel.start()
        # Tags are read when an order is submitted: the cache lets closed orders go.
        kernel.bus.subscribe("order.*.submitted", self._note_tag)
        try:
            venues = self._venues()
            stream = self._events(events, venues)
            played = await self._play(stream, venues)
        finally:
            await kernel.stop()
        return self._results(played, time.perf_counter() - started)

    def _note_tag(self, event: Any) -> None:
        order = self.kernel.cache.order(event.client_order_id)
        if order is not None and order.tag is not None:
            self.order_tags[event.client_order_id] = order.tag

    def _venues(self) -> dict[str, PaperGateway]:
        venues = {gid: g for gid, g in self.kernel.gateways.items() if isinstance(g, PaperGateway)}
        if not venues:
            raise ValueError("a backtest needs at least one paper gateway")
        for venue in venues.values():
            venue.matching.open_window = True  # the loops below clear it before each hook
        return venues

    def _events(self, events: Iterable[Any] | None, venues: dict[str, PaperGateway]
                ) -> list[Any] | _Counted:
        if events is None:
            streams = [v.replay_events for v in venues.values() if v.replay_events]
            events = streams[0] if len(streams) == 1 else list(merge_streams(*streams))
        start, end = self.start_ns, self.end_ns
        if not isinstance(events, Sequence):
            return _Counted(events, start, end)
        if start is not None or end is not None:
            events = [
                e for e in events
                if (start is None or e.ts_event >= start) and (end is None or e.ts_event <= end)
            ]
        return list(events)

    async def _play(self, events: list[Any] | _Counted, venues: dict[str, PaperGateway]
                    ) -> _Played:
        kernel = self.kernel
        venue = next(iter(venues.values()))
        if isinstance(events, _Counted):
            first = events.first()
            play: Iterable[Any] = events
        else:
            first = events[0] if events else None
            play = events
        account, currency = self._equity_account(venue, first)
        equity = _Equity(kernel, account, currency)
        runners = list(kernel.runners.values())
        one = len(venues) == 1 and len(runners) == 1 and not venue.has_store
        last_ts = None
        if first is not None and one:
            last_ts = await self._play_one(play, first.ts_event, venue, runners[0], equity)
        elif first is not None:
            last_ts = await self._play_any(play, venues, venue, runners, equity)
        if last_ts is not None and self.config.backtest.force_exit:
            await self._force_exit(venues, runners)
        final = kernel.trading.portfolio.equity(account, currency)
        if last_ts is not None:
            equity.stamps.append(last_ts)
            equity.values.append(float(final))
        count = events.count if isinstance(events, _Counted) else len(events)
        return _Played(equity.curve(), count, final,
                       venue.options.starting_balances.get(currency))

    async def _play_one(  # noqa: C901 -- the per-event steps inline, measured below
        self, events: Iterable[Any], first_ts: int, venue: PaperGateway, runner: StrategyRunner,
        equity: _Equity,
    ) -> int:
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
        opening = venue.matching.opening
        venue_id = venue.id
        bus = kernel.bus
        handler_failed = bus.handler_failed
        inbox, dispatch, callback_failed = runner.inbox, runner.dispatch, runner.callback_failed
        # topic -> (the handlers other than the runner's intake, the hook), for one bus version
        plans: dict[Any, _Route] = {}
        # (event class, symbol, timeframe, bus version) of the last event published
        series: tuple[Any, ...] = (None, None, None, -1)
        plan: tuple[tuple[Any, ...], Any] = ((), None)
        topic = ""
        running = RunnerState.RUNNING
        delivered = 0
        counts, marks = equity.counts, equity.marks
        mark_ts, mark_value = equity.stamps.append, equity.values.append
        last_ts = first_ts
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
                    if opening:  # the fills at the bar's open are handled: the open is over
                        opening.clear()
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
        return last_ts

    async def _play_any(
        self, events: Iterable[Any], venues: dict[str, PaperGateway],
        default_venue: PaperGateway, runners: list[StrategyRunner], equity: _Equity,
    ) -> int | None:
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
            venue = venues.get(event.venue, default_venue)
            venue.on_market_data(event)
            if venue.matching.opening:
                await self._close_opening(venue, inboxes, event)
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
        return last_ts

    async def _close_opening(
        self, venue: PaperGateway, inboxes: list[tuple[Any, Any]], event: Any
    ) -> None:
        """Deliver the fills made at ``event``'s open, then end the venue's open window.

        Every strategy reacts to its fills at the open (and its orders trade against the
        bar) before any strategy sees the bar itself, as ``_play_one`` does for one.
        """
        trading = self.kernel.trading
        busy = True
        while busy:
            busy = False
            for dispatch, inbox in inboxes:
                while inbox and inbox[0] is not event:
                    await dispatch(inbox.popleft())
                    busy = True
            if trading.pending:
                await trading.flush()
                busy = True
        venue.matching.opening.clear()

    async def _force_exit(self, venues: dict[str, PaperGateway],
                          runners: list[StrategyRunner]) -> None:
        """Close every position still open at its symbol's last bar's open, tagged
        ``force_exit`` (freqtrade's end of a backtest): open orders are cancelled first,
        since a resting exit holds the quantity a closing order needs."""
        kernel = self.kernel
        trading = kernel.trading
        for venue in venues.values():
            venue.matching.opening.clear()
        trading.cancel_all_open_orders()
        await _settle(trading, runners)
        for position in trading.portfolio.positions(open_only=True):
            owner = venues.get(position.venue)
            if owner is None:
                continue
            bar = kernel.cache.latest_bar(position.symbol)
            if bar is not None:  # else a market order at the last quote or trade
                owner.matching.opening[position.symbol] = bar
            orders = trading.orders_api(position.strategy_id, position.venue)
            order = orders.create(position.symbol, "sell" if position.quantity > 0 else "buy",
                                  abs(position.quantity), reduce_only=True, tag=FORCE_EXIT)
            self.order_tags[order.client_order_id] = FORCE_EXIT
            trading.submit(order)
            await _settle(trading, runners)
            owner.matching.opening.clear()

    def _equity_account(self, venue: PaperGateway, first: Any) -> tuple[str, str]:
        symbol = first.symbol if first is not None else None
        if symbol is not None:
            return venue.id, venue.instrument(symbol).quote
        return venue.id, next(iter(venue.options.starting_balances), "USDT")

    def _results(self, played: _Played, wall: float) -> BacktestRun:
        kernel = self.kernel
        fills: list[Fill] = []
        for gateway in kernel.gateways.values():
            if isinstance(gateway, PaperGateway):
                fills.extend(gateway.matching.fills)
        trades = round_trips(fills, self.order_tags)
        equity = played.equity
        result = compute_stats(
            equity,
            trades,
            starting_capital=played.starting_balance,  # else the curve's first point
            final_equity=played.final_equity if equity else None,
            fees=sum((f.fee for f in fills), _ZERO),
            periods_per_year=self.config.backtest.periods_per_year,
        )
        result = replace(result, per_symbol=per_symbol_stats(trades, fills))
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


class _Counted:
    """An event stream played as it is read, counted (by ``count``, when it has one, as
    ``BarStream`` does: no wrapper per event) and cut to the backtest's window."""

    def __init__(self, events: Iterable[Any], start: int | None, end: int | None) -> None:
        self._source = events
        self._iterator: Iterator[Any] = iter(events)
        # A stream that counts itself is played as it is; any other is counted here.
        self._filtering = not isinstance(getattr(events, "count", None), int) or \
            start is not None or end is not None
        if self._filtering:
            self._iterator = self._filtered(start, end)
        self._counted = 0
        self._first: Any = None

    def _filtered(self, start: int | None, end: int | None) -> Iterator[Any]:
        source = iter(self._source)
        for event in source:
            ts = event.ts_event
            if start is not None and ts < start:
                continue
            if end is not None and ts > end:
                return
            self._counted += 1
            yield event

    def first(self) -> Any:
        """Return the first event (None for an empty stream); it is played all the same."""
        self._first = next(self._iterator, None)
        return self._first

    def __iter__(self) -> Iterator[Any]:
        return chain((self._first,), self._iterator) if self._first is not None else iter(())

    @property
    def count(self) -> int:
        """Return how many events were read."""
        if self._filtering:
            return self._counted
        return int(self._source.count)  # type: ignore[attr-defined]


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


def _route(bus: MessageBus, plans: dict[Any, _Route], series: tuple[Any, ...],
           runner: StrategyRunner, event: Any) -> _Route:
    """Return ``event``'s topic, its plan (see ``_plan``) and its series key, for
    ``_play_one`` when the event starts a new series; plans go stale with the bus version.

    A market data series is found by its (class, symbol, timeframe) without building its
    topic: with many symbols, consecutive events are rarely of one series.
    """
    version = bus.version
    if version != series[3]:
        plans.clear()
    cls = event.__class__
    if cls in _SERIES_KINDS:
        key = (cls, event.symbol, event.timeframe if cls is Bar else None)
        route = plans.get(key)
        if route is None:
            topic = event.topic
            route = plans[key] = (topic, _plan(bus, topic, runner, event.kind),
                                  (*key, version))
        return route
    topic = event.topic
    route = plans.get(topic)
    if route is None:
        route = plans[topic] = (topic, _plan(bus, topic, runner, event.kind),
                                (None, event.symbol, None, version))
    return route


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


async def _settle(trading: Any, runners: list[StrategyRunner]) -> None:
    """Deliver every queued event and send every queued command, until quiet."""
    busy = True
    while busy:
        busy = False
        for runner in runners:
            while runner.inbox:
                await runner.dispatch(runner.inbox.popleft())
                busy = True
        if trading.pending:
            await trading.flush()
            busy = True


def fingerprint(fills: Sequence[Fill]) -> str:
    """Return a SHA-256 over every fill's identity, side, quantity, price, fee and time."""
    digest = hashlib.sha256()
    for f in fills:
        digest.update(
            f"{f.client_order_id}|{f.trade_id}|{f.symbol}|{f.side}|{f.quantity}|{f.price}|"
            f"{f.fee}|{f.ts_event}\n".encode()
        )
    return digest.hexdigest()


def round_trips(fills: Sequence[Fill],
                tags: Mapping[str, str] | None = None) -> list[TradeRecord]:
    """Turn fills into closed round trips: flat -> position -> flat (per strategy and symbol).

    ``tags`` maps client order ids to order tags: a trip's entry tag is its opening order's,
    its exit tag the closing order's.
    """
    tags = tags or {}
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
                "entry_tag": tags.get(fill.client_order_id),
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
                entry_tag=trip["entry_tag"], exit_tag=tags.get(fill.client_order_id),
            ))
            del open_trips[key]
    return trades
