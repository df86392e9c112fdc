"""Wait on conditions, never on time: ``await eventually(lambda: order.is_filled)``."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]],
    timeout: float = 10.0,  # noqa: ASYNC109 (bounding the wait is the point of the helper)
    interval: float = 0.005,
) -> None:
    """Wait until ``condition()`` holds; raise ``TimeoutError`` after ``timeout`` seconds.

    The condition is checked every ``interval`` seconds, so other tasks run in between.
    It may be a coroutine function (a check that asks a server, say): it is awaited.
    """
    async with asyncio.timeout(timeout):
        while not await _holds(condition):  # noqa: ASYNC110 (any state, not an event)
            await asyncio.sleep(interval)


async def _holds(condition: Callable[[], bool | Awaitable[bool]]) -> bool:
    result = condition()
    return await result if inspect.isawaitable(result) else result
