"""A third-party plugin written in the typed style: ``mypy --strict`` checks it, and it runs.

The typed style uses what ``libra.plugins`` exports: ``StrategyContext``, the market and
order events, ``Order``, ``Position``, ``PluginOptions``. mypy must accept such a module as
it is, and must report a mistake in one (a misspelt attribute of a ``Bar``).
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
import textwrap
import types
from decimal import Decimal
from pathlib import Path

import pytest

from libra.core.config import KernelConfig
from libra.core.kernel import TradingKernel
from libra.plugins import Bar, Fill, StrategyContext
from libra.testing import eventually as eventually_
from libra.testing.factories import paper_config_data

eventually = functools.partial(eventually_, timeout=20.0)

TYPED_PLUGIN = textwrap.dedent('''
    """A strategy and a gateway in the typed style."""

    from __future__ import annotations

    import time
    from decimal import Decimal
    from typing import ClassVar

    from pydantic import Field

    from libra.plugins import (
        Bar,
        Fill,
        GatewayPlugin,
        MarketData,
        Order,
        OrderAccepted,
        OrderCanceled,
        OrderEvent,
        OrderSide,
        PluginMetadata,
        PluginOptions,
        Position,
        Quote,
        StrategyContext,
        StrategyPlugin,
        Trade,
    )


    class UpBarOptions(PluginOptions):
        quantity: Decimal = Field(Decimal("0.01"), gt=0)


    class UpBarBuyer(StrategyPlugin):
        """Buys once, on the first bar that closes above its open."""

        config_model: ClassVar[type[UpBarOptions]] = UpBarOptions

        def __init__(self, config: dict[str, object] | None = None) -> None:
            self.options = UpBarOptions.model_validate(config or {})
            self.context: StrategyContext | None = None
            self.bars: list[Bar] = []
            self.orders: list[Order] = []
            self.fills: list[Fill] = []
            self.updates: list[OrderEvent] = []

        @classmethod
        def metadata(cls) -> PluginMetadata:
            return PluginMetadata.create(name="up_bar", version="1.0.0", description="typed")

        @property
        def name(self) -> str:
            return "up_bar"

        @property
        def symbols(self) -> list[str]:
            return ["BTC/USD"]

        async def initialize(self, context: StrategyContext) -> None:
            self.context = context
            started: int = context.clock.timestamp_ns()
            context.log.info("up_bar.ready", environment=context.environment, at=started)

        async def on_data(self, data: MarketData) -> None:
            if not isinstance(data, Bar):
                return
            self.bars.append(data)
            if data.close > data.open and not self.orders:
                order: Order = self.buy_market(data.symbol, self.options.quantity)
                self.orders.append(order)

        async def on_tick(self, tick: Quote | Trade) -> None:
            price: Decimal = tick.price
            assert price > 0

        async def on_fill(self, fill: Fill) -> None:
            self.fills.append(fill)
            position: Position = self.get_position(fill.symbol)
            assert fill.side is OrderSide.BUY and position.is_long

        async def on_order_update(self, event: OrderEvent) -> None:
            self.updates.append(event)


    class AcceptingGateway(GatewayPlugin):
        """Accepts every order, never fills."""

        @classmethod
        def metadata(cls) -> PluginMetadata:
            return PluginMetadata.create(name="accepting", version="1.0.0", description="typed")

        async def connect(self) -> None:
            pass

        async def disconnect(self) -> None:
            pass

        async def submit_order(self, order: Order) -> None:
            self.emit_order_event(OrderAccepted.from_order(order, time.time_ns(),
                                                           venue_order_id="v1"))

        async def cancel_order(self, order: Order) -> None:
            self.emit_order_event(OrderCanceled.from_order(order, time.time_ns(),
                                                           venue_order_id="v1"))
    ''')

MISTAKEN_PLUGIN = textwrap.dedent('''
    """The same style with mistakes mypy must report."""

    from __future__ import annotations

    from libra.plugins import Bar, MarketData, Order, PluginMetadata, StrategyContext
    from libra.plugins import Position, StrategyPlugin


    class Mistaken(StrategyPlugin):
        @classmethod
        def metadata(cls) -> PluginMetadata:
            return PluginMetadata.create(name="mistaken", version="1", description="d")

        @property
        def name(self) -> str:
            return "mistaken"

        @property
        def symbols(self) -> list[str]:
            return ["BTC/USD"]

        async def initialize(self, context: StrategyContext) -> None:
            self.gateway: int = context.gateway

        async def on_data(self, data: MarketData) -> None:
            if isinstance(data, Bar):
                print(data.closee)
                position: Position = self.buy_market(data.symbol, 1)
                order: Order = self.get_position(data.symbol)
    ''')

MYPY_CONFIG = "[mypy]\nstrict = True\n"


def _mypy(tmp_path: Path, *files: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "mypy.ini"
    config.write_text(MYPY_CONFIG)
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(config),
         "--cache-dir", str(tmp_path / ".mypy_cache"), "--no-error-summary",
         "--hide-error-context", "--show-error-codes", *files],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )


def test_mypy_strict_accepts_the_typed_style_and_reports_mistakes(tmp_path: Path):
    (tmp_path / "typed_plugin.py").write_text(TYPED_PLUGIN)
    (tmp_path / "mistaken_plugin.py").write_text(MISTAKEN_PLUGIN)

    done = _mypy(tmp_path, "typed_plugin.py", "mistaken_plugin.py")

    lines = done.stdout.splitlines()
    assert done.returncode == 1, done.stdout + done.stderr
    assert not [line for line in lines if not line.startswith("mistaken_plugin.py:")], (
        done.stdout
    )
    errors = "\n".join(lines)
    assert re.search(r':\d+: error: "Bar" has no attribute "closee"', errors), errors
    assert re.search(r'Incompatible types in assignment \(expression has type "str", '
                     r'variable has type "int"\)', errors), errors
    assert re.search(r'expression has type "Order", variable has type "Position"', errors), errors
    assert re.search(r'expression has type "Position", variable has type "Order"', errors), errors
    assert len(lines) == 4, errors


# -- the typed module runs in a kernel --------------------------------------------------------


@pytest.fixture
def typed_plugin(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The typed module above, importable as ``typed_plugin`` for ``plugin = "module:Class"``."""
    module = types.ModuleType("typed_plugin")
    monkeypatch.setitem(sys.modules, "typed_plugin", module)
    exec(compile(TYPED_PLUGIN, "typed_plugin.py", "exec"), module.__dict__)
    return module


async def test_the_typed_strategy_runs_in_a_kernel(typed_plugin: types.ModuleType):
    raw = paper_config_data(
        {"id": "up", "plugin": "typed_plugin:UpBarBuyer", "params": {"quantity": "0.5"}},
        kernel={"name": "typed"}, logging={"heartbeat_interval": 60},
    )
    raw["gateways"].append({"id": "acc", "plugin": "typed_plugin:AcceptingGateway"})
    kernel = TradingKernel(KernelConfig.model_validate(raw))
    await kernel.start()
    try:
        strategy = kernel.strategies["up"]
        assert isinstance(strategy, typed_plugin.UpBarBuyer)
        context = strategy.context
        assert isinstance(context, StrategyContext)
        assert (context.strategy_id, context.gateway, context.environment) == (
            "up", "paper", "paper")
        assert context["config"] == {"quantity": Decimal("0.5")}
        await eventually(lambda: bool(strategy.fills))
        assert all(isinstance(bar, Bar) for bar in strategy.bars)
        fill = strategy.fills[0]
        assert isinstance(fill, Fill)
        assert fill.client_order_id == strategy.orders[0].client_order_id
        assert fill.quantity == Decimal("0.5")
    finally:
        await kernel.stop()
