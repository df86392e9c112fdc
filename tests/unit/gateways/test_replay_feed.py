"""ReplayFeed: lockstep with the kernel, and a looping replay whose time moves on."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from libra.gateways.replay import ReplayFeed
from libra.model.events import Trade
from libra.testing import eventually

SECOND = 1_000_000_000
T0 = 1_700_000_000 * SECOND


def trades(count: int) -> list[Trade]:
    return [Trade(venue="paper", symbol="BTC/USD", price=Decimal(100 + i), size=Decimal(1),
                  side="buy", trade_id=str(i),
                  ts_event=T0 + i * SECOND, ts_recv=T0 + i * SECOND) for i in range(count)]


async def test_next_event_waits_until_the_kernel_has_settled() -> None:
    log: list[Any] = []
    release = asyncio.Event()

    async def settled() -> None:
        log.append("settling")
        await release.wait()
        release.clear()
        log.append("settled")

    feed = ReplayFeed(trades(2), lambda e: log.append(e.trade_id), speed=0, settled=settled)
    task = asyncio.create_task(feed.run())
    await eventually(lambda: log == ["0", "settling"])
    for _ in range(10):  # the loop turns, the feed stays behind the kernel
        await asyncio.sleep(0)
    assert log == ["0", "settling"]

    release.set()
    await eventually(lambda: log.count("settling") == 2)
    release.set()
    await task
    assert log == ["0", "settling", "settled", "1", "settling", "settled"]


async def test_a_looping_replay_plays_each_pass_after_the_last() -> None:
    emitted: list[Trade] = []
    feed = ReplayFeed(trades(3), emitted.append, speed=0, loop=True)

    async def play() -> None:
        await feed.run()

    task = asyncio.create_task(play())
    await eventually(lambda: len(emitted) >= 7)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    stamps = [(e.ts_event - T0) // SECOND for e in emitted[:7]]
    assert stamps == [0, 1, 2, 3, 4, 5, 6]
    assert [e.trade_id for e in emitted[:7]] == ["0", "1", "2", "0", "1", "2", "0"]
    assert emitted[3].ts_recv == emitted[3].ts_event


def test_a_looping_replay_resumes_in_the_pass_it_stopped_in() -> None:
    feed = ReplayFeed(trades(3), lambda e: None, speed=0, loop=True)

    skipped = feed.resume_after(T0 + 4 * SECOND)  # pass 2, its second event

    assert (feed.passes, skipped) == (1, 2)
