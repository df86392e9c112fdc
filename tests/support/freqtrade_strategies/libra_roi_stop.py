"""A small freqtrade strategy with an ROI table and a stoploss, for LIBRA's adapter tests.

Enters when a fast EMA crosses above a slow one, exits on the opposite cross; ROI and a 3 %
stoploss close most trades first. Written against freqtrade's public ``IStrategy`` API.
"""

from typing import ClassVar

import talib.abstract as ta
from freqtrade.strategy import IStrategy
from pandas import DataFrame
from technical import qtpylib


class LibraRoiStop(IStrategy):
    """EMA cross with ROI and stoploss (long only)."""

    INTERFACE_VERSION = 3
    can_short = False
    timeframe = "5m"
    minimal_roi: ClassVar[dict[str, float]] = {"0": 0.02, "20": 0.01, "60": 0.005, "120": 0.0}
    stoploss = -0.03
    trailing_stop = False
    use_exit_signal = True
    exit_profit_only = False
    startup_candle_count = 50
    process_only_new_candles = True

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["ema_fast"] = ta.EMA(dataframe, timeperiod=8)
        dataframe["ema_slow"] = ta.EMA(dataframe, timeperiod=21)
        dataframe["rsi"] = ta.RSI(dataframe, timeperiod=14)
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[
            qtpylib.crossed_above(dataframe["ema_fast"], dataframe["ema_slow"])
            & (dataframe["rsi"] < 70)
            & (dataframe["volume"] > 0),
            ["enter_long", "enter_tag"],
        ] = (1, "ema_cross")
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[
            qtpylib.crossed_below(dataframe["ema_fast"], dataframe["ema_slow"])
            & (dataframe["volume"] > 0),
            ["exit_long", "exit_tag"],
        ] = (1, "ema_cross_down")
        return dataframe


class LibraTrailing(LibraRoiStop):
    """The same entries with a trailing stop and a custom stoploss, and no ROI."""

    minimal_roi: ClassVar[dict[str, float]] = {"0": 10.0}
    stoploss = -0.05
    trailing_stop = True
    trailing_stop_positive = 0.01
    trailing_stop_positive_offset = 0.02
    trailing_only_offset_is_reached = True
    use_custom_stoploss = True

    def custom_stoploss(self, pair, trade, current_time, current_rate, current_profit,
                        after_fill, **kwargs):
        """Tighten the stop to 2 % once the trade has run for two hours."""
        if (current_time - trade.open_date_utc).total_seconds() > 7200:
            return -0.02
        return None


class LibraShort(LibraRoiStop):
    """Unsupported on purpose: shorting and DCA."""

    can_short = True
    position_adjustment_enable = True

    def adjust_trade_position(self, trade, current_time, current_rate, current_profit,
                              min_stake, max_stake, **kwargs):
        return None

    def informative_pairs(self):
        return [("BTC/USDT", "1h")]
