"""Order helpers every strategy inherits.

The kernel binds a per-strategy order API to the instance (``bind_trading``)
before ``initialize``; the helpers read it from the instance dictionary, so they
work in a subclass whose ``__init__`` never called ``super().__init__()``.
Each helper returns at once (the order, or its id); outcomes arrive as events.
"""

from __future__ import annotations

from decimal import Decimal

from libra.core.errors import StrategyError
from libra.model.orders import Order
from libra.model.positions import Position
from libra.trading.orders_api import StrategyOrders

_ORDERS_KEY = "_libra_orders"


def bind_trading(strategy: object, orders: StrategyOrders) -> None:
    """Attach the strategy-scoped order API the helpers delegate to."""
    strategy.__dict__[_ORDERS_KEY] = orders


class TradingHelpers:
    """Order and position helpers; see ``libra.trading.orders_api.StrategyOrders``."""

    def _orders(self) -> StrategyOrders:
        orders: StrategyOrders | None = self.__dict__.get(_ORDERS_KEY)
        if orders is None:
            raise StrategyError(
                f"{type(self).__name__} is not attached to a kernel: "
                "order helpers work once the kernel has started the strategy"
            )
        return orders

    def buy_market(self, symbol: str, quantity: Decimal | str | int, **options: object) -> Order:
        """Submit a market buy; return the order."""
        return self._orders().buy_market(symbol, quantity, **options)

    def sell_market(self, symbol: str, quantity: Decimal | str | int, **options: object) -> Order:
        """Submit a market sell; return the order."""
        return self._orders().sell_market(symbol, quantity, **options)

    def buy_limit(
        self,
        symbol: str,
        quantity: Decimal | str | int,
        price: Decimal | str | int,
        **options: object,
    ) -> Order:
        """Submit a limit buy; return the order."""
        return self._orders().buy_limit(symbol, quantity, price, **options)

    def sell_limit(
        self,
        symbol: str,
        quantity: Decimal | str | int,
        price: Decimal | str | int,
        **options: object,
    ) -> Order:
        """Submit a limit sell; return the order."""
        return self._orders().sell_limit(symbol, quantity, price, **options)

    def submit_order(self, order: Order | None = None, **spec: object) -> Order:
        """Submit an order built by ``context["orders"].create(...)``, or from keywords."""
        return self._orders().submit_order(order, **spec)

    def cancel_order(self, order_or_id: Order | str) -> None:
        """Request the cancel of one open order (an order or its client order id)."""
        self._orders().cancel_order(order_or_id)

    def cancel_all_orders(self, symbol: str | None = None) -> int:
        """Request the cancel of every open order of this strategy; return how many."""
        return int(self._orders().cancel_all_orders(symbol))

    def close_position(self, symbol: str, **options: object) -> Order | None:
        """Submit a reduce-only market order that flattens the position; ``None`` if flat."""
        return self._orders().close_position(symbol, **options)

    def get_position(self, symbol: str) -> Position:
        """Return this strategy's position in ``symbol`` (a flat one if none)."""
        return self._orders().get_position(symbol)

    def is_flat(self, symbol: str) -> bool:
        """Return whether this strategy holds no position in ``symbol``."""
        return bool(self._orders().get_position(symbol).is_flat)

    def is_long(self, symbol: str) -> bool:
        """Return whether this strategy is long ``symbol``."""
        return bool(self._orders().get_position(symbol).is_long)

    def is_short(self, symbol: str) -> bool:
        """Return whether this strategy is short ``symbol``."""
        return bool(self._orders().get_position(symbol).is_short)
