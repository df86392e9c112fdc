"""Orders and their state machine.

An ``Order`` is the one mutable object of the model: the execution engine drives it with the
venue's reports (``accept``, ``apply_fill``, ``cancel``, ...). The legal status changes are in
``ORDER_TRANSITIONS``; anything else raises ``InvalidOrderTransition`` and changes nothing.

Venue reports arrive late, twice, or out of order, and the machine accepts what the real world
does:

* a fill may arrive on SUBMITTED (the venue filled before we saw its ack);
* an ack arriving after a fill, a cancel request or a cancel only records the venue order id;
* a fill arriving on PENDING_CANCEL, CANCELED or EXPIRED is applied (the venue filled before
  the cancel took effect): the order becomes FILLED if complete, else keeps its status;
* a fill with a trade id already applied is ignored (``apply_fill`` returns False);
* repeating the current status (a second ``cancel`` on CANCELED) is a no-op returning False.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any, ClassVar

from libra.model.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from libra.model.errors import InvalidOrderTransition, OverfillError
from libra.model.fills import Fill

_ZERO = Decimal(0)


_S = OrderStatus

ORDER_TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = {
    _S.INITIALIZED: frozenset({_S.SUBMITTED, _S.DENIED, _S.CANCELED}),
    _S.SUBMITTED: frozenset({
        _S.ACCEPTED, _S.REJECTED, _S.PENDING_CANCEL, _S.CANCELED, _S.EXPIRED,
        _S.PARTIALLY_FILLED, _S.FILLED,
    }),
    _S.ACCEPTED: frozenset({
        _S.PENDING_CANCEL, _S.CANCELED, _S.EXPIRED, _S.PARTIALLY_FILLED, _S.FILLED,
    }),
    _S.PARTIALLY_FILLED: frozenset({
        _S.PENDING_CANCEL, _S.CANCELED, _S.EXPIRED, _S.PARTIALLY_FILLED, _S.FILLED,
    }),
    # ACCEPTED / PARTIALLY_FILLED here are the way back when the venue refuses the cancel.
    _S.PENDING_CANCEL: frozenset({
        _S.CANCELED, _S.EXPIRED, _S.REJECTED, _S.FILLED, _S.ACCEPTED, _S.PARTIALLY_FILLED,
    }),
    _S.CANCELED: frozenset({_S.FILLED}),  # a late fill: the venue filled before the cancel
    _S.EXPIRED: frozenset({_S.FILLED}),
    _S.FILLED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.DENIED: frozenset(),
}
"""Every legal status change, ``from -> {to, ...}``."""

TERMINAL_STATUSES = frozenset({_S.FILLED, _S.CANCELED, _S.EXPIRED, _S.REJECTED, _S.DENIED})
OPEN_STATUSES = frozenset({_S.SUBMITTED, _S.ACCEPTED, _S.PARTIALLY_FILLED, _S.PENDING_CANCEL})
_FILLABLE = frozenset({
    _S.SUBMITTED, _S.ACCEPTED, _S.PARTIALLY_FILLED, _S.PENDING_CANCEL, _S.CANCELED, _S.EXPIRED,
})
# Statuses in which a (late or repeated) venue ack only records the venue order id.
_ACK_IGNORED = frozenset({
    _S.ACCEPTED, _S.PARTIALLY_FILLED, _S.FILLED, _S.PENDING_CANCEL, _S.CANCELED, _S.EXPIRED,
})
_WORKING = (_S.SUBMITTED, _S.ACCEPTED, _S.PARTIALLY_FILLED)


class ReadableSlots:
    """Mixin: read a slotted object's public attributes as a mapping, like ``Record``.

    Subclasses list their readable keys in ``_keys`` (fields and properties alike).
    """

    __slots__ = ()
    _keys: ClassVar[tuple[str, ...]] = ()
    _key_set: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._key_set = frozenset(cls._keys)

    def __getitem__(self, key: str) -> Any:
        if key in self._key_set:
            return getattr(self, key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value of ``key``, or ``default`` if there is no such key."""
        if key in self._key_set:
            return getattr(self, key)
        return default

    def __contains__(self, key: object) -> bool:
        return key in self._key_set

    def keys(self) -> tuple[str, ...]:
        """Return the readable keys."""
        return self._keys

    def values(self) -> list[Any]:
        """Return the values, in key order."""
        return [getattr(self, k) for k in self._keys]

    def items(self) -> list[tuple[str, Any]]:
        """Return ``(key, value)`` pairs, in key order."""
        return [(k, getattr(self, k)) for k in self._keys]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def to_dict(self) -> dict[str, Any]:
        """Return a plain ``dict`` copy (for persistence and logs, not the hot path)."""
        return {k: getattr(self, k) for k in self._keys}


Mapping.register(ReadableSlots)


