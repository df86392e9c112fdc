from decimal import Decimal

import pytest

from libra.model.positions import Position, PositionSide
from libra.testing.factories import build_fill


@pytest.fixture
def position() -> Position:
    return Position(strategy_id="sma", venue="paper", symbol="BTC/USDT", base="BTC", quote="USDT")


def test_new_position_is_flat(position: Position) -> None:
    assert position.is_flat
    assert position.side is PositionSide.FLAT
    assert position["side"] == "flat"
    assert position.avg_entry_price == 0
    assert position.unrealized_pnl(Decimal("100")) == 0


def test_increase_averages_the_entry(position: Position) -> None:
    position.apply_fill(build_fill("1", "100", side="buy"))
    position.apply_fill(build_fill("3", "120", side="buy"))
    assert position.quantity == Decimal("4")
    assert position.avg_entry_price == Decimal("115")
    assert position.is_long
    assert position.unrealized_pnl(Decimal("125")) == Decimal("40")
    assert position.notional(Decimal("125")) == Decimal("500")


def test_reduce_realizes_against_the_average(position: Position) -> None:
    position.apply_fill(build_fill("2", "100", side="buy"))
    position.apply_fill(build_fill("2", "110", side="buy"))
    position.apply_fill(build_fill("1", "120", side="sell"))
    assert position.realized_pnl == Decimal("15")
    assert position.quantity == Decimal("3")
    assert position.avg_entry_price == Decimal("105")


def test_close_realizes_everything(position: Position) -> None:
    position.apply_fill(build_fill("3", "100", side="buy"))
    position.apply_fill(build_fill("1", "90", side="sell"))
    position.apply_fill(build_fill("2", "130", side="sell"))
    assert position.is_flat
    assert position.cost == 0
    assert position.realized_pnl == Decimal("50")


def test_short_position(position: Position) -> None:
    position.apply_fill(build_fill("2", "100", side="sell"))
    assert position.is_short
    assert position.side == "short"
    assert position.avg_entry_price == Decimal("100")
    assert position.unrealized_pnl(Decimal("90")) == Decimal("20")
    assert position.market_value(Decimal("90")) == Decimal("-180")
    assert position.notional(Decimal("90")) == Decimal("180")
    position.apply_fill(build_fill("1", "90", side="buy"))
    assert position.realized_pnl == Decimal("10")


def test_flip_through_zero(position: Position) -> None:
    position.apply_fill(build_fill("1", "100", side="buy", ts_event=1))
    position.apply_fill(build_fill("3", "110", side="sell", ts_event=2))
    assert position.realized_pnl == Decimal("10")
    assert position.quantity == Decimal("-2")
    assert position.avg_entry_price == Decimal("110")
    assert position.ts_opened == 2

    position.apply_fill(build_fill("5", "100", side="buy", ts_event=3))
    assert position.realized_pnl == Decimal("30")
    assert position.quantity == Decimal("3")
    assert position.avg_entry_price == Decimal("100")
    assert position.ts_opened == 3


def test_partial_reduce_with_inexact_average(position: Position) -> None:
    """Realized plus unrealized stays exact when the average price does not divide evenly."""
    position.apply_fill(build_fill("1", "100", side="buy"))
    position.apply_fill(build_fill("2", "101", side="buy"))
    position.apply_fill(build_fill("1", "102", side="sell"))
    mark = Decimal("99")
    paid = Decimal("100") + Decimal("202") - Decimal("102")
    assert position.total_pnl(mark) == position.quantity * mark - paid
    assert abs(position.realized_pnl - (Decimal("102") - Decimal("302") / 3)) < Decimal("1e-11")


def test_fees_are_kept_apart_from_realized_pnl(position: Position) -> None:
    position.apply_fill(build_fill("1", "100", side="buy", fee="0.1"))
    position.apply_fill(build_fill("1", "110", side="sell", fee="0.11"))
    assert position.realized_pnl == Decimal("10")
    assert position.fees == Decimal("0.21")
    assert position.net_realized_pnl == Decimal("9.79")


def test_fees_in_base_and_other_currencies(position: Position) -> None:
    position.apply_fill(build_fill("1", "100", side="buy", fee="0.001", fee_currency="BTC"))
    position.apply_fill(build_fill("1", "100", side="buy", fee="0.05", fee_currency="BNB"))
    assert position.fees == Decimal("0.1")
    assert position.other_fees == {"BNB": Decimal("0.05")}
    assert position.quantity == Decimal("2")


def test_fill_for_another_symbol_is_refused(position: Position) -> None:
    with pytest.raises(ValueError, match="ETH/USDT"):
        position.apply_fill(build_fill("1", "100", side="buy", symbol="ETH/USDT"))


def test_snapshot_round_trip(position: Position) -> None:
    position.apply_fill(build_fill("1", "100", side="buy", fee="0.1", ts_event=7))
    position.apply_fill(build_fill("1", "100", side="buy", fee="0.01", fee_currency="BNB",
                                   ts_event=8))
    data = position.snapshot()
    assert data["quantity"] == "2"
    assert data["side"] == "long"
    restored = Position.from_snapshot(data)
    assert restored.snapshot() == data


def test_position_reads_as_mapping(position: Position) -> None:
    position.apply_fill(build_fill("1", "100", side="buy"))
    assert position["quantity"] == Decimal("1")
    assert position["avg_entry_price"] == Decimal("100")
    assert position.get("symbol") == "BTC/USDT"
