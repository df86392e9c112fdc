"""KernelConfig and its sections; loading TOML/YAML files.

One frozen pydantic tree that rejects unknown keys. ``load_config(path)``:

1. reads ``.toml`` or ``.yaml``/``.yml`` as UTF-8, refusing what could knock the
   process over before validation even starts: files over ``MAX_CONFIG_BYTES``, nesting
   deeper than ``MAX_DEPTH``, YAML aliases that expand past ``MAX_VALUES`` values;
2. replaces ``${VAR}`` / ``${VAR:-default}`` in string values from the environment;
3. applies ``LIBRA__SECTION__KEY=value`` overrides (list items by index:
   ``LIBRA__GATEWAYS__0__SPEED=60``), typed by the schema: a string field gets the text
   as it is (a secret of digits stays a string), a table or list is parsed as YAML flow;
4. registers every secret-looking value with the scrubber (``libra.core.redaction``),
   before validation, so even a refused file's secrets never reach an output;
5. validates, and raises ``ConfigError`` naming the file, the field path and the
   problem, never the value of a secret field or a raw part of the document. Plugin
   options are validated against each plugin's own ``config_model`` by the kernel at
   build time, with the same kind of message.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from libra.core.errors import ConfigError
from libra.core.redaction import REDACTED, SECRET_KEY, register_secrets, scrub

ENV_PREFIX = "LIBRA__"
#: Limits on a config file: far above any real one, far below what would hurt.
MAX_CONFIG_BYTES = 1_000_000
MAX_DEPTH = 32
MAX_VALUES = 100_000
MAX_YAML_ALIASES = 1_000
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


class LibraModel(BaseModel):
    """Base of every config model: frozen, unknown keys rejected, no infinity or NaN."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


#: A name shown in logs, metrics and file names: printable, no surrounding blanks.
NAME_PATTERN = r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$"
NAME_MAX = 64
#: Seconds any configured wait may last: a day. Longer is a typo, not a plan.
MAX_SECONDS = 86_400.0


class KernelSection(LibraModel):
    name: str = Field("libra", min_length=1, max_length=NAME_MAX, pattern=NAME_PATTERN)
    state_path: str | None = None
    fresh_start: bool = Field(
        False, description="accept a state file that lost history (missing, emptied, rolled "
        "back, replaced) and start from what it holds; for one start, not for ever")
    state_retention: float | None = Field(
        604_800.0, gt=0, description="seconds a closed order, its events and fills are kept "
        "one by one before they are compacted into counters (none: kept for ever)")
    state_checkpoint_interval: float = Field(
        60.0, gt=0, le=MAX_SECONDS, description="seconds between WAL checkpoints")
    shutdown_timeout: float = Field(10.0, gt=0, le=3600)
    strategy_shutdown_timeout: float = Field(5.0, gt=0, le=3600)
    connect_timeout: float = Field(30.0, gt=0, le=3600)
    cancel_orders_on_stop: bool = False
    venue_only_orders: Literal["adopt", "flag", "cancel"] = Field(
        "flag", description="what reconciliation does with open orders the store does not know")
    continue_on_mismatch: bool = Field(
        False, description="start trading even when reconciliation leaves a mismatch")
    reconcile_confirm_delay: float = Field(1.0, ge=0, le=300)
    stale_data_after: float = Field(
        60.0, gt=0, le=MAX_SECONDS,
        description="seconds without market data before a stream counts as stale")


class PluginInstance(BaseModel):
    """A configured plugin instance; keys other than the declared ones are its options."""

    model_config = ConfigDict(frozen=True, extra="allow", allow_inf_nan=False)

    id: str = Field(min_length=1, max_length=NAME_MAX, pattern=NAME_PATTERN)
    plugin: str = Field(min_length=1, max_length=200)
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
    symbols: list[Annotated[str, Field(min_length=1, max_length=NAME_MAX,
                                       pattern=NAME_PATTERN)]] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    inbox_size: int | None = Field(None, gt=0, le=10_000_000)
    max_consecutive_errors: int | None = Field(None, gt=0, le=1_000_000)


