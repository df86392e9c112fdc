"""The status page's snapshot: the daemon's state, small and already formatted for people.

``build_snapshot`` reads the kernel as the other services do (``KernelControl``) and
returns plain JSON-safe data. Everything shown is bounded (open orders, fills, problems,
equity points), so the snapshot stays a few kilobytes however long the daemon runs and
however many orders it has. Decimals become text here (``human_number``), never in the
browser: a venue's ``0E-8`` or a 28-digit quotient must not reach a person as it is.
Times are ISO 8601 UTC; the page turns them into relative ages.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Protocol

from libra.kernel.control import KernelControl
from libra.model.fills import Fill

MAX_ROWS = 50
SIGNIFICANT_DIGITS = 8
MAX_PLACES = 12
MAX_SERIES = 3
QUIET_POINTS = 60


class SnapshotSource(Protocol):
    """What a snapshot reads: ``OpsService`` (readiness and stream freshness)."""

    kernel: KernelControl

    def readiness(self) -> list[str]: ...

    def streams(self) -> Mapping[str, Any]: ...


def human_number(value: Any, places: int | None = None) -> str:
    """Return ``value`` as people read it: ``1,234.5``, ``0.00012``, ``0`` (never ``0E-8``).

    Up to ``SIGNIFICANT_DIGITS`` significant digits and at most ``MAX_PLACES`` decimals
    (dust below that shows as ``0``), trailing zeros dropped; ``places`` fixes the
    decimals of numbers from 1 up (money: 2). None is ``""``; text that is no number is
    returned as it is.
    """
    if value is None:
        return ""
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if not number.is_finite():
        return str(number)
    if number.is_zero():
        return "0"
    if places is None or abs(number) < 1:
        wanted = max(0, SIGNIFICANT_DIGITS - 1 - number.adjusted())
        places = min(MAX_PLACES, wanted) if places is None else \
            max(places, min(MAX_PLACES, wanted))
    # More digits than the context holds (InvalidOperation): show it unrounded.
    with contextlib.suppress(InvalidOperation):
        number = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    text = f"{number:,f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def iso_time(seconds: float | None) -> str | None:
    """Return a POSIX time as ISO 8601 UTC to the second (None stays None)."""
    if seconds is None:
        return None
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


def iso_ns(nanoseconds: int | None) -> str | None:
    """Return integer nanoseconds since the epoch as ISO 8601 UTC."""
    return None if not nanoseconds else iso_time(nanoseconds / 1e9)


class EquityHistory:
    """Equity since start, sampled into at most ``capacity`` points.

    A sample is kept every ``interval`` seconds, or every ``QUIET_POINTS`` intervals while
    nothing changes (so an idle daemon's page is not re-sent each second). When the ring
    is full every other point is dropped and the interval doubles, so the curve always
    spans the whole run at a resolution that coarsens with time (a day in 240 points is
    one every six minutes), in bounded memory.
    """

    def __init__(self, capacity: int = 240, interval: float = 1.0) -> None:
        self.capacity = capacity
        self.interval = interval
        self.points: list[tuple[float, dict[str, float]]] = []
        # The newest change, shown after the kept points so the curve ends at the present
        # value even when the interval has grown to minutes.
        self.latest: tuple[float, dict[str, float]] | None = None

    def sample(self, now: float, values: Mapping[str, float]) -> bool:
        """Record ``values`` at POSIX time ``now`` when an interval has passed; return whether."""
        if self.latest is None or self.latest[1] != values:
            self.latest = (now, dict(values))
        if self.points:
            last, previous = self.points[-1]
            quiet = dict(values) == previous and now - last < self.interval * QUIET_POINTS
            if now - last < self.interval or quiet:
                return False
        self.points.append((now, dict(values)))
        if len(self.points) > self.capacity:
            self.points = self.points[::2]
            self.interval *= 2
        return True

    def series(self) -> dict[str, list[list[float]]]:
        """Return ``{name: [[posix_seconds, value], ...]}`` for the page's chart."""
        out: dict[str, list[list[float]]] = {}
        points = self.points
        if self.latest is not None and points and self.latest[0] > points[-1][0]:
            points = [*points, self.latest]
        for ts, values in points:
            for name, value in values.items():
                out.setdefault(name, []).append([round(ts, 1), value])
        return out


def equity_values(kernel: KernelControl) -> dict[str, float]:
    """Return each account's equity per currency, keyed ``"<account> <currency>"``.

    A currency some position holds (BTC of a BTC/USD position) is left out: its marked
    value is already in the quote currency's equity. Floats on purpose: these are chart
    coordinates, never used to trade.
    """
    portfolio = kernel.trading.portfolio
    held = {(p.venue, p.base) for p in portfolio.positions()}
    values: dict[str, float] = {}
    for account in portfolio.accounts:
        for currency in portfolio.balances(account):
            if (account, currency) in held:
                continue
            if len(values) >= MAX_SERIES:
                return values
            values[f"{account} {currency}"] = float(portfolio.equity(account, currency))
    return values


def build_snapshot(source: SnapshotSource, equity: EquityHistory,
                   problems: list[dict[str, Any]], now: Callable[[], float]) -> dict[str, Any]:
    """Return what the status page shows but the fills (see ``fill_row``)."""
    kernel = source.kernel
    risk = kernel.trading.risk.snapshot()
    reasons = source.readiness()
    started = kernel.started_at_ns
    return {
        "kernel": {"name": kernel.name, "state": kernel.state.value,
                   "environment": kernel.environment, "started_at": iso_ns(started),
                   "stop_reason": kernel.stop_reason, "reconciled": kernel.reconciled,
                   "ready": not reasons, "not_ready": reasons},
        "risk": {"trading_state": risk["trading_state"], "denials": risk["denials"],
                 "paused": risk["paused"], "pnl": human_number(kernel.trading.total_pnl(), 2),
                 "orders": dict(kernel.trading.counts)},
        "gateways": _gateways(source, now()),
        "strategies": _strategies(kernel, risk["paused"]),
        "positions": _positions(kernel),
        "balances": _balances(kernel),
        "open_orders": _open_orders(kernel),
        "equity": equity.series(),
        "problems": [{**p, "ts": iso_time(p["ts"])} for p in problems],
    }


def _gateways(source: SnapshotSource, now: float) -> list[dict[str, Any]]:
    out = []
    kernel = source.kernel
    health = source.streams()
    for gateway_id, gateway in kernel.gateways.items():
        state = health.get(gateway_id)
        age = None if state is None else state.age
        out.append({
            "id": gateway_id, "connected": bool(gateway.is_connected),
            # A wall-clock time, not an age, so an idle snapshot does not change each tick.
            "last_data_at": None if age is None else iso_time(now - age),
            "stale": bool(state is not None and state.stale),
            "ended": bool(state is not None and state.ended),
            "problems": [] if state is None else state.problems(source_stale(source)),
        })
    return out


def source_stale(source: SnapshotSource) -> float:
    """Return the source's staleness limit in seconds (60 when it has none)."""
    return float(getattr(source, "stale_after", 60.0))


def _strategies(kernel: KernelControl, paused: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for strategy_id, runner in kernel.runners.items():
        stats = runner.stats()
        out.append({"id": strategy_id, "state": stats["state"], "gateway": runner.gateway_id,
                    "events": stats["events"], "inbox": stats["inbox"],
                    "dropped": stats["dropped"], "errors": stats["errors"],
                    "paused": str(paused[strategy_id]) if strategy_id in paused else None})
    return out


def _positions(kernel: KernelControl) -> list[dict[str, Any]]:
    portfolio = kernel.trading.portfolio
    out = []
    for position in portfolio.positions(open_only=True)[:MAX_ROWS]:
        mark = portfolio.mark_price(position.symbol)
        out.append({
            "strategy_id": position.strategy_id, "symbol": position.symbol,
            "side": position.side.value, "quantity": human_number(position.quantity),
            "avg_entry_price": human_number(position.avg_entry_price),
            "mark_price": human_number(mark),
            "unrealized_pnl": human_number(portfolio.unrealized_pnl_of(position), 2),
            "realized_pnl": human_number(position.realized_pnl, 2),
            "fees": human_number(position.fees, 2), "quote": position.quote,
        })
    return out


def _balances(kernel: KernelControl) -> list[dict[str, Any]]:
    portfolio = kernel.trading.portfolio
    return [{"account": account, "currency": currency, "amount": human_number(amount),
             "equity": human_number(portfolio.equity(account, currency), 2)}
            for account in portfolio.accounts
            for currency, amount in portfolio.balances(account).items()][:MAX_ROWS]


def _open_orders(kernel: KernelControl) -> dict[str, Any]:
    orders = kernel.cache.open_orders()
    newest = sorted(orders, key=lambda o: o.ts_init or 0, reverse=True)[:MAX_ROWS]
    return {"total": len(orders), "rows": [{
        "client_order_id": o.client_order_id, "strategy_id": o.strategy_id,
        "symbol": o.symbol, "side": o.side.value, "type": o.type.value,
        "quantity": human_number(o.quantity), "filled": human_number(o.filled_quantity),
        "price": human_number(o.price), "status": o.status.value, "created_at": iso_ns(o.ts_init),
    } for o in newest]}


def fill_row(fill: Fill) -> dict[str, Any]:
    """Return one fill as the page shows it (a fill never changes: render it once)."""
    return {"ts": iso_ns(fill.ts_event), "strategy_id": fill.strategy_id, "symbol": fill.symbol,
            "side": fill.side.value, "quantity": human_number(fill.quantity),
            "price": human_number(fill.price), "fee": human_number(fill.fee),
            "fee_currency": fill.fee_currency, "liquidity": fill.liquidity,
            "client_order_id": fill.client_order_id, "trade_id": fill.trade_id}


__all__ = ["EquityHistory", "SnapshotSource", "build_snapshot", "equity_values",
           "fill_row", "human_number", "iso_time"]
