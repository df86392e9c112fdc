"""Reconciliation against a hand-written venue: each case of a restart after a crash."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from persistence_support import T0, build_fill, build_order

from libra.core.bus import MessageBus
from libra.core.cache import Cache
from libra.core.clock import SimulatedClock
from libra.core.config import RiskConfig
from libra.model.fills import Fill
from libra.model.order_events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderPendingCancel,
    OrderRejected,
    apply_event,
)
from libra.model.orders import Order, OrderStatus
from libra.persistence import (
    LoadedState,
    VenueOrderReport,
    apply_reconciliation,
    reconcile,
    restore_into,
)
from libra.persistence.reconcile import LOST_REASON
from libra.trading.execution import ExecutionEngine


class FakeVenue:
    """The gateway contract's fetch_* methods over fixed data; it counts what it is asked."""

    def __init__(self, open_orders: Sequence[VenueOrderReport] = (),
                 orders: dict[str, VenueOrderReport] | None = None,
                 fills: Sequence[Fill] = ()) -> None:
        self.open_orders = list(open_orders)
        self.orders = dict(orders or {})
        self.orders.update({r.client_order_id: r for r in open_orders})
        self.fills = list(fills)
        self.fetch_order_calls: list[str] = []
        self.submitted: list[Any] = []

    async def fetch_open_orders(self, symbols: Sequence[str] | None = None) -> list[Any]:
        return list(self.open_orders)

    async def fetch_order(self, client_order_id: str, symbol: str) -> Any | None:
        self.fetch_order_calls.append(client_order_id)
        return self.orders.get(client_order_id)

    async def fetch_fills(self, since_ns: int | None = None) -> list[Any]:
        return [f for f in self.fills if since_ns is None or f.ts_event >= since_ns]

    async def fetch_balances(self) -> dict[str, Decimal]:
        return {"USDT": Decimal(5000)}

    async def submit_order(self, order: Any) -> None:
        self.submitted.append(order)


def _venue_report(order: Order, status: str, filled: str = "0") -> VenueOrderReport:
    return VenueOrderReport(client_order_id=order.client_order_id,
                            venue_order_id="V-" + order.client_order_id, symbol=order.symbol,
                            side=order.side, status=status,  # type: ignore[arg-type]
                            quantity=order.quantity, filled=Decimal(filled), price=order.price)


def _accepted(number: int) -> Order:
    order = build_order(number)
    order.submit(T0)
    apply_event(order, OrderAccepted.from_order(order, T0 + 1, venue_order_id=f"V-s1-{number}"))
    return order


def _state(*orders: Order, fills: Sequence[Fill] = ()) -> LoadedState:
    state = LoadedState(orders={o.client_order_id: o for o in orders})
    for fill in fills:
        apply_event(state.orders[fill.client_order_id], fill)
        state.fills.append(fill)
        state.fill_seqs.append(len(state.fills))
        state.last_fill_ns[fill.venue] = fill.ts_event
    return state


async def test_missed_fill_is_applied_once() -> None:
    order = _accepted(1)
    known = build_fill(order, "T1", "0.5", "100", ts=T0 + 10)
    missed = build_fill(order, "T2", "1", "101", ts=T0 + 20)
    state = _state(order, fills=[known])
    venue = FakeVenue([_venue_report(order, "open", "1.5")], fills=[known, missed, missed])

    report = await reconcile(venue, "paper", state, confirm_delay=0)

    assert report.ok, report.issues
    assert report.events == [missed]
    assert report.balances == {"USDT": Decimal(5000)}


async def test_missed_fills_are_applied_through_the_engine_exactly_once() -> None:
    order = _accepted(1)
    missed = build_fill(order, "T1", "2", "100", ts=T0 + 20)
    state = _state(order)
    venue = FakeVenue(orders={order.client_order_id: _venue_report(order, "filled", "2")},
                      fills=[missed])
    engine = ExecutionEngine(MessageBus(), Cache(), SimulatedClock(), RiskConfig(),
                             log_orders=False, simulated=True)
    restore_into(engine, state)

    for _ in range(2):  # a second reconciliation finds nothing new
        report = await reconcile(venue, "paper", state, confirm_delay=0)
        apply_reconciliation(engine, report)
        assert report.ok, report.issues

    assert order.status is OrderStatus.FILLED
    position = engine.portfolio.position("s1", "BTC/USDT")
    assert position is not None
    assert position.quantity == Decimal(2)
    assert engine.counts == {"filled": 1}


async def test_venue_only_order_is_flagged_by_default() -> None:
    stranger = _venue_report(build_order(9, strategy_id="manual"), "open")
    venue = FakeVenue([stranger])

    report = await reconcile(venue, "paper", _state(), confirm_delay=0)

    assert not report.ok
    assert [m.kind for m in report.issues] == ["venue_only_order"]
    assert report.adopt == []
    assert report.events == []


async def test_venue_only_order_is_adopted_by_policy() -> None:
    stranger = _venue_report(build_order(9, strategy_id="manual"), "open", "0.5")
    fill = build_fill(build_order(9, strategy_id="manual"), "T9", "0.5", "100")
    venue = FakeVenue([stranger], fills=[fill])
    engine = ExecutionEngine(MessageBus(), Cache(), SimulatedClock(), RiskConfig(),
                             log_orders=False, simulated=True)

    report = await reconcile(venue, "paper", _state(), venue_only="adopt", confirm_delay=0)
    apply_reconciliation(engine, report)

    assert report.ok, report.issues
    adopted = engine.cache.order("manual-9")
    assert adopted.status is OrderStatus.PARTIALLY_FILLED
    assert adopted.strategy_id == "external"
    assert adopted.venue_order_id == "V-manual-9"


