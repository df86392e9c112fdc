"""Signals computed once over a whole history file, as freqtrade's backtester computes them.

freqtrade's backtester runs ``advise_*`` once over all candles and trusts the strategy not to
look ahead. With ``history`` set, the adapter does the same and reads each closed candle's
row instead of analysing a window per candle: the same signals for a strategy without
lookahead bias, at a fraction of the cost. Live and paper trading analyse per candle.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from libra.core.errors import ConfigError
from libra.data import find_freqtrade_file, load_bars
from libra.strategies.freqtrade.candles import Signal, analyze, history_frame, signals_of


class PrecomputedSignals:
    """Each pair's analysed history and its signals by candle open time."""

    def __init__(self, strategy: Any, frames: dict[str, Any]) -> None:
        self._strategy = strategy
        self._frames = frames
        self._signals = {pair: signals_of(frame) for pair, frame in frames.items()}
        self._rows = {
            pair: {ts: index for index, ts in enumerate(signals)}
            for pair, signals in self._signals.items()
        }

    @classmethod
    def load(cls, strategy: Any, history: str, pairs: Sequence[str],
             timeframe: str) -> PrecomputedSignals:
        """Load ``history`` (a file, ``bundled:NAME`` or a freqtrade data folder) and analyse it.

        Raises:
            ConfigError: no candles for a pair, or one file given for several pairs.
        """
        frames = {}
        for pair, path in _files(history, pairs, timeframe).items():
            bars = load_bars(path, symbol=pair, timeframe=timeframe)
            if not bars:
                raise ConfigError(f"history {path!r} holds no {timeframe} candles for {pair}")
            frames[pair] = analyze(strategy, history_frame(bars), pair)
        return cls(strategy, frames)

    def get(self, pair: str, ts_open: int) -> Signal | None:
        """Return the signal of ``pair``'s candle opened at ``ts_open``; publish its frame."""
        index = self._rows.get(pair, {}).get(ts_open)
        if index is None:
            return None
        frame = self._frames[pair]
        strategy = self._strategy
        # Callbacks reading the analysed frame see it up to this candle, never beyond.
        strategy.dp._set_cached_df(pair, strategy.timeframe, frame.iloc[: index + 1],
                                   strategy.config["candle_type_def"])
        return self._signals[pair][ts_open]


def _files(history: str, pairs: Sequence[str], timeframe: str) -> dict[str, str]:
    folder = Path(history).expanduser()
    if not history.startswith("bundled:") and folder.is_dir():
        try:
            return {pair: str(find_freqtrade_file(folder, pair, timeframe)) for pair in pairs}
        except FileNotFoundError as exc:
            raise ConfigError(str(exc)) from None
    if len(pairs) != 1:
        raise ConfigError("history names one file: with several pairs, give a freqtrade data "
                          f"folder instead, was {history!r}")
    return {pairs[0]: history}
