"""Stream freshness and the metrics recorders, with small fakes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry, Histogram

from libra.observability.metrics import FillLatencyRecorder, TopicCounter
from libra.observability.service import stream_health


class ProbedGateway:
    is_connected = True

    def __init__(self, age: float | None) -> None:
        self.age = age

    def last_message_age(self) -> float | None:
        return self.age


class Feed:
    def __init__(self, last: float | None, finished: bool = False) -> None:
        self.last_emit_monotonic = last
        self.finished = finished


class ReplayGateway:
    def __init__(self, feed: Feed | None, connected: bool = True) -> None:
        self.feed = feed
        self.replay_events = [object()]
        self.is_connected = connected


class Unmeasured:
    is_connected = True


def test_a_gateway_reporting_its_message_age_is_stale_past_the_limit():
    assert not stream_health("g", ProbedGateway(1.0), 100.0, 0.0, 5.0).stale
    stale = stream_health("g", ProbedGateway(9.0), 100.0, 0.0, 5.0)
    assert stale.stale
    assert stale.age == 9.0
    assert stale.problems(5.0) == ["gateway g data is stale: data silent 9.0s (limit 5s)"]
    # Before a first message the age counts from the service's start.
    assert stream_health("g", ProbedGateway(None), 100.0, 98.0, 5.0).age == 2.0


def test_a_replay_feed_is_measured_by_its_last_emit():
    assert stream_health("p", ReplayGateway(Feed(99.0)), 100.0, 0.0, 5.0).age == 1.0
    assert stream_health("p", ReplayGateway(Feed(90.0)), 100.0, 0.0, 5.0).stale
    ended = stream_health("p", ReplayGateway(Feed(99.9, finished=True)), 100.0, 0.0, 5.0)
    assert ended.stale
    assert ended.ended
    assert ended.problems(5.0) == ["gateway p data stream has ended"]
    not_started = stream_health("p", ReplayGateway(None), 100.0, 97.0, 5.0)
    assert not_started.age == 3.0
    assert not not_started.stale


def test_a_gateway_without_a_freshness_signal_is_never_stale():
    health = stream_health("u", Unmeasured(), 100.0, 0.0, 5.0)
    assert (health.age, health.stale) == (None, False)
    down = stream_health("p", ReplayGateway(Feed(99.0), connected=False), 100.0, 0.0, 5.0)
    assert down.problems(5.0) == ["gateway p is not connected"]


@dataclass
class Event:
    kind: str
    client_order_id: str
    ts_event: int = 0
    ts_recv: int = 0
    topic: str = ""


def test_fill_latency_is_fill_received_minus_submit_time():
    registry = CollectorRegistry()
    histogram = Histogram("lat", "test", buckets=(0.01, 0.1, 1.0), registry=registry)
    open_orders = {"A", "B"}
    recorder = FillLatencyRecorder(histogram, lambda coid: coid not in open_orders)
    recorder(Event("submitted", "A", ts_event=1_000_000_000))
    recorder(Event("submitted", "B", ts_event=1_000_000_000))
    recorder(Event("filled", "A", ts_recv=1_050_000_000))  # partial: A stays open
    open_orders.discard("A")
    recorder(Event("filled", "A", ts_recv=1_500_000_000))
    recorder(Event("canceled", "B"))
    recorder(Event("filled", "C", ts_recv=5))  # never seen submitted: not measured
    assert registry.get_sample_value("lat_count") == 2
    assert registry.get_sample_value("lat_sum") == pytest.approx(0.55)  # 0.05 s + 0.5 s
    assert recorder.pending == 0


def test_topic_counter_counts_per_topic():
    counter = TopicCounter()
    for topic in ("a", "b", "a"):
        counter(Event("bar", "", topic=topic))
    assert counter.counts == {"a": 2, "b": 1}


class MultiStreamGateway:
    """Reports each stream's health, as the ccxt gateway does."""

    is_connected = True

    def stream_status(self) -> dict[str, dict[str, object]]:
        return {
            "quote:BTC/USDT": {"last_message_age": 2.0, "stale": False},
            "trade:BTC/USDT": {"last_message_age": 45.0, "stale": False},
            "bar:BTC/USDT": {"last_message_age": None, "stale": True},
        }

    def last_message_age(self, stream: str) -> float | None:
        raise AssertionError("stream_status() is preferred")


def test_a_gateway_with_several_streams_is_stale_when_one_stream_is():
    health = stream_health("ccxt", MultiStreamGateway(), 100.0, 99.0, 30.0)
    assert health.stale
    assert health.age == 45.0
    assert health.streams == {
        "quote:BTC/USDT": {"age": 2.0, "stale": False},
        "trade:BTC/USDT": {"age": 45.0, "stale": True},
        "bar:BTC/USDT": {"age": 1.0, "stale": True},
    }
    assert health.problems(30.0) == [
        "gateway ccxt data is stale: trade:BTC/USDT silent 45.0s, bar:BTC/USDT silent 1.0s "
        "(limit 30s)"]
