"""Public market state of the local exchange: order books, top of book, trades, klines.

The state is built from the recorded snapshots and advanced by recorded (or pushed)
frames. Each ``apply_*`` method returns the frames to publish as ``(channel, payload)``
pairs, where a channel is ``"<lowercase symbol>@<kind>"`` (``depth``, ``bookTicker``,
``ticker``, ``miniTicker``, ``trade``, ``aggTrade``, ``kline_1m``).

Depth frames are renumbered so that update ids always continue the server's own book:
the stream stays consistent with ``GET /api/v3/depth`` whatever the replay position,
and the recorded prices and sizes are kept unchanged.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from libra.testing.exchange.data import DepthSnapshot, MarketData

__all__ = ["Market", "SymbolState", "TopOfBook"]

Frame = tuple[str, dict[str, Any]]
_MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class TopOfBook:
    """Best bid and ask as Binance strings."""

    bid: str
    bid_qty: str
    ask: str
    ask_qty: str

    @property
    def bid_price(self) -> Decimal:
        """Return the best bid as a Decimal."""
        return Decimal(self.bid)

    @property
    def ask_price(self) -> Decimal:
        """Return the best ask as a Decimal."""
        return Decimal(self.ask)


@dataclass(slots=True)
class _Book:
    bids: dict[Decimal, tuple[str, str]] = field(default_factory=dict)
    asks: dict[Decimal, tuple[str, str]] = field(default_factory=dict)

    def load(self, snapshot: DepthSnapshot) -> None:
        self.bids = {Decimal(p): (p, q) for p, q in snapshot.bids}
        self.asks = {Decimal(p): (p, q) for p, q in snapshot.asks}

    def apply(self, bids: Iterable[list[str]], asks: Iterable[list[str]]) -> None:
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for price, qty in levels:
                key = Decimal(price)
                if Decimal(qty) == 0:
                    side.pop(key, None)
                else:
                    side[key] = (price, qty)

    def levels(self, limit: int) -> tuple[list[list[str]], list[list[str]]]:
        bids = [list(self.bids[p]) for p in sorted(self.bids, reverse=True)[:limit]]
        asks = [list(self.asks[p]) for p in sorted(self.asks)[:limit]]
        return bids, asks

    def top(self) -> TopOfBook | None:
        if not self.bids or not self.asks:
            return None
        bid, bid_qty = self.bids[max(self.bids)]
        ask, ask_qty = self.asks[min(self.asks)]
        return TopOfBook(bid, bid_qty, ask, ask_qty)


@dataclass(slots=True)
class SymbolState:
    """Public state of one symbol."""

    symbol: str
    book: _Book | None = None
    update_id: int = 1
    top: TopOfBook | None = None
    last_price: str | None = None
    kline: dict[str, Any] | None = None
    trade_id: int = 1
    agg_trade_id: int = 1
    trades: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=500))

    def depth(self, limit: int) -> dict[str, Any]:
        """Return the body of ``GET /api/v3/depth`` for this symbol."""
        if self.book is not None:
            bids, asks = self.book.levels(limit)
        elif self.top is not None:
            bids, asks = [[self.top.bid, self.top.bid_qty]], [[self.top.ask, self.top.ask_qty]]
        else:
            bids, asks = [], []
        return {"lastUpdateId": self.update_id, "bids": bids, "asks": asks}


class Market:
    """All symbols' public state, advanced by recorded or pushed frames.

    Args:
        data: the recorded data (markets and depth snapshots).
        clock_ms: returns the current time in milliseconds.
    """

    def __init__(self, data: MarketData, clock_ms: Callable[[], int]) -> None:
        self._clock_ms = clock_ms
        self._ticker_template = data.template("ticker_24hr")
        self._trade_template = data.template("trade")
        self.symbols: dict[str, SymbolState] = {}
        for info in data.exchange_info["symbols"]:
            self.symbols[info["symbol"]] = SymbolState(symbol=info["symbol"])
        for symbol, snapshot in data.snapshots.items():
            state = self.symbols[symbol]
            state.book = _Book()
            state.book.load(snapshot)
            state.update_id = snapshot.last_update_id
            state.top = state.book.top()

    def get(self, symbol: str) -> SymbolState | None:
        """Return the state of ``symbol`` (Binance id, e.g. ``"NKNUSDT"``) if listed."""
        return self.symbols.get(symbol.upper())

    def apply_recorded(self, stream: str, payload: dict[str, Any]) -> list[Frame]:
        """Apply one recorded frame and return what to publish."""
        event = payload.get("e")
        data = copy.deepcopy(payload)
        if event == "depthUpdate":
            return self.apply_depth(data)
        if event == "aggTrade":
            return self.apply_trade(data["s"], data["p"], data["q"], bool(data["m"]))
        if event == "kline":
            return self.apply_kline(data)
        if stream.endswith("@bookTicker"):
            return self.apply_book_ticker(data["s"], data["b"], data["B"], data["a"], data["A"])
        return []

    def apply_depth(self, data: dict[str, Any]) -> list[Frame]:
        """Apply a diff-depth event, renumbered to continue this server's book."""
        state = self.symbols[data["s"]]
        if state.book is None:
            state.book = _Book()
        span = max(int(data["u"]) - int(data["U"]), 0)
        data["U"] = state.update_id + 1
        data["u"] = state.update_id + 1 + span
        data["E"] = self._clock_ms()
        state.update_id = data["u"]
        state.book.apply(data.get("b", []), data.get("a", []))
        state.top = state.book.top()
        return [(f"{state.symbol.lower()}@depth", data)]

    def apply_book_ticker(
        self, symbol: str, bid: str, bid_qty: str, ask: str, ask_qty: str
    ) -> list[Frame]:
        """Set the top of book and return the ``bookTicker`` and ``24hrTicker`` frames."""
        state = self.symbols[symbol.upper()]
        state.top = TopOfBook(bid, bid_qty, ask, ask_qty)
        if state.book is None:
            state.update_id += 1
        book_ticker = {
            "u": state.update_id,
            "s": state.symbol,
            "b": bid,
            "B": bid_qty,
            "a": ask,
            "A": ask_qty,
        }
        lower = state.symbol.lower()
        ticker = self.ticker(state)
        mini = {key: ticker[key] for key in ("s", "c", "o", "h", "l", "v", "q")}
        mini.update(e="24hrMiniTicker", E=ticker["E"])
        return [
            (f"{lower}@bookTicker", book_ticker),
            (f"{lower}@ticker", ticker),
            (f"{lower}@miniTicker", mini),
        ]

    def apply_trade(self, symbol: str, price: str, qty: str, buyer_is_maker: bool) -> list[Frame]:
        """Record a public trade and return the ``trade`` and ``aggTrade`` frames."""
        state = self.symbols[symbol.upper()]
        now = self._clock_ms()
        state.last_price = price
        trade = dict(self._trade_template["data"])
        trade.update(
            E=now,
            s=state.symbol,
            t=state.trade_id,
            p=price,
            q=qty,
            b=state.trade_id * 2,
            a=state.trade_id * 2 + 1,
            T=now,
            m=buyer_is_maker,
            M=True,
        )
        agg = {
            "e": "aggTrade",
            "E": now,
            "s": state.symbol,
            "a": state.agg_trade_id,
            "p": price,
            "q": qty,
            "f": state.trade_id,
            "l": state.trade_id,
            "T": now,
            "m": buyer_is_maker,
            "M": True,
        }
        state.trades.append(trade)
        state.trade_id += 1
        state.agg_trade_id += 1
        lower = state.symbol.lower()
        return [(f"{lower}@trade", trade), (f"{lower}@aggTrade", agg)]

    def apply_kline(self, data: dict[str, Any]) -> list[Frame]:
        """Re-time a kline event to the current minute and return it."""
        state = self.symbols[data["s"]]
        now = self._clock_ms()
        start = now - now % _MINUTE_MS
        data["E"] = now
        data["k"].update(t=start, T=start + _MINUTE_MS - 1)
        state.kline = data["k"]
        state.last_price = data["k"]["c"]
        return [(f"{state.symbol.lower()}@kline_1m", data)]

    def ticker(self, state: SymbolState) -> dict[str, Any]:
        """Return a ``24hrTicker`` event built from the symbol's current state."""
        now = self._clock_ms()
        top = state.top
        kline = state.kline or {}
        last = state.last_price or kline.get("c") or (top.bid if top else "0")
        ticker = dict(self._ticker_template)
        ticker.update(
            E=now,
            s=state.symbol,
            c=last,
            Q="0",
            b=top.bid if top else "0",
            B=top.bid_qty if top else "0",
            a=top.ask if top else "0",
            A=top.ask_qty if top else "0",
            o=kline.get("o", last),
            h=kline.get("h", last),
            l=kline.get("l", last),
            v=kline.get("v", "0"),
            q=kline.get("q", "0"),
            O=now - 86_400_000,
            C=now,
            F=max(state.trade_id - 1, 0),
            L=max(state.trade_id - 1, 0),
            n=int(kline.get("n", 0)),
        )
        ticker["p"] = f"{Decimal(last) - Decimal(ticker['o']):.8f}"
        ticker["P"] = "0.000"
        ticker["w"] = last
        ticker["x"] = ticker["o"]
        return ticker
