"""Point an unmodified ``ccxt.pro.binance`` client at a :class:`LocalExchange`.

The URL keys are those of ccxt 4.5's ``binance.describe()["urls"]["api"]`` (REST) and
``ccxt.pro.binance.describe()["urls"]["api"]["ws"]`` (websockets). Every one of them is
rewritten to 127.0.0.1, so nothing the client does can reach the real venue: spot
paths are served, the others answer 404 (REST) or refuse the upgrade (websocket).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from libra.testing.exchange.server import LocalExchange

__all__ = [
    "CCXT_OPTIONS",
    "ccxt_config_for",
    "configure_ccxt",
    "non_local_urls",
    "spot_exceptions",
]

# ccxt 4.5 binance REST api keys and the path each one has on the real venue.
_REST_PATHS: dict[str, str] = {
    "public": "/api/v3",
    "private": "/api/v3",
    "v1": "/api/v1",
    "sapi": "/sapi/v1",
    "sapiV2": "/sapi/v2",
    "sapiV3": "/sapi/v3",
    "sapiV4": "/sapi/v4",
    "dapiPublic": "/dapi/v1",
    "dapiPrivate": "/dapi/v1",
    "dapiPrivateV2": "/dapi/v2",
    "dapiData": "/dapi/futures/data",
    "fapiPublic": "/fapi/v1",
    "fapiPublicV2": "/fapi/v2",
    "fapiPublicV3": "/fapi/v3",
    "fapiPrivate": "/fapi/v1",
    "fapiPrivateV2": "/fapi/v2",
    "fapiPrivateV3": "/fapi/v3",
    "fapiData": "/fapi/futures/data",
    "eapiPublic": "/eapi/v1",
    "eapiPrivate": "/eapi/v1",
    "papi": "/papi/v1",
    "papiV2": "/papi/v2",
}
# websocket keys other than spot/margin are not served: they get a path that 404s.
_WS_UNSERVED = ("linear", "inverse", "stock", "option", "optionMarket", "optionPrivate", "papi")

CCXT_OPTIONS: dict[str, Any] = {
    "defaultType": "spot",
    # only GET /api/v3/exchangeInfo: no fapi/dapi exchangeInfo
    "fetchMarkets": {"types": ["spot"]},
    # no sapi/v1/capital/config/getall (needs keys), no sapi margin pair lists
    "fetchCurrencies": False,
    "fetchMargins": False,
}
"""ccxt options that keep ``load_markets`` on the endpoints the local exchange serves."""


def ccxt_config_for(exchange: LocalExchange, **overrides: Any) -> dict[str, Any]:
    """Return the constructor config for ``ccxt.pro.binance`` talking to ``exchange``.

    Args:
        exchange: a started local exchange.
        **overrides: top-level ccxt config keys to set as well (e.g. ``timeout=2000``).
            An ``options`` dict is merged into :data:`CCXT_OPTIONS`.
    """
    http, ws = exchange.url, exchange.ws_url
    api: dict[str, Any] = {key: http + path for key, path in _REST_PATHS.items()}
    ws_urls: dict[str, Any] = {key: f"{ws}/unserved/{key}" for key in _WS_UNSERVED}
    ws_urls.update(
        spot=f"{ws}/ws",
        margin=f"{ws}/ws",
        **{
            "ws-api": {
                "spot": f"{ws}/ws-api/v3",
                "linear": f"{ws}/unserved/ws-fapi",
                "inverse": f"{ws}/unserved/ws-dapi",
            }
        },
    )
    api["ws"] = ws_urls
    options = dict(CCXT_OPTIONS)
    options.update(overrides.pop("options", {}))
    config: dict[str, Any] = {
        "apiKey": exchange.api_key,
        "secret": exchange.api_secret,
        "urls": {"api": api},
        "options": options,
        "exceptions": spot_exceptions(),
    }
    config.update(overrides)
    return config


def spot_exceptions() -> dict[str, Any]:
    """Return ccxt's binance error table with the spot codes promoted to the top level.

    ccxt picks its per-market error codes (``exceptions["spot"]``, e.g. -1008 ->
    ``OperationFailed``) by matching the request URL against ``https://api.binance.com/``,
    which a 127.0.0.1 URL never matches. Promoting the spot table gives the exception
    classes a client would see from the real venue.
    """
    import ccxt  # the dependency this module configures

    table = ccxt.binance().exceptions
    return {
        "exact": {**table["exact"], **table["spot"]["exact"]},
        "broad": {**table["broad"], **table.get("spot", {}).get("broad", {})},
    }


def configure_ccxt(client: Any, exchange: LocalExchange) -> None:
    """Rewrite an existing ccxt binance client in place to use ``exchange``.

    Raises:
        ValueError: a URL of the client still points away from 127.0.0.1 afterwards
            (a key this module does not know, e.g. from a newer ccxt).
    """
    config = ccxt_config_for(exchange)
    client.urls = _deep_merge(client.urls, config["urls"])
    client.apiKey = config["apiKey"]
    client.secret = config["secret"]
    client.options = _deep_merge(client.options, config["options"])
    client.exceptions = _deep_merge(client.exceptions, config["exceptions"])
    remote = non_local_urls(client.urls["api"])
    if remote:
        raise ValueError(f"ccxt urls not pointed at the local exchange, was {remote!r}")


def non_local_urls(urls: Mapping[str, Any]) -> list[str]:
    """Return every URL in ``urls`` (nested) whose host is not 127.0.0.1."""
    found: list[str] = []
    for value in urls.values():
        if isinstance(value, Mapping):
            found.extend(non_local_urls(value))
        elif isinstance(value, str) and urlsplit(value).hostname != "127.0.0.1":
            found.append(value)
    return found


def _deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
