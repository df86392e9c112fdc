"""Deterministic random-walk bars for benchmarks and tests (not market data)."""

from __future__ import annotations

import random
from decimal import Decimal

from libra.model.events import Bar, timeframe_to_ns

SYNTHETIC_VENUE = "synthetic"
DEFAULT_START_NS = 1_704_067_200_000_000_000  # 2024-01-01 00:00 UTC
_MIN_TICKS = 10_000  # resolution of the walk: at least 1e4 ticks in the start price


def synthetic_bars(
    n: int,
    symbol: str,
    timeframe: str = "1m",
    seed: int = 0,
    start_price: Decimal | str = "100.00",
    *,
    venue: str = SYNTHETIC_VENUE,
    start_ns: int = DEFAULT_START_NS,
) -> list[Bar]:
    """Return ``n`` valid OHLCV bars of a seeded random walk; the same seed gives the same bars.

    Prices move in ticks of the start price's last digit (``"100.00"`` -> 0.01), refined
    until the start price is at least 10,000 ticks. Each close moves by up to about
    ±0.2 %, and prices never fall below 5 % of the start price.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, was {n}")
    start = Decimal(start_price)
    if not start.is_finite() or start <= 0:
        raise ValueError(f"start_price must be a positive number, was {start_price!r}")
    scale = max(0, -int(start.as_tuple().exponent))
    ticks = int(start.scaleb(scale))
    while ticks < _MIN_TICKS:
        scale, ticks = scale + 1, ticks * 10
    step_ns = timeframe_to_ns(timeframe)
    noise = iter(random.Random(seed).randbytes(3 * n))
    return _walk(n, ticks, scale, noise, step_ns, start_ns, symbol, timeframe, venue)


def _walk(
    n: int,
    ticks: int,
    scale: int,
    noise: object,
    step_ns: int,
    start_ns: int,
    symbol: str,
    timeframe: str,
    venue: str,
) -> list[Bar]:
    unit = max(1, ticks // 2_000)
    floor = max(ticks // 20, 8 * unit)
    prices: dict[int, Decimal] = {}
    price = prices.get
    volumes = [Decimal(v) for v in range(1, 32)]
    bars: list[Bar] = []
    append = bars.append
    close = ticks
    close_price = _price(prices, close, scale)
    ts = start_ns + step_ns  # a bar's ts_event is its close time
    # Three random bytes per bar: the close move, and the wicks above and below the body.
    # Prices are positive, so a cached Decimal is never falsy.
    for move, up, down in zip(noise, noise, noise, strict=False):  # type: ignore[call-overload]
        open_, open_price = close, close_price
        close = open_ + (move - 128) * unit // 32
        if close < floor:
            close = 2 * floor - close
        high = (open_ if open_ > close else close) + (up & 15) * unit // 8
        low = (open_ if open_ < close else close) - (down & 15) * unit // 8
        close_price = price(close) or _price(prices, close, scale)
        append(
            Bar(
                venue,
                symbol,
                timeframe,
                open_price,
                price(high) or _price(prices, high, scale),
                price(low) or _price(prices, low, scale),
                close_price,
                volumes[(up >> 4) + (down >> 4)],
                ts,
                ts,
            )
        )
        ts += step_ns
    return bars


def _price(cache: dict[int, Decimal], ticks: int, scale: int) -> Decimal:
    price = cache.get(ticks)
    if price is None:
        price = cache[ticks] = Decimal(ticks).scaleb(-scale)
    return price
