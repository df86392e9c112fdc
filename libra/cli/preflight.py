"""The checks ``libra config check``, ``libra run`` and ``libra backtest`` make before
anything starts.

A config that validates can still fail later: a plugin whose optional dependency is not
installed, a data file that is missing or has no usable rows, a strategy symbol its
venue never provides, a state directory that cannot be created, a port already taken.
Found after start, each of these costs a half-started daemon (gateways connected,
strategies running) and an exit code that reads as a runtime failure. So one function,
``preflight``, checks all of them up front, for every command: ``config check`` passes
exactly what ``run`` would start with, and every refusal is a ``ConfigError`` that names
the file and the field (exit 2).
"""

from __future__ import annotations

import importlib.metadata as importlib_metadata
import importlib.util
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from libra.core.config import KernelConfig, StrategyConfig
from libra.core.errors import ConfigError, PluginError
from libra.data import DataFormatError, Loaded, load_bars, load_quotes, load_trades
from libra.gateways.paper.config import PaperDataConfig, PaperGatewayConfig, ReplayFileConfig
from libra.kernel.builder import build_all
from libra.plugins.loader import GATEWAY_GROUP, STRATEGY_GROUP, discover_entries

_OWN_DISTRIBUTION = "libra-trader"
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")


def preflight(config: KernelConfig, *, http: bool, state: bool) -> None:
    """Check everything a run of ``config`` needs before anything connects or starts.

    Args:
        http: also check that the HTTP server's port is free (a daemon that serves it).
        state: also check that the state store's directory can be created and written.

    Raises:
        ConfigError: the first problem, naming the file and the field.
    """
    where = f"{config.source_path}: " if config.source_path else ""
    _check_something_to_run(config, where)
    _check_requirements(config, where)
    if config.notify.targets and config.environment != "backtest":  # a backtest notifies no one
        from libra.observability.notify import check_notify  # only then is apprise loaded

        check_notify(config.notify, where)
    try:
        gateways, _ = build_all(config)
    except (ConfigError, PluginError) as exc:
        raise ConfigError(_named(str(exc), config.source_path),
                          path=_text(config.source_path)) from None
    provided: dict[str, set[str] | None] = {}
    for index, cfg in enumerate(config.gateways):
        options = getattr(gateways.get(cfg.id), "options", None)
        if cfg.enabled and isinstance(options, PaperGatewayConfig):
            provided[cfg.id] = _check_replay_data(options, index, where,
                                                  _strategy_symbols(config, cfg.id))
    _check_symbols(config, provided, where)
    if state:
        _check_state_path(config.kernel.state_path, where)
    if http and config.http.enabled:
        _check_port(config.http.host, config.http.port, where)


def _named(message: str, path: Path | None) -> str:
    if path is None or message.startswith(str(path)):
        return message
    return f"{path}: {message}"


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _check_something_to_run(config: KernelConfig, where: str) -> None:
    if not any(g.enabled for g in config.gateways):
        raise ConfigError(f"{where}field gateways: no enabled gateway; a config needs at "
                          "least one [[gateways]] entry", field="gateways")
    if not any(s.enabled for s in config.strategies):
        raise ConfigError(f"{where}field strategies: no enabled strategy; a config needs at "
                          "least one [[strategies]] entry", field="strategies")


# --- plugins' optional dependencies -----------------------------------------------------------


def _check_requirements(config: KernelConfig, where: str) -> None:
    """Refuse a plugin whose declared requirements (``PluginMetadata.requires``) are missing."""
    used = [(GATEWAY_GROUP, f"gateways[{i}].plugin", g.plugin)
            for i, g in enumerate(config.gateways) if g.enabled]
    used += [(STRATEGY_GROUP, f"strategies[{i}].plugin", s.plugin)
             for i, s in enumerate(config.strategies) if s.enabled]
    for group, field, name in used:
        entry = discover_entries(group).get(name)
        if entry is None:
            continue  # an unknown name or a "module:Class" path: the builder names it
        for requirement in entry.metadata.requires:
            module = _missing_module(requirement)
            if module is not None:
                raise ConfigError(
                    f"{where}field {field}: plugin {name!r} needs {module}, which is not "
                    f"installed; install it with: {_install_hint(requirement, entry.distribution)}",
                    field=field)


def unmet_requirements(requires: list[str] | tuple[str, ...], distribution: str
                       ) -> list[str]:
    """Return, for each of a plugin's ``requires`` that is not installed, what to install."""
    return [f"needs {module}: {_install_hint(requirement, distribution)}"
            for requirement in requires
            if (module := _missing_module(requirement)) is not None]


def _missing_module(requirement: str) -> str | None:
    match = _REQUIREMENT_NAME.match(requirement)
    if match is None:
        return None
    module = match.group(1).lower().replace("-", "_")
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        found = None
    return None if found is not None else match.group(1)


def _install_hint(requirement: str, distribution: str) -> str:
    name = requirement.split(";")[0].strip()
    if distribution == _OWN_DISTRIBUTION:
        extra = _extra_for(name)
        if extra is not None:
            return f"pip install '{_OWN_DISTRIBUTION}[{extra}]'"
    return f"pip install '{name}'"


def _extra_for(requirement: str) -> str | None:
    """Return the extra of our own distribution that installs ``requirement``."""
    wanted = _REQUIREMENT_NAME.match(requirement)
    try:
        declared = importlib_metadata.requires(_OWN_DISTRIBUTION) or []
    except importlib_metadata.PackageNotFoundError:
        return None
    for line in declared:
        name, marker = _REQUIREMENT_NAME.match(line), _EXTRA_MARKER.search(line)
        if (wanted and name and marker and marker.group(1) != "dev"
                and name.group(1).lower() == wanted.group(1).lower()):
            return marker.group(1)
    return None


