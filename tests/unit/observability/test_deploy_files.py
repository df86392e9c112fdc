"""Deployment files: Dockerfile lint rules, the systemd unit, compose and Prometheus files."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from libra.core.config import load_config
from libra.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = REPO / "Dockerfile"
UNIT = REPO / "deploy" / "systemd" / "libra.service"


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """Return ``(INSTRUCTION, arguments)`` pairs, with continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def unit_settings(text: str) -> dict[str, dict[str, str]]:
    """Parse a systemd unit into ``{section: {key: value}}`` (last value wins)."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        else:
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip()
    return sections


def seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(s|min)?", value)
    assert match, f"unsupported duration, was {value!r}"
    return float(match.group(1)) * (60 if match.group(2) == "min" else 1)


def test_dockerfile_follows_the_lint_rules():
    instructions = dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))
    by_name: dict[str, list[str]] = {}
    for keyword, args in instructions:
        by_name.setdefault(keyword, []).append(args)
    # One base for every stage, pinned by version and digest for a normal Docker host and
    # replaceable by a local one (--build-arg BASE_IMAGE=...) for an offline build.
    base = next(a for a in by_name["ARG"] if a.startswith("BASE_IMAGE="))
    assert re.fullmatch(r"BASE_IMAGE=python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", base)
    assert by_name["FROM"][0] == "${BASE_IMAGE} AS python"
    assert by_name["FROM"][-1].endswith("AS runtime")
    users = by_name["USER"]
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    assert json.loads(by_name["ENTRYPOINT"][-1]) == ["libra"]
    assert json.loads(by_name["CMD"][-1]) == ["run", "--config", "/etc/libra/libra.toml"]
    assert by_name["STOPSIGNAL"] == ["SIGTERM"]
    healthcheck = by_name["HEALTHCHECK"][-1]
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3:].strip())
    assert command[:2] == ["libra", "ctl"]
    assert command[-1] == "health"
    assert not any(re.match(r"(--\S+\s+)*https?://", a) for a in by_name.get("ADD", []))
    # Dependencies come from the hash-checked lock only, never a floating resolve.
    installs = [a for a in by_name["RUN"] if "pip install" in a]
    assert any("--require-hashes" in a and "requirements/" in a for a in installs)
    # No VOLUME: Docker would make an anonymous volume at every run; compose names them.
    assert "VOLUME" not in by_name
    # USER comes after the install steps, so nothing later runs as root.
    names = [k for k, _ in instructions]
    assert max(i for i, k in enumerate(names) if k == "RUN") < names.index("USER")


def test_docker_config_is_valid_and_enables_http():
    path = REPO / "deploy" / "docker" / "libra.toml"
    config = load_config(path, environ={"LIBRA_HTTP_TOKEN": "docker-token"})
    assert config.http.enabled
    assert config.http.host == "0.0.0.0"
    assert config.http.port == 8080
    assert config.http.token is not None
    # Reachable from other containers: without a token the config is refused.
    with pytest.raises(ConfigError, match=r"http\.token"):
        load_config(path, environ={})


def test_compose_stop_grace_outlasts_the_shutdown_timeout():
    compose = yaml.safe_load((REPO / "deploy" / "docker-compose.yml").read_text())
    libra = compose["services"]["libra"]
    config = load_config(REPO / "deploy" / "docker" / "libra.toml",
                         environ={"LIBRA_HTTP_TOKEN": "docker-token"})
    assert seconds(libra["stop_grace_period"]) > config.kernel.shutdown_timeout
    assert "prometheus" in compose["services"]
    prometheus = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())
    job = prometheus["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["libra:8080"]
    rules = yaml.safe_load((REPO / "deploy" / "prometheus-rules.yml").read_text())
    assert {r["alert"] for r in rules["groups"][0]["rules"]} >= {"LibraDown",
                                                                "LibraStrategyFailed"}


def test_dockerignore_keeps_secrets_and_the_venv_out():
    lines = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    # An allow-list: everything is out unless named, so a new file with secrets stays out.
    assert lines[0] == "*"
    allowed = [line[1:] for line in lines if line.startswith("!")]
    assert "libra" in allowed
    assert "pyproject.toml" in allowed
    assert not [a for a in allowed if a.startswith((".venv", ".git", "state", "tests"))
                or a.endswith(".env")]


def test_systemd_unit_has_the_required_settings():
    unit = unit_settings(UNIT.read_text(encoding="utf-8"))
    service = unit["Service"]
    expected = {
        "Type": "notify", "NotifyAccess": "main", "WatchdogSec": "30",
        "Restart": "on-failure", "DynamicUser": "yes", "ProtectSystem": "strict",
        "StateDirectory": "libra", "NoNewPrivileges": "yes", "PrivateTmp": "yes",
        "ProtectHome": "yes", "EnvironmentFile": "-/etc/libra/libra.env",
        "ExecReload": "/bin/kill -HUP $MAINPID",
    }
    assert {k: service.get(k) for k in expected} == expected
    config = load_config(REPO / "config" / "libra.toml", environ={})
    assert seconds(service["TimeoutStopSec"]) > config.kernel.shutdown_timeout
    assert service["ExecStart"].split()[1:] == ["run", "--config", "/etc/libra/libra.toml"]


def test_systemd_analyze_verifies_the_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (Debian package: systemd)")
    executable = Path(sys.executable).parent / "libra"
    if not executable.exists():
        executable = Path(sys.executable)
    text = UNIT.read_text(encoding="utf-8").replace("/opt/libra/venv/bin/libra", str(executable))
    unit = tmp_path / "libra.service"
    unit.write_text(text, encoding="utf-8")
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                            timeout=30, check=False)
    complaints = [line for line in result.stderr.splitlines() if "libra.service" in line]
    assert result.returncode == 0, result.stderr
    assert complaints == []
