"""Fixtures for the freqtrade adapter against freqtrade itself, on real ETH/BTC 5m candles."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT.parent / "shared" / "data"
CANDLES = DATA / "freqtrade" / "ohlcv" / "ETH_BTC-5m.feather"
OWN_STRATEGIES = ROOT / "tests" / "support" / "freqtrade_strategies"
PAIR = "ETH/BTC"


@pytest.fixture(scope="module")
def freqtrade() -> Any:
    """Return the freqtrade package, or skip when the extra is not installed."""
    return pytest.importorskip("freqtrade")


@pytest.fixture(scope="module")
def candles() -> Path:
    """Return the real candle file, or skip when the shared data is not available."""
    if not CANDLES.is_file():
        pytest.skip(f"shared data file not available: {CANDLES}")
    return CANDLES


@pytest.fixture(scope="module")
def strategy_folder() -> Any:
    """Return a function giving the folder of a test strategy."""
    return _strategy_folder


def _strategy_folder(name: str) -> str:
    """Return the folder holding strategy ``name`` (freqtrade's bundled one, or ours)."""
    if name == "SampleStrategy":
        import freqtrade.templates

        return str(Path(freqtrade.templates.__file__).parent)
    return str(OWN_STRATEGIES)


@pytest.fixture(scope="module")
def reference_trades(freqtrade: Any, candles: Path, tmp_path_factory: pytest.TempPathFactory):
    """Return a function running ``freqtrade backtesting`` offline for one strategy."""
    from libra.strategies.freqtrade.reference import (
        backtest_config,
        run_backtesting,
        spot_market,
    )

    cache: dict[str, list[dict[str, Any]]] = {}

    def run(name: str) -> list[dict[str, Any]]:
        if name not in cache:
            folder = tmp_path_factory.mktemp(f"ft-{name}")
            shutil.copy(candles, folder / candles.name)
            config = backtest_config(
                strategy=name, strategy_path=_strategy_folder(name), datadir=folder,
                pairs=[PAIR], timeframe=None, stake_amount=0.01, max_open_trades=1,
                fee=0.001, starting_balance=1.0, user_data_dir=folder)
            markets = {PAIR: spot_market(PAIR, 1e-8, 1e-8)}
            cache[name] = run_backtesting(config, markets)["trades"]
        return cache[name]

    return run