# --- market data files ------------------------------------------------------------------------


def _strategy_symbols(config: KernelConfig, gateway_id: str) -> list[str]:
    """Return the symbols of the enabled strategies trading on ``gateway_id``."""
    enabled = [g.id for g in config.gateways if g.enabled]
    symbols: list[str] = []
    for strategy in config.strategies:
        if strategy.enabled and _gateway_of(strategy, enabled) == gateway_id:
            symbols += [s for s in strategy.symbols if s not in symbols]
    return symbols


def _replay_fields(index: int, data: PaperDataConfig, symbols: list[str], where: str
                   ) -> Iterator[tuple[str, ReplayFileConfig]]:
    base = f"gateways[{index}].data"
    try:
        files = data.replay_files(symbols)
    except ConfigError as exc:  # a dataset that is not downloaded: say which and how
        field = f"gateways[{index}].{exc.field}" if exc.field else base
        raise ConfigError(f"{where}{str(exc).replace('field data.', f'field {base}.', 1)}",
                          field=field) from None
    if data.exchange is not None:
        datasets = len(files) - len(data.files)
        yield from ((f"{base}.exchange", spec) for spec in files[:datasets])
        files = files[datasets:]
    offset = 1 if data.path else 0
    for position, spec in enumerate(files):
        if data.path and position == 0:
            yield f"{base}.path", spec
        else:
            yield f"{base}.files[{position - offset}].path", spec


def _check_replay_data(options: PaperGatewayConfig, index: int, where: str,
                       strategy_symbols: list[str]) -> set[str] | None:
    """Load each replay file as the venue will; return the symbols they provide.

    ``None``: the venue replays nothing (any subscribed symbol may come from elsewhere).
    """
    data = options.data
    if data.source != "replay":
        return None
    symbols: set[str] = set()
    for field, spec in _replay_fields(index, data, strategy_symbols, where):
        # The symbol the venue gives a file's events (PaperGateway.connect).
        symbol = spec.symbol or options.default_replay_symbol()
        if symbol is None:
            raise ConfigError(
                f"{where}field gateways[{index}].data.symbol: required, since {spec.path} "
                "names no symbol of its own", field=f"gateways[{index}].data.symbol")
        events = _load_replay_file(spec, symbol, field, where)
        if not events:
            rejected = f", {events.skipped:,} rows rejected" if events.skipped else ""
            raise ConfigError(f"{where}field {field}: {spec.path} has no usable rows{rejected}",
                              field=field)
        symbols.add(symbol)
    return symbols


def _load_replay_file(spec: ReplayFileConfig, symbol: str, field: str, where: str
                      ) -> Loaded[Any]:
    try:
        if spec.kind == "bars":
            return load_bars(spec.path, symbol=symbol, timeframe=spec.timeframe)
        if spec.kind == "trades":
            return load_trades(spec.path, symbol=symbol)
        return load_quotes(spec.path, symbol=symbol)
    except DataFormatError as exc:
        message = str(exc)
    except UnicodeDecodeError as exc:
        message = f"{spec.path!r} is not UTF-8 text (byte offset {exc.start})"
    except FileNotFoundError:
        message = f"no data file at {spec.path!r}"
    except (ValueError, ImportError) as exc:  # an unknown bundled name; pyarrow missing
        message = str(exc)
    except OSError as exc:
        message = f"cannot read {spec.path!r}: {exc.strerror}"
    raise ConfigError(f"{where}field {field}: {message}", field=field)


def _check_symbols(config: KernelConfig, provided: dict[str, set[str] | None],
                   where: str) -> None:
    enabled = [g.id for g in config.gateways if g.enabled]
    for index, strategy in enumerate(config.strategies):
        if not strategy.enabled:
            continue
        gateway = _gateway_of(strategy, enabled)
        symbols = provided.get(gateway) if gateway is not None else None
        if symbols is None:
            continue  # the venue is live: its symbols are known once it connects
        for symbol in strategy.symbols:
            if symbol not in symbols:
                raise ConfigError(
                    f"{where}field strategies[{index}].symbols: {symbol!r} is not in the "
                    f"data of gateway {gateway!r}, which provides {sorted(symbols)}",
                    field=f"strategies[{index}].symbols")


def _gateway_of(strategy: StrategyConfig, enabled: list[str]) -> str | None:
    if strategy.gateway is not None:
        return strategy.gateway
    return enabled[0] if len(enabled) == 1 else None


# --- state directory and HTTP port ------------------------------------------------------------


def _check_state_path(state_path: str | None, where: str) -> None:
    """Refuse a state file whose directory cannot be created or written (checked by doing it
    in a scratch file, so read-only mounts and root-owned directories are caught too)."""
    if not state_path:
        return
    path = Path(state_path).expanduser()
    field = "kernel.state_path"
    if path.is_dir():
        raise ConfigError(f"{where}field {field}: {state_path!r} is a directory; name a file",
                          field=field)
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{where}field {field}: cannot create the directory of "
                          f"{state_path!r}: {str(existing)!r} is not a directory", field=field)
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".libra-preflight-"):
            pass
    except OSError as exc:
        raise ConfigError(f"{where}field {field}: cannot write in {str(existing)!r} (for "
                          f"{state_path!r}): {exc.strerror}", field=field) from None
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise ConfigError(f"{where}field {field}: {state_path!r} is not readable and "
                          "writable", field=field)


def _check_port(host: str, port: int, where: str) -> None:
    if port == 0:
        return
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        for family, kind, proto, _, address in addresses:
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(address)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"{where}field http.port: cannot listen on {host}:{port}: {reason}",
                          field="http.port") from None
