"""systemd sees READY, WATCHDOG and STOPPING from a real kernel, through a real notify socket."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest


class NotifySocket:
    """A unix datagram socket standing in for systemd's ``$NOTIFY_SOCKET``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.messages: list[dict[str, str]] = []

    def read(self) -> list[dict[str, str]]:
        """Collect every datagram received so far; return them all."""
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return self.messages
            self.messages.append(dict(line.split("=", 1) for line in data.decode().splitlines()))

    def count(self, key: str) -> int:
        return sum(1 for m in self.read() if key in m)


@pytest.fixture
async def notify_socket(tmp_path: Path) -> AsyncIterator[NotifySocket]:
    """A fake notify socket, read as datagrams arrive (its queue holds only a few)."""
    fake = NotifySocket(tmp_path / "notify.sock")
    loop = asyncio.get_running_loop()
    loop.add_reader(fake.sock.fileno(), fake.read)
    yield fake
    loop.remove_reader(fake.sock.fileno())
    fake.sock.close()


async def test_ready_then_watchdog_then_stopping(
        daemon_factory, make_config, notify_socket, eventually):
    env = {"NOTIFY_SOCKET": str(notify_socket.path), "WATCHDOG_USEC": "100000"}
    daemon = await daemon_factory(make_config(speed=600), environ=env)
    await eventually(lambda: notify_socket.count("WATCHDOG") >= 3)
    await daemon.ops.stop()
    messages = notify_socket.read()
    kinds = [next(k for k in ("READY", "WATCHDOG", "STOPPING", "STATUS") if k in m)
             for m in messages]
    assert kinds[0] == "READY"
    assert kinds[-1] == "STOPPING"
    assert set(kinds[1:-1]) == {"WATCHDOG"}
    assert messages[0]["STATUS"].startswith("streaming:")
    assert messages[1]["STATUS"].startswith("running:")
    assert daemon.ops.watchdog is None


async def test_watchdog_pings_stop_when_the_stream_goes_stale(
        daemon_factory, make_config, notify_socket, eventually):
    env = {"NOTIFY_SOCKET": str(notify_socket.path), "WATCHDOG_USEC": "60000"}
    daemon = await daemon_factory(make_config(speed=0), environ=env)
    pinger = daemon.ops.watchdog
    assert pinger is not None
    await eventually(lambda: daemon.feed_finished)
    await eventually(lambda: pinger.skipped >= 1)
    pings = notify_socket.count("WATCHDOG")
    await eventually(lambda: pinger.skipped >= 4)
    assert notify_socket.count("WATCHDOG") == pings
    assert pinger.last_problems == ["gateway paper data stream has ended"]
    statuses = [m["STATUS"] for m in notify_socket.read() if "WATCHDOG" not in m]
    assert "unhealthy: gateway paper data stream has ended" in statuses


async def test_abstract_notify_socket_is_supported(daemon_factory, make_config, eventually):
    name = f"libra-test-{id(daemon_factory)}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        await daemon_factory(make_config(speed=60), environ={"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(4096).decode().startswith("READY=1")
    finally:
        sock.close()
