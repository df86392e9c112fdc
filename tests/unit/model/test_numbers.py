from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal

import pytest

from libra.model.numbers import (
    decimal_places,
    is_multiple_of,
    round_to_step,
    to_decimal,
    to_non_negative_decimal,
    to_plain_string,
    to_positive_decimal,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.10", Decimal("1.10")),
        (" 42 ", Decimal("42")),
        (7, Decimal("7")),
        (Decimal("0.003"), Decimal("0.003")),
        (0.1, Decimal("0.1")),
        (1e-8, Decimal("1e-8")),
    ],
)
def test_to_decimal_accepts_numbers(value: object, expected: Decimal) -> None:
    result = to_decimal(value)  # type: ignore[arg-type]
    assert result == expected
    assert type(result) is Decimal


def test_to_decimal_float_goes_through_str() -> None:
    """0.1 must not become 0.1000000000000000055511151231257827."""
    assert str(to_decimal(0.1)) == "0.1"
    assert str(to_decimal(0.1 + 0.2)) == "0.30000000000000004"


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "abc", "NaN", "inf", "-Infinity", float("nan"), float("inf"),
     Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), True, False, [1], b"1"],
)
def test_to_decimal_rejects_non_numbers(value: object) -> None:
    with pytest.raises(ValueError, match="invalid price") as info:
        to_decimal(value, name="price")  # type: ignore[arg-type]
    assert repr(value) in str(info.value)


def test_to_positive_decimal() -> None:
    assert to_positive_decimal("0.5") == Decimal("0.5")
    with pytest.raises(ValueError, match="positive"):
        to_positive_decimal("0", name="quantity")
    with pytest.raises(ValueError, match="positive"):
        to_positive_decimal(-1, name="quantity")


def test_to_non_negative_decimal() -> None:
    assert to_non_negative_decimal(0) == 0
    with pytest.raises(ValueError, match="zero or more"):
        to_non_negative_decimal("-0.1")


@pytest.mark.parametrize(
    ("value", "step", "rounding", "expected"),
    [
        ("1.234", "0.01", ROUND_HALF_EVEN, "1.23"),
        ("1.235", "0.01", ROUND_HALF_EVEN, "1.24"),
        ("1.225", "0.01", ROUND_HALF_EVEN, "1.22"),
        ("1.239", "0.01", ROUND_DOWN, "1.23"),
        ("1.231", "0.01", ROUND_UP, "1.24"),
        ("1.3", "0.5", ROUND_HALF_EVEN, "1.5"),
        ("1.2", "0.5", ROUND_DOWN, "1.0"),
        ("1234", "10", ROUND_HALF_EVEN, "1230"),
        ("1234", "1E+1", ROUND_CEILING, "1240"),
        ("-1.239", "0.01", ROUND_DOWN, "-1.23"),
        ("5", "0.001", ROUND_HALF_EVEN, "5.000"),
        ("0.000000019", "0.00000001", ROUND_DOWN, "0.00000001"),
    ],
)
def test_round_to_step(value: str, step: str, rounding: str, expected: str) -> None:
    result = round_to_step(Decimal(value), Decimal(step), rounding)
    assert result == Decimal(expected)
    assert to_plain_string(result) == expected


@pytest.mark.parametrize("step", ["0", "-0.01", "NaN", "Infinity"])
def test_round_to_step_rejects_bad_step(step: str) -> None:
    with pytest.raises(ValueError, match="invalid step"):
        round_to_step(Decimal("1"), Decimal(step))


def test_is_multiple_of() -> None:
    assert is_multiple_of(Decimal("1.25"), Decimal("0.25"))
    assert not is_multiple_of(Decimal("1.26"), Decimal("0.25"))


@pytest.mark.parametrize(
    ("step", "places"), [("0.01", 2), ("0.010", 2), ("1", 0), ("10", 0), ("1E-8", 8), ("0.5", 1)]
)
def test_decimal_places(step: str, places: int) -> None:
    assert decimal_places(Decimal(step)) == places


@pytest.mark.parametrize(
    ("value", "text"), [("1E-8", "0.00000001"), ("1.50", "1.50"), ("1E+2", "100")]
)
def test_to_plain_string(value: str, text: str) -> None:
    assert to_plain_string(Decimal(value)) == text
