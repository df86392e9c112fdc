"""``libra data download`` and ``libra data list``: get history, see what is stored.

``download`` fetches candles (and, with ``--trades``, public trades) from any exchange
ccxt knows into the data directory (layout in ``libra.data.store``), fetching only what
is missing; ``list`` shows what the directory holds, and ``--samples`` the samples
bundled with LIBRA. A config names a stored dataset with
``data = { source = "replay", dir = "data", exchange = "binance", timeframe = "1m" }``.

Exit codes: 0 done; 1 the venue failed (unreachable after retries, refused a request);
2 bad usage or input (unknown exchange, symbol or timeframe, a bad date, a config
without the named ccxt gateway, pyarrow missing).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from libra.cli._runtime import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_OK,
    fail,
    load,
    run_async,
    show_help,
)
from libra.core.errors import ConfigError, GatewayError
from libra.data.store import DEFAULT_DATA_DIR, iso_ms

if TYPE_CHECKING:
    from libra.core.config import KernelConfig
    from libra.gateways.ccxt.config import CCXTGatewayConfig
    from libra.gateways.ccxt.download import DatasetResult

_GAPS_SHOWN = 10
_LOG_EVERY = 5.0  # seconds between progress lines off a terminal


def register(sub: Any) -> None:
    """Add the ``data`` command group to the ``libra`` parser."""
    group = sub.add_parser("data", help="download market history and list what is stored")
    commands = group.add_subparsers(dest="data_command", metavar="COMMAND")
    group.set_defaults(func=show_help(group))

    download = commands.add_parser(
        "download", help="fetch candles (and trades) from an exchange into the data directory",
        description="Fetch what the data directory lacks, page by page, from any exchange "
                    "ccxt knows. A second run fetches only the missing candles at either end.")
    source = download.add_mutually_exclusive_group(required=True)
    source.add_argument("--exchange", "-e", metavar="NAME",
                        help="ccxt exchange id, e.g. binance, kraken, okx")
    source.add_argument("--config", "-c", metavar="FILE",
                        help="take the exchange, its options and URLs from a ccxt gateway of "
                             "this config file")
    download.add_argument("--gateway", "-g", metavar="ID",
                          help="the ccxt gateway of --config to use (needed when it has "
                               "several)")
    download.add_argument("--symbols", "-s", nargs="+", metavar="SYMBOL",
                          help="unified symbols, e.g. BTC/USDT ETH/USDT (or comma-separated); "
                               "with --config, default: the gateway's symbols and those of "
                               "the strategies using it")
    download.add_argument("--timeframe", "-t", metavar="TF",
                          help="candle timeframe, e.g. 1m, 5m, 1h, 1d (default: the "
                               "gateway's timeframe with --config, else 1m)")
    download.add_argument("--since", metavar="DATE",
                          help="first candle, ISO date or date-time, UTC unless it says "
                               "otherwise (default: the stored data's first candle, else "
                               "30 days ago)")
    download.add_argument("--until", metavar="DATE",
                          help="stop before this ISO date or date-time (default: now; only "
                               "closed candles are stored)")
    download.add_argument("--dir", "-d", default=DEFAULT_DATA_DIR, metavar="DIR",
                          help=f"the data directory (default: ./{DEFAULT_DATA_DIR})")
    download.add_argument("--trades", action="store_true",
                          help="also download public trades (trades.parquet)")
    download.add_argument("--concurrency", type=int, default=4, metavar="N",
                          help="candle pages requested at once (default: 4); ccxt's rate "
                               "limiter still spaces them")
    download.add_argument("--log-level", default=None,
                          choices=["debug", "info", "warning", "error"],
                          help="lowest level logged to stderr (default: warning on a "
                               "terminal, info otherwise)")
    download.set_defaults(func=cmd_download)

    listing = commands.add_parser("list", help="show the datasets stored in the data directory")
    listing.add_argument("--dir", "-d", default=DEFAULT_DATA_DIR, metavar="DIR",
                         help=f"the data directory (default: ./{DEFAULT_DATA_DIR})")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.add_argument("--samples", action="store_true",
                         help="list the samples bundled with LIBRA (data path bundled:NAME)")
    listing.set_defaults(func=cmd_list)


# --- download ---------------------------------------------------------------------------------


def cmd_download(args: argparse.Namespace) -> int:
    from libra.gateways.ccxt.download import DownloadPlan, HistoryDownloader
    from libra.observability.logging import configure_logging

    tty = sys.stderr.isatty()
    try:
        options, symbols, timeframe, secrets = _source(args)
        since, until = _parse_ms(args.since, "since"), _parse_ms(args.until, "until")
        if since is not None and until is not None and since >= until:
            raise ConfigError(f"--since must be before --until, was {args.since} >= "
                              f"{args.until}", field="since")
        if args.concurrency < 1:
            raise ConfigError(f"--concurrency must be at least 1, was {args.concurrency}",
                              field="concurrency")
        configure_logging(level=args.log_level or ("warning" if tty else "info"),
                          fmt="console" if tty else "json", kernel="libra-data",
                          secrets=secrets, stream=sys.stderr)
        plan = DownloadPlan(tuple(symbols), timeframe, Path(args.dir), since, until,
                            trades=args.trades)
        progress = _TerminalProgress() if tty else _LogProgress()
        downloader = HistoryDownloader(options, progress=progress, concurrency=args.concurrency)

        async def download() -> list[DatasetResult]:
            async with downloader:
                return await downloader.download(plan)

        try:
            results = run_async(download())
        finally:
            progress.close()
    except (ConfigError, ValueError, ImportError) as exc:
        return fail(str(exc), EXIT_CONFIG)
    except GatewayError as exc:
        return fail(str(exc), EXIT_FAILURE)
    for result in results:
        print(_describe(result, options.exchange))
    return EXIT_OK


def _parse_ms(text: str | None, option: str) -> int | None:
    """Return an ISO date or date-time (UTC unless it says otherwise) as ms since the epoch."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--{option}: invalid date/time, was {text!r}; use ISO 8601, e.g. "
                          "2024-01-15 or 2024-01-15T12:00", field=option) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _split(values: Sequence[str] | None) -> list[str]:
    return [s.strip() for v in values or () for s in v.split(",") if s.strip()]


