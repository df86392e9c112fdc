"""REST side of the local exchange: the Binance spot ``/api/v3`` endpoints ccxt uses.

Public: ``ping``, ``time``, ``exchangeInfo``, ``depth``, ``trades``, ``klines`` and
``aggTrades`` (both paged through a declared ``History``), ``ticker/24hr``,
``ticker/bookTicker``, ``ticker/price``. API key only:
``userDataStream`` (POST/PUT/DELETE). Signed (HMAC-SHA256): ``account``, ``order``
(POST/GET/DELETE), ``order/test``, ``openOrders`` (GET/DELETE), ``allOrders``,
``myTrades``. Any other path answers 404 with a Binance-style JSON body.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol
from urllib.parse import parse_qsl

from aiohttp import web

from libra.testing.exchange.data import MarketData
from libra.testing.exchange.errors import BinanceApiError, invalid_symbol
from libra.testing.exchange.faults import Faults, HttpFaultKind
from libra.testing.exchange.history import DEFAULT_LIMIT, INTERVAL_MS, MAX_LIMIT, History
from libra.testing.exchange.market import Market
from libra.testing.exchange.matching import CancelRejected, MatchingEngine
from libra.testing.exchange.signing import Credentials
from libra.testing.exchange.ws import SocketHub

__all__ = ["ExchangeState", "build_app"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Params = dict[str, str]


class ExchangeState(Protocol):
    """What the REST endpoints read and drive: the parts of ``LocalExchange`` they serve.

    ``LocalExchange`` passes itself to :func:`build_app`. The server builds this app, so the
    endpoints name what they use here instead of importing the server.
    """

    @property
    def data(self) -> MarketData: ...

    @property
    def faults(self) -> Faults: ...

    @property
    def credentials(self) -> Credentials: ...

    @property
    def market(self) -> Market: ...

    @property
    def engine(self) -> MatchingEngine: ...

    @property
    def hub(self) -> SocketHub: ...

    @property
    def history(self) -> History: ...

    @property
    def closing(self) -> asyncio.Event: ...

    @property
    def requests(self) -> deque[tuple[float, str, str]]: ...

    def clock_ms(self) -> int: ...

    async def publish_user_events(
        self, events: Iterable[dict[str, Any]], *, immediate_fill: bool = False
    ) -> None: ...


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(payload), content_type="application/json")


async def _params(request: web.Request) -> tuple[Params, str, str]:
    query = request.raw_path.partition("?")[2]
    body = await request.text() if request.can_read_body else ""
    params = dict(parse_qsl(query, keep_blank_values=True))
    params.update(parse_qsl(body, keep_blank_values=True))
    return params, query, body


class _Api:
    def __init__(self, exchange: ExchangeState) -> None:
        self.ex = exchange

    # -- middlewares ------------------------------------------------------------------

    @web.middleware
    async def faults(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.ex.requests.append((time.monotonic(), request.method, request.path))
        rule = self.ex.faults.take_http(request.method, request.path)
        if rule is None:
            return await handler(request)
        if rule.kind in (HttpFaultKind.STATUS, HttpFaultKind.HTML):
            content_type = "text/html" if rule.kind is HttpFaultKind.HTML else "application/json"
            return web.Response(
                status=rule.status, text=rule.body, content_type=content_type, headers=rule.headers
            )
        if rule.kind is HttpFaultKind.DELAY:
            await asyncio.sleep(rule.seconds)
            return await handler(request)
        response = await handler(request) if rule.process else _json({})
        if rule.kind is HttpFaultKind.HANG:
            await self.ex.closing.wait()
            return web.Response(status=503)
        text = response.text if isinstance(response, web.Response) and response.text else "{}"
        return web.Response(
            status=200, text=text[: len(text) // 2], content_type="application/json"
        )

    @web.middleware
    async def errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except BinanceApiError as exc:
            return web.Response(status=exc.status, text=exc.body(), content_type="application/json")

    # -- public -------------------------------------------------------------------------

    async def ping(self, request: web.Request) -> web.Response:
        return _json({})

    async def time(self, request: web.Request) -> web.Response:
        return _json({"serverTime": self.ex.clock_ms()})

    async def exchange_info(self, request: web.Request) -> web.Response:
        info = dict(self.ex.data.exchange_info)
        info["serverTime"] = self.ex.clock_ms()
        wanted = self._symbols_filter(request)
        if wanted is not None:
            info["symbols"] = [s for s in info["symbols"] if s["symbol"] in wanted]
            if len(info["symbols"]) != len(wanted):
                raise invalid_symbol()
        return _json(info)

    @staticmethod
    def _symbols_filter(request: web.Request) -> set[str] | None:
        if "symbol" in request.query:
            return {request.query["symbol"].upper()}
        if "symbols" in request.query:
            return {s.upper() for s in json.loads(request.query["symbols"])}
        return None

    def _state(self, request: web.Request) -> Any:
        state = self.ex.market.get(request.query.get("symbol", ""))
        if state is None:
            raise invalid_symbol()
        return state

    async def depth(self, request: web.Request) -> web.Response:
        limit = min(int(request.query.get("limit", "100")), 5000)
        return _json(self._state(request).depth(limit))

    async def trades(self, request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", "500"))
        rows = list(self._state(request).trades)[-limit:]
        return _json(
            [
                {
                    "id": t["t"],
                    "price": t["p"],
                    "qty": t["q"],
                    "quoteQty": f"{float(t['p']) * float(t['q']):.8f}",
                    "time": t["T"],
                    "isBuyerMaker": t["m"],
                    "isBestMatch": True,
                }
                for t in rows
            ]
        )

    async def klines(self, request: web.Request) -> web.Response:
        state = self._state(request)
        interval = request.query.get("interval", "")
        history = self.ex.history.candles.get((state.symbol, interval))
        if history is not None:
            start, end, limit = _paging(request)
            return web.Response(text=history.page_json(start, end, limit),
                                content_type="application/json")
        if interval not in INTERVAL_MS:
            raise BinanceApiError(400, -1120, "Invalid interval.")
        kline = state.kline
        if kline is None:
            return _json([])
        return _json(
            [
                [
                    kline["t"],
                    kline["o"],
                    kline["h"],
                    kline["l"],
                    kline["c"],
                    kline["v"],
                    kline["T"],
                    kline["q"],
                    kline["n"],
                    kline["V"],
                    kline["Q"],
                    "0",
                ]
            ]
        )

    async def agg_trades(self, request: web.Request) -> web.Response:
        state = self._state(request)
        history = self.ex.history.trades.get(state.symbol)
        if history is None:
            return _json([])
        start, end, limit = _paging(request)
        if start is not None and end is not None and end - start > 3_600_000:
            raise BinanceApiError(400, -1127, "More than 1 hours between startTime and endTime.")
        from_id = request.query.get("fromId")
        return _json(history.page(start, end, int(from_id) if from_id else None, limit))

    def _tickers(self, request: web.Request) -> tuple[list[Any], bool]:
        wanted = self._symbols_filter(request)
        states = (
            [self.ex.market.symbols[s] for s in sorted(wanted)]
            if wanted
            else list(self.ex.market.symbols.values())
        )
        return states, "symbol" in request.query

    async def ticker_24hr(self, request: web.Request) -> web.Response:
        if request.query.get("symbol") and self.ex.market.get(request.query["symbol"]) is None:
            raise invalid_symbol()
        states, single = self._tickers(request)
        rows = [_rest_ticker(self.ex.market.ticker(s)) for s in states]
        return _json(rows[0] if single else rows)

    async def book_ticker(self, request: web.Request) -> web.Response:
        if request.query.get("symbol") and self.ex.market.get(request.query["symbol"]) is None:
            raise invalid_symbol()
        states, single = self._tickers(request)
        rows = [
            {
                "symbol": s.symbol,
                "bidPrice": s.top.bid,
                "bidQty": s.top.bid_qty,
                "askPrice": s.top.ask,
                "askQty": s.top.ask_qty,
            }
            for s in states
            if s.top is not None
        ]
        return _json(rows[0] if single and rows else rows)

    async def ticker_price(self, request: web.Request) -> web.Response:
        states, single = self._tickers(request)
        rows = [{"symbol": s.symbol, "price": self.ex.market.ticker(s)["c"]} for s in states]
        return _json(rows[0] if single else rows)

    # -- user data stream (API key only) -------------------------------------------------

    async def user_data_stream(self, request: web.Request) -> web.Response:
        self.ex.credentials.check_api_key(request.headers.get("X-MBX-APIKEY"))
        if request.method == "POST":
            return _json({"listenKey": self.ex.hub.new_listen_key()})
        params, _, _ = await _params(request)
        if params.get("listenKey") not in self.ex.hub.listen_keys:
            raise BinanceApiError(400, -1125, "This listenKey does not exist.")
        if request.method == "DELETE":
            self.ex.hub.listen_keys.discard(params["listenKey"])
        return _json({})

    # -- signed ------------------------------------------------------------------------

    async def _signed(self, request: web.Request) -> Params:
        params, query, body = await _params(request)
        self.ex.credentials.verify_rest(request.headers.get("X-MBX-APIKEY"), query, body, params)
        return params

    async def account(self, request: web.Request) -> web.Response:
        await self._signed(request)
        account = self.ex.data.template("account")
        rate = int(self.ex.engine.fee_rate * 10_000)
        account.update(
            makerCommission=rate,
            takerCommission=rate,
            updateTime=self.ex.engine.account.update_ms,
            balances=self.ex.engine.account.balances(),
            uid=1,
        )
        return _json(account)

    async def new_order(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        order, fills, events = self.ex.engine.place(params)
        await self.ex.publish_user_events(events, immediate_fill=bool(fills))
        if params.get("newOrderRespType", "FULL").upper() == "ACK":
            return _json(
                {
                    "symbol": order.symbol,
                    "orderId": order.order_id,
                    "orderListId": -1,
                    "clientOrderId": order.client_order_id,
                    "transactTime": order.created_ms,
                }
            )
        ack = order.ack(fills)
        if params.get("newOrderRespType", "FULL").upper() == "RESULT":
            ack.pop("fills")
        return _json(ack)

    async def test_order(self, request: web.Request) -> web.Response:
        await self._signed(request)
        return _json({})

    async def query_order(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        return _json(self.ex.engine.query(params).view())

    async def cancel_order(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        race = self.ex.faults.fill_on_cancel_remaining > 0
        if race:
            self.ex.faults.fill_on_cancel_remaining -= 1
        try:
            order, events = self.ex.engine.cancel(params, fill_first=race)
        except CancelRejected as exc:
            await self.ex.publish_user_events(exc.events)
            raise
        await self.ex.publish_user_events(events)
        view = order.view()
        keys = (
            "symbol",
            "orderId",
            "orderListId",
            "price",
            "origQty",
            "executedQty",
            "cummulativeQuoteQty",
            "status",
            "timeInForce",
            "type",
            "side",
            "selfTradePreventionMode",
        )
        reply = {key: view[key] for key in keys}
        cancel_id = next(e["c"] for e in events if e.get("x") == "CANCELED")
        reply.update(
            origClientOrderId=order.client_order_id,
            clientOrderId=cancel_id,
            transactTime=order.updated_ms,
        )
        return _json(reply)

    async def open_orders(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        symbol = params.get("symbol", "").upper() or None
        if symbol is not None and symbol not in self.ex.engine.rules:
            raise invalid_symbol()
        return _json([o.view() for o in self.ex.engine.open_orders(symbol)])

    async def cancel_open_orders(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        replies = []
        for order in self.ex.engine.open_orders(params.get("symbol", "").upper()):
            _, events = self.ex.engine.cancel(
                {"symbol": order.symbol, "orderId": str(order.order_id)}
            )
            await self.ex.publish_user_events(events)
            replies.append(dict(order.view(), origClientOrderId=order.client_order_id))
        return _json(replies)

    async def all_orders(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        symbol = params.get("symbol", "").upper()
        return _json([o.view() for o in self.ex.engine.orders.values() if o.symbol == symbol])

    async def my_trades(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        symbol = params.get("symbol", "").upper()
        if symbol not in self.ex.engine.rules:
            raise invalid_symbol()
        fills = [f for f in self.ex.engine.fills if f.symbol == symbol]
        if params.get("orderId"):
            fills = [f for f in fills if f.order_id == int(params["orderId"])]
        limit = int(params.get("limit", "500"))
        return _json([f.my_trade() for f in fills[-limit:]])

    async def not_found(self, request: web.Request) -> web.Response:
        return _json(
            {"code": -5000, "msg": f"Path {request.path}, Method {request.method} is invalid"}, 404
        )


def _paging(request: web.Request) -> tuple[int | None, int | None, int]:
    """Return ``startTime``, ``endTime`` and ``limit`` of a history request (Binance rules)."""
    try:
        start = request.query.get("startTime")
        end = request.query.get("endTime")
        limit = int(request.query.get("limit", str(DEFAULT_LIMIT)))
        bounds = (int(start) if start else None, int(end) if end else None)
    except ValueError:
        raise BinanceApiError(400, -1100, "Illegal characters found in a parameter.") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BinanceApiError(400, -1130, "Invalid limit.")
    return bounds[0], bounds[1], limit


def _rest_ticker(ws: dict[str, Any]) -> dict[str, Any]:
    names = {
        "s": "symbol",
        "p": "priceChange",
        "P": "priceChangePercent",
        "w": "weightedAvgPrice",
        "x": "prevClosePrice",
        "c": "lastPrice",
        "Q": "lastQty",
        "b": "bidPrice",
        "B": "bidQty",
        "a": "askPrice",
        "A": "askQty",
        "o": "openPrice",
        "h": "highPrice",
        "l": "lowPrice",
        "v": "volume",
        "q": "quoteVolume",
        "O": "openTime",
        "C": "closeTime",
        "F": "firstId",
        "L": "lastId",
        "n": "count",
    }
    return {long: ws[short] for short, long in names.items()}


def build_app(exchange: ExchangeState) -> web.Application:
    """Build the aiohttp application (REST routes, websocket routes, fault middleware)."""
    api = _Api(exchange)
    app = web.Application(middlewares=[api.faults, api.errors])
    routes = [
        ("GET", "/api/v3/ping", api.ping),
        ("GET", "/api/v3/time", api.time),
        ("GET", "/api/v3/exchangeInfo", api.exchange_info),
        ("GET", "/api/v3/depth", api.depth),
        ("GET", "/api/v3/trades", api.trades),
        ("GET", "/api/v3/klines", api.klines),
        ("GET", "/api/v3/aggTrades", api.agg_trades),
        ("GET", "/api/v3/ticker/24hr", api.ticker_24hr),
        ("GET", "/api/v3/ticker/bookTicker", api.book_ticker),
        ("GET", "/api/v3/ticker/price", api.ticker_price),
        ("POST", "/api/v3/userDataStream", api.user_data_stream),
        ("PUT", "/api/v3/userDataStream", api.user_data_stream),
        ("DELETE", "/api/v3/userDataStream", api.user_data_stream),
        ("GET", "/api/v3/account", api.account),
        ("POST", "/api/v3/order", api.new_order),
        ("POST", "/api/v3/order/test", api.test_order),
        ("GET", "/api/v3/order", api.query_order),
        ("DELETE", "/api/v3/order", api.cancel_order),
        ("GET", "/api/v3/openOrders", api.open_orders),
        ("DELETE", "/api/v3/openOrders", api.cancel_open_orders),
        ("GET", "/api/v3/allOrders", api.all_orders),
        ("GET", "/api/v3/myTrades", api.my_trades),
        ("GET", "/ws", exchange.hub.handle_stream),
        ("GET", "/ws/{tail}", exchange.hub.handle_stream),
        ("GET", "/stream", exchange.hub.handle_stream),
        ("GET", "/ws-api/v3", exchange.hub.handle_ws_api),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    app.router.add_route("*", "/{tail:.*}", api.not_found)
    return app
