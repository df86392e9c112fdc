"""Typed market data events: quote, trade, bar, order book.

Each event is an immutable ``Record`` (a frozen msgspec struct) that is also read as a mapping
(``data["symbol"]``, ``data.get("price")``), so plugin code written against the
published dict-style API and LIBRA's typed code share one object.

Timestamps are integer nanoseconds since the Unix epoch (UTC): ``ts_event`` is
when the venue says the event happened (for a bar: when it closed), ``ts_recv``
when LIBRA received it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from libra.model.readable import Record

_TIMEFRAME_UNITS_NS = {
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
    "w": 604_800_000_000_000,
}
_TIMEFRAME_CACHE: dict[str, int] = {}


def timeframe_to_ns(timeframe: str) -> int:
    """Return the length of a ccxt-style timeframe (``"1m"``, ``"4h"``, ``"1d"``) in ns."""
    cached = _TIMEFRAME_CACHE.get(timeframe)
    if cached is not None:
        return cached
    try:
        unit = _TIMEFRAME_UNITS_NS[timeframe[-1]]
        count = int(timeframe[:-1])
    except (KeyError, ValueError, IndexError):
        raise ValueError(f"invalid timeframe, was {timeframe!r}") from None
    if count <= 0:
        raise ValueError(f"invalid timeframe, was {timeframe!r}")
    _TIMEFRAME_CACHE[timeframe] = count * unit
    return count * unit


class Quote(Record, frozen=True, gc=False):
    """Best bid and ask (a ticker or book-ticker update)."""

    kind: ClassVar[str] = "quote"
    _extra_keys: ClassVar[tuple[str, ...]] = ("price", "kind")

    venue: str
    symbol: str
    bid: Decimal
    ask: Decimal
    bid_size: Decimal
    ask_size: Decimal
    ts_event: int
    ts_recv: int
    last: Decimal | None = None

    @property
    def price(self) -> Decimal:
        """The last traded price when the venue sent one, else the mid price."""
        if self.last is not None:
            return self.last
        return (self.bid + self.ask) / 2

    @property
    def topic(self) -> str:
        return f"data.quote.{self.venue}.{self.symbol}"


class Trade(Record, frozen=True, gc=False):
    """One public trade print. ``side`` is the aggressor's side: ``"buy"`` or ``"sell"``."""

    kind: ClassVar[str] = "trade"
    _extra_keys: ClassVar[tuple[str, ...]] = ("quantity", "kind")

    venue: str
    symbol: str
    price: Decimal
    size: Decimal
    side: str
    trade_id: str
    ts_event: int
    ts_recv: int

    @property
    def quantity(self) -> Decimal:
        return self.size

    @property
    def topic(self) -> str:
        return f"data.trade.{self.venue}.{self.symbol}"


class Bar(Record, frozen=True, gc=False):
    """One OHLCV candle; ``ts_event`` is its close time, ``ts_open`` its open time."""

    kind: ClassVar[str] = "bar"
    _extra_keys: ClassVar[tuple[str, ...]] = ("price", "ts_open", "kind")

    venue: str
    symbol: str
    timeframe: str
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    ts_event: int
    ts_recv: int

    @property
    def price(self) -> Decimal:
        return self.close

    @property
    def ts_open(self) -> int:
        return self.ts_event - timeframe_to_ns(self.timeframe)

    @property
    def topic(self) -> str:
        return f"data.bar.{self.venue}.{self.symbol}.{self.timeframe}"


class OrderBook(Record, frozen=True, gc=False):
    """An order book snapshot: levels as ``(price, size)`` pairs, best first."""

    kind: ClassVar[str] = "book"
    _extra_keys: ClassVar[tuple[str, ...]] = ("price", "kind")

    venue: str
    symbol: str
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]
    ts_event: int
    ts_recv: int

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0][0] if self.asks else None

    @property
    def price(self) -> Decimal | None:
        """The mid price, or the one side there is."""
        bid, ask = self.best_bid, self.best_ask
        if bid is not None and ask is not None:
            return (bid + ask) / 2
        return bid if bid is not None else ask

    @property
    def topic(self) -> str:
        return f"data.book.{self.venue}.{self.symbol}"


MarketData = Quote | Trade | Bar | OrderBook
TICK_TYPES: tuple[type, ...] = (Quote, Trade)