def _source(args: argparse.Namespace) -> tuple[CCXTGatewayConfig, list[str], str, set[str]]:
    """Return the exchange options, symbols, timeframe and secrets a download uses."""
    from libra.core.config import collect_secrets
    from libra.gateways.ccxt.config import CCXTGatewayConfig

    symbols = _split(args.symbols)
    if args.exchange:
        if args.gateway:
            raise ConfigError("--gateway goes with --config, not --exchange", field="gateway")
        if not symbols:
            raise ConfigError("--symbols is required with --exchange", field="symbols")
        return CCXTGatewayConfig(exchange=args.exchange), symbols, args.timeframe or "1m", set()
    config = load(args.config)
    index, options = _ccxt_gateway(config, args.gateway)
    if not symbols:
        symbols = list(options.symbols)
        gateway_id = config.gateways[index].id
        # Strategies trading on it, or on a paper venue fed by its data (paper on live data).
        fed = {g.id for g in config.gateways if _data_gateway(g.plugin_options()) == gateway_id}
        for strategy in config.strategies:
            if strategy.enabled and strategy.gateway in (gateway_id, None, *fed):
                symbols += [s for s in strategy.symbols if s not in symbols]
    if not symbols:
        raise ConfigError(f"gateway {config.gateways[index].id!r} names no symbols and no "
                          "strategy uses it: pass --symbols", field="symbols")
    return options, symbols, args.timeframe or options.timeframe, collect_secrets(config)


def _data_gateway(options: dict[str, Any]) -> object:
    data = options.get("data")
    return data.get("gateway") if isinstance(data, dict) else None


def _ccxt_gateway(config: KernelConfig, wanted: str | None) -> tuple[int, CCXTGatewayConfig]:
    from libra.gateways.ccxt.config import CCXTGatewayConfig

    where = f"{config.source_path}: " if config.source_path else ""
    found = [(i, g) for i, g in enumerate(config.gateways) if g.plugin == "ccxt"]
    ids = [g.id for _, g in found]
    if wanted is not None:
        found = [(i, g) for i, g in found if g.id == wanted]
    if len(found) != 1:
        problem = (f"no ccxt gateway {wanted!r}" if wanted is not None and not found
                   else "no ccxt gateway" if not ids else "several ccxt gateways")
        hint = f" (ccxt gateways: {', '.join(ids)}; choose one with --gateway)" if ids else ""
        raise ConfigError(f"{where}{problem}{hint}", field="gateways")
    index, gateway = found[0]
    try:
        return index, CCXTGatewayConfig.model_validate(gateway.plugin_options())
    except ValueError as exc:
        raise ConfigError(f"{where}gateways[{index}]: {exc}", field=f"gateways[{index}]") \
            from None


def _describe(result: DatasetResult, exchange: str) -> str:
    kind = "trades" if result.timeframe == "trades" else "candles"
    lines = [
        f"{exchange} {result.symbol} {result.timeframe}: {result.stored:,} {kind} "
        f"{iso_ms(result.first_ms) or '-'} .. {iso_ms(result.last_ms) or '-'} "
        f"(fetched {result.fetched:,} in {result.requests:,} requests) -> {result.path}"]
    if result.gaps:
        missing = sum(g.missing for g in result.gaps)
        count = len(result.gaps)
        lines.append(f"  {count:,} gap{'s' if count > 1 else ''}, {missing:,} candle"
                     f"{'s' if missing > 1 else ''} missing:")
        for gap in result.gaps[:_GAPS_SHOWN]:
            lines.append(f"    {iso_ms(gap.start_ms)} .. {iso_ms(gap.end_ms)} "
                         f"({gap.missing:,} candle{'s' if gap.missing > 1 else ''})")
        if len(result.gaps) > _GAPS_SHOWN:
            lines.append(f"    ... and {len(result.gaps) - _GAPS_SHOWN:,} more "
                         "(libra data list shows the count)")
    return "\n".join(lines)


