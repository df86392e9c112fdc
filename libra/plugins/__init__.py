"""Plugin discovery and loading: the seed API ``libra.plugins``."""

from libra.plugins.base import GatewayPlugin, PluginMetadata, StrategyPlugin
from libra.plugins.loader import (
    clear_cache,
    describe_plugins,
    discover_gateways,
    discover_strategies,
    list_gateway_plugins,
    list_strategy_plugins,
    load_gateway,
    load_strategy,
)

__all__ = [
    "GatewayPlugin",
    "PluginMetadata",
    "StrategyPlugin",
    "clear_cache",
    "describe_plugins",
    "discover_gateways",
    "discover_strategies",
    "list_gateway_plugins",
    "list_strategy_plugins",
    "load_gateway",
    "load_strategy",
]
