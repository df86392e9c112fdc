"""``libra run``, ``libra config check`` and ``libra plugins``.

``config check --config FILE`` is the form every command shares; ``config check FILE``
stays as an alias.

``config check`` and ``run`` make the same pre-flight checks (``libra.cli.preflight``):
what ``config check`` passes, ``run`` starts; what it refuses, ``run`` refuses with the
same message and exit 2, before any gateway connects.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from libra.cli._runtime import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_FORCED,
    EXIT_OK,
    EXIT_ORDERS_OPEN,
    EXIT_STATE,
    configure,
    fail,
    load,
    run_async,
    show_help,
)
from libra.core.config import redact
from libra.core.errors import ConfigError, LibraError, StateStoreError

CHECK_USAGE = "usage: libra config check (--config FILE | FILE)"


def register(sub: Any) -> None:
    """Add ``run``, ``config check`` and ``plugins`` to the ``libra`` parser."""
    run = sub.add_parser("run", help="run the daemon until SIGTERM/SIGINT")
    run.add_argument("--config", "-c", required=True, metavar="FILE",
                     help="TOML or YAML config file")
    run.add_argument("--log-format", choices=["auto", "json", "console"], default=None,
                     help="log line format (default: logging.format of the config)")
    run.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default=None,
                     help="lowest level logged (default: logging.level of the config)")
    run.add_argument("--fresh-start", action="store_true",
                     help="accept a state file that lost history (kernel.fresh_start)")
    run.set_defaults(func=cmd_run)

    config = sub.add_parser("config", help="configuration tools")
    config_sub = config.add_subparsers(dest="config_command", metavar="COMMAND")
    config.set_defaults(func=show_help(config))
    check = config_sub.add_parser("check", help="validate and print the resolved config",
                                  usage=CHECK_USAGE.removeprefix("usage: "))
    check.add_argument("--config", "-c", dest="config_file", metavar="FILE", default=None,
                       help="TOML or YAML config file")
    check.add_argument("file", nargs="?", metavar="FILE", default=None,
                       help="the config file, given without --config (the older form)")
    check.set_defaults(func=cmd_config_check)

    plugins = sub.add_parser("plugins", help="list installed plugins")
    plugins.add_argument("--json", action="store_true",
                         help="print the plugins as JSON instead of a list")
    plugins.set_defaults(func=cmd_plugins)


def cmd_run(args: argparse.Namespace) -> int:
    from libra.cli.preflight import preflight
    from libra.kernel import TradingKernel
    from libra.observability.notify import notify_services
    from libra.observability.service import ops_service

    try:
        config = load(args.config)
        if args.fresh_start:
            config = config.model_copy(update={
                "kernel": config.kernel.model_copy(update={"fresh_start": True})})
        configure(config, args.log_format, args.log_level)
        preflight(config, http=config.environment != "backtest", state=True)
        services = [] if config.environment == "backtest" else [ops_service(Path(args.config))]
        if config.fleet is not None and config.environment != "backtest":
            from libra.fleet.service import fleet_service  # only then is nats imported

            services.append(fleet_service(config))
        services[:0] = notify_services(config)  # started first, stopped last
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
    except StateStoreError as exc:  # cannot persist, or history lost: never a clean exit
        return fail(f"{type(exc).__name__}: {exc}", EXIT_STATE)
    except LibraError as exc:
        return fail(f"{type(exc).__name__}: {exc}", EXIT_FAILURE)
    except Exception as exc:  # the top-level edge: report once, exit non-zero
        return fail(f"kernel failed: {type(exc).__name__}: {exc}", EXIT_FAILURE)
    if kernel.orders_left_open:
        return fail(f"stopped with {len(kernel.orders_left_open)} order(s) still open at the "
                    f"venue although kernel.cancel_orders_on_stop is set: "
                    f"{', '.join(kernel.orders_left_open[:10])}", EXIT_ORDERS_OPEN)
    return EXIT_OK


def cmd_config_check(args: argparse.Namespace) -> int:
    from libra.cli.preflight import preflight

    if (args.config_file is None) == (args.file is None):
        print(CHECK_USAGE, file=sys.stderr)
        return fail("config check: give the config file once, as --config FILE (or FILE)",
                    EXIT_CONFIG)
    try:
        config = load(args.config_file or args.file)
        preflight(config, http=config.environment != "backtest", state=True)
    except LibraError as exc:
        return fail(str(exc), EXIT_CONFIG)
    print(json.dumps(redact(config), indent=2, default=str))
    return EXIT_OK


def cmd_plugins(args: argparse.Namespace) -> int:
    from libra.cli.preflight import unmet_requirements
    from libra.plugins.loader import describe_plugins

    plugins = describe_plugins()
    for entries in plugins.values():
        for e in entries:
            # Discovered, but not usable until its requirements are installed.
            e["unavailable"] = unmet_requirements(e["requires"], e["distribution"])
    if args.json:
        print(json.dumps(plugins, indent=2))
        return EXIT_OK
    from libra.cli._tables import render_table

    for kind, entries in plugins.items():
        print(f"{kind} plugins:")
        rows = [[e["name"], e["version"], "unavailable" if e["unavailable"] else "ok",
                 e["class"], e["distribution"] or "-", e["description"]] for e in entries]
        print(render_table(("name", "version", "status", "class", "package", "description"),
                           rows))
        for e in entries:
            for why in e["unavailable"]:
                print(f"  {e['name']} unavailable: {why}")
    return EXIT_OK