class _LogProgress:
    """Progress as log lines, at most one per dataset every few seconds (off a terminal)."""

    def __init__(self) -> None:
        import structlog

        self._log = structlog.get_logger("libra.data")
        self._rows: dict[tuple[str, str], int] = {}
        self._last = 0.0

    def started(self, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> None:
        self._rows[(symbol, timeframe)] = 0
        self._log.info("data.download_started", symbol=symbol, timeframe=timeframe,
                       since=iso_ms(start_ms), until=iso_ms(end_ms))

    def advanced(self, symbol: str, timeframe: str, rows: int, reached_ms: int) -> None:
        key = (symbol, timeframe)
        self._rows[key] = self._rows.get(key, 0) + rows
        now = time.monotonic()
        if now - self._last >= _LOG_EVERY:
            self._last = now
            self._log.info("data.download_progress", symbol=symbol, timeframe=timeframe,
                           fetched=self._rows[key], reached=iso_ms(reached_ms))

    def finished(self, result: DatasetResult) -> None:
        pass  # the downloader logs data.dataset_saved

    def close(self) -> None:
        pass


class _TerminalProgress:
    """A progress bar per dataset: rich's when installed, else one rewritten line."""

    def __init__(self) -> None:
        self._span: tuple[int, int] = (0, 1)
        self._label = ""
        try:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
        except ImportError:
            self._rich: Any = None
        else:
            # On stderr, as the plain line is: stdout keeps only the summary, for a pipe.
            self._rich = Progress(TextColumn("{task.description}"), BarColumn(),
                                  TextColumn("{task.fields[rows]:>12,} rows"),
                                  TimeRemainingColumn(), transient=False,
                                  console=Console(stderr=True))
            self._rich.start()
        self._task: Any = None
        self._rows = 0

    def started(self, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> None:
        self._span, self._rows = (start_ms, max(end_ms, start_ms + 1)), 0
        self._label = f"{symbol} {timeframe}"
        if self._rich is not None:
            self._task = self._rich.add_task(self._label, total=self._span[1] - start_ms,
                                             rows=0)

    def advanced(self, symbol: str, timeframe: str, rows: int, reached_ms: int) -> None:
        self._rows += rows
        done = min(reached_ms, self._span[1]) - self._span[0]
        if self._rich is not None:
            self._rich.update(self._task, completed=done, rows=self._rows)
        else:
            share = done / (self._span[1] - self._span[0])
            sys.stderr.write(f"\r{self._label}: {share:6.1%} {self._rows:,} rows")
            sys.stderr.flush()

    def finished(self, result: DatasetResult) -> None:
        if self._rich is not None and self._task is not None:
            self._rich.update(self._task, completed=self._span[1] - self._span[0],
                              rows=self._rows)
        elif self._rich is None:
            sys.stderr.write("\n")

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()


# --- list -------------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    if args.samples:
        return _list_samples(args.json)
    from libra.data.store import list_datasets

    try:
        datasets = [d.as_dict() for d in list_datasets(args.dir)]
    except ImportError as exc:
        return fail(str(exc), EXIT_CONFIG)
    except OSError as exc:
        return fail(f"cannot read the data directory {args.dir!r}: {exc}", EXIT_CONFIG)
    if args.json:
        print(json.dumps(datasets, indent=2))
        return EXIT_OK
    if not datasets:
        print(f"no datasets in {args.dir} (get some with: libra data download --exchange "
              f"NAME --symbols SYMBOL --timeframe 1m --dir {args.dir})")
        return EXIT_OK
    header = ("EXCHANGE", "SYMBOL", "TIMEFRAME", "FIRST", "LAST", "COUNT", "GAPS")
    rows = [(d["exchange"], d["symbol"], d["timeframe"], d["first"] or "-", d["last"] or "-",
             f"{d['count']:,}", _gaps_cell(d)) for d in datasets]
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths,
                                                                        strict=True)).rstrip())
    return EXIT_OK


def _gaps_cell(dataset: dict[str, Any]) -> str:
    if "problem" in dataset:
        return f"unreadable: {dataset['problem']}"
    missing = f" ({dataset['missing']:,} missing)" if dataset["missing"] else ""
    return f"{dataset['gaps']:,}{missing}"


def _list_samples(as_json: bool) -> int:
    from libra.data import list_bundled

    names = [f"bundled:{name}" for name in list_bundled()]
    if as_json:
        print(json.dumps(names))
    else:
        for name in names:
            print(name)
        print("use one as a data path: data = { source = \"replay\", path = "
              f"\"{names[0] if names else 'bundled:NAME'}\", symbol = \"...\" }}")
    return EXIT_OK
