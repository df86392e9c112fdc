"""Orders, fills, balances and the user data stream, through unmodified ccxt.pro.binance."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import aiohttp
import ccxt.pro
import pytest

from libra.testing.exchange import LocalExchange


async def _user_stream(exchange: LocalExchange, client: ccxt.pro.binance, watch):
    """Start a ``watch_*`` call and wait until the server has its user-data subscription."""
    task = asyncio.create_task(watch())
    async with asyncio.timeout(5):
        await exchange.wait_for_user_stream()
    return task


async def test_market_order_fills_at_best_ask_and_streams_fill(exchange, client):
    """The recorded snapshot's best ask is 0.3525."""
    orders = await _user_stream(exchange, client, client.watch_orders)
    trades = asyncio.create_task(client.watch_my_trades())
    order = await client.create_order(
        "NKN/USDT", "market", "buy", 100, params={"clientOrderId": "libra-mkt-1"}
    )
    assert (order["status"], order["filled"], order["average"]) == ("closed", 100.0, 0.3525)
    assert order["clientOrderId"] == "libra-mkt-1"
    assert order["fee"] == {"currency": "USDT", "cost": 0.03525}
    streamed = await asyncio.wait_for(orders, 5)
    assert streamed[-1]["clientOrderId"] == "libra-mkt-1"
    my_trades = await asyncio.wait_for(trades, 5)
    assert (my_trades[-1]["price"], my_trades[-1]["amount"]) == (0.3525, 100.0)
    fetched = await client.fetch_my_trades("NKN/USDT")
    assert [t["order"] for t in fetched] == [order["id"]]
    assert exchange.balance("NKN") == (Decimal("50100"), Decimal(0))
    assert exchange.balance("USDT")[0] == Decimal("10000") - Decimal("35.25") - Decimal("0.03525")


async def test_limit_order_rests_then_fills_when_market_crosses(exchange, client):
    order = await client.create_order(
        "NKN/USDT", "limit", "buy", 100, 0.35, params={"clientOrderId": "libra-lmt-1"}
    )
    assert order["status"] == "open"
    assert exchange.balance("USDT")[1] == Decimal("35.035")
    orders = await _user_stream(exchange, client, client.watch_orders)
    await exchange.push_book_ticker("NKNUSDT", "0.34900000", "0.34990000")
    filled = (await asyncio.wait_for(orders, 5))[-1]
    assert (filled["status"], filled["filled"], filled["average"]) == ("closed", 100.0, 0.35)
    assert exchange.balance("USDT") == (Decimal("10000") - Decimal("35.035"), Decimal(0))


async def test_partial_fill_then_cancel_by_client_id(exchange, client):
    await client.create_order(
        "NKN/USDT", "limit", "sell", 200, 0.36, params={"clientOrderId": "libra-part-1"}
    )
    await exchange.fill_order("libra-part-1", "50", "0.36")
    partial = await client.fetch_order(None, "NKN/USDT", {"clientOrderId": "libra-part-1"})
    assert (partial["status"], partial["filled"], partial["remaining"]) == ("open", 50.0, 150.0)
    canceled = await client.cancel_order(None, "NKN/USDT", {"clientOrderId": "libra-part-1"})
    assert (canceled["status"], canceled["filled"]) == ("canceled", 50.0)
    assert await client.fetch_open_orders("NKN/USDT") == []
    assert exchange.balance("NKN") == (Decimal("49950"), Decimal(0))


async def test_fetch_unknown_client_order_id_is_order_not_found(client):
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        await client.fetch_order(None, "NKN/USDT", {"clientOrderId": "never-sent"})


async def test_duplicate_open_client_order_id_is_rejected(exchange, client):
    params = {"clientOrderId": "libra-dup-1"}
    await client.create_order("NKN/USDT", "limit", "buy", 100, 0.30, params=params)
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        await client.create_order("NKN/USDT", "limit", "buy", 100, 0.30, params=params)
    assert exchange.orders_placed() == 1


async def test_insufficient_balance_is_rejected(client):
    with pytest.raises(ccxt.InsufficientFunds):
        await client.create_order("BLZ/ETH", "limit", "buy", 100000, 0.0002)


async def test_wrong_secret_is_rejected_with_bad_signature(exchange, make_client):
    client = make_client(exchange, secret="not-the-secret")
    await client.load_markets()
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        await client.fetch_balance()


async def test_signature_is_checked_over_query_and_body(exchange: LocalExchange):
    """A signature computed by hand (as Binance documents it) passes; a tampered one fails."""
    query = f"symbol=NKNUSDT&timestamp={exchange.clock_ms()}"
    signature = exchange.credentials.sign(query)
    headers = {"X-MBX-APIKEY": exchange.api_key}
    async with aiohttp.ClientSession() as session:
        url = f"{exchange.url}/api/v3/openOrders?{query}&signature={signature}"
        async with session.get(url, headers=headers) as ok:
            assert (ok.status, await ok.json()) == (200, [])
        async with session.get(url.replace("NKNUSDT", "LRCBTC"), headers=headers) as bad:
            assert bad.status == 400
            assert await bad.json() == {
                "code": -1022,
                "msg": "Signature for this request is not valid.",
            }
        async with session.get(url) as keyless:
            assert (keyless.status, (await keyless.json())["code"]) == (401, -2014)


async def test_watch_balance_receives_account_position(exchange, client):
    balance = await _user_stream(exchange, client, client.watch_balance)
    await client.create_order("NKN/USDT", "market", "sell", 100)
    streamed = await asyncio.wait_for(balance, 5)
    assert streamed["NKN"]["free"] == 49900.0


async def test_listen_key_stream_receives_execution_reports(exchange: LocalExchange, client):
    headers = {"X-MBX-APIKEY": exchange.api_key}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{exchange.url}/api/v3/userDataStream", headers=headers) as reply:
            listen_key = (await reply.json())["listenKey"]
        async with session.ws_connect(f"{exchange.ws_url}/ws/{listen_key}") as ws:
            await asyncio.wait_for(exchange.wait_for_user_stream(), 5)
            await client.create_order(
                "NKN/USDT", "limit", "buy", 100, 0.30, params={"clientOrderId": "libra-lk-1"}
            )
            report = json.loads((await ws.receive(timeout=5)).data)
    assert (report["e"], report["x"], report["c"]) == ("executionReport", "NEW", "libra-lk-1")


async def test_wrong_secret_is_rejected_on_websocket_api(exchange, make_client):
    """The server answers -1022; ccxt 4.5.90 then raises KeyError('spot') from its own
    cleanup (``ensure_user_data_stream_ws_subscribe_signature`` deletes the subscription
    twice), so the authentication error is masked."""
    client = make_client(exchange, secret="not-the-secret")
    await client.load_markets()
    with pytest.raises((ccxt.AuthenticationError, KeyError)):
        await asyncio.wait_for(client.watch_orders(), 5)
    assert exchange.hub.user_subscribers() == 0


async def test_configure_ccxt_rewrites_an_existing_client(exchange, make_client):
    from libra.testing.exchange import configure_ccxt, non_local_urls

    client = make_client(exchange)
    client.urls = ccxt.pro.binance().describe()["urls"]
    configure_ccxt(client, exchange)
    assert non_local_urls(client.urls["api"]) == []
    assert (await client.fetch_balance())["NKN"]["free"] == 50000.0
