"""State store cost: commit latency, orders+fills per second through the real execution engine
and paper venue with persistence on and off, and the event loop's worst stall meanwhile.

Run: python benchmarks/persistence.py
Prints one figure per line as ``label: value unit``.

With persistence on, the engine sends an order only once its intent is on disk
(``ExecutionEngine.flush`` sends an order only once its intent is on disk).
"""

from __future__ import annotations

import asyncio
import gc
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from libra.core.bus import MessageBus
from libra.core.cache import Cache
from libra.core.clock import SimulatedClock
from libra.core.config import RiskConfig
from libra.gateways.paper import PaperGateway, PaperGatewayConfig
from libra.model.events import Quote
from libra.model.order_events import OrderPendingCancel
from libra.persistence import StateStore
from libra.trading.execution import ExecutionEngine

T0 = 1_700_000_000_000_000_000
VENUE = {
    "starting_balances": {"USDT": "100000000", "BTC": "100000"},
    "instruments": {"BTC/USDT": {"tick_size": "0.01", "lot_size": "0.0001"}},
}
ORDERS = 20_000


def commit_latency_us(directory: Path, synchronous: str, n: int = 300) -> float:
    """Return the median cost of one small WAL commit."""
    conn = sqlite3.connect(directory / f"commit-{synchronous}.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("CREATE TABLE t (x)")
    samples = []
    for i in range(n):
        started = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t VALUES (?)", (i,))
        conn.execute("COMMIT")
        samples.append(time.perf_counter() - started)
    conn.close()
    return statistics.median(samples) * 1e6


async def _engine(store: StateStore | None) -> ExecutionEngine:
    clock = SimulatedClock()
    clock.set_time(T0)
    engine = ExecutionEngine(MessageBus(), Cache(), clock, RiskConfig(), log_orders=False,
                             simulated=isinstance(clock, SimulatedClock))
    gateway = PaperGateway(PaperGatewayConfig.model_validate(VENUE), gateway_id="paper")
    engine.add_gateway("paper", gateway)
    gateway.bind(lambda e: None, engine.on_order_event, clock)
    await gateway.connect()
    for instrument in gateway.instruments().values():
        engine.cache.add_instrument(instrument)
    gateway.on_market_data(Quote(venue="paper", symbol="BTC/USDT", bid=Decimal("99.99"),
                                 ask=Decimal("100.01"), bid_size=Decimal(10**9),
                                 ask_size=Decimal(10**9), ts_event=T0, ts_recv=T0))
    engine.store = store
    return engine


async def _ticker(stop: asyncio.Event, lateness: list[float], period: float = 0.001) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        expected = loop.time() + period
        await asyncio.sleep(period)
        lateness.append(loop.time() - expected)


@dataclass(frozen=True, slots=True)
class RunResult:
    rate: float
    """Orders plus fills per second."""
    worst_ms: float
    p999_ms: float
    gc_ms: float
    """The longest garbage collection pass during the run."""


async def orders_and_fills_per_second(store: StateStore | None, per_flush: int) -> RunResult:
    """Trade ``ORDERS`` market orders, ``per_flush`` per strategy callback, and time it."""
    engine = await _engine(store)
    orders = engine.orders_api("s1", "paper")
    stop, lateness = asyncio.Event(), [0.0]
    ticker = asyncio.get_running_loop().create_task(_ticker(stop, lateness), name="ticker")
    await asyncio.sleep(0.01)
    pauses = [0.0]
    gc.callbacks.append(_gc_timer(pauses))
    started = time.perf_counter()
    for i in range(0, ORDERS, per_flush):
        for j in range(per_flush):
            orders.submit_order(symbol="BTC/USDT", side="buy" if (i + j) % 2 else "sell",
                                quantity="0.01")
        await engine.flush()
        await asyncio.sleep(0)  # a strategy's task yields between callbacks
    if store is not None:
        await store.flush()
    elapsed = time.perf_counter() - started
    gc.callbacks.pop()
    stop.set()
    await ticker
    fills = engine.counts.get("filled", 0)
    assert fills == ORDERS, engine.counts
    lateness.sort()
    return RunResult((ORDERS + fills) / elapsed, lateness[-1] * 1e3,
                     lateness[int(len(lateness) * 0.999)] * 1e3, max(pauses) * 1e3)


def _gc_timer(pauses: list[float]) -> Callable[[str, dict[str, Any]], None]:
    started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses.append(time.perf_counter() - started[0])

    return on_gc


async def record_event_cost_us(directory: Path, n: int = 200_000) -> tuple[float, float]:
    """Return the loop-side cost of ``record_event`` and the writer's sustained rate."""
    engine = await _engine(None)
    order = engine.orders_api("s1", "paper").submit_order(symbol="BTC/USDT", side="buy",
                                                          quantity="0.01")
    await engine.flush()
    event = OrderPendingCancel.from_order(order, T0)
    with StateStore.open(directory / "events.db") as store:
        started = time.perf_counter()
        for _ in range(n):
            store.record_event(order, event)
        enqueued = time.perf_counter() - started
        await store.flush()
        total = time.perf_counter() - started
    return enqueued / n * 1e6, n / total


async def main(directory: Path) -> None:
    print(f"commit synchronous=NORMAL: {commit_latency_us(directory, 'NORMAL'):,.0f} us")
    print(f"commit synchronous=FULL: {commit_latency_us(directory, 'FULL'):,.0f} us")
    for per_flush in (1, 50):
        for label, path in (("off", None), ("on", directory / f"state-{per_flush}.db")):
            store = None if path is None else StateStore.open(path)
            try:
                result = await orders_and_fills_per_second(store, per_flush)
            finally:
                if store is not None:
                    store.close()
            where = f"persistence {label}, {per_flush} orders per callback"
            print(f"{where}: {result.rate:,.0f} orders+fills/s")
            print(f"loop worst stall, {where}: {result.worst_ms:.1f} ms")
            print(f"loop p99.9 lateness, {where}: {result.p999_ms:.2f} ms")
            print(f"worst gc pause, {where}: {result.gc_ms:.1f} ms")
    cost, rate = await record_event_cost_us(directory)
    print(f"record_event on the loop: {cost:.2f} us")
    print(f"writer sustained: {rate:,.0f} events/s")


def run() -> None:
    from libra.observability.logging import configure_logging

    with open(os.devnull, "w") as devnull, tempfile.TemporaryDirectory(
            dir=Path(__file__).resolve().parent) as tmp:
        configure_logging(level="warning", fmt="json", stream=devnull)
        asyncio.run(main(Path(tmp)))


if __name__ == "__main__":
    run()
