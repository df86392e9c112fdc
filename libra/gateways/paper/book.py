"""The paper venue's order records and the rules by which the market reaches them.

A ``VenueOrder`` is the venue's own copy of an order (what it persists and reconciles);
``Market`` is the venue's last view of one symbol. The rules below decide, for one order
and one market event, whether a stop triggers and whether a resting limit order crosses,
and at what price. They are pure functions of their arguments, so every path that
matches (arrival, resting orders, restored orders) applies them the same way, and a
backtest replays to the same fills.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from libra.model.orders import Order, OrderSide, OrderType

_ZERO = Decimal(0)


class VenueOrder:
    """The venue's own record of one order."""

    __slots__ = (
        "activate_at", "client_order_id", "filled", "post_only", "price", "quantity",
        "reserved", "side", "strategy_id", "symbol", "tif", "trigger_price", "triggered",
        "type", "venue_order_id",
    )

    def __init__(self, order: Order, venue_order_id: str, activate_at: int) -> None:
        self.client_order_id = order.client_order_id
        self.strategy_id = order.strategy_id
        self.symbol = order.symbol
        self.side = order.side
        self.type = order.type
        self.quantity = order.quantity
        self.price = order.price
        self.trigger_price = order.trigger_price
        self.tif = order.time_in_force
        self.post_only = order.post_only
        self.venue_order_id = venue_order_id
        self.activate_at = activate_at
        self.filled = _ZERO
        self.reserved = _ZERO
        self.triggered = order.type in (OrderType.MARKET, OrderType.LIMIT)

    @classmethod
    def restore(cls, **values: Any) -> VenueOrder:
        """Rebuild a venue order from its saved values (one keyword per slot)."""
        vo = cls.__new__(cls)
        for name in cls.__slots__:
            setattr(vo, name, values[name])
        return vo

    @property
    def leaves(self) -> Decimal:
        return self.quantity - self.filled

    @property
    def is_buy(self) -> bool:
        return self.side is OrderSide.BUY


class Market:
    """The venue's last view of one symbol: top of book, last price, whether bars arrive."""

    __slots__ = ("ask", "bid", "has_bars", "last")

    def __init__(self) -> None:
        self.bid: Decimal | None = None
        self.ask: Decimal | None = None
        self.last: Decimal | None = None
        self.has_bars = False


def touch_price(is_buy: bool, market: Market) -> Decimal | None:
    """Return the price an order on this side would trade at: the far touch, else the last."""
    touch = market.ask if is_buy else market.bid
    return market.last if touch is None else touch


def triggered_by(vo: VenueOrder, price: Decimal) -> bool:
    """True when ``price`` reaches the trigger price of the stop ``vo``."""
    assert vo.trigger_price is not None
    return price >= vo.trigger_price if vo.is_buy else price <= vo.trigger_price


def trigger_price(vo: VenueOrder, event: Any) -> Decimal | None:
    """Return the price at which a stop triggers on ``event``, or None."""
    trigger = vo.trigger_price
    assert trigger is not None
    kind = event.kind
    if kind == "bar":
        opened: Decimal = event.open
        if vo.is_buy and event.high >= trigger:
            return max(trigger, opened)
        if not vo.is_buy and event.low <= trigger:
            return min(trigger, opened)
        return None
    price: Decimal | None = (
        event.price if kind != "quote" else (event.ask if vo.is_buy else event.bid)
    )
    if price is not None and triggered_by(vo, price):
        return price
    return None


def cross(vo: VenueOrder, event: Any) -> tuple[Decimal, Decimal] | None:
    """Return ``(quantity, price)`` filled for a resting limit order on ``event``."""
    limit = vo.price
    if limit is None:
        return None
    kind = event.kind
    buy = vo.is_buy
    if kind == "bar":
        if buy and event.low <= limit:
            return vo.leaves, min(limit, event.open)
        if not buy and event.high >= limit:
            return vo.leaves, max(limit, event.open)
    elif kind == "trade":
        if (buy and event.price <= limit) or (not buy and event.price >= limit):
            return min(vo.leaves, event.size), limit
    elif kind in ("quote", "book"):
        touch = event.ask if kind == "quote" and buy else (
            event.bid if kind == "quote" else (event.best_ask if buy else event.best_bid))
        if touch is not None and ((buy and touch <= limit) or (not buy and touch >= limit)):
            return vo.leaves, limit
    return None


def fill_at_open(vo: VenueOrder, bar: Any) -> tuple[Decimal, Decimal] | None:
    """Return ``(quantity, price)`` for an order arriving at ``bar``'s open, or None.

    A market order fills at the open; a stop or a limit that the bar's range reaches fills
    as it would have resting through the bar (freqtrade's exits on an entry candle).
    """
    if vo.type is OrderType.MARKET:
        return vo.leaves, bar.open
    if vo.type is OrderType.STOP_MARKET:
        price = trigger_price(vo, bar)
        if price is not None:
            vo.triggered = True
            return vo.leaves, price
        return None
    if vo.type is OrderType.LIMIT or vo.triggered:
        return cross(vo, bar)
    return None
