"""Download candles and public trades from any ccxt exchange into the data directory.

``libra data download`` runs this. A backtest is only as good as its history, and
history from a venue comes in pages: ``fetch_ohlcv(symbol, timeframe, since, limit)``
answers at most the venue's page size (Binance 1,000 candles, others 200 or 300), under
a request budget. So the download

- pages forward from ``since``, each page starting one candle after the last one seen,
  with the venue's own page size (ccxt's ``features``) and ccxt's rate limiter on;
- fetches only what the stored file lacks at either end, so a second run costs one or
  two requests, and an interrupted one resumes where its last checkpoint left it;
- waits out a 429/418 answer (``Retry-After``, else exponential backoff) and retries,
  as the trading gateway does (``ratelimit.VenueBackoff``), and retries network
  failures with backoff a bounded number of times;
- reports gaps (runs of candles the venue does not have: a halt, an illiquid pair)
  instead of inventing candles;
- writes through ``libra.data.store``: Parquet, one file per dataset, replaced
  atomically, so a killed run leaves the previous file whole.

Stored times are candle open times in ms; a candle is stored only once it has closed.
"""

from __future__ import annotations

import asyncio
import difflib
import importlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

import structlog

from libra.core.errors import ConfigError, GatewayUnavailable
from libra.data.store import (
    TRADES_NAME,
    Gap,
    candle_table,
    dataset_path,
    find_gaps,
    merge_candle_tables,
    pyarrow_modules,
    read_candle_table,
    read_trades,
    remove_stale_temps,
    table_stamps,
    write_candle_table,
    write_trades,
)
from libra.gateways.ccxt.config import CCXTGatewayConfig
from libra.gateways.ccxt.errors import (
    Outcome,
    ccxt_module,
    classify,
    describe,
    is_rate_limit,
    map_ccxt_errors,
)
from libra.gateways.ccxt.ratelimit import VenueBackoff
from libra.gateways.ccxt.streams import Backoff
from libra.model.events import timeframe_to_ns

DEFAULT_HISTORY_DAYS = 30
#: How far a trades download moves on when a window holds no trade (Binance answers
#: ``aggTrades`` for at most one hour from ``since``).
TRADE_WINDOW_MS = 3_600_000
_DAY_MS = 86_400_000
_RETRYABLE = (Outcome.TRANSIENT, Outcome.AMBIGUOUS)

_log = structlog.get_logger("libra.data")


@dataclass(frozen=True, slots=True)
class DownloadPlan:
    """What to download: symbols, one timeframe, a window (ms, open times) and where to."""

    symbols: tuple[str, ...]
    timeframe: str
    directory: Path
    since_ms: int | None = None
    until_ms: int | None = None
    trades: bool = False


@dataclass(slots=True)
class DatasetResult:
    """The outcome for one stored file."""

    symbol: str
    timeframe: str
    path: Path
    fetched: int = 0
    requests: int = 0
    stored: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    gaps: list[Gap] = field(default_factory=list)


