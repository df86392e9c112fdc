"""Every config file shipped in config/ loads, validates and builds its plugins."""

from __future__ import annotations

from pathlib import Path

import pytest

from libra.core.config import load_config
from libra.kernel.builder import build_all

CONFIG_DIR = Path(__file__).resolve().parents[3] / "config"
FILES = sorted(p for p in CONFIG_DIR.iterdir() if p.suffix in (".toml", ".yaml", ".yml"))
ENV = {"BINANCE_API_KEY": "test-key", "BINANCE_API_SECRET": "test-secret"}


def test_configs_are_shipped():
    names = {p.name for p in FILES}
    assert {"libra.toml", "libra.yaml", "backtest.toml", "live-binance.toml"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_shipped_config_builds(path):
    if "freqtrade" in path.name:
        pytest.importorskip("freqtrade")
    config = load_config(path, environ=ENV)
    gateways, strategies = build_all(config)
    assert gateways
    assert strategies


def test_yaml_default_matches_the_toml_default():
    toml = load_config(CONFIG_DIR / "libra.toml")
    yaml = load_config(CONFIG_DIR / "libra.yaml")
    assert yaml.gateways == toml.gateways
    assert yaml.strategies == toml.strategies
    assert yaml.risk == toml.risk
