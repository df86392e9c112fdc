from decimal import Decimal

import pytest
from pydantic import ValidationError

from libra.strategies.freqtrade import FreqtradeAdapter, FreqtradeAdapterConfig


def test_defaults_are_one_fixed_stake_and_one_trade():
    options = FreqtradeAdapterConfig(strategy="SampleStrategy")
    assert options.stake_amount == Decimal("0.01")
    assert options.max_open_trades == 1
    assert options.history is None


def test_stake_amount_accepts_unlimited_and_decimal_strings():
    assert FreqtradeAdapterConfig(strategy="S", stake_amount="unlimited").stake_amount == \
        "unlimited"
    assert FreqtradeAdapterConfig(strategy="S", stake_amount="0.5").stake_amount == \
        Decimal("0.5")


@pytest.mark.parametrize(
    "options",
    [
        {"strategy": "S", "stake_amount": "-1"},
        {"strategy": "S", "strategy_path": "a", "module": "b"},
        {"strategy": "S", "unknown": 1},
        {},
    ],
)
def test_invalid_options_are_refused(options):
    with pytest.raises(ValidationError):
        FreqtradeAdapterConfig.model_validate(options)


def test_plugin_declares_its_options_model_and_pairs():
    assert FreqtradeAdapter.config_model is FreqtradeAdapterConfig
    assert FreqtradeAdapter({"pairs": ["ETH/BTC"]}).symbols == ["ETH/BTC"]
    assert FreqtradeAdapter.metadata().requires == ("freqtrade",)
