"""The gateway contract suite: the behaviour every LIBRA gateway must show.

Third-party gateway authors run it against their own gateway. Write a factory that
yields a :class:`ContractVenue` (a connected-or-not gateway, a symbol, a quantity, a
resting price and a way to move the market), then run every check::

    import pytest
    from libra.testing.contract import CONTRACT_CHECKS

    @pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__)
    async def test_my_gateway(check):
        await check(my_venue_factory)

The suite drives the gateway as the kernel does (``bind``, ``connect``, ``instruments``,
``fetch_balances``, ``subscribe``, ``submit_order``/``cancel_order``, ``disconnect``) and
applies every reported event to real ``Order`` objects through their state machine.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from libra.core.errors import InvalidOrderTransition, OverfillError
from libra.model.events import Quote
from libra.model.fills import Fill
from libra.model.order_events import OrderCancelRejected, apply_event
from libra.model.orders import Order, OrderSide, OrderStatus, OrderType
from libra.testing.waiting import eventually

__all__ = [
    "CONTRACT_CHECKS",
    "ContractSink",
    "ContractVenue",
    "VenueFactory",
    "ccxt_gateway_options",
    "check_cancel_unknown_order_is_rejected",
    "check_connect_reports_instruments_and_balances",
    "check_disconnect_is_idempotent",
    "check_limit_order_rests_then_cancels",
    "check_market_data_is_typed",
    "check_market_order_fills",
    "check_reconciliation_is_consistent",
    "eventually",
]

_IDS = itertools.count(1)


def ccxt_gateway_options(exchange: Any, **overrides: Any) -> dict[str, Any]:
    """Return ``ccxt`` gateway options trading on a ``LocalExchange`` (keys included).

    ``overrides`` replace gateway options (``stale_after=1.0``, ``channels=[...]``).
    """
    from libra.testing.exchange import ccxt_config_for

    client = ccxt_config_for(exchange)
    options: dict[str, Any] = {
        "exchange": "binance",
        "api_key": client.pop("apiKey"),
        "secret": client.pop("secret"),
        "ccxt_options": client.pop("options"),
        "client_config": client,
        "timeout_ms": 3000,
        "stale_after": 60.0,
        "reconnect_initial": 0.05,
        "reconnect_max": 0.5,
        "retry_initial": 0.05,
        "retry_max": 0.3,
    }
    options.update(overrides)
    return options


@dataclass
class ContractSink:
    """The kernel's side of a gateway: records data and applies order events to orders."""

    data: list[Any] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    orders: dict[str, Order] = field(default_factory=dict)
    refused: list[tuple[Any, str]] = field(default_factory=list)

    def on_data(self, event: Any) -> None:
        """Record one market data event."""
        self.data.append(event)

    def on_order_event(self, event: Any) -> None:
        """Record one order event and apply it to its order, as the execution engine does."""
        self.events.append(event)
        order = self.orders.get(event.client_order_id)
        if order is None:
            return
        try:
            apply_event(order, event)
        except (InvalidOrderTransition, OverfillError) as exc:
            self.refused.append((event, str(exc)))

    def fills(self, client_order_id: str | None = None) -> list[Fill]:
        """Return the fills received (of one order)."""
        return [e for e in self.events if isinstance(e, Fill)
                and (client_order_id is None or e.client_order_id == client_order_id)]

    def of(self, client_order_id: str) -> list[Any]:
        """Return the events received for one order."""
        return [e for e in self.events if e.client_order_id == client_order_id]


@dataclass
class ContractVenue:
    """One gateway under test and what the suite needs to trade on it.

    Attributes:
        gateway: the gateway, built but not connected.
        symbol: a symbol it trades.
        quantity: an order quantity the venue accepts at market (and at ``resting_price``).
        resting_price: a buy limit price that rests without filling.
        move_market: makes the venue publish market data for ``symbol`` (a quote at least).
    """

    gateway: Any
    symbol: str
    quantity: Decimal
    resting_price: Decimal
    move_market: Callable[[], Awaitable[None]]
    sink: ContractSink = field(default_factory=ContractSink)

    def order(self, order_type: OrderType = OrderType.MARKET, price: Decimal | None = None,
              side: OrderSide = OrderSide.BUY) -> Order:
        """Build an order as the execution engine would (SUBMITTED, tracked by the sink)."""
        order = Order(client_order_id=f"contract-{next(_IDS)}-{time.time_ns() % 10**9}",
                      strategy_id="contract", venue=self.gateway.id, symbol=self.symbol,
                      side=side, type=order_type, quantity=self.quantity, price=price)
        order.submit(time.time_ns())
        self.sink.orders[order.client_order_id] = order
        return order

    async def start(self, channels: tuple[str, ...] = ("quote", "trade", "bar", "book")) -> None:
        """Bind, connect and subscribe the gateway as the kernel does."""
        self.gateway.bind(self.sink.on_data, self.sink.on_order_event)
        await self.gateway.connect()
        await self.gateway.subscribe([self.symbol], channels)


VenueFactory = Callable[[], AbstractAsyncContextManager[ContractVenue]]


@asynccontextmanager
async def _started(factory: VenueFactory) -> AsyncIterator[ContractVenue]:
    async with factory() as venue:
        await venue.start()
        try:
            yield venue
        finally:
            await venue.gateway.disconnect()


async def _cancel(venue: ContractVenue, order: Order) -> None:
    order.request_cancel(time.time_ns())
    await venue.gateway.cancel_order(order)


