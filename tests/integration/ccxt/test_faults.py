"""Every fault switch of the local exchange: the ccxt gateway recovers or rejects with a reason,
keeps running, loses nothing and never places an order twice."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from quote_pushing import push_until_quote, quotes

from libra.model.events import Trade
from libra.model.order_events import OrderAccepted, OrderCancelRejected, OrderRejected
from libra.model.orders import OrderStatus
from libra.testing.contract import eventually
from libra.testing.exchange import REMOVE

BOOK = "nknusdt@bookTicker"




# -- REST faults on submit ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [418, 429])
async def test_rate_limit_on_submit_is_retried_with_the_same_client_id(exchange, venue, status):
    exchange.faults.http_status(status, count=2, path="/api/v3/order", method="POST")
    order = await venue.submit()
    await eventually(lambda: order.status is OrderStatus.FILLED)
    assert exchange.orders_placed() == 1
    assert exchange.order(order.client_order_id)["status"] == "FILLED"
    assert venue.gateway.execution.counts["submit_transient"] == 2


@pytest.mark.parametrize("fault", ["json_500", "json_503", "html_502"])
async def test_5xx_on_submit_is_queried_then_sent_once(exchange, venue, fault):
    """A 5xx leaves the outcome unknown: the order is looked up, found absent, sent again."""
    if fault == "html_502":
        exchange.faults.html_error(502, path="/api/v3/order", method="POST")
    else:
        exchange.faults.http_status(int(fault[-3:]), path="/api/v3/order", method="POST")
    order = await venue.submit()
    await eventually(lambda: order.status is OrderStatus.FILLED)
    assert exchange.orders_placed() == 1
    assert venue.gateway.execution.counts["submit_ambiguous"] == 1


async def test_rate_limit_that_never_ends_rejects_at_the_submit_deadline(exchange, make_venue):
    venue = await make_venue(submit_deadline=2.5)
    exchange.faults.http_status(429, count=None, path="/api/v3/order", method="POST")
    order = await venue.submit()
    await eventually(lambda: order.status is OrderStatus.REJECTED)
    assert "not placed within the submit deadline of 2.5s" in order.reason
    assert "DDoSProtection" in order.reason
    sent = exchange.request_times("POST", "/api/v3/order")
    assert len(sent) == 3  # at 0, 1 and 2 s: Retry-After is 1 s
    assert exchange.orders_placed() == 0
    exchange.faults.clear()
    again = await venue.submit()
    await eventually(lambda: again.status is OrderStatus.FILLED)


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"quantity": "1000000", "order_type": "limit", "price": "0.3"}, "InsufficientFunds"),
    ({"quantity": "5"}, "MIN_NOTIONAL"),
])
async def test_venue_refusal_is_a_rejection_event(exchange, venue, kwargs, expected):
    order = await venue.submit(**kwargs)
    await eventually(lambda: order.status is OrderStatus.REJECTED)
    assert expected in order.reason
    assert [type(e) for e in venue.sink.of(order.client_order_id)] == [OrderRejected]
    assert exchange.orders_placed() == 0


async def test_hang_on_submit_is_resolved_by_query_not_resubmitted(exchange, make_venue):
    venue = await make_venue(timeout_ms=300)
    exchange.faults.hang(path="/api/v3/order", method="POST")
    order = await venue.submit()
    await eventually(lambda: order.status is OrderStatus.FILLED)
    counts = venue.gateway.execution.counts
    await eventually(lambda: counts.get("resolved_by_query", 0) >= 1)
    assert counts["submit_ambiguous"] == 1
    assert exchange.orders_placed() == 1
    assert len(venue.sink.fills(order.client_order_id)) == 1


async def test_truncated_reply_is_resolved_by_query(exchange, venue):
    exchange.faults.truncated_json(path="/api/v3/order", method="POST")
    order = await venue.submit("limit", "0.3")
    await eventually(lambda: order.status is OrderStatus.ACCEPTED)
    assert order.venue_order_id == str(exchange.order(order.client_order_id)["orderId"])
    assert exchange.orders_placed() == 1
    assert venue.gateway.execution.counts["submit_no_order_id"] == 1


async def test_duplicate_client_id_is_resolved_by_query_not_rejected(exchange, venue):
    """Binance -2010 "Duplicate order sent." means the venue has it: report that order."""
    client = venue.gateway.exchange
    await client.create_order("NKN/USDT", "limit", "buy", "100", "0.3",
                              {"clientOrderId": "dup-1"})
    order = await venue.submit("limit", "0.3", client_order_id="dup-1")
    await eventually(lambda: order.status is OrderStatus.ACCEPTED)
    counts = venue.gateway.execution.counts
    await eventually(lambda: counts.get("resolved_by_query", 0) == 1)
    assert counts["submit_duplicate"] == 1
    assert exchange.orders_placed() == 1
    assert [type(e) for e in venue.sink.of("dup-1")] == [OrderAccepted]


# -- websocket faults ------------------------------------------------------------------------


async def test_silent_stall_watchdog_reconnects_and_data_flows(exchange, make_venue):
    venue = await make_venue(stale_after=0.5, wait_user_stream=False)
    await asyncio.wait_for(exchange.wait_for_subscription(BOOK), 5)
    await push_until_quote(exchange, venue)
    exchange.faults.stall_ws("market")
    await eventually(lambda: venue.gateway.stream_status()["quote:NKN/USDT"]["stale"])
    await eventually(lambda: venue.gateway.stream_status()["quote:NKN/USDT"]["stale_reconnects"])
    exchange.faults.resume_ws()
    await push_until_quote(exchange, venue)
    assert not venue.gateway.stream_status()["quote:NKN/USDT"]["stale"]
    assert venue.gateway.is_connected
    assert venue.gateway.last_message_age("quote:NKN/USDT") < 5


@pytest.mark.parametrize("abrupt", [False, True])
async def test_dropped_socket_reconnects(exchange, venue, abrupt):
    await asyncio.wait_for(exchange.wait_for_subscription(BOOK), 5)
    await push_until_quote(exchange, venue)
    await exchange.drop_ws_connections("market", abrupt=abrupt)
    await push_until_quote(exchange, venue)
    assert venue.gateway.stream_status()["quote:NKN/USDT"]["reconnects"] >= 1


@pytest.mark.parametrize(("fields", "reason"), [
    ({"b": "NaN"}, "not_finite:bid"),
    ({"a": ""}, "missing:ask"),
    ({"B": REMOVE}, "missing:bid_size"),
    ({"b": "-1"}, "not_positive:bid"),
    ({"A": "0"}, "not_positive:ask_size"),
])
async def test_bad_quote_fields_are_rejected_counted_and_the_stream_goes_on(
        exchange, venue, fields, reason):
    await asyncio.wait_for(exchange.wait_for_subscription(BOOK), 5)
    exchange.faults.corrupt_ws_fields(fields, stream=BOOK)
    await exchange.push_book_ticker("NKNUSDT", "0.35000000", "0.35300000")
    await eventually(lambda: venue.gateway.rejected_messages.get(reason) == 1)
    assert quotes(venue) == []
    await push_until_quote(exchange, venue)
    assert all(q.bid.is_finite() and q.bid > 0 for q in quotes(venue))


@pytest.mark.parametrize(("fields", "reason"), [
    ({"q": "0"}, "not_positive:amount"),
    ({"q": "-3"}, "not_positive:amount"),
    ({"T": REMOVE}, "missing:timestamp"),
])
async def test_bad_trade_fields_are_rejected_and_counted(exchange, make_venue, fields, reason):
    venue = await make_venue(channels=("trade",), wait_user_stream=False)
    await asyncio.wait_for(exchange.wait_for_subscription("nknusdt@trade"), 5)
    exchange.faults.corrupt_ws_fields(fields, stream="nknusdt@trade")
    await exchange.push_trade("NKNUSDT", "0.35200000", "10.00000000")
    await eventually(lambda: venue.gateway.rejected_messages.get(reason) == 1)
    await exchange.push_trade("NKNUSDT", "0.35300000", "12.00000000")
    await eventually(lambda: any(isinstance(e, Trade) for e in venue.sink.data))
    [trade] = [e for e in venue.sink.data if isinstance(e, Trade)]
    assert (trade.price, trade.size) == (Decimal("0.353"), Decimal("12.0"))


# -- user data stream faults ----------------------------------------------------------------


async def test_duplicate_fill_reports_reach_the_sink_once(exchange, venue):
    order = await venue.submit("limit", "0.3")
    await eventually(lambda: order.status is OrderStatus.ACCEPTED)
    exchange.faults.duplicate_fills()
    await exchange.fill_order(order.client_order_id, "100", "0.3")
    await eventually(lambda: order.status is OrderStatus.FILLED)
    await eventually(lambda: venue.gateway.execution.counts.get("duplicate_fills", 0) >= 1)
    assert len(venue.sink.fills(order.client_order_id)) == 1
    assert not venue.sink.refused


async def test_late_and_out_of_order_fills_are_applied_once_each(exchange, venue):
    first = await venue.submit("limit", "0.3", quantity="100")
    second = await venue.submit("limit", "0.3", quantity="100")
    await eventually(lambda: first.status is second.status is OrderStatus.ACCEPTED)
    exchange.faults.hold_user_events({"TRADE"})
    await exchange.fill_order(first.client_order_id, "40", "0.3")
    await exchange.fill_order(first.client_order_id, "60", "0.3")
    await exchange.fill_order(second.client_order_id, "100", "0.3")
    assert await exchange.release_user_events(reverse=True) == 3
    await eventually(lambda: first.status is second.status is OrderStatus.FILLED)
    trade_ids = [f.trade_id for f in venue.sink.fills()]
    assert len(trade_ids) == len(set(trade_ids)) == 3
    assert not venue.sink.refused


async def test_fill_before_new_leaves_the_order_filled(exchange, venue):
    exchange.faults.fill_before_new()
    order = await venue.submit()
    await eventually(lambda: order.status is OrderStatus.FILLED)
    await eventually(lambda: venue.gateway.execution.counts.get("duplicate_fills", 0) >= 1)
    assert len(venue.sink.fills(order.client_order_id)) == 1
    assert order.status is OrderStatus.FILLED
    assert not venue.sink.refused


async def test_cancel_racing_a_fill_ends_filled_not_canceled(exchange, venue):
    order = await venue.submit("limit", "0.3")
    await eventually(lambda: order.status is OrderStatus.ACCEPTED)
    exchange.faults.fill_on_cancel()
    await venue.cancel(order)
    await eventually(lambda: any(isinstance(e, OrderCancelRejected)
                                 for e in venue.sink.of(order.client_order_id)))
    assert order.status is OrderStatus.FILLED
    assert len(venue.sink.fills(order.client_order_id)) == 1
    assert exchange.orders_placed() == 1


async def test_user_stream_drop_reconnects_and_fills_still_arrive(exchange, venue):
    order = await venue.submit("limit", "0.3")
    await eventually(lambda: order.status is OrderStatus.ACCEPTED)
    await exchange.drop_ws_connections("user")
    async with asyncio.timeout(5):
        await exchange.hub.wait_until(lambda: exchange.hub.user_subscribers() == 1)
    await exchange.fill_order(order.client_order_id, "100", "0.3")
    await eventually(lambda: order.status is OrderStatus.FILLED)
    assert venue.gateway.private_stream_status()["orders"]["reconnects"] >= 1
    assert [type(e) for e in venue.sink.of(order.client_order_id)].count(OrderAccepted) == 1
