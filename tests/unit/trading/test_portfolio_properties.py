"""Property tests: the portfolio reconciles with the sum of its fills and fees."""

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from libra.model.fills import Fill
from libra.model.orders import OrderSide
from libra.trading.portfolio import Portfolio

START = Decimal("100000")

fills = st.lists(
    st.tuples(
        st.sampled_from([OrderSide.BUY, OrderSide.SELL]),
        st.integers(min_value=1, max_value=100_000).map(lambda n: Decimal(n) / 1000),
        st.integers(min_value=1, max_value=10_000_000).map(lambda n: Decimal(n) / 100),
        st.integers(min_value=0, max_value=500).map(lambda n: Decimal(n) / 100),
    ),
    max_size=40,
)
marks = st.integers(min_value=1, max_value=10_000_000).map(lambda n: Decimal(n) / 100)


@settings(max_examples=300)
@given(trades=fills, mark=marks)
def test_cash_and_positions_reconcile_with_fills(
    trades: list[tuple[OrderSide, Decimal, Decimal, Decimal]], mark: Decimal
) -> None:
    portfolio = Portfolio()
    portfolio.set_balances("paper", {"USDT": START})
    signed_sum = Decimal(0)
    for number, (side, quantity, price, fee) in enumerate(trades):
        portfolio.apply_fill(Fill(
            client_order_id=f"p-{number}", venue_order_id=None, trade_id=f"t{number}",
            strategy_id="p", venue="paper", symbol="BTC/USDT", side=side, quantity=quantity,
            price=price, fee=fee, fee_currency="USDT", liquidity="taker", ts_event=number,
            ts_recv=number,
        ))
        signed_sum += quantity if side is OrderSide.BUY else -quantity
        position = portfolio.position("p", "BTC/USDT")
        assert position is not None
        assert position.quantity == signed_sum
        cash = portfolio.balance("paper", "USDT")
        expected = START + position.realized_pnl + position.unrealized_pnl(mark) - position.fees
        assert cash + position.market_value(mark) == expected
        assert portfolio.balance("paper", "BTC") == signed_sum

    portfolio.mark("BTC/USDT", mark)
    realized = portfolio.realized_pnl("p").get("USDT", Decimal(0))
    unrealized = portfolio.unrealized_pnl("p").get("USDT", Decimal(0))
    fees = portfolio.fees("p").get("USDT", Decimal(0))
    assert portfolio.equity("paper", "USDT") == START + realized + unrealized - fees
    paid = sum((q * p if s is OrderSide.BUY else -q * p for s, q, p, _ in trades), Decimal(0))
    assert realized + unrealized == signed_sum * mark - paid
