"""MessageBus: topic matching, priorities, isolation of failing handlers, endpoints."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from libra.core.bus import MessageBus, compile_pattern


@pytest.mark.parametrize(
    ("pattern", "topic", "matches"),
    [
        ("data.bar.paper.BTC/USDT.1m", "data.bar.paper.BTC/USDT.1m", True),
        ("data.*.paper.BTC/USDT", "data.quote.paper.BTC/USDT", True),
        ("data.*.paper.BTC/USDT", "data.bar.paper.BTC/USDT.1m", False),
        ("data.bar.paper.BTC/USDT.*", "data.bar.paper.BTC/USDT.1m", True),
        ("data.**", "data.bar.paper.BTC/USDT.1m", True),
        ("data.*.paper.**", "data.trade.paper.ETH/BTC", True),
        ("data.*.paper.**", "data.trade.ccxt.ETH/BTC", False),
        ("order.s?.filled", "order.s1.filled", True),
        ("order.s?.filled", "order.s12.filled", False),
        ("data.*.paper.BTC/USDT.**", "data.quote.paper.BTC/USDT", True),
        ("data.*.paper.BTC/USDT.**", "data.quote.paper.BTC/USDTX", False),
    ],
)
def test_pattern_matching(pattern, topic, matches):
    bus = MessageBus()
    got: list[object] = []
    bus.subscribe(pattern, got.append)
    bus.publish(topic, "m")
    assert (got == ["m"]) is matches


def test_priority_then_subscription_order():
    bus = MessageBus()
    calls: list[str] = []
    bus.subscribe("t.**", lambda m: calls.append("low"))
    bus.subscribe("t.x", lambda m: calls.append("high"), priority=10)
    bus.subscribe("t.*", lambda m: calls.append("low2"))
    bus.publish("t.x", None)
    assert calls == ["high", "low", "low2"]


def test_failing_handler_is_isolated_and_counted():
    bus = MessageBus()
    got: list[int] = []
    bus.subscribe("a", got.append)
    bus.subscribe("a", lambda m: 1 / 0)
    bus.subscribe("a", lambda m: got.append(m * 10))
    bus.publish("a", 1)
    assert got == [1, 10]
    assert bus.handler_errors == 1


def test_a_handler_failing_on_every_message_logs_once_per_interval():
    """A broken handler must not write a traceback per tick: one line, then a count."""
    bus = MessageBus(error_log_interval=3600)
    bus.subscribe("tick", lambda m: 1 / 0)
    with capture_logs() as logs:
        for i in range(500):
            bus.publish("tick", i)
        bus.error_log_interval = 0  # the interval has passed
        bus.publish("tick", 500)

    failures = [entry for entry in logs if entry["event"] == "bus.handler_failed"]
    assert bus.handler_errors == 501
    assert [f["suppressed_since_last"] for f in failures] == [0, 499]
    assert all(f["exc_info"] for f in failures)


def test_each_failing_handler_is_logged_on_its_own():
    bus = MessageBus(error_log_interval=3600)

    def first(message: object) -> None:
        raise ValueError(message)

    def second(message: object) -> None:
        raise KeyError(message)

    bus.subscribe("tick", first)
    bus.subscribe("tick", second)
    with capture_logs() as logs:
        bus.publish("tick", 1)
        bus.publish("tick", 2)
        bus.unsubscribe("tick", first)
        bus.subscribe("tick", first)  # a new subscription starts a new log budget
        bus.publish("tick", 3)

    handlers = [e["handler"] for e in logs if e["event"] == "bus.handler_failed"]
    assert bus.handler_errors == 6
    assert sorted(handlers) == sorted([first.__qualname__, second.__qualname__,
                                       first.__qualname__])


def test_subscription_changes_invalidate_the_match_cache():
    bus = MessageBus()
    got: list[str] = []
    bus.publish("x.y", "before")  # caches "no handlers" for x.y
    bus.subscribe("x.*", got.append)
    bus.publish("x.y", "after")
    bus.unsubscribe("x.*", got.append)
    bus.publish("x.y", "gone")
    assert got == ["after"]
    assert not bus.has_subscribers("x.y")


def test_duplicate_subscription_is_ignored():
    bus = MessageBus()
    got: list[int] = []
    bus.subscribe("a", got.append)
    bus.subscribe("a", got.append)
    bus.publish("a", 1)
    assert got == [1]


async def test_request_response_by_endpoint():
    bus = MessageBus()
    bus.register_endpoint("risk.state", lambda m: {"state": "active", "asked": m})
    assert bus.request("risk.state", 1) == {"state": "active", "asked": 1}

    async def async_handler(message: int) -> int:
        return message * 2

    bus.register_endpoint("double", async_handler)
    assert await bus.request("double", 21) == 42
    with pytest.raises(KeyError, match="no endpoint 'nope'"):
        bus.request("nope")
    with pytest.raises(ValueError, match="already registered"):
        bus.register_endpoint("double", async_handler)


segment = st.text(alphabet="abcXYZ/-_0", min_size=1, max_size=5)


@given(st.lists(segment, min_size=1, max_size=5), st.lists(segment, min_size=1, max_size=5))
def test_double_star_suffix_matches_exactly_the_prefix_and_deeper(prefix, rest):
    regex = compile_pattern(".".join(prefix) + ".**")
    assert regex.match(".".join(prefix))
    assert regex.match(".".join(prefix + rest))
    assert not regex.match(".".join([*prefix[:-1], prefix[-1] + "q"]))


def test_version_changes_exactly_when_the_subscriptions_do():
    bus = MessageBus()
    seen: list[int] = []
    versions = [bus.version]
    bus.subscribe("data.**", seen.append)
    versions.append(bus.version)
    bus.subscribe("data.**", seen.append)  # the same subscription again: no change
    bus.unsubscribe("data.bar.**", seen.append)  # not subscribed: no change
    versions.append(bus.version)
    bus.unsubscribe("data.**", seen.append)
    versions.append(bus.version)
    assert versions[0] != versions[1] == versions[2] != versions[3]
