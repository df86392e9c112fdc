"""Clocks with one interface: ``LiveClock`` (wall time, asyncio timers),
``SimulatedClock`` (time set by the backtest runner; timers fire in simulated time) and
``ReplayClock`` (a replay of history played as live: the time is the data's).

Every time-based rule (rate limits, daily loss, order latency, a strategy's timers) reads
the kernel's one clock. Where the market data is history, that clock must be the
history's time, or a replay played faster than real time would count wall seconds
against orders placed minutes of market time apart.

Timer callbacks receive a ``TimeEvent`` and are synchronous; a callback that
needs asynchronous work schedules it on a component that owns tasks.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import structlog

from libra.model.readable import Record

_log = structlog.get_logger("libra.clock")


class TimeEvent(Record, frozen=True, gc=False):
    """A timer or alert firing: its name and the time it was due (ns)."""

    name: str
    ts_event: int


TimerCallback = Callable[[TimeEvent], None]


def iso_utc(ns: int | None) -> str:
    """Return nanoseconds since the epoch as ISO 8601 UTC with milliseconds (``...00.123Z``)."""
    if ns is None:
        return "-"
    seconds, rest = divmod(ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{rest // 1_000_000:03d}Z"


class Clock(Protocol):
    def timestamp_ns(self) -> int: ...

    def set_timer(
        self,
        name: str,
        interval_ns: int,
        callback: TimerCallback,
        start_ns: int | None = None,
        stop_ns: int | None = None,
    ) -> None: ...

    def set_time_alert(self, name: str, at_ns: int, callback: TimerCallback) -> None: ...

    def cancel_timer(self, name: str) -> None: ...

    def timer_names(self) -> list[str]: ...


class _Timer:
    __slots__ = ("callback", "interval_ns", "name", "next_ns", "stop_ns")

    def __init__(
        self,
        name: str,
        interval_ns: int,
        callback: TimerCallback,
        next_ns: int,
        stop_ns: int | None,
    ) -> None:
        self.name = name
        self.interval_ns = interval_ns
        self.callback = callback
        self.next_ns = next_ns
        self.stop_ns = stop_ns


def _check(name: str, interval_ns: int) -> None:
    if not name:
        raise ValueError("timer name must not be empty")
    if interval_ns <= 0:
        raise ValueError(f"timer interval must be positive, was {interval_ns}")


def _repeats(timer: _Timer, due: int) -> bool:
    return bool(timer.interval_ns) and (
        timer.stop_ns is None or due + timer.interval_ns <= timer.stop_ns
    )


def _fire(timer: _Timer, ts: int) -> None:
    try:
        timer.callback(TimeEvent(timer.name, ts))
    except Exception:
        _log.exception("clock.timer_failed", timer=timer.name)


class SimulatedClock:
    """A clock whose time only moves when ``advance_to`` is called."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns
        self._timers: dict[str, _Timer] = {}
        self._heap: list[tuple[int, int, _Timer]] = []
        self._seq = 0

    def timestamp_ns(self) -> int:
        return self._now

    def set_time(self, ts_ns: int) -> None:
        """Set the time without firing timers (for initialisation)."""
        self._now = ts_ns

    def set_timer(
        self,
        name: str,
        interval_ns: int,
        callback: TimerCallback,
        start_ns: int | None = None,
        stop_ns: int | None = None,
    ) -> None:
        """Fire ``callback`` every ``interval_ns`` from ``start_ns`` (default: now)."""
        _check(name, interval_ns)
        first = (self._now if start_ns is None else start_ns) + interval_ns
        timer = self._timers[name] = _Timer(name, interval_ns, callback, first, stop_ns)
        self._push(first, timer)

    def set_time_alert(self, name: str, at_ns: int, callback: TimerCallback) -> None:
        """Fire ``callback`` once at ``at_ns``."""
        _check(name, 1)
        timer = self._timers[name] = _Timer(name, 0, callback, at_ns, at_ns)
        self._push(at_ns, timer)

    def cancel_timer(self, name: str) -> None:
        self._timers.pop(name, None)

    def timer_names(self) -> list[str]:
        return sorted(self._timers)

    @property
    def next_due_ns(self) -> int | None:
        """Return when the next timer is due, or ``None``."""
        while self._heap:
            due, _, timer = self._heap[0]
            if self._is_live(timer, due):
                return due
            heapq.heappop(self._heap)
        return None

    def _push(self, due: int, timer: _Timer) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, timer))

    def _is_live(self, timer: _Timer, due: int) -> bool:
        """Return whether a heap entry is still this timer's next firing (not replaced,
        cancelled or rescheduled)."""
        return self._timers.get(timer.name) is timer and timer.next_ns == due

    def advance_to(self, ts_ns: int) -> int:
        """Move time to ``ts_ns``, firing every timer due on the way in time order.

        Returns how many timers fired.
        """
        fired = 0
        while self._heap and self._heap[0][0] <= ts_ns:
            due, _, timer = heapq.heappop(self._heap)
            if not self._is_live(timer, due):
                continue
            self._now = due
            if _repeats(timer, due):
                timer.next_ns = due + timer.interval_ns
                self._push(timer.next_ns, timer)
            else:
                del self._timers[timer.name]
            _fire(timer, due)
            fired += 1
        if ts_ns > self._now:
            self._now = ts_ns
        return fired


