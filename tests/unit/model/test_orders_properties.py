"""Property tests: the order state machine under any sequence of venue reports."""

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from libra.core.errors import InvalidOrderTransition, OverfillError
from libra.model.orders import ORDER_TRANSITIONS, Order, OrderSide, OrderStatus
from libra.testing.factories import build_fill, build_order

_STICKY = {OrderStatus.FILLED, OrderStatus.REJECTED, OrderStatus.DENIED}
_LATE_FILL_ONLY = {OrderStatus.CANCELED, OrderStatus.EXPIRED}
_FILLABLE = {
    OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED,
    OrderStatus.PENDING_CANCEL, OrderStatus.CANCELED, OrderStatus.EXPIRED,
}

quarters = st.integers(min_value=1, max_value=12).map(lambda n: Decimal(n) / 4)
prices = st.integers(min_value=9_000, max_value=11_000).map(lambda n: Decimal(n) / 100)

actions = st.one_of(
    st.tuples(st.sampled_from(
        ["submit", "reject", "deny", "request_cancel", "reject_cancel", "cancel", "expire"]
    )),
    st.tuples(st.just("accept"), st.sampled_from(["v1", "v2", None])),
    st.tuples(st.just("fill"), st.sampled_from(["t1", "t2", "t3", "t4", "t5", "t6"]),
              quarters, prices),
)


def state(order: Order) -> tuple[object, ...]:
    return (order.status, order.filled_quantity, order.avg_fill_price, order.venue_order_id,
            dict(order.fees), frozenset(order.trade_ids), order.ts_last)


def run(order: Order, action: tuple[Any, ...], ts: int) -> bool:
    name = action[0]
    if name == "fill":
        fill = build_fill(action[2], action[3], order=order, trade_id=action[1], fee="0.01",
                          liquidity="maker", ts_event=ts)
        return order.apply_fill(fill)
    if name == "accept":
        return order.accept(action[1], ts)
    if name in ("reject", "deny", "reject_cancel"):
        return bool(getattr(order, name)("reason", ts))
    return bool(getattr(order, name)(ts))


@settings(max_examples=400)
@given(quantity=st.integers(min_value=1, max_value=16).map(lambda n: Decimal(n) / 4),
       steps=st.lists(actions, max_size=30))
def test_order_invariants_hold_for_any_report_sequence(
    quantity: Decimal, steps: list[tuple[Any, ...]]
) -> None:
    order = build_order(strategy_id="p", side=OrderSide.SELL, quantity=quantity)
    applied: dict[str, tuple[Decimal, Decimal]] = {}
    for ts, action in enumerate(steps, start=1):
        before = state(order)
        previous = order.status
        is_fill = action[0] == "fill"
        expect_fill = (
            is_fill and action[1] not in applied and previous in _FILLABLE
            and order.filled_quantity + action[2] <= quantity
        )
        try:
            changed = run(order, action, ts)
        except (InvalidOrderTransition, OverfillError):
            assert state(order) == before, "a refused event must change nothing"
            assert not expect_fill
            continue
        if is_fill:
            assert changed == expect_fill
            if changed:
                applied[action[1]] = (action[2], action[3])
            else:
                assert state(order) == before, "a duplicate fill must change nothing"

        status = order.status
        assert status is previous or status in ORDER_TRANSITIONS[previous]
        if previous in _STICKY:
            assert status is previous
        if previous in _LATE_FILL_ONLY and status is not previous:
            assert is_fill
            assert status is OrderStatus.FILLED
        check_quantities(order, applied)


def check_quantities(order: Order, applied: dict[str, tuple[Decimal, Decimal]]) -> None:
    assert order.filled_quantity <= order.quantity
    assert order.filled_quantity == sum((q for q, _ in applied.values()), Decimal(0))
    assert (order.status is OrderStatus.FILLED) == (order.filled_quantity == order.quantity)
    assert order.trade_ids == set(applied)
    if not applied:
        assert order.avg_fill_price is None
        return
    fill_prices = [p for _, p in applied.values()]
    assert order.avg_fill_price is not None
    assert min(fill_prices) <= order.avg_fill_price <= max(fill_prices)
    notional = sum((q * p for q, p in applied.values()), Decimal(0))
    assert order.avg_fill_price == notional / order.filled_quantity
    expected_leaves = 0 if order.is_closed else order.quantity - order.filled_quantity
    assert order.leaves_quantity == expected_leaves
