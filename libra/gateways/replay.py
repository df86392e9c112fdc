"""ReplayFeed: historical events played as live market data.

Events are emitted in timestamp order at ``speed`` times real time (the gap
between two events' ``ts_event`` divided by ``speed``); ``speed=0`` plays as
fast as possible. Timestamps are the recorded ones: a replay is history, not a
fake of the present, and the kernel's clock follows them (``ReplayClock``).

A replay claims to be the backtest of its data, so it plays in lockstep at every
speed: after each event the feed awaits ``settled`` (the kernel has handled the
event, and the orders it caused have reached the venue) before the venue sees the
next one. Without it a fast feed runs ahead of the strategy: an order placed on one
bar reaches the venue several bars later, and a strategy that has not yet seen its
fill buys again.

A looping replay plays its history again right after itself: each pass is shifted
by the span of the data plus one gap, so time only moves forward and every rule
that reads the clock (rate limits, daily loss) sees time pass as in one long history.
"""
from __future__ import annotations

import asyncio
import bisect
import itertools
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec
import structlog

from libra.data import load_bars, load_quotes, load_trades, merge_streams

_log = structlog.get_logger("libra.replay")


def load_replay_events(files: Sequence[Any], default_symbol: str | None, venue: str) -> list[Any]:
    """Load every configured file as events of ``venue``, merged in timestamp order."""
    streams = []
    for spec in files:
        symbol = spec.symbol or default_symbol
        if symbol is None:
            raise ValueError(f"replay file {spec.path}: no symbol configured or subscribed")
        events: Sequence[Any]
        if spec.kind == "bars":
            events = load_bars(spec.path, symbol=symbol, venue=venue, timeframe=spec.timeframe)
        elif spec.kind == "trades":
            events = load_trades(spec.path, symbol=symbol, venue=venue)
        else:
            events = load_quotes(spec.path, symbol=symbol, venue=venue)
        _log.info("replay.loaded", path=spec.path, symbol=symbol, kind=spec.kind,
                  events=len(events), rejected=events.skipped)
        streams.append(events)
    if len(streams) == 1:
        return list(streams[0])
    return list(merge_streams(*streams))


class ReplayFeed:
    """Play a list of events through ``emit`` at a chosen speed.

    With ``settled``, the feed awaits it after every event (lockstep): each strategy
    sees an event, and its orders reach the venue, before the venue sees the next one,
    as in a backtest. Without it (a feed used on its own) the feed only yields to the
    loop, after every event at ``speed=0``.
    """

    def __init__(
        self,
        events: Sequence[Any],
        emit: Callable[[Any], None],
        speed: float = 1.0,
        loop: bool = False,
        batch: int = 64,
        start: int = 0,
        settled: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.events = events
        self.emit = emit
        self.speed = speed
        self.loop = loop
        self.batch = batch
        self.settled = settled
        #: Where the first pass begins (a resumed replay); later passes start at 0.
        self.start = start
        #: How many passes over the data were played before this one (looping).
        self.passes = 0
        self.emitted = 0
        self.last_emit_monotonic: float | None = None
        self.finished = False

    @property
    def period_ns(self) -> int:
        """How far each pass of a looping replay is shifted: the data's span plus one gap."""
        events = self.events
        if not events:
            return 0
        first: int = events[0].ts_event
        gap: int = events[1].ts_event - first if len(events) > 1 else 0
        return int(events[-1].ts_event) - first + max(gap, 1)

    def resume_after(self, ts_ns: int) -> int:
        """Begin after the event played at ``ts_ns`` (a restart); return how many events
        of the pass it falls in are skipped."""
        events = self.events
        period = self.period_ns
        passes = 0
        if self.loop and events and period:
            passes = max(0, (ts_ns - events[0].ts_event) // period)
        self.passes = passes
        self.start = bisect.bisect_right(events, ts_ns - passes * period, key=_ts_event)
        return self.start

    async def run(self) -> None:
        """Emit every event (forever when looping); return when done."""
        while True:
            await self._play_once(self.start, self.passes * self.period_ns)
            self.start = 0
            self.passes += 1
            if not self.loop or not self.events:
                break
        self.finished = True
        _log.info("replay.finished", events=self.emitted)

    async def _play_once(self, start: int, shift_ns: int) -> None:
        events = self.events
        if start >= len(events):
            return
        speed = self.speed
        settled = self.settled
        first_ts = events[start].ts_event
        started = time.monotonic()
        emit = self.emit
        for i, event in enumerate(itertools.islice(events, start, None), start):
            if speed > 0:
                due = started + (event.ts_event - first_ts) / 1e9 / speed
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif i % self.batch == 0 and settled is None:
                    await asyncio.sleep(0)
            elif settled is None:
                await asyncio.sleep(0)
            if shift_ns:
                event = msgspec.structs.replace(event, ts_event=event.ts_event + shift_ns,
                                                ts_recv=event.ts_recv + shift_ns)
            emit(event)
            self.emitted += 1
            self.last_emit_monotonic = time.monotonic()
            if settled is not None:
                await settled()


def _ts_event(event: Any) -> int:
    return event.ts_event  # type: ignore[no-any-return]
