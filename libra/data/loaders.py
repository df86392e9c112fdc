"""Load historical bars, trades and quotes from files into LIBRA events.

Supported sources (the format is found from the extension, then the content):

- OHLCV CSV with a header (timestamp column ``timestamp``/``datetime``/``open_time``/
  ``date``/``time``, or separate ``date`` and ``time`` columns; values as s, ms, us or
  ns epochs or ISO/pandas datetime strings, naive meaning UTC);
- headerless CSV ``ts,open,high,low,close,volume,...``, which covers Binance klines
  from data.binance.vision;
- freqtrade/ccxt JSON ``[[ts_ms, o, h, l, c, v], ...]``, freqtrade Feather, Parquet
  (both need pyarrow), and gzip-compressed CSV or JSON (``.gz``);
- trades: freqtrade trades JSON ``[ts, id, type, side, price, amount, cost]``, ccxt trade
  dicts, CSV with a header (NautilusTrader ``timestamp,trade_id,price,quantity,buyer_maker``),
  Kraken ``unix_s,price,volume``, Binance trades/aggTrades CSV;
- quotes: CSV or Parquet ``timestamp,bid,ask,bid_size,ask_size`` (NautilusTrader and
  Tardis column names).

Every row is checked at this boundary. A bad row (not a number, NaN, infinite, zero or
negative price, high below low, open or close outside low..high, negative volume, a
timestamp outside 1970..2100 or far from the rest of the file: ``_sanity.py``) is
skipped and counted on the returned ``Loaded`` list; with ``strict=True`` the first bad
row raises ``DataFormatError`` naming file, row and field.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal, FloatOperation, localcontext
from itertools import pairwise
from operator import attrgetter
from typing import Any, Literal

import structlog

from libra.data._bars import bar_columns, build_bars, check_timestamp
from libra.data._layouts import choose_timestamp_parser, header_indices, picker
from libra.data._rows import (
    INFINITY,
    PARSE_ERRORS,
    ZERO,
    DataFormatError,
    DecimalCache,
    Loaded,
    Rejects,
    TimestampParser,
    check_non_negative,
    check_positive,
    epoch_parser,
)
from libra.data._sanity import describe_ns, stray_rows
from libra.data._sources import Table, open_table
from libra.data.bundled import resolve_data_path
from libra.model.events import Bar, Quote, Trade

_log = structlog.get_logger(__name__)

DEFAULT_VENUE = "historical"
_BAR_FIELDS = ("timestamp", "open", "high", "low", "close", "volume")
_TRADE_FIELDS = ("timestamp", "trade_id", "side", "buyer_maker", "price", "size")
_QUOTE_FIELDS = ("timestamp", "bid", "ask", "bid_size", "ask_size")
_SIDES = {"buy": "buy", "sell": "sell", "b": "buy", "s": "sell", "bid": "buy", "ask": "sell"}
# A buyer who is the maker means the seller was the aggressor.
_BUYER_MAKER_SIDES = {"true": "sell", "false": "buy", "1": "sell", "0": "buy"}
_TS_EVENT = attrgetter("ts_event")


def load_bars(
    path: str | os.PathLike[str],
    symbol: str,
    venue: str = DEFAULT_VENUE,
    timeframe: str | None = None,
    *,
    timestamp_at: Literal["open", "close"] = "open",
    allow_missing_volume: bool = False,
    strict: bool = False,
) -> Loaded[Bar]:
    """Load OHLCV bars from a file (CSV, JSON, Feather, Parquet, optionally gzipped).

    Args:
        path: a file path, or ``"bundled:<name>"`` for a sample shipped with LIBRA.
        timeframe: e.g. ``"1m"``; inferred from the median spacing when None.
        timestamp_at: whether the file's timestamp is the bar's open (the usual) or close.
        allow_missing_volume: read an empty or NaN volume as 0 (mark/index price candles).
        strict: raise on the first bad row instead of skipping it.

    Returns:
        Bars sorted by ``ts_event`` (the close time), duplicates of a time dropped.

    Raises:
        DataFormatError: the file's shape is unknown, or a bad row when ``strict``.
        ImportError: a Feather/Parquet file and pyarrow is not installed.
    """
    table = open_table(resolve_data_path(path))
    if table.header is not None:
        optional = frozenset({"volume"}) if allow_missing_volume else frozenset()
        indices = header_indices(table, _BAR_FIELDS, optional)
    elif table.width >= 6:
        indices = (0, 1, 2, 3, 4, 5)
    else:
        raise _unknown_layout(table, "bars", "ts,open,high,low,close,volume")
    parse_ts = choose_timestamp_parser(table, _index(indices[0]))
    rejects = Rejects(table.source, strict=strict)
    with _floats_trapped():
        columns = bar_columns(table, indices, parse_ts, rejects, allow_missing_volume)
    bars = build_bars(columns, rejects, symbol, venue, timeframe, timestamp_at)
    _log_rejects(rejects)
    return rejects.wrap(bars)


def bars_from_ohlcv(
    rows: Iterable[Sequence[Any]],
    symbol: str,
    timeframe: str,
    venue: str = DEFAULT_VENUE,
    *,
    strict: bool = False,
) -> Loaded[Bar]:
    """Build bars from ccxt ``fetch_ohlcv`` rows ``[ts_ms, open, high, low, close, volume]``.

    Floats become Decimals through their shortest text (``repr``), never ``Decimal(float)``.
    """
    text_rows = [[row[0], *(_number_text(v) for v in row[1:6])] for row in rows]
    table = Table("<ohlcv>", "ohlcv", None, 6, row_list=text_rows)
    rejects = Rejects(table.source, strict=strict)
    with _floats_trapped():
        columns = bar_columns(table, range(6), epoch_parser(1_000_000), rejects, False)
    bars = build_bars(columns, rejects, symbol, venue, timeframe, "open")
    _log_rejects(rejects)
    return rejects.wrap(bars)


def load_trades(
    path: str | os.PathLike[str],
    symbol: str,
    venue: str = DEFAULT_VENUE,
    *,
    strict: bool = False,
) -> Loaded[Trade]:
    """Load public trades (freqtrade JSON, ccxt dicts, CSV with header, Kraken, Binance).

    ``side`` is the aggressor's side, ``""`` when the source does not say (Kraken CSV);
    ``trade_id`` is ``""`` when the source has none.
    """
    table = open_table(resolve_data_path(path))
    indices = _trade_indices(table)
    parse_ts = choose_timestamp_parser(table, _index(indices[0]))
    rejects = Rejects(table.source, strict=strict)
    trades = _collect_trades(table, indices, parse_ts, rejects, symbol, venue)
    return _finish_ticks(trades, rejects)


def load_quotes(
    path: str | os.PathLike[str],
    symbol: str,
    venue: str = DEFAULT_VENUE,
    *,
    strict: bool = False,
) -> Loaded[Quote]:
    """Load best bid/ask quotes (NautilusTrader or Tardis CSV/Parquet with a header)."""
    table = open_table(resolve_data_path(path))
    if table.header is None:
        raise _unknown_layout(table, "quotes", "a header naming timestamp,bid,ask,bid_size,...")
    indices = header_indices(table, _QUOTE_FIELDS)
    parse_ts = choose_timestamp_parser(table, _index(indices[0]))
    rejects = Rejects(table.source, strict=strict)
    quotes = _collect_quotes(table, indices, parse_ts, rejects, symbol, venue)
    return _finish_ticks(quotes, rejects)


# --- trades and quotes ----------------------------------------------------------------------


def _trade_indices(table: Table) -> tuple[int | None, ...]:
    if table.header is not None:
        optional = frozenset({"trade_id", "side", "buyer_maker"})
        return header_indices(table, _TRADE_FIELDS, optional)
    # Headerless layouts: (timestamp, trade_id, side, buyer_maker, price, size)
    if table.format == "json" and table.width >= 6:
        return (0, 1, 3, None, 4, 5)  # freqtrade: ts, id, type, side, price, amount, cost
    layouts: dict[int, tuple[int | None, ...]] = {
        3: (0, None, None, None, 1, 2),  # Kraken: unix_s, price, volume
        7: (4, 0, None, 5, 1, 2),  # Binance trades: id, price, qty, quote_qty, time, maker, best
        8: (5, 0, None, 6, 1, 2),  # Binance aggTrades: id, price, qty, first, last, time, maker
    }
    if table.width in layouts:
        return layouts[table.width]
    raise _unknown_layout(table, "trades", "[ts, id, type, side, price, amount, cost]")


def _collect_trades(
    table: Table,
    indices: Sequence[int | None],
    parse_ts: TimestampParser,
    rejects: Rejects,
    symbol: str,
    venue: str,
) -> list[Trade]:
    pick = picker(indices)
    prices = DecimalCache()
    trades: list[Trade] = []
    append = trades.append
    kept_rows = rejects.kept_rows
    with _floats_trapped():
        for row_number, raw in enumerate(table.rows(), 1):
            try:
                stamp, trade_id, side, maker, p, q = pick(raw)
                ts = parse_ts(stamp)
                price, size = prices[p], Decimal(q)
                if ZERO < price < INFINITY and ZERO < size < INFINITY:
                    side = _side(side, maker)
                    trade_id = "" if trade_id is None else str(trade_id)
                    append(Trade(venue, symbol, price, size, side, trade_id, ts, ts))
                    kept_rows.append(row_number)
                    continue
            except PARSE_ERRORS:
                pass
            _reject_trade(raw, pick, parse_ts, row_number, rejects)
    return trades


def _reject_trade(
    raw: Sequence[Any], pick: Any, parse_ts: TimestampParser, row: int, rejects: Rejects
) -> None:
    try:
        stamp, _, _, _, price, size = pick(raw)
    except PARSE_ERRORS:
        rejects.add(row, "row", raw, "too few columns")
        return
    if check_timestamp(stamp, parse_ts, row, rejects) is None:
        return
    if check_positive(rejects, row, "price", price) is not None:
        check_positive(rejects, row, "size", size)


def _side(side: Any, buyer_maker: Any) -> str:
    if side is not None:
        return _SIDES.get(str(side).strip().lower(), "")
    if buyer_maker is not None:
        return _BUYER_MAKER_SIDES.get(str(buyer_maker).strip().lower(), "")
    return ""


def _collect_quotes(
    table: Table,
    indices: Sequence[int | None],
    parse_ts: TimestampParser,
    rejects: Rejects,
    symbol: str,
    venue: str,
) -> list[Quote]:
    pick = picker(indices)
    prices = DecimalCache()
    quotes: list[Quote] = []
    with _floats_trapped():
        for row_number, raw in enumerate(table.rows(), 1):
            try:
                stamp, b, a, bs, az = pick(raw)
                ts = parse_ts(stamp)
                bid, ask, bid_size, ask_size = prices[b], prices[a], Decimal(bs), Decimal(az)
                if (
                    ZERO < bid <= ask < INFINITY
                    and ZERO <= bid_size < INFINITY
                    and ZERO <= ask_size < INFINITY
                ):
                    quotes.append(Quote(venue, symbol, bid, ask, bid_size, ask_size, ts, ts))
                    rejects.kept_rows.append(row_number)
                    continue
            except PARSE_ERRORS:
                pass
            _reject_quote(raw, pick, parse_ts, row_number, rejects)
    return quotes


def _reject_quote(
    raw: Sequence[Any], pick: Any, parse_ts: TimestampParser, row: int, rejects: Rejects
) -> None:
    try:
        stamp, bid_text, ask_text, bid_size, ask_size = pick(raw)
    except PARSE_ERRORS:
        rejects.add(row, "row", raw, "too few columns")
        return
    if check_timestamp(stamp, parse_ts, row, rejects) is None:
        return
    bid = check_positive(rejects, row, "bid", bid_text)
    if bid is None:
        return
    ask = check_positive(rejects, row, "ask", ask_text)
    if ask is None:
        return
    if bid > ask:
        rejects.add(row, "bid", bid, f"above ask {ask}")
    elif check_non_negative(rejects, row, "bid_size", bid_size) is not None:
        check_non_negative(rejects, row, "ask_size", ask_size)


def _finish_ticks(events: list[Any], rejects: Rejects) -> Loaded[Any]:
    rows = rejects.kept_rows
    stamps = [e.ts_event for e in events]
    if not all(a <= b for a, b in pairwise(stamps)):
        # stable: equal times keep file order
        order = sorted(range(len(events)), key=stamps.__getitem__)
        events, rows = [events[i] for i in order], [rows[i] for i in order]
        stamps = [stamps[i] for i in order]
    strays = stray_rows(stamps)
    if strays:
        for index, reason in strays:
            rejects.add(rows[index], "timestamp", describe_ns(stamps[index]), reason)
        dropped = {index for index, _ in strays}
        events = [e for i, e in enumerate(events) if i not in dropped]
    _log_rejects(rejects)
    return rejects.wrap(events)


# --- shared -------------------------------------------------------------------------------


@contextmanager
def _floats_trapped() -> Iterator[None]:
    """Make a float reaching ``Decimal()`` raise instead of keeping its binary noise."""
    with localcontext() as context:
        context.traps[FloatOperation] = True
        yield


def _number_text(value: Any) -> Any:
    return repr(value) if type(value) is float else value


def _index(index: int | None) -> int:
    assert index is not None
    return index


def _unknown_layout(table: Table, kind: str, expected: str) -> DataFormatError:
    return DataFormatError(
        f"{table.source}: cannot read {kind} from a headerless {table.format} file with "
        f"{table.width} columns; expected {expected}",
        source=table.source,
    )


def _log_rejects(rejects: Rejects) -> None:
    if rejects.count:
        first = rejects.details[0]
        _log.warning(
            "data.rows_rejected",
            source=rejects.source,
            rejected=rejects.count,
            first_row=first.row,
            first_field=first.field,
            first_reason=first.reason,
        )
