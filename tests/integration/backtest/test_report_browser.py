"""The HTML report of a real backtest, loaded in a real headless browser.

The page is loaded as written, plus one probe script put at the top of its head: it
records script errors and ``console.error`` calls, and once the charts say they are drawn
it writes what it saw (errors, page width) onto ``<body>``, where ``--dump-dom`` shows it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from libra.backtest.api import run_backtest
from libra.backtest.report import write_run_report

pytest.importorskip("plotly", reason="the interactive report needs the report extra (plotly)")

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1400,1000", "--virtual-time-budget=15000",
)
PROBE = """<script>
window.__errors = [];
addEventListener("error", function (e) { __errors.push(String(e.message)); });
(function () {
  var original = console.error;
  console.error = function () {
    __errors.push(Array.prototype.join.call(arguments, " ")); original.apply(console, arguments);
  };
})();
var __probe = setInterval(function () {
  if (!document.body || document.body.dataset.charts !== "ready") return;
  clearInterval(__probe);
  document.body.dataset.errors = JSON.stringify(__errors);
  document.body.dataset.width = String(document.documentElement.scrollWidth);
}, 50);
</script>"""


class RenderedReport(HTMLParser):
    """Read back what the browser built: drawn charts, their markers, the tables."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.body: dict[str, str | None] = {}
        self.charts: dict[str, int] = {}  # chart id -> drawn marker points
        self.drawn: set[str] = set()
        self.rows: dict[str, int] = {}
        self.cells: dict[str, list[str]] = {}
        self.title = ""
        self._chart: str | None = None
        self._depth = 0
        self._table: str | None = None
        self._in_body = self._in_title = self._in_cell = False
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "body":
            self.body = attributes
        elif tag == "div" and "plotly-chart" in classes:
            self._chart, self._depth = attributes.get("id"), 0
            self.charts[self._chart or ""] = 0
        elif self._chart is not None:
            if tag == "div":
                self._depth += 1
            if tag == "svg" and "main-svg" in classes:
                self.drawn.add(self._chart)
            if tag == "path" and "point" in classes:
                self.charts[self._chart] += 1
        if tag == "table":
            self._table = attributes.get("id")
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._table and self._in_body:
            self.rows[self._table] = self.rows.get(self._table, 0) + 1
        elif tag == "td" and self._table and self._in_body:
            self._in_cell = True
            self.cells.setdefault(self._table, []).append("")
        elif tag == "h1":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self._chart is not None:
            if self._depth == 0:
                self._chart = None
            else:
                self._depth -= 1
        elif tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._table = None
        elif tag == "td":
            self._in_cell = False
        elif tag == "h1":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._in_cell and self._table:
            self.cells[self._table][-1] += data


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
    config = make_config()
    run = await run_backtest(config)
    page = write_run_report(run, config, tmp_path / "report.html", title="sma_cross ETH/BTC")
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text(encoding="utf-8").replace("<head>", f"<head>{PROBE}", 1),
                      encoding="utf-8")

    dom = RenderedReport(dump_dom(chromium, tmp_path / "profile", probed.as_uri()))

    assert dom.title == "sma_cross ETH/BTC"
    assert dom.body.get("data-charts") == "ready"
    assert json.loads(dom.body.get("data-errors") or "null") == []
    assert {"price-chart-0", "equity-chart", "drawdown-chart"} <= dom.drawn
    # One entry and one exit marker per closed trade, drawn by plotly.js in the page
    assert dom.charts["price-chart-0"] == 2 * len(run.trades) > 20
    assert int(dom.body.get("data-width") or 0) <= 1_400  # nothing runs off the page
    assert dom.rows["trades"] == len(run.trades)
    assert set(dom.cells["trades"][12::14]) == {"cross_up"}  # entry tags
    assert dom.rows["by-symbol"] == 1
    assert dom.cells["by-symbol"][:2] == ["ETH/BTC", str(len(run.trades))]
    assert dom.rows["by-month"] == 1
