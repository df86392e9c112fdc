"""Tests for libra.backtest.report: the text table, the JSON file and the HTML page."""

from __future__ import annotations

import json
import os
import re
import signal
import struct
import subprocess
import zlib
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libra.backtest.report import (
    MAX_CHART_POINTS,
    downsample_minmax,
    drawdown_series,
    render_html,
    render_table,
    write_html,
    write_json,
)
from libra.backtest.stats import NS_PER_DAY, TradeRecord, compute_stats

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
# Installing chromium on first use can take minutes; the run itself is bounded to 60 s.
BROWSER_TIMEOUT = pytest.mark.timeout(900)


class ReportDom(HTMLParser):
    """Collect what the report tests look at: chart points, table rows, trade-table tags."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.polylines: dict[str, list[str]] = {}
        self.svg_texts: dict[str, list[str]] = {}
        self.trade_rows = 0
        self.trade_cells: list[str] = []
        self.trade_tags: set[str] = set()
        self.metrics: dict[str, str] = {}
        self.title = ""
        self._svg: str | None = None
        self._table: str | None = None
        self._in_tbody = False
        self._metric_key: str | None = None
        self._open: list[str] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self._open.append(tag)
        if tag == "svg":
            self._svg = attributes.get("id")
        elif tag == "polyline" and self._svg is not None:
            self.polylines[self._svg] = (attributes.get("points") or "").split()
        elif tag == "table":
            self._table = attributes.get("id")
        elif tag == "tbody":
            self._in_tbody = True
        elif tag == "tr" and self._in_tbody and self._table == "trades":
            self.trade_rows += 1
        elif tag == "tr" and self._in_tbody and self._table == "metrics":
            self._metric_key = attributes.get("data-key")
        if self._table == "trades" and self._in_tbody:
            self.trade_tags.add(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1] == tag:
            self._open.pop()
        if tag == "svg":
            self._svg = None
        elif tag == "table":
            self._table = None
        elif tag == "tbody":
            self._in_tbody = False

    def handle_data(self, data: str) -> None:
        current = self._open[-1] if self._open else ""
        if current == "title" and self._svg is None:
            self.title += data
        elif current == "text" and self._svg is not None:
            self.svg_texts.setdefault(self._svg, []).append(data)
        elif current == "td" and self._table == "trades":
            self.trade_cells.append(data)
        elif current == "td" and self._table == "metrics" and self._metric_key is not None:
            self.metrics[self._metric_key] = data


def curve(*values: str | int) -> list[tuple[int, Decimal]]:
    return [(i * NS_PER_DAY, Decimal(value)) for i, value in enumerate(values)]


def short_trade(pnl: str, tag: str | None = None) -> TradeRecord:
    return TradeRecord(
        symbol="BTC/USDT",
        side="short",
        entry_ts_ns=0,
        exit_ts_ns=NS_PER_DAY,
        entry_price=Decimal("100.5"),
        exit_price=Decimal("100.5") - Decimal(pnl),
        quantity=Decimal("0.25"),
        pnl=Decimal(pnl),
        fees=Decimal("0.01"),
        entry_tag=tag,
    )


def test_render_table_is_aligned() -> None:
    result = compute_stats(curve(100, 110, 99, 120), [short_trade("10"), short_trade("-2")])

    table = render_table(result)

    lines = table.splitlines()
    assert lines[0].startswith("Period: 1970-01-01 00:00 to 1970-01-04 00:00 UTC (3d)")
    rows = lines[2:]
    assert len({len(line) for line in rows}) == 1
    assert re.search(r"^Max drawdown +10\.00%$", table, re.MULTILINE)
    assert re.search(r"^Max drawdown duration +2d$", table, re.MULTILINE)
    assert re.search(r"^Profit factor +5\.00$", table, re.MULTILINE)
    assert re.search(r"^Final equity +120$", table, re.MULTILINE)


def test_render_table_of_empty_result() -> None:
    table = render_table(compute_stats([]))

    assert table.splitlines()[0] == "Period: no data"
    assert re.search(r"^Sharpe \(daily, annualised\) +n/a$", table, re.MULTILINE)


def test_write_json_round_trips(tmp_path: Path) -> None:
    equity = curve(100, 110, 99, 120)
    trades = [short_trade("10", tag="rsi<30")]
    result = compute_stats(equity, trades)

    path = write_json(result, trades, equity, tmp_path / "out" / "result.json")

    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["metrics"] == result.to_dict()
    assert data["trades"][0]["entry_tag"] == "rsi<30"
    assert data["trades"][0]["pnl"] == "10"
    assert data["equity"] == [[ts, str(value)] for ts, value in equity]
    assert [p.name for p in path.parent.iterdir()] == ["result.json"]


def test_html_report_structure(tmp_path: Path) -> None:
    equity = curve(100, 110, 99, 105)
    trades = [short_trade("10", tag="<script>alert(1)</script>"), short_trade("-2")]
    result = compute_stats(equity, trades)

    path = write_html(result, trades, equity, tmp_path / "report.html", title="Run <1> & co",
                      charts="svg")

    markup = path.read_text(encoding="utf-8")
    dom = ReportDom(markup)
    assert dom.title == "Run <1> & co"
    assert len(dom.polylines["equity-chart"]) == 4
    assert len(dom.polylines["drawdown-chart"]) == 4
    assert dom.trade_rows == 2
    assert "<script>alert(1)</script>" in dom.trade_cells
    assert dom.trade_tags == {"tbody", "tr", "td"}
    assert dom.metrics["max_dd"] == "10.00%"
    assert dom.metrics["trades"] == "2"
    assert dom.metrics["max_dd_duration"] == "2d (not recovered)"


def test_html_report_is_self_contained() -> None:
    equity = curve(100, 110, 99, 120)
    result = compute_stats(equity)

    markup = render_html(result, [], equity, charts="svg")

    assert "<script" not in markup
    assert not re.search(r"""(src|href)\s*=|@import|url\(|https?://(?!www\.w3\.org/2000/svg)""",
                         markup)  # fmt: skip


