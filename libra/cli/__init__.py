"""The ``libra`` command: one module per command group, wired into one parser here.

Exit codes: 0 clean stop; 1 runtime failure (a gateway failed to connect, a
plugin failed to build); 2 invalid configuration or usage; 130 forced stop.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from libra import __version__
from libra.cli import backtest, ctl, daemon, state
from libra.cli._runtime import EXIT_CONFIG, EXIT_FAILURE, EXIT_FORCED, EXIT_OK, run_async


def build_parser() -> argparse.ArgumentParser:
    """Return the ``libra`` parser with every command group's subcommands."""
    parser = argparse.ArgumentParser(prog="libra", description="LIBRA trading daemon")
    parser.add_argument("--version", action="version", version=f"libra {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (daemon, backtest, state, ctl):
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``libra`` command; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return int(args.func(args))


__all__ = [
    "EXIT_CONFIG", "EXIT_FAILURE", "EXIT_FORCED", "EXIT_OK", "build_parser", "main", "run_async",
]
