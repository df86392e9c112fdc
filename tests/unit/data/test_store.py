"""The data directory's layout, merging and gap finding (``libra.data.store``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from libra.data.store import (
    Gap,
    candle_table,
    dataset_path,
    find_gaps,
    list_datasets,
    merge_candle_tables,
    read_candles,
    symbol_dirname,
    write_candles,
)

M = 60_000


@pytest.mark.parametrize(("symbol", "name"), [
    ("BTC/USDT", "BTC_USDT"), ("BTC/USDT:USDT", "BTC_USDT_USDT"),
    ("1000PEPE/USDC", "1000PEPE_USDC"), ("BTC-PERP", "BTC-PERP"), ("..", "_."),
    ("../etc", "_._etc"),
])
def test_symbols_become_safe_directory_names(symbol: str, name: str) -> None:
    assert symbol_dirname(symbol) == name
    assert dataset_path("d", "kraken", symbol, "1h") == Path("d", "kraken", name, "1h.parquet")


def test_a_bad_exchange_or_timeframe_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid exchange name"):
        dataset_path("d", "../x", "BTC/USDT", "1m")
    with pytest.raises(ValueError, match="timeframe"):
        dataset_path("d", "binance", "BTC/USDT", "1 minute")


def test_gaps_are_runs_of_missing_open_times() -> None:
    stamps = [0, M, 2 * M, 6 * M, 7 * M, 9 * M]
    assert find_gaps(stamps, M) == [Gap(3 * M, 5 * M, 3), Gap(8 * M, 8 * M, 1)]
    assert find_gaps([0, M], M) == []


def test_merging_keeps_one_candle_per_time_and_the_new_one_wins() -> None:
    old = candle_table([[0, 1.0, 1.0, 1.0, 1.0, 1.0], [M, 2.0, 2.0, 2.0, 2.0, 2.0]])
    new = candle_table([[M, 5.0, 5.0, 5.0, 5.0, 5.0], [2 * M, 3.0, 3.0, 3.0, 3.0, 3.0]])

    merged = merge_candle_tables(old, new)

    assert merged.column("open").to_pylist() == [1.0, 5.0, 3.0]


def test_a_stored_file_is_listed_with_its_real_symbol(tmp_path: Path) -> None:
    path = dataset_path(tmp_path, "okx", "BTC/USDT:USDT", "1m")
    write_candles(path, [[0, 1.0, 1.0, 1.0, 1.0, 1.0], [3 * M, 1.0, 1.0, 1.0, 1.0, 1.0]],
                  exchange="okx", symbol="BTC/USDT:USDT", timeframe="1m")
    (path.parent / ".1m.parquet.tmp-123").write_bytes(b"half a file")

    [info] = list_datasets(tmp_path)

    assert (info.exchange, info.symbol, info.timeframe) == ("okx", "BTC/USDT:USDT", "1m")
    assert (info.count, info.gaps, info.missing) == (2, 1, 2)
    assert info.as_dict()["first"] == "1970-01-01T00:00:00Z"
    assert read_candles(path)[1] == [3 * M, 1.0, 1.0, 1.0, 1.0, 1.0]


def test_a_file_that_is_not_a_dataset_is_listed_with_the_reason(tmp_path: Path) -> None:
    stray = tmp_path / "binance" / "BTC_USDT" / "1m.parquet"
    stray.parent.mkdir(parents=True)
    stray.write_text("timestamp,open\n")

    [info] = list_datasets(tmp_path)

    assert info.count == 0
    assert info.problem is not None
    assert "problem" in info.as_dict()
