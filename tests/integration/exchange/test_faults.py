"""Each fault switch of the local exchange, as unmodified ccxt.pro.binance observes it."""

from __future__ import annotations

import asyncio
import json
import math

import aiohttp
import ccxt.pro
import pytest

from libra.testing.exchange import REMOVE, LocalExchange


async def _watching(exchange: LocalExchange, watch, stream: str) -> asyncio.Task:
    task = asyncio.create_task(watch())
    async with asyncio.timeout(5):
        await exchange.wait_for_subscription(stream)
    return task


async def _user_watch(exchange: LocalExchange, watch) -> asyncio.Task:
    task = asyncio.create_task(watch())
    async with asyncio.timeout(5):
        await exchange.wait_for_user_stream()
    return task


# -- REST ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [418, 429])
async def test_rate_limit_statuses_raise_ddos_protection(exchange, client, status):
    exchange.faults.http_status(status, count=2, path="/api/v3/order")
    for _ in range(2):
        with pytest.raises(ccxt.DDoSProtection, match="-1003"):
            await client.create_order("NKN/USDT", "market", "buy", 100)
    order = await client.create_order("NKN/USDT", "market", "buy", 100)
    assert order["status"] == "closed"
    assert exchange.orders_placed() == 1


async def test_html_5xx_raises_exchange_not_available(exchange, client):
    exchange.faults.html_error(502, path="/api/v3/account")
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await client.fetch_balance()
    assert (await client.fetch_balance())["USDT"]["free"] == 10000.0


@pytest.mark.parametrize("status", [500, 503])
async def test_json_5xx_raises_operation_failed(exchange, client, status):
    """Binance's -1001/-1008 bodies map to OperationFailed (ccxt's spot error table)."""
    exchange.faults.http_status(status, path="/api/v3/account")
    with pytest.raises(ccxt.OperationFailed):
        await client.fetch_balance()


async def test_hang_on_order_post_times_out_but_order_is_placed(exchange, make_client):
    """The "timed out, outcome unknown" case: look the order up by its client id."""
    client = make_client(exchange, timeout=300)
    await client.load_markets()
    exchange.faults.hang(path="/api/v3/order", method="POST")
    with pytest.raises(ccxt.RequestTimeout):
        await client.create_order(
            "NKN/USDT", "market", "buy", 100, params={"clientOrderId": "hung-1"}
        )
    found = await client.fetch_order(None, "NKN/USDT", {"clientOrderId": "hung-1"})
    assert (found["status"], found["filled"]) == ("closed", 100.0)


async def test_truncated_json_is_returned_as_text_by_ccxt(exchange, client):
    """ccxt does not raise on a cut 200 body: the order exists but ccxt knows no id."""
    exchange.faults.truncated_json(path="/api/v3/order")
    order = await client.create_order(
        "NKN/USDT", "market", "buy", 100, params={"clientOrderId": "cut-1"}
    )
    assert isinstance(order["info"], str)
    assert order["id"] is None
    assert exchange.order("cut-1")["status"] == "FILLED"


async def test_delay_answers_late(exchange, client):
    exchange.faults.delay(0.05, path="/api/v3/ping")
    assert await client.public_get_ping() == {}


# -- websocket frames and sockets ------------------------------------------------------------


async def test_nan_empty_and_missing_fields_reach_ccxt(exchange, client):
    watch = await _watching(
        exchange, lambda: client.watch_bids_asks(["BTC/USDT"]), "btcusdt@bookTicker"
    )
    exchange.faults.corrupt_ws_fields({"b": "NaN", "a": "", "B": REMOVE})
    await exchange.push_book_ticker("BTCUSDT", "57000.01000000", "57000.02000000")
    ticker = (await asyncio.wait_for(watch, 5))["BTC/USDT"]
    assert math.isnan(ticker["bid"])
    assert (ticker["ask"], ticker["bidVolume"]) == (None, None)


async def test_malformed_frame_stops_ccxt_reading_the_socket(exchange, make_client):
    """ccxt's receive loop dies on invalid JSON; only its ping-pong keepalive notices."""
    client = make_client(exchange, streaming={"keepAlive": 200})
    await client.load_markets()
    watch = await _watching(
        exchange, lambda: client.watch_bids_asks(["BTC/USDT"]), "btcusdt@bookTicker"
    )
    exchange.faults.malformed_ws_frame(stream="btcusdt@bookTicker")
    await exchange.push_book_ticker("BTCUSDT", "1.00000000", "2.00000000")
    await exchange.push_book_ticker("BTCUSDT", "1.00000000", "2.00000000")
    with pytest.raises(ccxt.RequestTimeout, match="keepalive"):
        await asyncio.wait_for(watch, 5)


async def test_dropped_socket_rejects_pending_watch(exchange, client):
    watch = await _watching(
        exchange, lambda: client.watch_bids_asks(["BTC/USDT"]), "btcusdt@bookTicker"
    )
    assert await exchange.drop_ws_connections("market") == 1
    with pytest.raises(ccxt.NetworkError):
        await asyncio.wait_for(watch, 5)


async def test_abruptly_dropped_socket_rejects_pending_watch(exchange, client):
    watch = await _watching(
        exchange, lambda: client.watch_bids_asks(["BTC/USDT"]), "btcusdt@bookTicker"
    )
    await exchange.drop_ws_connections("market", abrupt=True)
    with pytest.raises(ccxt.NetworkError):
        await asyncio.wait_for(watch, 5)


