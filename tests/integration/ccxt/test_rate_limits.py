"""A venue's rate limit is waited out by the whole gateway, not turned into rejections."""

from __future__ import annotations

import itertools

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from libra.gateways.ccxt.config import CCXTGatewayConfig
from libra.model.orders import OrderStatus
from libra.testing.contract import eventually
from libra.testing.exchange import ccxt_config_for

ORDER = "/api/v3/order"


async def test_retry_after_is_waited_out_and_the_order_placed_once(exchange, venue):
    exchange.faults.http_status(429, count=4, retry_after=1, path=ORDER, method="POST")
    with capture_logs() as logs:
        order = await venue.submit()
        await eventually(lambda: order.status is OrderStatus.FILLED, timeout=15)
    assert exchange.orders_placed() == 1
    sent = exchange.request_times("POST", ORDER)
    assert len(sent) == 5
    assert min(b - a for a, b in itertools.pairwise(sent)) >= 0.95
    limited = [line for line in logs if line["event"] == "gateway.rate_limited"]
    assert [line["retry_after"] for line in limited] == [1.0] * 4


async def test_a_rate_limit_holds_back_every_request_of_the_gateway(exchange, venue):
    exchange.faults.http_status(429, retry_after=2, path=ORDER, method="POST")
    first = await venue.submit()
    await eventually(lambda: len(exchange.request_times("POST", ORDER)) == 1)
    limited_at = exchange.request_times("POST", ORDER)[0]
    second = await venue.submit("limit", "0.3")
    await eventually(lambda: first.status is OrderStatus.FILLED, timeout=10)
    await eventually(lambda: second.status is OrderStatus.ACCEPTED, timeout=10)
    later = [t for t in exchange.requests if t[0] > limited_at]
    assert later
    assert min(at for at, _, _ in later) - limited_at >= 1.9
    assert exchange.orders_placed() == 2


async def test_a_cancel_waits_out_a_rate_limit(exchange, venue):
    order = await venue.submit("limit", "0.3")
    await eventually(lambda: order.status is OrderStatus.ACCEPTED)
    exchange.faults.http_status(429, count=4, retry_after=1, path=ORDER, method="DELETE")
    await venue.cancel(order)
    await eventually(lambda: order.status is OrderStatus.CANCELED, timeout=10)
    assert len(exchange.request_times("DELETE", ORDER)) == 5


@pytest.mark.parametrize("deadline", [0, -1, 601])
def test_the_submit_deadline_is_bounded(deadline):
    with pytest.raises(ValidationError, match="submit_deadline"):
        CCXTGatewayConfig(exchange="binance", submit_deadline=deadline)


async def test_a_request_held_back_by_a_rate_limit_is_signed_when_it_leaves(exchange,
                                                                            make_venue):
    # A 1 s receive window: a request signed before a 2 s wait would be refused (-1021).
    options = {**ccxt_config_for(exchange)["options"], "recvWindow": 1000}
    venue = await make_venue(ccxt_options=options)
    exchange.faults.http_status(429, retry_after=2, path=ORDER, method="POST")
    first = await venue.submit()
    await eventually(lambda: len(exchange.request_times("POST", ORDER)) == 1)
    # A signed read while every request waits: it must be signed when it leaves.
    reports = await venue.gateway.fetch_open_orders()
    assert isinstance(reports, list)
    await eventually(lambda: first.status is OrderStatus.FILLED, timeout=10)
