"""A real kernel (paper venue replaying bundled BTC/USD bars, ``sma_cross``) with its OpsService."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from libra.core.config import KernelConfig
from libra.core.kernel import TradingKernel
from libra.observability.service import OpsService
from libra.testing import eventually as _eventually
from libra.testing.factories import paper_config_data, paper_gateway

TOKEN = "op-token-5f1c2a"


@pytest.fixture
def eventually() -> Callable[..., Awaitable[None]]:
    """Return ``await eventually(predicate, timeout=10)``: wait until the predicate holds."""
    return _eventually


@pytest.fixture
def make_config() -> Callable[..., dict[str, Any]]:
    """Return ``make_config(speed=0, token=TOKEN, **sections)`` building a raw config."""
    return config_data


def config_data(speed: float = 0, token: str | None = TOKEN, **sections: Any) -> dict[str, Any]:
    """Return a raw config: http on a random port, one paper gateway, one sma_cross."""
    http: dict[str, Any] = {"enabled": True, "port": 0}
    if token is not None:
        http["token"] = token
    data: dict[str, Any] = {
        "kernel": {"name": "ops-test", "shutdown_timeout": 5},
        "logging": {"heartbeat_interval": 60, "log_orders": False},
        "http": http,
        "risk": {"max_order_quantity": "5"},
    }
    data.update(sections)
    sma = {"id": "sma", "plugin": "sma_cross",
           "params": {"fast": 5, "slow": 20, "quantity": "0.01"}}
    gateway = paper_gateway(balances={"USD": "1000000"}, speed=speed)
    return paper_config_data(sma, gateway=gateway, **data)


class Daemon:
    """One kernel and its OpsService, torn down by the fixture."""

    def __init__(self, kernel: TradingKernel, ops: OpsService) -> None:
        self.kernel = kernel
        self.ops = ops

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ops.port}"

    @property
    def feed_finished(self) -> bool:
        feed = self.kernel.gateways["paper"].feed  # type: ignore[attr-defined]
        return feed is not None and feed.finished


Factory = Callable[..., Awaitable[Daemon]]


@pytest.fixture
async def daemon_factory() -> AsyncIterator[Factory]:
    """Build, start and later stop kernels with their OpsService (ops stops first)."""
    made: list[Daemon] = []

    async def make(raw: dict[str, Any] | None = None, *, start_kernel: bool = True,
                   config_path: Path | None = None, **ops_options: Any) -> Daemon:
        kernel = TradingKernel(KernelConfig.model_validate(copy.deepcopy(raw or config_data())))
        ops = OpsService(kernel, config_path, **ops_options)
        daemon = Daemon(kernel, ops)
        made.append(daemon)
        if start_kernel:
            await kernel.start()
        await ops.start()
        return daemon

    yield make
    for daemon in reversed(made):
        await daemon.ops.stop()
        await daemon.kernel.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client session."""
    async with aiohttp.ClientSession() as session:
        yield session
