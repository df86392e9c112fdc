"""Prometheus metrics of one kernel, in a registry of its own (never the global one).

Almost everything is read at scrape time from counters the kernel already keeps
(``KernelCollector``): the hot path pays nothing for them. Two things need a bus
subscriber, both at the lowest priority:

* ``libra_events_in_total{topic}``: one call per market data event that reads the
  event's topic and increments a dict entry (about 0.2-0.3 µs per event, measured by
  ``benchmarks/http_load.py``); switch it off with ``per_topic=False``.
* ``libra_fill_latency_seconds``: one call per *order* event (never per market event).

Fill latency is ``fill.ts_recv - ts_event`` of the order's ``OrderSubmitted``: from
the moment the risk engine passed the order and queued it for the gateway, to the
moment LIBRA received the venue's fill report, both on the kernel's clock. Partial
fills are each measured against the same submit time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from libra.core.lifecycle import ComponentState
from libra.kernel.control import link_reports

if TYPE_CHECKING:
    from libra.kernel.control import KernelControl

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FILL_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                        1.0, 2.5, 5.0, 10.0, 30.0)
_KERNEL_STATES = tuple(state.value for state in ComponentState)
_RUNNER_STATES = ("created", "running", "stopped", "failed")
_TRADING_STATES = ("active", "reducing", "halted")
_CLOSED_KINDS = frozenset({"canceled", "rejected", "expired", "denied"})


@runtime_checkable
class MetricSource(Protocol):
    """A service whose own metrics ``/metrics`` shows beside the kernel's."""

    def collect_metrics(self) -> Iterable[Metric]: ...


