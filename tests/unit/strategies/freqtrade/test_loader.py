import sys

import pytest

from libra.core.errors import ConfigError
from libra.strategies.freqtrade.config import FreqtradeAdapterConfig
from libra.strategies.freqtrade.loader import freqtrade_config, import_freqtrade, load_strategy


def _config(strategy: str, **options):
    return freqtrade_config(FreqtradeAdapterConfig(strategy=strategy, **options), ["ETH/BTC"],
                            "BTC")


def test_missing_freqtrade_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "freqtrade", None)
    with pytest.raises(ConfigError, match=r"libra-trader\[freqtrade\]"):
        import_freqtrade()


def test_loads_a_strategy_from_a_folder_with_freqtrades_resolver(freqtrade, strategy_path):
    strategy = load_strategy(_config("LibraRoiStop", strategy_path=strategy_path))
    assert type(strategy).__name__ == "LibraRoiStop"
    assert strategy.minimal_roi == {0: 0.02, 20: 0.01, 60: 0.005, 120: 0.0}
    assert strategy.stoploss == -0.03


def test_loads_freqtrades_bundled_sample_strategy_by_module(freqtrade):
    strategy = load_strategy(_config("SampleStrategy",
                                     module="freqtrade.templates.sample_strategy"))
    assert strategy.startup_candle_count == 200
    assert strategy.timeframe == "5m"


def test_strategy_params_override_attributes_as_freqtrade_config_does(freqtrade, strategy_path):
    strategy = load_strategy(_config("LibraRoiStop", strategy_path=strategy_path,
                                     timeframe="15m",
                                     strategy_params={"stoploss": -0.2}))
    assert strategy.timeframe == "15m"
    assert strategy.stoploss == -0.2


def test_unsupported_features_are_each_listed(freqtrade, strategy_path):
    with pytest.raises(ConfigError) as error:
        load_strategy(_config("LibraShort", strategy_path=strategy_path))
    message = str(error.value)
    assert "can_short" in message
    assert "position_adjustment_enable" in message
    assert "informative pairs" in message


def test_unknown_strategy_is_a_config_error(freqtrade, strategy_path):
    with pytest.raises(ConfigError, match="NoSuchStrategy"):
        load_strategy(_config("NoSuchStrategy", strategy_path=strategy_path))
