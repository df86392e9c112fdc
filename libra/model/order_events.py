"""Order events: immutable past-tense facts about an order, published on the bus.

Every event carries ``client_order_id``, ``strategy_id``, ``venue`` (the gateway id), ``symbol``
and ``ts_event`` (int nanoseconds); events reported by the venue also carry ``venue_order_id``
(None when the venue did not send one). Build them with keywords, or from an order with
``from_order``.

Topic scheme: ``order.<strategy_id>.<kind>``, where ``kind`` is the class's ``kind``:
``submitted``, ``accepted``, ``rejected``, ``denied``, ``pending_cancel``, ``canceled``,
``cancel_rejected``, ``expired``, ``filled``. Subscribe to ``order.<strategy_id>.*`` for one
strategy's events or ``order.*.filled`` for every fill. Strategy ids must therefore not contain
dots.

A fill event is the ``Fill`` record itself (``OrderFilled`` is the same class), so
``on_fill`` receives it without conversion.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from libra.model.fills import Fill
from libra.model.orders import Order
from libra.model.readable import Record

OrderFilled = Fill


class OrderEvent(Record, frozen=True, gc=False, kw_only=True):
    """Base of the order events: the fields every one of them carries."""

    kind: ClassVar[str] = "order"
    _extra_keys: ClassVar[tuple[str, ...]] = ("kind",)

    client_order_id: str
    strategy_id: str
    venue: str
    symbol: str
    ts_event: int

    @property
    def topic(self) -> str:
        """The bus topic: ``order.<strategy_id>.<kind>``."""
        return f"order.{self.strategy_id}.{self.kind}"

    @classmethod
    def from_order(cls, order: Order, ts_event: int, **fields: Any) -> Self:
        """Build this event for ``order``; ``fields`` supplies the event's own fields."""
        return cls(
            client_order_id=order.client_order_id,
            strategy_id=order.strategy_id,
            venue=order.venue,
            symbol=order.symbol,
            ts_event=ts_event,
            **fields,
        )


class OrderSubmitted(OrderEvent, frozen=True, gc=False, kw_only=True):
    """The order left the process for the venue."""

    kind: ClassVar[str] = "submitted"


class OrderAccepted(OrderEvent, frozen=True, gc=False, kw_only=True):
    """The venue acknowledged the order and is working it."""

    kind: ClassVar[str] = "accepted"
    venue_order_id: str | None


class OrderRejected(OrderEvent, frozen=True, gc=False, kw_only=True):
    """The venue refused the order; ``reason`` says why."""

    kind: ClassVar[str] = "rejected"
    reason: str
    venue_order_id: str | None = None


class OrderDenied(OrderEvent, frozen=True, gc=False, kw_only=True):
    """Our risk engine refused the order before it was sent; ``reason`` says why."""

    kind: ClassVar[str] = "denied"
    reason: str


class OrderPendingCancel(OrderEvent, frozen=True, gc=False, kw_only=True):
    """A cancel was requested from the venue."""

    kind: ClassVar[str] = "pending_cancel"
    venue_order_id: str | None = None


class OrderCanceled(OrderEvent, frozen=True, gc=False, kw_only=True):
    """The venue canceled the order."""

    kind: ClassVar[str] = "canceled"
    venue_order_id: str | None


class OrderCancelRejected(OrderEvent, frozen=True, gc=False, kw_only=True):
    """The venue refused to cancel the order; ``reason`` says why."""

    kind: ClassVar[str] = "cancel_rejected"
    reason: str
    venue_order_id: str | None


class OrderExpired(OrderEvent, frozen=True, gc=False, kw_only=True):
    """The order expired at the venue (time in force ran out, or IOC/FOK left unfilled)."""

    kind: ClassVar[str] = "expired"
    venue_order_id: str | None


ORDER_EVENT_TYPES: tuple[type[Record], ...] = (
    OrderSubmitted, OrderAccepted, OrderRejected, OrderDenied, OrderPendingCancel,
    OrderCanceled, OrderCancelRejected, OrderExpired, Fill,
)
"""Every event class published on ``order.*`` topics, ``Fill`` included."""

AnyOrderEvent = (
    OrderSubmitted | OrderAccepted | OrderRejected | OrderDenied | OrderPendingCancel
    | OrderCanceled | OrderCancelRejected | OrderExpired | Fill
)


def apply_event(order: Order, event: AnyOrderEvent) -> bool:
    """Apply ``event`` to ``order`` through its state machine; return True if it changed.

    Used to rebuild an order from its stored events and by the execution engine.

    Raises:
        InvalidOrderTransition: the event is not allowed in the order's status.
        OverfillError: a fill would overfill the order.
    """
    ts = event.ts_event
    if isinstance(event, Fill):
        return order.apply_fill(event)
    if isinstance(event, OrderSubmitted):
        return order.submit(ts)
    if isinstance(event, OrderAccepted):
        return order.accept(event.venue_order_id, ts)
    if isinstance(event, OrderRejected):
        return order.reject(event.reason, ts)
    if isinstance(event, OrderDenied):
        return order.deny(event.reason, ts)
    if isinstance(event, OrderPendingCancel):
        return order.request_cancel(ts)
    if isinstance(event, OrderCanceled):
        return order.cancel(ts)
    if isinstance(event, OrderCancelRejected):
        return order.reject_cancel(event.reason, ts)
    return order.expire(ts)
