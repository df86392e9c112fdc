"""Bars of many files merged in time order, read a batch at a time.

A backtest of fifty symbols of 200,000 candles each holds ten million bars: as ``Bar``
events in memory they would take gigabytes. ``BarStream`` keeps one batch per file in
memory instead. Each step takes from every file's batch the bars up to the earliest of
the batches' last times (no later batch of any file can hold an earlier bar, since each
file is sorted) and sorts that slice once; ties keep the order of the files, as
``merge_streams`` does.

Parquet files are read with ``pyarrow`` a row group batch at a time; other formats go
through ``load_bars`` whole (one file at a time, which bounds memory by the largest).
"""

from __future__ import annotations

import importlib
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from decimal import Decimal
from itertools import chain, repeat
from operator import attrgetter
from pathlib import Path
from typing import Any

from libra.data._rows import DataFormatError
from libra.data._sources import PYARROW_HINT
from libra.data.loaders import load_bars
from libra.model.events import Bar, timeframe_to_ns

_TS = attrgetter("ts_event")
_TIME_COLUMNS = ("date", "timestamp", "time", "datetime", "open_time")
_PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
# Distinct numbers kept (about 200 bytes each) before the table starts again.
_KNOWN_LIMIT = 200_000


class BarStream:
    """The bars of ``files`` (``(path, symbol)`` pairs) in time order, batch by batch.

    ``count`` is the number of bars handed out so far. Timestamps in the files are the
    candles' open times (freqtrade's convention) unless ``timestamp_at="close"``.
    """

    def __init__(self, files: Sequence[tuple[str | Path, str]], *, timeframe: str,
                 venue: str = "replay", batch_rows: int = 20_000,
                 timestamp_at: str = "open") -> None:
        if timestamp_at not in ("open", "close"):
            raise ValueError(f"timestamp_at must be 'open' or 'close', was {timestamp_at!r}")
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be positive, was {batch_rows}")
        self.files = [(Path(path), symbol) for path, symbol in files]
        self.timeframe = timeframe
        self.venue = venue
        self.batch_rows = batch_rows
        self._offset = timeframe_to_ns(timeframe) if timestamp_at == "open" else 0
        self.count = 0
        # One table of distinct numbers for every file: symbols quoted on one tick grid
        # share most of their prices.
        self._known: dict[float, Decimal] = {}

    def __iter__(self) -> Iterator[Bar]:
        return chain.from_iterable(self.chunks())

    def chunks(self) -> Iterator[list[Bar]]:
        """Yield lists of bars in time order; together they are every file's bars."""
        readers = [self._batches(path, symbol) for path, symbol in self.files]
        buffers = [next(reader, []) for reader in readers]
        while True:
            live = [buffer[-1].ts_event for buffer in buffers if buffer]
            if not live:
                return
            boundary = min(live)
            out: list[Bar] = []
            for index, buffer in enumerate(buffers):
                if not buffer:
                    continue
                cut = bisect_right(buffer, boundary, key=_TS)
                out += buffer[:cut]
                rest = buffer[cut:]
                buffers[index] = rest if rest else next(readers[index], [])
            out.sort(key=_TS)
            self.count += len(out)
            yield out

    def _batches(self, path: Path, symbol: str) -> Iterator[list[Bar]]:
        if path.suffix.lower() in (".parquet", ".pq"):
            yield from self._parquet_batches(path, symbol)
            return
        bars = load_bars(path, symbol=symbol, venue=self.venue, timeframe=self.timeframe)
        for start in range(0, len(bars), self.batch_rows):
            yield list(bars[start:start + self.batch_rows])

    def _parquet_batches(self, path: Path, symbol: str) -> Iterator[list[Bar]]:
        try:
            parquet = importlib.import_module("pyarrow.parquet")
        except ImportError:
            raise ImportError(f"reading parquet files ({path}) needs pyarrow: {PYARROW_HINT}") \
                from None
        # Without pre-buffering: it reads whole files ahead, and fifty files add up.
        source = parquet.ParquetFile(path, pre_buffer=False)
        names = {name.lower(): name for name in source.schema_arrow.names}
        time_name = next((names[n] for n in _TIME_COLUMNS if n in names), None)
        missing = [n for n in _PRICE_COLUMNS if n not in names]
        if time_name is None or missing:
            raise DataFormatError(
                f"{path}: expected columns date (or timestamp) and {', '.join(_PRICE_COLUMNS)}, "
                f"was {', '.join(source.schema_arrow.names)}", source=str(path))
        columns = [time_name, *(names[n] for n in _PRICE_COLUMNS)]
        last = None
        row = 0
        for batch in source.iter_batches(batch_size=self.batch_rows, columns=columns):
            bars = self._bars(path, symbol, batch, row, self._known)
            if bars and last is not None and bars[0].ts_event <= last:
                raise DataFormatError(f"{path}: row {row + 1}: timestamps not increasing",
                                      source=str(path))
            row += batch.num_rows
            if bars:
                last = bars[-1].ts_event
                yield bars

    def _bars(self, path: Path, symbol: str, batch: Any, first_row: int,
              known: dict[float, Decimal]) -> list[Bar]:
        np = importlib.import_module("numpy")
        stamps = _stamps_ns(batch.column(0))
        values = [batch.column(i).to_numpy(zero_copy_only=False).astype("float64")
                  for i in range(1, 6)]
        opens, highs, lows, closes, volumes = values
        valid = (np.isfinite(values).all(axis=0) & (lows > 0) & (lows <= opens)
                 & (opens <= highs) & (lows <= closes) & (closes <= highs) & (volumes >= 0))
        ordered = stamps[1:] > stamps[:-1]
        if not valid.all() or not ordered.all():
            bad = int(np.argmin(valid)) if not valid.all() else int(np.argmin(ordered)) + 1
            what = "prices not positive with low <= open, close <= high, volume >= 0" \
                if not valid.all() else "timestamps not increasing"
            raise DataFormatError(f"{path}: row {first_row + bad + 1}: {what}", source=str(path))
        stamps_list = (stamps + self._offset).tolist()
        decimals = _decimal_columns(np, values, known)
        return list(map(Bar, repeat(self.venue), repeat(symbol), repeat(self.timeframe),
                        *decimals, stamps_list, stamps_list))


