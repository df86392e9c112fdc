"""What every ``libra`` command shares: exit codes, the event loop, config loading, logging.

Exit codes: 0 clean stop; 1 runtime failure (a gateway failed to connect, a strategy
failed in a backtest); 2 invalid configuration, usage, or a failed pre-flight check
(``libra.cli.preflight``); 3 state store failure; 4 stopped with orders still open;
130 forced stop. The last line of a failure, ``libra: error: ...``, goes through the
same scrubber as every log line.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from libra.core.config import KernelConfig, collect_secrets, load_config
from libra.core.redaction import scrub

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_STATE = 3
EXIT_ORDERS_OPEN = 4
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
    """Print ``libra: error: <message>`` to stderr, scrubbed; return ``code`` (the exit code)."""
    print(f"libra: error: {scrub(message)}", file=sys.stderr)
    return code


def show_help(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """Return a command printing ``parser``'s help (``libra`` or a command group alone)."""
    def show(_args: argparse.Namespace) -> int:
        parser.print_help()
        return EXIT_OK
    return show


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
