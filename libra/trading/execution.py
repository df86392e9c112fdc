"""ExecutionEngine: orders from strategies to gateways, events from gateways to everyone.

Submit path (synchronous, returns at once): build/round -> ``RiskEngine`` ->
``OrderDenied`` or ``OrderSubmitted`` (persisted before it leaves) -> queued
command. Commands are flushed to the gateway by the strategy's own task right
after its callback returns (no task switch on the hot path), or by the
engine's task for orders placed outside a callback, or by the backtest loop.

Event path: gateway -> ``on_order_event`` -> the order's state machine ->
portfolio (fills) -> store -> bus (``order.<strategy>.<kind>``) -> the
strategy's inbox (never dropped).
"""

from __future__ import annotations

import asyncio
from collections import deque
from decimal import Decimal
from logging import DEBUG, INFO, WARNING
from typing import Any, Protocol

import structlog

from libra.core.bus import MessageBus
from libra.core.cache import Cache
from libra.core.clock import LiveClock, iso_utc
from libra.core.config import RiskConfig
from libra.core.errors import InvalidOrderTransition, OverfillError, StateStoreError
from libra.core.lifecycle import BaseComponent
from libra.core.loglevel import is_enabled
from libra.core.throttle import LogThrottle
from libra.model.fills import Fill
from libra.model.identifiers import ClientOrderIdGenerator
from libra.model.instrument import Instrument
from libra.model.numbers import display, display_money
from libra.model.order_events import (
    OrderCanceled,
    OrderDenied,
    OrderPendingCancel,
    OrderRejected,
    OrderSubmitted,
    apply_event,
)
from libra.model.orders import Order, OrderSide, OrderStatus
from libra.trading.orders_api import StrategyOrders
from libra.trading.portfolio import Portfolio
from libra.trading.risk import RiskEngine

_ZERO = Decimal(0)
_SUBMIT, _CANCEL = "submit", "cancel"


class OrderStore(Protocol):
    """What the execution engine needs from persistence (see ``libra.persistence``)."""

    def record_order(self, order: Order) -> None: ...

    def record_event(self, order: Order, event: Any) -> None: ...

    def intent_pending(self, client_order_id: str) -> bool: ...

    async def wait_intent(self, order: Order) -> None: ...


