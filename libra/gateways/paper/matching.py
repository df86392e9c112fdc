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

The crossing and trigger rules are in ``book.py``, balances, fees and slippage in
``account.py``; this module decides when each applies.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Literal

from libra.gateways.paper.account import PaperAccount
from libra.gateways.paper.book import (
    Market,
    VenueOrder,
    cross,
    fill_at_open,
    touch_price,
    trigger_price,
    triggered_by,
)
from libra.gateways.paper.config import PaperGatewayConfig
from libra.model.fills import Fill
from libra.model.instrument import Instrument
from libra.model.order_events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderRejected,
)
from libra.model.orders import Order, OrderSide, OrderType, TimeInForce

#: Closed orders and fills a venue that saves to the state store keeps in memory.
SAVED_HISTORY = 10_000

__all__ = ["MatchingEngine", "VenueOrder"]


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
        self.account = PaperAccount(venue, config, instrument_for)
        self.orders: dict[str, VenueOrder] = {}
        self.open_orders: dict[str, list[VenueOrder]] = {}
        self._markets: dict[str, Market] = {}
        self._next_open: list[VenueOrder] = []
        self._order_seq = 0
        #: Submits refused because the client order id was already used.
        self.duplicate_submits = 0
        #: When True, orders that change are kept in ``changed`` until ``take_changes``.
        self.track_changes = False
        self.changed: dict[str, VenueOrder] = {}
        self._account_changed = False
        self._saved_fills = 0
        self._closed_saved: deque[str] = deque()
        #: How many saved closed orders and fills stay in memory (see take_changes).
        self.saved_history = SAVED_HISTORY
        self._latency_ns = int(config.latency_ms * 1_000_000)
        #: Set by a backtest, which clears ``opening`` before a bar reaches the strategies
        #: (a live feed cannot say when a strategy has seen a bar).
        self.open_window = False
        #: symbol -> the bar whose open the venue is at, after next-open fills: orders that
        #: arrive now trade at that open and against that bar (see ``book.fill_at_open``).
        self.opening: dict[str, Any] = {}
        self._bars_next_open = config.bar_execution == "next_open"

    @property
    def balances(self) -> dict[str, Decimal]:
        """Return the venue's balance per currency (the account's, not a copy)."""
        return self.account.balances

    @property
    def reserved(self) -> dict[str, Decimal]:
        """Return the funds held for working orders, per currency."""
        return self.account.reserved

    @property
    def fills(self) -> list[Fill]:
        """Return every fill the venue made, oldest first."""
        return self.account.fills

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
        self.account.reserve(vo, instrument, market)
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
            market = self._markets[symbol] = Market()
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

    def _match(self, event: Any, market: Market, resting: list[VenueOrder]) -> list[Any]:
        now = event.ts_event
        events: list[Any] = []
        instrument = self._instrument_for(event.symbol)
        if self._next_open and event.kind == "bar":
            waiting, self._next_open = self._next_open, []
            for vo in waiting:
                if vo.symbol != event.symbol:
                    self._next_open.append(vo)
                    continue
                price = self.account.slipped(vo, event.open, instrument)
                events.append(self._fill(vo, vo.leaves, price, "taker", instrument, now))
            if events and self.open_window:
                self.opening[event.symbol] = event
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
            fill = cross(vo, event)
            if fill is not None:
                quantity, price = fill
                events.append(self._fill(vo, quantity, price, "maker", instrument, now))
                if vo.leaves <= 0:
                    resting.remove(vo)
        return events

    def _trigger(
        self, vo: VenueOrder, event: Any, resting: list[VenueOrder], instrument: Instrument,
        market: Market,
    ) -> list[Any] | None:
        """Trigger a stop on ``event``: return its events, or None to go on matching it."""
        trigger_fill = trigger_price(vo, event)
        if trigger_fill is None:
            return []
        vo.triggered = True
        self._touch(vo)
        now = event.ts_event
        if vo.type is OrderType.STOP_MARKET:
            resting.remove(vo)
            price = self.account.slipped(vo, trigger_fill, instrument)
            return [self._fill(vo, vo.leaves, price, "taker", instrument, now)]
        if event.kind != "bar":
            # A triggered stop-limit is a new limit order: a taker at the touch when
            # marketable, else it rests at its price.
            resting.remove(vo)
            return self._arrive_limit(vo, instrument, market, now)
        return None  # on a bar, the bar's range decides the limit fill

    # -- arrival ----------------------------------------------------------------------------

    def _on_arrival(
        self, vo: VenueOrder, instrument: Instrument, market: Market, now: int
    ) -> list[Any]:
        self._touch(vo)
        bar = self.opening.get(vo.symbol) if self.opening else None
        if bar is not None:
            return self._arrive_at_open(vo, bar, instrument, now)
        if vo.type is OrderType.MARKET:
            return self._arrive_market(vo, instrument, market, now)
        if vo.type in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT):
            last = market.last if market.last is not None else market.ask or market.bid
            if self._between_bars(market):  # the next bar triggers it (book.trigger_price)
                self.open_orders.setdefault(vo.symbol, []).append(vo)
                return []
            if last is not None and triggered_by(vo, last):
                vo.triggered = True
                if vo.type is OrderType.STOP_MARKET:
                    return [self._fill(vo, vo.leaves, self.account.slipped(vo, last, instrument),
                                       "taker", instrument, now)]
            else:
                self.open_orders.setdefault(vo.symbol, []).append(vo)
                return []
        return self._arrive_limit(vo, instrument, market, now)

    def _arrive_market(
        self, vo: VenueOrder, instrument: Instrument, market: Market, now: int
    ) -> list[Any]:
        touch = market.ask if vo.is_buy else market.bid
        if touch is None and market.has_bars and self.config.bar_execution == "next_open":
            self._next_open.append(vo)
            return []
        price = touch if touch is not None else market.last
        if price is None:  # a one-sided book, no trade yet: no liquidity, canceled as venues do
            return [self._close(vo, now)]
        return [self._fill(vo, vo.leaves, self.account.slipped(vo, price, instrument), "taker",
                           instrument, now)]

    def _arrive_limit(
        self, vo: VenueOrder, instrument: Instrument, market: Market, now: int
    ) -> list[Any]:
        assert vo.price is not None
        touch = touch_price(vo.is_buy, market)
        marketable = touch is not None and (touch <= vo.price if vo.is_buy else touch >= vo.price)
        if marketable and self._between_bars(market) and vo.tif is TimeInForce.GTC:
            marketable = False  # no price between bars: it fills within the next bar
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

    def _between_bars(self, market: Market) -> bool:  # "next_open": no price between bars
        return self._bars_next_open and market.has_bars and market.ask is market.bid is None

    def _arrive_at_open(
        self, vo: VenueOrder, bar: Any, instrument: Instrument, now: int
    ) -> list[Any]:
        """Trade an order arriving while the venue is at ``bar``'s open (``opening``)."""
        filled = fill_at_open(vo, bar)
        if filled is not None:
            quantity, price = filled
            if vo.type is not OrderType.LIMIT:
                price = self.account.slipped(vo, price, instrument)
            fill = self._fill(vo, quantity, price, "taker", instrument, now)
            if vo.leaves <= 0:
                return [fill]
        if vo.tif in (TimeInForce.IOC, TimeInForce.FOK):
            return [self._close(vo, now)]
        self.open_orders.setdefault(vo.symbol, []).append(vo)
        return []

    # -- fills, refusals, closing -----------------------------------------------------------

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
        return self.account.book_fill(vo, quantity, price, liquidity, instrument, now)

    def _refuse(self, order: Order, instrument: Instrument, market: Market) -> str | None:
        price = order.price or order.trigger_price or market.ask or market.bid or market.last
        if price is None:
            return f"no market data for {order.symbol} yet"
        if order.post_only and order.type is OrderType.LIMIT and not self._latency_ns:
            # Refused before acceptance, as venues do (an accepted order cannot be rejected).
            touch = touch_price(order.side is OrderSide.BUY, market)
            if touch is not None and (touch <= price if order.side is OrderSide.BUY
                                      else touch >= price):
                return "post-only order would take liquidity"
        return self.account.refusal(order, instrument, price)

    def _close(self, vo: VenueOrder, now: int, rejected: str | None = None) -> Any:
        self._touch(vo)
        resting = self.open_orders.get(vo.symbol)
        if resting and vo in resting:
            resting.remove(vo)
        self.account.release_all(vo)
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

    def _market(self, symbol: str) -> Market:
        market = self._markets.get(symbol)
        if market is None:
            market = self._markets[symbol] = Market()
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
        self._forget_saved_history(orders)
        return orders, fills

    def _forget_saved_history(self, saved: list[VenueOrder]) -> None:
        """Keep at most ``saved_history`` closed orders and fills in memory once they are in
        the state store: a venue that runs for months must not grow with its history (the
        store keeps it, and a restart reads it back from there)."""
        closed = self._closed_saved
        closed.extend(vo.client_order_id for vo in saved if self.status_of(vo) == "closed")
        while len(closed) > self.saved_history:
            self.orders.pop(closed.popleft(), None)
        excess = len(self.account.fills) - self.saved_history
        if excess > 0:
            del self.account.fills[:excess]
            self._saved_fills -= excess

    @property
    def order_seq(self) -> int:
        """Return how many orders the venue accepted (the last venue order id's number)."""
        return self._order_seq

    @property
    def trade_seq(self) -> int:
        """Return how many fills the venue made (the last trade id's number)."""
        return self.account.trade_seq

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
        self.account.balances = dict(balances)
        self.account.reserved = dict(reserved)
        self._order_seq = order_seq
        self.account.trade_seq = trade_seq
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
        self.account.fills = list(fills)
        self._saved_fills = len(self.fills)

    def open_order_ids(self) -> list[str]:
        return [vo.client_order_id for orders in self.open_orders.values() for vo in orders]
