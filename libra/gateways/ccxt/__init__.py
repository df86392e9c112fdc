"""The ``ccxt`` gateway: real exchanges over REST and websockets."""

from libra.gateways.ccxt.config import CCXTGatewayConfig
from libra.gateways.ccxt.gateway import CCXTGateway
from libra.gateways.ccxt.parse import OrderReport

__all__ = ["CCXTGateway", "CCXTGatewayConfig", "OrderReport"]
