"""What services around a running kernel may read and do: the ``KernelControl`` Protocol.

The HTTP API, metrics, systemd notifications and config reload (``libra.observability``)
sit above the kernel and see it only through this Protocol; the kernel never imports
them. ``libra run`` passes their factories to ``TradingKernel(services=...)``; the kernel
starts them once streaming has begun and stops them first at shutdown.

``OperatorActions`` holds the operator's risk actions (halt, reduce, resume, cancel-all,
flatten) in one place, so that every door (HTTP, CLI, tests) does the same thing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, Protocol, runtime_checkable

import structlog

from libra.core.bus import MessageBus
from libra.core.cache import Cache
from libra.core.config import KernelConfig
from libra.core.lifecycle import Component, ComponentState
from libra.kernel.runner import StrategyRunner
from libra.kernel.signals import KernelSignals
from libra.model.numbers import display
from libra.model.orders import Order, OrderStatus
from libra.plugins.base import GatewayPlugin, StrategyPlugin
from libra.trading.execution import ExecutionEngine
from libra.trading.risk import TradingState

_log = structlog.get_logger("libra.kernel")

#: Operator actions on the risk engine's trading state.
TRADING_ACTIONS = {"halt": TradingState.HALTED, "reduce": TradingState.REDUCING,
                   "resume": TradingState.ACTIVE}


class OperatorActions:
    """Halt, reduce, resume, cancel every open order, flatten every position, resume a
    paused strategy.

    ``cancel_all`` and ``flatten`` send their commands at once and then wait, up to
    ``wait`` seconds, for the venue's answers: they report what the venue confirmed
    (canceled, filled, still open, denied), and ``ok`` is true only when everything asked
    for was done.
    """

    def __init__(self, engine: ExecutionEngine) -> None:
        self._engine = engine

    def set_trading_state(self, action: str) -> dict[str, Any]:
        """Apply ``halt`` / ``reduce`` / ``resume`` to the risk engine.

        Raises:
            KeyError: ``action`` is none of the three.
        """
        risk = self._engine.risk
        previous = risk.state.value
        risk.set_state(TRADING_ACTIONS[action], reason=f"operator: {action}")
        return {"trading_state": risk.state.value, "previous": previous}

    def resume_strategy(self, strategy_id: str) -> dict[str, Any]:
        """Let a strategy the denial breaker paused place orders again."""
        was_paused = self._engine.risk.resume(strategy_id)
        return {"strategy_id": strategy_id, "changed": was_paused, "paused": False}

    async def cancel_all(self, wait: float = 10.0) -> dict[str, Any]:
        """Cancel every open order; report what the venue confirmed within ``wait`` s."""
        engine = self._engine
        orders = list(engine.cache.open_orders())
        requested = sum(1 for order in orders if engine.cancel(order))
        await engine.flush()
        await self._until(lambda: not any(o.is_open for o in orders), wait)
        still_open = [o.client_order_id for o in orders if o.is_open]
        return {"ok": not still_open, "cancel_requested": requested,
                "canceled": sum(1 for o in orders if o.status is OrderStatus.CANCELED),
                "still_open": still_open}

    async def flatten(self, wait: float = 10.0) -> dict[str, Any]:
        """Cancel every open order, then close every position with reduce-only market
        orders, split into clips the per-order limits allow; report what filled."""
        engine = self._engine
        cancels = await self.cancel_all(wait / 2)
        closing: list[Order] = []
        for position in engine.portfolio.positions(open_only=True):
            orders = engine.orders_api(position.strategy_id, position.venue)
            closing += orders.close_in_clips(position.symbol)
        if closing:
            _log.warning("flatten.closing", orders=len(closing),
                              positions=len({(o.strategy_id, o.symbol) for o in closing}))
        await engine.flush()
        await self._until(lambda: all(o.is_closed for o in closing), wait / 2)
        left = [{"strategy_id": p.strategy_id, "symbol": p.symbol, "quantity": display(p.quantity)}
                for p in engine.portfolio.positions(open_only=True)]
        return {"ok": cancels["ok"] and not left, "cancel_requested": cancels["cancel_requested"],
                "still_open": cancels["still_open"],
                "close_orders": [_close_report(o) for o in closing],
                "positions_left": left, "trading_state": engine.risk.state.value}

    async def _until(self, done: Callable[[], bool], seconds: float) -> None:
        """Wait until ``done()``, re-checked at each order event, for at most ``seconds``."""
        if done():
            return
        changed = asyncio.Event()

        def on_order_event(event: object) -> None:
            changed.set()

        bus = self._engine.bus
        bus.subscribe("order.**", on_order_event, priority=-100)
        try:
            async with asyncio.timeout(seconds):
                while not done():
                    changed.clear()
                    await changed.wait()
        except TimeoutError:
            pass
        finally:
            bus.unsubscribe("order.**", on_order_event)


def _close_report(order: Order) -> dict[str, Any]:
    return {"strategy_id": order.strategy_id, "symbol": order.symbol,
            "client_order_id": order.client_order_id, "quantity": display(order.quantity),
            "filled_quantity": display(order.filled_quantity), "status": order.status.value,
            "reason": order.reason}


class KernelControl(Protocol):
    """A running kernel as the services around it see it."""

    name: str
    environment: Literal["live", "paper", "backtest"]
    config: KernelConfig
    started_at_ns: int | None
    stop_reason: str | None
    reconciled: bool
    bus: MessageBus
    cache: Cache
    trading: ExecutionEngine
    actions: OperatorActions
    signals: KernelSignals
    services: list[Component]

    @property
    def state(self) -> ComponentState: ...

    @property
    def gateways(self) -> Mapping[str, GatewayPlugin]: ...

    @property
    def strategies(self) -> Mapping[str, StrategyPlugin]: ...

    @property
    def runners(self) -> Mapping[str, StrategyRunner]: ...

    def status(self) -> dict[str, Any]: ...

    async def stop_strategy(self, strategy_id: str) -> None: ...

    async def start_strategy(self, strategy_id: str) -> None: ...


#: Builds a service (HTTP API, metrics, ...) around a kernel; see ``TradingKernel``.
ServiceFactory = Callable[[KernelControl], Component]


@runtime_checkable
class LinkReporter(Protocol):
    """A service holding a link to the outside (the fleet) that reports how it is doing.

    ``link_report()`` returns JSON-safe data with at least ``connected`` (bool) and the
    counters ``buffered``, ``published`` and ``dropped``: the kernel shows it in its
    status and heartbeat, the metrics export it. A link is never part of readiness.
    """

    name: str

    def link_report(self) -> dict[str, Any]: ...


def link_reports(services: Iterable[object]) -> dict[str, dict[str, Any]]:
    """Return each linked service's ``link_report()`` by service name."""
    return {service.name: service.link_report() for service in services
            if isinstance(service, LinkReporter)}
