"""Supervised stream loops: one task per (symbol, channel), reconnect, staleness watchdog.

A loop runs one *step* at a time (one ``watch_*`` call and its events, or one REST poll).
When a step raises, the loop logs it, waits an exponential backoff with jitter and steps
again: ccxt reopens the websocket and resubscribes on the next ``watch_*`` call. The
watchdog forces a reconnect of a websocket stream that has been silent for ``stale_after``
seconds, because a socket that stays open without frames leaves ccxt waiting forever; it
closes only that stream's socket, once per period, and the silence keeps counting from
the stream's last message. The supervisor also keeps the gateway's connection state (see
``StreamSupervisor``), so that health reports what the venue does now.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from libra.gateways.ccxt.errors import Outcome, classify, describe

Step = Callable[[], Awaitable[None]]


class Backoff:
    """Exponential delays with jitter: ``initial``, doubled per call up to ``maximum``."""

    def __init__(self, initial: float, maximum: float, jitter: float,
                 rng: Callable[[], float] = random.random) -> None:
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
        self._rng = rng
        self._next = initial

    def next(self) -> float:
        """Return the next delay in seconds and double the one after."""
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay * (1 - self.jitter * self._rng())

    def reset(self) -> None:
        """Start again from ``initial`` (after a success)."""
        self._next = self.initial


@dataclass(slots=True)
class StreamState:
    """Health of one stream: what ``CCXTGateway.stream_status()`` reports.

    ``down`` is set when a step fails and cleared by the next message; ``trouble_since``
    holds the time of the last message before the stream went stale or down (its start
    if it never had one), so that its recovery can report the real silence.
    """

    name: str
    channel: str
    symbol: str | None
    mode: Literal["websocket", "polling"]
    watched: bool
    started: float = field(default_factory=time.monotonic)
    last_message: float | None = None
    connected: bool = False
    stale: bool = False
    failed: bool = False
    down: bool = False
    forced: bool = False
    trouble_since: float | None = None
    next_forced: float = 0.0
    messages: int = 0
    reconnects: int = 0
    stale_reconnects: int = 0
    last_error: str | None = None

    def mark(self, now: float) -> None:
        """Record that a message arrived at ``now`` (monotonic seconds)."""
        self.last_message = now
        self.connected = True
        self.stale = False
        self.down = False
        self.messages += 1

    def age(self, now: float) -> float:
        """Return seconds since the last message (or since the stream started)."""
        return now - (self.last_message if self.last_message is not None else self.started)

    def troubled(self, now: float) -> None:
        """Remember when the stream last delivered, as it goes stale or down."""
        if self.trouble_since is None:
            self.trouble_since = now - self.age(now)

    def snapshot(self, now: float) -> dict[str, Any]:
        """Return the state as plain data."""
        return {
            "channel": self.channel, "symbol": self.symbol, "mode": self.mode,
            "connected": self.connected, "stale": self.stale, "failed": self.failed,
            "down": self.down, "messages": self.messages, "reconnects": self.reconnects,
            "stale_reconnects": self.stale_reconnects, "last_error": self.last_error,
            "last_message_age": None if self.last_message is None else now - self.last_message,
            "silent_for": self.age(now),
        }


class TaskSet:
    """Named tasks owned by one component; a task's unexpected error is logged once."""

    def __init__(self, log: Any) -> None:
        self._log = log
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Start ``coro`` as a task named ``name``."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self._log.error("gateway.task_failed", task=task.get_name(),
                            error=f"{type(exc).__name__}: {exc}")

    def __len__(self) -> int:
        return len(self._tasks)

    async def cancel_all(self) -> None:
        """Cancel every task and wait for them to finish."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()


class StreamSupervisor:
    """Run stream loops with backoff, a watchdog over the websocket ones, and the connection.

    The gateway is *connected* while no websocket of its client is down (see
    ``socket_up`` / ``socket_down``, fed by ccxt's own socket callbacks), no polling stream's
    last request failed and no stream gave up. The first problem logs
    ``gateway.disconnected``; the end of the last one ``gateway.reconnected`` with the
    downtime. A stream that delivers again after a silence or an error logs
    ``stream.recovered`` with how long it was silent.

    Args:
        tasks: the task set the loops live in.
        log: a structlog logger.
        backoff: builds a fresh ``Backoff`` per loop.
        stale_after: seconds of silence after which ``force_reconnect`` is called.
        force_reconnect: closes the websocket behind a stale stream.
        secrets: scrubbed from every logged error.
    """

    def __init__(self, tasks: TaskSet, log: Any, backoff: Callable[[], Backoff],
                 stale_after: float, force_reconnect: Callable[[StreamState], Awaitable[None]],
                 secrets: Sequence[str] = ()) -> None:
        self._tasks = tasks
        self._log = log
        self._backoff = backoff
        self._stale_after = stale_after
        self._force_reconnect = force_reconnect
        self._secrets = tuple(secrets)
        self.streams: dict[str, StreamState] = {}
        self.sockets_down: dict[str, tuple[float, str]] = {}
        self.down_since: float | None = None
        self._watchdog: asyncio.Task[Any] | None = None

    def start(self, state: StreamState, step: Step) -> None:
        """Run ``step`` in a loop for ``state``'s stream (idempotent per stream name)."""
        if state.name in self.streams:
            return
        self.streams[state.name] = state
        self._tasks.spawn(self._loop(state, step), name=f"stream:{state.name}")
        if state.watched and self._watchdog is None:
            self._watchdog = self._tasks.spawn(self._watch(), name="stream:watchdog")

    async def _loop(self, state: StreamState, step: Step) -> None:
        backoff = self._backoff()
        while True:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failed(state, exc)
                if state.failed:
                    return
                delay = backoff.next()
                self._log.warning("stream.reconnecting", stream=state.name,
                                  error=state.last_error, delay=round(delay, 3))
                await asyncio.sleep(delay)
            else:
                backoff.reset()
                if state.trouble_since is not None and state.last_message is not None:
                    self._recovered(state, state.last_message)

    def _failed(self, state: StreamState, exc: Exception) -> None:
        now = time.monotonic()
        state.connected = False
        state.reconnects += 1
        state.last_error = describe(exc, self._secrets)
        if state.forced:  # the watchdog closed the socket: not a venue failure
            state.forced = False
        else:
            state.troubled(now)
            state.down = True
        if classify(exc) is Outcome.FATAL:
            state.failed = True
            self._log.error("stream.failed", stream=state.name, error=state.last_error)
        self.check_connection(now)

    def _recovered(self, state: StreamState, now: float) -> None:
        silent = now - (state.trouble_since or now)
        state.trouble_since = None
        self._log.info("stream.recovered", stream=state.name, silent=round(silent, 3),
                       reconnects=state.reconnects)
        self.check_connection(now)

    async def _watch(self) -> None:
        period = min(self._stale_after / 4, 1.0)
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for state in list(self.streams.values()):
                if not state.watched or state.failed or state.age(now) <= self._stale_after:
                    continue
                if not state.stale:
                    state.stale = True
                    state.troubled(now)
                    self._log.warning("stream.stale", stream=state.name,
                                      silent=round(state.age(now), 3),
                                      stale_after=self._stale_after)
                if now < state.next_forced:
                    continue
                # One forced reconnect per period of silence: the venue may simply have
                # nothing to send on this stream (a symbol that does not trade).
                state.next_forced = now + self._stale_after
                state.connected = False
                state.stale_reconnects += 1
                await self._force_reconnect(state)

    # -- connection ----------------------------------------------------------------------------

    def socket_up(self, url: str) -> None:
        """Record that a websocket to ``url`` is open."""
        if self.sockets_down.pop(url, None) is not None:
            self.check_connection(time.monotonic())

    def socket_down(self, url: str, error: BaseException) -> None:
        """Record that the websocket to ``url`` failed or was closed by the venue."""
        now = time.monotonic()
        if url not in self.sockets_down:
            self.sockets_down[url] = (now, describe(error, self._secrets))
            self.check_connection(now)

    def problems(self) -> list[str]:
        """Return why the gateway is not connected (empty: connected)."""
        now = time.monotonic()
        out = [f"{len(self.sockets_down)} websocket(s) down for "
               f"{now - min(t for t, _ in self.sockets_down.values()):.1f}s: "
               f"{next(iter(self.sockets_down.values()))[1]}"] if self.sockets_down else []
        for state in self.streams.values():
            if state.failed:
                out.append(f"stream {state.name} failed: {state.last_error}")
            elif state.down and state.mode == "polling":
                out.append(f"stream {state.name} is failing: {state.last_error}")
        return out

    def check_connection(self, now: float) -> None:
        """Log ``gateway.disconnected`` / ``gateway.reconnected`` when the connection changes."""
        problems = self.problems()
        if problems and self.down_since is None:
            self.down_since = now
            self._log.warning("gateway.disconnected", reasons=problems)
        elif not problems and self.down_since is not None:
            downtime, self.down_since = now - self.down_since, None
            self._log.info("gateway.reconnected", downtime=round(downtime, 3))

    def status(self, private: bool = False) -> dict[str, dict[str, Any]]:
        """Return the market data streams' health (the private ones with ``private``)."""
        now = time.monotonic()
        return {name: state.snapshot(now) for name, state in self.streams.items()
                if (state.symbol is None) is private}

    def clear(self) -> None:
        """Forget every stream and socket (their tasks are cancelled by the task set's owner)."""
        self.streams.clear()
        self.sockets_down.clear()
        self.down_since = None
        self._watchdog = None


class BarCloser:
    """Emit each OHLCV candle once, after its period has ended.

    A candle is closed when a newer one arrives, or when ``now`` has passed its end by
    the grace period (the venue sent no newer candle). Rows are ``[ms, o, h, l, c, v]``.
    """

    def __init__(self, timeframe_ms: int, grace_ms: int) -> None:
        self.timeframe_ms = timeframe_ms
        self.grace_ms = grace_ms
        self.pending: list[Any] | None = None
        self.last_closed_ms = -1

    def update(self, rows: Sequence[Sequence[Any]], now_ms: int) -> list[list[Any]]:
        """Take new or updated candles; return the candles that are now closed, oldest first."""
        closed: list[list[Any]] = []
        for row in sorted((list(r) for r in rows if r and r[0] is not None),
                          key=lambda r: r[0]):
            start = row[0]
            if not isinstance(start, int) or start <= self.last_closed_ms:
                continue
            if self.pending is not None:
                if start < self.pending[0]:
                    continue  # an update of a candle already superseded
                if start > self.pending[0]:
                    closed.append(self.pending)
                    self.last_closed_ms = self.pending[0]
            self.pending = row
        return closed + self.due(now_ms)

    def due(self, now_ms: int) -> list[list[Any]]:
        """Return the pending candle if its period and the grace have passed."""
        pending = self.pending
        if pending is None or pending[0] + self.timeframe_ms + self.grace_ms > now_ms:
            return []
        self.pending = None
        self.last_closed_ms = pending[0]
        return [pending]
