"""Compute backtest statistics from an equity curve and a list of closed trades.

Money that is reported (capital, final equity, trade PnL, fees) stays Decimal, as the engine
books it. The curve's ratios (returns, volatility, Sharpe, Sortino, drawdown) are analytics:
they are computed in float64 with numpy, from an `EquityCurve` or any sequence of
``(ts_ns, equity)`` points. Every metric that cannot be measured (no trades, a flat curve,
no losing trade, a zero time span) is ``None``: nothing here raises on a degenerate run and
nothing returns NaN or infinity, so ``BacktestResult.to_dict()`` always passes
``json.dumps(..., allow_nan=False)``.

Conventions:

* A year is 365 days: crypto trades every day.
* Volatility, Sharpe and Sortino are computed from daily returns by default: the curve's last
  equity of each UTC day over the one before (the first day over the curve's first point),
  annualised with ``sqrt(365)``. Returns of 1-minute marks annualised with ``sqrt(525,600)``
  magnify the noise of a few minutes and cannot be compared with other tools; daily ones
  can (freqtrade also annualises daily figures with 365). A curve within one day has no
  daily ratio (None). Pass ``periods_per_year`` (e.g. 252 for daily stock bars) to use
  every point's return instead, annualised with that many periods: ``equity[i] /
  equity[i-1] - 1`` between consecutive curve points.
* Sharpe is ``mean(excess) / stdev(returns) * sqrt(periods_per_year)`` with the sample standard
  deviation; Sortino divides by the downside deviation ``sqrt(sum(min(0, excess)^2) / n)``.
  The annual risk-free rate is turned into a per-period rate by compounding.
* CAGR uses the calendar span of the curve (first to last timestamp) over a 365-day year.
* Max drawdown is a fraction of the running peak in [0, 1]; equity at or below zero counts as
  a total loss (1.0). Its duration runs from the peak to the first point back at or above that
  peak, or to the end of the curve when the drawdown never recovered.
* Exposure is the share of the curve's time span covered by the union of in-position
  intervals ``[start_ns, end_ns)``. By default the intervals are the trades' entry/exit times;
  pass ``in_position`` to include a position still open at the end, or to count a portfolio
  differently.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, NamedTuple, overload

import numpy as np

from libra.backtest.per_symbol import SymbolStats

NS_PER_SECOND = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_SECOND
NS_PER_YEAR = 365 * NS_PER_DAY

# Below this a standard deviation is treated as zero: a curve that grows by exactly the same
# step each period has a float stdev of ~1e-17, and dividing by it gives a meaningless Sharpe.
_ZERO_DEVIATION = 1e-12

Side = Literal["long", "short"]


class EquityPoint(NamedTuple):
    """One mark of account equity; a plain ``(ts_ns, equity)`` tuple works as well."""

    ts_ns: int
    equity: Decimal


class EquityCurve(Sequence[tuple[int, float]]):
    """An equity curve kept as two packed arrays: int64 timestamps and float64 equity.

    A backtest marks equity once per timestamp; a million ``(ts, Decimal)`` tuples would cost
    more to build and to analyse than the run itself. Items read as ``(ts_ns, equity)`` tuples,
    so the curve stands wherever a sequence of points does.
    """

    __slots__ = ("_stamps", "_values")

    def __init__(self, points: Iterable[tuple[int, Decimal | float]] = ()) -> None:
        self._stamps = array("q")
        self._values = array("d")
        for ts_ns, value in points:
            self.append(ts_ns, value)

    @classmethod
    def from_columns(cls, stamps: Sequence[int], values: Sequence[float]) -> EquityCurve:
        """Return the curve of the points ``(stamps[i], values[i])``, packed.

        For a curve built point by point, collect plain lists and pack them here once:
        appending a Python number to a packed array costs several times a list append.
        """
        if len(stamps) != len(values):
            raise ValueError(f"{len(stamps)} timestamps for {len(values)} values")
        curve = cls()
        curve._stamps.frombytes(np.asarray(stamps, dtype=np.int64).tobytes())
        curve._values.frombytes(np.asarray(values, dtype=np.float64).tobytes())
        return curve

    def append(self, ts_ns: int, value: Decimal | float) -> None:
        """Add one point at the end."""
        self._stamps.append(ts_ns)
        self._values.append(float(value))

    @property
    def timestamps(self) -> np.ndarray:
        """Return a copy of the timestamps (ns) as an int64 array."""
        return np.array(self._stamps, dtype=np.int64)

    @property
    def values(self) -> np.ndarray:
        """Return a copy of the equity values as a float64 array."""
        return np.array(self._values, dtype=np.float64)

    def __len__(self) -> int:
        return len(self._stamps)

    @overload
    def __getitem__(self, index: int) -> tuple[int, float]: ...

    @overload
    def __getitem__(self, index: slice) -> EquityCurve: ...

    def __getitem__(self, index: int | slice) -> tuple[int, float] | EquityCurve:
        if isinstance(index, slice):
            curve = EquityCurve()
            curve._stamps = self._stamps[index]
            curve._values = self._values[index]
            return curve
        return self._stamps[index], self._values[index]

    def __iter__(self) -> Iterator[tuple[int, float]]:
        return zip(self._stamps, self._values, strict=True)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EquityCurve):
            return self._stamps == other._stamps and self._values == other._values
        if isinstance(other, Sequence):
            return len(other) == len(self) and all(
                a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"EquityCurve({len(self)} points)"


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """One closed round-trip trade; ``pnl`` is net of ``fees``."""

    symbol: str
    side: Side
    entry_ts_ns: int
    exit_ts_ns: int
    entry_price: Decimal
    exit_price: Decimal
    quantity: Decimal
    pnl: Decimal
    fees: Decimal = Decimal(0)
    entry_tag: str | None = None
    exit_tag: str | None = None

    def __post_init__(self) -> None:
        if self.side not in ("long", "short"):
            raise ValueError(f"invalid side, was {self.side!r} (expected 'long' or 'short')")
        if self.exit_ts_ns < self.entry_ts_ns:
            raise ValueError(
                f"invalid exit_ts_ns, was {self.exit_ts_ns} before entry_ts_ns {self.entry_ts_ns}"
            )

    @property
    def duration_ns(self) -> int:
        """Return the time the position was open, in nanoseconds."""
        return self.exit_ts_ns - self.entry_ts_ns

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict; Decimal values become strings so no precision is lost."""
        return {
            "symbol": self.symbol,
            "side": self.side,
            "entry_ts_ns": self.entry_ts_ns,
            "exit_ts_ns": self.exit_ts_ns,
            "entry_price": str(self.entry_price),
            "exit_price": str(self.exit_price),
            "quantity": str(self.quantity),
            "pnl": str(self.pnl),
            "fees": str(self.fees),
            "entry_tag": self.entry_tag,
            "exit_tag": self.exit_tag,
        }


