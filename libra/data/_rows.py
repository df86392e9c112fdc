"""Row-level building blocks shared by the loaders: errors, rejection counts, numbers, times.

Every value enters as text (or as an int from a binary column) and becomes a
``Decimal`` through ``Decimal(text)``; floats from binary sources are turned into
text once with ``repr`` before they get here, so no ``Decimal(float)`` ever happens.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from libra.core.errors import LibraError

_E = TypeVar("_E")

ZERO = Decimal(0)
INFINITY = Decimal("Infinity")
# What a malformed value raises on the fast path (InvalidOperation is an ArithmeticError;
# comparing a NaN raises it too).
PARSE_ERRORS = (ArithmeticError, TypeError, ValueError, IndexError)
_DETAILS_KEPT = 100
_CACHE_LIMIT = 200_000


class DataFormatError(LibraError, ValueError):
    """A data file or row does not have the expected shape or values."""

    def __init__(
        self,
        message: str,
        *,
        source: str,
        row: int | None = None,
        field: str | None = None,
        value: object = None,
    ) -> None:
        super().__init__(message)
        self.source = source
        self.row = row
        self.field = field
        self.value = value


@dataclass(frozen=True, slots=True)
class Rejection:
    """One row left out at load time: 1-based data row (header excluded), field, value, reason."""

    row: int
    field: str
    value: str
    reason: str


class Loaded(list[_E]):
    """A list of loaded events that also tells how many rows were rejected and why."""

    source: str
    skipped: int
    rejections: tuple[Rejection, ...]

    def __init__(
        self,
        events: Sequence[_E] = (),
        *,
        source: str = "",
        skipped: int = 0,
        rejections: tuple[Rejection, ...] = (),
    ) -> None:
        super().__init__(events)
        self.source = source
        self.skipped = skipped
        self.rejections = rejections


class Rejects:
    """Count rejected rows (keeping the first details), or raise at the first one if strict."""

    def __init__(self, source: str, *, strict: bool) -> None:
        self.source = source
        self.strict = strict
        self.count = 0
        self.details: list[Rejection] = []
        #: The 1-based row of each kept event, where a loader tracks them (trades, quotes).
        self.kept_rows: list[int] = []

    def add(self, row: int, field: str, value: object, reason: str) -> None:
        """Record one rejected row; raise ``DataFormatError`` instead when strict."""
        if self.strict:
            raise DataFormatError(
                f"{self.source}: row {row}: invalid {field} ({reason}), was {value!r}",
                source=self.source,
                row=row,
                field=field,
                value=value,
            )
        self.count += 1
        if len(self.details) < _DETAILS_KEPT:
            self.details.append(Rejection(row, field, str(value), reason))

    def wrap(self, events: Sequence[_E]) -> Loaded[_E]:
        """Return ``events`` as a ``Loaded`` list carrying this tally."""
        return Loaded(
            events, source=self.source, skipped=self.count, rejections=tuple(self.details)
        )


class DecimalCache(dict[Any, Decimal]):
    """Map a value's text to its ``Decimal``; prices repeat a lot, so most lookups hit."""

    def __missing__(self, key: Any) -> Decimal:
        value = Decimal(key)
        if len(self) < _CACHE_LIMIT:
            self[key] = value
        return value


def to_decimal(value: object) -> Decimal | None:
    """Return ``value`` as a Decimal, or None when it is missing or not a number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
    try:
        return Decimal(value)  # type: ignore[arg-type]
    except (InvalidOperation, TypeError, ValueError):
        return None


def check_positive(rejects: Rejects, row: int, field: str, value: object) -> Decimal | None:
    """Return ``value`` as a finite Decimal > 0, or record why it is not and return None."""
    number = to_decimal(value)
    if number is None:
        rejects.add(row, field, value, "missing" if _is_blank(value) else "not a number")
    elif not number.is_finite():
        rejects.add(row, field, value, "not finite")
    elif number <= ZERO:
        rejects.add(row, field, value, "not positive")
    else:
        return number
    return None


def check_non_negative(
    rejects: Rejects, row: int, field: str, value: object, *, allow_missing: bool = False
) -> Decimal | None:
    """Return ``value`` as a finite Decimal >= 0 (0 if missing and allowed), else None."""
    number = to_decimal(value)
    if number is None or number.is_nan():
        if allow_missing and (_is_blank(value) or number is not None):
            return ZERO
        rejects.add(row, field, value, "missing" if _is_blank(value) else "not a number")
    elif not number.is_finite():
        rejects.add(row, field, value, "not finite")
    elif number < ZERO:
        rejects.add(row, field, value, "negative")
    else:
        return number
    return None


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def float_column_to_text(values: Sequence[Any]) -> list[Any]:
    """Turn a binary column's floats into their shortest text once (``repr``); keep the rest."""
    return [repr(v) if type(v) is float else v for v in values]


