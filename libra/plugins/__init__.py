"""Plugin discovery and loading: the seed API ``libra.plugins``.

It also re-exports what a plugin author types against: the context a strategy gets, the
market and order events it receives, orders, positions, instruments, and the base of an
options model, so that one ``from libra.plugins import ...`` is enough.
"""

from libra.model.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from libra.model.events import Bar, MarketData, OrderBook, Quote, Trade
from libra.model.fills import Fill
from libra.model.instrument import Instrument
from libra.model.order_events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderPendingCancel,
    OrderRejected,
    OrderSubmitted,
)
from libra.model.orders import Order
from libra.model.positions import Position
from libra.plugins.base import GatewayPlugin, PluginMetadata, StrategyPlugin
from libra.plugins.context import StrategyContext
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
from libra.plugins.options import PluginOptions
from libra.plugins.venue import VenueOrderView, VenueStateStore

__all__ = [
    "Bar",
    "Fill",
    "GatewayPlugin",
    "Instrument",
    "MarketData",
    "Order",
    "OrderAccepted",
    "OrderBook",
    "OrderCancelRejected",
    "OrderCanceled",
    "OrderDenied",
    "OrderEvent",
    "OrderExpired",
    "OrderFilled",
    "OrderPendingCancel",
    "OrderRejected",
    "OrderSide",
    "OrderStatus",
    "OrderSubmitted",
    "OrderType",
    "PluginMetadata",
    "PluginOptions",
    "Position",
    "Quote",
    "StrategyContext",
    "StrategyPlugin",
    "TimeInForce",
    "Trade",
    "VenueOrderView",
    "VenueStateStore",
    "clear_cache",
    "describe_plugins",
    "discover_gateways",
    "discover_strategies",
    "list_gateway_plugins",
    "list_strategy_plugins",
    "load_gateway",
    "load_strategy",
]
