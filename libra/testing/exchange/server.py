"""``LocalExchange``: a Binance spot look-alike on 127.0.0.1 that unmodified ccxt trades against."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from libra.testing.exchange.data import MarketData, RecordedFrame, load_market_data
from libra.testing.exchange.faults import Faults, SocketKind
from libra.testing.exchange.history import History
from libra.testing.exchange.market import Frame, Market
from libra.testing.exchange.matching import MatchingEngine
from libra.testing.exchange.orders import Account, SymbolRules
from libra.testing.exchange.replay import Replayer
from libra.testing.exchange.rest import build_app
from libra.testing.exchange.signing import Credentials
from libra.testing.exchange.ws import SocketHub, channel_of

__all__ = ["DEFAULT_BALANCES", "LocalExchange", "LocalExchangeConfig"]

DEFAULT_BALANCES: Mapping[str, str] = {
    "USDT": "10000",
    "BTC": "1",
    "ETH": "10",
    "EUR": "10000",
    "NKN": "50000",
    "LRC": "10000",
    "BLZ": "10000",
    "RUNE": "1000",
}


@dataclass(frozen=True, slots=True)
class LocalExchangeConfig:
    """Settings of a :class:`LocalExchange`.

    Attributes:
        api_key: the only API key accepted (``X-MBX-APIKEY``).
        api_secret: the HMAC secret for that key.
        balances: initial free balance per asset, as decimal strings.
        fee_rate: commission rate, charged in the quote asset (``"0.001"`` = 0.1 %).
        replay: replay the recorded frames in a background task.
        replay_speed: replay speed; 1.0 is real time (the recording lasts 30 s).
        replay_loop: start the recording again after its last frame.
        host: address to bind; keep it on loopback.
        port: port to bind; 0 picks a free one.
        shutdown_timeout: seconds ``stop()`` gives open connections to finish.
    """

    api_key: str = "libra-local-api-key"
    api_secret: str = "libra-local-api-secret"
    balances: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_BALANCES))
    fee_rate: str = "0.001"
    replay: bool = True
    replay_speed: float = 10.0
    replay_loop: bool = True
    host: str = "127.0.0.1"
    port: int = 0
    shutdown_timeout: float = 2.0


class LocalExchange:
    """A Binance spot REST + websocket server on 127.0.0.1 for tests.

    Use it as an async context manager::

        async with LocalExchange() as exchange:
            client = ccxt.pro.binance(ccxt_config_for(exchange))
            try:
                await client.load_markets()
            finally:
                await client.close()

    Args:
        config: settings; ``LocalExchangeConfig()`` when omitted.
        data: recorded data to serve; the shipped recording when omitted.
    """

    def __init__(
        self, config: LocalExchangeConfig | None = None, data: MarketData | None = None
    ) -> None:
        self.config = config or LocalExchangeConfig()
        self.data = data or load_market_data()
        self.faults = Faults()
        #: Candles and trades served by ``klines`` and ``aggTrades`` (``history.add_candles``).
        self.history = History()
        self.credentials = Credentials(self.config.api_key, self.config.api_secret, self.clock_ms)
        self.market = Market(self.data, self.clock_ms)
        self.engine = MatchingEngine(
            rules={
                s["symbol"]: SymbolRules.from_exchange_info(s)
                for s in self.data.exchange_info["symbols"]
            },
            account=Account(),
            market=self.market,
            clock_ms=self.clock_ms,
            fee_rate=Decimal(self.config.fee_rate),
            report_template=self.data.template("execution_report")["data"],
        )
        for asset, amount in self.config.balances.items():
            self.engine.account.set(asset, Decimal(amount))
        self.hub = SocketHub(self.faults, self.credentials, self.clock_ms)
        self.replayer = Replayer(
            self.data.frames,
            self._apply_recorded,
            self.config.replay_speed,
            self.config.replay_loop,
        )
        self.closing = asyncio.Event()
        self._held: list[dict[str, Any]] = []
        self.requests: deque[tuple[float, str, str]] = deque(maxlen=10_000)
        self._runner: web.AppRunner | None = None
        self._stack = contextlib.AsyncExitStack()
        self._replay_task: asyncio.Task[None] | None = None
        self._port = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the server and start the replay task."""
        if self._runner is not None:
            raise RuntimeError("LocalExchange already started")
        await self._serve(self.config.port)
        tasks = await self._stack.enter_async_context(asyncio.TaskGroup())
        if self.config.replay:
            self._replay_task = tasks.create_task(self.replayer.run(), name="local-exchange-replay")

    async def _serve(self, port: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Coming back on the same port must not wait for the old connections' TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.config.host, port))
        self._port = sock.getsockname()[1]
        self._runner = web.AppRunner(
            build_app(self),
            handle_signals=False,
            shutdown_timeout=self.config.shutdown_timeout,
            access_log=None,
        )
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        """Stop replaying, release hanging requests, close sockets and the server."""
        self.closing.set()
        if self._replay_task is not None:
            self._replay_task.cancel()
        await self._stack.aclose()
        await self.hub.close("all")
        await self.go_away()

    async def go_away(self) -> None:
        """Vanish as a crashed server does: drop every connection and stop listening.

        Websockets are cut without a close frame and new connections are refused until
        :meth:`come_back`. The account, the open orders and the market state are kept.
        """
        await self.hub.close("all", abrupt=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def come_back(self) -> None:
        """Listen again on the same port after :meth:`go_away`."""
        if self._runner is not None:
            raise RuntimeError("LocalExchange is serving already")
        await self._serve(self._port)

    @property
    def serving(self) -> bool:
        """True while the server accepts connections (between start/come_back and go_away)."""
        return self._runner is not None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- addresses and identity -------------------------------------------------------------

    @property
    def url(self) -> str:
        """Return the HTTP base URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.config.host}:{self._port}"

    @property
    def ws_url(self) -> str:
        """Return the websocket base URL, e.g. ``ws://127.0.0.1:54321``."""
        return f"ws://{self.config.host}:{self._port}"

    @property
    def api_key(self) -> str:
        """Return the accepted API key."""
        return self.config.api_key

    @property
    def api_secret(self) -> str:
        """Return the HMAC secret of the accepted API key."""
        return self.config.api_secret

    @staticmethod
    def clock_ms() -> int:
        """Return the server time in milliseconds."""
        return time.time_ns() // 1_000_000

    # -- market data ------------------------------------------------------------------------

    async def push_frame(self, stream: str, payload: Mapping[str, Any]) -> int:
        """Send ``payload`` as is to subscribers of ``stream``; the market state is unchanged.

        Returns:
            how many sockets received it.
        """
        return await self.hub.publish(channel_of(stream), dict(payload))

    async def push_book_ticker(
        self,
        symbol: str,
        bid: str,
        ask: str,
        bid_qty: str = "1.00000000",
        ask_qty: str = "1.00000000",
    ) -> None:
        """Set the top of book of ``symbol`` (Binance id), publish it and run matching."""
        await self._publish_market(
            symbol.upper(), self.market.apply_book_ticker(symbol, bid, bid_qty, ask, ask_qty)
        )

    async def push_trade(
        self, symbol: str, price: str, qty: str, *, buyer_is_maker: bool = False
    ) -> None:
        """Print a public trade on ``symbol``, publish it and run matching against its price."""
        frames = self.market.apply_trade(symbol, price, qty, buyer_is_maker)
        await self._publish_market(symbol.upper(), frames, Decimal(price))

    async def _apply_recorded(self, frame: RecordedFrame) -> None:
        frames = self.market.apply_recorded(frame.stream, frame.payload)
        symbol = str(frame.payload.get("s", ""))
        trade_price = Decimal(frame.payload["p"]) if frame.payload.get("e") == "aggTrade" else None
        await self._publish_market(symbol, frames, trade_price)

    async def _publish_market(
        self, symbol: str, frames: list[Frame], trade_price: Decimal | None = None
    ) -> None:
        for channel, payload in frames:
            await self.hub.publish(channel, payload)
        if frames and symbol in self.engine.rules:
            await self.publish_user_events(self.engine.on_market(symbol, trade_price))

    def pause_replay(self) -> None:
        """Stop replaying recorded frames until :meth:`resume_replay`."""
        self.replayer.pause()

    def resume_replay(self) -> None:
        """Continue replaying recorded frames."""
        self.replayer.resume()

    # -- account and orders ---------------------------------------------------------------------

    async def fill_order(
        self,
        client_order_id: str,
        qty: str | Decimal,
        price: str | Decimal,
        *,
        is_maker: bool = True,
    ) -> None:
        """Force a fill of an open order, whatever the market does.

        Raises:
            KeyError: no open order has this client order id.
        """
        events = self.engine.force_fill(
            client_order_id, Decimal(qty), Decimal(price), is_maker=is_maker
        )
        await self.publish_user_events(events)

    def order(self, client_order_id: str) -> dict[str, Any] | None:
        """Return the latest order with this client id as ``GET /api/v3/order`` shows it."""
        order = self.engine.by_client_id.get(client_order_id)
        return None if order is None else order.view()

    def orders_placed(self) -> int:
        """Return how many orders the venue accepted."""
        return len(self.engine.orders)

    def balance(self, asset: str) -> tuple[Decimal, Decimal]:
        """Return (free, locked) of ``asset``."""
        account = self.engine.account
        return account.available(asset), account.locked.get(asset, Decimal(0))

    def set_balance(self, asset: str, free: str | Decimal) -> None:
        """Set the free balance of ``asset`` (no event is sent)."""
        self.engine.account.set(asset, Decimal(free))

    # -- user data stream --------------------------------------------------------------------------

    async def publish_user_events(
        self, events: Iterable[dict[str, Any]], *, immediate_fill: bool = False
    ) -> None:
        """Send user-data events, applying the user-stream fault switches."""
        ordered = list(events)
        if (
            immediate_fill
            and self.faults.fill_before_new_remaining > 0
            and ordered
            and ordered[0].get("x") == "NEW"
        ):
            self.faults.fill_before_new_remaining -= 1
            ordered = [*ordered[1:], ordered[0]]
        for event in ordered:
            copies = 1
            if event.get("x") == "TRADE" and self.faults.duplicate_fill_remaining > 0:
                self.faults.duplicate_fill_remaining -= 1
                copies = 2
            for _ in range(copies):
                if self.faults.should_hold(event):
                    self._held.append(event)
                else:
                    await self.hub.publish_user(event)

    async def release_user_events(self, *, reverse: bool = False) -> int:
        """Stop holding user events and send the held ones (newest first with ``reverse``)."""
        self.faults.holding = False
        held, self._held = self._held, []
        for event in reversed(held) if reverse else held:
            await self.hub.publish_user(event)
        return len(held)

    # -- sockets ----------------------------------------------------------------------

    async def drop_ws_connections(self, kind: SocketKind = "all", *, abrupt: bool = False) -> int:
        """Close the server side of open websockets of ``kind``.

        Args:
            kind: ``"market"``, ``"user"`` or ``"all"``.
            abrupt: drop the TCP connection without a websocket close frame.
        """
        return await self.hub.close(kind, abrupt=abrupt)

    async def wait_for_subscription(self, stream: str) -> None:
        """Wait until some market socket is subscribed to ``stream``.

        Bound the wait with ``asyncio.timeout``.
        """
        await self.hub.wait_until(lambda: self.hub.subscribers(stream) > 0)

    async def wait_for_user_stream(self) -> None:
        """Wait until some socket receives user-data events (bound it with ``asyncio.timeout``)."""
        await self.hub.wait_until(lambda: self.hub.user_subscribers() > 0)

    def request_times(self, method: str, path: str) -> list[float]:
        """Return when (``time.monotonic()``) each ``method path`` request arrived, oldest first."""
        return [at for at, m, p in self.requests if m == method.upper() and p == path]

    def with_config(self, **changes: Any) -> LocalExchange:
        """Return a new, unstarted exchange with some settings changed."""
        return LocalExchange(dataclasses.replace(self.config, **changes), self.data)
