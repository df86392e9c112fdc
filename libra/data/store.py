"""The data directory: downloaded candles and trades, one Parquet file per dataset.

Layout (``libra data download`` writes it, ``libra data list`` reads it, configs name a
dataset in it by exchange, symbol and timeframe)::

    <dir>/<exchange>/<symbol as a directory name>/<timeframe>.parquet   candles
    <dir>/<exchange>/<symbol as a directory name>/trades.parquet        public trades

The symbol's directory name replaces every character other than letters, digits, ``.``
and ``-`` with ``_`` (``BTC/USDT`` -> ``BTC_USDT``, ``BTC/USDT:USDT`` -> ``BTC_USDT_USDT``),
and a leading ``.`` too, so it is safe on every file system. That is not reversible, so
each file also carries its exchange, symbol and timeframe in the Parquet schema metadata.

Candle files hold ``timestamp`` (the candle's open, ``timestamp[ms, UTC]``), ``open``,
``high``, ``low``, ``close``, ``volume`` (float64, as ccxt returns them; the loaders turn
each float into a Decimal through its shortest text). Every write goes to a temporary
file in the same folder, which then replaces the dataset in one ``os.replace``: a run
killed at any point leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from libra.data._sources import PYARROW_HINT
from libra.model.events import timeframe_to_ns

DEFAULT_DATA_DIR = "data"
TRADES_NAME = "trades"
_SUFFIX = ".parquet"
_TEMP_MARK = ".tmp-"
_UNSAFE = re.compile(r"[^A-Za-z0-9.\-]")
_EXCHANGE_ID = re.compile(r"[A-Za-z0-9_]+")  # ccxt exchange ids: never a path of their own
_CANDLE_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
_TRADE_COLUMNS = ("timestamp", "id", "side", "price", "amount")

#: One candle as ccxt's ``fetch_ohlcv`` returns it: ``[open_ms, open, high, low, close, volume]``.
Candle = Sequence[Any]


def symbol_dirname(symbol: str) -> str:
    """Return the directory name of ``symbol`` (``"BTC/USDT"`` -> ``"BTC_USDT"``)."""
    if not symbol:
        raise ValueError("symbol must not be empty")
    name = _UNSAFE.sub("_", symbol)
    # A leading dot would hide the folder, and "." or ".." would leave the exchange's.
    return "_" + name[1:] if name.startswith(".") else name


def dataset_path(directory: str | os.PathLike[str], exchange: str, symbol: str,
                 timeframe: str) -> Path:
    """Return where the candles of ``symbol`` at ``timeframe`` from ``exchange`` are stored.

    ``timeframe = "trades"`` names the public trades file.
    """
    if not _EXCHANGE_ID.fullmatch(exchange):
        raise ValueError(f"invalid exchange name, was {exchange!r}")
    if timeframe != TRADES_NAME:
        timeframe_to_ns(timeframe)
    root = Path(os.fspath(directory)).expanduser()
    return root / exchange / symbol_dirname(symbol) / f"{timeframe}{_SUFFIX}"


def download_command(exchange: str, symbols: Iterable[str], timeframe: str,
                     directory: str | os.PathLike[str]) -> str:
    """Return the ``libra data download`` command that fetches the named datasets."""
    names = shlex.quote(",".join(symbols))
    return (f"libra data download --exchange {exchange} --symbols {names} "
            f"--timeframe {timeframe} --dir {shlex.quote(os.fspath(directory))}")


def pyarrow_modules() -> tuple[Any, Any]:
    """Return ``(pyarrow, pyarrow.parquet)``; raise ImportError with the install hint."""
    try:
        return importlib.import_module("pyarrow"), importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise ImportError(f"the data directory stores Parquet files, which need pyarrow: "
                          f"{PYARROW_HINT}") from None


# --- reading and writing candles ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing candles between two stored ones: ``start_ms`` .. ``end_ms`` (open times)."""

    start_ms: int
    end_ms: int
    missing: int


