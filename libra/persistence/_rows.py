"""The writer thread's rows: queued operations turned into one transaction's statements.

Operations are tuples of immutable values built on the event loop (``_static``, ``_state``);
``_Batch`` converts them to rows in the writer thread and coalesces what can be (the last
state of an order wins within a batch).
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec

from libra.model.identifiers import client_order_id_prefix
from libra.persistence.venue import VenueRows

if TYPE_CHECKING:
    from libra.model.orders import Order

(INTENT, EVENT, BALANCES, POSITION, STRATEGY, COUNTER, STOP, VENUE, VENUE_MARKET,
 PORTFOLIO) = range(10)

_UPSERT_ORDER = """
INSERT INTO orders (client_order_id, strategy_id, venue, symbol, side, type, quantity, price,
    trigger_price, time_in_force, post_only, reduce_only, ts_init, status, filled_quantity,
    avg_fill_price, venue_order_id, reason, ts_last, ts_submitted, ts_written)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (client_order_id) DO UPDATE SET
    status = excluded.status, filled_quantity = excluded.filled_quantity,
    avg_fill_price = excluded.avg_fill_price, venue_order_id = excluded.venue_order_id,
    reason = excluded.reason, ts_last = excluded.ts_last,
    ts_submitted = coalesce(excluded.ts_submitted, orders.ts_submitted),
    ts_written = excluded.ts_written
"""
_UPDATE_ORDER = """
UPDATE orders SET status = ?, filled_quantity = ?, avg_fill_price = ?, venue_order_id = ?,
    reason = ?, ts_last = ?, ts_written = ? WHERE client_order_id = ?
"""
_COUNT_ORDERS = """
INSERT INTO order_counts VALUES (?, ?, ?)
ON CONFLICT (strategy_id, status) DO UPDATE SET count = count + excluded.count
"""
_MARK_FILL = """
INSERT INTO fill_marks VALUES (?, ?)
ON CONFLICT (venue) DO UPDATE SET ts_event = max(ts_event, excluded.ts_event)
"""
_COMMIT_SEQ = "UPDATE store_history SET commit_seq = ?"
_INSERT_EVENT = """
INSERT OR IGNORE INTO order_events (seq, client_order_id, kind, trade_id, ts_event, payload)
VALUES (?, ?, ?, ?, ?, ?)
"""
_INSERT_FILL = """
INSERT OR IGNORE INTO fills (client_order_id, trade_id, venue_order_id, strategy_id, venue,
    symbol, side, quantity, price, fee, fee_currency, liquidity, ts_event, ts_recv, seq)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_UPSERT_COUNTER = """
INSERT INTO id_counters (strategy_id, count) VALUES (?, ?)
ON CONFLICT (strategy_id) DO UPDATE SET count = max(count, excluded.count)
"""
_UPSERT_BALANCES = "INSERT OR REPLACE INTO balance_snapshots VALUES (?, ?, ?, ?)"
_UPSERT_POSITION = "INSERT OR REPLACE INTO position_snapshots VALUES (?, ?, ?, ?, ?)"
_UPSERT_STRATEGY = "INSERT OR REPLACE INTO strategy_states VALUES (?, ?, ?)"


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def static_values(order: Order) -> tuple[Any, ...]:
    # Only immutable values: the writer thread reads them later.
    return (order.client_order_id, order.strategy_id, order.venue, order.symbol, order.side,
            order.type, order.quantity, order.price, order.trigger_price, order.time_in_force,
            order.post_only, order.reduce_only, order.ts_init)


def state_values(order: Order) -> tuple[Any, ...]:
    return (order.status, order.filled_quantity, order.avg_fill_price, order.venue_order_id,
            order.reason, order.ts_last)


