"""Candle frames for a freqtrade strategy, built from LIBRA bars, and the signals it gives.

freqtrade analyses a DataFrame with columns ``date, open, high, low, close, volume`` where
``date`` is the candle's OPEN time (UTC). LIBRA bars carry their close time (``ts_event``);
``Bar.ts_open`` is the open time. Prices become floats here: indicators are float maths.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

_COLUMNS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class Signal:
    """The strategy's verdict on one closed candle (long side only)."""

    ts_open: int
    enter_long: bool
    exit_long: bool
    enter_tag: str | None
    exit_tag: str | None


class CandleWindow:
    """The last ``window`` candles of one pair in numpy arrays (all of them if ``window`` is 0).

    Appending is amortised O(1): rows live in arrays twice the window long and slide back
    only when full, so a frame is one slice per column, never a rebuild from Python lists.
    """

    def __init__(self, window: int) -> None:
        self.window = window
        capacity = max(2 * window, 64)
        self._dates = np.zeros(capacity, dtype="int64")
        self._values = np.zeros((len(_COLUMNS), capacity), dtype="float64")
        self._start = 0
        self._end = 0
        self.count = 0  # candles seen in total, not only the ones kept

    def __len__(self) -> int:
        return self._end - self._start

    @property
    def last_open(self) -> int | None:
        """Return the open time (ns) of the newest candle, or None when empty."""
        return int(self._dates[self._end - 1]) if self._end > self._start else None

    def append(self, ts_open: int, ohlcv: tuple[float, float, float, float, float]) -> bool:
        """Add one closed candle; return False (and keep nothing) for a stale or repeated one."""
        last = self.last_open
        if last is not None and ts_open <= last:
            return False
        if self._end == len(self._dates):
            self._make_room()
        end = self._end
        self._dates[end] = ts_open
        self._values[:, end] = ohlcv
        self._end = end + 1
        if self.window and self._end - self._start > self.window:
            self._start += 1
        self.count += 1
        return True

    def _make_room(self) -> None:
        kept = self._end - self._start
        if not self.window:  # unbounded: grow
            self._dates = np.concatenate([self._dates, np.zeros_like(self._dates)])
            self._values = np.concatenate([self._values, np.zeros_like(self._values)], axis=1)
            return
        self._dates[:kept] = self._dates[self._start:self._end]
        self._values[:, :kept] = self._values[:, self._start:self._end]
        self._start, self._end = 0, kept

    def frame(self) -> Any:
        """Return a new DataFrame of the kept candles, as freqtrade builds one."""
        import pandas as pd

        start, end = self._start, self._end
        data: dict[str, Any] = {
            "date": pd.to_datetime(self._dates[start:end], utc=True),
        }
        for index, name in enumerate(_COLUMNS):
            data[name] = self._values[index, start:end].copy()
        return pd.DataFrame(data)


def ohlcv_floats(bar: Any) -> tuple[float, float, float, float, float]:
    """Return a bar's open, high, low, close and volume as floats."""
    return (float(bar.open), float(bar.high), float(bar.low), float(bar.close),
            float(bar.volume))


def analyze(strategy: Any, frame: Any, pair: str) -> Any:
    """Run ``advise_indicators``, ``advise_entry`` and ``advise_exit`` on ``frame``."""
    metadata = {"pair": pair}
    frame = strategy.advise_indicators(frame, metadata)
    return strategy.ft_advise_signals(frame, metadata)


def last_signal(analyzed: Any) -> Signal:
    """Return the signal of the newest row of an analysed frame."""
    return signal_at(analyzed, len(analyzed) - 1)


def signal_at(analyzed: Any, index: int) -> Signal:
    """Return the signal of row ``index`` of an analysed frame."""
    row = analyzed.iloc[index]
    return Signal(
        ts_open=int(row["date"].value),
        enter_long=_flag(row.get("enter_long")),
        exit_long=_flag(row.get("exit_long")),
        enter_tag=_tag(row.get("enter_tag")),
        exit_tag=_tag(row.get("exit_tag")),
    )


def signals_of(analyzed: Any) -> dict[int, Signal]:
    """Return every row's signal of an analysed frame, by candle open time (ns)."""
    dates = analyzed["date"].array.as_unit("ns").asi8
    n = len(analyzed)
    enter = _column(analyzed, "enter_long", n)
    exit_ = _column(analyzed, "exit_long", n)
    enter_tags = _tags(analyzed, "enter_tag", n)
    exit_tags = _tags(analyzed, "exit_tag", n)
    return {
        int(dates[i]): Signal(int(dates[i]), bool(enter[i]), bool(exit_[i]), enter_tags[i],
                              exit_tags[i])
        for i in range(n)
    }


def _column(frame: Any, name: str, n: int) -> np.ndarray[Any, Any]:
    if name not in frame.columns:
        return np.zeros(n, dtype=bool)
    values: np.ndarray[Any, Any] = frame[name].to_numpy(dtype="float64", na_value=0.0)
    flags: np.ndarray[Any, Any] = values == 1.0
    return flags


def _tags(frame: Any, name: str, n: int) -> list[str | None]:
    if name not in frame.columns:
        return [None] * n
    return [_tag(value) for value in frame[name].tolist()]


def _flag(value: Any) -> bool:
    try:
        return value is not None and not math.isnan(float(value)) and float(value) == 1.0
    except (TypeError, ValueError):
        return False


def _tag(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value)
    return text or None


def history_frame(bars: Iterable[Any]) -> Any:
    """Return the freqtrade candle frame of a sequence of LIBRA bars."""
    window = CandleWindow(0)
    for bar in bars:
        window.append(bar.ts_open, ohlcv_floats(bar))
    return window.frame()
