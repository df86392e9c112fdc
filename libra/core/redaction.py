"""The one scrubber every output goes through: log lines, the CLI's error line, HTTP answers.

Secrets leave the process by accident, not on purpose: a venue echoes the API key in
its error text, a traceback shows a local variable, a validation error repeats the value
it refused, an error message quotes a URL with credentials. So scrubbing does not rely
on each call site remembering to do it; every path to stdout, stderr, a log line or an
HTTP body calls :func:`scrub` last, which removes:

* every secret value known to the process (registered from the config as soon as it is
  read, before it is validated, so even a refused config's secrets are known);
* credentials in URLs (``scheme://user:password@host``);
* values of secret-looking parameters and headers (``apiKey=...``, ``signature=...``,
  ``"X-MBX-APIKEY": "..."``, ``Authorization: Bearer ...``), whatever their value is.

The registry is process-wide on purpose: there is one process, one set of secrets, and
every output has to see the same set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

REDACTED = "**********"
#: Shorter values are not scrubbed as text: replacing "1" or "abc" everywhere would
#: garble every line while protecting nothing worth protecting.
MIN_SECRET_LENGTH = 4

#: A key whose value is a secret, in config files, payloads and parameters.
SECRET_KEY = re.compile(
    r"(secret|password|passphrase|passwd|token|api[_-]?key|private[_-]?key|signature)",
    re.IGNORECASE,
)
_SECRET_WORD = (r"[\w.-]*(?:secret|password|passphrase|token|api[_-]?key|signature|"
                r"access[_-]?key)[\w.-]*")
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s:@'\"]+:[^/\s@'\"]+@")
# ``apiKey=...`` in a query string or an assignment.
_SECRET_ASSIGNMENT = re.compile(
    rf"(?P<key>{_SECRET_WORD})=(?P<value>[^\s&'\",;)}}\]]+)", re.IGNORECASE)
# ``'X-MBX-APIKEY': '...'`` or ``"token": "..."`` in a repr or JSON text.
_SECRET_ITEM = re.compile(
    rf"(?P<key>(?P<q>['\"]){_SECRET_WORD}(?P=q)\s*:\s*(?P<q2>['\"]))(?P<value>[^'\"]+)(?P=q2)",
    re.IGNORECASE)
# ``Bearer <credential>`` in a header echoed back: a credential has a digit or is long, so
# prose such as "missing bearer token" stays readable.
_BEARER = re.compile(
    r"(?P<scheme>\b(?:Bearer|Basic)\s+)"
    r"(?=[A-Za-z._~+/=-]*[0-9]|[A-Za-z0-9._~+/=-]{16})[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)


class _Registry:
    """The secret values known to this process, longest first."""

    def __init__(self) -> None:
        self.values: tuple[str, ...] = ()

    def add(self, secrets: Iterable[str]) -> None:
        merged = set(self.values) | {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}
        # Longest first, so a secret containing another is replaced whole.
        self.values = tuple(sorted(merged, key=len, reverse=True))


_known = _Registry()


def register_secrets(secrets: Iterable[str]) -> None:
    """Add secret values to scrub from every output from now on."""
    _known.add(secrets)


def scrub(text: str) -> str:
    """Return ``text`` without known secrets, URL credentials or secret parameter values."""
    for secret in _known.values:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if "://" in text:
        text = _URL_CREDENTIALS.sub(rf"\g<scheme>{REDACTED}@", text)
    if "=" in text:
        text = _SECRET_ASSIGNMENT.sub(rf"\g<key>={REDACTED}", text)
    if ":" in text:
        text = _SECRET_ITEM.sub(rf"\g<key>{REDACTED}\g<q2>", text)
    return _BEARER.sub(rf"\g<scheme>{REDACTED}", text)


def scrub_data(value: Any) -> Any:
    """Return ``value`` (nested dicts, lists, strings) with every string scrubbed.

    The value of a key that names a secret is replaced whole, whatever its type.
    """
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: REDACTED if _is_secret_value(k, v) else scrub_data(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_data(v) for v in value]
    return value


def _is_secret_value(key: object, value: object) -> bool:
    return (isinstance(key, str) and bool(SECRET_KEY.search(key))
            and isinstance(value, (str, int, float)) and not isinstance(value, bool)
            and value != "")
