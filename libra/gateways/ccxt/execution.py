"""Orders on a ccxt venue: submit, cancel, resolve by query, and the venue's reports.

``submit`` and ``cancel`` return at once; the venue I/O runs in tasks of the gateway's
task set and every outcome comes back as an order event. The rules (see ``errors.py``):

* rejected: ``OrderRejected`` / ``OrderCancelRejected`` with the venue's reason;
* rate limited (418, 429, ccxt ``DDoSProtection``): refused unprocessed, so sent again
  with the *same* client order id once the venue allows (``Retry-After``, shared by every
  request of the gateway: ``ratelimit.py``); such waits end only at ``submit_deadline``;
* other transient failures (the request was refused unprocessed): sent again with the
  same client order id after a backoff, ``submit_attempts`` times at most;
* ambiguous (timeout, 5xx, a reply without an order id) and duplicate (the venue already
  has this client id): the order stays in flight and is looked up by client order id until
  the venue answers; only an order the venue confirms it does not have is sent again.

Fills are emitted once per ``(symbol, trade id)`` whatever the source: the placement
reply, ``watch_my_trades``, or a REST fetch when an order report shows more filled than
the fills seen so far.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from libra.gateways.ccxt.errors import Outcome, classify, describe, is_rate_limit
from libra.gateways.ccxt.host import GatewayHost
from libra.gateways.ccxt.parse import (
    InvalidMessage,
    OrderReport,
    client_order_id_of,
    parse_fill,
    parse_order_report,
)
from libra.gateways.ccxt.ratelimit import VenueBackoff
from libra.gateways.ccxt.streams import Backoff, TaskSet
from libra.model.fills import Fill
from libra.model.numbers import display, to_plain_string
from libra.model.order_events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderRejected,
)
from libra.model.orders import Order, OrderSide, OrderType

_ZERO = Decimal(0)
# How each venue's order query and cancel take our client order id (ccxt's unified
# ``clientOrderId`` otherwise).
_CLIENT_ID_QUERY_PARAM = {"binance": "origClientOrderId", "binanceus": "origClientOrderId"}
_FILL_GRACE = 1.0  # seconds a report's fills may lag behind it on the user stream


class _Retry(enum.Enum):
    """What one send of an order or a cancel leaves to do."""

    DONE = "done"  # placed, canceled, resolved by query or rejected: nothing more to send
    RATE_LIMITED = "rate_limited"  # refused unprocessed: send again when the venue allows
    FAILED = "failed"  # send again after a backoff, as one more attempt


@dataclass(slots=True, eq=False)
class Tracked:
    """What the gateway knows of one order it is working."""

    order: Order
    venue_order_id: str | None = None
    accepted: bool = False
    terminal: str | None = None
    filled: Decimal = _ZERO
    in_flight: bool = True
    fill_check: bool = False
    trade_ids: set[str] = field(default_factory=set)


class ExecutionHost(GatewayHost, Protocol):
    """What order execution needs from its gateway (``CCXTGateway``, which passes itself).

    The gateway replaces its client on connect and its event sink on ``bind``, so both are
    read from it at each use rather than copied here.
    """

    @property
    def secrets(self) -> list[str]: ...

    @property
    def tasks(self) -> TaskSet: ...

    @property
    def rate_limit(self) -> VenueBackoff: ...

    def emit_order_event(self, event: Any) -> None: ...


class CCXTExecution:
    """Order commands and reports of one ``CCXTGateway``."""

    def __init__(self, gateway: ExecutionHost) -> None:
        self.gw = gateway
        self.orders: dict[str, Tracked] = {}
        self.by_venue_id: dict[str, Tracked] = {}
        self.seen_trades: set[tuple[str, str]] = set()
        self.counts: dict[str, int] = {}

    # -- helpers -----------------------------------------------------------------------------

    def _count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    def _backoff(self) -> Backoff:
        cfg = self.gw.options
        return Backoff(cfg.retry_initial, cfg.retry_max, cfg.reconnect_jitter)

    def _emit(self, event: Any) -> None:
        self.gw.emit_order_event(event)

    @property
    def _query_param(self) -> str:
        return _CLIENT_ID_QUERY_PARAM.get(self.gw.options.exchange, "clientOrderId")

    def track(self, order: Order) -> Tracked:
        """Return the tracker of ``order``, creating it for an order not seen before."""
        tracked = self.orders.get(order.client_order_id)
        if tracked is None:
            tracked = Tracked(order, venue_order_id=order.venue_order_id)
            self.orders[order.client_order_id] = tracked
            if order.venue_order_id:
                self.by_venue_id[order.venue_order_id] = tracked
        return tracked

    def find(self, payload: Mapping[str, Any], venue_id_key: str) -> Tracked | None:
        """Return the tracked order a ccxt order or trade belongs to, if any."""
        client_id = client_order_id_of(payload)
        tracked = self.orders.get(client_id) if client_id else None
        if tracked is None:
            venue_id = payload.get(venue_id_key)
            tracked = self.by_venue_id.get(str(venue_id)) if venue_id else None
        return tracked

    def _set_venue_id(self, tracked: Tracked, venue_order_id: str | None) -> None:
        if venue_order_id and tracked.venue_order_id != venue_order_id:
            tracked.venue_order_id = venue_order_id
            self.by_venue_id[venue_order_id] = tracked

    # -- submit ------------------------------------------------------------------------------

    def submit(self, order: Order) -> None:
        """Start sending ``order``; the outcome arrives as events."""
        tracked = self.track(order)
        self.gw.tasks.spawn(self._submit(tracked), name=f"submit:{order.client_order_id}")

    async def _submit(self, tracked: Tracked) -> None:
        options = self.gw.options
        backoff = self._backoff()
        deadline = time.monotonic() + options.submit_deadline
        failures = 0  # sends that failed for another reason than a rate limit
        reason = "the venue was rate limiting"
        while True:
            if not await self.gw.rate_limit.wait(deadline):
                self._reject(tracked, f"not placed within the submit deadline of "
                                      f"{options.submit_deadline:g}s: {reason}")
                return
            retry, reason = await self._send(tracked)
            if retry is _Retry.DONE:
                return
            if retry is _Retry.RATE_LIMITED:
                continue
            failures += 1
            if failures >= options.submit_attempts or tracked.terminal is not None:
                self._reject(tracked, f"not placed after {failures} attempts: {reason}")
                return
            delay = backoff.next()
            if time.monotonic() + delay > deadline:
                self._reject(tracked, f"not placed within the submit deadline of "
                                      f"{options.submit_deadline:g}s: {reason}")
                return
            await asyncio.sleep(delay)

    async def _send(self, tracked: Tracked) -> tuple[_Retry, str]:
        """Send ``tracked`` once; return whether to send it again, and why."""
        order = tracked.order
        try:
            order_type, amount, price, params = order_request(
                self.gw.exchange, order, self.gw.options.params)
            reply = await self.gw.exchange.create_order(
                order.symbol, order_type, order.side.value, amount, price, params)
        except Exception as exc:
            outcome = classify(exc)
            reason = describe(exc, self.gw.secrets)
            self._count(f"submit_{outcome.value}")
            if outcome in (Outcome.REJECTED, Outcome.FATAL, Outcome.NOT_FOUND):
                if outcome is Outcome.FATAL:
                    self.gw.logger.error("gateway.auth_failed", error=reason)
                self._reject(tracked, reason)
                return _Retry.DONE, reason
            self.gw.logger.warning("order.submit_failed", client_order_id=order.client_order_id,
                                   outcome=outcome.value, error=reason)
            if is_rate_limit(exc):
                # Refused unprocessed: sent again, same client id, once the venue allows.
                return _Retry.RATE_LIMITED, reason
            if outcome is not Outcome.TRANSIENT and await self._resolve(
                    tracked, confirmations=1 if outcome is Outcome.DUPLICATE else 2):
                return _Retry.DONE, reason
            return _Retry.FAILED, reason
        if isinstance(reply, Mapping) and reply.get("id"):
            await self.apply_report(tracked, reply, fetch_missing_fills=False)
            return _Retry.DONE, ""
        # A reply the venue cut short: the order may exist; ask for it.
        self._count("submit_no_order_id")
        self.gw.logger.warning("order.reply_without_id", client_order_id=order.client_order_id)
        if await self._resolve(tracked, confirmations=2):
            return _Retry.DONE, ""
        return _Retry.FAILED, "no order id"

    async def _resolve(self, tracked: Tracked, confirmations: int) -> bool:
        """Look the order up until the venue answers; return False only if it has none.

        ``confirmations`` "not found" answers in a row are needed to conclude it is absent.
        """
        backoff = self._backoff()
        misses = 0
        while True:
            try:
                reply = await self._query(tracked)
            except Exception as exc:
                outcome = classify(exc)
                if outcome is Outcome.NOT_FOUND:
                    misses += 1
                    if misses >= confirmations:
                        return False
                elif outcome is Outcome.FATAL:
                    self.gw.logger.error("order.unresolved",
                                         client_order_id=tracked.order.client_order_id,
                                         error=describe(exc, self.gw.secrets))
                    return True
                await asyncio.sleep(backoff.next())
                continue
            self._count("resolved_by_query")
            await self.apply_report(tracked, reply)
            return True

    async def _query(self, tracked: Tracked) -> Any:
        params = {self._query_param: tracked.order.client_order_id}
        return await self.gw.exchange.fetch_order(tracked.venue_order_id, tracked.order.symbol,
                                                  params)

    def _reject(self, tracked: Tracked, reason: str) -> None:
        tracked.in_flight = False
        if tracked.terminal is not None:
            return
        tracked.terminal = "rejected"
        self._emit(OrderRejected.from_order(tracked.order, self.gw.now(), reason=reason,
                                            venue_order_id=tracked.venue_order_id))

    # -- cancel ------------------------------------------------------------------------------

    def cancel(self, order: Order) -> None:
        """Start canceling ``order``; the outcome arrives as events."""
        tracked = self.track(order)
        self.gw.tasks.spawn(self._cancel(tracked), name=f"cancel:{order.client_order_id}")

    async def _cancel(self, tracked: Tracked) -> None:
        options = self.gw.options
        backoff = self._backoff()
        deadline = time.monotonic() + options.submit_deadline
        attempt = 0
        reason = "the venue was rate limiting"
        while True:
            if not await self.gw.rate_limit.wait(deadline):
                self._cancel_rejected(tracked, f"not sent within the deadline of "
                                               f"{options.submit_deadline:g}s: {reason}")
                return
            attempt += 1
            retry, reason = await self._cancel_once(tracked, attempt)
            if retry is _Retry.DONE:
                return
            if retry is _Retry.RATE_LIMITED:
                attempt -= 1  # refused unprocessed: not an attempt
                continue
            await asyncio.sleep(backoff.next())

    async def _cancel_once(self, tracked: Tracked, attempt: int) -> tuple[_Retry, str]:
        """Send the cancel of ``tracked`` once; return whether to send it again, and why."""
        order = tracked.order
        last = attempt >= self.gw.options.submit_attempts
        try:
            reply = await self.gw.exchange.cancel_order(
                tracked.venue_order_id, order.symbol, {self._query_param: order.client_order_id})
        except Exception as exc:
            outcome = classify(exc)
            reason = describe(exc, self.gw.secrets)
            self._count(f"cancel_{outcome.value}")
            if is_rate_limit(exc):
                return _Retry.RATE_LIMITED, reason
            if outcome is Outcome.TRANSIENT and not last:
                return _Retry.FAILED, reason
            if outcome in (Outcome.REJECTED, Outcome.FATAL, Outcome.TRANSIENT):
                self._cancel_rejected(tracked, reason)
                return _Retry.DONE, reason
            # Not found or ambiguous: the venue's view of the order decides.
            if not await self._resolve(tracked, confirmations=1):
                self._cancel_rejected(tracked, f"order not found at venue: {reason}")
            elif tracked.terminal is not None:
                if tracked.terminal != "canceled":
                    self._cancel_rejected(tracked, f"order is {tracked.terminal}")
            elif outcome is Outcome.NOT_FOUND or last:
                self._cancel_rejected(tracked, reason)
            else:
                return _Retry.FAILED, reason
            return _Retry.DONE, reason
        if isinstance(reply, Mapping) and reply.get("status"):
            await self.apply_report(tracked, reply)
        if tracked.terminal is None:  # a reply without a status: ask for the order
            await self._resolve(tracked, confirmations=1)
        return _Retry.DONE, ""

    def _cancel_rejected(self, tracked: Tracked, reason: str) -> None:
        self._emit(OrderCancelRejected.from_order(tracked.order, self.gw.now(), reason=reason,
                                                  venue_order_id=tracked.venue_order_id))

    # -- reports from the venue ----------------------------------------------------------------

    async def apply_report(self, tracked: Tracked, raw: Mapping[str, Any],
                           fetch_missing_fills: bool = True) -> None:
        """Turn a ccxt order (reply, query or stream update) into events for ``tracked``."""
        now = self.gw.now()
        try:
            report = parse_order_report(raw, now)
        except InvalidMessage as exc:
            self.gw.rejections.reject("orders", exc.reason, raw)
            return
        tracked.in_flight = False
        self._set_venue_id(tracked, report.venue_order_id)
        if report.status == "rejected":
            self._reject(tracked, "rejected by the venue")
            return
        if not tracked.accepted and tracked.terminal is None and tracked.filled < report.quantity:
            tracked.accepted = True
            self._emit(OrderAccepted.from_order(tracked.order, now,
                                                venue_order_id=tracked.venue_order_id))
        for trade in raw.get("trades") or ():
            self.on_trade(tracked, trade, report.ts_event)
        if report.filled > tracked.filled:
            if fetch_missing_fills:
                await self.fetch_order_fills(tracked)
            else:
                self.schedule_fill_check(tracked)
        if report.status in ("canceled", "expired") and tracked.terminal is None:
            tracked.terminal = report.status
            event_type = OrderCanceled if report.status == "canceled" else OrderExpired
            self._emit(event_type.from_order(tracked.order, now,
                                             venue_order_id=tracked.venue_order_id))

    def on_trade(self, tracked: Tracked, trade: Mapping[str, Any], ts_fallback: int) -> None:
        """Emit one private trade of ``tracked`` as a Fill, once per trade id."""
        order = tracked.order
        try:
            fill = parse_fill(trade, client_order_id=order.client_order_id,
                              strategy_id=order.strategy_id, venue=order.venue, side=order.side,
                              ts_recv=ts_fallback, venue_order_id=tracked.venue_order_id)
        except InvalidMessage as exc:
            self.gw.rejections.reject("fills", exc.reason, trade)
            return
        self.emit_fill(tracked, fill)

    def emit_fill(self, tracked: Tracked, fill: Fill) -> None:
        """Hand ``fill`` to the kernel unless this trade id was already reported."""
        key = (fill.symbol, fill.trade_id)
        if key in self.seen_trades:
            self._count("duplicate_fills")
            return
        if tracked.filled + fill.quantity > tracked.order.quantity:
            self._count("overfills")
            self.gw.logger.warning("order.overfill_ignored", client_order_id=fill.client_order_id,
                                trade_id=fill.trade_id, quantity=display(fill.quantity))
            return
        self.seen_trades.add(key)
        tracked.trade_ids.add(fill.trade_id)
        tracked.filled += fill.quantity
        if tracked.filled == tracked.order.quantity:
            tracked.terminal = "filled"
        self._set_venue_id(tracked, fill.venue_order_id)
        self._emit(fill)

    def schedule_fill_check(self, tracked: Tracked) -> None:
        """Fetch an order's fills if the user stream has not brought them within a grace."""
        if tracked.fill_check:
            return
        tracked.fill_check = True
        self.gw.tasks.spawn(self._fill_check(tracked),
                            name=f"fills:{tracked.order.client_order_id}")

    async def _fill_check(self, tracked: Tracked) -> None:
        try:
            await asyncio.sleep(_FILL_GRACE)
            await self.fetch_order_fills(tracked)
        finally:
            tracked.fill_check = False

    async def fetch_order_fills(self, tracked: Tracked) -> None:
        """Fetch the trades of one order over REST and emit the ones not seen yet."""
        backoff = self._backoff()
        for _ in range(self.gw.options.submit_attempts):
            try:
                trades = await self._order_trades(tracked)
            except Exception as exc:
                self.gw.logger.warning("order.fills_fetch_failed",
                                    client_order_id=tracked.order.client_order_id,
                                    error=describe(exc, self.gw.secrets))
                await asyncio.sleep(backoff.next())
                continue
            for trade in trades:
                self.on_trade(tracked, trade, self.gw.now())
            return

    async def _order_trades(self, tracked: Tracked) -> Sequence[Mapping[str, Any]]:
        exchange, symbol = self.gw.exchange, tracked.order.symbol
        if tracked.venue_order_id is None:
            await self.apply_report(tracked, await self._query(tracked), fetch_missing_fills=False)
        if tracked.venue_order_id is None:
            return []
        if exchange.has.get("fetchOrderTrades"):
            return list(await exchange.fetch_order_trades(tracked.venue_order_id, symbol))
        trades = await exchange.fetch_my_trades(symbol)
        return [t for t in trades if str(t.get("order")) == tracked.venue_order_id]

    # -- user stream and polling ----------------------------------------------------------------

    async def on_order_updates(self, orders: Sequence[Mapping[str, Any]]) -> None:
        """Apply order updates from ``watch_orders`` (fills are awaited from the trade stream)."""
        for raw in orders:
            tracked = self.find(raw, "id")
            if tracked is None:
                self._count("unknown_order_updates")
                continue
            await self.apply_report(tracked, raw, fetch_missing_fills=False)

    def on_my_trades(self, trades: Sequence[Mapping[str, Any]]) -> None:
        """Emit fills from ``watch_my_trades``."""
        now = self.gw.now()
        for trade in trades:
            tracked = self.find(trade, "order")
            if tracked is None:
                self._count("unknown_fills")
                continue
            self.on_trade(tracked, trade, now)

    async def poll_open(self) -> None:
        """Query every order still working (the fallback when there is no user stream)."""
        for tracked in list(self.orders.values()):
            if tracked.terminal is not None or tracked.in_flight:
                continue
            await self.apply_report(tracked, await self._query(tracked))

    # -- reconciliation ----------------------------------------------------------------------

    def report_of(self, raw: Mapping[str, Any]) -> OrderReport | None:
        """Return a ccxt order as an OrderReport (None, counted, if it is invalid)."""
        try:
            return parse_order_report(raw, self.gw.now())
        except InvalidMessage as exc:
            self.gw.rejections.reject("reconciliation", exc.reason, raw)
            return None

    def fill_of(self, trade: Mapping[str, Any],
                client_id_of: Callable[[str], str | None]) -> Fill | None:
        """Return a ccxt private trade as a Fill for reconciliation (None if invalid)."""
        tracked = self.find(trade, "order")
        venue_id = str(trade.get("order") or "")
        client_id = tracked.order.client_order_id if tracked else client_id_of(venue_id)
        side = trade.get("side")
        if client_id is None or side not in ("buy", "sell"):
            return None
        try:
            return parse_fill(trade, client_order_id=client_id,
                              strategy_id=tracked.order.strategy_id if tracked else "",
                              venue=self.gw.id,
                              side=tracked.order.side if tracked else OrderSide(side),
                              ts_recv=self.gw.now())
        except InvalidMessage as exc:
            self.gw.rejections.reject("reconciliation", exc.reason, trade)
            return None


def order_request(exchange: Any, order: Order, extra: Mapping[str, Any]
                  ) -> tuple[str, str, str | None, dict[str, Any]]:
    """Return ccxt ``create_order``'s type, amount, price and params for ``order``."""
    symbol = order.symbol
    params: dict[str, Any] = {**extra, "clientOrderId": order.client_order_id}
    is_market = order.type in (OrderType.MARKET, OrderType.STOP_MARKET)
    order_type = "market" if is_market else "limit"
    amount = exchange.amount_to_precision(symbol, to_plain_string(order.quantity))
    price = None
    if order.price is not None and order_type == "limit":
        price = exchange.price_to_precision(symbol, to_plain_string(order.price))
    if order.trigger_price is not None:
        params["triggerPrice"] = exchange.price_to_precision(
            symbol, to_plain_string(order.trigger_price))
    if order_type == "limit" and not order.post_only:
        params["timeInForce"] = order.time_in_force.value.upper()
    if order.post_only:
        params["postOnly"] = True
    if order.reduce_only:
        params["reduceOnly"] = True
    return order_type, amount, price, params