class ExecutionEngine(BaseComponent):
    """Route orders through risk to gateways and apply what gateways report.

    A component (``start``/``stop``): running, it owns the task that sends commands placed
    outside strategy callbacks (none when ``simulated``); stopping sends what is queued.
    """

    def __init__(
        self,
        bus: MessageBus,
        cache: Cache,
        clock: Any,
        risk_config: RiskConfig,
        log_orders: bool = True,
        *,
        simulated: bool = False,
    ) -> None:
        super().__init__("execution")
        self.bus = bus
        self.cache = cache
        self.clock = clock
        # Positions are marked at the cache's latest price of each symbol.
        self.portfolio = Portfolio(marks=cache.last_prices)
        self.risk = RiskEngine(risk_config, on_pause=self._on_strategy_paused)
        # A repeated denial (per strategy and rule) is logged once per 10 s, with a count.
        self._denial_log = LogThrottle(10.0)
        self.gateways: dict[str, Any] = {}
        self.store: OrderStore | None = None
        self.log_orders = log_orders
        #: In a backtest the replay loop flushes commands itself: the engine runs no task.
        self.simulated = simulated
        self._id_generators: dict[str, ClientOrderIdGenerator] = {}
        #: Commands not yet sent to a gateway, oldest first.
        self.pending: deque[tuple[str, Order]] = deque()
        # True while a strategy callback runs: its runner sends the commands right after.
        self._in_callback = False
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.counts: dict[str, int] = {}
        self._log = structlog.get_logger("libra.execution")

    # -- wiring -----------------------------------------------------------------------------

    def add_gateway(self, gateway_id: str, gateway: Any) -> None:
        self.gateways[gateway_id] = gateway

    def orders_api(self, strategy_id: str, gateway_id: str) -> StrategyOrders:
        """Return the order API bound to one strategy and its gateway."""
        if strategy_id not in self._id_generators:
            self._id_generators[strategy_id] = ClientOrderIdGenerator(strategy_id)
        return StrategyOrders(self, strategy_id, gateway_id)

    def id_generator(self, strategy_id: str) -> ClientOrderIdGenerator:
        generator = self._id_generators.get(strategy_id)
        if generator is None:
            generator = self._id_generators[strategy_id] = ClientOrderIdGenerator(strategy_id)
        return generator

    def instrument(self, gateway_id: str, symbol: str) -> Instrument:
        """Return the instrument for ``symbol``; a default one for feeds without precision."""
        instrument = self.cache.instrument(symbol)
        if instrument is None:
            instrument = Instrument.default(symbol, gateway_id)
            self.cache.add_instrument(instrument)
            self.portfolio.add_instrument(instrument)
        return instrument  # type: ignore[no-any-return]

    # -- lifecycle --------------------------------------------------------------------------

    async def _on_start(self) -> None:
        """Start the task that flushes commands placed outside strategy callbacks."""
        for instrument in self.cache.instruments.values():
            self.portfolio.add_instrument(instrument)
        if self.simulated:
            return
        self._wakeup = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._flush_loop(), name="execution")

    async def _on_stop(self) -> None:
        """Stop the flushing task, then send what is still queued."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.flush()

    async def _flush_loop(self) -> None:
        assert self._wakeup is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            await self.flush()

    # -- commands ---------------------------------------------------------------------------

    @property
    def has_pending(self) -> bool:
        """Return whether commands wait to be sent."""
        return bool(self.pending)

    def begin_callback(self) -> None:
        """A strategy callback starts: the commands it places are sent by its runner when
        it returns (``end_callback`` then ``flush``), not by the engine's task."""
        self._in_callback = True

    def end_callback(self) -> None:
        """The strategy callback returned (or raised)."""
        self._in_callback = False

    def submit(self, order: Order) -> Order:
        """Check ``order`` and queue it for its gateway; a denial is an event, not an error."""
        now = self.clock.timestamp_ns()
        instrument = self.instrument(order.venue, order.symbol)
        position = self.portfolio.position(order.strategy_id, order.symbol)
        open_orders = self.cache.open_order_count(order.strategy_id)
        closing = _ZERO if position is None or not position.quantity else \
            self.open_quantity(order.strategy_id, order.symbol, order.side)
        reason = self.risk.check(
            order, instrument, self.cache.last_price(order.symbol), position, open_orders, now,
            closing,
        )
        if reason is not None:
            self._deny(order, reason, now)
            return order
        order.submit(now)
        self.cache.add_order(order)  # submitted: counted as open from here on
        self._count("submitted")
        if self.store is not None:
            self.store.record_order(order)  # the intent is durable before the order leaves
        # The fill line says what happened; submitted and accepted are for debugging.
        if self.log_orders and is_enabled(DEBUG):
            self._log.debug("order.submitted", **self._order_fields(order))
        self._publish(order, OrderSubmitted.from_order(order, now))
        self.pending.append((_SUBMIT, order))
        self._wake()
        return order

    def _deny(self, order: Order, reason: str, now: int) -> None:
        """Deny ``order``: an event for its strategy, a count, a throttled log line.

        A denied order never left the process and never will: it is neither cached nor
        stored, so a strategy resubmitting it on every event costs no memory and no disk.
        """
        order.deny(reason, now)
        rule = reason.split(":", 1)[0]
        if rule == "strategy_paused":
            # Refused while the breaker holds the strategy: counted apart, not logged (the
            # one strategy.paused line said why), so a storm stops at the threshold.
            self._count("refused_paused")
        else:
            self._count("denied")
            if self.log_orders and is_enabled(WARNING):
                repeated = self._denial_log.due((order.strategy_id, rule))
                if repeated is not None:
                    self._log.warning("order.denied", **self._order_fields(order), reason=reason,
                                      repeated_since_last=repeated)
        self._publish(order, OrderDenied.from_order(order, now, reason=reason))

    def open_quantity(self, strategy_id: str, symbol: str, side: OrderSide) -> Decimal:
        """Return the quantity still to fill of ``strategy_id``'s open orders on ``side``."""
        return sum((o.leaves_quantity for o in self.cache.open_orders(strategy_id, symbol)
                    if o.side is side), _ZERO)

    def close_clip(self, gateway_id: str, symbol: str) -> Decimal | None:
        """Return the largest quantity one order closing ``symbol`` may have (or ``None``)."""
        return self.risk.close_clip(self.instrument(gateway_id, symbol),
                                    self.cache.last_price(symbol))

    def _on_strategy_paused(self, strategy_id: str, reason: str) -> None:
        self.bus.publish(f"strategy.{strategy_id}.paused",
                         {"strategy_id": strategy_id, "reason": reason})

    def cancel(self, order: Order) -> bool:
        """Request the cancel of an open order; return False if it is not open."""
        if not order.is_open or order.status is OrderStatus.PENDING_CANCEL:
            return False
        now = self.clock.timestamp_ns()
        if order.status is OrderStatus.INITIALIZED:
            return False
        order.request_cancel(now)
        event = OrderPendingCancel.from_order(order, now, venue_order_id=order.venue_order_id)
        self._record(order, event)
        self._publish(order, event)
        self.pending.append((_CANCEL, order))
        self._wake()
        return True

    def cancel_all_open_orders(self, strategy_id: str | None = None) -> int:
        """Request the cancel of every open order (of one strategy); return how many."""
        return sum(1 for o in self.cache.open_orders(strategy_id) if self.cancel(o))

    def _wake(self) -> None:
        # Inside a strategy callback the strategy's own task sends the order right after
        # the callback returns; waking the engine's task too would cost a task switch.
        if self._wakeup is not None and not self._in_callback:
            self._wakeup.set()

    async def flush(self) -> None:
        """Send every queued command to its gateway, in order.

        An order leaves only once its intent is on disk. A strategy's task never
        waits for the disk: it leaves such an order to the engine's task.
        """
        pending = self.pending
        while pending:
            command, order = pending[0]
            store = self.store
            if command == _SUBMIT and store is not None and \
                    store.intent_pending(order.client_order_id):
                if self._task is not None and asyncio.current_task() is not self._task:
                    self._wakeup.set()  # type: ignore[union-attr]
                    return
                try:
                    await store.wait_intent(order)
                except StateStoreError as exc:
                    if pending and pending[0][1] is order:
                        pending.popleft()
                        self._on_command_failed(command, order, exc)
                continue
            pending.popleft()
            gateway = self.gateways.get(order.venue)
            try:
                if gateway is None:
                    raise LookupError(f"no gateway {order.venue!r}")
                if command == _SUBMIT:
                    await gateway.submit_order(order)
                else:
                    await gateway.cancel_order(order)
            except Exception as exc:
                self._on_command_failed(command, order, exc)

    def restore_id_generator(self, strategy_id: str, count: int) -> None:
        """Continue ``strategy_id``'s client order ids after ``count`` (state restore)."""
        current = self._id_generators.get(strategy_id)
        start = max(count, current.count if current is not None else 0)
        self._id_generators[strategy_id] = ClientOrderIdGenerator(strategy_id, start)

    def _on_command_failed(self, command: str, order: Order, exc: Exception) -> None:
        reason = f"gateway error: {type(exc).__name__}: {exc}"
        self._log.error(f"order.{command}_failed", **self._order_fields(order), error=reason)
        now = self.clock.timestamp_ns()
        if command == _SUBMIT:
            self.on_order_event(OrderRejected.from_order(order, now, reason=reason))
        else:
            from libra.model.order_events import OrderCancelRejected

            self.on_order_event(
                OrderCancelRejected.from_order(
                    order, now, reason=reason, venue_order_id=order.venue_order_id
                )
            )

    # -- events from gateways ---------------------------------------------------------------

    def on_order_event(self, event: Any) -> None:
        """Apply one order event or fill reported by a gateway (the gateways' sink)."""
        order = self.cache.order(event.client_order_id)
        if order is None:
            self._count("unknown")
            self._log.warning("order.unknown_event", event_kind=event.kind,
                              client_order_id=event.client_order_id, venue=event.venue)
            self.bus.publish("order.unknown", event)
            return
        try:
            changed = apply_event(order, event)
        except (InvalidOrderTransition, OverfillError, ValueError) as exc:
            # ValueError: a fill that does not fit the order (side, quantity).
            self._count("invalid")
            self._log.warning("order.event_refused", **self._order_fields(order),
                              event_kind=event.kind, error=str(exc))
            return
        if not changed:
            self._count("duplicate")
            return
        self.cache.update_order(order)
        kind = event.kind
        self._count(kind)
        if kind == "filled":
            self._on_fill(order, event)
        elif self.log_orders and is_enabled(DEBUG if kind == "accepted" else INFO):
            extra = {"reason": event.reason} if hasattr(event, "reason") else {}
            self._log.log(DEBUG if kind == "accepted" else INFO, f"order.{kind}",
                          **self._order_fields(order), **extra)
        self._record(order, event)
        self._publish(order, event)

    def _on_fill(self, order: Order, fill: Fill) -> None:
        before = self.portfolio.position(fill.strategy_id, fill.symbol)
        realized_before = _ZERO if before is None else before.realized_pnl
        position = self.portfolio.apply_fill(fill)
        if self.log_orders and is_enabled(INFO):
            self._log_fill(order, fill, position, position.realized_pnl - realized_before)
        self.risk.on_pnl(self.total_pnl(), self.clock.timestamp_ns())

    def _log_fill(self, order: Order, fill: Fill, position: Any, realized: Decimal) -> None:
        self._log.info("order.filled", **_fill_fields(
            order, fill, position, realized, self.cache.instrument(fill.symbol),
            live=isinstance(self.clock, LiveClock)))

    def _order_fields(self, order: Order) -> dict[str, Any]:
        return _order_fields(order, self.cache.instrument(order.symbol))

    def _record(self, order: Order, event: Any) -> None:
        if self.store is not None:
            self.store.record_event(order, event)

    def _publish(self, order: Order, event: Any) -> None:
        # One channel: the strategy's runner takes its events from ``order.<strategy>.*``.
        self.bus.publish(event.topic, event)

    def _count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    # -- market data and summaries ----------------------------------------------------------

    def on_market_data(self, event: Any) -> None:
        """Mark ``event``'s symbol at its price.

        The kernel does not need this handler: the portfolio reads the cache's
        latest prices directly. It serves engines wired without a kernel.
        """
        price = event.price
        if price is not None:
            self.portfolio.mark(event.symbol, price)

    def total_pnl(self) -> Decimal:
        """Return realized + unrealized - fees over every position, in their quote currencies."""
        total = _ZERO
        for position in self.portfolio.positions():
            total += position.net_realized_pnl + self.portfolio.unrealized_pnl_of(position)
        return total

    def summary(self) -> dict[str, Any]:
        """Return orders, positions and PnL as plain data (heartbeat, status).

        Numbers are strings at the instrument's precision (quantities, prices) or the
        quote currency's (money); ``pnl`` is in ``pnl_currency`` when every position
        shares one quote currency (else that key is absent and the sum is a plain number).
        """
        positions = {}
        quotes = set()
        for p in self.portfolio.positions():
            instrument = self.cache.instrument(p.symbol)
            tick = None if instrument is None else instrument.tick_size
            lot = None if instrument is None else instrument.lot_size
            quotes.add(p.quote)
            positions[f"{p.strategy_id}:{p.symbol}"] = {
                "quantity": display(p.quantity, lot),
                "avg_entry_price": display(p.avg_entry_price, tick),
                "realized_pnl": display_money(p.realized_pnl, p.quote),
                "unrealized_pnl": display_money(self.portfolio.unrealized_pnl_of(p), p.quote),
                "fees": display_money(p.fees, p.quote),
                "currency": p.quote,
            }
        currency = quotes.pop() if len(quotes) == 1 else None
        money = {"pnl": display_money(self.total_pnl(), currency) if currency
                 else display(self.total_pnl())}
        if currency:
            money["pnl_currency"] = currency
        return {
            "orders": dict(self.counts),
            "open_orders": self.cache.open_order_count(),
            "positions": positions,
            **money,
            "risk": self.risk.snapshot(),
        }



