"""The gateway contract, run against the paper gateway and the ccxt gateway on a local exchange."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest

from libra.gateways.ccxt import CCXTGateway
from libra.gateways.paper import PaperGateway
from libra.model.events import Quote
from libra.testing.contract import CONTRACT_CHECKS, ContractVenue, ccxt_gateway_options
from libra.testing.exchange import LocalExchange, LocalExchangeConfig


@asynccontextmanager
async def paper_venue() -> AsyncIterator[ContractVenue]:
    """The paper venue with its market moved by quotes handed to it directly."""
    gateway = PaperGateway(
        {"instruments": {"BTC/USDT": {"tick_size": "0.01", "lot_size": "0.001"}}},
        gateway_id="paper",
    )

    async def move_market() -> None:
        now = time.time_ns()
        gateway.on_market_data(Quote(venue="paper", symbol="BTC/USDT", bid=Decimal("100"),
                                     ask=Decimal("101"), bid_size=Decimal(5), ask_size=Decimal(5),
                                     ts_event=now, ts_recv=now))

    yield ContractVenue(gateway, "BTC/USDT", Decimal("0.5"), Decimal("90"), move_market)


@asynccontextmanager
async def ccxt_venue() -> AsyncIterator[ContractVenue]:
    """The ccxt gateway on a local Binance whose market moves when the test pushes quotes."""
    async with LocalExchange(LocalExchangeConfig(replay=False)) as exchange:
        gateway = CCXTGateway(ccxt_gateway_options(exchange, channels=["quote"]),
                              gateway_id="binance")

        async def move_market() -> None:
            await exchange.wait_for_subscription("nknusdt@bookTicker")
            await exchange.push_book_ticker("NKNUSDT", "0.35210000", "0.35250000")

        yield ContractVenue(gateway, "NKN/USDT", Decimal("100"), Decimal("0.3"), move_market)


VENUES = {"paper": paper_venue, "ccxt": ccxt_venue}


@pytest.mark.parametrize("venue", sorted(VENUES))
@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda check: check.__name__[6:])
async def test_gateway_contract(check, venue):
    await check(VENUES[venue])
