"""structlog set-up: JSON lines off a terminal, readable lines on one.

Every line carries the kernel name. Standard-library logging (plugins'
``self.log``, ccxt, aiohttp) goes through the same renderer. Every line goes through
``libra.core.redaction.scrub`` last, whatever key or message a secret hides in, and
exceptions are turned into text (or a dict) *before* that, so a venue's error that
echoes a key is scrubbed too. No traceback shows local variables, in any format: a
frame's locals are where a key or a signed request sits.
The level can be changed at run time (``set_level``) without rebuilding loggers.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from decimal import Decimal
from typing import IO

import structlog
import structlog.tracebacks
from structlog.types import EventDict, Processor, WrappedLogger

from libra.core.loglevel import LEVELS, current_level, set_level
from libra.core.logtap import tap
from libra.core.redaction import REDACTED, register_secrets, scrub_data
from libra.observability import problems
from libra.observability.console import (
    compact_for_terminal,
    console_renderer,
    plain,
    strategy_lines,
)


class _RuntimeState:
    """Mutable logging settings shared by the processors."""

    def __init__(self) -> None:
        self.kernel = "libra"


_state = _RuntimeState()


def add_secrets(secrets: Iterable[str]) -> None:
    """Register more secret values to scrub (e.g. when a config is reloaded)."""
    register_secrets(secrets)


def _filter_level(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    if LEVELS.get(method, logging.INFO) < current_level():
        raise structlog.DropEvent
    return event_dict


def _add_kernel(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    event_dict.setdefault("kernel", _state.kernel)
    return event_dict


def scrub_secrets(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """Scrub every value of the line (``libra.core.redaction.scrub_data``)."""
    scrubbed: EventDict = scrub_data(event_dict)
    return scrubbed


def _stringify(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """Render values that are not plain data (Decimal, enums, records) as text: JSON has
    no type for them, and the scrubber must see what is printed. Decimals, at any depth,
    print plain (``libra.observability.console.plain``)."""
    for key, value in event_dict.items():
        if value is None or isinstance(value, (str, int, float, bool)):
            continue
        event_dict[key] = plain(value) if isinstance(value, (Decimal, list, dict, tuple)) \
            else str(value)
    return event_dict


def configure_logging(
    level: str = "info",
    fmt: str = "auto",
    kernel: str = "libra",
    secrets: Iterable[str] = (),
    stream: IO[str] | None = None,
) -> None:
    """Configure structlog and the standard library's logging once, for the process."""
    stream = stream or sys.stdout
    _state.kernel = kernel
    add_secrets(secrets)
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_kernel,
        structlog.processors.add_log_level,
        # A terminal shows seconds; JSON keeps microseconds for whoever correlates lines.
        structlog.processors.TimeStamper(fmt="iso" if use_json else "%Y-%m-%dT%H:%M:%SZ",
                                         utc=True),
    ]
    renderer: Processor
    if use_json:
        tail: list[Processor] = [
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            _stringify,
            scrub_secrets,
            tap,  # after the scrubber: a forwarded line holds no secret
        ]
        renderer = structlog.processors.JSONRenderer()
    else:
        # The traceback becomes plain text here, before the scrubber; the console
        # renderer's own formatter (rich, with locals) never sees an exception.
        tail = [structlog.processors.format_exc_info, _stringify, scrub_secrets, tap,
                compact_for_terminal]  # after the tap: a forwarded line keeps every field
        renderer = console_renderer(colors=stream.isatty())
    structlog.configure(
        processors=[_filter_level, *shared, *tail, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.WriteLoggerFactory(file=stream),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name,
                           structlog.stdlib.ExtraAdder(), strategy_lines(json=use_json)],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *tail,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    set_level(level)
    # Third-party libraries are chatty at DEBUG; keep them at INFO or above.
    for name in ("ccxt", "aiohttp", "asyncio", "urllib3"):
        logging.getLogger(name).setLevel(max(current_level(), logging.INFO))
    problems.install()  # the status page's recent warnings and errors, from boot on


__all__ = [
    "LEVELS",
    "REDACTED",
    "add_secrets",
    "configure_logging",
    "scrub_secrets",
    "set_level",
]
