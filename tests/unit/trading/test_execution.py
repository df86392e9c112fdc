"""ExecutionEngine and StrategyOrders: commands out to the paper venue, events back in."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from typing import Any

import pytest
from paper_desk import wire_paper_engine

from libra.core.clock import LiveClock, SimulatedClock
from libra.gateways.paper import PaperGateway
from libra.model.events import Quote
from libra.model.orders import OrderStatus, OrderType
from libra.testing.factories import build_fill
from libra.trading.execution import ExecutionEngine

T0 = 1_700_000_000_000_000_000
VENUE = {
    "starting_balances": {"USDT": "100000", "BTC": "10"},
    "instruments": {"BTC/USDT": {"tick_size": "0.01", "lot_size": "0.0001"}},
}
QUOTE = Quote(venue="paper", symbol="BTC/USDT", bid=D("99.99"), ask=D("100.01"),
              bid_size=D(5), ask_size=D(5), ts_event=T0, ts_recv=T0)


async def engine_with_venue(clock: Any) -> tuple[ExecutionEngine, PaperGateway, list[Any]]:
    engine, gateway = await wire_paper_engine(clock, VENUE)
    sink: list[Any] = []
    engine.bus.subscribe("order.s1.*", sink.append)
    gateway.on_market_data(QUOTE)
    return engine, gateway, sink


@pytest.fixture
async def simulated() -> tuple[ExecutionEngine, PaperGateway, list[Any]]:
    return await engine_with_venue(SimulatedClock(T0))


async def test_order_events_reach_the_sink_and_the_bus_in_order(simulated):
    engine, _, sink = simulated
    on_bus: list[Any] = []
    engine.bus.subscribe("order.s1.*", on_bus.append)
    orders = engine.orders_api("s1", "paper")

    order = orders.buy_market("BTC/USDT", "0.5")
    assert order.status is OrderStatus.SUBMITTED
    assert engine.has_pending  # sent by the next flush, not inside the call
    await engine.flush()

    assert [e.kind for e in sink] == ["submitted", "accepted", "filled"]
    assert on_bus == sink
    assert [e.topic for e in on_bus] == ["order.s1.submitted", "order.s1.accepted",
                                         "order.s1.filled"]
    assert engine.counts == {"submitted": 1, "accepted": 1, "filled": 1}


async def test_a_fill_moves_position_and_cash(simulated):
    engine, gateway, _ = simulated
    orders = engine.orders_api("s1", "paper")

    orders.buy_market("BTC/USDT", "0.5")
    await engine.flush()

    position = orders.get_position("BTC/USDT")
    assert position.quantity == D("0.5")
    assert position.avg_entry_price == D("100.01")
    assert engine.portfolio.balance("paper", "USDT") == D("100000") - D("50.005") - D("0.050005")
    assert engine.portfolio.balances("paper") == await gateway.fetch_balances()
    assert engine.total_pnl() == D("-0.050005") + D("0.5") * (D("100.00") - D("100.01"))


async def test_helpers_choose_the_order_type_from_the_price(simulated):
    engine, _, _ = simulated
    orders = engine.orders_api("s1", "paper")

    limit = orders.buy("BTC/USDT", "1", price="99")
    market = orders.sell("BTC/USDT", "1")
    sell_limit = orders.sell_limit("BTC/USDT", "1", "101")

    assert (limit.type, market.type, sell_limit.type) == (
        OrderType.LIMIT, OrderType.MARKET, OrderType.LIMIT)
    await engine.flush()
    assert {o.client_order_id for o in orders.open_orders()} == {
        limit.client_order_id, sell_limit.client_order_id}
    assert orders.cancel_all_orders() == 2
    await engine.flush()
    assert orders.open_orders() == []
    assert limit.status is OrderStatus.CANCELED


async def test_cancel_of_an_order_that_is_not_open_is_refused(simulated):
    engine, _, sink = simulated
    orders = engine.orders_api("s1", "paper")
    filled = orders.buy_market("BTC/USDT", "0.5")
    await engine.flush()

    assert orders.cancel_order(filled.client_order_id) is False
    assert not engine.has_pending
    assert sink[-1].kind == "filled"
    with pytest.raises(KeyError):
        orders.cancel_order("nope-1")


async def test_a_gateway_error_becomes_a_rejection(simulated):
    engine, _, sink = simulated
    orders = engine.orders_api("s1", "elsewhere")

    order = orders.buy_market("BTC/USDT", "0.5")
    await engine.flush()

    assert order.status is OrderStatus.REJECTED
    assert order.reason == "gateway error: LookupError: no gateway 'elsewhere'"
    assert [e.kind for e in sink] == ["submitted", "rejected"]


async def test_a_repeated_fill_is_applied_once(simulated):
    engine, gateway, _ = simulated
    orders = engine.orders_api("s1", "paper")
    order = orders.buy_market("BTC/USDT", "0.5")
    await engine.flush()
    (fill,) = await gateway.fetch_fills()

    engine.on_order_event(fill)

    assert order.filled_quantity == D("0.5")
    assert orders.get_position("BTC/USDT").quantity == D("0.5")
    assert engine.counts["duplicate"] == 1


async def test_a_fill_of_the_wrong_side_is_refused_not_raised(simulated):
    engine, _, sink = simulated
    order = engine.orders_api("s1", "paper").buy_limit("BTC/USDT", "0.5", "90")
    await engine.flush()
    fill = build_fill("0.5", "90", order=order, side="sell", venue_order_id="v", trade_id="t",
                      liquidity="maker", ts_event=T0)

    engine.on_order_event(fill)

    assert order.filled_quantity == 0
    assert engine.counts["invalid"] == 1
    assert [e.kind for e in sink] == ["submitted", "accepted"]


async def test_an_event_for_an_unknown_order_is_published_apart(simulated):
    engine, _, sink = simulated
    unknown: list[Any] = []
    engine.bus.subscribe("order.unknown", unknown.append)
    fill = build_fill("1", "100", client_order_id="other-1", strategy_id="s1",
                      venue_order_id="v", trade_id="t", ts_event=T0)

    engine.on_order_event(fill)

    assert unknown == [fill]
    assert sink == []
    assert engine.portfolio.position("s1", "BTC/USDT") is None


async def test_an_order_of_another_strategy_is_refused(simulated):
    engine, _, _ = simulated
    mine = engine.orders_api("s1", "paper")
    theirs = engine.orders_api("s2", "paper").create("BTC/USDT", "buy", "1")

    with pytest.raises(ValueError, match="belongs to s2"):
        mine.submit_order(theirs)


async def test_live_engine_flushes_orders_placed_outside_callbacks():
    clock = LiveClock()
    engine, _, sink = await engine_with_venue(clock)
    try:
        order = engine.orders_api("s1", "paper").buy_market("BTC/USDT", "0.5")
        async with asyncio.timeout(5):
            while not order.is_filled:
                await asyncio.sleep(0)
    finally:
        await engine.stop()
    assert [e.kind for e in sink] == ["submitted", "accepted", "filled"]
