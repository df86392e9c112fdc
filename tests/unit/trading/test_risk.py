"""Every pre-trade risk rule, seen as a strategy sees it: an ``OrderDenied`` event.

The engine runs with a real bus, cache, simulated clock and paper venue. The market is
BTC/USDT quoted 99.99 / 100.01 (last price: the mid, 100.00) on an instrument with tick
0.01, lot 0.001, min quantity 0.01 and min notional 10.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal as D
from typing import Any

import pytest
from paper_desk import wire_paper_engine
from structlog.testing import capture_logs

from libra.core.clock import SimulatedClock
from libra.core.config import RiskConfig
from libra.gateways.paper import PaperGateway
from libra.kernel.control import OperatorActions
from libra.model.events import Quote
from libra.model.order_events import OrderDenied
from libra.model.orders import Order, OrderStatus
from libra.testing.factories import build_order
from libra.trading.execution import ExecutionEngine
from libra.trading.orders_api import StrategyOrders
from libra.trading.risk import TradingState

T0 = 1_700_000_000_000_000_000  # 2023-11-14 22:13:20 UTC
SECOND = 1_000_000_000
DAY = 86_400 * SECOND
VENUE = {
    "starting_balances": {"USDT": "1000000", "BTC": "100"},
    "instruments": {"BTC/USDT": {"tick_size": "0.01", "lot_size": "0.001",
                                 "min_quantity": "0.01", "min_notional": "10"}},
}


def quote(bid: str, ask: str, ts: int = T0) -> Quote:
    return Quote(venue="paper", symbol="BTC/USDT", bid=D(bid), ask=D(ask), bid_size=D(50),
                 ask_size=D(50), ts_event=ts, ts_recv=ts)


@dataclass
class Desk:
    engine: ExecutionEngine
    clock: SimulatedClock
    gateway: PaperGateway
    orders: StrategyOrders
    events: list[Any] = field(default_factory=list)
    on_bus: list[Any] = field(default_factory=list)

    @property
    def risk(self) -> Any:
        return self.engine.risk

    def feed(self, event: Quote) -> None:
        self.clock.advance_to(event.ts_event)
        self.gateway.on_market_data(event)

    async def send(self, side: str, quantity: str, orders: StrategyOrders | None = None,
                   **spec: Any) -> Order:
        if "price" in spec and "type" not in spec:
            spec["type"] = "limit"
        order = (orders or self.orders).submit_order(
            symbol="BTC/USDT", side=side, quantity=quantity, **spec)
        await self.engine.flush()
        return order

    def denials(self) -> list[OrderDenied]:
        return [e for e in self.events if isinstance(e, OrderDenied)]


@pytest.fixture
async def make_desk():
    async def make(**risk: Any) -> Desk:
        clock = SimulatedClock(T0)
        engine, gateway = await wire_paper_engine(clock, VENUE, RiskConfig(**risk))
        bus = engine.bus
        desk = Desk(engine, clock, gateway, engine.orders_api("s1", "paper"))
        engine.bus.subscribe("order.s1.*", desk.events.append)
        bus.subscribe("order.*.denied", desk.on_bus.append)
        desk.feed(quote("99.99", "100.01"))
        return desk

    return make


def assert_denied(desk: Desk, order: Order, rule: str) -> str:
    """Check ``order`` was denied by ``rule``, as an event on the sink and the bus."""
    assert order.status is OrderStatus.DENIED
    (denial,) = [d for d in desk.denials() if d.client_order_id == order.client_order_id]
    assert denial.reason.startswith(f"{rule}:"), denial.reason
    assert denial.topic == "order.s1.denied"
    assert denial in desk.on_bus
    assert order.reason == denial.reason
    assert order.client_order_id not in desk.gateway.matching.orders  # never left
    return denial.reason


async def go_long(desk: Desk, quantity: str = "1") -> None:
    order = await desk.send("buy", quantity)
    assert order.status is OrderStatus.FILLED


# -- trading state ------------------------------------------------------------------------


async def test_halted_denies_every_order_that_adds_risk(make_desk):
    desk = await make_desk(trading_state="halted")

    order = await desk.send("buy", "1")

    reason = assert_denied(desk, order, "trading_halted")
    assert reason == "trading_halted: trading state is HALTED; only position-reducing orders pass"
    assert [e.kind for e in desk.events] == ["denied"]
    assert desk.risk.denials == {"trading_halted": 1}
    assert desk.engine.counts == {"denied": 1}


async def test_reducing_passes_reducing_orders_and_denies_increasing_ones(make_desk):
    desk = await make_desk()
    await go_long(desk, "1")
    desk.risk.set_state("reducing")

    increase = await desk.send("buy", "0.5")
    flip = await desk.send("sell", "2")  # would open a short: not a reduction
    reduce = await desk.send("sell", "0.5")

    assert_denied(desk, flip, "trading_reducing")
    assert increase.status is OrderStatus.DENIED
    assert increase.reason.startswith("trading_reducing:")
    assert reduce.status is OrderStatus.FILLED
    assert desk.orders.get_position("BTC/USDT").quantity == D("0.5")


async def test_state_switches_at_run_time(make_desk):
    desk = await make_desk()

    desk.risk.set_state(TradingState.HALTED, reason="operator")
    halted = await desk.send("buy", "0.1")
    desk.risk.set_state("active")
    active = await desk.send("buy", "0.1")
    desk.risk.update_config(RiskConfig(trading_state="reducing"))
    reducing = await desk.send("buy", "0.1")

    assert halted.status is OrderStatus.DENIED
    assert active.status is OrderStatus.FILLED
    assert desk.risk.state is TradingState.REDUCING
    assert reducing.reason.startswith("trading_reducing:")


async def test_reduce_only_must_reduce(make_desk):
    desk = await make_desk()

    flat = await desk.send("sell", "1", reduce_only=True)
    assert_denied(desk, flat, "reduce_only")
    await go_long(desk, "1")
    too_big = await desk.send("sell", "1.5", reduce_only=True)
    closing = desk.orders.close_position("BTC/USDT")
    await desk.engine.flush()

    assert_denied(desk, too_big, "reduce_only")
    assert closing is not None
    assert closing.reduce_only
    assert closing.status is OrderStatus.FILLED
    assert desk.orders.get_position("BTC/USDT").is_flat


# -- instrument rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"quantity": "0.005"}, "instrument: quantity 0.005 is below min_quantity 0.01"),
        ({"quantity": "0.05", "price": "100"},
         "instrument: notional 5.00000 is below min_notional 10"),
        # A market order is valued at the last price (the mid, 100.00).
        ({"quantity": "0.05"}, "instrument: notional 5.00000 is below min_notional 10"),
    ],
)
async def test_instrument_limits(make_desk, spec, reason):
    desk = await make_desk()

    order = await desk.send("buy", **spec)

    assert assert_denied(desk, order, "instrument") == reason


@pytest.mark.parametrize(
    ("quantity", "price", "reason"),
    [
        ("0.0105", "100", "instrument: quantity 0.0105 is not a multiple of lot_size 0.001"),
        ("1", "100.005", "instrument: price 100.005 is not a multiple of tick_size 0.01"),
    ],
)
async def test_instrument_steps_for_orders_built_by_hand(make_desk, quantity, price, reason):
    """``create`` rounds to the steps; an order built by hand may not, and is denied."""
    desk = await make_desk()
    order = build_order(client_order_id=desk.engine.id_generator("s1").next(), strategy_id="s1",
                        quantity=D(quantity), price=D(price))

    desk.orders.submit_order(order)

    assert assert_denied(desk, order, "instrument") == reason


# -- order and position limits ------------------------------------------------------------


async def test_max_order_quantity(make_desk):
    desk = await make_desk(max_order_quantity=D(2))

    big = await desk.send("buy", "2.001")
    at_limit = await desk.send("buy", "2")

    assert assert_denied(desk, big, "max_order_quantity") == \
        "max_order_quantity: quantity 2.001 exceeds 2"
    assert at_limit.status is OrderStatus.FILLED


async def test_max_order_notional(make_desk):
    desk = await make_desk(max_order_notional=D(150))

    market = await desk.send("buy", "1.6")  # valued at the last price: 160.00000
    limit = await desk.send("buy", "1.6", price="93.76")  # 150.01600
    passes = await desk.send("buy", "1.5", price="100")  # 150.00

    assert assert_denied(desk, market, "max_order_notional") == \
        "max_order_notional: notional 160.00000 exceeds 150"
    assert limit.reason == "max_order_notional: notional 150.01600 exceeds 150"
    assert passes.status is OrderStatus.ACCEPTED


async def test_max_position_quantity_denies_increases_and_passes_reductions(make_desk):
    desk = await make_desk(max_position_quantity=D("1.5"))
    await go_long(desk, "1")

    increase = await desk.send("buy", "0.6")
    desk.risk.update_config(RiskConfig(max_position_quantity=D("0.5")))  # now already above
    reduce = await desk.send("sell", "0.2")
    flip = await desk.send("sell", "1.7")  # from long 0.8 to short 0.9: a bigger position

    assert assert_denied(desk, increase, "max_position_quantity") == \
        "max_position_quantity: position would be 1.600, limit 1.5"
    assert reduce.status is OrderStatus.FILLED
    assert flip.reason == "max_position_quantity: position would be 0.900, limit 0.5"


async def test_max_position_notional_denies_increases_and_passes_reductions(make_desk):
    desk = await make_desk(max_position_notional=D(150))
    await go_long(desk, "1")

    increase = await desk.send("buy", "0.6", price="99")  # 1.6 * 99 = 158.4
    within = await desk.send("buy", "0.5", price="99")  # 1.5 * 99 = 148.5
    reduce = await desk.send("sell", "1")

    assert assert_denied(desk, increase, "max_position_notional") == \
        "max_position_notional: position would be worth 158.40000, limit 150"
    assert within.status is OrderStatus.ACCEPTED
    assert reduce.status is OrderStatus.FILLED


async def test_max_open_orders(make_desk):
    desk = await make_desk(max_open_orders=2)
    first = await desk.send("buy", "1", price="90")
    await desk.send("buy", "1", price="91")

    third = await desk.send("buy", "1", price="92")
    desk.orders.cancel_order(first)
    await desk.engine.flush()
    after_cancel = await desk.send("buy", "1", price="92")

    assert assert_denied(desk, third, "max_open_orders") == \
        "max_open_orders: 2 orders already open"
    assert after_cancel.status is OrderStatus.ACCEPTED


async def test_price_band(make_desk):
    desk = await make_desk(price_band=D("0.05"))

    far = await desk.send("buy", "1", price="94.99")
    near = await desk.send("buy", "1", price="95")
    trigger = await desk.send("buy", "1", type="stop_market", trigger_price="105.01")

    assert assert_denied(desk, far, "price_band").startswith("price_band: price 94.99 is more ")
    assert near.status is OrderStatus.ACCEPTED
    assert trigger.reason.startswith("price_band: trigger_price 105.01 is more than 5")


# -- rates --------------------------------------------------------------------------------


async def test_rate_limit_per_strategy_follows_the_clock(make_desk):
    desk = await make_desk(max_orders_per_second=2)

    sent = [await desk.send("buy", "0.1") for _ in range(3)]
    desk.clock.advance_to(T0 + SECOND - 1)
    still_limited = await desk.send("buy", "0.1")
    desk.clock.advance_to(T0 + SECOND)
    next_second = await desk.send("buy", "0.1")

    assert [o.status for o in sent[:2]] == [OrderStatus.FILLED, OrderStatus.FILLED]
    assert assert_denied(desk, sent[2], "rate_limit") == \
        "rate_limit: more than 2.0 orders per second for s1"
    assert still_limited.status is OrderStatus.DENIED
    assert next_second.status is OrderStatus.FILLED


async def test_rate_limit_per_strategy_does_not_limit_another_strategy(make_desk):
    desk = await make_desk(max_orders_per_second=1)
    other = desk.engine.orders_api("s2", "paper")
    other_events: list[Any] = []
    desk.engine.bus.subscribe("order.s2.*", other_events.append)

    mine = [await desk.send("buy", "0.1") for _ in range(2)]
    theirs = await desk.send("buy", "0.1", orders=other)

    assert [o.status for o in mine] == [OrderStatus.FILLED, OrderStatus.DENIED]
    assert theirs.status is OrderStatus.FILLED
    assert not any(e.kind == "denied" for e in other_events)


async def test_global_rate_limit_counts_every_strategy(make_desk):
    desk = await make_desk(max_orders_per_second_global=3)
    other = desk.engine.orders_api("s2", "paper")
    other_events: list[Any] = []
    desk.engine.bus.subscribe("order.s2.*", other_events.append)

    passed = [await desk.send("buy", "0.1"), await desk.send("buy", "0.1", orders=other),
              await desk.send("buy", "0.1")]
    denied = await desk.send("buy", "0.1", orders=other)
    desk.clock.advance_to(T0 + SECOND)
    later = await desk.send("buy", "0.1", orders=other)

    assert {o.status for o in passed} == {OrderStatus.FILLED}
    assert denied.reason == "rate_limit_global: more than 3 orders per second"
    assert [e.kind for e in other_events if e.kind == "denied"] == ["denied"]
    assert later.status is OrderStatus.FILLED


# -- daily loss ---------------------------------------------------------------------------


async def test_daily_loss_limit_halts_trading(make_desk):
    desk = await make_desk(daily_loss_limit=D(5))
    await go_long(desk, "10")  # 10 at 100.01, fee 1.0001
    assert desk.risk.state is TradingState.ACTIVE
    desk.feed(quote("99.50", "99.52", T0 + 60 * SECOND))

    await desk.send("sell", "10")  # at 99.50: -5.10 realized, fee 0.995
    after = await desk.send("buy", "0.1")

    assert desk.risk.state is TradingState.HALTED
    assert desk.engine.total_pnl() == D("-7.0951")
    assert assert_denied(desk, after, "trading_halted")


async def test_daily_loss_counts_the_first_fill_of_a_new_day(make_desk):
    desk = await make_desk(daily_loss_limit=D(5))
    await go_long(desk, "10")
    desk.feed(quote("99.50", "99.52", T0 + DAY))  # the next day

    await desk.send("sell", "10")  # the day's first fill loses 5.995 from the day's start

    assert desk.risk.state is TradingState.HALTED


async def test_daily_loss_starts_again_each_day(make_desk):
    desk = await make_desk(daily_loss_limit=D(5))
    for day in range(3):  # lose about 3 a day: 0.2 of spread and 2.0 of fees on 10
        desk.feed(quote("99.99", "100.01", T0 + day * DAY))
        await go_long(desk, "10")
        await desk.send("sell", "10")

    assert desk.risk.state is TradingState.ACTIVE
    assert desk.engine.total_pnl() < D(-6)


async def test_denial_is_an_event_never_an_exception(make_desk):
    desk = await make_desk(trading_state="halted")
    seen: list[Any] = []
    desk.engine.bus.subscribe("order.s1.*", seen.append)

    order = desk.orders.buy_market("BTC/USDT", "1")

    assert order.status is OrderStatus.DENIED
    assert [e.kind for e in seen] == ["denied"]
    assert not desk.engine.has_pending


# -- risk never blocks reducing risk; the denial breaker ------------------------------

async def test_halted_and_reducing_let_a_close_through(make_desk):
    for state in ("halted", "reducing"):
        desk = await make_desk()
        await go_long(desk, "1")
        desk.risk.set_state(state)

        close = desk.orders.close_position("BTC/USDT")
        await desk.engine.flush()

        assert close is not None
        assert close.status is OrderStatus.FILLED, (state, close.reason)
        assert desk.orders.get_position("BTC/USDT").is_flat


async def test_a_close_passes_the_limits_that_cap_risk(make_desk):
    desk = await make_desk(max_position_quantity="0.5", max_orders_per_second=1,
                           price_band="0.0001", max_open_orders=1)
    desk.risk.config = desk.risk.config.model_copy(update={"max_position_quantity": None})
    await go_long(desk, "1")
    desk.risk.config = desk.risk.config.model_copy(update={"max_position_quantity": D("0.5")})

    close = desk.orders.close_position("BTC/USDT")  # same second: the rate limit is spent
    await desk.engine.flush()

    assert close is not None
    assert close.status is OrderStatus.FILLED, close.reason


async def test_two_closes_that_together_pass_flat_are_not_both_reducing(make_desk):
    desk = await make_desk()
    await go_long(desk, "1")
    desk.risk.set_state("halted")
    first = desk.orders.submit_order(symbol="BTC/USDT", side="sell", quantity="1",
                                     type="limit", price="150")  # rests: open, closing 1
    second = await desk.send("sell", "1")

    assert first.status is OrderStatus.ACCEPTED
    assert_denied(desk, second, "trading_halted")


async def test_flatten_splits_a_position_five_times_the_order_limit(make_desk):
    desk = await make_desk(max_order_notional="100")
    desk.risk.config = desk.risk.config.model_copy(update={"max_order_notional": None})
    await go_long(desk, "5")  # about 500 USDT: five times what one order may be
    desk.risk.config = desk.risk.config.model_copy(update={"max_order_notional": D("100")})
    desk.risk.set_state(TradingState.HALTED)

    with capture_logs() as logs:
        report = await OperatorActions(desk.engine).flatten(wait=5)

    assert report["ok"], report
    assert desk.orders.get_position("BTC/USDT").is_flat
    closes = report["close_orders"]
    assert len(closes) == 5  # 100 USDT at the last price 100.00: 1 BTC per clip
    assert all(c["status"] == "filled" for c in closes)
    assert sum(D(c["filled_quantity"]) for c in closes) == D("5")
    assert any(e["event"] == "flatten.closing" for e in logs)


async def test_flatten_reports_a_close_the_venue_refused(make_desk):
    desk = await make_desk()
    await go_long(desk, "1")
    desk.risk.config = desk.risk.config.model_copy(update={"max_order_quantity": D("0.001")})
    # A clip of 0.001 BTC is worth 0.1 USDT: below the venue's min_notional of 10.

    report = await OperatorActions(desk.engine).flatten(wait=2)

    assert not report["ok"]
    assert report["positions_left"] == [
        {"strategy_id": "s1", "symbol": "BTC/USDT", "quantity": "1"}]
    assert report["close_orders"][0]["status"] == "denied"


async def test_denials_pause_the_strategy_and_resume_lets_it_trade(make_desk):
    desk = await make_desk(max_order_quantity="1", breaker_denials=5, breaker_window=60)
    paused = []
    desk.engine.bus.subscribe("strategy.*.paused", paused.append)

    for _ in range(7):
        desk.clock.advance_to(desk.clock.timestamp_ns() + SECOND)
        await desk.send("buy", "2")
    small = await desk.send("buy", "0.1")  # within the limits, but the strategy is paused

    assert desk.risk.paused["s1"].startswith("5 orders denied within 60s")
    assert [p["strategy_id"] for p in paused] == ["s1"]
    assert_denied(desk, small, "strategy_paused")
    assert desk.engine.risk.snapshot()["paused"] == {"s1": desk.risk.paused["s1"]}

    result = OperatorActions(desk.engine).resume_strategy("s1")
    again = await desk.send("buy", "0.1")

    assert result["changed"]
    assert again.status is OrderStatus.FILLED


async def test_the_breaker_window_follows_the_kernel_clock(make_desk):
    desk = await make_desk(max_order_quantity="1", breaker_denials=3, breaker_window=10)

    for _ in range(6):
        desk.clock.advance_to(desk.clock.timestamp_ns() + 6 * SECOND)  # two per window
        await desk.send("buy", "2")
        await desk.send("buy", "0.1")  # one passes between: never three in a row

    assert "s1" not in desk.risk.paused


async def test_denials_in_a_row_pause_however_slowly_they_come(make_desk):
    desk = await make_desk(max_order_quantity="1", breaker_denials=3, breaker_window=10)

    for _ in range(3):
        desk.clock.advance_to(desk.clock.timestamp_ns() + 60 * SECOND)  # one per bar
        await desk.send("buy", "2")

    assert desk.risk.paused["s1"].startswith("3 orders denied in a row")


async def test_a_paused_strategy_may_still_close(make_desk):
    desk = await make_desk(max_order_quantity="1", breaker_denials=2)
    await go_long(desk, "1")
    for _ in range(2):
        await desk.send("buy", "2")
    assert "s1" in desk.risk.paused

    close = desk.orders.close_position("BTC/USDT")
    await desk.engine.flush()

    assert close is not None
    assert close.status is OrderStatus.FILLED


async def test_a_denied_order_is_neither_kept_nor_logged_every_time(make_desk):
    desk = await make_desk(max_order_quantity="1", breaker_denials=1000)
    desk.engine.log_orders = True

    with capture_logs() as logs:
        orders = [await desk.send("buy", "2") for _ in range(50)]

    assert all(o.status is OrderStatus.DENIED for o in orders)
    assert all(desk.engine.cache.order(o.client_order_id) is None for o in orders)
    denied_lines = [e for e in logs if e["event"] == "order.denied"]
    assert len(denied_lines) == 1
    assert desk.engine.counts["denied"] == 50
