"""The paper venue keeps its own state in the store and comes back from it as it was."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path
from typing import Any

from paper_desk import BTC_USDT_VENUE, btc_usdt_quote, engine_on

from libra.core.clock import SimulatedClock
from libra.gateways.paper import PaperGateway, PaperGatewayConfig
from libra.gateways.paper.matching import VenueOrder
from libra.model.events import Quote
from libra.persistence import StateStore, read_venue_states
from libra.persistence.schema import connect_read_only

T0 = 1_700_000_000_000_000_000


async def _venue(store: StateStore, clock: SimulatedClock) -> tuple[PaperGateway, list[Any]]:
    gateway = PaperGateway(PaperGatewayConfig.model_validate(BTC_USDT_VENUE), gateway_id="paper")
    reported: list[Any] = []
    gateway.bind(lambda e: None, reported.append, clock)
    await gateway.connect()
    await gateway.attach_store(store)
    return gateway, reported


def _slots(vo: VenueOrder) -> dict[str, Any]:
    return {name: getattr(vo, name) for name in VenueOrder.__slots__}


async def test_restored_venue_is_the_venue_that_was_saved(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    clock = SimulatedClock()
    clock.set_time(T0)
    store = StateStore.open(path)
    venue, _ = await _venue(store, clock)
    engine = engine_on(venue, clock)
    venue.on_market_data(btc_usdt_quote("99.99", "100.01", T0))
    orders = engine.orders_api("s1", "paper")
    orders.buy_market("BTC/USDT", "0.5")
    orders.buy_limit("BTC/USDT", "2", "95")
    orders.submit_order(symbol="BTC/USDT", side="sell", quantity="1", type="stop_market",
                        trigger_price="90")
    orders.sell_limit("BTC/USDT", "1", "120")
    await engine.flush()
    venue.on_market_data(Quote(venue="paper", symbol="BTC/USDT", bid=D("94"), ask=D("94.9"),
                               bid_size=D(1), ask_size=D(1), last=D("94.5"), ts_event=T0 + 5,
                               ts_recv=T0 + 5))
    await venue.cancel_order(engine.cache.order("s1-4"))
    saved = venue.matching
    store.close()

    store = StateStore.open(path)
    restored, reported = await _venue(store, clock)
    matching = restored.matching

    assert matching.balances == saved.balances
    assert matching.reserved == saved.reserved
    # A restart reads what is still open (at the venue or in the engine) and its fills:
    # s1-1, s1-2 (filled) and s1-4 (canceled) are history.
    kept = {"s1-3"}
    assert matching.fills == [f for f in saved.fills if f.client_order_id in kept]
    assert {c: _slots(v) for c, v in matching.orders.items()} == \
        {c: _slots(v) for c, v in saved.orders.items() if c in kept}
    assert [vo.client_order_id for vo in await restored.fetch_open_orders()] == ["s1-3"]
    assert (matching.order_seq, matching.trade_seq) == (saved.order_seq, saved.trade_seq)
    assert matching.market_of("BTC/USDT") == (D("94"), D("94.9"), D("94.5"), False)

    # The venue goes on where it stopped: ids continue, the market is known, the stop works.
    order = engine.orders_api("s1", "paper").create("BTC/USDT", "buy", "0.1")
    order.submit(T0 + 6)
    await restored.submit_order(order)
    restored.on_market_data(btc_usdt_quote("89", "89.5", T0 + 7))
    fills = [e for e in reported if e.kind == "filled"]
    assert [f.trade_id for f in fills] == ["paper-T3", "paper-T4"]
    assert [f.client_order_id for f in fills] == ["s1-5", "s1-3"]
    store.close()


async def test_replay_resumes_after_the_last_event_the_venue_processed(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state.db")
    clock = SimulatedClock()
    first, _ = await _venue(store, clock)
    events = [btc_usdt_quote("100", "100.1", T0 + n) for n in range(10)]
    for event in events[:4]:
        first.on_market_data(event)
    second, _ = await _venue(store, clock)
    second.replay_events = events
    second.options = second.options.model_copy(update={"data": second.options.data.model_copy(
        update={"source": "replay", "speed": 0})})
    seen: list[Any] = []
    second.bind(seen.append, lambda e: None, clock)

    await second.run()

    assert seen == events[4:]
    store.close()


async def test_a_new_store_holds_the_starting_account(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = StateStore.open(path)
    await _venue(store, SimulatedClock())
    store.close()

    conn = connect_read_only(path)
    venue = read_venue_states(conn)["paper"]
    conn.close()
    assert venue.account is not None
    assert venue.account.balances == {"USDT": D(100000), "BTC": D(10)}
    assert venue.orders == venue.fills == []
    assert venue.replay_ts is None


async def test_a_venue_saving_to_the_store_keeps_bounded_history_in_memory(
        tmp_path: Path) -> None:
    clock = SimulatedClock()
    clock.set_time(T0)
    store = StateStore.open(tmp_path / "state.db")
    venue, _ = await _venue(store, clock)
    venue.matching.saved_history = 5
    engine = engine_on(venue, clock)
    orders = engine.orders_api("s1", "paper")
    resting = orders.buy_limit("BTC/USDT", "1", "50")
    for i in range(20):
        venue.on_market_data(btc_usdt_quote("99.99", "100.01", T0 + i))
        orders.buy_market("BTC/USDT", "0.01")
        await engine.flush()
    venue.on_market_data(btc_usdt_quote("99.99", "100.01", T0 + 100))  # saves the last

    assert len(venue.matching.fills) == 5
    assert len(venue.matching.orders) == 6  # five closed ones and the one still resting
    assert resting.client_order_id in venue.matching.orders
    assert venue.matching.trade_seq == 20
    store.close()
