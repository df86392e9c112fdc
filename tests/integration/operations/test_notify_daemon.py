"""``libra run`` and ``libra config check`` with a ``[notify]`` section, as real processes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from daemon_process import REPO, Daemon
from notify_receiver import Receiver

from libra.testing.factories import paper_config_data, paper_gateway

PASSWORD = "Pa55-w0rd-8c1f7e"
TOKEN = "op-token-5f1c2a"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = await Receiver().start()
    yield server
    await server.close()


def write_config(tmp_path: Path, notify: dict[str, Any], **sections: Any) -> Path:
    sma = {"id": "sma", "plugin": "sma_cross",
           "params": {"fast": 5, "slow": 20, "quantity": "0.01"}}
    raw = paper_config_data(
        sma, gateway=paper_gateway(balances={"USD": "1000000"}, speed=0),
        kernel={"name": "notify-daemon", "state_path": str(tmp_path / "state.db")},
        logging={"format": "json", "heartbeat_interval": 60},
        notify=notify, **sections)
    path = tmp_path / "libra.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def config_check(path: Path, env: dict[str, str] | None = None
                 ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "libra", "config", "check", "--config",
                           str(path)], capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={**os.environ, **(env or {})}, check=False)


async def test_the_target_url_with_credentials_never_leaves_the_process(tmp_path, receiver):
    url = receiver.url(credentials=f"libra-user:{PASSWORD}")
    path = write_config(tmp_path, {"targets": [{"name": "desk", "url": url,
                                                "events": ["fill", "error"]}]},
                        http={"enabled": True, "port": 0, "token": TOKEN})
    daemon = Daemon(path)
    try:
        started = await asyncio.to_thread(daemon.wait_event, "ops.started", 30)
        async with asyncio.timeout(20):
            while not receiver.messages:
                await asyncio.sleep(0.05)
        status_url = f"http://127.0.0.1:{started['http_port']}/api/status"
        async with aiohttp.ClientSession() as http, http.get(status_url) as response:
            status = await response.text()
        daemon.signal()
        assert await asyncio.to_thread(daemon.finish, 30) == 0
        stderr = daemon.stderr_text()
    finally:
        daemon.close()
    # The credentials were real: apprise sent them to the receiver.
    assert receiver.messages[0]["authorization"].startswith("Basic ")
    assert " @ " in receiver.messages[0]["body"]["title"]
    output = "".join(daemon.lines) + stderr
    for text in (output, status):
        assert PASSWORD not in text
        assert url not in text
    assert any(r.get("event") == "notify.started" and r["targets"] == {"desk": ["error", "fill"]}
               for r in daemon.records())

    checked = config_check(path)
    assert checked.returncode == 0, checked.stderr
    assert PASSWORD not in checked.stdout + checked.stderr
    printed = json.loads(checked.stdout)["notify"]["targets"][0]
    assert printed == {"name": "desk", "url": "**********", "events": ["fill", "error"]}


@pytest.mark.parametrize(("notify", "field", "says"), [
    ({"targets": [{"name": "a", "url": "json://127.0.0.1:9/x", "events": ["fill", "fils"]}]},
     "notify.targets[0].events[1]", "Input should be 'fill', 'strategy'"),
    ({"daily_summary_at": "7:5"}, "notify.daily_summary_at", "expected HH:MM in UTC"),
    ({"targets": [{"name": "pager", "url": f"nosuchservice://{PASSWORD}@host/x"}]},
     "notify.targets[0].url", "target 'pager': apprise does not accept this URL"),
    ({"targets": [{"name": "a", "url": "json://127.0.0.1:9/x"}], "queue_size": 0},
     "notify.queue_size", "greater than or equal to 1"),
])
def test_a_bad_notify_section_fails_config_check(tmp_path, notify, field, says):
    checked = config_check(write_config(tmp_path, notify))
    assert checked.returncode == 2
    assert f"field {field}: " in checked.stderr
    assert says in checked.stderr
    assert PASSWORD not in checked.stdout + checked.stderr
    assert "Traceback" not in checked.stderr


def test_targets_without_apprise_fail_config_check_with_the_install_hint(tmp_path):
    blocker = tmp_path / "blocked" / "apprise"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('apprise is not installed here')\n")
    path = write_config(tmp_path, {"targets": [{"name": "a", "url": "json://127.0.0.1:9/x"}]})
    checked = config_check(path, env={"PYTHONPATH": str(blocker.parent)})
    assert checked.returncode == 2
    assert "field notify.targets: notifications need apprise" in checked.stderr
    assert "pip install 'libra-trader[notify]'" in checked.stderr

    without = write_config(tmp_path, {})
    assert config_check(without, env={"PYTHONPATH": str(blocker.parent)}).returncode == 0
