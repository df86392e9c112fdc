"""ReplayFeed: historical events played as live market data.

Events are emitted in timestamp order at ``speed`` times real time (the gap
between two events' ``ts_event`` divided by ``speed``); ``speed=0`` plays as
fast as possible, yielding to the loop every ``batch`` events so the strategies'
tasks keep up. Timestamps are the recorded ones: a replay is history, not a
fake of the present.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence
from typing import Any

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
        rejected = getattr(events, "rejected", None)
        _log.info("replay.loaded", path=spec.path, symbol=symbol, kind=spec.kind,
                  events=len(events), rejected=len(rejected) if rejected else 0)
        streams.append(events)
    if len(streams) == 1:
        return list(streams[0])
    return list(merge_streams(*streams))


class ReplayFeed:
    """Play a list of events through ``emit`` at a chosen speed.

    At ``speed=0`` the feed yields to the loop after every event (lockstep), so
    each strategy sees an event, and its orders reach the venue, before the
    venue sees the next one, as in a backtest.
    """

    def __init__(
        self,
        events: Sequence[Any],
        emit: Callable[[Any], None],
        speed: float = 1.0,
        loop: bool = False,
        batch: int = 64,
        start: int = 0,
    ) -> None:
        self.events = events
        self.emit = emit
        self.speed = speed
        self.loop = loop
        self.batch = batch
        #: Where the first pass begins (a resumed replay); later passes start at 0.
        self.start = start
        self.emitted = 0
        self.last_emit_monotonic: float | None = None
        self.finished = False

    async def run(self) -> None:
        """Emit every event (forever when looping); return when done."""
        while True:
            await self._play_once(self.start)
            self.start = 0
            if not self.loop or not self.events:
                break
        self.finished = True
        _log.info("replay.finished", events=self.emitted)

    async def _play_once(self, start: int) -> None:
        events = self.events
        if start >= len(events):
            return
        speed = self.speed
        first_ts = events[start].ts_event
        started = time.monotonic()
        emit = self.emit
        for i, event in enumerate(itertools.islice(events, start, None), start):
            if speed > 0:
                due = started + (event.ts_event - first_ts) / 1e9 / speed
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif i % self.batch == 0:
                    await asyncio.sleep(0)
            else:
                await asyncio.sleep(0)
            emit(event)
            self.emitted += 1
            self.last_emit_monotonic = time.monotonic()
