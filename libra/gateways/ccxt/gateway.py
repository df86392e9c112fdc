"""CCXTGateway: a venue reached through ccxt (REST and websockets)."""

from __future__ import annotations

from typing import Any

from libra.core.errors import GatewayError
from libra.plugins.base import GatewayPlugin, PluginMetadata


class CCXTGateway(GatewayPlugin):
    """Exchanges supported by ccxt."""

    @classmethod
    def metadata(cls) -> PluginMetadata:
        return PluginMetadata.create(
            name="ccxt",
            version="0.1.0",
            description="Real exchanges through ccxt: REST and websockets",
            author="LIBRA developers",
            requires=["ccxt>=4"],
        )

    async def connect(self) -> None:
        raise GatewayError("the ccxt gateway is not available in this version of LIBRA")

    async def disconnect(self) -> None:
        return None

    async def submit_order(self, order: Any) -> None:
        raise GatewayError("not connected")

    async def cancel_order(self, order: Any) -> None:
        raise GatewayError("not connected")
