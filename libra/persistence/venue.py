"""A simulated venue's own state in the state file: records in, rows out, records back.

The paper gateway keeps its venue (orders, balances, reservations, fills, sequence counters,
market and replay position) in the same file as the engine, written through the same writer
queue. It enqueues each change before it reports the events that change caused, so the
venue's state is always at least as durable as what the engine recorded from it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import msgspec

from libra.model.fills import Fill
from libra.persistence.schema import OPEN_ORDER

VenueOrderStatus = Literal["open", "next_open", "closed"]

_FILL_DECODER = msgspec.json.Decoder(Fill)

_UPSERT_ACCOUNT = "INSERT OR REPLACE INTO venue_accounts VALUES (?, ?, ?, ?, ?, ?)"
# ON CONFLICT keeps the row (and its rowid, the acceptance order) and updates what can change.
_UPSERT_ORDER = """
INSERT INTO venue_orders (venue, client_order_id, venue_order_id, strategy_id, symbol, side,
    type, quantity, price, trigger_price, time_in_force, post_only, filled, reserved,
    triggered, activate_at, status)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (venue, client_order_id) DO UPDATE SET
    quantity = excluded.quantity, filled = excluded.filled, reserved = excluded.reserved,
    triggered = excluded.triggered, activate_at = excluded.activate_at,
    status = excluded.status
"""
_INSERT_FILL = "INSERT INTO venue_fills VALUES (?, ?, ?, ?, ?)"
_UPSERT_MARKET = "INSERT OR REPLACE INTO venue_markets VALUES (?, ?, ?, ?, ?, ?, ?)"
_UPSERT_REPLAY = "INSERT OR REPLACE INTO venue_replay VALUES (?, ?)"


@dataclass(frozen=True, slots=True)
class VenueOrderRecord:
    """The venue's own record of one order, as stored."""

    client_order_id: str
    venue_order_id: str
    strategy_id: str
    symbol: str
    side: str
    type: str
    quantity: Decimal
    price: Decimal | None
    trigger_price: Decimal | None
    time_in_force: str
    post_only: bool
    filled: Decimal
    reserved: Decimal
    triggered: bool
    activate_at: int
    status: VenueOrderStatus


@dataclass(frozen=True, slots=True)
class VenueAccountRecord:
    """The venue's balances, reservations and sequence counters (dicts never mutated)."""

    balances: dict[str, Decimal]
    reserved: dict[str, Decimal]
    order_seq: int
    trade_seq: int
    duplicate_submits: int = 0


@dataclass(frozen=True, slots=True)
class VenueMarketRecord:
    """The venue's last view of one symbol's market."""

    symbol: str
    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None
    has_bars: bool
    ts_event: int


@dataclass(slots=True)
class VenueState:
    """Everything stored for one simulated venue."""

    venue: str
    account: VenueAccountRecord | None = None
    orders: list[VenueOrderRecord] = field(default_factory=list)
    """Every order the venue accepted, in acceptance order."""
    fills: list[Fill] = field(default_factory=list)
    """Every fill the venue reported, in order."""
    markets: list[VenueMarketRecord] = field(default_factory=list)
    replay_ts: int | None = None
    """The ts_event of the last market event the venue processed."""

    @property
    def open_orders(self) -> list[VenueOrderRecord]:
        """The orders still working at the venue."""
        return [o for o in self.orders if o.status != "closed"]


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _amounts_text(amounts: dict[str, Decimal]) -> str:
    return json.dumps({currency: str(amount) for currency, amount in amounts.items()})


class VenueRows:
    """The venue rows of one transaction, built by the writer thread."""

    def __init__(self) -> None:
        self.accounts: dict[str, tuple[Any, ...]] = {}
        self.orders: dict[tuple[str, str], tuple[Any, ...]] = {}
        self.fills: list[tuple[Any, ...]] = []
        self.markets: dict[tuple[str, str], tuple[Any, ...]] = {}
        self.replay: dict[str, tuple[str, int]] = {}

    def add_changes(self, venue: str, orders: Sequence[VenueOrderRecord],
                    fills: Sequence[Fill], account: VenueAccountRecord) -> None:
        for o in orders:
            self.orders[(venue, o.client_order_id)] = (
                venue, o.client_order_id, o.venue_order_id, o.strategy_id, o.symbol,
                str(o.side), str(o.type), str(o.quantity), _text(o.price),
                _text(o.trigger_price), str(o.time_in_force), int(o.post_only), str(o.filled),
                str(o.reserved), int(o.triggered), o.activate_at, o.status,
            )
        self.fills.extend((venue, f.trade_id, f.client_order_id, f.ts_event,
                           msgspec.json.encode(f)) for f in fills)
        self.accounts[venue] = (venue, _amounts_text(account.balances),
                                _amounts_text(account.reserved), account.order_seq,
                                account.trade_seq, account.duplicate_submits)

    def add_market(self, venue: str, symbol: str, bid: Decimal | None, ask: Decimal | None,
                   last: Decimal | None, has_bars: bool, ts_event: int) -> None:
        self.markets[(venue, symbol)] = (venue, symbol, _text(bid), _text(ask), _text(last),
                                         int(has_bars), ts_event)
        self.replay[venue] = (venue, ts_event)

    def write(self, conn: sqlite3.Connection) -> None:
        conn.executemany(_UPSERT_ORDER, self.orders.values())
        conn.executemany(_INSERT_FILL, self.fills)
        conn.executemany(_UPSERT_ACCOUNT, self.accounts.values())
        conn.executemany(_UPSERT_MARKET, self.markets.values())
        conn.executemany(_UPSERT_REPLAY, self.replay.values())


