"""The fleet publisher: bounded, never waiting, resending a failed window under the same ids."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from libra.fleet.publisher import FleetPublisher
from libra.testing import eventually


class Ack:
    def __init__(self, duplicate: bool) -> None:
        self.duplicate = duplicate


class FakeJetStream:
    """NATS and JetStream at the library edge: stores by message id, as the server does;
    ``publish_async`` (the acknowledged publish) can fail or hang."""

    def __init__(self) -> None:
        self.stored: dict[str, tuple[str, bytes]] = {}
        self.fail_next = 0
        self.hold = False
        self.sent: list[str] = []  # every message id, in the order published
        self.held: list[asyncio.Future[Any]] = []

    async def publish(self, subject: str, payload: bytes = b"", reply: str = "",
                      headers: dict[str, str] | None = None) -> None:
        self.sent.append((headers or {})["Nats-Msg-Id"])
        self.stored.setdefault((headers or {})["Nats-Msg-Id"], (subject, payload))

    async def publish_async(self, subject: str, payload: bytes = b"", wait_stall: Any = None,
                            stream: Any = None, headers: dict[str, Any] | None = None,
                            msg_ttl: Any = None) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        msg_id = (headers or {})["Nats-Msg-Id"]
        self.sent.append(msg_id)
        if self.hold:  # the link hangs: the test decides how the acks end
            self.held.append(future)
            return future
        if self.fail_next:
            self.fail_next -= 1
            self.stored.setdefault(msg_id, (subject, payload))  # stored, ack lost
            future.set_exception(ConnectionError("link lost"))
            return future
        duplicate = msg_id in self.stored
        self.stored.setdefault(msg_id, (subject, payload))
        future.set_result(Ack(duplicate))
        return future


def test_offer_beyond_the_buffer_drops_the_oldest_and_counts() -> None:
    publisher = FleetPublisher("desk", "k1", buffer_size=10, window=4)
    for i in range(15):
        publisher.offer("order", {"i": i})

    assert publisher.buffered == 10
    assert publisher.dropped == 5


async def test_a_window_is_sent_with_versioned_payloads_and_subjects() -> None:
    publisher = FleetPublisher("desk", "k1", buffer_size=100, window=10)
    js = FakeJetStream()
    publisher.offer("heartbeat", {"state": "running"})
    publisher.offer("fill", {"quantity": "0.05"})

    assert await publisher.send_window(js, js) == 2

    (subject1, _), (subject2, body2) = js.stored.values()
    assert (subject1, subject2) == ("libra.desk.k1.heartbeat", "libra.desk.k1.fill")
    payload = json.loads(body2)
    assert payload["v"] == 1
    assert payload["kind"] == "fill"
    assert payload["kernel"] == "k1"
    assert payload["data"] == {"quantity": "0.05"}
    assert payload["msg_id"] == f"k1.{publisher.boot}.2"
    assert publisher.buffered == 0


async def test_a_failed_window_is_resent_under_the_same_ids_and_stored_once() -> None:
    publisher = FleetPublisher("desk", "k1", buffer_size=100, window=5)
    js = FakeJetStream()
    for i in range(5):
        publisher.offer("order", {"i": i})
    js.fail_next = 1  # the window's ack is lost

    with pytest.raises(ConnectionError):
        await publisher.send_window(js, js)
    assert publisher.buffered == 5
    await publisher.send_window(js, js)

    assert len(js.stored) == 5
    assert publisher.published == 5
    assert publisher.duplicates == 1  # the acknowledged last one: the server had it
    assert publisher.failed_windows == 1
    assert [json.loads(body)["data"]["i"] for _, body in js.stored.values()] == list(range(5))


async def test_a_window_put_back_over_a_full_buffer_keeps_the_newest() -> None:
    publisher = FleetPublisher("desk", "k1", buffer_size=10, window=10)
    js = FakeJetStream()
    for i in range(10):
        publisher.offer("order", {"i": i})
    js.hold = True

    send = asyncio.ensure_future(publisher.send_window(js, js))
    await eventually(lambda: len(js.held) == 1)  # the window's last event
    for i in range(10, 13):  # offered while the window waits for its acks
        publisher.offer("order", {"i": i})
    js.held[0].set_exception(ConnectionError("link lost"))
    with pytest.raises(ConnectionError):
        await send

    assert publisher.buffered == 10
    assert publisher.dropped == 3
    js.hold = False
    js.sent.clear()
    await publisher.send_window(js, js)
    assert [int(msg_id.rsplit(".", 1)[1]) for msg_id in js.sent] == list(range(4, 14))
