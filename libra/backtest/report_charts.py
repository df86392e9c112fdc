"""The report's charts: min/max downsampling, Plotly figures and the static SVG fallback.

With the ``report`` extra (plotly) the page inlines plotly.js and draws interactive charts
(zoom, pan, hover) from figure specs built here as plain dicts: no plotly Python objects,
so building a figure costs no more than its JSON. Without it the page draws the same
charts as inline SVG, without scripts. Long series are downsampled for drawing with a
min/max per bucket, so a short, deep drawdown stays visible however many points the run
produced.

Stable hooks: ``svg#<id>`` holds one ``polyline`` (class ``<name>-line``); an SVG price
chart holds one ``circle.entry-marker`` / ``circle.exit-marker`` per trade; a Plotly chart
is ``div#<id>.plotly-chart`` with its figure in ``script#<id>-figure`` (JSON).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from libra.backtest.report_data import format_ts
from libra.backtest.stats import TradeRecord, drawdown_depths

MAX_CHART_POINTS = 2_000

_CHART_WIDTH = 1_000
_CHART_HEIGHT = 260
_MARGIN_LEFT = 80
_MARGIN_RIGHT = 12
_MARGIN_TOP = 12
_MARGIN_BOTTOM = 28
_GRID_LINES = 4
_ENTRY_COLOUR = "#1e7d3a"
_EXIT_COLOUR = "#c8362e"


def plotly_js() -> str | None:
    """Return plotly.js from the installed ``plotly`` package, or None without it."""
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        return None
    return str(get_plotlyjs())


def downsample_minmax(
    points: Sequence[tuple[int, float]], max_points: int = MAX_CHART_POINTS
) -> list[tuple[int, float]]:
    """Reduce points to at most ``max_points``, keeping each bucket's min and max in time order.

    The first and last points are always kept.

    Raises:
        ValueError: if ``max_points`` is below 4.
    """
    values = np.fromiter((v for _, v in points), dtype=np.float64, count=len(points))
    return [points[i] for i in minmax_indices(values, max_points)]


def minmax_indices(values: np.ndarray, max_points: int) -> list[int]:
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


def drawdowns(values: np.ndarray) -> np.ndarray:
    """Each point's fall from the running peak as a fraction in [-1, 0] (0 while the peak is
    not positive)."""
    return 0.0 - drawdown_depths(values)[1]


@dataclass(frozen=True, slots=True)
class Line:
    """One drawn series: its name, points and colour."""

    name: str
    stamps: np.ndarray
    values: np.ndarray
    colour: str
    fill: bool = False
    dash: bool = False


def markers(trades: Sequence[TradeRecord], symbol: str) -> tuple[list[Any], list[Any]]:
    """Return the entry and exit points of ``symbol``'s trades: ``(ts_ns, price, hover)``."""
    entries, exits = [], []
    for number, trade in enumerate(trades, 1):
        if trade.symbol != symbol:
            continue
        entries.append((trade.entry_ts_ns, float(trade.entry_price),
                        f"#{number} {trade.side} entry {trade.entry_price}"
                        f"<br>tag: {html.escape(trade.entry_tag or '-')}"))
        exits.append((trade.exit_ts_ns, float(trade.exit_price),
                      f"#{number} exit {trade.exit_price} pnl {trade.pnl}"
                      f"<br>reason: {html.escape(trade.exit_tag or '-')}"))
    return entries, exits


# -- Plotly -------------------------------------------------------------------------------