async def test_venue_only_order_is_canceled_by_policy() -> None:
    stranger = _venue_report(build_order(9, strategy_id="manual"), "open")
    engine = ExecutionEngine(MessageBus(), Cache(), SimulatedClock(), RiskConfig(),
                             log_orders=False, simulated=True)

    report = await reconcile(FakeVenue([stranger]), "paper", _state(), venue_only="cancel",
                             confirm_delay=0)
    apply_reconciliation(engine, report)

    assert report.ok
    assert engine.cache.order("manual-9").status is OrderStatus.PENDING_CANCEL
    assert [(command, o.client_order_id) for command, o in engine.pending] == [
        ("cancel", "manual-9")]


async def test_store_only_order_is_closed_after_fetch_order_confirms() -> None:
    order = _accepted(1)
    venue = FakeVenue(orders={order.client_order_id: _venue_report(order, "canceled")})

    report = await reconcile(venue, "paper", _state(order), confirm_delay=0)

    assert report.ok
    assert venue.fetch_order_calls == ["s1-1"]
    [event] = report.events
    assert isinstance(event, OrderCanceled)
    assert event.client_order_id == "s1-1"


async def test_acknowledged_order_unknown_to_the_venue_stays_open_and_is_flagged() -> None:
    order = _accepted(1)
    venue = FakeVenue()

    report = await reconcile(venue, "paper", _state(order), confirm_delay=0)

    assert not report.ok
    assert [m.kind for m in report.issues] == ["venue_forgot_order"]
    assert report.events == []
    assert venue.fetch_order_calls == ["s1-1", "s1-1"]


async def test_timed_out_submit_found_open_is_accepted() -> None:
    order = build_order(1)
    order.submit(T0)
    venue = FakeVenue([_venue_report(order, "open")])

    report = await reconcile(venue, "paper", _state(order), confirm_delay=0)

    assert report.ok
    [event] = report.events
    assert isinstance(event, OrderAccepted)
    assert event.venue_order_id == "V-s1-1"
    assert venue.submitted == []


async def test_timed_out_submit_found_closed_is_accepted_then_canceled() -> None:
    order = build_order(1)
    order.submit(T0)
    venue = FakeVenue(orders={"s1-1": _venue_report(order, "canceled")})

    report = await reconcile(venue, "paper", _state(order), confirm_delay=0)

    assert report.ok
    assert [type(e) for e in report.events] == [OrderAccepted, OrderCanceled]


async def test_timed_out_submit_unknown_twice_is_rejected_never_resent() -> None:
    order = build_order(1)
    order.submit(T0)
    venue = FakeVenue()

    report = await reconcile(venue, "paper", _state(order), confirm_delay=0)

    assert report.ok
    assert venue.fetch_order_calls == ["s1-1", "s1-1"]
    [event] = report.events
    assert isinstance(event, OrderRejected)
    assert event.reason == LOST_REASON
    assert venue.submitted == []


async def test_lost_cancel_reopens_the_order() -> None:
    order = _accepted(1)
    apply_event(order, OrderPendingCancel.from_order(order, T0 + 2))
    venue = FakeVenue([_venue_report(order, "open")])

    report = await reconcile(venue, "paper", _state(order), confirm_delay=0)

    assert report.ok
    [event] = report.events
    assert isinstance(event, OrderCancelRejected)
    apply_event(order, event)
    assert order.status is OrderStatus.ACCEPTED


async def test_fill_quantity_mismatch_is_an_issue() -> None:
    order = _accepted(1)
    venue = FakeVenue([_venue_report(order, "open", "1")])  # filled 1, but no fill records

    report = await reconcile(venue, "paper", _state(order), confirm_delay=0)

    assert not report.ok
    assert [m.kind for m in report.issues] == ["fill_mismatch"]


async def test_missed_fill_of_the_other_side_is_an_issue_not_applied() -> None:
    order = _accepted(1)
    wrong = build_fill(build_order(1, side="sell"), "T1", "2", "100", ts=T0 + 20)
    venue = FakeVenue(orders={order.client_order_id: _venue_report(order, "filled", "2")},
                      fills=[wrong])

    report = await reconcile(venue, "paper", _state(order), confirm_delay=0)

    assert report.events == []
    assert [m.kind for m in report.issues] == ["fill_refused", "fill_mismatch"]


async def test_side_and_status_of_a_duck_typed_venue_order_are_read() -> None:
    order = _accepted(1)

    class CcxtLikeOrder:
        client_order_id = "s1-1"
        venue_order_id = "X1"
        symbol = "BTC/USDT"
        side = "BUY"
        status = "cancelled"
        quantity = "2"
        filled = "0"

    venue = FakeVenue(orders={"s1-1": CcxtLikeOrder()})  # type: ignore[dict-item]

    report = await reconcile(venue, "paper", _state(order), confirm_delay=0)

    assert report.ok
    assert [type(e) for e in report.events] == [OrderCanceled]
