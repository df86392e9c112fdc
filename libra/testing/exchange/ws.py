"""Websocket side of the local exchange: market streams, listenKey streams, websocket API.

Routes (see ``ccxt_config_for`` for the ccxt URLs that point here):

* ``/ws``, ``/ws/<anything>``: raw streams. Clients send Binance ``SUBSCRIBE`` /
  ``UNSUBSCRIBE`` / ``LIST_SUBSCRIPTIONS`` requests and receive bare payloads.
  ``/ws/<listenKey>`` (a key from ``POST /api/v3/userDataStream``) is a user data stream.
* ``/stream?streams=a/b``: combined streams, payloads wrapped as ``{"stream", "data"}``.
* ``/ws-api/v3``: the websocket API, enough of it for ``userDataStream.subscribe.signature``
  (what ccxt 4.5 uses for spot ``watch_orders`` / ``watch_my_trades`` / ``watch_balance``),
  ``userDataStream.unsubscribe``, ``ping`` and ``time``. User events arrive there as
  ``{"subscriptionId": n, "event": {...}}``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import WSMsgType, web

from libra.testing.exchange.errors import BinanceApiError
from libra.testing.exchange.faults import Faults, SocketKind
from libra.testing.exchange.signing import Credentials

__all__ = ["SocketHub", "channel_of"]


def channel_of(stream: str) -> str:
    """Map a subscribed stream name to the channel frames are published on.

    ``nknusdt@depth@100ms`` and ``nknusdt@depth`` both read ``nknusdt@depth``.
    """
    name = stream.strip()
    base, _, rest = name.partition("@")
    if rest.startswith("depth@") and rest.endswith("ms"):
        rest = "depth"
    return f"{base.lower()}@{rest}"


@dataclass(eq=False, slots=True)
class _Socket:
    ws: web.WebSocketResponse
    request: web.Request
    kind: Literal["market", "user"]
    combined: bool = False
    streams: set[str] = field(default_factory=set)
    subscription_id: int | None = None
    ws_api: bool = False


class SocketHub:
    """All open websockets and the frames going out to them.

    Args:
        faults: the exchange's fault switches (applied to every outgoing frame).
        credentials: for websocket API signature checks.
        clock_ms: returns the server time in milliseconds.
    """

    def __init__(
        self, faults: Faults, credentials: Credentials, clock_ms: Callable[[], int]
    ) -> None:
        self._faults = faults
        self._credentials = credentials
        self._clock_ms = clock_ms
        self._sockets: set[_Socket] = set()
        self._changed = asyncio.Condition()
        self._subscription_ids = 0
        self.listen_keys: set[str] = set()

    # -- queries used by tests --------------------------------------------------------

    def subscribers(self, stream: str) -> int:
        """Return how many market sockets receive ``stream``."""
        channel = channel_of(stream)
        return sum(
            1
            for s in self._sockets
            if s.kind == "market" and any(channel_of(n) == channel for n in s.streams)
        )

    def user_subscribers(self) -> int:
        """Return how many sockets receive user data."""
        return sum(1 for s in self._sockets if s.kind == "user" and s.subscription_id is not None)

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` is true; it is re-checked on every socket change."""
        async with self._changed:
            await self._changed.wait_for(predicate)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- publishing ------------------------------------------------------------------------

    async def publish(self, channel: str, payload: dict[str, Any]) -> int:
        """Send ``payload`` to every market socket subscribed to ``channel``."""
        if self._faults.is_stalled("market"):
            return 0
        sent = 0
        for sock in list(self._sockets):
            if sock.kind != "market":
                continue
            for name in [n for n in sock.streams if channel_of(n) == channel]:
                frame = {"stream": name, "data": payload} if sock.combined else payload
                sent += await self._send(sock, self._faults.apply_to_frame(name, frame))
        return sent

    async def publish_user(self, event: dict[str, Any]) -> int:
        """Send a user-data event to every user-data socket."""
        if self._faults.is_stalled("user"):
            return 0
        sent = 0
        for sock in list(self._sockets):
            if sock.kind != "user" or sock.subscription_id is None:
                continue
            frame: dict[str, Any] = (
                {"subscriptionId": sock.subscription_id, "event": event} if sock.ws_api else event
            )
            sent += await self._send(sock, self._faults.apply_to_frame(str(event.get("e")), frame))
        return sent

    async def _send(self, sock: _Socket, text: str) -> int:
        if sock.ws.closed:
            return 0
        try:
            await sock.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            return 0
        return 1

    async def close(self, kind: SocketKind = "all", *, abrupt: bool = False) -> int:
        """Close sockets of ``kind``; ``abrupt`` drops the TCP connection without a close frame."""
        targets = [s for s in self._sockets if kind == "all" or s.kind == kind]
        for sock in targets:
            transport = sock.request.transport
            if abrupt and transport is not None:
                transport.abort()
            else:
                await sock.ws.close(code=1001, message=b"going away")
        return len(targets)

    # -- handlers ------------------------------------------------------------------------------

    async def handle_stream(self, request: web.Request) -> web.WebSocketResponse:
        """Serve ``/ws``, ``/ws/{tail}`` and ``/stream``."""
        tail = request.match_info.get("tail", "")
        is_user = tail in self.listen_keys
        sock = await self._open(request, "user" if is_user else "market")
        if is_user:
            sock.subscription_id = self._next_subscription_id()
        if request.path == "/stream":
            sock.combined = True
            sock.streams.update(s for s in request.query.get("streams", "").split("/") if s)
        await self._notify()
        try:
            async for msg in sock.ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_stream_request(sock, msg.data)
        finally:
            await self._forget(sock)
        return sock.ws

    async def handle_ws_api(self, request: web.Request) -> web.WebSocketResponse:
        """Serve ``/ws-api/v3``."""
        sock = await self._open(request, "user")
        sock.ws_api = True
        try:
            async for msg in sock.ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_ws_api_request(sock, msg.data)
        finally:
            await self._forget(sock)
        return sock.ws

    async def _open(self, request: web.Request, kind: Literal["market", "user"]) -> _Socket:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        sock = _Socket(ws=ws, request=request, kind=kind)
        self._sockets.add(sock)
        return sock

    async def _forget(self, sock: _Socket) -> None:
        self._sockets.discard(sock)
        await self._notify()

    def _next_subscription_id(self) -> int:
        self._subscription_ids += 1
        return self._subscription_ids - 1

    async def _on_stream_request(self, sock: _Socket, text: str) -> None:
        try:
            request = json.loads(text)
            method, params, request_id = (
                request["method"],
                request.get("params", []),
                request.get("id"),
            )
        except (ValueError, KeyError, TypeError):
            await sock.ws.send_json(
                {"error": {"code": 3, "msg": "Invalid JSON: expected a request object"}}
            )
            return
        if method == "SUBSCRIBE":
            sock.streams.update(params)
            reply: dict[str, Any] = {"result": None, "id": request_id}
        elif method == "UNSUBSCRIBE":
            sock.streams.difference_update(params)
            reply = {"result": None, "id": request_id}
        elif method == "LIST_SUBSCRIPTIONS":
            reply = {"result": sorted(sock.streams), "id": request_id}
        elif method in ("SET_PROPERTY", "GET_PROPERTY"):
            reply = {"result": None, "id": request_id}
        else:
            reply = {
                "error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"},
                "id": request_id,
            }
        if not self._faults.is_stalled(sock.kind):
            await sock.ws.send_json(reply)
        await self._notify()

    async def _on_ws_api_request(self, sock: _Socket, text: str) -> None:
        try:
            request = json.loads(text)
            request_id, method = request.get("id"), request["method"]
            params = request.get("params", {})
        except (ValueError, KeyError, TypeError, AttributeError):
            await sock.ws.send_json(
                _ws_api_error(None, BinanceApiError(400, -1102, "Malformed request."))
            )
            return
        try:
            result = self._ws_api_call(sock, method, params)
        except BinanceApiError as exc:
            reply = _ws_api_error(request_id, exc)
        else:
            reply = {"id": request_id, "status": 200, "result": result, "rateLimits": []}
        if not self._faults.is_stalled("user"):
            await sock.ws.send_json(reply)
        await self._notify()

    def _ws_api_call(self, sock: _Socket, method: str, params: dict[str, Any]) -> Any:
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": self._clock_ms()}
        if method == "userDataStream.subscribe.signature":
            self._credentials.verify_ws_api(params)
            sock.subscription_id = self._next_subscription_id()
            return {"subscriptionId": sock.subscription_id}
        if method == "userDataStream.unsubscribe":
            sock.subscription_id = None
            return {}
        raise BinanceApiError(400, -1020, "This operation is not supported.")

    def new_listen_key(self) -> str:
        """Issue a listenKey for ``/ws/<listenKey>``."""
        key = secrets.token_urlsafe(45)[:60]
        self.listen_keys.add(key)
        return key


def _ws_api_error(request_id: Any, exc: BinanceApiError) -> dict[str, Any]:
    return {"id": request_id, "status": exc.status, "error": {"code": exc.code, "msg": exc.msg}}
