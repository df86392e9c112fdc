"""The recent warnings and errors of this process, kept in a small ring for the status page.

An operator who opens the status page wants to see what went wrong lately without a
log shipper. ``record_problem`` is a sink of the log pipeline's tap
(``libra.core.logtap``), which hands it every WARNING-or-above line, structlog's and the
standard library's, after the level filter and the scrubber; it keeps a compact copy.
``configure_logging`` installs it, so the ring covers the whole run, boot included.

The ring is process-wide because the log pipeline is: structlog is configured once per
process, before any kernel exists. It holds at most
``CAPACITY`` entries, each with at most ``MAX_FIELDS`` fields of at most
``MAX_VALUE_CHARS`` characters, so a burst of errors costs a bounded amount of memory.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from libra.core.logtap import add_log_sink, remove_log_sink
from libra.core.redaction import scrub, scrub_data

CAPACITY = 100
MAX_FIELDS = 12
MAX_VALUE_CHARS = 300
# Keys every line carries that say nothing about this problem.
_SKIPPED = frozenset({"event", "level", "timestamp", "kernel", "_record", "_from_structlog",
                      "exc_info", "stack_info"})


class ProblemRing:
    """The newest warnings and errors, at most ``capacity`` of them."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=capacity)
        # Standard-library lines may come from other threads (ccxt, executors).
        self._lock = threading.Lock()
        self.total = 0

    def add(self, level: str, event: str, fields: dict[str, Any], ts: float | None = None
            ) -> None:
        """Keep one problem: scrubbed, its values as short text."""
        detail = {}
        for key, value in list(fields.items())[:MAX_FIELDS]:
            detail[_short(str(key))] = _short(str(value))
        entry = {"ts": time.time() if ts is None else ts, "level": level,
                 "event": _short(str(event)), "fields": detail}
        with self._lock:
            self._entries.append(entry)
            self.total += 1

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """Return up to ``limit`` problems, newest first."""
        with self._lock:
            entries = list(self._entries)
        return entries[::-1][:limit]

    def clear(self) -> None:
        """Forget every problem (tests, a new kernel in the same process)."""
        with self._lock:
            self._entries.clear()
            self.total = 0


def _short(text: str) -> str:
    text = scrub(text)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS - 1] + "…"


#: The process's ring, read by the status page.
RECENT_PROBLEMS = ProblemRing()


def record_problem(level: str, line: dict[str, Any]) -> None:
    """Keep a compact copy of one warning or error line (a ``libra.core.logtap`` sink)."""
    fields = {k: v for k, v in line.items() if k not in _SKIPPED}
    exception = fields.get("exception")
    if isinstance(exception, str) and "\n" in exception.strip():
        # A traceback: its last line names the error, which is what fits on the page.
        fields["exception"] = exception.strip().splitlines()[-1]
    RECENT_PROBLEMS.add(level, str(line.get("event", "")), scrub_data(fields))


def install() -> None:
    """Feed ``RECENT_PROBLEMS`` from the log pipeline (idempotent: once per process)."""
    remove_log_sink(record_problem)
    add_log_sink(record_problem)


__all__ = ["RECENT_PROBLEMS", "ProblemRing", "install", "record_problem"]
