"""What the writer thread does between batches: checkpoint the WAL, compact old history.

A checkpoint copies the write-ahead log into the main file, so the main file (and a copy of
it) is complete. SQLite checkpoints by size on its own (every 1000 pages); the writer adds
one by time, and a truncating one at a clean stop, which leaves no ``-wal`` file at all.

Compaction keeps the file's size bounded on an endless run: a closed order untouched for
longer than the retention window is removed with its events, fills and the simulated
venue's rows of it, and counted in ``order_counts`` by final status. Only history already
covered by a portfolio snapshot is removed, so positions, realized PnL, balances, id
counters and the latest fill time per venue stay exactly what they were.
"""

from __future__ import annotations

import sqlite3

from libra.persistence.schema import CLOSED_ORDER

COMPACT_CHUNK = 2000
"""Orders compacted per transaction: the writer never pauses long for it."""

_OLD_CLOSED = f"""
SELECT client_order_id, strategy_id, venue, status FROM orders
WHERE {CLOSED_ORDER} AND ts_written < ? ORDER BY ts_written LIMIT ?
"""
_COUNT = """
INSERT INTO order_counts VALUES (?, ?, 1)
ON CONFLICT (strategy_id, status) DO UPDATE SET count = count + 1
"""


def checkpoint(conn: sqlite3.Connection, *, truncate: bool = False) -> bool:
    """Copy the WAL into the main file; return True if every frame was copied.

    ``truncate`` also empties the WAL file; it waits for readers, so only at a clean stop.
    """
    mode = "TRUNCATE" if truncate else "PASSIVE"
    busy, log, done = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    return not busy and log == done


def last_snapshot_ts(conn: sqlite3.Connection) -> int | None:
    """Return when the last portfolio snapshot was taken (None if there is none)."""
    row = conn.execute("SELECT max(ts) FROM balance_snapshots").fetchone()
    other = conn.execute("SELECT max(ts) FROM position_snapshots").fetchone()
    times = [t for t in (row[0], other[0]) if t is not None]
    return min(times) if times else None


def compact(conn: sqlite3.Connection, cutoff_ns: int, limit: int = COMPACT_CHUNK) -> int:
    """Remove up to ``limit`` orders closed before ``cutoff_ns`` (one transaction); count them.

    Return how many were removed.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        rows = conn.execute(_OLD_CLOSED, (cutoff_ns, limit)).fetchall()
        for coid, strategy_id, venue, status in rows:
            conn.execute("DELETE FROM order_events WHERE client_order_id = ?", (coid,))
            conn.execute("DELETE FROM fills WHERE client_order_id = ?", (coid,))
            conn.execute("DELETE FROM venue_orders WHERE venue = ? AND client_order_id = ? "
                         "AND status = 'closed'", (venue, coid))
            conn.execute("DELETE FROM venue_fills WHERE venue = ? AND client_order_id = ?",
                         (venue, coid))
            conn.execute("DELETE FROM orders WHERE client_order_id = ?", (coid,))
            conn.execute(_COUNT, (strategy_id, status))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return len(rows)
