"""StateStore: every order intent, order event, fill and snapshot, in one SQLite file.

One writer thread owns the write connection. Callers on the event loop only put a tuple of
immutable values on a queue (about a microsecond); the thread drains the queue into one
transaction per batch (group commit), so a burst of N writes costs one commit.

Durability:

* A batch holding an order intent or a fill commits with ``synchronous=FULL`` (the WAL is
  fsynced before the commit returns); other batches use ``NORMAL``, which survives a killed
  process but maybe not a power cut.
* An order must not leave the process before its intent is on disk. A synchronous commit on
  the loop costs one fsync per order (0.7-2.5 ms on this disk, measured), so ``record_order``
  only enqueues and the execution engine awaits ``wait_intent(order)`` before sending the
  order: intents queued together share one fsync and the loop keeps running meanwhile.
  ``durability="block"`` makes ``record_order`` and the recording of a fill wait for the
  disk (for callers that cannot await, and for tests of durability).
* A fill is durable one group commit (a few ms) after ``record_event``; one lost in that window
  by a crash is still at the venue and comes back through reconciliation (``fetch_fills``).

A failed write (disk full, I/O error), or a state file deleted or replaced under the running
process, stops the writer: it is logged once, ``on_error`` is called, and every later wait
(``wait_intent``, ``flush``, ``sync``) raises ``StateStoreError``, so no order leaves without
its intent on disk. The store knows its own history (``identity``): a file that lost part of
it is refused at open. Between batches the writer checkpoints the WAL and compacts closed
history older than the retention window (``maintenance``), so the file stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

import structlog

from libra.core.errors import StateStoreError
from libra.persistence import schema
from libra.persistence._rows import (
    BALANCES,
    COUNTER,
    EVENT,
    INTENT,
    PORTFOLIO,
    STOP,
    STRATEGY,
    VENUE,
    VENUE_MARKET,
    state_values,
    static_values,
)
from libra.persistence.opening import acquire_lock, make_directory, open_file
from libra.persistence.state import LoadedState, read_state
from libra.persistence.venue import (
    VenueAccountRecord,
    VenueOrderRecord,
    VenueState,
    read_venue_states,
)
from libra.persistence.writer import FileLost, FileWriter

if TYPE_CHECKING:
    from libra.model.fills import Fill
    from libra.model.orders import Order
    from libra.trading.portfolio import Portfolio

Durability = Literal["await", "block"]


class StateStore:
    """The persistent state of one LIBRA process: orders, fills, balances, strategy state.

    Build it with ``StateStore.open(path)``; call ``record_*`` and ``save_*`` from one thread
    (the event loop); they never block in the default ``durability="await"`` mode.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        durability: Durability = "await",
        max_batch: int = 2000,
        on_error: Callable[[StateStoreError], None] | None = None,
        fresh_start: bool = False,
        retention: float | None = None,
        checkpoint_interval: float = 60.0,
    ) -> None:
        self.path = Path(path)
        self.durability = durability
        self.max_batch = max_batch
        self.on_error = on_error
        self.fresh_start = fresh_start
        #: Seconds a closed order is kept one by one (None: for ever).
        self.retention = retention
        self.checkpoint_interval = checkpoint_interval
        self.store_id = ""
        self._writer: FileWriter | None = None
        self.batches = 0
        self.writes = 0
        self._queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._enqueued = 0
        self._committed = 0
        self._error: StateStoreError | None = None
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._intents: deque[tuple[int, str]] = deque()
        self._intent_tickets: dict[str, int] = {}
        self._known: set[str] = set()
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self._lock_file: int | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._log = structlog.get_logger("libra.state").bind(path=str(self.path))

    # -- opening and closing ----------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        durability: Durability = "await",
        max_batch: int = 2000,
        on_error: Callable[[StateStoreError], None] | None = None,
        fresh_start: bool = False,
        retention: float | None = None,
        checkpoint_interval: float = 60.0,
    ) -> Self:
        """Lock, check, migrate and open the state file at ``path`` (created if missing).

        ``fresh_start`` accepts a file that lost history (see ``identity``); ``retention``:
        seconds a closed order is kept one by one (None: for ever); ``checkpoint_interval``:
        seconds between WAL checkpoints.

        Raises:
            StateStoreError: the file is locked by another process, is not SQLite, is corrupt,
                foreign, too new, or lost history. The file is left untouched.
        """
        store = cls(path, durability=durability, max_batch=max_batch, on_error=on_error,
                    fresh_start=fresh_start, retention=retention,
                    checkpoint_interval=checkpoint_interval)
        store._open()
        return store

    def _open(self) -> None:
        make_directory(self.path)
        self._lock_file = acquire_lock(self.path)
        try:
            self._connect()
        except BaseException:
            self._release_lock()
            raise
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._thread = threading.Thread(target=self._run, name="libra-state-writer",
                                        daemon=True)
        self._thread.start()

    def _connect(self) -> None:
        opened = open_file(self.path, fresh_start=self.fresh_start, log=self._log)
        self._writer = FileWriter(opened, self.retention, self.checkpoint_interval)
        self.store_id = opened.history.store_id
        self._log.info("state_store.opened", schema_version=schema.SCHEMA_VERSION,
                       migrated_from=opened.migrated_from, store_id=self.store_id,
                       commit_seq=self.commit_seq)

    commit_seq = property(lambda self: 0 if self._writer is None else self._writer.commit_seq,
                          doc="How many transactions the file has committed.")
    compacted = property(lambda self: 0 if self._writer is None else self._writer.compacted,
                         doc="How many closed orders were compacted since open.")

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            os.close(self._lock_file)  # closing the descriptor releases the flock
            self._lock_file = None

    def close(self) -> None:
        """Write everything queued, stop the writer and release the file. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._queue.put((STOP,))
            self._thread.join()
        if self._reader is not None:
            self._reader.close()
        complete = False
        if self._writer is not None:
            # A clean stop leaves one complete file: the whole WAL copied into it.
            complete = self._writer.close(clean=self._error is None)
        self._release_lock()
        self._log.info("state_store.closed", writes=self.writes, batches=self.batches,
                       commit_seq=self.commit_seq, checkpointed=complete)

    async def aclose(self) -> None:
        """Close without blocking the event loop."""
        await asyncio.to_thread(self.close)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        get, get_nowait = self._queue.get, self._queue.get_nowait
        prefixes: dict[str, str] = {}
        writer = self._writer
        assert writer is not None
        while True:
            ops = [get()]
            while len(ops) < self.max_batch:
                try:
                    ops.append(get_nowait())
                except queue.Empty:
                    break
            try:
                batch = writer.commit(ops, prefixes)
            except Exception as exc:  # the writer's edge: any failure stops it, loudly
                self._fail(exc)
                return
            self.batches += 1
            self.writes += len(ops)
            self._committed_up_to(len(ops))
            if batch.stop:
                return
            try:
                writer.maintain_if_due()
            except Exception as exc:
                self._fail(exc)
                return

    def _committed_up_to(self, count: int) -> None:
        with self._cond:
            self._committed += count
            self._cond.notify_all()
            wake = bool(self._waiters)
        if wake:
            self._call_in_loop(self._wake_waiters)

    def _fail(self, exc: BaseException) -> None:
        if isinstance(exc, FileLost):
            error = StateStoreError(f"state file {str(self.path)!r} lost: {exc}; nothing can "
                                    "be saved any more, trading halted")
        else:
            error = StateStoreError(f"state file {str(self.path)!r}: write failed: "
                                    f"{type(exc).__name__}: {exc}; trading halted")
        self._log.error("state_store.write_failed", error=str(error))
        with self._cond:
            self._error = error
            self._cond.notify_all()
        self._call_in_loop(self._wake_waiters)
        if self.on_error is not None:
            self._call_in_loop(self.on_error, error)

    def _call_in_loop(self, callback: Callable[..., Any], *args: Any) -> None:
        loop = self._loop
        if loop is None:
            callback(*args)
            return
        # A closed loop has nobody waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(callback, *args)

    def _wake_waiters(self) -> None:
        with self._cond:
            committed, error = self._committed, self._error
            ready = [f for ticket, f in self._waiters if error or ticket <= committed]
            self._waiters = [(t, f) for t, f in self._waiters if not (error or t <= committed)]
        for future in ready:
            if not future.done():
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(None)
        self._prune_intents()

    # -- writing ----------------------------------------------------------------------------

    def _put(self, op: tuple[Any, ...]) -> int:
        if self._closed:
            raise StateStoreError(f"state file {str(self.path)!r}: the store is closed")
        with self._cond:
            self._enqueued += 1
            if self._error is None:
                self._queue.put(op)
            return self._enqueued

    def record_order(self, order: Order) -> None:
        """Record the intent to send ``order`` (its id counter goes with it).

        With ``durability="await"`` this only enqueues: await ``wait_intent(order)`` before
        the order leaves the process. With ``"block"`` it returns once the intent is on disk.
        """
        coid = order.client_order_id
        ticket = self._put((INTENT, static_values(order), state_values(order), order.ts_last))
        self._known.add(coid)
        if self.durability == "block":
            self._wait_blocking(ticket)
            return
        self._intents.append((ticket, coid))
        self._intent_tickets[coid] = ticket

    def record_event(self, order: Order, event: Any) -> None:
        """Record one order event or fill applied to ``order`` (a fill is stored once).

        With ``durability="block"`` a fill is on disk when this returns.
        """
        coid = order.client_order_id
        static = None
        known = self._known
        if coid not in known:
            static = static_values(order)
            if order.is_open:
                known.add(coid)
        elif not order.is_open:
            # A closed order's later events (a late fill) carry its static values again:
            # the set stays as small as the open orders.
            known.discard(coid)
        ticket = self._put((EVENT, event, state_values(order), static))
        if self.durability == "block" and event.kind == "filled":
            self._wait_blocking(ticket)

    def record_balances(self, account: str, balances: Mapping[str, Decimal],
                        ts: int | None = None) -> None:
        """Record a snapshot of one account's balances."""
        text = json.dumps({currency: str(amount) for currency, amount in balances.items()})
        self._put((BALANCES, account, text, time.time_ns() if ts is None else ts))

    def record_portfolio(self, portfolio: Portfolio, ts: int | None = None) -> None:
        """Record every account's balances and every position of ``portfolio`` at once."""
        ts = time.time_ns() if ts is None else ts
        balances = tuple(
            (account, json.dumps({c: str(v) for c, v in portfolio.balances(account).items()}))
            for account in portfolio.accounts)
        positions = tuple((p.strategy_id, p.symbol, json.dumps(p.snapshot()))
                          for p in portfolio.positions())
        self._put((PORTFOLIO, balances, positions, ts))

    def record_id_counter(self, strategy_id: str, count: int) -> None:
        """Record that ``count`` client order ids were issued for ``strategy_id``."""
        self._put((COUNTER, strategy_id, count))

    def save_strategy_state(self, strategy_id: str, state: Mapping[str, Any],
                            ts: int | None = None) -> None:
        """Save a strategy's JSON-safe state (``StrategyPlugin.on_save`` output).

        Raises:
            TypeError: the state is not JSON-safe.
        """
        try:
            text = json.dumps(state, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"state of strategy {strategy_id!r} is not JSON-safe: {exc}") from exc
        self._put((STRATEGY, strategy_id, text, time.time_ns() if ts is None else ts))

    def record_venue_changes(self, venue: str, orders: Sequence[VenueOrderRecord],
                             fills: Sequence[Fill], account: VenueAccountRecord) -> None:
        """Record a simulated venue's changed orders, new fills and account.

        Call it before reporting the events the change caused: the queue is written in
        order, so the venue's state is on disk no later than the engine's record of them.
        """
        self._put((VENUE, venue, tuple(orders), tuple(fills), account))

    def record_venue_market(self, venue: str, symbol: str, bid: Decimal | None,
                            ask: Decimal | None, last: Decimal | None, has_bars: bool,
                            ts_event: int) -> None:
        """Record the market a simulated venue last saw for ``symbol`` (its replay position)."""
        self._put((VENUE_MARKET, venue, symbol, bid, ask, last, has_bars, ts_event))

    # -- durability -------------------------------------------------------------------------

    def intent_pending(self, client_order_id: str) -> bool:
        """Return True while the intent of that order is not on disk yet."""
        ticket = self._intent_tickets.get(client_order_id)
        if ticket is None:
            return False
        if ticket <= self._committed and self._error is None:
            self._prune_intents()
            return False
        return True

    async def wait_intent(self, order: Order) -> None:
        """Return once the intent of ``order`` is on disk (at once if it already is).

        Raises:
            StateStoreError: the store failed to write it.
        """
        ticket = self._intent_tickets.get(order.client_order_id)
        if ticket is not None:
            await self._wait(ticket)

    async def persist_intent(self, order: Order) -> None:
        """Record the intent to send ``order`` and return once it is on disk."""
        self.record_order(order)
        await self.wait_intent(order)

    async def flush(self) -> None:
        """Return once everything recorded so far is on disk."""
        await self._wait(self._enqueued)

    def sync(self) -> None:
        """Block until everything recorded so far is on disk (start-up, shutdown, tests)."""
        self._wait_blocking(self._enqueued)

    async def _wait(self, ticket: int) -> None:
        loop = asyncio.get_running_loop()
        with self._cond:
            if self._error is not None:
                raise self._error
            if ticket <= self._committed:
                return
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append((ticket, future))
            self._loop = loop
        await future

    def _wait_blocking(self, ticket: int) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._error is not None or self._committed >= ticket)
            if self._error is not None:
                raise self._error

    def _prune_intents(self) -> None:
        intents, tickets, committed = self._intents, self._intent_tickets, self._committed
        while intents and intents[0][0] <= committed:
            ticket, coid = intents.popleft()
            if tickets.get(coid) == ticket:
                del tickets[coid]

    # -- reading ----------------------------------------------------------------------------

    def _read(self, query: Callable[[sqlite3.Connection], Any]) -> Any:
        self.sync()
        with self._read_lock:
            if self._reader is None:
                self._reader = sqlite3.connect(self.path, isolation_level=None,
                                               check_same_thread=False)
            return query(self._reader)

    def load_state(self, *, history: bool = False) -> LoadedState:
        """Return what a restart needs: open orders rebuilt from their events, the portfolio's
        last snapshot and the fills after it, counters, strategy states.

        ``history=True`` reads every order and fill still stored (slower; for inspection).
        """
        return self._read(lambda conn: read_state(conn, history=history))  # type: ignore[no-any-return]

    def load_venue_state(self, venue: str) -> VenueState | None:
        """Return what a simulated venue stored for a restart (its open orders, the orders
        the engine still has open, their fills), or None if it stored nothing yet."""
        states = self._read(lambda conn: read_venue_states(conn, history=False))
        return states.get(venue)  # type: ignore[no-any-return]

    def load_strategy_state(self, strategy_id: str) -> dict[str, Any] | None:
        """Return the state last saved for ``strategy_id``, or None."""
        row = self._read(lambda conn: conn.execute(
            "SELECT state FROM strategy_states WHERE strategy_id = ?", (strategy_id,)
        ).fetchone())
        return None if row is None else json.loads(row[0])
