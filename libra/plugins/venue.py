"""What a gateway hands reconciliation, and what a simulated venue gets from the state store.

Reconciliation reads the orders ``fetch_open_orders`` and ``fetch_order`` return by
attribute (``libra.persistence.reconcile.as_venue_report``), so any class with those
attributes will do: ccxt's ``OrderReport``, the paper venue's ``VenueOrder`` and
``libra.persistence.VenueOrderReport`` all match ``VenueOrderView``.

A simulated venue (the paper gateway) keeps its orders, balances and fills in the kernel's
state store through ``attach_store``: ``VenueStateStore`` is that part of
``libra.persistence.StateStore``. The store's record types live in
``libra.persistence.venue``, a layer above this one, so they are named here only as
``StoredRecord`` and ``StoredVenueState``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol, TypeAlias

from libra.model.fills import Fill

#: A record of ``libra.persistence.venue`` (``VenueOrderRecord``, ``VenueAccountRecord``):
#: the plugin API sits below persistence and cannot name it. ``Any``, because a store's
#: methods take exactly its own record types and must still match the protocol.
StoredRecord: TypeAlias = Any
#: ``libra.persistence.venue.VenueState``, for the same reason.
StoredVenueState: TypeAlias = Any


class VenueOrderView(Protocol):
    """The venue's view of one order, as reconciliation reads it.

    ``side`` is an ``OrderSide`` (or its string); ``client_order_id`` is ``None`` for an
    order placed outside LIBRA.
    """

    @property
    def client_order_id(self) -> str | None: ...

    @property
    def venue_order_id(self) -> str | None: ...

    @property
    def symbol(self) -> str: ...

    @property
    def side(self) -> str: ...

    @property
    def quantity(self) -> Decimal: ...

    @property
    def filled(self) -> Decimal: ...


class VenueStateStore(Protocol):
    """What a simulated venue needs from the kernel's state store."""

    def load_venue_state(self, venue: str) -> StoredVenueState | None:
        """Return what the venue saved, or ``None`` if it saved nothing yet (blocking I/O)."""
        ...

    def record_venue_changes(self, venue: str, orders: Sequence[StoredRecord],
                             fills: Sequence[Fill], account: StoredRecord) -> None:
        """Enqueue the venue's changed orders, new fills and account."""
        ...

    def record_venue_market(self, venue: str, symbol: str, bid: Decimal | None,
                            ask: Decimal | None, last: Decimal | None, has_bars: bool,
                            ts_event: int) -> None:
        """Enqueue the market the venue last saw for ``symbol`` (its replay position)."""
        ...
