"""Paper fills for every order type against real recorded market data.

Prices, fees and balances are exact Decimals: taker 0.1 %, maker 0.02 % of the notional.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from libra.model.order_events import OrderCancelRejected
from libra.model.orders import Order, OrderStatus, OrderType

BTC_USDT = {
    "starting_balances": {"USDT": "100000", "BTC": "1"},
    "instruments": {"BTC/USDT": {"tick_size": "0.01", "lot_size": "0.000001"}},
}
ETH_BTC = {"starting_balances": {"BTC": "10", "ETH": "5"}}


def only_fill(venue: Any) -> Any:
    fills = venue.fills()
    assert len(fills) == 1, venue.kinds()
    return fills[0]


def assert_books_agree(venue: Any) -> None:
    """The venue's balances and the portfolio's cash are the same numbers."""
    for currency, amount in venue.balances.items():
        assert venue.engine.portfolio.balance("paper", currency) == amount, currency


# -- market orders ------------------------------------------------------------------------


async def test_market_buy_fills_at_the_ask_as_taker(venue_factory, btc_quotes):
    venue = await venue_factory(BTC_USDT)
    venue.feed(btc_quotes[0])  # bid 39432.99, ask 39433.62

    order = await venue.submit(symbol="BTC/USDT", side="buy", quantity="0.01")

    fill = only_fill(venue)
    assert (fill.price, fill.quantity, fill.liquidity) == (D("39433.62"), D("0.01"), "taker")
    assert fill.fee == D("0.3943362")  # 394.3362 * 0.001
    assert fill.fee_currency == "USDT"
    assert venue.kinds() == ["submitted", "accepted", "filled"]
    assert order.status is OrderStatus.FILLED
    assert order.avg_fill_price == D("39433.62")
    assert venue.balances["USDT"] == D("99605.2694638")  # 100000 - 394.3362 - 0.3943362
    assert venue.balances["BTC"] == D("1.01")
    assert_books_agree(venue)


async def test_market_sell_fills_at_the_bid(venue_factory, btc_quotes):
    venue = await venue_factory(BTC_USDT)
    venue.feed(btc_quotes[0])

    await venue.submit(symbol="BTC/USDT", side="sell", quantity="0.01")

    fill = only_fill(venue)
    assert (fill.price, fill.fee) == (D("39432.99"), D("0.3943299"))
    assert venue.balances["USDT"] == D("100393.9355701")  # 100000 + 394.3299 - 0.3943299
    assert venue.balances["BTC"] == D("0.99")
    assert_books_agree(venue)


@pytest.mark.parametrize(
    ("side", "price", "fee"),
    [
        # 39433.62 * 1.001 = 39473.05362, rounded up to the tick: worse for the buyer.
        ("buy", D("39473.06"), D("0.3947306")),
        # 39432.99 * 0.999 = 39393.55701, rounded down to the tick: worse for the seller.
        ("sell", D("39393.55"), D("0.3939355")),
    ],
)
async def test_slippage_in_bps_rounds_to_the_tick_away_from_the_trader(
    venue_factory, btc_quotes, side, price, fee
):
    venue = await venue_factory({**BTC_USDT, "slippage_bps": "10"})
    venue.feed(btc_quotes[0])

    await venue.submit(symbol="BTC/USDT", side=side, quantity="0.01")

    fill = only_fill(venue)
    assert (fill.price, fill.fee) == (price, fee)
    sign = -1 if side == "buy" else 1
    assert venue.balances["USDT"] == D("100000") + sign * D("0.01") * price - fee
    assert_books_agree(venue)


async def test_market_order_fills_at_the_bar_close(venue_factory, eth_btc_bars):
    venue = await venue_factory(ETH_BTC)
    venue.feed(eth_btc_bars[0])  # close 0.0994766

    await venue.submit(symbol="ETH/BTC", side="buy", quantity="2")

    fill = only_fill(venue)
    assert (fill.price, fill.fee) == (D("0.0994766"), D("0.0001989532"))
    assert venue.balances["BTC"] == D("9.8008478468")  # 10 - 0.1989532 - 0.0001989532
    assert venue.balances["ETH"] == D("7")
    assert_books_agree(venue)


async def test_market_order_fills_at_the_next_bar_open(venue_factory, eth_btc_bars):
    venue = await venue_factory({**ETH_BTC, "bar_execution": "next_open"})
    venue.feed(eth_btc_bars[0])

    order = await venue.submit(symbol="ETH/BTC", side="buy", quantity="2")
    assert venue.kinds() == ["submitted", "accepted"]
    venue.feed(eth_btc_bars[1])  # open 0.09946999000000001

    fill = only_fill(venue)
    assert fill.price == D("0.09946999000000001")
    assert fill.ts_event == eth_btc_bars[1].ts_event
    assert fill.fee == D("2") * D("0.09946999000000001") * D("0.001")
    assert order.status is OrderStatus.FILLED
    assert_books_agree(venue)


# -- limit orders -------------------------------------------------------------------------


async def test_buy_limit_rests_then_fills_at_its_price_when_a_bar_low_reaches_it(
    venue_factory, eth_btc_bars
):
    venue = await venue_factory(ETH_BTC)
    venue.feed(eth_btc_bars[0])  # close 0.0994766: a buy at 0.099 is not marketable

    order = await venue.limit(symbol="ETH/BTC", side="buy", quantity="2", price="0.099")
    assert order.status is OrderStatus.ACCEPTED
    assert venue.orders.open_orders() == [order]
    venue.feed(eth_btc_bars[1])  # open 0.09946999.., low 0.099

    fill = only_fill(venue)
    assert (fill.price, fill.liquidity, fill.fee) == (D("0.099"), "maker", D("0.0000396"))
    assert venue.balances["BTC"] == D("9.8019604")  # 10 - 0.198 - 0.0000396
    assert venue.orders.open_orders() == []
    assert_books_agree(venue)


async def test_buy_limit_fills_at_the_open_when_the_bar_gaps_through_it(
    venue_factory, eth_btc_bars
):
    venue = await venue_factory(ETH_BTC)
    for bar in eth_btc_bars[:5]:
        venue.feed(bar)  # last close 0.099

    await venue.limit(symbol="ETH/BTC", side="buy", quantity="2", price="0.098998")
    assert venue.fills() == []
    venue.feed(eth_btc_bars[5])  # opens at 0.09899779, below the limit

    fill = only_fill(venue)
    assert (fill.price, fill.liquidity) == (D("0.09899779"), "maker")
    assert fill.fee == D("0.000039599116")  # 0.19799558 * 0.0002


async def test_sell_limit_fills_when_a_bar_high_reaches_it(venue_factory, eth_btc_bars):
    venue = await venue_factory(ETH_BTC)
    venue.feed(eth_btc_bars[0])

    await venue.limit(symbol="ETH/BTC", side="sell", quantity="2", price="0.0997")
    venue.feed(eth_btc_bars[1])  # high 0.0997238

    fill = only_fill(venue)
    assert (fill.price, fill.liquidity, fill.fee) == (D("0.0997"), "maker", D("0.00003988"))
    assert venue.balances["BTC"] == D("10.19936012")  # 10 + 0.1994 - 0.00003988
    assert venue.balances["ETH"] == D("3")
    assert_books_agree(venue)


async def test_resting_limit_fills_partially_from_trade_sizes(venue_factory, btc_trades):
    venue = await venue_factory(BTC_USDT)
    venue.feed(btc_trades[0])  # 39432.48

    order = await venue.limit(symbol="BTC/USDT", side="buy", quantity="0.01", price="39432.40")
    for trade in btc_trades[1:12]:
        venue.feed(trade)

    crossing = [t for t in btc_trades[1:12] if t.price <= D("39432.40")]
    assert [t.price for t in crossing] == [D("39432.37"), D("39432.37"), D("39432.36"),
                                           D("39430.63")]
    fills = venue.fills()
    expected = [t.size for t in crossing[:3]]
    expected.append(D("0.01") - sum(expected))
    assert [f.quantity for f in fills] == expected
    assert {f.price for f in fills} == {D("39432.40")}
    assert {f.liquidity for f in fills} == {"maker"}
    assert [f.fee for f in fills] == [q * D("39432.40") * D("0.0002") for q in expected]
    assert order.status is OrderStatus.FILLED
    assert order.filled_quantity == D("0.01")
    statuses = [e.kind for e in venue.events]
    assert statuses == ["submitted", "accepted", "filled", "filled", "filled", "filled"]
    assert venue.balances["USDT"] == D("100000") - D("394.324") - sum(f.fee for f in fills)
    assert_books_agree(venue)


async def test_partial_fill_leaves_the_order_partially_filled(venue_factory, btc_trades):
    venue = await venue_factory(BTC_USDT)
    venue.feed(btc_trades[0])

    order = await venue.limit(symbol="BTC/USDT", side="buy", quantity="0.01", price="39432.40")
    for trade in btc_trades[1:8]:
        venue.feed(trade)  # one crossing trade, 0.000563 at 39432.37

    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.filled_quantity == D("0.000563")
    assert order.leaves_quantity == D("0.009437")


async def test_marketable_limit_takes_at_the_touch(venue_factory, btc_quotes):
    venue = await venue_factory(BTC_USDT)
    venue.feed(btc_quotes[0])

    await venue.limit(symbol="BTC/USDT", side="buy", quantity="0.01", price="39440")

    fill = only_fill(venue)
    assert (fill.price, fill.liquidity, fill.fee) == (D("39433.62"), "taker", D("0.3943362"))


async def test_marketable_post_only_is_rejected(venue_factory, btc_quotes):
    venue = await venue_factory(BTC_USDT)
    venue.feed(btc_quotes[0])

    order = await venue.limit(symbol="BTC/USDT", side="buy", quantity="0.01", price="39440",
                               post_only=True)

    assert venue.kinds() == ["submitted", "rejected"]
    assert order.status is OrderStatus.REJECTED
    assert order.reason == "post-only order would take liquidity"
    assert venue.balances == {"USDT": D("100000"), "BTC": D("1")}
    assert venue.gateway.matching.reserved.get("USDT", 0) == 0
    assert venue.orders.open_orders() == []


async def test_passive_post_only_rests(venue_factory, btc_quotes):
    venue = await venue_factory(BTC_USDT)
    venue.feed(btc_quotes[0])

    order = await venue.limit(symbol="BTC/USDT", side="buy", quantity="0.01", price="39400",
                               post_only=True)

    assert order.status is OrderStatus.ACCEPTED
    assert venue.orders.open_orders() == [order]


@pytest.mark.parametrize("time_in_force", ["ioc", "fok"])
async def test_immediate_order_fills_when_marketable(venue_factory, btc_quotes, time_in_force):
    venue = await venue_factory(BTC_USDT)
    venue.feed(btc_quotes[0])

    order = await venue.limit(symbol="BTC/USDT", side="sell", quantity="0.01", price="39430",
                               time_in_force=time_in_force)

    assert only_fill(venue).price == D("39432.99")
    assert order.status is OrderStatus.FILLED


@pytest.mark.parametrize("time_in_force", ["ioc", "fok"])
async def test_immediate_order_is_canceled_when_not_marketable(
    venue_factory, btc_quotes, time_in_force
):
    venue = await venue_factory(BTC_USDT)
    venue.feed(btc_quotes[0])

    order = await venue.limit(symbol="BTC/USDT", side="buy", quantity="0.01", price="39400",
                               time_in_force=time_in_force)

    assert venue.kinds() == ["submitted", "accepted", "canceled"]
    assert order.status is OrderStatus.CANCELED
    assert venue.orders.open_orders() == []
    assert venue.gateway.matching.reserved["USDT"] == 0
    venue.feed(btc_quotes[1])
    assert venue.fills() == []


# -- stop orders --------------------------------------------------------------------------


async def test_sell_stop_market_triggers_on_the_bid_and_fills_there(venue_factory, btc_quotes):
    venue = await venue_factory(BTC_USDT)
    venue.feed(btc_quotes[1])  # bid 39432.33

    order = await venue.submit(symbol="BTC/USDT", side="sell", quantity="0.01",
                               type="stop_market", trigger_price="39431")
    assert order.status is OrderStatus.ACCEPTED
    venue.feed(btc_quotes[2])  # bid 39430.29

    fill = only_fill(venue)
    assert (fill.price, fill.liquidity, fill.fee) == (D("39430.29"), "taker", D("0.3943029"))
    assert order.status is OrderStatus.FILLED


async def test_sell_stop_market_on_bars_fills_at_the_trigger(venue_factory, eth_btc_bars):
    venue = await venue_factory(ETH_BTC)
    for bar in eth_btc_bars[:5]:
        venue.feed(bar)

    await venue.submit(symbol="ETH/BTC", side="sell", quantity="2", type="stop_market",
                       trigger_price="0.098")
    venue.feed(eth_btc_bars[5])  # open 0.09899779, low 0.0961

    fill = only_fill(venue)
    assert (fill.price, fill.liquidity, fill.fee) == (D("0.098"), "taker", D("0.000196"))


async def test_stop_limit_triggered_through_its_limit_takes_at_the_touch(
    venue_factory, btc_quotes
):
    venue = await venue_factory(BTC_USDT)
    venue.feed(btc_quotes[0])  # ask 39433.62

    order = await venue.submit(symbol="BTC/USDT", side="buy", quantity="0.01",
                               type="stop_limit", trigger_price="39440", price="39445")
    venue.feed(btc_quotes[1])
    venue.feed(btc_quotes[2])
    assert venue.fills() == []
    venue.feed(btc_quotes[3])  # ask 39444.95: triggers, and is below the limit

    fill = only_fill(venue)
    assert (fill.price, fill.liquidity, fill.fee) == (D("39444.95"), "taker", D("0.3944495"))
    assert order.status is OrderStatus.FILLED


async def test_stop_limit_rests_at_its_limit_after_triggering(venue_factory, btc_quotes):
    venue = await venue_factory(BTC_USDT)
    venue.feed(btc_quotes[0])

    order = await venue.submit(symbol="BTC/USDT", side="buy", quantity="0.01",
                               type="stop_limit", trigger_price="39440", price="39441")
    for quote in btc_quotes[1:6]:
        venue.feed(quote)  # triggered at ask 39444.95, then asks 39442.8 and 39442.79
    assert venue.fills() == []
    assert order.status is OrderStatus.ACCEPTED
    venue.feed(btc_quotes[6])  # ask 39434.88

    fill = only_fill(venue)
    assert (fill.price, fill.liquidity, fill.fee) == (D("39441"), "maker", D("0.0788820"))


# -- cancels and rejections -----------------------------------------------------------------


async def test_cancel_of_a_resting_order_releases_its_reservation(venue_factory, btc_quotes):
    venue = await venue_factory(BTC_USDT)
    venue.feed(btc_quotes[0])
    matching = venue.gateway.matching
    order = await venue.limit(symbol="BTC/USDT", side="buy", quantity="0.01", price="39000")
    assert matching.reserved["USDT"] == D("390.39")  # 390 plus the taker fee

    assert venue.orders.cancel_order(order) is True
    assert order.status is OrderStatus.PENDING_CANCEL
    await venue.engine.flush()

    assert order.status is OrderStatus.CANCELED
    assert venue.kinds() == ["submitted", "accepted", "pending_cancel", "canceled"]
    assert matching.reserved["USDT"] == 0
    assert matching.open_order_ids() == []
    for quote in btc_quotes[:50]:
        venue.feed(quote)
    assert venue.fills() == []


async def test_cancel_of_a_filled_order_is_refused(venue_factory, btc_quotes):
    venue = await venue_factory(BTC_USDT)
    venue.feed(btc_quotes[0])
    order = await venue.submit(symbol="BTC/USDT", side="buy", quantity="0.01")

    assert venue.orders.cancel_order(order) is False  # the engine knows it is closed
    await venue.gateway.cancel_order(order)  # and the venue refuses it too

    refusal = venue.reports[-1]
    assert isinstance(refusal, OrderCancelRejected)
    assert refusal.reason == "order is not open"
    assert order.status is OrderStatus.FILLED


async def test_buy_beyond_the_free_balance_is_rejected(venue_factory, btc_quotes):
    venue = await venue_factory({**BTC_USDT, "starting_balances": {"USDT": "100"}})
    venue.feed(btc_quotes[0])

    order = await venue.submit(symbol="BTC/USDT", side="buy", quantity="0.01")

    assert venue.kinds() == ["submitted", "rejected"]
    assert order.status is OrderStatus.REJECTED
    # 0.01 * 39433.62 * (1 + 0.001 taker fee)
    assert order.reason == "insufficient USDT: need 394.73053620, free 100.00000000"
    assert venue.balances == {"USDT": D("100")}


async def test_sell_beyond_the_held_quantity_is_rejected(venue_factory, btc_quotes):
    venue = await venue_factory(BTC_USDT)
    venue.feed(btc_quotes[0])

    order = await venue.submit(symbol="BTC/USDT", side="sell", quantity="1.5")

    assert order.status is OrderStatus.REJECTED
    assert order.reason == "insufficient BTC: need 1.500000, free 1"


async def test_resting_orders_reserve_the_balance_they_need(venue_factory, btc_quotes):
    venue = await venue_factory({**BTC_USDT, "starting_balances": {"USDT": "1000"}})
    venue.feed(btc_quotes[0])
    first = await venue.limit(symbol="BTC/USDT", side="buy", quantity="0.02", price="39000")
    second = await venue.limit(symbol="BTC/USDT", side="buy", quantity="0.02", price="39000")

    assert first.status is OrderStatus.ACCEPTED
    assert second.status is OrderStatus.REJECTED  # 780.78 of 1000 already reserved


# -- precision ----------------------------------------------------------------------------


async def test_create_rounds_to_the_venue_instrument(venue_factory, btc_quotes):
    venue = await venue_factory(BTC_USDT)

    buy = venue.orders.create("BTC/USDT", "buy", "0.0123456789", type="limit",
                              price="39433.629")
    sell = venue.orders.create("BTC/USDT", "sell", "0.0123456789", type="limit",
                               price="39433.621")
    stop = venue.orders.create("BTC/USDT", "sell", "1", type="stop_market",
                               trigger_price="39431.004")

    assert buy.quantity == D("0.012345")  # lot 0.000001, always rounded down
    assert buy.price == D("39433.62")  # a buy is never rounded up
    assert sell.price == D("39433.63")  # a sell is never rounded down
    assert stop.trigger_price == D("39431.00")
    assert isinstance(buy, Order)
    assert buy.type is OrderType.LIMIT
    assert buy.status is OrderStatus.INITIALIZED


async def test_rounded_order_fills_with_the_rounded_numbers(venue_factory, btc_quotes):
    venue = await venue_factory(BTC_USDT)
    venue.feed(btc_quotes[0])

    await venue.limit(symbol="BTC/USDT", side="buy", quantity="0.0100009", price="39440.009")

    fill = only_fill(venue)
    assert fill.quantity == D("0.010000")
    assert fill.price == D("39433.62")


async def test_a_sell_against_a_book_with_asks_only_is_taken_not_failed(
        venue_factory):
    """A one-sided book (no bid yet, no trade) used to trip assertions in the venue: the
    order failed with "gateway error: AssertionError"."""
    from libra.model.events import OrderBook

    venue = await venue_factory(BTC_USDT)
    venue.feed(OrderBook(venue="paper", symbol="BTC/USDT", bids=(),
                         asks=((D("39433.62"), D("1")),), ts_event=1_610_000_000_000_000_000,
                         ts_recv=1_610_000_000_000_000_000))

    order = await venue.submit(symbol="BTC/USDT", side="sell", quantity="0.01")

    # No bid to sell to: the venue takes the market order and, finding no liquidity,
    # cancels it (as a venue expires it), instead of failing with an internal error.
    assert venue.kinds() == ["submitted", "accepted", "canceled"]
    assert order.status is OrderStatus.CANCELED
    assert_books_agree(venue)
