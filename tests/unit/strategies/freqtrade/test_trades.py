from datetime import UTC, datetime, timedelta

import pytest

from libra.strategies.freqtrade.candles import Signal
from libra.strategies.freqtrade.config import FreqtradeAdapterConfig
from libra.strategies.freqtrade.loader import freqtrade_config, load_strategy
from libra.strategies.freqtrade.trades import Candle, ExitOrder, TradeBook

OPEN = datetime(2018, 1, 10, 12, 0, tzinfo=UTC)
FIVE = timedelta(minutes=5)


@pytest.fixture
def book(freqtrade, strategy_path):
    """A trade book over LibraRoiStop: ROI 2 % / 1 % after 20 min, stoploss 3 %."""
    options = FreqtradeAdapterConfig(strategy="LibraRoiStop", strategy_path=strategy_path)
    strategy = load_strategy(freqtrade_config(options, ["ETH/BTC"], "BTC"))
    return TradeBook(strategy, "BTC", 0.001, 5)


def _open(book: TradeBook):
    return book.open("ETH/BTC", 0.1, 1.0, OPEN, "tag", (1e-8, 1e-8))


def _signal(enter: bool = False, exit_: bool = False, tag: str | None = None) -> Signal:
    return Signal(0, enter, exit_, None, tag)


def test_open_sets_freqtrades_initial_stoploss(book):
    trade = _open(book)
    assert trade.stop_loss == pytest.approx(0.097)
    assert trade.enter_tag == "tag"
    assert book.trades["ETH/BTC"] is trade


def test_nearer_target_rests_roi_price_including_fees(book):
    trade = _open(book)
    order = book.protective_order(trade, OPEN + FIVE, 0.1005, enter_signal=False)
    assert order == ExitOrder("limit", "roi", trade.calc_close_rate_for_roi(0.02))
    assert order.price == pytest.approx(0.1 * 1.001 * 1.02 / 0.999)  # fees both ways


def test_nearer_stop_rests_a_stop_order(book):
    trade = _open(book)
    order = book.protective_order(trade, OPEN + FIVE, 0.0975, enter_signal=False)
    assert order == ExitOrder("stop", "stop_loss", trade.stop_loss)


def test_target_already_passed_still_rests_at_its_price(book):
    """A "next_open" venue fills it within the next candle, at the ROI price as freqtrade."""
    trade = _open(book)
    order = book.protective_order(trade, OPEN + 4 * FIVE, 0.1015, enter_signal=False)
    assert order is not None
    assert (order.kind, order.reason) == ("limit", "roi")
    assert order.price is not None
    assert order.price < 0.1015


def test_candle_through_the_stop_is_a_stoploss_exit(book):
    trade = _open(book)
    candle = Candle(OPEN + FIVE, 0.099, 0.0995, 0.096, 0.098)
    assert book.candle_exit(trade, candle, entered_here=False, enter_signal=False) == \
        "stop_loss"


def test_candle_through_the_roi_price_is_an_roi_exit(book):
    trade = _open(book)
    candle = Candle(OPEN + FIVE, 0.1, 0.1025, 0.0995, 0.1)
    assert book.candle_exit(trade, candle, entered_here=False, enter_signal=False) == "roi"


def test_quiet_candle_is_no_exit(book):
    trade = _open(book)
    candle = Candle(OPEN + FIVE, 0.1, 0.1005, 0.0995, 0.1)
    assert book.candle_exit(trade, candle, entered_here=False, enter_signal=False) is None


def test_exit_signal_uses_the_exit_tag(book):
    trade = _open(book)
    reason = book.signal_exit(trade, _signal(exit_=True, tag="cross"), 0.1, OPEN + FIVE)
    assert reason == "cross"


def test_exit_signal_with_an_entry_signal_is_ignored(book):
    trade = _open(book)
    assert book.signal_exit(trade, _signal(enter=True, exit_=True), 0.1, OPEN + FIVE) is None


def test_exit_profit_only_holds_a_losing_trade(book):
    book.strategy.exit_profit_only = True
    trade = _open(book)
    assert book.signal_exit(trade, _signal(exit_=True), 0.099, OPEN + FIVE) is None
    assert book.signal_exit(trade, _signal(exit_=True), 0.11, OPEN + FIVE) == "exit_signal"


def test_close_forgets_the_trade(book):
    _open(book)
    trade = book.close("ETH/BTC", 0.102, OPEN + FIVE, "roi")
    assert trade.exit_reason == "roi"
    assert trade.is_open is False
    assert "ETH/BTC" not in book.trades
