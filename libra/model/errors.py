"""The errors the domain model raises, and the base of every LIBRA error.

A leaf module: it imports nothing from libra. ``libra.core.errors`` re-exports these
with the rest of the tree.
"""

from __future__ import annotations


class LibraError(Exception):
    """Base of every error LIBRA raises on purpose."""


class InvalidOrderTransition(LibraError):
    """An order event is not allowed in the order's current status; the order is unchanged.

    ``from_status`` and ``to_status`` are the ``OrderStatus`` values as strings.
    """

    def __init__(
        self,
        message: str,
        *,
        client_order_id: str | None = None,
        from_status: str | None = None,
        to_status: str | None = None,
    ) -> None:
        super().__init__(message)
        self.client_order_id = client_order_id
        self.from_status = from_status
        self.to_status = to_status


class OverfillError(LibraError):
    """A fill would take an order's filled quantity past its quantity; the order is unchanged.

    The quantities are ``Decimal`` (typed ``object`` to keep this module free of imports).
    """

    def __init__(
        self,
        message: str,
        *,
        client_order_id: str | None = None,
        quantity: object = None,
        filled_quantity: object = None,
        fill_quantity: object = None,
    ) -> None:
        super().__init__(message)
        self.client_order_id = client_order_id
        self.quantity = quantity
        self.filled_quantity = filled_quantity
        self.fill_quantity = fill_quantity
