"""Cache: the kernel's in-memory view of the market and of trading state.

Market data is bounded: the latest quote, trade and book per symbol, and the
last ``bar_capacity`` bars per (symbol, timeframe). Orders, positions and
balances are owned elsewhere (execution engine, portfolio) and indexed here
for lookups by strategies and the status API.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from libra.model.events import Bar, OrderBook, Quote, Trade, timeframe_to_ns


class Cache:
    """Latest market data per symbol plus trading state indexes."""

    def __init__(self, bar_capacity: int = 1000, closed_order_capacity: int = 10_000) -> None:
        self.bar_capacity = bar_capacity
        #: Closed orders kept in memory; older ones live only in the state store,
        #: so a daemon running for months does not grow without bound.
        self.closed_order_capacity = closed_order_capacity
        self._closed: deque[Any] = deque()  # closed orders, oldest first
        self.instruments: dict[str, Any] = {}
        self.quotes: dict[str, Quote] = {}
        self.trades: dict[str, Trade] = {}
        self.books: dict[str, OrderBook] = {}
        self.last_prices: dict[str, Any] = {}
        self._bars: dict[tuple[str, str], deque[Bar]] = {}
        self.orders: dict[str, Any] = {}
        self._open_orders: dict[str, Any] = {}
        self.positions: dict[tuple[str, str], Any] = {}
        self.balances: dict[str, dict[str, Any]] = {}
        self.events_seen = 0

    def add_market_data(self, event: Any) -> None:
        """Record one market data event (used as a bus handler)."""
        self.events_seen += 1
        kind = event.kind
        symbol = event.symbol
        if kind == "bar":
            key = (symbol, event.timeframe)
            bars = self._bars.get(key)
            if bars is None:
                bars = self._bars[key] = deque(maxlen=self.bar_capacity)
            bars.append(event)
            self.last_prices[symbol] = event.close
        elif kind == "quote":
            self.quotes[symbol] = event
            self.last_prices[symbol] = event.price
        elif kind == "trade":
            self.trades[symbol] = event
            self.last_prices[symbol] = event.price
        elif kind == "book":
            self.books[symbol] = event
            price = event.price
            if price is not None:
                self.last_prices[symbol] = price

    def bars(self, symbol: str, timeframe: str) -> list[Bar]:
        """Return the cached bars, oldest first."""
        return list(self._bars.get((symbol, timeframe), ()))

    def bar(self, symbol: str, timeframe: str) -> Bar | None:
        """Return the latest bar, or ``None``."""
        bars = self._bars.get((symbol, timeframe))
        return bars[-1] if bars else None

    def latest_bar(self, symbol: str) -> Bar | None:
        """Return the newest bar of ``symbol`` in any timeframe (the shortest on a tie)."""
        latest = [bars[-1] for (name, _), bars in self._bars.items() if name == symbol and bars]
        if not latest:
            return None
        return min(latest, key=lambda bar: (-bar.ts_event, timeframe_to_ns(bar.timeframe)))

    def quote(self, symbol: str) -> Quote | None:
        return self.quotes.get(symbol)

    def trade(self, symbol: str) -> Trade | None:
        return self.trades.get(symbol)

    def book(self, symbol: str) -> OrderBook | None:
        return self.books.get(symbol)

    def last_price(self, symbol: str) -> Any:
        """Return the latest known price of ``symbol`` (bar close, trade, quote mid), or None."""
        return self.last_prices.get(symbol)

    def add_instrument(self, instrument: Any) -> None:
        self.instruments[instrument.symbol] = instrument

    def instrument(self, symbol: str) -> Any:
        return self.instruments.get(symbol)

    def add_order(self, order: Any) -> None:
        self.orders[order.client_order_id] = order
        self.update_order(order)

    def update_order(self, order: Any) -> None:
        """Keep the open-order index right after ``order`` changed status."""
        if order.is_open:
            self._open_orders[order.client_order_id] = order
            return
        self._open_orders.pop(order.client_order_id, None)
        self._retire(order)

    def _retire(self, order: Any) -> None:
        closed = self._closed
        if closed and closed[-1] is order:
            return
        closed.append(order)
        while len(closed) > self.closed_order_capacity:
            old = closed.popleft()
            key = old.client_order_id
            if not old.is_open and self.orders.get(key) is old:
                del self.orders[key]

    def order(self, client_order_id: str) -> Any:
        return self.orders.get(client_order_id)

    def open_order_count(self, strategy_id: str | None = None) -> int:
        """Return how many orders are open, optionally of one strategy."""
        if strategy_id is None:
            return len(self._open_orders)
        return sum(1 for o in self._open_orders.values() if o.strategy_id == strategy_id)

    def open_orders(self, strategy_id: str | None = None, symbol: str | None = None) -> list[Any]:
        """Return open orders, optionally of one strategy and/or symbol."""
        return [
            o
            for o in self._open_orders.values()
            if (strategy_id is None or o.strategy_id == strategy_id)
            and (symbol is None or o.symbol == symbol)
        ]
