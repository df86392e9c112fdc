"""Secret canaries: marker secrets planted everywhere a secret can come from, then every
failure path driven, and every byte LIBRA writes scanned for them.

Planted through the config file (an API key written in it), the environment (``${VAR}``),
and ``LIBRA__`` overrides (a secret of digits, a token that looks like hex). Driven: a
wrong API key, a wrong secret, a venue whose error text echoes the key, a strategy that
raises on every event, config errors with secrets first in the document; in the console
and the JSON log formats. Scanned: stdout, stderr, the state file, ``/metrics``,
``/api/status`` and a refused control answer.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from libra.testing.contract import ccxt_gateway_options
from libra.testing.exchange import LocalExchange, LocalExchangeConfig

REPO = Path(__file__).resolve().parents[2]
SUPPORT = REPO / "tests" / "support"
KEY = "CANARYKEY-5f2c9e1a7b3d"
SECRET = "CANARYSECRET-9d8e7f6a5b4c"
WRONG_KEY = "CANARYWRONGKEY-1a2b3c4d"
DIGITS = "80801234567890"
HEX_TOKEN = "0x1F2E3D4C"
# Each canary, plus what a number-guessing parser would have made of it.
CANARIES = (KEY, SECRET, WRONG_KEY, DIGITS, HEX_TOKEN, str(int(HEX_TOKEN, 16)),
            "8.080123456789e+13")


def leaks(*outputs: str | bytes) -> list[str]:
    """Return every canary found in any of ``outputs``."""
    found = []
    for output in outputs:
        data = output.encode() if isinstance(output, str) else output
        found += [canary for canary in CANARIES if canary.encode() in data]
    return found


async def libra(*argv: str, env: dict[str, str], timeout: float = 60) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "libra", *argv, cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(timeout):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def process_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIBRA")}
    env["PYTHONPATH"] = os.pathsep.join([str(SUPPORT), env.get("PYTHONPATH", "")])
    return {**env, "LIBRA_CANARY_SECRET": SECRET, "LIBRA__HTTP__TOKEN": HEX_TOKEN, **extra}


@pytest.fixture
async def exchange() -> AsyncIterator[LocalExchange]:
    async with LocalExchange(LocalExchangeConfig(api_key=KEY, api_secret=SECRET,
                                                 replay=False)) as local:
        yield local


def venue_config(exchange: LocalExchange, tmp_path: Path, api_key: str) -> Path:
    options = ccxt_gateway_options(exchange, connect_attempts=1, timeout_ms=2000)
    options.update(api_key=api_key, secret="${LIBRA_CANARY_SECRET}")
    options["client_config"].pop("exceptions")  # ccxt classes: not for a file
    config = {
        "kernel": {"name": "canary", "state_path": str(tmp_path / "state" / "libra.db"),
                   "connect_timeout": 10},
        "http": {"enabled": True, "port": 0},
        "gateways": [{"id": "binance", "plugin": "ccxt", **options}],
        "strategies": [{"id": "s1", "plugin": "sma_cross", "symbols": ["NKN/USDT"],
                        "params": {"fast": 2, "slow": 3}}],
    }
    path = tmp_path / "canary.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("log_format", ["console", "json"])
async def test_venue_failures_print_no_secret(exchange: LocalExchange, tmp_path: Path,
                                              log_format: str) -> None:
    """A wrong key, a wrong secret (from a LIBRA__ override) and a venue echoing the key."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    wrong_key = venue_config(exchange, tmp_path / "a", WRONG_KEY)
    right_key = venue_config(exchange, tmp_path / "b", KEY)
    run = ("run", "--log-format", log_format, "--config")
    code, out, err = await libra(*run, str(wrong_key), env=process_env())
    assert code == 1, err
    assert leaks(out, err) == []
    code, out, err = await libra(*run, str(right_key),
                                 env=process_env(LIBRA__GATEWAYS__0__SECRET=DIGITS))
    assert code == 1, err
    assert leaks(out, err) == []
    exchange.faults.http_status(401, count=None, code=-2015,
                                msg=f"Invalid API-key {KEY}, secret {SECRET}, IP: 127.0.0.1")
    code, out, err = await libra(*run, str(right_key), env=process_env())
    assert code == 1, err
    assert "kernel.start_failed" in out
    assert leaks(out, err, *state_files(tmp_path)) == []


