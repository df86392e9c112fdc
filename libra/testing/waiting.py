"""Wait on conditions, never on time: ``await eventually(lambda: order.is_filled)``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def eventually(
    condition: Callable[[], bool],
    timeout: float = 10.0,  # noqa: ASYNC109 (bounding the wait is the point of the helper)
    interval: float = 0.005,
) -> None:
    """Wait until ``condition()`` holds; raise ``TimeoutError`` after ``timeout`` seconds.

    The condition is checked every ``interval`` seconds, so other tasks run in between.
    """
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 (a condition on any state, not an event)
            await asyncio.sleep(interval)
