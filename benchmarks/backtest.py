"""Backtest throughput: the whole kernel in simulated time.

Run: python benchmarks/backtest.py [--bars N]
Prints one figure per line as ``label: value unit``.

The bars are generated once (a seeded random walk, like a data file read into memory) and
each strategy then runs complete backtests over them: plugin discovery, building and
starting the kernel, the replay, stopping, and the statistics. ``bars/s`` is the bar count
over the median wall time of ``--repeat`` such runs (a shared machine varies by 10-20 %
from run to run); the ``with generating the bars`` figure adds the time the bars took to
generate. The real-data runs count reading the CSV file. The last line is the wall time
of the whole script from its first line: imports, generating, every run.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()

import argparse  # noqa: E402
import asyncio  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
from collections.abc import Callable  # noqa: E402
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


def run(label: str, load: Callable[[], list[Any]], symbol: str, plugin: str,
        params: dict[str, Any], instance: type[StrategyPlugin] | None = None, *,
        repeat: int, generate_seconds: float | None = None) -> None:
    walls, bars, fills = [], [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        bars = load()
        engine = BacktestEngine(config(symbol, plugin, params),
                                strategy_instances={"s": instance()} if instance else None)
        result = asyncio.run(engine.run(bars))
        walls.append(time.perf_counter() - started)
        fills = len(result.fills)
    wall = statistics.median(walls)
    print(f"backtest {label}: {len(bars) / wall:,.0f} bars/s")
    if generate_seconds is not None:
        print(f"backtest {label} with generating the bars: "
              f"{len(bars) / (wall + generate_seconds):,.0f} bars/s")
    print(f"backtest {label} wall time: {wall:,.2f} s median of {repeat} "
          f"(min {min(walls):,.2f}, max {max(walls):,.2f}; {len(bars):,} bars, {fills:,} fills)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    configure_logging(level="warning", fmt="json", stream=open(os.devnull, "w"))  # noqa: SIM115
    n, repeat = args.bars, args.repeat

    started = time.perf_counter()
    bars = synthetic_bars(n, "SYN/USD", "1m", seed=7, start_price="100.00", venue="sim")
    generate = time.perf_counter() - started
    print(f"backtest synthetic bars generated: {n / generate:,.0f} bars/s")
    # Periods chosen so the strategy trades (one fill) about every 100 bars on this walk.
    run("sma_cross trading", lambda: bars, "SYN/USD", "sma_cross",
        {"fast": 40, "slow": 160, "quantity": "1"}, repeat=repeat, generate_seconds=generate)
    run("count-only", lambda: bars, "SYN/USD", "sma_cross", {}, instance=CountOnly,
        repeat=repeat, generate_seconds=generate)
    bars.clear()  # free the synthetic bars before the real ones load
    real = SHARED / "nautilus_trader" / "ohlcv" / "ftx_btc-perp-20211231-20220201_1m.csv"
    if real.exists():
        run("real FTX BTC-PERP 1m sma_cross", lambda: load_bars(real, "BTC/USD", venue="sim"),
            "BTC/USD", "sma_cross", {"fast": 10, "slow": 30, "quantity": "0.1"}, repeat=repeat)
    print(f"backtest whole process wall time: {time.perf_counter() - _STARTED:,.2f} s")


if __name__ == "__main__":
    main()
