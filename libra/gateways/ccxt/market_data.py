"""Public market data of a ccxt venue: what each (symbol, channel) stream does per step.

Each channel (quote, trade, bar, book) reads a ``watch_*`` websocket when the venue has
one and polls the matching REST call otherwise; either way a step turns the venue's
payload into LIBRA events, counts the invalid ones and marks the stream alive. The
supervisor (``streams.py``) runs the steps; the gateway decides which streams exist.

The streams reach the gateway only through ``MarketDataHost``, so this module never
imports the gateway: the client, the clock and the event sink all change after
construction (connect, ``bind``), and are read from the host at each step.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, Protocol

from libra.gateways.ccxt.errors import ccxt_module
from libra.gateways.ccxt.host import GatewayHost
from libra.gateways.ccxt.parse import (
    InvalidMessage,
    parse_bar,
    parse_book,
    parse_quote,
    parse_trade,
)
from libra.gateways.ccxt.sockets import SocketHooks
from libra.gateways.ccxt.streams import BarCloser, Step, StreamState, StreamSupervisor
from libra.model.events import timeframe_to_ns

_MS = 1_000_000


class MarketDataHost(GatewayHost, Protocol):
    """What the market data streams need from their gateway (``CCXTGateway``)."""

    @property
    def supervisor(self) -> StreamSupervisor: ...

    @property
    def sockets(self) -> SocketHooks: ...

    def emit_data(self, event: Any) -> None: ...


class MarketDataStreams:
    """The public market data streams of one ``CCXTGateway``."""

    def __init__(self, host: MarketDataHost) -> None:
        self.host = host

    def start(self, symbol: str, channel: str) -> None:
        """Start the supervised loop of ``channel`` for ``symbol`` (a websocket if possible)."""
        has = self.host.exchange.has
        watch = {"quote": has.get("watchBidsAsks") or has.get("watchTicker"),
                 "trade": has.get("watchTrades"), "bar": has.get("watchOHLCV"),
                 "book": has.get("watchOrderBook")}[channel]
        state = StreamState(f"{channel}:{symbol}", channel, symbol,
                            "websocket" if watch else "polling", watched=bool(watch))
        builders = {"quote": self._quote_step, "trade": self._trade_step,
                    "bar": self._bar_step, "book": self._book_step}
        self.host.supervisor.start(state, builders[channel](state, symbol))

    def _reject(self, state: StreamState, exc: InvalidMessage, raw: Any) -> None:
        self.host.rejections.reject(state.name, exc.reason, raw)

    def _quote_step(self, state: StreamState, symbol: str) -> Step:
        host = self.host
        receive_time = "quote" in host.options.receive_time_channels
        use_bids_asks = bool(host.exchange.has.get("watchBidsAsks"))

        async def step() -> None:
            if state.mode == "polling":
                ticker = await host.exchange.fetch_ticker(symbol)
            elif use_bids_asks:
                ticker = (await host.exchange.watch_bids_asks([symbol])).get(symbol)
            else:
                ticker = await host.exchange.watch_ticker(symbol)
            state.mark(time.monotonic())
            try:
                host.emit_data(parse_quote(host.id, symbol, ticker or {}, host.now(),
                                           receive_time))
            except InvalidMessage as exc:
                self._reject(state, exc, ticker)
            if state.mode == "polling":
                await asyncio.sleep(host.options.poll_interval)

        return step

    def _trade_step(self, state: StreamState, symbol: str) -> Step:
        host = self.host
        seen: deque[str] = deque(maxlen=1000)
        since: list[int | None] = [None]

        async def step() -> None:
            if state.mode == "polling":
                trades = await host.exchange.fetch_trades(symbol, since[0])
            else:
                trades = await host.exchange.watch_trades(symbol)
            state.mark(time.monotonic())
            now = host.now()
            for raw in trades:
                try:
                    trade = parse_trade(host.id, symbol, raw, now)
                except InvalidMessage as exc:
                    self._reject(state, exc, raw)
                    continue
                if trade.trade_id in seen:
                    continue
                seen.append(trade.trade_id)
                since[0] = trade.ts_event // _MS
                host.emit_data(trade)
            if state.mode == "polling":
                await asyncio.sleep(host.options.poll_interval)

        return step

    def _bar_step(self, state: StreamState, symbol: str) -> Step:
        host = self.host
        timeframe = host.options.timeframe
        timeframe_ns = timeframe_to_ns(timeframe)
        closer = BarCloser(timeframe_ns // _MS, int(host.options.bar_close_grace * 1000))
        started_ms = time.time_ns() // _MS

        async def step() -> None:
            if state.mode == "polling":
                since = (closer.last_closed_ms + 1 if closer.last_closed_ms >= 0
                         else started_ms - timeframe_ns // _MS)
                rows = await host.exchange.fetch_ohlcv(symbol, timeframe, since)
            else:
                rows = await host.exchange.watch_ohlcv(symbol, timeframe)
            state.mark(time.monotonic())
            now = host.now()
            for row in closer.update(rows, time.time_ns() // _MS):
                try:
                    host.emit_data(parse_bar(host.id, symbol, timeframe, timeframe_ns, row, now))
                except InvalidMessage as exc:
                    self._reject(state, exc, row)
            if state.mode == "polling":
                await asyncio.sleep(host.options.poll_interval)

        return step

    def _book_step(self, state: StreamState, symbol: str) -> Step:
        host = self.host
        receive_time = "book" in host.options.receive_time_channels
        depth = host.options.book_depth

        async def step() -> None:
            if state.mode == "polling":
                book = await host.exchange.fetch_order_book(symbol)
            else:
                book = await host.exchange.watch_order_book(symbol)
            state.mark(time.monotonic())
            try:
                host.emit_data(parse_book(host.id, symbol, book, depth, host.now(), receive_time))
            except InvalidMessage as exc:
                self._reject(state, exc, {"bids": book.get("bids", [])[:3],
                                          "asks": book.get("asks", [])[:3]})
            if state.mode == "polling":
                await asyncio.sleep(host.options.poll_interval)

        return step

    async def force_reconnect(self, state: StreamState) -> None:
        """Fail the websocket behind a silent stream so that ccxt opens a new one.

        Only that stream's own socket is closed: the other streams, of this symbol or
        others, are on sockets that deliver (or have their own watchdog turn).
        """
        host = self.host
        targets = host.sockets.sockets_of(state.channel, state.symbol or "")
        if targets:
            state.forced = True
        for client in targets:
            host.sockets.force_reconnect(client, ccxt_module().RequestTimeout(
                f"stream {state.name} silent for {host.options.stale_after}s"))
        host.logger.warning("stream.reconnect_forced", stream=state.name, sockets=len(targets),
                            silent=round(state.age(time.monotonic()), 3))
