"""Clocks, the cache and market data events."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from decimal import Decimal as D

import pytest

from libra.core.cache import Cache
from libra.core.clock import LiveClock, SimulatedClock, TimeEvent
from libra.model.events import Bar, OrderBook, Quote, Trade, timeframe_to_ns

MINUTE = 60_000_000_000


def bar(ts: int, close: str = "10") -> Bar:
    return Bar("v", "BTC/USDT", "1m", D("9"), D("11"), D("8"), D(close), D("5"), ts, ts)


def test_events_read_as_mappings_and_attributes():
    b = bar(2 * MINUTE, "10.5")
    assert isinstance(b, Mapping)
    assert b["close"] == b.close == b.get("price") == D("10.5")
    assert b["symbol"] == "BTC/USDT"
    assert b.get("missing", 7) == 7
    assert b.ts_open == MINUTE
    assert b.topic == "data.bar.v.BTC/USDT.1m"
    assert dict(b)["kind"] == "bar"
    with pytest.raises(KeyError):
        b["nope"]
    with pytest.raises(AttributeError):
        b.close = D(1)  # type: ignore[misc]
    q = Quote("v", "X/Y", D("1"), D("3"), D("1"), D("1"), 1, 1)
    assert q["price"] == D("2")
    t = Trade("v", "X/Y", D("5"), D("2"), "buy", "t1", 1, 1)
    assert t["quantity"] == D("2")
    book = OrderBook("v", "X/Y", ((D("1"), D("1")),), (), 1, 1)
    assert book.price == D("1")


@pytest.mark.parametrize(
    ("tf", "ns"), [("1m", MINUTE), ("4h", 240 * MINUTE), ("1d", 1440 * MINUTE)]
)
def test_timeframes(tf, ns):
    assert timeframe_to_ns(tf) == ns


@pytest.mark.parametrize("tf", ["", "m", "0m", "5x", "-1h"])
def test_bad_timeframes(tf):
    with pytest.raises(ValueError, match="invalid timeframe"):
        timeframe_to_ns(tf)


def test_simulated_timers_fire_in_time_order_and_stop():
    clock = SimulatedClock(start_ns=0)
    fired: list[TimeEvent] = []
    clock.set_timer("every10", 10, fired.append, stop_ns=35)
    clock.set_time_alert("at25", 25, fired.append)
    assert clock.advance_to(100) == 4
    assert [(e.name, e.ts_event) for e in fired] == [
        ("every10", 10), ("every10", 20), ("at25", 25), ("every10", 30),
    ]
    assert clock.timestamp_ns() == 100
    assert clock.timer_names() == []


def test_simulated_timer_cancel_and_failing_callback():
    clock = SimulatedClock()
    fired: list[int] = []
    clock.set_timer("bad", 5, lambda e: 1 / 0)
    clock.set_timer("good", 5, lambda e: fired.append(e.ts_event))
    clock.advance_to(10)
    clock.cancel_timer("good")
    clock.advance_to(20)
    assert fired == [5, 10]
    assert clock.timer_names() == ["bad"]


async def test_live_timer_fires_on_the_loop():
    clock = LiveClock()
    fired = asyncio.Event()
    names: list[str] = []

    def on_time(event: TimeEvent) -> None:
        names.append(event.name)
        if len(names) == 2:
            fired.set()

    clock.set_timer("tick", 5_000_000, on_time)
    async with asyncio.timeout(2):
        await fired.wait()
    clock.cancel_all()
    assert names == ["tick", "tick"]
    assert clock.timer_names() == []


def test_cache_keeps_bounded_bars_and_latest_prices():
    cache = Cache(bar_capacity=3)
    for i in range(1, 6):
        cache.add_market_data(bar(i * MINUTE, str(10 + i)))
    bars = cache.bars("BTC/USDT", "1m")
    assert [b.close for b in bars] == [D("13"), D("14"), D("15")]
    assert cache.bar("BTC/USDT", "1m") == bars[-1]
    assert cache.last_price("BTC/USDT") == D("15")
    cache.add_market_data(Trade("v", "BTC/USDT", D("16"), D("1"), "sell", "x", 1, 1))
    assert cache.last_price("BTC/USDT") == D("16")
    assert cache.events_seen == 6


def test_cache_forgets_the_oldest_closed_orders_beyond_its_capacity():
    class FakeOrder:
        def __init__(self, number: int) -> None:
            self.client_order_id = f"o-{number}"
            self.strategy_id = "s"
            self.symbol = "BTC/USDT"
            self.is_open = True

    cache = Cache(closed_order_capacity=3)
    orders = [FakeOrder(i) for i in range(6)]
    for order in orders:
        cache.add_order(order)
    assert len(cache.open_orders("s")) == 6
    for order in orders[:5]:
        order.is_open = False
        cache.update_order(order)
        cache.update_order(order)  # a repeated update changes nothing
    assert sorted(cache.orders) == ["o-2", "o-3", "o-4", "o-5"]
    assert cache.open_orders() == [orders[5]]


def test_replacing_a_simulated_timer_fires_only_the_new_one():
    clock = SimulatedClock()
    fired: list[str] = []
    clock.set_timer("t", 10, lambda e: fired.append("old"))
    clock.set_timer("t", 10, lambda e: fired.append("new"))
    clock.advance_to(25)
    assert fired == ["new", "new"]