def find_gaps(stamps_ms: Sequence[int], timeframe_ms: int) -> list[Gap]:
    """Return every run of missing candles in sorted open times ``stamps_ms``."""
    gaps: list[Gap] = []
    for before, after in pairwise(stamps_ms):
        step = after - before
        if step > timeframe_ms:
            gaps.append(Gap(before + timeframe_ms, after - timeframe_ms,
                            step // timeframe_ms - 1))
    return gaps


def read_candles(path: Path) -> list[list[Any]]:
    """Return the stored candles of ``path`` as ``[open_ms, o, h, l, c, v]`` rows, sorted."""
    table = read_candle_table(path)
    columns = [table_stamps(table), *(table.column(n).to_pylist() for n in _CANDLE_COLUMNS[1:])]
    return [list(row) for row in zip(*columns, strict=True)]


def read_candle_table(path: Path) -> Any:
    """Return the candles of ``path`` as a pyarrow table (``timestamp`` as ms UTC)."""
    pa, pq = pyarrow_modules()
    table = pq.read_table(path, columns=list(_CANDLE_COLUMNS))
    stamps = table.column("timestamp").cast(pa.timestamp("ms", tz="UTC"))
    return table.set_column(0, "timestamp", stamps)


def read_stamps(path: Path) -> list[int]:
    """Return only the open times (ms) stored in the file ``path``."""
    _, pq = pyarrow_modules()
    return table_stamps(pq.read_table(path, columns=["timestamp"]))


def table_stamps(table: Any) -> list[int]:
    """Return the ``timestamp`` column of a candle or trade table as open times in ms."""
    pa, _ = pyarrow_modules()
    column = table.column("timestamp").cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64())
    stamps: list[int] = column.to_pylist()
    return stamps


def candle_table(candles: Sequence[Candle]) -> Any:
    """Return ccxt OHLCV rows as a pyarrow table in the stored schema."""
    pa, _ = pyarrow_modules()
    # One comprehension per column: ``zip(*candles)`` unpacks every row as an argument.
    arrays = [pa.array([row[0] for row in candles], type=pa.timestamp("ms", tz="UTC"))]
    arrays += [pa.array([row[i] for row in candles], type=pa.float64()) for i in range(1, 6)]
    return pa.table(dict(zip(_CANDLE_COLUMNS, arrays, strict=True)))


def merge_candle_tables(old: Any, new: Any) -> Any:
    """Return ``old`` and ``new`` as one table sorted by time, one candle per time (new wins).

    Done in Arrow, not row by row in Python: a resumed download merges a few new pages
    into millions of stored candles.
    """
    pa, _ = pyarrow_modules()
    compute = importlib.import_module("pyarrow.compute")
    both = pa.concat_tables([new, old]).combine_chunks()
    ordered = both.take(compute.sort_indices(both, sort_keys=[("timestamp", "ascending")]))
    if ordered.num_rows < 2:
        return ordered
    stamps = ordered.column("timestamp").cast(pa.int64())
    # The sort is stable and the new rows come first: the first of equal times is the new one.
    later = compute.not_equal(stamps.slice(1), stamps.slice(0, ordered.num_rows - 1))
    keep = pa.concat_arrays([pa.array([True]), later.combine_chunks()])
    return ordered.filter(keep)


def write_candles(path: Path, candles: Sequence[Candle], *, exchange: str, symbol: str,
                  timeframe: str) -> None:
    """Write ``candles`` (sorted, unique open times) to ``path`` atomically."""
    write_candle_table(path, candle_table(candles), exchange=exchange, symbol=symbol,
                       timeframe=timeframe)


def write_candle_table(path: Path, table: Any, *, exchange: str, symbol: str,
                       timeframe: str) -> None:
    """Write a candle table (sorted, unique times) to ``path`` atomically, with its names."""
    _, pq = pyarrow_modules()
    metadata = {"libra.exchange": exchange, "libra.symbol": symbol,
                "libra.timeframe": timeframe, "libra.kind": "candles"}
    table = table.replace_schema_metadata(metadata)
    _replace_atomically(path, lambda temp: pq.write_table(table, temp, compression="zstd"))


def write_trades(path: Path, trades: Sequence[Sequence[Any]], *, exchange: str,
                 symbol: str) -> None:
    """Write trades ``[ts_ms, id, side, price, amount]`` (sorted) to ``path`` atomically."""
    pa, pq = pyarrow_modules()
    columns = list(zip(*trades, strict=True)) if trades else [()] * 5
    arrays = [
        pa.array(columns[0], type=pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
        pa.array(columns[1], type=pa.string()),
        pa.array(columns[2], type=pa.string()),
        pa.array(columns[3], type=pa.float64()),
        pa.array(columns[4], type=pa.float64()),
    ]
    metadata = {"libra.exchange": exchange, "libra.symbol": symbol, "libra.kind": "trades"}
    table = pa.table(dict(zip(_TRADE_COLUMNS, arrays, strict=True))).replace_schema_metadata(
        metadata)
    _replace_atomically(path, lambda temp: pq.write_table(table, temp, compression="zstd"))


def read_trades(path: Path) -> list[list[Any]]:
    """Return the stored trades of ``path`` as ``[ts_ms, id, side, price, amount]`` rows."""
    pa, pq = pyarrow_modules()
    table = pq.read_table(path, columns=list(_TRADE_COLUMNS))
    stamps = table.column("timestamp").cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64())
    columns = [stamps.to_pylist(), *(table.column(n).to_pylist() for n in _TRADE_COLUMNS[1:])]
    return [list(row) for row in zip(*columns, strict=True)]


def _replace_atomically(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}{_TEMP_MARK}{os.getpid()}")
    try:
        write(temp)
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    # The rename is durable only once the folder's entry is on disk too.
    with contextlib.suppress(OSError):
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def remove_stale_temps(path: Path) -> int:
    """Delete temporary files a killed write of ``path`` left behind; return how many."""
    removed = 0
    if path.parent.is_dir():
        for leftover in path.parent.glob(f".{path.name}{_TEMP_MARK}*"):
            with contextlib.suppress(OSError):
                leftover.unlink()
                removed += 1
    return removed


# --- listing ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """What one stored file holds."""

    path: Path
    exchange: str
    symbol: str
    timeframe: str
    count: int
    first_ms: int | None
    last_ms: int | None
    gaps: int
    missing: int
    #: Why the file could not be read (not a Parquet file, no ``timestamp`` column).
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-ready values (times as ISO 8601 UTC)."""
        extra = {"problem": self.problem} if self.problem else {}
        return {
            "exchange": self.exchange,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "first": iso_ms(self.first_ms),
            "last": iso_ms(self.last_ms),
            "count": self.count,
            "gaps": self.gaps,
            "missing": self.missing,
            "path": str(self.path),
            **extra,
        }


def iso_ms(stamp_ms: int | None) -> str | None:
    """Return ``stamp_ms`` as ``2024-01-01T00:00:00Z`` (None stays None)."""
    if stamp_ms is None:
        return None
    moment = datetime.fromtimestamp(stamp_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + "Z"


def describe_dataset(path: Path) -> DatasetInfo:
    """Summarise one stored file (reads its metadata and timestamp column only)."""
    _, pq = pyarrow_modules()
    metadata = {k.decode(): v.decode()
                for k, v in (pq.read_schema(path).metadata or {}).items()}
    exchange = metadata.get("libra.exchange", path.parent.parent.name)
    symbol = metadata.get("libra.symbol", path.parent.name)
    timeframe = metadata.get("libra.timeframe", path.stem)
    stamps = read_stamps(path)
    gaps: list[Gap] = []
    if timeframe != TRADES_NAME and stamps:
        gaps = find_gaps(stamps, timeframe_to_ns(timeframe) // 1_000_000)
    return DatasetInfo(path, exchange, symbol, timeframe, len(stamps),
                       stamps[0] if stamps else None, stamps[-1] if stamps else None,
                       len(gaps), sum(g.missing for g in gaps))


def list_datasets(directory: str | os.PathLike[str]) -> list[DatasetInfo]:
    """Return a summary of every dataset under ``directory``, sorted by exchange, symbol."""
    root = Path(os.fspath(directory)).expanduser()
    if not root.is_dir():
        return []
    found = [_describe_or_say_why(p) for p in sorted(root.glob(f"*/*/*{_SUFFIX}"))
             if not p.name.startswith(".")]
    return sorted(found, key=lambda d: (d.exchange, d.symbol, d.timeframe))


def _describe_or_say_why(path: Path) -> DatasetInfo:
    try:
        return describe_dataset(path)
    except ImportError:
        raise
    except Exception as exc:  # a file someone else put there: list it, say why it is unusable
        return DatasetInfo(path, path.parent.parent.name, path.parent.name, path.stem, 0,
                           None, None, 0, 0, problem=f"{type(exc).__name__}: {exc}"[:200])
