"""SIGHUP reload: re-read the config file, validate it, apply the safe subset.

Safe (applied at once): ``risk.*`` (``RiskEngine.update_config``), ``logging.level``
and ``logging.log_orders``, ``http.token``, and a strategy's ``params`` when the
strategy has an ``on_params(params)`` or ``update_params(params)`` hook (sync or
async; it gets the params validated like at boot). Everything else (gateways, the
set of strategies, their symbols, plugin or gateway, the kernel, bus and http
listener sections, strategy params without a hook) is logged as needing a restart
and not applied. An invalid file changes nothing and logs ``config.reload_failed``.

After a reload ``kernel.config`` is the running configuration: the old one with
the applied changes, so a later reload reports still-pending changes again.
"""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import BaseModel

from libra.core.config import KernelConfig, collect_secrets, load_config
from libra.core.errors import ConfigError
from libra.kernel.builder import validate_options
from libra.observability import logging as libra_logging

if TYPE_CHECKING:
    from prometheus_client import Counter

    from libra.kernel.control import KernelControl
    from libra.observability.systemd import SystemdNotifier

_log = structlog.get_logger("libra.reload")
_PARAM_HOOKS = ("on_params", "update_params")


@dataclass(slots=True)
class ReloadResult:
    """What a reload changed, what it left for a restart, or why it failed."""

    ok: bool
    applied: dict[str, Any] = field(default_factory=dict)
    requires_restart: list[str] = field(default_factory=list)
    error: str | None = None


def changed_fields(old: BaseModel, new: BaseModel, prefix: str) -> list[str]:
    """Return the dotted names of the top-level fields that differ between two models."""
    old_data, new_data = old.model_dump(), new.model_dump()
    return [f"{prefix}.{name}" for name in old_data if old_data[name] != new_data.get(name)]


def validate_plugins(kernel: KernelControl, config: KernelConfig, path: Path) -> None:
    """Validate strategy params and gateway options against the running plugins' models.

    Raises:
        ConfigError: an option is invalid for its plugin.
    """
    for index, cfg in enumerate(config.strategies):
        strategy = kernel.strategies.get(cfg.id)
        if strategy is not None and cfg.plugin == _plugin_of(kernel, "strategies", cfg.id):
            model = getattr(type(strategy), "config_model", None)
            raw = {**cfg.plugin_options(), **cfg.params}
            _validate(model, raw, f"strategies[{index}].params", path)
    for index, gcfg in enumerate(config.gateways):
        gateway = kernel.gateways.get(gcfg.id)
        if gateway is not None and gcfg.plugin == _plugin_of(kernel, "gateways", gcfg.id):
            model = getattr(type(gateway), "config_model", None)
            _validate(model, gcfg.plugin_options(), f"gateways[{index}]", path)


def _validate(model: Any, raw: dict[str, Any], where: str, path: Path) -> Any:
    try:
        return validate_options(model, raw, where)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}", path=str(path)) from None


def _plugin_of(kernel: KernelControl, section: str, item_id: str) -> str | None:
    for item in getattr(kernel.config, section):
        if item.id == item_id:
            return str(item.plugin)
    return None


def _validated_params(kernel: KernelControl, cfg: Any) -> dict[str, Any]:
    model = getattr(type(kernel.strategies[cfg.id]), "config_model", None)
    validated = validate_options(model, {**cfg.plugin_options(), **cfg.params}, cfg.id)
    return validated.model_dump() if isinstance(validated, BaseModel) else dict(validated)


def _restart_fields(old: KernelConfig, new: KernelConfig) -> list[str]:
    out = []
    for name in ("environment", "discover_plugins", "log_plugins"):
        if getattr(old, name) != getattr(new, name):
            out.append(name)
    for name in ("kernel", "bus", "notify"):
        out += changed_fields(getattr(old, name), getattr(new, name), name)
    out += [f for f in changed_fields(old.logging, new.logging, "logging")
            if f not in ("logging.level", "logging.log_orders")]
    out += [f for f in changed_fields(old.http, new.http, "http") if f != "http.token"]
    old_gw = {g.id: g for g in old.gateways}
    new_gw = {g.id: g for g in new.gateways}
    out += [f"gateways.{gid} (added)" for gid in new_gw.keys() - old_gw.keys()]
    out += [f"gateways.{gid} (removed)" for gid in old_gw.keys() - new_gw.keys()]
    out += [f"gateways.{gid}" for gid in old_gw.keys() & new_gw.keys()
            if old_gw[gid].model_dump() != new_gw[gid].model_dump()]
    old_st = {s.id: s for s in old.strategies}
    new_st = {s.id: s for s in new.strategies}
    out += [f"strategies.{sid} (added)" for sid in new_st.keys() - old_st.keys()]
    out += [f"strategies.{sid} (removed)" for sid in old_st.keys() - new_st.keys()]
    for sid in sorted(old_st.keys() & new_st.keys()):
        old_s, new_s = old_st[sid].model_dump(), new_st[sid].model_dump()
        out += [f"strategies.{sid}.{k}" for k in old_s
                if k != "params" and old_s[k] != new_s.get(k)]
    return sorted(out)


