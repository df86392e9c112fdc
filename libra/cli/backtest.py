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
    optimize.add_argument("--top", type=_positive_int, default=5, metavar="N",
                          help="show the N best trials (default: 5)")
    optimize.add_argument("--write-config", default=None, metavar="OUT",
                          help="write a copy of the config with the best parameters")
    optimize.add_argument("--oos", type=float, default=None, metavar="FRACTION",
                          help="hold out the last FRACTION of the data (e.g. 0.3): optimize "
                               "on the rest, then run the top trials on it")
    optimize.add_argument("--progress-every", type=int, default=10, metavar="N",
                          help="off a terminal, print progress every N trials (default: 10; "
                               "0: never)")
    optimize.set_defaults(func=cmd_optimize)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, was {value}")
    return value


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
    from libra.backtest.report import render_table, write_json, write_run_report
    from libra.backtest.report_data import currency_of_run

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
    print(render_table(run.result, currency_of_run(config, run)))
    print(f"Events: {run.events:,}  Fills: {len(run.fills):,}  "
          f"Wall: {run.wall_seconds:.2f} s  Fingerprint: {run.fingerprint[:16]}")
    report = args.report or config.backtest.report
    if report:
        write_run_report(run, config, report, title=f"LIBRA {config.name}")
        print(f"Report: {report}")
    json_path = args.json or config.backtest.json_path
    if json_path:
        write_json(run.result, run.trades, run.equity, json_path)
        print(f"JSON: {json_path}")
    return EXIT_FAILURE if problems else EXIT_OK


def cmd_optimize(args: argparse.Namespace) -> int:
    from libra.backtest.optimize import build_space, optimize, target_strategy
    from libra.backtest.optimize_results import boundary_warnings, split_window

    try:
        config = _load(args.config, "warning")
        overrides = {k: v for k, v in {
            "trials": args.trials, "workers": args.workers, "executor": args.executor,
            "method": args.method}.items() if v is not None}
        if overrides:
            section = config.optimize.model_copy(update=overrides)
            config = config.model_copy(update={"optimize": section})
        strategy = target_strategy(config)
        split = split_window(config, args.oos) if args.oos is not None else None
        if split is not None:
            print(f"in sample: {_iso(split.start_ns)} to {_iso(split.split_ns)}; "
                  f"out of sample: {_iso(split.split_ns)} to {_iso(split.end_ns)}")
        study = run_async(optimize(split.in_sample if split else config,
                                   progress_every=max(args.progress_every, 0)))
        held_out = _held_out(study, args.top, split, strategy, config) if split else None
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
    if split is not None:
        result["out_of_sample"] = {
            "start": _iso(split.split_ns), "end": _iso(split.end_ns),
            "trials": [trial.to_dict() for trial in (held_out or {}).values()]}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    if not counts["complete"]:
        # No parameters were measured: a "best" of None is no result to act on.
        return fail(f"no trial completed ({counts['failed']} failed, "
                    f"{counts['pruned']} pruned)", EXIT_FAILURE)
    _print_top(study, args.top, held_out)
    for warning in boundary_warnings(study.best_params, build_space(config.optimize.space)):
        print(f"warning: {warning}", file=sys.stderr)
    if args.write_config:
        return _write_config(args.config, args.write_config, strategy, study.best_params or {})
    return EXIT_OK


def _iso(ts_ns: int) -> str:
    from libra.backtest.optimize_results import iso

    return iso(ts_ns)


def _held_out(study: Any, top: int, split: Any, strategy: str, config: Any) -> Any:
    from libra.backtest.executors import make_executor
    from libra.backtest.optimize_results import out_of_sample, top_trials

    executor = make_executor(config.optimize.executor, config.optimize.workers)
    try:
        return run_async(out_of_sample(top_trials(study, top), split.out_of_sample, strategy,
                                       executor))
    finally:
        executor.close()


def _print_top(study: Any, top: int, held_out: Any) -> None:
    from libra.backtest.optimize_results import render_top, top_trials

    trials = top_trials(study, top)
    title = "top trials, in sample and out of sample" if held_out is not None else "top trials"
    print(f"\n{title}:")
    print(render_top(trials, study.objective, held_out))


def _write_config(source: str, target: str, strategy: str, params: dict[str, Any]) -> int:
    from libra.backtest.optimize_results import write_best_config

    try:
        path = write_best_config(source, target, strategy, params)
    except (LibraError, OSError, ImportError) as exc:
        return fail(f"--write-config: {exc}", EXIT_CONFIG)
    print(f"config with the best params: {path} (check it with libra config check "
          f"--config {path})")
    return EXIT_OK
