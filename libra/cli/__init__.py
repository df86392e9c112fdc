"""The ``libra`` command: one module per command group, wired into one parser here.

``libra`` alone, or a command group alone (``libra config``), prints its help.
Exit codes (``libra.cli._runtime``): 0 clean stop; 1 runtime failure; 2 invalid
configuration, usage, or a failed pre-flight check; 130 forced stop. An error no command
handled ends as one scrubbed ``libra: error:`` line and exit 1, never a traceback.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from libra import __version__
from libra.cli import backtest, check, ctl, daemon, data, fleet, new, state
from libra.cli._runtime import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_FORCED,
    EXIT_OK,
    fail,
    run_async,
    show_help,
)


def build_parser() -> argparse.ArgumentParser:
    """Return the ``libra`` parser with every command group's subcommands."""
    parser = argparse.ArgumentParser(prog="libra", description="LIBRA trading daemon")
    parser.add_argument("--version", action="version", version=f"libra {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in (daemon, backtest, data, state, ctl, fleet, check, new):
        group.register(sub)
    parser.set_defaults(func=show_help(parser))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``libra`` command; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return EXIT_FORCED
    except Exception as exc:  # the top-level edge: one scrubbed line, no traceback
        return fail(f"{type(exc).__name__}: {exc}", EXIT_FAILURE)


__all__ = [
    "EXIT_CONFIG", "EXIT_FAILURE", "EXIT_FORCED", "EXIT_OK", "build_parser", "main", "run_async",
]