def read_venue_states(conn: sqlite3.Connection, *, history: bool = True
                      ) -> dict[str, VenueState]:
    """Read every simulated venue's stored state (none in a file older than schema 2).

    With ``history=False`` (a restart) only the orders still open at the venue or in the
    engine, and their fills, are read: what reconciliation can ask about.
    """
    if conn.execute("PRAGMA user_version").fetchone()[0] < 2:
        return {}
    states: dict[str, VenueState] = {}

    def state_of(venue: str) -> VenueState:
        state = states.get(venue)
        if state is None:
            state = states[venue] = VenueState(venue)
        return state

    for venue, balances, reserved, order_seq, trade_seq, duplicates in conn.execute(
            "SELECT * FROM venue_accounts"):
        state_of(venue).account = VenueAccountRecord(
            _amounts(balances), _amounts(reserved), order_seq, trade_seq, duplicates)
    if history:
        for row in conn.execute(f"SELECT {_VENUE_ORDER_COLUMNS} FROM venue_orders "
                                "ORDER BY rowid"):
            state_of(row[0]).orders.append(_order_record(row[1:]))
        for venue, payload in conn.execute(
                "SELECT venue, payload FROM venue_fills ORDER BY rowid"):
            state_of(venue).fills.append(_FILL_DECODER.decode(payload))
    else:
        _read_open_venue_orders(conn, state_of)
    for venue, symbol, bid, ask, last, has_bars, ts_event in conn.execute(
            "SELECT * FROM venue_markets ORDER BY venue, symbol"):
        state_of(venue).markets.append(VenueMarketRecord(
            symbol, _decimal(bid), _decimal(ask), _decimal(last), bool(has_bars), ts_event))
    for venue, ts_event in conn.execute("SELECT venue, ts_event FROM venue_replay"):
        state_of(venue).replay_ts = ts_event
    return states


_VENUE_ORDER_COLUMNS = (
    "venue, client_order_id, venue_order_id, strategy_id, symbol, side, type, quantity, "
    "price, trigger_price, time_in_force, post_only, filled, reserved, triggered, "
    "activate_at, status"
)


def _read_open_venue_orders(conn: sqlite3.Connection, state_of: Any) -> None:
    rows = {row[0]: row[1:] for row in conn.execute(
        f"SELECT rowid, {_VENUE_ORDER_COLUMNS} FROM venue_orders WHERE status != 'closed'")}
    # Orders the engine still has open: the venue may have closed them while the engine's
    # record of it was lost with the process.
    rows.update((row[0], row[1:]) for row in conn.execute(
        f"SELECT v.rowid, {', '.join('v.' + c for c in _VENUE_ORDER_COLUMNS.split(', '))} "
        "FROM orders o INDEXED BY orders_open JOIN venue_orders v "
        f"ON v.client_order_id = o.client_order_id AND v.venue = o.venue WHERE o.{OPEN_ORDER}"))
    fills: list[tuple[int, str, bytes]] = []
    for rowid in sorted(rows):
        row = rows[rowid]
        state_of(row[0]).orders.append(_order_record(row[1:]))
        fills.extend(conn.execute(
            "SELECT rowid, venue, payload FROM venue_fills WHERE venue = ? "
            "AND client_order_id = ?", (row[0], row[1])))
    for _, venue, payload in sorted(fills):
        state_of(venue).fills.append(_FILL_DECODER.decode(payload))


def _amounts(text: str) -> dict[str, Decimal]:
    return {currency: Decimal(amount) for currency, amount in json.loads(text).items()}


def _order_record(row: tuple[Any, ...]) -> VenueOrderRecord:
    (coid, venue_order_id, strategy_id, symbol, side, order_type, quantity, price,
     trigger_price, time_in_force, post_only, filled, reserved, triggered, activate_at,
     status) = row
    return VenueOrderRecord(
        client_order_id=coid, venue_order_id=venue_order_id, strategy_id=strategy_id,
        symbol=symbol, side=side, type=order_type, quantity=Decimal(quantity),
        price=_decimal(price), trigger_price=_decimal(trigger_price),
        time_in_force=time_in_force, post_only=bool(post_only), filled=Decimal(filled),
        reserved=Decimal(reserved), triggered=bool(triggered), activate_at=activate_at,
        status=status,
    )
