"""Push quotes at the local exchange until one reaches a ccxt venue's sink."""

from __future__ import annotations

import asyncio
from typing import Any

from libra.model.events import Quote


def quotes(venue: Any) -> list[Quote]:
    """Return the quotes the venue's sink received, oldest first."""
    return [e for e in venue.sink.data if isinstance(e, Quote)]


async def push_until_quote(exchange: Any, venue: Any, timeout: float = 10.0) -> None:
    """Push quotes until one more reaches the sink (the stream may be reconnecting meanwhile).

    The pause between pushes paces them; it waits for nothing.
    """
    seen = len(quotes(venue))
    async with asyncio.timeout(timeout):
        while len(quotes(venue)) == seen:
            await exchange.push_book_ticker("NKNUSDT", "0.35100000", "0.35200000")
            await asyncio.sleep(0.05)
