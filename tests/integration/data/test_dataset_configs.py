"""Configs that name data by exchange, symbol and timeframe in the data directory."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from history_venue import MINUTE, T0, options_for
from pydantic import ValidationError

from libra.cli import main
from libra.gateways.ccxt.download import DownloadPlan, HistoryDownloader
from libra.gateways.paper.config import PaperDataConfig
from libra.testing.exchange import LocalExchange

BACKTEST = """
environment = "backtest"

[[gateways]]
id = "paper"
plugin = "paper"
starting_balances = {{ USDT = "100000" }}
data = {{ source = "replay", directory = "{directory}", exchange = "binance", timeframe = "1m" }}

[[strategies]]
id = "sma"
plugin = "sma_cross"
gateway = "paper"
symbols = [{symbols}]
params = {{ fast = 5, slow = 20, quantity = "0.1" }}
"""


def write_backtest(tmp_path: Path, directory: Path, *symbols: str) -> Path:
    path = tmp_path / "backtest.toml"
    path.write_text(BACKTEST.format(directory=directory,
                                    symbols=", ".join(f'"{s}"' for s in symbols)))
    return path


async def download(exchange: LocalExchange, directory: Path, count: int) -> None:
    plan = DownloadPlan(("BTC/USDT",), "1m", directory, T0, T0 + count * MINUTE)
    async with HistoryDownloader(options_for(exchange)) as downloader:
        await downloader.download(plan)


def test_a_backtest_runs_on_a_downloaded_dataset_named_by_exchange_and_timeframe(
        threaded_exchange: LocalExchange, tmp_path: Path, data_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    threaded_exchange.history.add_candles("BTCUSDT", "1m", T0, 3_000)
    asyncio.run(download(threaded_exchange, data_dir, 3_000))
    config = write_backtest(tmp_path, data_dir, "BTC/USDT")

    code = main(["backtest", "--config", str(config)])

    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Events: 3,000" in out  # every downloaded candle, the strategy's symbol


def test_a_missing_dataset_names_the_command_that_downloads_it(
        tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_backtest(tmp_path, data_dir, "ETH/USDT")

    code = main(["backtest", "--config", str(config)])

    _, err = capsys.readouterr()
    assert code == 2
    assert "field gateways[0].data.exchange: no 1m data of ETH/USDT from binance" in err
    assert (f"libra data download --exchange binance --symbols ETH/USDT --timeframe 1m "
            f"--dir {data_dir}") in err


@pytest.mark.parametrize(("data", "message"), [
    ({"exchange": "binance"}, "data.timeframe is required with data.exchange"),
    ({"exchange": "binance", "timeframe": "1m", "path": "x.csv"}, "keep one"),
    ({"exchange": "binance", "timeframe": "7x"}, "timeframe"),
])
def test_a_dataset_needs_its_timeframe_and_no_file_path(data: dict[str, str],
                                                       message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PaperDataConfig.model_validate({"source": "replay", **data})
