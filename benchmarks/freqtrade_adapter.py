"""freqtrade adapter throughput: a LIBRA backtest against ``freqtrade backtesting``.

Run: python benchmarks/freqtrade_adapter.py [--strategy NAME] [--skip-per-candle]
Each measurement runs in its own process (this script starts one per mode) on the same
5,760 real ETH/BTC 5m candles, with the same stake, fee and precision. Wall time covers
the whole run in that process after imports: loading candles, the strategy, the analysis
and the trade simulation. Prints ``label: value unit`` lines.

Modes: ``libra_per_candle`` analyses every closed candle as live trading does;
``libra_precomputed`` analyses the history once (``history`` option), as freqtrade's
backtester does; ``freqtrade`` is freqtrade's own backtester, offline.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CANDLES = ROOT.parent / "shared" / "data" / "freqtrade" / "ohlcv" / "ETH_BTC-5m.feather"
OWN = ROOT / "tests" / "support" / "freqtrade_strategies"
PAIR = "ETH/BTC"


def folder(strategy: str) -> str:
    if strategy == "SampleStrategy":
        import freqtrade.templates

        return str(Path(freqtrade.templates.__file__).parent)
    return str(OWN)


def run_libra(strategy: str, precomputed: bool) -> tuple[float, int, int]:
    from libra.strategies.freqtrade import FreqtradeAdapter

    options = {"strategy": strategy, "strategy_path": folder(strategy), "pairs": [PAIR],
               "stake_amount": "0.01", "max_open_trades": 1, "fee": "0.001"}
    if precomputed:
        options["history"] = str(CANDLES)
    adapter = FreqtradeAdapter(options)
    started = time.perf_counter()
    metrics = asyncio.run(adapter.backtest({"data": str(CANDLES), "symbol": PAIR,
                                            "starting_balances": {"BTC": "1"}}))
    return time.perf_counter() - started, int(metrics["events"]), len(adapter.closed_trades)


def run_freqtrade(strategy: str) -> tuple[float, int, int]:
    from libra.strategies.freqtrade.reference import (
        backtest_config,
        run_backtesting,
        spot_market,
    )

    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(CANDLES, Path(tmp) / CANDLES.name)
        config = backtest_config(strategy=strategy, strategy_path=folder(strategy),
                                 datadir=tmp, pairs=[PAIR], timeframe=None, stake_amount=0.01,
                                 max_open_trades=1, fee=0.001, starting_balance=1.0,
                                 user_data_dir=tmp)
        started = time.perf_counter()
        result = run_backtesting(config, {PAIR: spot_market(PAIR, 1e-8, 1e-8)})
        wall = time.perf_counter() - started
    closed = sum(1 for t in result["trades"] if t["exit_reason"] != "force_exit")
    return wall, int(result["candles"]), closed


def child(mode: str, strategy: str) -> None:
    from libra.observability.logging import configure_logging

    logging.disable(logging.INFO)
    configure_logging(level="warning", fmt="json", stream=open(os.devnull, "w"))  # noqa: SIM115
    if mode == "freqtrade":
        wall, candles, trades = run_freqtrade(strategy)
    else:
        wall, candles, trades = run_libra(strategy, precomputed=mode == "libra_precomputed")
    print(f"{mode}_{strategy}_candles_per_second: {candles / wall:,.0f} candles/s")
    print(f"{mode}_{strategy}_wall: {wall:.2f} s")
    print(f"{mode}_{strategy}_closed_trades: {trades} trades")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", action="append",
                        help="SampleStrategy (freqtrade's) or LibraRoiStop; repeatable")
    parser.add_argument("--skip-per-candle", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "STRATEGY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if not CANDLES.is_file():
        sys.exit(f"candles not found: {CANDLES}")
    modes = ["freqtrade", "libra_precomputed"] + ([] if args.skip_per_candle
                                                  else ["libra_per_candle"])
    print(f"candles: {5760} candles")
    for strategy in args.strategy or ["SampleStrategy", "LibraRoiStop"]:
        for mode in modes:
            out = subprocess.run([sys.executable, __file__, "--child", mode, strategy],
                                 capture_output=True, text=True, check=True)
            sys.stdout.write(out.stdout)
            sys.stdout.flush()


if __name__ == "__main__":
    main()
