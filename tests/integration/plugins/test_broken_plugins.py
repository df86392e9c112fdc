"""A broken or clashing installed plugin is skipped with one warning; the others still load."""

from __future__ import annotations

import logging

import pytest

from libra.core.config import KernelConfig
from libra.core.errors import PluginNotFoundError
from libra.core.kernel import TradingKernel
from libra.gateways.paper import PaperGateway
from libra.plugins import (
    describe_plugins,
    discover_gateways,
    discover_strategies,
    list_strategy_plugins,
    load_gateway,
    load_strategy,
)
from libra.strategies.sma_cross import SmaCross

LOADER = "libra.plugins.loader"


def loader_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records
        if r.name == LOADER and r.levelname == "WARNING"
    ]


@pytest.fixture
def warnings(plugins, caplog: pytest.LogCaptureFixture) -> list[str]:
    """The loader's warnings from one fresh discovery of both groups."""
    caplog.set_level(logging.WARNING, logger=LOADER)
    discover_strategies(refresh=True)
    discover_gateways(refresh=True)
    return loader_warnings(caplog)


def test_module_with_a_missing_dependency(warnings):
    assert "needs_missing_dep" not in discover_strategies()
    assert (
        "Failed to load plugin needs_missing_dep: ModuleNotFoundError: "
        "No module named 'missing_dep'"
    ) in warnings


def test_class_that_is_not_a_strategy_plugin(warnings):
    assert "not_a_strategy" not in discover_strategies()
    assert (
        "Failed to load plugin not_a_strategy: TypeError: broken_plugins.wrong_base:NotAStrategy "
        "is not a subclass of libra.plugins.base.StrategyPlugin"
    ) in warnings


def test_strategy_class_registered_as_a_gateway(warnings):
    assert "strategy_as_gateway" not in discover_gateways()
    assert (
        "Failed to load plugin strategy_as_gateway: TypeError: broken_plugins.shadows:Survivor "
        "is not a subclass of libra.plugins.base.GatewayPlugin"
    ) in warnings


def test_metadata_that_raises(warnings):
    assert "bad_metadata" not in discover_strategies()
    assert "Failed to load plugin bad_metadata: RuntimeError: metadata exploded" in warnings


def test_each_failure_warns_once(warnings):
    failed = [w for w in warnings if w.startswith("Failed to load plugin")]
    assert sorted(w.split(":")[0].split()[-1] for w in failed) == [
        "bad_metadata", "needs_missing_dep", "not_a_strategy", "strategy_as_gateway",
    ]


def test_the_other_plugins_are_unaffected(warnings):
    strategies = discover_strategies()
    assert set(strategies) == {
        "freqtrade", "sma_cross", "my_awesome_strategy", "my_strategy", "dupe_strategy",
        "survivor",
    }
    assert set(discover_gateways()) == {"paper", "ccxt", "my_exchange"}
    assert load_strategy("survivor").__module__ == "broken_plugins.shadows"
    assert load_gateway("paper") is PaperGateway
    assert [m.name for m in list_strategy_plugins()] == sorted(strategies)


def test_builtin_wins_a_name_clash(warnings):
    assert load_strategy("sma_cross") is SmaCross
    assert (
        "Duplicate strategy plugin sma_cross: using libra.strategies.sma_cross:SmaCross from "
        "libra-trader, ignoring broken_plugins.shadows:ShadowSmaCross from libra-broken-plugins"
    ) in warnings


def test_clash_between_packages_goes_to_the_first_distribution_by_name(warnings):
    assert load_strategy("dupe_strategy").__module__ == "broken_plugins.shadows"
    assert (
        "Duplicate strategy plugin dupe_strategy: using broken_plugins.shadows:DupeStrategy from "
        "libra-broken-plugins, ignoring my_package.dupes:DupeStrategy from my-libra-plugin"
    ) in warnings


def test_discovery_is_deterministic(plugins):
    first = discover_strategies(refresh=True)
    for _ in range(3):
        assert discover_strategies(refresh=True) == first
        assert list(discover_strategies(refresh=True)) == list(first)


def test_describe_plugins_names_the_distributions(plugins):
    described = {p["name"]: p for p in describe_plugins()["strategy"]}
    assert described["sma_cross"]["distribution"] == "libra-trader"
    assert described["my_awesome_strategy"] == {
        "name": "my_awesome_strategy",
        "version": "1.0.0",
        "description": "My awesome trading strategy",
        "author": "Your Name",
        "requires": [],
        "distribution": "my-libra-plugin",
        "class": "my_package.strategies:MyAwesomeStrategy",
    }
    assert {p["name"] for p in describe_plugins()["gateway"]} == {"paper", "ccxt", "my_exchange"}


def test_a_plugin_that_failed_to_load_is_not_found(plugins):
    with pytest.raises(PluginNotFoundError, match="'needs_missing_dep'") as info:
        load_strategy("needs_missing_dep")
    assert isinstance(info.value, LookupError)
    assert "survivor" in info.value.available


def test_kernel_discovery_survives_broken_plugins(plugins):
    kernel = TradingKernel(KernelConfig())
    assert set(kernel.get_available_strategies()) >= {"freqtrade", "sma_cross", "survivor"}
    assert set(kernel.get_available_gateways()) == {"paper", "ccxt", "my_exchange"}
