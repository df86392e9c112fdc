"""Net positions per strategy and symbol, with average-cost PnL.

A position keeps a signed ``quantity`` and a signed ``cost`` (the quote-currency amount paid
for the open quantity; negative when short). ``avg_entry_price`` is ``cost / quantity``.
Reducing a position moves the matching share of the cost into ``realized_pnl``; crossing zero
closes the old side in full and opens the new side at the fill price.

Because every fill changes ``realized_pnl - cost`` by exactly ``-signed_quantity * price``,
``realized_pnl + unrealized_pnl(mark)`` always equals ``quantity * mark`` minus the net amount
paid for all fills, exactly, whatever rounding the average price needs.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from libra.model.fills import Fill
from libra.model.orders import OrderSide, ReadableSlots

_ZERO = Decimal(0)
# The share of cost removed by a partial reduce is rounded to this quantum so that later sums
# stay exact within Decimal's 28 digits; the rounding moves between realized and unrealized
# PnL, never out of their total.
_COST_QUANTUM = Decimal("1e-12")


class PositionSide(StrEnum):
    """Direction of a position; equal to the plain strings ``"long"``, ``"short"``, ``"flat"``."""

    LONG = "long"
    SHORT = "short"
    FLAT = "flat"


class Position(ReadableSlots):
    """The net position of one strategy in one symbol on one venue.

    ``realized_pnl`` is gross: fees are not in it. ``fees`` holds the fees in the quote
    currency (fees charged in the base currency are converted at the fill price); fees in any
    other currency are in ``other_fees``. ``net_realized_pnl`` is ``realized_pnl - fees``.
    The quantity is the signed sum of fill quantities (a fee charged in the base currency does
    not change it).
    """

    __slots__ = (
        "base", "cost", "fees", "fill_count", "other_fees", "quantity", "quote",
        "realized_pnl", "strategy_id", "symbol", "ts_last", "ts_opened", "venue",
    )
    _keys: ClassVar[tuple[str, ...]] = (
        "strategy_id", "venue", "symbol", "base", "quote", "quantity", "avg_entry_price",
        "realized_pnl", "fees", "net_realized_pnl", "side", "ts_opened", "ts_last",
    )

    def __init__(self, *, strategy_id: str, venue: str, symbol: str, base: str,
                 quote: str) -> None:
        self.strategy_id = strategy_id
        self.venue = venue
        self.symbol = symbol
        self.base = base
        self.quote = quote
        self.quantity = _ZERO
        """Signed open quantity: positive long, negative short."""
        self.cost = _ZERO
        """Signed quote-currency cost of the open quantity (``quantity * avg_entry_price``)."""
        self.realized_pnl = _ZERO
        self.fees = _ZERO
        self.other_fees: dict[str, Decimal] = {}
        self.fill_count = 0
        self.ts_opened = 0
        """When the current side was opened (ns); 0 before the first fill."""
        self.ts_last = 0

    def __repr__(self) -> str:
        return (f"Position({self.strategy_id!r}, {self.symbol!r}, quantity={self.quantity}, "
                f"avg_entry_price={self.avg_entry_price}, realized_pnl={self.realized_pnl})")

    # -- properties ------------------------------------------------------------------------

    @property
    def avg_entry_price(self) -> Decimal:
        """The average price of the open quantity; zero when flat."""
        if not self.quantity:
            return _ZERO
        return self.cost / self.quantity

    @property
    def side(self) -> PositionSide:
        """LONG, SHORT or FLAT."""
        if self.quantity > 0:
            return PositionSide.LONG
        if self.quantity < 0:
            return PositionSide.SHORT
        return PositionSide.FLAT

    @property
    def is_flat(self) -> bool:
        """True with no open quantity."""
        return not self.quantity

    @property
    def is_long(self) -> bool:
        """True with a positive quantity."""
        return self.quantity > 0

    @property
    def is_short(self) -> bool:
        """True with a negative quantity."""
        return self.quantity < 0

    @property
    def net_realized_pnl(self) -> Decimal:
        """Realized PnL after the quote-currency fees."""
        return self.realized_pnl - self.fees

    def unrealized_pnl(self, mark_price: Decimal) -> Decimal:
        """Return the PnL of the open quantity if it were closed at ``mark_price``."""
        return self.quantity * mark_price - self.cost

    def market_value(self, mark_price: Decimal) -> Decimal:
        """Return the signed value of the open quantity at ``mark_price`` (negative if short)."""
        return self.quantity * mark_price

    def notional(self, mark_price: Decimal) -> Decimal:
        """Return the absolute value of the open quantity at ``mark_price``."""
        return abs(self.quantity) * mark_price

    def total_pnl(self, mark_price: Decimal) -> Decimal:
        """Return realized plus unrealized PnL, before fees."""
        return self.realized_pnl + self.unrealized_pnl(mark_price)

    # -- fills -----------------------------------------------------------------------------

    def apply_fill(self, fill: Fill) -> None:
        """Apply one fill: open, increase, reduce, close or flip the position.

        Raises:
            ValueError: the fill is for another symbol or its quantity is not positive.
        """
        if fill.symbol != self.symbol:
            raise ValueError(f"fill for {fill.symbol!r} applied to position in {self.symbol!r}")
        if fill.quantity <= 0:
            raise ValueError(f"invalid fill quantity, was {fill.quantity!r}")
        price = fill.price
        signed = fill.quantity if fill.side == OrderSide.BUY else -fill.quantity
        held = self.quantity
        if not held or (held > 0) == (signed > 0):
            self._open(signed, price, fill.ts_event, was_flat=not held)
        elif abs(signed) <= abs(held):
            self._reduce(signed, price)
        else:
            # Flip through zero: close the old side in full, open the rest at the fill price.
            self._reduce(-held, price)
            self._open(signed + held, price, fill.ts_event, was_flat=True)
        self._add_fee(fill)
        self.fill_count += 1
        self.ts_last = fill.ts_event

    def _open(self, signed: Decimal, price: Decimal, ts: int, *, was_flat: bool) -> None:
        self.quantity += signed
        self.cost += signed * price
        if was_flat:
            self.ts_opened = ts

    def _reduce(self, signed: Decimal, price: Decimal) -> None:
        held = self.quantity
        if signed == -held:
            removed = self.cost
        else:
            removed = self.cost * abs(signed) / abs(held)
            if removed.adjusted() < 15:
                removed = removed.quantize(_COST_QUANTUM)
        self.quantity = held + signed
        self.cost -= removed
        self.realized_pnl += -signed * price - removed

    def _add_fee(self, fill: Fill) -> None:
        fee = fill.fee
        if not fee:
            return
        currency = fill.fee_currency
        if currency == self.quote:
            self.fees += fee
        elif currency == self.base:
            self.fees += fee * fill.price
        else:
            self.other_fees[currency] = self.other_fees.get(currency, _ZERO) + fee

    def snapshot(self) -> dict[str, Any]:
        """Return plain data (Decimals as strings) for logs, status and persistence."""
        return {
            "strategy_id": self.strategy_id,
            "venue": self.venue,
            "symbol": self.symbol,
            "base": self.base,
            "quote": self.quote,
            "side": self.side.value,
            "quantity": str(self.quantity),
            "avg_entry_price": str(self.avg_entry_price),
            "cost": str(self.cost),
            "realized_pnl": str(self.realized_pnl),
            "fees": str(self.fees),
            "other_fees": {k: str(v) for k, v in self.other_fees.items()},
            "fill_count": self.fill_count,
            "ts_opened": self.ts_opened,
            "ts_last": self.ts_last,
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> Position:
        """Rebuild a position from ``snapshot()`` output (as the state store restores it)."""
        position = cls(strategy_id=data["strategy_id"], venue=data["venue"],
                       symbol=data["symbol"], base=data["base"], quote=data["quote"])
        position.quantity = Decimal(data["quantity"])
        position.cost = Decimal(data["cost"])
        position.realized_pnl = Decimal(data["realized_pnl"])
        position.fees = Decimal(data["fees"])
        position.other_fees = {k: Decimal(v) for k, v in data["other_fees"].items()}
        position.fill_count = int(data["fill_count"])
        position.ts_opened = int(data["ts_opened"])
        position.ts_last = int(data["ts_last"])
        return position
