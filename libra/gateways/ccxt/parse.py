"""Boundary validation: ccxt's unified dicts and floats to LIBRA records.

Every number goes to ``Decimal`` through its text (a float through its shortest ``repr``,
never ``Decimal(float)``). NaN, infinities, ``None``, empty strings, zero or negative
prices and sizes, and messages without a venue time raise :class:`InvalidMessage` with a
short reason (``"missing:bid"``, ``"not_finite:price"``, ``"not_positive:amount"``...);
:class:`Rejections` logs and counts them so that a bad message never reaches the kernel
and never stops a stream.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from libra.gateways.ccxt.errors import scrub
from libra.model.events import Bar, OrderBook, Quote, Trade
from libra.model.fills import Fill, Liquidity
from libra.model.instrument import DEFAULT_LOT_SIZE, DEFAULT_TICK_SIZE, Instrument, parse_symbol
from libra.model.orders import OrderSide
from libra.model.readable import Record

_ZERO = Decimal(0)
_MS = 1_000_000
# ccxt precision modes (ccxt.base.decimal_to_precision): what market["precision"] holds.
DECIMAL_PLACES = 2
SIGNIFICANT_DIGITS = 3
TICK_SIZE = 4
_SIDES = {"buy": OrderSide.BUY, "sell": OrderSide.SELL}


class InvalidMessage(ValueError):
    """A venue message failed validation; ``reason`` is a short counter key."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Rejections:
    """Log and count rejected venue messages, per reason; never raise."""

    def __init__(self, log: Any, secrets: Iterable[str] = ()) -> None:
        self._log = log
        self._secrets = tuple(secrets)
        self.counts: dict[str, int] = {}

    def reject(self, stream: str, reason: str, raw: Any) -> None:
        """Count one rejected message and log it with its payload cut to ~300 characters."""
        self.counts[reason] = self.counts.get(reason, 0) + 1
        self._log.warning("gateway.message_rejected", stream=stream, reason=reason,
                          payload=scrub(repr(raw), self._secrets))

    @property
    def total(self) -> int:
        """Return how many messages were rejected in all."""
        return sum(self.counts.values())


class OrderReport(Record, frozen=True, gc=False, kw_only=True):
    """The venue's view of one order (reconciliation: ``fetch_open_orders``, ``fetch_order``).

    ``status`` is ccxt's: ``"open"``, ``"closed"`` (fully filled), ``"canceled"``,
    ``"expired"`` or ``"rejected"``. ``client_order_id`` is None for orders placed
    outside LIBRA without one.
    """

    kind: ClassVar[str] = "order_report"
    _extra_keys: ClassVar[tuple[str, ...]] = ("is_open",)

    client_order_id: str | None
    venue_order_id: str | None
    symbol: str
    side: OrderSide
    type: str
    status: str
    quantity: Decimal
    filled: Decimal
    price: Decimal | None
    average_price: Decimal | None
    ts_event: int

    @property
    def is_open(self) -> bool:
        """True while the venue may still fill the order."""
        return self.status == "open"


# -- numbers and times ------------------------------------------------------------------------


def number(value: Any, name: str) -> Decimal:
    """Return ``value`` (str, int, float or Decimal) as a finite Decimal.

    Raises:
        InvalidMessage: missing, empty, not a number, NaN or infinite.
    """
    if value is None or value == "":
        raise InvalidMessage(f"missing:{name}")
    kind = type(value)
    try:
        if kind is float:
            if not math.isfinite(value):
                raise InvalidMessage(f"not_finite:{name}")
            return Decimal(repr(value))
        if kind is str:
            result = Decimal(value.strip())
        elif kind is int or kind is Decimal:
            result = Decimal(value)
        else:
            raise InvalidMessage(f"invalid:{name}")
    except InvalidOperation:
        raise InvalidMessage(f"invalid:{name}") from None
    if not result.is_finite():
        raise InvalidMessage(f"not_finite:{name}")
    return result


def positive(value: Any, name: str) -> Decimal:
    """Return ``value`` as a Decimal greater than zero (see :func:`number`)."""
    result = number(value, name)
    if result <= 0:
        raise InvalidMessage(f"not_positive:{name}")
    return result


def non_negative(value: Any, name: str) -> Decimal:
    """Return ``value`` as a Decimal of zero or more (see :func:`number`)."""
    result = number(value, name)
    if result < 0:
        raise InvalidMessage(f"negative:{name}")
    return result


def optional_positive(value: Any, name: str) -> Decimal | None:
    """Return None for a missing value, else ``value`` as a positive Decimal."""
    return None if value is None or value == "" else positive(value, name)


