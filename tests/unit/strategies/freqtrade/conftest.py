"""Fixtures for the freqtrade adapter's unit tests: freqtrade itself and the test strategies."""

from pathlib import Path

import pytest

STRATEGIES = Path(__file__).resolve().parents[3] / "support" / "freqtrade_strategies"


@pytest.fixture
def freqtrade():
    """Return the freqtrade package, or skip when the extra is not installed."""
    return pytest.importorskip("freqtrade")


@pytest.fixture
def strategy_path() -> str:
    return str(STRATEGIES)
