"""sd_notify messages, watchdog settings and the health-gated pinger."""

from __future__ import annotations

import asyncio
import os
import socket
import time

from libra.observability.service import LoopMonitor
from libra.observability.systemd import (
    SystemdNotifier,
    WatchdogPinger,
    notify_socket_address,
    watchdog_interval,
)


def test_notify_socket_address_understands_paths_and_abstract_names():
    assert notify_socket_address({}) is None
    assert notify_socket_address({"NOTIFY_SOCKET": "/run/systemd/notify"}) == \
        "/run/systemd/notify"
    assert notify_socket_address({"NOTIFY_SOCKET": "@libra/notify"}) == "\0libra/notify"
    assert notify_socket_address({"NOTIFY_SOCKET": "vsock:2:1"}) is None


def test_watchdog_interval_is_half_watchdog_usec_for_this_process():
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    mine = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_interval(mine) == 1.0
    assert watchdog_interval({**mine, "WATCHDOG_PID": str(os.getpid() + 1)}) is None


def test_notifier_without_a_socket_sends_nothing():
    notifier = SystemdNotifier(environ={})
    assert not notifier.enabled
    assert notifier.ready("up") is False
    assert notifier.sent == 0


def test_notifier_sends_one_datagram_per_message(tmp_path):
    path = tmp_path / "notify"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    receiver.settimeout(2)
    notifier = SystemdNotifier(environ={"NOTIFY_SOCKET": str(path)})
    try:
        assert notifier.ready("streaming\nnow")
        assert receiver.recv(4096) == b"READY=1\nSTATUS=streaming now"
        assert notifier.reloading()
        reloading = receiver.recv(4096).decode().splitlines()
        assert reloading[0] == "RELOADING=1"
        assert reloading[1].startswith("MONOTONIC_USEC=")
        assert notifier.stopping()
        assert receiver.recv(4096) == b"STOPPING=1\nSTATUS=stopping"
    finally:
        notifier.close()
        receiver.close()


def test_notifier_survives_a_missing_socket(tmp_path):
    notifier = SystemdNotifier(environ={"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert notifier.watchdog() is False
    notifier.close()


class RecordingNotifier(SystemdNotifier):
    def __init__(self) -> None:
        super().__init__(address="\0unused")
        self.messages: list[dict[str, object]] = []

    def notify(self, **fields: object) -> bool:
        self.messages.append(fields)
        return True


def test_pinger_pings_only_while_healthy():
    problems: list[str] = []
    notifier = RecordingNotifier()
    pinger = WatchdogPinger(notifier, 1.0, lambda: list(problems), lambda: "ok")
    assert pinger.tick()
    problems.append("gateway x is not connected")
    assert not pinger.tick()
    assert not pinger.tick()
    problems.clear()
    assert pinger.tick()
    assert notifier.messages == [
        {"WATCHDOG": 1, "STATUS": "ok"},
        {"STATUS": "unhealthy: gateway x is not connected"},
        {"WATCHDOG": 1, "STATUS": "ok"},
    ]
    assert (pinger.pings, pinger.skipped) == (2, 2)


async def test_loop_monitor_reports_a_blocked_loop():
    monitor = LoopMonitor(interval=0.01, max_lag=0.05)
    monitor.start()
    try:
        await asyncio.sleep(0.03)
        assert monitor.problems() == []
        time.sleep(0.15)  # block the loop on purpose
        assert monitor.problems()[0].startswith("event loop blocked")
        beat = monitor.last_beat
        async with asyncio.timeout(2):
            while monitor.last_beat == beat:
                await asyncio.sleep(0.005)
        assert monitor.problems()[0].startswith("event loop lagged")
    finally:
        await monitor.stop()
