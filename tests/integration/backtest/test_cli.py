"""``libra backtest`` and ``libra optimize`` run in-process on config/backtest.toml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from libra.cli import main

BACKTEST_TOML = Path(__file__).resolve().parents[3] / "config" / "backtest.toml"


def test_backtest_command_prints_and_writes(tmp_path: Path, capsys) -> None:
    report, results = tmp_path / "out" / "report.html", tmp_path / "out" / "results.json"

    code = main(["backtest", "--config", str(BACKTEST_TOML), "--from", "2022-01-05",
                 "--to", "2022-01-10", "--report", str(report), "--json", str(results)])

    out = capsys.readouterr().out
    assert code == 0
    assert "Sharpe" in out
    assert "Fingerprint:" in out
    assert report.read_text().startswith("<!DOCTYPE html>")
    data = json.loads(results.read_text())
    assert len(data["trades"]) > 10
    assert data["metrics"]["trades"] == len(data["trades"])
    assert data["equity"][0][0] >= 1_641_340_800_000_000_000  # 2022-01-05 UTC


def test_backtest_command_rejects_bad_config(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(BACKTEST_TOML.read_text() + "\nnot_a_section_key = 1\n")

    code = main(["backtest", "--config", str(bad)])

    assert code == 2
    assert "not_a_section_key" in capsys.readouterr().err


def test_backtest_command_rejects_bad_date(capsys) -> None:
    code = main(["backtest", "--config", str(BACKTEST_TOML), "--from", "5th of January"])

    assert code == 2
    assert "invalid date/time" in capsys.readouterr().err


def test_optimize_command_grid_on_two_workers(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Five days of the month keep four trials quick. The value is quoted because overrides
    # are parsed as YAML scalars, which would turn a bare date into a date object.
    monkeypatch.setenv("LIBRA__BACKTEST__END", '"2022-01-06"')
    study_json = tmp_path / "study.json"

    code = main(["optimize", "--config", str(BACKTEST_TOML), "--trials", "4", "--workers", "2",
                 "--method", "grid", "--json", str(study_json)])

    out = capsys.readouterr().out
    assert code == 0
    best = json.loads(out.split("best params:", 1)[1].strip().splitlines()[0])
    assert set(best) == {"fast", "slow"}
    assert "trials: 4 complete, 0 pruned, 0 failed" in out
    assert "note: grid of 120 points capped at trials = 4" in out
    study = json.loads(study_json.read_text())
    assert [t["params"] for t in study["trials"]] == [
        {"fast": 5, "slow": s} for s in (60, 80, 100, 120)]
    assert study["best_params"] == best
    assert study["grid_size"] == 12 * 10
    assert "capped" in study["notes"][0]


def test_optimize_command_names_missing_objective(capsys, monkeypatch) -> None:
    monkeypatch.setenv("LIBRA__OPTIMIZE__OBJECTIVE", "happiness")

    code = main(["optimize", "--config", str(BACKTEST_TOML), "--method", "grid"])

    err = capsys.readouterr().err
    assert code == 2
    assert "'happiness' is not a metric" in err
    assert "sharpe" in err
