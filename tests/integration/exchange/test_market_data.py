"""Unmodified ccxt.pro.binance loads markets and streams replayed Binance data."""

from __future__ import annotations

import asyncio
import json

from libra.testing.exchange import LocalExchange, non_local_urls


def _recorded(stream: str) -> list[dict[str, str]]:
    from libra.testing.exchange.data import load_market_data

    return [f.payload for f in load_market_data().frames if f.stream == stream]


async def test_load_markets_reads_recorded_exchange_info(exchange, make_client):
    client = make_client(exchange)
    markets = await client.load_markets()
    assert non_local_urls(client.urls["api"]) == []
    assert set(markets) == {
        "ETH/BTC",
        "BTC/USDT",
        "ETH/USDT",
        "LRC/BTC",
        "BLZ/ETH",
        "NKN/USDT",
        "RUNE/EUR",
    }
    assert markets["NKN/USDT"]["precision"]["price"] == 0.0001
    assert markets["NKN/USDT"]["limits"]["cost"]["min"] == 10.0


async def test_fetch_time_and_public_rest(exchange, client):
    server_time = await client.fetch_time()
    book = await client.fetch_order_book("NKN/USDT", limit=5)
    assert abs(server_time - exchange.clock_ms()) < 5_000
    assert book["bids"][0] == [0.3521, 672.0]
    assert book["nonce"] == 499869752


async def test_watch_ticker_receives_recorded_book_ticker(replaying_exchange, make_client):
    client = make_client(replaying_exchange)
    recorded_bids = {float(p["b"]) for p in _recorded("nknusdt@bookTicker")}
    ticker = await asyncio.wait_for(client.watch_ticker("NKN/USDT", {"name": "ticker"}), 5)
    assert ticker["bid"] in recorded_bids
    assert ticker["ask"] > ticker["bid"]


async def test_watch_mini_ticker_default_channel(replaying_exchange, make_client):
    client = make_client(replaying_exchange)
    ticker = await asyncio.wait_for(client.watch_ticker("NKN/USDT"), 5)
    assert 0.3 < ticker["last"] < 0.4


async def test_watch_bids_asks_receives_book_ticker(replaying_exchange, make_client):
    client = make_client(replaying_exchange)
    tickers = await asyncio.wait_for(client.watch_bids_asks(["NKN/USDT"]), 5)
    assert tickers["NKN/USDT"]["bid"] in {float(p["b"]) for p in _recorded("nknusdt@bookTicker")}


async def test_watch_trades_receives_recorded_agg_trade(replaying_exchange, make_client):
    client = make_client(replaying_exchange)
    trades = await asyncio.wait_for(client.watch_trades("NKN/USDT"), 10)
    assert (trades[-1]["price"], trades[-1]["amount"]) == (0.3528, 58.0)


async def test_watch_ohlcv_receives_recorded_kline(replaying_exchange, make_client):
    client = make_client(replaying_exchange)
    candles = await asyncio.wait_for(client.watch_ohlcv("NKN/USDT", "1m"), 10)
    timestamp, open_, high, low, close, volume = candles[-1]
    assert (open_, high, low, close, volume) == (0.3527, 0.3528, 0.3522, 0.3528, 25877.0)
    assert timestamp % 60_000 == 0


async def test_watch_order_book_stays_in_sync_with_server_book(
    replaying_exchange, make_client, eventually
):
    """ccxt applies the diff stream on top of the REST snapshot: its book equals the server's."""
    client = make_client(replaying_exchange)
    book = await asyncio.wait_for(client.watch_order_book("NKN/USDT"), 5)
    assert book["nonce"] > 499869752
    replaying_exchange.pause_replay()
    state = replaying_exchange.market.symbols["NKNUSDT"]
    await eventually(lambda: client.orderbooks["NKN/USDT"]["nonce"] == state.update_id)
    server = state.depth(20)
    local = client.orderbooks["NKN/USDT"].limit()
    assert local["bids"][:20] == [[float(p), float(q)] for p, q in server["bids"]]
    assert local["asks"][:20] == [[float(p), float(q)] for p, q in server["asks"]]


async def test_push_book_ticker_reaches_watchers(exchange: LocalExchange, client, eventually):
    watch = asyncio.create_task(client.watch_bids_asks(["BTC/USDT"]))
    await asyncio.wait_for(exchange.wait_for_subscription("btcusdt@bookTicker"), 5)
    await exchange.push_book_ticker("BTCUSDT", "57000.01000000", "57000.02000000")
    tickers = await asyncio.wait_for(watch, 5)
    assert (tickers["BTC/USDT"]["bid"], tickers["BTC/USDT"]["ask"]) == (57000.01, 57000.02)


async def test_push_frame_sends_payload_verbatim(exchange: LocalExchange, eventually):
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{exchange.ws_url}/ws") as ws,
    ):
        await ws.send_json({"method": "SUBSCRIBE", "params": ["ethusdt@trade"], "id": 7})
        assert json.loads((await ws.receive(timeout=5)).data) == {"result": None, "id": 7}
        payload = {"e": "trade", "s": "ETHUSDT", "p": "4149.74000000", "q": "0.43870000"}
        assert await exchange.push_frame("ethusdt@trade", payload) == 1
        assert json.loads((await ws.receive(timeout=5)).data) == payload
