"""The writer thread's side of an open state file: one checked transaction per batch.

``FileWriter`` owns the write connection. Each batch of queued operations becomes one
transaction that also advances the store's commit count; after the commit it checks that
the path still names the file it wrote to, and after a durable commit it rewrites the
marker (``identity``). Between batches it runs the periodic checkpoint and compaction
(``maintenance``); at a clean close, a full checkpoint.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from typing import Any

from libra.persistence import maintenance
from libra.persistence._rows import Batch, write_transaction
from libra.persistence.opening import OpenedFile


class FileLost(Exception):
    """The path no longer names the file the store writes to."""


class FileWriter:
    """Write batches to an opened state file and keep it checkpointed and compacted."""

    def __init__(self, opened: OpenedFile, retention: float | None,
                 checkpoint_interval: float) -> None:
        self.conn = opened.conn
        self.commit_seq = opened.history.commit_seq
        self.next_event_seq = opened.next_event_seq
        #: Orders compacted since open.
        self.compacted = 0
        self._marker = opened.marker
        self._identity = opened.identity
        self._retention = retention
        self._interval = checkpoint_interval
        self._synchronous = "FULL"
        self._snapshot_ts = maintenance.last_snapshot_ts(opened.conn)
        self._next_maintenance = time.monotonic() + checkpoint_interval

    def commit(self, ops: list[tuple[Any, ...]], prefixes: dict[str, str]) -> Batch:
        """Write ``ops`` as one transaction; return the batch once it is safely on disk.

        Raises:
            FileLost: the state file was deleted or replaced.
            sqlite3.Error: the write failed.
        """
        batch = Batch(self.next_event_seq, prefixes, self.commit_seq + 1)
        for op in ops:
            batch.add(op)
        wanted = "FULL" if batch.durable else "NORMAL"
        if wanted != self._synchronous:
            self.conn.execute(f"PRAGMA synchronous = {wanted}")
            self._synchronous = wanted
        write_transaction(self.conn, batch, time.time_ns())
        problem = self._identity.problem()
        if problem is not None:
            raise FileLost(problem)
        if batch.durable:
            self._marker.write(batch.commit_seq)
        self.next_event_seq, self.commit_seq = batch.seq, batch.commit_seq
        if batch.portfolio_ts is not None:
            self._snapshot_ts = batch.portfolio_ts
        return batch

    def maintain_if_due(self) -> None:
        """Checkpoint and compact when the interval has passed (or compaction is behind)."""
        if time.monotonic() < self._next_maintenance:
            return
        maintenance.checkpoint(self.conn)
        removed = 0
        if self._retention is not None and self._snapshot_ts is not None:
            # Only history a portfolio snapshot already covers may go.
            cutoff = min(time.time_ns() - int(self._retention * 1e9), self._snapshot_ts)
            removed = maintenance.compact(self.conn, cutoff)
            self.compacted += removed
        # A full chunk means more is due: continue after the next batch.
        pause = 0.0 if removed >= maintenance.COMPACT_CHUNK else self._interval
        self._next_maintenance = time.monotonic() + pause

    def close(self, *, clean: bool) -> bool:
        """Close the file; after a clean run copy the whole WAL into it first.

        Return True if the main file was left complete (no WAL frames outside it).
        """
        complete = False
        if clean:
            with contextlib.suppress(sqlite3.Error):
                complete = maintenance.checkpoint(self.conn, truncate=True)
        self.conn.close()
        self._marker.close()
        return complete
