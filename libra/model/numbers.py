"""Decimal helpers for the money path: parse at the boundary, round to a venue's step.

Prices, quantities, fees and balances are ``decimal.Decimal`` everywhere in LIBRA. Values enter
through :func:`to_decimal`, which refuses floats' binary noise (a float goes through ``str``,
never ``Decimal(float)``), NaN, infinities, ``None``, booleans and empty strings.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

ZERO = Decimal(0)
ONE = Decimal(1)

DecimalLike = Decimal | str | int | float


def to_decimal(value: DecimalLike, *, name: str = "value") -> Decimal:
    """Return ``value`` as a finite ``Decimal``.

    Accepts ``Decimal``, ``str`` and ``int``; a ``float`` is converted through ``str`` (its
    shortest repr), so ``0.1`` becomes ``Decimal("0.1")``.

    Raises:
        ValueError: the value is None, a bool, empty, not a number, NaN or infinite. The message
            names ``name`` and the value.
    """
    if type(value) is Decimal:
        if value.is_finite():
            return value
        raise ValueError(f"invalid {name}: expected a finite number, was {value!r}")
    if isinstance(value, bool) or value is None:
        raise ValueError(f"invalid {name}: expected a number, was {value!r}")
    if isinstance(value, int | Decimal):
        result = Decimal(value)
    elif isinstance(value, float | str):
        text = str(value).strip() if isinstance(value, float) else value.strip()
        if not text:
            raise ValueError(f"invalid {name}: expected a number, was {value!r}")
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"invalid {name}: expected a number, was {value!r}") from None
    else:
        raise ValueError(f"invalid {name}: expected str, int or Decimal, was {value!r}")
    if not result.is_finite():
        raise ValueError(f"invalid {name}: expected a finite number, was {value!r}")
    return result


def to_positive_decimal(value: DecimalLike, *, name: str = "value") -> Decimal:
    """Return ``value`` as a finite ``Decimal`` greater than zero.

    Raises:
        ValueError: as :func:`to_decimal`, or the value is zero or negative.
    """
    result = to_decimal(value, name=name)
    if result <= 0:
        raise ValueError(f"invalid {name}: expected a positive number, was {value!r}")
    return result


def to_non_negative_decimal(value: DecimalLike, *, name: str = "value") -> Decimal:
    """Return ``value`` as a finite ``Decimal`` greater than or equal to zero.

    Raises:
        ValueError: as :func:`to_decimal`, or the value is negative.
    """
    result = to_decimal(value, name=name)
    if result < 0:
        raise ValueError(f"invalid {name}: expected zero or more, was {value!r}")
    return result


def round_to_step(value: Decimal, step: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """Round ``value`` to a whole multiple of ``step`` using a ``decimal`` rounding mode.

    The result carries the step's exponent: ``round_to_step(Decimal("1.234"), Decimal("0.01"))``
    is ``Decimal("1.23")``. Steps need not be powers of ten (``Decimal("0.5")`` works).

    Raises:
        ValueError: ``step`` is not a finite number greater than zero.
    """
    if not (step.is_finite() and step > 0):
        raise ValueError(f"invalid step: expected a positive number, was {step!r}")
    units = (value / step).quantize(ONE, rounding=rounding)
    result = units * step
    if step.as_tuple().exponent > 0:  # type: ignore[operator]
        # Steps such as 1E+1 would otherwise give results printed as "1.23E+3".
        result = result.quantize(ONE)
    return result


def is_multiple_of(value: Decimal, step: Decimal) -> bool:
    """Return True if ``value`` is a whole multiple of ``step``."""
    return (value % step) == 0


def decimal_places(step: Decimal) -> int:
    """Return how many digits after the point ``step`` needs (``0.010`` -> 2, ``10`` -> 0)."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent)  # type: ignore[operator]


def to_plain_string(value: Decimal) -> str:
    """Return ``value`` in plain notation for venues and files (``1E-8`` -> ``"0.00000001"``)."""
    return f"{value:f}"


#: Digits after the point a number is shown with when no step says otherwise.
DISPLAY_PLACES = 8
#: Currencies whose amounts are shown with two decimals; any other (BTC, ETH, ...) with
#: ``DISPLAY_PLACES``. Fiat and the stablecoins pegged to it.
_CENTS = frozenset({
    "USD", "EUR", "GBP", "CHF", "CAD", "AUD", "NZD", "SGD", "HKD", "TRY", "BRL", "MXN",
    "ZAR", "PLN", "SEK", "NOK", "DKK", "CZK", "HUF", "INR", "CNY", "CNH", "RUB", "UAH",
    "USDT", "USDC", "BUSD", "TUSD", "DAI", "FDUSD", "USDP", "PYUSD", "USDE", "EURC", "EURT",
})
_WHOLE = frozenset({"JPY", "KRW", "IDR", "VND", "CLP"})


def currency_places(currency: str | None) -> int:
    """Return how many decimals an amount of ``currency`` is shown with (USD 2, BTC 8)."""
    code = (currency or "").upper()
    if code in _WHOLE:
        return 0
    return 2 if code in _CENTS else DISPLAY_PLACES


def display(value: Decimal | None, step: Decimal | None = None) -> str | None:
    """Return a price or quantity as people read it: at ``step``'s precision, plain.

    Rounded to the digits ``step`` has (``DISPLAY_PLACES`` without one), then trailing
    zeros cut: ``Decimal("0E-8")`` is ``"0"``, ``0.05000000`` is ``"0.05"``, never an
    exponent or twenty digits. ``None`` stays ``None``.
    """
    if value is None:
        return None
    if not value.is_finite():
        return str(value)
    places = DISPLAY_PLACES if step is None else decimal_places(step)
    text = f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN):f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def display_money(value: Decimal | None, currency: str | None = None) -> str | None:
    """Return an amount of ``currency`` at that currency's precision (``-3.61`` USD).

    Unlike :func:`display` the zeros stay (``1.50``): amounts line up and read as money.
    """
    if value is None:
        return None
    if not value.is_finite():
        return str(value)
    places = currency_places(currency)
    text = f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN):f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text