# --- timestamps -------------------------------------------------------------------------

_EPOCH_NAIVE = datetime(1970, 1, 1)  # noqa: DTZ001 - naive times in data files are UTC
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)
_LONG_FRACTION = re.compile(r"^(.*\d:\d\d)\.(\d{7,9})(\D.*)?$")

TimestampParser = Callable[[Any], int]


def iso_to_ns(text: str) -> int:
    """Return the ns epoch of an ISO-8601 / pandas datetime string; naive means UTC."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return (moment - _EPOCH_NAIVE) // _ONE_MICROSECOND * 1000
    return (moment - _EPOCH_UTC) // _ONE_MICROSECOND * 1000


def iso_nanos_to_ns(text: str) -> int:
    """Return the ns epoch of an ISO string whose fraction may have up to 9 digits."""
    match = _LONG_FRACTION.match(text.strip())
    if match is None:
        return iso_to_ns(text)
    head, fraction, tail = match.groups()
    return iso_to_ns(head + (tail or "")) + int(fraction.ljust(9, "0"))


def epoch_unit_ns(value: Decimal) -> int:
    """Return the ns per unit of an epoch number, judged by its size (s, ms, us or ns)."""
    size = abs(value)
    if size < 100_000_000_000:  # seconds until the year 5138
        return 1_000_000_000
    if size < 100_000_000_000_000:
        return 1_000_000
    if size < 100_000_000_000_000_000:
        return 1_000
    return 1


def epoch_parser(unit_ns: int) -> TimestampParser:
    """Return a parser of epoch numbers (text, int or Decimal) in the given unit to ns."""

    def parse(value: Any) -> int:
        if type(value) is int:
            return value * unit_ns
        if type(value) is str:
            try:
                return int(value) * unit_ns
            except ValueError:
                pass
        number = to_decimal(value)
        if number is None:
            raise ValueError(f"not a timestamp, was {value!r}")
        return int((number * unit_ns).to_integral_value())

    return parse


def timestamp_parser(sample: Any) -> TimestampParser:
    """Choose the parser for a column from one of its values: epoch number or ISO text."""
    if isinstance(sample, int | Decimal) and not isinstance(sample, bool):
        return epoch_parser(epoch_unit_ns(Decimal(sample)))
    text = str(sample).strip()
    number = to_decimal(text)
    if number is not None and number.is_finite():
        return epoch_parser(epoch_unit_ns(number))
    if _LONG_FRACTION.match(text):
        return iso_nanos_to_ns
    iso_to_ns(text)  # raises ValueError when the sample is not a datetime either
    return iso_to_ns


def ns_identity(value: Any) -> int:
    """Return an int ns timestamp unchanged (columns already converted to ns)."""
    if type(value) is not int:
        raise ValueError(f"not a timestamp, was {value!r}")
    return value


def parse_timestamp_column(column: Sequence[Any], parse: TimestampParser) -> list[int]:
    """Return a whole column as ns; ISO text is parsed in bulk (naive and aware may not mix)."""
    if parse is not iso_to_ns:
        return list(map(parse, column))
    moments = list(map(datetime.fromisoformat, column))
    epoch = _EPOCH_UTC if moments and moments[0].tzinfo is not None else _EPOCH_NAIVE
    return [(moment - epoch) // _ONE_MICROSECOND * 1000 for moment in moments]
