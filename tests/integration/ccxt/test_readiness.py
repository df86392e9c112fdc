"""What an operator sees while the venue is away: ``/readyz``, ``/api/status``, the metrics,
the heartbeat and the systemd watchdog, from a kernel trading through the ccxt gateway."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from libra.core.config import KernelConfig
from libra.core.kernel import TradingKernel
from libra.observability.service import OpsService
from libra.testing.contract import ccxt_gateway_options, eventually

BOOK = "nknusdt@bookTicker"


def kernel_config(exchange: Any, stale_after: float) -> KernelConfig:
    options = ccxt_gateway_options(exchange, channels=["quote"], reconnect_max=0.2)
    return KernelConfig.model_validate({
        "environment": "live",
        "discover_plugins": False,
        "kernel": {"name": "readiness", "connect_timeout": 10, "stale_data_after": stale_after},
        "logging": {"heartbeat_interval": 0.2, "log_orders": False},
        "http": {"enabled": True, "port": 0},
        "gateways": [{"id": "binance", "plugin": "ccxt", **options}],
        "strategies": [{"id": "sma", "plugin": "sma_cross", "gateway": "binance",
                        "symbols": ["NKN/USDT"]}],
    })


class Daemon:
    def __init__(self, kernel: TradingKernel, ops: OpsService, http: aiohttp.ClientSession):
        self.kernel, self.ops, self.http = kernel, ops, http
        self.ready: list[tuple[int, dict[str, Any]]] = []

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.http.get(f"http://127.0.0.1:{self.ops.port}{path}") as response:
            body = await (response.json() if "json" in response.content_type
                          else response.text())
            return response.status, body

    async def readyz(self) -> int:
        status, body = await self.get("/readyz")
        self.ready.append((status, body))
        return status

    async def connected_metric(self) -> float:
        _, text = await self.get("/metrics")
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "libra_gateway_connected":
                    return sample.value
        raise AssertionError("no libra_gateway_connected sample")


@pytest.fixture
async def notify_socket(tmp_path: Path) -> AsyncIterator[socket.socket]:
    """A datagram socket standing in for systemd's, drained as messages arrive."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    loop.add_reader(sock.fileno(), sock.recv, 4096)
    yield sock
    loop.remove_reader(sock.fileno())
    sock.close()


@pytest.fixture
async def daemon(exchange, notify_socket) -> AsyncIterator[Daemon]:
    kernel = TradingKernel(kernel_config(exchange, stale_after=1.0))
    env = {"NOTIFY_SOCKET": notify_socket.getsockname(), "WATCHDOG_USEC": "100000"}
    ops = OpsService(kernel, environ=env, cache_ttl=0)
    await kernel.start()
    await ops.start()
    async with aiohttp.ClientSession() as http:
        yield Daemon(kernel, ops, http)
    await ops.stop()
    await kernel.stop()


async def keep_quoting(exchange: Any) -> None:
    while True:
        if exchange.serving:
            await exchange.push_book_ticker("NKNUSDT", "0.35100000", "0.35200000")
        await asyncio.sleep(0.05)


async def test_readyz_follows_the_venue_away_and_back(loop_errors, exchange, daemon):
    await asyncio.wait_for(exchange.wait_for_subscription(BOOK), 5)
    async with asyncio.TaskGroup() as tasks:
        quoting = tasks.create_task(keep_quoting(exchange))
        await eventually(_is(daemon, 200), interval=0.05)
        assert await daemon.connected_metric() == 1
        pinger = daemon.ops.watchdog
        assert pinger is not None
        with capture_logs() as logs:
            await exchange.go_away()
            away = asyncio.get_running_loop().time()
            await eventually(_is(daemon, 503), timeout=2.0, interval=0.05)
            assert asyncio.get_running_loop().time() - away < 1.0  # one staleness interval
            _, body = daemon.ready[-1]
            assert any("gateway binance is not connected" in r for r in body["reasons"])
            assert await daemon.connected_metric() == 0
            _, status = await daemon.get("/api/status")
            assert status["gateways"]["binance"]["connected"] is False
            await eventually(lambda: any(
                line["event"] == "kernel.heartbeat"
                and line["gateways"]["binance"]["connected"] is False for line in logs))
            # Silent beyond the staleness interval: the stream is named with its real silence.
            await eventually(_is(daemon, 503, "quote:NKN/USDT silent"), interval=0.05)
            pings = pinger.pings
            await eventually(lambda: pinger.pings >= pings + 3)
            assert pinger.skipped == 0
            await exchange.come_back()
            await eventually(_is(daemon, 200), interval=0.05)
        quoting.cancel()
    assert await daemon.connected_metric() == 1
    names = [line["event"] for line in logs]
    assert "gateway.disconnected" in names
    assert "stream.recovered" in names
    [back] = [line for line in logs if line["event"] == "gateway.reconnected"]
    assert back["downtime"] > 0
    _, stale = next((s, b) for s, b in daemon.ready if s == 503 and "silent" in str(b))
    silent = next(r for r in stale["reasons"] if "silent" in r)
    seconds = float(silent.split("quote:NKN/USDT silent ")[1].split("s")[0])
    assert 1.0 <= seconds < 5.0


def _is(daemon: Daemon, expected: int, reason: str = "") -> Any:
    """Return a check: ``/readyz`` answers ``expected`` with ``reason`` among its reasons."""
    async def check() -> bool:
        status = await daemon.readyz()
        return status == expected and reason in str(daemon.ready[-1][1])

    return check
