"""Where data comes from: bundled samples and freqtrade data directories."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

from libra.data import (
    find_freqtrade_file,
    list_bundled,
    load_bars,
    pair_to_filename,
    resolve_data_path,
)


def test_bundled_samples_resolve_and_load() -> None:
    assert list_bundled() == ["BTC_USD-1m", "ETH_BTC-5m"]
    btc = load_bars("bundled:BTC_USD-1m", "BTC/USD", venue="ftx")
    assert len(btc) == 45_031
    assert btc[0].timeframe == "1m"
    eth = load_bars("bundled:ETH_BTC-5m", "ETH/BTC")
    assert len(eth) == 5_760
    assert eth[0].timeframe == "5m"


def test_bundled_samples_are_the_real_files_recompressed(data_dir: Path) -> None:
    pairs = {
        "BTC_USD-1m": data_dir / "nautilus_trader/ohlcv/ftx_btc-perp-20211231-20220201_1m.csv",
        "ETH_BTC-5m": data_dir / "freqtrade/derived/ETH_BTC-5m.csv",
    }
    for name, original in pairs.items():
        bundled = gzip.decompress(resolve_data_path(f"bundled:{name}").read_bytes())
        assert hashlib.sha256(bundled).digest() == hashlib.sha256(original.read_bytes()).digest()


def test_bundled_notice_names_sources_and_licences() -> None:
    notice = (resolve_data_path("bundled:BTC_USD-1m").parent / "NOTICE.md").read_text()
    for needle in (
        "nautechsystems/nautilus_trader",
        "a95c8042b00133829d252ae8cf68f78fc176a973",
        "LGPL-3.0",
        "freqtrade/freqtrade",
        "c9ae5e1e9ff25bb55dd61f5e5519f7c479291edb",
        "GPL-3.0",
        "USD",
    ):
        assert needle in notice


def test_unknown_bundled_name_lists_the_available_ones() -> None:
    with pytest.raises(ValueError, match="bundled:BTC_USD-1m, bundled:ETH_BTC-5m"):
        resolve_data_path("bundled:DOGE-1s")


def test_plain_paths_pass_through(tmp_path: Path) -> None:
    assert resolve_data_path(tmp_path / "x.csv") == tmp_path / "x.csv"
    assert resolve_data_path("~/x.csv") == Path("~/x.csv").expanduser()


def test_pair_to_filename() -> None:
    assert pair_to_filename("ETH/BTC") == "ETH_BTC"
    assert pair_to_filename("XRP/USDT:USDT") == "XRP_USDT_USDT"


def test_find_freqtrade_spot_and_futures_files(data_dir: Path) -> None:
    ohlcv = data_dir / "freqtrade/ohlcv"
    assert find_freqtrade_file(ohlcv, "ETH/BTC", "5m") == ohlcv / "ETH_BTC-5m.feather"
    assert find_freqtrade_file(ohlcv, "UNITTEST/BTC", "1m") == ohlcv / "UNITTEST_BTC-1m.json"
    root = data_dir / "freqtrade"
    futures = find_freqtrade_file(root, "XRP/USDT:USDT", "1h", "futures")
    assert futures == root / "futures/XRP_USDT_USDT-1h-futures.feather"
    mark = find_freqtrade_file(root / "futures", "XRP/USDT:USDT", "1h", candle_type="mark")
    assert mark.name == "XRP_USDT_USDT-1h-mark.feather"


def test_freqtrade_prefers_feather_and_reads_json_gz(tmp_path: Path) -> None:
    (tmp_path / "BTC_USDT-1h.json.gz").write_bytes(gzip.compress(b"[[0,1,1,1,1,1]]"))
    assert find_freqtrade_file(tmp_path, "BTC/USDT", "1h").name == "BTC_USDT-1h.json.gz"
    (tmp_path / "BTC_USDT-1h.feather").write_bytes(b"")
    assert find_freqtrade_file(tmp_path, "BTC/USDT", "1h").name == "BTC_USDT-1h.feather"


def test_missing_freqtrade_file_lists_the_paths_tried(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"ETH_BTC-1d\.feather.*ETH_BTC-1d\.json"):
        find_freqtrade_file(tmp_path, "ETH/BTC", "1d")
    with pytest.raises(ValueError, match="candle_type"):
        find_freqtrade_file(tmp_path, "ETH/BTC", "1d", candle_type="perp")


def test_freqtrade_file_loads(data_dir: Path) -> None:
    path = find_freqtrade_file(data_dir / "freqtrade/ohlcv", "UNITTEST/BTC", "1m")
    assert len(load_bars(path, "UNITTEST/BTC")) == 13_681
