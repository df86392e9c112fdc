"""``libra backtest`` and ``libra optimize``.

Exit codes a script can rely on: 0 a result; 1 a run that is not a result (a strategy
ended FAILED: the reason is printed above the table); 2 a config, data or window that
cannot give one (the same pre-flight as ``libra run``; no data in the window).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from libra.cli._runtime import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, fail, load, run_async
from libra.core.errors import LibraError


def register(sub: Any) -> None:
    """Add the backtest and optimize subcommands to the ``libra`` parser."""
    backtest = sub.add_parser("backtest", help="run a strategy over history, deterministically")
    backtest.add_argument("--config", "-c", required=True, metavar="FILE",
                          help="TOML or YAML config file (its [backtest] section and strategies)")
    backtest.add_argument("--from", dest="start", default=None, help="ISO date (UTC)")
    backtest.add_argument("--to", dest="end", default=None, help="ISO date (UTC)")
    backtest.add_argument("--report", default=None, help="write a self-contained HTML report")
    backtest.add_argument("--json", default=None, help="write metrics, trades and equity")
    backtest.add_argument("--log-level", default="warning",
                          choices=["debug", "info", "warning", "error"],
                          help="lowest level logged to stderr (default: warning)")
    backtest.set_defaults(func=cmd_backtest)

    optimize = sub.add_parser("optimize", help="search strategy parameters with backtests")
    optimize.add_argument("--config", "-c", required=True, metavar="FILE",
                          help="TOML or YAML config file (its [optimize] section)")
    optimize.add_argument("--trials", type=int, default=None, metavar="N",
                          help="number of trials (default: optimize.trials)")
    optimize.add_argument("--workers", type=int, default=None, metavar="N",
                          help="trials run in parallel (default: optimize.workers)")
    optimize.add_argument("--executor", choices=["local", "ray"], default=None,
                          help="where trials run: local processes or a ray cluster "
                               "(default: optimize.executor)")
    optimize.add_argument("--method", choices=["grid", "tpe", "random"], default=None,
                          help="how parameters are sampled (default: optimize.method)")
    optimize.add_argument("--json", default=None, help="write every trial as JSON")
    optimize.set_defaults(func=cmd_optimize)


def _load(path: str, level: str) -> Any:
    from libra.cli.preflight import preflight
    from libra.observability.logging import configure_logging

    config = load(path)
    config = config.model_copy(update={"environment": "backtest"})
    configure_logging(level=level, fmt="json" if not sys.stderr.isatty() else "console",
                      kernel=config.kernel.name, stream=sys.stderr)
    preflight(config, http=False, state=False)
    return config


def cmd_backtest(args: argparse.Namespace) -> int:
    from libra.backtest.api import run_backtest, run_problems
    from libra.backtest.report import render_table, write_html, write_json

    try:
        config = _load(args.config, args.log_level)
        run = run_async(run_backtest(config, start=args.start, end=args.end))
    except (LibraError, ValueError) as exc:
        return fail(str(exc), EXIT_CONFIG)
    problems, empty = run_problems(run)
    if empty:
        return fail(problems[0], EXIT_CONFIG)
    for problem in problems:
        fail(problem, EXIT_FAILURE)
    print(render_table(run.result))
    print(f"Events: {run.events:,}  Fills: {len(run.fills):,}  "
          f"Wall: {run.wall_seconds:.2f} s  Fingerprint: {run.fingerprint[:16]}")
    report = args.report or config.backtest.report
    if report:
        write_html(run.result, run.trades, run.equity, report, title=f"LIBRA {config.name}")
        print(f"Report: {report}")
    json_path = args.json or config.backtest.json_path
    if json_path:
        write_json(run.result, run.trades, run.equity, json_path)
        print(f"JSON: {json_path}")
    return EXIT_FAILURE if problems else EXIT_OK


def cmd_optimize(args: argparse.Namespace) -> int:
    from libra.backtest.optimize import optimize

    try:
        config = _load(args.config, "warning")
        overrides = {k: v for k, v in {
            "trials": args.trials, "workers": args.workers, "executor": args.executor,
            "method": args.method}.items() if v is not None}
        if overrides:
            section = config.optimize.model_copy(update=overrides)
            config = config.model_copy(update={"optimize": section})
        study = run_async(optimize(config))
    except (LibraError, ValueError, ImportError) as exc:
        return fail(str(exc), EXIT_CONFIG)
    result = study.to_dict()
    print(f"best {config.optimize.objective}: {result['best_value']}")
    print(f"best params: {json.dumps(result['best_params'])}")
    counts = result["counts"]
    print(f"trials: {counts['complete']} complete, {counts['pruned']} pruned, "
          f"{counts['failed']} failed")
    for note in result["notes"]:
        print(f"note: {note}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    if not counts["complete"]:
        # No parameters were measured: a "best" of None is no result to act on.
        return fail(f"no trial completed ({counts['failed']} failed, "
                    f"{counts['pruned']} pruned)", EXIT_FAILURE)
    return EXIT_OK
