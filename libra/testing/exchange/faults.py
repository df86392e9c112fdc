"""Fault switches a test flips at run time on ``LocalExchange.faults``.

Each switch arms a rule that fires for the next ``count`` matching requests or frames
(``count=None``: until :meth:`Faults.clear`). Rules are consumed in the order they were
armed. Nothing here does I/O: the REST and websocket layers ask :class:`Faults` what to
do and act on the answer.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["REMOVE", "Faults", "HttpFault", "HttpFaultKind", "SocketKind", "WsFrameFault"]

SocketKind = Literal["market", "user", "all"]


class _Remove(enum.Enum):
    REMOVE = "REMOVE"


REMOVE = _Remove.REMOVE
"""Use as a value in :meth:`Faults.corrupt_ws_fields` to delete the field."""


class HttpFaultKind(enum.Enum):
    """What a REST fault does to the response."""

    STATUS = "status"
    HTML = "html"
    TRUNCATED = "truncated"
    HANG = "hang"
    DELAY = "delay"


@dataclass(slots=True)
class HttpFault:
    """One armed REST fault.

    Attributes:
        kind: what happens to the response.
        path: only requests to this path (e.g. ``"/api/v3/order"``); None matches all.
        method: only this HTTP method; None matches all.
        remaining: how many more requests it hits; None is unlimited.
        status: HTTP status for STATUS and HTML faults.
        body: response body for STATUS and HTML faults.
        headers: extra response headers (e.g. ``Retry-After``).
        process: for HANG and TRUNCATED, whether the request is executed first (the
            order is placed although the client never learns it).
        seconds: delay for DELAY faults.
    """

    kind: HttpFaultKind
    path: str | None = None
    method: str | None = None
    remaining: int | None = 1
    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    process: bool = True
    seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        """Return True if this fault applies to the request."""
        return (self.path is None or self.path == path) and (
            self.method is None or self.method.upper() == method.upper()
        )


@dataclass(slots=True)
class WsFrameFault:
    """One armed fault on outgoing websocket frames."""

    kind: Literal["malformed", "fields"]
    stream: str | None
    remaining: int | None
    fields: dict[str, Any] = field(default_factory=dict)


_RATE_LIMIT_MSG = (
    "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute. "
    "Please use the websocket for live updates to avoid polling the API."
)
_BANNED_MSG = (
    "Way too many requests; IP(127.0.0.1) banned until {until}. "
    "Please use the websocket for live updates to avoid bans."
)
_DEFAULT_BODIES: dict[int, tuple[int, str]] = {
    429: (-1003, _RATE_LIMIT_MSG),
    418: (-1003, _BANNED_MSG),
    500: (-1001, "Internal error; unable to process your request. Please try again."),
    503: (-1008, "Service Unavailable."),
}
_HTML_BODY = (
    '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">\n<HTML><HEAD>'
    '<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=iso-8859-1">\n'
    "<TITLE>ERROR: The request could not be satisfied</TITLE>\n</HEAD><BODY>\n"
    "<H1>{status} ERROR</H1>\n<H2>The request could not be satisfied.</H2>\n</BODY></HTML>"
)


def _take(rule: HttpFault | WsFrameFault) -> None:
    if rule.remaining is not None:
        rule.remaining -= 1


class Faults:
    """The fault switches of one :class:`~libra.testing.exchange.LocalExchange`.

    REST switches take ``path`` (exact request path) and ``method`` filters. Websocket
    switches take a ``kind``: ``"market"`` (public streams), ``"user"`` (user data, both
    the ws-api subscription and listenKey sockets) or ``"all"``.
    """

    def __init__(self) -> None:
        self.http: list[HttpFault] = []
        self.frames: list[WsFrameFault] = []
        self.stalled: set[str] = set()
        self.fill_on_cancel_remaining = 0
        self.duplicate_fill_remaining = 0
        self.fill_before_new_remaining = 0
        self.held_execution_types: set[str] | None = None
        self.holding = False

    # -- REST ---------------------------------------------------------------------

    def http_status(
        self,
        status: int,
        *,
        count: int | None = 1,
        path: str | None = None,
        method: str | None = None,
        code: int | None = None,
        msg: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer with ``status`` and a Binance JSON error body instead of the real reply.

        418 and 429 get Binance's -1003 bodies and a ``Retry-After`` header; 500 gets
        -1001 and 503 gets -1008. ``code``/``msg`` override the body.
        """
        default_code, default_msg = _DEFAULT_BODIES.get(
            status, (-1000, "An unknown error occurred while processing the request.")
        )
        body = json.dumps(
            {
                "code": code if code is not None else default_code,
                "msg": msg if msg is not None else default_msg.format(until=1_893_456_000_000),
            }
        )
        headers = {"Retry-After": str(retry_after or 1)} if status in (418, 429) else {}
        self.http.append(
            HttpFault(
                HttpFaultKind.STATUS, path, method, count, status, body, headers, process=False
            )
        )

    def html_error(
        self,
        status: int = 502,
        *,
        count: int | None = 1,
        path: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer with an HTML error page (as a CDN in front of the venue does)."""
        body = _HTML_BODY.format(status=status)
        self.http.append(
            HttpFault(HttpFaultKind.HTML, path, method, count, status, body, process=False)
        )

    def truncated_json(
        self,
        *,
        count: int | None = 1,
        path: str | None = None,
        method: str | None = None,
        process: bool = True,
    ) -> None:
        """Send the real reply (status 200) cut in the middle of its JSON body."""
        self.http.append(HttpFault(HttpFaultKind.TRUNCATED, path, method, count, process=process))

    def hang(
        self,
        *,
        count: int | None = 1,
        path: str | None = None,
        method: str | None = None,
        process: bool = True,
    ) -> None:
        """Accept the request and never answer (until the exchange stops).

        With ``process=True`` (the default) the request is executed first: an order
        POST places the order, giving the "timed out with unknown outcome" case.
        """
        self.http.append(HttpFault(HttpFaultKind.HANG, path, method, count, process=process))

    def delay(
        self,
        seconds: float,
        *,
        count: int | None = 1,
        path: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer normally, ``seconds`` late."""
        self.http.append(HttpFault(HttpFaultKind.DELAY, path, method, count, seconds=seconds))

    def take_http(self, method: str, path: str) -> HttpFault | None:
        """Return (and consume) the first armed REST fault matching the request."""
        for rule in self.http:
            if rule.matches(method, path):
                _take(rule)
                if rule.remaining == 0:
                    self.http.remove(rule)
                return rule
        return None

    # -- websocket frames -----------------------------------------------------------

    def malformed_ws_frame(self, *, count: int | None = 1, stream: str | None = None) -> None:
        """Send the next frame(s) as invalid JSON (the text cut in half)."""
        self.frames.append(WsFrameFault("malformed", stream, count))

    def corrupt_ws_fields(
        self, fields: Mapping[str, Any], *, count: int | None = 1, stream: str | None = None
    ) -> None:
        """Overwrite fields of the next frame(s): e.g. ``{"b": "NaN", "a": "", "B": REMOVE}``.

        Keys may be dotted to reach nested objects (``"k.c"`` for a kline close).
        """
        self.frames.append(WsFrameFault("fields", stream, count, dict(fields)))

    def stall_ws(self, kind: SocketKind = "market") -> None:
        """Keep sockets of ``kind`` open but send them no frames until :meth:`resume_ws`."""
        self.stalled.update(("market", "user") if kind == "all" else (kind,))

    def resume_ws(self, kind: SocketKind = "all") -> None:
        """End a :meth:`stall_ws`."""
        self.stalled.difference_update(("market", "user") if kind == "all" else (kind,))

    def is_stalled(self, kind: str) -> bool:
        """Return True if frames to sockets of ``kind`` are being withheld."""
        return kind in self.stalled

    def apply_to_frame(self, stream: str, payload: Any) -> str:
        """Return the text to send for ``payload`` on ``stream``, with armed faults applied."""
        for rule in self.frames:
            if rule.stream is not None and rule.stream != stream:
                continue
            _take(rule)
            if rule.remaining == 0:
                self.frames.remove(rule)
            if rule.kind == "malformed":
                text = json.dumps(payload)
                return text[: max(len(text) // 2, 1)]
            return json.dumps(_corrupt(payload, rule.fields))
        return json.dumps(payload)

    # -- user data stream -------------------------------------------------------------

    def fill_on_cancel(self, count: int = 1) -> None:
        """Make the next cancel lose a race: the order fills in full, then the cancel
        is rejected with -2011 "Unknown order sent."."""
        self.fill_on_cancel_remaining += count

    def duplicate_fills(self, count: int = 1) -> None:
        """Send each TRADE ``executionReport`` of the next ``count`` fills twice."""
        self.duplicate_fill_remaining += count

    def fill_before_new(self, count: int = 1) -> None:
        """For the next ``count`` orders that fill at once, send TRADE before NEW."""
        self.fill_before_new_remaining += count

    def hold_user_events(self, execution_types: Iterable[str] | None = None) -> None:
        """Withhold user-data events until ``LocalExchange.release_user_events()``.

        Args:
            execution_types: hold only ``executionReport`` events whose ``x`` is listed
                (e.g. ``{"TRADE"}`` for late fills); None holds every user event.
        """
        self.holding = True
        self.held_execution_types = None if execution_types is None else set(execution_types)

    def should_hold(self, event: Mapping[str, Any]) -> bool:
        """Return True if ``event`` must be withheld."""
        if not self.holding:
            return False
        if self.held_execution_types is None:
            return True
        return event.get("e") == "executionReport" and event.get("x") in self.held_execution_types

    # -- sockets ------------------------------------------------------------------------

    def clear(self) -> None:
        """Disarm every switch (held user events stay held until released)."""
        self.http.clear()
        self.frames.clear()
        self.stalled.clear()
        self.fill_on_cancel_remaining = 0
        self.duplicate_fill_remaining = 0
        self.fill_before_new_remaining = 0


def _corrupt(payload: Any, fields: Mapping[str, Any]) -> Any:
    if not isinstance(payload, dict):
        return payload
    result = json.loads(json.dumps(payload))
    for dotted, value in fields.items():
        target = result
        *parents, leaf = dotted.split(".")
        for name in parents:
            target = target.get(name, {}) if isinstance(target, dict) else {}
        if not isinstance(target, dict):
            continue
        if value is REMOVE:
            target.pop(leaf, None)
        else:
            target[leaf] = value
    return result
