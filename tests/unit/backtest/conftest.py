"""Fixtures for the backtest statistics and report tests: real market data and a browser."""

from __future__ import annotations

import csv
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from libra.backtest.stats import TradeRecord

REPO_ROOT = Path(__file__).resolve().parents[3]
ENSURE_CHROMIUM = REPO_ROOT / "scripts" / "ensure-chromium.sh"
ETH_BTC_5M = Path("/work/shared/data/freqtrade/derived/ETH_BTC-5m.csv")


@pytest.fixture(scope="session")
def eth_curve() -> list[tuple[int, Decimal]]:
    """Closing prices of ETH/BTC 5m bars (January 2018) used as an equity curve."""
    if not ETH_BTC_5M.exists():
        pytest.skip(f"market data not found at {ETH_BTC_5M}")
    with ETH_BTC_5M.open(newline="") as handle:
        return [
            (int(datetime.fromisoformat(row["date"]).timestamp()) * 1_000_000_000,
             Decimal(row["close"]))
            for row in csv.DictReader(handle)
        ]  # fmt: skip


@pytest.fixture(scope="session")
def eth_trades(eth_curve: list[tuple[int, Decimal]]) -> list[TradeRecord]:
    """Long trades held 50 bars, one every 100 bars, with a tag that needs HTML escaping."""
    trades = []
    fee = Decimal("0.0001")
    for start in range(0, len(eth_curve) - 50, 100):
        (entry_ts, entry_price), (exit_ts, exit_price) = eth_curve[start], eth_curve[start + 50]
        quantity = Decimal(2)
        trades.append(
            TradeRecord(
                symbol="ETH/BTC",
                side="long",
                entry_ts_ns=entry_ts,
                exit_ts_ns=exit_ts,
                entry_price=entry_price,
                exit_price=exit_price,
                quantity=quantity,
                pnl=(exit_price - entry_price) * quantity - fee,
                fees=fee,
                entry_tag="<b>breakout</b> & co",
                exit_tag="roi",
            )
        )
    return trades
