"""A bounded, asynchronous JetStream publisher that trading never waits for.

``offer()`` is what the trading path calls (a bus handler, the log tap): it appends to
a deque and returns, at the cost of a few attribute reads; no encoding, no I/O, no
task. The sender task owned by the fleet service encodes and publishes in windows of
``publish_window`` messages, each with a ``Nats-Msg-Id`` of ``<kernel>.<boot>.<seq>``.
JetStream acknowledges a window through its last message: NATS handles the messages of
one connection in order, so that ack says the server has taken the whole window, and
the daemon parses one ack per window instead of one per event (per-event acks cost the
kernel a tenth of its throughput in ``benchmarks/fleet.py``). A window whose ack does not
come (the link dropped, the ack timed out) goes back to the front of the buffer and is
sent again, whole, once the link returns: the server discards a message id it already
stored (its duplicate window), so a resend is never stored twice.

While NATS is unreachable the buffer keeps up to ``buffer_size`` events; past that the
oldest is dropped and counted: a fleet view cares most about the latest state, and the
daemon's own state store keeps the full history anyway.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from typing import Any, Protocol

import msgspec

from libra.core.redaction import scrub
from libra.fleet.protocol import MSG_ID_HEADER, PROTOCOL_VERSION, event_subject

#: Seconds to wait for the acknowledgements of one window.
ACK_TIMEOUT = 2.0


class CorePublisher(Protocol):
    """What the sender needs from ``nats.aio.client.Client``."""

    async def publish(self, subject: str, payload: bytes = b"", reply: str = "",
                      headers: dict[str, str] | None = None) -> None: ...


class JetStreamPublisher(Protocol):
    """What the sender needs from ``nats.js.JetStreamContext``."""

    async def publish_async(self, subject: str, payload: bytes = b"",
                            wait_stall: float | None = None, stream: str | None = None,
                            headers: dict[str, Any] | None = None,
                            msg_ttl: float | None = None) -> asyncio.Future[Any]: ...


def _default(value: Any) -> Any:
    return str(value)


_encoder = msgspec.json.Encoder(enc_hook=_default, decimal_format="string")


class FleetPublisher:
    """Buffer events and send them to JetStream in acknowledged windows."""

    def __init__(self, fleet: str, kernel: str, buffer_size: int, window: int,
                 ack_timeout: float = ACK_TIMEOUT) -> None:
        self.fleet = fleet
        self.kernel = kernel
        self.buffer_size = buffer_size
        self.window = window
        self.ack_timeout = ack_timeout
        #: Changes at every start: message ids of two runs never collide.
        self.boot = uuid.uuid4().hex[:12]
        self._subjects: dict[str, str] = {}  # kind -> subject, built once
        self._buffer: deque[list[Any]] = deque()
        self._wake = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._seq = 0
        self.published = 0
        self.duplicates = 0
        self.dropped = 0
        self.failed_windows = 0
        self.last_error: str | None = None
        self.last_ack_at: float | None = None

    # -- the trading side -------------------------------------------------------------------

    def offer(self, kind: str, data: Any) -> None:
        """Queue one event for publishing; never waits. ``data`` is encoded later, so it
        must not change after the call (events and snapshots are immutable)."""
        self._seq += 1
        buffer = self._buffer
        if len(buffer) >= self.buffer_size:
            buffer.popleft()
            self.dropped += 1
        buffer.append([kind, self._seq, time.time(), data])
        self._empty.clear()
        if not self._wake.is_set():
            self._wake.set()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    # -- the sender task --------------------------------------------------------------------

    def _encode(self, item: list[Any]) -> tuple[str, bytes, str]:
        kind, seq, ts, data = item
        subject = self._subjects.get(kind)
        if subject is None:
            subject = self._subjects[kind] = event_subject(self.fleet, self.kernel, kind)
        msg_id = f"{self.kernel}.{self.boot}.{seq}"
        if not isinstance(data, bytes):
            data = _encoder.encode({"v": PROTOCOL_VERSION, "kind": kind, "fleet": self.fleet,
                                    "kernel": self.kernel, "seq": seq, "boot": self.boot,
                                    "msg_id": msg_id, "ts": ts,
                                    "event": getattr(data, "kind", None), "data": data})
            item[3] = data  # encoded once, even when the window is sent again
        return subject, data, msg_id

    async def wait_for_events(self) -> None:
        """Return when the buffer holds something to send."""
        while not self._buffer:
            self._wake.clear()
            await self._wake.wait()

    async def wait_empty(self) -> None:
        """Return once every buffered event was acknowledged."""
        await self._empty.wait()

    async def send_window(self, nc: CorePublisher, js: JetStreamPublisher) -> int:
        """Publish up to ``window`` buffered events; wait for the ack of the last one.

        Returns how many were acknowledged. On failure the window goes back to the front
        of the buffer and the error is raised for the caller to judge the link by.
        """
        buffer = self._buffer
        batch = [buffer.popleft() for _ in range(min(self.window, len(buffer)))]
        last = len(batch) - 1
        future: asyncio.Future[Any] | None = None
        try:
            for index, item in enumerate(batch):
                subject, payload, msg_id = self._encode(item)
                headers = {MSG_ID_HEADER: msg_id}
                if index < last:
                    await nc.publish(subject, payload, headers=headers)
                else:
                    future = await js.publish_async(subject, payload, headers=headers)
            assert future is not None  # a window holds at least one event
            async with asyncio.timeout(self.ack_timeout):
                ack = await future
        except BaseException as exc:
            if future is not None:
                future.cancel()
            self._put_back(batch)
            self.failed_windows += 1
            self.last_error = scrub(f"{type(exc).__name__}: {exc}")[:300]  # published too
            raise
        self.published += len(batch)
        self.duplicates += 1 if getattr(ack, "duplicate", False) else 0
        self.last_ack_at = time.monotonic()
        if not buffer:
            self._empty.set()
        return len(batch)

    def _put_back(self, batch: list[list[Any]]) -> None:
        buffer = self._buffer
        buffer.extendleft(reversed(batch))
        while len(buffer) > self.buffer_size:
            buffer.popleft()
            self.dropped += 1

    def stats(self) -> dict[str, Any]:
        age = None if self.last_ack_at is None else round(time.monotonic() - self.last_ack_at, 3)
        return {"buffered": len(self._buffer), "published": self.published,
                "duplicates": self.duplicates, "dropped": self.dropped,
                "failed_windows": self.failed_windows, "last_ack_age": age,
                "last_error": self.last_error}
