from decimal import Decimal

import pytest

from libra.model.instrument import Instrument
from libra.testing.factories import build_fill
from libra.trading.portfolio import Portfolio


@pytest.fixture
def portfolio() -> Portfolio:
    p = Portfolio()
    p.set_balances("paper", {"USDT": Decimal("10000")})
    return p


def test_buy_moves_cash_and_opens_position(portfolio: Portfolio) -> None:
    position = portfolio.apply_fill(build_fill("2", "100", side="buy", fee="0.2"))
    assert portfolio.balance("paper", "USDT") == Decimal("9799.8")
    assert portfolio.balance("paper", "BTC") == Decimal("2")
    assert position.quantity == Decimal("2")
    assert portfolio.position("sma", "BTC/USDT") is position


def test_sell_receives_quote(portfolio: Portfolio) -> None:
    portfolio.apply_fill(build_fill("2", "100", side="buy"))
    portfolio.apply_fill(build_fill("2", "110", side="sell", fee="0.22"))
    assert portfolio.balance("paper", "USDT") == Decimal("10019.78")
    assert portfolio.balance("paper", "BTC") == 0
    assert portfolio.realized_pnl("sma") == {"USDT": Decimal("20")}
    assert portfolio.fees("sma") == {"USDT": Decimal("0.22")}


def test_equity_marks_positions_to_market(portfolio: Portfolio) -> None:
    portfolio.apply_fill(build_fill("2", "100", side="buy", fee="1"))
    assert portfolio.equity("paper", "USDT") == Decimal("9999")  # marked at the fill price
    portfolio.mark("BTC/USDT", Decimal("150"))
    assert portfolio.equity("paper", "USDT") == Decimal("10099")
    assert portfolio.unrealized_pnl("sma") == {"USDT": Decimal("100")}
    assert portfolio.mark_price("BTC/USDT") == Decimal("150")


def test_equity_counts_shorts_negative(portfolio: Portfolio) -> None:
    portfolio.apply_fill(build_fill("1", "100", side="sell"))
    portfolio.mark("BTC/USDT", Decimal("80"))
    assert portfolio.equity("paper", "USDT") == Decimal("10020")
    assert portfolio.unrealized_pnl("sma") == {"USDT": Decimal("20")}


def test_fee_in_base_currency_leaves_base_balance(portfolio: Portfolio) -> None:
    fill = build_fill("1", "100", side="buy", fee="0.001", fee_currency="BTC")
    position = portfolio.apply_fill(fill)
    assert portfolio.balance("paper", "BTC") == Decimal("0.999")
    assert portfolio.balance("paper", "USDT") == Decimal("9900")
    assert position.fees == Decimal("0.1")


def test_positions_are_per_strategy(portfolio: Portfolio) -> None:
    portfolio.apply_fill(build_fill("1", "100", side="buy"))
    portfolio.apply_fill(build_fill("1", "100", side="sell", strategy_id="grid"))
    assert portfolio.position("sma", "BTC/USDT").quantity == 1  # type: ignore[union-attr]
    assert portfolio.position("grid", "BTC/USDT").quantity == -1  # type: ignore[union-attr]
    assert len(portfolio.positions()) == 2
    assert [p.strategy_id for p in portfolio.positions("grid")] == ["grid"]
    assert portfolio.balance("paper", "BTC") == 0
    portfolio.apply_fill(build_fill("1", "100", side="buy", strategy_id="grid"))
    assert [p.strategy_id for p in portfolio.positions(open_only=True)] == ["sma"]


def test_instrument_names_the_currencies() -> None:
    portfolio = Portfolio([Instrument(symbol="XBTUSD", venue="kraken", base="XBT", quote="USD",
                                      tick_size=Decimal("0.5"), lot_size=Decimal("1"))])
    portfolio.apply_fill(build_fill("1", "100", side="buy", symbol="XBTUSD", venue="kraken",
                                    fee_currency="USD"))
    assert portfolio.balances("kraken") == {"USD": Decimal("-100"), "XBT": Decimal("1")}


def test_unknown_symbol_without_instrument_is_refused(portfolio: Portfolio) -> None:
    with pytest.raises(ValueError, match="invalid symbol"):
        portfolio.apply_fill(build_fill("1", "100", side="buy", symbol="BTCUSDT"))


def test_position_on_another_venue_is_refused(portfolio: Portfolio) -> None:
    portfolio.apply_fill(build_fill("1", "100", side="buy"))
    with pytest.raises(ValueError, match="binance"):
        portfolio.apply_fill(build_fill("1", "100", side="buy", venue="binance"))
    assert portfolio.balances("binance") == {}


def test_set_balances_replaces_the_account(portfolio: Portfolio) -> None:
    portfolio.apply_fill(build_fill("1", "100", side="buy"))
    portfolio.set_balances("paper", {"USDT": Decimal("5000"), "BTC": Decimal("0.5")})
    assert portfolio.balances("paper") == {"USDT": Decimal("5000"), "BTC": Decimal("0.5")}
    assert portfolio.accounts == ["paper"]
    with pytest.raises(ValueError, match="USDT"):
        portfolio.set_balances("paper", {"USDT": 1.5})  # type: ignore[dict-item]


def test_snapshot_is_plain_data(portfolio: Portfolio) -> None:
    portfolio.apply_fill(build_fill("2", "100", side="buy", fee="0.2"))
    portfolio.mark("BTC/USDT", Decimal("105"))
    snapshot = portfolio.snapshot()
    assert snapshot["balances"] == {"paper": {"USDT": "9799.8", "BTC": "2"}}
    assert snapshot["marks"] == {"BTC/USDT": "105"}
    (position,) = snapshot["positions"]
    assert position["quantity"] == "2"
    assert position["unrealized_pnl"] == "10"
    assert position["mark_price"] == "105"
    assert snapshot["pnl"] == {
        "sma": {"USDT": {"realized_pnl": "0", "unrealized_pnl": "10", "fees": "0.2"}}
    }


def test_restored_position_counts_in_equity(portfolio: Portfolio) -> None:
    other = Portfolio()
    other.apply_fill(build_fill("1", "100", side="buy"))
    restored = other.position("sma", "BTC/USDT")
    assert restored is not None
    portfolio.add_position(restored)
    assert portfolio.equity("paper", "USDT") == Decimal("10100")  # marked at its entry price
