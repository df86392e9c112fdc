"""The market data events, under the import path the plugin guide used before they moved
to ``libra.model.events``; ``libra.plugins`` re-exports them too."""

from libra.model.events import Bar, OrderBook, Quote, Trade, timeframe_to_ns

__all__ = ["Bar", "OrderBook", "Quote", "Trade", "timeframe_to_ns"]
