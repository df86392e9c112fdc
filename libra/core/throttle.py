"""One log line per interval for a message that repeats, with a count of the ones held back.

A handler failing on every event, or a strategy resubmitting a denied order on every bar,
would otherwise write a line per event: the log floods and the line that matters scrolls
away. Intervals are wall-clock seconds: they bound the log's volume, not a market rule.
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable


class LogThrottle:
    """Let a line through at most once per ``interval`` seconds per key."""

    __slots__ = ("_last", "interval")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        # key -> (when last let through, how many held back since)
        self._last: dict[Hashable, tuple[float, int]] = {}

    def due(self, key: Hashable) -> int | None:
        """Return how many lines of ``key`` were held back since the last one let through,
        or ``None`` when this one is held back too."""
        now = time.monotonic()
        last, held = self._last.get(key, (-math.inf, 0))
        if now - last < self.interval:
            self._last[key] = (last, held + 1)
            return None
        self._last[key] = (now, 0)
        return held

    def forget(self, key: Hashable) -> None:
        """Drop what is known of ``key`` (its source is gone)."""
        self._last.pop(key, None)
