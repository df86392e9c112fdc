"""KernelConfig and its sections; loading TOML/YAML files.

One frozen pydantic tree that rejects unknown keys. ``load_config(path)``:

1. reads ``.toml`` or ``.yaml``/``.yml``;
2. replaces ``${VAR}`` / ``${VAR:-default}`` in string values from the environment;
3. applies ``LIBRA__SECTION__KEY=value`` overrides (list items by index:
   ``LIBRA__GATEWAYS__0__SPEED=60``);
4. validates, and raises ``ConfigError`` naming the file, the field path and the
   problem. Plugin options are validated against each plugin's own
   ``config_model`` by the kernel at build time, with the same kind of message.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from libra.core.errors import ConfigError

ENV_PREFIX = "LIBRA__"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


class LibraModel(BaseModel):
    """Base of every config model: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class KernelSection(LibraModel):
    name: str = "libra"
    state_path: str | None = None
    shutdown_timeout: float = Field(10.0, gt=0)
    strategy_shutdown_timeout: float = Field(5.0, gt=0)
    connect_timeout: float = Field(30.0, gt=0)
    cancel_orders_on_stop: bool = False
    venue_only_orders: Literal["adopt", "flag", "cancel"] = Field(
        "flag", description="what reconciliation does with open orders the store does not know")
    continue_on_mismatch: bool = Field(
        False, description="start trading even when reconciliation leaves a mismatch")
    reconcile_confirm_delay: float = Field(1.0, ge=0)
    stale_data_after: float = Field(60.0, gt=0, description="seconds without market data "
                                    "before a stream counts as stale (health, watchdog)")


class PluginInstance(BaseModel):
    """A configured plugin instance; keys other than the declared ones are its options."""

    model_config = ConfigDict(frozen=True, extra="allow")

    id: str = Field(min_length=1)
    plugin: str = Field(min_length=1)
    enabled: bool = True
    options: dict[str, Any] = Field(default_factory=dict)

    def plugin_options(self) -> dict[str, Any]:
        """Return the options: extra keys merged with an explicit ``options`` table."""
        merged = dict(self.model_extra or {})
        merged.update(self.options)
        return merged


class GatewayConfig(PluginInstance):
    pass


class StrategyConfig(PluginInstance):
    gateway: str | None = None
    symbols: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    inbox_size: int | None = Field(None, gt=0)
    max_consecutive_errors: int | None = Field(None, gt=0)


class BusConfig(LibraModel):
    inbox_size: int = Field(10_000, gt=0)
    max_consecutive_errors: int = Field(10, gt=0)
    drain_batch: int = Field(256, gt=0)


class RiskConfig(LibraModel):
    trading_state: Literal["active", "reducing", "halted"] = "active"
    max_order_notional: Decimal | None = Field(None, gt=0)
    max_order_quantity: Decimal | None = Field(None, gt=0)
    max_position_quantity: Decimal | None = Field(None, gt=0)
    max_position_notional: Decimal | None = Field(None, gt=0)
    max_open_orders: int | None = Field(None, gt=0)
    max_orders_per_second: float | None = Field(None, gt=0)
    max_orders_per_second_global: float | None = Field(None, gt=0)
    price_band: Decimal | None = Field(None, gt=0, description="max |price-last|/last")
    daily_loss_limit: Decimal | None = Field(None, gt=0)


class LoggingConfig(LibraModel):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"
    heartbeat_interval: float = Field(10.0, gt=0)
    log_orders: bool = True


class HttpConfig(LibraModel):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    token: SecretStr | None = None


class BacktestSection(LibraModel):
    """What ``libra backtest`` runs over and writes."""

    # ``json`` in files; ``json_path`` too, so that a config dumped without aliases loads.
    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True,
                              validate_by_alias=True)

    start: str | None = Field(None, description="ISO date/time (UTC) of the first event")
    end: str | None = Field(None, description="ISO date/time (UTC) of the last event")
    report: str | None = Field(None, description="path of the HTML report")
    json_path: str | None = Field(None, alias="json", description="path of the JSON results")
    periods_per_year: float | None = Field(None, gt=0)


