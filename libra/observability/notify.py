"""Notifications to people: fills, strategy trouble, trading state, venue health, errors
and a daily summary, sent through apprise (Telegram, Discord, Slack, e-mail, ntfy, a
JSON webhook, ...) to the targets of ``[notify]``.

Trading never waits for a notification. The handlers on the bus, the risk engine's
state listener and the log sink only format a short message and put it on each
interested target's bounded queue; a full queue drops the message and counts it. Each
target has its own queue and its own worker, so a target that is down or hangs delays
and drops only its own messages. A send runs apprise's blocking API in a thread of its
own, awaited for at most ``send_timeout``: the event loop never blocks on the network.
After a failed send a target pauses (1 s, doubling to 60 s, back to none after a send
that works), so a target that is down costs one attempt per pause, not one per message.

Counts: ``libra_notifications_total{target,result}`` (sent, failed, dropped) in
``/metrics``. A target is named in logs and errors by its ``name`` only; its URL is a
secret (it carries the bot token or the password) and is registered with the scrubber.
apprise's own logger is silenced: it would write a line per failed send, and it may
quote the URL before our scrubber sees it (``libra config check`` configures no logging).

Gateway health, a stopped strategy, a resumed one and the daily summary are found by a
check every ``check_interval`` seconds: they are states, not events on the bus. The
summary's time is read from ``clock`` (wall time, seconds since the epoch), injectable
so that a test can move it. Changes to ``[notify]`` take effect at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import Metric

from libra.core.config import KernelConfig, NotifyConfig
from libra.core.errors import ConfigError
from libra.core.lifecycle import BaseComponent, ComponentState
from libra.core.logtap import add_log_sink, remove_log_sink
from libra.core.throttle import LogThrottle
from libra.kernel.control import KernelControl, ServiceFactory
from libra.model.numbers import display, display_money
from libra.observability.service import DEFAULT_STALE_AFTER, stream_health
from libra.trading.risk import TradingState

INSTALL_HINT = "pip install 'libra-trader[notify]'"
RESULTS = ("sent", "failed", "dropped")
#: Keys of a log line that the error notification leaves out (the title has the event).
_LOG_NOISE = frozenset({"event", "level", "timestamp", "kernel", "logger", "exception",
                        "exc_info", "stack"})
_MAX_VALUE = 200
_MAX_FIELDS = 8
#: Seconds between two lines about one target's failures or drops.
_FAILURE_LOG_INTERVAL = 60.0
#: Seconds a target's sends pause after a failure: the first, and the most.
_MIN_BACKOFF = 1.0
_MAX_BACKOFF = 60.0


@dataclass(frozen=True, slots=True)
class Notification:
    """One message: the event it belongs to, a title, a body and apprise's type
    (``info``, ``success``, ``warning``, ``failure``)."""

    event: str
    title: str
    body: str
    severity: str = "info"


def load_apprise(where: str = "") -> Any:
    """Import apprise, with its logger silenced (see the module docstring).

    Raises:
        ConfigError: apprise is not installed.
    """
    try:
        with _quiet():
            import apprise
    except ImportError:
        raise ConfigError(
            f"{where}field notify.targets: notifications need apprise, which is not installed; "
            f"install it with: {INSTALL_HINT}", field="notify.targets") from None
    logging.getLogger("apprise").setLevel(logging.CRITICAL + 1)
    return apprise


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Ignore the deprecation warnings apprise's imports raise (``imghdr``): they are its
    business, not the operator's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def build_senders(config: NotifyConfig, where: str = "") -> dict[str, Any]:
    """Return one apprise service per target, by target name, with the send timeout set.

    Raises:
        ConfigError: apprise is missing, or refuses a target's URL (the target is named,
            never its URL).
    """
    if not config.targets:
        return {}
    apprise = load_apprise(where)
    senders = {}
    for index, target in enumerate(config.targets):
        url = target.url.get_secret_value()
        with _quiet():  # the first URL loads apprise's plugins
            sender = apprise.Apprise.instantiate(url, suppress_exceptions=True)
        if sender is None:
            scheme = url.split("://", 1)[0]
            raise ConfigError(
                f"{where}field notify.targets[{index}].url: target {target.name!r}: apprise "
                f"does not accept this URL (scheme {scheme!r}, or a part it needs is "
                "missing or malformed)", field=f"notify.targets[{index}].url")
        # Each service's own socket timeouts: a hung send gives its thread back in time.
        sender.socket_connect_timeout = config.send_timeout
        sender.socket_read_timeout = config.send_timeout
        senders[target.name] = sender
    return senders


def check_notify(config: NotifyConfig, where: str = "") -> None:
    """The pre-flight check of ``[notify]``: apprise installed, every URL accepted."""
    build_senders(config, where)


class _Target:
    __slots__ = ("backoff", "events", "name", "queue", "retry_at", "sender", "sending")

    def __init__(self, name: str, events: Iterable[str], sender: Any, size: int) -> None:
        self.name = name
        self.events = frozenset(events)
        self.sender = sender
        self.queue: asyncio.Queue[Notification] = asyncio.Queue(size)
        self.sending = False
        #: Seconds of the pause after the last failure (0: the last send worked).
        self.backoff = 0.0
        #: Monotonic time before which no send is tried.
        self.retry_at = 0.0

    def failed(self) -> None:
        """Pause this target's sends: 1 s after a failure, doubling up to a minute."""
        self.backoff = min(_MAX_BACKOFF, max(_MIN_BACKOFF, self.backoff * 2))
        self.retry_at = time.monotonic() + self.backoff


