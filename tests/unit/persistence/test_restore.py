"""Restore into a real execution engine trading on the paper venue."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

from paper_desk import wire_paper_engine

from libra.core.clock import SimulatedClock
from libra.gateways.paper import PaperGateway
from libra.model.events import Quote
from libra.model.orders import OrderStatus
from libra.persistence import StateStore, restore_into
from libra.trading.execution import ExecutionEngine

Open = Callable[..., StateStore]
T0 = 1_700_000_000_000_000_000
VENUE = {
    "starting_balances": {"USDT": "100000", "BTC": "10"},
    "instruments": {"BTC/USDT": {"tick_size": "0.01", "lot_size": "0.0001"}},
}


async def _engine(store: StateStore | None) -> tuple[ExecutionEngine, PaperGateway]:
    engine, gateway = await wire_paper_engine(SimulatedClock(T0), VENUE)
    gateway.on_market_data(Quote(venue="paper", symbol="BTC/USDT", bid=D("99.99"),
                                 ask=D("100.01"), bid_size=D(50), ask_size=D(50),
                                 ts_event=T0, ts_recv=T0))
    engine.store = store
    return engine, gateway


def _orders_view(engine: ExecutionEngine) -> dict[str, tuple[Any, ...]]:
    return {coid: (o.status, o.filled_quantity, o.avg_fill_price, o.venue_order_id, o.fees)
            for coid, o in engine.cache.orders.items()}


async def test_restore_gives_the_engine_back_its_orders_positions_and_ids(
        open_store: Open) -> None:
    store = open_store()
    engine, _ = await _engine(store)
    orders = engine.orders_api("s1", "paper")
    orders.submit_order(symbol="BTC/USDT", side="buy", quantity="0.5")
    orders.submit_order(symbol="BTC/USDT", side="buy", quantity="1", type="limit", price="90")
    resting = orders.submit_order(symbol="BTC/USDT", side="buy", quantity="1", type="limit",
                                  price="95")
    orders.submit_order(symbol="BTC/USDT", side="sell", quantity="0.2")
    await engine.flush()
    engine.cancel(resting)
    await engine.flush()
    await engine.stop()
    before_orders = _orders_view(engine)
    before_position = engine.portfolio.position("s1", "BTC/USDT")
    assert before_position is not None
    store.close()

    restored, _ = await _engine(None)
    summary = restore_into(restored, open_store().load_state())

    # A restart reads the open orders only: closed ones are history, not state.
    assert _orders_view(restored) == {"s1-2": before_orders["s1-2"]}
    assert restored.cache.order("s1-2").status is OrderStatus.ACCEPTED
    position = restored.portfolio.position("s1", "BTC/USDT")
    assert position is not None
    assert position.snapshot() == before_position.snapshot()
    assert restored.orders_api("s1", "paper").create(
        symbol="BTC/USDT", side="buy", quantity="1").client_order_id == "s1-5"
    assert summary["orders"] == 1
    assert summary["fills"] == 2


async def test_restore_keeps_balances_the_venue_already_reported(open_store: Open) -> None:
    store = open_store()
    engine, _ = await _engine(store)
    engine.orders_api("s1", "paper").submit_order(symbol="BTC/USDT", side="buy", quantity="1")
    await engine.flush()
    store.record_balances("paper", {"USDT": D(1)})
    store.close()
    restored, _ = await _engine(None)
    restored.portfolio.set_balances("paper", {"USDT": D(7)})

    restore_into(restored, open_store().load_state())

    assert restored.portfolio.balances("paper") == {"USDT": D(7)}


async def test_a_denied_order_is_counted_but_never_written_to_the_state_file(
        open_store: Open) -> None:
    store = open_store()
    engine, _ = await _engine(store)
    engine.risk.config = engine.risk.config.model_copy(update={"max_order_quantity": D("1")})
    orders = engine.orders_api("s1", "paper")
    denied = [orders.submit_order(symbol="BTC/USDT", side="buy", quantity="2")
              for _ in range(5)]
    passed = orders.submit_order(symbol="BTC/USDT", side="buy", quantity="0.5")
    await engine.flush()
    await store.flush()

    stored = store.load_state(history=True).orders
    assert all(o.status is OrderStatus.DENIED for o in denied)
    assert list(stored) == [passed.client_order_id]
    assert engine.counts["denied"] == 5
