"""Client order ids: deterministic, unique per strategy, accepted by venues.

An id is ``<prefix>-<sequence>``. The prefix is the strategy id when it fits venue rules
(Binance: ``^[.A-Z:/a-z0-9_-]{1,36}$``) and is at most 20 characters. Otherwise it is the
sanitised strategy id (other characters become ``_``) cut to 13 characters, then ``.`` and 6
hex digits of a hash of the full strategy id, so two long ids with the same start still differ.
The same strategy id and sequence always give the same id (backtests are reproducible); the
sequence must be restored after a restart (``ClientOrderIdGenerator(strategy_id,
start=saved.count)``) so ids never repeat.
"""

from __future__ import annotations

import hashlib
import re

MAX_PREFIX_LENGTH = 20
MAX_ID_LENGTH = 36
_INVALID_CHARS = re.compile(r"[^.A-Z:/a-z0-9_-]")
_HASH_LENGTH = 6
_MAX_SEQUENCE = 10 ** (MAX_ID_LENGTH - MAX_PREFIX_LENGTH - 1) - 1


def client_order_id_prefix(strategy_id: str) -> str:
    """Return the venue-safe prefix used in ``strategy_id``'s client order ids.

    Raises:
        ValueError: the strategy id is empty.
    """
    if not strategy_id:
        raise ValueError(f"invalid strategy_id: expected a non-empty string, was {strategy_id!r}")
    clean = _INVALID_CHARS.sub("_", strategy_id)
    if clean == strategy_id and len(clean) <= MAX_PREFIX_LENGTH:
        return clean
    digest = hashlib.blake2s(strategy_id.encode(), digest_size=_HASH_LENGTH // 2).hexdigest()
    return f"{clean[:MAX_PREFIX_LENGTH - _HASH_LENGTH - 1]}.{digest}"


class ClientOrderIdGenerator:
    """Issue client order ids ``<prefix>-1``, ``<prefix>-2``, ... for one strategy.

    ``start`` is the number of ids already issued (restore it from ``count``).

    Raises:
        ValueError: the strategy id is empty or ``start`` is negative.
    """

    __slots__ = ("_count", "_prefix", "strategy_id")

    def __init__(self, strategy_id: str, start: int = 0) -> None:
        if start < 0:
            raise ValueError(f"invalid start: expected zero or more, was {start!r}")
        self.strategy_id = strategy_id
        self._prefix = client_order_id_prefix(strategy_id)
        self._count = start

    @property
    def prefix(self) -> str:
        """The part of every id before the ``-``."""
        return self._prefix

    @property
    def count(self) -> int:
        """How many ids have been issued (the sequence number of the last one)."""
        return self._count

    def next(self) -> str:
        """Return the next id.

        Raises:
            OverflowError: the sequence no longer fits in a venue id.
        """
        count = self._count + 1
        if count > _MAX_SEQUENCE:
            raise OverflowError(f"client order id sequence exhausted for {self.strategy_id!r}")
        self._count = count
        return f"{self._prefix}-{count}"
