"""Binance error replies raised inside the local exchange and rendered by the REST layer."""

from __future__ import annotations

import json

__all__ = [
    "BAD_SIGNATURE",
    "BinanceApiError",
    "duplicate_order",
    "insufficient_balance",
    "invalid_symbol",
    "order_does_not_exist",
    "unknown_order",
]


class BinanceApiError(Exception):
    """A reply in Binance's error shape: ``{"code": -1022, "msg": "..."}``.

    Attributes:
        status: the HTTP status Binance sends with this error.
        code: the negative Binance error code.
        msg: the Binance error message, word for word.
    """

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.status = status
        self.code = code
        self.msg = msg

    def body(self) -> str:
        """Return the JSON body Binance sends for this error."""
        return json.dumps({"code": self.code, "msg": self.msg})


BAD_SIGNATURE = (400, -1022, "Signature for this request is not valid.")


def invalid_symbol() -> BinanceApiError:
    """Return Binance's reply for a symbol it does not list."""
    return BinanceApiError(400, -1121, "Invalid symbol.")


def duplicate_order() -> BinanceApiError:
    """Return Binance's reply for a ``newClientOrderId`` already used by an open order."""
    return BinanceApiError(400, -2010, "Duplicate order sent.")


def insufficient_balance() -> BinanceApiError:
    """Return Binance's reply for an order the account cannot fund."""
    return BinanceApiError(400, -2010, "Account has insufficient balance for requested action.")


def order_does_not_exist() -> BinanceApiError:
    """Return Binance's reply to a query for an unknown order."""
    return BinanceApiError(400, -2013, "Order does not exist.")


def unknown_order() -> BinanceApiError:
    """Return Binance's reply to a cancel of an unknown or already closed order."""
    return BinanceApiError(400, -2011, "Unknown order sent.")
