"""Replay recorded Binance frames through the market state at a chosen speed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from libra.testing.exchange.data import RecordedFrame

__all__ = ["Replayer"]


class Replayer:
    """Feed recorded frames, paced by their recorded offsets divided by ``speed``.

    Args:
        frames: the recording, in receive order.
        apply: applies one frame (stream, payload) and publishes what follows from it.
        speed: 1.0 is real time; 10.0 plays the 30 s recording in 3 s.
        loop: start again from the first frame after the last one.
    """

    def __init__(
        self,
        frames: Sequence[RecordedFrame],
        apply: Callable[[RecordedFrame], Awaitable[None]],
        speed: float,
        loop: bool,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"invalid replay speed, was {speed!r}")
        self._frames = frames
        self._apply = apply
        self._speed = speed
        self._loop = loop
        self._running = asyncio.Event()
        self._running.set()
        self.cycles = 0
        self.frames_sent = 0

    def pause(self) -> None:
        """Stop feeding frames (the current one completes)."""
        self._running.clear()

    def resume(self) -> None:
        """Continue feeding frames after :meth:`pause`."""
        self._running.set()

    async def run(self) -> None:
        """Feed the recording until cancelled (or once, without ``loop``)."""
        while True:
            previous = 0.0
            for frame in self._frames:
                delay = (frame.offset - previous) / self._speed
                previous = frame.offset
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._running.wait()
                await self._apply(frame)
                self.frames_sent += 1
            self.cycles += 1
            if not self._loop:
                return