class LiveClock:
    """Wall-clock time; timers run on the event loop with ``call_at``."""

    def __init__(self) -> None:
        self._handles: dict[str, asyncio.TimerHandle] = {}
        self._timers: dict[str, _Timer] = {}

    def timestamp_ns(self) -> int:
        return time.time_ns()

    def set_timer(
        self,
        name: str,
        interval_ns: int,
        callback: TimerCallback,
        start_ns: int | None = None,
        stop_ns: int | None = None,
    ) -> None:
        """Fire ``callback`` every ``interval_ns`` from ``start_ns`` (default: now)."""
        _check(name, interval_ns)
        self.cancel_timer(name)
        first = (time.time_ns() if start_ns is None else start_ns) + interval_ns
        timer = _Timer(name, interval_ns, callback, first, stop_ns)
        self._timers[name] = timer
        self._schedule(timer)

    def set_time_alert(self, name: str, at_ns: int, callback: TimerCallback) -> None:
        """Fire ``callback`` once at ``at_ns``."""
        _check(name, 1)
        self.cancel_timer(name)
        timer = _Timer(name, 0, callback, at_ns, at_ns)
        self._timers[name] = timer
        self._schedule(timer)

    def cancel_timer(self, name: str) -> None:
        handle = self._handles.pop(name, None)
        if handle is not None:
            handle.cancel()
        self._timers.pop(name, None)

    def cancel_all(self) -> None:
        """Cancel every timer (on stop)."""
        for name in list(self._timers):
            self.cancel_timer(name)

    def timer_names(self) -> list[str]:
        return sorted(self._timers)

    def _schedule(self, timer: _Timer) -> None:
        loop = asyncio.get_running_loop()
        delay = max(0.0, (timer.next_ns - time.time_ns()) / 1e9)
        self._handles[timer.name] = loop.call_at(loop.time() + delay, self._run, timer)

    def _run(self, timer: _Timer) -> None:
        if self._timers.get(timer.name) is not timer:
            return
        due = timer.next_ns
        if _repeats(timer, due):
            timer.next_ns = due + timer.interval_ns
            self._schedule(timer)
        else:
            self._timers.pop(timer.name, None)
            self._handles.pop(timer.name, None)
        _fire(timer, due)


class ReplayClock(SimulatedClock):
    """The clock of a kernel whose every gateway replays history: the time of the latest
    replayed event.

    The replay advances it (``advance_to``) before the venue matches each event, as the
    backtest runner advances its ``SimulatedClock``, so fills, rate limits and timers
    see the same times as in a backtest of the same data. Time never goes back: with
    several replays, the latest event of any of them is the time. The kernel's own
    operational timers (the heartbeat) run on a ``LiveClock``: they measure the process,
    not the market.
    """

