"""FleetService: one daemon's link to the fleet over NATS JetStream.

A service around the kernel (``libra.kernel.control.ServiceFactory``), built only when
the config has a ``[fleet]`` section; without it, nothing here (nor ``nats``) is
imported. It does three things:

* **events out**: order events and fills (a bus subscriber at the lowest priority),
  strategy state changes (``strategy.*`` topics), risk state changes and every warning
  and error line (the log tap), and on its own timer a heartbeat and a position
  snapshot, all through ``FleetPublisher``, which trading never waits for;
* **commands in**: signed halt / reduce / resume / flatten / cancel-all on
  ``libra.<fleet>.control.<kernel>`` and ``.control.all``, applied through
  ``OperatorActions`` (the HTTP API's answers), answered signed, logged like the HTTP
  control actions;
* **the link's state** (``link_report``), which the kernel puts in its status, its
  heartbeat line and the metrics. It is not part of readiness: a daemon that cannot
  reach NATS still trades, and restarting it would not bring NATS back.

NATS may be down when the daemon starts: the service starts anyway, keeps connecting
in the background, and sends what it buffered once it can.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from importlib.util import find_spec
from typing import Any

from libra.core.config import FleetSection, KernelConfig
from libra.core.errors import ConfigError
from libra.core.lifecycle import BaseComponent
from libra.core.logtap import add_log_sink, remove_log_sink
from libra.core.redaction import scrub
from libra.fleet.protocol import (
    SIGNATURE_HEADER,
    CommandRefused,
    CommandVerifier,
    answer_body,
    check_kernel_name,
    control_subject,
    sign,
    stream_name,
    stream_subjects,
)
from libra.fleet.publisher import FleetPublisher
from libra.kernel.control import TRADING_ACTIONS, KernelControl, ServiceFactory

#: A command body is a few hundred bytes; anything far larger is not ours.
MAX_COMMAND_BYTES = 4096
#: Seconds JetStream remembers a message id to discard a resend.
DUPLICATE_WINDOW = 120.0
_RETRY_MIN, _RETRY_MAX = 0.2, 5.0
#: Lowest bus priority: every other handler of an order event has run first.
_BUS_PRIORITY = -1_000
_LINK_LOG_EVERY = 30.0
#: Seconds the sender lets events gather before it sends a window that is not full:
#: one window per linger instead of one per event keeps the link's share of the event
#: loop (its task switches, the client's flushes and acks) small while trading is busy.
LINGER = 0.05


def fleet_service(config: KernelConfig) -> ServiceFactory:
    """Return the factory ``libra run`` passes to ``TradingKernel(services=...)``.

    Raises:
        ConfigError: the config has no ``[fleet]`` section, the kernel's name cannot be a
            NATS subject token, or nats-py is not installed.
    """
    fleet = config.fleet
    if fleet is None:
        raise ConfigError("field fleet: the section is missing", field="fleet")
    problem = check_kernel_name(config.kernel.name)
    if problem is not None:
        raise ConfigError(f"field kernel.name: {problem}", field="kernel.name")
    if find_spec("nats") is None:
        raise ConfigError("field fleet: the fleet link needs nats-py; install it with "
                          "pip install 'libra-trader[nats]'", field="fleet")

    def build(kernel: KernelControl) -> FleetService:
        return FleetService(kernel, fleet)

    return build


class FleetService(BaseComponent):
    """Publish a kernel's events to JetStream and apply signed fleet commands."""

    def __init__(self, kernel: KernelControl, config: FleetSection) -> None:
        super().__init__("fleet")
        self.kernel = kernel
        self.config = config
        self.publisher = FleetPublisher(config.name, kernel.name, config.buffer_size,
                                        config.publish_window)
        self.verifier = CommandVerifier(config.name, kernel.name, config.command_max_age)
        self.link = "connecting"
        self.commands = {"applied": 0, "incomplete": 0, "refused": 0}
        self.host = socket.gethostname()
        self._nc: Any = None
        self._connected = asyncio.Event()
        self._stream_ready = False
        self._link_task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._last_link_log = 0.0
        self._stopping = False

    # -- lifecycle --------------------------------------------------------------------------

    async def _on_start(self) -> None:
        self._stopping = False
        bus = self.kernel.bus
        bus.subscribe("order.**", self._on_order_event, priority=_BUS_PRIORITY)
        bus.subscribe("strategy.**", self._on_strategy_event, priority=_BUS_PRIORITY)
        add_log_sink(self._on_log_line)
        self._link_task = asyncio.create_task(self._run_link(), name="fleet:link")
        self._heartbeat_task = asyncio.create_task(self._run_heartbeat(), name="fleet:heartbeat")
        for task in (self._link_task, self._heartbeat_task):
            task.add_done_callback(self._on_task_done)
        self._log.info("fleet.started", fleet=self.config.name, servers=len(self.config.servers),
                       stream=stream_name(self.config.name))

    async def _on_stop(self) -> None:
        self._stopping = True
        remove_log_sink(self._on_log_line)
        bus = self.kernel.bus
        bus.unsubscribe("order.**", self._on_order_event)
        bus.unsubscribe("strategy.**", self._on_strategy_event)
        # A last heartbeat says the daemon is stopping; flushed with what is buffered.
        self.publisher.offer("heartbeat", self.heartbeat())
        await _cancel(self._heartbeat_task)
        await self._flush(min(2.0, self.kernel.config.kernel.shutdown_timeout / 4))
        await _cancel(self._link_task)
        self._link_task = self._heartbeat_task = None
        nc, self._nc = self._nc, None
        if nc is not None:
            try:
                async with asyncio.timeout(2.0):
                    await nc.close()
            except Exception:  # closing a dead link: nothing more to do
                pass
        self.link = "closed"
        self._log.info("fleet.stopped", **self.publisher.stats())

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        """Log a task that ended by itself: the link is gone for good, trading goes on."""
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self.link = "failed"
            self._log.error("fleet.task_failed", task=task.get_name(),
                            error=f"{type(error).__name__}: {error}")

    async def _flush(self, seconds: float) -> None:
        """Give the sender up to ``seconds`` to send what is buffered (when linked)."""
        if not self._connected.is_set():
            return  # buffered events are lost with the process: the outage is in the log
        try:
            async with asyncio.timeout(seconds):
                await self.publisher.wait_empty()
        except TimeoutError:
            self._log.warning("fleet.unsent_at_stop", buffered=self.publisher.buffered)

    # -- the link ---------------------------------------------------------------------------

    async def _connect(self) -> Any:
        import nats

        config = self.config
        options: dict[str, Any] = {
            "servers": list(config.servers), "name": f"libra-{self.kernel.name}",
            "connect_timeout": config.connect_timeout, "allow_reconnect": True,
            "max_reconnect_attempts": -1, "reconnect_time_wait": 0.5,
            "disconnected_cb": self._on_disconnected, "reconnected_cb": self._on_reconnected,
            "error_cb": self._on_error, "closed_cb": self._on_closed,
        }
        if config.user is not None and config.password is not None:
            options.update(user=config.user, password=config.password.get_secret_value())
        if config.creds_file is not None:
            options["user_credentials"] = config.creds_file
        delay = _RETRY_MIN
        while True:
            try:
                return await nats.connect(**options)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the server is down or refuses: retry, keep trading
                self._link_problem("fleet.connect_failed", exc)
                await asyncio.sleep(delay)
                delay = min(_RETRY_MAX, delay * 2)

    async def _run_link(self) -> None:
        nc = self._nc = await self._connect()
        self.link = "connected"
        self._connected.set()
        self._log.info("fleet.connected", fleet=self.config.name)
        for subject in (control_subject(self.config.name, self.kernel.name),
                        control_subject(self.config.name)):
            await nc.subscribe(subject, cb=self._on_command)
        js = nc.jetstream(publish_async_max_pending=max(4000, 2 * self.config.publish_window))
        publisher = self.publisher
        delay = _RETRY_MIN
        while True:
            await publisher.wait_for_events()
            if publisher.buffered < publisher.window:
                await asyncio.sleep(LINGER)
            if not self._connected.is_set():
                await self._connected.wait()
                continue
            try:
                if not self._stream_ready:
                    await self._ensure_stream(js)
                await publisher.send_window(nc, js)
                delay = _RETRY_MIN
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the link failed mid-window: it was put back
                self._stream_ready = False
                self._link_problem("fleet.publish_failed", exc)
                await asyncio.sleep(delay)
                delay = min(_RETRY_MAX, delay * 2)

    async def _ensure_stream(self, js: Any) -> None:
        """Create the fleet's stream when it is missing; leave an existing one as it is
        (the desk may have set its own retention)."""
        from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
        from nats.js.errors import NotFoundError

        name = stream_name(self.config.name)
        try:
            await js.stream_info(name)
        except NotFoundError:
            await js.add_stream(StreamConfig(
                name=name, subjects=stream_subjects(self.config.name),
                retention=RetentionPolicy.LIMITS, discard=DiscardPolicy.OLD,
                storage=StorageType.FILE, max_age=self.config.stream_max_age,
                max_bytes=self.config.stream_max_bytes, duplicate_window=DUPLICATE_WINDOW,
                num_replicas=self.config.stream_replicas))
            self._log.info("fleet.stream_created", stream=name,
                           max_age=self.config.stream_max_age)
        self._stream_ready = True

    async def _on_disconnected(self) -> None:
        if self._connected.is_set() and not self._stopping:
            self._connected.clear()
            self.link = "disconnected"
            self._stream_ready = False
            self._log.warning("fleet.disconnected", buffered=self.publisher.buffered)

    async def _on_reconnected(self) -> None:
        self.link = "connected"
        self._connected.set()
        self._log.info("fleet.reconnected", buffered=self.publisher.buffered)

    async def _on_error(self, exc: Exception) -> None:
        self._link_problem("fleet.link_error", exc)

    async def _on_closed(self) -> None:
        self._connected.clear()
        self.link = "closed"

    def _link_problem(self, event: str, exc: BaseException) -> None:
        """Log a link problem at most every ``_LINK_LOG_EVERY`` s (an outage is not a flood)."""
        self.publisher.last_error = scrub(f"{type(exc).__name__}: {exc}")[:300]
        now = time.monotonic()
        if now - self._last_link_log >= _LINK_LOG_EVERY:
            self._last_link_log = now
            self._log.warning(event, error=self.publisher.last_error,
                              buffered=self.publisher.buffered, dropped=self.publisher.dropped)

    # -- events out -------------------------------------------------------------------------

    def _on_order_event(self, event: Any) -> None:
        self.publisher.offer("fill" if getattr(event, "kind", "") == "filled" else "order", event)

    def _on_strategy_event(self, data: Any) -> None:
        self.publisher.offer("strategy", data)

    def _on_log_line(self, level: str, line: dict[str, Any]) -> None:
        kind = "risk" if line.get("event") == "risk.trading_state_changed" else "log"
        line["level"] = level
        self.publisher.offer(kind, line)

    async def _run_heartbeat(self) -> None:
        while True:
            try:
                self.publisher.offer("heartbeat", self.heartbeat())
                self.publisher.offer("position", self.kernel.trading.portfolio.snapshot())
            except Exception:  # a view of the kernel failed: the next beat tries again
                self._log.error("fleet.heartbeat_failed", exc_info=True)
            await asyncio.sleep(self.config.heartbeat_interval)

    def heartbeat(self) -> dict[str, Any]:
        """Return what ``libra fleet status`` shows of this daemon (JSON-safe)."""
        kernel = self.kernel
        summary = kernel.trading.summary()
        snapshot = kernel.trading.portfolio.snapshot()
        started = kernel.started_at_ns
        return {
            "kernel": kernel.name, "host": self.host, "pid": os.getpid(),
            "environment": kernel.environment, "state": kernel.state.value,
            "trading_state": kernel.trading.risk.state.value,
            "uptime": None if started is None else round(time.time() - started / 1e9, 3),
            "interval": self.config.heartbeat_interval,
            "events": kernel.cache.events_seen,
            "gateways": {gid: {"connected": bool(g.is_connected)}
                         for gid, g in kernel.gateways.items()},
            "strategies": {sid: {"state": r.state.value} for sid, r in kernel.runners.items()},
            "positions": snapshot["positions"], "marks": snapshot["marks"],
            "pnl": summary["pnl"], "open_orders": summary["open_orders"],
            "orders": summary["orders"], "link": self.link_report(),
        }

    def link_report(self) -> dict[str, Any]:
        """Return the link's state for the kernel's status, heartbeat line and metrics."""
        return {"link": self.link, "connected": self.link == "connected",
                "fleet": self.config.name, **self.publisher.stats(),
                "commands": dict(self.commands)}

    # -- commands in ------------------------------------------------------------------------

    def _token(self) -> str | None:
        token = self.kernel.config.http.token  # read per command: a reload may rotate it
        return (token.get_secret_value() if token is not None else "") or None

    async def _on_command(self, msg: Any) -> None:
        token = self._token()
        headers = msg.headers or {}
        try:
            if len(msg.data) > MAX_COMMAND_BYTES:
                raise CommandRefused(f"command larger than {MAX_COMMAND_BYTES} bytes")
            command = self.verifier.verify(token, msg.data, headers.get(SIGNATURE_HEADER))
        except CommandRefused as exc:
            self.commands["refused"] += 1
            self._log.warning("fleet.command_refused", reason=exc.reason,
                              command_id=exc.command_id, subject=msg.subject)
            await self._answer(msg, token, answer_body(exc.command_id, self.kernel.name, None,
                                                       refused=exc.reason))
            return
        try:
            result = await self._apply(command.action)
        except Exception as exc:  # the action itself failed: say so, signed
            self._log.error("fleet.command_failed", action=command.action,
                            command_id=command.id, exc_info=True)
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        ok = bool(result.get("ok", True))
        self.commands["applied" if ok else "incomplete"] += 1
        log = self._log.warning if ok else self._log.error
        log("fleet.command_applied" if ok else "fleet.command_incomplete",
            action=command.action, command_id=command.id, subject=msg.subject, **result)
        await self._answer(msg, token, answer_body(command.id, self.kernel.name, command.action,
                                                   result=result))

    async def _apply(self, action: str) -> dict[str, Any]:
        actions = self.kernel.actions
        if action in TRADING_ACTIONS:
            return actions.set_trading_state(action)
        if action == "cancel-all":
            return await actions.cancel_all()
        return await actions.flatten()

    async def _answer(self, msg: Any, token: str | None, body: bytes) -> None:
        if not msg.reply or self._nc is None:
            return
        headers = {SIGNATURE_HEADER: sign(token, body)} if token else None
        try:
            await self._nc.publish(msg.reply, body, headers=headers)
        except Exception as exc:  # the link dropped between the command and the answer
            self._link_problem("fleet.answer_failed", exc)


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
