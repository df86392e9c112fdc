"""Read a fleet and command it: what ``libra fleet`` uses, usable by any other program.

``FleetClient`` connects once (no reconnect: a command-line tool should fail fast and
say so), reads each daemon's latest heartbeat from the stream (one direct read per
kernel subject, however long the stream) and sends signed commands, collecting the
signed answers as they come until every expected daemon has answered or the time is up.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any

from libra.core.config import FleetSection
from libra.fleet.protocol import (
    ALL,
    PROTOCOL_VERSION,
    SIGNATURE_HEADER,
    command_body,
    control_subject,
    sign,
    signature_matches,
    stream_name,
)


class FleetUnavailable(Exception):
    """NATS cannot be reached, or the fleet has no stream yet."""


class FleetClient:
    """A short-lived connection to a fleet (``async with FleetClient(...) as fleet:``)."""

    def __init__(self, config: FleetSection, token: str | None) -> None:
        self.config = config
        self.token = token
        self._nc: Any = None

    async def __aenter__(self) -> FleetClient:
        import nats

        options: dict[str, Any] = {"servers": list(self.config.servers),
                                   "connect_timeout": self.config.connect_timeout,
                                   "allow_reconnect": False, "max_reconnect_attempts": 1,
                                   "reconnect_time_wait": 0.1, "name": "libra-fleet-cli"}
        if self.config.user is not None and self.config.password is not None:
            options.update(user=self.config.user,
                           password=self.config.password.get_secret_value())
        if self.config.creds_file is not None:
            options["user_credentials"] = self.config.creds_file

        async def quiet(exc: Exception) -> None:  # reported once, as FleetUnavailable
            return None

        try:
            # nats-py keeps trying a server that refuses the first connection: bound it.
            async with asyncio.timeout(2 * self.config.connect_timeout + 1):
                self._nc = await nats.connect(**options, error_cb=quiet)
        except Exception as exc:
            raise FleetUnavailable(f"cannot reach NATS ({len(self.config.servers)} server(s)): "
                                   f"{type(exc).__name__}: {exc}") from None
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        nc, self._nc = self._nc, None
        if nc is not None:
            await nc.close()

    async def heartbeats(self) -> list[dict[str, Any]]:
        """Return every kernel's latest heartbeat (of any age), sorted by kernel name."""
        from nats.js.errors import NotFoundError

        js = self._nc.jetstream(timeout=self.config.connect_timeout)
        stream = stream_name(self.config.name)
        pattern = f"libra.{self.config.name}.*.heartbeat"
        try:
            info = await js.stream_info(stream, subjects_filter=pattern)
        except NotFoundError:
            raise FleetUnavailable(f"fleet {self.config.name!r} has no stream {stream} yet: "
                                   "no daemon has joined it") from None
        beats = []
        for subject in sorted(info.state.subjects or {}):
            try:
                message = await js.get_last_msg(stream, subject)
                payload = json.loads(message.data or b"")
            except (NotFoundError, ValueError):
                continue  # expired or not ours
            if isinstance(payload, dict) and payload.get("v") == PROTOCOL_VERSION:
                beats.append(payload)
        return beats

    async def command(self, action: str, kernel: str = ALL, expected: Iterable[str] = (),
                      wait: float = 5.0) -> dict[str, dict[str, Any]]:
        """Send ``action`` to one kernel or all; return the answers by kernel name.

        Returns when every kernel in ``expected`` answered (at once when ``expected`` is
        empty and one answered, for a single kernel), or after ``wait`` seconds. Each
        answer carries ``verified``: whether its signature matches the token.
        """
        if not self.token:
            raise FleetUnavailable("no http.token in the config: commands cannot be signed")
        waiting = set(expected)
        answers: dict[str, dict[str, Any]] = {}
        done = asyncio.Event()
        inbox = self._nc.new_inbox()

        async def on_answer(msg: Any) -> None:
            try:
                data = json.loads(msg.data)
            except ValueError:
                return
            if not isinstance(data, dict) or data.get("type") != "answer":
                return
            signature = (msg.headers or {}).get(SIGNATURE_HEADER)
            data["verified"] = signature_matches(self.token or "", msg.data, signature)
            name = str(data.get("kernel"))
            answers[name] = data
            waiting.discard(name)
            if not waiting and (expected or kernel != ALL):
                done.set()

        sub = await self._nc.subscribe(inbox, cb=on_answer)
        try:
            body = command_body(action, self.config.name, kernel)
            await self._nc.publish(control_subject(self.config.name, kernel), body, reply=inbox,
                                   headers={SIGNATURE_HEADER: sign(self.token, body)})
            await self._nc.flush()
            try:
                async with asyncio.timeout(wait):
                    await done.wait()
            except TimeoutError:
                pass
        finally:
            await sub.unsubscribe()
        return answers


def fleet_view(beats: list[dict[str, Any]], stale_after: float,
               now: float | None = None) -> dict[str, Any]:
    """Return the fleet as one object: the daemons heard from within ``stale_after``
    seconds, and the exposure per symbol summed over them."""
    now = time.time() if now is None else now
    daemons = []
    exposure: dict[str, dict[str, Decimal]] = {}
    for beat in beats:
        age = now - float(beat.get("ts", 0))
        if age > stale_after:
            continue
        data = dict(beat.get("data") or {})
        data["heartbeat_age"] = round(age, 3)
        daemons.append(data)
        marks = data.get("marks") or {}
        for position in data.get("positions") or []:
            symbol = str(position.get("symbol"))
            quantity = _decimal(position.get("quantity"))
            mark = _decimal(position.get("mark_price") or marks.get(symbol))
            total = exposure.setdefault(symbol, {"quantity": Decimal(0), "notional": Decimal(0),
                                                 "daemons": Decimal(0)})
            total["quantity"] += quantity
            total["notional"] += quantity * mark
            if quantity:
                total["daemons"] += 1
    return {"fleet_time": now, "daemons": sorted(daemons, key=lambda d: str(d.get("kernel"))),
            "exposure": {symbol: {"quantity": _plain(t["quantity"]),
                                  "notional": _plain(t["notional"]), "daemons": int(t["daemons"])}
                         for symbol, t in sorted(exposure.items())}}


def _plain(value: Decimal) -> str:
    """``0E-8`` -> ``0``, ``1.50000`` -> ``1.5``: digits a person reads."""
    return f"{value.normalize():f}"


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value is not None else Decimal(0)
    except (InvalidOperation, ValueError):
        return Decimal(0)
