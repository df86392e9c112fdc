"""The state file's schema, its ordered migrations and the checks made before using a file.

A LIBRA state file is an SQLite database whose ``PRAGMA application_id`` is ``APPLICATION_ID``
and whose ``PRAGMA user_version`` is the schema version. Opening never writes to a file that
fails a check: a file that is not SQLite, a corrupt one, another program's database or one
written by a newer LIBRA raises ``StateStoreError`` and is left exactly as it was.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from libra.core.errors import StateStoreError

APPLICATION_ID = 0x4C425241  # "LBRA"
SQLITE_HEADER = b"SQLite format 3\x00"
QUICK_CHECK_MAX_BYTES = 64 * 1024 * 1024
"""Files up to this size get SQLite's full ``quick_check`` at open; larger ones the header
and schema checks only (corruption found later stops the store, loudly)."""

_V1 = (
    """CREATE TABLE orders (
        client_order_id TEXT PRIMARY KEY,
        strategy_id TEXT NOT NULL,
        venue TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        type TEXT NOT NULL,
        quantity TEXT NOT NULL,
        price TEXT,
        trigger_price TEXT,
        time_in_force TEXT NOT NULL,
        post_only INTEGER NOT NULL,
        reduce_only INTEGER NOT NULL,
        ts_init INTEGER NOT NULL,
        ts_submitted INTEGER,
        status TEXT NOT NULL,
        filled_quantity TEXT NOT NULL,
        avg_fill_price TEXT,
        venue_order_id TEXT,
        reason TEXT,
        ts_last INTEGER NOT NULL
    )""",
    "CREATE INDEX orders_status ON orders (status)",
    # Every change applied to an order, fills included, in the order the engine applied them.
    """CREATE TABLE order_events (
        seq INTEGER PRIMARY KEY,
        client_order_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        trade_id TEXT,
        ts_event INTEGER NOT NULL,
        payload BLOB NOT NULL
    )""",
    "CREATE INDEX order_events_order ON order_events (client_order_id, seq)",
    """CREATE UNIQUE INDEX order_events_trade ON order_events (client_order_id, trade_id)
        WHERE trade_id IS NOT NULL""",
    """CREATE TABLE fills (
        client_order_id TEXT NOT NULL,
        trade_id TEXT NOT NULL,
        venue_order_id TEXT,
        strategy_id TEXT NOT NULL,
        venue TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        quantity TEXT NOT NULL,
        price TEXT NOT NULL,
        fee TEXT NOT NULL,
        fee_currency TEXT NOT NULL,
        liquidity TEXT NOT NULL,
        ts_event INTEGER NOT NULL,
        ts_recv INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        UNIQUE (client_order_id, trade_id)
    )""",
    "CREATE INDEX fills_venue_time ON fills (venue, ts_event)",
    # event_seq: the last order event written before the snapshot was taken.
    """CREATE TABLE balance_snapshots (
        account TEXT PRIMARY KEY,
        balances TEXT NOT NULL,
        event_seq INTEGER NOT NULL,
        ts INTEGER NOT NULL
    )""",
    """CREATE TABLE position_snapshots (
        strategy_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        snapshot TEXT NOT NULL,
        event_seq INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        PRIMARY KEY (strategy_id, symbol)
    )""",
    """CREATE TABLE strategy_states (
        strategy_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        ts INTEGER NOT NULL
    )""",
    """CREATE TABLE id_counters (
        strategy_id TEXT PRIMARY KEY,
        count INTEGER NOT NULL
    )""",
)

# A simulated venue's own state (the paper gateway's), so that it survives a restart as a
# real venue would: written through the same writer queue, before the events it reports.
_V2 = (
    """CREATE TABLE venue_accounts (
        venue TEXT PRIMARY KEY,
        balances TEXT NOT NULL,
        reserved TEXT NOT NULL,
        order_seq INTEGER NOT NULL,
        trade_seq INTEGER NOT NULL,
        duplicate_submits INTEGER NOT NULL
    )""",
    # Every order the venue accepted, by client order id; status: open, next_open or closed.
    """CREATE TABLE venue_orders (
        venue TEXT NOT NULL,
        client_order_id TEXT NOT NULL,
        venue_order_id TEXT NOT NULL,
        strategy_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        type TEXT NOT NULL,
        quantity TEXT NOT NULL,
        price TEXT,
        trigger_price TEXT,
        time_in_force TEXT NOT NULL,
        post_only INTEGER NOT NULL,
        filled TEXT NOT NULL,
        reserved TEXT NOT NULL,
        triggered INTEGER NOT NULL,
        activate_at INTEGER NOT NULL,
        status TEXT NOT NULL,
        PRIMARY KEY (venue, client_order_id)
    )""",
    # A trade id never repeats at a venue: a second insert fails the write, loudly.
    """CREATE TABLE venue_fills (
        venue TEXT NOT NULL,
        trade_id TEXT NOT NULL,
        client_order_id TEXT NOT NULL,
        ts_event INTEGER NOT NULL,
        payload BLOB NOT NULL,
        PRIMARY KEY (venue, trade_id)
    )""",
    """CREATE TABLE venue_markets (
        venue TEXT NOT NULL,
        symbol TEXT NOT NULL,
        bid TEXT,
        ask TEXT,
        last TEXT,
        has_bars INTEGER NOT NULL,
        ts_event INTEGER NOT NULL,
        PRIMARY KEY (venue, symbol)
    )""",
    # The ts_event of the last market event the venue processed (where a replay resumes).
    """CREATE TABLE venue_replay (
        venue TEXT PRIMARY KEY,
        ts_event INTEGER NOT NULL
    )""",
)

_CLOSED = "('filled', 'canceled', 'expired', 'rejected', 'denied')"
OPEN_ORDER = f"status NOT IN {_CLOSED}"
"""The SQL condition of an order still open (the partial index ``orders_open`` matches it)."""
CLOSED_ORDER = f"status IN {_CLOSED}"

# Version 3: the store knows its own history (an identity and a commit count, mirrored in a
# marker file beside it), counts what it no longer keeps one by one (denied and compacted
# orders), and indexes what a restart reads, so restore never scans closed history.
_V3 = (
    """CREATE TABLE store_history (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        store_id TEXT NOT NULL,
        commit_seq INTEGER NOT NULL,
        created_ns INTEGER NOT NULL
    )""",
    """INSERT INTO store_history VALUES (1, lower(hex(randomblob(16))), 0,
        CAST((julianday('now') - 2440587.5) * 86400000000000 AS INTEGER))""",
    # Orders no longer stored one by one: denied at once, or compacted after the retention.
    """CREATE TABLE order_counts (
        strategy_id TEXT NOT NULL,
        status TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (strategy_id, status)
    )""",
    # The latest fill time per venue: where reconciliation asks the venue for fills from.
    """CREATE TABLE fill_marks (
        venue TEXT PRIMARY KEY,
        ts_event INTEGER NOT NULL
    )""",
    "INSERT INTO fill_marks SELECT venue, max(ts_event) FROM fills GROUP BY venue",
    # ts_written: when the writer last changed the row (wall clock); compaction reads it.
    "ALTER TABLE orders ADD COLUMN ts_written INTEGER NOT NULL DEFAULT 0",
    f"CREATE INDEX orders_open ON orders (client_order_id) WHERE {OPEN_ORDER}",
    f"CREATE INDEX orders_closed ON orders (ts_written) WHERE {CLOSED_ORDER}",
    "DROP INDEX orders_status",
    "CREATE INDEX venue_orders_open ON venue_orders (venue) WHERE status != 'closed'",
    "CREATE INDEX venue_fills_order ON venue_fills (venue, client_order_id)",
)

MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = ((1, _V1), (2, _V2), (3, _V3))
"""``(version, statements)`` in order; migration N takes a file from version N-1 to N."""

SCHEMA_VERSION = MIGRATIONS[-1][0]


def check_file(path: Path) -> None:
    """Refuse a path that exists but is not an SQLite file, before SQLite touches it.

    Raises:
        StateStoreError: the path is not a regular file or does not start with the SQLite
            header.
    """
    if not path.exists():
        return
    if not path.is_file():
        raise StateStoreError(f"state file {str(path)!r} is not a regular file")
    with path.open("rb") as file:
        header = file.read(100)
    if header and header[:len(SQLITE_HEADER)] != SQLITE_HEADER:
        raise StateStoreError(
            f"state file {str(path)!r} is not an SQLite database (header {header[:16]!r}); "
            "it was left untouched: move it away or point kernel.state_path elsewhere"
        )
    if len(header) == 100:
        # The header says how many pages the main file holds: fewer bytes means truncated
        # (a check that costs nothing, where a full integrity check reads every page).
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        pages = int.from_bytes(header[28:32], "big")
        size = path.stat().st_size
        if size < page_size * pages:
            raise StateStoreError(
                f"state file {str(path)!r} is corrupt: truncated to {size} bytes, its header "
                f"says {page_size * pages}; it was left untouched")


def check_database(conn: sqlite3.Connection, path: Path) -> int:
    """Check integrity and identity of an open state file; return its schema version.

    Version 0 means a new, empty database that ``migrate`` will create.

    Raises:
        StateStoreError: the file is corrupt, belongs to another program or has a schema
            newer than this code knows.
    """
    try:
        # A full check reads every page: at most on files small enough to read at once.
        thorough = not path.exists() or path.stat().st_size <= QUICK_CHECK_MAX_BYTES
        problems = [row[0] for row in conn.execute("PRAGMA quick_check")] if thorough \
            else ["ok"]
        application_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise StateStoreError(
            f"state file {str(path)!r} is corrupt or not a database: {exc}; "
            "it was left untouched"
        ) from exc
    if problems != ["ok"]:
        raise StateStoreError(
            f"state file {str(path)!r} is corrupt (integrity check: {'; '.join(problems[:3])}); "
            "it was left untouched"
        )
    if application_id == 0 and version == 0 and tables == 0:
        return 0
    if application_id != APPLICATION_ID:
        raise StateStoreError(
            f"state file {str(path)!r} is an SQLite database of another program "
            f"(application_id {application_id:#x}, expected {APPLICATION_ID:#x})"
        )
    if version > SCHEMA_VERSION:
        raise StateStoreError(
            f"state file {str(path)!r} has schema version {version}, newer than this LIBRA "
            f"knows ({SCHEMA_VERSION}): upgrade LIBRA or use another state file"
        )
    return int(version)


def migrate(conn: sqlite3.Connection, version: int) -> None:
    """Apply every migration after ``version``, each in its own transaction."""
    for target, statements in MIGRATIONS:
        if target <= version:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {target}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def connect_read_only(path: Path) -> sqlite3.Connection:
    """Open a state file read-only (works while the daemon writes to it).

    Raises:
        StateStoreError: the file is missing, not SQLite, corrupt, foreign or too new.
    """
    if not path.is_file():
        raise StateStoreError(f"state file {str(path)!r} does not exist")
    check_file(path)
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                               check_same_thread=False)
    except sqlite3.Error as exc:
        raise StateStoreError(f"cannot open state file {str(path)!r}: {exc}") from exc
    try:
        version = check_database(conn, path)
    except BaseException:
        conn.close()
        raise
    if version == 0:
        conn.close()
        raise StateStoreError(f"state file {str(path)!r} is empty (no LIBRA schema)")
    return conn
