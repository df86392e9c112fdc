"""Strategies and gateways used by the kernel's tests (loaded as ``module:Class``).

The strategies record what they get (``RecordingStrategy``) and misbehave on top of it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from libra.core.errors import GatewayError
from libra.gateways.paper import PaperGateway
from libra.testing.factories import RecordingStrategy

#: Keeps every event it gets; configs load it as ``libra_test_plugins:Recording``.
Recording = RecordingStrategy


class Raising(RecordingStrategy):
    """Raises on every event."""

    async def on_data(self, data: Any) -> None:
        self.seen.append(data)
        raise RuntimeError(f"boom at {data['ts_event']}")


class Slow(RecordingStrategy):
    """Takes ``delay`` seconds per event (awaiting, as I/O-bound code does)."""

    async def on_data(self, data: Any) -> None:
        self.seen.append(data)
        await asyncio.sleep(float(self.config.get("delay", 0.05)))


class HangingShutdown(RecordingStrategy):
    """Never finishes ``shutdown()``: only a forced stop gets past it."""

    async def shutdown(self) -> None:
        self.log.info("hanging in shutdown")
        await asyncio.sleep(3600)


class FailingGateway(PaperGateway):
    """A paper venue whose connection always fails."""

    async def connect(self) -> None:
        raise GatewayError("venue unreachable: connection refused")
