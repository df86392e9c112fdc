"""The hostile config corpus: every file here is refused by ``config check`` and ``run`` alike.

One table, one row per bad file: what is in it, and the words the refusal must contain
(besides the file's own path, which every refusal names). Each row runs in process
through ``libra.cli.main`` for both commands; ``test_refusals_in_real_processes`` runs a
sample of rows as real ``python -m libra`` processes to pin exit codes and stderr.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from libra.cli import main

REPO = Path(__file__).resolve().parents[2]
BASE = """
environment = "paper"

[kernel]
name = "hostile"

[[gateways]]
id = "paper"
plugin = "paper"
starting_balances = { USD = "1000" }
data = { source = "replay", path = "{data}", symbol = "BTC/USD", speed = 0 }

[[strategies]]
id = "s1"
plugin = "sma_cross"
gateway = "paper"
symbols = ["BTC/USD"]
params = { fast = 5, slow = 20, quantity = "0.01" }
"""
GATEWAY_LINE = 'starting_balances = { USD = "1000" }'
STRATEGY_LINE = 'params = { fast = 5, slow = 20, quantity = "0.01" }'
BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]"
       for i in range(8)]
) + "\n"


@dataclass(frozen=True)
class Bad:
    """One bad config: its name, file name, content, environment, and expected words."""

    id: str
    content: str | bytes
    expect: tuple[str, ...]
    name: str = "libra.toml"
    env: dict[str, str] = field(default_factory=dict)
    process: bool = False  # also run as a real process


def gateway(extra: str) -> str:
    return BASE.replace(GATEWAY_LINE, f"{GATEWAY_LINE}\n{extra}")


def strategy(params: str) -> str:
    return BASE.replace(STRATEGY_LINE, f"params = {params}")


def section(text: str) -> str:
    return BASE + "\n" + text + "\n"


YAML_BASE = """
kernel: {name: hostile}
gateways:
  - {id: paper, plugin: paper, data: {source: replay, path: "{data}", symbol: BTC/USD}}
strategies:
  - {id: s1, plugin: sma_cross, symbols: [BTC/USD], params: {fast: 5, slow: 20}}
