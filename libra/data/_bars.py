"""Turn a table's cells into validated, sorted ``Bar`` events.

Fast path: a regular table is converted column by column with C-level ``map`` calls and
checked in bulk. If any cell fails there, the whole table goes through the row path,
which finds and reports each bad row; both paths give the same bars for the good rows.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from decimal import Decimal
from itertools import islice, repeat
from operator import itemgetter, le, lt, sub
from typing import Any

from libra.data._layouts import picker
from libra.data._rows import (
    INFINITY,
    PARSE_ERRORS,
    ZERO,
    DataFormatError,
    DecimalCache,
    Rejects,
    TimestampParser,
    check_non_negative,
    check_positive,
    parse_timestamp_column,
)
from libra.data._sanity import describe_ns, stray_rows
from libra.data._sources import Table
from libra.model.events import Bar, timeframe_to_ns

BarRow = tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal, int]
# Columns: ts (file time), open, high, low, close, volume, 1-based row number.
BarColumns = list[list[Any]]
_TIMEFRAME_UNITS = (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))
_FIRST = itemgetter(0)


def bar_columns(
    table: Table,
    indices: Sequence[int | None],
    parse_ts: TimestampParser,
    rejects: Rejects,
    allow_missing_volume: bool,
) -> BarColumns:
    """Return the table's valid bars as columns, counting (or raising on) the bad rows."""
    columns = _fast_columns(table, indices, parse_ts)
    if columns is not None:
        return columns
    rows = _checked_rows(table.rows(), indices, parse_ts, rejects, allow_missing_volume)
    if not rows:
        return [[] for _ in range(7)]
    return [list(column) for column in zip(*rows, strict=True)]


def _fast_columns(
    table: Table, indices: Sequence[int | None], parse_ts: TimestampParser
) -> BarColumns | None:
    if table.columns is None or None in indices:
        return None
    cells = [table.columns[i] for i in indices]  # type: ignore[index]
    price = DecimalCache().__getitem__
    try:
        stamps = parse_timestamp_column(cells[0], parse_ts)
        opens, highs, lows, closes = (list(map(price, c)) for c in cells[1:5])
        volumes = list(map(Decimal, cells[5]))
        valid = (
            (not lows or (min(lows) > ZERO and max(highs) < INFINITY))
            and (not volumes or (min(volumes) >= ZERO and max(volumes) < INFINITY))
            and all(map(le, lows, opens))
            and all(map(le, opens, highs))
            and all(map(le, lows, closes))
            and all(map(le, closes, highs))
        )
    except PARSE_ERRORS:  # NaN compares raise here too
        return None
    if not valid:
        return None
    return [stamps, opens, highs, lows, closes, volumes, list(range(1, len(stamps) + 1))]


def _checked_rows(
    rows: Iterator[Sequence[Any]],
    indices: Sequence[int | None],
    parse_ts: TimestampParser,
    rejects: Rejects,
    allow_missing_volume: bool,
) -> list[BarRow]:
    pick = picker(indices)
    good: list[BarRow] = []
    for row_number, raw in enumerate(rows, 1):
        checked = _check_row(raw, pick, parse_ts, row_number, rejects, allow_missing_volume)
        if checked is not None:
            good.append(checked)
    return good


def _check_row(
    raw: Sequence[Any],
    pick: Any,
    parse_ts: TimestampParser,
    row: int,
    rejects: Rejects,
    allow_missing_volume: bool,
) -> BarRow | None:
    """Return the row's bar values, or record its first bad field and return None."""
    try:
        stamp, *texts, volume_text = pick(raw)
    except PARSE_ERRORS:
        rejects.add(row, "row", raw, "too few columns")
        return None
    ts = check_timestamp(stamp, parse_ts, row, rejects)
    if ts is None:
        return None
    numbers: list[Decimal] = []
    for name, text in zip(("open", "high", "low", "close"), texts, strict=True):
        number = check_positive(rejects, row, name, text)
        if number is None:
            return None
        numbers.append(number)
    o, h, lo, c = numbers
    if h < lo:
        rejects.add(row, "high", h, f"below low {lo}")
        return None
    for name, price in (("open", o), ("close", c)):
        if not lo <= price <= h:
            rejects.add(row, name, price, f"outside low..high {lo}..{h}")
            return None
    volume = check_non_negative(
        rejects, row, "volume", volume_text, allow_missing=allow_missing_volume
    )
    return None if volume is None else (ts, o, h, lo, c, volume, row)


