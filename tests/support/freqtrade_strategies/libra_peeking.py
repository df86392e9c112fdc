"""A freqtrade strategy with a lookahead bug, for LIBRA's lookahead check.

It enters when the next candle closes higher: ``shift(-1)`` reads a candle that has not
closed yet. Over the whole history that looks like foresight; candle by candle, the last
row's next close is always missing and the strategy never enters.
"""

from typing import ClassVar

from freqtrade.strategy import IStrategy
from pandas import DataFrame


class LibraPeeking(IStrategy):
    """Buys before rises it reads from the future (long only)."""

    INTERFACE_VERSION = 3
    can_short = False
    timeframe = "5m"
    minimal_roi: ClassVar[dict[str, float]] = {"0": 0.01}
    stoploss = -0.05
    use_exit_signal = True
    startup_candle_count = 5
    process_only_new_candles = True

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["next_close"] = dataframe["close"].shift(-1)
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[dataframe["next_close"] > dataframe["close"] * 1.002, "enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[dataframe["next_close"] < dataframe["close"] * 0.998, "exit_long"] = 1
        return dataframe
