"""OpsService: health, metrics, the control API, systemd notify and SIGHUP reload.

One component around a running ``TradingKernel``. The kernel starts it once
streaming has begun and stops it first at shutdown. It reads the kernel's public
attributes only (``state``, ``gateways``, ``runners``, ``trading``, ``cache``,
``bus``, ``config``, ``status()``); nothing on the hot path changes except two
lowest-priority bus subscribers (see ``metrics``).

Readiness is what an operator acts on, so it reports the venue as it is: a gateway that
lost its connection, or whose market data went silent, makes ``/readyz`` 503 and names
the stream and how long it has been silent; recovery makes it 200 again. The systemd
watchdog means something else: the process is alive and its loop responsive. A venue
outage is not fixed by restarting LIBRA, so it never stops the pings.

Freshness: a stream is *stale* when its last message is older than ``stale_after``
seconds. Ages come, in this order, from the gateway's ``stream_status()`` (one entry
per stream with ``silent_for`` or ``last_message_age`` and its own ``stale`` flag, as
the ccxt gateway reports), a ``last_message_age()`` taking no argument, or a replay
feed's ``last_emit_monotonic``; a replay that has finished is stale (no data comes any
more). A gateway with none of these (paper on another gateway's data) is not
measured and never stale. Before a first message the age counts from the stream's
start when the gateway reports it, else from the service's start. A gateway is stale
when any of its streams is. Connection: ``is_connected``, with the reasons from
``connection_problems()`` when the gateway has it.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from libra.core.lifecycle import BaseComponent, ComponentState
from libra.kernel.control import TRADING_ACTIONS, KernelControl, ServiceFactory
from libra.observability.http import OpsHttpServer
from libra.observability.metrics import OpsMetrics
from libra.observability.reload import ConfigReloader
from libra.observability.systemd import SystemdNotifier, WatchdogPinger, watchdog_interval

DEFAULT_STALE_AFTER = 60.0
__all__ = ["TRADING_ACTIONS", "OpsService", "StreamHealth", "ops_service", "stream_health"]


@dataclass(frozen=True, slots=True)
class StreamHealth:
    """How one gateway's connection and market data streams are doing.

    ``age`` is the oldest stream's age (None: not measured); ``streams`` holds each
    stream's ``{"age": seconds | None, "stale": bool}`` by stream name;
    ``disconnected`` why the gateway is not connected, when it says.
    """

    gateway: str
    connected: bool
    age: float | None
    stale: bool
    ended: bool
    streams: dict[str, dict[str, Any]] = field(default_factory=dict)
    disconnected: list[str] = field(default_factory=list)

    def problems(self, stale_after: float) -> list[str]:
        """Return why this gateway is not healthy (empty when it is)."""
        out = []
        if not self.connected:
            why = "; ".join(self.disconnected)
            out.append(f"gateway {self.gateway} is not connected" + (f": {why}" if why else ""))
        if self.ended:
            out.append(f"gateway {self.gateway} data stream has ended")
        elif self.stale:
            silent = [f"{name} silent {s['age']:.1f}s" for name, s in self.streams.items()
                      if s["stale"] and s["age"] is not None]
            out.append(f"gateway {self.gateway} data is stale: "
                       f"{', '.join(silent) or 'stream reported stale'} (limit {stale_after:g}s)")
        return out


def stream_health(gateway_id: str, gateway: Any, now: float, since: float,
                  stale_after: float) -> StreamHealth:
    """Measure one gateway's freshness at monotonic time ``now`` (see the module docstring)."""
    streams: dict[str, dict[str, Any]] = {}
    ended = False
    feed = getattr(gateway, "feed", None)
    if callable(getattr(gateway, "stream_status", None)):
        # Gateways with several streams (ccxt) report each with its own age and stale flag.
        for name, state in gateway.stream_status().items():
            age = state.get("silent_for", state.get("last_message_age"))
            age = now - since if age is None else float(age)
            streams[name] = {"age": age, "stale": bool(state.get("stale")) or age > stale_after}
    elif _takes_no_argument(getattr(gateway, "last_message_age", None)):
        value = gateway.last_message_age()
        age = now - since if value is None else float(value)
        streams["data"] = {"age": age, "stale": age > stale_after}
    elif feed is not None and hasattr(feed, "last_emit_monotonic"):
        last = feed.last_emit_monotonic
        age = now - since if last is None else now - last
        ended = bool(getattr(feed, "finished", False))
        streams["replay"] = {"age": age, "stale": ended or age > stale_after}
    elif getattr(gateway, "replay_events", None):
        streams["replay"] = {"age": now - since, "stale": now - since > stale_after}
    ages = [s["age"] for s in streams.values()]
    connected = bool(gateway.is_connected)
    reasons = getattr(gateway, "connection_problems", None)
    disconnected = [] if connected or not callable(reasons) else [str(r) for r in reasons()]
    return StreamHealth(gateway_id, connected, max(ages) if ages else None,
                        any(s["stale"] for s in streams.values()), ended, streams, disconnected)