def check_timestamp(
    stamp: Any, parse_ts: TimestampParser, row: int, rejects: Rejects
) -> int | None:
    """Return the parsed timestamp, or record the row as rejected and return None."""
    try:
        return parse_ts(stamp)
    except PARSE_ERRORS:
        rejects.add(row, "timestamp", stamp, "not a timestamp")
        return None


def build_bars(
    columns: BarColumns,
    rejects: Rejects,
    symbol: str,
    venue: str,
    timeframe: str | None,
    timestamp_at: str,
) -> list[Bar]:
    """Sort, drop repeated times, settle the timeframe and build the ``Bar`` events."""
    if timestamp_at not in ("open", "close"):
        raise ValueError(f"timestamp_at must be 'open' or 'close', was {timestamp_at!r}")
    stamps = columns[0]
    if not all(map(lt, stamps, islice(stamps, 1, None))):
        columns = _sorted_unique(columns, rejects)
        stamps = columns[0]
    strays = stray_rows(stamps)
    if strays:
        columns = _without_strays(columns, strays, rejects)
        stamps = columns[0]
    if not stamps:
        return []
    if timeframe is None:
        try:
            timeframe = infer_timeframe(stamps)
        except ValueError as error:
            message = f"{rejects.source}: {error}; pass timeframe="
            raise DataFormatError(message, source=rejects.source) from None
    offset = timeframe_to_ns(timeframe) if timestamp_at == "open" else 0
    events = [t + offset for t in stamps] if offset else stamps
    _, opens, highs, lows, closes, volumes, _ = columns
    return list(
        map(
            Bar,
            repeat(venue),
            repeat(symbol),
            repeat(timeframe),
            opens,
            highs,
            lows,
            closes,
            volumes,
            events,
            events,
        )
    )


def _without_strays(columns: BarColumns, strays: list[tuple[int, str]], rejects: Rejects
                    ) -> BarColumns:
    for index, reason in strays:
        rejects.add(columns[6][index], "timestamp", describe_ns(columns[0][index]), reason)
    dropped = {index for index, _ in strays}
    return [[v for i, v in enumerate(column) if i not in dropped] for column in columns]


def _sorted_unique(columns: BarColumns, rejects: Rejects) -> BarColumns:
    rows: list[BarRow] = sorted(zip(*columns, strict=True), key=_FIRST)  # stable
    kept: list[BarRow] = []
    last = None
    for row in rows:
        if row[0] == last:
            rejects.add(row[6], "timestamp", row[0], "duplicate bar time (first one kept)")
            continue
        last = row[0]
        kept.append(row)
    if not kept:
        return [[] for _ in range(7)]
    return [list(column) for column in zip(*kept, strict=True)]


def infer_timeframe(timestamps_ns: Sequence[int]) -> str:
    """Return the timeframe (``"5m"``) of the median spacing between sorted timestamps.

    Raises:
        ValueError: fewer than two distinct timestamps, or a spacing that is not whole seconds.
    """
    steps = sorted(map(sub, islice(timestamps_ns, 1, None), timestamps_ns))
    steps = steps[bisect_right(steps, 0) :]  # repeated times are not a spacing
    if not steps:
        raise ValueError("cannot infer a timeframe from fewer than two distinct timestamps")
    median_s, remainder = divmod(steps[len(steps) // 2], 1_000_000_000)
    if remainder:
        raise ValueError(f"bar spacing is not whole seconds, was {steps[len(steps) // 2]} ns")
    for unit, seconds in _TIMEFRAME_UNITS:
        if median_s % seconds == 0:
            return f"{median_s // seconds}{unit}"
    raise AssertionError("unreachable: every whole number of seconds matches 's'")
