"""End to end in one process: a kernel replays real bars through the paper venue.

Strategies trade through the whole path (bus, runner, risk, execution, paper matching,
portfolio), and the books must reconcile to the fills, exactly.
"""

from __future__ import annotations

import functools
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from libra.core.config import KernelConfig
from libra.core.kernel import TradingKernel
from libra.model.orders import OrderStatus
from libra.plugins.base import PluginMetadata, StrategyPlugin
from libra.testing import eventually as eventually_

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
ETH_BTC_BARS = DATA / "freqtrade" / "derived" / "ETH_BTC-5m.csv"
START_BTC = D(10)


eventually = functools.partial(eventually_, timeout=30.0)


def paper_config(strategy: dict[str, Any]) -> KernelConfig:
    if not ETH_BTC_BARS.is_file():
        pytest.skip(f"shared data file not available: {ETH_BTC_BARS}")
    return KernelConfig.model_validate({
        "environment": "paper",
        "kernel": {"name": "paper-e2e"},
        "logging": {"heartbeat_interval": 60, "log_orders": False},
        "gateways": [{
            "id": "paper", "plugin": "paper",
            "starting_balances": {"BTC": str(START_BTC)},
            "data": {"source": "replay", "path": str(ETH_BTC_BARS), "symbol": "ETH/BTC",
                     "speed": 0},
        }],
        "strategies": [{"gateway": "paper", "symbols": ["ETH/BTC"], **strategy}],
    })


async def run_replay(config: KernelConfig) -> tuple[TradingKernel, list[Any]]:
    """Run the kernel until the replay is played and every strategy has caught up."""
    kernel = TradingKernel(config)
    kernel.build()
    fills: list[Any] = []
    kernel.bus.subscribe("order.*.filled", fills.append)
    await kernel.start()
    try:
        gateway = kernel.gateways["paper"]
        await eventually(lambda: gateway.feed is not None and gateway.feed.finished)
        await eventually(lambda: all(r.depth == 0 for r in kernel.runners.values())
                         and not kernel.trading.has_pending)
    finally:
        await kernel.stop()
    return kernel, fills


def assert_books_reconcile(kernel: TradingKernel, strategy_id: str, fills: list[Any]) -> None:
    portfolio = kernel.trading.portfolio
    signed = sum((f.signed_quantity for f in fills), D(0))
    bought = sum((f.notional for f in fills if f.is_buy), D(0))
    sold = sum((f.notional for f in fills if not f.is_buy), D(0))
    fees = sum((f.fee for f in fills), D(0))
    assert {f.fee_currency for f in fills} == {"BTC"}
    position = portfolio.position(strategy_id, "ETH/BTC")
    assert position is not None
    assert position.quantity == signed
    assert portfolio.balance("paper", "BTC") == START_BTC - bought + sold - fees
    assert portfolio.balance("paper", "ETH") == signed
    assert portfolio.balances("paper") == kernel.gateways["paper"].matching.balances


async def test_sma_cross_trades_a_real_replay_and_the_books_reconcile():
    config = paper_config({"id": "sma", "plugin": "sma_cross",
                           "params": {"fast": 10, "slow": 30, "quantity": "1"}})

    kernel, fills = await run_replay(config)

    strategy = kernel.strategies["sma"]
    assert len(fills) >= 20
    assert strategy.fills == len(fills)  # on_fill saw every fill
    assert kernel.runners["sma"].dropped == 0
    orders = [o for o in kernel.cache.orders.values() if o.strategy_id == "sma"]
    assert {o.status for o in orders} == {OrderStatus.FILLED}
    buys = [f for f in fills if f.is_buy]
    sells = [f for f in fills if not f.is_buy]
    assert 0 <= len(buys) - len(sells) <= 1  # long only: every sell closes a buy
    assert {f.quantity for f in fills} == {D(1)}
    assert_books_reconcile(kernel, "sma", fills)
    assert kernel.state == "stopped"


class BareStrategy(StrategyPlugin):
    """Overrides ``__init__`` and ``initialize`` without calling ``super()``."""

    def __init__(self) -> None:
        self.bars = 0
        self.placed: list[Any] = []
        self.fills: list[Any] = []
        self.updates: list[str] = []
        self.long_after_entry: bool | None = None

    @classmethod
    def metadata(cls) -> PluginMetadata:
        return PluginMetadata.create(name="bare", version="0", description="test strategy")

    @property
    def name(self) -> str:
        return "bare"

    @property
    def symbols(self) -> list[str]:
        return ["ETH/BTC"]

    async def initialize(self, context: dict[str, Any]) -> None:
        self.symbol = context["symbols"][0]
        self.cache = context["cache"]

    async def on_data(self, data: Any) -> None:
        self.bars += 1
        if self.bars == 1:
            self.placed.append(self.buy_market(self.symbol, "1"))
        elif self.bars == 2:
            self.long_after_entry = self.is_long(self.symbol)
            # Below the latest price the venue has seen (at speed 0 the feed runs ahead of
            # the strategy), so it rests until a later bar's low reaches it.
            last = self.cache.last_price(self.symbol)
            self.placed.append(self.buy_limit(self.symbol, "1", last * D("0.99")))
        elif self.bars == 3000:
            self.placed.append(self.close_position(self.symbol))

    async def on_fill(self, fill: Any) -> None:
        self.fills.append(fill)

    async def on_order_update(self, event: Any) -> None:
        self.updates.append(event.kind)


async def test_order_helpers_work_without_super_calls():
    config = paper_config({"id": "bare", "plugin": f"{__name__}:BareStrategy"})

    kernel, fills = await run_replay(config)

    strategy = kernel.strategies["bare"]
    assert isinstance(strategy, BareStrategy)
    _, limit, close = strategy.placed
    assert strategy.long_after_entry is True
    assert [o.status for o in strategy.placed] == [OrderStatus.FILLED] * 3
    assert limit.avg_fill_price <= limit.price  # its price, or a gapped open below it
    assert [f.liquidity for f in fills] == ["taker", "maker", "taker"]
    assert close.reduce_only
    assert close.quantity == D(2)
    assert strategy.fills == fills
    assert strategy.updates.count("accepted") == 3
    assert kernel.trading.portfolio.position("bare", "ETH/BTC").is_flat
    assert_books_reconcile(kernel, "bare", fills)
