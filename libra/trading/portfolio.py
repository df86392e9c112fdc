"""The portfolio: balances per account, positions per strategy, marks and PnL.

Pure bookkeeping (no bus, no asyncio): the kernel feeds it fills, mark prices and balance
snapshots, and reads equity and PnL from it.

Cash follows spot accounting: a buy of ``q`` at ``p`` moves ``q * p`` of the quote currency
out of the account and ``q`` of the base currency in (a sell the reverse), and the fee leaves
the fee currency's balance. The account is the fill's ``venue`` (the gateway id). Margin and
derivatives accounting are not modelled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from libra.model.fills import Fill
from libra.model.instrument import Instrument, parse_symbol
from libra.model.orders import OrderSide
from libra.model.positions import Position

_ZERO = Decimal(0)


class Portfolio:
    """Balances per account and currency, and net positions per strategy and symbol.

    Call ``apply_fill`` once per new fill (``Order.apply_fill`` returning True tells the
    execution engine a fill is new): the portfolio does not de-duplicate fills itself.
    Positions are keyed by ``(strategy_id, symbol)``; a strategy trades a symbol on one venue.
    """

    __slots__ = ("_balances", "_fill_prices", "_instruments", "_marks", "_positions")

    def __init__(
        self,
        instruments: Iterable[Instrument] = (),
        marks: dict[str, Decimal] | None = None,
    ) -> None:
        """Args:
        marks: a live mapping of symbol to mark price to read from (the kernel passes
            its cache's latest prices, so marking costs nothing per event).
        """
        self._instruments: dict[tuple[str, str], Instrument] = {}
        self._balances: dict[str, dict[str, Decimal]] = {}
        self._positions: dict[tuple[str, str], Position] = {}
        self._marks: dict[str, Decimal] = {} if marks is None else marks
        self._fill_prices: dict[str, Decimal] = {}
        for instrument in instruments:
            self.add_instrument(instrument)

    # -- instruments and balances ----------------------------------------------------------

    def add_instrument(self, instrument: Instrument) -> None:
        """Register an instrument, whose base and quote currencies then name the balances.

        Without one, currencies are parsed from the symbol (``"BTC/USDT"``).
        """
        self._instruments[(instrument.venue, instrument.symbol)] = instrument

    def set_balances(self, account: str, balances: Mapping[str, Decimal]) -> None:
        """Replace an account's balances with a snapshot from the venue (reconciliation).

        Raises:
            ValueError: a balance is not a finite Decimal.
        """
        for currency, amount in balances.items():
            if type(amount) is not Decimal or not amount.is_finite():
                raise ValueError(f"invalid balance for {account} {currency}: expected a finite "
                                 f"Decimal, was {amount!r}")
        self._balances[account] = dict(balances)

    def balance(self, account: str, currency: str) -> Decimal:
        """Return the balance of ``currency`` in ``account`` (zero if none)."""
        return self._balances.get(account, {}).get(currency, _ZERO)

    def balances(self, account: str) -> dict[str, Decimal]:
        """Return a copy of every balance in ``account``."""
        return dict(self._balances.get(account, {}))

    @property
    def accounts(self) -> list[str]:
        """The accounts that have balances."""
        return list(self._balances)

    # -- fills and marks -------------------------------------------------------------------

    def apply_fill(self, fill: Fill) -> Position:
        """Apply a fill to its strategy's position and to its account's cash; return the position.

        Raises:
            ValueError: the fill's symbol has no instrument and is not ``BASE/QUOTE``, the
                position is held on another venue, or the fill quantity is not positive.
        """
        position = self._position_for(fill)
        position.apply_fill(fill)
        self._move_cash(fill, position.base, position.quote)
        self._fill_prices[fill.symbol] = fill.price
        return position

    def mark(self, symbol: str, price: Decimal) -> None:
        """Set the mark price of ``symbol`` (a Decimal), used for unrealized PnL and equity."""
        self._marks[symbol] = price

    def mark_price(self, symbol: str) -> Decimal | None:
        """Return the mark of ``symbol``: the last ``mark``, else the last fill price, else None."""
        price = self._marks.get(symbol)
        if price is None:
            price = self._fill_prices.get(symbol)
        return price

    def _position_for(self, fill: Fill) -> Position:
        key = (fill.strategy_id, fill.symbol)
        position = self._positions.get(key)
        if position is None:
            base, quote = self._currencies(fill.venue, fill.symbol)
            position = Position(strategy_id=fill.strategy_id, venue=fill.venue,
                                symbol=fill.symbol, base=base, quote=quote)
            self._positions[key] = position
        elif position.venue != fill.venue:
            raise ValueError(f"fill on venue {fill.venue!r} for strategy {fill.strategy_id!r} "
                             f"{fill.symbol!r}, whose position is on {position.venue!r}")
        return position

    def _currencies(self, venue: str, symbol: str) -> tuple[str, str]:
        instrument = self._instruments.get((venue, symbol))
        if instrument is not None:
            return instrument.base, instrument.quote
        return parse_symbol(symbol)

    def _move_cash(self, fill: Fill, base: str, quote: str) -> None:
        cash = self._balances.setdefault(fill.venue, {})
        quantity = fill.quantity
        notional = quantity * fill.price
        if fill.side == OrderSide.BUY:
            cash[quote] = cash.get(quote, _ZERO) - notional
            cash[base] = cash.get(base, _ZERO) + quantity
        else:
            cash[quote] = cash.get(quote, _ZERO) + notional
            cash[base] = cash.get(base, _ZERO) - quantity
        if fill.fee:
            cash[fill.fee_currency] = cash.get(fill.fee_currency, _ZERO) - fill.fee

    # -- positions and PnL -----------------------------------------------------------------

    def position(self, strategy_id: str, symbol: str) -> Position | None:
        """Return the position of ``strategy_id`` in ``symbol``, or None if it never traded it."""
        return self._positions.get((strategy_id, symbol))

    def positions(self, strategy_id: str | None = None, *, open_only: bool = False
                  ) -> list[Position]:
        """Return the positions, of one strategy if given, only non-flat ones if asked."""
        return [
            p for p in self._positions.values()
            if (strategy_id is None or p.strategy_id == strategy_id)
            and not (open_only and p.is_flat)
        ]

    def add_position(self, position: Position) -> None:
        """Put a restored position back (state store restore at start)."""
        self._positions[(position.strategy_id, position.symbol)] = position

    def unrealized_pnl_of(self, position: Position) -> Decimal:
        """Return a position's unrealized PnL at its symbol's mark (zero without a mark)."""
        if position.is_flat:
            return _ZERO
        mark = self.mark_price(position.symbol)
        return _ZERO if mark is None else position.unrealized_pnl(mark)

    def realized_pnl(self, strategy_id: str) -> dict[str, Decimal]:
        """Return a strategy's realized PnL (before fees) per quote currency."""
        return self._sum_by_quote(strategy_id, lambda p: p.realized_pnl)

    def unrealized_pnl(self, strategy_id: str) -> dict[str, Decimal]:
        """Return a strategy's unrealized PnL at the current marks, per quote currency."""
        return self._sum_by_quote(strategy_id, self.unrealized_pnl_of)

    def fees(self, strategy_id: str) -> dict[str, Decimal]:
        """Return a strategy's fees in quote terms, per quote currency (see ``Position``)."""
        return self._sum_by_quote(strategy_id, lambda p: p.fees)

    def _sum_by_quote(
        self, strategy_id: str, value: Callable[[Position], Decimal]
    ) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for position in self._positions.values():
            if position.strategy_id == strategy_id:
                totals[position.quote] = totals.get(position.quote, _ZERO) + value(position)
        return totals

    def equity(self, account: str, currency: str) -> Decimal:
        """Return cash in ``currency`` plus the marked value of the positions quoted in it.

        Positions count at their mark (the last fill price when not marked yet); short
        positions count negative. Balances in other currencies are not converted.
        """
        total, held = self.equity_terms(account, currency)
        for position, price in held:
            total += position.market_value(price)
        return total

    def equity_terms(
        self, account: str, currency: str
    ) -> tuple[Decimal, list[tuple[Position, Decimal]]]:
        """Return what ``equity`` sums: the cash, and each open position quoted in ``currency``
        with the price it counts at now (its mark, else the last fill, else average entry).

        Between two fills only the marks move, so a caller that marks equity often (a
        backtest, once per bar) takes the terms after each fill and multiplies by the marks.
        """
        held = []
        for position in self._positions.values():
            if position.venue == account and position.quote == currency and position.quantity:
                price = self.mark_price(position.symbol)
                held.append((position, position.avg_entry_price if price is None else price))
        return self.balance(account, currency), held

    def snapshot(self) -> dict[str, Any]:
        """Return plain data (Decimals as strings) for logs and status."""
        positions = []
        for position in self._positions.values():
            data = position.snapshot()
            mark = self.mark_price(position.symbol)
            data["mark_price"] = None if mark is None else str(mark)
            data["unrealized_pnl"] = str(self.unrealized_pnl_of(position))
            positions.append(data)
        strategies = sorted({p.strategy_id for p in self._positions.values()})
        return {
            "balances": {
                account: {currency: str(amount) for currency, amount in cash.items()}
                for account, cash in self._balances.items()
            },
            "marks": {symbol: str(price) for symbol, price in self._marks.items()},
            "positions": positions,
            "pnl": {sid: self._strategy_pnl(sid) for sid in strategies},
        }

    def _strategy_pnl(self, strategy_id: str) -> dict[str, dict[str, str]]:
        realized = self.realized_pnl(strategy_id)
        unrealized = self.unrealized_pnl(strategy_id)
        fees = self.fees(strategy_id)
        return {
            currency: {
                "realized_pnl": str(realized[currency]),
                "unrealized_pnl": str(unrealized[currency]),
                "fees": str(fees[currency]),
            }
            for currency in realized
        }