def timestamp_ns(value: Any, fallback_ns: int | None = None) -> int:
    """Return a ccxt millisecond timestamp in ns; ``fallback_ns`` if missing and allowed.

    Raises:
        InvalidMessage: missing (and no fallback) or not a positive integer.
    """
    if value is None:
        if fallback_ns is None:
            raise InvalidMessage("missing:timestamp")
        return fallback_ns
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidMessage("invalid:timestamp")
    return int(value) * _MS


# -- market data ------------------------------------------------------------------------------


def parse_quote(venue: str, symbol: str, ticker: Mapping[str, Any], ts_recv: int,
                receive_time: bool) -> Quote:
    """Build a Quote from a ccxt ticker (``watch_bids_asks``, ``watch_ticker``, REST)."""
    bid = positive(ticker.get("bid"), "bid")
    ask = positive(ticker.get("ask"), "ask")
    if bid > ask:
        raise InvalidMessage("crossed:quote")
    return Quote(
        venue=venue, symbol=symbol, bid=bid, ask=ask,
        bid_size=positive(ticker.get("bidVolume"), "bid_size"),
        ask_size=positive(ticker.get("askVolume"), "ask_size"),
        ts_event=timestamp_ns(ticker.get("timestamp"), ts_recv if receive_time else None),
        ts_recv=ts_recv, last=optional_positive(ticker.get("last"), "last"),
    )


def parse_trade(venue: str, symbol: str, trade: Mapping[str, Any], ts_recv: int) -> Trade:
    """Build a Trade from a ccxt public trade."""
    side = _SIDES.get(trade.get("side"))  # type: ignore[arg-type]
    if side is None:
        raise InvalidMessage("invalid:side")
    ts_event = timestamp_ns(trade.get("timestamp"))
    trade_id = trade.get("id")
    return Trade(
        venue=venue, symbol=symbol, price=positive(trade.get("price"), "price"),
        size=positive(trade.get("amount"), "amount"), side=side.value,
        trade_id=str(trade_id) if trade_id not in (None, "") else str(ts_event),
        ts_event=ts_event, ts_recv=ts_recv,
    )


def parse_bar(venue: str, symbol: str, timeframe: str, timeframe_ns: int,
              row: Sequence[Any], ts_recv: int) -> Bar:
    """Build a closed Bar from a ccxt OHLCV row ``[ms, open, high, low, close, volume]``."""
    if len(row) < 6:
        raise InvalidMessage("invalid:ohlcv")
    high, low = positive(row[2], "high"), positive(row[3], "low")
    if high < low:
        raise InvalidMessage("invalid:high_below_low")
    return Bar(
        venue=venue, symbol=symbol, timeframe=timeframe, open=positive(row[1], "open"),
        high=high, low=low, close=positive(row[4], "close"),
        volume=non_negative(row[5], "volume"),
        ts_event=timestamp_ns(row[0]) + timeframe_ns, ts_recv=ts_recv,
    )


def parse_book(venue: str, symbol: str, book: Mapping[str, Any], depth: int, ts_recv: int,
               receive_time: bool) -> OrderBook:
    """Build an OrderBook snapshot of the best ``depth`` levels from a ccxt order book."""
    bids = _levels(book.get("bids"), depth, "bid")
    asks = _levels(book.get("asks"), depth, "ask")
    if not bids and not asks:
        raise InvalidMessage("empty:book")
    # A book rebuilt from diffs may cross for a moment; its levels are still valid data.
    return OrderBook(
        venue=venue, symbol=symbol, bids=bids, asks=asks,
        ts_event=timestamp_ns(book.get("timestamp"), ts_recv if receive_time else None),
        ts_recv=ts_recv,
    )


def _levels(levels: Any, depth: int, name: str) -> tuple[tuple[Decimal, Decimal], ...]:
    if levels is None:
        raise InvalidMessage(f"missing:{name}s")
    return tuple((positive(level[0], f"{name}_price"), positive(level[1], f"{name}_size"))
                 for level in list(levels)[:depth])


# -- orders, fills, balances --------------------------------------------------------------------


def client_order_id_of(payload: Mapping[str, Any]) -> str | None:
    """Return the client order id of a ccxt order or trade (ccxt's field, else Binance's ``c``)."""
    found = payload.get("clientOrderId")
    if not found:
        info = payload.get("info")
        if isinstance(info, Mapping):
            found = info.get("c") or info.get("clientOrderId") or info.get("origClientOrderId")
    return str(found) if found else None


