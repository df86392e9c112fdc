"""The store knows its history: loss refused at open, a lost file stops it, old history is
compacted, the main file is kept complete."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from persistence_support import T0, apply_and_record, build_fill, build_order

from libra.core.errors import StateStoreError
from libra.model.order_events import OrderAccepted
from libra.persistence import StateStore
from libra.testing import eventually
from libra.trading.portfolio import Portfolio

Open = Callable[..., StateStore]


def _filled_order(store: StateStore, number: int, portfolio: Portfolio) -> None:
    order = build_order(number, quantity="1")
    order.submit(T0)
    store.record_order(order)
    apply_and_record(store, order, OrderAccepted.from_order(order, T0 + 1, venue_order_id="V"))
    fill = build_fill(order, f"T{number}", "1", "100")
    apply_and_record(store, order, fill)
    portfolio.apply_fill(fill)


def _orders_in_main_file(state_path: Path, scratch: Path) -> int:
    """Count the orders the main file holds on its own (what a plain copy would hold)."""
    copy = scratch / "copy.db"
    shutil.copy(state_path, copy)
    conn = sqlite3.connect(copy)
    try:
        return int(conn.execute("SELECT count(*) FROM orders").fetchone()[0])
    except sqlite3.Error:
        return 0
    finally:
        conn.close()
        copy.unlink()


def test_a_rolled_back_file_is_refused_unless_starting_fresh(open_store: Open, state_path: Path,
                                                             tmp_path: Path) -> None:
    store = open_store(durability="block")
    _filled_order(store, 1, Portfolio())
    store.close()
    older = tmp_path / "older.db"
    shutil.copy(state_path, older)
    store = open_store(durability="block")
    _filled_order(store, 2, Portfolio())
    store.close()
    shutil.copy(older, state_path)  # e.g. a lost WAL: the file is back where it was

    with pytest.raises(StateStoreError, match="rolled back"):
        open_store()
    store = open_store(fresh_start=True)
    assert set(store.load_state(history=True).orders) == {"s1-1"}


def test_a_missing_or_replaced_file_is_refused(open_store: Open, state_path: Path,
                                               tmp_path: Path) -> None:
    other = StateStore.open(tmp_path / "other" / "state.db")
    other.close()
    store = open_store(durability="block")
    _filled_order(store, 1, Portfolio())
    store.close()
    state_path.unlink()

    with pytest.raises(StateStoreError, match="is missing"):
        open_store()
    assert not state_path.exists()  # refused before SQLite created anything
    shutil.copy(tmp_path / "other" / "state.db", state_path)
    with pytest.raises(StateStoreError, match="replaced"):
        open_store()


async def test_a_file_deleted_while_open_stops_the_store(open_store: Open,
                                                         state_path: Path) -> None:
    errors: list[StateStoreError] = []
    store = open_store(on_error=errors.append)
    _filled_order(store, 1, Portfolio())
    await store.flush()
    for path in state_path.parent.glob(f"{state_path.name}*"):
        if not path.name.endswith(".lock"):
            path.unlink()

    _filled_order(store, 2, Portfolio())
    with pytest.raises(StateStoreError, match="deleted"):
        await store.flush()
    await eventually(lambda: len(errors) == 1)


async def test_the_main_file_is_complete_while_running(open_store: Open, state_path: Path,
                                                       tmp_path: Path) -> None:
    store = open_store(checkpoint_interval=0.0)
    _filled_order(store, 1, Portfolio())
    await store.flush()
    _filled_order(store, 2, Portfolio())  # the checkpoint runs after a batch
    await store.flush()

    await eventually(lambda: _orders_in_main_file(state_path, tmp_path) >= 1)


async def test_closed_history_is_compacted_and_positions_stay(open_store: Open,
                                                              state_path: Path) -> None:
    store = open_store(retention=1e-9, checkpoint_interval=0.0)
    portfolio = Portfolio()
    for number in range(1, 51):
        _filled_order(store, number, portfolio)
    await store.flush()
    store.record_portfolio(portfolio)  # as the heartbeat does: history before it may go
    await store.flush()
    store.record_id_counter("s1", 50)  # one more batch: maintenance runs after it
    await eventually(lambda: store.compacted == 50)
    store.close()

    state = open_store().load_state(history=True)

    assert state.orders == {}
    assert state.fills == []
    assert state.order_counts == {"s1": {"filled": 50}}
    assert state.id_counters == {"s1": 50}
    position = state.rebuild_portfolio().position("s1", "BTC/USDT")
    assert position is not None
    assert position.snapshot() == portfolio.position("s1", "BTC/USDT").snapshot()


async def test_a_fill_after_compaction_and_a_reopen_is_not_lost(open_store: Open) -> None:
    """Event numbers go on past the snapshot's, even when compaction removed the newest
    events: a fill numbered at or below the snapshot's would be skipped by the restore."""
    store = open_store(retention=1e-9, checkpoint_interval=0.0)
    portfolio = Portfolio()
    for number in range(1, 11):
        _filled_order(store, number, portfolio)
    await store.flush()
    store.record_portfolio(portfolio)
    await store.flush()
    store.record_id_counter("s1", 10)
    await eventually(lambda: store.compacted == 10)
    store.close()

    store = open_store()
    _filled_order(store, 11, portfolio)  # no snapshot after it: a crash here
    await store.flush()
    store.close()

    position = open_store().load_state().rebuild_portfolio().position("s1", "BTC/USDT")
    assert position is not None
    assert position.snapshot() == portfolio.position("s1", "BTC/USDT").snapshot()
