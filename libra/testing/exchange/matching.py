"""A small spot matching engine for the local exchange's single account.

Market orders fill at once, in full, at the current best price (ask for a buy, bid for
a sell). Limit orders that cross the book fill at once at the best price (taker);
the others rest and fill in full at their limit price (maker) when the top of book or
a public trade crosses them. Fees are charged in the quote asset.

Every state change returns the user-data events Binance would send: ``executionReport``
and ``outboundAccountPosition`` payloads.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from libra.testing.exchange.errors import (
    BinanceApiError,
    duplicate_order,
    insufficient_balance,
    invalid_symbol,
    order_does_not_exist,
    unknown_order,
)
from libra.testing.exchange.market import Market
from libra.testing.exchange.orders import Account, Fill, Order, SymbolRules, fmt

__all__ = ["CancelRejected", "MatchingEngine"]

Event = dict[str, Any]
_ZERO = Decimal(0)


def _decimal(params: Mapping[str, str], name: str) -> Decimal:
    raw = params.get(name)
    if raw is None or raw == "":
        raise BinanceApiError(
            400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
        )
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise BinanceApiError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; "
            "legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
        ) from None
    if not value.is_finite():
        raise BinanceApiError(400, -1100, f"Illegal characters found in parameter '{name}'.")
    return value


class MatchingEngine:
    """Place, cancel and fill orders; keep balances; emit Binance user-data events.

    Args:
        rules: trading rules per Binance symbol id.
        account: the balances, changed in place.
        market: public state; its top of book gives market-order prices.
        clock_ms: returns the current time in milliseconds.
        fee_rate: commission rate, charged in the quote asset.
        report_template: an ``executionReport`` payload whose field set is copied.
    """

    def __init__(
        self,
        rules: dict[str, SymbolRules],
        account: Account,
        market: Market,
        clock_ms: Callable[[], int],
        fee_rate: Decimal,
        report_template: dict[str, Any],
    ) -> None:
        self.rules = rules
        self.account = account
        self.market = market
        self.fee_rate = fee_rate
        self.orders: dict[int, Order] = {}
        self.by_client_id: dict[str, Order] = {}
        self.fills: list[Fill] = []
        self._clock_ms = clock_ms
        self._template = report_template
        self._order_ids = itertools.count(1_000_001)
        self._trade_ids = itertools.count(5_000_001)
        self._cancel_ids = itertools.count(1)

    # -- commands -----------------------------------------------------------------

    def place(self, params: Mapping[str, str]) -> tuple[Order, list[Fill], list[Event]]:
        """Handle ``POST /api/v3/order`` parameters.

        Raises:
            BinanceApiError: the venue rejects the order (bad symbol, filters, balance,
                duplicate ``newClientOrderId``).
        """
        rules = self._rules(params.get("symbol", ""))
        side, kind = params.get("side", "").upper(), params.get("type", "").upper()
        if side not in ("BUY", "SELL"):
            raise BinanceApiError(400, -1100, "Illegal characters found in parameter 'side'.")
        if kind not in ("MARKET", "LIMIT"):
            raise BinanceApiError(400, -1116, "Invalid orderType.")
        quantity = _decimal(params, "quantity")
        client_id = params.get("newClientOrderId") or f"local-{next(self._cancel_ids)}"
        existing = self.by_client_id.get(client_id)
        if existing is not None and existing.is_open:
            raise duplicate_order()
        price = _decimal(params, "price") if kind == "LIMIT" else self._market_price(rules, side)
        self._check_filters(rules, quantity, price)
        now = self._clock_ms()
        order = Order(
            order_id=next(self._order_ids),
            client_order_id=client_id,
            symbol=rules.symbol,
            side=side,
            type=kind,
            time_in_force=params.get("timeInForce", "GTC") if kind == "LIMIT" else "GTC",
            price=price if kind == "LIMIT" else _ZERO,
            quantity=quantity,
            created_ms=now,
            updated_ms=now,
        )
        self._lock_funds(rules, order, price)
        self.orders[order.order_id] = order
        self.by_client_id[client_id] = order
        events = [self._report(order, "NEW")]
        fills: list[Fill] = []
        top = self.market.symbols[rules.symbol].top
        if kind == "MARKET":
            fills.append(self._execute(order, order.quantity, price, is_maker=False, events=events))
        elif top is not None and self._crosses(order, top.bid_price, top.ask_price):
            fill_price = top.ask_price if side == "BUY" else top.bid_price
            fills.append(
                self._execute(order, order.quantity, fill_price, is_maker=False, events=events)
            )
        return order, fills, events

    def cancel(
        self, params: Mapping[str, str], *, fill_first: bool = False
    ) -> tuple[Order, list[Event]]:
        """Handle ``DELETE /api/v3/order``; with ``fill_first`` the order fills just before.

        Raises:
            BinanceApiError: -2011 when the order is unknown or no longer open.
        """
        self._rules(params.get("symbol", ""))
        order = self._find(params, not_found=unknown_order)
        events: list[Event] = []
        if fill_first and order.is_open:
            self._execute(order, order.remaining, order.price, is_maker=True, events=events)
        if not order.is_open:
            raise CancelRejected(events)
        self._release(order)
        order.status = "CANCELED"
        order.updated_ms = self._clock_ms()
        cancel_id = params.get("newClientOrderId") or f"cancel-{next(self._cancel_ids)}"
        report = self._report(order, "CANCELED")
        report.update(c=cancel_id, C=order.client_order_id)
        events.extend([report, self.account_position(order.symbol)])
        return order, events

    def query(self, params: Mapping[str, str]) -> Order:
        """Handle ``GET /api/v3/order`` (by ``orderId`` or ``origClientOrderId``)."""
        self._rules(params.get("symbol", ""))
        return self._find(params, not_found=order_does_not_exist)

    def force_fill(
        self, client_order_id: str, qty: Decimal, price: Decimal, *, is_maker: bool
    ) -> list[Event]:
        """Fill ``qty`` of an open order at ``price`` whatever the market does.

        Raises:
            KeyError: no open order has this client order id.
        """
        order = self.by_client_id.get(client_order_id)
        if order is None or not order.is_open:
            raise KeyError(f"no open order with client order id {client_order_id!r}")
        events: list[Event] = []
        self._execute(order, min(qty, order.remaining), price, is_maker=is_maker, events=events)
        return events

    def on_market(self, symbol: str, trade_price: Decimal | None = None) -> list[Event]:
        """Fill resting limit orders the new top of book (or a trade print) crosses."""
        top = self.market.symbols[symbol].top
        events: list[Event] = []
        bid = top.bid_price if top else trade_price
        ask = top.ask_price if top else trade_price
        if trade_price is not None and bid is not None and ask is not None:
            bid, ask = max(bid, trade_price), min(ask, trade_price)
        if bid is None or ask is None:
            return events
        for order in [o for o in self.orders.values() if o.symbol == symbol and o.is_open]:
            if self._crosses(order, bid, ask):
                self._execute(order, order.remaining, order.price, is_maker=True, events=events)
        return events

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Return open orders, optionally of one symbol."""
        return [
            o for o in self.orders.values() if o.is_open and (symbol is None or o.symbol == symbol)
        ]

    def account_position(self, symbol: str) -> Event:
        """Return an ``outboundAccountPosition`` event for the assets of ``symbol``."""
        rules = self.rules[symbol]
        now = self._clock_ms()
        self.account.update_ms = now
        balances = self.account.balances([rules.base, rules.quote])
        return {
            "e": "outboundAccountPosition",
            "E": now,
            "u": now,
            "B": [{"a": b["asset"], "f": b["free"], "l": b["locked"]} for b in balances],
        }

    # -- internals ----------------------------------------------------------------

    def _rules(self, symbol: str) -> SymbolRules:
        rules = self.rules.get(symbol.upper())
        if rules is None:
            raise invalid_symbol()
        return rules

    def _find(self, params: Mapping[str, str], not_found: Callable[[], BinanceApiError]) -> Order:
        order: Order | None = None
        if params.get("orderId"):
            order = self.orders.get(int(params["orderId"]))
        elif params.get("origClientOrderId"):
            order = self.by_client_id.get(params["origClientOrderId"])
        else:
            raise BinanceApiError(
                400,
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        if order is None or order.symbol != params.get("symbol", "").upper():
            raise not_found()
        return order

    def _market_price(self, rules: SymbolRules, side: str) -> Decimal:
        top = self.market.symbols[rules.symbol].top
        if top is None:
            raise BinanceApiError(
                400, -2010, "Order book liquidity is less than LOT_SIZE filter minimum quantity."
            )
        return top.ask_price if side == "BUY" else top.bid_price

    @staticmethod
    def _check_filters(rules: SymbolRules, quantity: Decimal, price: Decimal) -> None:
        if (
            quantity < rules.min_qty
            or quantity <= 0
            or (rules.step_size > 0 and quantity % rules.step_size != 0)
        ):
            raise BinanceApiError(400, -1013, "Filter failure: LOT_SIZE")
        if price <= 0 or (rules.tick_size > 0 and price % rules.tick_size != 0):
            raise BinanceApiError(400, -1013, "Filter failure: PRICE_FILTER")
        if quantity * price < rules.min_notional:
            raise BinanceApiError(400, -1013, "Filter failure: MIN_NOTIONAL")

    def _lock_funds(self, rules: SymbolRules, order: Order, price: Decimal) -> None:
        if order.side == "BUY":
            asset, amount = rules.quote, order.quantity * price * (1 + self.fee_rate)
        else:
            asset, amount = rules.base, order.quantity
        if self.account.available(asset) < amount:
            raise insufficient_balance()
        self.account.lock(asset, amount)
        order.locked = amount

    def _release(self, order: Order) -> None:
        rules = self.rules[order.symbol]
        asset = rules.quote if order.side == "BUY" else rules.base
        self.account.unlock(asset, order.locked)
        order.locked = _ZERO

    @staticmethod
    def _crosses(order: Order, bid: Decimal, ask: Decimal) -> bool:
        if order.type != "LIMIT":
            return False
        return ask <= order.price if order.side == "BUY" else bid >= order.price

    def _execute(
        self, order: Order, qty: Decimal, price: Decimal, *, is_maker: bool, events: list[Event]
    ) -> Fill:
        rules = self.rules[order.symbol]
        quote_qty = (qty * price).quantize(Decimal("1e-8"), rounding=ROUND_DOWN)
        fee = (quote_qty * self.fee_rate).quantize(Decimal("1e-8"), rounding=ROUND_DOWN)
        self._settle(rules, order, qty, quote_qty, fee)
        now = self._clock_ms()
        fill = Fill(
            trade_id=next(self._trade_ids),
            order_id=order.order_id,
            symbol=order.symbol,
            side=order.side,
            price=price,
            qty=qty,
            commission=fee,
            commission_asset=rules.quote,
            time_ms=now,
            is_maker=is_maker,
        )
        order.executed += qty
        order.cumulative_quote += quote_qty
        order.updated_ms = now
        order.status = "FILLED" if order.remaining <= 0 else "PARTIALLY_FILLED"
        order.fills.append(fill)
        if order.status == "FILLED":
            self._release(order)
        self.fills.append(fill)
        events.extend([self._report(order, "TRADE", fill), self.account_position(order.symbol)])
        return fill

    def _settle(
        self, rules: SymbolRules, order: Order, qty: Decimal, quote_qty: Decimal, fee: Decimal
    ) -> None:
        if order.side == "BUY":
            spent = min(quote_qty + fee, order.locked)
            order.locked -= spent
            self.account.spend_locked(rules.quote, spent)
            self.account.add(rules.quote, spent - quote_qty - fee)
            self.account.add(rules.base, qty)
        else:
            order.locked -= qty
            self.account.spend_locked(rules.base, qty)
            self.account.add(rules.quote, quote_qty - fee)

    def _report(self, order: Order, execution_type: str, fill: Fill | None = None) -> Event:
        now = self._clock_ms()
        report = dict(self._template)
        report.update(
            e="executionReport",
            E=now,
            s=order.symbol,
            c=order.client_order_id,
            S=order.side,
            o=order.type,
            f=order.time_in_force,
            q=fmt(order.quantity),
            p=fmt(order.price),
            P=fmt(_ZERO),
            F=fmt(_ZERO),
            g=-1,
            C="",
            x=execution_type,
            X=order.status,
            r="NONE",
            i=order.order_id,
            l=fmt(fill.qty if fill else _ZERO),
            z=fmt(order.executed),
            L=fmt(fill.price if fill else _ZERO),
            n=fmt(fill.commission) if fill else "0",
            N=fill.commission_asset if fill else None,
            T=now,
            t=fill.trade_id if fill else -1,
            I=next(self._cancel_ids),
            w=order.is_open,
            m=fill.is_maker if fill else False,
            M=False,
            O=order.created_ms,
            Z=fmt(order.cumulative_quote),
            Y=fmt(fill.price * fill.qty) if fill else fmt(_ZERO),
            Q=fmt(_ZERO),
            W=order.created_ms,
            V="NONE",
        )
        return report


class CancelRejected(BinanceApiError):
    """A cancel the venue refuses because the order is no longer open.

    ``events`` holds what happened just before (a fill that won the race).
    """

    def __init__(self, events: list[Event]) -> None:
        super().__init__(400, -2011, "Unknown order sent.")
        self.events = events
