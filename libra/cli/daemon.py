"""``libra run``, ``libra config check`` and ``libra plugins``."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from libra.cli._runtime import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_FORCED,
    EXIT_OK,
    configure,
    fail,
    load,
    run_async,
)
from libra.core.config import redact
from libra.core.errors import ConfigError, LibraError


def register(sub: Any) -> None:
    """Add ``run``, ``config check`` and ``plugins`` to the ``libra`` parser."""
    run = sub.add_parser("run", help="run the daemon until SIGTERM/SIGINT")
    run.add_argument("--config", "-c", required=True, help="TOML or YAML config file")
    run.add_argument("--log-format", choices=["auto", "json", "console"], default=None)
    run.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default=None)
    run.set_defaults(func=cmd_run)

    config = sub.add_parser("config", help="configuration tools")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate and print the resolved config")
    check.add_argument("file")
    check.set_defaults(func=cmd_config_check)

    plugins = sub.add_parser("plugins", help="list installed plugins")
    plugins.add_argument("--json", action="store_true")
    plugins.set_defaults(func=cmd_plugins)


def cmd_run(args: argparse.Namespace) -> int:
    from libra.kernel import TradingKernel
    from libra.observability.service import ops_service

    try:
        config = load(args.config)
        configure(config, args.log_format, args.log_level)
        services = [] if config.environment == "backtest" else [ops_service(Path(args.config))]
        kernel = TradingKernel(config, services=services)
        kernel.config_path = Path(args.config)
        kernel.build()
    except ConfigError as exc:
        return fail(str(exc), EXIT_CONFIG)
    except LibraError as exc:
        return fail(str(exc), EXIT_FAILURE)

    try:
        run_async(kernel.run())
    except asyncio.CancelledError:
        return EXIT_FORCED
    except KeyboardInterrupt:
        return EXIT_FORCED
    except ConfigError as exc:
        return fail(str(exc), EXIT_CONFIG)
    except LibraError as exc:
        return fail(f"{type(exc).__name__}: {exc}", EXIT_FAILURE)
    except Exception as exc:  # the top-level edge: report once, exit non-zero
        return fail(f"kernel failed: {type(exc).__name__}: {exc}", EXIT_FAILURE)
    return EXIT_OK


def cmd_config_check(args: argparse.Namespace) -> int:
    from libra.kernel.builder import build_all

    try:
        config = load(args.file)
        build_all(config)
    except LibraError as exc:
        return fail(str(exc), EXIT_CONFIG)
    print(json.dumps(redact(config), indent=2, default=str))
    return EXIT_OK


def cmd_plugins(args: argparse.Namespace) -> int:
    from libra.plugins.loader import describe_plugins

    plugins = describe_plugins()
    if args.json:
        print(json.dumps(plugins, indent=2))
        return EXIT_OK
    for kind, entries in plugins.items():
        print(f"{kind} plugins:")
        for e in entries:
            author = f" by {e['author']}" if e["author"] else ""
            print(f"  {e['name']:<20} {e['version']:<10} {e['description']}{author}")
            print(f"  {'':<20} {e['class']} ({e['distribution'] or 'unknown distribution'})")
    return EXIT_OK
