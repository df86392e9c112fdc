"""``libra new strategy``: the package it writes installs and backtests with the commands it
prints, run as printed in a virtual environment of the test's own, offline."""

from __future__ import annotations

import os
import shlex
import site
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from libra.cli import main


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    """A fresh venv that sees this one's packages (libra, hatchling, pip) through a .pth
    file, so an install needs no network and never touches the venv running the tests."""
    root = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True,
                   timeout=120)
    (packages,) = root.glob("lib/python*/site-packages")
    # addsitedir, not a plain path line: the outer venv's own .pth files (the editable
    # install of libra) must be read too.
    (packages / "outer.pth").write_text("".join(
        f"import site; site.addsitedir({path!r})\n" for path in site.getsitepackages()))
    return root


def run_printed(command: str, venv: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
           "VIRTUAL_ENV": str(venv), "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(shlex.split(command), cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=240, check=False)


@pytest.mark.timeout(600)
def test_printed_commands_install_and_backtest_the_new_strategy(
    tmp_path: Path, venv: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    work = tmp_path / "work"
    work.mkdir()

    assert main(["new", "strategy", "channel_break", "--dir", str(work)]) == 0

    out = capsys.readouterr().out
    commands = [line.strip() for line in out.splitlines() if line.startswith("  ")]
    assert [c.split()[:4] for c in commands] == [["python", "-m", "pip", "install"],
                                                 ["python", "-m", "libra", "backtest"]]
    root = work / "channel_break"
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["libra.strategies"] == {
        "channel_break": "channel_break.strategy:ChannelBreak"}
    results = [run_printed(command, venv, tmp_path) for command in commands]
    for result in results:
        assert result.returncode == 0, result.stdout[-2_000:] + result.stderr[-2_000:]
    backtest = results[1].stdout
    trades = int(next(line.split()[-1] for line in backtest.splitlines()
                      if line.startswith("Trades ")))
    assert trades > 0
    report = (root / "reports" / "backtest.html").read_text()
    assert "breakout" in report  # the template's entry tag reached the report
    # The package's own test passes in the same environment.
    tests = run_printed("python -m pytest -q -p no:cacheprovider tests", venv, root)
    assert tests.returncode == 0, tests.stdout[-2_000:] + tests.stderr[-2_000:]
    assert "2 passed" in tests.stdout


def test_new_strategy_refuses_bad_names_and_existing_directories(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")

    for name in ("9lives", "my-strategy", "class", "MyStrategy", "libra"):
        assert main(["new", "strategy", name, "--dir", str(tmp_path)]) == 2
        assert "invalid strategy name" in capsys.readouterr().err
    assert main(["new", "strategy", "taken", "--dir", str(tmp_path)]) == 2

    assert "already exists" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_generated_options_refuse_unknown_keys(tmp_path: Path, capsys) -> None:
    """A misspelt param in the generated backtest config stops the run with the field."""
    assert main(["new", "strategy", "typo_check", "--dir", str(tmp_path)]) == 0
    capsys.readouterr()
    config = tmp_path / "typo_check" / "configs" / "backtest.toml"
    text = config.read_text()
    text = text.replace('plugin = "typo_check"', 'plugin = "typo_check.strategy:TypoCheck"')
    config.write_text(text.replace("lookback = 60", "lookbak = 60"))
    sys.path.insert(0, str(tmp_path / "typo_check" / "src"))
    try:
        code = main(["backtest", "--config", str(config)])
    finally:
        sys.path.remove(str(tmp_path / "typo_check" / "src"))
        for module in [m for m in sys.modules if m.split(".")[0] == "typo_check"]:
            del sys.modules[module]

    assert code == 2
    assert "lookbak" in capsys.readouterr().err
