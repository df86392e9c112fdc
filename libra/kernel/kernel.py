"""TradingKernel: the composition root and lifecycle of one LIBRA process.

Lifecycle: discover -> validate -> build -> connect gateways -> restore and reconcile
state -> initialize strategies -> stream -> start services -> (signal) -> stop services
-> stop intake -> ``shutdown()`` each strategy -> disconnect gateways -> flush -> stopped.
A failure halfway through start unwinds only what had started (an ``AsyncExitStack``).
The kernel holds no trading logic: it wires the bus, cache, clock, engines, gateways and
strategies, and goes through the one component state machine of ``libra.core.lifecycle``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import structlog

from libra.core.bus import MessageBus
from libra.core.cache import Cache
from libra.core.clock import LiveClock, ReplayClock, SimulatedClock, TimeEvent, iso_utc
from libra.core.config import KernelConfig
from libra.core.errors import LifecycleError, StateStoreError
from libra.core.lifecycle import BaseComponent, Component, ComponentState
from libra.gateways.paper import PaperGateway
from libra.kernel.builder import build_all
from libra.kernel.control import OperatorActions, ServiceFactory, link_reports
from libra.kernel.gateways import GatewayComponent
from libra.kernel.lockstep import Lockstep, only_replays
from libra.kernel.runner import StrategyRunner
from libra.kernel.signals import KernelSignals
from libra.kernel.state import KernelState
from libra.model.orders import Order
from libra.plugins.base import GatewayPlugin, PluginMetadata, StrategyPlugin
from libra.plugins.context import StrategyContext
from libra.plugins.loader import discover_gateways, discover_strategies, list_strategy_plugins
from libra.plugins.trading import bind_trading
from libra.trading.execution import ExecutionEngine
from libra.trading.orders_api import StrategyOrders
from libra.trading.portfolio import Portfolio
from libra.trading.risk import TradingState

_HEARTBEAT_TIMER = "kernel.heartbeat"
_MARKET_CHANNELS = ("quote", "trade", "bar", "book")


class TradingKernel(BaseComponent):
    """Build and run gateways and strategies from a ``KernelConfig``.

    Args:
        config: the whole configuration (defaults: no gateway, no strategy).
        strategy_instances: ready strategy objects by strategy id, used instead of
            building them from their plugin (a strategy's own ``backtest()``, the optimizer).
        services: factories of the components that run around the kernel while it streams
            (the HTTP API and metrics of ``libra run``); see ``libra.kernel.control``.
    """

    def __init__(
        self,
        config: KernelConfig | None = None,
        strategy_instances: dict[str, StrategyPlugin] | None = None,
        services: Sequence[ServiceFactory] = (),
    ) -> None:
        self.config = config or KernelConfig()
        super().__init__(self.config.kernel.name)
        self._strategy_instances = strategy_instances or {}
        self._service_factories = tuple(services)
        self.services: list[Component] = []
        self.environment = self.config.environment
        self.is_backtest = self.environment == "backtest"
        self.bus = MessageBus()
        self.cache = Cache()
        self.clock: LiveClock | SimulatedClock = (
            SimulatedClock() if self.is_backtest else LiveClock()
        )
        self.wall_clock = LiveClock()  # the kernel's own timers: the heartbeat
        self.trading = ExecutionEngine(
            self.bus, self.cache, self.clock, self.config.risk,
            log_orders=self.config.logging.log_orders, simulated=self.is_backtest,
        )
        self.actions = OperatorActions(self.trading)
        self.signals = KernelSignals(self.request_stop)
        self.gateways: dict[str, GatewayPlugin] = {}
        self.strategies: dict[str, StrategyPlugin] = {}
        self.runners: dict[str, StrategyRunner] = {}
        self.lockstep = Lockstep(self.trading, self.runners)
        self.started_at_ns: int | None = None
        self.stop_reason: str | None = None
        #: The file ``libra run`` loaded; a reload re-reads it.
        self.config_path: Path | None = None
        #: True once the state file was restored and every gateway reconciled.
        self.reconciled = False
        #: With ``kernel.cancel_orders_on_stop``: the orders still open after the stop
        #: (``libra run`` then exits 4).
        self.orders_left_open: list[str] = []
        self._built = False
        self._state_keeper = KernelState(self.config.kernel, self.trading, self._on_store_error)
        self._stop_event: asyncio.Event | None = None
        self._stack: AsyncExitStack | None = None
        #: Each gateway in the component state machine, by gateway id (filled at start).
        self.gateway_parts: dict[str, GatewayComponent] = {}
        self._heartbeat_last = (0, time.monotonic())
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

    def get_available_gateways(self) -> dict[str, type]:
        """Return the installed gateway plugin classes by name."""
        return dict(discover_gateways())

    def get_available_strategies(self) -> dict[str, type[StrategyPlugin]]:
        """Return the installed strategy plugin classes by name."""
        return dict(discover_strategies())

    # The seed's architecture diagram draws these three on the kernel as well.
    discover_strategies = get_available_strategies
    discover_gateways = get_available_gateways

    def list_strategy_plugins(self) -> list[PluginMetadata]:
        """Return the metadata of every installed strategy plugin."""
        return list_strategy_plugins()

    # -- building ---------------------------------------------------------------------------

    @property
    def store(self) -> Any:
        """The state store (``kernel.state_path``), open while the kernel runs."""
        return self._state_keeper.store

    def build(self) -> None:
        """Validate plugin names and options and build every component (no I/O)."""
        if self._built:
            return
        gateways, strategies = build_all(self.config, self._strategy_instances)
        self.gateways = gateways
        if only_replays(gateways) and not self.is_backtest:  # time is the data's, see ReplayClock
            self.clock = self.trading.clock = ReplayClock()
        bus_cfg = self.config.bus
        default_gateway = next(iter(gateways), None)
        for cfg in self.config.strategies:
            if cfg.id not in strategies:
                continue
            strategy, params = strategies[cfg.id]
            gateway_id = cfg.gateway or default_gateway
            assert gateway_id is not None
            self.strategies[cfg.id] = strategy
            self.runners[cfg.id] = StrategyRunner(
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
        for gateway_id, gateway in gateways.items():
            if isinstance(gateway, PaperGateway):  # a replay of datasets loads these at connect
                gateway.expected_symbols = self._symbols_for(gateway_id)
            self.trading.add_gateway(gateway_id, gateway)
            gateway.bind(self.bus.publish_event, self.trading.on_order_event, self.clock,
                         settled=self.lockstep.settled)
        for gateway_id, gateway in gateways.items():
            # A gateway trading on another gateway's data (paper on live data) sees it
            # before the strategies do, as a venue would.
            if gateway.data_venue != gateway_id:
                self.bus.subscribe(f"data.*.{gateway.data_venue}.**", gateway.on_market_data,
                                   priority=95)
        self.bus.subscribe("data.**", self.cache.add_market_data, priority=100)
        self._built = True

    # -- lifecycle --------------------------------------------------------------------------

    async def _on_start(self) -> None:
        self.build()
        self._stop_event = asyncio.Event()
        stack = AsyncExitStack()
        try:
            await self._start_components(stack)
        except BaseException:
            self._log.error("kernel.start_failed", exc_info=True)
            await stack.aclose()
            raise
        self._stack = stack
        self.started_at_ns = time.time_ns()
        await self._start_services()
        self._log.info(
            "kernel.started",
            environment=self.environment,
            gateways=sorted(self.gateways),
            strategies=sorted(self.runners),
        )

    async def _start_components(self, stack: AsyncExitStack) -> None:
        kcfg = self.config.kernel
        for gateway_id, gateway in self.gateways.items():
            part = GatewayComponent(gateway_id, gateway, kcfg.connect_timeout, self.cache,
                                    self.trading.portfolio)
            self.gateway_parts[gateway_id] = part
            await part.start()
            stack.push_async_callback(part.stop)
        if not self.is_backtest:
            await self._state_keeper.restore(self.gateways, stack)
        await self.trading.start()
        stack.push_async_callback(self.trading.stop)
        if self.trading.has_pending:  # cancels reconciliation queued before the engine ran
            await self.trading.flush()
        self.reconciled = True
        for strategy_id, runner in self.runners.items():
            await self._initialize_strategy(strategy_id, runner)
            stack.push_async_callback(runner.stop, self.config.kernel.strategy_shutdown_timeout)
        for gateway_id, gateway in self.gateways.items():
            await gateway.subscribe(self._symbols_for(gateway_id), _MARKET_CHANNELS)
            if not self.is_backtest:
                self.gateway_parts[gateway_id].stream()
        for part in self.gateway_parts.values():
            # Streams end before strategies shut down: no data arrives during shutdown().
            stack.push_async_callback(part.stop_streaming)
        if not self.is_backtest:
            self.wall_clock.set_timer(
                _HEARTBEAT_TIMER,
                int(self.config.logging.heartbeat_interval * 1e9),
                self._heartbeat,
            )
            stack.callback(self.wall_clock.cancel_timer, _HEARTBEAT_TIMER)

    async def _start_services(self) -> None:
        """Start the services around the kernel; one that fails to start stops the kernel."""
        for factory in self._service_factories:
            service = factory(self)
            try:
                await service.start()
            except BaseException:
                self._log.error("kernel.start_failed", exc_info=True)
                await self._stop_services()
                await self._unwind()
                raise
            self.services.append(service)

    async def _stop_services(self) -> None:
        while self.services:
            await self.services.pop().stop()

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
            strategy.__dict__["_libra_log"] = logging.getLogger(f"libra.strategy.{strategy_id}")
        await strategy.initialize(_strategy_context(self, runner, orders))
        saved = self._state_keeper.saved_state_of(strategy_id)
        if saved is not None:
            strategy.on_load(saved)
        self._state_keeper.stateful[strategy_id] = strategy
        venue = self.gateways[gateway_id].data_venue
        for symbol in symbols:
            self.bus.subscribe(f"data.*.{venue}.{symbol}", runner.on_market_data)
            self.bus.subscribe(f"data.bar.{venue}.{symbol}.*", runner.on_market_data)
        # The strategy's order events and fills reach it on the bus, like everything else.
        self.bus.subscribe(f"order.{strategy_id}.*", runner.on_order_event)
        runner.start(own_task=not self.is_backtest)
        self._log.info("strategy.started", strategy_id=strategy_id, gateway=gateway_id,
                       symbols=symbols, plugin=type(strategy).__name__)

    def _on_strategy_failed(self, runner: StrategyRunner) -> None:
        self.bus.publish(f"strategy.{runner.strategy_id}.failed", runner.stats())

    async def stop_strategy(self, strategy_id: str) -> None:
        """Stop one strategy (intake off, ``shutdown()``); the others run on."""
        runner = self.runners[strategy_id]
        if runner.state is ComponentState.RUNNING:
            await runner.stop(self.config.kernel.strategy_shutdown_timeout)

    async def start_strategy(self, strategy_id: str) -> None:
        """Start a stopped or failed strategy again (``initialize()`` runs again)."""
        runner = self.runners[strategy_id]
        if runner.state is not ComponentState.RUNNING:
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

    async def _on_stop(self) -> None:
        # Services first: systemd hears STOPPING and the HTTP server closes before anything.
        await self._stop_services()
        kcfg = self.config.kernel
        deadline = time.monotonic() + kcfg.shutdown_timeout  # for the whole stop
        if kcfg.cancel_orders_on_stop and self._stack is not None:
            # Sent and answered while the gateways are still connected and streaming.
            report = await self.actions.cancel_all(wait=kcfg.shutdown_timeout / 2)
            log = self._log.info if report["ok"] else self._log.error
            log("kernel.orders_cancelled", requested=report["cancel_requested"],
                canceled=report["canceled"], still_open=report["still_open"])
        await self._unwind(max(0.0, deadline - time.monotonic()))
        if self.started_at_ns is None:
            return  # the start failed and unwound: nothing was running
        open_orders = [o.client_order_id for o in self.cache.open_orders()]
        if kcfg.cancel_orders_on_stop:
            self.orders_left_open = open_orders
        self._log.info("kernel.stopped", reason=self.stop_reason or "stopped",
                       open_order_ids=open_orders, **self.trading.summary())

    async def _unwind(self, seconds: float | None = None) -> None:
        stack, self._stack = self._stack, None
        seconds = self.config.kernel.shutdown_timeout if seconds is None else seconds
        try:
            async with asyncio.timeout(seconds):
                if stack is not None:
                    await stack.aclose()
        except TimeoutError:
            self._log.error("kernel.stop_timed_out", timeout=self.config.kernel.shutdown_timeout)

    async def run(self) -> None:
        """Start, run until a signal or ``request_stop``, then stop. For the CLI."""
        self.signals.install()
        try:
            await self.start()
            # Everything built at start lives as long as the process: keep it out of the
            # collector's generations so full collections stay short while trading.
            gc.collect()
            gc.freeze()
            await self.run_until_stopped()
        finally:
            await self.stop()
            self.signals.remove()
        self._state_keeper.raise_if_failed()  # never a clean exit after losing the store

    # -- observation ------------------------------------------------------------------------

    def _on_store_error(self, error: StateStoreError) -> None:
        self.request_stop(f"state store failed: {error}")

    def _heartbeat(self, event: TimeEvent) -> None:
        self._state_keeper.save()
        seen, at = self.cache.events_seen, time.monotonic()
        last_seen, last_at = self._heartbeat_last
        self._heartbeat_last = (seen, at)
        rate = (seen - last_seen) / (at - last_at) if at > last_at else 0.0
        # In a replay the kernel's clock is the data's: that is the market time to show.
        market = {"market_time": iso_utc(self.clock.timestamp_ns())} \
            if isinstance(self.clock, ReplayClock) else {}
        self._log.info("kernel.heartbeat", events_per_second=round(rate, 1), events=seen,
                       **market, **self._observed())

    def status(self) -> dict[str, Any]:
        """Return plain data describing the running kernel (for APIs and tests)."""
        return {"name": self.name, "state": self.state.value,
                "environment": self.environment, **self._observed()}

    def _observed(self) -> dict[str, Any]:
        """Return what the heartbeat and the status share: gateways, strategies, orders,
        positions, PnL and, for services linked to the outside (the fleet), ``links``."""
        links = link_reports(self.services)
        return {
            "gateways": {gid: self._gateway_status(gid, g) for gid, g in self.gateways.items()},
            "strategies": {sid: r.stats() for sid, r in self.runners.items()},
            **self.trading.summary(),
            **({"links": links} if links else {}),
        }

    def _gateway_status(self, gateway_id: str, gateway: GatewayPlugin) -> dict[str, Any]:
        part = self.gateway_parts.get(gateway_id)
        return {"connected": gateway.is_connected,
                "state": (part.state if part is not None else ComponentState.CREATED).value}

    # -- queries: what tests, tools and services read -----------------------------------------

    @property
    def portfolio(self) -> Portfolio:
        """Positions, balances and PnL of every strategy."""
        return self.trading.portfolio

    @property
    def trading_state(self) -> TradingState:
        """The risk engine's state: ACTIVE, REDUCING or HALTED."""
        return self.trading.risk.state

    def order(self, client_order_id: str) -> Order | None:
        """Return one order by client order id (``None`` if unknown)."""
        order: Order | None = self.cache.order(client_order_id)
        return order

    def open_orders(self, strategy_id: str | None = None, symbol: str | None = None
                    ) -> list[Order]:
        """Return the open orders (of one strategy, in one symbol)."""
        return self.cache.open_orders(strategy_id, symbol)

    def strategy_state(self, strategy_id: str) -> ComponentState:
        """Return one strategy's lifecycle state."""
        return self.runners[strategy_id].state

    def orders_for(self, strategy_id: str) -> StrategyOrders:
        """Return the order API of one strategy (what its context holds as ``orders``)."""
        return self.trading.orders_api(strategy_id, self.runners[strategy_id].gateway_id)

    @property
    def failed_strategies(self) -> list[str]:
        """Return the ids of the strategies that ended FAILED."""
        return [sid for sid, r in self.runners.items() if r.state is ComponentState.FAILED]


def _strategy_context(kernel: TradingKernel, runner: StrategyRunner,
                      orders: StrategyOrders) -> StrategyContext:
    """Return what one strategy's ``initialize`` receives."""
    return StrategyContext(
        strategy_id=runner.strategy_id,
        bus=kernel.bus,
        cache=kernel.cache,
        clock=kernel.clock,
        config=runner.params,
        symbols=runner.symbols,
        gateway=runner.gateway_id,
        orders=orders,
        portfolio=kernel.trading.portfolio,
        log=structlog.get_logger("libra.strategy").bind(strategy_id=runner.strategy_id),
        environment=kernel.environment,
    )