class Order(ReadableSlots):
    """One order and its state: what was asked, what the venue did, what has been filled.

    Build it with keywords; ``price`` is required for LIMIT and STOP_LIMIT orders and
    ``trigger_price`` for STOP_MARKET and STOP_LIMIT. Timestamps are int nanoseconds.

    Raises:
        ValueError: the quantity is not a positive Decimal or a required price is missing.
    """

    __slots__ = (
        "_filled_notional", "avg_fill_price", "client_order_id", "fees", "filled_quantity",
        "post_only", "price", "quantity", "reason", "reduce_only", "side", "status",
        "strategy_id", "symbol", "tag", "time_in_force", "trade_ids", "trigger_price",
        "ts_init", "ts_last", "type", "venue", "venue_order_id",
    )
    _keys: ClassVar[tuple[str, ...]] = (
        "client_order_id", "strategy_id", "venue", "symbol", "side", "type", "quantity",
        "price", "trigger_price", "time_in_force", "post_only", "reduce_only", "status",
        "filled_quantity", "avg_fill_price", "venue_order_id", "fees", "ts_init", "ts_last",
        "reason", "tag", "leaves_quantity", "is_open", "is_closed",
    )

    def __init__(
        self,
        *,
        client_order_id: str,
        strategy_id: str,
        venue: str,
        symbol: str,
        side: OrderSide,
        type: OrderType,
        quantity: Decimal,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        reduce_only: bool = False,
        ts_init: int = 0,
        tag: str | None = None,
    ) -> None:
        _check_order_arguments(type, quantity, price, trigger_price, post_only)
        self.client_order_id = client_order_id
        self.strategy_id = strategy_id
        self.venue = venue
        self.symbol = symbol
        # Coerce plain strings ("buy") but skip the enum lookup for enum members.
        self.side = side if side.__class__ is OrderSide else OrderSide(side)
        self.type = type if type.__class__ is OrderType else OrderType(type)
        self.quantity = quantity
        self.price = price
        self.trigger_price = trigger_price
        self.time_in_force = (time_in_force if time_in_force.__class__ is TimeInForce
                              else TimeInForce(time_in_force))
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.status = OrderStatus.INITIALIZED
        self.filled_quantity = _ZERO
        self.avg_fill_price: Decimal | None = None
        self.venue_order_id: str | None = None
        self.fees: dict[str, Decimal] = {}
        """Fees paid, per currency (a negative amount is a rebate)."""
        self.ts_init = ts_init
        self.ts_last = ts_init
        self.reason: str | None = None
        """Why the order was last rejected or denied, or its cancel refused."""
        self.tag = tag
        """The strategy's label for why it placed the order (``"golden_cross"``, ``"roi"``):
        a backtest reports it as the trade's entry or exit tag. Not sent to the venue."""
        self.trade_ids: set[str] = set()
        """Venue trade ids of the fills applied so far."""
        self._filled_notional = _ZERO

    def __repr__(self) -> str:
        return (f"Order({self.client_order_id!r}, {self.side.value} {self.quantity} "
                f"{self.symbol} {self.type.value}, status={self.status.value}, "
                f"filled={self.filled_quantity})")

    # -- properties ------------------------------------------------------------------------

    @property
    def is_buy(self) -> bool:
        """True for a BUY order."""
        return self.side is OrderSide.BUY

    @property
    def is_open(self) -> bool:
        """True while the order may still trade: SUBMITTED to PENDING_CANCEL."""
        return self.status in OPEN_STATUSES

    @property
    def is_closed(self) -> bool:
        """True in a terminal status (FILLED, CANCELED, EXPIRED, REJECTED, DENIED)."""
        return self.status in TERMINAL_STATUSES

    @property
    def is_filled(self) -> bool:
        """True once the whole quantity has filled."""
        return self.status is OrderStatus.FILLED

    @property
    def leaves_quantity(self) -> Decimal:
        """The quantity not filled yet (zero once closed)."""
        if self.status in TERMINAL_STATUSES:
            return _ZERO
        return self.quantity - self.filled_quantity

    # -- status changes --------------------------------------------------------------------

    def submit(self, ts: int) -> bool:
        """Mark the order as sent to the venue (INITIALIZED -> SUBMITTED)."""
        return self._transition(OrderStatus.SUBMITTED, ts)

    def accept(self, venue_order_id: str | None, ts: int) -> bool:
        """Record the venue's ack and its order id (SUBMITTED -> ACCEPTED).

        An ack that arrives after a fill, a cancel request or a cancel only records the venue
        order id and returns False.
        """
        if self.status in _ACK_IGNORED:
            if self.venue_order_id is None and venue_order_id is not None:
                self.venue_order_id = venue_order_id
            return False
        changed = self._transition(OrderStatus.ACCEPTED, ts)
        if venue_order_id is not None:
            self.venue_order_id = venue_order_id
        return changed

    def reject(self, reason: str, ts: int) -> bool:
        """Record that the venue refused the order (SUBMITTED -> REJECTED)."""
        changed = self._transition(OrderStatus.REJECTED, ts)
        self.reason = reason
        return changed

    def deny(self, reason: str, ts: int) -> bool:
        """Record that our risk engine refused the order (INITIALIZED -> DENIED)."""
        changed = self._transition(OrderStatus.DENIED, ts)
        self.reason = reason
        return changed

    def request_cancel(self, ts: int) -> bool:
        """Mark a cancel as requested from the venue (-> PENDING_CANCEL)."""
        return self._transition(OrderStatus.PENDING_CANCEL, ts)

    def reject_cancel(self, reason: str, ts: int) -> bool:
        """Record that the venue refused the cancel: PENDING_CANCEL returns to working.

        The order goes back to PARTIALLY_FILLED if it has fills, else to ACCEPTED. Outside
        PENDING_CANCEL this only records the reason and returns False (the order filled or
        was canceled meanwhile).
        """
        self.reason = reason
        if self.status is not OrderStatus.PENDING_CANCEL:
            return False
        back = OrderStatus.PARTIALLY_FILLED if self.filled_quantity else OrderStatus.ACCEPTED
        return self._transition(back, ts)

    def cancel(self, ts: int) -> bool:
        """Record that the order was canceled (-> CANCELED)."""
        return self._transition(OrderStatus.CANCELED, ts)

    def expire(self, ts: int) -> bool:
        """Record that the order expired at the venue (-> EXPIRED)."""
        return self._transition(OrderStatus.EXPIRED, ts)

    def _transition(self, to: OrderStatus, ts: int) -> bool:
        current = self.status
        if to is current:
            return False  # the same report twice
        if to in ORDER_TRANSITIONS[current]:
            self.status = to
            self.ts_last = ts
            return True
        raise InvalidOrderTransition(
            f"invalid order transition {current.value} -> {to.value} "
            f"for order {self.client_order_id!r}",
            client_order_id=self.client_order_id,
            from_status=current.value,
            to_status=to.value,
        )

    # -- fills -----------------------------------------------------------------------------

    def apply_fill(self, fill: Fill) -> bool:
        """Apply one venue fill; return False (and change nothing) if it was already applied.

        Raises:
            OverfillError: the fill would take ``filled_quantity`` past ``quantity``.
            InvalidOrderTransition: the order cannot be filled in its status (INITIALIZED,
                REJECTED, DENIED).
            ValueError: the fill's quantity is not positive or its side is the wrong one.
        """
        if fill.trade_id in self.trade_ids:
            return False
        quantity = fill.quantity
        filled = self.filled_quantity + quantity
        self._check_fill(fill, filled)
        self.trade_ids.add(fill.trade_id)
        self.filled_quantity = filled
        self._filled_notional += quantity * fill.price
        self.avg_fill_price = self._filled_notional / filled
        if fill.fee:
            fees = self.fees
            fees[fill.fee_currency] = fees.get(fill.fee_currency, _ZERO) + fill.fee
        if self.venue_order_id is None:
            self.venue_order_id = fill.venue_order_id
        if filled == self.quantity:
            self.status = OrderStatus.FILLED
        elif self.status in _WORKING:
            self.status = OrderStatus.PARTIALLY_FILLED
        self.ts_last = fill.ts_event
        return True

    def _check_fill(self, fill: Fill, filled: Decimal) -> None:
        if fill.quantity <= 0:
            raise ValueError(f"invalid fill quantity for order {self.client_order_id!r}, "
                             f"was {fill.quantity!r}")
        if fill.side != self.side:
            raise ValueError(f"fill side {fill.side!s} does not match order "
                             f"{self.client_order_id!r} side {self.side.value}")
        if filled > self.quantity:
            raise OverfillError(
                f"fill {fill.trade_id!r} of {fill.quantity} would overfill order "
                f"{self.client_order_id!r}: quantity {self.quantity}, "
                f"filled {self.filled_quantity}",
                client_order_id=self.client_order_id,
                quantity=self.quantity,
                filled_quantity=self.filled_quantity,
                fill_quantity=fill.quantity,
            )
        if self.status not in _FILLABLE:
            raise InvalidOrderTransition(
                f"invalid order transition {self.status.value} -> filled "
                f"for order {self.client_order_id!r}",
                client_order_id=self.client_order_id,
                from_status=self.status.value,
                to_status=OrderStatus.FILLED.value,
            )


def _check_order_arguments(
    order_type: OrderType,
    quantity: Decimal,
    price: Decimal | None,
    trigger_price: Decimal | None,
    post_only: bool,
) -> None:
    if type(quantity) is not Decimal or not quantity.is_finite() or quantity <= 0:
        raise ValueError(f"invalid order quantity: expected a positive Decimal, was {quantity!r}")
    for name, value in (("price", price), ("trigger_price", trigger_price)):
        if value is not None and (type(value) is not Decimal or not value.is_finite()
                                  or value <= 0):
            raise ValueError(f"invalid order {name}: expected a positive Decimal, was {value!r}")
    if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and price is None:
        raise ValueError(f"invalid order: a {order_type} order needs a price, was None")
    if order_type in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT) and trigger_price is None:
        raise ValueError(f"invalid order: a {order_type} order needs a trigger_price, was None")
    if post_only and order_type is not OrderType.LIMIT:
        raise ValueError(f"invalid order: post_only needs a limit order, was {order_type}")


__all__ = [
    "OPEN_STATUSES",
    "ORDER_TRANSITIONS",
    "TERMINAL_STATUSES",
    "Order",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "ReadableSlots",
    "TimeInForce",
]