class Batch:
    """The rows of one transaction, built by the writer thread from queued operations."""

    def __init__(self, seq: int, prefixes: dict[str, str], commit_seq: int = 0) -> None:
        self.seq = seq
        self.commit_seq = commit_seq
        self.portfolio_ts: int | None = None
        self.durable = False
        self.stop = False
        self._prefixes = prefixes
        self.orders: dict[str, list[Any]] = {}
        self.updates: dict[str, tuple[Any, ...]] = {}
        self.events: list[tuple[Any, ...]] = []
        self.fills: list[tuple[Any, ...]] = []
        self.counters: dict[str, int] = {}
        self.balances: dict[str, tuple[Any, ...]] = {}
        self.positions: dict[tuple[str, str], tuple[Any, ...]] = {}
        self.strategies: dict[str, tuple[Any, ...]] = {}
        self.denied: dict[str, int] = {}
        self.fill_marks: dict[str, int] = {}
        self.venue: VenueRows | None = None

    def add(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        if kind == EVENT:
            self._add_event(op[1], op[2], op[3])
        elif kind == INTENT:
            static = op[1]
            self.orders[static[0]] = [static, op[2], op[3]]
            self.updates.pop(static[0], None)
            self._count_id(static[1], static[0])
            self.durable = True
        elif kind == BALANCES:
            self.balances[op[1]] = (op[1], op[2], self.seq, op[3])
        elif kind == POSITION:
            self.positions[(op[1], op[2])] = (op[1], op[2], op[3], self.seq, op[4])
        elif kind == PORTFOLIO:
            self._add_portfolio(op[1], op[2], op[3])
        elif kind == STRATEGY:
            self.strategies[op[1]] = (op[1], op[2], op[3])
        elif kind == COUNTER:
            self.counters[op[1]] = max(op[2], self.counters.get(op[1], 0))
        elif kind == VENUE_MARKET:
            self._venue_rows().add_market(*op[1:])
        elif kind == VENUE:
            self._venue_rows().add_changes(*op[1:])
            # The venue's fills are as durable as the engine's records of them.
            self.durable = self.durable or bool(op[3])
        else:
            self.stop = True

    def _add_event(self, event: Any, state: tuple[Any, ...], static: tuple[Any, ...] | None
                   ) -> None:
        coid = event.client_order_id
        row = self.orders.get(coid)
        if row is not None:
            row[1] = state
        elif static is not None and event.kind == "denied":
            # Denied before it could leave: counted, not stored (its id is counted too).
            self.denied[static[1]] = self.denied.get(static[1], 0) + 1
            self._count_id(static[1], coid)
            return
        elif static is not None:
            self.orders[coid] = [static, state, None]
            # An order stored without an intent (denied before it could leave) used an id
            # too: a restart must not issue that id again.
            self._count_id(static[1], coid)
        else:
            self.updates[coid] = state
        self.seq += 1
        kind = event.kind
        trade_id = None
        if kind == "filled":
            trade_id = event.trade_id
            self.durable = True
            venue = event.venue
            if event.ts_event > self.fill_marks.get(venue, -1):
                self.fill_marks[venue] = event.ts_event
            self.fills.append((
                coid, trade_id, event.venue_order_id, event.strategy_id, event.venue,
                event.symbol, str(event.side), str(event.quantity), str(event.price),
                str(event.fee), event.fee_currency, event.liquidity, event.ts_event,
                event.ts_recv, self.seq,
            ))
        self.events.append((self.seq, coid, kind, trade_id, event.ts_event,
                            msgspec.json.encode(event)))

    def _add_portfolio(self, balances: tuple[tuple[str, str], ...],
                       positions: tuple[tuple[str, str, str], ...], ts: int) -> None:
        # One snapshot of every account and position at one event sequence number: restore
        # starts from it and applies only the fills stored after it.
        for account, text in balances:
            self.balances[account] = (account, text, self.seq, ts)
        for strategy_id, symbol, text in positions:
            self.positions[(strategy_id, symbol)] = (strategy_id, symbol, text, self.seq, ts)
        self.portfolio_ts = ts

    def _venue_rows(self) -> VenueRows:
        if self.venue is None:
            self.venue = VenueRows()
        return self.venue

    def _count_id(self, strategy_id: str, client_order_id: str) -> None:
        prefix = self._prefixes.get(strategy_id)
        if prefix is None:
            prefix = self._prefixes[strategy_id] = client_order_id_prefix(strategy_id)
        head, _, number = client_order_id.rpartition("-")
        if head == prefix and number.isdigit():
            self.counters[strategy_id] = max(int(number), self.counters.get(strategy_id, 0))

    def write(self, conn: sqlite3.Connection, now: int) -> None:
        conn.executemany(_UPSERT_ORDER, [
            (*_static_row(static), *_state_row(state), ts_submitted, now)
            for static, state, ts_submitted in self.orders.values()
        ])
        conn.executemany(_UPDATE_ORDER, [
            (*_state_row(state), now, coid) for coid, state in self.updates.items()
        ])
        if self.denied:
            conn.executemany(_COUNT_ORDERS, [
                (strategy_id, "denied", count) for strategy_id, count in self.denied.items()
            ])
        conn.executemany(_MARK_FILL, self.fill_marks.items())
        conn.executemany(_INSERT_EVENT, self.events)
        conn.executemany(_INSERT_FILL, self.fills)
        conn.executemany(_UPSERT_COUNTER, self.counters.items())
        conn.executemany(_UPSERT_BALANCES, self.balances.values())
        conn.executemany(_UPSERT_POSITION, self.positions.values())
        conn.executemany(_UPSERT_STRATEGY, self.strategies.values())
        if self.venue is not None:
            self.venue.write(conn)
        conn.execute(_COMMIT_SEQ, (self.commit_seq,))


def _static_row(static: tuple[Any, ...]) -> tuple[Any, ...]:
    (coid, strategy_id, venue, symbol, side, order_type, quantity, price, trigger_price,
     time_in_force, post_only, reduce_only, ts_init) = static
    return (coid, strategy_id, venue, symbol, str(side), str(order_type), str(quantity),
            _text(price), _text(trigger_price), str(time_in_force), int(post_only),
            int(reduce_only), ts_init)


def _state_row(state: tuple[Any, ...]) -> tuple[Any, ...]:
    status, filled, avg_price, venue_order_id, reason, ts_last = state
    return (str(status), str(filled), _text(avg_price), venue_order_id, reason, ts_last)


def write_transaction(conn: sqlite3.Connection, batch: Batch, now: int) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        batch.write(conn, now)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