# -- the checks ------------------------------------------------------------------------------------


async def check_connect_reports_instruments_and_balances(factory: VenueFactory) -> None:
    """Connect; the symbol's instrument has Decimal steps; balances are Decimal."""
    async with _started(factory) as venue:
        gateway = venue.gateway
        assert gateway.is_connected
        instrument = gateway.instruments()[venue.symbol]
        assert isinstance(instrument.tick_size, Decimal)
        assert instrument.tick_size > 0
        assert isinstance(instrument.lot_size, Decimal)
        assert instrument.lot_size > 0
        balances = await gateway.fetch_balances()
        assert balances, "no balances reported"
        assert all(isinstance(v, Decimal) and v.is_finite() for v in balances.values())


async def check_market_data_is_typed(factory: VenueFactory) -> None:
    """Market data arrives as typed events with Decimal prices and ns timestamps."""
    async with _started(factory) as venue:
        await venue.move_market()
        def quotes() -> list[Quote]:
            return [e for e in venue.sink.data if isinstance(e, Quote)]

        await eventually(lambda: bool(quotes()))
        quote = quotes()[-1]
        assert (quote.symbol, quote.venue) == (venue.symbol, venue.gateway.data_venue)
        assert all(isinstance(v, Decimal) and v > 0 for v in (quote.bid, quote.ask))
        assert quote.bid <= quote.ask
        assert isinstance(quote.ts_event, int)
        assert quote.ts_event > 10**18
        assert quote["bid"] == quote.bid
        assert quote.get("price") == quote.price


async def check_market_order_fills(factory: VenueFactory) -> None:
    """A market order is accepted and filled; every fill has a unique trade id."""
    async with _started(factory) as venue:
        await venue.move_market()
        order = venue.order()
        await venue.gateway.submit_order(order)
        await eventually(lambda: order.status is OrderStatus.FILLED)
        fills = venue.sink.fills(order.client_order_id)
        assert sum(f.quantity for f in fills) == order.quantity
        assert len({f.trade_id for f in fills}) == len(fills)
        assert all(isinstance(f.price, Decimal) and f.price > 0 for f in fills)
        assert order.venue_order_id is not None
        assert not venue.sink.refused


async def check_limit_order_rests_then_cancels(factory: VenueFactory) -> None:
    """A limit order away from the market rests (ACCEPTED), then cancels (CANCELED)."""
    async with _started(factory) as venue:
        await venue.move_market()
        order = venue.order(OrderType.LIMIT, venue.resting_price)
        await venue.gateway.submit_order(order)
        await eventually(lambda: order.status is OrderStatus.ACCEPTED)
        await _cancel(venue, order)
        await eventually(lambda: order.status is OrderStatus.CANCELED)
        assert not venue.sink.fills(order.client_order_id)
        assert not venue.sink.refused


async def check_cancel_unknown_order_is_rejected(factory: VenueFactory) -> None:
    """Canceling an order the venue never saw gives OrderCancelRejected with a reason."""
    async with _started(factory) as venue:
        order = venue.order(OrderType.LIMIT, venue.resting_price)
        await _cancel(venue, order)
        await eventually(lambda: any(isinstance(e, OrderCancelRejected)
                                     for e in venue.sink.of(order.client_order_id)))
        rejected = next(e for e in venue.sink.of(order.client_order_id)
                        if isinstance(e, OrderCancelRejected))
        assert rejected.reason


async def check_reconciliation_is_consistent(factory: VenueFactory) -> None:
    """fetch_open_orders, fetch_order and fetch_fills agree with the events reported."""
    async with _started(factory) as venue:
        gateway = venue.gateway
        await venue.move_market()
        resting = venue.order(OrderType.LIMIT, venue.resting_price)
        filled = venue.order()
        await gateway.submit_order(resting)
        await gateway.submit_order(filled)
        await eventually(lambda: resting.status is OrderStatus.ACCEPTED
                         and filled.status is OrderStatus.FILLED)
        open_ids = [o.client_order_id for o in await gateway.fetch_open_orders([venue.symbol])]
        assert open_ids == [resting.client_order_id]
        found = await gateway.fetch_order(resting.client_order_id, venue.symbol)
        assert found is not None
        assert found.client_order_id == resting.client_order_id
        assert found.quantity == resting.quantity
        fill_ids = {(f.client_order_id, f.trade_id) for f in await gateway.fetch_fills()}
        assert {(f.client_order_id, f.trade_id) for f in venue.sink.fills()} <= fill_ids
        await _cancel(venue, resting)
        await eventually(lambda: resting.status is OrderStatus.CANCELED)
        assert await gateway.fetch_open_orders([venue.symbol]) == []


async def check_disconnect_is_idempotent(factory: VenueFactory) -> None:
    """Disconnect twice without error; the gateway reports itself disconnected."""
    async with factory() as venue:
        await venue.start()
        await venue.gateway.disconnect()
        await venue.gateway.disconnect()
        assert not venue.gateway.is_connected


CONTRACT_CHECKS: tuple[Callable[[VenueFactory], Awaitable[None]], ...] = (
    check_connect_reports_instruments_and_balances,
    check_market_data_is_typed,
    check_market_order_fills,
    check_limit_order_rests_then_cancels,
    check_cancel_unknown_order_is_rejected,
    check_reconciliation_is_consistent,
    check_disconnect_is_idempotent,
)
"""Every check of the gateway contract, in a stable order."""
