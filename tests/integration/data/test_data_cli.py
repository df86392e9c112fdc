"""``libra data download`` / ``list`` as a user runs them, and configs that name datasets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest
from history_venue import MINUTE, T0, gateway_toml, options_for

from libra.cli import main
from libra.data.store import dataset_path, iso_ms, read_candles, write_candles
from libra.gateways.ccxt.download import DownloadPlan, HistoryDownloader
from libra.testing import eventually
from libra.testing.exchange import LocalExchange

ROOT = Path(__file__).resolve().parents[3]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write_config(tmp_path: Path, exchange: LocalExchange) -> Path:
    path = tmp_path / "venue.toml"
    path.write_text(gateway_toml(exchange) + '\n[[strategies]]\nid = "s"\nplugin = "sma_cross"\n'
                    'gateway = "venue"\nsymbols = ["BTC/USDT"]\n'
                    'params = { fast = 5, slow = 20, quantity = "0.01" }\n')
    return path


def test_download_takes_the_exchange_from_a_config_and_lists_what_it_stored(
        threaded_exchange: LocalExchange, tmp_path: Path, data_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    threaded_exchange.history.add_candles("BTCUSDT", "1m", T0, 1_500, missing=[(700, 704)])
    config = write_config(tmp_path, threaded_exchange)

    code, out, err = run(capsys, "data", "download", "--config", str(config), "--dir",
                         str(data_dir), "--since", iso_ms(T0) or "",
                         "--until", iso_ms(T0 + 1_500 * MINUTE) or "")

    assert code == 0, err
    # The symbols are the strategies' on that gateway; the gap is printed with its times.
    assert "binance BTC/USDT 1m: 1,495 candles" in out
    assert f"{iso_ms(T0 + 700 * MINUTE)} .. {iso_ms(T0 + 704 * MINUTE)} (5 candles)" in out

    code, out, err = run(capsys, "data", "list", "--dir", str(data_dir), "--json")
    assert code == 0, err
    assert json.loads(out) == [{
        "exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1m",
        "first": "2023-11-14T22:00:00Z", "last": iso_ms(T0 + 1_499 * MINUTE),
        "count": 1_495, "gaps": 1, "missing": 5,
        "path": str(dataset_path(data_dir, "binance", "BTC/USDT", "1m")),
    }]
    code, out, _ = run(capsys, "data", "list", "--dir", str(data_dir))
    assert out.splitlines()[1].split()[:3] == ["binance", "BTC/USDT", "1m"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--symbols", "NOPE/USDT"], "binance has no symbol 'NOPE/USDT'"),
    (["--symbols", "BTC/USDT", "--timeframe", "7m"], "binance has no timeframe '7m'"),
    (["--symbols", "BTC/USDT", "--since", "yesterday"],
     "--since: invalid date/time, was 'yesterday'"),
])
def test_download_refuses_what_the_venue_does_not_have(
        threaded_exchange: LocalExchange, tmp_path: Path, data_dir: Path,
        capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    config = write_config(tmp_path, threaded_exchange)

    code, _, err = run(capsys, "data", "download", "--config", str(config), "--dir",
                       str(data_dir), *argv)

    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert not data_dir.exists()


def test_download_names_an_unknown_exchange(capsys: pytest.CaptureFixture[str],
                                           data_dir: Path) -> None:
    code, _, err = run(capsys, "data", "download", "--exchange", "binanse", "--symbols",
                       "BTC/USDT", "--dir", str(data_dir))
    assert code == 2
    assert "unknown exchange 'binanse'" in err
    assert "binance" in err  # the close matches


def test_bundled_samples_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "data", "list", "--samples", "--json")
    assert code == 0
    assert {"bundled:BTC_USD-1m", "bundled:ETH_BTC-5m"} <= set(json.loads(out))


async def test_a_killed_download_leaves_the_stored_file_whole(
        exchange: LocalExchange, tmp_path: Path, data_dir: Path) -> None:
    """Kill -9 the command while it merges and writes a large file: the old one survives."""
    count = 150_000
    exchange.history.add_candles("BTCUSDT", "1m", T0, count + 2_000)
    path = dataset_path(data_dir, "binance", "BTC/USDT", "1m")
    rows = [[T0 + i * MINUTE, 100 + i % 997 / 100, 111.0, 99.0, 100 + i % 991 / 100, i / 7]
            for i in range(count)]
    write_candles(path, rows, exchange="binance", symbol="BTC/USDT", timeframe="1m")
    config = write_config(tmp_path, exchange)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "libra", "data", "download", "--config", str(config),
        "--dir", str(data_dir), "--until", iso_ms(T0 + (count + 2_000) * MINUTE) or "",
        cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    writing = False

    def temp_file_or_exit() -> bool:
        nonlocal writing
        writing = any(p.name.startswith(".1m.parquet.tmp-") for p in path.parent.iterdir())
        return writing or process.returncode is not None

    try:
        # Its temporary file appears: the command is writing the merged candles right now.
        await eventually(temp_file_or_exit, timeout=60, interval=0.002)
        process.send_signal(signal.SIGKILL)
    finally:
        await process.wait()

    assert writing, "the download ended before it could be killed while writing"
    stored = read_candles(path)
    assert len(stored) in (count, count + 2_000)
    assert stored[0][0] == T0

    # The next run finishes the job and leaves no temporary file behind.
    plan = DownloadPlan(("BTC/USDT",), "1m", data_dir, None, T0 + (count + 2_000) * MINUTE)
    async with HistoryDownloader(options_for(exchange)) as downloader:
        [result] = await downloader.download(plan)
    assert result.stored == count + 2_000
    assert [p.name for p in path.parent.iterdir()] == ["1m.parquet"]


def test_a_config_with_several_ccxt_gateways_needs_the_gateway_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "two.toml"
    config.write_text('[[gateways]]\nid = "a"\nplugin = "ccxt"\nexchange = "binance"\n'
                      '[[gateways]]\nid = "b"\nplugin = "ccxt"\nexchange = "kraken"\n')

    code, _, err = run(capsys, "data", "download", "--config", str(config), "--symbols", "X/Y")
    assert code == 2
    assert "several ccxt gateways (ccxt gateways: a, b; choose one with --gateway)" in err

    code, _, err = run(capsys, "data", "download", "--config", str(config), "--gateway", "c")
    assert code == 2
    assert "no ccxt gateway 'c'" in err
