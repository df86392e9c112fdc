"""StrategyOrders: the order API of one strategy (``context["orders"]`` and the helpers).

Every method returns at once; outcomes (accepted, filled, denied, ...) arrive
as events in ``on_order_update`` / ``on_fill``. Quantities are rounded down to
the instrument's lot size and prices to its tick size before the risk check.
"""

from __future__ import annotations

import enum
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Protocol, TypeVar

import structlog

from libra.core.cache import Cache
from libra.core.clock import Clock
from libra.model.identifiers import ClientOrderIdGenerator
from libra.model.instrument import Instrument
from libra.model.numbers import to_decimal
from libra.model.orders import Order, OrderSide, OrderStatus, OrderType, TimeInForce
from libra.model.positions import Position
from libra.trading.portfolio import Portfolio

_log = structlog.get_logger("libra.orders")

Number = Decimal | str | int
_E = TypeVar("_E", bound=enum.Enum)


class OrderRouter(Protocol):
    """What the order API needs from the execution engine (``ExecutionEngine``)."""

    cache: Cache
    clock: Clock
    portfolio: Portfolio

    def instrument(self, gateway_id: str, symbol: str) -> Instrument: ...

    def id_generator(self, strategy_id: str) -> ClientOrderIdGenerator: ...

    def submit(self, order: Order) -> Order: ...

    def cancel(self, order: Order) -> bool: ...

    def open_quantity(self, strategy_id: str, symbol: str, side: OrderSide) -> Decimal: ...

    def close_clip(self, gateway_id: str, symbol: str) -> Decimal | None: ...