def _takes_no_argument(method: Any) -> bool:
    if not callable(method):
        return False
    try:
        inspect.signature(method).bind()
    except (TypeError, ValueError):
        return False
    return True


class LoopMonitor:
    """Measure how late the event loop wakes a timer (its responsiveness)."""

    def __init__(self, interval: float = 0.25, max_lag: float = 1.0) -> None:
        self.interval = interval
        self.max_lag = max_lag
        self.lag = 0.0
        self.last_beat = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start measuring."""
        self.last_beat = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ops:loop-monitor")

    async def stop(self) -> None:
        """Stop measuring."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def problems(self, now: float | None = None) -> list[str]:
        """Return why the loop is not responsive (empty when it is)."""
        now = time.monotonic() if now is None else now
        silent = now - self.last_beat - self.interval
        if self._task is not None and silent > self.max_lag:
            return [f"event loop blocked for {silent:.2f}s"]
        if self.lag > self.max_lag:
            return [f"event loop lagged {self.lag:.2f}s"]
        return []

    async def _run(self) -> None:
        while True:
            due = time.monotonic() + self.interval
            await asyncio.sleep(self.interval)
            now = time.monotonic()
            self.lag = max(0.0, now - due)
            self.last_beat = now


class OpsService(BaseComponent):
    """Serve health, metrics and control for a kernel; talk to systemd; reload on SIGHUP.

    Args:
        kernel: the kernel to observe and control.
        config_path: the config file to re-read on SIGHUP (no reload when None).
        environ: environment to read ``NOTIFY_SOCKET`` / ``WATCHDOG_USEC`` from.
        stale_after: seconds after which a stream is stale (default: the kernel config's
            ``kernel.stale_data_after`` when present, else 60).
        per_topic_metrics: count market data events per topic (one bus handler).
        cache_ttl: seconds a rendered ``/metrics`` or ``/api/status`` body is reused.
    """

    def __init__(
        self,
        kernel: KernelControl,
        config_path: Path | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        stale_after: float | None = None,
        per_topic_metrics: bool = True,
        cache_ttl: float = 0.25,
    ) -> None:
        super().__init__("ops")
        self.cache_ttl = cache_ttl
        self.kernel = kernel
        self.config_path = config_path
        self._environ = environ
        self.stale_after = stale_after or float(
            getattr(kernel.config.kernel, "stale_data_after", DEFAULT_STALE_AFTER))
        self.notifier = SystemdNotifier(environ=environ)
        self.loop_monitor = LoopMonitor()
        self.metrics = OpsMetrics(kernel, self.streams, lambda: self.loop_monitor.lag,
                                  per_topic=per_topic_metrics)
        self.reloader = ConfigReloader(kernel, config_path, self.notifier, self.metrics.reloads)
        self.http: OpsHttpServer | None = None
        self.watchdog: WatchdogPinger | None = None
        self._since = time.monotonic()
        self._sighup = False

    # -- lifecycle --------------------------------------------------------------------------

    async def _on_start(self) -> None:
        self._since = time.monotonic()
        try:
            self.loop_monitor.start()
            self.metrics.attach()
            if self.kernel.config.http.enabled:
                self.http = OpsHttpServer(self)
                await self.http.start()
            interval = watchdog_interval(self._environ)
            if interval is not None and self.notifier.enabled:
                self.watchdog = WatchdogPinger(self.notifier, interval, self.health_problems,
                                               self.status_line)
                self.watchdog.start()
            if self.config_path is not None:
                self.kernel.signals.on_reload(self._on_sighup)
                self._sighup = True
        except BaseException:
            await self._release()
            raise
        self.notifier.ready(self.status_line("streaming"))
        self._log.info("ops.started", http_port=self.port, watchdog_interval=interval,
                       systemd=self.notifier.enabled, reload=self._sighup)

    async def _on_stop(self) -> None:
        self.notifier.stopping(f"stopping: {self.kernel.stop_reason or 'requested'}")
        await self._release()

    async def _release(self) -> None:
        if self._sighup:
            self.kernel.signals.remove_reload()
            self._sighup = False
        await self.reloader.wait()
        if self.watchdog is not None:
            await self.watchdog.stop()
            self.watchdog = None
        if self.http is not None:
            await self.http.stop()
            self.http = None
        await self.loop_monitor.stop()
        self.metrics.detach()
        self.notifier.close()

    def _on_sighup(self) -> None:
        self.reloader.schedule()

    @property
    def port(self) -> int | None:
        """Return the HTTP server's bound port (None when it does not run)."""
        return self.http.port if self.http is not None else None

    # -- health -----------------------------------------------------------------------------

    def streams(self) -> dict[str, StreamHealth]:
        """Return every gateway's connection and freshness."""
        now = time.monotonic()
        return {gid: stream_health(gid, gw, now, self._since, self.stale_after)
                for gid, gw in list(self.kernel.gateways.items())}

    def stream_problems(self) -> list[str]:
        """Return why a gateway is unhealthy (not connected, stale)."""
        return [p for h in self.streams().values() for p in h.problems(self.stale_after)]

    def health_problems(self) -> list[str]:
        """Return why the watchdog must not be pinged (empty: ping).

        The loop is stuck, or a finite replay has ended (a restart replays it). A venue
        that is down or silent is a readiness problem (:meth:`readiness`): restarting
        LIBRA does not bring it back, so it does not withhold the pings.
        """
        ended = [f"gateway {gid} data stream has ended"
                 for gid, health in self.streams().items() if health.ended]
        return self.loop_monitor.problems() + ended

    def readiness(self) -> list[str]:
        """Return why the daemon is not ready to trade (empty: ready)."""
        kernel = self.kernel
        reasons = []
        if kernel.state != "running":
            reasons.append(f"kernel is {kernel.state}")
        if not kernel.reconciled:
            reasons.append("reconciliation is not done")
        return reasons + self.stream_problems()

    def status_line(self, state: str | None = None) -> str:
        """Return a one-line summary for systemd's STATUS= (``state`` overrides the kernel's)."""
        kernel = self.kernel
        failed = [sid for sid, r in kernel.runners.items() if r.state is ComponentState.FAILED]
        return (f"{state or kernel.state}: {kernel.cache.events_seen} events, "
                f"{len(kernel.runners)} strategies ({len(failed)} failed), "
                f"trading {kernel.trading.risk.state.value}")

    def status(self) -> dict[str, Any]:
        """Return the daemon's state as JSON-safe data (for ``GET /api/status``)."""
        kernel = self.kernel
        data = kernel.status()
        snapshot = kernel.trading.portfolio.snapshot()
        reasons = self.readiness()
        data.update(
            ready=not reasons,
            not_ready=reasons,
            reconciled=kernel.reconciled,
            trading_state=kernel.trading.risk.state.value,
            streams={gid: asdict(h) for gid, h in self.streams().items()},
            balances=snapshot["balances"],
            portfolio=snapshot,
            open_order_list=[_order_json(o) for o in kernel.cache.open_orders()],
        )
        return data

    # -- control ----------------------------------------------------------------------------

    def set_trading_state(self, action: str) -> dict[str, Any]:
        """Apply ``halt`` / ``reduce`` / ``resume`` to the risk engine."""
        return self.kernel.actions.set_trading_state(action)

    async def cancel_all(self) -> dict[str, Any]:
        """Cancel every open order; report what the venue confirmed."""
        return await self.kernel.actions.cancel_all()

    async def flatten(self) -> dict[str, Any]:
        """Cancel every open order and close every position (in clips the limits allow)."""
        return await self.kernel.actions.flatten()

    def resume_strategy(self, strategy_id: str) -> dict[str, Any]:
        """Let a strategy the denial breaker paused place orders again."""
        return self.kernel.actions.resume_strategy(strategy_id)

    async def stop_strategy(self, strategy_id: str) -> dict[str, Any]:
        """Stop one strategy (intake off, its ``shutdown()``); the others run on.

        Raises:
            KeyError: no strategy has this id.
        """
        runner = self.kernel.runners[strategy_id]
        changed = runner.state is ComponentState.RUNNING
        if changed:
            await self.kernel.stop_strategy(strategy_id)
        return {"strategy_id": strategy_id, "state": runner.state.value, "changed": changed}

    async def start_strategy(self, strategy_id: str) -> dict[str, Any]:
        """Start a stopped or failed strategy again (its ``initialize()`` runs again).

        Raises:
            KeyError: no strategy has this id.
        """
        runner = self.kernel.runners[strategy_id]
        changed = runner.state is not ComponentState.RUNNING
        if changed:
            await self.kernel.start_strategy(strategy_id)
        return {"strategy_id": strategy_id, "state": runner.state.value, "changed": changed}


def ops_service(config_path: Path | None = None) -> ServiceFactory:
    """Return the factory ``libra run`` passes to ``TradingKernel(services=...)``."""

    def build(kernel: KernelControl) -> OpsService:
        return OpsService(kernel, config_path)

    return build


def _order_json(order: Any) -> dict[str, Any]:
    data = order.to_dict()
    data["fees"] = {k: str(v) for k, v in order.fees.items()}
    return {k: v if v is None or isinstance(v, (bool, int, str, dict)) else str(v)
            for k, v in data.items()}
