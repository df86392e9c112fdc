"""What the HTML report says beyond the metrics: run facts, prices, markers, breakdowns,
buy-and-hold, tags and money in its currency; with several symbols as with one."""

from __future__ import annotations

import json
import re
import sys
from decimal import Decimal
from html.parser import HTMLParser

import numpy as np
import pytest

from libra.backtest.engine import round_trips
from libra.backtest.report import render_html
from libra.backtest.report_data import (
    PriceSeries,
    ReportContext,
    breakdown,
    buy_and_hold_curve,
    format_money,
)
from libra.backtest.stats import NS_PER_DAY, TradeRecord, compute_stats
from libra.model.fills import Fill

HOUR = NS_PER_DAY // 24


class Page(HTMLParser):
    """Tables by id (their body cells, row by row) and SVG markers per chart."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.markers: dict[str, dict[str, int]] = {}
        self.notice = False
        self._table: str | None = None
        self._svg: str | None = None
        self._cell = False
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table":
            self._table = attributes.get("id")
            self.tables[self._table or ""] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = True
            self.tables[self._table][-1].append("")
        elif tag == "svg":
            self._svg = attributes.get("id")
        elif tag == "circle" and self._svg:
            kind = attributes.get("class") or ""
            counts = self.markers.setdefault(self._svg, {})
            counts[kind] = counts.get(kind, 0) + 1
        elif tag == "p" and "notice" in (attributes.get("class") or ""):
            self.notice = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag in ("td", "th"):
            self._cell = False
        elif tag == "svg":
            self._svg = None

    def handle_data(self, data: str) -> None:
        if self._cell and self._table:
            self.tables[self._table][-1][-1] += data

    def rows(self, table: str) -> dict[str, list[str]]:
        return {row[0]: row[1:] for row in self.tables[table] if row}


def trade(symbol: str, day: int, pnl: str, exit_tag: str | None, side: str = "long",
          entry: str = "100", exit_: str = "101") -> TradeRecord:
    return TradeRecord(symbol=symbol, side=side,  # type: ignore[arg-type]
                       entry_ts_ns=day * NS_PER_DAY, exit_ts_ns=day * NS_PER_DAY + 5 * HOUR,
                       entry_price=Decimal(entry), exit_price=Decimal(exit_),
                       quantity=Decimal("0.5"), pnl=Decimal(pnl), fees=Decimal("0.1"),
                       entry_tag="breakout", exit_tag=exit_tag)


def two_symbol_run() -> tuple[list[TradeRecord], list[tuple[int, Decimal]], ReportContext]:
    trades = [
        trade("BTC/USDT", 1, "120.5", "take_profit"),
        trade("ETH/USDT", 2, "-40.25", "stop_loss"),
        trade("BTC/USDT", 33, "-10", "stop_loss"),
        trade("ETH/USDT", 34, "7.125", "force_exit"),
    ]
    stamps = np.arange(0, 40 * NS_PER_DAY, NS_PER_DAY, dtype=np.int64)
    prices = {
        "BTC/USDT": PriceSeries("BTC/USDT", stamps, np.linspace(100.0, 150.0, stamps.size)),
        "ETH/USDT": PriceSeries("ETH/USDT", stamps, np.linspace(10.0, 5.0, stamps.size)),
    }
    equity = [(int(ts), Decimal(10_000) + Decimal(i)) for i, ts in enumerate(stamps)]
    context = ReportContext(strategy="trend (sma_cross)", params={"fast": 10, "slow": 60},
                            venue=[("fees", "maker 0.02 %, taker 0.07 %")],
                            data=[("data", "bundled:BTC_USDT-1h")], currency="USDT",
                            prices=prices)
    return trades, equity, context


def test_money_has_its_currency_precision_and_code() -> None:
    assert format_money(Decimal("88431.38648058"), "USD") == "88,431.39 USD"
    assert format_money(Decimal("-412.0004265"), "USDT") == "-412.00 USDT"
    assert format_money(Decimal("0.000341501"), "BTC") == "0.00034150 BTC"
    assert format_money(Decimal("-0.001"), "USD") == "0.00 USD"
    assert format_money(Decimal("1234.6"), "JPY", code=False) == "1,235"


def test_breakdowns_per_symbol_exit_reason_and_month() -> None:
    trades, _, _ = two_symbol_run()

    by_symbol = {row.key: row for row in breakdown(trades, "symbol")}
    by_reason = [row.key for row in breakdown(trades, "exit_tag")]
    by_month = [(row.key, row.trades) for row in breakdown(trades, "month")]

    assert by_symbol["BTC/USDT"].pnl == Decimal("110.5")
    assert by_symbol["ETH/USDT"].trades == 2
    assert by_symbol["ETH/USDT"].win_rate == 0.5
    assert by_reason == ["take_profit", "force_exit", "stop_loss"]  # best net PnL first
    assert by_month == [("1970-01", 2), ("1970-02", 2)]


def test_buy_and_hold_splits_capital_over_symbols() -> None:
    _, equity, context = two_symbol_run()
    stamps = np.array([ts for ts, _ in equity], dtype=np.int64)

    curve = buy_and_hold_curve(context.prices, stamps, 10_000.0, "USDT")

    assert curve is not None
    assert curve[0] == pytest.approx(10_000.0)
    assert curve[-1] == pytest.approx(5_000 * 1.5 + 5_000 * 0.5)
    assert buy_and_hold_curve(context.prices, stamps, 10_000.0, "EUR") is None


def test_static_report_of_two_symbols() -> None:
    trades, equity, context = two_symbol_run()

    page = Page(render_html(compute_stats(equity, trades), trades, equity, context=context,
                            charts="svg"))

    assert page.notice  # says how to get interactive charts
    assert page.rows("run-facts")["strategy"] == ["trend (sma_cross)"]
    assert page.rows("run-facts")["fast"] == ["10"]
    assert page.rows("venue-facts")["fees"] == ["maker 0.02 %, taker 0.07 %"]
    assert page.markers["price-chart-0"] == {"entry-marker": 2, "exit-marker": 2}
    assert page.markers["price-chart-1"] == {"entry-marker": 2, "exit-marker": 2}
    metrics = page.rows("metrics")
    assert metrics["Final equity"] == ["10,039.00 USDT"]
    assert metrics["Buy and hold BTC/USDT"] == ["50.00%"]
    assert metrics["Buy and hold ETH/USDT"] == ["-50.00%"]
    assert page.rows("by-symbol")["BTC/USDT"][:3] == ["2", "50.00%", "110.50"]
    assert set(page.rows("by-exit-reason")) >= {"take_profit", "stop_loss", "force_exit"}
    assert list(page.rows("by-month"))[1:] == ["1970-01", "1970-02"]
    trade_rows = page.tables["trades"][1:]
    assert trade_rows[0][-2:] == ["breakout", "take_profit"]
    assert trade_rows[0][9] == "120.50"  # PnL in USDT cents, the code in the header
    assert "PnL (USDT)" in page.tables["trades"][0]


def test_interactive_report_inlines_plotly_and_marks_trades() -> None:
    pytest.importorskip("plotly")
    trades, equity, context = two_symbol_run()

    markup = render_html(compute_stats(equity, trades), trades, equity, context=context)

    assert not re.search(r"<script[^>]*\bsrc=|<link[^>]*\bhref=", markup)  # nothing fetched
    assert "Plotly.newPlot" in markup
    figure = json.loads(re.search(
        r'<script type="application/json" id="price-chart-1-figure">(.*?)</script>', markup,
        re.DOTALL).group(1))  # type: ignore[union-attr]
    traces = {trace["name"]: trace for trace in figure["data"]}
    assert len(traces["entries"]["x"]) == len(traces["exits"]["x"]) == 2
    assert "stop_loss" in traces["exits"]["text"][0]
    equity_figure = re.search(r'id="equity-chart-figure">(.*?)</script>', markup, re.DOTALL)
    assert equity_figure is not None
    assert "buy and hold" in equity_figure.group(1)


def test_report_falls_back_to_svg_without_plotly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "plotly.offline", None)  # as if not installed
    trades, equity, context = two_symbol_run()
    result = compute_stats(equity, trades)

    page = Page(render_html(result, trades, equity, context=context))

    assert page.notice
    assert page.markers["price-chart-0"]["entry-marker"] == 2
    with pytest.raises(ImportError, match=r"libra-trader\[report\]"):
        render_html(result, trades, equity, context=context, charts="plotly")


def fill(cid: str, side: str, price: str, ts: int) -> Fill:
    return Fill(client_order_id=cid, venue_order_id=None, trade_id=f"t-{cid}", strategy_id="s",
                venue="paper", symbol="BTC/USDT", side=side, quantity=Decimal(1),  # type: ignore[arg-type]
                price=Decimal(price), fee=Decimal(0), fee_currency="USDT", liquidity="taker",
                ts_event=ts, ts_recv=ts)


def test_round_trips_carry_the_orders_tags() -> None:
    fills = [fill("a", "buy", "100", 1), fill("b", "sell", "110", 2),
             fill("c", "buy", "105", 3), fill("d", "sell", "101", 4)]

    trades = round_trips(fills, {"a": "breakout", "b": "roi", "d": "stop_loss"})

    assert [(t.entry_tag, t.exit_tag) for t in trades] == [("breakout", "roi"),
                                                          (None, "stop_loss")]


def test_run_facts_come_from_the_config_without_secrets() -> None:
    from libra.backtest.report_data import context_from_config
    from libra.testing.factories import paper_config, paper_gateway

    gateway = paper_gateway(symbol="ETH/BTC", data="bundled:ETH_BTC-5m", balances={"BTC": "10"},
                            taker_fee="0.001", maker_fee="0.0005", slippage_bps="2")
    strategy = {"id": "sma", "plugin": "sma_cross", "symbols": ["ETH/BTC"],
                "params": {"fast": 10, "api_key": "hunter2-secret"}}
    config = paper_config(strategy, gateway=gateway, environment="backtest",
                          backtest={"start": "2018-01-12", "end": "2018-01-19"})

    context = context_from_config(config)

    assert context.strategy == "sma (sma_cross)"
    assert context.params["fast"] == 10
    assert "hunter2" not in str(context.params["api_key"])
    venue = dict(context.venue)
    assert venue["fees"] == "maker 0.05 %, taker 0.1 %"
    assert venue["slippage (bps)"] == "2"
    assert venue["starting balances"] == "10.00000000 BTC"
    assert dict(context.data) == {"data": "bundled:ETH_BTC-5m ETH/BTC",
                                  "window": "2018-01-12 to 2018-01-19"}
    assert context.currency == "BTC"
