"""The paper venue's state in the state store: save each change, restore after a restart.

A real venue keeps its orders, balances and fills while LIBRA is down; the paper venue does
the same through the kernel's state store. Each change is enqueued before the events it
caused are reported, so the venue's saved state is never behind what the engine saved.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol

from libra.gateways.paper.matching import MatchingEngine, VenueOrder
from libra.model.fills import Fill
from libra.model.orders import OrderSide, OrderType, TimeInForce
from libra.persistence.venue import (
    VenueAccountRecord,
    VenueOrderRecord,
    VenueOrderStatus,
    VenueState,
)


class VenueStore(Protocol):
    """What the paper venue needs from the state store (``libra.persistence.StateStore``)."""

    def record_venue_changes(self, venue: str, orders: Sequence[VenueOrderRecord],
                             fills: Sequence[Fill], account: VenueAccountRecord) -> None: ...

    def record_venue_market(self, venue: str, symbol: str, bid: Decimal | None,
                            ask: Decimal | None, last: Decimal | None, has_bars: bool,
                            ts_event: int) -> None: ...

    def load_venue_state(self, venue: str) -> VenueState | None: ...


def save_changes(store: VenueStore, matching: MatchingEngine) -> None:
    """Enqueue what changed at the venue since the last save (nothing if nothing did)."""
    changes = matching.take_changes()
    if changes is None:
        return
    orders, fills = changes
    records = [order_record(vo, matching.status_of(vo)) for vo in orders]
    store.record_venue_changes(matching.venue, records, fills, account_record(matching))


def save_market(store: VenueStore, matching: MatchingEngine, event: Any) -> None:
    """Enqueue the venue's market after ``event`` (its ts_event is the replay position)."""
    symbol = event.symbol
    store.record_venue_market(matching.venue, symbol, *matching.market_of(symbol),
                              event.ts_event)


def order_record(vo: VenueOrder, status: VenueOrderStatus) -> VenueOrderRecord:
    """Return the stored form of one venue order."""
    return VenueOrderRecord(
        client_order_id=vo.client_order_id, venue_order_id=vo.venue_order_id,
        strategy_id=vo.strategy_id, symbol=vo.symbol, side=str(vo.side), type=str(vo.type),
        quantity=vo.quantity, price=vo.price, trigger_price=vo.trigger_price,
        time_in_force=str(vo.tif), post_only=vo.post_only, filled=vo.filled,
        reserved=vo.reserved, triggered=vo.triggered, activate_at=vo.activate_at,
        status=status,
    )


def account_record(matching: MatchingEngine) -> VenueAccountRecord:
    """Return the stored form of the venue's balances, reservations and counters."""
    return VenueAccountRecord(
        balances=dict(matching.balances), reserved=dict(matching.reserved),
        order_seq=matching.order_seq, trade_seq=matching.trade_seq,
        duplicate_submits=matching.duplicate_submits,
    )


def restore_venue(matching: MatchingEngine, state: VenueState) -> None:
    """Put a saved venue state back into a new matching engine."""
    account = state.account
    if account is not None:
        matching.restore(account.balances, account.reserved, account.order_seq,
                         account.trade_seq, account.duplicate_submits)
    for record in state.orders:
        vo = VenueOrder.restore(
            client_order_id=record.client_order_id, venue_order_id=record.venue_order_id,
            strategy_id=record.strategy_id, symbol=record.symbol,
            side=OrderSide(record.side), type=OrderType(record.type),
            quantity=record.quantity, price=record.price, trigger_price=record.trigger_price,
            tif=TimeInForce(record.time_in_force), post_only=record.post_only,
            filled=record.filled, reserved=record.reserved, triggered=record.triggered,
            activate_at=record.activate_at,
        )
        matching.restore_order(vo, record.status)
    for market in state.markets:
        matching.restore_market(market.symbol, market.bid, market.ask, market.last,
                                market.has_bars)
    matching.restore_fills(state.fills)
