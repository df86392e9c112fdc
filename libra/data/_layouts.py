"""Where each field sits in a table: header names (with aliases) or fixed headerless layouts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from libra.data._rows import (
    PARSE_ERRORS,
    DataFormatError,
    TimestampParser,
    ns_identity,
    timestamp_parser,
)
from libra.data._sources import Table

Picker = Callable[[Sequence[Any]], tuple[Any, ...]]

# Strong timestamp names win over "date"/"time", which may be two halves of one stamp.
_TIMESTAMP_NAMES = ("timestamp", "datetime", "open_time", "ts_event", "ts")
ALIASES: dict[str, tuple[str, ...]] = {
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "v"),
    "trade_id": ("trade_id", "id", "tid", "agg_trade_id"),
    "side": ("side", "taker_side", "aggressor_side"),
    "buyer_maker": ("buyer_maker", "is_buyer_maker", "m"),
    "price": ("price", "p"),
    "size": ("amount", "quantity", "qty", "size", "volume", "q"),
    "bid": ("bid", "bid_price", "best_bid", "best_bid_price"),
    "ask": ("ask", "ask_price", "best_ask", "best_ask_price"),
    "bid_size": ("bid_size", "bid_amount", "bid_qty", "bid_quantity", "best_bid_qty"),
    "ask_size": ("ask_size", "ask_amount", "ask_qty", "ask_quantity", "best_ask_qty"),
}
_PEEK_ROWS = 20


def header_indices(
    table: Table, fields: Sequence[str], optional: frozenset[str] = frozenset()
) -> tuple[int | None, ...]:
    """Return the column index of each field (``"timestamp"`` first), None for absent optionals.

    Raises:
        DataFormatError: a required column is missing.
    """
    assert table.header is not None
    header = table.header
    indices: list[int | None] = [_timestamp_index(table)]
    for field in fields[1:]:
        index = next((header.index(a) for a in ALIASES[field] if a in header), None)
        if index is None and field not in optional:
            raise DataFormatError(
                f"{table.source}: no {field!r} column (accepted names: "
                f"{', '.join(ALIASES[field])}), was {header}",
                source=table.source,
                field=field,
            )
        indices.append(index)
    return tuple(indices)


def _timestamp_index(table: Table) -> int:
    assert table.header is not None
    header = table.header
    for name in _TIMESTAMP_NAMES:
        if name in header:
            return header.index(name)
    if "date" in header and "time" in header:
        # Separate date and time columns: join them into one extra column at the end.
        return table.add_joined_column(header.index("date"), header.index("time"))
    for name in ("date", "time"):
        if name in header:
            return header.index(name)
    raise DataFormatError(
        f"{table.source}: no timestamp column (accepted names: "
        f"{', '.join((*_TIMESTAMP_NAMES, 'date', 'time'))}), was {header}",
        source=table.source,
        field="timestamp",
    )


def picker(indices: Sequence[int | None]) -> Picker:
    """Return a function taking one raw row to the tuple of wanted fields (None if absent)."""
    if all(i is not None for i in indices):
        return itemgetter(*indices)
    present = [(slot, i) for slot, i in enumerate(indices) if i is not None]
    width = len(indices)

    def pick(row: Sequence[Any]) -> tuple[Any, ...]:
        values: list[Any] = [None] * width
        for slot, index in present:
            values[slot] = row[index]
        return tuple(values)

    return pick


def choose_timestamp_parser(table: Table, index: int) -> TimestampParser:
    """Return the parser for the timestamp column, judged from its first usable values."""
    if table.ns_column is not None and table.header and table.header[index] == table.ns_column:
        return ns_identity
    head = table.head(_PEEK_ROWS)
    for row in head:
        try:
            return timestamp_parser(row[index])
        except PARSE_ERRORS:
            continue
    # No usable sample (empty file or only bad rows): every row will be rejected anyway.
    return timestamp_parser("1970-01-01") if head else ns_identity
