"""The ccxt gateway's health as an operator reads it: a venue that goes away and comes back,
a stream with nothing to say, a silent socket, a frame nobody can parse."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from quote_pushing import push_until_quote, quotes
from structlog.testing import capture_logs

from libra.model.events import Trade
from libra.testing.contract import eventually

BOOK = "nknusdt@bookTicker"




def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [line for line in logs if line["event"] == name]


async def test_a_venue_that_goes_away_disconnects_the_gateway_and_comes_back(
        loop_errors, exchange, make_venue):
    venue = await make_venue(reconnect_max=0.2)
    gateway = venue.gateway
    await asyncio.wait_for(exchange.wait_for_subscription(BOOK), 5)
    await push_until_quote(exchange, venue)
    assert gateway.is_connected
    with capture_logs() as logs:
        await exchange.go_away()
        await eventually(lambda: not gateway.is_connected)
        [down] = events(logs, "gateway.disconnected")
        assert "websocket(s) down" in down["reasons"][0]
        assert gateway.connection_problems()
        await exchange.come_back()
        await push_until_quote(exchange, venue)
        await eventually(lambda: gateway.is_connected)
    [back] = events(logs, "gateway.reconnected")
    assert back["downtime"] > 0
    [recovered] = events(logs, "stream.recovered")
    assert recovered["stream"] == "quote:NKN/USDT"
    assert recovered["silent"] >= back["downtime"] / 2
    await gateway.disconnect()


async def test_a_stale_stream_reconnects_only_its_own_socket(exchange, make_venue):
    """No klines ever come for this symbol: its bar stream goes stale and is reconnected
    once per period; the quote stream of the same symbol, delivering, is left alone."""
    venue = await make_venue(channels=("quote", "bar"), stale_after=0.4, wait_user_stream=False)
    await asyncio.wait_for(exchange.wait_for_subscription(BOOK), 5)
    status = venue.gateway.stream_status
    async with asyncio.timeout(15):
        while status()["bar:NKN/USDT"]["stale_reconnects"] < 3:
            await exchange.push_book_ticker("NKNUSDT", "0.35100000", "0.35200000")
            await asyncio.sleep(0.05)
    assert status()["quote:NKN/USDT"]["reconnects"] == 0
    assert status()["quote:NKN/USDT"]["stale_reconnects"] == 0
    assert venue.gateway.is_connected


async def test_silence_is_measured_from_the_last_message(exchange, make_venue):
    venue = await make_venue(stale_after=0.3, wait_user_stream=False)
    await asyncio.wait_for(exchange.wait_for_subscription(BOOK), 5)
    await push_until_quote(exchange, venue)
    exchange.faults.stall_ws("market")
    stream = venue.gateway.stream_status
    await eventually(lambda: stream()["quote:NKN/USDT"]["stale_reconnects"] >= 2)
    status = stream()["quote:NKN/USDT"]
    assert status["stale"]
    # Two forced reconnects later, the silence still counts from the last quote.
    assert status["last_message_age"] >= 0.6
    assert status["silent_for"] >= 0.6
    # An open but silent socket is stale data, not a lost connection.
    assert venue.gateway.is_connected


async def test_a_malformed_frame_is_skipped_and_the_socket_reads_on(exchange, make_venue):
    venue = await make_venue(wait_user_stream=False)
    await asyncio.wait_for(exchange.wait_for_subscription(BOOK), 5)
    await push_until_quote(exchange, venue)
    exchange.faults.malformed_ws_frame(stream=BOOK)
    with capture_logs() as logs:
        await exchange.push_book_ticker("NKNUSDT", "0.35000000", "0.35300000")
        await exchange.push_book_ticker("NKNUSDT", "0.35010000", "0.35300000")
        await eventually(lambda: quotes(venue)[-1].bid == Decimal("0.3501"), timeout=3)
    [rejected] = events(logs, "gateway.message_rejected")
    assert rejected["reason"] == "unreadable:JSONDecodeError"
    assert venue.gateway.rejected_messages == {"unreadable:JSONDecodeError": 1}
    assert venue.gateway.stream_status()["quote:NKN/USDT"]["reconnects"] == 0


async def test_a_trade_ccxt_cannot_handle_is_skipped_and_trades_flow_on(exchange, make_venue):
    """ccxt raises on a NaN trade price inside its receive loop: the frame is dropped,
    counted, and the next trade arrives on the same socket."""
    venue = await make_venue(channels=("trade",), wait_user_stream=False)
    await asyncio.wait_for(exchange.wait_for_subscription("nknusdt@trade"), 5)
    exchange.faults.corrupt_ws_fields({"p": "NaN"}, stream="nknusdt@trade")
    await exchange.push_trade("NKNUSDT", "0.35200000", "10.00000000")
    await exchange.push_trade("NKNUSDT", "0.35300000", "12.00000000")
    await eventually(lambda: any(isinstance(e, Trade) for e in venue.sink.data), timeout=3)
    assert sum(venue.gateway.rejected_messages.values()) == 1
    assert venue.gateway.stream_status()["trade:NKN/USDT"]["reconnects"] == 0
