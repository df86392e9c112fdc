"""Merge several time-sorted event streams into one, in a deterministic order."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from operator import attrgetter
from typing import Protocol, TypeVar


class _Timestamped(Protocol):
    @property
    def ts_event(self) -> int: ...


_T = TypeVar("_T", bound=_Timestamped)
_TS_EVENT = attrgetter("ts_event")


def merge_streams(*streams: Iterable[_T]) -> Iterator[_T]:
    """Merge streams each sorted by ``ts_event`` into one stream sorted by ``ts_event``.

    Ties keep the order of the arguments, then the order within each stream, so the
    result is the same on every run. In-memory sequences are merged by one stable
    sort (C speed, linear on sorted runs); other iterables lazily with ``heapq.merge``.
    """
    if len(streams) == 1:
        return iter(streams[0])
    if all(isinstance(s, Sequence) for s in streams):
        return iter(sorted(chain.from_iterable(streams), key=_TS_EVENT))
    return heapq.merge(*streams, key=_TS_EVENT)
