"""Historical candles and trades the local exchange serves through ``klines`` and ``aggTrades``.

The recording behind the local exchange lasts 30 seconds: too short to test a download
that pages through months of history. A test declares a history instead: ``count``
candles of one symbol and interval from ``start_ms``, with chosen runs of candles
missing (a venue halt, an illiquid pair). Candles are computed from their index when a
page is asked for, so a history of millions of candles costs nothing until it is read,
and every page shows the same candle for the same time.

The endpoints follow Binance's paging rules, which ccxt's ``fetch_ohlcv`` and
``fetch_trades`` rely on: ``startTime``/``endTime`` are inclusive open times, ``limit``
defaults to 500 and is at most 1000, the oldest rows come first, and without a
``startTime`` the newest ``limit`` rows are returned.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CandleHistory", "History", "TradeHistory"]

INTERVAL_MS: dict[str, int] = {
    "1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000,
    "30m": 1_800_000, "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000,
    "6h": 21_600_000, "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
    "3d": 259_200_000, "1w": 604_800_000,
}
MAX_LIMIT = 1000
_PAGES_KEPT = 256  # about 40 MB at most
DEFAULT_LIMIT = 500


def _price(index: int) -> float:
    # A smooth, deterministic path: every page shows the same candle for the same index.
    return 100.0 + 10.0 * math.sin(index / 90.0) + (index % 17) * 0.01


@dataclass(slots=True)
class CandleHistory:
    """``count`` candles from ``start_ms`` every ``interval_ms``; ``missing`` index runs absent.

    ``missing`` holds ``(first, last)`` candle indexes (inclusive), sorted and disjoint.
    """

    start_ms: int
    interval_ms: int
    count: int
    missing: list[tuple[int, int]] = field(default_factory=list)
    _pages: dict[tuple[int | None, int | None, int], str] = field(
        default_factory=dict, repr=False)

    def _present(self, index: int) -> int | None:
        """Return the first present index at or after ``index``, or None past the end."""
        for first, last in self.missing:
            if first <= index <= last:
                index = last + 1
        return index if index < self.count else None

    def _indexes(self, first: int) -> Iterator[int]:
        index = self._present(max(first, 0))
        while index is not None:
            yield index
            index = self._present(index + 1)

    def page(self, start_ms: int | None, end_ms: int | None, limit: int) -> list[list[Any]]:
        """Return up to ``limit`` Binance kline rows with open time in ``start..end``."""
        return json.loads(self.page_json(start_ms, end_ms, limit))  # type: ignore[no-any-return]

    def page_json(self, start_ms: int | None, end_ms: int | None, limit: int) -> str:
        """Return :meth:`page` as the JSON body Binance sends.

        Built as text, and the last pages kept: a benchmark downloads the same history
        several times, and the venue's cost should stay out of its figure.
        """
        key = (start_ms, end_ms, limit)
        text = self._pages.get(key)
        if text is None:
            rows = map(self._row_json, self._page_indexes(start_ms, end_ms, limit))
            text = "[" + ",".join(rows) + "]"
            if len(self._pages) >= _PAGES_KEPT:
                del self._pages[next(iter(self._pages))]
            self._pages[key] = text
        return text

    def _page_indexes(self, start_ms: int | None, end_ms: int | None, limit: int) -> list[int]:
        step = self.interval_ms
        last_index = self.count - 1
        if end_ms is not None:
            last_index = min(last_index, (end_ms - self.start_ms) // step)
        if start_ms is None:
            # The newest ``limit`` candles up to end_ms.
            wanted: list[int] = []
            index = last_index
            while index >= 0 and len(wanted) < limit:
                if self._present(index) == index:
                    wanted.append(index)
                index -= 1
            return wanted[::-1]
        first = max(0, -((self.start_ms - start_ms) // step))  # ceil division
        if not self.missing:
            return list(range(first, min(last_index + 1, first + limit)))
        indexes: list[int] = []
        for index in self._indexes(first):
            if index > last_index or len(indexes) >= limit:
                break
            indexes.append(index)
        return indexes

    def _row_json(self, index: int) -> str:
        open_ms = self.start_ms + index * self.interval_ms
        open_, close = _price(index), _price(index + 1)
        high, low = max(open_, close) + 0.05, min(open_, close) - 0.05
        volume = 1.0 + (index % 13) * 0.25
        return (f'[{open_ms},"{open_:.2f}","{high:.2f}","{low:.2f}","{close:.2f}",'
                f'"{volume:.8f}",{open_ms + self.interval_ms - 1},"{volume * close:.8f}",'
                f'{10 + index % 5},"{volume / 2:.8f}","{volume * close / 2:.8f}","0"]')


@dataclass(slots=True)
class TradeHistory:
    """``count`` aggregate trades from ``start_ms``, one every ``spacing_ms``, ids from 1."""

    start_ms: int
    spacing_ms: int
    count: int
    stamps: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.stamps = [self.start_ms + i * self.spacing_ms for i in range(self.count)]

    def page(self, start_ms: int | None, end_ms: int | None, from_id: int | None,
             limit: int) -> list[dict[str, Any]]:
        """Return up to ``limit`` Binance aggTrade rows (``fromId`` or a time window)."""
        if from_id is not None:
            first = max(0, from_id - 1)
        elif start_ms is not None:
            first = bisect_left(self.stamps, start_ms)
        else:
            first = max(0, self.count - limit)
        stop = self.count if end_ms is None else bisect_right(self.stamps, end_ms)
        return [self._row(i) for i in range(first, min(stop, first + limit))]

    def _row(self, index: int) -> dict[str, Any]:
        return {
            "a": index + 1, "p": f"{_price(index):.2f}", "q": f"{0.1 + (index % 9) * 0.05:.8f}",
            "f": index + 1, "l": index + 1, "T": self.stamps[index], "m": index % 2 == 0,
            "M": True,
        }


class History:
    """Every declared history of one local exchange, by Binance symbol id."""

    def __init__(self) -> None:
        self.candles: dict[tuple[str, str], CandleHistory] = {}
        self.trades: dict[str, TradeHistory] = {}

    def add_candles(self, symbol: str, interval: str, start_ms: int, count: int,
                    missing: Iterable[tuple[int, int]] = ()) -> CandleHistory:
        """Declare candles of ``symbol`` (Binance id, e.g. ``"BTCUSDT"``) at ``interval``.

        Args:
            start_ms: open time of candle 0; a multiple of the interval, as on a venue.
            missing: ``(first, last)`` candle index runs the venue has no candle for.
        """
        step = INTERVAL_MS[interval]
        if start_ms % step:
            raise ValueError(f"start_ms must be a multiple of {interval}, was {start_ms}")
        history = CandleHistory(start_ms, step, count, sorted(missing))
        self.candles[(symbol.upper(), interval)] = history
        return history

    def add_trades(self, symbol: str, start_ms: int, count: int,
                   spacing_ms: int = 1_000) -> TradeHistory:
        """Declare ``count`` aggregate trades of ``symbol``, one every ``spacing_ms``."""
        history = TradeHistory(start_ms, spacing_ms, count)
        self.trades[symbol.upper()] = history
        return history
