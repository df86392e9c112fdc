"""``HistoryDownloader`` against the local exchange: paging, resuming, gaps, rate limits.

Unmodified ccxt talks HTTP to a real server on 127.0.0.1 that serves a declared candle
history through Binance's ``klines`` endpoint (1,000 candles a page at most).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from history_venue import MINUTE, T0, options_for

from libra.core.errors import ConfigError, GatewayUnavailable
from libra.data import load_bars, load_trades
from libra.data.store import Gap, dataset_path, read_candles
from libra.gateways.ccxt.download import DownloadPlan, HistoryDownloader, SilentProgress
from libra.testing.exchange import LocalExchange

KLINES = "/api/v3/klines"


async def download(exchange: LocalExchange, directory: Path, *, since: int | None,
                   until: int | None, concurrency: int = 4, trades: bool = False,
                   symbols: tuple[str, ...] = ("BTC/USDT",), timeframe: str = "1m"):
    plan = DownloadPlan(symbols, timeframe, directory, since, until, trades=trades)
    async with HistoryDownloader(options_for(exchange), concurrency=concurrency) as downloader:
        return await downloader.download(plan)


def klines_requests(exchange: LocalExchange) -> int:
    return len(exchange.request_times("GET", KLINES))


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_download_pages_through_the_whole_window(
        exchange: LocalExchange, data_dir: Path, concurrency: int) -> None:
    exchange.history.add_candles("BTCUSDT", "1m", T0, 2_500)

    [result] = await download(exchange, data_dir, since=T0, until=T0 + 2_500 * MINUTE,
                              concurrency=concurrency)

    assert klines_requests(exchange) == 3  # 1,000 + 1,000 + 500
    assert (result.stored, result.fetched, result.gaps) == (2_500, 2_500, [])
    bars = load_bars(result.path, symbol="BTC/USDT", timeframe="1m")
    assert len(bars) == 2_500
    assert bars.skipped == 0
    # Bars are stamped at their close: the first opened at T0.
    assert bars[0].ts_event == (T0 + MINUTE) * 1_000_000
    assert bars[-1].ts_event == (T0 + 2_500 * MINUTE) * 1_000_000
    assert result.path == data_dir / "binance" / "BTC_USDT" / "1m.parquet"


async def test_a_second_download_fetches_only_what_is_missing_at_either_end(
        exchange: LocalExchange, data_dir: Path) -> None:
    exchange.history.add_candles("BTCUSDT", "1m", T0, 3_000)
    await download(exchange, data_dir, since=T0 + 1_000 * MINUTE, until=T0 + 2_000 * MINUTE)
    first_run = klines_requests(exchange)

    [result] = await download(exchange, data_dir, since=T0, until=T0 + 3_000 * MINUTE)

    # One page before the stored candles, one after: nothing stored is fetched again.
    assert klines_requests(exchange) - first_run == 2
    assert (result.fetched, result.stored) == (2_000, 3_000)
    stamps = [row[0] for row in read_candles(result.path)]
    assert stamps == [T0 + i * MINUTE for i in range(3_000)]

    [again] = await download(exchange, data_dir, since=T0, until=T0 + 3_000 * MINUTE)
    assert klines_requests(exchange) - first_run == 2
    assert (again.fetched, again.stored) == (0, 3_000)


async def test_gaps_in_the_venues_history_are_reported_and_everything_else_is_stored(
        exchange: LocalExchange, data_dir: Path) -> None:
    # A short halt inside a page, and one longer than a whole page of 1,000 candles.
    exchange.history.add_candles("BTCUSDT", "1m", T0, 5_000,
                                 missing=[(1_200, 1_209), (2_100, 3_499)])

    [result] = await download(exchange, data_dir, since=T0, until=T0 + 5_000 * MINUTE)

    assert result.gaps == [
        Gap(T0 + 1_200 * MINUTE, T0 + 1_209 * MINUTE, 10),
        Gap(T0 + 2_100 * MINUTE, T0 + 3_499 * MINUTE, 1_400),
    ]
    assert result.stored == 5_000 - 10 - 1_400
    stored = {row[0] for row in read_candles(result.path)}
    assert T0 + 1_199 * MINUTE in stored
    assert T0 + 3_500 * MINUTE in stored
    assert T0 + 1_200 * MINUTE not in stored


async def test_a_rate_limit_is_waited_out_and_the_download_finishes(
        exchange: LocalExchange, data_dir: Path) -> None:
    exchange.history.add_candles("BTCUSDT", "1m", T0, 2_000)
    exchange.faults.http_status(429, path=KLINES, count=1, retry_after=1)

    [result] = await download(exchange, data_dir, since=T0, until=T0 + 2_000 * MINUTE,
                              concurrency=1)

    assert result.stored == 2_000
    times = exchange.request_times("GET", KLINES)
    assert len(times) == 3  # the refused page, then both pages
    assert times[1] - times[0] >= 0.9  # the venue's Retry-After was respected


async def test_trades_are_paged_by_time_and_stored_once_each(
        exchange: LocalExchange, data_dir: Path) -> None:
    exchange.history.add_candles("BTCUSDT", "1m", T0, 60)
    # 2,400 trades, 5 per second: several pages of 1,000 and several one-hour windows.
    exchange.history.add_trades("BTCUSDT", T0, 2_400, spacing_ms=200)

    results = await download(exchange, data_dir, since=T0, until=T0 + 60 * MINUTE,
                             trades=True)

    trades = results[1]
    assert (trades.timeframe, trades.stored) == ("trades", 2_400)
    loaded = load_trades(trades.path, symbol="BTC/USDT")
    assert [t.trade_id for t in loaded] == [str(i) for i in range(1, 2_401)]

    again = await download(exchange, data_dir, since=T0, until=T0 + 60 * MINUTE, trades=True)
    assert (again[1].fetched, again[1].stored) == (0, 2_400)


async def test_an_unknown_symbol_or_timeframe_is_refused_before_any_download(
        exchange: LocalExchange, data_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"no symbol .BTC/USDX..*BTC/USDT"):
        await download(exchange, data_dir, since=T0, until=T0 + MINUTE,
                       symbols=("BTC/USDX",))
    with pytest.raises(ConfigError, match="no timeframe '7m'"):
        await download(exchange, data_dir, since=T0, until=T0 + MINUTE, timeframe="7m")
    assert klines_requests(exchange) == 0
    assert not dataset_path(data_dir, "binance", "BTC/USDX", "1m").exists()


async def test_a_candle_still_open_is_not_stored(exchange: LocalExchange,
                                                data_dir: Path) -> None:
    now = int(time.time() * 1000)
    start = now - now % MINUTE - 100 * MINUTE
    # The venue answers with candles up to the one open now (and beyond, here).
    exchange.history.add_candles("BTCUSDT", "1m", start, 200)

    [result] = await download(exchange, data_dir, since=start, until=None)

    assert result.last_ms is not None
    assert result.last_ms + MINUTE <= int(time.time() * 1000)
    assert result.stored in (99, 100, 101)  # 100 closed, give or take a minute turning


class BreakAfterFirstPage(SilentProgress):
    """Makes the venue fail every request once the first page has arrived."""

    def __init__(self, exchange: LocalExchange) -> None:
        self.exchange = exchange

    def advanced(self, symbol: str, timeframe: str, rows: int, reached_ms: int) -> None:
        if not self.exchange.faults.http:
            self.exchange.faults.http_status(503, path=KLINES, count=None)


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_a_download_cut_short_keeps_its_pages_and_the_next_run_resumes(
        exchange: LocalExchange, data_dir: Path, concurrency: int) -> None:
    exchange.history.add_candles("BTCUSDT", "1m", T0, 3_000)
    plan = DownloadPlan(("BTC/USDT",), "1m", data_dir, T0, T0 + 3_000 * MINUTE)
    failing = HistoryDownloader(options_for(exchange), progress=BreakAfterFirstPage(exchange),
                                concurrency=concurrency, attempts=3)

    async with failing:
        with pytest.raises(GatewayUnavailable, match="failed 3 times"):
            await failing.download(plan)

    path = dataset_path(data_dir, "binance", "BTC/USDT", "1m")
    assert len(read_candles(path)) == 1_000
    exchange.faults.clear()
    before = klines_requests(exchange)
    [result] = await download(exchange, data_dir, since=T0, until=T0 + 3_000 * MINUTE)
    assert (result.fetched, result.stored) == (2_000, 3_000)
    assert klines_requests(exchange) - before == 2