def plotly_chart(chart_id: str, title: str, lines: Sequence[Line], *, percent: bool = False,
                 trades: Sequence[TradeRecord] = (), symbol: str | None = None,
                 height: int = 320) -> str:
    """Return a ``div`` and its figure (JSON) for one interactive chart."""
    data: list[dict[str, Any]] = []
    for line in lines:
        kept = minmax_indices(line.values, MAX_CHART_POINTS)
        trace: dict[str, Any] = {
            "type": "scatter", "mode": "lines", "name": line.name,
            "x": [_iso(ts) for ts in line.stamps[kept].tolist()],
            "y": [_finite(v) for v in line.values[kept].tolist()],
            "line": {"color": line.colour, "width": 1.4, **({"dash": "dot"} if line.dash else {})},
        }
        if line.fill:
            trace["fill"] = "tozeroy"
        data.append(trace)
    if symbol is not None:
        entries, exits = markers(trades, symbol)
        data += [_marker_trace("entries", entries, "triangle-up", _ENTRY_COLOUR),
                 _marker_trace("exits", exits, "triangle-down", _EXIT_COLOUR)]
    layout = {
        "title": {"text": html.escape(title), "font": {"size": 14}},
        "height": height, "margin": {"l": 70, "r": 20, "t": 40, "b": 40},
        "hovermode": "closest", "legend": {"orientation": "h", "y": 1.1, "x": 0,
                                           "xanchor": "left"},
        "xaxis": {"type": "date", "rangeslider": {"visible": False}},
        "yaxis": {"tickformat": ".1%" if percent else ",", "automargin": True},
    }
    figure = json.dumps({"data": data, "layout": layout}, allow_nan=False)
    # "</" would end the script element early; JSON may escape the slash.
    figure = figure.replace("</", "<\\/")
    return (f'<div id="{chart_id}" class="plotly-chart" data-title="{html.escape(title)}"></div>'
            f'<script type="application/json" id="{chart_id}-figure">{figure}</script>')


def _marker_trace(name: str, points: list[Any], symbol: str, colour: str) -> dict[str, Any]:
    return {
        "type": "scatter", "mode": "markers", "name": name,
        "x": [_iso(ts) for ts, _, _ in points], "y": [price for _, price, _ in points],
        "text": [text for _, _, text in points], "hoverinfo": "text+x",
        "marker": {"symbol": symbol, "size": 10, "color": colour,
                   "line": {"width": 1, "color": "#ffffff"}},
    }


PLOTLY_BOOT = """
(function () {
  var charts = document.querySelectorAll("div.plotly-chart");
  var pending = [];
  charts.forEach(function (div) {
    var figure = JSON.parse(document.getElementById(div.id + "-figure").textContent);
    pending.push(Plotly.newPlot(div, figure.data, figure.layout,
      {responsive: true, displaylogo: false, scrollZoom: true}));
  });
  Promise.all(pending).then(function () { document.body.dataset.charts = "ready"; });
})();
"""


def _iso(ts_ns: int) -> str:
    # Milliseconds are as fine as Plotly's date axis goes.
    seconds, rest = divmod(ts_ns, 1_000_000_000)
    return f"{format_ts(ts_ns)[:10]}T{_clock(seconds)}.{rest // 1_000_000:03d}Z"


def _clock(seconds: int) -> str:
    rest = seconds % 86_400
    return f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


# -- static SVG ---------------------------------------------------------------------------


def svg_chart(
    chart_id: str,
    line_class: str,
    label: str,
    stamps: np.ndarray,
    values: np.ndarray,
    *,
    percent: bool,
    area_class: str | None = None,
    points_of: Sequence[tuple[str, Sequence[tuple[int, float, str]]]] = (),
) -> str:
    """Return an inline SVG line chart; ``points_of`` adds ``(class, points)`` markers."""
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
    kept = minmax_indices(values, MAX_CHART_POINTS)
    points = list(zip(stamps[kept].tolist(), values[kept].tolist(), strict=True))
    scale = _Scale.fit(points)
    parts = [head, *_grid(scale, percent=percent), *_time_labels(scale)]
    coords = " ".join(f"{scale.x(ts):.1f},{scale.y(v):.1f}" for ts, v in points)
    if area_class is not None:
        base = f"{scale.x(points[-1][0]):.1f},{scale.y(0.0):.1f} "
        base += f"{scale.x(points[0][0]):.1f},{scale.y(0.0):.1f}"
        parts.append(f'<polygon class="{area_class}" points="{coords} {base}"/>')
    parts.append(f'<polyline class="{line_class}" points="{coords}"/>')
    for marker_class, marks in points_of:
        parts += [f'<circle class="{marker_class}" cx="{scale.x(ts):.1f}" '
                  f'cy="{scale.y(price):.1f}" r="4"><title>{html.escape(text)}</title></circle>'
                  for ts, price, text in marks]
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
    for line in range(_GRID_LINES + 1):
        value = scale.low + (scale.high - scale.low) * line / _GRID_LINES
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
        f"{html.escape(format_ts(ts))}</text>"
        for ts, anchor in anchors
    ]