def test_html_report_of_empty_run() -> None:
    dom = ReportDom(render_html(compute_stats([]), [], [], charts="svg"))

    assert dom.polylines == {}
    assert dom.svg_texts["equity-chart"] == ["No data"]
    assert dom.trade_rows == 0
    assert dom.metrics["sharpe"] == "n/a"


def test_html_chart_of_flat_curve() -> None:
    equity = curve(100, 100, 100)

    dom = ReportDom(render_html(compute_stats(equity), [], equity, charts="svg"))

    equity_ys = {point.split(",")[1] for point in dom.polylines["equity-chart"]}
    assert len(equity_ys) == 1
    assert len(dom.polylines["drawdown-chart"]) == 3


def test_big_curve_is_downsampled_for_the_chart() -> None:
    equity = [(i, Decimal(1000 + (i % 97))) for i in range(50_000)]
    equity[31_337] = (31_337, Decimal(1))  # one deep, one-bar drawdown must stay visible

    dom = ReportDom(render_html(compute_stats(equity), [], equity, charts="svg"))

    points = dom.polylines["equity-chart"]
    assert MAX_CHART_POINTS // 2 < len(points) <= MAX_CHART_POINTS
    for chart in ("equity-chart", "drawdown-chart"):
        ys = sorted(float(point.split(",")[1]) for point in dom.polylines[chart])
        # The dip reaches the bottom of the plot; everything else stays in the top tenth.
        assert ys[-1] > 200
        assert ys[len(ys) // 2] < 40


def test_downsample_keeps_extremes_and_order() -> None:
    points = [(i, float((i * 7919) % 1013)) for i in range(10_000)]
    points[4_321] = (4_321, -50.0)
    points[8_765] = (8_765, 5_000.0)

    sampled = downsample_minmax(points, max_points=100)

    assert len(sampled) <= 100
    assert sampled[0] == points[0]
    assert sampled[-1] == points[-1]
    assert (4_321, -50.0) in sampled
    assert (8_765, 5_000.0) in sampled
    assert [ts for ts, _ in sampled] == sorted({ts for ts, _ in sampled})


def test_downsample_leaves_small_series_alone() -> None:
    points = [(i, float(i)) for i in range(10)]

    assert downsample_minmax(points) == points
    with pytest.raises(ValueError, match="max_points"):
        downsample_minmax(points, max_points=3)


def test_drawdown_series() -> None:
    series = drawdown_series([(0, 100.0), (1, 110.0), (2, 99.0), (3, 120.0), (4, 0.0)])

    assert [ts for ts, _ in series] == [0, 1, 2, 3, 4]
    assert [value for _, value in series] == pytest.approx([0.0, 0.0, -0.1, 0.0, -1.0])


@given(
    st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=400),
    st.integers(min_value=4, max_value=60),
)
def test_downsample_properties(values: list[float], max_points: int) -> None:
    points = list(enumerate(values))

    sampled = downsample_minmax(points, max_points=max_points)

    assert len(sampled) <= max_points
    assert min(v for _, v in sampled) == min(values)
    assert max(v for _, v in sampled) == max(values)
    assert [ts for ts, _ in sampled] == sorted({ts for ts, _ in sampled})


