"""Boundary validation of ccxt payloads."""

from __future__ import annotations

from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from libra.gateways.ccxt.parse import (
    DECIMAL_PLACES,
    SIGNIFICANT_DIGITS,
    TICK_SIZE,
    InvalidMessage,
    Rejections,
    instrument_from_market,
    number,
    parse_balances,
    parse_bar,
    parse_fill,
    parse_order_report,
    parse_quote,
    parse_trade,
)
from libra.model.orders import OrderSide

NOW = 1_700_000_000_000_000_000
TICKER = {"bid": 0.1, "ask": 0.3, "bidVolume": 5.0, "askVolume": 7.0,
          "timestamp": 1_700_000_000_000}


def test_floats_go_through_their_text_never_binary():
    assert number(0.1, "x") == Decimal("0.1")
    assert number(0.1 + 0.2, "x") == Decimal("0.30000000000000004")
    assert number("0.35210000", "x") == Decimal("0.35210000")
    assert number(3, "x") == Decimal(3)


@pytest.mark.parametrize(("value", "reason"), [
    (None, "missing:x"), ("", "missing:x"), (float("nan"), "not_finite:x"),
    (float("inf"), "not_finite:x"), ("NaN", "not_finite:x"), ("-Infinity", "not_finite:x"),
    ("abc", "invalid:x"), (True, "invalid:x"), ([1], "invalid:x"),
])
def test_bad_numbers_are_refused_with_a_reason(value, reason):
    with pytest.raises(InvalidMessage) as caught:
        number(value, "x")
    assert caught.value.reason == reason


def test_quote_is_typed_and_exact():
    quote = parse_quote("v", "BTC/USDT", TICKER, NOW, receive_time=False)
    assert (quote.bid, quote.ask, quote.bid_size) == (Decimal("0.1"), Decimal("0.3"), Decimal(5))
    assert quote.ts_event == 1_700_000_000_000 * 1_000_000
    assert quote.ts_recv == NOW


@pytest.mark.parametrize(("change", "reason"), [
    ({"bid": 0.0}, "not_positive:bid"), ({"ask": -1.0}, "not_positive:ask"),
    ({"bidVolume": None}, "missing:bid_size"), ({"bid": 0.5}, "crossed:quote"),
    ({"timestamp": None}, "missing:timestamp"), ({"timestamp": -5}, "invalid:timestamp"),
])
def test_bad_quotes_are_refused(change, reason):
    with pytest.raises(InvalidMessage, match=reason):
        parse_quote("v", "BTC/USDT", {**TICKER, **change}, NOW, receive_time=False)


def test_quote_without_time_takes_the_receive_time_when_allowed():
    quote = parse_quote("v", "BTC/USDT", {**TICKER, "timestamp": None}, NOW, receive_time=True)
    assert quote.ts_event == NOW


def test_trade_and_bar():
    trade = parse_trade("v", "S/U", {"id": 7, "price": 2.5, "amount": 1.25, "side": "sell",
                                     "timestamp": 1}, NOW)
    assert (trade.trade_id, trade.price, trade.size, trade.side) == ("7", Decimal("2.5"),
                                                                     Decimal("1.25"), "sell")
    bar = parse_bar("v", "S/U", "1m", 60_000_000_000, [60_000, 1.0, 2.0, 0.5, 1.5, 0.0], NOW)
    assert (bar.close, bar.volume, bar.ts_event) == (Decimal("1.5"), Decimal("0.0"),
                                                     120_000_000_000)
    with pytest.raises(InvalidMessage, match="invalid:high_below_low"):
        parse_bar("v", "S/U", "1m", 60_000_000_000, [60_000, 1.0, 0.4, 0.5, 1.5, 1.0], NOW)
    with pytest.raises(InvalidMessage, match="invalid:side"):
        parse_trade("v", "S/U", {"price": 1, "amount": 1, "side": "up", "timestamp": 1}, NOW)


def test_order_report_and_fill():
    raw = {"id": "11", "clientOrderId": None, "info": {"c": "c-1"}, "symbol": "S/U",
           "side": "buy", "type": "limit", "status": "open", "amount": 2.0, "filled": 0.5,
           "price": 1.5, "average": None, "timestamp": 5}
    report = parse_order_report(raw, NOW)
    assert (report.client_order_id, report.venue_order_id, report.is_open) == ("c-1", "11", True)
    assert report["filled"] == Decimal("0.5")
    fill = parse_fill({"id": 9, "symbol": "S/U", "side": "buy", "amount": 0.5, "price": 1.5,
                       "fee": {"cost": 0.001, "currency": "U"}, "takerOrMaker": "maker",
                       "order": "11", "timestamp": 5},
                      client_order_id="c-1", strategy_id="s", venue="v", side=OrderSide.BUY,
                      ts_recv=NOW)
    assert (fill.trade_id, fill.fee, fill.liquidity, fill.ts_event) == (
        "9", Decimal("0.001"), "maker", 5_000_000)
    with pytest.raises(InvalidMessage, match="invalid:side"):
        parse_fill({"id": 9, "symbol": "S/U", "side": "sell", "amount": 1, "price": 1},
                   client_order_id="c", strategy_id="s", venue="v", side=OrderSide.BUY,
                   ts_recv=NOW)


@pytest.mark.parametrize(("mode", "precision", "tick", "lot"), [
    (TICK_SIZE, {"price": 0.0001, "amount": 1.0}, Decimal("0.0001"), Decimal("1.0")),
    (DECIMAL_PLACES, {"price": 2, "amount": 3}, Decimal("0.01"), Decimal("0.001")),
    (SIGNIFICANT_DIGITS, {"price": 5, "amount": 5}, Decimal("1E-8"), Decimal("1E-8")),
])
def test_instrument_steps_follow_the_precision_mode(mode, precision, tick, lot):
    market = {"symbol": "S/U", "base": "S", "quote": "U", "precision": precision,
              "limits": {"amount": {"min": 1.0, "max": None}, "cost": {"min": 10.0}},
              "maker": 0.001, "taker": 0.002}
    instrument = instrument_from_market(market, mode, "v")
    assert (instrument.tick_size, instrument.lot_size) == (tick, lot)
    assert (instrument.min_quantity, instrument.max_quantity, instrument.min_notional) == (
        Decimal("1.0"), None, Decimal("10.0"))
    assert (instrument.maker_fee, instrument.taker_fee) == (Decimal("0.001"), Decimal("0.002"))


def test_balances_skip_invalid_totals():
    assert parse_balances({"total": {"A": 1.5, "B": None, "C": float("nan")}}) == {
        "A": Decimal("1.5")}


def test_rejections_count_and_log_a_truncated_secret_free_payload():
    with capture_logs() as logs:
        rejections = Rejections(_StructlogProxy(), secrets=["hunter2"])
        rejections.reject("quote:S/U", "missing:bid", {"key": "hunter2", "pad": "x" * 1000})
    assert rejections.counts == {"missing:bid": 1}
    [entry] = logs
    assert entry["event"] == "gateway.message_rejected"
    assert "hunter2" not in entry["payload"]
    assert len(entry["payload"]) <= 303


class _StructlogProxy:
    def warning(self, event: str, **kw: object) -> None:
        import structlog

        structlog.get_logger().warning(event, **kw)
