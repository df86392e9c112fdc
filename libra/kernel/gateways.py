"""Each gateway of the kernel as a component: connect, stream, disconnect, with timeouts.

A gateway plugin has ``connect``/``run``/``disconnect`` of its own; ``GatewayComponent``
puts them in the kernel's one component state machine (``libra.core.lifecycle``), so a
gateway is CREATED, STARTING (connecting), RUNNING, STOPPING (disconnecting), STOPPED or
FAILED like every other part, and ``status()`` can say which. Streaming runs
``gateway.run()`` in a task the component owns (``gateway:<id>``); a failure there is
logged and the rest of the kernel runs on.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import structlog

from libra.core.cache import Cache
from libra.core.errors import GatewayError
from libra.core.lifecycle import BaseComponent
from libra.plugins.base import GatewayPlugin
from libra.trading.portfolio import Portfolio


class GatewayComponent(BaseComponent):
    """One gateway plugin, connected on ``start`` and disconnected on ``stop``.

    Args:
        gateway_id: the gateway's id in the config.
        gateway: the plugin object.
        connect_timeout: seconds ``connect`` and ``disconnect`` may take each.
        cache: receives the venue's instruments.
        portfolio: receives the venue's balances.
    """

    def __init__(self, gateway_id: str, gateway: GatewayPlugin, connect_timeout: float,
                 cache: Cache, portfolio: Portfolio) -> None:
        super().__init__(f"gateway:{gateway_id}")
        self.gateway_id = gateway_id
        self.gateway = gateway
        self._timeout = connect_timeout
        self._cache = cache
        self._portfolio = portfolio
        self._task: asyncio.Task[None] | None = None
        self._events = structlog.get_logger("libra.kernel")

    async def _on_start(self) -> None:
        """Connect; load the venue's instruments and balances.

        Raises:
            GatewayError: it failed or did not connect within ``kernel.connect_timeout``.
        """
        gateway, gateway_id = self.gateway, self.gateway_id
        try:
            async with asyncio.timeout(self._timeout):
                await gateway.connect()
        except TimeoutError:
            raise GatewayError(
                f"gateway {gateway_id!r} did not connect within {self._timeout}s"
            ) from None
        for instrument in gateway.instruments().values():
            self._cache.add_instrument(instrument)
        balances: dict[str, Decimal] = await gateway.fetch_balances()
        if balances:
            self._portfolio.set_balances(gateway_id, balances)
        self._events.info("gateway.connected", gateway=gateway_id,
                          balances={k: str(v) for k, v in balances.items()})

    def stream(self) -> None:
        """Start the task that runs ``gateway.run()`` until ``stop_streaming``."""
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"gateway:{self.gateway_id}"
        )

    async def stop_streaming(self) -> None:
        """Cancel the streaming task and wait for it to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _on_stop(self) -> None:
        """Stop streaming and disconnect; a failure to disconnect is logged, not raised."""
        await self.stop_streaming()
        try:
            async with asyncio.timeout(self._timeout):
                await self.gateway.disconnect()
        except Exception as exc:
            self._events.error("gateway.disconnect_failed", gateway=self.gateway_id,
                               error=f"{type(exc).__name__}: {exc}")
        else:
            self._events.info("gateway.disconnected", gateway=self.gateway_id)

    async def _run(self) -> None:
        try:
            await self.gateway.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._events.error("gateway.failed", gateway=self.gateway_id,
                               error=f"{type(exc).__name__}: {exc}", exc_info=True)
