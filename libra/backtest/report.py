"""Present a backtest: a terminal table, a JSON file and one self-contained HTML page.

The HTML page needs nothing from the network. At the top it says what ran: strategy,
parameters, fees, venue settings and data window. Then the headline metrics beside
buy-and-hold, a price chart per symbol with entry and exit markers, equity against
buy-and-hold, drawdown, breakdowns per symbol, exit reason and month, and every trade.
Charts are interactive with the ``report`` extra (plotly.js is inlined, see
``report_charts``); without it they are static SVG and the page says how to get the
interactive ones. Tables fit a 1,400 px window: long tags are cut with an ellipsis and
shown whole on hover.

Sharpe and Sortino come from daily returns annualised with 365 days (see ``stats``), so
they compare with freqtrade's figures; the JSON file keeps every equity point.

Stable hooks for tools and tests: ``table#metrics`` has one ``tr[data-key]`` per metric;
``table#trades`` has one ``tbody tr`` per trade; ``table#by-symbol``, ``#by-exit-reason``
and ``#by-month`` one ``tbody tr`` per group; ``#equity-chart``, ``#drawdown-chart`` and
``#price-chart-<n>`` (one per symbol, ``data-symbol``) are the charts.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np

from libra.backtest.report_charts import (
    MAX_CHART_POINTS,
    PLOTLY_BOOT,
    Line,
    downsample_minmax,
    drawdowns,
    markers,
    plotly_chart,
    plotly_js,
    svg_chart,
)
from libra.backtest.report_data import (
    BreakdownRow,
    PriceSeries,
    ReportContext,
    breakdown,
    buy_and_hold_curve,
    context_from_config,
    format_money,
    format_price,
    format_ts,
    symbols_traded,
)
from libra.backtest.stats import BacktestResult, TradeRecord, curve_arrays, format_duration
from libra.core.files import write_text_atomic

__all__ = [
    "MAX_CHART_POINTS", "ReportContext", "downsample_minmax", "drawdown_series",
    "render_html", "render_table", "write_html", "write_json", "write_run_report",
]

Charts = Literal["auto", "plotly", "svg"]
REPORT_EXTRA = "pip install 'libra-trader[report]'"

_STYLE = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 20px auto;
  max-width: 1320px; padding: 0 16px; color: #1d2433; background: #fff; }
h1 { font-size: 1.5rem; margin-bottom: 4px; }
h2 { font-size: 1.1rem; margin: 24px 0 8px; }
.period { color: #5b6478; margin-top: 0; }
.notice { background: #fff6e0; border: 1px solid #f0d58c; padding: 6px 10px; border-radius: 4px; }
.facts { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr));
  gap: 4px 24px; margin: 8px 0; }
.facts table { width: 100%; }
.columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(600px, 1fr));
  gap: 16px 24px; }
.columns table { width: 100%; }
svg.chart { width: 100%; height: auto; display: block; background: #fafbfc;
  border: 1px solid #e3e6ec; border-radius: 4px; }
svg .grid { stroke: #e3e6ec; stroke-width: 1; }
svg .axis-label { font-size: 11px; fill: #5b6478; }
svg .equity-line { fill: none; stroke: #2f6fde; stroke-width: 1.5; }
svg .price-line { fill: none; stroke: #39424e; stroke-width: 1.2; }
svg .drawdown-line { fill: none; stroke: #c8362e; stroke-width: 1.2; }
svg .drawdown-area { fill: #c8362e; fill-opacity: 0.15; stroke: none; }
svg .entry-marker { fill: #1e7d3a; }
svg .exit-marker { fill: #c8362e; }
svg .empty { font-size: 14px; fill: #5b6478; }
.plotly-chart { border: 1px solid #e3e6ec; border-radius: 4px; margin-bottom: 8px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { padding: 3px 8px; border-bottom: 1px solid #e3e6ec; text-align: left; }
td { white-space: nowrap; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
td.tag { max-width: 130px; overflow: hidden; text-overflow: ellipsis; }
th { font-weight: 500; color: #5b6478; }
#trades { width: 100%; }
#trades thead th { position: sticky; top: 0; background: #f2f4f7; }
tr.win td.pnl { color: #1e7d3a; }
tr.loss td.pnl { color: #c8362e; }
footer { margin-top: 32px; color: #8a92a3; font-size: 0.8rem; }
"""


