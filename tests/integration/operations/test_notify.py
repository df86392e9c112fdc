"""Notifications from a real paper kernel to a real webhook receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from notify_receiver import Receiver, closed_port
from prometheus_client.parser import text_string_to_metric_families

from libra.core.config import KernelConfig, NotifyConfig
from libra.core.kernel import TradingKernel
from libra.observability.notify import Notification, Notifier, notify_service
from libra.observability.service import OpsService, ops_service

TOKEN = "op-token-5f1c2a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXPONENT = re.compile(r"\d[eE][+-]?\d")


class WallClock:
    """Wall time the test sets (seconds since the epoch)."""

    def __init__(self, when: dt.datetime) -> None:
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = await Receiver().start()
    yield server
    await server.close()


Start = Callable[..., Awaitable[TradingKernel]]


@pytest.fixture
async def start_kernel() -> AsyncIterator[Start]:
    """Start kernels with the notifier (first) and the ops service; stop them at the end."""
    kernels: list[TradingKernel] = []

    async def start(raw: dict[str, Any], **notifier_options: Any) -> TradingKernel:
        config = KernelConfig.model_validate(copy.deepcopy(raw))
        notifier_options.setdefault("check_interval", 0.05)
        services = [notify_service(config.notify, **notifier_options), ops_service()]
        kernel = TradingKernel(config, services=services)
        kernels.append(kernel)
        await kernel.start()
        return kernel

    yield start
    for kernel in kernels:
        await kernel.stop()


def notifier_of(kernel: TradingKernel) -> Notifier:
    return next(s for s in kernel.services if isinstance(s, Notifier))


def ops_of(kernel: TradingKernel) -> OpsService:
    return next(s for s in kernel.services if isinstance(s, OpsService))


async def notification_counts(kernel: TradingKernel) -> dict[tuple[str, str], float]:
    """Read ``libra_notifications_total`` from the daemon's ``/metrics``."""
    url = f"http://127.0.0.1:{ops_of(kernel).port}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        text = await response.text()
    return {(s.labels["target"], s.labels["result"]): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == "libra_notifications_total"}


def target(name: str, url: str, *events: str) -> dict[str, Any]:
    """Return one ``[[notify.targets]]`` entry (every event when none is named)."""
    return {"name": name, "url": url, **({"events": list(events)} if events else {})}


async def replay_done(kernel: TradingKernel, eventually: Callable[..., Awaitable[None]]) -> None:
    """Wait until the paper venue has replayed its whole file and every strategy caught up."""
    gateway: Any = kernel.gateways["paper"]
    await eventually(lambda: gateway.feed is not None and gateway.feed.finished
                     and kernel.lockstep.is_settled, timeout=30)


async def test_fills_reach_the_receiver_as_readable_messages(
        receiver, start_kernel, make_config, eventually):
    notify = {"targets": [target("desk", receiver.url(), "fill")], "queue_size": 40}
    kernel = await start_kernel(make_config(speed=0, notify=notify))
    await replay_done(kernel, eventually)
    fills = kernel.trading.counts["filled"]
    notifier = notifier_of(kernel)
    await eventually(lambda: notifier.counts.get(("desk", "sent"), 0)
                     + notifier.counts.get(("desk", "dropped"), 0) == fills, timeout=20)

    first = receiver.messages[0]
    assert first["path"] == "/hook"
    title, message = first["body"]["title"], first["body"]["message"]
    assert re.fullmatch(r"ops-test: (BUY|SELL) [\d.,]+ BTC/USD @ [\d.,]+", title), title
    assert "strategy sma on paper" in message
    assert "fee " in message
    assert "position " in message
    for body in (m["body"] for m in receiver.messages):
        assert not EXPONENT.search(body["title"] + body["message"]), body
        # No number with more digits than a person reads (an unrounded Decimal).
        assert not re.search(r"\d{13,}", body["message"]), body
    counts = await notification_counts(kernel)
    assert counts[("desk", "sent")] == len(receiver.messages) >= 40
    assert counts[("desk", "failed")] == 0
    # The replay outruns any webhook: what did not fit in the queue was dropped, counted.
    assert counts[("desk", "sent")] + counts[("desk", "dropped")] == fills


async def test_a_failed_strategy_and_a_halt_reach_the_receiver(
        receiver, start_kernel, make_config, eventually):
    raw = make_config(speed=60, notify={"targets": [
        target("ops", receiver.url("ops"), "strategy", "risk")]})
    raw["strategies"].append({"id": "bad", "plugin": "libra_test_plugins:Raising",
                              "gateway": "paper", "symbols": ["BTC/USD"],
                              "max_consecutive_errors": 2})
    kernel = await start_kernel(raw)
    await eventually(lambda: receiver.with_title("strategy bad failed"), timeout=20)
    failed = receiver.with_title("strategy bad failed")[0]
    assert failed["type"] == "failure"
    assert "after 2 callback errors" in failed["message"]

    url = f"http://127.0.0.1:{ops_of(kernel).port}/api/control/halt"
    async with aiohttp.ClientSession() as http, http.post(url, headers=AUTH) as response:
        assert response.status == 200
    await eventually(lambda: receiver.with_title("trading halted"))
    halted = receiver.with_title("trading halted")[0]
    assert halted["message"] == "Trading state active -> halted: operator: halt"
    assert halted["type"] == "warning"

    url = f"http://127.0.0.1:{ops_of(kernel).port}/api/strategies/sma/stop"
    async with aiohttp.ClientSession() as http, http.post(url, headers=AUTH) as response:
        assert response.status == 200
    await eventually(lambda: receiver.with_title("strategy sma stopped"))
    # Fills are not among this target's events.
    assert not [t for t in receiver.titles() if " @ " in t]