async def _apply_params(kernel: KernelControl, old: KernelConfig, new: KernelConfig,
                        result: ReloadResult) -> dict[str, dict[str, Any]]:
    """Call each changed strategy's params hook; return the params that were applied."""
    old_st = {s.id: s for s in old.strategies}
    applied: dict[str, dict[str, Any]] = {}
    for cfg in new.strategies:
        before = old_st.get(cfg.id)
        if before is None or cfg.id not in kernel.strategies:
            continue
        if before.params == cfg.params and before.plugin_options() == cfg.plugin_options():
            continue
        strategy = kernel.strategies[cfg.id]
        hook = next((getattr(strategy, n) for n in _PARAM_HOOKS if hasattr(strategy, n)), None)
        if hook is None:
            result.requires_restart.append(f"strategies.{cfg.id}.params (no on_params hook)")
            continue
        params = _validated_params(kernel, cfg)
        try:
            outcome = hook(params)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception as exc:  # a strategy's own code: report it, keep the old params
            _log.error("strategy.params_rejected", strategy_id=cfg.id,
                       error=f"{type(exc).__name__}: {exc}")
            result.requires_restart.append(f"strategies.{cfg.id}.params (hook failed)")
            continue
        runner = kernel.runners.get(cfg.id)
        if runner is not None:
            runner.params = params
        applied[cfg.id] = params
    return applied


async def reload_config(kernel: KernelControl, path: Path) -> ReloadResult:
    """Re-read ``path`` and apply its safe changes to ``kernel``; see the module docstring."""
    old = kernel.config
    try:
        new = load_config(path)
        validate_plugins(kernel, new, path)
    except ConfigError as exc:
        _log.error("config.reload_failed", path=str(path), error=str(exc))
        return ReloadResult(ok=False, error=str(exc))
    result = ReloadResult(ok=True, requires_restart=_restart_fields(old, new))
    libra_logging.add_secrets(collect_secrets(new))
    if new.risk != old.risk:
        kernel.trading.risk.update_config(new.risk)
        names = [f.removeprefix("risk.") for f in changed_fields(old.risk, new.risk, "risk")]
        result.applied["risk"] = {name: str(getattr(new.risk, name)) for name in names}
    if new.logging.level != old.logging.level:
        libra_logging.set_level(new.logging.level)
        result.applied["logging.level"] = new.logging.level
    if new.logging.log_orders != old.logging.log_orders:
        kernel.trading.log_orders = new.logging.log_orders
        result.applied["logging.log_orders"] = new.logging.log_orders
    if new.http.token != old.http.token:
        result.applied["http.token"] = "rotated"
    params = await _apply_params(kernel, old, new, result)
    if params:
        result.applied["strategies.params"] = sorted(params)
    kernel.config = _running_config(old, new, params)
    _log.info("config.reloaded", path=str(path), changed=result.applied or None,
              requires_restart=result.requires_restart or None)
    return result


def _running_config(old: KernelConfig, new: KernelConfig,
                    params: dict[str, dict[str, Any]]) -> KernelConfig:
    new_params = {s.id: s.params for s in new.strategies}
    strategies = [s.model_copy(update={"params": new_params[s.id]}) if s.id in params else s
                  for s in old.strategies]
    logging_cfg = old.logging.model_copy(
        update={"level": new.logging.level, "log_orders": new.logging.log_orders})
    return old.model_copy(update={
        "risk": new.risk,
        "logging": logging_cfg,
        "http": old.http.model_copy(update={"token": new.http.token}),
        "strategies": strategies,
    })


class ConfigReloader:
    """Run reloads one at a time, told by SIGHUP; report RELOADING/READY to systemd."""

    def __init__(
        self,
        kernel: KernelControl,
        path: Path | None,
        notifier: SystemdNotifier,
        counter: Counter | None = None,
    ) -> None:
        self.kernel = kernel
        self.path = path
        self.notifier = notifier
        self.counter = counter
        self.last: ReloadResult | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[ReloadResult]] = set()

    def schedule(self) -> None:
        """Start a reload in a task (safe from a signal handler)."""
        task = asyncio.get_running_loop().create_task(self.reload(), name="ops:reload")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait(self) -> None:
        """Wait for scheduled reloads to finish."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def reload(self) -> ReloadResult:
        """Reload now (waiting for a reload in progress); return what happened."""
        if self.path is None:
            return ReloadResult(ok=False, error="no config file to reload")
        async with self._lock:
            self.notifier.reloading()
            try:
                result = await reload_config(self.kernel, self.path)
            except Exception as exc:  # a reload must never take the daemon down
                _log.exception("config.reload_failed", path=str(self.path))
                result = ReloadResult(ok=False, error=f"{type(exc).__name__}: {exc}")
            finally:
                self.notifier.ready()
        if self.counter is not None:
            self.counter.labels("ok" if result.ok else "failed").inc()
        self.last = result
        return result
