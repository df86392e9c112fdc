"""systemd notify protocol, without extra packages, and a health-gated watchdog pinger.

``sd_notify`` is one datagram of ``KEY=VALUE`` lines sent to the unix socket named by
``$NOTIFY_SOCKET`` (a leading ``@`` names an abstract socket). Outside systemd the
variable is unset and every call is a no-op that returns ``False``.

The watchdog pinger sends ``WATCHDOG=1`` every half ``$WATCHDOG_USEC`` only while a
health check passes (event loop responsive, every gateway connected with fresh data).
When it stops pinging, systemd kills and restarts the service (``WatchdogSec=``).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog

_log = structlog.get_logger("libra.systemd")


def notify_socket_address(environ: Mapping[str, str] | None = None) -> str | None:
    """Return the address of ``$NOTIFY_SOCKET`` (abstract names start with NUL), or None."""
    env = os.environ if environ is None else environ
    path = env.get("NOTIFY_SOCKET", "")
    if not path:
        return None
    if path.startswith("@"):
        return "\0" + path[1:]
    if not path.startswith("/"):
        return None  # vsock and other transports are not supported here
    return path


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Return the ping interval in seconds (half ``$WATCHDOG_USEC``), or None if not asked."""
    env = os.environ if environ is None else environ
    pid = env.get("WATCHDOG_PID")
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None  # the watchdog is meant for another process
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    return int(usec) / 2 / 1_000_000


class SystemdNotifier:
    """Send sd_notify messages to ``$NOTIFY_SOCKET`` (a no-op when it is not set)."""

    def __init__(self, address: str | None = None, environ: Mapping[str, str] | None = None
                 ) -> None:
        self.address = address if address is not None else notify_socket_address(environ)
        self._sock: socket.socket | None = None
        self.sent = 0

    @property
    def enabled(self) -> bool:
        """Return whether a notify socket is configured."""
        return self.address is not None

    def notify(self, **fields: Any) -> bool:
        """Send one message, e.g. ``notify(READY=1, STATUS="streaming")``; return if sent."""
        if self.address is None:
            return False
        payload = "\n".join(f"{key}={_clean(value)}" for key, value in fields.items())
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.setblocking(False)
            self._sock.sendto(payload.encode(), self.address)
        except OSError as exc:
            # A full or vanished socket must never stop trading; systemd acts on silence.
            _log.warning("systemd.notify_failed", message=payload.split("\n", 1)[0],
                         error=f"{type(exc).__name__}: {exc}")
            return False
        self.sent += 1
        return True

    def ready(self, status: str = "") -> bool:
        """Report READY=1 (startup done), with an optional STATUS line."""
        return self.notify(READY=1, STATUS=status) if status else self.notify(READY=1)

    def reloading(self) -> bool:
        """Report RELOADING=1 (follow with ``ready()`` when the reload is done)."""
        return self.notify(RELOADING=1, MONOTONIC_USEC=time.clock_gettime_ns(
            time.CLOCK_MONOTONIC) // 1000)

    def stopping(self, status: str = "stopping") -> bool:
        """Report STOPPING=1."""
        return self.notify(STOPPING=1, STATUS=status)

    def watchdog(self, status: str | None = None) -> bool:
        """Report WATCHDOG=1 (the service is healthy)."""
        return self.notify(WATCHDOG=1, STATUS=status) if status else self.notify(WATCHDOG=1)

    def status(self, text: str) -> bool:
        """Report a STATUS= line (shown by ``systemctl status``)."""
        return self.notify(STATUS=text)

    def close(self) -> None:
        """Close the socket; a later message reopens it."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _clean(value: Any) -> str:
    return str(value).replace("\n", " ")


class WatchdogPinger:
    """Ping the systemd watchdog on an interval while ``problems()`` returns nothing.

    Args:
        notifier: where the pings go.
        interval: seconds between pings (half ``WatchdogSec``).
        problems: returns the reasons the process is unhealthy; empty means healthy.
        status: returns the STATUS= text sent with each ping.
    """

    def __init__(
        self,
        notifier: SystemdNotifier,
        interval: float,
        problems: Callable[[], list[str]],
        status: Callable[[], str] | None = None,
    ) -> None:
        self.notifier = notifier
        self.interval = interval
        self._problems = problems
        self._status = status
        self.pings = 0
        self.skipped = 0
        self.last_problems: list[str] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the pinging task (pings once at once)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ops:watchdog")

    async def stop(self) -> None:
        """Stop pinging."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def tick(self) -> bool:
        """Ping if healthy; log once when pinging stops or resumes. Return if pinged."""
        problems = self._problems()
        if problems:
            self.skipped += 1
            if problems != self.last_problems:
                _log.error("systemd.watchdog_withheld", reasons=problems)
                self.notifier.status("unhealthy: " + "; ".join(problems))
            self.last_problems = problems
            return False
        if self.last_problems:
            _log.info("systemd.watchdog_resumed")
            self.last_problems = []
        self.pings += 1
        return self.notifier.watchdog(self._status() if self._status else None)

    async def _run(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:
                # A failing health check must withhold pings, not end the pinger.
                _log.exception("systemd.watchdog_check_failed")
            await asyncio.sleep(self.interval)