class ParamSpec(LibraModel):
    """One searched parameter: a numeric range (``low``..``high``) or ``choices``."""

    low: float | None = None
    high: float | None = None
    step: float | None = Field(None, gt=0)
    log: bool = False
    choices: list[Any] | None = None
    type: Literal["int", "float", "decimal", "auto"] = "auto"

    @model_validator(mode="after")
    def _check(self) -> ParamSpec:
        if self.choices is None and (self.low is None or self.high is None):
            raise ValueError("a parameter needs low and high, or choices")
        if self.choices is not None and not self.choices:
            raise ValueError("choices must not be empty")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
        return self


class OptimizeSection(LibraModel):
    """What ``libra optimize`` searches and how."""

    strategy: str | None = Field(None, description="strategy id whose params are searched")
    space: dict[str, ParamSpec] = Field(default_factory=dict)
    method: Literal["grid", "tpe", "random"] = "tpe"
    objective: str = "sharpe"
    direction: Literal["maximize", "minimize"] = "maximize"
    trials: int = Field(50, gt=0)
    workers: int = Field(1, gt=0)
    executor: Literal["local", "ray"] = "local"
    storage: str | None = Field(None, description="optuna storage URL, e.g. sqlite:///study.db")
    study_name: str | None = None
    seed: int = 0


class KernelConfig(LibraModel):
    """The whole configuration of one kernel; every field has a default."""

    discover_plugins: bool = True
    log_plugins: bool = True
    environment: Literal["live", "paper", "backtest"] = "paper"
    kernel: KernelSection = Field(default_factory=KernelSection)
    gateways: list[GatewayConfig] = Field(default_factory=list)
    strategies: list[StrategyConfig] = Field(default_factory=list)
    bus: BusConfig = Field(default_factory=BusConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    backtest: BacktestSection = Field(default_factory=BacktestSection)
    optimize: OptimizeSection = Field(default_factory=OptimizeSection)

    @model_validator(mode="after")
    def _check_references(self) -> KernelConfig:
        _unique([g.id for g in self.gateways], "gateways")
        _unique([s.id for s in self.strategies], "strategies")
        gateway_ids = {g.id for g in self.gateways}
        for strategy in self.strategies:
            if strategy.gateway is not None and strategy.gateway not in gateway_ids:
                raise ValueError(
                    f"strategy {strategy.id!r} names gateway {strategy.gateway!r}, "
                    f"which is not configured; configured: {sorted(gateway_ids) or 'none'}"
                )
        return self

    @property
    def name(self) -> str:
        return self.kernel.name

    @property
    def source_path(self) -> Path | None:
        """Return the file ``load_config`` read this config from (``None``: built in code).

        Not a field: it takes no part in equality, dumps or validation, and ``model_copy``
        keeps it. The builder names the file in plugin option errors with it.
        """
        source: Path | None = self.__dict__.get(_SOURCE_KEY)
        return source


#: Where ``validate_config`` records the source file in a config's ``__dict__`` (as a
#: ``cached_property`` would): pydantic ignores keys there that are not fields.
_SOURCE_KEY = "_libra_source_path"


def _unique(ids: list[str], section: str) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"duplicate id {item!r} in {section}")
        seen.add(item)


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> KernelConfig:
    """Read, interpolate, override and validate a config file.

    Raises:
        ConfigError: the file is missing, malformed or invalid; the message
            names the file, the field path and the problem.
    """
    path = Path(path)
    env = os.environ if environ is None else environ
    raw = read_config_file(path)
    raw = interpolate(raw, env, path)
    raw = apply_env_overrides(raw, env)
    return validate_config(raw, path)


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a TOML or YAML file into a dict."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found", path=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}", path=str(path)) from None
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: malformed TOML: {exc}", path=str(path)) from None
    elif suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            detail = str(exc).replace("\n", " ")
            raise ConfigError(f"{path}: malformed YAML: {detail}", path=str(path)) from None
        data = {} if data is None else data
    else:
        raise ConfigError(
            f"{path}: unsupported config format {suffix or '(none)'}; use .toml, .yaml or .yml",
            path=str(path),
        )
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a table/mapping", path=str(path))
    return data


