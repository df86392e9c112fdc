"""Discovering and loading the built-in plugins; an unknown name is a LookupError."""

from __future__ import annotations

import pytest

from libra.core.errors import PluginNotFoundError
from libra.gateways.ccxt import CCXTGateway
from libra.gateways.paper import PaperGateway
from libra.plugins import (
    PluginMetadata,
    clear_cache,
    discover_gateways,
    discover_strategies,
    list_gateway_plugins,
    list_strategy_plugins,
    load_gateway,
    load_strategy,
)
from libra.strategies.freqtrade import FreqtradeAdapter
from libra.strategies.sma_cross import SmaCross


def test_builtins_are_discovered():
    assert discover_strategies(refresh=True)["sma_cross"] is SmaCross
    assert discover_strategies()["freqtrade"] is FreqtradeAdapter
    assert discover_gateways(refresh=True)["paper"] is PaperGateway
    assert discover_gateways()["ccxt"] is CCXTGateway


def test_load_builtins_by_name():
    assert load_strategy("sma_cross") is SmaCross
    assert load_gateway("paper") is PaperGateway


def test_discovery_after_clear_cache_is_the_same():
    before = discover_strategies()
    clear_cache()
    assert discover_strategies() == before


def test_unknown_strategy_names_it_and_lists_the_available_ones():
    with pytest.raises(LookupError) as info:
        load_strategy("no_such_strategy")
    error = info.value
    assert isinstance(error, PluginNotFoundError)
    assert "'no_such_strategy'" in str(error)
    assert "freqtrade" in str(error)
    assert "sma_cross" in str(error)
    assert error.name == "no_such_strategy"
    assert set(error.available) >= {"freqtrade", "sma_cross"}


def test_unknown_gateway_names_it_and_lists_the_available_ones():
    with pytest.raises(PluginNotFoundError, match=r"unknown gateway plugin 'nope'.*ccxt.*paper"):
        load_gateway("nope")


def test_a_gateway_name_is_not_a_strategy():
    with pytest.raises(PluginNotFoundError, match="unknown strategy plugin 'paper'"):
        load_strategy("paper")


def test_list_plugins_returns_metadata_sorted_by_name():
    strategies = list_strategy_plugins()
    assert all(isinstance(m, PluginMetadata) for m in strategies)
    names = [m.name for m in strategies]
    assert names == sorted(names)
    assert {"freqtrade", "sma_cross"} <= set(names)
    assert {"paper", "ccxt"} <= {m.name for m in list_gateway_plugins()}
