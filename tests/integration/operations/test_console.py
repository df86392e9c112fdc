"""What a person reads: ``libra run`` on a real terminal (a pseudo-terminal) and in JSON.

On a terminal a fill is one line that tells the whole fill (strategy, side, quantity,
symbol, price, fee with its currency, position, PnL, the market time of a replay), order
submitted/accepted lines are debug only, a heartbeat is one line, strategy lines say which
strategy wrote them. In every format, no number is printed as ``0E-8`` or with a run of
noise digits.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from daemon_process import Daemon

from libra.model.numbers import display, display_money

REPO = Path(__file__).resolve().parents[3]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: A number with an exponent or more than eight digits after the point.
NOISY_NUMBER = re.compile(r"\d[eE][+-]?\d|\d\.\d{9,}")

CONFIG = """\
[kernel]
name = "console-kernel"
[logging]
heartbeat_interval = 0.3
[[gateways]]
id = "paper"
plugin = "paper"
starting_balances = { USD = "100000" }
taker_fee = "0.0007"
slippage_bps = "1"
data = { source = "replay", path = "bundled:BTC_USD-1m", symbol = "BTC/USD", speed = 30000 }
[[strategies]]
id = "sma-btc"
plugin = "sma_cross"
gateway = "paper"
symbols = ["BTC/USD"]
params = { fast = 3, slow = 8, quantity = "0.05" }
"""


def _run_on_terminal(config: Path, enough: Callable[[str], bool],
                     timeout: float = 60.0) -> list[str]:
    """Run ``libra run`` with stdout on a pseudo-terminal until ``enough(text so far)``,
    then Ctrl-C; return its lines, colours cut."""
    parent, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "libra", "run", "--config", str(config)],
        stdin=subprocess.DEVNULL, stdout=child, stderr=child, cwd=config.parent,
        env={**os.environ, "COLUMNS": "140"},
    )
    os.close(child)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    stopping = False
    try:
        while True:
            if not stopping and (time.monotonic() > deadline or enough(
                    ANSI.sub("", b"".join(chunks).decode("utf-8", "replace")))):
                proc.send_signal(signal.SIGINT)
                stopping = True
            ready, _, _ = select.select([parent], [], [], 0.1)
            if ready:
                try:
                    data = os.read(parent, 65536)
                except OSError:  # the terminal closed: the process is gone
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(parent)
    text = ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))
    return [line for line in text.replace("\r\n", "\n").split("\n") if line.strip()]


@pytest.fixture(scope="module")
def terminal_lines(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    config = tmp_path_factory.mktemp("console") / "libra.toml"
    config.write_text(CONFIG)
    # Until three fills and two heartbeats are on the screen (or a minute has passed).
    return _run_on_terminal(config, lambda text: text.count("] fill ") >= 3
                            and text.count("] heartbeat ") >= 2)


def test_a_fill_is_one_line_that_tells_the_whole_fill(terminal_lines: list[str]) -> None:
    fills = [line for line in terminal_lines if "] fill " in line]
    assert len(fills) >= 2, terminal_lines[-20:]
    pattern = re.compile(
        r"fill sma-btc (buy|sell) 0\.05 BTC/USD @ [\d.]+ \| fee \d+\.\d{2} USD \| "
        r"position (?P<position>[\d.]+) \| pnl (?P<pnl>-?\d+\.\d{2}) USD"
        r"(?P<total> \(total -?\d+\.\d{2}\))? \| market 202[12]-\d\d-\d\d \d\d:\d\d$")
    for line in fills:
        match = pattern.search(line)
        assert match, line
        opening = match["position"] != "0"  # sma_cross goes flat, long, flat: never short
        assert (match["pnl"] == "0.00") == opening or match["pnl"] == "0.00", line
        assert (match["total"] is None) == (match["pnl"] == "0.00"), line
    assert not any("order.submitted" in line or "order.accepted" in line
                   for line in terminal_lines)
    assert not any("order.filled" in line for line in terminal_lines)


def test_a_heartbeat_is_one_short_line(terminal_lines: list[str]) -> None:
    beats = [line for line in terminal_lines if "] heartbeat " in line]
    assert beats, terminal_lines[-20:]
    for line in beats:
        assert "{" not in line, line
        assert len(line) <= 140, line
        assert re.search(r"heartbeat \| market 202[12]-\d\d-\d\d \d\d:\d\d \| \d+ ev/s \| "
                         r"\d+ fills \| pnl -?\d+\.\d\d USD \| active \| "
                         r"(sma-btc:BTC/USD 0\.05|flat)$", line), line


def test_no_number_is_noise_and_lines_do_not_repeat_the_kernel(
        terminal_lines: list[str]) -> None:
    for line in terminal_lines:
        assert not NOISY_NUMBER.search(line), line
        assert "kernel=console-kernel" not in line, line


def test_strategy_lines_name_their_strategy(terminal_lines: list[str]) -> None:
    ready = [line for line in terminal_lines if "sma_cross ready" in line]
    assert ready
    assert all("strategy_id=sma-btc" in line for line in ready), ready


def _numbers(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return [value] if isinstance(value, str) and re.fullmatch(r"-?\d[\d.eE+-]*", value) else []


def test_json_lines_carry_quantized_numbers_and_a_strategy_id(tmp_path: Path) -> None:
    config = tmp_path / "libra.toml"
    config.write_text(CONFIG.replace("heartbeat_interval = 0.3",
                                     "heartbeat_interval = 0.3\nformat = \"json\""))
    daemon = Daemon(config, cwd=tmp_path)
    try:
        # Run until a position has opened and closed twice (its fills) and a heartbeat came.
        closing = 0

        def enough(record: dict[str, Any]) -> bool:
            nonlocal closing
            if record.get("event") == "order.filled" and record.get("position") == "0":
                closing += 1
            return closing >= 2 and "kernel.heartbeat" in daemon.events()

        daemon.wait_for(enough, timeout=60)
        daemon.signal(signal.SIGINT)
        assert daemon.finish() == 0, daemon.stderr_text()
        records = daemon.records()
    finally:
        daemon.close()
    for record in records:
        for number in _numbers(record):
            assert not NOISY_NUMBER.search(number), (record["event"], number)
    fills = [r for r in records if r["event"] == "order.filled"]
    assert fills
    for fill in fills:
        assert re.fullmatch(r"\d+\.\d{2}", fill["fee"]), fill
        assert fill["fee_currency"] == fill["quote_currency"] == "USD"
        assert "price" not in fill  # a market order has no limit price to print as None
        assert fill["market_time"][:7] in ("2021-12", "2022-01")
    closing = [f for f in fills if f["position"] == "0"]
    assert closing
    assert all(f["realized_pnl"] != "0.00" for f in closing[:3])
    opening = [f for f in fills if f["position"] != "0"]
    assert opening
    assert all(f["realized_pnl"] == "0.00" for f in opening)
    strategy = [r for r in records if r["event"] == "strategy.log"]
    assert strategy
    assert all(r["strategy_id"] == "sma-btc" for r in strategy)
    assert any(r["message"].startswith("sma_cross ready") for r in strategy)
    beat = next(r for r in records if r["event"] == "kernel.heartbeat")
    assert beat["pnl_currency"] == "USD"
    assert re.fullmatch(r"-?\d+\.\d{2}", beat["pnl"])


@pytest.mark.parametrize(("value", "step", "expected"), [
    ("0E-8", None, "0"),
    ("0.05000000", "0.00000001", "0.05"),
    ("46434.64300000", "0.1", "46434.6"),
    ("1.62521250500000000000", None, "1.6252125"),  # half to even
    ("-0.000000001", None, "0"),
    ("1E+3", None, "1000"),
])
def test_display_rounds_to_the_step_and_prints_plain(value: str, step: str | None,
                                                      expected: str) -> None:
    from decimal import Decimal
    assert display(Decimal(value), None if step is None else Decimal(step)) == expected


@pytest.mark.parametrize(("value", "currency", "expected"), [
    ("1.62521250500000000000", "USD", "1.63"),
    ("-0.001", "USDT", "0.00"),
    ("0.000012345678", "BTC", "0.00001235"),
    ("1234.5", "JPY", "1234"),
])
def test_money_is_shown_at_its_currency_precision(value: str, currency: str,
                                                  expected: str) -> None:
    from decimal import Decimal
    assert display_money(Decimal(value), currency) == expected


def test_a_heartbeat_names_what_is_wrong() -> None:
    from libra.observability.console import compact_for_terminal

    line = compact_for_terminal(None, "info", {
        "event": "kernel.heartbeat", "kernel": "k", "timestamp": "t", "level": "info",
        "events": 10, "events_per_second": 2.0, "open_orders": 3,
        "orders": {"filled": 4}, "pnl": "-1.50", "pnl_currency": "USD",
        "risk": {"trading_state": "halted", "paused": {"b": "denials"}},
        "positions": {"a:ETH/USD": {"quantity": "0"}, "b:BTC/USD": {"quantity": "-0.2"}},
        "gateways": {"paper": {"connected": False}, "other": {"connected": True}},
        "strategies": {"a": {"state": "running", "errors": 0, "dropped": 0},
                       "b": {"state": "failed", "errors": 7, "dropped": 0}},
    })
    assert line == {"timestamp": "t", "level": "info", "event": (
        "heartbeat | 2 ev/s | 4 fills | 3 open orders | pnl -1.50 USD | halted | paused b | "
        "b:BTC/USD -0.2 | gateways down paper | b failed (7 errors)")}