class Notifier(BaseComponent):
    """Send notifications about a running kernel to the targets of ``[notify]``.

    Args:
        kernel: the kernel to watch.
        config: the ``[notify]`` section.
        clock: wall time in seconds since the epoch (the daily summary's time).
        check_interval: seconds between two checks of gateways, strategies and the summary.
        stale_after: seconds without market data before a stream counts as stale
            (default: ``kernel.stale_data_after``).
    """

    def __init__(self, kernel: KernelControl, config: NotifyConfig, *,
                 clock: Callable[[], float] = time.time, check_interval: float = 1.0,
                 stale_after: float | None = None) -> None:
        super().__init__("notify")
        self.kernel = kernel
        self.config = config
        self.clock = clock
        self.check_interval = check_interval
        self.stale_after = stale_after or float(
            getattr(kernel.config.kernel, "stale_data_after", DEFAULT_STALE_AFTER))
        self.registry = CollectorRegistry(auto_describe=False)
        self.results = Counter("libra_notifications", "Notifications by target and result "
                               "(sent, failed, dropped)", ["target", "result"],
                               registry=self.registry)
        #: (target name, result) -> how many notifications.
        self.counts: dict[tuple[str, str], int] = {}
        for target in config.targets:
            for result in RESULTS:
                self.results.labels(target.name, result)
        self.targets: list[_Target] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._failure_log = LogThrottle(_FAILURE_LOG_INTERVAL)
        self._error_throttle = LogThrottle(config.error_interval)
        self._subscriptions: list[tuple[str, Callable[[Any], None]]] = []
        self._wanted: frozenset[str] = frozenset()
        self._since = time.monotonic()
        self._gateways_seen: dict[str, tuple[bool, bool]] = {}
        self._runners_seen: dict[str, ComponentState] = {}
        self._paused_seen: set[str] = set()
        self._fills_at_summary = 0
        self.summary_due: float | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def _on_start(self) -> None:
        senders = build_senders(self.config)
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._since = time.monotonic()
        self.targets = [_Target(t.name, t.events, senders[t.name], self.config.queue_size)
                        for t in self.config.targets]
        self._wanted = frozenset().union(*(t.events for t in self.targets))
        try:
            for target in self.targets:
                self._spawn(self._work(target), f"notify:{target.name}")
            self._attach()
            self._spawn(self._watch(), "notify:watch")
        except BaseException:
            self._detach()
            await self._cancel_tasks()
            raise
        self._log.info("notify.started", targets={t.name: sorted(t.events) for t in self.targets},
                       daily_summary_at=self.config.daily_summary_at if "summary" in self._wanted
                       else None)

    async def _on_stop(self) -> None:
        self._detach()
        for task in [t for t in self._tasks if t.get_name() == "notify:watch"]:
            task.cancel()
        # A target pausing after a failure is not waited for: it is most likely still down.
        now = time.monotonic()
        waiting = [asyncio.create_task(t.queue.join(), name=f"notify:drain:{t.name}")
                   for t in self.targets if (t.queue.qsize() or t.sending) and t.retry_at <= now]
        if waiting:
            _, late = await asyncio.wait(waiting, timeout=self.config.stop_timeout)
            for task in late:
                task.cancel()
        dropped = 0
        for target in self.targets:
            left = target.queue.qsize() + (1 if target.sending else 0)
            if left:
                self._count(target.name, "dropped", left)
                dropped += left
        await self._cancel_tasks()
        log = self._log.warning if dropped else self._log.info
        log("notify.stopped", dropped_at_stop=dropped, **self.totals())

    async def _cancel_tasks(self) -> None:
        tasks, self._tasks = list(self._tasks), set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coroutine: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def totals(self) -> dict[str, int]:
        """Return how many notifications were sent, failed and dropped, over all targets."""
        out = dict.fromkeys(RESULTS, 0)
        for (_, result), count in self.counts.items():
            out[result] += count
        return out

    def _count(self, target: str, result: str, number: int = 1) -> None:
        self.counts[target, result] = self.counts.get((target, result), 0) + number
        self.results.labels(target, result).inc(number)

    def collect_metrics(self) -> Iterable[Metric]:
        """Yield ``libra_notifications_total`` (read by ``/metrics``)."""
        return self.registry.collect()

    # -- what is listened to ----------------------------------------------------------------

    def _attach(self) -> None:
        kernel, wanted = self.kernel, self._wanted
        if "fill" in wanted:
            self._subscribe("order.*.filled", self._on_fill)
        if "strategy" in wanted:
            self._subscribe("strategy.*.paused", self._on_paused)
            for sid in list(kernel.runners):
                self._subscribe(f"strategy.{sid}.failed", self._failed_handler(sid))
        if "risk" in wanted:
            kernel.trading.risk.state_listeners.append(self._on_trading_state)
        if "error" in wanted:
            add_log_sink(self._on_log_line)
        self._runners_seen = {sid: r.state for sid, r in kernel.runners.items()}
        self._paused_seen = set(kernel.trading.risk.paused)
        if "summary" in wanted:
            self.summary_due = self.next_summary(self.clock())
            self._fills_at_summary = kernel.trading.counts.get("filled", 0)

    def _detach(self) -> None:
        for pattern, handler in self._subscriptions:
            self.kernel.bus.unsubscribe(pattern, handler)
        self._subscriptions.clear()
        listeners = self.kernel.trading.risk.state_listeners
        if self._on_trading_state in listeners:
            listeners.remove(self._on_trading_state)
        remove_log_sink(self._on_log_line)

    def _subscribe(self, pattern: str, handler: Callable[[Any], None]) -> None:
        # The lowest priority: every handler that trades has run before a message is built.
        self.kernel.bus.subscribe(pattern, handler, priority=-1000)
        self._subscriptions.append((pattern, handler))

    # -- queueing ---------------------------------------------------------------------------

    def notify(self, note: Notification) -> None:
        """Queue ``note`` for every target that receives its event; never waits.

        Safe from any thread (a log line of a library's worker thread).
        """
        loop = self._loop
        if loop is None or self.state is not ComponentState.RUNNING:
            return
        if threading.get_ident() != self._loop_thread:
            loop.call_soon_threadsafe(self.notify, note)
            return
        for target in self.targets:
            if note.event not in target.events:
                continue
            try:
                target.queue.put_nowait(note)
            except asyncio.QueueFull:
                self._count(target.name, "dropped")
                self._log_trouble(target, "notify.dropped", reason="queue full",
                                  queue_size=self.config.queue_size)

    async def _work(self, target: _Target) -> None:
        while True:
            note = await target.queue.get()
            target.sending = True
            try:
                # A target that is down is tried once per pause, not once per message: a
                # send costs a thread and CPU the replay or the venue's stream needs.
                delay = target.retry_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if await self._send(target, note):
                    target.backoff = 0.0
                else:
                    target.failed()
            finally:
                target.sending = False
                target.queue.task_done()

    async def _send(self, target: _Target, note: Notification) -> bool:
        reason = None
        try:
            async with asyncio.timeout(self.config.send_timeout):
                sent = await _in_thread(target, note)
            if not sent:
                reason = "the service refused it or could not be reached"
        except TimeoutError:
            reason = f"no answer within {self.config.send_timeout:g}s"
        except Exception as exc:  # apprise is the edge: one bad send never ends the worker
            reason = type(exc).__name__
        if reason is None:
            self._count(target.name, "sent")
            return True
        self._count(target.name, "failed")
        self._log_trouble(target, "notify.send_failed", reason=reason, event_kind=note.event)
        return False

    def _log_trouble(self, target: _Target, event: str, **fields: Any) -> None:
        held = self._failure_log.due((target.name, event))
        if held is not None:
            # Warning, not error: an error line would itself become a notification.
            self._log.warning(event, target=target.name, held_back=held, **fields)

    # -- events -----------------------------------------------------------------------------

    def _on_fill(self, fill: Any) -> None:
        self.notify(fill_notification(self.kernel, fill))

    def _on_paused(self, message: Any) -> None:
        sid = message.get("strategy_id", "?")
        self._paused_seen.add(sid)
        self.notify(Notification(
            "strategy", f"{self.kernel.name}: strategy {sid} paused",
            f"The denial breaker holds its new orders: {message.get('reason', '')}\n"
            f"Resume it with: libra ctl resume-strategy {sid}", "warning"))

    def _failed_handler(self, strategy_id: str) -> Callable[[Any], None]:
        def on_failed(stats: Any) -> None:
            self._runners_seen[strategy_id] = ComponentState.FAILED
            self._strategy_failed(strategy_id, stats)
        return on_failed

    def _strategy_failed(self, strategy_id: str, stats: Any) -> None:
        errors = stats.get("errors") if isinstance(stats, dict) else None
        detail = f" after {errors} callback errors" if errors else ""
        self.notify(Notification(
            "strategy", f"{self.kernel.name}: strategy {strategy_id} failed",
            f"It stopped trading{detail}; the other strategies go on. Its errors are in the "
            f"log (strategy.callback_failed). Start it again with: libra ctl start-strategy "
            f"{strategy_id}", "failure"))

    def _on_trading_state(self, previous: TradingState, new: TradingState, reason: str) -> None:
        severity = "success" if new is TradingState.ACTIVE else "warning"
        self.notify(Notification(
            "risk", f"{self.kernel.name}: trading {new.value}",
            f"Trading state {previous.value} -> {new.value}: {reason}", severity))

    def _on_log_line(self, level: str, line: dict[str, Any]) -> None:
        if level != "error":
            return
        if threading.get_ident() != self._loop_thread:
            loop = self._loop
            if loop is not None:
                loop.call_soon_threadsafe(self._on_log_line, level, line)
            return
        event = str(line.get("event", "error"))
        if event.startswith("notify.") or str(line.get("logger", "")).startswith("apprise"):
            return
        held = self._error_throttle.due(event)
        if held is None:
            return
        fields = [f"{k}={_short(v)}" for k, v in line.items() if k not in _LOG_NOISE]
        body = "\n".join(fields[:_MAX_FIELDS]) or event
        if held:
            body += f"\n({held} more {event} since the last notification)"
        self.notify(Notification("error", f"{self.kernel.name}: error {event}", body,
                                 "failure"))

    # -- states checked every check_interval ------------------------------------------------

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.check_interval)
            try:
                self.check()
            except Exception:  # a bug here must not end the checks for good
                self._log.warning("notify.check_failed", exc_info=True)

    def check(self) -> None:
        """Compare gateways, strategies and the clock with what was last seen; notify
        what changed, and the daily summary when it is due."""
        wanted = self._wanted
        if "gateway" in wanted:
            self._check_gateways()
        if "strategy" in wanted:
            self._check_strategies()
        if self.summary_due is not None and self.clock() >= self.summary_due:
            self.notify(self.summary())
            self._fills_at_summary = self.kernel.trading.counts.get("filled", 0)
            self.summary_due = self.next_summary(self.clock())

    def _check_gateways(self) -> None:
        name, now = self.kernel.name, time.monotonic()
        for gid, gateway in list(self.kernel.gateways.items()):
            health = stream_health(gid, gateway, now, self._since, self.stale_after)
            was_connected, was_stale = self._gateways_seen.get(gid, (True, False))
            stale = health.stale or health.ended
            self._gateways_seen[gid] = (health.connected, stale)
            if health.connected != was_connected:
                if health.connected:
                    self.notify(Notification("gateway", f"{name}: gateway {gid} is back up",
                                             "Connected again.", "success"))
                else:
                    why = "; ".join(health.disconnected) or "connection lost"
                    self.notify(Notification("gateway", f"{name}: gateway {gid} is down", why,
                                             "warning"))
            if stale != was_stale:
                if health.ended:
                    self.notify(Notification("gateway", f"{name}: gateway {gid} data ended",
                                             "The replay has no more events.", "info"))
                elif stale:
                    problems = health.problems(self.stale_after)
                    self.notify(Notification("gateway", f"{name}: gateway {gid} data is stale",
                                             "\n".join(problems), "warning"))
                else:
                    self.notify(Notification("gateway", f"{name}: gateway {gid} data is fresh",
                                             "Market data flows again.", "success"))

    def _check_strategies(self) -> None:
        name = self.kernel.name
        for sid, runner in list(self.kernel.runners.items()):
            state = runner.state
            before = self._runners_seen.get(sid, state)
            self._runners_seen[sid] = state
            if state is before:
                continue
            if state is ComponentState.FAILED:
                self._strategy_failed(sid, runner.stats())
            elif state is ComponentState.STOPPED:
                self.notify(Notification("strategy", f"{name}: strategy {sid} stopped",
                                         f"It was {before.value}.", "warning"))
            elif state is ComponentState.RUNNING:
                self.notify(Notification("strategy", f"{name}: strategy {sid} running again",
                                         f"It was {before.value}.", "success"))
        paused = set(self.kernel.trading.risk.paused)
        for sid in sorted(self._paused_seen - paused):
            self.notify(Notification("strategy", f"{name}: strategy {sid} resumed",
                                     "The denial breaker lets its orders through again.",
                                     "success"))
        self._paused_seen = paused

    # -- the daily summary ------------------------------------------------------------------

    def next_summary(self, now: float) -> float:
        """Return the first ``daily_summary_at`` (UTC) strictly after ``now``."""
        hour, minute = self.config.summary_time
        moment = dt.datetime.fromtimestamp(now, dt.UTC)
        at = moment.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if at.timestamp() <= now:
            at += dt.timedelta(days=1)
        return at.timestamp()

    def summary(self) -> Notification:
        """Return the summary: trading state, fills, PnL and positions per strategy."""
        fills = self.kernel.trading.counts.get("filled", 0)
        return daily_summary(self.kernel, fills - self._fills_at_summary, self.clock())