def run_chromium(chromium: str, profile: Path, *args: str) -> str:
    """Run headless chromium in its own process group; return its stdout."""
    command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            out, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the browser's helpers share its group
            process.communicate()
            raise
    assert process.returncode == 0, err[-2_000:]
    return out


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        chunks.append((kind, data[offset + 8 : offset + 8 + length]))
        offset += 12 + length
    return chunks


@pytest.fixture
def eth_report(
    tmp_path: Path, eth_curve: list[tuple[int, Decimal]], eth_trades: list[TradeRecord]
) -> Path:
    result = compute_stats(eth_curve, eth_trades)
    return write_html(result, eth_trades, eth_curve, tmp_path / "report.html", title="ETH/BTC 5m",
                      charts="svg")


@BROWSER_TIMEOUT
def test_report_dom_in_headless_browser(
    chromium: str, eth_report: Path, eth_curve: list[tuple[int, Decimal]],
    eth_trades: list[TradeRecord], tmp_path: Path,
) -> None:  # fmt: skip
    """Load the real-data report in chromium and read back the DOM it built."""
    markup = run_chromium(chromium, tmp_path / "profile", "--dump-dom", eth_report.as_uri())

    dom = ReportDom(markup)
    result = compute_stats(eth_curve, eth_trades)
    assert dom.title == "ETH/BTC 5m"
    assert len(eth_curve) > MAX_CHART_POINTS
    assert 1_000 < len(dom.polylines["equity-chart"]) <= MAX_CHART_POINTS
    assert 1_000 < len(dom.polylines["drawdown-chart"]) <= MAX_CHART_POINTS
    assert dom.trade_rows == len(eth_trades) > 10
    assert dom.trade_tags == {"tbody", "tr", "td"}  # the "<b>" in the tags stayed text
    assert dom.metrics["trades"] == str(len(eth_trades))
    assert result.sharpe is not None
    assert dom.metrics["sharpe"] == f"{result.sharpe:.2f}"
    assert dom.metrics["max_dd"] == f"{result.max_dd * 100:.2f}%"
    assert {"total_return", "cagr", "sortino", "win_rate", "profit_factor"} <= dom.metrics.keys()


@BROWSER_TIMEOUT
def test_report_screenshot_in_headless_browser(
    chromium: str, eth_report: Path, tmp_path: Path
) -> None:
    shot = tmp_path / "report.png"

    run_chromium(
        chromium,
        tmp_path / "profile",
        f"--screenshot={shot}",
        "--window-size=1280,1600",
        "--hide-scrollbars",
        eth_report.as_uri(),
    )

    data = shot.read_bytes()
    chunks = png_chunks(data)
    assert chunks[0][0] == b"IHDR"
    assert struct.unpack(">II", chunks[0][1][:8]) == (1280, 1600)
    assert len(data) > 50_000
    # A blank page decodes to a handful of byte values (filter bytes and one colour).
    pixels = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(set(pixels)) > 64


def test_write_json_of_an_empty_run(tmp_path: Path) -> None:
    result = compute_stats([], [])

    data = json.loads(write_json(result, [], [], tmp_path / "empty.json").read_text())

    assert data == {"metrics": result.to_dict(), "trades": [], "equity": []}
