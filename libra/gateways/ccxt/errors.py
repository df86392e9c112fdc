"""The one place where ccxt errors become LIBRA outcomes.

Every ccxt exception the gateway meets is classified by what happens next:

============================================  ==========  ==================================
ccxt error                                    outcome     what the gateway does
============================================  ==========  ==================================
AuthenticationError, PermissionDenied,        FATAL       ``GatewayAuthError``; an order is
AccountSuspended                                          rejected, the gateway stops trading
DuplicateOrderId, InvalidOrder "Duplicate     DUPLICATE   the venue has an order with this
order" (Binance -2010)                                    client id: query it, never reject
OrderNotFound (-2011, -2013)                  NOT_FOUND   query the order, report its state
InsufficientFunds, InvalidOrder, BadRequest,  REJECTED    ``OrderRejected(reason)``
BadSymbol, ArgumentsRequired, NotSupported,
OperationRejected, any other ExchangeError
DDoSProtection, RateLimitExceeded (418, 429)  TRANSIENT   the request was refused unprocessed:
InvalidNonce                                              retry (same client id) with backoff;
                                                          a rate limit pauses every request of
                                                          the gateway (``ratelimit.py``)
RequestTimeout, ExchangeNotAvailable (5xx,    AMBIGUOUS   the venue may have acted: the order
HTML), other NetworkError, OperationFailed                stays in flight until a query by
(Binance -1001/-1008), BadResponse, any                   client order id resolves it
non-ccxt exception
============================================  ==========  ==================================

Outside orders (connect, balances, queries) :func:`map_ccxt_errors` raises
``GatewayAuthError`` for FATAL, ``GatewayUnavailable`` for TRANSIENT and AMBIGUOUS, and
``GatewayError`` for the rest, always ``from`` the ccxt error and with secrets scrubbed.
"""

from __future__ import annotations

import enum
import importlib
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import ModuleType

from libra.core.errors import GatewayAuthError, GatewayError, GatewayUnavailable

MAX_TEXT = 300


class Outcome(enum.Enum):
    """What a ccxt error means for the request that raised it."""

    FATAL = "fatal"
    DUPLICATE = "duplicate"
    NOT_FOUND = "not_found"
    REJECTED = "rejected"
    TRANSIENT = "transient"
    AMBIGUOUS = "ambiguous"


def ccxt_module() -> ModuleType:
    """Return the ``ccxt`` package, imported on first use.

    Importing ccxt takes about half a second. Plugin discovery loads this gateway in every
    kernel, and a kernel that never connects a ccxt gateway (a backtest, paper trading on
    bundled data) should not pay for it.
    """
    return importlib.import_module("ccxt")


_DUPLICATE_MARKERS = ("duplicate order", "duplicate client", "duplicated client")


def classify(exc: BaseException) -> Outcome:
    """Return the outcome ``exc`` stands for (see the module table)."""
    ccxt = ccxt_module()
    if isinstance(exc, ccxt.AuthenticationError):
        return Outcome.FATAL
    if isinstance(exc, ccxt.DuplicateOrderId) or (
        isinstance(exc, ccxt.InvalidOrder | ccxt.ExchangeError)
        and any(marker in str(exc).lower() for marker in _DUPLICATE_MARKERS)
    ):
        return Outcome.DUPLICATE
    if isinstance(exc, ccxt.OrderNotFound):
        return Outcome.NOT_FOUND
    if isinstance(exc, ccxt.ExchangeError):
        return Outcome.REJECTED
    if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded | ccxt.InvalidNonce):
        return Outcome.TRANSIENT
    return Outcome.AMBIGUOUS


def is_rate_limit(exc: BaseException) -> bool:
    """True for a venue's "too many requests" (HTTP 418/429, ccxt ``DDoSProtection``)."""
    ccxt = ccxt_module()
    return isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded)


def scrub(text: str, secrets: Iterable[str], limit: int = MAX_TEXT) -> str:
    """Return ``text`` with every secret replaced by ``***``, cut to ``limit`` characters."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text if len(text) <= limit else text[:limit] + "..."


def describe(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """Return ``"<ccxt class>: <message>"`` for logs and rejection reasons, secret-free.

    URL paths and queries are cut: a websocket path may hold a listen key, a query string
    a signature.
    """
    return scrub(_URL.sub(r"\1/...", f"{type(exc).__name__}: {exc}"), secrets)


_URL = re.compile(r"\b((?:ws|wss|http|https)://[^/\s'\"]+)[^\s'\"]*")


@contextmanager
def map_ccxt_errors(action: str, secrets: Iterable[str] = ()) -> Iterator[None]:
    """Raise the LIBRA error for any ccxt error raised inside the block.

    Raises:
        GatewayAuthError: the venue refused the credentials.
        GatewayUnavailable: a transient or ambiguous failure (network, rate limit, 5xx).
        GatewayError: any other venue error.
    """
    try:
        yield
    except Exception as exc:
        if not isinstance(exc, ccxt_module().BaseError):
            raise
        outcome = classify(exc)
        message = f"{action} failed: {describe(exc, secrets)}"
        if outcome is Outcome.FATAL:
            # Not chained: the ccxt error may echo request headers or a signed query.
            raise GatewayAuthError(message) from None
        if outcome in (Outcome.TRANSIENT, Outcome.AMBIGUOUS):
            raise GatewayUnavailable(message) from exc
        raise GatewayError(message) from exc
