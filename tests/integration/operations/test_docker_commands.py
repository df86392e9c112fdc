"""The Docker image's ENTRYPOINT/CMD and HEALTHCHECK commands, run directly (no Docker engine).

These are the runtime stage's commands (the last of each in the Dockerfile). The image itself
is built and run in a container by scripts/container-test.sh, which CI runs after the tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from daemon_process import Daemon

REPO = Path(__file__).resolve().parents[3]


def image_commands() -> tuple[list[str], list[str]]:
    """Return the Dockerfile's ENTRYPOINT + CMD and its HEALTHCHECK command."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text(encoding="utf-8"))
    found = {}
    for line in text.splitlines():
        keyword, _, rest = line.strip().partition(" ")
        if keyword in ("ENTRYPOINT", "CMD", "HEALTHCHECK"):
            found[keyword] = rest.strip()
    health = found["HEALTHCHECK"]
    return (json.loads(found["ENTRYPOINT"]) + json.loads(found["CMD"]),
            json.loads(health[health.index("CMD") + 3:]))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def libra_argv(command: list[str]) -> list[str]:
    """Run ``libra`` as this interpreter's module, so the test needs no installed script."""
    assert command[0] == "libra"
    return [sys.executable, "-m", "libra", *command[1:]]


def test_entrypoint_runs_the_daemon_and_the_healthcheck_asks_it(tmp_path):
    entrypoint, healthcheck = image_commands()
    config = tmp_path / "libra.toml"
    shutil.copy(REPO / "deploy" / "docker" / "libra.toml", config)
    command = [str(config) if a == "/etc/libra/libra.toml" else a for a in entrypoint]
    assert command[:2] == ["libra", "run"]
    port = free_port()
    env = {"LIBRA__HTTP__PORT": str(port), "LIBRA__HTTP__HOST": "127.0.0.1",
           "LIBRA_HTTP_TOKEN": "docker-token-123",
           # The image keeps state on its volume, /var/lib/libra: here, in the test's own
           # directory.
           "LIBRA__KERNEL__STATE_PATH": str(tmp_path / "state" / "libra.db")}
    daemon = Daemon(config, env=env)
    try:
        daemon.wait_event("kernel.started", timeout=30)
        assert "http.started" in daemon.events()  # the API is up before kernel.started
        health_env = {**os.environ, "LIBRA_URL": f"http://127.0.0.1:{port}"}
        result = subprocess.run(libra_argv(healthcheck), env=health_env, cwd=REPO,
                                capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 0, result.stderr
        daemon.signal(signal.SIGTERM)
        assert daemon.finish(timeout=30) == 0
        assert "kernel.stopped" in daemon.events()
    finally:
        daemon.close()


def test_healthcheck_fails_when_nothing_answers():
    _, healthcheck = image_commands()
    env = {**os.environ, "LIBRA_URL": f"http://127.0.0.1:{free_port()}"}
    result = subprocess.run(libra_argv(healthcheck), env=env, cwd=REPO, capture_output=True,
                            text=True, timeout=30, check=False)
    assert result.returncode == 1
    assert "cannot reach" in result.stderr