class BusConfig(LibraModel):
    inbox_size: int = Field(10_000, gt=0, le=10_000_000)
    max_consecutive_errors: int = Field(10, gt=0, le=1_000_000)
    drain_batch: int = Field(256, gt=0, le=1_000_000)


class RiskConfig(LibraModel):
    trading_state: Literal["active", "reducing", "halted"] = "active"
    max_order_notional: Decimal | None = Field(None, gt=0)
    max_order_quantity: Decimal | None = Field(None, gt=0)
    max_position_quantity: Decimal | None = Field(None, gt=0)
    max_position_notional: Decimal | None = Field(None, gt=0)
    max_open_orders: int | None = Field(None, gt=0, le=1_000_000)
    max_orders_per_second: float | None = Field(None, gt=0, le=100_000)
    max_orders_per_second_global: float | None = Field(None, gt=0, le=100_000)
    price_band: Decimal | None = Field(None, gt=0, le=10, description="max |price-last|/last")
    daily_loss_limit: Decimal | None = Field(None, gt=0)
    breaker_denials: int = Field(20, ge=1, le=1_000_000, description=(
        "denied orders of one strategy within breaker_window, or in a row, that pause it"))
    breaker_window: float = Field(60.0, gt=0, le=86_400, description=(
        "seconds of the kernel's clock over which breaker_denials are counted"))


class LoggingConfig(LibraModel):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"
    heartbeat_interval: float = Field(10.0, ge=0.1, le=MAX_SECONDS)
    log_orders: bool = True


class HttpConfig(LibraModel):
    enabled: bool = False
    host: str = Field("127.0.0.1", min_length=1, max_length=253)
    port: int = Field(8080, ge=0, le=65535)
    token: SecretStr | None = None
    read_timeout: float = Field(10.0, gt=0, le=300, description=(
        "seconds a client has to send a request's headers, and an idle connection is kept"))

    @model_validator(mode="after")
    def _check_exposure(self) -> HttpConfig:
        token = self.token.get_secret_value() if self.token is not None else ""
        if self.enabled and not token and not is_loopback(self.host):
            raise ValueError(
                f"host {self.host!r} is reachable from other machines and no http.token is "
                "set; set http.token (e.g. token = \"${LIBRA_HTTP_TOKEN}\") or bind 127.0.0.1")
        return self


