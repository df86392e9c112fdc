"""Fills: one execution of (part of) an order at the venue.

A ``Fill`` is itself the fill event published on the bus (topic ``order.<strategy_id>.filled``)
and the object strategies receive in ``on_fill``: ``fill["symbol"]``, ``fill["quantity"]`` and
``fill.price`` all work. There is no separate ``OrderFilled`` wrapper; ``order_events`` exports
``OrderFilled`` as another name for this class.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal

from libra.model.enums import OrderSide
from libra.model.readable import Record

Liquidity = Literal["maker", "taker"]


class Fill(Record, frozen=True, gc=False, kw_only=True):
    """One execution reported by a venue. Build with keywords.

    ``quantity`` and ``price`` are positive; ``fee`` is what was paid in ``fee_currency``
    (negative for a rebate). ``trade_id`` is the venue's id for this execution and is what
    makes a fill unique per order. ``ts_event`` is the venue's execution time, ``ts_recv``
    when LIBRA received the report (int nanoseconds).
    """

    kind: ClassVar[str] = "filled"
    _extra_keys: ClassVar[tuple[str, ...]] = ("notional", "kind")

    client_order_id: str
    venue_order_id: str | None
    trade_id: str
    strategy_id: str
    venue: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    liquidity: Liquidity
    ts_event: int
    ts_recv: int

    @property
    def notional(self) -> Decimal:
        """The traded value in the quote currency: ``quantity * price``."""
        return self.quantity * self.price

    @property
    def signed_quantity(self) -> Decimal:
        """The quantity, negative for a sell."""
        return self.quantity if self.side == OrderSide.BUY else -self.quantity

    @property
    def is_buy(self) -> bool:
        """True for a buy."""
        return self.side == OrderSide.BUY

    @property
    def topic(self) -> str:
        """The bus topic: ``order.<strategy_id>.filled``."""
        return f"order.{self.strategy_id}.filled"
