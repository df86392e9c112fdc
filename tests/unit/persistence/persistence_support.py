"""Builders for orders, fills and events shared by the persistence tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from libra.model.fills import Fill
from libra.model.order_events import apply_event
from libra.model.orders import Order, OrderSide, OrderType
from libra.persistence import StateStore

T0 = 1_700_000_000_000_000_000


def build_order(number: int, *, side: str = "buy", quantity: str = "2", price: str = "100",
                strategy_id: str = "s1", venue: str = "paper",
                symbol: str = "BTC/USDT") -> Order:
    """Return an INITIALIZED limit order ``<strategy_id>-<number>``."""
    return Order(client_order_id=f"{strategy_id}-{number}", strategy_id=strategy_id, venue=venue,
                 symbol=symbol, side=OrderSide(side), type=OrderType.LIMIT,
                 quantity=Decimal(quantity), price=Decimal(price), ts_init=T0 + number)


def build_fill(order: Order, trade_id: str, quantity: str, price: str, *, ts: int = 0,
               fee: str = "0.1") -> Fill:
    """Return a fill of ``order`` (taker, fee in the quote currency)."""
    return Fill(client_order_id=order.client_order_id, venue_order_id="V-" + order.client_order_id,
                trade_id=trade_id, strategy_id=order.strategy_id, venue=order.venue,
                symbol=order.symbol, side=order.side, quantity=Decimal(quantity),
                price=Decimal(price), fee=Decimal(fee), fee_currency="USDT", liquidity="taker",
                ts_event=ts or T0 + 1000, ts_recv=ts or T0 + 1000)


def apply_and_record(store: StateStore, order: Order, event: Any) -> None:
    """Apply ``event`` as the execution engine does, then record it."""
    assert apply_event(order, event)
    store.record_event(order, event)
