"""The process's minimum log level, which hot paths read before building a line.

Kept apart from the structlog set-up (``libra.observability.logging``) so that the
trading layers can ask ``is_enabled`` without depending on observability.
"""

from __future__ import annotations

import logging

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR, "critical": logging.CRITICAL}


class _Level:
    """The one mutable setting: the minimum level written."""

    value = logging.INFO


def is_enabled(level: int) -> bool:
    """Return whether lines at ``level`` (a ``logging`` constant) are written now.

    Hot paths check this before building a line's fields.
    """
    return level >= _Level.value


def current_level() -> int:
    """Return the minimum level written, as a ``logging`` constant."""
    return _Level.value


def set_level(level: str) -> None:
    """Change the minimum level of every logger, at once."""
    _Level.value = LEVELS[level.lower()]
    logging.getLogger().setLevel(_Level.value)
