"""Trades and quotes from freqtrade, ccxt, NautilusTrader, Kraken and Tardis files."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest

from libra.data import DataFormatError, load_quotes, load_trades
from libra.model.events import Trade


def test_freqtrade_trades_json_gz(data_dir: Path) -> None:
    trades = load_trades(data_dir / "freqtrade/trades/XRP_ETH-trades.json.gz", "XRP/ETH", "binance")
    assert len(trades) == 12_477
    assert trades[0] == Trade(
        "binance", "XRP/ETH", Decimal("0.00141342"), Decimal("23.0"), "sell", "13519807",
        1_570_752_011_620_000_000, 1_570_752_011_620_000_000,
    )  # fmt: skip
    assert (trades[-1].trade_id, trades[-1].price, trades[-1].size) == (
        "13532283",
        Decimal("0.00152787"),
        Decimal("130.0"),
    )
    assert {t.side for t in trades} == {"buy", "sell"}
    assert all(a.ts_event <= b.ts_event for a, b in pairwise(trades))


def test_ccxt_trade_dicts_hold_the_same_trades(data_dir: Path) -> None:
    lists = load_trades(data_dir / "freqtrade/trades/XRP_ETH-trades.json.gz", "XRP/ETH")
    dicts = load_trades(data_dir / "freqtrade/trades/XRP_ETH-ccxt-trade-dicts.json.gz", "XRP/ETH")
    assert dicts == lists


def test_nautilus_trades_csv(data_dir: Path) -> None:
    trades = load_trades(
        data_dir / "nautilus_trader/derived/binance_btcusdt-trades.csv", "BTC/USDT"
    )
    assert len(trades) == 2_001
    assert trades[0].trade_id == "553287559"
    assert trades[-1].trade_id == "553289559"
    assert trades[0].price == Decimal("39432.48")
    assert trades[0].ts_event == 1_610_064_000_278_000_000
    assert trades[0].side == "sell"  # buyer_maker=True: the seller took liquidity
    assert trades[1].side == "buy"


def test_nautilus_trades_parquet_matches_csv(data_dir: Path) -> None:
    pytest.importorskip("pyarrow")
    parquet = load_trades(data_dir / "nautilus_trader/trades/binance_btcusdt-trades.parquet", "B")
    csv_copy = load_trades(data_dir / "nautilus_trader/derived/binance_btcusdt-trades.csv", "B")
    assert parquet == csv_copy


def test_kraken_csv_has_no_side_or_id(data_dir: Path) -> None:
    trades = load_trades(
        data_dir / "freqtrade/trades/kraken_BCHEUR_trades.csv", "BCH/EUR", "kraken"
    )
    assert len(trades) == 148
    first = trades[0]
    assert (first.ts_event, first.price, first.size) == (
        1_672_531_436_000_000_000,
        Decimal("90.540000"),
        Decimal("1.10448420"),
    )
    assert (first.side, first.trade_id) == ("", "")
    assert trades[-1].ts_event == 1_672_615_187_000_000_000


def test_trades_csv_with_index_column(data_dir: Path) -> None:
    trades = load_trades(data_dir / "freqtrade/trades/orderflow_public_trades_list.csv", "ETH/USDT")
    assert len(trades) == 1_000
    assert (trades[0].trade_id, trades[0].side, trades[0].price) == (
        "1206419187",
        "buy",
        Decimal("1666.8"),
    )
    assert trades[0].ts_event == 1_675_329_600_138_000_000


def test_tardis_trades_with_microsecond_epochs(data_dir: Path) -> None:
    trades = load_trades(data_dir / "nautilus_trader/tardis/bitmex_trades_XBTUSD.csv", "XBTUSD")
    assert len(trades) == 10
    assert trades[0].ts_event // 1_000_000_000 == 1_583_020_803  # 2020-03-01 00:00:03 UTC


def test_nautilus_quotes_csv_and_parquet(data_dir: Path) -> None:
    quotes = load_quotes(
        data_dir / "nautilus_trader/derived/binance_btcusdt-quotes.csv", "BTC/USDT"
    )
    assert len(quotes) == 451
    first = quotes[0]
    assert (first.bid, first.ask, first.bid_size, first.ask_size) == tuple(
        map(Decimal, ("39432.99", "39433.62", "0.0031", "0.066851"))
    )
    assert first.ts_event == first.ts_recv == 1_610_064_001_076_000_000
    assert quotes[-1].ask == Decimal("39490.98")
    pytest.importorskip("pyarrow")
    parquet = load_quotes(
        data_dir / "nautilus_trader/quotes/binance_btcusdt-quotes.parquet", "BTC/USDT"
    )
    assert parquet == quotes


def test_tardis_quotes(data_dir: Path) -> None:
    quotes = load_quotes(
        data_dir / "nautilus_trader/tardis/huobi-dm-swap_quotes_BTC-USD.csv", "BTC-USD"
    )
    assert len(quotes) == 10
    assert quotes[0].bid < quotes[0].ask


def test_headerless_quotes_are_refused(write_csv) -> None:
    with pytest.raises(DataFormatError, match="headerless"):
        load_quotes(write_csv(["1000,1,2,3,4"]), "X")