def parse_order_report(order: Mapping[str, Any], ts_recv: int) -> OrderReport:
    """Build an OrderReport from a ccxt order."""
    side = _SIDES.get(order.get("side"))  # type: ignore[arg-type]
    if side is None:
        raise InvalidMessage("invalid:side")
    status = order.get("status")
    if status not in ("open", "closed", "canceled", "expired", "rejected"):
        raise InvalidMessage("invalid:status")
    symbol = order.get("symbol")
    if not symbol:
        raise InvalidMessage("missing:symbol")
    venue_id = order.get("id")
    filled = order.get("filled")
    return OrderReport(
        client_order_id=client_order_id_of(order),
        venue_order_id=str(venue_id) if venue_id not in (None, "") else None,
        symbol=str(symbol), side=side, type=str(order.get("type") or ""), status=str(status),
        quantity=positive(order.get("amount"), "amount"),
        filled=_ZERO if filled is None else non_negative(filled, "filled"),
        price=optional_positive(order.get("price"), "price"),
        average_price=optional_positive(order.get("average"), "average"),
        ts_event=timestamp_ns(order.get("lastUpdateTimestamp") or order.get("timestamp"),
                              ts_recv),
    )


def parse_fill(trade: Mapping[str, Any], *, client_order_id: str, strategy_id: str, venue: str,
               side: OrderSide, ts_recv: int, venue_order_id: str | None = None,
               default_liquidity: Liquidity = "taker") -> Fill:
    """Build a Fill from a ccxt private trade of the order ``client_order_id``.

    ``venue_order_id`` and ``ts_recv`` stand in for a trade that carries no order id or
    time (the fills inside an order placement's response).
    """
    trade_id = trade.get("id")
    if trade_id in (None, ""):
        raise InvalidMessage("missing:trade_id")
    symbol = trade.get("symbol")
    if not symbol:
        raise InvalidMessage("missing:symbol")
    trade_side = trade.get("side")
    if trade_side is not None and _SIDES.get(trade_side) is not side:
        raise InvalidMessage("invalid:side")
    fee = trade.get("fee") or {}
    cost = fee.get("cost")
    currency = fee.get("currency") or parse_symbol(str(symbol))[1]
    liquidity = trade.get("takerOrMaker")
    order_id = trade.get("order")
    return Fill(
        client_order_id=client_order_id,
        venue_order_id=str(order_id) if order_id not in (None, "") else venue_order_id,
        trade_id=str(trade_id), strategy_id=strategy_id, venue=venue, symbol=str(symbol),
        side=side, quantity=positive(trade.get("amount"), "amount"),
        price=positive(trade.get("price"), "price"),
        fee=_ZERO if cost is None else number(cost, "fee"), fee_currency=str(currency),
        liquidity=liquidity if liquidity in ("maker", "taker") else default_liquidity,
        ts_event=timestamp_ns(trade.get("timestamp"), ts_recv), ts_recv=ts_recv,
    )


def parse_balances(balance: Mapping[str, Any]) -> dict[str, Decimal]:
    """Return the total balance per currency of a ccxt ``fetch_balance`` result.

    Currencies whose total is missing or invalid are left out.
    """
    totals = balance.get("total") or {}
    result: dict[str, Decimal] = {}
    for currency, amount in totals.items():
        try:
            result[str(currency)] = non_negative(amount, "balance")
        except InvalidMessage:
            continue
    return result


# -- instruments --------------------------------------------------------------------------------


def _step(value: Any, precision_mode: int, default: Decimal) -> Decimal:
    """Return a price or amount step from a ccxt market precision value."""
    if value is None or precision_mode == SIGNIFICANT_DIGITS:
        return default
    try:
        if precision_mode == DECIMAL_PLACES:
            return Decimal(1).scaleb(-int(value))
        return positive(value, "precision")
    except (InvalidMessage, ValueError, TypeError):
        return default


def _limit(limits: Mapping[str, Any], group: str, bound: str) -> Decimal | None:
    value = (limits.get(group) or {}).get(bound)
    try:
        result = number(value, f"{group}.{bound}")
    except InvalidMessage:
        return None
    return result if result > 0 else None


def instrument_from_market(
    market: Mapping[str, Any], precision_mode: int, venue: str
) -> Instrument:
    """Build an Instrument from a ccxt market: steps, limits and fee rates.

    ``precision_mode`` is the exchange's ``precisionMode``: with TICK_SIZE the precision is
    the step itself (``0.01``); with DECIMAL_PLACES it is a count of digits (``2``).
    """
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    lot = _step(precision.get("amount"), precision_mode, DEFAULT_LOT_SIZE)
    min_quantity = _limit(limits, "amount", "min")
    fees = {name: number(market.get(name) or 0, name) for name in ("maker", "taker")}
    return Instrument(
        symbol=str(market["symbol"]), venue=venue, base=str(market["base"]),
        quote=str(market["quote"]),
        tick_size=_step(precision.get("price"), precision_mode, DEFAULT_TICK_SIZE),
        lot_size=lot, min_quantity=min_quantity if min_quantity is not None else lot,
        max_quantity=_limit(limits, "amount", "max"),
        min_notional=_limit(limits, "cost", "min"), max_notional=_limit(limits, "cost", "max"),
        maker_fee=fees["maker"], taker_fee=fees["taker"],
    )
