"""Config files: what a user gets for good and bad input."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from libra.cli import main
from libra.core.config import KernelConfig, load_config
from libra.core.errors import ConfigError

GOOD = """
[kernel]
name = "k1"

[[gateways]]
id = "paper"
plugin = "paper"
starting_balances = { USDT = "1000" }
data = { source = "replay", path = "bundled:BTC_USD-1m", symbol = "BTC/USDT", speed = 0 }

[[strategies]]
id = "s1"
plugin = "sma_cross"
symbols = ["BTC/USDT"]
params = { fast = 5, slow = 20, quantity = "0.01" }

[risk]
max_order_notional = "500"
"""


def write(tmp_path: Path, text: str, name: str = "libra.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_field_defaults():
    config = KernelConfig(discover_plugins=True)
    assert config.environment == "paper"
    assert config.gateways == []


def test_good_toml_and_equivalent_yaml_load_the_same(tmp_path):
    toml = load_config(write(tmp_path, GOOD))
    yaml_text = """
kernel: {name: k1}
gateways:
  - id: paper
    plugin: paper
    starting_balances: {USDT: "1000"}
    data: {source: replay, path: "bundled:BTC_USD-1m", symbol: BTC/USDT, speed: 0}
strategies:
  - id: s1
    plugin: sma_cross
    symbols: [BTC/USDT]
    params: {fast: 5, slow: 20, quantity: "0.01"}
