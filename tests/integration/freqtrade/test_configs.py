"""The shipped freqtrade configs run: ``libra backtest`` and ``libra run`` (paper replay)."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path
from typing import Any

import pytest

from libra.backtest.api import run_backtest
from libra.core.config import KernelConfig, load_config
from libra.core.errors import ConfigError
from libra.core.kernel import TradingKernel
from libra.testing.factories import paper_config, paper_gateway

CONFIG = Path(__file__).resolve().parents[3] / "config"
pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")


async def test_backtest_config_trades_the_sample_strategy(freqtrade):
    run = await run_backtest(load_config(CONFIG / "freqtrade-backtest.toml"))
    strategy = run.kernel.strategies["ft-sample"]
    # 13 closed by the strategy, and the one still open when the data ends (force_exit)
    assert len(strategy.closed_trades) == 14
    assert len(run.trades) == 14
    assert {t.exit_reason for t in strategy.closed_trades} == {"roi", "stop_loss", "force_exit"}
    assert run.trades[-1].exit_tag == "force_exit"


async def test_paper_config_trades_on_the_replay(freqtrade):
    raw: dict[str, Any] = tomllib.loads((CONFIG / "freqtrade-paper.toml").read_text())
    raw["gateways"][0]["data"]["speed"] = 0  # as fast as the strategy keeps up
    kernel = TradingKernel(KernelConfig.model_validate(raw))
    await kernel.start()
    try:
        strategy = kernel.strategies["ft-sample"]
        async with asyncio.timeout(60):
            while not strategy.closed_trades:
                await asyncio.sleep(0.01)
    finally:
        await kernel.stop()
    trade = strategy.closed_trades[0]
    assert trade.exit_reason == "roi"
    assert trade.close_rate > trade.open_rate


async def test_unsupported_strategy_stops_the_kernel_at_start(freqtrade):
    support = Path(__file__).resolve().parents[2] / "support" / "freqtrade_strategies"
    gateway = paper_gateway(symbol="ETH/BTC", data="bundled:ETH_BTC-5m",
                            balances={"BTC": "1"})
    short = {"id": "short", "plugin": "freqtrade",
             "params": {"strategy": "LibraShort", "strategy_path": str(support)}}
    config = paper_config(short, gateway=gateway, environment="backtest")
    with pytest.raises(ConfigError, match="can_short"):
        await run_backtest(config)
