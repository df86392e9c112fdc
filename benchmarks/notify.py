"""What notifications cost trading: a paper replay with targets that work, refuse or hang.

Run: python benchmarks/notify.py
Prints one figure per line as ``label: value unit``. Each replay plays the bundled
BTC/USD bars as fast as possible with sma_cross (about 3,000 fills); a notify target
receives every fill. The replay's time should not depend on the targets: a send never
runs on the event loop, and a full queue drops instead of waiting.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from typing import Any

from aiohttp import web

from libra.core.config import KernelConfig
from libra.core.kernel import TradingKernel
from libra.observability.logging import configure_logging
from libra.observability.notify import Notifier, notify_service
from libra.testing import eventually
from libra.testing.factories import paper_config_data, paper_gateway

ROUNDS = 3


def _config(targets: list[dict[str, Any]]) -> KernelConfig:
    sma = {"id": "sma", "plugin": "sma_cross",
           "params": {"fast": 5, "slow": 20, "quantity": "0.01"}}
    raw = paper_config_data(sma, gateway=paper_gateway(balances={"USD": "1000000"}, speed=0),
                            log_plugins=False, logging={"log_orders": False},
                            notify={"targets": targets, "send_timeout": 0.5})
    return KernelConfig.model_validate(raw)


async def _replay_seconds(targets: list[dict[str, Any]]) -> tuple[float, int, Notifier | None]:
    config = _config(targets)
    services = [notify_service(config.notify)] if targets else []
    kernel = TradingKernel(config, services=services)
    started = time.perf_counter()
    await kernel.start()
    gateway: Any = kernel.gateways["paper"]
    await eventually(lambda: gateway.feed is not None and gateway.feed.finished
                     and kernel.lockstep.is_settled, timeout=300)
    seconds = time.perf_counter() - started
    notifier = next((s for s in kernel.services if isinstance(s, Notifier)), None)
    fills = kernel.trading.counts.get("filled", 0)
    await kernel.stop()
    return seconds, fills, notifier


async def _hanging_server() -> tuple[web.AppRunner, int, asyncio.Event]:
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/{tail:.*}", hang)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1], release  # type: ignore[union-attr]


_RECEIVER = """
import asyncio, sys
from aiohttp import web

async def receive(request):
    await request.read()
    return web.json_response({})

async def main():
    app = web.Application()
    app.router.add_post("/{tail:.*}", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def _receiving_process() -> tuple[subprocess.Popen[str], int]:
    """A webhook receiver in a process of its own, as a real one is: it takes no CPU
    time from the replay's process."""
    process = subprocess.Popen([sys.executable, "-c", _RECEIVER], stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout is not None
    return process, int(process.stdout.readline())


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def main() -> None:
    runner, port, release = await _hanging_server()
    receiver, receiver_port = _receiving_process()
    cases = {
        "no notify": [],
        "a working target": [{"name": "working", "url": f"json://127.0.0.1:{receiver_port}/x",
                              "events": ["fill"]}],
        "a refused target": [{"name": "refused", "url": f"json://127.0.0.1:{_closed_port()}/x",
                              "events": ["fill"]}],
        "a hung target": [{"name": "hung", "url": f"json://127.0.0.1:{port}/x",
                           "events": ["fill"]}],
    }
    try:
        for label, targets in cases.items():
            runs = [await _replay_seconds(targets) for _ in range(ROUNDS)]
            seconds = min(run[0] for run in runs)
            _, fills, notifier = runs[-1]
            print(f"replay with {label} (best of {ROUNDS}): {seconds:.2f} s")
            print(f"fills with {label}: {fills:,} fills")
            if notifier is not None:
                for result, count in notifier.totals().items():
                    print(f"notifications {result} with {label}: {count:,} messages")
    finally:
        release.set()
        await runner.cleanup()
        receiver.terminate()
        receiver.wait(timeout=10)


if __name__ == "__main__":
    configure_logging(level="error", fmt="json", stream=open(os.devnull, "w"))  # noqa: SIM115
    asyncio.run(main())