class DownloadProgress(Protocol):
    """Where a download reports how far it is (a progress bar, log lines, nothing)."""

    def started(self, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> None: ...

    def advanced(self, symbol: str, timeframe: str, rows: int, reached_ms: int) -> None: ...

    def finished(self, result: DatasetResult) -> None: ...


class SilentProgress:
    """Report nothing (library use, benchmarks)."""

    def started(self, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> None:
        pass

    def advanced(self, symbol: str, timeframe: str, rows: int, reached_ms: int) -> None:
        pass

    def finished(self, result: DatasetResult) -> None:
        pass


def missing_ranges(first_ms: int | None, last_ms: int | None, since_ms: int, end_ms: int,
                   step_ms: int) -> list[tuple[int, int]]:
    """Return the ``[start, stop)`` open-time ranges to fetch around stored ``first..last``."""
    if first_ms is None or last_ms is None:
        return [(since_ms, end_ms)] if since_ms < end_ms else []
    ranges = []
    if since_ms < first_ms:
        ranges.append((since_ms, min(first_ms, end_ms)))
    if last_ms + step_ms < end_ms:
        ranges.append((last_ms + step_ms, end_ms))
    return ranges


class HistoryDownloader:
    """One ccxt client (``ccxt.async_support``) downloading into the data directory.

    Use it as an async context manager; it loads the markets on entry::

        async with HistoryDownloader(CCXTGatewayConfig(exchange="binance")) as downloader:
            results = await downloader.download(plan)

    Args:
        options: the exchange and its client settings (a ccxt gateway's options).
        progress: where progress goes.
        checkpoint_seconds: how often a long download saves what it has (atomically).
        attempts: tries of one request that fails for a transient reason.
        concurrency: candle pages requested at once (ccxt's rate limiter still spaces
            them when it is on); 1 pages strictly one after the other.
    """

    def __init__(self, options: CCXTGatewayConfig, *, progress: DownloadProgress | None = None,
                 checkpoint_seconds: float = 30.0, attempts: int = 8,
                 concurrency: int = 4) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, was {concurrency}")
        self.options = options
        self.concurrency = concurrency
        self.progress: DownloadProgress = progress or SilentProgress()
        self.checkpoint_seconds = checkpoint_seconds
        self.attempts = attempts
        self.secrets = options.secrets()
        self.requests = 0
        self.client: Any = None
        self._backoff = Backoff(options.retry_initial, options.retry_max,
                                options.reconnect_jitter)
        self._venue = VenueBackoff(_log.bind(exchange=options.exchange), Backoff(
            options.retry_initial, options.retry_max, options.reconnect_jitter))

    @property
    def exchange(self) -> str:
        """The ccxt exchange id (the first level of the data directory)."""
        return self.options.exchange

    # -- client ------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def open(self) -> None:
        """Build the client and load the markets.

        Raises:
            ConfigError: ccxt knows no such exchange.
            GatewayError: the venue failed (``GatewayUnavailable`` after every retry).
        """
        pyarrow_modules()  # fail before any request when the files cannot be written
        ccxt = ccxt_module()
        name = self.options.exchange
        cls = getattr(_async_module(), name, None) if name in ccxt.exchanges else None
        if cls is None:
            close = difflib.get_close_matches(name, ccxt.exchanges, n=5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"unknown exchange {name!r}: ccxt has no such exchange id{hint}",
                              field="exchange")
        config = self.options.ccxt_config()
        self.client = cls(config)
        self._venue.install(self.client)
        try:
            if self.options.sandbox:
                with map_ccxt_errors("sandbox mode", self.secrets):
                    self.client.set_sandbox_mode(True)
            await self._call("load_markets", self.client.load_markets)
        except BaseException:
            await self.close()  # ``async with`` does not exit what failed to enter
            raise

    async def close(self) -> None:
        """Close the client's connections; safe to call twice."""
        client, self.client = self.client, None
        if client is not None:
            await client.close()

    def check(self, plan: DownloadPlan) -> None:
        """Refuse symbols and a timeframe the venue does not have, before any download.

        Raises:
            ConfigError: naming the unknown symbol or timeframe and what the venue offers.
        """
        client = self.client
        if not client.has.get("fetchOHLCV"):
            raise ConfigError(f"{self.exchange} offers no candle history (fetchOHLCV)",
                              field="exchange")
        timeframes = list(client.timeframes or {})
        if timeframes and plan.timeframe not in timeframes:
            raise ConfigError(f"{self.exchange} has no timeframe {plan.timeframe!r}; it has "
                              f"{', '.join(timeframes)}", field="timeframe")
        try:
            timeframe_to_ns(plan.timeframe)
        except ValueError:
            raise ConfigError(f"timeframe {plan.timeframe!r} of {self.exchange} has no fixed "
                              "length, so LIBRA cannot replay it; use days or weeks",
                              field="timeframe") from None
        for symbol in plan.symbols:
            if symbol not in client.markets:
                close = difflib.get_close_matches(symbol, list(client.markets), n=5)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise ConfigError(f"{self.exchange} has no symbol {symbol!r}{hint}",
                                  field="symbols")

    # -- download ----------------------------------------------------------------------------

    async def download(self, plan: DownloadPlan) -> list[DatasetResult]:
        """Bring every dataset of ``plan`` up to date; return what each one holds now."""
        self.check(plan)
        results = []
        for symbol in plan.symbols:
            results.append(await self.download_candles(
                symbol, plan.timeframe, plan.directory, plan.since_ms, plan.until_ms))
            if plan.trades:
                results.append(await self.download_trades(
                    symbol, plan.directory, plan.since_ms, plan.until_ms))
        return results

    def _window(self, step_ms: int, since_ms: int | None, until_ms: int | None,
                first_ms: int | None) -> tuple[int, int]:
        now = int(self.client.milliseconds())
        # Only closed candles: one that opened less than a step ago is still changing.
        end = now - step_ms + 1
        if until_ms is not None:
            end = min(end, until_ms)
        if since_ms is None:
            since_ms = first_ms if first_ms is not None else end - DEFAULT_HISTORY_DAYS * _DAY_MS
        return since_ms, end

    async def download_candles(self, symbol: str, timeframe: str, directory: Path,
                               since_ms: int | None = None,
                               until_ms: int | None = None) -> DatasetResult:
        """Fetch the candles ``directory`` lacks for ``symbol`` in ``since..until``; store them."""
        client = self.client
        step_ms = int(client.parse_timeframe(timeframe) * 1000)
        path = dataset_path(directory, self.exchange, symbol, timeframe)
        remove_stale_temps(path)
        stored = read_candle_table(path) if path.exists() else candle_table([])
        first, last = _ends(stored)
        since, end = self._window(step_ms, since_ms, until_ms, first)
        result = DatasetResult(symbol, timeframe, path)
        requests_before = self.requests
        self.progress.started(symbol, timeframe, since, end)
        limit = self._page_limit(symbol, "fetchOHLCV")
        for start, stop in missing_ranges(first, last, since, end, step_ms):
            # Only a range that extends the stored data at its newer end (or starts a new
            # file) is checkpointed: a half-fetched older range saved as is would look
            # like a gap in the middle, which no later run would fill.
            extends = last is None or start > last
            stored, fetched = await self._candle_range(
                symbol, timeframe, step_ms, start, stop, limit, stored, path, extends)
            result.fetched += fetched
        if result.fetched:
            write_candle_table(path, stored, exchange=self.exchange, symbol=symbol,
                               timeframe=timeframe)
        stamps = table_stamps(stored)
        result.requests = self.requests - requests_before
        result.stored = len(stamps)
        result.first_ms, result.last_ms = (stamps[0], stamps[-1]) if stamps else (None, None)
        result.gaps = find_gaps(stamps, step_ms)
        _log.info("data.dataset_saved", exchange=self.exchange, symbol=symbol,
                  timeframe=timeframe, fetched=result.fetched, stored=result.stored,
                  requests=result.requests, gaps=len(result.gaps), path=str(path))
        self.progress.finished(result)
        return result

    async def _candle_range(self, symbol: str, timeframe: str, step_ms: int, start: int,
                            stop: int, limit: int | None, stored: Any, path: Path,
                            checkpoint: bool) -> tuple[Any, int]:
        fetched, pending = 0, list[Any]()
        saved_at = time.monotonic()
        try:
            async for page in self._candle_pages(symbol, timeframe, step_ms, start, stop, limit):
                pending.extend(page)
                fetched += len(page)
                self.progress.advanced(symbol, timeframe, len(page), int(page[-1][0]) + step_ms)
                if checkpoint and time.monotonic() - saved_at >= self.checkpoint_seconds:
                    stored, pending = merge_candle_tables(stored, candle_table(pending)), []
                    write_candle_table(path, stored, exchange=self.exchange, symbol=symbol,
                                       timeframe=timeframe)
                    saved_at = time.monotonic()
        except BaseException:
            # Interrupted (Ctrl-C, a venue that stays down): keep what extends the file, so
            # the next run starts from there instead of from the last checkpoint.
            if checkpoint and pending:
                write_candle_table(path, merge_candle_tables(stored, candle_table(pending)),
                                   exchange=self.exchange, symbol=symbol, timeframe=timeframe)
            raise
        if pending:
            stored = merge_candle_tables(stored, candle_table(pending))
        return stored, fetched

    async def _candle_pages(self, symbol: str, timeframe: str, step_ms: int, start: int,
                            stop: int, limit: int | None) -> AsyncIterator[list[Any]]:
        """Yield the candles of ``start..stop`` page by page, oldest first.

        One request from ``start`` finds where the venue's history begins. After that,
        with a known page size, the range is cut into windows of ``limit`` candle slots
        and ``concurrency`` windows are fetched at once: a window holds at most ``limit``
        candles, so a page asked from its start holds all of them, gaps or not. A page
        that is short of its window's end (a gap, the end of history, or a venue whose
        pages are smaller than ccxt says) is not trusted: the download goes on one page
        at a time from its last candle, as a sequential download would.
        """
        action = f"fetch_ohlcv {symbol} {timeframe}"
        fetch = self.client.fetch_ohlcv
        cursor = start
        while cursor < stop:
            rows = await self._call(action, fetch, symbol, timeframe, cursor, limit)
            page = [row for row in rows if cursor <= row[0] < stop]
            if not page:
                return  # nothing more in the range: the venue's history ends (or begins) here
            yield page
            cursor = int(page[-1][0]) + step_ms
            if limit is None or self.concurrency < 2:
                continue
            window = limit * step_ms
            while cursor < stop:
                starts = range(cursor, min(stop, cursor + window * self.concurrency), window)
                answers = await _all_or_none([
                    self._call(action, fetch, symbol, timeframe, s, limit) for s in starts])
                for window_start, rows in zip(starts, answers, strict=True):
                    end = min(window_start + window, stop)
                    page = [row for row in rows if window_start <= row[0] < end]
                    if page:
                        yield page
                    cursor = int(page[-1][0]) + step_ms if page else window_start
                    complete = len(rows) >= limit or (rows and rows[-1][0] >= end - step_ms)
                    if not complete:
                        break  # back to one page at a time from ``cursor``
                    cursor = end
                else:
                    continue
                break

    async def download_trades(self, symbol: str, directory: Path, since_ms: int | None = None,
                              until_ms: int | None = None) -> DatasetResult:
        """Fetch the public trades ``directory`` lacks for ``symbol``; store them."""
        path = dataset_path(directory, self.exchange, symbol, TRADES_NAME)
        remove_stale_temps(path)
        stored = read_trades(path) if path.exists() else []
        first = int(stored[0][0]) if stored else None
        last = int(stored[-1][0]) if stored else None
        since, end = self._window(1, since_ms, until_ms, first)
        result = DatasetResult(symbol, TRADES_NAME, path)
        requests_before = self.requests
        self.progress.started(symbol, TRADES_NAME, since, end)
        limit = self._page_limit(symbol, "fetchTrades")
        new: list[list[Any]] = []
        # The newer range starts at the last stored millisecond again (step 0): the last
        # run may have ended between trades printed at the same time. Repeats merge away.
        for start, stop in missing_ranges(first, last, since, end, 0):
            new.extend(await self._trade_range(symbol, start, stop, limit))
        count_before = len(stored)
        if new:
            keyed = {(int(t[0]), str(t[1])): t for t in stored}
            keyed.update({(int(t[0]), str(t[1])): t for t in new})
            stored = sorted(keyed.values(), key=lambda t: int(t[0]))  # stable: ids keep order
        if len(stored) > count_before:
            write_trades(path, stored, exchange=self.exchange, symbol=symbol)
        result.fetched = len(stored) - count_before
        result.requests = self.requests - requests_before
        result.stored = len(stored)
        if stored:
            result.first_ms, result.last_ms = int(stored[0][0]), int(stored[-1][0])
        _log.info("data.dataset_saved", exchange=self.exchange, symbol=symbol,
                  timeframe=TRADES_NAME, fetched=result.fetched, stored=result.stored,
                  requests=result.requests, path=str(path))
        self.progress.finished(result)
        return result

    async def _trade_range(self, symbol: str, start: int, stop: int,
                           limit: int | None) -> list[list[Any]]:
        fetch = self.client.fetch_trades
        action = f"fetch_trades {symbol}"
        cursor, rows = start, list[list[Any]]()
        seen: set[str] = set()  # ids at the cursor's millisecond, already kept
        while cursor < stop:
            trades = await self._call(action, fetch, symbol, cursor, limit)
            page = [t for t in trades if cursor <= t["timestamp"] < stop
                    and str(t["id"]) not in seen]
            if not page:
                # An empty window: either none traded in it, or the history ends.
                newest = max((t["timestamp"] for t in trades), default=None)
                cursor = max(cursor + TRADE_WINDOW_MS if newest is None else newest + 1,
                             cursor + 1)
                continue
            rows.extend([int(t["timestamp"]), str(t["id"]), t.get("side") or "",
                         t["price"], t["amount"]] for t in page)
            newest = int(page[-1]["timestamp"])
            # The next page starts at the newest millisecond again: a page may end in the
            # middle of several trades printed at the same time.
            seen = {str(t["id"]) for t in page if t["timestamp"] == newest}
            cursor = newest
            self.progress.advanced(symbol, TRADES_NAME, len(page), cursor)
        return rows

    # -- one request -------------------------------------------------------------------------

    def _page_limit(self, symbol: str, method: str) -> int | None:
        """Return the venue's largest page for ``method`` (ccxt ``features``), else None."""
        market = self.client.markets.get(symbol, {})
        features = getattr(self.client, "features", None) or {}
        entry = features.get(market.get("type") or "spot") or {}
        if "fetchOHLCV" not in entry and isinstance(entry, dict):
            entry = entry.get("linear" if market.get("linear") else "inverse") or {}
        limit = (entry.get(method) or {}).get("limit") if isinstance(entry, dict) else None
        return int(limit) if isinstance(limit, int | float) and limit > 0 else None

    async def _call(self, action: str, method: Callable[..., Any], *args: Any) -> Any:
        """Await one ccxt request, waiting out rate limits and retrying transient failures.

        Raises:
            GatewayUnavailable: still failing after ``attempts`` tries.
            GatewayError, GatewayAuthError: the venue refused the request.
        """
        ccxt = ccxt_module()
        failures = 0
        while True:
            await self._venue.wait()
            self.requests += 1
            try:
                answer = await method(*args)
            except Exception as exc:
                if not isinstance(exc, ccxt.BaseError):
                    raise
                if classify(exc) not in _RETRYABLE:
                    with map_ccxt_errors(action, self.secrets):
                        raise
                failures += 1
                if failures >= self.attempts:
                    raise GatewayUnavailable(f"{action} failed {failures} times, last: "
                                             f"{describe(exc, self.secrets)}") from exc
                if is_rate_limit(exc):
                    # The client's VenueBackoff has already paused every request; a rate
                    # limit without a status (a protection page) gets a backoff of its own.
                    if not self._venue.remaining():
                        self._venue.hit(None)
                else:
                    delay = self._backoff.next()
                    _log.warning("data.request_retrying", action=action, attempt=failures,
                                 delay=round(delay, 3), error=describe(exc, self.secrets))
                    await asyncio.sleep(delay)
                continue
            self._backoff.reset()
            return answer



async def _all_or_none(calls: list[Coroutine[Any, Any, Any]]) -> list[Any]:
    """Await ``calls`` together; when one fails, cancel the others before raising its error
    (``gather`` alone would leave them running against a client about to be closed)."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _ends(table: Any) -> tuple[int | None, int | None]:
    """Return the first and last open time (ms) of a sorted candle table."""
    if not table.num_rows:
        return None, None
    stamps = table.column("timestamp")
    return int(stamps[0].value), int(stamps[-1].value)


def _async_module() -> Any:
    """Return ``ccxt.async_support``, imported on first use (as ``ccxt_module``)."""
    return importlib.import_module("ccxt.async_support")
