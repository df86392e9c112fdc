"""Persistence and crash recovery: the state store, restore and reconciliation.

``StateStore`` writes every order intent, order event, fill, balance snapshot and strategy
state to one SQLite file from a writer thread; ``load_state`` reads it back; ``restore_into``
puts it into the execution engine; ``reconcile`` and ``apply_reconciliation`` bring it in line
with each venue before any strategy trades.
"""

from libra.persistence.reconcile import (
    Mismatch,
    ReconciliationReport,
    VenueOrderReport,
    as_venue_report,
    reconcile,
)
from libra.persistence.restore import adopted_order, apply_reconciliation, restore_into
from libra.persistence.schema import SCHEMA_VERSION
from libra.persistence.state import LoadedState, read_state
from libra.persistence.store import StateStore
from libra.persistence.venue import (
    VenueAccountRecord,
    VenueMarketRecord,
    VenueOrderRecord,
    VenueState,
    read_venue_states,
)

__all__ = [
    "SCHEMA_VERSION",
    "LoadedState",
    "Mismatch",
    "ReconciliationReport",
    "StateStore",
    "VenueAccountRecord",
    "VenueMarketRecord",
    "VenueOrderRecord",
    "VenueOrderReport",
    "VenueState",
    "adopted_order",
    "apply_reconciliation",
    "as_venue_report",
    "read_state",
    "read_venue_states",
    "reconcile",
    "restore_into",
]