def _decimal_columns(np: Any, values: list[Any], known: dict[float, Decimal]
                     ) -> list[list[Decimal]]:
    """Return float columns as Decimals: each distinct value is built once.

    Prices repeat a lot (a tick grid): building each distinct value's ``Decimal`` from its
    shortest text once (kept in ``known`` across batches) and mapping the cells through
    the index is several times faster than a ``Decimal`` per cell, and bars share them.
    """
    stacked = np.concatenate(values)
    unique, inverse = np.unique(stacked, return_inverse=True)
    if len(known) > _KNOWN_LIMIT:
        known.clear()
    built = []
    for value in unique.tolist():
        number = known.get(value)
        if number is None:
            number = known[value] = Decimal(repr(value))
        built.append(number)
    cells = list(map(built.__getitem__, inverse.tolist()))
    size = len(values[0])
    return [cells[start:start + size] for start in range(0, len(cells), size)]


def _stamps_ns(column: Any) -> Any:
    """Return a timestamp column as int64 ns: Arrow timestamps, or integers in s, ms or ns."""
    pa = importlib.import_module("pyarrow")
    if pa.types.is_timestamp(column.type):
        return column.cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64()).to_numpy()
    stamps = column.to_numpy(zero_copy_only=False).astype("int64")
    if not stamps.size:
        return stamps
    # Epoch seconds are ~1.7e9, milliseconds ~1.7e12, nanoseconds ~1.7e18.
    scale = 1_000_000_000 if stamps[0] < 10**11 else 1_000_000 if stamps[0] < 10**14 else 1
    return stamps * scale


__all__ = ["BarStream"]
