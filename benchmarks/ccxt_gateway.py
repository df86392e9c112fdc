"""ccxt gateway throughput and order latency against the local Binance exchange.

Run: python benchmarks/ccxt_gateway.py [--frames N] [--orders N]
Prints one figure per line as ``label: value unit``:

* websocket trades/s: trade frames pushed by the local exchange, received by ccxt.pro,
  validated and emitted as LIBRA ``Trade`` events (server, loopback and ccxt included);
* parse trades/s: ``parse_trade`` alone on ccxt trade dicts (the gateway's own cost);
* submit round trip p50/p99: ``submit_order`` of a market order until its ``Fill`` reaches
  the sink (REST create, matching, reply, parsing; one order at a time).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from decimal import Decimal
from typing import Any

import structlog

from libra.gateways.ccxt import CCXTGateway
from libra.gateways.ccxt.parse import parse_trade
from libra.model.events import Trade
from libra.model.fills import Fill
from libra.model.orders import Order, OrderSide, OrderType
from libra.testing.contract import ccxt_gateway_options
from libra.testing.exchange import LocalExchange, LocalExchangeConfig

_WARM_UP = 5  # first orders open the HTTP connection pool: not counted


def trade_frame(trade_id: int) -> dict[str, Any]:
    return {"e": "trade", "E": 1_700_000_000_000 + trade_id, "s": "NKNUSDT", "t": trade_id,
            "p": "0.35280000", "q": "58.00000000", "b": 1, "a": 2,
            "T": 1_700_000_000_000 + trade_id, "m": False, "M": True}


async def websocket_throughput(exchange: LocalExchange, frames: int) -> float:
    trades: list[Any] = []
    done = asyncio.Event()

    def on_data(event: Any) -> None:
        if type(event) is Trade:
            trades.append(event)
            if len(trades) == frames:
                done.set()

    gateway = CCXTGateway(ccxt_gateway_options(exchange, channels=["trade"],
                                               private_streams=False), gateway_id="binance")
    gateway.bind(on_data, lambda e: None)
    await gateway.connect()
    try:
        await gateway.subscribe(["NKN/USDT"], ["trade"])
        await asyncio.wait_for(exchange.wait_for_subscription("nknusdt@trade"), 5)
        start = time.perf_counter()
        for trade_id in range(1, frames + 1):
            await exchange.push_frame("nknusdt@trade", trade_frame(trade_id))
        await asyncio.wait_for(done.wait(), 60)
        return frames / (time.perf_counter() - start)
    finally:
        await gateway.disconnect()


def parse_throughput(count: int) -> float:
    raw = {"id": "1", "price": 0.3528, "amount": 58.0, "side": "buy",
           "timestamp": 1_700_000_000_000}
    start = time.perf_counter()
    for _ in range(count):
        parse_trade("binance", "NKN/USDT", raw, 0)
    return count / (time.perf_counter() - start)


async def submit_latency(exchange: LocalExchange, orders: int) -> list[float]:
    filled: dict[str, float] = {}
    arrived = asyncio.Event()

    def on_order_event(event: Any) -> None:
        if isinstance(event, Fill):
            filled.setdefault(event.client_order_id, time.perf_counter())
            arrived.set()

    gateway = CCXTGateway(ccxt_gateway_options(exchange, channels=[]), gateway_id="binance")
    gateway.bind(lambda e: None, on_order_event)
    await gateway.connect()
    latencies: list[float] = []
    try:
        await asyncio.wait_for(exchange.wait_for_user_stream(), 5)
        for n in range(orders):
            order = Order(client_order_id=f"bench-{n}", strategy_id="bench", venue="binance",
                          symbol="NKN/USDT", side=OrderSide.BUY if n % 2 == 0 else OrderSide.SELL,
                          type=OrderType.MARKET, quantity=Decimal(100))
            arrived.clear()
            start = time.perf_counter()
            await gateway.submit_order(order)
            await asyncio.wait_for(arrived.wait(), 10)
            if n >= _WARM_UP:
                latencies.append(filled[order.client_order_id] - start)
    finally:
        await gateway.disconnect()
    return latencies


async def main(frames: int, orders: int) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    async with LocalExchange(LocalExchangeConfig(replay=False)) as exchange:
        rate = await websocket_throughput(exchange, frames)
        latencies = await submit_latency(exchange, orders)
    print(f"websocket trades/s ({frames} frames): {rate:,.0f} msg/s")
    print(f"parse trades/s: {parse_throughput(200_000):,.0f} msg/s")
    cuts = statistics.quantiles(latencies, n=100)
    print(f"submit round trip p50 ({orders} market orders): {cuts[49] * 1e3:.2f} ms")
    print(f"submit round trip p99 ({orders} market orders): {cuts[98] * 1e3:.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--orders", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.frames, args.orders))
