"""Bars alone in "next_open" mode: what trades between two bars, and at a bar's open.

Real ETH/BTC 5m candles. Bar 1 opens at 0.09946999000000001 (high 0.0997238, low 0.099);
bar 2 opens at 0.09969000000000001 (high 0.10072981, low 0.09900001).
"""

from __future__ import annotations

from decimal import Decimal as D

ETH_BTC_NEXT_OPEN = {"starting_balances": {"BTC": "10", "ETH": "5"},
                     "bar_execution": "next_open"}


async def test_marketable_sell_limit_waits_for_the_next_bar_and_fills_at_its_price(
        venue_factory, eth_btc_bars):
    """freqtrade's ROI exit: a target the close passed fills within the next candle."""
    venue = await venue_factory(ETH_BTC_NEXT_OPEN)
    venue.feed(eth_btc_bars[0])  # close 0.0994766
    await venue.limit(symbol="ETH/BTC", side="sell", quantity="1", price="0.0994")
    assert venue.fills() == []  # not at the close: no price to trade at between bars

    venue.feed(eth_btc_bars[1])

    (fill,) = venue.fills()
    assert fill.price == D("0.09946999000000001")  # opened above the limit: at the open
    assert fill.ts_event == eth_btc_bars[1].ts_event


async def test_marketable_stop_waits_for_the_next_bar(venue_factory, eth_btc_bars):
    venue = await venue_factory(ETH_BTC_NEXT_OPEN)
    venue.feed(eth_btc_bars[0])
    await venue.submit(symbol="ETH/BTC", side="sell", quantity="1", type="stop_market",
                       trigger_price="0.0995")
    assert venue.fills() == []

    venue.feed(eth_btc_bars[1])

    (fill,) = venue.fills()
    assert fill.price == D("0.09946999000000001")  # opened below the stop: at the open


async def test_orders_sent_at_a_bar_open_trade_against_that_bar(venue_factory, eth_btc_bars):
    """A backtest holds the venue at the open of the bar that filled the entry."""
    venue = await venue_factory(ETH_BTC_NEXT_OPEN)
    venue.gateway.matching.open_window = True
    venue.feed(eth_btc_bars[0])
    await venue.submit(symbol="ETH/BTC", side="buy", quantity="1")
    venue.feed(eth_btc_bars[1])  # the entry fills at the open
    assert venue.gateway.matching.opening == {"ETH/BTC": eth_btc_bars[1]}

    # A top-up at the same open, and a take-profit the bar's high reaches.
    await venue.submit(symbol="ETH/BTC", side="buy", quantity="0.5")
    await venue.limit(symbol="ETH/BTC", side="sell", quantity="1.5", price="0.0997")

    entry, top_up, exit_ = venue.fills()
    assert entry.price == top_up.price == D("0.09946999000000001")
    assert exit_.price == D("0.0997")
    assert exit_.ts_event == eth_btc_bars[1].ts_event


async def test_without_the_window_an_order_after_the_open_rests_for_the_next_bar(
        venue_factory, eth_btc_bars):
    venue = await venue_factory(ETH_BTC_NEXT_OPEN)  # live and paper: no open window
    venue.feed(eth_btc_bars[0])
    await venue.submit(symbol="ETH/BTC", side="buy", quantity="1")
    venue.feed(eth_btc_bars[1])
    assert venue.gateway.matching.opening == {}

    await venue.limit(symbol="ETH/BTC", side="sell", quantity="1", price="0.0997")

    assert len(venue.fills()) == 1  # bar 1's high is not looked at after the fact
    venue.feed(eth_btc_bars[2])
    assert venue.fills()[-1].price == D("0.0997")  # bar 2 reached it
