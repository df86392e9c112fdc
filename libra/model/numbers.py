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
