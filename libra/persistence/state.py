"""Read a state file back into domain objects: ``read_state`` -> ``LoadedState``.

Orders are rebuilt by replaying their stored events through the state machine
(``apply_event``), so a restored order is exactly the order the engine had: status, filled
quantity, average price, fees, trade ids, venue order id. The portfolio starts from its last
snapshot (every account and position at one event sequence number, taken at each heartbeat
and at stop) and moves with the fills stored after it.

A restart reads only what it needs (``history=False``): the open orders, the snapshot, the
fills after it, counters and strategy states, and the keys of the recent fills that
reconciliation may see again. Its cost does not grow with the orders closed long ago.
``history=True`` reads every order and fill still stored, for inspection.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgspec

from libra.core.errors import InvalidOrderTransition, OverfillError
from libra.model.fills import Fill
from libra.model.instrument import Instrument
from libra.model.order_events import ORDER_EVENT_TYPES, apply_event
from libra.model.orders import Order
from libra.model.positions import Position
from libra.persistence.schema import OPEN_ORDER
from libra.trading.portfolio import Portfolio

_EVENT_TYPES: dict[str, type[Any]] = {cls.kind: cls for cls in ORDER_EVENT_TYPES}  # type: ignore[attr-defined]
_DECODERS = {kind: msgspec.json.Decoder(cls) for kind, cls in _EVENT_TYPES.items()}

FILL_LOOKBACK_NS = 60_000_000_000
"""How far before the last stored fill reconciliation asks a venue for fills (and restore
reads the keys of the stored ones)."""

_ORDER_COLUMNS = (
    "client_order_id, strategy_id, venue, symbol, side, type, quantity, price, trigger_price, "
    "time_in_force, post_only, reduce_only, ts_init, ts_submitted"
)


@dataclass(slots=True)
class LoadedState:
    """Everything a state file holds, as domain objects."""

    orders: dict[str, Order] = field(default_factory=dict)
    """The orders read (the open ones, or all with history), rebuilt from their events."""
    fills: list[Fill] = field(default_factory=list)
    """The fills read, in the order the engine applied them: those of the orders read and
    those after the portfolio snapshot."""
    fill_seqs: list[int] = field(default_factory=list)
    """The event sequence number of each fill in ``fills``."""
    snapshot_seq: int = 0
    """The oldest event sequence number among the snapshots (0: none): every fill after it
    is read."""
    known_fills: set[tuple[str, str]] = field(default_factory=set)
    """``(client_order_id, trade_id)`` of every stored fill a venue may report again."""
    order_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    """Orders counted but no longer stored one by one, by strategy and status (denied ones,
    compacted ones)."""
    balances: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    """The last balance snapshot per account."""
    balance_seqs: dict[str, int] = field(default_factory=dict)
    """The last event written before each account's snapshot."""
    position_snapshots: list[dict[str, Any]] = field(default_factory=list)
    position_seqs: dict[tuple[str, str], int] = field(default_factory=dict)
    """The last event written before each position's snapshot."""
    strategy_states: dict[str, dict[str, Any]] = field(default_factory=dict)
    id_counters: dict[str, int] = field(default_factory=dict)
    """How many client order ids each strategy has issued."""
    last_fill_ns: dict[str, int] = field(default_factory=dict)
    """The latest fill time (venue ``ts_event``) per gateway."""
    problems: list[str] = field(default_factory=list)
    """Stored events the state machine refused on replay (each one is a mismatch)."""

    @property
    def open_orders(self) -> list[Order]:
        """The orders still open after replay."""
        return [o for o in self.orders.values() if o.is_open]

    def rebuild_portfolio(self, portfolio: Portfolio | None = None,
                          keep_accounts: frozenset[str] = frozenset(),
                          instruments: Iterable[Instrument] = ()) -> Portfolio:
        """Put the last snapshots and the fills after them into ``portfolio`` (new if None).

        Each position starts from its snapshot and moves with the fills stored after it;
        each account's cash likewise from its own. The balances of ``keep_accounts``
        (already set from the venue) are kept as they are.

        Raises:
            ValueError: a fill's symbol has no instrument and is not ``BASE/QUOTE``.
        """
        portfolio = Portfolio(instruments) if portfolio is None else portfolio
        # Positions and cash are snapshotted separately: replay each from its own snapshot
        # on its own scratch portfolio, then take positions from one and cash from the other.
        positions, cash = Portfolio(instruments), Portfolio(instruments)
        position_seqs = self.position_seqs
        for snapshot in self.position_snapshots:
            position = Position.from_snapshot(snapshot)
            positions.add_position(position)
        for account, balances in self.balances.items():
            cash.set_balances(account, balances)
        for seq, fill in zip(self.fill_seqs, self.fills, strict=True):
            if seq > position_seqs.get((fill.strategy_id, fill.symbol), 0):
                positions.apply_fill(fill)
            if seq > self.balance_seqs.get(fill.venue, 0):
                cash.apply_fill(fill)
        for position in positions.positions():
            portfolio.add_position(position)
        for account in cash.accounts:
            if account not in keep_accounts:
                portfolio.set_balances(account, cash.balances(account))
        return portfolio

    def positions(self) -> list[Position]:
        """Return the positions recomputed from the stored fills."""
        return self.rebuild_portfolio().positions()


