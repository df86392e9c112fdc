"""The ``paper`` gateway: a simulated venue filling orders against market data."""

from libra.gateways.paper.config import PaperGatewayConfig
from libra.gateways.paper.gateway import PaperGateway

__all__ = ["PaperGateway", "PaperGatewayConfig"]