"""

CORPUS: list[Bad] = [
    # -- the file itself ----------------------------------------------------------------------
    Bad("binary", bytes(range(256)) * 4, ("not UTF-8",), process=True),
    Bad("latin-1", 'environment = "paper"\n[kernel]\nname = "caf\xe9"\n'.encode("latin-1"),
        ("not UTF-8", "offset"), process=True),
    Bad("nul-bytes", 'environment = "paper"\x00\n', ("NUL",)),
    Bad("deep-toml-array", "x = " + "[" * 5000 + "]" * 5000 + "\n", ("nested more than",),
        process=True),
    Bad("deep-toml-inline-table", "x = " + "{a = " * 2000 + "1" + "}" * 2000 + "\n",
        ("nested more than",)),
    Bad("deep-yaml-flow", "x: " + "[" * 5000 + "]" * 5000 + "\n", ("nested more than",),
        name="libra.yaml", process=True),
    Bad("deep-yaml-block", "".join(f"{'  ' * i}k{i}:\n" for i in range(60)) + "  " * 60 + "v\n",
        ("nested more than",), name="libra.yaml"),
    Bad("yaml-billion-laughs", BOMB, ("YAML aliases",), name="libra.yaml", process=True),
    Bad("yaml-self-alias", "a: &a [*a]\n", ("refers to a node that contains it",),
        name="libra.yaml"),
    Bad("yaml-alias-flood", "a: &a x\nb: [" + ", ".join(["*a"] * 1500) + "]\n",
        ("more than 1000 YAML aliases",), name="libra.yml"),
    Bad("oversized", "# padding\n" * 120_000, ("larger than 1,000,000 bytes",)),
    Bad("malformed-toml", "[kernel\nname = 1\n", ("malformed TOML",)),
    Bad("malformed-yaml", "kernel: [\n", ("malformed YAML",), name="libra.yaml"),
    Bad("yaml-top-level-list", "- a\n- b\n", ("top level must be a table",), name="libra.yaml"),
    Bad("yaml-top-level-scalar", "42\n", ("top level must be a table",), name="libra.yaml"),
    Bad("ini-suffix", "x=1\n", ("unsupported config format .ini",), name="libra.ini"),
    Bad("empty-toml", "", ("field gateways", "no enabled gateway"), process=True),
    Bad("empty-yaml", "", ("field gateways",), name="libra.yaml"),
    Bad("comments-only", "# nothing\n# at all\n", ("field gateways",)),
    Bad("no-strategy", BASE.split("[[strategies]]")[0], ("field strategies", "no enabled")),
    Bad("strategy-disabled", BASE.replace('id = "s1"', 'id = "s1"\nenabled = false'),
        ("field strategies",)),
    Bad("gateway-disabled", BASE.replace('id = "paper"', 'id = "paper"\nenabled = false'),
        ("field gateways",)),
    Bad("missing-env-var", BASE.replace('name = "hostile"', 'name = "${LIBRA_HOSTILE_NOPE}"'),
        ("field kernel.name", "LIBRA_HOSTILE_NOPE is not set")),
    # -- values out of bounds -----------------------------------------------------------------
    Bad("heartbeat-tiny", section("[logging]\nheartbeat_interval = 1e-9"),
        ("field logging.heartbeat_interval", "greater than or equal to 0.1"), process=True),
    Bad("heartbeat-zero", section("[logging]\nheartbeat_interval = 0"),
        ("field logging.heartbeat_interval",)),
    Bad("heartbeat-inf", section("[logging]\nheartbeat_interval = inf"),
        ("field logging.heartbeat_interval", "finite")),
    Bad("heartbeat-nan", section("[logging]\nheartbeat_interval = nan"),
        ("field logging.heartbeat_interval",)),
    Bad("taker-fee-500-percent", gateway('taker_fee = "5"'), ("field gateways[0].taker_fee",),
        process=True),
    Bad("maker-fee-negative", gateway('maker_fee = "-0.1"'), ("field gateways[0].maker_fee",)),
    Bad("slippage-1e9", gateway('slippage_bps = "1e9"'), ("field gateways[0].slippage_bps",)),
    Bad("slippage-nan", gateway('slippage_bps = "NaN"'), ("field gateways[0].slippage_bps",)),
    Bad("balance-negative", BASE.replace('USD = "1000"', 'USD = "-1000"'),
        ("field gateways[0].starting_balances.USD",)),
    Bad("balance-infinite", BASE.replace('USD = "1000"', 'USD = "Infinity"'),
        ("field gateways[0].starting_balances.USD",)),
    Bad("balance-huge", BASE.replace('USD = "1000"', 'USD = "1e30"'),
        ("field gateways[0].starting_balances.USD",)),
    Bad("latency-inf", gateway("latency_ms = inf"), ("field gateways[0].latency_ms",),
        process=True),
    Bad("latency-a-day", gateway("latency_ms = 86400000"), ("field gateways[0].latency_ms",)),
    Bad("replay-speed-negative", BASE.replace("speed = 0", "speed = -1"),
        ("field gateways[0].data.speed",)),
    Bad("shutdown-timeout-inf", section("[kernel]\nshutdown_timeout = inf")
        .replace('[kernel]\nname = "hostile"\n', ""), ("field kernel.shutdown_timeout",),
        process=True),
    Bad("shutdown-timeout-negative", BASE.replace('name = "hostile"',
                                                  'name = "hostile"\nshutdown_timeout = -1'),
        ("field kernel.shutdown_timeout",)),
    Bad("connect-timeout-year", BASE.replace('name = "hostile"',
                                             'name = "hostile"\nconnect_timeout = 31536000'),
        ("field kernel.connect_timeout",)),
    Bad("kernel-name-empty", BASE.replace('name = "hostile"', 'name = ""'),
        ("field kernel.name",), process=True),
    Bad("kernel-name-blank", BASE.replace('name = "hostile"', 'name = "   "'),
        ("field kernel.name",)),
    Bad("kernel-name-newline", BASE.replace('name = "hostile"', 'name = "a\\nb"'),
        ("field kernel.name",)),
    Bad("kernel-name-long", BASE.replace('name = "hostile"', f'name = "{"n" * 500}"'),
        ("field kernel.name",)),
    Bad("gateway-id-empty", BASE.replace('id = "paper"', 'id = ""')
        .replace('gateway = "paper"\n', ""), ("field gateways[0].id",)),
    Bad("strategy-id-control-char", BASE.replace('id = "s1"', 'id = "s\\u0007"'),
        ("field strategies[0].id",)),
    Bad("duplicate-gateway-ids", BASE.replace("[[strategies]]", """[[gateways]]
id = "paper"
plugin = "paper"