def interpolate(value: Any, env: Mapping[str, str], path: Path, where: str = "") -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string value."""
    if isinstance(value, dict):
        return {k: interpolate(v, env, path, _join(where, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, path, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(
                f"{path}: field {where}: environment variable {name} is not set",
                path=str(path),
                field=where,
            )

        return _VAR.sub(replace, value)
    return value


def apply_env_overrides(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Apply ``LIBRA__SECTION__KEY=value`` overrides; values are parsed as YAML scalars."""
    for key in sorted(env):
        if not key.startswith(ENV_PREFIX) or key == ENV_PREFIX:
            continue
        parts = [p.lower() for p in key[len(ENV_PREFIX) :].split("__") if p]
        if parts:
            _set_path(data, parts, _parse_scalar(env[key]), key)
    return data


def _parse_scalar(text: str) -> Any:
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    # Keep numbers that look like money exact ("0.1" must not become a float), and dates
    # as the text the config models parse.
    if not isinstance(value, (bool, int, str)):
        return text
    return value


def _set_path(node: Any, parts: list[str], value: Any, env_key: str) -> None:
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"{env_key}: no list item {part!r} to override", field=env_key)
            if last:
                node[int(part)] = value
                return
            node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
                return
            node = node.setdefault(part, {})
        else:
            raise ConfigError(f"{env_key}: cannot override inside a scalar value", field=env_key)


def validate_config(raw: dict[str, Any], path: Path | None = None) -> KernelConfig:
    """Validate a raw mapping into a ``KernelConfig``."""
    try:
        config = KernelConfig.model_validate(raw)
    except ValidationError as exc:
        raise config_error_from(exc, path) from None
    if path is not None:
        config.__dict__[_SOURCE_KEY] = path
    return config


def config_error_from(
    exc: ValidationError, path: Path | str | None, prefix: str = ""
) -> ConfigError:
    """Turn a pydantic error into one ``ConfigError`` naming each field path."""
    lines = []
    first_field = None
    for err in exc.errors():
        loc = _loc(err["loc"], prefix)
        first_field = first_field or loc
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        value = err.get("input")
        shown = "" if err["type"] in ("missing", "extra_forbidden") else f" (was {_short(value)})"
        lines.append(f"field {loc or '(top level)'}: {msg}{shown}")
    where = f"{path}: " if path else ""
    return ConfigError(
        where + "; ".join(lines), path=str(path) if path else None, field=first_field
    )


def _loc(loc: tuple[int | str, ...], prefix: str) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in ("function-after[_check_references(), KernelConfig]",):
            out = _join(out, str(part))
    return out


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def _short(value: Any) -> str:
    if isinstance(value, SecretStr):
        return "'**********'"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_SECRET_KEY = re.compile(r"(secret|password|passphrase|token|api_?key|private)", re.IGNORECASE)


def redact(value: Any, key: str = "") -> Any:
    """Return plain data with secrets replaced by ``'**********'`` (for printing and logs)."""
    if isinstance(value, SecretStr):
        return "**********" if value.get_secret_value() else ""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="python")
        return redact(value, key)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v, key) for v in value]
    if key and _SECRET_KEY.search(key) and isinstance(value, str) and value:
        return "**********"
    if isinstance(value, Decimal):
        return str(value)
    return value


def collect_secrets(value: Any) -> set[str]:
    """Return every secret string in a config tree (to scrub from logs)."""
    found: set[str] = set()
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        if secret:
            found.add(secret)
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            found |= collect_secrets(getattr(value, name))
        found |= collect_secrets(value.model_extra or {})
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, str) and v and _SECRET_KEY.search(str(k)):
                found.add(v)
            else:
                found |= collect_secrets(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            found |= collect_secrets(v)
    return found
