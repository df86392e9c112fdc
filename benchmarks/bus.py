"""MessageBus throughput and kernel build+start time.

Run: python benchmarks/bus.py
Prints one figure per line as ``label: value unit``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

from libra.core.bus import MessageBus

TOPIC = "data.bar.paper.BTC/USDT.1m"
N = 2_000_000


def _handler() -> Callable[[object], None]:
    count = [0]

    def handle(message: object) -> None:
        count[0] += 1

    return handle


def publishes_per_second(subscribers: int, pattern: str, n: int = N) -> float:
    bus = MessageBus()
    for _ in range(subscribers):
        bus.subscribe(pattern, _handler())
    publish = bus.publish
    message = object()
    publish(TOPIC, message)  # warm the topic's handler cache
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(n):
            publish(TOPIC, message)
        best = max(best, n / (time.perf_counter() - started))
    return best


def kernel_start_seconds() -> float:
    from libra.core.config import KernelConfig
    from libra.core.kernel import TradingKernel
    from libra.observability.logging import configure_logging

    configure_logging(level="warning", fmt="json", stream=open(os.devnull, "w"))  # noqa: SIM115
    config = KernelConfig.model_validate({
        "log_plugins": False,
        "gateways": [{"id": "paper", "plugin": "paper",
                      "data": {"source": "replay", "path": "bundled:ETH_BTC-5m",
                               "symbol": "ETH/BTC", "speed": 1}}],
        "strategies": [{"id": "s", "plugin": "sma_cross", "symbols": ["ETH/BTC"]}],
    })

    async def build_and_start() -> float:
        started = time.perf_counter()
        kernel = TradingKernel(config)
        await kernel.start()
        elapsed = time.perf_counter() - started
        await kernel.stop()
        return elapsed

    return asyncio.run(build_and_start())


def main() -> None:
    for subs in (1, 10):
        exact = publishes_per_second(subs, TOPIC)
        print(f"bus exact {subs} sub: {exact:,.0f} publishes/s")
        wild = publishes_per_second(subs, "data.*.paper.BTC/USDT.**")
        print(f"bus wildcard {subs} sub: {wild:,.0f} publishes/s")
    print(f"kernel build+start (paper, 1 strategy, 5,760 bars loaded): "
          f"{kernel_start_seconds() * 1000:,.1f} ms")


if __name__ == "__main__":
    main()
