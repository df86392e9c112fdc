"""The paper venue's matching: simulated fills against the market data it sees.

Pure logic (no asyncio, no I/O): each call returns the events the venue
reports, in order. The venue keeps its own copy of every order (as a real venue
does) and its own balances, so it can be persisted and reconciled like one.

Fill model:
* market orders fill at the touch (ask for a buy, bid for a sell) when quotes
  are known, else at the last bar's close (``bar_execution="close"``) or the
  next bar's open (``"next_open"``), else at the last trade; plus slippage;
* limit orders fill as takers when marketable on arrival, else rest and fill
  at their price when the market crosses them: a bar whose low (high) reaches
  a buy (sell) limit fills it whole (at the open if the bar gapped through), a
  trade at or through the limit fills up to the trade's size, a quote whose ask
  (bid) reaches it fills it whole;
* stop orders trigger when the market reaches the trigger price, then fill as
  market (stop-market) or become a limit order (stop-limit);
* IOC fills what it can at once and cancels the rest; FOK fills whole or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Literal

from libra.gateways.paper.config import PaperGatewayConfig
from libra.model.fills import Fill
from libra.model.instrument import Instrument
from libra.model.order_events import OrderAccepted, OrderCanceled, OrderRejected
from libra.model.orders import Order, OrderSide, OrderType, TimeInForce

_ZERO = Decimal(0)
_BPS = Decimal(10_000)


class VenueOrder:
    """The venue's own record of one order."""

    __slots__ = (
        "activate_at", "client_order_id", "filled", "post_only", "price", "quantity",
        "reserved", "side", "strategy_id", "symbol", "tif", "trigger_price", "triggered",
        "type", "venue_order_id",
    )

    def __init__(self, order: Order, venue_order_id: str, activate_at: int) -> None:
        self.client_order_id = order.client_order_id
        self.strategy_id = order.strategy_id
        self.symbol = order.symbol
        self.side = order.side
        self.type = order.type
        self.quantity = order.quantity
        self.price = order.price
        self.trigger_price = order.trigger_price
        self.tif = order.time_in_force
        self.post_only = order.post_only
        self.venue_order_id = venue_order_id
        self.activate_at = activate_at
        self.filled = _ZERO
        self.reserved = _ZERO
        self.triggered = order.type in (OrderType.MARKET, OrderType.LIMIT)

    @classmethod
    def restore(cls, **values: Any) -> VenueOrder:
        """Rebuild a venue order from its saved values (one keyword per slot)."""
        vo = cls.__new__(cls)
        for name in cls.__slots__:
            setattr(vo, name, values[name])
        return vo

    @property
    def leaves(self) -> Decimal:
        return self.quantity - self.filled

    @property
    def is_buy(self) -> bool:
        return self.side is OrderSide.BUY


class _Market:
    __slots__ = ("ask", "bid", "has_bars", "last")

    def __init__(self) -> None:
        self.bid: Decimal | None = None
        self.ask: Decimal | None = None
        self.last: Decimal | None = None
        self.has_bars = False


def _touch(is_buy: bool, market: _Market) -> Decimal | None:
    """Return the price an order on this side would trade at: the far touch, else the last."""
    touch = market.ask if is_buy else market.bid
    return market.last if touch is None else touch


