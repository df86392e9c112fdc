"""The HTML report of a real backtest, loaded in a real headless browser."""

from __future__ import annotations

import os
import signal
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from libra.backtest.api import run_backtest
from libra.backtest.report import write_html

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
)


class RenderedReport(HTMLParser):
    """Read back what the browser built: chart points and trade-table rows."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.polylines: dict[str, int] = {}
        self.trade_rows = 0
        self.title = ""
        self._svg: str | None = None
        self._in_trades = self._in_body = self._in_title = False
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "svg":
            self._svg = attributes.get("id")
        elif tag == "polyline" and self._svg and "line" in (attributes.get("class") or ""):
            self.polylines[self._svg] = len((attributes.get("points") or "").split())
        elif tag == "table":
            self._in_trades = attributes.get("id") == "trades"
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_trades and self._in_body:
            self.trade_rows += 1
        elif tag == "h1":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._svg = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._in_trades = False
        elif tag == "h1":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def dump_dom(chromium: str, profile: Path, url: str) -> str:
    """Run headless chromium on ``url`` in its own process group; return the DOM it built."""
    command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as process:
        try:
            out, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the browser's helpers share its group
            process.communicate()
            raise
    assert process.returncode == 0, err[-2_000:]
    return out


# Installing chromium on first use can take minutes; the run itself is bounded to 60 s.
@pytest.mark.timeout(900)
async def test_report_of_real_backtest_renders_in_browser(
    chromium: str, make_config, tmp_path: Path,
) -> None:  # fmt: skip
    run = await run_backtest(make_config())
    page = write_html(run.result, run.trades, run.equity, tmp_path / "report.html",
                      title="sma_cross ETH/BTC")

    dom = RenderedReport(dump_dom(chromium, tmp_path / "profile", page.as_uri()))

    assert dom.title == "sma_cross ETH/BTC"
    assert dom.polylines["equity-chart"] > 100
    assert dom.polylines["drawdown-chart"] > 100
    assert dom.trade_rows == len(run.trades) > 10
