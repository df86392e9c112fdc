import pandas as pd
import pytest

from libra.strategies.freqtrade.candles import CandleWindow, Signal, signals_of

MINUTE = 60_000_000_000


def _fill(window: CandleWindow, count: int) -> None:
    for i in range(count):
        window.append(i * MINUTE, (1.0 + i, 2.0 + i, 0.5 + i, 1.5 + i, 10.0))


def test_window_keeps_the_newest_candles_in_order():
    window = CandleWindow(100)
    _fill(window, 1000)
    frame = window.frame()
    assert len(frame) == 100
    assert window.count == 1000
    assert frame["open"].tolist() == [1.0 + i for i in range(900, 1000)]
    assert frame["date"].iloc[-1] == pd.Timestamp(999 * MINUTE, unit="ns", tz="UTC")


def test_unbounded_window_keeps_everything():
    window = CandleWindow(0)
    _fill(window, 300)
    assert len(window.frame()) == 300


def test_stale_or_repeated_candles_are_ignored():
    window = CandleWindow(10)
    _fill(window, 3)
    assert not window.append(2 * MINUTE, (9.0, 9.0, 9.0, 9.0, 9.0))
    assert not window.append(MINUTE, (9.0, 9.0, 9.0, 9.0, 9.0))
    assert window.frame()["close"].iloc[-1] == pytest.approx(3.5)


def test_frame_has_freqtrade_columns_and_utc_open_dates():
    window = CandleWindow(10)
    _fill(window, 2)
    frame = window.frame()
    assert list(frame.columns) == ["date", "open", "high", "low", "close", "volume"]
    assert str(frame["date"].dt.tz) == "UTC"


def test_frame_is_a_copy_the_strategy_may_change():
    window = CandleWindow(10)
    _fill(window, 2)
    frame = window.frame()
    frame.loc[0, "close"] = 0.0
    assert window.frame()["close"].tolist() == [1.5, 2.5]


def test_signals_read_flags_and_tags_with_missing_values():
    frame = pd.DataFrame({
        "date": pd.to_datetime([0, MINUTE], unit="ns", utc=True),
        "enter_long": [1.0, float("nan")],
        "enter_tag": ["dip", ""],
    })
    signals = signals_of(frame)
    assert signals[0] == Signal(0, True, False, "dip", None)
    assert signals[MINUTE] == Signal(MINUTE, False, False, None, None)
