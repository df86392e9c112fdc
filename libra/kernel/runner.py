"""StrategyRunner: one strategy's inbox, its callback boundary and its health.

Live and paper: the bus handler puts each event in the runner's bounded inbox
and the runner's own task drains it, so a slow strategy delays only itself.
When market data arrives faster than the strategy takes it, the inbox is full
and market data is conflated (the latest event per topic wins; every event
replaced is counted as dropped). Order events and fills are never dropped.

Backtest: no task. The backtest engine delivers each event before it plays the next,
in timestamp order, so a run is deterministic: it awaits a market data event's hook
itself (``market_hook``) and hands the order events queued meanwhile to ``dispatch``.

An exception from any callback goes to ``callback_failed``: it is logged with the event,
counted, and after ``max_consecutive_errors`` in a row the strategy stops while the
rest of the kernel runs on.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import structlog

from libra.core.lifecycle import ComponentState
from libra.plugins.base import StrategyPlugin

_MARKET_KINDS = frozenset({"quote", "trade", "bar", "book"})
_TICK_KINDS = frozenset({"quote", "trade"})


class Commands(Protocol):
    """What a runner needs from the execution engine: to know when a callback runs, and to
    send the commands it placed right after it returns."""

    @property
    def has_pending(self) -> bool: ...

    def begin_callback(self) -> None: ...

    def end_callback(self) -> None: ...

    async def flush(self) -> None: ...


class _NoCommands:
    """Stands in for the execution engine when a runner has none (a strategy that never
    trades, in tests): nothing is ever pending."""

    has_pending = False

    def begin_callback(self) -> None:
        return None

    def end_callback(self) -> None:
        return None

    async def flush(self) -> None:
        return None


#: A runner goes through the kernel's one component state machine's states.
RunnerState = ComponentState

_RUNNING = RunnerState.RUNNING


def overrides(strategy: StrategyPlugin, method: str) -> bool:
    """Return whether ``strategy``'s class overrides a ``StrategyPlugin`` hook."""
    return getattr(type(strategy), method) is not getattr(StrategyPlugin, method)