@dataclass(frozen=True, slots=True)
class Drawdown:
    """The deepest peak-to-trough fall of an equity curve."""

    depth: float
    peak_ts_ns: int | None
    trough_ts_ns: int | None
    end_ts_ns: int | None
    recovered: bool

    @property
    def duration_ns(self) -> int:
        """Return the time from the peak to recovery (or to the end of the curve)."""
        if self.peak_ts_ns is None or self.end_ts_ns is None:
            return 0
        return self.end_ts_ns - self.peak_ts_ns


NO_DRAWDOWN = Drawdown(
    depth=0.0, peak_ts_ns=None, trough_ts_ns=None, end_ts_ns=None, recovered=True
)


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """Summary statistics of one backtest run."""

    start_ns: int | None
    end_ns: int | None
    starting_capital: Decimal
    final_equity: Decimal
    total_return: float | None
    cagr: float | None
    volatility: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: Drawdown
    win_rate: float | None
    profit_factor: float | None
    exposure: float | None
    trades: int
    wins: int
    losses: int
    avg_trade: Decimal | None
    best_trade: Decimal | None
    worst_trade: Decimal | None
    fees: Decimal
    periods_per_year: float | None
    risk_free_rate: float
    #: symbol -> its trades and fills alone (``per_symbol.per_symbol_stats``)
    per_symbol: dict[str, SymbolStats] = field(default_factory=dict)

    @property
    def max_dd(self) -> float:
        """Return the max drawdown as a fraction of the peak, in [0, 1]."""
        return self.max_drawdown.depth

    @property
    def max_dd_duration_ns(self) -> int:
        """Return the max drawdown's duration in nanoseconds."""
        return self.max_drawdown.duration_ns

    @property
    def max_dd_duration(self) -> str:
        """Return the max drawdown's duration as text, e.g. ``"3d 4h 10m"``."""
        return format_duration(self.max_drawdown.duration_ns)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict: ratios as float or None, money as Decimal strings."""
        dd = self.max_drawdown
        return {
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "starting_capital": str(self.starting_capital),
            "final_equity": str(self.final_equity),
            "total_return": _finite(self.total_return),
            "cagr": _finite(self.cagr),
            "volatility": _finite(self.volatility),
            "sharpe": _finite(self.sharpe),
            "sortino": _finite(self.sortino),
            "max_dd": _finite(dd.depth),
            "max_dd_duration": self.max_dd_duration,
            "max_dd_duration_ns": dd.duration_ns,
            "max_dd_peak_ns": dd.peak_ts_ns,
            "max_dd_trough_ns": dd.trough_ts_ns,
            "max_dd_recovered": dd.recovered,
            "win_rate": _finite(self.win_rate),
            "profit_factor": _finite(self.profit_factor),
            "exposure": _finite(self.exposure),
            "trades": self.trades,
            "wins": self.wins,
            "losses": self.losses,
            "avg_trade": _money(self.avg_trade),
            "best_trade": _money(self.best_trade),
            "worst_trade": _money(self.worst_trade),
            "fees": str(self.fees),
            "periods_per_year": _finite(self.periods_per_year),
            "risk_free_rate": self.risk_free_rate,
            "per_symbol": {name: stats.to_dict() for name, stats in self.per_symbol.items()},
        }


def compute_stats(
    equity: EquityCurve | Sequence[tuple[int, Decimal]],
    trades: Sequence[TradeRecord] = (),
    *,
    starting_capital: Decimal | None = None,
    final_equity: Decimal | None = None,
    fees: Decimal | None = None,
    periods_per_year: float | None = None,
    risk_free_rate: float = 0.0,
    in_position: Iterable[tuple[int, int]] | None = None,
) -> BacktestResult:
    """Compute a `BacktestResult` from an equity curve sorted by time and the closed trades.

    Args:
        equity: an `EquityCurve`, or ``(ts_ns, equity)`` points, one per bar or mark, in time
            order.
        trades: closed round trips; their ``pnl`` is net of fees.
        starting_capital: defaults to the first equity point (zero for an empty curve).
        final_equity: the exact closing equity; defaults to the last equity point.
        fees: total fees paid; defaults to the sum of the trades' fees.
        periods_per_year: annualise every point's return with this many periods a year;
            by default the ratios come from daily returns (365 a year).
        risk_free_rate: annual risk-free rate for Sharpe and Sortino, e.g. ``0.04``.
        in_position: ``(start_ns, end_ns)`` intervals with an open position; defaults to the
            trades' entry/exit intervals.

    Raises:
        ValueError: if the curve is not in time order or ``periods_per_year`` is not positive.
    """
    stamps, values = curve_arrays(equity)
    _check_sorted(stamps)
    if periods_per_year is not None and not periods_per_year > 0:
        raise ValueError(f"invalid periods_per_year, was {periods_per_year!r}")
    start_ns = int(stamps[0]) if stamps.size else None
    end_ns = int(stamps[-1]) if stamps.size else None
    if starting_capital is None:
        starting_capital = _exact(equity[0][1]) if stamps.size else Decimal(0)
    if final_equity is None:
        final_equity = _exact(equity[-1][1]) if stamps.size else starting_capital
    if periods_per_year is None:
        returns = daily_returns(stamps, values)
        periods_per_year = 365.0 if stamps.size else None
    else:
        returns = _returns(values)
    rf_per_period = _per_period_rate(risk_free_rate, periods_per_year)
    pnls = [trade.pnl for trade in trades]
    if in_position is None:
        in_position = [(trade.entry_ts_ns, trade.exit_ts_ns) for trade in trades]
    return BacktestResult(
        start_ns=start_ns,
        end_ns=end_ns,
        starting_capital=starting_capital,
        final_equity=final_equity,
        total_return=total_return(starting_capital, final_equity),
        cagr=cagr(starting_capital, final_equity, _span(start_ns, end_ns)),
        volatility=annualised_volatility(returns, periods_per_year),
        sharpe=sharpe_ratio(returns, periods_per_year, rf_per_period),
        sortino=sortino_ratio(returns, periods_per_year, rf_per_period),
        max_drawdown=_drawdown(stamps, values),
        win_rate=win_rate(pnls),
        profit_factor=profit_factor(pnls),
        exposure=exposure(in_position, start_ns, end_ns),
        trades=len(pnls),
        wins=sum(1 for pnl in pnls if pnl > 0),
        losses=sum(1 for pnl in pnls if pnl < 0),
        avg_trade=sum(pnls, Decimal(0)) / len(pnls) if pnls else None,
        best_trade=max(pnls) if pnls else None,
        worst_trade=min(pnls) if pnls else None,
        fees=fees if fees is not None else sum((t.fees for t in trades), Decimal(0)),
        periods_per_year=periods_per_year,
        risk_free_rate=risk_free_rate,
    )


def total_return(start: Decimal, end: Decimal) -> float | None:
    """Return ``end / start - 1``, or None when ``start`` is not positive."""
    if start <= 0:
        return None
    return float(end / start - 1)


def cagr(start: Decimal, end: Decimal, span_ns: int) -> float | None:
    """Return the compound annual growth rate over ``span_ns``, or None if it is undefined.

    A total loss gives -1.0. A short span with a large return can exceed what a float holds;
    that case is None too rather than infinity.
    """
    if start <= 0 or span_ns <= 0:
        return None
    ratio = end / start
    if ratio <= 0:
        return -1.0
    years = span_ns / NS_PER_YEAR
    try:
        return math.exp(math.log(float(ratio)) / years) - 1.0
    except OverflowError:
        return None


def period_returns(values: Sequence[Decimal] | Sequence[float] | np.ndarray) -> list[float]:
    """Return the simple returns between consecutive values, skipping non-positive bases."""
    return _returns(np.asarray(values, dtype=np.float64)).tolist()  # type: ignore[no-any-return]


def daily_returns(stamps: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Return the returns between the last equity of consecutive UTC days; the first day's
    is over the curve's first point."""
    if not values.size:
        return values
    days = stamps // NS_PER_DAY
    last_of_day = np.append(np.flatnonzero(np.diff(days)), days.size - 1)
    return _returns(np.concatenate(([values[0]], values[last_of_day])))


