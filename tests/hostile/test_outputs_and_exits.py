"""What the operator sees when things fail: no locals, no secrets, exit codes that mean it."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from libra.backtest.executors import evaluate
from libra.cli._runtime import fail
from libra.core.config import load_config
from libra.core.redaction import REDACTED, register_secrets, scrub
from libra.gateways.paper.config import ReplayFileConfig
from libra.gateways.replay import load_replay_events
from libra.observability.logging import configure_logging

REPO = Path(__file__).resolve().parents[2]
SUPPORT = REPO / "tests" / "support"
BARS = "timestamp,open,high,low,close,volume\n" + "".join(
    f"2022-01-01 {m // 60:02d}:{m % 60:02d}:00,100,101,99,100,5\n" for m in range(200))
BACKTEST = """
environment = "backtest"

[[gateways]]
id = "paper"
plugin = "paper"
starting_balances = {{ USD = "1000" }}
data = {{ source = "replay", path = "{data}", symbol = "BTC/USD" }}

[[strategies]]
id = "s1"
plugin = "{plugin}"
symbols = ["BTC/USD"]
"""
OPTIMIZE = """
[optimize]
strategy = "s1"
method = "grid"
workers = 1
space.period = { low = 1, high = 2 }
"""


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_tracebacks_show_no_local_variables(fmt: str) -> None:
    stream = io.StringIO()
    configure_logging(fmt=fmt, stream=stream)
    credentials = ["LOCAL-SECRET-a1b2c3d4"]

    try:
        raise RuntimeError("venue refused")
    except RuntimeError:
        structlog.get_logger().exception("kernel.start_failed")
    output = stream.getvalue()
    assert "venue refused" in output
    assert credentials[0] not in output


def test_a_venue_message_echoing_a_key_is_scrubbed_in_the_console_traceback() -> None:
    register_secrets(["ECHOED-KEY-77aa88bb"])
    stream = io.StringIO()
    configure_logging(fmt="console", stream=stream)
    try:
        raise RuntimeError("binance 401 Invalid API-key ECHOED-KEY-77aa88bb")
    except RuntimeError:
        structlog.get_logger().exception("kernel.start_failed")
    assert "ECHOED-KEY-77aa88bb" not in stream.getvalue()
    assert "Invalid API-key" in stream.getvalue()


def test_the_last_error_line_is_scrubbed(capsys: pytest.CaptureFixture[str]) -> None:
    register_secrets(["LASTLINE-SECRET-0099"])
    code = fail("GatewayAuthError: GET https://trader:hunter2@api.venue.test/private/account"
                "?apiKey=plain-key-1&signature=abc123 refused LASTLINE-SECRET-0099", 1)
    err = capsys.readouterr().err
    assert code == 1
    for secret in ("hunter2", "plain-key-1", "abc123", "LASTLINE-SECRET-0099"):
        assert secret not in err
    assert "api.venue.test/private/account" in err


def test_env_overrides_take_their_type_from_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "libra.toml"
    path.write_text('[[gateways]]\nid = "x"\nplugin = "ccxt"\nexchange = "binance"\n')
    config = load_config(path, environ={
        "LIBRA__GATEWAYS__0__SECRET": "80801234567890", "LIBRA__HTTP__TOKEN": "0x1F2E3D4C",
        "LIBRA__KERNEL__NAME": "007", "LIBRA__HTTP__PORT": "9100",
        "LIBRA__GATEWAYS__0__SYMBOLS": "[BTC/USDT, ETH/USDT]"})
    assert config.gateways[0].plugin_options()["secret"] == "80801234567890"
    assert config.http.token is not None
    assert config.http.token.get_secret_value() == "0x1F2E3D4C"
    assert config.kernel.name == "007"
    assert config.http.port == 9100
    assert config.gateways[0].plugin_options()["symbols"] == ["BTC/USDT", "ETH/USDT"]


def test_replay_loaded_reports_the_real_rejected_count(tmp_path: Path) -> None:
    data = tmp_path / "bars.csv"
    data.write_text(BARS + "2022-01-01 05:00:00,NaN,1,1,1,1\n2200-01-01 00:00:00,1,1,1,1,1\n")
    with capture_logs() as logs:
        events = load_replay_events([ReplayFileConfig(path=str(data))], "BTC/USD", "paper")
    assert len(events) == 200
    loaded = [line for line in logs if line["event"] == "replay.loaded"]
    assert loaded[0]["rejected"] == 2


def libra(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(SUPPORT), *(env or {}).pop("PYTHONPATH", "").split(os.pathsep)]), **(env or {})}
    return subprocess.run([sys.executable, "-m", "libra", *argv], cwd=REPO, env=full,
                          capture_output=True, text=True, timeout=120, check=False)


def test_a_missing_optional_dependency_is_named_with_its_install_command(tmp_path: Path) -> None:
    """As on a plain install: ``import freqtrade`` fails (a finder refuses it)."""
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class _NoFreqtrade:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'freqtrade' or name.startswith('freqtrade.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, _NoFreqtrade())\n")
    env = {"PYTHONPATH": str(tmp_path)}
    config = str(REPO / "config" / "freqtrade-backtest.toml")
    for argv in (["config", "check", config], ["backtest", "--config", config],
                 ["run", "--config", config]):
        result = libra(*argv, env=dict(env))
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith(f"libra: error: {config}: field strategies[0].plugin")
        assert "pip install 'libra-trader[freqtrade]'" in result.stderr
    listed = libra("plugins", env=dict(env))
    assert listed.returncode == 0
    assert "unavailable: needs freqtrade: pip install 'libra-trader[freqtrade]'" in listed.stdout


def backtest_config(tmp_path: Path, plugin: str, extra: str = "") -> Path:
    """Write ``BARS`` and a backtest config of one ``plugin`` strategy on them."""
    data = tmp_path / "bars.csv"
    data.write_text(BARS)
    config = tmp_path / "bt.toml"
    config.write_text(BACKTEST.format(data=data, plugin=plugin) + extra)
    return config


def test_a_backtest_whose_strategy_failed_exits_1_and_says_why(tmp_path: Path) -> None:
    config = backtest_config(tmp_path, "libra_test_plugins:Raising")
    result = libra("backtest", "--config", str(config), "--log-level", "error")
    assert result.returncode == 1
    assert "strategy 's1' ended FAILED" in result.stderr
    assert "Sharpe" in result.stdout  # the table is still printed, below the reason


def test_an_optimization_without_a_completed_trial_exits_1(tmp_path: Path) -> None:
    config = backtest_config(tmp_path, "libra_test_plugins:Raising", OPTIMIZE)
    result = libra("optimize", "--config", str(config))
    assert result.returncode == 1
    assert "no trial completed (2 failed" in result.stderr


def test_a_backtest_window_without_data_exits_2(tmp_path: Path) -> None:
    config = backtest_config(tmp_path, "sma_cross")
    result = libra("backtest", "--config", str(config), "--from", "2023-01-01")
    assert result.returncode == 2
    assert "no market data in the backtest window" in result.stderr
    assert "Sharpe" not in result.stdout
    result = libra("backtest", "--config", str(config))
    assert result.returncode == 0, result.stderr


async def test_the_optimizer_fails_a_trial_whose_strategy_failed(tmp_path: Path) -> None:
    data = tmp_path / "bars.csv"
    data.write_text(BARS)
    raw = {"environment": "backtest",
           "gateways": [{"id": "paper", "plugin": "paper", "data": {
               "source": "replay", "path": str(data), "symbol": "BTC/USD"}}],
           "strategies": [{"id": "s1", "plugin": "libra_test_plugins:Raising",
                           "symbols": ["BTC/USD"]}]}
    outcome = await evaluate({"number": 0, "params": {}, "config": raw, "strategy": "s1"})
    assert "ended FAILED" in outcome.get("error", "")
    assert "metrics" not in outcome


@pytest.mark.parametrize("text", [
    "Authorization: Bearer 3f9c0a7e1b2d4c6e",
    "header Basic dXNlcjpwYXNzd29yZA==",
    "Bearer abcdefghijklmnopqrstuvwxyz",
])
def test_an_unknown_bearer_credential_is_scrubbed(text: str) -> None:
    assert scrub(text).endswith(REDACTED), scrub(text)


@pytest.mark.parametrize("text", ["missing bearer token", "wrong bearer token",
                                  "use a Bearer token in the header"])
def test_prose_about_a_bearer_token_is_left_readable(text: str) -> None:
    assert scrub(text) == text