class MatchingEngine:
    """Simulated exchange state for one paper gateway."""

    def __init__(
        self,
        venue: str,
        config: PaperGatewayConfig,
        instrument_for: Callable[[str], Instrument],
        now_ns: Callable[[], int],
    ) -> None:
        self.venue = venue
        self.config = config
        self._instrument_for = instrument_for
        self._now = now_ns
        self.balances: dict[str, Decimal] = dict(config.starting_balances)
        self.reserved: dict[str, Decimal] = {}
        self.orders: dict[str, VenueOrder] = {}
        self.open_orders: dict[str, list[VenueOrder]] = {}
        self.fills: list[Fill] = []
        self._markets: dict[str, _Market] = {}
        self._next_open: list[VenueOrder] = []
        self._order_seq = 0
        self._trade_seq = 0
        #: Submits refused because the client order id was already used.
        self.duplicate_submits = 0
        #: When True, orders that change are kept in ``changed`` until ``take_changes``.
        self.track_changes = False
        self.changed: dict[str, VenueOrder] = {}
        self._account_changed = False
        self._saved_fills = 0
        self._slip = config.slippage_bps / _BPS
        self._latency_ns = int(config.latency_ms * 1_000_000)

    # -- commands ---------------------------------------------------------------------------

    def submit(self, order: Order) -> list[Any]:
        """Accept or reject a new order; fill it at once if it is marketable."""
        now = self._now()
        if order.client_order_id in self.orders:
            self.duplicate_submits += 1
            self._account_changed = True
            return [self._reject(order, "duplicate client order id", now)]
        instrument = self._instrument_for(order.symbol)
        market = self._market(order.symbol)
        reason = self._refuse(order, instrument, market)
        if reason is not None:
            return [self._reject(order, reason, now)]
        self._order_seq += 1
        # Without latency an order is live at once. Its activation must not be compared with
        # market data time: a live clock and replayed history are years apart.
        activate_at = now + self._latency_ns if self._latency_ns else 0
        vo = VenueOrder(order, f"P-{self._order_seq}", activate_at)
        self.orders[vo.client_order_id] = vo
        self._touch(vo)
        self._reserve(vo, instrument, self._reference_price(vo, market))
        events: list[Any] = [OrderAccepted(
            client_order_id=vo.client_order_id, strategy_id=vo.strategy_id, venue=self.venue,
            symbol=vo.symbol, ts_event=now, venue_order_id=vo.venue_order_id)]
        if self._latency_ns:
            self.open_orders.setdefault(vo.symbol, []).append(vo)
            return events
        events.extend(self._on_arrival(vo, instrument, market, now))
        return events

    def cancel(self, client_order_id: str) -> list[Any]:
        """Cancel a resting order; a cancel of a closed order is refused."""
        now = self._now()
        vo = self.orders.get(client_order_id)
        if vo is None or vo.leaves <= 0 or vo not in self.open_orders.get(vo.symbol, ()):
            from libra.model.order_events import OrderCancelRejected

            known = self.orders.get(client_order_id)
            return [OrderCancelRejected(
                client_order_id=client_order_id,
                strategy_id=known.strategy_id if known else "",
                venue=self.venue, symbol=known.symbol if known else "", ts_event=now,
                reason="order is not open", venue_order_id=known.venue_order_id if known else None,
            )]
        return [self._close(vo, now)]

    # -- market data ------------------------------------------------------------------------

    def on_market_data(self, event: Any) -> Sequence[Any]:
        """Update the venue's view of the market and match resting orders against it."""
        symbol = event.symbol
        market = self._markets.get(symbol)
        if market is None:
            market = self._markets[symbol] = _Market()
        kind = event.kind
        if kind == "bar":
            market.has_bars = True
            market.last = event.close
        elif kind == "quote":
            market.bid, market.ask = event.bid, event.ask
            if event.last is not None:
                market.last = event.last
        elif kind == "trade":
            market.last = event.price
        elif kind == "book":
            market.bid, market.ask = event.best_bid, event.best_ask
        resting = self.open_orders.get(symbol)
        if not resting and not self._next_open:
            return ()  # most events match nothing: no list to allocate
        return self._match(event, market, resting or [])

    def _match(self, event: Any, market: _Market, resting: list[VenueOrder]) -> list[Any]:
        now = event.ts_event
        events: list[Any] = []
        instrument = self._instrument_for(event.symbol)
        if self._next_open and event.kind == "bar":
            waiting, self._next_open = self._next_open, []
            for vo in waiting:
                if vo.symbol != event.symbol:
                    self._next_open.append(vo)
                    continue
                price = self._slipped(vo, event.open, instrument)
                events.append(self._fill(vo, vo.leaves, price, "taker", instrument, now))
        for vo in list(resting):
            if vo.activate_at > now:
                continue
            if vo.activate_at and vo.reserved is not None and vo.activate_at <= now and \
                    vo.filled == 0 and vo.type is OrderType.MARKET:
                resting.remove(vo)
                events.extend(self._on_arrival(vo, instrument, market, now))
                continue
            if not vo.triggered:
                triggered = self._trigger(vo, event, resting, instrument, market)
                if triggered is not None:
                    events.extend(triggered)
                    continue
            fill = self._cross(vo, event)
            if fill is not None:
                quantity, price = fill
                events.append(self._fill(vo, quantity, price, "maker", instrument, now))
                if vo.leaves <= 0:
                    resting.remove(vo)
        return events

    def _trigger(
        self, vo: VenueOrder, event: Any, resting: list[VenueOrder], instrument: Instrument,
        market: _Market,
    ) -> list[Any] | None:
        """Trigger a stop on ``event``: return its events, or None to go on matching it."""
        trigger_fill = self._check_trigger(vo, event)
        if trigger_fill is None:
            return []
        vo.triggered = True
        self._touch(vo)
        now = event.ts_event
        if vo.type is OrderType.STOP_MARKET:
            resting.remove(vo)
            price = self._slipped(vo, trigger_fill, instrument)
            return [self._fill(vo, vo.leaves, price, "taker", instrument, now)]
        if event.kind != "bar":
            # A triggered stop-limit is a new limit order: a taker at the touch when
            # marketable, else it rests at its price.
            resting.remove(vo)
            return self._arrive_limit(vo, instrument, market, now)
        return None  # on a bar, the bar's range decides the limit fill

    # -- arrival ----------------------------------------------------------------------------

    def _on_arrival(
        self, vo: VenueOrder, instrument: Instrument, market: _Market, now: int
    ) -> list[Any]:
        self._touch(vo)
        if vo.type is OrderType.MARKET:
            return self._arrive_market(vo, instrument, market, now)
        if vo.type in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT):
            last = market.last if market.last is not None else market.ask or market.bid
            if last is not None and self._triggered_by(vo, last):
                vo.triggered = True
                if vo.type is OrderType.STOP_MARKET:
                    return [self._fill(vo, vo.leaves, self._slipped(vo, last, instrument),
                                       "taker", instrument, now)]
            else:
                self.open_orders.setdefault(vo.symbol, []).append(vo)
                return []
        return self._arrive_limit(vo, instrument, market, now)

    def _arrive_market(
        self, vo: VenueOrder, instrument: Instrument, market: _Market, now: int
    ) -> list[Any]:
        touch = market.ask if vo.is_buy else market.bid
        if touch is None and market.has_bars and self.config.bar_execution == "next_open":
            self._next_open.append(vo)
            return []
        price = touch if touch is not None else market.last
        assert price is not None  # refused on submit otherwise
        return [self._fill(vo, vo.leaves, self._slipped(vo, price, instrument), "taker",
                           instrument, now)]

    def _arrive_limit(
        self, vo: VenueOrder, instrument: Instrument, market: _Market, now: int
    ) -> list[Any]:
        assert vo.price is not None
        touch = _touch(vo.is_buy, market)
        marketable = touch is not None and (touch <= vo.price if vo.is_buy else touch >= vo.price)
        if marketable and vo.post_only:
            # Only reached for an order already accepted (latency, a triggered stop-limit):
            # an accepted order can no longer be rejected, so the venue cancels it.
            return [self._close(vo, now)]
        if marketable:
            assert touch is not None
            price = min(touch, vo.price) if vo.is_buy else max(touch, vo.price)
            return [self._fill(vo, vo.leaves, price, "taker", instrument, now)]
        if vo.tif in (TimeInForce.IOC, TimeInForce.FOK):
            return [self._close(vo, now)]
        self.open_orders.setdefault(vo.symbol, []).append(vo)
        return []

    # -- crossing rules ---------------------------------------------------------------------

    def _triggered_by(self, vo: VenueOrder, price: Decimal) -> bool:
        assert vo.trigger_price is not None
        return price >= vo.trigger_price if vo.is_buy else price <= vo.trigger_price

    def _check_trigger(self, vo: VenueOrder, event: Any) -> Decimal | None:
        """Return the price at which a stop triggers on ``event``, or None."""
        trigger = vo.trigger_price
        assert trigger is not None
        kind = event.kind
        if kind == "bar":
            opened: Decimal = event.open
            if vo.is_buy and event.high >= trigger:
                return max(trigger, opened)
            if not vo.is_buy and event.low <= trigger:
                return min(trigger, opened)
            return None
        price: Decimal | None = (
            event.price if kind != "quote" else (event.ask if vo.is_buy else event.bid)
        )
        if price is not None and self._triggered_by(vo, price):
            return price
        return None

    def _cross(self, vo: VenueOrder, event: Any) -> tuple[Decimal, Decimal] | None:
        """Return ``(quantity, price)`` filled for a resting limit order on ``event``."""
        limit = vo.price
        if limit is None:
            return None
        kind = event.kind
        buy = vo.is_buy
        if kind == "bar":
            if buy and event.low <= limit:
                return vo.leaves, min(limit, event.open)
            if not buy and event.high >= limit:
                return vo.leaves, max(limit, event.open)
        elif kind == "trade":
            if (buy and event.price <= limit) or (not buy and event.price >= limit):
                return min(vo.leaves, event.size), limit
        elif kind in ("quote", "book"):
            touch = event.ask if kind == "quote" and buy else (
                event.bid if kind == "quote" else (event.best_ask if buy else event.best_bid))
            if touch is not None and ((buy and touch <= limit) or (not buy and touch >= limit)):
                return vo.leaves, limit
        return None

    # -- fills, balances --------------------------------------------------------------------

    def _fill(
        self,
        vo: VenueOrder,
        quantity: Decimal,
        price: Decimal,
        liquidity: str,
        instrument: Instrument,
        now: int,
    ) -> Fill:
        self._touch(vo)
        self._trade_seq += 1
        rate = self.config.maker_fee if liquidity == "maker" else self.config.taker_fee
        notional = quantity * price
        fee = notional * rate
        vo.filled += quantity
        self._release(vo, quantity)
        base, quote = instrument.base, instrument.quote
        balances = self.balances
        if vo.is_buy:
            balances[quote] = balances.get(quote, _ZERO) - notional - fee
            balances[base] = balances.get(base, _ZERO) + quantity
        else:
            balances[quote] = balances.get(quote, _ZERO) + notional - fee
            balances[base] = balances.get(base, _ZERO) - quantity
        fill = Fill(
            client_order_id=vo.client_order_id, venue_order_id=vo.venue_order_id,
            trade_id=f"{self.venue}-T{self._trade_seq}", strategy_id=vo.strategy_id,
            venue=self.venue, symbol=vo.symbol, side=vo.side, quantity=quantity, price=price,
            fee=fee, fee_currency=quote, liquidity=liquidity,  # type: ignore[arg-type]
            ts_event=now, ts_recv=now,
        )
        self.fills.append(fill)
        return fill

    def _slipped(self, vo: VenueOrder, price: Decimal, instrument: Instrument) -> Decimal:
        if not self._slip:
            return price
        if vo.is_buy:
            return instrument.make_price(price * (1 + self._slip), ROUND_CEILING)
        return instrument.make_price(price * (1 - self._slip), ROUND_FLOOR)

    def _reference_price(self, vo: VenueOrder, market: _Market) -> Decimal:
        if vo.price is not None:
            return vo.price
        touch = market.ask if vo.is_buy else market.bid
        price = touch or market.last or vo.trigger_price
        assert price is not None
        return price * (1 + self._slip) if vo.is_buy else price

    def _refuse(self, order: Order, instrument: Instrument, market: _Market) -> str | None:
        price = order.price or order.trigger_price or market.ask or market.bid or market.last
        if price is None:
            return f"no market data for {order.symbol} yet"
        if order.post_only and order.type is OrderType.LIMIT and not self._latency_ns:
            # Refused before acceptance, as venues do (an accepted order cannot be rejected).
            touch = _touch(order.side is OrderSide.BUY, market)
            if touch is not None and (touch <= price if order.side is OrderSide.BUY
                                      else touch >= price):
                return "post-only order would take liquidity"
        if not self.config.check_balances:
            return None
        if order.side is OrderSide.BUY:
            need = order.quantity * price * (1 + self.config.taker_fee + self._slip)
            free = self._free(instrument.quote)
            if need > free:
                return f"insufficient {instrument.quote}: need {need:.8f}, free {free:.8f}"
        elif not self.config.allow_short:
            free = self._free(instrument.base)
            if order.quantity > free:
                return f"insufficient {instrument.base}: need {order.quantity}, free {free}"
        return None

    def _free(self, currency: str) -> Decimal:
        return self.balances.get(currency, _ZERO) - self.reserved.get(currency, _ZERO)

    def _reserve(self, vo: VenueOrder, instrument: Instrument, price: Decimal) -> None:
        if vo.is_buy:
            vo.reserved = vo.quantity * price * (1 + self.config.taker_fee)
            currency = instrument.quote
        else:
            vo.reserved = vo.quantity
            currency = instrument.base
        self.reserved[currency] = self.reserved.get(currency, _ZERO) + vo.reserved

    def _release(self, vo: VenueOrder, quantity: Decimal) -> None:
        if not vo.reserved:
            return
        instrument = self._instrument_for(vo.symbol)
        currency = instrument.quote if vo.is_buy else instrument.base
        share = vo.reserved if quantity >= vo.leaves + quantity else \
            vo.reserved * quantity / (vo.leaves + quantity)
        if vo.leaves <= 0:
            share = vo.reserved
        vo.reserved -= share
        self.reserved[currency] = self.reserved.get(currency, _ZERO) - share

    def _close(self, vo: VenueOrder, now: int, rejected: str | None = None) -> Any:
        self._touch(vo)
        resting = self.open_orders.get(vo.symbol)
        if resting and vo in resting:
            resting.remove(vo)
        if vo.reserved:
            # Release the whole remaining reservation (``_release`` is for fills only).
            instrument = self._instrument_for(vo.symbol)
            currency = instrument.quote if vo.is_buy else instrument.base
            self.reserved[currency] = self.reserved.get(currency, _ZERO) - vo.reserved
            vo.reserved = _ZERO
        if rejected is not None:
            return OrderRejected(client_order_id=vo.client_order_id, strategy_id=vo.strategy_id,
                                 venue=self.venue, symbol=vo.symbol, ts_event=now,
                                 reason=rejected, venue_order_id=vo.venue_order_id)
        vo.quantity = vo.filled  # nothing more can fill
        return OrderCanceled(client_order_id=vo.client_order_id, strategy_id=vo.strategy_id,
                             venue=self.venue, symbol=vo.symbol, ts_event=now,
                             venue_order_id=vo.venue_order_id)

    def _reject(self, order: Order, reason: str, now: int) -> OrderRejected:
        return OrderRejected(client_order_id=order.client_order_id, strategy_id=order.strategy_id,
                             venue=self.venue, symbol=order.symbol, ts_event=now, reason=reason)

    def _market(self, symbol: str) -> _Market:
        market = self._markets.get(symbol)
        if market is None:
            market = self._markets[symbol] = _Market()
        return market

    # -- persistence ------------------------------------------------------------------------

    def _touch(self, vo: VenueOrder) -> None:
        if self.track_changes:
            self.changed[vo.client_order_id] = vo

    def take_changes(self) -> tuple[list[VenueOrder], list[Fill]] | None:
        """Return the orders changed and the fills made since the last call, or None.

        Only tracked while ``track_changes`` is True; the account (balances, reservations,
        counters) changes only with them, or with a refused duplicate submit.
        """
        fills = self.fills[self._saved_fills:]
        if not (self.changed or fills or self._account_changed):
            return None
        orders = list(self.changed.values())
        self.changed.clear()
        self._saved_fills = len(self.fills)
        self._account_changed = False
        return orders, fills

    @property
    def order_seq(self) -> int:
        """Return how many orders the venue accepted (the last venue order id's number)."""
        return self._order_seq

    @property
    def trade_seq(self) -> int:
        """Return how many fills the venue made (the last trade id's number)."""
        return self._trade_seq

    def status_of(self, vo: VenueOrder) -> Literal["open", "next_open", "closed"]:
        """Return where an order is: ``open`` (resting), ``next_open`` or ``closed``."""
        if vo in self.open_orders.get(vo.symbol, ()):
            return "open"
        return "next_open" if vo in self._next_open else "closed"

    def market_of(self, symbol: str) -> tuple[Decimal | None, Decimal | None, Decimal | None,
                                              bool]:
        """Return the venue's ``(bid, ask, last, has_bars)`` for ``symbol``."""
        market = self._market(symbol)
        return market.bid, market.ask, market.last, market.has_bars

    def restore(self, balances: dict[str, Decimal], reserved: dict[str, Decimal],
                order_seq: int, trade_seq: int, duplicate_submits: int) -> None:
        """Set the account and counters saved before a restart."""
        self.balances = dict(balances)
        self.reserved = dict(reserved)
        self._order_seq = order_seq
        self._trade_seq = trade_seq
        self.duplicate_submits = duplicate_submits

    def restore_order(self, vo: VenueOrder, status: str) -> None:
        """Put back one order saved before a restart (call in acceptance order)."""
        self.orders[vo.client_order_id] = vo
        if status == "open":
            self.open_orders.setdefault(vo.symbol, []).append(vo)
        elif status == "next_open":
            self._next_open.append(vo)

    def restore_market(self, symbol: str, bid: Decimal | None, ask: Decimal | None,
                       last: Decimal | None, has_bars: bool) -> None:
        """Set the market last seen for ``symbol`` before a restart."""
        market = self._market(symbol)
        market.bid, market.ask, market.last, market.has_bars = bid, ask, last, has_bars

    def restore_fills(self, fills: list[Fill]) -> None:
        """Put back the fills saved before a restart (already saved: not changes)."""
        self.fills = list(fills)
        self._saved_fills = len(self.fills)

    def open_order_ids(self) -> list[str]:
        return [vo.client_order_id for orders in self.open_orders.values() for vo in orders]