@dataclass(frozen=True, slots=True)
class _MetricRow:
    key: str
    label: str
    value: str


def render_table(result: BacktestResult, currency: str | None = None) -> str:
    """Render the metrics as an aligned plain-text table (money in ``currency``)."""
    rows = _metric_rows(result, currency)
    label_width = max(len("Metric"), *(len(row.label) for row in rows))
    value_width = max(len("Value"), *(len(row.value) for row in rows))
    lines = [
        f"Period: {_period_text(result)}",
        "",
        f"{'Metric':<{label_width}}  {'Value':>{value_width}}",
        f"{'-' * label_width}  {'-' * value_width}",
    ]
    lines += [f"{row.label:<{label_width}}  {row.value:>{value_width}}" for row in rows]
    return "\n".join(lines)


def write_json(
    result: BacktestResult,
    trades: Sequence[TradeRecord],
    equity: Sequence[tuple[int, Decimal]] | Sequence[tuple[int, float]],
    path: str | os.PathLike[str],
) -> Path:
    """Write metrics, trades and the full equity curve as one JSON document; return its path.

    ``equity`` is a list of ``[ts_ns, "value"]`` pairs, one per line.
    """
    payload: dict[str, Any] = {
        "metrics": result.to_dict(),
        "trades": [trade.to_dict() for trade in trades],
    }
    head = json.dumps(payload, indent=2, allow_nan=False)
    # A curve can hold millions of points: json's indenting encoder is pure Python and took
    # seconds for a million, so the points are written directly. A number's text needs no
    # escaping.
    points = ",\n    ".join(f'[{int(ts_ns)}, "{value}"]' for ts_ns, value in equity)
    equity_json = f"[\n    {points}\n  ]" if points else "[]"
    return write_text_atomic(path, f'{head[:-2]},\n  "equity": {equity_json}\n}}\n')


def write_run_report(run: Any, config: Any, path: str | os.PathLike[str], *,
                     title: str | None = None, charts: Charts = "auto") -> Path:
    """Write the HTML report of a ``BacktestRun`` of ``config``; return its path."""
    window = (run.result.start_ns, run.result.end_ns)
    context = context_from_config(config, run.kernel, window)
    for symbol in symbols_traded(run.trades, run.fills):
        context.prices.setdefault(symbol, _prices_from_trades(run.trades, symbol))
    return write_html(run.result, run.trades, run.equity, path,
                      title=title or f"LIBRA backtest {config.name}", context=context,
                      charts=charts)


def write_html(
    result: BacktestResult,
    trades: Sequence[TradeRecord],
    equity: Sequence[tuple[int, Decimal]] | Sequence[tuple[int, float]],
    path: str | os.PathLike[str],
    *,
    title: str = "LIBRA backtest",
    context: ReportContext | None = None,
    charts: Charts = "auto",
) -> Path:
    """Write a self-contained HTML report (charts, metrics, trades); return its path."""
    page = render_html(result, trades, equity, title=title, context=context, charts=charts)
    return write_text_atomic(path, page)


def render_html(
    result: BacktestResult,
    trades: Sequence[TradeRecord],
    equity: Sequence[tuple[int, Decimal]] | Sequence[tuple[int, float]],
    *,
    title: str = "LIBRA backtest",
    context: ReportContext | None = None,
    charts: Charts = "auto",
) -> str:
    """Render the HTML report as a string.

    ``charts``: ``plotly`` (interactive; needs the ``report`` extra), ``svg`` (static,
    no script), or ``auto``: plotly when it is installed.

    Raises:
        ImportError: ``charts="plotly"`` without plotly installed.
    """
    context = context or ReportContext()
    script = plotly_js() if charts != "svg" else None
    if charts == "plotly" and script is None:
        raise ImportError(f"interactive report charts need plotly; install it with "
                          f"{REPORT_EXTRA}")
    page = _Page(result, trades, equity, context, interactive=script is not None)
    esc_title = html.escape(title)
    scripts = ([f"<script>{script}</script>", f"<script>{PLOTLY_BOOT}</script>"]
               if script is not None else [])
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="LIBRA">',
        f"<title>{esc_title}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f'<header><h1>{esc_title}</h1><p class="period">{html.escape(_period_text(result))}'
        "</p></header>",
        *page.sections(),
        "<footer>Generated by LIBRA. Sharpe and Sortino: daily returns, 365 days a year."
        "</footer>",
        *scripts,
        "</body>",
        "</html>",
        "",
    ])


