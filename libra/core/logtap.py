"""Warnings and errors as data, for services that forward them (the fleet link).

A service around the kernel may want the daemon's warnings and errors as they happen
(a fleet view shows them beside the heartbeats), without parsing its own stdout. The
log pipeline calls :func:`tap` once per line that passed the level filter and the
scrubber, so a sink never sees a secret or a line the operator turned off. Sinks are
called synchronously on whatever task logged, so they must only hand the line on
(append to a bounded buffer), never wait; a sink that raises is removed, so a broken
sink cannot break logging.

The registry is process-wide for the same reason the logging configuration is: one
process, one log stream.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

#: ``sink(level, line)``: ``line`` is a copy of the scrubbed event dict.
LogSink = Callable[[str, dict[str, Any]], None]
TAPPED_LEVELS = frozenset({"warning", "error", "critical", "exception"})


class _Sinks:
    def __init__(self) -> None:
        self.sinks: tuple[LogSink, ...] = ()


_registry = _Sinks()


def add_log_sink(sink: LogSink) -> None:
    """Send every warning and error line from now on to ``sink`` as well."""
    _registry.sinks = (*_registry.sinks, sink)


def remove_log_sink(sink: LogSink) -> None:
    """Stop sending lines to ``sink``; a no-op when it is not registered."""
    _registry.sinks = tuple(s for s in _registry.sinks if s is not sink)


def tap(logger: Any, method: str, event_dict: MutableMapping[str, Any]
        ) -> MutableMapping[str, Any]:
    """A structlog processor: hand warning and error lines to the sinks, unchanged."""
    sinks = _registry.sinks
    if sinks and method in TAPPED_LEVELS:
        level = "error" if method in ("critical", "exception") else method
        for sink in sinks:
            try:
                sink(level, dict(event_dict))
            except Exception:  # a sink may not break logging: drop it
                remove_log_sink(sink)
    return event_dict