def infer_periods_per_year(timestamps_ns: Sequence[int] | np.ndarray) -> float | None:
    """Return a 365-day year divided by the median positive spacing, or None if unknown."""
    gaps = np.diff(np.asarray(timestamps_ns, dtype=np.int64))
    gaps = gaps[gaps > 0]
    if not gaps.size:
        return None
    return NS_PER_YEAR / float(np.median(gaps))


def annualised_volatility(
    returns: Sequence[float] | np.ndarray, periods_per_year: float | None
) -> float | None:
    """Return the sample standard deviation of returns scaled to a year."""
    if periods_per_year is None or len(returns) < 2:
        return None
    return _stdev(np.asarray(returns, dtype=np.float64)) * math.sqrt(periods_per_year)


def sharpe_ratio(
    returns: Sequence[float] | np.ndarray, periods_per_year: float | None,
    rf_per_period: float = 0.0,
) -> float | None:
    """Return the annualised Sharpe ratio, or None for fewer than two returns or zero deviation."""
    if periods_per_year is None or len(returns) < 2:
        return None
    excess = np.asarray(returns, dtype=np.float64) - rf_per_period
    deviation = _stdev(excess)
    if deviation < _ZERO_DEVIATION:
        return None
    return float(excess.mean()) / deviation * math.sqrt(periods_per_year)


