"""Open a state file for writing: its directory, lock, checks, history and migrations.

Nothing is written to a file that fails a check: a foreign, corrupt or too new file, or one
whose history does not match its marker (see ``identity``), is refused before SQLite
changes its header. A missing directory is created readable by the owner only: the file
holds the account's orders and balances.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from libra.core.errors import StateStoreError
from libra.persistence import schema
from libra.persistence.identity import (
    FileIdentity,
    History,
    Marker,
    check_history,
    read_history,
    read_marker,
    refuse_missing,
)

WAL_SIZE_LIMIT = 64 * 1024 * 1024
"""Bytes of ``-wal`` file kept after a checkpoint resets it (SQLite's journal_size_limit)."""


@dataclass(slots=True)
class OpenedFile:
    """A state file opened for writing, with what the writer needs to keep it honest."""

    conn: sqlite3.Connection
    history: History
    marker: Marker
    identity: FileIdentity
    next_event_seq: int
    migrated_from: int | None


def make_directory(path: Path) -> None:
    """Create the directory of ``path`` (mode 0700) if it is missing.

    Raises:
        StateStoreError: it cannot be created.
    """
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StateStoreError(f"cannot create the directory of state file {str(path)!r}: "
                              f"{exc}") from exc


def acquire_lock(path: Path) -> int:
    """Take the state file's lock (``<path>.lock``); return its descriptor.

    Raises:
        StateStoreError: another process holds it.
    """
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StateStoreError(f"cannot create lock file {str(lock_path)!r}: {exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StateStoreError(
            f"state file {str(path)!r} is in use by another process (pid {holder}); "
            "two daemons must not share one state file"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def open_file(path: Path, *, fresh_start: bool, log: Any) -> OpenedFile:
    """Check, migrate and open the (locked) state file at ``path``.

    Raises:
        StateStoreError: the file cannot be used, or its history was lost and
            ``fresh_start`` is False.
    """
    marker = read_marker(path)
    empty = not path.exists() or path.stat().st_size == 0
    if marker is not None and empty and not fresh_start:
        refuse_missing(path, marker)
    schema.check_file(path)
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StateStoreError(f"cannot open state file {str(path)!r}: {exc}") from exc
    try:
        return _prepare(conn, path, marker, fresh_start, log)
    except BaseException:
        conn.close()
        raise


def _prepare(conn: sqlite3.Connection, path: Path, marker: History | None, fresh_start: bool,
             log: Any) -> OpenedFile:
    version = schema.check_database(conn, path)
    found = read_history(conn)
    if marker is not None and not fresh_start:
        check_history(path, found, marker)
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode != "wal":
        raise StateStoreError(f"state file {str(path)!r} cannot use WAL, was {mode!r}")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
    schema.migrate(conn, version)
    history = read_history(conn)
    assert history is not None  # schema 3 and later record it
    if marker is None or fresh_start:
        _announce_history(log, path, marker, found, history, fresh_start)
    opened = Marker(path, history.store_id)
    try:
        if marker is None or fresh_start or marker.commit_seq != history.commit_seq:
            opened.create(history.commit_seq)
        # Compaction may have deleted the newest events; the snapshots still name them, and
        # a later event numbered at or below a snapshot's would be skipped by restore.
        next_seq = conn.execute(
            "SELECT max((SELECT coalesce(max(seq), 0) FROM order_events),"
            " (SELECT coalesce(max(event_seq), 0) FROM balance_snapshots),"
            " (SELECT coalesce(max(event_seq), 0) FROM position_snapshots))").fetchone()[0]
    except BaseException:
        opened.close()
        raise
    return OpenedFile(conn, history, opened, FileIdentity(path), next_seq,
                      version if 0 < version < schema.SCHEMA_VERSION else None)


def _announce_history(log: Any, path: Path, marker: History | None, found: History | None,
                      history: History, fresh_start: bool) -> None:
    if fresh_start:
        log.warning("state_store.fresh_start", store_id=history.store_id,
                    commit_seq=history.commit_seq,
                    marker_store_id=None if marker is None else marker.store_id,
                    marker_commit_seq=None if marker is None else marker.commit_seq)
    elif found is not None and found.commit_seq > 0:
        # A file with history but no marker: a backup put back into an empty directory, or
        # a marker removed by hand. Nothing to compare with: say so, then keep watching.
        log.warning("state_store.marker_created", store_id=history.store_id,
                    commit_seq=history.commit_seq, marker=str(path))
