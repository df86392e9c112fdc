from decimal import Decimal

import msgspec
import pytest

from libra.model.fills import Fill
from libra.model.order_events import (
    ORDER_EVENT_TYPES,
    AnyOrderEvent,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderPendingCancel,
    OrderRejected,
    OrderSubmitted,
    apply_event,
)
from libra.model.orders import Order, OrderStatus, OrderType
from libra.testing.factories import build_fill, build_order


@pytest.fixture
def order() -> Order:
    return build_order(7, type=OrderType.MARKET, quantity="2", price=None)


@pytest.fixture
def fill() -> Fill:
    return build_fill("2", "101.5", client_order_id="sma-7", venue_order_id="v7", trade_id="t1",
                      fee="0.2", ts_event=5, ts_recv=6)


def test_fill_reads_as_mapping(fill: Fill) -> None:
    assert fill["symbol"] == "BTC/USDT"
    assert fill["quantity"] == Decimal("2")
    assert fill["notional"] == Decimal("203.0")
    assert fill.get("side") == "buy"
    assert fill.signed_quantity == Decimal("2")
    assert fill.topic == "order.sma.filled"
    assert "notional" in fill
    assert "notional" in fill.keys()  # noqa: SIM118


def test_fill_is_the_fill_event(fill: Fill) -> None:
    assert OrderFilled is Fill
    assert Fill in ORDER_EVENT_TYPES
    assert fill["kind"] == "filled"


def test_fill_is_immutable(fill: Fill) -> None:
    with pytest.raises(AttributeError):
        fill.quantity = Decimal("3")  # type: ignore[misc]


def test_fill_round_trips_through_json(fill: Fill) -> None:
    data = msgspec.json.encode(fill)
    assert msgspec.json.decode(data, type=Fill) == fill


def test_events_from_order_carry_identity_and_topic(order: Order) -> None:
    event = OrderRejected.from_order(order, 9, reason="insufficient balance")
    assert event.client_order_id == "sma-7"
    assert event.strategy_id == "sma"
    assert event.venue == "paper"
    assert event["symbol"] == "BTC/USDT"
    assert event.ts_event == 9
    assert event["reason"] == "insufficient balance"
    assert event.topic == "order.sma.rejected"


@pytest.mark.parametrize(
    ("event_type", "fields", "kind"),
    [
        (OrderSubmitted, {}, "submitted"),
        (OrderAccepted, {"venue_order_id": "v1"}, "accepted"),
        (OrderRejected, {"reason": "r"}, "rejected"),
        (OrderDenied, {"reason": "r"}, "denied"),
        (OrderPendingCancel, {}, "pending_cancel"),
        (OrderCanceled, {"venue_order_id": "v1"}, "canceled"),
        (OrderCancelRejected, {"venue_order_id": "v1", "reason": "r"}, "cancel_rejected"),
        (OrderExpired, {"venue_order_id": None}, "expired"),
    ],
)
def test_event_kinds_and_topics(
    order: Order, event_type: type[OrderSubmitted], fields: dict[str, object], kind: str
) -> None:
    event = event_type.from_order(order, 1, **fields)
    assert event.kind == kind
    assert event["kind"] == kind
    assert event.topic == f"order.sma.{kind}"


def test_venue_events_require_venue_order_id(order: Order) -> None:
    with pytest.raises(TypeError, match="venue_order_id"):
        OrderAccepted.from_order(order, 1)


def test_apply_event_replays_an_order(order: Order, fill: Fill) -> None:
    events: list[AnyOrderEvent] = [
        OrderSubmitted.from_order(order, 1),
        OrderAccepted.from_order(order, 2, venue_order_id="v7"),
        OrderPendingCancel.from_order(order, 3),
        OrderCancelRejected.from_order(order, 4, venue_order_id="v7", reason="busy"),
        fill,
    ]
    changed = [apply_event(order, event) for event in events]
    assert changed == [True, True, True, True, True]
    assert order.status is OrderStatus.FILLED
    assert order.venue_order_id == "v7"
    assert not apply_event(order, fill)
