"""The ``ccxt`` gateway: real exchanges over REST and websockets."""

from libra.gateways.ccxt.gateway import CCXTGateway

__all__ = ["CCXTGateway"]
