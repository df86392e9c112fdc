"""End to end in one process: a TradingKernel trades through the ccxt gateway on a local
Binance, and a paper gateway trades on the ccxt gateway's market data."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from libra.core.config import KernelConfig
from libra.core.kernel import TradingKernel
from libra.model.events import Quote
from libra.model.orders import OrderStatus
from libra.plugins.base import PluginMetadata, StrategyPlugin
from libra.testing.contract import ccxt_gateway_options, eventually


class BuyOnFirstQuote(StrategyPlugin):
    """Buy once at market on the first quote; record what arrives."""

    def __init__(self) -> None:
        self.quotes: list[Quote] = []
        self.fills: list[Any] = []
        self.order: Any = None
        self.cache: Any = None

    @classmethod
    def metadata(cls) -> PluginMetadata:
        return PluginMetadata.create("buy_on_first_quote", "1.0", "test strategy")

    @property
    def name(self) -> str:
        return "buy_on_first_quote"

    @property
    def symbols(self) -> list[str]:
        return ["NKN/USDT"]

    async def initialize(self, context: dict[str, Any]) -> None:
        self.cache = context["cache"]

    async def on_data(self, data: Any) -> None:
        if isinstance(data, Quote):
            self.quotes.append(data)
            if self.order is None:
                self.order = self.buy_market(data.symbol, Decimal(100))

    async def on_fill(self, fill: Any) -> None:
        self.fills.append(fill)


def kernel_config(exchange: Any, gateways: list[dict[str, Any]], gateway: str) -> KernelConfig:
    return KernelConfig.model_validate({
        "environment": "live",
        "discover_plugins": False,
        "kernel": {"name": "ccxt-e2e", "connect_timeout": 10},
        "logging": {"heartbeat_interval": 60, "log_orders": False},
        "gateways": gateways,
        "strategies": [{"id": "buyer", "plugin": "sma_cross", "gateway": gateway,
                        "symbols": ["NKN/USDT"]}],
    })


async def push_quotes_until(exchange: Any, condition: Any) -> None:
    async with asyncio.timeout(15):
        while not condition():
            await exchange.push_book_ticker("NKNUSDT", "0.35210000", "0.35250000")
            await asyncio.sleep(0.05)


async def test_kernel_trades_through_the_ccxt_gateway(exchange):
    options = ccxt_gateway_options(exchange, channels=["quote"])
    config = kernel_config(exchange, [{"id": "binance", "plugin": "ccxt", **options}], "binance")
    strategy = BuyOnFirstQuote()
    kernel = TradingKernel(config, strategy_instances={"buyer": strategy})
    await kernel.start()
    try:
        assert strategy.cache.instrument("NKN/USDT").tick_size == Decimal("0.0001")
        await asyncio.wait_for(exchange.wait_for_subscription("nknusdt@bookTicker"), 5)
        await push_quotes_until(exchange, lambda: strategy.fills)
        await eventually(lambda: strategy.order.status is OrderStatus.FILLED)
        assert exchange.order(strategy.order.client_order_id)["status"] == "FILLED"
        assert exchange.orders_placed() == 1
        assert strategy.fills[0]["quantity"] == Decimal(100)
        assert strategy.quotes[0].venue == "binance"
        assert kernel.status()["gateways"]["binance"]["connected"]
    finally:
        await kernel.stop()


async def test_paper_gateway_trades_on_ccxt_market_data(exchange):
    options = ccxt_gateway_options(exchange, channels=["quote"], symbols=["NKN/USDT"],
                                   private_streams=False)
    gateways = [
        {"id": "binance", "plugin": "ccxt", **options},
        {"id": "paper", "plugin": "paper", "starting_balances": {"USDT": "1000"},
         "data": {"source": "gateway", "gateway": "binance"}},
    ]
    strategy = BuyOnFirstQuote()
    kernel = TradingKernel(kernel_config(exchange, gateways, "paper"),
                           strategy_instances={"buyer": strategy})
    await kernel.start()
    try:
        await asyncio.wait_for(exchange.wait_for_subscription("nknusdt@bookTicker"), 5)
        await push_quotes_until(exchange, lambda: strategy.fills)
        assert strategy.order.status is OrderStatus.FILLED
        assert strategy.fills[0]["price"] == Decimal("0.3525")
        assert strategy.fills[0].venue == "paper"
        assert exchange.orders_placed() == 0
    finally:
        await kernel.stop()


async def test_stop_cancels_resting_orders_at_the_exchange(exchange):
    options = ccxt_gateway_options(exchange, channels=["quote"])
    config = kernel_config(exchange, [{"id": "binance", "plugin": "ccxt", **options}], "binance")
    config = config.model_copy(update={"kernel": config.kernel.model_copy(
        update={"cancel_orders_on_stop": True})})
    kernel = TradingKernel(config)
    await kernel.start()
    try:
        await asyncio.wait_for(exchange.wait_for_subscription("nknusdt@bookTicker"), 5)
        await push_quotes_until(exchange, lambda: kernel.portfolio.mark_price("NKN/USDT"))
        resting = kernel.orders_for("buyer").buy_limit("NKN/USDT", "100", "0.3000")
        await eventually(lambda: resting.status is OrderStatus.ACCEPTED)
    finally:
        await kernel.stop()

    assert exchange.order(resting.client_order_id)["status"] == "CANCELED"
    assert resting.status is OrderStatus.CANCELED
    assert kernel.orders_left_open == []