class TopicCounter:
    """Count market data events per topic (a bus handler)."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, event: Any) -> None:
        topic = event.topic
        counts = self.counts
        try:
            counts[topic] += 1
        except KeyError:
            counts[topic] = 1


class FillLatencyRecorder:
    """Observe submit-to-fill latency from order events (a bus handler)."""

    def __init__(self, histogram: Histogram, is_closed: Callable[[str], bool]) -> None:
        self.histogram = histogram
        self._is_closed = is_closed
        self._submitted: dict[str, int] = {}

    @property
    def pending(self) -> int:
        """Return how many submitted orders wait for a fill or a close."""
        return len(self._submitted)

    def __call__(self, event: Any) -> None:
        kind = event.kind
        client_order_id = event.client_order_id
        if kind == "submitted":
            self._submitted[client_order_id] = event.ts_event
        elif kind == "filled":
            submitted = self._submitted.get(client_order_id)
            if submitted is not None:
                self.histogram.observe(max(0, event.ts_recv - submitted) / 1e9)
            if self._is_closed(client_order_id):
                self._submitted.pop(client_order_id, None)
        elif kind in _CLOSED_KINDS:
            self._submitted.pop(client_order_id, None)


class KernelCollector(Collector):
    """Read the kernel's own counters and state at scrape time."""

    def __init__(
        self,
        kernel: KernelControl,
        streams: Callable[[], Mapping[str, Any]],
        topics: TopicCounter | None,
        loop_lag: Callable[[], float],
    ) -> None:
        self.kernel = kernel
        self._streams = streams
        self._topics = topics
        self._loop_lag = loop_lag

    def collect(self) -> Iterable[Metric]:
        """Yield every metric family (called by the registry on each scrape)."""
        yield from self._kernel()
        yield from self._strategies()
        yield from self._orders()
        yield from self._gateways()
        yield from self._portfolio()
        for service in list(getattr(self.kernel, "services", ())):
            # A service around the kernel (the notifier) keeps series of its own.
            if isinstance(service, MetricSource):
                yield from service.collect_metrics()
        yield from self._links()

    def _links(self) -> Iterable[Metric]:
        """The links to the outside (the fleet): up, buffered, published, dropped."""
        reports = link_reports(getattr(self.kernel, "services", ()))
        if not reports:
            return
        up = GaugeMetricFamily("libra_link_up", "1 if the link (fleet) is connected",
                               labels=["link"])
        buffered = GaugeMetricFamily("libra_link_buffered_events",
                                     "Events waiting to be sent on the link", labels=["link"])
        published = CounterMetricFamily("libra_link_published_events",
                                        "Events the link's server acknowledged", labels=["link"])
        dropped = CounterMetricFamily("libra_link_dropped_events",
                                      "Events dropped because the link's buffer was full",
                                      labels=["link"])
        for name, report in reports.items():
            up.add_metric([name], 1 if report.get("connected") else 0)
            buffered.add_metric([name], report.get("buffered", 0))
            published.add_metric([name], report.get("published", 0))
            dropped.add_metric([name], report.get("dropped", 0))
        yield from (up, buffered, published, dropped)

    def _kernel(self) -> Iterable[Metric]:
        kernel = self.kernel
        info = GaugeMetricFamily("libra_kernel_info", "Kernel identity (always 1)",
                                 labels=["name", "environment"])
        info.add_metric([kernel.name, kernel.environment], 1)
        yield info
        yield _one_hot("libra_kernel_state", "Kernel state (1 for the current one)", "state",
                       _KERNEL_STATES, kernel.state)
        started = kernel.started_at_ns
        yield GaugeMetricFamily("libra_kernel_uptime_seconds", "Seconds since the kernel started",
                                value=0 if started is None else (time.time_ns() - started) / 1e9)
        yield GaugeMetricFamily("libra_event_loop_lag_seconds",
                                "How late the event loop last woke a timer", value=self._loop_lag())
        yield CounterMetricFamily("libra_market_events", "Market data events through the bus",
                                  value=kernel.cache.events_seen)
        yield CounterMetricFamily("libra_bus_handler_errors", "Bus handlers that raised",
                                  value=kernel.bus.handler_errors)
        if self._topics is not None:
            topics = CounterMetricFamily("libra_events_in", "Market data events per topic",
                                         labels=["topic"])
            for topic, count in list(self._topics.counts.items()):
                topics.add_metric([topic], count)
            yield topics

    def _strategies(self) -> Iterable[Metric]:
        labels = ["strategy"]
        events_in = CounterMetricFamily("libra_strategy_events_in",
                                        "Events queued for a strategy", labels=labels)
        handled = CounterMetricFamily("libra_strategy_events_handled",
                                      "Events delivered to a strategy's callbacks", labels=labels)
        dropped = CounterMetricFamily("libra_strategy_dropped",
                                      "Market data events conflated away (strategy lagging)",
                                      labels=labels)
        errors = CounterMetricFamily("libra_strategy_callback_errors",
                                     "Strategy callbacks that raised", labels=labels)
        busy = CounterMetricFamily("libra_strategy_busy_seconds",
                                   "Time spent inside a strategy's callbacks", labels=labels)
        depth = GaugeMetricFamily("libra_strategy_inbox_depth", "Events waiting in the inbox",
                                  labels=labels)
        state = GaugeMetricFamily("libra_strategy_state", "Strategy state (1 for the current one)",
                                  labels=["strategy", "state"])
        paused = GaugeMetricFamily("libra_strategy_paused",
                                   "1 while the denial breaker holds the strategy's new orders",
                                   labels=labels)
        paused_ids = self.kernel.trading.risk.paused
        for sid, runner in list(self.kernel.runners.items()):
            paused.add_metric([sid], 1 if sid in paused_ids else 0)
            events_in.add_metric([sid], runner.events_in)
            handled.add_metric([sid], runner.events_handled)
            dropped.add_metric([sid], runner.dropped)
            errors.add_metric([sid], runner.errors)
            busy_ns = getattr(runner, "busy_ns", None)  # kept only by some runner versions
            if busy_ns is not None:
                busy.add_metric([sid], busy_ns / 1e9)
            depth.add_metric([sid], runner.depth)
            for name in _RUNNER_STATES:
                state.add_metric([sid, name], 1 if runner.state.value == name else 0)
        yield from (events_in, handled, dropped, errors, busy, depth, state, paused)

    def _orders(self) -> Iterable[Metric]:
        trading = self.kernel.trading
        orders = CounterMetricFamily("libra_order_events",
                                     "Order events by kind (submitted, denied, filled, ...)",
                                     labels=["kind"])
        for kind, count in list(trading.counts.items()):
            orders.add_metric([kind], count)
        yield orders
        open_orders = GaugeMetricFamily("libra_open_orders", "Open orders by strategy and status",
                                        labels=["strategy", "status"])
        grouped: dict[tuple[str, str], int] = {}
        for order in trading.cache.open_orders():
            key = (order.strategy_id, str(order.status.value))
            grouped[key] = grouped.get(key, 0) + 1
        for (sid, status), count in grouped.items():
            open_orders.add_metric([sid, status], count)
        yield open_orders
        denials = CounterMetricFamily("libra_risk_denials", "Orders denied by the risk engine",
                                      labels=["rule"])
        for rule, count in list(trading.risk.denials.items()):
            denials.add_metric([rule], count)
        yield denials
        yield _one_hot("libra_trading_state", "Risk trading state (1 for the current one)",
                       "state", _TRADING_STATES, trading.risk.state.value)

    def _gateways(self) -> Iterable[Metric]:
        connected = GaugeMetricFamily("libra_gateway_connected", "1 if the gateway is connected",
                                      labels=["gateway"])
        stale = GaugeMetricFamily("libra_gateway_stale",
                                  "1 if the gateway's market data stream is stale or ended",
                                  labels=["gateway"])
        age = GaugeMetricFamily("libra_gateway_last_message_age_seconds",
                                "Seconds since the gateway's stream last delivered a message",
                                labels=["gateway"])
        stream_stale = GaugeMetricFamily("libra_stream_stale", "1 if one stream is stale",
                                         labels=["gateway", "stream"])
        stream_age = GaugeMetricFamily("libra_stream_last_message_age_seconds",
                                       "Seconds since one stream (websocket, replay) delivered",
                                       labels=["gateway", "stream"])
        for gid, health in self._streams().items():
            connected.add_metric([gid], 1 if health.connected else 0)
            stale.add_metric([gid], 1 if health.stale else 0)
            if health.age is not None:
                age.add_metric([gid], health.age)
            for name, stream in health.streams.items():
                stream_stale.add_metric([gid, name], 1 if stream["stale"] else 0)
                if stream["age"] is not None:
                    stream_age.add_metric([gid, name], stream["age"])
        yield from (connected, stale, age, stream_stale, stream_age)

    def _portfolio(self) -> Iterable[Metric]:
        portfolio = self.kernel.trading.portfolio
        pnl = GaugeMetricFamily("libra_strategy_pnl",
                                "Strategy PnL per quote currency (realized, unrealized, fees)",
                                labels=["strategy", "currency", "kind"])
        position = GaugeMetricFamily("libra_position_quantity", "Net position (negative: short)",
                                     labels=["strategy", "symbol"])
        strategies = sorted({p.strategy_id for p in portfolio.positions()})
        for sid in strategies:
            for kind, values in (("realized", portfolio.realized_pnl(sid)),
                                 ("unrealized", portfolio.unrealized_pnl(sid)),
                                 ("fees", portfolio.fees(sid))):
                for currency, value in values.items():
                    pnl.add_metric([sid, currency, kind], _float(value))
        for p in portfolio.positions():
            position.add_metric([p.strategy_id, p.symbol], _float(p.quantity))
        yield from (pnl, position)
        equity = GaugeMetricFamily("libra_account_equity",
                                   "Cash plus marked positions, per account and currency",
                                   labels=["account", "currency"])
        balance = GaugeMetricFamily("libra_account_balance",
                                    "Cash balance per account and currency",
                                    labels=["account", "currency"])
        for account in portfolio.accounts:
            for currency, amount in portfolio.balances(account).items():
                balance.add_metric([account, currency], _float(amount))
                equity.add_metric([account, currency], _float(portfolio.equity(account, currency)))
        yield from (equity, balance)


