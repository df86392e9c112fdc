"""What every ``libra`` command shares: exit codes, the event loop, config loading, logging.

Exit codes: 0 clean stop; 1 runtime failure (a gateway failed to connect, a
plugin failed to build); 2 invalid configuration or usage; 130 forced stop.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from libra.core.config import KernelConfig, collect_secrets, load_config

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_FORCED = 130


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # platforms without uvloop run on asyncio's loop
        return None
    return uvloop.new_event_loop


def run_async(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` on uvloop (when installed): the only place the loop is chosen."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(coro)


def fail(message: str, code: int) -> int:
    """Print ``libra: error: <message>`` to stderr; return ``code`` (the exit code)."""
    print(f"libra: error: {message}", file=sys.stderr)
    return code


def load(path: str) -> KernelConfig:
    """Load and validate the config file at ``path``; raise ``ConfigError`` if invalid."""
    return load_config(Path(path))


def configure(config: KernelConfig, log_format: str | None, level: str | None) -> None:
    """Configure logging from ``config`` (command-line format and level win)."""
    from libra.observability.logging import configure_logging

    configure_logging(
        level=level or config.logging.level,
        fmt=log_format or config.logging.format,
        kernel=config.kernel.name,
        secrets=collect_secrets(config),
    )
