"""What the gateway learns from ccxt's websockets: which are down, which frames are unreadable.

ccxt opens, closes and reopens its websockets on its own; a stream loop only sees a watch
call that waits or raises, and a quiet stream (the account's orders when nothing trades)
looks the same as a dead one. Whether the venue is reachable shows in ccxt's own socket
callbacks (connected, error, closed by the venue), so the gateway listens to them and tells
its ``StreamSupervisor``, which keeps the gateway's connection state.

A frame ccxt cannot decode (cut JSON) or whose handler raises (a NaN price) raises inside
ccxt's receive callback, which then never reads that socket again although it stays open:
every stream on it falls silent until the staleness watchdog closes it. The guard counts
and logs such a frame instead and lets the socket read on. A failing socket also fails
futures nobody awaits any more; they are marked retrieved, so that reconnects do not fill
the log with asyncio's "Future exception was never retrieved".
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from libra.gateways.ccxt.parse import Rejections
from libra.gateways.ccxt.streams import StreamSupervisor

# How each channel's ccxt subscription keys read ("bidask:bookTicker@NKN/USDT",
# "ohlcv::NKN/USDT::1m"): the markers tell a stream's socket from the other sockets
# of the same symbol.
CHANNEL_MARKERS = {"quote": ("bidask", "ticker"), "trade": ("trade",),
                   "bar": ("ohlcv", "kline"), "book": ("orderbook", "depth")}


def _retrieving(client: Any, reject: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``client.reject`` so that each future it fails counts as retrieved.

    A failing socket rejects every future it holds, also those of a watch call that
    nobody awaits any more (its stream is sleeping a backoff, or raced and lost): asyncio
    would log each as "Future exception was never retrieved". An awaiting stream still
    gets the error.
    """
    def rejecting(result: Any, message_hash: Any = None) -> Any:
        futures = (list(client.futures.values()) if message_hash is None
                   else [client.futures.get(message_hash)])
        out = reject(result, message_hash)
        for future in futures:
            if future is not None and future.done() and not future.cancelled():
                future.exception()
        return out

    return rejecting


class SocketHooks:
    """Listen to the websocket callbacks of one ccxt client; guard its frame handling.

    Args:
        supervisor: told when a socket opens (``socket_up``) or fails (``socket_down``).
        rejections: counts and logs unreadable frames.
    """

    def __init__(self, supervisor: StreamSupervisor, rejections: Rejections) -> None:
        self._supervisor = supervisor
        self._rejections = rejections
        self._forced: weakref.WeakSet[Any] = weakref.WeakSet()
        self._exchange: Any = None

    def install(self, exchange: Any) -> None:
        """Wrap ``exchange``'s socket callbacks; call before its first ``watch_*``."""
        self._exchange = exchange
        on_connected, on_error = exchange.on_connected, exchange.on_error
        on_close, make_client = exchange.on_close, exchange.client

        def connected(client: Any, message: Any = None) -> None:
            on_connected(client, message)
            if self._exchange is exchange:
                self._supervisor.socket_up(client.url)

        def error(client: Any, exc: BaseException) -> None:
            current = self._is_current(exchange, client)
            on_error(client, exc)
            if current and client not in self._forced:
                self._supervisor.socket_down(client.url, exc)

        def closed(client: Any, code: Any) -> None:
            current = self._is_current(exchange, client) and not client.error
            on_close(client, code)
            if current and client not in self._forced:
                self._supervisor.socket_down(
                    client.url, ConnectionError(f"closed by the venue, code {code}"))

        def client_for(url: str) -> Any:
            client = make_client(url)
            if "handle_message" not in vars(client):
                client.handle_message = self._guard(client.handle_message)
                client.reject = _retrieving(client, client.reject)
            return client

        exchange.on_connected, exchange.on_error = connected, error
        exchange.on_close, exchange.client = closed, client_for

    def detach(self) -> None:
        """Stop reporting (the gateway is disconnecting: its sockets close on purpose)."""
        self._exchange = None

    def _is_current(self, exchange: Any, client: Any) -> bool:
        return self._exchange is exchange and (exchange.clients or {}).get(client.url) is client

    def _guard(self, handle: Callable[[Any], None]) -> Callable[[Any], None]:
        def guarded(message: Any) -> None:
            try:
                handle(message)
            except Exception as exc:
                self._rejections.reject("websocket", f"unreadable:{type(exc).__name__}",
                                        getattr(message, "data", message))

        return guarded

    def sockets_of(self, channel: str, symbol: str) -> list[Any]:
        """Return the open ccxt websocket clients carrying ``channel`` of ``symbol``."""
        clients = (getattr(self._exchange, "clients", None) or {}).values()
        markers = CHANNEL_MARKERS.get(channel, (channel,))
        return [c for c in clients
                if any(symbol in key and any(m in key.lower() for m in markers)
                       for key in map(str, [*c.subscriptions, *c.futures]))]

    def force_reconnect(self, client: Any, error: BaseException) -> None:
        """Fail ``client`` on purpose: its streams raise and ccxt opens a new socket.

        The failure is not a venue failure: it does not make the gateway disconnected.
        """
        self._forced.add(client)
        client.on_error(error)
