"""The kernel's state file: restore at start, reconcile with every venue, save, close.

At start (live and paper, with ``kernel.state_path`` set) the store is opened (and refused
if it lost history, unless ``kernel.fresh_start``), each
simulated venue restores its own state from it, the orders, fills, positions and balances
it holds are restored into the engine, and every gateway is reconciled against it before
any strategy starts. While running, the heartbeat saves strategy state and the portfolio;
at stop the same is saved once more before the store closes. A store that fails while
running (a write error, its file deleted or replaced) calls ``on_store_failed``: the
kernel halts trading and stops with the store's error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import Any

import structlog

from libra.core.config import KernelSection
from libra.core.errors import StateStoreError
from libra.persistence import (
    LoadedState,
    StateStore,
    apply_reconciliation,
    reconcile,
    restore_into,
)
from libra.plugins.base import GatewayPlugin, StrategyPlugin
from libra.trading.execution import ExecutionEngine
from libra.trading.risk import TradingState


class KernelState:
    """Own the state store of one kernel while it runs."""

    def __init__(self, config: KernelSection, engine: ExecutionEngine,
                 on_store_failed: Any) -> None:
        self._config = config
        self._engine = engine
        self._on_store_failed = on_store_failed
        #: The store's failure while running, if it failed.
        self.error: StateStoreError | None = None
        self.store: StateStore | None = None
        self.restored: LoadedState | None = None
        #: The strategies whose ``on_save`` is called at each save.
        self.stateful: dict[str, StrategyPlugin] = {}
        self._log = structlog.get_logger("libra.kernel")

    def saved_state_of(self, strategy_id: str) -> dict[str, Any] | None:
        """Return what ``strategy_id`` saved last time, if the store held any."""
        if self.restored is None:
            return None
        saved: dict[str, Any] | None = self.restored.strategy_states.get(strategy_id)
        return saved

    async def restore(self, gateways: Mapping[str, GatewayPlugin], stack: AsyncExitStack) -> None:
        """Open the store, restore it into the engine, then reconcile every gateway.

        Raises:
            StateStoreError: the file cannot be used, or reconciliation left mismatches
                (unless ``kernel.continue_on_mismatch``).
        """
        kcfg = self._config
        if kcfg.state_path is None:
            return
        store = StateStore.open(
            kcfg.state_path, on_error=self._store_failed, fresh_start=kcfg.fresh_start,
            retention=kcfg.state_retention, checkpoint_interval=kcfg.state_checkpoint_interval)
        stack.push_async_callback(self._close, store)
        for gateway in gateways.values():
            await gateway.attach_store(store)  # a simulated venue restores itself first
        state = await asyncio.to_thread(store.load_state)
        self._log.info("state.restored", path=kcfg.state_path,
                       **restore_into(self._engine, state))
        self._engine.store = self.store = store
        self.restored = state
        for gateway in gateways.values():
            gateway.adopt_orders([o for o in state.open_orders if o.venue == gateway.id])
        mismatches = list(state.problems)
        for gateway_id, gateway in gateways.items():
            report = await reconcile(gateway, gateway_id, state, venue_only=kcfg.venue_only_orders,
                                     confirm_delay=kcfg.reconcile_confirm_delay)
            apply_reconciliation(self._engine, report)
            log = self._log.info if report.ok else self._log.error
            log("state.reconciled", **report.summary())
            mismatches += [f"{gateway_id}: {m.kind}: {m.detail}" for m in report.issues]
        if mismatches and not kcfg.continue_on_mismatch:
            raise StateStoreError(
                f"reconciliation left {len(mismatches)} mismatch(es); trading not started "
                f"(kernel.continue_on_mismatch overrides): {'; '.join(mismatches[:5])}"
            )

    def _store_failed(self, error: StateStoreError) -> None:
        # Nothing may trade once nothing can be saved: halt first, then stop the kernel.
        self.error = error
        self._engine.risk.set_state(TradingState.HALTED, reason="state store failed")
        self._on_store_failed(error)

    def raise_if_failed(self) -> None:
        """Raise the store's failure, if it failed while running (after the kernel stopped).

        Raises:
            StateStoreError: the store failed.
        """
        if self.error is not None:
            raise self.error

    def save(self) -> None:
        """Save each strategy's ``on_save`` state and the portfolio (no-op without a store)."""
        store = self.store
        if store is None:
            return
        for strategy_id, strategy in self.stateful.items():
            try:
                saved = strategy.on_save()
            except Exception as exc:  # the strategy's own code: its failure is its own
                self._log.error("strategy.save_failed", strategy_id=strategy_id,
                                error=f"{type(exc).__name__}: {exc}", exc_info=exc)
                continue
            if saved is not None:
                store.save_strategy_state(strategy_id, saved)
        store.record_portfolio(self._engine.portfolio)

    async def _close(self, store: StateStore) -> None:
        try:
            self.save()  # a store that cannot write raises here: it still closes
        finally:
            self._engine.store = self.store = None
            await store.aclose()