def fill_notification(kernel: KernelControl, fill: Any) -> Notification:
    """Return the message of one fill, its numbers at the instrument's precision."""
    instrument = kernel.cache.instrument(fill.symbol)
    tick = lot = None
    if instrument is not None:
        tick, lot = instrument.tick_size, instrument.lot_size
    position = kernel.trading.portfolio.position(fill.strategy_id, fill.symbol)
    quote = position.quote if position is not None else fill.fee_currency
    lines = [f"strategy {fill.strategy_id} on {fill.venue}",
             f"notional {display_money(fill.quantity * fill.price, quote)} {quote}, "
             f"fee {display_money(fill.fee, fill.fee_currency)} {fill.fee_currency}"]
    if position is not None:
        lines.append(f"position {display(position.quantity, lot)} {fill.symbol}, "
                     f"realized PnL {display_money(position.realized_pnl, quote)} {quote}")
    order = kernel.cache.order(fill.client_order_id)
    if order is not None:
        lines.append(f"order {order.client_order_id}: filled "
                     f"{display(order.filled_quantity, lot)} of "
                     f"{display(order.quantity, lot)} ({order.status.value})")
    side = "BUY" if fill.is_buy else "SELL"
    return Notification(
        "fill", f"{kernel.name}: {side} {display(fill.quantity, lot)} {fill.symbol} @ "
        f"{display(fill.price, tick)}", "\n".join(lines))


