"""StrategyContext: typed attributes, and the read-only mapping the published API promised."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pytest
import structlog

from libra.core.bus import MessageBus
from libra.core.cache import Cache
from libra.core.clock import SimulatedClock
from libra.core.config import RiskConfig
from libra.plugins import StrategyContext
from libra.trading.execution import ExecutionEngine
from libra.trading.orders_api import StrategyOrders
from libra.trading.portfolio import Portfolio

KEYS = [
    "strategy_id", "bus", "cache", "clock", "config", "symbols", "gateway", "orders",
    "portfolio", "log", "environment",
]


@pytest.fixture
def context() -> StrategyContext:
    bus, cache, clock = MessageBus(), Cache(), SimulatedClock()
    engine = ExecutionEngine(bus, cache, clock, RiskConfig(), log_orders=False)
    return StrategyContext(
        strategy_id="s1", bus=bus, cache=cache, clock=clock, config={"fast": 3},
        symbols=["BTC/USD"], gateway="paper", orders=engine.orders_api("s1", "paper"),
        portfolio=engine.portfolio, log=structlog.get_logger().bind(strategy_id="s1"),
        environment="backtest",
    )


def test_attributes_are_typed_services(context: StrategyContext):
    assert isinstance(context.bus, MessageBus)
    assert isinstance(context.cache, Cache)
    assert isinstance(context.orders, StrategyOrders)
    assert isinstance(context.portfolio, Portfolio)
    assert context.orders.strategy_id == context.strategy_id == "s1"
    assert context.clock.timestamp_ns() == 0
    assert (context.config, context.symbols) == ({"fast": 3}, ["BTC/USD"])
    assert (context.gateway, context.environment) == ("paper", "backtest")


def test_it_reads_as_the_old_dict(context: StrategyContext):
    """The seed's examples and existing strategies index the context like a dict."""
    assert isinstance(context, Mapping)
    assert list(context.keys()) == list(context) == KEYS
    assert len(context) == len(KEYS)
    assert context["config"] is context.config
    assert context.get("bus") is context.bus
    assert context.get("missing") is None
    assert context.get("missing", "default") == "default"
    assert "orders" in context
    assert "missing" not in context
    assert dict(context) == {key: getattr(context, key) for key in KEYS}
    assert context == dict(context.items())
    assert {**context}["gateway"] == "paper"
    assert context.copy() == dict(context)
    assert list(context.values()) == [getattr(context, key) for key in KEYS]
    assert next(iter(context.items())) == ("strategy_id", "s1")
    with pytest.raises(KeyError, match="missing"):
        context["missing"]


def test_it_cannot_be_changed(context: StrategyContext):
    with pytest.raises(TypeError):
        context["bus"] = None  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        context.bus = MessageBus()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        context.update({"bus": None})  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        del context["bus"]  # type: ignore[attr-defined]


def test_it_is_unhashable_like_a_dict(context: StrategyContext):
    with pytest.raises(TypeError):
        hash(context)