def sortino_ratio(
    returns: Sequence[float] | np.ndarray, periods_per_year: float | None,
    rf_per_period: float = 0.0,
) -> float | None:
    """Return the annualised Sortino ratio, or None when no period fell below the target."""
    if periods_per_year is None or len(returns) < 2:
        return None
    excess = np.asarray(returns, dtype=np.float64) - rf_per_period
    below = np.minimum(excess, 0.0)
    downside = math.sqrt(float(np.square(below).sum()) / excess.size)
    if downside < _ZERO_DEVIATION:
        return None
    return float(excess.mean()) / downside * math.sqrt(periods_per_year)


def max_drawdown(equity: EquityCurve | Sequence[tuple[int, Decimal]]) -> Drawdown:
    """Return the deepest drawdown of the curve; ties keep the earliest.

    A drawdown episode starts at the last point at the running peak and ends at the first
    point back at or above it; its trough is the episode's lowest point (the earliest of
    equal ones).
    """
    return _drawdown(*curve_arrays(equity))


def drawdown_depths(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the running peak of ``values`` and each point's fall below it as a fraction
    in [0, 1] (0 while the peak is not positive; equity at or below zero is a total loss)."""
    peaks = np.maximum.accumulate(values) if values.size else values
    with np.errstate(divide="ignore", invalid="ignore"):
        depths = np.where(peaks > 0, (peaks - values) / peaks, 0.0)
    np.minimum(depths, 1.0, out=depths)
    return peaks, depths


def _drawdown(stamps: np.ndarray, values: np.ndarray) -> Drawdown:
    if not values.size:
        return NO_DRAWDOWN
    peaks, depths = drawdown_depths(values)
    deepest = int(np.argmax(depths))
    depth = float(depths[deepest])
    if not depth > 0.0:
        return NO_DRAWDOWN
    peak = peaks[deepest]
    # The episode: from the last point at this peak to the first one back at it.
    start = int(np.flatnonzero(values[:deepest] >= peak)[-1])
    back = np.flatnonzero(values[deepest:] >= peak)
    recovered = bool(back.size)
    end = deepest + int(back[0]) if recovered else values.size - 1
    trough = start + int(np.argmin(values[start:end + 1]))
    return Drawdown(depth, int(stamps[start]), int(stamps[trough]), int(stamps[end]), recovered)


def win_rate(pnls: Sequence[Decimal]) -> float | None:
    """Return the share of trades with a positive pnl, or None without trades."""
    if not pnls:
        return None
    return sum(1 for pnl in pnls if pnl > 0) / len(pnls)


def profit_factor(pnls: Sequence[Decimal]) -> float | None:
    """Return gross profit over gross loss; None when no trade lost (the ratio is unbounded)."""
    gross_loss = -sum((pnl for pnl in pnls if pnl < 0), Decimal(0))
    if gross_loss == 0:
        return None
    gross_profit = sum((pnl for pnl in pnls if pnl > 0), Decimal(0))
    return float(gross_profit / gross_loss)


def exposure(
    intervals: Iterable[tuple[int, int]], start_ns: int | None, end_ns: int | None
) -> float | None:
    """Return the share of ``[start_ns, end_ns]`` covered by the union of the intervals."""
    if start_ns is None or end_ns is None or end_ns <= start_ns:
        return None
    clipped = sorted(
        (max(a, start_ns), min(b, end_ns)) for a, b in intervals if b > start_ns and a < end_ns
    )
    covered = 0
    reach = start_ns  # everything before `reach` is already counted
    for a, b in clipped:
        covered += max(0, b - max(a, reach))
        reach = max(reach, b)
    return covered / (end_ns - start_ns)


def format_duration(ns: int) -> str:
    """Format nanoseconds as compact text: ``"2d 3h 5m"``, ``"45s"``, ``"0s"``."""
    if ns <= 0:
        return "0s"
    seconds = ns // NS_PER_SECOND
    if seconds == 0:
        return "<1s"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    if seconds and not days:
        parts.append(f"{seconds}s")
    return " ".join(parts) or "0s"


def curve_arrays(
    equity: EquityCurve | Sequence[tuple[int, Decimal]] | Sequence[tuple[int, float]],
) -> tuple[np.ndarray, np.ndarray]:
    """Return a curve (an `EquityCurve` or ``(ts_ns, equity)`` points) as int64 timestamps
    and float64 values."""
    if isinstance(equity, EquityCurve):
        return equity.timestamps, equity.values
    stamps = np.fromiter((point[0] for point in equity), dtype=np.int64, count=len(equity))
    values = np.fromiter((float(point[1]) for point in equity), dtype=np.float64,
                         count=len(equity))
    return stamps, values


def _exact(value: Decimal | float) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(repr(value))


def _check_sorted(stamps: np.ndarray) -> None:
    steps = np.diff(stamps)
    if steps.size and steps.min() < 0:
        at = int(np.argmax(steps < 0))
        raise ValueError(
            f"equity curve must be in time order, was ts_ns {int(stamps[at + 1])} after "
            f"{int(stamps[at])}"
        )


def _returns(values: np.ndarray) -> np.ndarray:
    previous, current = values[:-1], values[1:]
    keep = previous > 0
    if not keep.all():
        previous, current = previous[keep], current[keep]
    return current / previous - 1.0  # type: ignore[no-any-return]


def _stdev(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1))


def _per_period_rate(annual_rate: float, periods_per_year: float | None) -> float:
    if annual_rate == 0.0 or periods_per_year is None:
        return 0.0
    return float((1.0 + annual_rate) ** (1.0 / periods_per_year)) - 1.0


def _span(start_ns: int | None, end_ns: int | None) -> int:
    if start_ns is None or end_ns is None:
        return 0
    return end_ns - start_ns


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return value


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
