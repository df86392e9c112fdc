"""Binance request authentication: API key header and HMAC-SHA256 signatures.

REST: the signature is the hex HMAC-SHA256, keyed with the API secret, of the query
string concatenated with the request body, exactly as sent (percent-encoding kept),
without the ``signature`` parameter itself. Websocket API: the payload is every
parameter except ``signature``, sorted by name, joined as ``key=value`` with ``&``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from libra.testing.exchange.errors import BAD_SIGNATURE, BinanceApiError

__all__ = ["Credentials", "strip_signature"]


def strip_signature(raw: str) -> tuple[str, str | None]:
    """Split ``raw`` (a query string or form body) into (payload, signature)."""
    kept: list[str] = []
    signature: str | None = None
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            signature = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), signature


@dataclass(frozen=True, slots=True)
class Credentials:
    """The one API key pair the local exchange accepts.

    Args:
        api_key: value expected in the ``X-MBX-APIKEY`` header.
        secret: HMAC key.
        clock_ms: returns the server time in milliseconds (for ``recvWindow``).
    """

    api_key: str
    secret: str
    clock_ms: Callable[[], int]

    def sign(self, payload: str) -> str:
        """Return the hex HMAC-SHA256 of ``payload``."""
        return hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()

    def check_api_key(self, api_key: str | None) -> None:
        """Raise Binance's -2014/-2015 replies for a missing or unknown API key."""
        if not api_key:
            raise BinanceApiError(401, -2014, "API-key format invalid.")
        if not hmac.compare_digest(api_key, self.api_key):
            raise BinanceApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")

    def verify_rest(
        self, api_key: str | None, query: str, body: str, params: Mapping[str, str]
    ) -> None:
        """Verify a signed REST request.

        Raises:
            BinanceApiError: -2014/-2015 (key), -1102 (no signature or timestamp),
                -1022 (bad signature), -1021 (timestamp outside ``recvWindow``).
        """
        self.check_api_key(api_key)
        query_payload, query_signature = strip_signature(query)
        body_payload, body_signature = strip_signature(body)
        signature = query_signature or body_signature
        if signature is None:
            raise BinanceApiError(
                400,
                -1102,
                "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
            )
        self._check_signature(query_payload + body_payload, signature)
        self._check_timestamp(params)

    def verify_ws_api(self, params: Mapping[str, Any]) -> None:
        """Verify the ``params`` of a signed websocket API request."""
        self.check_api_key(str(params.get("apiKey", "")))
        signature = params.get("signature")
        if not isinstance(signature, str):
            raise BinanceApiError(
                400,
                -1102,
                "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
            )
        payload = "&".join(
            f"{key}={_ws_value(params[key])}" for key in sorted(params) if key != "signature"
        )
        self._check_signature(payload, signature)
        self._check_timestamp({k: str(v) for k, v in params.items()})

    def _check_signature(self, payload: str, signature: str) -> None:
        if not hmac.compare_digest(self.sign(payload), signature.lower()):
            raise BinanceApiError(*BAD_SIGNATURE)

    def _check_timestamp(self, params: Mapping[str, str]) -> None:
        try:
            timestamp = int(params["timestamp"])
        except (KeyError, ValueError):
            raise BinanceApiError(
                400,
                -1102,
                "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
            ) from None
        recv_window = int(params.get("recvWindow", "5000"))
        now = self.clock_ms()
        if timestamp > now + 1000 or now - timestamp > recv_window:
            raise BinanceApiError(
                400, -1021, "Timestamp for this request is outside of the recvWindow."
            )


def _ws_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
