"""The paper venue's account: balances, reservations, and what each fill costs.

A real venue holds funds for working orders, refuses an order the account cannot pay
for, charges fees and books each trade; the paper venue does the same so that a strategy
meets insufficient funds, fees and slippage in a backtest as it would live. Fees are
charged in the quote currency; slippage moves a taker's price against it, rounded to the
instrument's tick. The fills booked here are the venue's trade history.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from libra.gateways.paper.book import Market, VenueOrder
from libra.gateways.paper.config import PaperGatewayConfig
from libra.model.fills import Fill
from libra.model.instrument import Instrument
from libra.model.orders import Order, OrderSide

_ZERO = Decimal(0)
_BPS = Decimal(10_000)


class PaperAccount:
    """Balances, reserved funds, fees and booked fills of one paper venue."""

    def __init__(
        self,
        venue: str,
        config: PaperGatewayConfig,
        instrument_for: Callable[[str], Instrument],
    ) -> None:
        self.venue = venue
        self.config = config
        self._instrument_for = instrument_for
        self.balances: dict[str, Decimal] = dict(config.starting_balances)
        self.reserved: dict[str, Decimal] = {}
        self.fills: list[Fill] = []
        #: How many fills the venue made (the last trade id's number).
        self.trade_seq = 0
        #: Slippage as a fraction of the price.
        self.slip = config.slippage_bps / _BPS

    # -- funds ------------------------------------------------------------------------------

    def free(self, currency: str) -> Decimal:
        """Return the balance of ``currency`` not reserved for working orders."""
        return self.balances.get(currency, _ZERO) - self.reserved.get(currency, _ZERO)

    def refusal(self, order: Order, instrument: Instrument, price: Decimal) -> str | None:
        """Return why the account cannot pay for ``order`` at ``price``, or None if it can."""
        if not self.config.check_balances:
            return None
        if order.side is OrderSide.BUY:
            need = order.quantity * price * (1 + self.config.taker_fee + self.slip)
            free = self.free(instrument.quote)
            if need > free:
                return f"insufficient {instrument.quote}: need {need:.8f}, free {free:.8f}"
        elif not self.config.allow_short:
            free = self.free(instrument.base)
            if order.quantity > free:
                return f"insufficient {instrument.base}: need {order.quantity}, free {free}"
        return None

    def reserve(self, vo: VenueOrder, instrument: Instrument, market: Market) -> None:
        """Hold what ``vo`` may spend: quote (with the taker fee) for a buy, base for a sell."""
        price = self._reference_price(vo, market)
        if vo.is_buy:
            vo.reserved = vo.quantity * price * (1 + self.config.taker_fee)
            currency = instrument.quote
        else:
            vo.reserved = vo.quantity
            currency = instrument.base
        self.reserved[currency] = self.reserved.get(currency, _ZERO) + vo.reserved

    def _reference_price(self, vo: VenueOrder, market: Market) -> Decimal:
        if vo.price is not None:
            return vo.price
        touch = market.ask if vo.is_buy else market.bid
        # The venue refused the order if it knew no price at all (``_refuse``); a one-sided
        # book (asks only, no trade yet) still gives one, from the other side.
        price = touch or market.last or vo.trigger_price or market.ask or market.bid
        if price is None:
            raise ValueError(f"no price known for {vo.symbol}")
        return price * (1 + self.slip) if vo.is_buy else price

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

    def release_all(self, vo: VenueOrder) -> None:
        """Release the whole remaining reservation of a closed order (not for fills)."""
        if vo.reserved:
            instrument = self._instrument_for(vo.symbol)
            currency = instrument.quote if vo.is_buy else instrument.base
            self.reserved[currency] = self.reserved.get(currency, _ZERO) - vo.reserved
            vo.reserved = _ZERO

    # -- fills ------------------------------------------------------------------------------

    def slipped(self, vo: VenueOrder, price: Decimal, instrument: Instrument) -> Decimal:
        """Return ``price`` moved against a taker ``vo`` by the configured slippage."""
        if not self.slip:
            return price
        if vo.is_buy:
            return instrument.make_price(price * (1 + self.slip), ROUND_CEILING)
        return instrument.make_price(price * (1 - self.slip), ROUND_FLOOR)

    def book_fill(
        self,
        vo: VenueOrder,
        quantity: Decimal,
        price: Decimal,
        liquidity: str,
        instrument: Instrument,
        now: int,
    ) -> Fill:
        """Fill ``quantity`` of ``vo`` at ``price``: charge the fee, move the balances."""
        self.trade_seq += 1
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
            trade_id=f"{self.venue}-T{self.trade_seq}", strategy_id=vo.strategy_id,
            venue=self.venue, symbol=vo.symbol, side=vo.side, quantity=quantity, price=price,
            fee=fee, fee_currency=quote, liquidity=liquidity,  # type: ignore[arg-type]
            ts_event=now, ts_recv=now,
        )
        self.fills.append(fill)
        return fill
