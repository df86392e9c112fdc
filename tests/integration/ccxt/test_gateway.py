"""Connect, credentials, polling fallback and closed bars of the ccxt gateway."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest
import structlog

from libra.core.errors import GatewayAuthError, GatewayUnavailable
from libra.gateways.ccxt import CCXTGateway
from libra.model.events import Bar, OrderBook, Quote
from libra.model.orders import OrderStatus
from libra.testing.contract import ccxt_gateway_options, eventually

SECRET = "sup3r-s3cret-value-0123456789"
NO_WATCH = {"watchBidsAsks": False, "watchTicker": False, "watchTrades": False,
            "watchOHLCV": False, "watchOrderBook": False, "watchOrders": False,
            "watchMyTrades": False}


async def test_connect_loads_instruments_from_market_precision(exchange, venue):
    nkn = venue.gateway.instruments()["NKN/USDT"]
    assert (nkn.tick_size, nkn.lot_size, nkn.min_quantity) == (
        Decimal("0.0001"), Decimal("1.0"), Decimal("1.0"))
    assert (nkn.min_notional, nkn.maker_fee, nkn.taker_fee) == (
        Decimal("10.0"), Decimal("0.001"), Decimal("0.001"))
    assert (await venue.gateway.fetch_balances())["NKN"] == Decimal("50000.0")
    assert (await venue.gateway.fetch_balances())["USDT"] == Decimal("10000.0")


async def test_wrong_secret_is_fatal_and_never_logged(exchange):
    options = ccxt_gateway_options(exchange, secret=SECRET, api_key="key-" + SECRET)
    gateway = CCXTGateway(options, gateway_id="binance")
    with structlog.testing.capture_logs() as logs, pytest.raises(GatewayAuthError) as caught:
        await gateway.connect()
    await gateway.disconnect()
    text = f"{caught.value!s} {caught.value!r} {logs!r}"
    assert "AuthenticationError" in str(caught.value)
    assert SECRET not in text
    assert caught.value.__cause__ is None
    assert SECRET not in repr(gateway.options)


async def test_connect_retries_a_transient_failure(exchange):
    exchange.faults.html_error(502, path="/api/v3/exchangeInfo")
    gateway = CCXTGateway(ccxt_gateway_options(exchange), gateway_id="binance")
    try:
        await gateway.connect()
        assert gateway.is_connected
    finally:
        await gateway.disconnect()


async def test_connect_gives_up_after_its_attempts(exchange):
    exchange.faults.html_error(502, count=None, path="/api/v3/exchangeInfo")
    gateway = CCXTGateway(ccxt_gateway_options(exchange, connect_attempts=2),
                          gateway_id="binance")
    with pytest.raises(GatewayUnavailable, match="ExchangeNotAvailable"):
        await gateway.connect()
    assert gateway.exchange is None
    await gateway.disconnect()


async def test_rest_polling_when_the_venue_has_no_websocket(exchange, make_venue):
    venue = await make_venue(
        channels=("quote", "book"), wait_user_stream=False, poll_interval=0.05,
        order_poll_interval=0.05,
        client_config={**ccxt_gateway_options(exchange)["client_config"], "has": NO_WATCH})
    status = venue.gateway.stream_status()
    assert {s["mode"] for s in status.values()} == {"polling"}
    await eventually(lambda: any(isinstance(e, Quote) for e in venue.sink.data))
    await eventually(lambda: any(isinstance(e, OrderBook) for e in venue.sink.data))
    order = await venue.submit("limit", "0.3")
    await eventually(lambda: order.status is OrderStatus.ACCEPTED)
    await exchange.fill_order(order.client_order_id, "100", "0.3")
    await eventually(lambda: order.status is OrderStatus.FILLED)
    assert len(venue.sink.fills(order.client_order_id)) == 1
    assert exchange.hub.user_subscribers() == 0


def kline(start_ms: int, close: str) -> dict:
    return {"e": "kline", "E": start_ms + 1000, "s": "NKNUSDT", "k": {
        "t": start_ms, "T": start_ms + 59_999, "s": "NKNUSDT", "i": "1m", "f": 1, "L": 2,
        "o": "0.35000000", "c": close, "h": "0.36000000", "l": "0.34000000",
        "v": "100.00000000", "n": 2, "x": False, "q": "35.00000000", "V": "50.00000000",
        "Q": "17.50000000", "B": "0"}}


async def test_only_closed_bars_are_emitted_once_each(exchange, make_venue):
    venue = await make_venue(channels=("bar",), wait_user_stream=False)
    stream = "nknusdt@kline_1m"
    await asyncio.wait_for(exchange.wait_for_subscription(stream), 5)
    # Candles in the future: none of them is closed by the clock, only by the next candle.
    minute = (time.time_ns() // 60_000_000_000 + 10) * 60_000
    for frame in (kline(minute, "0.35100000"), kline(minute, "0.35200000")):
        await exchange.push_frame(stream, frame)
    await exchange.push_frame(stream, kline(minute + 60_000, "0.35300000"))
    await eventually(lambda: any(isinstance(e, Bar) for e in venue.sink.data))
    for frame in (kline(minute, "0.39900000"), kline(minute + 60_000, "0.35400000")):
        await exchange.push_frame(stream, frame)
    await exchange.push_frame(stream, kline(minute + 120_000, "0.35500000"))
    await eventually(lambda: len([e for e in venue.sink.data if isinstance(e, Bar)]) == 2)
    bars = [e for e in venue.sink.data if isinstance(e, Bar)]
    assert [(b.close, b.ts_event) for b in bars] == [
        (Decimal("0.352"), (minute + 60_000) * 1_000_000),
        (Decimal("0.354"), (minute + 120_000) * 1_000_000)]
    assert bars[0].ts_open == minute * 1_000_000
