"""Backtest throughput: the whole kernel in simulated time.

Run: python benchmarks/backtest.py [--bars N]
Prints one figure per line as ``label: value unit``.

The bars are generated once (a seeded random walk, like a data file read into memory) and
each strategy then runs a complete backtest over them: plugin discovery, building and
starting the kernel, the replay, stopping, and the statistics. ``bars/s`` is the bar count
over that run's wall time; the ``with generating the bars`` figure adds the time the bars
took to generate. The real-data run counts reading the CSV file. The last line is the
wall time of the whole script from its first line: imports, generating, every run.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()

import argparse  # noqa: E402
import asyncio  # noqa: E402
import os  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from libra.backtest.engine import BacktestEngine  # noqa: E402
from libra.core.config import KernelConfig  # noqa: E402
from libra.data import load_bars, synthetic_bars  # noqa: E402
from libra.observability.logging import configure_logging  # noqa: E402
from libra.plugins.base import PluginMetadata, StrategyPlugin  # noqa: E402

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


def run(label: str, bars: list[Any], symbol: str, plugin: str, params: dict[str, Any],
        instance: StrategyPlugin | None = None, *, load_seconds: float = 0.0,
        generate_seconds: float | None = None) -> None:
    started = time.perf_counter()
    engine = BacktestEngine(config(symbol, plugin, params),
                            strategy_instances={"s": instance} if instance else None)
    result = asyncio.run(engine.run(bars))
    wall = time.perf_counter() - started + load_seconds
    print(f"backtest {label}: {len(bars) / wall:,.0f} bars/s")
    if generate_seconds is not None:
        print(f"backtest {label} with generating the bars: "
              f"{len(bars) / (wall + generate_seconds):,.0f} bars/s")
    print(f"backtest {label} wall time: {wall:,.2f} s "
          f"({len(bars):,} bars, {len(result.fills):,} fills)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=1_000_000)
    args = parser.parse_args()
    configure_logging(level="warning", fmt="json", stream=open(os.devnull, "w"))  # noqa: SIM115
    n = args.bars

    started = time.perf_counter()
    bars = synthetic_bars(n, "SYN/USD", "1m", seed=7, start_price="100.00", venue="sim")
    generate = time.perf_counter() - started
    print(f"backtest synthetic bars generated: {n / generate:,.0f} bars/s")
    # Periods chosen so the strategy trades (one fill) about every 100 bars on this walk.
    run("sma_cross trading", bars, "SYN/USD", "sma_cross",
        {"fast": 40, "slow": 160, "quantity": "1"}, generate_seconds=generate)
    run("count-only", bars, "SYN/USD", "sma_cross", {}, instance=CountOnly(),
        generate_seconds=generate)
    del bars
    real = SHARED / "nautilus_trader" / "ohlcv" / "ftx_btc-perp-20211231-20220201_1m.csv"
    if real.exists():
        started = time.perf_counter()
        real_bars = load_bars(real, "BTC/USD", venue="sim")
        run("real FTX BTC-PERP 1m sma_cross", real_bars, "BTC/USD", "sma_cross",
            {"fast": 10, "slow": 30, "quantity": "0.1"},
            load_seconds=time.perf_counter() - started)
    print(f"backtest whole process wall time: {time.perf_counter() - _STARTED:,.2f} s")


if __name__ == "__main__":
    main()
