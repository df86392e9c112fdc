"""One rate-limit backoff per venue, shared by every REST request of a gateway.

A 429 or 418 answer says "stop sending for a while" about the whole API key or address,
not about the one request that got it. Retrying only that request on its own schedule,
while queries, cancels and polls carry on, prolongs the limit (Binance turns repeated
429s into a 418 ban). So when any response is a rate limit, every request of the gateway
waits until its ``Retry-After`` has passed (an exponential backoff when the venue gives
none), and an order is rejected only when waiting would cross its submit deadline.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from libra.gateways.ccxt.errors import is_rate_limit
from libra.gateways.ccxt.streams import Backoff

RATE_LIMIT_STATUSES = frozenset({418, 429})


def retry_after_seconds(headers: Any) -> float | None:
    """Return the ``Retry-After`` of response ``headers`` in seconds (None if absent or a date)."""
    if not headers:
        return None
    for key, value in dict(headers).items():
        if str(key).lower() == "retry-after":
            try:
                seconds = float(value)
            except (TypeError, ValueError):
                return None
            return seconds if seconds >= 0 else None
    return None


class VenueBackoff:
    """When the venue may be sent requests again, learned from its rate-limit answers.

    Args:
        log: a structlog logger (bound to the gateway).
        backoff: the delays used when a rate limit comes without ``Retry-After``.
    """

    def __init__(self, log: Any, backoff: Backoff) -> None:
        self._log = log
        self._backoff = backoff
        self.until = 0.0

    def remaining(self, now: float | None = None) -> float:
        """Return the seconds left before requests may be sent (0 when they may)."""
        now = time.monotonic() if now is None else now
        return max(0.0, self.until - now)

    def hit(self, retry_after: float | None, status: int | None = None) -> float:
        """Record a rate-limit answer; return the seconds every request now waits."""
        now = time.monotonic()
        delay = retry_after if retry_after is not None else self._backoff.next()
        if now + delay > self.until:
            self.until = now + delay
            self._log.warning("gateway.rate_limited", status=status, retry_after=retry_after,
                              wait=round(delay, 3))
        return self.remaining(now)

    def passed(self) -> None:
        """Record an answer that was not a rate limit (the backoff starts over)."""
        if self.until <= time.monotonic():
            self._backoff.reset()

    async def wait(self, deadline: float | None = None) -> bool:
        """Wait until requests may be sent; False at once if that is after ``deadline``."""
        while (left := self.remaining()) > 0:
            if deadline is not None and time.monotonic() + left > deadline:
                return False
            await asyncio.sleep(left)
        return True

    def install(self, exchange: Any) -> None:
        """Make every REST request of the ccxt client ``exchange`` wait for this backoff.

        The wait is before ccxt signs the request (``fetch2`` signs, then calls ``fetch``):
        a request signed and then held back for a ``Retry-After`` would leave with an old
        timestamp, and the venue refuses it (Binance: -1021, outside ``recvWindow``).
        """
        fetch, fetch2, on_response = exchange.fetch, exchange.fetch2, exchange.on_rest_response

        async def gated_fetch2(*args: Any, **kwargs: Any) -> Any:
            await self.wait()
            return await fetch2(*args, **kwargs)

        async def observed_fetch(url: str, method: str = "GET", headers: Any = None,
                                 body: Any = None) -> Any:
            try:
                return await fetch(url, method, headers, body)
            except Exception as exc:
                # A rate limit with no 418/429 status (a protection page, Retry-After: 0)
                # still holds back every request, whichever call met it.
                if is_rate_limit(exc) and not self.remaining():
                    self.hit(None)
                raise

        def observed(code: Any, reason: Any, url: str, method: str, response_headers: Any,
                     *rest: Any) -> Any:
            if code in RATE_LIMIT_STATUSES:
                self.hit(retry_after_seconds(response_headers), code)
            elif isinstance(code, int) and code < 400:
                self.passed()
            return on_response(code, reason, url, method, response_headers, *rest)

        exchange.fetch2, exchange.fetch, exchange.on_rest_response = \
            gated_fetch2, observed_fetch, observed
