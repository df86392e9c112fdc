"""Native strategies for backtest tests (loaded as ``backtest_strategies:Class``)."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise
from typing import Any

from libra.data import load_bars
from libra.testing.factories import RecordingStrategy


class PeekingStrategy(RecordingStrategy):
    """Trades on the next candle's close, read from the data file (a lookahead bug).

    ``params.data`` names the file the venue replays; the strategy loads it whole, as a
    vectorised research script would, and looks one row ahead.
    """

    async def initialize(self, context: Any) -> None:
        await super().initialize(context)
        params = context.get("config") or {}
        self.quantity = Decimal(str(params.get("quantity", "1")))
        bars = load_bars(params["data"], symbol=(context.get("symbols") or ["X/Y"])[0])
        self.next_close = {bar.ts_event: following.close
                           for bar, following in pairwise(bars)}

    async def on_data(self, data: Any) -> None:
        upcoming = self.next_close.get(data.ts_event)
        if upcoming is None:
            return
        held = self.get_position(data.symbol).quantity
        if upcoming > data.close and not held:
            self.buy_market(data.symbol, self.quantity)
        elif upcoming < data.close and held:
            self.sell_market(data.symbol, held)


class BuyAndHold(RecordingStrategy):
    """Buys ``params.quantities[symbol]`` of each symbol on its first bar; never sells."""

    async def initialize(self, context: Any) -> None:
        await super().initialize(context)
        params = context.get("config") or {}
        self.quantities = {k: Decimal(str(v)) for k, v in params["quantities"].items()}
        self.bought: set[str] = set()

    async def on_data(self, data: Any) -> None:
        self.seen.append(data)
        if data.symbol not in self.bought:
            self.bought.add(data.symbol)
            self.buy_market(data.symbol, self.quantities[data.symbol])
