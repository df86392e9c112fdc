"""A consistent copy of a state file, taken with SQLite's online backup API.

Copying ``state.db`` with ``cp`` while the daemon runs can catch it between a write to the
main file and one to the ``-wal`` file, and misses whatever the WAL holds. SQLite's backup
API reads one consistent snapshot (committed transactions only, WAL included) through a
read-only connection, so it works while the daemon writes. The copy is written beside the
destination, checked, synced and then renamed: a destination either is a whole, checked
backup or does not exist.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from libra.core.errors import StateStoreError
from libra.persistence.identity import read_history
from libra.persistence.schema import connect_read_only


def backup(path: Path, out: Path) -> dict[str, object]:
    """Copy the state file at ``path`` to ``out`` (a new file); return what was copied.

    Raises:
        StateStoreError: the source cannot be read, ``out`` exists, or the copy fails its
            integrity check.
    """
    if out.exists():
        raise StateStoreError(f"backup {str(out)!r} exists already; choose a new name")
    partial = out.with_name(f".{out.name}.partial")
    source = connect_read_only(path)
    try:
        target = sqlite3.connect(partial, isolation_level=None)
        try:
            source.backup(target)
            # One self-contained file: no -wal beside the copy.
            target.execute("PRAGMA journal_mode = DELETE")
            problems = [row[0] for row in target.execute("PRAGMA quick_check")]
            history = read_history(target)
            orders = target.execute("SELECT count(*) FROM orders").fetchone()[0]
        finally:
            target.close()
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise StateStoreError(f"backup of {str(path)!r} failed: {exc}") from exc
    finally:
        source.close()
    if problems != ["ok"]:
        partial.unlink(missing_ok=True)
        raise StateStoreError(f"backup of {str(path)!r} failed its integrity check: "
                              f"{'; '.join(problems[:3])}")
    _sync(partial)
    partial.rename(out)
    _sync(out.parent)
    return {"path": str(out), "bytes": out.stat().st_size, "orders": orders,
            "store_id": None if history is None else history.store_id,
            "commit_seq": None if history is None else history.commit_seq}


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
