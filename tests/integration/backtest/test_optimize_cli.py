"""``libra optimize`` as a user runs it: the top-N table, --write-config, the boundary
warning and --oos, on four days of real ETH/BTC 5m bars."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from libra.backtest.api import run_backtest
from libra.backtest.optimize import Dimension, Study, TrialResult
from libra.backtest.optimize_results import boundary_warnings
from libra.cli import main
from libra.core.config import ParamSpec, load_config

CONFIG_TOML = """\
# sma_cross on ETH/BTC: a config as a user writes it, comments and all.
environment = "backtest"

[kernel]
name = "opt-cli"

[logging]
log_orders = false  # quiet

[[gateways]]
id = "paper"
plugin = "paper"
starting_balances = { BTC = "10" }
data = { source = "replay", path = "bundled:ETH_BTC-5m", symbol = "ETH/BTC" }

[[strategies]]
id = "sma"
plugin = "sma_cross"
symbols = ["ETH/BTC"]
params = { fast = 10, slow = 30, quantity = "1" }  # the params to tune

[backtest]
start = "2018-01-12"
end = "2018-01-16"

[optimize]
method = "grid"
trials = 6
workers = 1
space.fast = { low = 5, high = 15, step = 5 }
space.slow = { choices = [40, 60] }
"""


def optimize(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str,
             name: str = "opt.toml", text: str = CONFIG_TOML) -> tuple[int, str, str, Any]:
    config = tmp_path / name
    config.write_text(text)
    out_json = tmp_path / "study.json"
    code = main(["optimize", "--config", str(config), "--json", str(out_json), *args])
    captured = capsys.readouterr()
    study = json.loads(out_json.read_text()) if out_json.exists() else None
    return code, captured.out, captured.err, study


def table(out: str, title: str) -> list[list[str]]:
    """The header and rows of the table printed under ``title``, split on spaces."""
    lines = out.split(f"{title}:\n", 1)[1].splitlines()
    rows = [lines[0].split()]
    for line in lines[2:]:  # below the dashes
        if not line.strip() or not line.split()[0].isdigit():
            break
        rows.append(line.split())
    return rows


def test_top_table_ranks_the_best_trials(tmp_path: Path, capsys) -> None:
    code, out, err, study = optimize(tmp_path, capsys, "--top", "3", "--progress-every", "2")

    assert code == 0
    # Off a terminal: a plain progress line every 2 trials
    assert re.findall(r"^optimize: (\d+)/6 trials", err, re.MULTILINE) == ["2", "4", "6"]
    assert f"optimize: 6/6 trials, best sharpe={study['best_value']:.4g}," in err
    rows = table(out, "top trials")
    assert rows[0] == ["rank", "trial", "fast", "slow", "sharpe", "trades", "max_dd"]
    ranked = sorted((t for t in study["trials"] if t["state"] == "complete"),
                    key=lambda t: (-t["value"], t["number"]))[:3]
    body = rows[1:4]
    assert [int(row[1]) for row in body] == [t["number"] for t in ranked]
    assert [(int(r[2]), int(r[3])) for r in body] == [(t["params"]["fast"], t["params"]["slow"])
                                                     for t in ranked]
    assert [int(row[5]) for row in body] == [t["metrics"]["trades"] for t in ranked]
    assert body[0][6] == f"{ranked[0]['metrics']['max_dd'] * 100:.2f}%"


def test_write_config_round_trips_toml(tmp_path: Path, capsys) -> None:
    best_file = tmp_path / "out" / "best.toml"

    code, _, _, study = optimize(tmp_path, capsys, "--write-config", str(best_file))

    assert code == 0
    best = study["best_params"]
    written = best_file.read_text().splitlines()
    original = CONFIG_TOML.splitlines()
    changed = [(a, b) for a, b in zip(original, written, strict=True) if a != b]
    assert changed == [(
        'params = { fast = 10, slow = 30, quantity = "1" }  # the params to tune',
        f'params = {{ fast = {best["fast"]}, slow = {best["slow"]}, quantity = "1" }}  '
        "# the params to tune")]
    assert main(["config", "check", "--config", str(best_file)]) == 0
    assert load_config(best_file).strategies[0].params == {**best, "quantity": "1"}


def test_write_config_round_trips_yaml(tmp_path: Path, capsys) -> None:
    import tomllib

    source = tomllib.loads(CONFIG_TOML)
    best_file = tmp_path / "best.yaml"

    code, _, _, study = optimize(tmp_path, capsys, "--write-config", str(best_file),
                                 name="opt.yaml", text=yaml.safe_dump(source, sort_keys=False))

    assert code == 0
    written = yaml.safe_load(best_file.read_text())
    source["strategies"][0]["params"].update(study["best_params"])
    assert written == source  # everything else as it was
    assert main(["config", "check", "--config", str(best_file)]) == 0


def test_best_value_on_the_edge_is_warned(tmp_path: Path, capsys) -> None:
    code, _, err, study = optimize(tmp_path, capsys)

    assert code == 0
    space = [Dimension.from_spec("fast", ParamSpec(low=5, high=15, step=5)),
             Dimension.from_spec("slow", ParamSpec(choices=[40, 60]))]
    expected = boundary_warnings(study["best_params"], space)
    assert re.findall(r"^warning: (.*)$", err, re.MULTILINE) == expected


def test_boundary_warnings_name_the_edge() -> None:
    space = [Dimension.from_spec("fast", ParamSpec(low=5, high=60, step=5)),
             Dimension.from_spec("slow", ParamSpec(low=60, high=245, step=20)),
             Dimension.from_spec("fee", ParamSpec(low=0.1, high=0.3, type="decimal")),
             Dimension.from_spec("mode", ParamSpec(choices=["a", "b"]))]

    warnings = boundary_warnings({"fast": 60, "slow": 240, "fee": "0.1", "mode": "a"}, space)

    assert len(warnings) == 3
    assert warnings[0].startswith("best fast=60 is on the upper bound of the search space "
                                  "(high=60)")
    assert "(high=240)" in warnings[1]  # the last value on the step grid
    assert "lower bound" in warnings[2]
    assert boundary_warnings({"fast": 30, "slow": 120, "fee": "0.2", "mode": "b"}, space) == []
    study = Study("sharpe", "maximize", "grid", [TrialResult(0, {"fast": 5}, None, "failed")])
    assert boundary_warnings(study.best_params, space) == []


async def test_out_of_sample_runs_the_top_trials_on_held_out_data(tmp_path: Path,
                                                                   capsys) -> None:
    code, out, _, study = await _in_thread(optimize, tmp_path, capsys, "--oos", "0.3",
                                           "--top", "2")

    assert code == 0
    window = re.search(r"^in sample: (\S+) to (\S+); out of sample: (\S+) to (\S+)$", out,
                       re.MULTILINE)
    assert window is not None
    assert window.group(1).startswith("2018-01-12")
    assert window.group(4).startswith("2018-01-16")
    # Optimized on the first 70 %: every trial's run ends at the split.
    assert all(t["metrics"]["end_ns"] < _ns(window.group(3)) for t in study["trials"]
               if t["metrics"])
    rows = table(out, "top trials, in sample and out of sample")
    assert rows[0][-6:] == ["out", "sharpe", "out", "trades", "out", "max_dd"]
    best = rows[1]
    config = load_config(tmp_path / "opt.toml")
    held_out = config.model_copy(update={"backtest": config.backtest.model_copy(
        update={"start": window.group(3), "end": window.group(4)})})
    params = {**config.strategies[0].params, "fast": int(best[2]), "slow": int(best[3])}
    strategy = config.strategies[0].model_copy(update={"params": params})
    run = await run_backtest(held_out.model_copy(update={"strategies": [strategy]}))
    assert run.result.sharpe is not None
    assert best[-3:] == [f"{run.result.sharpe:.4g}", str(run.result.trades),
                         f"{run.result.max_dd * 100:.2f}%"]
    held = {t["number"]: t for t in study["out_of_sample"]["trials"]}
    assert held[int(best[1])]["metrics"]["fingerprint"] == run.fingerprint


async def _in_thread(function: Any, *args: Any) -> Any:
    # main() runs its own event loop; a test's loop is already running here.
    import asyncio

    return await asyncio.to_thread(function, *args)


def _ns(text: str) -> int:
    from libra.backtest.api import parse_time_ns

    value = parse_time_ns(text)
    assert value is not None
    return value
