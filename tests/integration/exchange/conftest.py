"""Fixtures: a local Binance exchange and ccxt.pro clients pointed at it."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import ccxt.pro
import pytest

from libra.testing import eventually as eventually_
from libra.testing.exchange import LocalExchange, LocalExchangeConfig, ccxt_config_for

ClientFactory = Callable[..., ccxt.pro.binance]


@pytest.fixture
async def exchange() -> AsyncIterator[LocalExchange]:
    """A local exchange without replay: prices move only when a test pushes them."""
    async with LocalExchange(LocalExchangeConfig(replay=False)) as local:
        yield local


@pytest.fixture
async def replaying_exchange() -> AsyncIterator[LocalExchange]:
    """A local exchange replaying the recorded Binance frames at 20x speed."""
    async with LocalExchange(LocalExchangeConfig(replay_speed=20.0)) as local:
        yield local


@pytest.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    """Build ccxt.pro.binance clients for a local exchange; all are closed afterwards."""
    clients: list[ccxt.pro.binance] = []

    def build(local: LocalExchange, **overrides: Any) -> ccxt.pro.binance:
        overrides.setdefault("timeout", 3000)
        client = ccxt.pro.binance(ccxt_config_for(local, **overrides))
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.close()


@pytest.fixture
async def client(exchange: LocalExchange, make_client: ClientFactory) -> ccxt.pro.binance:
    """A ccxt client with markets loaded, trading on ``exchange``."""
    built = make_client(exchange)
    await built.load_markets()
    return built


Eventually = Callable[..., Awaitable[None]]


_eventually = functools.partial(eventually_, timeout=5.0)


@pytest.fixture
def eventually() -> Eventually:
    """``await eventually(lambda: ...)``: wait until the condition holds (5 s by default)."""
    return _eventually
