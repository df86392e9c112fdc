"""The end of a backtest (force_exit), several symbols in one run, and streamed data.

Real freqtrade ETH/BTC and XRP/ETH 5m candles from the shared data folder.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from libra.backtest.api import run_backtest
from libra.backtest.engine import BacktestEngine
from libra.backtest.report import write_json
from libra.core.config import KernelConfig
from libra.data import load_bars, merge_streams
from libra.data.bar_stream import BarStream
from libra.data.freqtrade import find_freqtrade_file
from libra.testing.factories import paper_config, paper_gateway

OHLCV = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "freqtrade" / "ohlcv"
HOLD = "backtest_strategies:BuyAndHold"
QUANTITIES = {"ETH/BTC": "1", "XRP/ETH": "100"}


@pytest.fixture(scope="module")
def ohlcv() -> Path:
    if not (OHLCV / "ETH_BTC-5m.feather").is_file():
        pytest.skip(f"shared data not available: {OHLCV}")
    pytest.importorskip("pyarrow")
    return OHLCV


def _hold(data: dict[str, Any], symbols: list[str], **backtest: Any) -> KernelConfig:
    gateway = paper_gateway(symbol=symbols[0], data=data, balances={"BTC": "10", "ETH": "10"},
                            taker_fee="0.001", maker_fee="0.001")
    strategy = {"id": "hold", "plugin": HOLD, "symbols": symbols,
                "params": {"quantities": QUANTITIES}}
    return paper_config(strategy, gateway=gateway, log_plugins=False,
                        logging={"log_orders": False}, backtest=backtest)


async def test_position_open_at_the_end_closes_at_the_last_bar_open(ohlcv, tmp_path):
    data = {"source": "replay", "path": str(ohlcv / "ETH_BTC-5m.feather"), "symbol": "ETH/BTC"}
    run = await run_backtest(_hold(data, ["ETH/BTC"], end="2018-01-12"))
    last = max((e for e in run.kernel.cache.bars("ETH/BTC", "5m")), key=lambda b: b.ts_event)

    (trade,) = run.trades
    assert trade.exit_tag == "force_exit"
    assert trade.exit_price == last.open
    assert trade.exit_ts_ns == last.ts_event
    assert run.kernel.trading.portfolio.position("hold", "ETH/BTC").is_flat
    assert run.result.per_symbol["ETH/BTC"].force_exits == 1
    path = write_json(run.result, run.trades, run.equity, tmp_path / "run.json")
    written = json.loads(path.read_text())
    assert written["trades"][0]["exit_tag"] == "force_exit"
    assert written["metrics"]["per_symbol"]["ETH/BTC"]["force_exits"] == 1


async def test_force_exit_off_leaves_the_position_open(ohlcv):
    data = {"source": "replay", "path": str(ohlcv / "ETH_BTC-5m.feather"), "symbol": "ETH/BTC"}
    run = await run_backtest(_hold(data, ["ETH/BTC"], end="2018-01-12", force_exit=False))
    assert run.trades == []
    assert run.kernel.trading.portfolio.position("hold", "ETH/BTC").quantity == Decimal(1)


@pytest.mark.parametrize("layout", ["files", "directory"])
async def test_several_symbols_in_one_backtest_have_their_own_stats(ohlcv, layout):
    symbols = ["ETH/BTC", "XRP/ETH"]
    if layout == "files":
        data = {"source": "replay", "files": [
            {"path": str(find_freqtrade_file(ohlcv, s, "5m")), "symbol": s} for s in symbols]}
    else:
        data = {"source": "replay", "directory": str(ohlcv), "symbols": symbols,
                "timeframe": "5m"}
    run = await run_backtest(_hold(data, symbols))
    assert run.events == 5760 + 706
    assert sorted(run.result.per_symbol) == symbols
    for symbol in symbols:
        stats = run.result.per_symbol[symbol]
        assert (stats.trades, stats.fills, stats.force_exits) == (1, 2, 1)
        (trade,) = [t for t in run.trades if t.symbol == symbol]
        assert stats.pnl == trade.pnl
    assert run.result.to_dict()["per_symbol"]["XRP/ETH"]["volume"] != "0"


def test_directory_needs_its_symbols_and_timeframe():
    from libra.gateways.paper.config import PaperGatewayConfig

    with pytest.raises(ValueError, match=r"data.directory needs data.symbols and data.timeframe"):
        PaperGatewayConfig.model_validate({"data": {"source": "replay", "directory": "/data"}})


def test_bar_stream_reads_parquet_in_batches_as_the_whole_files(ohlcv, tmp_path):
    pandas = pytest.importorskip("pandas")
    files = []
    for symbol in ("ETH/BTC", "XRP/ETH"):
        path = tmp_path / f"{symbol.replace('/', '_')}-5m.parquet"
        pandas.read_feather(find_freqtrade_file(ohlcv, symbol, "5m")).to_parquet(
            path, row_group_size=700)
        files.append((path, symbol))
    whole = list(merge_streams(*(load_bars(p, symbol=s, venue="v") for p, s in files)))

    stream = BarStream(files, timeframe="5m", venue="v", batch_rows=333)

    assert list(stream) == whole
    assert stream.count == len(whole) == 5760 + 706


async def test_a_streamed_backtest_trades_as_one_given_a_list(ohlcv, tmp_path):
    pandas = pytest.importorskip("pandas")
    path = tmp_path / "ETH_BTC-5m.parquet"
    pandas.read_feather(ohlcv / "ETH_BTC-5m.feather").to_parquet(path, row_group_size=500)
    config = paper_config(
        {"id": "sma", "plugin": "sma_cross", "symbols": ["ETH/BTC"],
         "params": {"fast": 10, "slow": 30, "quantity": "1"}},
        gateway=paper_gateway(symbol="ETH/BTC", data={"source": "none"},
                              balances={"BTC": "10"}),
        log_plugins=False, logging={"log_orders": False})
    listed = await BacktestEngine(config).run(list(load_bars(path, symbol="ETH/BTC",
                                                             venue="paper")))
    streamed = await BacktestEngine(config).run(
        BarStream([(path, "ETH/BTC")], timeframe="5m", venue="paper", batch_rows=256))
    assert len(listed.fills) > 100
    assert streamed.fingerprint == listed.fingerprint
    assert streamed.events == listed.events == 5760
    assert list(streamed.equity) == list(listed.equity)


def test_bar_stream_names_the_bad_row(tmp_path):
    pandas = pytest.importorskip("pandas")
    path = tmp_path / "bad.parquet"
    pandas.DataFrame({"date": pandas.date_range("2022-01-01", periods=3, freq="1min",
                                                tz="UTC"),
                      "open": [1.0, 1.0, 1.0], "high": [1.1, 0.9, 1.1],
                      "low": [0.9, 0.95, 0.9], "close": [1.0, 1.0, 1.0],
                      "volume": [1.0, 1.0, 1.0]}).to_parquet(path)
    with pytest.raises(ValueError, match=r"bad.parquet: row 2: prices not positive"):
        list(BarStream([(path, "X/Y")], timeframe="1m"))