def _fill_fields(order: Order, fill: Fill, position: Any, realized: Decimal,
                 instrument: Instrument | None, *, live: bool) -> dict[str, Any]:
    """Return one line's fields that tell the whole fill, at the instrument's precision.

    ``realized_pnl`` is what this fill realized (zero when it opens or adds);
    ``position_realized_pnl`` the position's running total. The venue's execution time
    is ``venue_time`` live and ``market_time`` in a replay (the data's time).
    """
    tick = lot = None
    quote = position.quote
    if instrument is not None:
        tick, lot, quote = instrument.tick_size, instrument.lot_size, instrument.quote
    return {
        "client_order_id": order.client_order_id, "strategy_id": order.strategy_id,
        "symbol": fill.symbol, "side": fill.side.value,
        "fill_quantity": display(fill.quantity, lot), "fill_price": display(fill.price, tick),
        "fee": display_money(fill.fee, fill.fee_currency), "fee_currency": fill.fee_currency,
        "position": display(position.quantity, lot),
        "realized_pnl": display_money(realized, quote),
        "position_realized_pnl": display_money(position.realized_pnl, quote),
        "quote_currency": quote,
        "filled": f"{display(order.filled_quantity, lot)}/{display(order.quantity, lot)}",
        "status": order.status.value, "order_type": order.type.value,
        "trade_id": fill.trade_id,
        "venue_time" if live else "market_time": iso_utc(fill.ts_event),
    }


def _order_fields(order: Order, instrument: Instrument | None) -> dict[str, Any]:
    tick = None if instrument is None else instrument.tick_size
    lot = None if instrument is None else instrument.lot_size
    fields = {
        "client_order_id": order.client_order_id,
        "strategy_id": order.strategy_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "order_type": order.type.value,
        "quantity": display(order.quantity, lot),
        "status": order.status.value,
    }
    if order.price is not None:  # a market order has none: no "price=None" on its lines
        fields["price"] = display(order.price, tick)
    return fields


__all__ = ["ExecutionEngine", "OrderCanceled"]
