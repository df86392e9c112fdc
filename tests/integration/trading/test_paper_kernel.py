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
from libra.testing.factories import paper_config, paper_gateway

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
ETH_BTC_BARS = DATA / "freqtrade" / "derived" / "ETH_BTC-5m.csv"
START_BTC = D(10)


eventually = functools.partial(eventually_, timeout=30.0)


def eth_btc_config(strategy: dict[str, Any]) -> KernelConfig:
    """Return ``strategy`` on the shared ETH/BTC 5m bars, replayed at full speed."""
    if not ETH_BTC_BARS.is_file():
        pytest.skip(f"shared data file not available: {ETH_BTC_BARS}")
    gateway = paper_gateway(symbol="ETH/BTC", data=str(ETH_BTC_BARS),
                            balances={"BTC": str(START_BTC)})
    return paper_config(
        strategy, gateway=gateway, environment="paper", kernel={"name": "paper-e2e"},
        logging={"heartbeat_interval": 60, "log_orders": False},
    )


def caught_up(kernel: TradingKernel) -> bool:
    """Return whether every strategy's inbox is empty and no order command waits."""
    inboxes = (s["inbox"] for s in kernel.status()["strategies"].values())
    # No public door tells whether the execution engine still holds commands to send.
    return not any(inboxes) and not kernel.trading.has_pending


async def run_replay(config: KernelConfig) -> tuple[TradingKernel, list[Any], list[Any]]:
    """Run the kernel until the replay is played and every strategy has caught up.

    Return the kernel, the fills and every order event published on the bus.
    """
    kernel = TradingKernel(config)
    kernel.build()
    fills: list[Any] = []
    order_events: list[Any] = []
    kernel.bus.subscribe("order.*.filled", fills.append)
    kernel.bus.subscribe("order.*.*", order_events.append)
    await kernel.start()
    try:
        gateway = kernel.gateways["paper"]
        await eventually(lambda: gateway.feed is not None and gateway.feed.finished)
        await eventually(lambda: caught_up(kernel))
    finally:
        await kernel.stop()
    return kernel, fills, order_events


async def assert_books_reconcile(kernel: TradingKernel, strategy_id: str,
                                 fills: list[Any]) -> None:
    portfolio = kernel.portfolio
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
    assert portfolio.balances("paper") == await kernel.gateways["paper"].fetch_balances()


async def test_sma_cross_trades_a_real_replay_and_the_books_reconcile():
    config = eth_btc_config({"id": "sma", "plugin": "sma_cross",
                             "params": {"fast": 10, "slow": 30, "quantity": "1"}})

    kernel, fills, order_events = await run_replay(config)

    strategy = kernel.strategies["sma"]
    assert len(fills) >= 20
    assert strategy.fills == len(fills)  # on_fill saw every fill
    assert kernel.status()["strategies"]["sma"]["dropped"] == 0
    # Every order placed published an event (submitted or denied).
    order_ids = {e.client_order_id for e in order_events if e.strategy_id == "sma"}
    assert {kernel.order(coid).status for coid in order_ids} == {OrderStatus.FILLED}
    buys = [f for f in fills if f.is_buy]
    sells = [f for f in fills if not f.is_buy]
    assert 0 <= len(buys) - len(sells) <= 1  # long only: every sell closes a buy
    assert {f.quantity for f in fills} == {D(1)}
    await assert_books_reconcile(kernel, "sma", fills)
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
    config = eth_btc_config({"id": "bare", "plugin": f"{__name__}:BareStrategy"})

    kernel, fills, _ = await run_replay(config)

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
    assert kernel.portfolio.position("bare", "ETH/BTC").is_flat
    await assert_books_reconcile(kernel, "bare", fills)
