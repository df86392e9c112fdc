"""What travels between a daemon and the fleet: subjects, payloads, signed commands.

Nothing here imports NATS, so the CLI, the daemon and a program of the desk's own can
share it. Every payload is a JSON object with ``"v": PROTOCOL_VERSION``: a reader that
meets a version it does not know skips the message instead of guessing.

Subjects (``<fleet>`` and ``<kernel>`` are NATS subject tokens):

* ``libra.<fleet>.<kernel>.<kind>``: events a daemon publishes to JetStream, ``kind``
  one of :data:`EVENT_KINDS`;
* ``libra.<fleet>.control.<kernel>`` and ``libra.<fleet>.control.all``: commands,
  plain NATS request/reply, never stored. The stream lists one subject per kind
  (``libra.<fleet>.*.<kind>``), so a kernel may not be named ``control`` or after a
  kind: its events and the commands would share subjects.

A command is signed: HMAC-SHA256 of its exact body bytes, keyed with the daemon's
``http.token``, sent in the ``Libra-Signature`` header. The body carries an id and a
time; a daemon refuses a command whose signature does not match, whose time is more
than ``command_max_age`` seconds away from its clock, or whose id it has already seen.
Answers are signed the same way, and their ``type`` differs from a command's, so an
answer can never be replayed as a command.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

PROTOCOL_VERSION = 1
SIGNATURE_HEADER = "Libra-Signature"
MSG_ID_HEADER = "Nats-Msg-Id"
EVENT_KINDS = ("order", "fill", "position", "heartbeat", "strategy", "risk", "log")
COMMANDS = ("halt", "reduce", "resume", "flatten", "cancel-all")
ALL = "all"
RESERVED_KERNEL_NAMES = frozenset({"control", ALL, *EVENT_KINDS})
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_kernel_name(name: str) -> str | None:
    """Return why ``name`` cannot be a kernel's name in a fleet (None: it can)."""
    if not _TOKEN.match(name):
        return (f"kernel.name {name!r} is not a NATS subject token; in a fleet it may hold "
                "only letters, digits, '_' and '-' (at most 64)")
    if name in RESERVED_KERNEL_NAMES:
        return (f"kernel.name {name!r} is reserved in a fleet; reserved: "
                f"{sorted(RESERVED_KERNEL_NAMES)}")
    return None


def stream_name(fleet: str) -> str:
    """Return the JetStream stream holding a fleet's events."""
    return f"LIBRA_{fleet}".replace("-", "_")


def stream_subjects(fleet: str) -> list[str]:
    """Return the stream's subjects: every event kind of every kernel, no command."""
    return [f"libra.{fleet}.*.{kind}" for kind in EVENT_KINDS]


def event_subject(fleet: str, kernel: str, kind: str) -> str:
    return f"libra.{fleet}.{kernel}.{kind}"


def control_subject(fleet: str, kernel: str = ALL) -> str:
    return f"libra.{fleet}.control.{kernel}"


def sign(token: str, body: bytes) -> str:
    """Return the hex HMAC-SHA256 of ``body`` keyed with ``token``."""
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(token: str, body: bytes, signature: str | None) -> bool:
    return signature is not None and hmac.compare_digest(sign(token, body), signature)


def encode(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), default=str).encode()


def command_body(action: str, fleet: str, kernel: str = ALL, *, now: float | None = None,
                 command_id: str | None = None) -> bytes:
    """Return the body of a command (sign it with :func:`sign`)."""
    return encode({"v": PROTOCOL_VERSION, "type": "command", "id": command_id or uuid.uuid4().hex,
                   "action": action, "fleet": fleet, "kernel": kernel,
                   "ts": time.time() if now is None else now})


@dataclass(frozen=True, slots=True)
class Command:
    """A command that passed every check."""

    id: str
    action: str
    kernel: str
    ts: float


class CommandRefused(Exception):
    """A command failed a check; ``reason`` says which, never a secret."""

    def __init__(self, reason: str, command_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.command_id = command_id


class CommandVerifier:
    """Check commands against the token, the clock and the ids already seen.

    Ids are remembered for twice the max age: a replay older than that is refused as
    stale anyway. The memory is bounded by ``max_ids``, so a flood of valid commands
    (which needs the token) cannot grow it without limit.
    """

    def __init__(self, fleet: str, kernel: str, max_age: float, max_ids: int = 10_000) -> None:
        self.fleet = fleet
        self.kernel = kernel
        self.max_age = max_age
        self.max_ids = max_ids
        self._seen: OrderedDict[str, float] = OrderedDict()

    def verify(self, token: str | None, body: bytes, signature: str | None,
               now: float | None = None) -> Command:
        """Return the command, or raise ``CommandRefused`` naming the failed check."""
        if not token:
            raise CommandRefused("fleet commands disabled: no http.token configured")
        if not signature_matches(token, body, signature):
            raise CommandRefused("bad signature")
        data, command_id = _parse_command(body)
        if data.get("v") != PROTOCOL_VERSION:
            raise CommandRefused(f"unknown protocol version, was {data.get('v')!r}", command_id)
        action, target, ts = data.get("action"), data.get("kernel"), data.get("ts")
        if action not in COMMANDS:
            raise CommandRefused(f"unknown action; expected one of {list(COMMANDS)}", command_id)
        if data.get("fleet") != self.fleet or target not in (ALL, self.kernel):
            raise CommandRefused("addressed to another fleet or kernel", command_id)
        if not isinstance(ts, (int, float)) or isinstance(ts, bool):
            raise CommandRefused("missing timestamp", command_id)
        now = time.time() if now is None else now
        age = now - float(ts)
        if abs(age) > self.max_age:
            raise CommandRefused(f"stale: {age:.1f}s old, limit {self.max_age:g}s", command_id)
        self._forget(now)
        if command_id in self._seen:
            raise CommandRefused("replayed command id", command_id)
        self._seen[command_id] = now
        while len(self._seen) > self.max_ids:
            self._seen.popitem(last=False)
        return Command(command_id, str(action), str(target), float(ts))

    def _forget(self, now: float) -> None:
        horizon = now - 2 * self.max_age
        while self._seen:
            first, seen_at = next(iter(self._seen.items()))
            if seen_at >= horizon:
                break
            self._seen.pop(first)


def _parse_command(body: bytes) -> tuple[dict[str, Any], str]:
    try:
        data = json.loads(body)
    except ValueError:
        raise CommandRefused("body is not JSON") from None
    if not isinstance(data, dict) or data.get("type") != "command":
        raise CommandRefused("not a command")
    command_id = data.get("id")
    if not isinstance(command_id, str) or not 0 < len(command_id) <= 128:
        raise CommandRefused("missing command id")
    return data, command_id


def answer_body(command_id: str | None, kernel: str, action: str | None, *,
                result: dict[str, Any] | None = None, refused: str | None = None) -> bytes:
    """Return a daemon's answer to a command (sign it with :func:`sign`).

    ``result`` is what the HTTP action answers; ``refused`` why the command was not run.
    """
    ok = refused is None and bool((result or {}).get("ok", True))
    return encode({"v": PROTOCOL_VERSION, "type": "answer", "id": command_id, "kernel": kernel,
                   "action": action, "ok": ok, "refused": refused, "result": result,
                   "ts": time.time()})
