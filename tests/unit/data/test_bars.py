"""Bars from every supported file format, checked against the values in PROVENANCE.md."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest

from libra.data import bars_from_ohlcv, infer_timeframe, load_bars
from libra.model.events import Bar

MINUTE_NS = 60_000_000_000


def ns(text: str) -> int:
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000


def gaps(bars: list[Bar], step_ns: int) -> int:
    return sum(1 for a, b in pairwise(bars) if b.ts_event - a.ts_event > step_ns)


def test_ftx_csv_with_pandas_datetimes(data_dir: Path) -> None:
    bars = load_bars(
        data_dir / "nautilus_trader/ohlcv/ftx_btc-perp-20211231-20220201_1m.csv",
        "BTC/USD",
        venue="ftx",
    )
    assert len(bars) == 45_031
    assert bars.skipped == 0
    first, last = bars[0], bars[-1]
    assert first == Bar(
        "ftx", "BTC/USD", "1m", Decimal("46319.0"), Decimal("46385.0"), Decimal("46319.0"),
        Decimal("46377.0"), Decimal("2300413.7295"),
        ns("2021-12-31 23:02:00"), ns("2021-12-31 23:02:00"),
    )  # fmt: skip
    assert first.ts_open == ns("2021-12-31 23:01:00")
    assert (last.open, last.high, last.low, last.close) == tuple(
        map(Decimal, ("38525.0", "38546.0", "38525.0", "38544.0"))
    )
    assert last.ts_open == ns("2022-02-01 05:31:00")
    assert max(b.high for b in bars) == Decimal("48080")
    assert min(b.low for b in bars) == Decimal("32837")
    assert gaps(bars, MINUTE_NS) == 0


def test_freqtrade_json_keeps_real_gaps(data_dir: Path) -> None:
    bars = load_bars(data_dir / "freqtrade/ohlcv/UNITTEST_BTC-1m.json", "UNITTEST/BTC")
    assert len(bars) == 13_681
    assert bars[0].timeframe == "1m"
    assert bars[0].ts_open == 1_509_836_520_000 * 1_000_000
    assert bars[0].open == bars[0].close == Decimal("0.00162008")
    assert bars[0].volume == Decimal("108.14853839")
    assert bars[-1].ts_open == ns("2017-11-14 22:59:00")
    assert bars[-1].volume == Decimal("1.94577668")
    # 13,681 of 14,398 minutes are present, in 538 runs of missing minutes.
    assert (bars[-1].ts_open - bars[0].ts_open) // MINUTE_NS + 1 == 14_398
    assert gaps(bars, MINUTE_NS) == 538


def test_gzip_and_content_sniffing_give_the_same_bars(data_dir: Path, tmp_path: Path) -> None:
    source = data_dir / "freqtrade/ohlcv/UNITTEST_BTC-1m.json"
    expected = load_bars(source, "UNITTEST/BTC")
    gz = tmp_path / "UNITTEST_BTC-1m.json.gz"
    gz.write_bytes(gzip.compress(source.read_bytes()))
    no_suffix = tmp_path / "candles"
    shutil.copy(gz, no_suffix)
    assert load_bars(gz, "UNITTEST/BTC") == expected
    assert load_bars(no_suffix, "UNITTEST/BTC") == expected


def test_freqtrade_csv_with_utc_dates(data_dir: Path) -> None:
    bars = load_bars(data_dir / "freqtrade/derived/ETH_BTC-5m.csv", "ETH/BTC")
    assert len(bars) == 5_760
    assert bars[0].timeframe == "5m"
    assert bars[0].ts_open == ns("2018-01-10 04:55:00")
    values = (bars[0].open, bars[0].high, bars[0].low, bars[0].close, bars[0].volume)
    assert values == tuple(
        map(Decimal, ("0.0984", "0.0994766", "0.09828605", "0.0994766", "1820.54447418"))
    )
    assert bars[-1].ts_open == ns("2018-01-30 04:50:00")
    assert gaps(bars, 5 * MINUTE_NS) == 0


def test_binance_kline_csv_without_header(data_dir: Path) -> None:
    bars = load_bars(
        data_dir / "nautilus_trader/ohlcv/binance_ADABTC-1m-2021-11-27.csv", "ADA/BTC", "binance"
    )
    assert len(bars) == 10
    assert bars[0].ts_open == 1_637_971_200_000 * 1_000_000
    # ts_event is the close time: Binance's close_time 1637971259999 ms plus 1 ms.
    assert bars[0].ts_event == 1_637_971_260_000 * 1_000_000
    assert bars[0].open == Decimal("0.00002853")
    assert bars[0].volume == Decimal("36304.20000000")
    assert bars[-1].close == Decimal("0.00002865")
    other_day = load_bars(
        data_dir / "nautilus_trader/ohlcv/binance_ADABTC-1m-2021-11-28.csv", "ADA/BTC", "binance"
    )
    assert len(other_day) == 11


def test_separate_date_and_time_columns_with_session_gaps(data_dir: Path) -> None:
    bars = load_bars(data_dir / "backtrader/2006-min-005.txt", "STOXX50")
    assert len(bars) == 2_142
    assert bars[0].timeframe == "5m"
    assert bars[0].ts_open == ns("2006-01-02 09:05:00")
    assert bars[-1].ts_open == ns("2006-01-30 17:30:00")
    assert bars[0].volume == 0
    # 21 sessions, no gap inside a session: the 20 nights and weekends stay gaps.
    assert gaps(bars, 5 * MINUTE_NS) == 20


def test_daily_bars_infer_one_day(data_dir: Path) -> None:
    bars = load_bars(data_dir / "backtrader/orcl-2014.txt", "ORCL")
    assert len(bars) == 252
    assert bars[0].timeframe == "1d"
    assert bars[0].open == Decimal("37.779999")


@pytest.mark.parametrize(
    "stamp",
    [
        "1704067200",  # s
        "1704067200000",  # ms
        "1704067200000000",  # us
        "1704067200000000000",  # ns
        "2024-01-01 00:00:00+00:00",
        "2024-01-01T01:00:00+01:00",
        "2024-01-01T00:00:00Z",
        "2024-01-01 00:00:00.000000000",
    ],
)
def test_timestamp_encodings(write_csv, stamp: str) -> None:
    path = write_csv(["timestamp,open,high,low,close,volume", f"{stamp},1,2,1,2,5"])
    bars = load_bars(path, "X", timeframe="1h")
    assert bars[0].ts_open == ns("2024-01-01 00:00:00")
    assert bars[0].ts_event == ns("2024-01-01 01:00:00")


def test_nanosecond_fraction_is_kept(write_csv) -> None:
    path = write_csv(
        ["time,open,high,low,close,volume", "2024-01-01 00:00:00.123456789+00:00,1,1,1,1,0"]
    )
    assert (
        load_bars(path, "X", timeframe="1s")[0].ts_open == ns("2024-01-01 00:00:00") + 123_456_789
    )


def test_timestamp_at_close_and_explicit_timeframe(write_csv) -> None:
    path = write_csv(["date,open,high,low,close,volume", "2024-01-01 00:05:00,1,1,1,1,0"])
    (bar,) = load_bars(path, "X", timeframe="5m", timestamp_at="close")
    assert bar.ts_event == ns("2024-01-01 00:05:00")
    assert bar.ts_open == ns("2024-01-01 00:00:00")


def test_unsorted_rows_are_sorted_and_repeated_times_dropped(write_csv) -> None:
    path = write_csv(
        [
            "timestamp,open,high,low,close,volume",
            "120000,3,3,3,3,1",
            "0,1,1,1,1,1",
            "60000,2,2,2,2,1",
            "60000,9,9,9,9,1",
        ]
    )
    bars = load_bars(path, "X", timeframe="1m")
    assert [b.close for b in bars] == [1, 2, 3]
    assert bars.skipped == 1
    assert bars.rejections[0].row == 4
    assert "duplicate" in bars.rejections[0].reason


def test_infer_timeframe_uses_the_median_spacing() -> None:
    minute = MINUTE_NS
    assert infer_timeframe([0, minute, 2 * minute, 10 * minute, 11 * minute]) == "1m"
    assert infer_timeframe([0, 4 * 3600 * 10**9, 8 * 3600 * 10**9]) == "4h"
    assert infer_timeframe([0, 7 * 86_400 * 10**9]) == "1w"
    with pytest.raises(ValueError, match="fewer than two"):
        infer_timeframe([minute, minute])


def test_ccxt_ohlcv_floats_become_exact_decimals() -> None:
    rows = [
        [1_704_067_260_000, 0.1, 0.3, 0.1, 0.2, 12.5],
        [1_704_067_200_000, "0.1", "0.2", "0.1", "0.1", 3],
    ]
    bars = bars_from_ohlcv(rows, "BTC/USDT", "1m", venue="binance")
    assert [b.ts_open for b in bars] == [1_704_067_200 * 10**9, 1_704_067_260 * 10**9]
    assert bars[1].open == Decimal("0.1")  # not 0.1000000000000000055511151231257827...
    assert str(bars[1].high) == "0.3"
    assert bars[1].volume == Decimal("12.5")
    assert bars[0].venue == "binance"


def test_same_bars_from_json_and_from_ccxt_rows(data_dir: Path) -> None:
    path = data_dir / "freqtrade/ohlcv/UNITTEST_BTC-1m.json"
    rows = json.loads(path.read_text())[:500]
    assert bars_from_ohlcv(rows, "U", "1m") == load_bars(path, "U")[:500]


def test_feather_matches_its_csv_copy(data_dir: Path) -> None:
    pytest.importorskip("pyarrow")
    feather = load_bars(data_dir / "freqtrade/ohlcv/ETH_BTC-5m.feather", "ETH/BTC")
    csv_copy = load_bars(data_dir / "freqtrade/derived/ETH_BTC-5m.csv", "ETH/BTC")
    assert len(feather) == 5_760
    assert feather == csv_copy


@pytest.mark.parametrize(
    ("name", "rows", "timeframe", "gap_count"),
    [
        ("ohlcv/XRP_ETH-1m.feather", 2_469, "1m", 676),
        ("ohlcv/XRP_ETH-5m.feather", 706, "5m", 6),
        ("ohlcv/UNITTEST_BTC-30m.feather", 1_920, "30m", None),
        ("futures/XRP_USDT_USDT-5m-futures.feather", 1_999, "5m", None),
        ("futures/XRP_USDT_USDT-1h-futures.feather", 100, "1h", None),
    ],
)
def test_freqtrade_feather_files(
    data_dir: Path, name: str, rows: int, timeframe: str, gap_count: int | None
) -> None:
    pytest.importorskip("pyarrow")
    bars = load_bars(data_dir / "freqtrade" / name, "X")
    assert len(bars) == rows
    assert bars.skipped == 0
    assert bars[0].timeframe == timeframe
    if gap_count is not None:
        assert gaps(bars, bars[0].ts_event - bars[0].ts_open) == gap_count


def test_mark_candles_without_volume(data_dir: Path) -> None:
    pytest.importorskip("pyarrow")
    path = data_dir / "freqtrade/futures/XRP_USDT_USDT-1h-mark.feather"
    refused = load_bars(path, "XRP/USDT:USDT")
    assert (len(refused), refused.skipped) == (0, 100)
    assert refused.rejections[0].field == "volume"
    bars = load_bars(path, "XRP/USDT:USDT", allow_missing_volume=True)
    assert len(bars) == 100
    assert {b.volume for b in bars} == {Decimal(0)}
    assert bars[0].open == Decimal("1.20932")


def test_parquet_bars(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table(
        {
            "open_time": pa.array([1_704_067_200_000, 1_704_067_260_000], pa.timestamp("ms")),
            "open": [0.1, 0.2],
            "high": [0.3, 0.2],
            "low": [0.1, 0.2],
            "close": [0.2, 0.2],
            "volume": [1.0, None],
        }
    )
    path = tmp_path / "bars.parquet"
    pq.write_table(table, path)
    bars = load_bars(path, "X", allow_missing_volume=True)
    assert [b.ts_open for b in bars] == [1_704_067_200 * 10**9, 1_704_067_260 * 10**9]
    assert bars[0].timeframe == "1m"
    assert bars[0].high == Decimal("0.3")  # through repr(float), not Decimal(float)
    assert bars[1].volume == 0


def test_missing_pyarrow_names_the_install(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "pyarrow.feather", None)
    with pytest.raises(ImportError, match=r"pip install pyarrow.*libra-trader\[data\]"):
        load_bars(data_dir / "freqtrade/ohlcv/ETH_BTC-5m.feather", "ETH/BTC")
