"""What the data download tests share: a declared history's times, ccxt options and a
config's ccxt gateway pointing at a local exchange."""

from __future__ import annotations

from typing import Any

from libra.gateways.ccxt.config import CCXTGatewayConfig
from libra.testing.contract import ccxt_gateway_options
from libra.testing.exchange import LocalExchange

#: Open time of candle 0 of every declared history (2023-11-14T22:00:00Z).
T0 = 1_699_999_200_000
MINUTE = 60_000


def options_for(exchange: LocalExchange, **overrides: Any) -> CCXTGatewayConfig:
    """Return ccxt gateway options pointing at ``exchange`` (fast retries for tests)."""
    return CCXTGatewayConfig.model_validate(ccxt_gateway_options(exchange, **overrides))


def gateway_toml(exchange: LocalExchange, gateway_id: str = "venue") -> str:
    """Return a ``[[gateways]]`` table of a ccxt gateway pointing at ``exchange``."""
    options = ccxt_gateway_options(exchange)
    # Public history needs no keys; ccxt's own error table (Python classes) stays out.
    options["client_config"] = {"urls": options["client_config"]["urls"]}
    del options["api_key"], options["secret"]
    lines = ["[[gateways]]", f'id = "{gateway_id}"', 'plugin = "ccxt"']
    lines += [f"{key} = {_toml(value)}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml(v)}' for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")
