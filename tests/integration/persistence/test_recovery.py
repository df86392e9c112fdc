"""A restart against the paper venue: restore from the store, reconcile, trade on."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path
from typing import Any

from paper_desk import BTC_USDT_VENUE, btc_usdt_quote, engine_on

from libra.core.clock import SimulatedClock
from libra.gateways.paper import PaperGateway, PaperGatewayConfig
from libra.model.orders import OrderStatus
from libra.persistence import StateStore, apply_reconciliation, reconcile, restore_into
from libra.persistence.reconcile import LOST_REASON

T0 = 1_700_000_000_000_000_000


async def test_restart_recovers_missed_fill_cancel_and_lost_submit(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    clock = SimulatedClock()
    clock.set_time(T0)
    venue = PaperGateway(PaperGatewayConfig.model_validate(BTC_USDT_VENUE), gateway_id="paper")
    await venue.connect()
    venue.on_market_data(btc_usdt_quote("99.99", "100.01", T0))

    # Before the crash: one fill, two resting orders, one intent never sent.
    store = StateStore.open(path)
    engine = engine_on(venue, clock, store)
    orders = engine.orders_api("s1", "paper")
    orders.submit_order(symbol="BTC/USDT", side="buy", quantity="0.5")
    orders.submit_order(symbol="BTC/USDT", side="buy", quantity="1", type="limit", price="95")
    orders.submit_order(symbol="BTC/USDT", side="buy", quantity="1", type="limit", price="90")
    await engine.flush()
    orders.submit_order(symbol="BTC/USDT", side="buy", quantity="1", type="limit", price="80")
    await store.flush()
    store.close()

    # While down: the venue fills one resting order and cancels the other.
    missed: list[Any] = []
    venue.bind(lambda e: None, missed.append, clock)
    clock.set_time(T0 + 10)
    venue.on_market_data(btc_usdt_quote("94", "94.5", T0 + 10))
    await venue.cancel_order(engine.cache.order("s1-3"))
    assert [e.kind for e in missed] == ["filled", "canceled"]

    # Restart: restore, reconcile, apply.
    store = StateStore.open(path)
    restarted = engine_on(venue, clock, None)
    state = store.load_state()
    restore_into(restarted, state)
    restarted.store = store
    report = await reconcile(venue, "paper", state, confirm_delay=0)
    apply_reconciliation(restarted, report)

    assert report.ok, report.issues
    statuses = {coid: o.status for coid, o in restarted.cache.orders.items()}
    # s1-1 was closed before the stop: history, not restored; the open ones are settled.
    assert statuses == {"s1-2": OrderStatus.FILLED, "s1-3": OrderStatus.CANCELED,
                        "s1-4": OrderStatus.REJECTED}
    assert restarted.cache.order("s1-4").reason == LOST_REASON
    assert await venue.fetch_order("s1-4", "BTC/USDT") is None  # never sent again
    position = restarted.portfolio.position("s1", "BTC/USDT")
    assert position is not None
    assert position.quantity == D("1.5")
    assert restarted.portfolio.balances("paper") == await venue.fetch_balances()
    assert restarted.orders_api("s1", "paper").create(
        symbol="BTC/USDT", side="buy", quantity="1").client_order_id == "s1-5"

    # What reconciliation applied went to the store: a second restart needs nothing more.
    again = store.load_state(history=True)
    assert {coid: again.orders[coid].status for coid in statuses} == statuses
    second = await reconcile(venue, "paper", store.load_state(), confirm_delay=0)
    assert second.ok
    assert second.events == []
    store.close()
