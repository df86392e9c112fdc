"""``StrategyContext``: what the kernel hands a strategy's ``initialize(context)``.

The published API gave strategies a plain ``dict`` (``context["bus"]``,
``context.get("config")``, ``list(context.keys())``), and code written that way keeps
working: the context is a read-only ``Mapping`` with the same keys in the same order.
Typed code reads attributes instead (``context.orders``, ``context.config``), which
mypy checks. The object is frozen: a strategy cannot rebind what the kernel gave it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from structlog.typing import FilteringBoundLogger

from libra.core.bus import MessageBus
from libra.core.cache import Cache
from libra.core.clock import Clock
from libra.trading.orders_api import StrategyOrders
from libra.trading.portfolio import Portfolio

#: Where the kernel runs: the value of ``KernelConfig.environment``.
Environment = Literal["live", "paper", "backtest"]


@dataclass(frozen=True, slots=True, eq=False)
class StrategyContext(Mapping[str, Any]):
    """The kernel's services for one strategy, as typed attributes and as a read-only mapping.

    ``context.bus`` and ``context["bus"]`` are the same object. Equality is a mapping's
    (a context equals a ``dict`` with the same items), as the old ``dict`` context's was.
    """

    strategy_id: str
    bus: MessageBus
    cache: Cache
    clock: Clock
    config: dict[str, Any]
    """The strategy's validated params (``model_dump()`` of its ``config_model``)."""
    symbols: list[str]
    gateway: str
    """The id of the gateway this strategy trades on."""
    orders: StrategyOrders
    portfolio: Portfolio
    log: FilteringBoundLogger
    """A structlog logger bound to ``strategy_id``."""
    environment: Environment

    # -- the read-only mapping of the published API ------------------------------------------

    def __getitem__(self, key: str) -> Any:
        if key in _KEY_SET:
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(_KEYS)

    def __len__(self) -> int:
        return len(_KEYS)

    def __contains__(self, key: object) -> bool:
        return key in _KEY_SET

    def copy(self) -> dict[str, Any]:
        """Return the items as a new ``dict`` (the old ``dict`` context's ``copy()``)."""
        return dict(self.items())


_KEYS: tuple[str, ...] = tuple(f.name for f in fields(StrategyContext))
_KEY_SET = frozenset(_KEYS)
