"""``libra check lookahead``: decisions with the future hidden against the full history's.

Each case runs the real command on real ETH/BTC 5m candles: a native strategy that reads
the next candle from its data file, sma_cross, freqtrade's SampleStrategy and a freqtrade
strategy that uses ``shift(-1)``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from libra.cli import main

ROOT = Path(__file__).resolve().parents[3]
CANDLES = ROOT.parent / "shared" / "data" / "freqtrade" / "derived" / "ETH_BTC-5m.csv"
FT_STRATEGIES = ROOT / "tests" / "support" / "freqtrade_strategies"
LINE = re.compile(r"^  (\S+) ETH/BTC: incremental: (.+) \| full history: (.+)$")
# freqtrade's own backtester calls pandas APIs that pandas 3.1 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")


@pytest.fixture(scope="module")
def candles() -> Path:
    if not CANDLES.is_file():
        pytest.skip(f"shared data file not available: {CANDLES}")
    return CANDLES


def _config(tmp_path: Path, candles: Path, strategy: str, end: str = "2018-01-16") -> Path:
    data = tmp_path / candles.name
    shutil.copy(candles, data)
    path = tmp_path / "lookahead.toml"
    path.write_text(f"""
environment = "backtest"
[[gateways]]
id = "paper"
plugin = "paper"
starting_balances = {{ BTC = "10" }}
bar_execution = "next_open"
data = {{ source = "replay", path = "{data}", symbol = "ETH/BTC" }}
{strategy.format(data=data)}
[backtest]
end = "{end}"
""")
    return path


def _check(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, Any]:
    code = main(["check", "lookahead", "--config", str(path), *extra])
    out = capsys.readouterr()
    return code, out


def test_native_strategy_peeking_one_candle_ahead_is_found(tmp_path, candles, capsys):
    strategy = """[[strategies]]
id = "peek"
plugin = "backtest_strategies:PeekingStrategy"
symbols = ["ETH/BTC"]
params = {{ data = "{data}", quantity = "1" }}"""
    code, out = _check(_config(tmp_path, candles, strategy), capsys, "--samples", "4")
    assert code == 1
    rows = [LINE.match(line) for line in out.out.splitlines() if LINE.match(line)]
    assert rows, out.out
    # The cut replay cannot read the candle after the cut: no order where the full run had one.
    assert any(row[2] == "no order" and row[3].startswith(("buy", "sell")) for row in rows)
    assert "decisions change when the future is hidden" in out.err


def test_sma_cross_passes(tmp_path, candles, capsys):
    strategy = """[[strategies]]
id = "sma"
plugin = "sma_cross"
symbols = ["ETH/BTC"]
params = {{ fast = 10, slow = 30, quantity = "1" }}"""
    code, out = _check(_config(tmp_path, candles, strategy), capsys, "--samples", "4")
    assert code == 0, out.out + out.err
    assert "strategy sma: full backtest vs 5 replays cut at sampled candles: 5 compared, " \
           "no difference" in out.out


def _freqtrade(name: str, folder: Path | str) -> str:
    return f"""[[strategies]]
id = "ft"
plugin = "freqtrade"
symbols = ["ETH/BTC"]
params = {{{{ strategy = "{name}", strategy_path = "{folder}", stake_amount = "0.01" }}}}"""


def test_freqtrade_sample_strategy_passes(tmp_path, candles, capsys):
    pytest.importorskip("freqtrade")
    import freqtrade.templates

    folder = Path(freqtrade.templates.__file__).parent
    path = _config(tmp_path, candles, _freqtrade("SampleStrategy", folder), end="2018-01-13")
    code, out = _check(path, capsys)
    assert code == 0, out.out + out.err
    compared = int(re.search(r"([\d,]+) compared", out.out)[1].replace(",", ""))
    assert compared > 600  # every candle after the strategy's startup


def test_freqtrade_strategy_with_shift_minus_one_is_found(tmp_path, candles, capsys):
    pytest.importorskip("freqtrade")
    path = _config(tmp_path, candles, _freqtrade("LibraPeeking", FT_STRATEGIES),
                   end="2018-01-12")
    code, out = _check(path, capsys)
    assert code == 1
    rows = [LINE.match(line) for line in out.out.splitlines() if LINE.match(line)]
    assert rows
    assert all(row[2] == "hold" and row[3] != "hold" for row in rows)


def test_a_strategy_that_never_decides_is_not_passed(tmp_path, candles, capsys):
    # Nothing to compare is not "no lookahead": the check says it could not tell, exit 1.
    strategy = """[[strategies]]
id = "quiet"
plugin = "libra.testing.factories:RecordingStrategy"
symbols = ["ETH/BTC"]"""
    code, out = _check(_config(tmp_path, candles, strategy), capsys, "--samples", "2")
    assert code == 1
    assert "quiet" in out.err
    assert "no decision to compare" in out.err