def daily_summary(kernel: KernelControl, fills_since: int, now: float) -> Notification:
    """Return the daily summary at wall time ``now``: kernel and trading state, fills (since
    the last summary and since start), PnL per strategy, open positions."""
    trading = kernel.trading
    portfolio = trading.portfolio
    day = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"kernel {kernel.state.value}, trading {trading.risk.state.value}",
             f"fills: {fills_since} since the last summary, "
             f"{trading.counts.get('filled', 0)} since start",
             f"open orders: {kernel.cache.open_order_count()}"]
    for sid, runner in sorted(kernel.runners.items()):
        pnl = []
        for kind, values in (("realized", portfolio.realized_pnl(sid)),
                             ("unrealized", portfolio.unrealized_pnl(sid)),
                             ("fees", portfolio.fees(sid))):
            pnl += [f"{kind} {display_money(v, c)} {c}" for c, v in sorted(values.items())]
        paused = " paused" if sid in trading.risk.paused else ""
        lines.append(f"{sid} ({runner.state.value}{paused}): {', '.join(pnl) or 'no PnL'}")
    for position in portfolio.positions(open_only=True):
        instrument = kernel.cache.instrument(position.symbol)
        lot = instrument.lot_size if instrument is not None else None
        tick = instrument.tick_size if instrument is not None else None
        entry = getattr(position, "avg_entry_price", None)
        at = f" @ {display(entry, tick)}" if isinstance(entry, Decimal) else ""
        lines.append(f"position {position.strategy_id} {position.symbol}: "
                     f"{display(position.quantity, lot)}{at}")
    return Notification("summary", f"{kernel.name}: daily summary {day}", "\n".join(lines))


