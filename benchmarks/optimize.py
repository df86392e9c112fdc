"""Optimizer throughput: trials per second of a small grid, on 1 worker and on 2.

Run: python benchmarks/optimize.py [--days N] [--fast-values N]
Prints one figure per line as ``label: value unit``. Each trial is a full backtest of
sma_cross on the bundled BTC/USD 1m bars (real data) over ``--days`` days. ``workers = 1``
runs the trials in this process; ``workers = 2`` runs them in two spawned worker
processes, and its wall time includes starting them (importing LIBRA and discovering
plugins, about a second each) and loading the data once per trial.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from libra.backtest.optimize import optimize
from libra.core.config import KernelConfig
from libra.observability.logging import configure_logging


def grid_config(days: int, fast_values: int, workers: int) -> KernelConfig:
    """Return sma_cross on BTC/USD 1m with a grid of ``fast_values`` x 2 points."""
    return KernelConfig.model_validate({
        "environment": "backtest",
        "log_plugins": False,
        "logging": {"log_orders": False},
        "gateways": [{"id": "paper", "plugin": "paper", "starting_balances": {"USD": "100000"},
                      "data": {"source": "replay", "path": "bundled:BTC_USD-1m",
                               "symbol": "BTC/USD"}}],
        "strategies": [{"id": "sma", "plugin": "sma_cross", "symbols": ["BTC/USD"],
                        "params": {"fast": 10, "slow": 60, "quantity": "0.5"}}],
        "backtest": {"start": "2022-01-03", "end": f"2022-01-{3 + days:02d}"},
        "optimize": {"method": "grid", "workers": workers, "trials": 10_000,
                     "space": {"fast": {"low": 5, "high": 5 * fast_values, "step": 5},
                               "slow": {"choices": [60, 120]}}},
    })


async def measure(days: int, fast_values: int, workers: int) -> tuple[int, float]:
    """Return the number of trials and the wall time of one grid search."""
    config = grid_config(days, fast_values, workers)
    started = time.perf_counter()
    study = await optimize(config, progress=False)
    return len(study.trials), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--fast-values", type=int, default=12)
    args = parser.parse_args()
    with open(os.devnull, "w", encoding="utf-8") as sink:
        configure_logging(level="warning", fmt="json", stream=sink)
        results = {w: asyncio.run(measure(args.days, args.fast_values, w)) for w in (1, 2)}
    trials = results[1][0]
    print(f"optimize_grid_trials: {trials} trials of {args.days} days of 1m bars")
    rates = {}
    for workers, (count, wall) in results.items():
        rates[workers] = count / wall
        print(f"optimize_workers_{workers}_wall: {wall:.2f} s")
        print(f"optimize_workers_{workers}: {rates[workers]:.2f} trials/s")
    print(f"optimize_speedup_2_vs_1: {rates[2] / rates[1]:.2f} x")
    print(f"cpu_count: {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