class OpsMetrics:
    """The daemon's metrics registry: the kernel collector plus a few recorded series."""

    def __init__(
        self,
        kernel: KernelControl,
        streams: Callable[[], Mapping[str, Any]],
        loop_lag: Callable[[], float],
        per_topic: bool = True,
    ) -> None:
        self.kernel = kernel
        self.registry = CollectorRegistry(auto_describe=False)
        self.topics = TopicCounter() if per_topic else None
        self.fill_latency = Histogram(
            "libra_fill_latency_seconds",
            "Order submit (risk passed, queued for the gateway) to fill report received",
            buckets=FILL_LATENCY_BUCKETS, registry=self.registry,
        )
        self.control_actions = Counter("libra_control_actions", "Control API requests",
                                       ["action", "outcome"], registry=self.registry)
        self.reloads = Counter("libra_config_reloads", "Configuration reloads",
                               ["outcome"], registry=self.registry)
        self.fills = FillLatencyRecorder(self.fill_latency, self._is_closed)
        self.registry.register(KernelCollector(kernel, streams, self.topics, loop_lag))
        self._attached = False

    def _is_closed(self, client_order_id: str) -> bool:
        order = self.kernel.cache.order(client_order_id)
        return order is None or not order.is_open

    def attach(self) -> None:
        """Subscribe the recorders to the bus (lowest priority: after every real handler)."""
        if self._attached:
            return
        bus = self.kernel.bus
        if self.topics is not None:
            bus.subscribe("data.**", self.topics, priority=-1000)
        bus.subscribe("order.**", self.fills, priority=-1000)
        self._attached = True

    def detach(self) -> None:
        """Unsubscribe the recorders."""
        if not self._attached:
            return
        bus = self.kernel.bus
        if self.topics is not None:
            bus.unsubscribe("data.**", self.topics)
        bus.unsubscribe("order.**", self.fills)
        self._attached = False

    def render(self) -> bytes:
        """Return the exposition text of every metric."""
        return generate_latest(self.registry)


def _one_hot(name: str, doc: str, label: str, values: Iterable[str], current: str) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for value in values:
        family.add_metric([value], 1 if value == current else 0)
    return family


def _float(value: Decimal | int | float) -> float:
    return float(value)
