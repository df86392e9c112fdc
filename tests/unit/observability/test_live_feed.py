"""The status page's stream against a real kernel and its real aiohttp server."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
import structlog

from libra.core.kernel import TradingKernel
from libra.observability.live import CSP, MAX_STREAMS, LiveFeed, snapshot_payload
from libra.observability.logging import configure_logging
from libra.observability.problems import RECENT_PROBLEMS, ProblemRing
from libra.observability.service import OpsService
from libra.observability.snapshot import EquityHistory, human_number
from libra.testing import eventually
from libra.testing.factories import paper_config, paper_gateway


@pytest.fixture
async def ops() -> AsyncIterator[OpsService]:
    """A kernel replaying bundled bars into sma_cross, with its HTTP server.

    50 bars a second: it fills within a second or two, and the snapshot changes each tick
    for the whole test (a replay at full speed would end, and the stream fall quiet).
    """
    sma = {"id": "sma", "plugin": "sma_cross",
           "params": {"fast": 3, "slow": 8, "quantity": "0.01"}}
    gateway = paper_gateway(balances={"USD": "1000000"}, speed=3000)
    config = paper_config(sma, gateway=gateway,
                          kernel={"name": "live-test", "shutdown_timeout": 5},
                          logging={"heartbeat_interval": 60, "log_orders": False},
                          http={"enabled": True, "port": 0})
    kernel = TradingKernel(config)
    await kernel.start()
    service = OpsService(kernel)
    await service.start()
    yield service
    await service.stop()
    await kernel.stop()


def feed_of(ops: OpsService) -> LiveFeed:
    assert ops.http is not None
    return ops.http.live


def url(ops: OpsService, path: str) -> str:
    return f"http://127.0.0.1:{ops.port}{path}"


async def next_event(response: aiohttp.ClientResponse) -> bytes:
    """Return the next complete event or comment (up to its blank line)."""
    async with asyncio.timeout(10):
        return await response.content.readuntil(b"\n\n")


async def next_snapshot(response: aiohttp.ClientResponse) -> tuple[bytes, dict]:
    while True:
        message = await next_event(response)
        if message.startswith(b"event: snapshot"):
            return message, snapshot_payload(message)


async def test_the_stream_sends_a_snapshot_of_the_trading_kernel(ops):
    kernel = ops.kernel
    await eventually(lambda: kernel.trading.counts.get("filled", 0) >= 2)
    async with aiohttp.ClientSession() as session, session.get(url(ops, "/api/stream")) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/event-stream"
        _, snap = await next_snapshot(r)

    assert snap["kernel"]["name"] == "live-test"
    assert snap["kernel"]["state"] == "running"
    assert snap["risk"]["trading_state"] == "active"
    assert [g["id"] for g in snap["gateways"]] == ["paper"]
    assert snap["gateways"][0]["connected"] is True
    assert [(s["id"], s["state"]) for s in snap["strategies"]] == [("sma", "running")]
    assert snap["strategies"][0]["events"] > 8
    fills = snap["fills"]
    assert len(fills) >= 2
    assert {f["symbol"] for f in fills} == {"BTC/USD"}
    assert fills[0]["quantity"] == "0.01"
    assert [f["ts"] for f in fills] == sorted((f["ts"] for f in fills), reverse=True)
    assert list(snap["equity"]) == ["paper USD"]
    assert snap["balances"][0]["currency"] == "USD"
    # Numbers are text for people: separators, no exponent, no 28-digit quotients.
    for row in snap["positions"] + snap["balances"]:
        for value in row.values():
            assert "E" not in str(value)
            assert len(str(value).partition(".")[2]) <= 12


async def test_the_page_is_served_with_its_content_security_policy(ops):
    async with aiohttp.ClientSession() as session:
        async with session.get(url(ops, "/")) as page:
            html = await page.text()
            assert page.status == 200
            assert page.headers["Content-Security-Policy"] == CSP
            assert page.headers["X-Content-Type-Options"] == "nosniff"
        async with session.get(url(ops, "/static/status.js")) as script:
            assert script.status == 200
            assert script.content_type == "text/javascript"
            assert "innerHTML" not in await script.text()
        async with session.get(url(ops, "/static/../service.py")) as escape:
            assert escape.status == 404
    assert "script-src 'self'" in CSP
    assert "<script>" not in html  # nothing inline: the policy forbids it


async def test_streams_beyond_the_limit_are_refused_until_one_closes(ops):
    feed = feed_of(ops)
    async with aiohttp.ClientSession() as session:
        streams = [await session.get(url(ops, "/api/stream")) for _ in range(MAX_STREAMS)]
        assert [s.status for s in streams] == [200] * MAX_STREAMS
        await eventually(lambda: feed.open_streams == MAX_STREAMS)
        async with session.get(url(ops, "/api/stream")) as refused:
            assert refused.status == 503
            assert "limit" in (await refused.json())["error"]
        streams.pop().close()
        await eventually(lambda: feed.open_streams == MAX_STREAMS - 1)
        async with session.get(url(ops, "/api/stream")) as accepted:
            assert accepted.status == 200
            await next_snapshot(accepted)
        for stream in streams:
            stream.close()


async def test_every_stream_gets_the_same_rendered_snapshot(ops):
    feed = feed_of(ops)
    async with aiohttp.ClientSession() as session:
        streams = [await session.get(url(ops, "/api/stream")) for _ in range(3)]
        renders_before = feed.renders
        seen: list[list[bytes]] = [[], [], []]
        for _ in range(4):
            for i, stream in enumerate(streams):
                seen[i].append((await next_snapshot(stream))[0])
        for stream in streams:
            stream.close()
    # After its first (stamped at connect), each stream gets the shared events: the same
    # bytes, one render per tick for all, not one per client.
    shared = set(seen[0][1:]) & set(seen[1][1:]) & set(seen[2][1:])
    assert len(shared) >= 2
    assert feed.renders - renders_before <= 4 + 1


async def test_a_quiet_stream_gets_a_heartbeat_comment(ops):
    feed_of(ops).heartbeat = 0.05
    async with aiohttp.ClientSession() as session, session.get(url(ops, "/api/stream")) as r:
        while (message := await next_event(r)) != b": keepalive\n\n":
            assert message.startswith((b"retry:", b"event: snapshot"))


async def test_stopping_the_server_ends_open_streams_at_once(ops):
    feed = feed_of(ops)
    async with aiohttp.ClientSession() as session:
        streams = [await session.get(url(ops, "/api/stream")) for _ in range(2)]
        for stream in streams:
            await next_snapshot(stream)
        async with asyncio.timeout(5):  # a browser left open must not hold the stop
            await ops.stop()
            for stream in streams:
                # Ended by the feed, not aborted by aiohttp's shutdown timer: the chunked
                # body is complete (an aborted one raises ClientPayloadError here).
                await stream.content.read()
                assert stream.content.at_eof()
    assert feed.open_streams == 0


def test_numbers_are_formatted_for_people():
    assert human_number(Decimal("0E-8")) == "0"
    assert human_number("-0.000") == "0"
    assert human_number(Decimal("1234567.891")) == "1,234,567.9"
    assert human_number(Decimal("1234567.891"), 2) == "1,234,567.89"
    assert human_number(Decimal("0.000123456789")) == "0.00012345679"
    assert human_number(Decimal("0.000123456789"), 2) == "0.00012345679"
    assert human_number(Decimal("1") / Decimal("3")) == "0.33333333"
    assert human_number(Decimal("1E-9")) == "0.000000001"  # dust is not zero
    assert human_number(Decimal("1E-15")) == "0"
    assert human_number(Decimal("1E+3")) == "1,000"
    assert human_number("0.01000000") == "0.01"
    assert human_number(None) == ""
    assert human_number("n/a") == "n/a"


def test_equity_history_spans_the_run_in_bounded_points():
    history = EquityHistory(capacity=10, interval=1.0)
    for second in range(1000):
        history.sample(float(second), {"paper USD": float(second)})
    points = history.series()["paper USD"]
    assert len(points) <= 10 + 1  # the kept points and the newest value
    assert points[0][0] == 0.0
    assert points[-1] == [999.0, 999.0]
    # An unchanged value is not sampled each interval.
    quiet = EquityHistory(interval=1.0)
    assert quiet.sample(0.0, {"a": 1.0})
    assert not quiet.sample(5.0, {"a": 1.0})
    assert quiet.sample(6.0, {"a": 2.0})


def test_warnings_and_errors_reach_the_ring_scrubbed_and_bounded():
    RECENT_PROBLEMS.clear()
    configure_logging(level="info", fmt="json", kernel="ring-test", stream=io.StringIO())
    log = structlog.get_logger("ring-test")
    log.info("order.accepted", client_order_id="a")
    log.warning("gateway.slow", symbol="<img src=x onerror=alert(1)>", api_key="k-123456789")
    try:
        raise ValueError("venue said no")
    except ValueError:
        log.exception("strategy.failed", strategy_id="sma")
    recent = RECENT_PROBLEMS.recent()
    assert [(p["level"], p["event"]) for p in recent] == [
        ("error", "strategy.failed"), ("warning", "gateway.slow")]
    assert recent[1]["fields"]["symbol"] == "<img src=x onerror=alert(1)>"
    assert "k-123456789" not in json.dumps(recent)
    assert "venue said no" in recent[0]["fields"]["exception"]

    ring = ProblemRing(capacity=3)
    for i in range(10):
        ring.add("warning", f"e{i}", {"detail": "x" * 5000})
    assert [p["event"] for p in ring.recent()] == ["e9", "e8", "e7"]
    assert len(ring.recent()[0]["fields"]["detail"]) <= 300
