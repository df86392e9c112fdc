"""The shipped ccxt configs load and build (nothing connects)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from libra.core.config import load_config
from libra.kernel.builder import build_all

CONFIG = Path(__file__).resolve().parents[3] / "config"


def test_live_binance_config_takes_keys_from_the_environment():
    env = {"BINANCE_API_KEY": "key-from-env", "BINANCE_API_SECRET": "secret-from-env"}
    gateways, _ = build_all(load_config(CONFIG / "live-binance.toml", environ=env))
    options = gateways["binance"].options
    assert options.sandbox
    assert isinstance(options.secret, SecretStr)
    assert options.secret.get_secret_value() == "secret-from-env"


def test_paper_on_ccxt_config_builds_a_paper_venue_on_ccxt_data():
    gateways, _ = build_all(load_config(CONFIG / "paper-on-ccxt.toml", environ={}))
    assert gateways["paper"].data_venue == "binance"
    assert gateways["binance"].options.symbols == ["BTC/USDT"]
    assert not gateways["binance"].has_credentials