[[strategies]]"""), ("duplicate id 'paper' in gateways",)),
    Bad("strategy-names-missing-gateway", BASE.replace('gateway = "paper"', 'gateway = "kraken"'),
        ("names gateway 'kraken'",)),
    Bad("symbol-not-in-data", BASE.replace('symbols = ["BTC/USD"]', 'symbols = ["ETH/USD"]'),
        ("field strategies[0].symbols", "'ETH/USD'"), process=True),
    Bad("symbol-empty", BASE.replace('symbols = ["BTC/USD"]', 'symbols = [""]'),
        ("field strategies[0].symbols[0]",)),
    Bad("unknown-strategy-plugin", BASE.replace('plugin = "sma_cross"', 'plugin = "sma_crosss"'),
        ("field strategies[0].plugin", "unknown strategy plugin 'sma_crosss'"), process=True),
    Bad("unknown-gateway-plugin", BASE.replace('plugin = "paper"', 'plugin = "papier"'),
        ("field gateways[0].plugin", "unknown gateway plugin 'papier'")),
    Bad("unimportable-plugin-path", BASE.replace('plugin = "sma_cross"',
                                                 'plugin = "no_such_module:Strategy"'),
        ("field strategies[0].plugin", "cannot import")),
    Bad("misspelt-param", strategy('{ fast = 5, slow = 20, quantityy = "1" }'),
        ("field strategies[0].params.quantityy", "unknown key"), process=True),
    Bad("fast-not-below-slow", strategy("{ fast = 30, slow = 20 }"),
        ("field strategies[0].params", "fast (30) must be smaller than slow (20)")),
    Bad("quantity-negative", strategy('{ fast = 5, slow = 20, quantity = "-1" }'),
        ("field strategies[0].params.quantity",)),
    Bad("quantity-nan", strategy('{ fast = 5, slow = 20, quantity = "NaN" }'),
        ("field strategies[0].params.quantity",)),
    Bad("risk-notional-negative", section('[risk]\nmax_order_notional = "-5"'),
        ("field risk.max_order_notional",)),
    Bad("risk-price-band-100x", section('[risk]\nprice_band = "100"'),
        ("field risk.price_band",)),
    Bad("risk-orders-per-second-inf", section("[risk]\nmax_orders_per_second = inf"),
        ("field risk.max_orders_per_second",)),
    Bad("bus-inbox-zero", section("[bus]\ninbox_size = 0"), ("field bus.inbox_size",)),
    Bad("bus-inbox-trillion", section("[bus]\ninbox_size = 1000000000000"),
        ("field bus.inbox_size",)),
    Bad("http-port-out-of-range", section("[http]\nenabled = true\nport = 70000"),
        ("field http.port",)),
    Bad("http-open-without-token", section('[http]\nenabled = true\nhost = "0.0.0.0"'),
        ("field http", "no http.token"), process=True),
    Bad("http-port-taken", section("[http]\nenabled = true\nport = {port}"),
        ("field http.port", "cannot listen"), process=True),
    Bad("unknown-top-level-key", section("[kernell]\nname = 1"), ("field kernell", "unknown key")),
    Bad("environment-unknown", BASE.replace('environment = "paper"', 'environment = "prod"'),
        ("field environment",)),
    Bad("log-level-unknown", section('[logging]\nlevel = "verbose"'), ("field logging.level",)),
    Bad("optimize-trials-zero", section("[optimize]\ntrials = 0"), ("field optimize.trials",)),
    Bad("periods-per-year-negative", section("[backtest]\nperiods_per_year = -1"),
        ("field backtest.periods_per_year",)),
    # -- what only a pre-flight finds ---------------------------------------------------------
    Bad("data-file-missing", BASE.replace("{data}", "{tmp}/nope.csv"),
        ("field gateways[0].data.path", "no data file"), process=True),
    Bad("bundled-name-unknown", BASE.replace("{data}", "bundled:BTC_USD-1h"),
        ("field gateways[0].data.path", "unknown bundled sample", "bundled:BTC_USD-1m"),
        process=True),
    Bad("data-header-only", BASE.replace("{data}", "{header_only}"),
        ("field gateways[0].data.path", "no usable rows")),
    Bad("data-all-rows-rejected", BASE.replace("{data}", "{all_rejected}"),
        ("field gateways[0].data.path", "no usable rows", "50 rows rejected")),
    Bad("data-wrong-columns", BASE.replace("{data}", "{wrong_columns}"),
        ("field gateways[0].data.path",)),
    Bad("data-is-a-directory", BASE.replace("{data}", "{tmp}"),
        ("field gateways[0].data.path",)),
    Bad("state-dir-unwritable", BASE.replace('name = "hostile"',
                                             'name = "hostile"\nstate_path = "/proc/libra/x.db"'),
        ("field kernel.state_path", "cannot"), process=True),
    Bad("state-parent-is-a-file", BASE.replace(
        'name = "hostile"', 'name = "hostile"\nstate_path = "{data}/state/x.db"'),
        ("field kernel.state_path", "not a directory")),
    Bad("state-path-is-a-directory", BASE.replace(
        'name = "hostile"', 'name = "hostile"\nstate_path = "{tmp}"'),
        ("field kernel.state_path", "is a directory")),
    # -- environment overrides ----------------------------------------------------------------
    Bad("env-heartbeat-zero", BASE, ("field logging.heartbeat_interval",),
        env={"LIBRA__LOGGING__HEARTBEAT_INTERVAL": "0"}),
    Bad("env-missing-list-item", BASE, ("LIBRA__GATEWAYS__5__ID", "no list item"),
        env={"LIBRA__GATEWAYS__5__ID": "x"}),
    Bad("env-malformed-list", BASE, ("LIBRA__STRATEGIES__0__SYMBOLS", "malformed YAML"),
        env={"LIBRA__STRATEGIES__0__SYMBOLS": "[BTC/USD"}),
    Bad("env-yaml-bomb", BASE, ("values once YAML aliases are expanded",),
        env={"LIBRA__STRATEGIES__0__PARAMS": "{" + BOMB.replace("\n", ", ") + "}"}),
    Bad("env-port-hex", BASE, ("field http.port",), env={"LIBRA__HTTP__PORT": "0x1F90"}),
    Bad("yaml-fee-500-percent", YAML_BASE.replace("symbol: BTC/USD}", "symbol: BTC/USD}, "
                                                  "taker_fee: 5"),
        ("field gateways[0].taker_fee",), name="libra.yaml"),
]


@pytest.fixture
def files(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Data files the corpus points at, and a port held by another socket."""
    rows = "".join(f"2022-01-01 00:{m:02d}:00,100,101,99,100,5\n" for m in range(50))
    good = tmp_path / "bars.csv"
    good.write_text("timestamp,open,high,low,close,volume\n" + rows)
    header_only = tmp_path / "header-only.csv"
    header_only.write_text("timestamp,open,high,low,close,volume\n")
    rejected = tmp_path / "all-rejected.csv"
    rejected.write_text("timestamp,open,high,low,close,volume\n" + rows.replace(",100,5", ",NaN,5"))
    wrong = tmp_path / "wrong-columns.csv"
    wrong.write_text("when,price,amount\n" + "2022-01-01 00:00:00,100,5\n" * 5)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield {"data": str(good), "tmp": str(tmp_path), "header_only": str(header_only),
               "all_rejected": str(rejected), "wrong_columns": str(wrong),
               "port": str(taken.getsockname()[1])}


