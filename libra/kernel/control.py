"""What services around a running kernel may read and do: the ``KernelControl`` Protocol.

The HTTP API, metrics, systemd notifications and config reload (``libra.observability``)
sit above the kernel and see it only through this Protocol; the kernel never imports
them. ``libra run`` passes their factories to ``TradingKernel(services=...)``; the kernel
starts them once streaming has begun and stops them first at shutdown.

``OperatorActions`` holds the operator's risk actions (halt, reduce, resume, cancel-all,
flatten) in one place, so that every door (HTTP, CLI, tests) does the same thing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

from libra.core.bus import MessageBus
from libra.core.cache import Cache
from libra.core.config import KernelConfig
from libra.core.lifecycle import Component, ComponentState
from libra.kernel.runner import StrategyRunner
from libra.kernel.signals import KernelSignals
from libra.plugins.base import GatewayPlugin, StrategyPlugin
from libra.trading.execution import ExecutionEngine
from libra.trading.risk import TradingState

#: Operator actions on the risk engine's trading state.
TRADING_ACTIONS = {"halt": TradingState.HALTED, "reduce": TradingState.REDUCING,
                   "resume": TradingState.ACTIVE}


class OperatorActions:
    """Halt, reduce, resume, cancel every open order, flatten every position."""

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

    def cancel_all(self) -> dict[str, Any]:
        """Request the cancel of every open order."""
        return {"cancel_requested": self._engine.cancel_all_open_orders()}

    def flatten(self) -> dict[str, Any]:
        """Cancel every open order and close every position with reduce-only market orders."""
        engine = self._engine
        cancelled = engine.cancel_all_open_orders()
        closing = []
        for position in engine.portfolio.positions(open_only=True):
            orders = engine.orders_api(position.strategy_id, position.venue)
            order = orders.close_position(position.symbol)
            if order is not None:
                closing.append({"strategy_id": position.strategy_id, "symbol": position.symbol,
                                "client_order_id": order.client_order_id,
                                "status": order.status.value, "reason": order.reason})
        return {"cancel_requested": cancelled, "close_orders": closing,
                "trading_state": engine.risk.state.value}


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
