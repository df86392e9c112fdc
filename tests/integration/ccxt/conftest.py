"""Fixtures: a local Binance exchange and ccxt gateways trading on it, all closed afterwards."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from libra.gateways.ccxt import CCXTGateway
from libra.model.orders import Order
from libra.testing.contract import ContractSink, ccxt_gateway_options
from libra.testing.exchange import LocalExchange, LocalExchangeConfig
from libra.testing.factories import build_order

SYMBOL = "NKN/USDT"
_IDS = iter(range(1, 10**6))


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """What reaches asyncio's exception handler ("Future exception was never retrieved", ...).

    Collected until the end of the test, after the gateways are closed and garbage collected.
    """
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    yield seen
    gc.collect()
    await asyncio.sleep(0)
    loop.set_exception_handler(previous)
    assert [c["message"] for c in seen] == []


@pytest.fixture
async def exchange() -> AsyncIterator[LocalExchange]:
    """A local exchange without replay: prices move only when a test pushes them."""
    async with LocalExchange(LocalExchangeConfig(replay=False)) as local:
        yield local


class Venue:
    """A connected ccxt gateway, the sink it reports to, and order helpers."""

    def __init__(self, gateway: CCXTGateway, sink: ContractSink) -> None:
        self.gateway = gateway
        self.sink = sink

    def order(self, order_type: str = "market", price: str | None = None, side: str = "buy",
              quantity: str = "100", client_order_id: str | None = None) -> Order:
        order = build_order(client_order_id=client_order_id or f"t-{next(_IDS)}",
                            strategy_id="test", venue=self.gateway.id, symbol=SYMBOL,
                            side=side, type=order_type, quantity=quantity, price=price)
        order.submit(1)
        self.sink.orders[order.client_order_id] = order
        return order

    async def submit(self, *args: Any, **kwargs: Any) -> Order:
        order = self.order(*args, **kwargs)
        await self.gateway.submit_order(order)
        return order

    async def cancel(self, order: Order) -> None:
        order.request_cancel(2)
        await self.gateway.cancel_order(order)


VenueFactory = Callable[..., Awaitable[Venue]]


@pytest.fixture
async def make_venue(exchange: LocalExchange) -> AsyncIterator[VenueFactory]:
    """Build, bind and connect ccxt gateways on ``exchange``; all disconnected afterwards."""
    gateways: list[CCXTGateway] = []

    async def build(symbols: tuple[str, ...] = (SYMBOL,), channels: tuple[str, ...] = ("quote",),
                    wait_user_stream: bool = True, **overrides: Any) -> Venue:
        overrides.setdefault("channels", list(channels))
        gateway = CCXTGateway(ccxt_gateway_options(exchange, **overrides), gateway_id="binance")
        gateways.append(gateway)
        sink = ContractSink()
        gateway.bind(sink.on_data, sink.on_order_event)
        await gateway.connect()
        await gateway.subscribe(list(symbols), channels)
        if wait_user_stream and gateway.options.private_streams:
            async with asyncio.timeout(5):
                await exchange.wait_for_user_stream()
        return Venue(gateway, sink)

    yield build
    for gateway in gateways:
        await gateway.disconnect()


@pytest.fixture
async def venue(make_venue: VenueFactory) -> Venue:
    """A ccxt gateway streaming NKN/USDT quotes and the account's orders and fills."""
    return await make_venue()
