"""Orders, fills and events of the persistence tests: ``libra.testing.factories`` with
the persistence tests' ids (``s1-<n>``) and times (``T0``)."""

from __future__ import annotations

from typing import Any

from libra.model.fills import Fill
from libra.model.order_events import apply_event
from libra.model.orders import Order
from libra.persistence import StateStore
from libra.testing import factories

T0 = 1_700_000_000_000_000_000


def build_order(number: int, *, side: str = "buy", quantity: str = "2", price: str = "100",
                strategy_id: str = "s1", venue: str = "paper",
                symbol: str = "BTC/USDT") -> Order:
    """Return an INITIALIZED limit order ``<strategy_id>-<number>`` stamped ``T0 + number``."""
    return factories.build_order(number, side=side, quantity=quantity, price=price,
                                 strategy_id=strategy_id, venue=venue, symbol=symbol,
                                 ts_init=T0 + number)


def build_fill(order: Order, trade_id: str, quantity: str, price: str, *, ts: int = 0,
               fee: str = "0.1") -> Fill:
    """Return a fill of ``order`` (taker, fee in the quote currency) at ``ts`` or T0 + 1000."""
    return factories.build_fill(quantity, price, order=order, trade_id=trade_id, fee=fee,
                                venue_order_id="V-" + order.client_order_id,
                                ts_event=ts or T0 + 1000)


def apply_and_record(store: StateStore, order: Order, event: Any) -> None:
    """Apply ``event`` as the execution engine does, then record it."""
    assert apply_event(order, event)
    store.record_event(order, event)
