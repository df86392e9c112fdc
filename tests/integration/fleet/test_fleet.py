"""Three paper daemons in one fleet over a real ``nats-server -js``: the view, the kill
switch, refused commands, and a NATS crash while they trade.

The daemons are module-scoped (starting three costs seconds); the tests run in file
order, and the halt, which stops their trading, comes last.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_process import REPO, Daemon
from nats_server import NatsServer, nats_server_binary

from libra.fleet.protocol import (
    SIGNATURE_HEADER,
    command_body,
    control_subject,
    sign,
    signature_matches,
    stream_name,
)

nats = pytest.importorskip("nats", reason="nats-py is not installed: pip install "
                                          "'libra-trader[nats]'")

ENSURE_TOOLS = REPO / "scripts" / "ensure-test-tools.sh"
FLEET = "desk"
TOKEN = "fleet-token-7c41e9"
KERNELS = ("k1", "k2", "k3")

DAEMON_CONFIG = """
environment = "paper"
[kernel]
name = "{name}"
state_path = "{state}"
shutdown_timeout = 10.0
[logging]
heartbeat_interval = 1.0
format = "json"
[[gateways]]
id = "paper"
plugin = "paper"
starting_balances = {{ USD = "1000000" }}
# 600x: ten bars a second, ten minutes of bars: they trade for the whole module.
data = {{ source = "replay", path = "bundled:BTC_USD-1m", symbol = "BTC/USD", speed = 600 }}
[[strategies]]
id = "sma"
plugin = "sma_cross"
gateway = "paper"
symbols = ["BTC/USD"]
params = {{ fast = 3, slow = 8, quantity = "0.05" }}
[http]
enabled = true
port = 0
token = "{token}"
[fleet]
servers = ["{url}"]
name = "{fleet}"
heartbeat_interval = 0.5
command_max_age = 5.0
connect_timeout = 1.0
"""


def fleet_config(tmp: Path, name: str, url: str, token: str = TOKEN) -> Path:
    path = tmp / f"{name}.toml"
    path.write_text(DAEMON_CONFIG.format(name=name, state=tmp / f"{name}.db", token=token,
                                         url=url, fleet=FLEET))
    return path


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    binary = nats_server_binary()
    if binary is None and ENSURE_TOOLS.exists():
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(["/bin/sh", str(ENSURE_TOOLS)], check=False, timeout=660)
        binary = nats_server_binary()
    if binary is None:
        pytest.skip("nats-server not on PATH and scripts/ensure-test-tools.sh could not "
                    "install it (Debian package nats-server)")
    server = NatsServer(binary, tmp_path_factory.mktemp("nats-store"))
    server.start()
    yield server
    server.stop()


class FleetDaemon:
    """A ``libra run`` subprocess of the fleet and its HTTP API."""

    def __init__(self, name: str, config: Path) -> None:
        self.name = name
        self.config = config
        self.process = Daemon(config)
        self.port: int | None = None

    def wait_started(self) -> None:
        record = self.process.wait_event("http.started", timeout=30)
        self.port = int(record["port"])
        self.process.wait_event("fleet.connected", timeout=30)

    def status(self) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.port}/api/status"
        with urllib.request.urlopen(url, timeout=5) as response:
            data: dict[str, Any] = json.loads(response.read())
        return data


@pytest.fixture(scope="module")
def fleet(nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[dict[str, FleetDaemon]]:
    tmp = tmp_path_factory.mktemp("fleet")
    daemons = {name: FleetDaemon(name, fleet_config(tmp, name, nats_server.url))
               for name in KERNELS}
    try:
        for daemon in daemons.values():
            daemon.wait_started()
        yield daemons
    finally:
        for daemon in daemons.values():
            daemon.process.close()


def libra(*argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run the ``libra`` command in a subprocess, as an operator would."""
    return subprocess.run([sys.executable, "-m", "libra", *argv], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO, check=False)


