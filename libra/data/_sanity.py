"""Timestamps that cannot belong to their file: rejected like any other bad row.

One row dated 1970 in a file of 2022 minutes is valid on its own, yet it stretches a
backtest's period from days to decades, which quietly ruins CAGR, exposure and every
per-year figure. A row is stray when its time lies outside a sane calendar range, or
when it sits in a small cluster far from the rest of the file: further from its
neighbours than ``FAR_STEPS`` median steps (and at least ``FAR_FLOOR``), in a cluster
holding at most ``STRAY_SHARE`` of the rows (or ``STRAY_ROWS``, in a small file). Two
large ranges of real data far apart are both kept: only a small cluster is judged to be
the mistake.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import islice
from operator import sub

_NS_PER_DAY = 86_400 * 1_000_000_000
EARLIEST_NS = 0  # 1970-01-01T00:00:00Z: synthetic data counts from the epoch
LATEST_NS = 4_102_444_800 * 1_000_000_000  # 2100-01-01T00:00:00Z
FAR_STEPS = 10_000
FAR_FLOOR = 365 * _NS_PER_DAY
STRAY_SHARE = 0.01
STRAY_ROWS = 3


def stray_rows(stamps: Sequence[int]) -> list[tuple[int, str]]:
    """Return ``(index, reason)`` for each stray timestamp of a sorted sequence."""
    count = len(stamps)
    low, high = bisect_left(stamps, EARLIEST_NS), bisect_right(stamps, LATEST_NS - 1)
    outside = "outside the sane calendar range 1970-01-01..2100-01-01"
    strays = [(i, outside) for i in range(low)]
    strays += _far_clusters(stamps, low, high)
    strays += [(i, outside) for i in range(high, count)]
    return strays


def _far_clusters(stamps: Sequence[int], low: int, high: int) -> list[tuple[int, str]]:
    if high - low < 3:
        return []
    steps = list(map(sub, islice(stamps, low + 1, high), islice(stamps, low, high - 1)))
    if max(steps) <= FAR_FLOOR:  # the common case: no gap could make anything stray
        return []
    positive = sorted(step for step in steps if step > 0)
    median = positive[len(positive) // 2] if positive else 0
    threshold = max(FAR_STEPS * median, FAR_FLOOR)
    # Clusters as (start, end) index ranges, split where the gap exceeds the threshold.
    cuts = [low + i + 1 for i, step in enumerate(steps) if step > threshold]
    bounds = list(zip([low, *cuts], [*cuts, high], strict=True))
    largest = max(bounds, key=lambda b: b[1] - b[0])
    small = max(STRAY_ROWS, int((high - low) * STRAY_SHARE))
    strays = []
    for start, end in bounds:
        if (start, end) == largest or end - start > small:
            continue
        gap = max(stamps[start] - stamps[start - 1] if start > low else 0,
                  stamps[end] - stamps[end - 1] if end < high else 0)
        reason = (f"{gap // _NS_PER_DAY:,} days away from the rest of the file "
                  f"(median step {median / 1e9:g} s)")
        strays += [(i, reason) for i in range(start, end)]
    return strays


def describe_ns(stamp: int) -> str:
    """Return a timestamp as ISO text when it is a date, else as the number."""
    try:
        return datetime.fromtimestamp(stamp / 1e9, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return str(stamp)