def drawdown_series(curve: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    """Return ``(ts_ns, drawdown)`` with drawdown as a fraction at or below zero (-0.1 = -10%)."""
    stamps, values = curve_arrays(curve)
    return list(zip(stamps.tolist(), drawdowns(values).tolist(), strict=True))


class _Page:
    """The sections of one report page."""

    def __init__(self, result: BacktestResult, trades: Sequence[TradeRecord],
                 equity: Sequence[tuple[int, Any]], context: ReportContext, *,
                 interactive: bool) -> None:
        self.result, self.trades, self.context = result, trades, context
        self.stamps, self.values = curve_arrays(equity)
        self.interactive = interactive
        self.currency = context.currency

    def sections(self) -> list[str]:
        parts = [self._facts()]
        if not self.interactive:
            parts.append(f'<p class="notice">Static charts. For zoom and hover, install '
                         f"plotly ({html.escape(REPORT_EXTRA)}) and write the report again."
                         "</p>")
        parts += [
            "<section><h2>Summary</h2>", self._metrics(), "</section>",
            "<section><h2>Prices, entries and exits</h2>", *self._price_charts(), "</section>",
            "<section><h2>Equity</h2>", self._equity_chart(), "</section>",
            "<section><h2>Drawdown</h2>", self._drawdown_chart(), "</section>",
            '<section><h2>Breakdowns</h2><div class="columns">',
            self._breakdown("by-symbol", "Per symbol", "symbol", "Symbol"),
            self._breakdown("by-exit-reason", "Per exit reason", "exit_tag", "Exit reason"),
            self._breakdown("by-month", "Per month (exit time, UTC)", "month", "Month"),
            "</div></section>",
            f"<section><h2>Trades ({len(self.trades)})</h2>", self._trade_table(), "</section>",
        ]
        return parts

    def _facts(self) -> str:
        context = self.context
        run = [("strategy", context.strategy)] if context.strategy else []
        run += [(key, _param_text(value)) for key, value in context.params.items()]
        tables = [_fact_table("run-facts", "Strategy and parameters", run),
                  _fact_table("venue-facts", "Venue", context.venue),
                  _fact_table("data-facts", "Data", context.data)]
        shown = [table for table in tables if table]
        return f'<section class="facts">{"".join(shown)}</section>' if shown else ""

    def _metrics(self) -> str:
        rows = _metric_rows(self.result, self.currency)
        holds = {s: p.buy_and_hold for s, p in self.context.prices.items()}
        rows += [_MetricRow(f"buy_and_hold.{s}", f"Buy and hold {s}", _percent(r))
                 for s, r in holds.items()]
        body = "".join(
            f'<tr data-key="{html.escape(row.key)}"><th>{html.escape(row.label)}</th>'
            f'<td class="number">{html.escape(row.value)}</td></tr>' for row in rows)
        return f'<table id="metrics"><tbody>{body}</tbody></table>'

    def _price_charts(self) -> list[str]:
        symbols = list(self.context.prices) or symbols_traded(self.trades)
        if not symbols:
            return ['<p class="empty">No prices: the run had no market data.</p>']
        out = []
        for number, symbol in enumerate(symbols):
            series = self.context.prices.get(symbol) or _prices_from_trades(self.trades, symbol)
            chart_id = f"price-chart-{number}"
            line = Line(symbol, series.stamps, series.prices, "#39424e")
            if self.interactive:
                chart = plotly_chart(chart_id, f"{symbol} price", [line], trades=self.trades,
                                     symbol=symbol, height=360)
            else:
                entries, exits = markers(self.trades, symbol)
                chart = svg_chart(chart_id, "price-line", f"{symbol} price", series.stamps,
                                  series.prices, percent=False,
                                  points_of=[("entry-marker", entries), ("exit-marker", exits)])
            out.append(f'<div class="price" data-symbol="{html.escape(symbol)}">'
                       f"<h3>{html.escape(symbol)}</h3>{chart}</div>")
        return out

    def _equity_chart(self) -> str:
        holding = buy_and_hold_curve(self.context.prices, self.stamps,
                                     float(self.result.starting_capital), self.currency)
        if not self.interactive:
            return svg_chart("equity-chart", "equity-line", "Equity curve", self.stamps,
                             self.values, percent=False)
        lines = [Line("strategy", self.stamps, self.values, "#2f6fde")]
        if holding is not None:
            lines.append(Line("buy and hold", self.stamps, holding, "#8a92a3", dash=True))
        unit = f" ({self.currency})" if self.currency else ""
        return plotly_chart("equity-chart", f"Equity{unit}", lines)

    def _drawdown_chart(self) -> str:
        depth = drawdowns(self.values)
        if not self.interactive:
            return svg_chart("drawdown-chart", "drawdown-line", "Drawdown from the running peak",
                             self.stamps, depth, percent=True, area_class="drawdown-area")
        line = Line("drawdown", self.stamps, depth, "#c8362e", fill=True)
        return plotly_chart("drawdown-chart", "Drawdown from the running peak", [line],
                            percent=True, height=240)

    def _breakdown(self, table_id: str, caption: str, key: str, label: str) -> str:
        rows = breakdown(self.trades, key)
        code = f" ({self.currency})" if self.currency else ""
        head = "".join(f'<th class="{cls}">{html.escape(name)}</th>' for name, cls in (
            (label, ""), ("Trades", "number"), ("Win rate", "number"),
            (f"Net PnL{code}", "number"), (f"Average{code}", "number"),
            (f"Fees{code}", "number"), ("Avg duration", "number")))
        body = "".join(_breakdown_row(row, self.currency) for row in rows)
        if not rows:
            body = '<tr><td colspan="7">No closed trades</td></tr>'
        return (f'<div><h3>{html.escape(caption)}</h3><table id="{table_id}">'
                f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")

    def _trade_table(self) -> str:
        code = f" ({self.currency})" if self.currency else ""
        columns = ("#", "Symbol", "Side", "Entry time (UTC)", "Exit time (UTC)", "Duration",
                   "Entry price", "Exit price", "Quantity", f"PnL{code}", "PnL %",
                   f"Fees{code}", "Entry tag", "Exit tag")
        numeric = {"#", "Duration", "Entry price", "Exit price", "Quantity", f"PnL{code}",
                   "PnL %", f"Fees{code}"}
        head = "".join(f'<th class="{"number" if name in numeric else ""}">'
                       f"{html.escape(name)}</th>" for name in columns)
        body = "\n".join(_trade_row(number, trade, self.currency)
                         for number, trade in enumerate(self.trades, 1))
        return (f'<div class="scroll"><table id="trades"><thead><tr>{head}</tr></thead>'
                f"<tbody>\n{body}\n</tbody></table></div>")


def _fact_table(table_id: str, caption: str, rows: list[tuple[str, str]]) -> str:
    if not rows:
        return ""
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in rows)
    return (f'<div><h3>{html.escape(caption)}</h3><table id="{table_id}"><tbody>{body}'
            "</tbody></table></div>")


def _param_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _breakdown_row(row: BreakdownRow, currency: str | None) -> str:
    cells = [f"<td>{html.escape(row.key)}</td>"]
    values = (str(row.trades), _percent(row.win_rate),
              format_money(row.pnl, currency, code=False),
              format_money(row.average, currency, code=False),
              format_money(row.fees, currency, code=False), format_duration(row.duration_ns))
    cells += [f'<td class="number{" pnl" if i == 2 else ""}">{html.escape(v)}</td>'
              for i, v in enumerate(values)]
    outcome = "win" if row.pnl > 0 else "loss" if row.pnl < 0 else "flat"
    return f'<tr class="{outcome}">{"".join(cells)}</tr>'


def _trade_row(number: int, trade: TradeRecord, currency: str | None) -> str:
    outcome = "win" if trade.pnl > 0 else "loss" if trade.pnl < 0 else "flat"
    cost = trade.entry_price * trade.quantity
    pnl_percent = float(trade.pnl / cost) if cost else None
    text_cells = (trade.symbol, trade.side, format_ts(trade.entry_ts_ns),
                  format_ts(trade.exit_ts_ns))
    number_cells = (format_duration(trade.duration_ns), format_price(trade.entry_price),
                    format_price(trade.exit_price), f"{trade.quantity.normalize():f}")
    cells = [f'<td class="number">{number}</td>']
    cells += [f"<td>{html.escape(text)}</td>" for text in text_cells]
    cells += [f'<td class="number">{html.escape(text)}</td>' for text in number_cells]
    cells.append(f'<td class="number pnl">'
                 f"{html.escape(format_money(trade.pnl, currency, code=False))}</td>")
    cells.append(f'<td class="number pnl">{_percent(pnl_percent)}</td>')
    cells.append(f'<td class="number">'
                 f"{html.escape(format_money(trade.fees, currency, code=False))}</td>")
    cells += [f'<td class="tag" title="{html.escape(tag or "")}">{html.escape(tag or "")}</td>'
              for tag in (trade.entry_tag, trade.exit_tag)]
    return f'<tr class="{outcome}">{"".join(cells)}</tr>'


def _prices_from_trades(trades: Sequence[TradeRecord], symbol: str) -> PriceSeries:
    """Prices known from the trades alone: their entries and exits, in time order."""
    points = sorted((t.entry_ts_ns, float(t.entry_price)) for t in trades if t.symbol == symbol)
    points += [(t.exit_ts_ns, float(t.exit_price)) for t in trades if t.symbol == symbol]
    points.sort()
    return PriceSeries(symbol, np.asarray([p[0] for p in points], dtype=np.int64),
                       np.asarray([p[1] for p in points], dtype=np.float64))


def _metric_rows(result: BacktestResult, currency: str | None = None) -> list[_MetricRow]:
    dd = result.max_drawdown

    def money(value: Decimal | None) -> str:
        return format_money(value, currency)

    rows = [
        ("starting_capital", "Starting capital", money(result.starting_capital)),
        ("final_equity", "Final equity", money(result.final_equity)),
        ("total_return", "Total return", _percent(result.total_return)),
        ("cagr", "CAGR", _percent(result.cagr)),
        ("volatility", "Volatility (annualised)", _percent(result.volatility)),
        ("sharpe", "Sharpe (daily, annualised)", _ratio(result.sharpe)),
        ("sortino", "Sortino (daily, annualised)", _ratio(result.sortino)),
        ("max_dd", "Max drawdown", _percent(dd.depth)),
        ("max_dd_duration", "Max drawdown duration", _drawdown_duration_text(result)),
        ("trades", "Trades", str(result.trades)),
        ("win_rate", "Win rate", _percent(result.win_rate)),
        ("profit_factor", "Profit factor", _ratio(result.profit_factor)),
        ("avg_trade", "Average trade", money(result.avg_trade)),
        ("best_trade", "Best trade", money(result.best_trade)),
        ("worst_trade", "Worst trade", money(result.worst_trade)),
        ("exposure", "Exposure", _percent(result.exposure)),
        ("fees", "Fees", money(result.fees)),
    ]
    return [_MetricRow(key, label, value) for key, label, value in rows]


def _period_text(result: BacktestResult) -> str:
    if result.start_ns is None or result.end_ns is None:
        return "no data"
    span = format_duration(result.end_ns - result.start_ns)
    return f"{format_ts(result.start_ns)} to {format_ts(result.end_ns)} UTC ({span})"


def _drawdown_duration_text(result: BacktestResult) -> str:
    text = result.max_dd_duration
    if result.max_dd > 0 and not result.max_drawdown.recovered:
        text += " (not recovered)"
    return text


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f}%"


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