def is_loopback(host: str) -> bool:
    """Return whether ``host`` names this machine only (``localhost``, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


#: A NATS subject token: the fleet's and, in a fleet, the kernel's name.
SUBJECT_TOKEN = r"^[A-Za-z0-9_-]{1,64}$"


class FleetSection(LibraModel):
    """How the daemon joins a fleet over NATS JetStream (``libra.fleet``, docs/fleet.md)."""

    servers: list[Annotated[str, Field(pattern=r"^(nats|tls)://\S+$", max_length=500)]] = Field(
        default_factory=lambda: ["nats://127.0.0.1:4222"], min_length=1, max_length=32)
    name: str = Field(pattern=SUBJECT_TOKEN, description="the fleet: libra.<name>.> subjects")
    user: str | None = Field(None, min_length=1, max_length=256)
    password: SecretStr | None = None
    creds_file: str | None = Field(None, min_length=1, description="NATS .creds file path")
    buffer_size: int = Field(10_000, ge=10, le=10_000_000, description=(
        "events kept while NATS is unreachable; past it the oldest are dropped and counted"))
    publish_window: int = Field(256, ge=1, le=100_000, description="unacknowledged publishes")
    command_max_age: float = Field(5.0, gt=0, le=300, description=(
        "seconds a signed command stays valid (clock skew included)"))
    heartbeat_interval: float = Field(2.0, ge=0.1, le=3600)
    stream_max_age: float = Field(86_400.0, gt=0, le=31_536_000, description=(
        "seconds the stream keeps an event (retention when the daemon creates the stream)"))
    stream_max_bytes: int = Field(1_073_741_824, gt=0, description="bytes the stream keeps")
    stream_replicas: int = Field(1, ge=1, le=5, description=(
        "copies of the stream in a NATS cluster (3 in a three-node cluster)"))
    connect_timeout: float = Field(2.0, gt=0, le=300)

    @model_validator(mode="after")
    def _check_credentials(self) -> FleetSection:
        if (self.user is None) != (self.password is None):
            raise ValueError("user and password go together")
        if self.creds_file is not None and self.user is not None:
            raise ValueError("give user/password or creds_file, not both")
        return self


#: What a notification target may receive (``[notify]``, docs/operations.md).
NotifyEvent = Literal["fill", "strategy", "risk", "gateway", "error", "summary"]
NOTIFY_EVENTS: tuple[NotifyEvent, ...] = typing.get_args(NotifyEvent)
_HH_MM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
# Pieces of an apprise URL that are credentials whatever the service: a bot token in the
# host (``tgram://123:AAH.../chat``), a webhook token in the path, a password.
_URL_PIECES = re.compile(r"[/:@?&=#]+")
_TOKEN_LENGTH = 16


class NotifyTarget(LibraModel):
    """One place notifications go: an apprise URL and the events it receives."""

    name: str = Field(min_length=1, max_length=NAME_MAX, pattern=NAME_PATTERN)
    url: SecretStr = Field(description="apprise URL (tgram://, discord://, json://, ...)")
    events: list[NotifyEvent] = Field(
        default_factory=lambda: list(NOTIFY_EVENTS), min_length=1, max_length=len(NOTIFY_EVENTS))

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        # Known from here on: an error or a log line that quotes the URL shows none of it.
        register_secrets(_url_secrets(url))
        if "://" not in url or url.startswith("://"):
            raise ValueError("expected an apprise URL (scheme://...), e.g. tgram://TOKEN/CHAT_ID")
        return value

    @field_validator("events")
    @classmethod
    def _check_events(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("an event is listed twice")
        return value


def _url_secrets(url: str) -> set[str]:
    """Return the URL and every piece of it long enough to be a token or a password."""
    found = {url}
    rest = url.partition("://")[2]
    userinfo = rest.split("/", 1)[0].rpartition("@")[0]
    if ":" in userinfo:
        found.add(userinfo.split(":", 1)[1])
    # A dotted piece is a host name: known to everyone, and scrubbing it would garble logs.
    found.update(p for p in _URL_PIECES.split(rest) if len(p) >= _TOKEN_LENGTH and "." not in p)
    return found


class NotifyConfig(LibraModel):
    """Where notifications go (``[notify]``); no target: nothing is sent or imported."""

    targets: list[NotifyTarget] = Field(default_factory=list, max_length=64)
    daily_summary_at: str = Field("00:00", description=(
        "HH:MM, UTC: when targets with the summary event get the day's summary"))
    queue_size: int = Field(1000, ge=1, le=1_000_000, description=(
        "notifications waiting per target; past it new ones are dropped and counted"))
    send_timeout: float = Field(10.0, gt=0, le=300, description="seconds one send may take")
    stop_timeout: float = Field(5.0, ge=0, le=300, description=(
        "seconds the stop waits for queued notifications before dropping them"))
    error_interval: float = Field(60.0, gt=0, le=MAX_SECONDS, description=(
        "seconds between two error notifications of the same kind (a storm sends one)"))

    @field_validator("daily_summary_at")
    @classmethod
    def _check_time(cls, value: str) -> str:
        if not _HH_MM.match(value):
            raise ValueError("expected HH:MM in UTC, 00:00 to 23:59")
        return value

    @model_validator(mode="after")
    def _check(self) -> NotifyConfig:
        _unique([t.name for t in self.targets], "notify.targets")
        return self

    @property
    def summary_time(self) -> tuple[int, int]:
        """Return ``daily_summary_at`` as (hour, minute)."""
        hour, minute = self.daily_summary_at.split(":")
        return int(hour), int(minute)


class BacktestSection(LibraModel):
    """What ``libra backtest`` runs over and writes."""

    # ``json`` in files; ``json_path`` too, so that a config dumped without aliases loads.
    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True,
                              validate_by_alias=True)

    start: str | None = Field(None, description="ISO date/time (UTC) of the first event")
    end: str | None = Field(None, description="ISO date/time (UTC) of the last event")
    report: str | None = Field(None, description="path of the HTML report")
    json_path: str | None = Field(None, alias="json", description="path of the JSON results")
    periods_per_year: float | None = Field(None, gt=0, le=100_000_000)
    force_exit: bool = Field(
        True, description="close positions still open at the end at the last bar's open "
                          "(exit tag force_exit), as freqtrade does; false leaves them open")


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
    trials: int = Field(50, gt=0, le=1_000_000)
    workers: int = Field(1, gt=0, le=1024)
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
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    fleet: FleetSection | None = None

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
    raw = apply_env_overrides(raw, env, path)
    _measure(raw, path)  # again: an override may hold a YAML alias bomb of its own
    register_secrets(collect_secrets(raw))
    return validate_config(raw, path)


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a TOML or YAML file into a dict, within the size and shape limits."""
    text = _read_text(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data: Any = _parse_toml(text, path)
        elif suffix in (".yaml", ".yml"):
            data = _parse_yaml(text, path, "YAML")
            data = {} if data is None else data
        else:
            raise ConfigError(
                f"{path}: unsupported config format {suffix or '(none)'}; "
                "use .toml, .yaml or .yml",
                path=str(path),
            )
    except RecursionError:
        raise _too_deep(path) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a table/mapping", path=str(path))
    _measure(data, path)
    return data


def _read_text(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            content = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found", path=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}", path=str(path)) from None
    if len(content) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: file is larger than {MAX_CONFIG_BYTES:,} bytes; "
                          "a config file is expected to be small", path=str(path))
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{content[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8", path=str(path)) from None
    if "\x00" in text:
        raise ConfigError(f"{path}: contains NUL bytes; a config file is text",
                          path=str(path))
    return text


def _parse_toml(text: str, path: Path) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML: {exc}", path=str(path)) from None


class _LimitedYamlLoader(yaml.SafeLoader):  # type: ignore[misc]
    """``yaml.SafeLoader`` that counts aliases and nesting while it composes the document."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.libra_aliases = 0
        self.libra_depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.libra_aliases += 1
            if self.libra_aliases > MAX_YAML_ALIASES:
                raise _ShapeError(f"more than {MAX_YAML_ALIASES} YAML aliases")
        self.libra_depth += 1
        try:
            if self.libra_depth > MAX_DEPTH:
                raise _ShapeError(f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self.libra_depth -= 1


class _ShapeError(Exception):
    """A document that is well formed but too deep or too big to accept."""


def _parse_yaml(text: str, path: Path | None, what: str) -> Any:
    loader = _LimitedYamlLoader(text)
    where = f"{path}: " if path else ""
    try:
        return loader.get_single_data()
    except _ShapeError as exc:
        raise ConfigError(f"{where}{what} document {exc}", path=_text(path)) from None
    except yaml.YAMLError as exc:
        detail = str(exc).replace("\n", " ")
        raise ConfigError(f"{where}malformed {what}: {detail}", path=_text(path)) from None
    finally:
        loader.dispose()


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _too_deep(path: Path) -> ConfigError:
    return ConfigError(f"{path}: nested more than {MAX_DEPTH} levels deep", path=str(path))


def _measure(data: Any, path: Path) -> None:
    """Refuse a document nested deeper than ``MAX_DEPTH`` or holding over ``MAX_VALUES``
    values once YAML aliases are expanded (each alias counts its whole target again)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(value: Any, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise _too_deep(path)
        if not isinstance(value, (dict, list)):
            return 1
        known = sizes.get(id(value))
        if known is not None:
            return known
        if id(value) in open_nodes:
            raise ConfigError(f"{path}: a YAML alias refers to a node that contains it",
                              path=str(path))
        open_nodes.add(id(value))
        children = value.values() if isinstance(value, dict) else value
        total = 1 + sum(size(child, depth + 1) for child in children)
        open_nodes.discard(id(value))
        sizes[id(value)] = total
        if total > MAX_VALUES:
            raise ConfigError(f"{path}: more than {MAX_VALUES:,} values once YAML aliases are "
                              "expanded", path=str(path))
        return total

    size(data, 0)


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


def apply_env_overrides(
    data: dict[str, Any], env: Mapping[str, str], path: Path | None = None
) -> dict[str, Any]:
    """Apply ``LIBRA__SECTION__KEY=value`` overrides, typed by the schema.

    A field that holds a table or a list takes the value as YAML flow
    (``LIBRA__STRATEGIES__0__SYMBOLS='[BTC/USDT, ETH/USDT]'``); any other field takes the
    text as it is, and validation converts it (``"60"`` for a number). A value in double
    quotes is a JSON string and loses its quotes. Plugin options, whose schema the
    plugin owns, take the text unless it starts with ``[`` or ``{``.
    """
    for key in sorted(env):
        if not key.startswith(ENV_PREFIX) or key == ENV_PREFIX:
            continue
        parts = [p.lower() for p in key[len(ENV_PREFIX) :].split("__") if p]
        if parts:
            where = f"{path}: {key}" if path else key
            _set_path(data, parts, _override_value(parts, env[key], key, path), where)
    return data


def _override_value(parts: list[str], text: str, env_key: str, path: Path | None) -> Any:
    kind = _schema_kind(parts)
    if kind == "collection" or (kind == "unknown" and text.lstrip()[:1] in ("[", "{")):
        return _parse_yaml(text, path, f"YAML in {env_key}")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            unquoted = json.loads(text)
        except ValueError:
            return text
        return unquoted if isinstance(unquoted, str) else text
    return text


def _schema_kind(parts: list[str]) -> str:
    """Return ``"collection"``, ``"scalar"`` or ``"unknown"`` for a field path of the schema."""
    annotation: Any = KernelConfig
    for part in parts:
        annotation = _unwrap_optional(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(part)
            if field is None:
                return "unknown"
            annotation = field.annotation
            continue
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is list and args:
            annotation = args[0]
        elif origin is dict and len(args) == 2:
            annotation = args[1]
        else:
            return "unknown"
    annotation = _unwrap_optional(annotation)
    if (isinstance(annotation, type) and issubclass(annotation, BaseModel)) or typing.get_origin(
            annotation) in (list, dict, tuple, set):
        return "collection"
    return "unknown" if annotation is Any else "scalar"


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


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
    """Turn a pydantic error into one ``ConfigError`` naming each field path.

    The refused value is shown only when it is a short scalar of a field that is not a
    secret: never a secret's value, never a table or list of the document.
    """
    lines = []
    first_field = None
    for err in exc.errors(include_url=False):
        loc = _loc(err["loc"], prefix)
        first_field = first_field or loc
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"field {loc or '(top level)'}: {msg}{_shown(err, loc)}")
    where = f"{path}: " if path else ""
    return ConfigError(
        scrub(where + "; ".join(lines)), path=str(path) if path else None, field=first_field
    )


def _shown(err: Any, loc: str) -> str:
    if err["type"] in ("missing", "extra_forbidden") or SECRET_KEY.search(loc):
        return ""
    value = err.get("input")
    if value is not None and not isinstance(value, (str, int, float, Decimal, bool)):
        return ""
    return f" (was {_short(value)})"


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
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def redact(value: Any, key: str = "") -> Any:
    """Return plain data with secrets replaced by ``'**********'`` (for printing and logs).

    Every other string goes through ``scrub``: a URL with credentials (a database
    ``storage``, a private endpoint) is no secret field, and is still not printed.
    """
    if isinstance(value, SecretStr):
        return REDACTED if value.get_secret_value() else ""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="python")
        return redact(value, key)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v, key) for v in value]
    if key and SECRET_KEY.search(key) and isinstance(value, str) and value:
        return REDACTED
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Decimal):
        return str(value)
    return value


_SECRET_NAME = re.compile(r"(^|_)(secret|password|passphrase|token|api_?key)$", re.IGNORECASE)


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
            if isinstance(v, str) and v and SECRET_KEY.search(str(k)):
                found.add(v)
            elif type(v) is int and _SECRET_NAME.search(str(k)):
                found.add(str(v))  # a secret of digits written as a number
            else:
                found |= collect_secrets(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            found |= collect_secrets(v)
    return found