def _in_thread(target: _Target, note: Notification) -> asyncio.Future[bool]:
    """Send ``note`` with apprise's blocking API in a thread of its own; return a future
    of whether it was sent.

    A daemon thread per send, not a pool: a target that hangs holds only its own threads
    (at most one per ``send_timeout``, each ending at the socket timeouts), never a
    worker another target needs, and never delays the process's exit.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[bool] = loop.create_future()

    def settle(sent: bool, error: BaseException | None) -> None:
        if future.done():  # given up on already (timeout, stop)
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(sent)

    def send() -> None:
        sent, error = False, None
        try:
            with _quiet():
                sent = bool(target.sender.notify(body=note.body, title=note.title,
                                                 notify_type=note.severity))
        except Exception as exc:  # apprise is the edge: the worker reports it
            error = exc
        # RuntimeError: the loop closed while this send hung; nobody waits any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, sent, error)

    threading.Thread(target=send, name=f"notify:{target.name}", daemon=True).start()
    return future


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 3] + "..."


def notify_service(config: NotifyConfig, **options: Any) -> ServiceFactory:
    """Return the factory ``libra run`` passes to ``TradingKernel(services=...)``."""

    def build(kernel: KernelControl) -> Notifier:
        return Notifier(kernel, config, **options)

    return build


def notify_services(config: KernelConfig) -> list[ServiceFactory]:
    """Return the notifier's factory when ``[notify]`` has targets and the daemon trades
    (a backtest notifies no one); otherwise nothing, and apprise is never imported."""
    if not config.notify.targets or config.environment == "backtest":
        return []
    return [notify_service(config.notify)]