def state_files(root: Path) -> list[bytes]:
    return [p.read_bytes() for p in root.rglob("*") if p.is_file() and ".db" in p.name]


@pytest.mark.parametrize("log_format", ["console", "json"])
async def test_config_errors_print_no_secret(tmp_path: Path, log_format: str) -> None:
    """Secrets first in a refused document: a field error, a top-level error, an override."""
    gateway = {"id": "binance", "plugin": "ccxt", "exchange": "binance", "api_key": KEY,
               "secret": "${LIBRA_CANARY_SECRET}"}
    documents = {
        "token-first.toml": f'[http]\ntoken = "{KEY}"\nport = "eighty"\n',
        "top-level.yaml": yaml.safe_dump({"gateways": [gateway], "strategies": [
            {"id": "s", "plugin": "sma_cross", "gateway": "kraken", "symbols": ["X/Y"]}]}),
        "secret-wrong-type.yaml": yaml.safe_dump({"gateways": [{**gateway, "secret": [SECRET]}],
                                                  "http": {"token": {"t": DIGITS}}}),
        "numeric-token.toml": f"[http]\ntoken = {DIGITS}\nenabled = 1.5\n",
    }
    env = process_env(LIBRA__GATEWAYS__0__PASSWORD=DIGITS)
    for name, text in documents.items():
        path = tmp_path / name
        path.write_text(text)
        for argv in (["config", "check", str(path)],
                     ["run", "--log-format", log_format, "--config", str(path)]):
            code, out, err = await libra(*argv, env=env)
            assert code == 2, err
            assert leaks(out, err) == [], (name, err)


async def test_crashing_strategy_and_http_answers_hold_no_secret(tmp_path: Path) -> None:
    """A daemon with planted secrets, a strategy raising on every bar, the HTTP API scraped."""
    data = tmp_path / "bars.csv"
    data.write_text("timestamp,open,high,low,close,volume\n" + "".join(
        f"2022-01-01 {m // 60:02d}:{m % 60:02d}:00,100,101,99,100,5\n" for m in range(300)))
    config = tmp_path / "libra.toml"
    config.write_text(f"""
[kernel]
name = "canary"
state_path = "{tmp_path / 'state' / 'libra.db'}"

[http]
enabled = true
port = 0

[[gateways]]
id = "paper"
plugin = "paper"
data = {{ source = "replay", path = "{data}", symbol = "BTC/USD", speed = 0 }}

[[strategies]]
id = "raising"
plugin = "libra_test_plugins:Raising"
symbols = ["BTC/USD"]
api_key = "{KEY}"
secret = "${{LIBRA_CANARY_SECRET}}"
""")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "libra", "run", "--log-format", "json", "--config", str(config),
        cwd=REPO, env=process_env(LIBRA__STRATEGIES__0__PASSWORD=DIGITS),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    lines: list[str] = []
    port = failed = None
    async with asyncio.timeout(60):
        while port is None or not failed:
            line = (await proc.stdout.readline()).decode()
            assert line, "the daemon ended early"
            lines.append(line)
            record: dict[str, Any] = json.loads(line)
            port = record.get("port") if record.get("event") == "http.started" else port
            failed = failed or record.get("event") == "strategy.failed"
    bodies = await scrape(f"http://127.0.0.1:{port}")
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    lines.append(out.decode())
    assert proc.returncode == 0, err
    assert leaks("".join(lines), err, *bodies, *state_files(tmp_path)) == []


async def scrape(url: str) -> list[bytes]:
    async with aiohttp.ClientSession() as session:
        bodies = []
        for path in ("/metrics", "/api/status", "/healthz", "/readyz"):
            async with session.get(url + path) as response:
                bodies.append(await response.read())
        for header in ({"Authorization": f"Bearer {DIGITS}"}, {}):
            async with session.post(url + "/api/control/halt", headers=header) as response:
                assert response.status == 401
                bodies.append(await response.read())
        return bodies