async def test_targets_that_are_down_do_not_hold_trading_back(
        receiver, start_kernel, make_config, eventually):
    plain = await start_kernel(make_config(speed=0))
    await replay_done(plain, eventually)
    baseline = dict(plain.trading.counts)
    await plain.stop()

    notify = {"targets": [target("refused", f"json://127.0.0.1:{closed_port()}/x", "fill"),
                          target("hung", receiver.url("hang"), "fill")],
              "send_timeout": 0.5, "queue_size": 2, "stop_timeout": 0.5}
    kernel = await start_kernel(make_config(speed=0, notify=notify))
    await replay_done(kernel, eventually)
    assert kernel.trading.counts == baseline

    notifier = notifier_of(kernel)
    fills = baseline["filled"]
    assert all(t.queue.qsize() <= 2 for t in notifier.targets)
    await eventually(lambda: notifier.counts.get(("hung", "failed"), 0) >= 1, timeout=10)
    counts = await notification_counts(kernel)
    assert counts[("refused", "failed")] >= 1
    assert counts[("refused", "dropped")] >= 1
    assert counts[("hung", "dropped")] >= 1
    assert counts[("refused", "sent")] == counts[("hung", "sent")] == 0
    # A target that is down is tried once per pause, not once per fill.
    assert counts[("refused", "failed")] < 20

    async with asyncio.timeout(5):  # the stop does not wait for targets that are down
        await kernel.stop()
    assert notifier.totals()["sent"] == 0
    for name in ("refused", "hung"):
        assert notifier.counts[(name, "failed")] + notifier.counts[(name, "dropped")] == fills


async def test_the_queue_bound_holds(receiver):
    kernel = TradingKernel(KernelConfig())
    config = NotifyConfig.model_validate({"targets": [target("hung", receiver.url("hang"))],
                                          "queue_size": 3, "stop_timeout": 0.1})
    notifier = Notifier(kernel, config, check_interval=3600)
    await notifier.start()
    try:
        for number in range(20):
            notifier.notify(Notification("fill", f"fill {number}", "body"))
        hung = notifier.targets[0]
        assert hung.queue.qsize() <= 3
        # One may already be in the sender's hands; the rest beyond the queue are dropped.
        assert 16 <= notifier.counts[("hung", "dropped")] <= 17
    finally:
        await notifier.stop()
    assert notifier.totals()["dropped"] == 20


async def test_the_daily_summary_fires_at_its_time(receiver, start_kernel, make_config,
                                                   eventually):
    clock = WallClock(dt.datetime(2026, 3, 2, 7, 59, 30, tzinfo=dt.UTC))
    raw = make_config(speed=0, notify={"daily_summary_at": "08:00", "targets": [
        target("daily", receiver.url("daily"), "summary")]})
    kernel = await start_kernel(raw, clock=clock, check_interval=3600)
    await replay_done(kernel, eventually)
    notifier = notifier_of(kernel)
    notifier.check()
    assert notifier.targets[0].queue.qsize() == 0
    assert not notifier.targets[0].sending

    clock.now = dt.datetime(2026, 3, 2, 8, 0, 0, tzinfo=dt.UTC).timestamp()
    notifier.check()
    await eventually(lambda: len(receiver.messages) == 1)
    summary = receiver.messages[0]["body"]
    assert summary["title"] == "ops-test: daily summary 2026-03-02 08:00 UTC"
    fills = kernel.trading.counts["filled"]
    since = re.search(rf"^fills: (\d+) since the last summary, {fills} since start$",
                      summary["message"], re.M)
    assert since is not None, summary["message"]
    assert 0 < int(since.group(1)) <= fills
    assert "trading active" in summary["message"]
    assert re.search(r"^sma \(running\): realized -?[\d.]+ USD", summary["message"], re.M)
    assert not EXPONENT.search(summary["message"])

    notifier.check()  # the same minute again: no second summary
    assert notifier.summary_due == dt.datetime(2026, 3, 3, 8, 0, tzinfo=dt.UTC).timestamp()
    assert notifier.targets[0].queue.qsize() == 0


async def test_error_lines_are_sent_throttled_and_scrubbed(receiver, eventually):
    import io

    import structlog

    from libra.observability.logging import configure_logging

    configure_logging("info", "json", secrets=["venue-key-77aa31"], stream=io.StringIO())
    config = NotifyConfig.model_validate({"targets": [target("pager", receiver.url(), "error")],
                                          "error_interval": 3600})
    notifier = Notifier(TradingKernel(KernelConfig()), config, check_interval=3600)
    await notifier.start()
    try:
        log = structlog.get_logger("libra.gateway")
        log.warning("gateway.slow", gateway="paper")  # below error: not sent
        for _ in range(50):
            log.error("gateway.order_failed", gateway="paper", error="key venue-key-77aa31")
        log.error("kernel.start_failed", reason="boom")
        await eventually(lambda: len(receiver.messages) == 2)
    finally:
        await notifier.stop()
    first, second = (m["body"] for m in receiver.messages)
    assert first["title"] == "libra: error gateway.order_failed"
    assert first["type"] == "failure"
    assert "venue-key-77aa31" not in first["message"]
    assert "error=key **********" in first["message"]
    assert second["title"] == "libra: error kernel.start_failed"
    assert notifier.totals() == {"sent": 2, "failed": 0, "dropped": 0}


async def test_the_end_of_a_replay_is_a_gateway_notification(
        receiver, start_kernel, make_config, eventually):
    raw = make_config(speed=0, notify={"targets": [target("ops", receiver.url(), "gateway")]})
    await start_kernel(raw)
    await eventually(lambda: receiver.with_title("gateway paper data ended"), timeout=30)
    assert receiver.titles() == ["ops-test: gateway paper data ended"]
