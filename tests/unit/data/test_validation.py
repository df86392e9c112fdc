"""Bad rows are skipped and counted, or raise naming file, row and field when strict."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from libra.data import DataFormatError, load_bars, load_quotes, load_trades

HEADER = "timestamp,open,high,low,close,volume"
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC in ms
T0_NS = T0 * 1_000_000
BAD_ROWS = [
    HEADER,
    f"{T0},10,11,9,10,1",
    f"{T0 + 60000},NaN,11,9,10,1",  # row 2: NaN open
    ",,,,,",  # row 3: empty
    f"{T0 + 180000},10,11,-9,10,1",  # row 4: negative low
    f"{T0 + 240000},10,9,11,10,1",  # row 5: high below low
    f"{T0 + 300000},10,inf,9,10,1",  # row 6: infinite high
    f"{T0 + 360000},0,11,0,10,1",  # row 7: zero price
    f"{T0 + 420000},10,11,9,12,1",  # row 8: close above high
    f"{T0 + 480000},10,11,9,10,-1",  # row 9: negative volume
    "not-a-time,10,11,9,10,1",  # row 10: bad timestamp
    f"{T0 + 600000},10,11",  # row 11: too few cells
    f"{T0 + 660000},10,11,9,10,abc",  # row 12: volume not a number
    f"{T0 + 720000},10,12,8,11,2",
]


def test_bad_rows_are_skipped_and_counted(write_csv) -> None:
    bars = load_bars(write_csv(BAD_ROWS), "X", timeframe="1m")
    assert [b.ts_open for b in bars] == [T0_NS, T0_NS + 720_000_000_000]
    assert bars.skipped == 11
    found = [(r.row, r.field) for r in bars.rejections]
    assert found == [
        (2, "open"),
        (3, "timestamp"),
        (4, "low"),
        (5, "high"),
        (6, "high"),
        (7, "open"),
        (8, "close"),
        (9, "volume"),
        (10, "timestamp"),
        (11, "row"),
        (12, "volume"),
    ]
    assert bars.rejections[3].reason == "below low 11"


def test_bad_row_in_a_regular_file_leaves_the_fast_path(write_csv) -> None:
    """Every line has six cells, so the file is read as columns until the NaN shows up."""
    lines = [f"{T0 + m * 60_000},1,1,1,1,1" for m in range(5)]
    lines[1] = f"{T0 + 60_000},nan,1,1,1,1"
    bars = load_bars(write_csv([HEADER, *lines]), "X")
    assert len(bars) == 4
    assert bars[0].timeframe == "1m"
    assert (bars.skipped, bars.rejections[0].row, bars.rejections[0].reason) == (
        1,
        2,
        "not finite",
    )


def test_strict_names_file_row_and_field(write_csv) -> None:
    path = write_csv(BAD_ROWS)
    with pytest.raises(DataFormatError) as caught:
        load_bars(path, "X", timeframe="1m", strict=True)
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.source, error.row, error.field) == (str(path), 2, "open")
    assert str(path) in str(error)
    assert "row 2" in str(error)
    assert "open" in str(error)


def test_strict_passes_a_clean_file(write_csv) -> None:
    bars = load_bars(write_csv([HEADER, "0,1,2,1,2,3"]), "X", timeframe="1m", strict=True)
    assert bars[0].close == Decimal(2)


def test_json_nan_and_null_rows(tmp_path: Path) -> None:
    path = tmp_path / "X-1m.json"
    path.write_text(
        "[[0, 1.0, 1.0, 1.0, 1.0, 1.0], [60000, NaN, 1, 1, 1, 1],"
        " [120000, 1, 1, 1, null, 1], [180000, 2, 2, 2, 2, 0]]"
    )
    bars = load_bars(path, "X")
    assert len(bars) == 2
    assert [(r.row, r.field) for r in bars.rejections] == [(2, "open"), (3, "close")]


def test_header_without_a_needed_column(write_csv) -> None:
    with pytest.raises(DataFormatError, match="no 'close' column"):
        load_bars(write_csv(["timestamp,open,high,low,volume", "0,1,1,1,1"]), "X")


def test_single_bar_needs_a_timeframe(write_csv) -> None:
    path = write_csv([HEADER, "0,1,1,1,1,1"])
    with pytest.raises(DataFormatError, match="pass timeframe="):
        load_bars(path, "X")
    assert len(load_bars(path, "X", timeframe="1m")) == 1


def test_all_rows_bad_gives_an_empty_list(write_csv) -> None:
    lines = [f"{T0},-1,1,1,1,1", f"{T0 + 60_000},x,1,1,1,1"]
    bars = load_bars(write_csv([HEADER, *lines]), "X")
    assert (list(bars), bars.skipped) == ([], 2)


def test_bad_trades_and_quotes(tmp_path: Path, write_csv) -> None:
    trades = tmp_path / "trades.json"
    trades.write_text(
        json.dumps(
            [
                [1000, "1", None, "buy", 1.5, 2.0, 3.0],
                [2000, "2", None, "sell", -1.5, 2.0, 3.0],
                [3000, "3", None, "sell", 1.5, 0, 0],
            ]
        )
    )
    loaded = load_trades(trades, "X")
    assert [t.trade_id for t in loaded] == ["1"]
    assert [(r.row, r.field) for r in loaded.rejections] == [(2, "price"), (3, "size")]
    quotes = write_csv(
        [
            "timestamp,bid,ask,bid_size,ask_size",
            "1000,10,11,1,1",
            "2000,12,11,1,1",
            "3000,10,11,-1,1",
        ]
    )
    loaded_quotes = load_quotes(quotes, "X")
    assert len(loaded_quotes) == 1
    assert [(r.row, r.field) for r in loaded_quotes.rejections] == [(2, "bid"), (3, "bid_size")]
    with pytest.raises(DataFormatError, match=r"row 2.*bid"):
        load_quotes(quotes, "X", strict=True)
