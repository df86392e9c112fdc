"""Tick-to-order latency: a quote enters the paper gateway, an order reaches its venue.

The path measured, per tick, in one process under uvloop:

    PaperGateway.on_market_data -> matching -> kernel -> MessageBus.publish -> cache,
    portfolio mark, strategy runner inbox -> (task switch) runner task -> strategy on_tick
    -> StrategyOrders -> RiskEngine -> ExecutionEngine -> runner flush
    -> PaperGateway.submit_order

The strategy submits a market order on every tick, alternately buying and selling a tiny
quantity; balances are large and no risk limit is configured beyond the instrument checks.
One tick is in flight at a time: the next quote enters once the order of the previous one
has reached the venue. Quotes are the recorded Binance BTC/USDT quotes from the shared data
folder (cycled, with fresh timestamps), or synthetic ones when that folder is absent.

Run: ``python benchmarks/tick_to_order.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import uvloop

from libra.core.config import KernelConfig
from libra.core.kernel import TradingKernel
from libra.gateways.paper import PaperGateway
from libra.model.events import Quote
from libra.observability.logging import configure_logging
from libra.plugins.base import PluginMetadata, StrategyPlugin

SYMBOL = "BTC/USDT"
QUOTES = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nautilus_trader"
          / "derived" / "binance_btcusdt-quotes.csv")


class TimedPaperGateway(PaperGateway):
    """The paper venue, stamping the time each order reaches it."""

    def __init__(self, config: Any = None, *, gateway_id: str | None = None) -> None:
        super().__init__(config, gateway_id=gateway_id)
        self.arrived_ns = 0
        self.arrived = asyncio.Event()

    async def submit_order(self, order: Any) -> None:
        self.arrived_ns = time.perf_counter_ns()
        self.arrived.set()
        await super().submit_order(order)


class EveryTick(StrategyPlugin):
    """Submit a market order on every tick: buy, sell, buy, ..."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.quantity = Decimal((config or {}).get("quantity", "0.001"))
        self.buy_next = True

    @classmethod
    def metadata(cls) -> PluginMetadata:
        return PluginMetadata.create(name="every_tick", version="0", description="benchmark")

    @property
    def name(self) -> str:
        return "every_tick"

    @property
    def symbols(self) -> list[str]:
        return [SYMBOL]

    async def initialize(self, context: dict[str, Any]) -> None:
        return None

    async def on_data(self, data: Any) -> None:
        await self.on_tick(data)

    async def on_tick(self, tick: Any) -> None:
        if self.buy_next:
            self.buy_market(tick.symbol, self.quantity)
        else:
            self.sell_market(tick.symbol, self.quantity)
        self.buy_next = not self.buy_next


def make_quotes(count: int) -> list[Quote]:
    """Return ``count`` quotes, 1 ms apart: recorded ones cycled, else synthetic."""
    if QUOTES.is_file():
        from libra.data import load_quotes

        base = [(q.bid, q.ask, q.bid_size, q.ask_size)
                for q in load_quotes(QUOTES, symbol=SYMBOL, venue="paper")]
    else:
        base = [(Decimal(39432) + Decimal(i % 50) / 100, Decimal(39433) + Decimal(i % 50) / 100,
                 Decimal(1), Decimal(1)) for i in range(500)]
    start = 1_610_064_001_000_000_000
    quotes = []
    for i in range(count):
        bid, ask, bid_size, ask_size = base[i % len(base)]
        ts = start + i * 1_000_000
        quotes.append(Quote(venue="paper", symbol=SYMBOL, bid=bid, ask=ask, bid_size=bid_size,
                            ask_size=ask_size, ts_event=ts, ts_recv=ts))
    return quotes


def kernel_config(log_orders: bool) -> KernelConfig:
    return KernelConfig.model_validate({
        "discover_plugins": False,
        "environment": "paper",
        "kernel": {"name": "bench"},
        "logging": {"level": "warning", "log_orders": log_orders},
        "gateways": [{
            "id": "paper", "plugin": f"{__name__}:TimedPaperGateway",
            "starting_balances": {"USDT": "1000000000000", "BTC": "1000000"},
            "instruments": {SYMBOL: {"tick_size": "0.01", "lot_size": "0.00001"}},
            "data": {"source": "none"},
        }],
        "strategies": [{"id": "bench", "plugin": f"{__name__}:EveryTick", "gateway": "paper",
                        "symbols": [SYMBOL]}],
    })


async def measure(events: list[Quote], gateway: TimedPaperGateway) -> list[int]:
    """Feed one quote at a time; return each one's tick-to-order latency in ns."""
    latencies = [0] * len(events)
    arrived = gateway.arrived
    clock = time.perf_counter_ns
    async with asyncio.timeout(max(60.0, len(events) / 1000)):
        for i, event in enumerate(events):
            arrived.clear()
            entered = clock()
            gateway.on_market_data(event)
            await arrived.wait()
            latencies[i] = gateway.arrived_ns - entered
    return latencies


def percentile(ordered: list[int], fraction: float) -> float:
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index] / 1000


async def main(ticks: int, warmup: int, log_orders: bool) -> None:
    events = make_quotes(warmup + ticks)
    kernel = TradingKernel(kernel_config(log_orders))
    await kernel.start()
    try:
        gateway = kernel.gateways["paper"]
        assert isinstance(gateway, TimedPaperGateway)
        await measure(events[:warmup], gateway)
        gc.collect()
        gc.freeze()  # setup and warm-up objects are not the hot path's garbage
        started = time.perf_counter()
        latencies = await measure(events[warmup:], gateway)
        elapsed = time.perf_counter() - started
        filled = kernel.trading.counts.get("filled", 0)
    finally:
        await kernel.stop()
    ordered = sorted(latencies)
    print(f"tick_to_order p50: {percentile(ordered, 0.50):.1f} us")
    print(f"tick_to_order p99: {percentile(ordered, 0.99):.1f} us")
    print(f"tick_to_order p99.9: {percentile(ordered, 0.999):.1f} us")
    print(f"tick_to_order max: {ordered[-1] / 1000:.1f} us")
    print(f"throughput: {ticks / elapsed:,.0f} ticks/s (one order per tick, one tick in flight)")
    print(f"ticks: {ticks}, orders filled: {filled}, python {sys.version.split()[0]}, "
          f"uvloop {uvloop.__version__}, log_orders {log_orders}")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ticks", type=int, default=100_000, help="ticks measured")
    parser.add_argument("--warmup", type=int, default=5_000, help="ticks before measuring")
    parser.add_argument("--no-log-orders", action="store_true",
                        help="turn off the per-order log lines (logging.log_orders=false)")
    args = parser.parse_args()
    configure_logging(level="warning", fmt="json", stream=open(os.devnull, "w"))  # noqa: SIM115
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main(args.ticks, args.warmup, not args.no_log_orders))


if __name__ == "__main__":
    cli()