class StrategyRunner:
    """Deliver events to one strategy, isolated from every other strategy."""

    def __init__(
        self,
        strategy_id: str,
        strategy: StrategyPlugin,
        inbox_size: int = 10_000,
        max_consecutive_errors: int = 10,
        drain_batch: int = 256,
        on_failed: Callable[[StrategyRunner], None] | None = None,
        commands: Commands | None = None,
        gateway_id: str = "",
        symbols: list[str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.strategy_id = strategy_id
        self.strategy = strategy
        #: The gateway this strategy trades on, its symbols and its validated params.
        self.gateway_id = gateway_id
        self.symbols = list(symbols or [])
        self.params = dict(params or {})
        self.inbox_size = inbox_size
        self.max_consecutive_errors = max_consecutive_errors
        self.drain_batch = drain_batch
        self._on_failed = on_failed
        # Orders a callback placed are sent by this task right after it returns.
        self._commands: Commands = commands if commands is not None else _NoCommands()
        tick_hook = strategy.on_tick if overrides(strategy, "on_tick") else strategy.on_data
        # Each event kind's hook, and whether it counts against the market data inbox.
        self._routes: dict[str, tuple[Callable[[Any], Awaitable[Any]], bool]] = {
            kind: (tick_hook if kind in _TICK_KINDS else strategy.on_data, True)
            for kind in _MARKET_KINDS
        }
        self._routes["filled"] = (strategy.on_fill, False)
        self._order_route = (strategy.on_order_update, False)
        self.state = RunnerState.CREATED
        self._inbox: deque[Any] = deque()
        self._market_queued = 0
        self._conflated: dict[str, Any] = {}
        self._wakeup = asyncio.Event()
        self._waiting = False
        self._task: asyncio.Task[None] | None = None
        self.events_in = 0
        self.events_handled = 0
        self.dropped = 0
        self.errors = 0
        self.consecutive_errors = 0
        self._log = structlog.get_logger("libra.strategy").bind(strategy_id=strategy_id)

    # -- intake (bus handlers; synchronous) ------------------------------------------------

    @property
    def inbox(self) -> deque[Any]:
        """The queued events, oldest first; the backtest engine drains it with ``dispatch``."""
        return self._inbox

    @property
    def depth(self) -> int:
        """Return how many events wait in the inbox."""
        return len(self._inbox) + len(self._conflated)

    @property
    def is_idle(self) -> bool:
        """Whether the runner has handled every event it took in (or takes none any more):
        nothing queued, no callback running."""
        # Every event taken in is handled, or dropped by conflation; events handled once the
        # callback returned, so a running callback counts as not handled.
        return self.state is not _RUNNING or self.events_handled + self.dropped == self.events_in

    def on_market_data(self, event: Any) -> None:
        """Queue one market data event, conflating when the inbox is full."""
        if self.state is not _RUNNING:
            return
        self.events_in += 1
        if self._market_queued < self.inbox_size:
            self._market_queued += 1
            self._inbox.append(event)
        else:
            topic = event.topic
            if topic in self._conflated:
                self.dropped += 1  # the previous latest event of this topic is replaced
            elif not self._conflated:
                self._log.warning(
                    "strategy.lagging", dropped=self.dropped, inbox_size=self.inbox_size
                )
            self._conflated[topic] = event
        if self._waiting:
            self._wakeup.set()

    def on_order_event(self, event: Any) -> None:
        """Queue one order event or fill; never dropped."""
        if self.state not in (RunnerState.RUNNING, RunnerState.CREATED):
            return
        self.events_in += 1
        self._inbox.append(event)
        if self._waiting:
            self._wakeup.set()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, *, own_task: bool = True) -> None:
        """Accept events; in live mode also start the draining task."""
        self.state = RunnerState.RUNNING
        if own_task:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"strategy:{self.strategy_id}"
            )

    async def stop(self, shutdown_seconds: float) -> None:
        """Stop intake, let the inbox drain briefly, then call ``shutdown()`` with a timeout."""
        if self.state is RunnerState.STOPPED:
            return  # already stopped (e.g. by an operator): shutdown() ran then
        if self.state is RunnerState.RUNNING:
            self.state = RunnerState.STOPPED
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            async with asyncio.timeout(shutdown_seconds):
                await self.call_shutdown()
        except TimeoutError:
            self._log.error("strategy.shutdown_timed_out", timeout=shutdown_seconds)
        self._log.info("strategy.stopped", events=self.events_handled, errors=self.errors,
                       dropped=self.dropped)

    # -- delivery --------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while self.state is RunnerState.RUNNING:
                if not self._inbox and not self._conflated:
                    self._waiting = True
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    self._waiting = False
                    continue
                await self.drain(self.drain_batch)
                # Let other strategies and the feed run between batches.
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug in delivery itself must not end the strategy silently.
            self._log.exception("strategy.runner_crashed")
            self.state = RunnerState.FAILED

    async def drain(self, limit: int | None = None) -> int:
        """Deliver queued events in order; return how many were delivered."""
        delivered = 0
        inbox = self._inbox
        while inbox or self._conflated:
            if not inbox:
                inbox.extend(self._conflated.values())
                self._market_queued += len(self._conflated)
                self._conflated.clear()
            event = inbox.popleft()
            await self.dispatch(event)
            delivered += 1
            if self.state is not RunnerState.RUNNING or (limit is not None and delivered >= limit):
                break
        return delivered

    def market_hook(self, kind: str) -> Callable[[Any], Awaitable[Any]] | None:
        """Return the strategy hook a market data event of ``kind`` goes to, or ``None``.

        For the backtest engine, which awaits the hook itself instead of queueing the event
        (see ``BacktestEngine._play_one``); it reports exceptions to ``callback_failed``.
        """
        route = self._routes.get(kind)
        return route[0] if route is not None and route[1] else None

    async def dispatch(self, event: Any) -> None:
        """Call the right strategy hook for one event, then send the orders it placed."""
        hook, market = self._routes.get(event.kind, self._order_route)
        if market:
            self._market_queued -= 1
        commands = self._commands
        commands.begin_callback()
        try:
            await hook(event)
        except Exception as exc:  # CancelledError is no Exception: it goes through
            self.callback_failed(hook, event, exc)
        else:
            if self.consecutive_errors:
                self.consecutive_errors = 0
        finally:
            commands.end_callback()
        self.events_handled += 1
        if commands.has_pending:
            await commands.flush()

    def callback_failed(self, hook: Callable[..., Any], event: Any, exc: Exception) -> None:
        """Log and count the exception ``hook`` raised on ``event``; after
        ``max_consecutive_errors`` in a row the strategy is FAILED."""
        name = getattr(hook, "__name__", "callback")
        self.errors += 1
        self.consecutive_errors += 1
        self._log.error(
            "strategy.callback_failed",
            callback=name,
            error=f"{type(exc).__name__}: {exc}",
            consecutive_errors=self.consecutive_errors,
            data=_summary(event),
            exc_info=exc,
        )
        if self.consecutive_errors >= self.max_consecutive_errors:
            self._fail(name)

    async def call_shutdown(self) -> None:
        """Call the strategy's ``shutdown()``; an exception is logged, not raised."""
        try:
            await self.strategy.shutdown()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors += 1
            self._log.error("strategy.callback_failed", callback="shutdown",
                            error=f"{type(exc).__name__}: {exc}", exc_info=exc)

    def _fail(self, callback: str) -> None:
        if self.state is RunnerState.FAILED:
            return
        self.state = RunnerState.FAILED
        self._inbox.clear()
        self._conflated.clear()
        self._log.error(
            "strategy.failed",
            reason=f"{self.consecutive_errors} consecutive errors in {callback}",
            errors=self.errors,
        )
        if self._on_failed is not None:
            self._on_failed(self)

    def stats(self) -> dict[str, Any]:
        """Return counters for the heartbeat and metrics."""
        return {
            "state": self.state.value,
            "inbox": self.depth,
            "events": self.events_handled,
            "dropped": self.dropped,
            "errors": self.errors,
        }


def _summary(event: Any) -> Any:
    if event is None:
        return None
    if hasattr(event, "to_dict"):
        return {k: str(v) for k, v in event.to_dict().items()}
    return repr(event)[:300]