class StrategyOrders:
    """Order placement and position queries scoped to one strategy and its gateway."""

    def __init__(self, engine: OrderRouter, strategy_id: str, gateway_id: str) -> None:
        self._engine = engine
        self.strategy_id = strategy_id
        self.gateway_id = gateway_id

    # -- building ---------------------------------------------------------------------------

    def create(
        self,
        symbol: str,
        side: OrderSide | str,
        quantity: Number,
        type: OrderType | str | None = None,
        price: Number | None = None,
        trigger_price: Number | None = None,
        time_in_force: TimeInForce | str = TimeInForce.GTC,
        post_only: bool = False,
        reduce_only: bool = False,
        tag: str | None = None,
    ) -> Order:
        """Build an order (not yet submitted), rounded to the instrument's precision.

        Without ``type``: LIMIT when a ``price`` is given, STOP_MARKET when only a
        ``trigger_price`` is, else MARKET. ``tag`` says why the strategy placed it; a
        backtest reports it as the trade's entry or exit tag.
        """
        if type is None:
            type = (OrderType.LIMIT if price is not None else
                    OrderType.STOP_MARKET if trigger_price is not None else OrderType.MARKET)
        engine = self._engine
        instrument = engine.instrument(self.gateway_id, symbol)
        side = _as(OrderSide, side)
        qty = instrument.make_quantity(to_decimal(quantity, name="quantity"))
        # Round prices toward the passive side so rounding never makes an order more aggressive.
        rounding = ROUND_FLOOR if side is OrderSide.BUY else ROUND_CEILING
        px = None if price is None else instrument.make_price(
            to_decimal(price, name="price"), rounding)
        trigger = None if trigger_price is None else instrument.make_price(
            to_decimal(trigger_price, name="trigger_price"))
        return Order(
            client_order_id=engine.id_generator(self.strategy_id).next(),
            strategy_id=self.strategy_id,
            venue=self.gateway_id,
            symbol=symbol,
            side=side,
            type=_as(OrderType, type),
            quantity=qty,
            price=px,
            trigger_price=trigger,
            time_in_force=_as(TimeInForce, time_in_force),
            post_only=post_only,
            reduce_only=reduce_only,
            ts_init=engine.clock.timestamp_ns(),
            tag=tag,
        )

    # -- placing ----------------------------------------------------------------------------

    def submit_order(self, order: Order | None = None, **spec: Any) -> Order:
        """Submit a built order, or build one from keywords (as ``create``) and submit it."""
        if order is None:
            order = self.create(**spec)
        elif spec:
            raise TypeError("pass an order or keywords, not both")
        if order.strategy_id != self.strategy_id:
            raise ValueError(
                f"order {order.client_order_id} belongs to {order.strategy_id}, "
                f"not {self.strategy_id}"
            )
        return self._engine.submit(order)

    def buy(self, symbol: str, quantity: Number, price: Number | None = None,
            **options: Any) -> Order:
        """Buy at market, or at a limit when ``price`` is given."""
        order_type = OrderType.MARKET if price is None else OrderType.LIMIT
        return self.submit_order(symbol=symbol, side=OrderSide.BUY, quantity=quantity,
                                 type=options.pop("type", order_type), price=price, **options)

    def sell(self, symbol: str, quantity: Number, price: Number | None = None,
             **options: Any) -> Order:
        """Sell at market, or at a limit when ``price`` is given."""
        order_type = OrderType.MARKET if price is None else OrderType.LIMIT
        return self.submit_order(symbol=symbol, side=OrderSide.SELL, quantity=quantity,
                                 type=options.pop("type", order_type), price=price, **options)

    def buy_market(self, symbol: str, quantity: Number, **options: Any) -> Order:
        return self.buy(symbol, quantity, **options)

    def sell_market(self, symbol: str, quantity: Number, **options: Any) -> Order:
        return self.sell(symbol, quantity, **options)

    def buy_limit(self, symbol: str, quantity: Number, price: Number, **options: Any) -> Order:
        return self.buy(symbol, quantity, price, **options)

    def sell_limit(self, symbol: str, quantity: Number, price: Number, **options: Any) -> Order:
        return self.sell(symbol, quantity, price, **options)

    def cancel_order(self, order_or_id: Order | str) -> bool:
        """Request the cancel of one of this strategy's open orders."""
        order = order_or_id
        if isinstance(order_or_id, str):
            order = self._engine.cache.order(order_or_id)
            if order is None:
                raise KeyError(f"no order {order_or_id!r}")
        assert isinstance(order, Order)
        if order.strategy_id != self.strategy_id:
            raise ValueError(f"order {order.client_order_id} belongs to {order.strategy_id}")
        return self._engine.cancel(order)

    def cancel_all_orders(self, symbol: str | None = None) -> int:
        """Request the cancel of every open order of this strategy; return how many."""
        orders = self._engine.cache.open_orders(self.strategy_id, symbol)
        return sum(1 for order in orders if self._engine.cancel(order))

    def close_position(self, symbol: str, **options: Any) -> Order | None:
        """Flatten the position with reduce-only market orders; return the first one
        (``None`` when flat, or when open orders on the closing side already cover it).

        A position larger than one order may be (``max_order_quantity``,
        ``max_order_notional``) is closed in clips, all submitted at once: see
        ``close_in_clips``.
        """
        orders = self.close_in_clips(symbol, **options)
        return orders[0] if orders else None

    def close_in_clips(self, symbol: str, **options: Any) -> list[Order]:
        """Submit the reduce-only market orders that flatten the position; return them.

        Each clip is as large as the per-order limits allow; open orders already on the
        closing side count as closing. A denied clip ends the list (it is its last item).
        """
        position = self.get_position(symbol)
        if position.is_flat:
            return []
        engine = self._engine
        side = OrderSide.SELL if position.is_long else OrderSide.BUY
        remaining = abs(position.quantity) - engine.open_quantity(self.strategy_id, symbol, side)
        clip = engine.close_clip(self.gateway_id, symbol)
        instrument = engine.instrument(self.gateway_id, symbol)
        orders: list[Order] = []
        while remaining > 0:
            quantity = instrument.make_quantity(remaining if clip is None else min(remaining, clip))
            if not quantity:
                # Less than one lot may be sent (or is left): no order can close it.
                _log.error("position.cannot_close", strategy_id=self.strategy_id,
                           symbol=symbol, remaining=str(remaining), clip=str(clip))
                break
            order = self.submit_order(symbol=symbol, side=side, quantity=quantity,
                                      reduce_only=True, **options)
            orders.append(order)
            if order.status is OrderStatus.DENIED or not order.quantity:
                break
            remaining -= order.quantity
        return orders

    # -- queries ----------------------------------------------------------------------------

    def get_position(self, symbol: str) -> Position:
        """Return the position in ``symbol`` (a flat one if never traded)."""
        position = self._engine.portfolio.position(self.strategy_id, symbol)
        if position is None:
            instrument = self._engine.instrument(self.gateway_id, symbol)
            position = Position(strategy_id=self.strategy_id, venue=self.gateway_id,
                                symbol=symbol, base=instrument.base, quote=instrument.quote)
        return position

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Return this strategy's open orders."""
        return self._engine.cache.open_orders(self.strategy_id, symbol)


def _as(enum: type[_E], value: _E | str) -> _E:
    """Return ``value`` as a member of ``enum`` (an enum call costs ~0.3 us; most callers
    already pass a member)."""
    return value if type(value) is enum else enum(value)
