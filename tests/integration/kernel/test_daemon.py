"""``libra run`` as a user runs it: a subprocess, JSON logs, signals, exit codes."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_process import Daemon

PAPER_GATEWAY = """
[[gateways]]
id = "paper"
plugin = "{gateway_plugin}"
starting_balances = {{ USD = "100000" }}
data = {{ source = "replay", path = "bundled:BTC_USD-1m", symbol = "BTC/USD", speed = {speed} }}
"""

STRATEGY = """
[[strategies]]
id = "{sid}"
plugin = "{plugin}"
gateway = "paper"
symbols = ["BTC/USD"]
params = {params}
"""


def write_config(
    tmp_path: Path,
    *,
    strategies: list[tuple[str, str, str]] | None = None,
    gateway_plugin: str = "paper",
    speed: int = 6000,
    extra: str = "",
) -> Path:
    default = ("sma-btc", "sma_cross", '{ fast = 3, slow = 8, quantity = "0.01" }')
    strategies = strategies or [default]
    text = '[kernel]\nname = "test-kernel"\nstrategy_shutdown_timeout = 20.0\n'
    text += "shutdown_timeout = 30.0\n[logging]\nheartbeat_interval = 0.5\n" + extra
    text += PAPER_GATEWAY.format(gateway_plugin=gateway_plugin, speed=speed)
    for sid, plugin, params in strategies:
        text += STRATEGY.format(sid=sid, plugin=plugin, params=params)
    path = tmp_path / "libra.toml"
    path.write_text(text)
    return path


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for d in started:
        d.close()


def start(daemons: list[Daemon], config: Path, **kwargs: object) -> Daemon:
    daemon = Daemon(config, **kwargs)  # type: ignore[arg-type]
    daemons.append(daemon)
    return daemon


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_in_order_and_exits_zero(tmp_path, daemons, sig):
    daemon = start(daemons, write_config(tmp_path))
    daemon.wait_event("kernel.started")
    daemon.wait_event("order.filled")
    daemon.wait_event("kernel.heartbeat")
    daemon.signal(sig)
    assert daemon.finish() == 0
    events = daemon.events()  # every line parsed as JSON
    assert all(r["kernel"] == "test-kernel" for r in daemon.records())
    stopping = events.index("kernel.stopping")
    shutdown = next(
        i for i, r in enumerate(daemon.records())
        if r["event"] == "strategy.log" and r["strategy_id"] == "sma-btc"
        and r["message"].startswith("sma_cross shutting down")
    )
    stopped_strategy = events.index("strategy.stopped")
    disconnected = events.index("gateway.disconnected")
    assert stopping < shutdown < stopped_strategy < disconnected < events.index("kernel.stopped")
    assert events[-1] == "kernel.stopped"
    final = daemon.records()[-1]
    assert final["reason"] == f"signal {sig.name}"
    assert final["orders"]["filled"] >= 1


def test_market_data_flows_into_strategy_and_heartbeat_reports_it(tmp_path, daemons):
    daemon = start(daemons, write_config(tmp_path))
    beat = daemon.wait_for(
        lambda r: r.get("event") == "kernel.heartbeat"
        and r["strategies"]["sma-btc"]["events"] > 0
    )
    assert beat["strategies"]["sma-btc"]["state"] == "running"
    assert beat["events_per_second"] > 0
    daemon.signal()
    assert daemon.finish() == 0


def test_second_signal_forces_exit(tmp_path, daemons):
    config = write_config(
        tmp_path, strategies=[("hang", "libra_test_plugins:HangingShutdown", "{}")]
    )
    daemon = start(daemons, config)
    daemon.wait_event("kernel.started")
    daemon.signal(signal.SIGTERM)
    daemon.wait_for(lambda r: r.get("message") == "hanging in shutdown")
    daemon.signal(signal.SIGTERM)
    assert daemon.finish(timeout=15) == 130
    assert "kernel.forced_stop" in daemon.events()


def test_gateway_failing_to_connect_exits_non_zero_with_message(tmp_path, daemons):
    config = write_config(tmp_path, gateway_plugin="libra_test_plugins:FailingGateway")
    daemon = start(daemons, config)
    code = daemon.finish()
    assert code == 1
    assert "venue unreachable: connection refused" in daemon.stderr_text()
    assert "kernel.start_failed" in daemon.events()
    assert "kernel.started" not in daemon.events()


def test_secrets_never_reach_the_log(tmp_path, daemons):
    secret = "s3cr3t-token-value-123"
    config = write_config(tmp_path, extra='[http]\ntoken = "${LIBRA_TEST_TOKEN}"\n')
    daemon = start(daemons, config, env={"LIBRA_TEST_TOKEN": secret})
    daemon.wait_event("order.filled")
    daemon.signal()
    assert daemon.finish() == 0
    assert daemon.lines
    assert not any(secret in line for line in daemon.lines)


def test_json_lines_only_on_stdout(tmp_path, daemons):
    daemon = start(daemons, write_config(tmp_path))
    daemon.wait_event("kernel.started")
    daemon.signal()
    assert daemon.finish() == 0
    for line in daemon.lines:
        assert isinstance(json.loads(line), dict)
