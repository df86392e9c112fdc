"""The ``[fleet]`` section and ``libra fleet`` when something is missing or wrong: clear
errors naming the field, and nothing of NATS without the section."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from daemon_process import Daemon
from nats_server import free_port

from libra.cli import main

PASSWORD = "nats-pass-90e7b1"
DAEMON = """
[kernel]
name = "{name}"
state_path = "{state}"
[logging]
heartbeat_interval = 0.2
format = "json"
[[gateways]]
id = "paper"
plugin = "paper"
starting_balances = {{ USD = "100000" }}
data = {{ source = "replay", path = "bundled:BTC_USD-1m", symbol = "BTC/USD", speed = 600 }}
[[strategies]]
id = "sma"
plugin = "sma_cross"
gateway = "paper"
symbols = ["BTC/USD"]
params = {{ fast = 3, slow = 8, quantity = "0.01" }}
"""


def write(tmp_path: Path, text: str, name: str = "libra.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_without_a_fleet_section_nats_is_never_imported(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow" / "nats"
    shadow.mkdir(parents=True)
    marker = tmp_path / "nats-imported"
    (shadow / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    env = {"PYTHONPATH": str(shadow.parent)}
    subprocess.run([sys.executable, "-c", "import nats"], env={**os.environ, **env}, check=True)
    assert marker.exists()  # the shadow package is what ``import nats`` finds
    marker.unlink()
    config = write(tmp_path, DAEMON.format(name="solo", state=tmp_path / "solo.db"))

    daemon = Daemon(config, env=env)
    try:
        daemon.wait_event("kernel.heartbeat", timeout=30)
        daemon.signal(signal.SIGTERM)
        code = daemon.finish()
    finally:
        daemon.close()

    assert code == 0, daemon.stderr_text()
    assert not marker.exists()
    assert "links" not in daemon.wait_event("kernel.heartbeat")


def test_run_refuses_a_kernel_name_that_cannot_be_a_subject(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path, DAEMON.format(name="paper btc", state=tmp_path / "k.db")
                   + '[fleet]\nname = "desk"\n')

    code = main(["run", "--config", str(config)])

    assert code == 2
    assert "field kernel.name" in capsys.readouterr().err


@pytest.mark.parametrize(("section", "field"), [
    ('name = "desk"\nuser = "ops"\n', "fleet: Value error, user and password go together"),
    ('name = "desk"\nservers = ["http://127.0.0.1:4222"]\n', "field fleet.servers[0]"),
    ('name = "desk.prod"\n', "field fleet.name"),
    (f'name = "desk"\nbuffer_size = 1\npassword = "{PASSWORD}"\nuser = "ops"\n',
     "field fleet.buffer_size"),
    ('servers = ["nats://127.0.0.1:4222"]\n', "field fleet.name: Field required"),
])
def test_a_bad_fleet_section_names_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             section: str, field: str) -> None:
    config = write(tmp_path, f"[fleet]\n{section}")

    code = main(["config", "check", "--config", str(config)])

    err = capsys.readouterr().err
    assert code == 2
    assert field in err
    assert PASSWORD not in err


def test_the_password_is_never_printed(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path, DAEMON.format(name="k1", state=tmp_path / "k1.db")
                   + f'[fleet]\nname = "desk"\nuser = "ops"\npassword = "{PASSWORD}"\n')

    code = main(["config", "check", "--config", str(config)])

    out = capsys.readouterr().out
    assert code == 0
    assert '"password": "**********"' in out
    assert PASSWORD not in out


def test_fleet_status_exits_1_when_nats_is_unreachable(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("nats", reason="nats-py is not installed")
    url = f"nats://ops:{PASSWORD}@127.0.0.1:{free_port()}"
    config = write(tmp_path, f'[fleet]\nname = "desk"\nservers = ["{url}"]\n')

    code = main(["fleet", "status", "--config", str(config), "--timeout", "1"])

    err = capsys.readouterr().err
    assert code == 1
    assert "cannot reach NATS" in err
    assert PASSWORD not in err
    assert "Traceback" not in err


def test_fleet_commands_need_the_section_and_the_token(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    no_fleet = write(tmp_path, "[http]\nenabled = false\n", "a.toml")
    no_token = write(tmp_path, '[fleet]\nname = "desk"\n', "b.toml")

    missing_section = main(["fleet", "status", "--config", str(no_fleet)])
    section_err = capsys.readouterr().err
    missing_token = main(["fleet", "halt", "--config", str(no_token)])
    token_err = capsys.readouterr().err

    assert missing_section == 2
    assert "field fleet" in section_err
    assert missing_token == 2
    assert "field http.token" in token_err
