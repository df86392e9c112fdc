from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest

from libra.core.errors import InvalidOrderTransition, LibraError, OverfillError
from libra.model.orders import (
    ORDER_TRANSITIONS,
    TERMINAL_STATUSES,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from libra.testing.factories import build_fill, build_order


def state(order: Order) -> tuple[object, ...]:
    return (order.status, order.filled_quantity, order.avg_fill_price, order.venue_order_id,
            dict(order.fees), frozenset(order.trade_ids), order.reason, order.ts_last)


def test_new_order() -> None:
    order = build_order()
    assert order.status is OrderStatus.INITIALIZED
    assert order.leaves_quantity == Decimal("1")
    assert order.avg_fill_price is None
    assert order.is_buy
    assert not order.is_open
    assert not order.is_closed
    assert order.time_in_force is TimeInForce.GTC


def test_happy_path_with_partial_fills() -> None:
    order = build_order(quantity=Decimal("3"))
    assert order.submit(2)
    assert order.accept("v1", 3)
    assert order.status is OrderStatus.ACCEPTED
    assert order.is_open

    assert order.apply_fill(build_fill("1", "100", trade_id="t1", fee="0.1"))
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.apply_fill(build_fill("2", "103", trade_id="t2", fee="0.1"))

    assert order.status is OrderStatus.FILLED
    assert order.is_closed
    assert order.filled_quantity == Decimal("3")
    assert order.avg_fill_price == Decimal("102")
    assert order.fees == {"USDT": Decimal("0.2")}
    assert order.leaves_quantity == 0
    assert order.trade_ids == {"t1", "t2"}
    assert order.venue_order_id == "v1"


def test_fill_on_submitted_before_ack() -> None:
    order = build_order()
    order.submit(2)
    assert order.apply_fill(build_fill("0.4", venue_order_id="v9"))
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.venue_order_id == "v9"

    assert not order.accept("v9", 3)  # the late ack changes nothing
    assert order.status is OrderStatus.PARTIALLY_FILLED


def test_late_ack_records_venue_order_id() -> None:
    order = build_order()
    order.submit(2)
    order.request_cancel(3)
    assert not order.accept("v5", 4)
    assert order.status is OrderStatus.PENDING_CANCEL
    assert order.venue_order_id == "v5"


def test_duplicate_fill_changes_nothing() -> None:
    order = build_order()
    order.submit(2)
    order.apply_fill(build_fill("0.5", trade_id="t1"))
    before = state(order)
    assert not order.apply_fill(build_fill("0.5", trade_id="t1"))
    assert not order.apply_fill(build_fill("0.2", "999", trade_id="t1"))
    assert state(order) == before


def test_overfill_is_refused_and_changes_nothing() -> None:
    order = build_order()
    order.submit(2)
    order.apply_fill(build_fill("0.75", trade_id="t1"))
    before = state(order)
    with pytest.raises(OverfillError, match="overfill") as info:
        order.apply_fill(build_fill("0.5", trade_id="t2"))
    assert state(order) == before
    assert isinstance(info.value, LibraError)
    assert info.value.client_order_id == "sma-1"
    assert info.value.fill_quantity == Decimal("0.5")


def test_fill_after_cancel_completing_the_order() -> None:
    order = build_order()
    order.submit(2)
    order.accept("v1", 3)
    order.apply_fill(build_fill("0.5", trade_id="t1"))
    order.request_cancel(4)
    order.cancel(5)
    assert order.is_closed

    assert order.apply_fill(build_fill("0.5", trade_id="t2"))
    assert order.status is OrderStatus.FILLED
    assert order.filled_quantity == Decimal("1")


def test_partial_fill_after_cancel_stays_canceled() -> None:
    order = build_order()
    order.submit(2)
    order.cancel(5)
    assert order.apply_fill(build_fill("0.3"))
    assert order.status is OrderStatus.CANCELED
    assert order.filled_quantity == Decimal("0.3")
    assert order.leaves_quantity == 0


@pytest.mark.parametrize("status_method", ["request_cancel", "expire"])
def test_fill_while_pending_cancel_or_expired(status_method: str) -> None:
    order = build_order()
    order.submit(2)
    getattr(order, status_method)(3)
    status = order.status
    order.apply_fill(build_fill("0.5", trade_id="t1"))
    assert order.status is status
    order.apply_fill(build_fill("0.5", trade_id="t2"))
    assert order.status is OrderStatus.FILLED


def test_cancel_rejected_returns_to_working() -> None:
    order = build_order()
    order.submit(2)
    order.accept("v1", 3)
    order.request_cancel(4)
    assert order.reject_cancel("too late", 5)
    assert order.status is OrderStatus.ACCEPTED
    assert order.reason == "too late"

    order.apply_fill(build_fill("0.5"))
    order.request_cancel(6)
    order.reject_cancel("still no", 7)
    assert order.status is OrderStatus.PARTIALLY_FILLED


def test_cancel_rejected_after_fill_only_records_reason() -> None:
    order = build_order()
    order.submit(2)
    order.request_cancel(3)
    order.apply_fill(build_fill("1"))
    assert not order.reject_cancel("order filled", 4)
    assert order.status is OrderStatus.FILLED


def test_illegal_transition_names_states_and_order() -> None:
    order = build_order()
    order.submit(2)
    order.reject("insufficient balance", 3)
    before = state(order)
    with pytest.raises(InvalidOrderTransition, match=r"rejected -> canceled.*'sma-1'") as info:
        order.cancel(4)
    assert state(order) == before
    assert (info.value.from_status, info.value.to_status) == ("rejected", "canceled")


@pytest.mark.parametrize("status", [OrderStatus.INITIALIZED, OrderStatus.REJECTED,
                                    OrderStatus.DENIED])
def test_fill_refused_in_unfillable_status(status: OrderStatus) -> None:
    order = build_order()
    if status is OrderStatus.REJECTED:
        order.submit(1)
        order.reject("no", 2)
    elif status is OrderStatus.DENIED:
        order.deny("max notional", 2)
    with pytest.raises(InvalidOrderTransition, match="-> filled"):
        order.apply_fill(build_fill("0.5"))
    assert order.filled_quantity == 0


def test_fill_on_filled_order_is_an_overfill() -> None:
    order = build_order()
    order.submit(1)
    order.apply_fill(build_fill("1", trade_id="t1"))
    with pytest.raises(OverfillError):
        order.apply_fill(build_fill("0.1", trade_id="t2"))


def test_deny_before_submit() -> None:
    order = build_order()
    assert order.deny("max_order_notional exceeded", 2)
    assert order.status is OrderStatus.DENIED
    assert order.reason == "max_order_notional exceeded"
    with pytest.raises(InvalidOrderTransition):
        order.submit(3)


def test_repeated_report_is_a_no_op() -> None:
    order = build_order()
    assert order.submit(2)
    assert not order.submit(3)
    assert order.cancel(4)
    assert not order.cancel(5)
    assert order.ts_last == 4


def test_terminal_statuses_have_no_exit_but_late_fill() -> None:
    for status in TERMINAL_STATUSES:
        allowed = ORDER_TRANSITIONS[status]
        assert allowed <= {OrderStatus.FILLED}
    assert ORDER_TRANSITIONS[OrderStatus.FILLED] == frozenset()


def test_fill_side_must_match() -> None:
    order = build_order()
    order.submit(1)
    with pytest.raises(ValueError, match="side"):
        order.apply_fill(build_fill("0.5", side=OrderSide.SELL))
    assert order.filled_quantity == 0


def test_fill_quantity_must_be_positive() -> None:
    order = build_order()
    order.submit(1)
    with pytest.raises(ValueError, match="fill quantity"):
        order.apply_fill(build_fill("0"))


def test_order_reads_as_mapping() -> None:
    order = build_order()
    assert isinstance(order, Mapping)
    assert order["status"] == "initialized"
    assert order["side"] == "buy"
    assert order.get("price") == Decimal("100")
    assert order.get("nothing", 5) == 5
    assert order["leaves_quantity"] == Decimal("1")
    assert "symbol" in order
    assert order.to_dict()["client_order_id"] == "sma-1"
    with pytest.raises(KeyError):
        order["_filled_notional"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"quantity": Decimal("0")}, "quantity"),
        ({"quantity": 1.0}, "quantity"),
        ({"quantity": Decimal("NaN")}, "quantity"),
        ({"price": None}, "needs a price"),
        ({"price": Decimal("-1")}, "price"),
        ({"type": OrderType.STOP_LIMIT}, "trigger_price"),
        ({"type": OrderType.STOP_MARKET, "price": None}, "trigger_price"),
        ({"type": OrderType.MARKET, "price": None, "post_only": True}, "post_only"),
    ],
)
def test_invalid_orders_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_order(**overrides)


def test_market_and_stop_orders() -> None:
    market = build_order(type=OrderType.MARKET, price=None, side="sell")
    assert market.side is OrderSide.SELL
    assert not market.is_buy
    stop = build_order(type=OrderType.STOP_MARKET, price=None, trigger_price=Decimal("90"))
    assert stop.trigger_price == Decimal("90")
