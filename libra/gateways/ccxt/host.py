"""What the parts of the ccxt gateway read from the gateway itself.

Order execution and the market data streams are their own classes, but the client, the
clock and the event sinks belong to ``CCXTGateway`` and change after construction (a
reconnect replaces the client, ``bind`` replaces the sinks), so each part reads them from
the gateway at each use. They see it through these Protocols, so no part imports the
gateway module.
"""

from __future__ import annotations

from typing import Any, Protocol

from libra.gateways.ccxt.config import CCXTGatewayConfig
from libra.gateways.ccxt.parse import Rejections


class GatewayHost(Protocol):
    """What every part of the ccxt gateway reads from it."""

    @property
    def id(self) -> str: ...

    @property
    def options(self) -> CCXTGatewayConfig: ...

    @property
    def exchange(self) -> Any: ...

    @property
    def logger(self) -> Any: ...

    @property
    def rejections(self) -> Rejections: ...

    def now(self) -> int: ...
