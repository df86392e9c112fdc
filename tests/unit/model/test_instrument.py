from decimal import ROUND_UP, Decimal

import pytest

from libra.model.instrument import Instrument, parse_symbol


@pytest.fixture
def btc() -> Instrument:
    return Instrument(
        symbol="BTC/USDT",
        venue="binance",
        base="BTC",
        quote="USDT",
        tick_size=Decimal("0.01"),
        lot_size=Decimal("0.00001"),
        min_quantity=Decimal("0.0001"),
        max_quantity=Decimal("100"),
        min_notional=Decimal("5"),
        max_notional=Decimal("1000000"),
        maker_fee=Decimal("0.001"),
        taker_fee=Decimal("0.001"),
    )


def test_make_price_rounds_to_tick(btc: Instrument) -> None:
    assert btc.make_price("27123.455") == Decimal("27123.46")
    assert btc.make_price("27123.445") == Decimal("27123.44")
    assert btc.make_price(27123.451, rounding=ROUND_UP) == Decimal("27123.46")
    assert str(btc.make_price(27000)) == "27000.00"


def test_make_quantity_rounds_down_by_default(btc: Instrument) -> None:
    assert btc.make_quantity("0.123456789") == Decimal("0.12345")
    assert btc.make_quantity(0.1) == Decimal("0.10000")
    assert btc.make_quantity("0.000019", rounding=ROUND_UP) == Decimal("0.00002")


def test_make_quantity_rejects_negative_and_nan(btc: Instrument) -> None:
    with pytest.raises(ValueError, match="quantity"):
        btc.make_quantity("-1")
    with pytest.raises(ValueError, match="quantity"):
        btc.make_quantity(float("nan"))


def test_precision(btc: Instrument) -> None:
    assert btc.price_precision == 2
    assert btc["quantity_precision"] == 5


def test_mapping_reads(btc: Instrument) -> None:
    assert btc["symbol"] == "BTC/USDT"
    assert btc.get("tick_size") == Decimal("0.01")
    assert btc.get("missing") is None


def test_check_order(btc: Instrument) -> None:
    assert btc.check_order(Decimal("0.01"), Decimal("27000.00")) is None
    assert btc.check_order(Decimal("0.01"), None) is None
    assert "lot_size" in (btc.check_order(Decimal("0.000001"), None) or "")
    assert "min_quantity" in (btc.check_order(Decimal("0.00001"), None) or "")
    assert "max_quantity" in (btc.check_order(Decimal("101"), None) or "")
    assert "tick_size" in (btc.check_order(Decimal("0.01"), Decimal("1.001")) or "")
    assert "min_notional" in (btc.check_order(Decimal("0.0001"), Decimal("100")) or "")
    assert "max_notional" in (btc.check_order(Decimal("100"), Decimal("20000")) or "")
    assert "positive" in (btc.check_order(Decimal("0"), None) or "")
    assert "positive" in (btc.check_order(Decimal("1"), Decimal("-1")) or "")


def test_fee_rate(btc: Instrument) -> None:
    assert btc.fee_rate("maker") == Decimal("0.001")
    assert btc.fee_rate("taker") == Decimal("0.001")


def test_default_parses_currencies() -> None:
    instrument = Instrument.default("ETH/BTC", "paper")
    assert (instrument.base, instrument.quote) == ("ETH", "BTC")
    assert instrument.tick_size == Decimal("0.00000001")
    assert instrument.lot_size == Decimal("0.00000001")
    assert instrument.min_quantity == instrument.lot_size
    assert instrument.taker_fee == 0
    assert instrument.make_price("0.0512345678") == Decimal("0.05123457")


def test_default_accepts_overrides() -> None:
    instrument = Instrument.default("BTC/USDT", "paper", tick_size="0.1", taker_fee="0.0004")
    assert instrument.make_price("100.06") == Decimal("100.1")
    assert instrument.taker_fee == Decimal("0.0004")


@pytest.mark.parametrize(("symbol", "pair"), [
    ("BTC/USDT", ("BTC", "USDT")),
    ("BTC/USDT:USDT", ("BTC", "USDT")),
])
def test_parse_symbol(symbol: str, pair: tuple[str, str]) -> None:
    assert parse_symbol(symbol) == pair


@pytest.mark.parametrize("symbol", ["BTCUSDT", "/USDT", "BTC/", "A/B/C", ""])
def test_parse_symbol_rejects(symbol: str) -> None:
    with pytest.raises(ValueError, match="invalid symbol"):
        parse_symbol(symbol)


@pytest.mark.parametrize("field", ["tick_size", "lot_size"])
@pytest.mark.parametrize("value", [0.01, Decimal("0"), Decimal("-1"), Decimal("NaN")])
def test_invalid_steps_are_refused(field: str, value: object) -> None:
    fields = {"tick_size": Decimal("0.01"), "lot_size": Decimal("0.01"), field: value}
    with pytest.raises(ValueError, match=field):
        Instrument(symbol="X/Y", venue="v", base="X", quote="Y", **fields)  # type: ignore[arg-type]


def test_float_fee_is_refused() -> None:
    with pytest.raises(ValueError, match="taker_fee"):
        Instrument(symbol="X/Y", venue="v", base="X", quote="Y", tick_size=Decimal("1"),
                   lot_size=Decimal("1"), taker_fee=0.001)  # type: ignore[arg-type]
