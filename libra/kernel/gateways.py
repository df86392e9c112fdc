"""Connect, run and disconnect the kernel's gateways, each with its own timeout.

A gateway that streams runs ``gateway.run()`` in a task the kernel owns (one per gateway,
named ``gateway:<id>``); a failure there is logged and the rest of the kernel runs on.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import structlog

from libra.core.cache import Cache
from libra.core.errors import GatewayError
from libra.plugins.base import GatewayPlugin
from libra.trading.portfolio import Portfolio


class GatewaySupervisor:
    """Own the connection and the streaming task of every gateway of one kernel."""

    def __init__(self, connect_timeout: float, cache: Cache, portfolio: Portfolio) -> None:
        self._timeout = connect_timeout
        self._cache = cache
        self._portfolio = portfolio
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._log = structlog.get_logger("libra.kernel")

    async def connect(self, gateway_id: str, gateway: GatewayPlugin) -> None:
        """Connect one gateway; load its instruments and balances.

        Raises:
            GatewayError: it failed or did not connect within ``kernel.connect_timeout``.
        """
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
        self._log.info("gateway.connected", gateway=gateway_id,
                       balances={k: str(v) for k, v in balances.items()})

    async def disconnect(self, gateway_id: str, gateway: GatewayPlugin) -> None:
        """Disconnect one gateway; a failure is logged, never raised."""
        try:
            async with asyncio.timeout(self._timeout):
                await gateway.disconnect()
        except Exception as exc:
            self._log.error("gateway.disconnect_failed", gateway=gateway_id,
                            error=f"{type(exc).__name__}: {exc}")
        else:
            self._log.info("gateway.disconnected", gateway=gateway_id)

    def run(self, gateway_id: str, gateway: GatewayPlugin) -> None:
        """Start the task that streams ``gateway`` until ``stop_all``."""
        self._tasks[gateway_id] = asyncio.get_running_loop().create_task(
            self._run(gateway_id, gateway), name=f"gateway:{gateway_id}"
        )

    async def stop_all(self) -> None:
        """Cancel every streaming task and wait for them to end."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def _run(self, gateway_id: str, gateway: GatewayPlugin) -> None:
        try:
            await gateway.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._log.error("gateway.failed", gateway=gateway_id,
                            error=f"{type(exc).__name__}: {exc}", exc_info=True)