def write_case(case: Bad, tmp_path: Path, values: dict[str, str]) -> Path:
    path = tmp_path / case.name
    content = case.content
    if isinstance(content, str):
        for key, value in values.items():
            content = content.replace("{" + key + "}", value)
        content = content.encode()
    path.write_bytes(content)
    return path


def check_refusal(code: int, out: str, err: str, path: Path, case: Bad) -> None:
    assert code == 2, f"{case.id}: exit {code}; stderr: {err}"
    assert "Traceback" not in err + out
    # The refusal is the last line (a broken third-party plugin may warn before it).
    last = err.strip().splitlines()[-1]
    assert last.startswith("libra: error: "), err
    assert str(path) in last, err
    for words in case.expect:
        assert words in last, f"{case.id}: {words!r} not in {err!r}"
    # Nothing started: no kernel, gateway or strategy ever logged a line.
    assert "started" not in out, out
    assert "connected" not in out, out


def test_the_corpus_is_large_and_unique() -> None:
    assert len(CORPUS) >= 60
    assert len({case.id for case in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize("case", CORPUS, ids=lambda case: case.id)
def test_every_bad_config_is_refused(case: Bad, command: str, files: dict[str, str],
                                     tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_case(case, tmp_path, files)
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    argv = ["config", "check", str(path)] if command == "check" else [
        "run", "--config", str(path), "--log-format", "json"]
    code = main(argv)
    out, err = capsys.readouterr()
    check_refusal(code, out, err, path, case)


def test_refusals_in_real_processes(files: dict[str, str], tmp_path: Path) -> None:
    """The same refusals from ``python -m libra``: exit 2, one stderr line, nothing started."""
    sample = [case for case in CORPUS if case.process]
    assert len(sample) >= 15
    running = []
    for index, case in enumerate(sample):
        folder = tmp_path / str(index)
        folder.mkdir()
        path = write_case(case, folder, files)
        env = {**os.environ, **case.env}
        for argv in (["config", "check", str(path)], ["run", "--config", str(path)]):
            proc = subprocess.Popen([sys.executable, "-m", "libra", *argv], cwd=REPO, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            running.append((case, path, proc))
    for case, path, proc in running:
        out, err = proc.communicate(timeout=60)
        check_refusal(proc.returncode, out, err, path, case)
