"""StateStore: what is recorded comes back, once, in the order it was applied."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from persistence_support import T0, apply_and_record, build_fill, build_order

from libra.core.errors import StateStoreError
from libra.model.order_events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderPendingCancel,
)
from libra.model.orders import Order, OrderStatus
from libra.persistence import StateStore

Open = Callable[..., StateStore]

_COMPARED = ("status", "filled_quantity", "avg_fill_price", "venue_order_id", "fees",
             "trade_ids", "reason", "ts_last", "quantity", "price", "side", "type")


def _record_history(store: StateStore) -> dict[str, Order]:
    """Four orders through most of the state machine, recorded as the engine records them."""
    filled, canceled, denied, reopened = (build_order(n) for n in (1, 2, 3, 4))
    for order in (filled, canceled, reopened):
        order.submit(order.ts_init + 1)
        store.record_order(order)
        apply_and_record(store, order, OrderAccepted.from_order(
            order, order.ts_init + 2, venue_order_id="V-" + order.client_order_id))
    apply_and_record(store, filled, build_fill(filled, "T1", "0.5", "99", ts=T0 + 10))
    apply_and_record(store, filled, build_fill(filled, "T2", "1.5", "101", ts=T0 + 11))
    apply_and_record(store, canceled, OrderPendingCancel.from_order(canceled, T0 + 12))
    apply_and_record(store, canceled, OrderCanceled.from_order(canceled, T0 + 13,
                                                               venue_order_id=None))
    denied.deny("max open orders", T0 + 14)
    store.record_event(denied, OrderDenied.from_order(denied, T0 + 14, reason="max open orders"))
    apply_and_record(store, reopened, build_fill(reopened, "T3", "1", "100", ts=T0 + 15))
    apply_and_record(store, reopened, OrderPendingCancel.from_order(reopened, T0 + 16))
    apply_and_record(store, reopened, OrderCancelRejected.from_order(
        reopened, T0 + 17, reason="too late", venue_order_id=None))
    return {o.client_order_id: o for o in (filled, canceled, denied, reopened)}


async def test_round_trip_rebuilds_every_order_exactly(open_store: Open) -> None:
    store = open_store()
    originals = _record_history(store)
    store.record_balances("paper", {"USDT": Decimal("1000.5"), "BTC": Decimal(0)})
    store.save_strategy_state("s1", {"fast": 10, "armed": True})
    store.close()

    state = open_store().load_state(history=True)

    # The denied order is counted, not stored: it never left, so only its number matters.
    assert set(state.orders) == set(originals) - {"s1-3"}
    assert state.order_counts == {"s1": {"denied": 1}}
    assert state.id_counters == {"s1": 4}
    for coid, original in originals.items():
        if coid == "s1-3":
            continue
        restored = state.orders[coid]
        for key in _COMPARED:
            assert getattr(restored, key) == getattr(original, key), (coid, key)
    assert {coid: o.status for coid, o in state.orders.items()} == {
        "s1-1": OrderStatus.FILLED, "s1-2": OrderStatus.CANCELED,
        "s1-4": OrderStatus.PARTIALLY_FILLED}
    assert state.orders["s1-1"].avg_fill_price == Decimal("100.5")
    assert [f.trade_id for f in state.fills] == ["T1", "T2", "T3"]
    assert state.id_counters == {"s1": 4}
    assert state.last_fill_ns == {"paper": T0 + 15}
    assert state.balances == {"paper": {"USDT": Decimal("1000.5"), "BTC": Decimal(0)}}
    assert state.strategy_states == {"s1": {"fast": 10, "armed": True}}
    assert state.problems == []
    [position] = state.positions()
    assert position.quantity == Decimal(3)
    assert position.cost == Decimal("0.5") * 99 + Decimal("1.5") * 101 + 100


async def test_duplicate_fill_is_stored_once(open_store: Open, state_path: Path) -> None:
    store = open_store()
    order = build_order(1)
    order.submit(T0)
    store.record_order(order)
    fill = build_fill(order, "T1", "1", "100")
    apply_and_record(store, order, fill)
    store.record_event(order, fill)
    store.close()
    store = open_store()
    store.record_event(order, fill)  # again after a restart
    await store.flush()

    state = store.load_state(history=True)

    assert len(state.fills) == 1
    assert state.orders["s1-1"].filled_quantity == Decimal(1)
    with sqlite3.connect(state_path) as conn:
        assert conn.execute("SELECT count(*) FROM fills").fetchone() == (1,)
        assert conn.execute(
            "SELECT count(*) FROM order_events WHERE kind = 'filled'").fetchone() == (1,)


async def test_intent_is_on_disk_once_wait_intent_returns(open_store: Open,
                                                         state_path: Path) -> None:
    store = open_store()
    order = build_order(7)
    order.submit(T0)

    store.record_order(order)
    await store.wait_intent(order)

    assert not store.intent_pending(order.client_order_id)
    with sqlite3.connect(state_path) as conn:
        row = conn.execute("SELECT status, ts_submitted FROM orders").fetchone()
    assert row == ("submitted", T0)


def test_block_durability_writes_before_returning(open_store: Open, state_path: Path) -> None:
    store = open_store(durability="block")
    order = build_order(1)
    order.submit(T0)

    store.record_order(order)
    fill = build_fill(order, "T1", "2", "100")
    order.apply_fill(fill)
    store.record_event(order, fill)

    with sqlite3.connect(state_path) as conn:
        assert conn.execute("SELECT status FROM orders").fetchone() == ("filled",)
        assert conn.execute("SELECT trade_id FROM fills").fetchone() == ("T1",)


async def test_events_after_reopen_follow_earlier_ones(open_store: Open) -> None:
    store = open_store()
    order = build_order(1)
    order.submit(T0)
    store.record_order(order)
    apply_and_record(store, order, OrderAccepted.from_order(order, T0 + 1, venue_order_id="V"))
    store.close()
    store = open_store()
    apply_and_record(store, order, build_fill(order, "T1", "2", "100"))

    state = store.load_state(history=True)

    assert state.orders["s1-1"].status is OrderStatus.FILLED
    assert state.orders["s1-1"].venue_order_id == "V"


async def test_balance_snapshot_moves_with_later_fills(open_store: Open) -> None:
    store = open_store()
    order = build_order(1, quantity="3")
    order.submit(T0)
    store.record_order(order)
    apply_and_record(store, order, build_fill(order, "T1", "1", "100", fee="0"))
    store.record_balances("paper", {"USDT": Decimal(900), "BTC": Decimal(1)})
    apply_and_record(store, order, build_fill(order, "T2", "2", "100", fee="0"))

    portfolio = store.load_state().rebuild_portfolio()

    assert portfolio.balances("paper") == {"USDT": Decimal(700), "BTC": Decimal(3)}


async def test_strategy_state_round_trip(open_store: Open) -> None:
    store = open_store()
    store.save_strategy_state("s1", {"n": 1})
    store.save_strategy_state("s1", {"n": 2, "levels": ["1.5", "2"]})

    assert store.load_strategy_state("s1") == {"n": 2, "levels": ["1.5", "2"]}
    assert store.load_strategy_state("other") is None
    with pytest.raises(TypeError, match="not JSON-safe"):
        store.save_strategy_state("s1", {"price": Decimal(1)})


async def test_id_counter_never_goes_back(open_store: Open) -> None:
    store = open_store()
    for number in (5, 3):
        order = build_order(number)
        order.submit(T0)
        store.record_order(order)
    store.record_id_counter("s2", 9)
    store.record_id_counter("s2", 4)

    assert store.load_state().id_counters == {"s1": 5, "s2": 9}


async def test_denied_order_counts_its_id(open_store: Open) -> None:
    """A denied order never leaves, but its id was issued: a restart must not reuse it."""
    store = open_store()
    sent, denied = build_order(1), build_order(2)
    sent.submit(T0)
    store.record_order(sent)
    denied.deny("max orders per second", T0 + 1)
    store.record_event(denied, OrderDenied.from_order(denied, T0 + 1, reason="too fast"))

    assert store.load_state().id_counters == {"s1": 2}


async def test_failed_write_makes_every_wait_raise(open_store: Open) -> None:
    errors: list[StateStoreError] = []
    store = open_store(on_error=errors.append)
    order = build_order(1)
    order.submit(T0)

    class Malformed:
        """A "fill" missing every fill field: the writer cannot store it."""

        kind = "filled"
        client_order_id = order.client_order_id

    store.record_event(order, Malformed())
    with pytest.raises(StateStoreError, match="write failed"):
        await store.flush()
    store.record_order(order)
    assert store.intent_pending(order.client_order_id)
    with pytest.raises(StateStoreError, match="write failed"):
        await store.wait_intent(order)
    assert len(errors) == 1
