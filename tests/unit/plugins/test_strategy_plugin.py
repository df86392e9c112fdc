"""StrategyPlugin: the required methods, the optional hooks' defaults and the order helpers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from libra.core.errors import StrategyError
from libra.plugins.base import PluginMetadata, StrategyPlugin
from libra.plugins.trading import bind_trading


class Minimal(StrategyPlugin):
    def __init__(self) -> None:  # no super().__init__(), as plugin authors often write
        self.data: list[Any] = []

    @classmethod
    def metadata(cls) -> PluginMetadata:
        return PluginMetadata.create(name="minimal", version="1", description="d")

    @property
    def name(self) -> str:
        return "minimal"

    @property
    def symbols(self) -> list[str]:
        return ["BTC/USDT"]

    async def initialize(self, context: dict[str, Any]) -> None:
        pass

    async def on_data(self, data: Any) -> None:
        self.data.append(data)


class Position:
    def __init__(self, quantity: Decimal) -> None:
        self.quantity = quantity
        self.is_flat = quantity == 0
        self.is_long = quantity > 0
        self.is_short = quantity < 0


class FakeOrders:
    """A hand-written stand-in for the kernel's per-strategy order API."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def buy_market(self, symbol: str, quantity: Any, **options: Any) -> str:
        self.calls.append(("buy_market", symbol, quantity, options))
        return "order-1"

    def sell_limit(self, symbol: str, quantity: Any, price: Any, **options: Any) -> str:
        self.calls.append(("sell_limit", symbol, quantity, price, options))
        return "order-2"

    def cancel_all_orders(self, symbol: str | None = None) -> int:
        self.calls.append(("cancel_all_orders", symbol))
        return 2

    def get_position(self, symbol: str) -> Position:
        return Position(Decimal("0.5"))


def test_the_required_methods_are_abstract():
    class Incomplete(StrategyPlugin):
        @classmethod
        def metadata(cls) -> PluginMetadata:
            return PluginMetadata.create(name="x", version="1", description="d")

    assert StrategyPlugin.__abstractmethods__ == {
        "metadata", "name", "symbols", "initialize", "on_data",
    }
    with pytest.raises(TypeError, match="abstract"):
        Incomplete()  # type: ignore[abstract]


async def test_on_tick_goes_to_on_data_by_default():
    strategy = Minimal()
    await strategy.on_tick({"symbol": "BTC/USDT", "price": 1})
    assert strategy.data == [{"symbol": "BTC/USDT", "price": 1}]


async def test_optional_hooks_have_working_defaults():
    strategy = Minimal()
    assert await strategy.on_fill({"symbol": "BTC/USDT"}) is None
    assert await strategy.on_order_update({"kind": "accepted"}) is None
    assert await strategy.shutdown() is None
    assert strategy.on_save() is None
    strategy.on_load({})
    assert Minimal.config_model is None


def test_order_helpers_before_the_kernel_attaches_the_strategy():
    with pytest.raises(StrategyError, match="not attached to a kernel"):
        Minimal().buy_market("BTC/USDT", "0.1")


def test_order_helpers_work_without_super_init():
    strategy = Minimal()
    orders = FakeOrders()
    bind_trading(strategy, orders)
    assert strategy.buy_market("BTC/USDT", "0.1") == "order-1"
    assert strategy.sell_limit("BTC/USDT", 1, 50_000, post_only=True) == "order-2"
    assert strategy.cancel_all_orders() == 2
    assert strategy.is_long("BTC/USDT")
    assert not strategy.is_flat("BTC/USDT")
    assert not strategy.is_short("BTC/USDT")
    assert orders.calls == [
        ("buy_market", "BTC/USDT", "0.1", {}),
        ("sell_limit", "BTC/USDT", 1, 50_000, {"post_only": True}),
        ("cancel_all_orders", None),
    ]
