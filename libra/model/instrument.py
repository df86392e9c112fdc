"""Tradable instruments: a venue's precision, limits and fees for one symbol."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import ClassVar

from libra.model.numbers import (
    ZERO,
    DecimalLike,
    decimal_places,
    round_to_step,
    to_decimal,
    to_non_negative_decimal,
    to_positive_decimal,
)
from libra.model.readable import Record

# Used by Instrument.default() for venues and feeds that carry no precision: 1e-8 is the finest
# step common crypto venues use (one satoshi), so rounding to it never loses a real digit.
DEFAULT_TICK_SIZE = Decimal("0.00000001")
DEFAULT_LOT_SIZE = Decimal("0.00000001")


def parse_symbol(symbol: str) -> tuple[str, str]:
    """Return ``(base, quote)`` of a ccxt-style symbol (``"BTC/USDT"``, ``"BTC/USDT:USDT"``).

    Raises:
        ValueError: the symbol is not ``BASE/QUOTE`` (optionally followed by ``:SETTLE``).
    """
    pair = symbol.split(":", 1)[0]
    base, sep, quote = pair.partition("/")
    if not sep or not base or not quote or "/" in quote:
        raise ValueError(f"invalid symbol: expected 'BASE/QUOTE', was {symbol!r}")
    return base, quote


class Instrument(Record, frozen=True, gc=False, kw_only=True):
    """One symbol on one venue: its currencies, precision, limits and fee rates.

    ``tick_size`` and ``lot_size`` are the price and quantity steps; ``min_quantity``,
    ``max_quantity``, ``min_notional`` and ``max_notional`` are the venue's order limits
    (None means no limit). ``maker_fee`` and ``taker_fee`` are rates (``0.001`` is 0.1 %); a
    negative rate is a rebate. All numbers are ``Decimal``. Build with keywords.
    """

    kind: ClassVar[str] = "instrument"
    _extra_keys: ClassVar[tuple[str, ...]] = ("price_precision", "quantity_precision")

    symbol: str
    venue: str
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    min_quantity: Decimal = ZERO
    max_quantity: Decimal | None = None
    min_notional: Decimal | None = None
    max_notional: Decimal | None = None
    maker_fee: Decimal = ZERO
    taker_fee: Decimal = ZERO

    def __post_init__(self) -> None:
        for name in ("tick_size", "lot_size"):
            value = getattr(self, name)
            if type(value) is not Decimal or not value.is_finite() or value <= 0:
                raise ValueError(f"invalid {name} for {self.symbol}: expected a positive "
                                 f"Decimal, was {value!r}")
        for name in ("min_quantity", "max_quantity", "min_notional", "max_notional",
                     "maker_fee", "taker_fee"):
            value = getattr(self, name)
            if value is not None and (type(value) is not Decimal or not value.is_finite()):
                raise ValueError(f"invalid {name} for {self.symbol}: expected a finite "
                                 f"Decimal, was {value!r}")

    @classmethod
    def default(
        cls,
        symbol: str,
        venue: str,
        *,
        tick_size: DecimalLike = DEFAULT_TICK_SIZE,
        lot_size: DecimalLike = DEFAULT_LOT_SIZE,
        maker_fee: DecimalLike = ZERO,
        taker_fee: DecimalLike = ZERO,
    ) -> Instrument:
        """Build an instrument for a venue or feed that publishes no precision.

        Base and quote come from the symbol (``"BTC/USDT"``). Defaults: tick and lot
        ``0.00000001``, no quantity or notional limits beyond one lot, zero fees.

        Raises:
            ValueError: the symbol is not ``BASE/QUOTE`` or a number is invalid.
        """
        base, quote = parse_symbol(symbol)
        lot = to_positive_decimal(lot_size, name="lot_size")
        return cls(
            symbol=symbol,
            venue=venue,
            base=base,
            quote=quote,
            tick_size=to_positive_decimal(tick_size, name="tick_size"),
            lot_size=lot,
            min_quantity=lot,
            maker_fee=to_decimal(maker_fee, name="maker_fee"),
            taker_fee=to_decimal(taker_fee, name="taker_fee"),
        )

    @property
    def price_precision(self) -> int:
        """Digits after the point in a price (``tick_size`` 0.01 -> 2)."""
        return decimal_places(self.tick_size)

    @property
    def quantity_precision(self) -> int:
        """Digits after the point in a quantity (``lot_size`` 0.001 -> 3)."""
        return decimal_places(self.lot_size)

    def make_price(self, value: DecimalLike, rounding: str = ROUND_HALF_EVEN) -> Decimal:
        """Return ``value`` rounded to a multiple of ``tick_size``.

        For orders, round buy prices down and sell prices up (``ROUND_DOWN``/``ROUND_UP``) when
        the price must never be worse than asked.

        Raises:
            ValueError: the value is not a finite number.
        """
        return round_to_step(to_decimal(value, name="price"), self.tick_size, rounding)

    def make_quantity(self, value: DecimalLike, rounding: str = ROUND_DOWN) -> Decimal:
        """Return ``value`` rounded to a multiple of ``lot_size``, down by default.

        Raises:
            ValueError: the value is not a finite number or is negative.
        """
        quantity = to_non_negative_decimal(value, name="quantity")
        return round_to_step(quantity, self.lot_size, rounding)

    def notional(self, quantity: Decimal, price: Decimal) -> Decimal:
        """Return the value of ``quantity`` at ``price`` in the quote currency."""
        return quantity * price

    def fee_rate(self, liquidity: str) -> Decimal:
        """Return the fee rate for ``"maker"`` or ``"taker"`` liquidity."""
        return self.maker_fee if liquidity == "maker" else self.taker_fee

    def check_order(self, quantity: Decimal, price: Decimal | None) -> str | None:
        """Return why an order breaks this instrument's rules, or None if it does not.

        Checks positivity, the lot and tick steps and the quantity and notional limits. The
        notional limits are checked only when a price is known (not for market orders).
        """
        if quantity <= 0:
            return f"quantity must be positive, was {quantity}"
        if quantity % self.lot_size != 0:
            return f"quantity {quantity} is not a multiple of lot_size {self.lot_size}"
        if quantity < self.min_quantity:
            return f"quantity {quantity} is below min_quantity {self.min_quantity}"
        if self.max_quantity is not None and quantity > self.max_quantity:
            return f"quantity {quantity} is above max_quantity {self.max_quantity}"
        if price is None:
            return None
        if price <= 0:
            return f"price must be positive, was {price}"
        if price % self.tick_size != 0:
            return f"price {price} is not a multiple of tick_size {self.tick_size}"
        return self.check_notional(quantity * price)

    def check_notional(self, notional: Decimal) -> str | None:
        """Return why ``notional`` breaks the notional limits, or None if it does not."""
        if self.min_notional is not None and notional < self.min_notional:
            return f"notional {notional} is below min_notional {self.min_notional}"
        if self.max_notional is not None and notional > self.max_notional:
            return f"notional {notional} is above max_notional {self.max_notional}"
        return None

    _check_notional = check_notional  # the earlier private name, still used by risk checks

    @property
    def topic(self) -> str:
        """The bus topic of instrument updates: ``data.instrument.<venue>.<symbol>``."""
        return f"data.instrument.{self.venue}.{self.symbol}"
