"""``libra check``: checks of a strategy before it trades real money.

``libra check lookahead --config FILE`` runs each strategy of the config with the future
hidden and over the full history, and lists every candle where they decided differently.
Exit codes: 0 no difference; 1 a difference (the strategy reads data it could not have
had); 2 a config or data that cannot be checked.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from libra.cli._runtime import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_OK,
    fail,
    load,
    run_async,
    show_help,
)
from libra.core.errors import LibraError


def register(sub: Any) -> None:
    """Add the ``check`` command group to the ``libra`` parser."""
    check = sub.add_parser("check", help="check a strategy for mistakes a backtest hides")
    group = check.add_subparsers(dest="check_command", metavar="CHECK")
    check.set_defaults(func=show_help(check))
    lookahead = group.add_parser(
        "lookahead", help="compare decisions made candle by candle with the full history's")
    lookahead.add_argument("--config", "-c", required=True, metavar="FILE",
                           help="TOML or YAML backtest config (its paper gateways' data and "
                                "its strategies)")
    lookahead.add_argument("--samples", type=int, default=8, metavar="N",
                           help="native strategies: replays cut at N sampled candles "
                                "(default: 8)")
    lookahead.add_argument("--limit", type=int, default=50, metavar="N",
                           help="differences listed per strategy; all are counted "
                                "(default: 50)")
    lookahead.add_argument("--log-level", default="warning",
                           choices=["debug", "info", "warning", "error"],
                           help="lowest level logged to stderr (default: warning)")
    lookahead.set_defaults(func=cmd_lookahead)


def cmd_lookahead(args: argparse.Namespace) -> int:
    """Run the lookahead check; print each difference; exit 1 if there is any."""
    from libra.backtest.lookahead import check_lookahead
    from libra.observability.logging import configure_logging

    if args.samples < 1:
        return fail(f"--samples must be at least 1, was {args.samples}", EXIT_CONFIG)
    try:
        config = load(args.config)
        configure_logging(level=args.log_level, fmt="json" if not sys.stderr.isatty()
                          else "console", kernel=config.kernel.name, stream=sys.stderr)
        reports = run_async(check_lookahead(config, samples=args.samples))
    except (LibraError, ValueError, OSError, ImportError) as exc:
        return fail(str(exc), EXIT_CONFIG)
    found = 0
    for report in reports:
        found += len(report.differences)
        verdict = f"{len(report.differences)} differ" if report.differences else "no difference"
        print(f"strategy {report.strategy_id}: {report.method}: {report.compared:,} compared, "
              f"{verdict}")
        for difference in report.differences[:args.limit]:
            moment = datetime.fromtimestamp(difference.ts_ns / 1e9, UTC).isoformat()
            print(f"  {moment} {difference.symbol}: incremental: {difference.incremental} | "
                  f"full history: {difference.full_history}")
        if len(report.differences) > args.limit:
            print(f"  ... and {len(report.differences) - args.limit} more")
    if found:
        return fail(f"lookahead: {found} decisions change when the future is hidden",
                    EXIT_FAILURE)
    # A strategy that placed no order in the window was not checked: not a pass.
    unchecked = [r.strategy_id for r in reports if not r.compared]
    if unchecked:
        return fail(f"lookahead: strategies {', '.join(unchecked)} made no decision to compare "
                    "in the data; the check cannot tell (a longer window, or --samples)",
                    EXIT_FAILURE)
    return EXIT_OK
