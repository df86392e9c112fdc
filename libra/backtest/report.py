"""Present a `BacktestResult`: a terminal table, a JSON file and one self-contained HTML page.

The HTML page needs nothing from the network: styles are inline, the charts are inline SVG
polylines and there is no script. Long curves are downsampled for drawing with a min/max per
bucket, so a short, deep drawdown stays visible however many points the run produced. The JSON
file keeps every point.

Stable hooks for tools and tests: ``svg#equity-chart`` and ``svg#drawdown-chart`` each hold one
``polyline`` (classes ``equity-line`` and ``drawdown-line``); ``table#metrics`` has one
``tr[data-key]`` per metric; ``table#trades`` has one ``tbody tr`` per trade.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Context, Decimal
from pathlib import Path
from typing import Any

import numpy as np

from libra.backtest.stats import (
    NS_PER_SECOND,
    BacktestResult,
    TradeRecord,
    curve_arrays,
    drawdown_depths,
    format_duration,
)

MAX_CHART_POINTS = 2_000

_CHART_WIDTH = 1_000
_CHART_HEIGHT = 260
_MARGIN_LEFT = 80
_MARGIN_RIGHT = 12
_MARGIN_TOP = 12
_MARGIN_BOTTOM = 28
_GRID_LINES = 4
_WIDE_CONTEXT = Context(prec=80)

_STYLE = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px auto;
  max-width: 1100px; padding: 0 16px; color: #1d2433; background: #fff; }
h1 { font-size: 1.5rem; margin-bottom: 4px; }
h2 { font-size: 1.1rem; margin: 24px 0 8px; }
.period { color: #5b6478; margin-top: 0; }
svg.chart { width: 100%; height: auto; display: block; background: #fafbfc;
  border: 1px solid #e3e6ec; border-radius: 4px; }
svg .grid { stroke: #e3e6ec; stroke-width: 1; }
svg .axis-label { font-size: 11px; fill: #5b6478; }
svg .equity-line { fill: none; stroke: #2f6fde; stroke-width: 1.5; }
svg .drawdown-line { fill: none; stroke: #c8362e; stroke-width: 1.2; }
svg .drawdown-area { fill: #c8362e; fill-opacity: 0.15; stroke: none; }
svg .empty { font-size: 14px; fill: #5b6478; }
table { border-collapse: collapse; font-size: 0.9rem; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e3e6ec; text-align: left; }
td { white-space: nowrap; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
#metrics th { font-weight: 500; color: #5b6478; }
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


def render_table(result: BacktestResult) -> str:
    """Render the metrics as an aligned plain-text table."""
    rows = _metric_rows(result)
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
    return _write_text(path, f'{head[:-2]},\n  "equity": {equity_json}\n}}\n')


def write_html(
    result: BacktestResult,
    trades: Sequence[TradeRecord],
    equity: Sequence[tuple[int, Decimal]] | Sequence[tuple[int, float]],
    path: str | os.PathLike[str],
    *,
    title: str = "LIBRA backtest",
) -> Path:
    """Write a self-contained HTML report (charts, metrics, trades); return its path."""
    return _write_text(path, render_html(result, trades, equity, title=title))


def render_html(
    result: BacktestResult,
    trades: Sequence[TradeRecord],
    equity: Sequence[tuple[int, Decimal]] | Sequence[tuple[int, float]],
    *,
    title: str = "LIBRA backtest",
) -> str:
    """Render the HTML report as a string."""
    stamps, values = curve_arrays(equity)
    esc_title = html.escape(title)
    period = html.escape(_period_text(result))
    return "\n".join(
        [
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
            f'<header><h1>{esc_title}</h1><p class="period">{period}</p></header>',
            "<section><h2>Equity</h2>",
            _render_chart("equity-chart", "equity-line", "Equity curve", stamps, values,
                          percent=False),
            "</section>",
            "<section><h2>Drawdown</h2>",
            _render_chart(
                "drawdown-chart",
                "drawdown-line",
                "Drawdown from the running peak",
                stamps,
                _drawdowns(values),
                percent=True,
                area_class="drawdown-area",
            ),
            "</section>",
            "<section><h2>Metrics</h2>",
            _render_metrics(result),
            "</section>",
            f"<section><h2>Trades ({len(trades)})</h2>",
            _render_trades(trades),
            "</section>",
            "<footer>Generated by LIBRA.</footer>",
            "</body>",
            "</html>",
            "",
        ]
    )


def downsample_minmax(
    points: Sequence[tuple[int, float]], max_points: int = MAX_CHART_POINTS
) -> list[tuple[int, float]]:
    """Reduce points to at most ``max_points``, keeping each bucket's min and max in time order.

    The first and last points are always kept.

    Raises:
        ValueError: if ``max_points`` is below 4.
    """
    values = np.fromiter((v for _, v in points), dtype=np.float64, count=len(points))
    return [points[i] for i in _minmax_indices(values, max_points)]


def drawdown_series(curve: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    """Return ``(ts_ns, drawdown)`` with drawdown as a fraction at or below zero (-0.1 = -10%)."""
    stamps, values = curve_arrays(curve)
    return list(zip(stamps.tolist(), _drawdowns(values).tolist(), strict=True))


def _minmax_indices(values: np.ndarray, max_points: int) -> list[int]:
    """Return the indices ``downsample_minmax`` keeps: first, each bucket's lowest and highest
    (the earliest of equal ones) in order, last."""
    if max_points < 4:
        raise ValueError(f"invalid max_points, was {max_points} (expected at least 4)")
    count = len(values)
    if count <= max_points:
        return list(range(count))
    inner = count - 2
    buckets = (max_points - 2) // 2
    kept = [0]
    for bucket in range(buckets):
        start = 1 + bucket * inner // buckets
        end = 1 + (bucket + 1) * inner // buckets
        if start == end:
            continue
        chunk = values[start:end]
        kept.extend(start + i for i in sorted({int(chunk.argmin()), int(chunk.argmax())}))
    kept.append(count - 1)
    return kept


def _drawdowns(values: np.ndarray) -> np.ndarray:
    """Each point's fall from the running peak as a fraction in [-1, 0] (0 while the peak is
    not positive)."""
    return 0.0 - drawdown_depths(values)[1]


def _metric_rows(result: BacktestResult) -> list[_MetricRow]:
    dd = result.max_drawdown
    rows = [
        ("starting_capital", "Starting capital", _format_money(result.starting_capital)),
        ("final_equity", "Final equity", _format_money(result.final_equity)),
        ("total_return", "Total return", _format_percent(result.total_return)),
        ("cagr", "CAGR", _format_percent(result.cagr)),
        ("volatility", "Volatility (annualised)", _format_percent(result.volatility)),
        ("sharpe", "Sharpe", _format_ratio(result.sharpe)),
        ("sortino", "Sortino", _format_ratio(result.sortino)),
        ("max_dd", "Max drawdown", _format_percent(dd.depth)),
        ("max_dd_duration", "Max drawdown duration", _drawdown_duration_text(result)),
        ("trades", "Trades", str(result.trades)),
        ("win_rate", "Win rate", _format_percent(result.win_rate)),
        ("profit_factor", "Profit factor", _format_ratio(result.profit_factor)),
        ("avg_trade", "Average trade", _format_money(result.avg_trade)),
        ("best_trade", "Best trade", _format_money(result.best_trade)),
        ("worst_trade", "Worst trade", _format_money(result.worst_trade)),
        ("exposure", "Exposure", _format_percent(result.exposure)),
        ("fees", "Fees", _format_money(result.fees)),
    ]
    return [_MetricRow(key, label, value) for key, label, value in rows]


def _render_metrics(result: BacktestResult) -> str:
    rows = "".join(
        f'<tr data-key="{row.key}"><th>{html.escape(row.label)}</th>'
        f'<td class="number">{html.escape(row.value)}</td></tr>'
        for row in _metric_rows(result)
    )
    return f'<table id="metrics"><tbody>{rows}</tbody></table>'


_TRADE_COLUMNS = (
    "#", "Symbol", "Side", "Entry time", "Exit time", "Duration", "Entry price",
    "Exit price", "Quantity", "PnL", "Fees", "Entry tag", "Exit tag",
)  # fmt: skip


def _render_trades(trades: Sequence[TradeRecord]) -> str:
    head = "".join(f"<th>{html.escape(name)}</th>" for name in _TRADE_COLUMNS)
    body = "\n".join(_render_trade_row(number, trade) for number, trade in enumerate(trades, 1))
    return f'<table id="trades"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'


def _render_trade_row(number: int, trade: TradeRecord) -> str:
    outcome = "win" if trade.pnl > 0 else "loss" if trade.pnl < 0 else "flat"
    text_cells = (trade.symbol, trade.side, _format_ts(trade.entry_ts_ns),
                  _format_ts(trade.exit_ts_ns), format_duration(trade.duration_ns))  # fmt: skip
    number_cells = (trade.entry_price, trade.exit_price, trade.quantity)
    cells = [f'<td class="number">{number}</td>']
    cells += [f"<td>{html.escape(text)}</td>" for text in text_cells]
    cells += [f'<td class="number">{html.escape(_format_money(v))}</td>' for v in number_cells]
    cells.append(f'<td class="number pnl">{html.escape(_format_money(trade.pnl))}</td>')
    cells.append(f'<td class="number">{html.escape(_format_money(trade.fees))}</td>')
    cells += [f"<td>{html.escape(tag or '')}</td>" for tag in (trade.entry_tag, trade.exit_tag)]
    return f'<tr class="{outcome}">{"".join(cells)}</tr>'


def _render_chart(
    chart_id: str,
    line_class: str,
    label: str,
    stamps: np.ndarray,
    values: np.ndarray,
    *,
    percent: bool,
    area_class: str | None = None,
) -> str:
    width, height = _CHART_WIDTH, _CHART_HEIGHT
    head = (
        f'<svg id="{chart_id}" class="chart" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(label)}">'
    )
    if not values.size:
        return (
            f'{head}<text class="empty" x="{width / 2}" y="{height / 2}" '
            f'text-anchor="middle">No data</text></svg>'
        )
    kept = _minmax_indices(values, MAX_CHART_POINTS)
    points = list(zip(stamps[kept].tolist(), values[kept].tolist(), strict=True))
    scale = _Scale.fit(points)
    parts = [head, *_grid(scale, percent=percent), *_time_labels(scale)]
    coords = " ".join(f"{scale.x(ts):.1f},{scale.y(v):.1f}" for ts, v in points)
    if area_class is not None:
        base = f"{scale.x(points[-1][0]):.1f},{scale.y(0.0):.1f} "
        base += f"{scale.x(points[0][0]):.1f},{scale.y(0.0):.1f}"
        parts.append(f'<polygon class="{area_class}" points="{coords} {base}"/>')
    parts.append(f'<polyline class="{line_class}" points="{coords}"/>')
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class _Scale:
    t0: int
    t1: int
    low: float
    high: float

    @classmethod
    def fit(cls, points: Sequence[tuple[int, float]]) -> _Scale:
        values = [v for _, v in points]
        low, high = min(values), max(values)
        # A flat series still needs a visible band to sit in.
        pad = (high - low) * 0.05 if high - low > 1e-12 else abs(high) * 0.01 or 1.0
        top = 0.0 if high <= 0 else high + pad  # a drawdown's top line stays at zero
        return cls(points[0][0], points[-1][0], low - pad, top)

    def x(self, ts_ns: int) -> float:
        plot_width = _CHART_WIDTH - _MARGIN_LEFT - _MARGIN_RIGHT
        if self.t1 == self.t0:
            return _MARGIN_LEFT + plot_width / 2
        return _MARGIN_LEFT + (ts_ns - self.t0) / (self.t1 - self.t0) * plot_width

    def y(self, value: float) -> float:
        plot_height = _CHART_HEIGHT - _MARGIN_TOP - _MARGIN_BOTTOM
        return _MARGIN_TOP + (self.high - value) / (self.high - self.low) * plot_height


def _grid(scale: _Scale, *, percent: bool) -> list[str]:
    step = (scale.high - scale.low) / _GRID_LINES
    factor = 100.0 if percent else 1.0
    # Enough decimals to tell neighbouring grid lines apart, and no more.
    decimals = max(0, 1 - math.floor(math.log10(step * factor)))
    suffix = "%" if percent else ""
    parts = []
    for step in range(_GRID_LINES + 1):
        value = scale.low + (scale.high - scale.low) * step / _GRID_LINES
        y = scale.y(value)
        parts.append(
            f'<line class="grid" x1="{_MARGIN_LEFT}" y1="{y:.1f}" '
            f'x2="{_CHART_WIDTH - _MARGIN_RIGHT}" y2="{y:.1f}"/>'
            f'<text class="axis-label" x="{_MARGIN_LEFT - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end">{value * factor:,.{decimals}f}{suffix}</text>'
        )
    return parts


def _time_labels(scale: _Scale) -> list[str]:
    y = _CHART_HEIGHT - 8
    anchors = ((scale.t0, "start"), ((scale.t0 + scale.t1) // 2, "middle"), (scale.t1, "end"))
    return [
        f'<text class="axis-label" x="{scale.x(ts):.1f}" y="{y}" text-anchor="{anchor}">'
        f"{html.escape(_format_ts(ts))}</text>"
        for ts, anchor in anchors
    ]


def _period_text(result: BacktestResult) -> str:
    if result.start_ns is None or result.end_ns is None:
        return "no data"
    span = format_duration(result.end_ns - result.start_ns)
    return f"{_format_ts(result.start_ns)} to {_format_ts(result.end_ns)} UTC ({span})"


def _drawdown_duration_text(result: BacktestResult) -> str:
    text = result.max_dd_duration
    if result.max_dd > 0 and not result.max_drawdown.recovered:
        text += " (not recovered)"
    return text


def _format_ts(ts_ns: int) -> str:
    moment = datetime.fromtimestamp(ts_ns // NS_PER_SECOND, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M")


def _format_percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f}%"


def _format_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _format_money(value: Decimal | None) -> str:
    if value is None:
        return "n/a"
    if not value.is_finite():
        return str(value)
    # Show at most 8 decimal places (a satoshi); money beyond that is noise in a report.
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -8:
        value = value.quantize(Decimal("1e-8"), context=_WIDE_CONTEXT)
    return f"{value.normalize():,f}" if value != 0 else "0"


def _write_text(path: str | os.PathLike[str], text: str) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename, so a reader never sees half a report.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
