"""Build plugin instances from config: the only place that constructs them.

Everything here runs before anything connects, so a bad plugin name or an
invalid option stops the kernel at boot with a ``ConfigError`` that names the
field path (``gateways[0].speed``) and lists what is available.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, RootModel, ValidationError

from libra.core.config import GatewayConfig, KernelConfig, StrategyConfig, config_error_from
from libra.core.errors import ConfigError, PluginError, PluginNotFoundError
from libra.plugins.base import GatewayPlugin, StrategyPlugin
from libra.plugins.loader import load_gateway, load_strategy


def validate_options(
    model: type[BaseModel] | None,
    options: dict[str, Any],
    where: str,
    path: Path | str | None = None,
) -> Any:
    """Validate plugin options with the plugin's model; plain dict if it has none.

    Unknown keys are refused even when the model leaves pydantic's ``extra`` unset
    (whose default silently ignores them): a misspelt option must not pass for its
    default. A model that sets ``extra`` itself (``"allow"``, ``"ignore"``) keeps its choice.

    Raises:
        ConfigError: naming ``path`` (the config file, when known) and each field path
            under ``where``, e.g. ``strategies[0].params.periodd: unknown key``.
    """
    if model is None:
        return dict(options)
    try:
        if model.model_config.get("extra") is None and not issubclass(model, RootModel):
            _forbidding_unknown_keys(model).model_validate(options)
        return model.model_validate(options)
    except ValidationError as exc:
        raise config_error_from(exc, path, prefix=where) from None


def _forbidding_unknown_keys(model: type[BaseModel]) -> type[BaseModel]:
    """Return a subclass of ``model`` that refuses unknown keys, to check options with.

    The options are then validated by ``model`` itself, so the plugin gets an instance
    of its own class.
    """
    namespace = {"model_config": ConfigDict(extra="forbid"), "__module__": model.__module__,
                 "__qualname__": model.__qualname__}
    return type(model.__name__, (model,), namespace)


def build_gateway(
    cfg: GatewayConfig, index: int, path: Path | str | None = None
) -> GatewayPlugin:
    """Instantiate one configured gateway with validated options (``path``: the config file)."""
    where = f"gateways[{index}]"
    cls = _load(load_gateway, cfg.plugin, f"{where}.plugin")
    options = validate_options(
        getattr(cls, "config_model", None), cfg.plugin_options(), where, path)
    try:
        gateway = cls(options, gateway_id=cfg.id)
    except ConfigError:
        raise
    except Exception as exc:
        raise PluginError(
            f"{where}: gateway plugin {cfg.plugin!r} failed to build: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(gateway, GatewayPlugin):
        raise ConfigError(f"field {where}.plugin: {cfg.plugin!r} is not a GatewayPlugin")
    return gateway


def build_strategy(
    cfg: StrategyConfig, index: int, path: Path | str | None = None
) -> tuple[StrategyPlugin, dict[str, Any]]:
    """Instantiate one configured strategy; return it and its validated params."""
    where = f"strategies[{index}]"
    cls = _load(load_strategy, cfg.plugin, f"{where}.plugin")
    raw = {**cfg.plugin_options(), **cfg.params}
    validated = validate_options(
        getattr(cls, "config_model", None), raw, f"{where}.params", path)
    params = validated.model_dump() if isinstance(validated, BaseModel) else validated
    try:
        strategy = cls(params) if _takes_config(cls) else cls()
    except ConfigError:
        raise
    except Exception as exc:
        raise PluginError(
            f"{where}: strategy plugin {cfg.plugin!r} failed to build: {type(exc).__name__}: {exc}"
        ) from exc
    return strategy, params


def build_all(
    config: KernelConfig,
    instances: dict[str, StrategyPlugin] | None = None,
) -> tuple[dict[str, GatewayPlugin], dict[str, tuple[StrategyPlugin, dict[str, Any]]]]:
    """Build every enabled gateway and strategy of ``config``.

    ``instances`` supplies ready strategy objects by strategy id (a strategy's own
    ``backtest()``, the optimizer); their ``params`` are passed through as given.
    """
    instances = instances or {}
    path = config.source_path
    gateways = {
        g.id: build_gateway(g, i, path) for i, g in enumerate(config.gateways) if g.enabled
    }
    strategies: dict[str, tuple[StrategyPlugin, dict[str, Any]]] = {}
    for i, s in enumerate(config.strategies):
        if not s.enabled:
            continue
        if s.gateway is None and len(gateways) != 1:
            raise ConfigError(
                f"field strategies[{i}].gateway: required when {len(gateways)} gateways "
                "are configured",
                field=f"strategies[{i}].gateway",
            )
        if s.gateway is not None and s.gateway not in gateways:
            raise ConfigError(
                f"field strategies[{i}].gateway: gateway {s.gateway!r} is disabled",
                field=f"strategies[{i}].gateway",
            )
        if s.id in instances:
            strategies[s.id] = (instances[s.id], {**s.plugin_options(), **s.params})
        else:
            strategies[s.id] = build_strategy(s, i, path)
    return gateways, strategies


def _load(loader: Any, name: str, where: str) -> Any:
    if ":" in name:
        base = StrategyPlugin if loader is load_strategy else GatewayPlugin
        return import_plugin_class(name, base, where)
    try:
        return loader(name)
    except PluginNotFoundError as exc:
        raise ConfigError(f"field {where}: {exc}", field=where) from None


def import_plugin_class(path: str, base: type, where: str) -> type:
    """Import ``"package.module:Class"`` (an entry point value) for a plugin not installed
    as a package, e.g. while developing it."""
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"field {where}: cannot import {path!r}: {type(exc).__name__}: {exc}", field=where
        ) from None
    if not isinstance(cls, type) or not issubclass(cls, base):
        raise ConfigError(f"field {where}: {path!r} is not a {base.__name__}", field=where)
    return cls


def _takes_config(cls: type) -> bool:
    """Return whether the class's constructor accepts a positional config argument."""
    init = cls.__init__  # type: ignore[misc]
    if init is object.__init__:
        return False
    try:
        params = list(inspect.signature(init).parameters.values())[1:]
    except (TypeError, ValueError):
        return False
    return any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params
    )
