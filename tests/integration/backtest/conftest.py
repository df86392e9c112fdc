"""Fixtures for the backtest integration tests: configs on real bundled data, a browser."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from libra.core.config import KernelConfig
from libra.testing import eventually
from libra.testing.factories import paper_config, paper_gateway

REPO_ROOT = Path(__file__).resolve().parents[3]
ENSURE_CHROMIUM = REPO_ROOT / "scripts" / "ensure-chromium.sh"
BACKTEST_TOML = REPO_ROOT / "config" / "backtest.toml"

MakeConfig = Callable[..., KernelConfig]


def eth_btc_config(
    environment: str = "backtest",
    *,
    data: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    optimize: dict[str, Any] | None = None,
    start: str | None = "2018-01-12",
    end: str | None = "2018-01-19",
) -> KernelConfig:
    """Return sma_cross on the bundled ETH/BTC 5m bars (real data) on one paper venue."""
    gateway = paper_gateway(
        symbol="ETH/BTC", data="bundled:ETH_BTC-5m" if data is None else data,
        balances={"BTC": "10"}, taker_fee="0.001", maker_fee="0.0005", slippage_bps="2",
    )
    sma = {"id": "sma", "plugin": "sma_cross", "symbols": ["ETH/BTC"],
           "params": {"fast": 10, "slow": 30, "quantity": "1", **(params or {})}}
    return paper_config(
        sma, gateway=gateway, environment=environment, log_plugins=False,
        kernel={"name": "it-backtest"}, logging={"log_orders": False, "level": "warning"},
        backtest={"start": start, "end": end}, optimize=optimize or {},
    )


@pytest.fixture
def make_config() -> MakeConfig:
    """Return a factory of sma_cross configs on ETH/BTC 5m bars."""
    return eth_btc_config


@pytest.fixture
def wait_for() -> Callable[..., Any]:
    """Return ``eventually``: a condition-based wait with a timeout."""
    return eventually