def until(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    """Wait (polling a real process) until ``predicate()`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.1)


async def send_raw(url: str, body: bytes, signature: str, expect: int = 3,
                   wait: float = 5.0) -> list[dict[str, Any]]:
    """Send one command as anyone could (no client library of ours); return the answers."""
    nc = await nats.connect(url)
    answers: list[dict[str, Any]] = []
    done = asyncio.Event()
    inbox = nc.new_inbox()

    async def on_answer(msg: Any) -> None:
        answer = json.loads(msg.data)
        answer["signed"] = signature_matches(TOKEN, msg.data,
                                             (msg.headers or {}).get(SIGNATURE_HEADER))
        answers.append(answer)
        if len(answers) >= expect:
            done.set()

    await nc.subscribe(inbox, cb=on_answer)
    await nc.publish(control_subject(FLEET), body, reply=inbox,
                     headers={SIGNATURE_HEADER: signature})
    try:
        async with asyncio.timeout(wait):
            await done.wait()
    except TimeoutError:
        pass
    await nc.close()
    return answers


async def stream_ids(url: str) -> collections.Counter[str]:
    """Count every stored message of the fleet's stream by its ``Nats-Msg-Id``."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    nc = await nats.connect(url)
    js = nc.jetstream()
    stream = stream_name(FLEET)
    total = (await js.stream_info(stream)).state.messages
    reader = await js.pull_subscribe("", stream=stream, config=ConsumerConfig(
        ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL))
    ids: collections.Counter[str] = collections.Counter()
    while sum(ids.values()) < total:
        for msg in await reader.fetch(1000, timeout=5):
            ids[(msg.headers or {}).get("Nats-Msg-Id", "")] += 1
    await nc.close()
    return ids


async def last_messages(config: Path, kind: str) -> list[dict[str, Any]]:
    """Return each kernel's last ``kind`` message in the stream."""
    from libra.core.config import load_config

    url = load_config(config).fleet.servers[0]  # type: ignore[union-attr]
    nc = await nats.connect(url)
    js = nc.jetstream()
    out = []
    for name in KERNELS:
        message = await js.get_last_msg(stream_name(FLEET), f"libra.{FLEET}.{name}.{kind}")
        out.append(json.loads(message.data))
    await nc.close()
    return out


def fleet_link(daemon: FleetDaemon) -> dict[str, Any]:
    link: dict[str, Any] = daemon.status()["links"]["fleet"]
    return link


def test_status_lists_every_daemon(fleet: dict[str, FleetDaemon]) -> None:
    config = str(fleet["k1"].config)
    until(lambda: len(json.loads(libra("fleet", "status", "--config", config, "--json")
                                 .stdout)["daemons"]) == 3, what="three heartbeats")

    result = libra("fleet", "status", "--config", config, "--json")
    text = libra("fleet", "status", "--config", config)

    assert result.returncode == 0, result.stderr
    view = json.loads(result.stdout)
    assert [d["kernel"] for d in view["daemons"]] == list(KERNELS)
    for daemon in view["daemons"]:
        assert daemon["state"] == "running"
        assert daemon["trading_state"] == "active"
        assert daemon["gateways"] == {"paper": {"connected": True}}
        assert daemon["strategies"] == {"sma": {"state": "running"}}
        assert daemon["heartbeat_age"] < 10
    assert "BTC/USD" in view["exposure"]
    assert text.returncode == 0
    assert all(f"{name} on " in text.stdout for name in KERNELS)
    assert TOKEN not in text.stdout + result.stdout
    # The link is reported in the heartbeat line and the metrics too.
    k1 = fleet["k1"]
    beat = k1.process.wait_for(lambda r: r.get("event") == "kernel.heartbeat" and "links" in r)
    assert beat["links"]["fleet"]["connected"] is True
    with urllib.request.urlopen(f"http://127.0.0.1:{k1.port}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    assert 'libra_link_up{link="fleet"} 1.0' in metrics
    assert 'libra_link_published_events_total{link="fleet"}' in metrics


def test_forged_stale_and_replayed_commands_are_refused(
        fleet: dict[str, FleetDaemon], nats_server: NatsServer) -> None:
    forged = command_body("halt", FLEET)
    stale = command_body("halt", FLEET, now=time.time() - 60)
    valid = command_body("resume", FLEET)  # already active: applying it changes nothing

    refused_forged = asyncio.run(send_raw(nats_server.url, forged, sign("wrong-token", forged)))
    refused_stale = asyncio.run(send_raw(nats_server.url, stale, sign(TOKEN, stale)))
    applied = asyncio.run(send_raw(nats_server.url, valid, sign(TOKEN, valid)))
    replayed = asyncio.run(send_raw(nats_server.url, valid, sign(TOKEN, valid)))

    assert sorted(a["kernel"] for a in refused_forged) == list(KERNELS)
    assert {a["refused"] for a in refused_forged} == {"bad signature"}
    assert all(a["refused"].startswith("stale") for a in refused_stale)
    assert len(refused_stale) == 3
    assert [a["ok"] for a in applied] == [True] * 3
    assert {a["refused"] for a in replayed} == {"replayed command id"}
    assert all(a["signed"] for a in refused_forged + refused_stale + applied + replayed)
    for daemon in fleet.values():
        status = daemon.status()
        assert status["trading_state"] == "active"
        assert status["links"]["fleet"]["commands"]["refused"] == 3
    log = fleet["k1"].process.wait_for(lambda r: r.get("event") == "fleet.command_refused")
    assert log["reason"] == "bad signature"
    assert TOKEN not in "".join(fleet["k1"].process.lines)


def test_nats_crash_buffers_and_delivers_each_event_once(
        fleet: dict[str, FleetDaemon], nats_server: NatsServer) -> None:
    daemons = list(fleet.values())
    events_before = {d.name: d.status()["orders"].get("submitted", 0) for d in daemons}

    nats_server.kill()
    until(lambda: all(not fleet_link(d)["connected"] for d in daemons),
          what="every daemon sees the link down")
    until(lambda: all(fleet_link(d)["buffered"] >= 10 for d in daemons),
          what="events buffered while NATS is down")
    down = {d.name: d.status() for d in daemons}
    nats_server.start()
    until(lambda: all(fleet_link(d)["connected"] and fleet_link(d)["buffered"] < 10
                      for d in daemons), timeout=20, what="the link back and the buffer sent")

    for name, status in down.items():
        assert status["state"] == "running"
        assert status["ready"] is True  # the fleet link is not part of readiness
        assert status["orders"].get("submitted", 0) > events_before[name]  # still trading
    ids = asyncio.run(stream_ids(nats_server.url))
    assert ids
    assert max(ids.values()) == 1  # every message id stored exactly once
    for daemon in daemons:
        link = fleet_link(daemon)
        assert link["dropped"] == 0
        seqs = sorted(int(i.rsplit(".", 1)[1]) for i in ids if i.startswith(f"{daemon.name}."))
        # No gap: what was buffered during the outage arrived, once, in full.
        assert seqs == list(range(1, len(seqs) + 1))
        assert len(seqs) > down[daemon.name]["links"]["fleet"]["published"]


def test_halt_puts_every_daemon_in_halted(fleet: dict[str, FleetDaemon]) -> None:
    started = time.monotonic()
    result = libra("fleet", "halt", "--config", str(fleet["k2"].config), "--timeout", "5")

    assert result.returncode == 0, result.stderr
    for name in KERNELS:
        assert f"{name}: halt ok: trading_state halted" in result.stdout
    for daemon in fleet.values():
        assert daemon.status()["trading_state"] == "halted"
    assert time.monotonic() - started < 30
    # The risk state change reached the stream, as a program of the desk reads it.
    changes = asyncio.run(last_messages(fleet["k2"].config, "risk"))
    assert {c["kernel"] for c in changes} == set(KERNELS)
    assert {c["data"]["to_state"] for c in changes} == {"halted"}
    assert all(c["v"] == 1 for c in changes)


def test_command_to_a_silent_kernel_exits_non_zero(fleet: dict[str, FleetDaemon]) -> None:
    result = libra("fleet", "resume", "--config", str(fleet["k1"].config), "--kernel", "k9",
                   "--timeout", "1")

    assert result.returncode == 1
    assert "k9: no answer within 1s" in result.stdout
    assert fleet["k1"].status()["trading_state"] == "halted"
