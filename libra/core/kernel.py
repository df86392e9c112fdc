"""TradingKernel: the composition root and lifecycle of one LIBRA process.

Lifecycle: discover -> validate -> build -> connect gateways -> initialize
strategies -> stream -> (signal) -> stop intake -> ``shutdown()`` each strategy
-> disconnect gateways -> flush -> stopped. A failure halfway through start
unwinds only what had started (an ``AsyncExitStack``). The kernel holds no
trading logic: it wires the bus, cache, clock, engines, gateways and strategies.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import structlog

from libra.core.builder import build_all
from libra.core.bus import MessageBus
from libra.core.cache import Cache
from libra.core.clock import LiveClock, SimulatedClock, TimeEvent
from libra.core.config import KernelConfig
from libra.core.errors import GatewayError, LifecycleError, StateStoreError
from libra.core.runner import RunnerState, StrategyRunner
from libra.plugins.base import GatewayPlugin, StrategyPlugin
from libra.plugins.loader import discover_gateways, discover_strategies, list_strategy_plugins
from libra.plugins.trading import bind_trading
from libra.trading.execution import ExecutionEngine

_HEARTBEAT_TIMER = "kernel.heartbeat"


class TradingKernel:
    """Build and run gateways and strategies from a ``KernelConfig``."""

    def __init__(
        self,
        config: KernelConfig | None = None,
        strategy_instances: dict[str, StrategyPlugin] | None = None,
    ) -> None:
        self.config = config or KernelConfig()
        self._strategy_instances = strategy_instances or {}
        self.name = self.config.kernel.name
        self.environment = self.config.environment
        self.is_backtest = self.environment == "backtest"
        self.bus = MessageBus()
        self.cache = Cache()
        self.clock: LiveClock | SimulatedClock = (
            SimulatedClock() if self.is_backtest else LiveClock()
        )
        self.trading = ExecutionEngine(
            self.bus, self.cache, self.clock, self.config.risk,
            log_orders=self.config.logging.log_orders,
        )
        self.gateways: dict[str, GatewayPlugin] = {}
        self.strategies: dict[str, StrategyPlugin] = {}
        self.runners: dict[str, StrategyRunner] = {}
        self.state = "created"
        self.started_at_ns: int | None = None
        self.stop_reason: str | None = None
        self._stop_event: asyncio.Event | None = None
        self._stack: AsyncExitStack | None = None
        self._gateway_tasks: dict[str, asyncio.Task[None]] = {}
        self._signals = 0
        self._main_task: asyncio.Task[Any] | None = None
        self._heartbeat_last = (0, time.monotonic())
        #: The file ``libra run`` loaded; SIGHUP re-reads it.
        self.config_path: Path | None = None
        #: Health, metrics, control API, systemd notifications and reload (live and paper).
        self.ops: Any = None
        #: The state store (``kernel.state_path``), open while the kernel runs.
        self.store: Any = None
        #: True once the state file was restored and every gateway reconciled.
        self.reconciled = False
        self._restored: Any = None
        self._stateful: set[str] = set()
        self._log = structlog.get_logger("libra.kernel")
        if self.config.discover_plugins:
            self.discover_plugins()

    # -- the seed's discovery API -----------------------------------------------------------

    def discover_plugins(self) -> dict[str, dict[str, type]]:
        """Discover installed plugins; return ``{"strategies": {...}, "gateways": {...}}``."""
        plugins = {
            "strategies": dict(discover_strategies()),
            "gateways": dict(discover_gateways()),
        }
        if self.config.log_plugins:
            self._log.info(
                "kernel.plugins_discovered",
                strategies=sorted(plugins["strategies"]),
                gateways=sorted(plugins["gateways"]),
            )
        return plugins

    def discover_strategies(self) -> dict[str, type[StrategyPlugin]]:
        """Return the installed strategy plugin classes by name."""
        return dict(discover_strategies())

    def discover_gateways(self) -> dict[str, type]:
        """Return the installed gateway plugin classes by name."""
        return dict(discover_gateways())

    def get_available_gateways(self) -> dict[str, type]:
        """Return the installed gateway plugin classes by name."""
        return dict(discover_gateways())

    def get_available_strategies(self) -> dict[str, type[StrategyPlugin]]:
        """Return the installed strategy plugin classes by name."""
        return dict(discover_strategies())

    def list_strategy_plugins(self) -> list[Any]:
        """Return the metadata of every installed strategy plugin."""
        return list_strategy_plugins()

    # -- building ---------------------------------------------------------------------------

    def build(self) -> None:
        """Validate plugin names and options and build every component (no I/O)."""
        if self.state != "created":
            return
        gateways, strategies = build_all(self.config, self._strategy_instances)
        self.gateways = gateways
        bus_cfg = self.config.bus
        default_gateway = next(iter(gateways), None)
        for cfg in self.config.strategies:
            if cfg.id not in strategies:
                continue
            strategy, params = strategies[cfg.id]
            gateway_id = cfg.gateway or default_gateway
            assert gateway_id is not None
            self.strategies[cfg.id] = strategy
            runner = StrategyRunner(
                cfg.id,
                strategy,
                inbox_size=cfg.inbox_size or bus_cfg.inbox_size,
                max_consecutive_errors=cfg.max_consecutive_errors or bus_cfg.max_consecutive_errors,
                drain_batch=bus_cfg.drain_batch,
                on_failed=self._on_strategy_failed,
                commands=self.trading,
                gateway_id=gateway_id,
                symbols=list(cfg.symbols or strategy.symbols),
                params=params,
            )
            self.runners[cfg.id] = runner
        for gateway_id, gateway in gateways.items():
            self.trading.add_gateway(gateway_id, gateway)
            gateway.bind(self.bus.publish_event, self.trading.on_order_event, self.clock)
        for gateway_id, gateway in gateways.items():
            # A gateway trading on another gateway's data (paper on live data) sees it
            # before the strategies do, as a venue would.
            if gateway.data_venue != gateway_id and hasattr(gateway, "on_market_data"):
                self.bus.subscribe(f"data.*.{gateway.data_venue}.**", gateway.on_market_data,
                                   priority=95)
        self.bus.subscribe("data.**", self.cache.add_market_data, priority=100)
        self.state = "built"

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Build, connect, initialize and start streaming; unwind on failure."""
        if self.state not in ("created", "built"):
            raise LifecycleError(f"kernel {self.name}: cannot start from {self.state}")
        self.build()
        self.state = "starting"
        self._stop_event = asyncio.Event()
        stack = AsyncExitStack()
        try:
            await self._start_components(stack)
        except BaseException:
            self.state = "failed"
            self._log.error("kernel.start_failed", exc_info=True)
            await stack.aclose()
            raise
        self._stack = stack
        self.state = "running"
        self.started_at_ns = time.time_ns()
        self._log.info(
            "kernel.started",
            environment=self.environment,
            gateways=sorted(self.gateways),
            strategies=sorted(self.runners),
        )

    async def _start_components(self, stack: AsyncExitStack) -> None:
        timeout = self.config.kernel.connect_timeout
        for gateway_id, gateway in self.gateways.items():
            try:
                async with asyncio.timeout(timeout):
                    await gateway.connect()
            except TimeoutError:
                raise GatewayError(
                    f"gateway {gateway_id!r} did not connect within {timeout}s"
                ) from None
            stack.push_async_callback(self._disconnect, gateway_id, gateway)
            for instrument in gateway.instruments().values():
                self.cache.add_instrument(instrument)
            balances = await gateway.fetch_balances()
            if balances:
                self.trading.portfolio.set_balances(gateway_id, balances)
            self._log.info("gateway.connected", gateway=gateway_id,
                           balances={k: str(v) for k, v in balances.items()})
        await self._restore_state(stack)
        await self.trading.start()
        stack.push_async_callback(self.trading.stop)
        if self.trading.has_pending:  # cancels reconciliation queued before the engine ran
            await self.trading.flush()
        self.reconciled = True
        for strategy_id, runner in self.runners.items():
            await self._initialize_strategy(strategy_id, runner)
            stack.push_async_callback(runner.stop, self.config.kernel.strategy_shutdown_timeout)
        for gateway_id, gateway in self.gateways.items():
            symbols = self._symbols_for(gateway_id)
            await gateway.subscribe(symbols, ("quote", "trade", "bar", "book"))
            if not self.is_backtest:
                self._gateway_tasks[gateway_id] = asyncio.get_running_loop().create_task(
                    self._run_gateway(gateway_id, gateway), name=f"gateway:{gateway_id}"
                )
        stack.push_async_callback(self._stop_gateway_tasks)
        if not self.is_backtest:
            self.clock.set_timer(
                _HEARTBEAT_TIMER,
                int(self.config.logging.heartbeat_interval * 1e9),
                self._heartbeat,
            )
            stack.callback(self.clock.cancel_timer, _HEARTBEAT_TIMER)
            from libra.observability.service import OpsService

            self.ops = OpsService(self, self.config_path)
            await self.ops.start()
            stack.push_async_callback(self.ops.stop)

    def _symbols_for(self, gateway_id: str) -> list[str]:
        """Return the symbols of every strategy trading on, or on the data of, a gateway."""
        wanted: set[str] = set()
        for runner in self.runners.values():
            trades_on: str = runner.gateway_id
            if trades_on == gateway_id or self.gateways[trades_on].data_venue == gateway_id:
                wanted.update(runner.symbols)
        return sorted(wanted)

    async def _initialize_strategy(self, strategy_id: str, runner: StrategyRunner) -> None:
        strategy = runner.strategy
        gateway_id: str = runner.gateway_id
        symbols: list[str] = runner.symbols
        orders = self.trading.orders_api(strategy_id, gateway_id)
        bind_trading(strategy, orders)
        if not strategy.__dict__.get("_libra_log_user_set"):
            strategy.__dict__["_libra_log"] = _std_logger(f"libra.strategy.{strategy_id}")
        context: dict[str, Any] = {
            "strategy_id": strategy_id,
            "bus": self.bus,
            "cache": self.cache,
            "clock": self.clock,
            "config": runner.params,
            "symbols": symbols,
            "gateway": gateway_id,
            "orders": orders,
            "portfolio": self.trading.portfolio,
            "log": structlog.get_logger("libra.strategy").bind(strategy_id=strategy_id),
            "environment": self.environment,
        }
        await strategy.initialize(context)
        saved = self._restored.strategy_states.get(strategy_id) if self._restored else None
        if saved is not None:
            strategy.on_load(saved)
        self._stateful.add(strategy_id)
        venue = self.gateways[gateway_id].data_venue
        for symbol in symbols:
            self.bus.subscribe(f"data.*.{venue}.{symbol}", runner.on_market_data)
            self.bus.subscribe(f"data.bar.{venue}.{symbol}.*", runner.on_market_data)
        self.trading.register_strategy(strategy_id, runner.on_order_event)
        runner.start(own_task=not self.is_backtest)
        self._log.info("strategy.started", strategy_id=strategy_id, gateway=gateway_id,
                       symbols=symbols, plugin=type(strategy).__name__)

    async def _run_gateway(self, gateway_id: str, gateway: GatewayPlugin) -> None:
        try:
            await gateway.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._log.error("gateway.failed", gateway=gateway_id,
                            error=f"{type(exc).__name__}: {exc}", exc_info=True)

    async def _stop_gateway_tasks(self) -> None:
        tasks = list(self._gateway_tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._gateway_tasks.clear()

    async def _disconnect(self, gateway_id: str, gateway: GatewayPlugin) -> None:
        try:
            async with asyncio.timeout(self.config.kernel.connect_timeout):
                await gateway.disconnect()
        except Exception as exc:
            self._log.error("gateway.disconnect_failed", gateway=gateway_id,
                            error=f"{type(exc).__name__}: {exc}")
        else:
            self._log.info("gateway.disconnected", gateway=gateway_id)

    def _on_strategy_failed(self, runner: StrategyRunner) -> None:
        self.bus.publish(f"strategy.{runner.strategy_id}.failed", runner.stats())

    async def stop_strategy(self, strategy_id: str) -> None:
        """Stop one strategy (intake off, ``shutdown()``); the others run on."""
        runner = self.runners[strategy_id]
        if runner.state is RunnerState.RUNNING:
            await runner.stop(self.config.kernel.strategy_shutdown_timeout)

    async def start_strategy(self, strategy_id: str) -> None:
        """Start a stopped or failed strategy again (``initialize()`` runs again)."""
        runner = self.runners[strategy_id]
        if runner.state is not RunnerState.RUNNING:
            runner.consecutive_errors = 0
            await self._initialize_strategy(strategy_id, runner)

    def request_stop(self, reason: str = "requested") -> None:
        """Ask the kernel to stop gracefully (safe from a signal handler)."""
        if self._stop_event is not None and not self._stop_event.is_set():
            self.stop_reason = reason
            self._log.info("kernel.stopping", reason=reason)
            self._stop_event.set()

    async def run_until_stopped(self) -> None:
        """Wait until ``request_stop`` is called."""
        if self._stop_event is None:
            raise LifecycleError(f"kernel {self.name}: not started")
        await self._stop_event.wait()

    async def stop(self) -> None:
        """Stop intake, shut strategies down, disconnect gateways, flush; idempotent."""
        if self.state != "running":
            return
        self.state = "stopping"
        if self.ops is not None:
            await self.ops.stop()  # STOPPING=1 and the HTTP server closed before anything else
        if self.config.kernel.cancel_orders_on_stop:
            cancelled = self.trading.cancel_all_open_orders()
            self._log.info("kernel.orders_cancelled", count=cancelled)
        stack, self._stack = self._stack, None
        try:
            async with asyncio.timeout(self.config.kernel.shutdown_timeout):
                if stack is not None:
                    await stack.aclose()
        except TimeoutError:
            self._log.error("kernel.stop_timed_out", timeout=self.config.kernel.shutdown_timeout)
        self.state = "stopped"
        self._log.info("kernel.stopped", reason=self.stop_reason or "stopped",
                       **self.trading.summary())

    async def run(self) -> None:
        """Start, run until a signal or ``request_stop``, then stop. For the CLI."""
        self._main_task = asyncio.current_task()
        self.install_signal_handlers()
        try:
            await self.start()
            # Everything built at start lives as long as the process: keep it out of the
            # collector's generations so full collections stay short while trading.
            gc.collect()
            gc.freeze()
            await self.run_until_stopped()
        finally:
            await self.stop()
            self.remove_signal_handlers()

    def install_signal_handlers(self) -> None:
        """First SIGTERM/SIGINT stops gracefully; a second one cancels the stop."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)

    def remove_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        self._signals += 1
        if self._signals == 1:
            self.request_stop(f"signal {sig.name}")
            return
        self._log.warning("kernel.forced_stop", signal=sig.name)
        if self._main_task is not None:
            self._main_task.cancel()

    # -- observation ------------------------------------------------------------------------

    async def _restore_state(self, stack: AsyncExitStack) -> None:
        """Restore the state file into cache and portfolio, then reconcile every gateway."""
        kcfg = self.config.kernel
        if kcfg.state_path is None or self.is_backtest:
            return
        from libra.persistence import StateStore, apply_reconciliation, reconcile, restore_into

        store = StateStore.open(kcfg.state_path, on_error=self._on_store_error)
        stack.push_async_callback(self._close_store, store)
        for gateway in self.gateways.values():
            await gateway.attach_store(store)  # a simulated venue restores itself first
        state = await asyncio.to_thread(store.load_state)
        self._log.info("state.restored", path=kcfg.state_path, **restore_into(self.trading, state))
        self.trading.store = self.store = store
        self._restored = state
        for gateway in self.gateways.values():
            gateway.adopt_orders([o for o in state.open_orders if o.venue == gateway.id])
        mismatches = list(state.problems)
        for gateway_id, gateway in self.gateways.items():
            report = await reconcile(gateway, gateway_id, state, venue_only=kcfg.venue_only_orders,
                                     confirm_delay=kcfg.reconcile_confirm_delay)
            apply_reconciliation(self.trading, report)
            log = self._log.info if report.ok else self._log.error
            log("state.reconciled", **report.summary())
            mismatches += [f"{gateway_id}: {m.kind}: {m.detail}" for m in report.issues]
        if mismatches and not kcfg.continue_on_mismatch:
            raise StateStoreError(
                f"reconciliation left {len(mismatches)} mismatch(es); trading not started "
                f"(kernel.continue_on_mismatch overrides): {'; '.join(mismatches[:5])}"
            )

    def _on_store_error(self, error: StateStoreError) -> None:
        self.request_stop(f"state store failed: {error}")

    def _save_state(self) -> None:
        if self.store is None:
            return
        for strategy_id in self._stateful:
            saved = self.strategies[strategy_id].on_save()
            if saved is not None:
                self.store.save_strategy_state(strategy_id, saved)
        self.store.record_portfolio(self.trading.portfolio)

    async def _close_store(self, store: Any) -> None:
        self._save_state()
        self.trading.store = self.store = None
        await store.aclose()

    def _heartbeat(self, event: TimeEvent) -> None:
        self._save_state()
        seen, at = self.cache.events_seen, time.monotonic()
        last_seen, last_at = self._heartbeat_last
        self._heartbeat_last = (seen, at)
        rate = (seen - last_seen) / (at - last_at) if at > last_at else 0.0
        self._log.info(
            "kernel.heartbeat",
            events_per_second=round(rate, 1),
            events=seen,
            strategies={sid: r.stats() for sid, r in self.runners.items()},
            **self.trading.summary(),
        )

    def status(self) -> dict[str, Any]:
        """Return plain data describing the running kernel (for APIs and tests)."""
        return {
            "name": self.name,
            "state": self.state,
            "environment": self.environment,
            "gateways": {gid: {"connected": g.is_connected} for gid, g in self.gateways.items()},
            "strategies": {sid: r.stats() for sid, r in self.runners.items()},
            **self.trading.summary(),
        }

    @property
    def failed_strategies(self) -> list[str]:
        return [sid for sid, r in self.runners.items() if r.state is RunnerState.FAILED]


def _std_logger(name: str) -> Any:
    import logging

    return logging.getLogger(name)