async def test_silent_stall_keeps_socket_open_without_frames(exchange, client):
    watch = await _watching(
        exchange, lambda: client.watch_bids_asks(["BTC/USDT"]), "btcusdt@bookTicker"
    )
    exchange.faults.stall_ws("market")
    await exchange.push_book_ticker("BTCUSDT", "1.00000000", "2.00000000")
    done, _ = await asyncio.wait({watch}, timeout=0.2)
    assert not done
    assert exchange.hub.subscribers("btcusdt@bookTicker") == 1
    exchange.faults.resume_ws()
    await exchange.push_book_ticker("BTCUSDT", "1.10000000", "2.00000000")
    assert (await asyncio.wait_for(watch, 5))["BTC/USDT"]["bid"] == 1.1


async def test_a_server_that_goes_away_refuses_then_serves_again_on_the_same_port(
        exchange, client):
    watch = await _watching(
        exchange, lambda: client.watch_bids_asks(["BTC/USDT"]), "btcusdt@bookTicker"
    )
    url = exchange.url
    await exchange.go_away()
    assert not exchange.serving
    with pytest.raises(ccxt.NetworkError):
        await asyncio.wait_for(watch, 5)
    with pytest.raises(ccxt.NetworkError):
        await client.fetch_ticker("BTC/USDT")
    await exchange.come_back()
    assert exchange.url == url
    assert (await client.fetch_ticker("BTC/USDT"))["symbol"] == "BTC/USDT"
    watch = await _watching(
        exchange, lambda: client.watch_bids_asks(["BTC/USDT"]), "btcusdt@bookTicker"
    )
    await exchange.push_book_ticker("BTCUSDT", "1.10000000", "2.00000000")
    assert (await asyncio.wait_for(watch, 5))["BTC/USDT"]["bid"] == 1.1


async def test_requests_are_recorded_with_their_arrival_time(exchange, client):
    exchange.faults.http_status(429, retry_after=3, path="/api/v3/order", method="POST")
    with pytest.raises(ccxt.DDoSProtection):
        await client.create_order("NKN/USDT", "market", "buy", 100)
    assert client.last_response_headers["Retry-After"] == "3"
    await client.create_order("NKN/USDT", "market", "buy", 100)
    first, second = exchange.request_times("POST", "/api/v3/order")
    assert first <= second
    assert exchange.request_times("GET", "/api/v3/order") == []  # the method is filtered on


# -- user data stream -------------------------------------------------------------------------


async def test_duplicate_fill_reports_are_sent_twice_and_ccxt_dedups(exchange, client):
    """Two identical TRADE reports go out; ccxt's trade cache keeps one (same trade id)."""
    headers = {"X-MBX-APIKEY": exchange.api_key}
    trades = await _user_watch(exchange, client.watch_my_trades)
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{exchange.url}/api/v3/userDataStream", headers=headers) as reply:
            listen_key = (await reply.json())["listenKey"]
        async with session.ws_connect(f"{exchange.ws_url}/ws/{listen_key}") as raw:
            async with asyncio.timeout(5):
                await exchange.hub.wait_until(lambda: exchange.hub.user_subscribers() == 2)
            exchange.faults.duplicate_fills()
            await client.create_order("NKN/USDT", "market", "buy", 100)
            events = [json.loads((await raw.receive(timeout=5)).data) for _ in range(4)]
    fills = [e for e in events if e["e"] == "executionReport" and e["x"] == "TRADE"]
    assert len(fills) == 2
    assert fills[0] == fills[1]
    await asyncio.wait_for(trades, 5)
    assert [t["id"] for t in client.myTrades] == [str(fills[0]["t"])]


async def test_fill_before_new_leaves_ccxt_order_open(exchange, client, eventually):
    """TRADE then NEW: ccxt's cached order ends on the stale NEW report."""
    await _user_watch(exchange, client.watch_orders)
    exchange.faults.fill_before_new()
    placed = await client.create_order(
        "NKN/USDT", "market", "buy", 100, params={"clientOrderId": "fbn-1"}
    )
    assert placed["status"] == "closed"
    await eventually(lambda: client.orders is not None and len(client.orders) == 1)
    await eventually(lambda: client.orders[0]["info"]["x"] == "NEW")
    assert client.orders[0]["status"] == "open"


async def test_held_fills_arrive_late_and_out_of_order(exchange, client, eventually):
    trades = await _user_watch(exchange, client.watch_my_trades)
    exchange.faults.hold_user_events({"TRADE"})
    for client_id in ("late-1", "late-2"):
        await client.create_order(
            "NKN/USDT", "market", "buy", 100, params={"clientOrderId": client_id}
        )
    assert not trades.done()
    assert await exchange.release_user_events(reverse=True) == 2
    await asyncio.wait_for(trades, 5)
    await eventually(lambda: len(client.myTrades) == 2)
    assert [t["info"]["c"] for t in client.myTrades] == ["late-2", "late-1"]


async def test_cancel_racing_a_fill_is_rejected_and_fill_streams(exchange, client):
    await client.create_order(
        "NKN/USDT", "limit", "buy", 100, 0.30, params={"clientOrderId": "race-1"}
    )
    orders = await _user_watch(exchange, client.watch_orders)
    exchange.faults.fill_on_cancel()
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        await client.cancel_order(None, "NKN/USDT", {"clientOrderId": "race-1"})
    streamed = (await asyncio.wait_for(orders, 5))[-1]
    assert (streamed["clientOrderId"], streamed["status"]) == ("race-1", "closed")


async def test_user_stream_drop_rejects_watch_orders(exchange, client):
    orders = await _user_watch(exchange, client.watch_orders)
    await exchange.drop_ws_connections("user")
    with pytest.raises(ccxt.NetworkError):
        await asyncio.wait_for(orders, 5)
