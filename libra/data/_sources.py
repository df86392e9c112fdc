"""Open a data file of any supported format as a header plus raw cells.

Formats are told apart by extension first and by content second: gzip by its magic
bytes, Parquet by ``PAR1``, Feather/Arrow IPC by ``ARROW1``, JSON by a leading ``[``,
anything else is read as CSV (with or without a header line).

A regular file (every row has the same number of cells) is handed over as columns,
which the loaders convert with C-level ``map`` calls; anything irregular is handed
over as rows and checked one by one.
"""

from __future__ import annotations

import csv
import gzip
import importlib
import io
import json
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import IO, Any

from libra.data._rows import DataFormatError, float_column_to_text, to_decimal

_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_ARROW_MAGIC = b"ARROW1"
_JSON_SUFFIXES = {".json"}
_FEATHER_SUFFIXES = {".feather", ".arrow", ".ipc"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}
_CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
PYARROW_HINT = "pip install pyarrow (or the extra: pip install 'libra-trader[data]')"


@dataclass(slots=True)
class Table:
    """The raw cells of one source; ``header`` is None for headerless files.

    Exactly one of ``columns`` (regular sources) and ``row_list`` (irregular ones) is
    set. ``ns_column`` names a timestamp column already converted to int ns.
    """

    source: str
    format: str
    header: list[str] | None
    width: int
    columns: list[list[Any]] | None = None
    row_list: Sequence[Sequence[Any]] = field(default_factory=list)
    ns_column: str | None = None

    def rows(self) -> Iterator[Sequence[Any]]:
        """Return an iterator over the rows, whichever form the cells are held in."""
        if self.columns is not None:
            return zip(*self.columns, strict=True)
        return iter(self.row_list)

    def head(self, count: int) -> list[Sequence[Any]]:
        """Return the first ``count`` rows."""
        if self.columns is not None:
            return [tuple(c[i] for c in self.columns) for i in range(min(count, self.length))]
        return list(self.row_list[:count])

    @property
    def length(self) -> int:
        """Number of data rows."""
        if self.columns is not None:
            return len(self.columns[0]) if self.columns else 0
        return len(self.row_list)

    def add_joined_column(self, first: int, second: int) -> int:
        """Append a column joining two others with a space (date + time); return its index."""
        if self.columns is not None:
            left, right = self.columns[first], self.columns[second]
            self.columns.append([f"{a} {b}" for a, b in zip(left, right, strict=True)])
        else:
            last = max(first, second)
            self.row_list = [
                [*r, f"{r[first]} {r[second]}" if len(r) > last else None] for r in self.row_list
            ]
        self.width += 1
        return self.width - 1


def open_table(path: Path) -> Table:
    """Open ``path`` as a ``Table``, choosing the reader by extension, then by content."""
    if not path.is_file():
        raise FileNotFoundError(f"no data file at {str(path)!r}")
    source = str(path)
    suffixes = [s.lower() for s in path.suffixes]
    with path.open("rb") as handle:
        magic = handle.read(8)
    compressed = magic.startswith(_GZIP_MAGIC)
    if compressed and len(suffixes) >= 2 and suffixes[-1] == ".gz":
        inner = suffixes[-2]
    else:
        inner = suffixes[-1] if suffixes else ""
    if not compressed:
        if inner in _PARQUET_SUFFIXES or magic.startswith(_PARQUET_MAGIC):
            return _read_arrow(path, "parquet")
        if inner in _FEATHER_SUFFIXES or magic.startswith(_ARROW_MAGIC):
            return _read_arrow(path, "feather")
    try:
        with _open_text(path, compressed) as handle:
            text = handle.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise DataFormatError(f"{source}: corrupt gzip data ({error})", source=source) from None
    if inner in _JSON_SUFFIXES or (inner not in _CSV_SUFFIXES and text.lstrip()[:1] == "["):
        return _read_json(source, text)
    return _read_csv(source, text)


def _open_text(path: Path, compressed: bool) -> IO[str]:
    if compressed:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return path.open("r", encoding="utf-8-sig", newline="")


