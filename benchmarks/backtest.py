"""Backtest throughput: the whole kernel in simulated time.

Run: python benchmarks/backtest.py [--bars N]
Prints one figure per line as ``label: value unit``. Wall time covers the whole
run in this process: generating or loading the bars, building and starting the
kernel, the replay, and the statistics.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path
from typing import Any

from libra.backtest.engine import BacktestEngine
from libra.core.config import KernelConfig
from libra.data import load_bars, synthetic_bars
from libra.observability.logging import configure_logging
from libra.plugins.base import PluginMetadata, StrategyPlugin

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


class CountOnly(StrategyPlugin):
    """Counts bars; never trades (the kernel's fixed cost per bar)."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.count = 0

    @classmethod
    def metadata(cls) -> PluginMetadata:
        return PluginMetadata.create(name="count_only", version="0", description="count bars")

    @property
    def name(self) -> str:
        return "count_only"

    @property
    def symbols(self) -> list[str]:
        return []

    async def initialize(self, context: dict[str, Any]) -> None:
        return None

    async def on_data(self, data: Any) -> None:
        self.count += 1


def config(symbol: str, plugin: str, params: dict[str, Any]) -> KernelConfig:
    quote = symbol.split("/")[1]
    return KernelConfig.model_validate({
        "environment": "backtest",
        "log_plugins": False,
        "logging": {"log_orders": False},
        "gateways": [{"id": "sim", "plugin": "paper", "starting_balances": {quote: "1000000"},
                      "data": {"source": "none"}}],
        "strategies": [{"id": "s", "plugin": plugin, "symbols": [symbol], "params": params}],
    })


def run(label: str, bars_factory: Any, symbol: str, plugin: str, params: dict[str, Any],
        instance: StrategyPlugin | None = None) -> None:
    started = time.perf_counter()
    bars = bars_factory()
    engine = BacktestEngine(config(symbol, plugin, params),
                            strategy_instances={"s": instance} if instance else None)
    result = asyncio.run(engine.run(bars))
    wall = time.perf_counter() - started
    print(f"backtest {label}: {len(bars) / wall:,.0f} bars/s")
    print(f"backtest {label} wall time: {wall:,.2f} s "
          f"({len(bars):,} bars, {len(result.fills):,} fills)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=1_000_000)
    args = parser.parse_args()
    configure_logging(level="warning", fmt="json", stream=open(os.devnull, "w"))  # noqa: SIM115
    n = args.bars

    def synthetic() -> list[Any]:
        return synthetic_bars(n, "SYN/USD", "1m", seed=7, start_price="100.00", venue="sim")

    # Periods chosen so the strategy trades (one fill) about every 100 bars on this walk.
    run("sma_cross trading", synthetic, "SYN/USD", "sma_cross",
        {"fast": 40, "slow": 160, "quantity": "1"})
    run("count-only", synthetic, "SYN/USD", "sma_cross", {},
        instance=CountOnly())
    real = SHARED / "nautilus_trader" / "ohlcv" / "ftx_btc-perp-20211231-20220201_1m.csv"
    if real.exists():
        run("real FTX BTC-PERP 1m sma_cross", lambda: load_bars(real, "BTC/USD", venue="sim"),
            "BTC/USD", "sma_cross", {"fast": 10, "slow": 30, "quantity": "0.1"})


if __name__ == "__main__":
    main()
