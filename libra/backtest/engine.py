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

from libra.backtest.stats import BacktestResult, TradeRecord, compute_stats
from libra.core.config import KernelConfig
from libra.core.kernel import TradingKernel
from libra.data import merge_streams
from libra.gateways.paper import PaperGateway
from libra.model.fills import Fill
from libra.model.positions import Position
from libra.plugins.base import StrategyPlugin

_ZERO = Decimal(0)


@dataclass
class BacktestRun:
    """Everything a backtest produced."""

    result: BacktestResult
    fills: list[Fill]
    trades: list[TradeRecord]
    equity: list[tuple[int, Decimal]]
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
            equity, count = await self._play(stream, venues)
        finally:
            await kernel.stop()
        return self._results(equity, count, time.perf_counter() - started)

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

    async def _play(
        self, events: list[Any], venues: dict[str, PaperGateway]
    ) -> tuple[list[tuple[int, Decimal]], int]:
        kernel = self.kernel
        clock = kernel.clock
        runners = list(kernel.runners.values())
        trading = kernel.trading
        default_venue = next(iter(venues.values()))
        account, currency = self._equity_account(default_venue, events)
        portfolio = trading.portfolio
        equity: list[tuple[int, Decimal]] = []
        append = equity.append
        last_ts = None
        advance = clock.advance_to  # type: ignore[union-attr]
        pending = trading.pending
        inboxes = [(runner.dispatch, runner._inbox) for runner in runners]
        single = len(venues) == 1
        # Equity only moves with a fill or, while a position is open, with the mark.
        value = portfolio.equity(account, currency)
        fills_seen, holding = 0, False
        for event in events:
            ts = event.ts_event
            if ts != last_ts:
                if last_ts is not None:
                    fills = trading.counts.get("filled", 0)
                    if holding or fills != fills_seen:
                        fills_seen = fills
                        value = portfolio.equity(account, currency)
                        holding = bool(portfolio.positions(open_only=True))
                    append((last_ts, value))
                advance(ts)
                last_ts = ts
            (default_venue if single else venues.get(event.venue, default_venue)) \
                .on_market_data(event)
            # Drain until quiet: fills from orders placed now reach on_fill before the next event.
            busy = True
            while busy:
                busy = False
                for dispatch, inbox in inboxes:
                    while inbox:
                        await dispatch(inbox.popleft())
                        busy = True
                if pending:
                    await trading.flush()
                    busy = True
        if last_ts is not None:
            append((last_ts, portfolio.equity(account, currency)))
        return equity, len(events)

    def _equity_account(self, venue: PaperGateway, events: list[Any]) -> tuple[str, str]:
        symbol = events[0].symbol if events else None
        if symbol is not None:
            return venue.id, venue.instrument(symbol).quote
        return venue.id, next(iter(venue.options.starting_balances), "USDT")

    def _results(
        self, equity: list[tuple[int, Decimal]], events: int, wall: float
    ) -> BacktestRun:
        kernel = self.kernel
        fills: list[Fill] = []
        for gateway in kernel.gateways.values():
            if isinstance(gateway, PaperGateway):
                fills.extend(gateway.matching.fills)
        trades = round_trips(fills)
        starting = equity[0][1] if equity else _ZERO
        venue = next(g for g in kernel.gateways.values() if isinstance(g, PaperGateway))
        if equity:
            currency = venue.instrument(fills[0].symbol).quote if fills else None
            if currency is not None and currency in venue.options.starting_balances:
                starting = venue.options.starting_balances[currency]
        result = compute_stats(
            equity,
            trades,
            starting_capital=starting,
            fees=sum((f.fee for f in fills), _ZERO),
            periods_per_year=self.config.backtest.periods_per_year,
        )
        return BacktestRun(
            result=result,
            fills=fills,
            trades=trades,
            equity=equity,
            fingerprint=fingerprint(fills),
            events=events,
            wall_seconds=wall,
            orders=dict(kernel.trading.counts),
            kernel=kernel,
        )


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