def _read_json(source: str, text: str) -> Table:
    # Numbers stay as their JSON text (no float step at all); the loaders make the Decimals.
    try:
        data = json.loads(text, parse_float=str, parse_constant=str)
    except json.JSONDecodeError as error:
        raise DataFormatError(f"{source}: invalid JSON ({error})", source=source) from None
    if not isinstance(data, list):
        raise DataFormatError(
            f"{source}: expected a JSON array of rows, was {type(data).__name__}", source=source
        )
    first = data[0] if data else []
    if isinstance(first, dict):
        keys = list(first)
        rows = [[item.get(k) for k in keys] if isinstance(item, dict) else [] for item in data]
        return Table(source, "json", [str(k).lower() for k in keys], len(keys), row_list=rows)
    width = len(first) if isinstance(first, list) else 0
    if data and all(type(row) is list for row in data) and set(map(len, data)) == {width}:
        columns = [list(column) for column in zip(*data, strict=True)]
        return Table(source, "json", None, width, columns=columns)
    return Table(source, "json", None, width, row_list=data)


def _read_csv(source: str, text: str) -> Table:
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    first_line, _, body = text.partition("\n")
    delimiter = _delimiter(first_line)
    first = _split_line(first_line, delimiter)
    header: list[str] | None = None
    if _is_header(first):
        header = [name.strip().lower() for name in first]
    else:
        body = text
    width = len(header if header is not None else first)
    columns = _regular_columns(body.strip("\n"), delimiter, width)
    if columns is not None:
        return Table(source, "csv", header, width, columns=columns)
    rows = [r for r in csv.reader(io.StringIO(body), delimiter=delimiter) if r]
    return Table(source, "csv", header, width, row_list=rows)


def _regular_columns(body: str, delimiter: str, width: int) -> list[list[str]] | None:
    """Split a body whose lines all have ``width`` unquoted cells into columns, else None."""
    if not body:
        return [[] for _ in range(width)]
    if '"' in body or "\n\n" in body:
        return None
    lines = body.split("\n")
    if set(map(str.count, lines, repeat(delimiter))) != {width - 1}:
        return None
    # One split over the whole body, then every width-th cell is one column (C speed).
    cells = body.replace("\n", delimiter).split(delimiter)
    return [cells[i::width] for i in range(width)]


def _split_line(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter), [])


def _delimiter(line: str) -> str:
    if "," in line:
        return ","
    for candidate in ("\t", ";", "|"):
        if candidate in line:
            return candidate
    return ","


def _is_header(row: Sequence[str]) -> bool:
    """Tell a header line from data: a header's first cell is not a number or a datetime."""
    cells = [cell.strip() for cell in row if cell.strip()]
    if not cells:
        return False
    number = to_decimal(cells[0])
    if number is not None and number.is_finite():
        return False
    return not cells[0][:1].isdigit()


def _read_arrow(path: Path, kind: str) -> Table:
    source = str(path)
    try:
        reader = importlib.import_module(
            "pyarrow.parquet" if kind == "parquet" else "pyarrow.feather"
        )
    except ImportError:
        message = f"reading {kind} files ({source}) needs pyarrow: {PYARROW_HINT}"
        raise ImportError(message) from None
    table = reader.read_table(path)
    return _arrow_columns(source, kind, table)


def _arrow_columns(source: str, kind: str, table: Any) -> Table:
    pa = importlib.import_module("pyarrow")
    header: list[str] = []
    columns: list[list[Any]] = []
    ns_column: str | None = None
    for name, column in zip(table.column_names, table.columns, strict=True):
        header.append(str(name).lower())
        if pa.types.is_timestamp(column.type):
            # Timestamps become int ns; the timezone only labels an absolute instant.
            column = column.cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64())
            ns_column = ns_column or str(name).lower()
        values = column.to_pylist()
        if pa.types.is_floating(column.type):
            values = float_column_to_text(values)
        columns.append(values)
    return Table(source, kind, header, len(header), columns=columns, ns_column=ns_column)
