"""structlog set-up: JSON lines off a terminal, readable lines on one.

Every line carries the kernel name. Standard-library logging (plugins'
``self.log``, ccxt, aiohttp) goes through the same renderer. Known secret
values are scrubbed from every line, whatever key or message they hide in.
The level can be changed at run time (``set_level``) without rebuilding loggers.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import IO, Any

import structlog
import structlog.tracebacks
from structlog.types import EventDict, Processor, WrappedLogger

from libra.core.loglevel import LEVELS, current_level, set_level

REDACTED = "**********"


class _RuntimeState:
    """Mutable logging settings shared by the processors."""

    def __init__(self) -> None:
        self.kernel = "libra"
        self.secrets: tuple[str, ...] = ()


_state = _RuntimeState()


def add_secrets(secrets: Iterable[str]) -> None:
    """Register more secret values to scrub (e.g. when a config is reloaded)."""
    merged = set(_state.secrets) | {s for s in secrets if s and len(s) >= 4}
    # Longest first, so a secret containing another is replaced whole.
    _state.secrets = tuple(sorted(merged, key=len, reverse=True))


def _filter_level(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    if LEVELS.get(method, logging.INFO) < current_level():
        raise structlog.DropEvent
    return event_dict


def _add_kernel(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    event_dict.setdefault("kernel", _state.kernel)
    return event_dict


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        for secret in _state.secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


def scrub_secrets(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """Replace every known secret value anywhere in the line."""
    if not _state.secrets:
        return event_dict
    return {k: _scrub(v) if not isinstance(v, (int, float, bool)) else v
            for k, v in event_dict.items()}


def _stringify(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """Render values JSON has no type for (Decimal, enums, records) as strings."""
    for key, value in event_dict.items():
        if value is None or isinstance(value, (str, int, float, bool, list, dict)):
            continue
        event_dict[key] = str(value)
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
    _state.secrets = ()
    add_secrets(secrets)
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_kernel,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor
    if use_json:
        tail: list[Processor] = [
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            _stringify,
            scrub_secrets,
        ]
        renderer = structlog.processors.JSONRenderer()
    else:
        tail = [scrub_secrets]
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    structlog.configure(
        processors=[_filter_level, *shared, *tail, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.WriteLoggerFactory(file=stream),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name,
                           structlog.stdlib.ExtraAdder()],
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


__all__ = [
    "LEVELS",
    "REDACTED",
    "add_secrets",
    "configure_logging",
    "scrub_secrets",
    "set_level",
]
