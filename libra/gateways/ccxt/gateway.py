"""CCXTGateway: a venue reached through ccxt (REST and websockets).

``connect`` builds the ``ccxt.pro`` client, loads markets into LIBRA instruments and
reads balances. ``subscribe`` starts one supervised loop per (symbol, channel): a
``watch_*`` websocket stream, or REST polling when the venue has no such watch
(``market_data.py``). Orders are sent, canceled and resolved in tasks the gateway owns
(``execution.py``); private streams (``watch_orders`` / ``watch_my_trades``, or polling)
report what the venue did.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

import structlog

from libra.core.errors import GatewayError, GatewayUnavailable
from libra.gateways.ccxt.config import CCXTGatewayConfig
from libra.gateways.ccxt.errors import ccxt_module, describe, map_ccxt_errors
from libra.gateways.ccxt.execution import CCXTExecution
from libra.gateways.ccxt.market_data import MarketDataStreams
from libra.gateways.ccxt.parse import (
    OrderReport,
    Rejections,
    client_order_id_of,
    instrument_from_market,
    parse_balances,
)
from libra.gateways.ccxt.ratelimit import VenueBackoff
from libra.gateways.ccxt.sockets import SocketHooks
from libra.gateways.ccxt.streams import Backoff, Step, StreamState, StreamSupervisor, TaskSet
from libra.model.fills import Fill
from libra.model.instrument import Instrument
from libra.model.order_events import OrderCancelRejected, OrderRejected
from libra.plugins.base import GatewayPlugin, PluginMetadata

_MS = 1_000_000
_TRADES_LIMIT = 10_000


class CCXTGateway(GatewayPlugin):
    """Exchanges supported by ccxt, over REST and websockets."""

    config_model: ClassVar[type[CCXTGatewayConfig]] = CCXTGatewayConfig

    def __init__(self, config: Any = None, *, gateway_id: str | None = None) -> None:
        if not isinstance(config, CCXTGatewayConfig):
            config = CCXTGatewayConfig.model_validate(config or {})
        super().__init__(config, gateway_id=gateway_id)
        self.options: CCXTGatewayConfig = config
        self.secrets: list[str] = config.secrets()
        self.logger: Any = structlog.get_logger("libra.gateways.ccxt").bind(gateway=self.id)
        self.exchange: Any = None
        self.tasks = TaskSet(self.logger)
        self.rejections = Rejections(self.logger, self.secrets)
        self.execution = CCXTExecution(self)
        self.market_data = MarketDataStreams(self)
        self.supervisor = StreamSupervisor(
            self.tasks, self.logger, self._stream_backoff, config.stale_after,
            self.market_data.force_reconnect, self.secrets)
        self.sockets = SocketHooks(self.supervisor, self.rejections)
        self.rate_limit = VenueBackoff(self.logger, Backoff(
            config.retry_initial, config.retry_max, config.reconnect_jitter))
        self._instruments: dict[str, Instrument] = {}
        self._balances: dict[str, Decimal] | None = None
        self._symbols: set[str] = set()
        self._connected = False

    @classmethod
    def metadata(cls) -> PluginMetadata:
        return PluginMetadata.create(
            name="ccxt",
            version="0.2.0",
            description="Real exchanges through ccxt: REST and websockets",
            author="LIBRA developers",
            requires=["ccxt>=4"],
        )

    # -- health ------------------------------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        """True once connected while no websocket is down and no stream is failing.

        A stale stream (connected, but silent) does not count here: it shows in
        :meth:`stream_status`.
        """
        return self._connected and not self.supervisor.problems()

    def connection_problems(self) -> list[str]:
        """Return why the gateway is not connected (empty when it is)."""
        if not self._connected:
            return ["connect() has not completed"]
        return self.supervisor.problems()

    @property
    def has_credentials(self) -> bool:
        """True when an API key and secret are configured."""
        return self.options.api_key is not None and self.options.secret is not None

    @property
    def rejected_messages(self) -> dict[str, int]:
        """Return how many venue messages were rejected, per reason."""
        return dict(self.rejections.counts)

    def stream_status(self) -> dict[str, dict[str, Any]]:
        """Return each market data stream's health: connected, stale, age, reconnects, error.

        Keys are ``"<channel>:<symbol>"``. The account streams, silent whenever nothing
        trades, are in :meth:`private_stream_status` so that silence is not read as staleness.
        """
        return self.supervisor.status()

    def private_stream_status(self) -> dict[str, dict[str, Any]]:
        """Return the health of the account streams (``orders``, ``fills``)."""
        return self.supervisor.status(private=True)

    def last_message_age(self, stream: str) -> float | None:
        """Return seconds since ``stream`` (e.g. ``"quote:BTC/USDT"``) last delivered a message."""
        state = self.supervisor.streams.get(stream)
        if state is None or state.last_message is None:
            return None
        return time.monotonic() - state.last_message

    def now(self) -> int:
        """Return the current time in ns (the kernel's clock once bound)."""
        clock = self.clock
        return clock.timestamp_ns() if clock is not None else time.time_ns()

    # -- connection ------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Build the client, load markets and balances; retry network failures with backoff.

        Raises:
            GatewayAuthError: the venue refused the credentials.
            GatewayUnavailable: the venue stayed unreachable for ``connect_attempts`` tries.
            GatewayError: the exchange id is unknown or the venue failed otherwise.
        """
        if self._connected:
            return
        cfg = self.options
        backoff = Backoff(cfg.reconnect_initial, cfg.reconnect_max, cfg.reconnect_jitter)
        for attempt in range(1, cfg.connect_attempts + 1):
            self.exchange = self._build_client()
            try:
                await self._load()
            except GatewayUnavailable as exc:
                await self._close_client()
                if attempt == cfg.connect_attempts:
                    raise
                delay = backoff.next()
                self.logger.warning("gateway.connect_retrying", attempt=attempt, error=str(exc),
                                    delay=round(delay, 3))
                await asyncio.sleep(delay)
            except BaseException:
                await self._close_client()
                raise
            else:
                break
        self._connected = True
        self.logger.info("gateway.markets_loaded", exchange=cfg.exchange,
                         instruments=len(self._instruments), sandbox=cfg.sandbox)
        self._start_private_streams()

    def _build_client(self) -> Any:
        import ccxt.pro  # imported on first connect: see ccxt_module

        cls = getattr(ccxt.pro, self.options.exchange, None)
        if cls is None:
            raise GatewayError(f"unknown ccxt exchange, was {self.options.exchange!r}")
        config = self.options.ccxt_config()
        options = config["options"]
        options.setdefault("warnOnFetchOpenOrdersWithoutSymbol", False)
        # ccxt keeps this many trades per stream between two watch calls and drops the
        # oldest beyond it: a burst larger than ccxt's default 1000 would lose prints.
        options.setdefault("tradesLimit", _TRADES_LIMIT)
        client = cls(config)
        self.sockets.install(client)
        self.rate_limit.install(client)
        if self.options.sandbox:
            with map_ccxt_errors("sandbox mode", self.secrets):
                client.set_sandbox_mode(True)
        return client

    async def _load(self) -> None:
        exchange = self.exchange
        with map_ccxt_errors("load_markets", self.secrets):
            markets = await exchange.load_markets()
        instruments: dict[str, Instrument] = {}
        for symbol, market in markets.items():
            try:
                instruments[symbol] = instrument_from_market(market, exchange.precisionMode,
                                                             self.id)
            except (KeyError, TypeError, ValueError):
                self.rejections.reject("markets", "invalid:market", {"symbol": symbol})
        self._instruments = instruments
        if self.has_credentials:
            with map_ccxt_errors("fetch_balance", self.secrets):
                self._balances = parse_balances(await exchange.fetch_balance())

    async def disconnect(self) -> None:
        """Cancel every stream and order task, then close the client; safe to call twice."""
        self._connected = False
        self.sockets.detach()
        await self.tasks.cancel_all()
        self.supervisor.clear()
        await self._close_client()

    async def _close_client(self) -> None:
        exchange, self.exchange = self.exchange, None
        if exchange is None:
            return
        try:
            await exchange.close()
        except Exception as exc:
            self.logger.warning("gateway.close_failed", error=describe(exc, self.secrets))

    def _require(self) -> Any:
        if self.exchange is None or not self._connected:
            raise GatewayError(f"gateway {self.id!r} is not connected")
        return self.exchange

    def instruments(self) -> dict[str, Instrument]:
        return dict(self._instruments)

    # -- market data -----------------------------------------------------------------------------

    async def subscribe(self, symbols: Sequence[str], channels: Sequence[str]) -> None:
        """Start a supervised loop per (symbol, channel) of the configured ``channels``."""
        exchange = self._require()
        for symbol in dict.fromkeys([*symbols, *self.options.symbols]):
            if symbol not in exchange.markets:
                self.logger.warning("gateway.unknown_symbol", symbol=symbol)
                continue
            self._symbols.add(symbol)
            for channel in channels:
                if channel in self.options.channels:
                    self.market_data.start(symbol, channel)

    def _stream_backoff(self) -> Backoff:
        cfg = self.options
        return Backoff(cfg.reconnect_initial, cfg.reconnect_max, cfg.reconnect_jitter)

    # -- private streams -------------------------------------------------------------------------

    def _start_private_streams(self) -> None:
        if not (self.has_credentials and self.options.private_streams):
            return
        has = self.exchange.has
        if has.get("watchOrders") and has.get("watchMyTrades"):
            orders = StreamState("orders", "orders", None, "websocket", watched=False)
            fills = StreamState("fills", "fills", None, "websocket", watched=False)
            self.supervisor.start(orders, self._orders_step(orders))
            self.supervisor.start(fills, self._fills_step(fills))
        else:
            state = StreamState("orders", "orders", None, "polling", watched=False)
            self.supervisor.start(state, self._orders_poll_step(state))

    def _orders_step(self, state: StreamState) -> Step:
        async def step() -> None:
            orders = await self.exchange.watch_orders()
            state.mark(time.monotonic())
            await self.execution.on_order_updates(orders)

        return step

    def _fills_step(self, state: StreamState) -> Step:
        async def step() -> None:
            trades = await self.exchange.watch_my_trades()
            state.mark(time.monotonic())
            self.execution.on_my_trades(trades)

        return step

    def _orders_poll_step(self, state: StreamState) -> Step:
        async def step() -> None:
            await self.execution.poll_open()
            state.mark(time.monotonic())
            await asyncio.sleep(self.options.order_poll_interval)

        return step

    # -- orders ------------------------------------------------------------------------------------

    async def submit_order(self, order: Any) -> None:
        """Start sending ``order``; returns at once, the outcome arrives as events."""
        if not self._connected:
            self.emit_order_event(OrderRejected.from_order(
                order, self.now(), reason=f"gateway {self.id!r} is not connected"))
            return
        self.execution.submit(order)

    async def cancel_order(self, order: Any) -> None:
        """Start canceling ``order``; returns at once, the outcome arrives as an event."""
        if not self._connected:
            self.emit_order_event(OrderCancelRejected.from_order(
                order, self.now(), reason=f"gateway {self.id!r} is not connected",
                venue_order_id=order.venue_order_id))
            return
        self.execution.cancel(order)

    # -- reconciliation ----------------------------------------------------------------------------

    def adopt_orders(self, orders: Sequence[Any]) -> None:
        """Track open orders restored from the state store, so their updates are reported."""
        for order in orders:
            self.execution.track(order)

    async def fetch_open_orders(self, symbols: Sequence[str] | None = None) -> list[OrderReport]:
        """Return the venue's open orders as ``OrderReport`` records."""
        exchange = self._require()
        with map_ccxt_errors("fetch_open_orders", self.secrets):
            if symbols:
                raws = [o for s in symbols for o in await exchange.fetch_open_orders(s)]
            else:
                raws = await exchange.fetch_open_orders()
        reports = (self.execution.report_of(raw) for raw in raws)
        return [r for r in reports if r is not None]

    async def fetch_order(self, client_order_id: str, symbol: str) -> OrderReport | None:
        """Return the venue's view of one order by client order id, or None if it has none."""
        exchange = self._require()
        param = self.execution._query_param
        try:
            with map_ccxt_errors("fetch_order", self.secrets):
                raw = await exchange.fetch_order(None, symbol, {param: client_order_id})
        except GatewayError as exc:
            if isinstance(exc.__cause__, ccxt_module().OrderNotFound):
                return None
            raise
        return self.execution.report_of(raw)

    async def fetch_fills(self, since_ns: int | None = None) -> list[Fill]:
        """Return the account's fills since ``since_ns`` on the symbols this gateway trades.

        Trades of orders placed outside this session get their client order id from a query
        of the order; ``strategy_id`` is empty for them.
        """
        exchange = self._require()
        symbols = self._symbols | {t.order.symbol for t in self.execution.orders.values()}
        since_ms = None if since_ns is None else since_ns // _MS
        fills: list[Fill] = []
        for symbol in sorted(symbols):
            with map_ccxt_errors("fetch_my_trades", self.secrets):
                trades = await exchange.fetch_my_trades(symbol, since_ms)
                client_ids = await self._client_ids_of(symbol, trades)
            for trade in trades:
                fill = self.execution.fill_of(trade, client_ids.get)
                if fill is not None and (since_ns is None or fill.ts_event >= since_ns):
                    fills.append(fill)
        return sorted(fills, key=lambda f: f.ts_event)

    async def _client_ids_of(self, symbol: str, trades: Sequence[Any]) -> dict[str, str | None]:
        unknown = {str(t["order"]) for t in trades
                   if t.get("order") and self.execution.find(t, "order") is None}
        found: dict[str, str | None] = {}
        for venue_id in unknown:
            found[venue_id] = client_order_id_of(await self.exchange.fetch_order(venue_id, symbol))
        return found

    async def fetch_balances(self) -> dict[str, Decimal]:
        """Return the total balance per currency ({} without credentials)."""
        if not self.has_credentials:
            return {}
        if self._balances is not None:  # the snapshot taken by connect, used once
            balances, self._balances = self._balances, None
            return balances
        exchange = self._require()
        with map_ccxt_errors("fetch_balance", self.secrets):
            return parse_balances(await exchange.fetch_balance())

