"""Strategies and gateways used by the kernel's tests (loaded as ``module:Class``)."""

from __future__ import annotations

import asyncio
from typing import Any

from libra.core.errors import GatewayError
from libra.gateways.paper import PaperGateway
from libra.plugins.base import PluginMetadata, StrategyPlugin


class _Base(StrategyPlugin):
    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = config or {}
        self.seen: list[Any] = []
        self.shutdown_called = False

    @classmethod
    def metadata(cls) -> PluginMetadata:
        return PluginMetadata.create(name=cls.__name__.lower(), version="0", description="test")

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def symbols(self) -> list[str]:
        return list(self.config.get("symbols", []))

    async def initialize(self, context: dict[str, Any]) -> None:
        self.context = context

    async def on_data(self, data: Any) -> None:
        self.seen.append(data)

    async def shutdown(self) -> None:
        self.shutdown_called = True


class Recording(_Base):
    """Keeps every event it gets."""


class Raising(_Base):
    """Raises on every event."""

    async def on_data(self, data: Any) -> None:
        self.seen.append(data)
        raise RuntimeError(f"boom at {data['ts_event']}")


class Slow(_Base):
    """Takes ``delay`` seconds per event (awaiting, as I/O-bound code does)."""

    async def on_data(self, data: Any) -> None:
        self.seen.append(data)
        await asyncio.sleep(float(self.config.get("delay", 0.05)))


class HangingShutdown(_Base):
    """Never finishes ``shutdown()``: only a forced stop gets past it."""

    async def shutdown(self) -> None:
        self.log.info("hanging in shutdown")
        await asyncio.sleep(3600)


class FailingGateway(PaperGateway):
    """A paper venue whose connection always fails."""

    async def connect(self) -> None:
        raise GatewayError("venue unreachable: connection refused")