def read_state(conn: sqlite3.Connection, *, history: bool = True) -> LoadedState:
    """Read a state file (a read-only connection is enough); see the module docstring."""
    state = LoadedState()
    # ORDER BY rowid would make SQLite scan every order: sort the few open ones here.
    query = f"SELECT rowid, {_ORDER_COLUMNS} FROM orders" if history else \
        f"SELECT rowid, {_ORDER_COLUMNS} FROM orders INDEXED BY orders_open WHERE {OPEN_ORDER}"
    for row in sorted(conn.execute(query), key=lambda row: row[0]):
        order = _order_from_row(row[1:])
        state.orders[order.client_order_id] = order
    _read_snapshot(conn, state)
    if history:
        _replay_events(conn, state, "SELECT seq, client_order_id, kind, payload "
                       "FROM order_events ORDER BY seq", ())
    else:
        for coid in list(state.orders):
            _replay_events(conn, state, "SELECT seq, client_order_id, kind, payload FROM "
                           "order_events WHERE client_order_id = ? ORDER BY seq", (coid,))
    _read_fills_after_snapshot(conn, state)
    state.strategy_states = {
        sid: json.loads(text)
        for sid, text in conn.execute("SELECT strategy_id, state FROM strategy_states")
    }
    state.id_counters = dict(conn.execute("SELECT strategy_id, count FROM id_counters"))
    if conn.execute("PRAGMA user_version").fetchone()[0] < 3:  # read-only, not migrated
        state.last_fill_ns = dict(
            conn.execute("SELECT venue, max(ts_event) FROM fills GROUP BY venue"))
        return state
    for strategy_id, status, count in conn.execute("SELECT * FROM order_counts"):
        state.order_counts.setdefault(strategy_id, {})[status] = count
    state.last_fill_ns = dict(conn.execute("SELECT venue, ts_event FROM fill_marks"))
    _read_recent_fill_keys(conn, state)
    return state


def _read_snapshot(conn: sqlite3.Connection, state: LoadedState) -> None:
    seqs = [0]
    for account, text, seq in conn.execute(
            "SELECT account, balances, event_seq FROM balance_snapshots"):
        state.balances[account] = {c: Decimal(v) for c, v in json.loads(text).items()}
        state.balance_seqs[account] = seq
        seqs.append(seq)
    for text, seq in conn.execute(
            "SELECT snapshot, event_seq FROM position_snapshots ORDER BY strategy_id, symbol"):
        snapshot = json.loads(text)
        state.position_snapshots.append(snapshot)
        state.position_seqs[(snapshot["strategy_id"], snapshot["symbol"])] = seq
        seqs.append(seq)
    state.snapshot_seq = min(seqs[1:], default=0)


def _read_fills_after_snapshot(conn: sqlite3.Connection, state: LoadedState) -> None:
    seen = set(state.fill_seqs)
    extra: list[tuple[int, Fill]] = []
    decoder = _DECODERS["filled"]
    for seq, payload in conn.execute(
            "SELECT seq, payload FROM order_events WHERE seq > ? AND kind = 'filled' "
            "ORDER BY seq", (state.snapshot_seq,)):
        if seq not in seen:
            extra.append((seq, decoder.decode(payload)))
    # The open orders' fills were read order by order: put everything in engine order.
    merged = sorted([*zip(state.fill_seqs, state.fills, strict=True), *extra],
                    key=lambda pair: pair[0])
    state.fill_seqs = [seq for seq, _ in merged]
    state.fills = [fill for _, fill in merged]
    state.known_fills.update((f.client_order_id, f.trade_id) for f in state.fills)


def _read_recent_fill_keys(conn: sqlite3.Connection, state: LoadedState) -> None:
    # What reconciliation's fetch_fills may return again: the fills from before the oldest
    # open order (or the last fill) minus the look-back, as ``reconcile`` asks for them.
    for venue, last in state.last_fill_ns.items():
        starts = [o.ts_init for o in state.orders.values() if o.is_open and o.venue == venue]
        since = min([last, *starts]) - 2 * FILL_LOOKBACK_NS
        state.known_fills.update(conn.execute(
            "SELECT client_order_id, trade_id FROM fills WHERE venue = ? AND ts_event >= ?",
            (venue, since)))


def _order_from_row(row: tuple[Any, ...]) -> Order:
    (coid, strategy_id, venue, symbol, side, order_type, quantity, price, trigger_price,
     time_in_force, post_only, reduce_only, ts_init, ts_submitted) = row
    order = Order(
        client_order_id=coid, strategy_id=strategy_id, venue=venue, symbol=symbol,
        side=side, type=order_type, quantity=Decimal(quantity),
        price=None if price is None else Decimal(price),
        trigger_price=None if trigger_price is None else Decimal(trigger_price),
        time_in_force=time_in_force, post_only=bool(post_only), reduce_only=bool(reduce_only),
        ts_init=ts_init,
    )
    if ts_submitted is not None:
        order.submit(ts_submitted)
    return order


def _replay_events(conn: sqlite3.Connection, state: LoadedState, query: str,
                   params: tuple[Any, ...]) -> None:
    orders = state.orders
    for seq, coid, kind, payload in conn.execute(query, params):
        decoder = _DECODERS.get(kind)
        order = orders.get(coid)
        if decoder is None or order is None:
            state.problems.append(f"event {seq} ({kind}) of order {coid!r} cannot be replayed: "
                                  f"{'unknown event kind' if decoder is None else 'no order'}")
            continue
        event = decoder.decode(payload)
        try:
            changed = apply_event(order, event)
        except (InvalidOrderTransition, OverfillError, ValueError) as exc:
            state.problems.append(f"event {seq} ({kind}) of order {coid!r} refused on "
                                  f"replay: {exc}")
            continue
        if changed and kind == "filled":
            state.fills.append(event)
            state.fill_seqs.append(seq)
