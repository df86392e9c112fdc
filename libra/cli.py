"""The ``libra`` command: parse arguments, load config, configure logging, choose the loop.

Exit codes: 0 clean stop; 1 runtime failure (a gateway failed to connect, a
plugin failed to build); 2 invalid configuration or usage; 130 forced stop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from libra import __version__
from libra.core.config import KernelConfig, collect_secrets, load_config, redact
from libra.core.errors import ConfigError, LibraError

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


def _fail(message: str, code: int) -> int:
    print(f"libra: error: {message}", file=sys.stderr)
    return code


def _load(path: str) -> KernelConfig:
    return load_config(Path(path))


def _configure(config: KernelConfig, log_format: str | None, level: str | None) -> None:
    from libra.observability.logging import configure_logging

    configure_logging(
        level=level or config.logging.level,
        fmt=log_format or config.logging.format,
        kernel=config.kernel.name,
        secrets=collect_secrets(config),
    )


def cmd_run(args: argparse.Namespace) -> int:
    from libra.core.kernel import TradingKernel

    try:
        config = _load(args.config)
        _configure(config, args.log_format, args.log_level)
        kernel = TradingKernel(config)
        kernel.config_path = Path(args.config)
        kernel.build()
    except ConfigError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    except LibraError as exc:
        return _fail(str(exc), EXIT_FAILURE)

    try:
        run_async(kernel.run())
    except asyncio.CancelledError:
        return EXIT_FORCED
    except KeyboardInterrupt:
        return EXIT_FORCED
    except ConfigError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    except LibraError as exc:
        return _fail(f"{type(exc).__name__}: {exc}", EXIT_FAILURE)
    except Exception as exc:  # the top-level edge: report once, exit non-zero
        return _fail(f"kernel failed: {type(exc).__name__}: {exc}", EXIT_FAILURE)
    return EXIT_OK


def cmd_config_check(args: argparse.Namespace) -> int:
    from libra.core.builder import build_all

    try:
        config = _load(args.file)
        build_all(config)
    except LibraError as exc:
        return _fail(str(exc), EXIT_CONFIG)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="libra", description="LIBRA trading daemon")
    parser.add_argument("--version", action="version", version=f"libra {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

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

    for register in _EXTRA_COMMANDS:
        register(sub)
    return parser


#: Subcommands contributed by other modules (backtest, state, ctl).
_EXTRA_COMMANDS: list[Callable[[Any], None]] = []


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``libra`` command; returns the exit code."""
    _load_extra_commands()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return int(args.func(args))


def _load_extra_commands() -> None:
    if _EXTRA_COMMANDS:
        return
    import importlib

    for module in ("libra.backtest.cli", "libra.persistence.cli", "libra.observability.ctl"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            # Only the command module (or its package) being absent is expected.
            if exc.name is None or not (module == exc.name or module.startswith(exc.name + ".")):
                raise
            continue
        _EXTRA_COMMANDS.append(mod.register)