risk: {max_order_notional: "500"}
"""
    yaml = load_config(write(tmp_path, yaml_text, "libra.yaml"))
    assert yaml == toml
    assert toml.risk.max_order_notional == Decimal("500")


@pytest.mark.parametrize("by_alias", [True, False])
def test_a_dumped_config_loads_back_the_same(tmp_path, by_alias):
    """Tools pass configs on as plain data (worker processes, status APIs)."""
    text = GOOD + '\n[backtest]\nstart = "2024-01-01"\njson = "out.json"\n'
    config = load_config(write(tmp_path, text))

    again = KernelConfig.model_validate(config.model_dump(mode="json", by_alias=by_alias))

    assert again == config
    assert again.backtest.json_path == "out.json"


def test_config_is_frozen(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    with pytest.raises(ValueError, match="frozen"):
        config.environment = "live"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [
        (GOOD + "\n[bus]\ninbox_sise = 5\n", "bus.inbox_sise", "unknown key"),
        (GOOD.replace('name = "k1"', 'name = "k1"\nshutdown_timeout = "soon"'),
         "kernel.shutdown_timeout", "valid number"),
        (GOOD.replace('plugin = "sma_cross"', 'plugin = "no_such_strategy"'),
         "strategies[0].plugin", "unknown strategy plugin 'no_such_strategy'"),
        (GOOD.replace("fast = 5", "fast = 50"), "strategies[0].params",
         "fast (50) must be smaller than slow (20)"),
        (GOOD.replace('speed = 0', 'speed = -1'), "gateways[0].data.speed",
         "greater than or equal to 0"),
        (GOOD.replace('starting_balances', 'starting_balancez'), "gateways[0].starting_balancez",
         "unknown key"),
    ],
)
def test_bad_config_exits_2_naming_the_field(tmp_path, capsys, text, field, problem):
    path = write(tmp_path, text)
    code, out, err = run_cli(capsys, "run", "--config", str(path))
    assert code == 2
    assert "kernel.started" not in out
    assert str(path) in err or field.startswith(("strategies", "gateways"))
    assert field in err
    assert problem in err
    assert "Traceback" not in err


def test_missing_plugin_lists_the_available_ones(tmp_path, capsys):
    path = write(tmp_path, GOOD.replace('plugin = "paper"', 'plugin = "papr"'))
    code, _, err = run_cli(capsys, "config", "check", str(path))
    assert code == 2
    assert "unknown gateway plugin 'papr'; available: ccxt, paper" in err


def test_missing_environment_variable(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LIBRA_TEST_MISSING", raising=False)
    text = GOOD.replace('name = "k1"', 'name = "${LIBRA_TEST_MISSING}"')
    code, _, err = run_cli(capsys, "run", "--config", str(write(tmp_path, text)))
    assert code == 2
    assert "field kernel.name: environment variable LIBRA_TEST_MISSING is not set" in err


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("libra.toml", "[kernel\nname = 1", "malformed TOML"),
        ("libra.yaml", "kernel: [unclosed", "malformed YAML"),
        ("libra.ini", "x=1", "unsupported config format .ini"),
    ],
)
def test_malformed_files_exit_2(tmp_path, capsys, name, text, problem):
    code, _, err = run_cli(capsys, "run", "--config", str(write(tmp_path, text, name)))
    assert code == 2
    assert problem in err


def test_missing_file_exits_2(tmp_path, capsys):
    code, _, err = run_cli(capsys, "run", "--config", str(tmp_path / "nope.toml"))
    assert code == 2
    assert "file not found" in err


def test_interpolation_with_default_and_env_overrides(tmp_path):
    text = GOOD.replace('name = "k1"', 'name = "${LIBRA_KERNEL_NAME:-fallback}"')
    env = {
        "LIBRA__RISK__MAX_ORDER_NOTIONAL": "250.5",
        "LIBRA__LOGGING__LEVEL": "debug",
        "LIBRA__GATEWAYS__0__TAKER_FEE": "0.002",
    }
    config = load_config(write(tmp_path, text), environ=env)
    assert config.kernel.name == "fallback"
    assert config.risk.max_order_notional == Decimal("250.5")
    assert config.logging.level == "debug"
    assert config.gateways[0].plugin_options()["taker_fee"] == "0.002"
    config = load_config(write(tmp_path, text), environ={"LIBRA_KERNEL_NAME": "prod"})
    assert config.kernel.name == "prod"


def test_env_override_of_a_missing_list_item_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no list item"):
        load_config(write(tmp_path, GOOD), environ={"LIBRA__GATEWAYS__3__ID": "x"})


def test_config_check_prints_resolved_config_with_secrets_redacted(tmp_path, capsys):
    text = GOOD + '\n[http]\ntoken = "${LIBRA_TEST_TOKEN}"\n'
    text = text.replace('plugin = "paper"', 'plugin = "paper"\n# comment')
    path = write(tmp_path, text)
    import os

    os.environ["LIBRA_TEST_TOKEN"] = "hunter2-very-secret"
    try:
        code, out, err = run_cli(capsys, "config", "check", str(path))
    finally:
        del os.environ["LIBRA_TEST_TOKEN"]
    assert code == 0, err
    assert "hunter2-very-secret" not in out
    resolved = json.loads(out)
    assert resolved["http"]["token"] == "**********"
    assert resolved["kernel"]["name"] == "k1"
    assert resolved["risk"]["max_order_notional"] == "500"


def test_unknown_gateway_reference(tmp_path):
    text = GOOD.replace('symbols = ["BTC/USDT"]', 'gateway = "binance"\nsymbols = ["BTC/USDT"]')
    with pytest.raises(ConfigError, match="names gateway 'binance', which is not configured"):
        load_config(write(tmp_path, text))


def test_config_check_prints_no_credentials_inside_a_url(tmp_path, capsys):
    path = tmp_path / "libra.toml"
    path.write_text(GOOD + '\n[optimize]\nstrategy = "s1"\n'
                    'storage = "postgresql://trader:hunter2pw@db.internal/optuna"\n')
    assert main(["config", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "hunter2pw" not in out
    assert "db.internal" in out  # the rest of the URL is still shown


NO_SYMBOL = """
[[gateways]]
id = "paper"
plugin = "paper"
starting_balances = { USD = "1000" }
data = { source = "replay", path = "bundled:BTC_USD-1m" }
{instruments}

[[strategies]]
id = "s1"
plugin = "sma_cross"
symbols = ["BTC/USD"]
"""


def test_config_check_refuses_a_replay_whose_events_get_no_symbol(tmp_path, capsys):
    path = tmp_path / "libra.toml"
    path.write_text(NO_SYMBOL.replace("{instruments}", ""))
    assert main(["config", "check", str(path)]) == 2
    assert "field gateways[0].data.symbol" in capsys.readouterr().err


def test_config_check_reads_a_replay_symbol_from_the_instruments_as_the_venue_does(
        tmp_path, capsys):
    path = tmp_path / "libra.toml"
    path.write_text(NO_SYMBOL.replace(
        "{instruments}", 'instruments = { "ETH/USD" = { tick_size = "0.01" } }'))
    assert main(["config", "check", str(path)]) == 2
    assert "'BTC/USD' is not in the data of gateway 'paper'" in capsys.readouterr().err
