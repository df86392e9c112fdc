"""Entry and exit tags of a freqtrade strategy reach the backtest's trades and its report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from libra.backtest.api import run_backtest, strategy_config
from libra.backtest.report import render_html
from libra.strategies.freqtrade import FreqtradeAdapter

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")


async def test_freqtrade_tags_fill_the_trade_table(freqtrade: Any, candles: Path,
                                                  strategy_folder: Any) -> None:
    adapter = FreqtradeAdapter({
        "strategy": "LibraRoiStop", "strategy_path": strategy_folder("LibraRoiStop"),
        "pairs": ["ETH/BTC"], "stake_amount": "0.01", "max_open_trades": 1, "fee": "0.001",
        "history": str(candles)})
    config = strategy_config(FreqtradeAdapter, {
        "data": str(candles), "symbol": "ETH/BTC", "starting_balances": {"BTC": "1"},
        "start": "2018-01-12", "end": "2018-01-14",
        "gateway": {"bar_execution": "next_open", "taker_fee": "0.001", "maker_fee": "0.001"}})

    run = await run_backtest(config, strategy_instances={config.strategies[0].id: adapter})

    assert len(run.trades) == len(adapter.closed_trades) > 5
    # The same tags as freqtrade's own trade book: enter_tag in, exit_reason out
    assert [(t.entry_tag, t.exit_tag) for t in run.trades] == [
        (c.enter_tag, c.exit_reason) for c in adapter.closed_trades]
    assert all(t.entry_tag for t in run.trades)
    assert {t.exit_tag for t in run.trades} >= {"roi"}
    page = render_html(run.result, run.trades, run.equity, charts="svg")
    assert f'title="{run.trades[0].entry_tag}"' in page
