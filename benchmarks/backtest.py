"""Backtest throughput: the whole kernel in simulated time.

Run: python benchmarks/backtest.py [--bars N] [--symbols N]
Prints one figure per line as ``label: value unit``.

``--symbols N`` measures one backtest of N symbols instead: 200,000 1m bars each
(``--symbol-bars``), synthesised from the real FTX BTC-PERP 1m returns (each symbol a
seeded resampling of them, prices on a 0.01 grid), written to Parquet files in a
temporary folder (row groups of 10,000 rows) and read back batch by batch while they are
played (``libra.data.BarStream``), by one strategy subscribed to every symbol. It prints
bars/s over the wall time and over the process's CPU time (the machine is shared), and
the process's peak RSS.

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


def write_symbols(folder: Path, symbols: int, bars: int) -> list[tuple[Path, str]]:
    """Write ``symbols`` Parquet files of ``bars`` 1m bars resampled from real returns."""
    import numpy as np
    import pandas as pd

    real = pd.read_csv(SHARED / "nautilus_trader" / "ohlcv" /
                       "ftx_btc-perp-20211231-20220201_1m.csv")
    close, opened = real["close"].to_numpy(), real["open"].to_numpy()
    returns = np.log(close[1:] / close[:-1])
    high_ratio, low_ratio = real["high"].to_numpy()[1:] / close[1:], \
        real["low"].to_numpy()[1:] / close[1:]
    gap = opened[1:] / close[:-1]
    volume = real["volume"].to_numpy()[1:]
    dates = pd.date_range("2022-01-01", periods=bars, freq="1min", tz="UTC")
    rng = np.random.default_rng(7)
    files = []
    for number in range(symbols):
        pick = rng.integers(0, returns.size, bars)
        closes = 100.0 * np.exp(np.cumsum(returns[pick]))
        opens = np.concatenate(([100.0], closes[:-1])) * gap[pick]
        o, c = np.round(opens, 2), np.round(closes, 2)
        h = np.maximum.reduce([np.round(closes * high_ratio[pick], 2), o, c])
        lo = np.minimum.reduce([np.round(closes * low_ratio[pick], 2), o, c])
        path = folder / f"S{number:03d}_USD-1m.parquet"
        pd.DataFrame({"date": dates, "open": o, "high": h, "low": lo, "close": c,
                      "volume": np.round(volume[pick] / 1000)}).to_parquet(
            path, index=False, row_group_size=10_000)
        files.append((path, f"S{number:03d}/USD"))
    return files


def run_symbols(symbols: int, bars: int) -> None:
    import resource
    import tempfile

    from libra.data.bar_stream import BarStream

    with tempfile.TemporaryDirectory(prefix="libra-bench-") as folder:
        started = time.perf_counter()
        files = write_symbols(Path(folder), symbols, bars)
        print(f"backtest {symbols} symbols parquet written: "
              f"{time.perf_counter() - started:,.1f} s")
        names = [symbol for _, symbol in files]
        cfg = config(names[0], "sma_cross", {})
        cfg = cfg.model_copy(update={"strategies": [
            cfg.strategies[0].model_copy(update={"symbols": names})]})
        stream = BarStream(files, timeframe="1m", venue="sim", batch_rows=4_000)
        wall, cpu = time.perf_counter(), time.process_time()
        engine = BacktestEngine(cfg, strategy_instances={"s": CountOnly()})
        result = asyncio.run(engine.run(stream))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    label = f"backtest {symbols} symbols x {bars:,} 1m bars from parquet count-only"
    print(f"{label}: {result.events / wall:,.0f} bars/s")
    print(f"{label} per CPU second: {result.events / cpu:,.0f} bars/s")
    print(f"{label} wall time: {wall:,.2f} s ({result.events:,} bars, "
          f"{len(result.result.per_symbol)} symbols traded)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"backtest {symbols} symbols peak RSS: {peak:,.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--symbols", type=int, default=0,
                        help="measure one backtest of this many symbols read from Parquet")
    parser.add_argument("--symbol-bars", type=int, default=200_000,
                        help="bars per symbol with --symbols (default: 200,000)")
    args = parser.parse_args()
    configure_logging(level="warning", fmt="json", stream=open(os.devnull, "w"))  # noqa: SIM115
    if args.symbols:
        run_symbols(args.symbols, args.symbol_bars)
        print(f"backtest whole process wall time: {time.perf_counter() - _STARTED:,.2f} s")
        return
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
