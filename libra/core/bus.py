"""MessageBus: topic publish/subscribe with wildcards, and request/response by endpoint.

Topics are dot-separated (``data.bar.paper.BTC/USDT.1m``). In a pattern ``*``
matches within one segment, ``?`` one character within a segment, and ``**``
any number of segments (a trailing ``.**`` also matches nothing). Which
handlers receive a topic is computed once and cached until the subscriptions
change, so a publish is a dictionary lookup and a loop over handlers.

Handlers are plain synchronous callables: the bus never creates a task per
message. Components that need to do asynchronous work (strategies) put the
message in their own inbox from their handler.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import structlog

from libra.core.throttle import LogThrottle

Handler = Callable[[Any], Any]

_log = structlog.get_logger("libra.bus")


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a topic pattern to a regular expression matching whole topics."""
    if pattern.endswith(".**"):
        head, tail = pattern[:-3], r"(?:\..*)?"
    else:
        head, tail = pattern, ""
    out: list[str] = []
    i = 0
    while i < len(head):
        if head.startswith("**", i):
            out.append(".*")
            i += 2
        elif head[i] == "*":
            out.append("[^.]*")
            i += 1
        elif head[i] == "?":
            out.append("[^.]")
            i += 1
        else:
            out.append(re.escape(head[i]))
            i += 1
    return re.compile("".join(out) + tail + r"\Z")


def is_pattern(topic: str) -> bool:
    """Return whether ``topic`` contains wildcards."""
    return "*" in topic or "?" in topic


class _Subscription:
    __slots__ = ("handler", "pattern", "priority", "regex", "seq")

    def __init__(self, pattern: str, handler: Handler, priority: int, seq: int) -> None:
        self.pattern = pattern
        self.handler = handler
        self.priority = priority
        self.seq = seq
        self.regex = compile_pattern(pattern) if is_pattern(pattern) else None

    def matches(self, topic: str) -> bool:
        if self.regex is None:
            return self.pattern == topic
        return self.regex.match(topic) is not None


class MessageBus:
    """Synchronous in-process bus; see the module docstring for topic patterns."""

    def __init__(self, name: str = "bus", error_log_interval: float = 10.0) -> None:
        self.name = name
        self._subs: list[_Subscription] = []
        self._matches: dict[str, tuple[Handler, ...]] = {}
        self._endpoints: dict[str, Handler] = {}
        self._seq = 0
        #: Changes whenever the subscriptions do (for callers that keep routes of their own).
        self.version = 0
        self.handler_errors = 0
        # A handler failing on every message logs once per interval, keyed by id(handler)
        # (a subscribed handler lives).
        self._error_logs = LogThrottle(error_log_interval)

    def subscribe(self, pattern: str, handler: Handler, priority: int = 0) -> None:
        """Call ``handler(message)`` for each message on a topic matching ``pattern``.

        Higher ``priority`` handlers run first; equal priorities run in
        subscription order. Subscribing the same handler to the same pattern
        twice has no effect.
        """
        for sub in self._subs:
            if sub.pattern == pattern and sub.handler == handler:
                return
        self._seq += 1
        self._subs.append(_Subscription(pattern, handler, priority, self._seq))
        self._subs.sort(key=lambda s: (-s.priority, s.seq))
        self._matches.clear()
        self.version += 1

    def unsubscribe(self, pattern: str, handler: Handler) -> None:
        """Remove one subscription; unknown ones are ignored."""
        kept = [s for s in self._subs if not (s.pattern == pattern and s.handler == handler)]
        if len(kept) != len(self._subs):
            for gone in {id(s.handler) for s in self._subs} - {id(s.handler) for s in kept}:
                self._error_logs.forget(gone)
            self._subs = kept
            self._matches.clear()
            self.version += 1

    def has_subscribers(self, topic: str) -> bool:
        """Return whether any handler would receive a message on ``topic``."""
        return bool(self.handlers(topic))

    def subscriptions(self) -> list[str]:
        """Return every subscribed pattern (one entry per subscription)."""
        return [s.pattern for s in self._subs]

    def handlers(self, topic: str) -> tuple[Handler, ...]:
        """Return the handlers a message on ``topic`` goes to, in delivery order.

        For callers that deliver themselves (the backtest engine's unrolled loop): such a
        caller passes any exception a handler raises to ``handler_failed``.
        """
        handlers = self._matches.get(topic)
        if handlers is None:
            handlers = tuple(s.handler for s in self._subs if s.matches(topic))
            self._matches[topic] = handlers
        return handlers

    @property
    def error_log_interval(self) -> float:
        """Seconds between two log lines of one failing handler."""
        return self._error_logs.interval

    @error_log_interval.setter
    def error_log_interval(self, seconds: float) -> None:
        self._error_logs.interval = seconds

    def handler_failed(self, topic: str, handler: Handler) -> None:
        """Count the exception ``handler`` just raised and log it; call from an ``except``.

        A handler that fails on every message would flood the log with a traceback per
        message: each handler's failures are logged at most once per
        ``error_log_interval`` seconds, with how many were not logged since.
        """
        self.handler_errors += 1
        suppressed = self._error_logs.due(id(handler))
        if suppressed is None:
            return
        _log.exception("bus.handler_failed", topic=topic, handler=_name(handler),
                       suppressed_since_last=suppressed)

    def publish(self, topic: str, message: Any) -> None:
        """Deliver ``message`` to every handler subscribed to a pattern matching ``topic``.

        A handler that raises is logged and counted; the others still run.
        """
        try:
            handlers = self._matches[topic]
        except KeyError:
            handlers = self.handlers(topic)
        for handler in handlers:
            try:
                handler(message)
            except Exception:
                self.handler_failed(topic, handler)

    def publish_event(self, event: Any) -> None:
        """Publish an event on its own ``topic`` (the market data path from the gateways)."""
        self.publish(event.topic, event)

    def register_endpoint(self, endpoint: str, handler: Handler) -> None:
        """Make ``handler`` answer requests sent to ``endpoint``."""
        if endpoint in self._endpoints:
            raise ValueError(f"endpoint already registered, was {endpoint!r}")
        self._endpoints[endpoint] = handler

    def deregister_endpoint(self, endpoint: str) -> None:
        """Remove an endpoint; unknown ones are ignored."""
        self._endpoints.pop(endpoint, None)

    def endpoints(self) -> list[str]:
        """Return the registered endpoint names."""
        return sorted(self._endpoints)

    def request(self, endpoint: str, message: Any = None) -> Any:
        """Send ``message`` to ``endpoint`` and return its handler's response.

        A coroutine handler's response is the coroutine: await it.

        Raises:
            KeyError: no handler is registered for ``endpoint``.
        """
        handler = self._endpoints.get(endpoint)
        if handler is None:
            raise KeyError(f"no endpoint {endpoint!r}; registered: {', '.join(self.endpoints())}")
        return handler(message)


def _name(handler: Handler) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)
