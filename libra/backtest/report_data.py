"""What the HTML report shows besides the metrics: run facts, prices, breakdowns, buy-and-hold.

Everything here is read from what a run already holds: the trades (for markers and the
breakdowns per symbol, exit reason and month), the fills (for the symbols traded) and the
paper venues' replayed market data (for the price lines and buy-and-hold). Nothing assumes
one symbol: a run over several gets one price chart and one breakdown row per symbol.

Money is shown to its currency's precision with its code (``88,431.39 USD``): cents for fiat
and stablecoins, 8 places (a satoshi) for anything else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np

from libra.backtest.stats import NS_PER_SECOND, TradeRecord
from libra.core.redaction import scrub, scrub_data
from libra.model.numbers import currency_places

_UNTAGGED = "(no tag)"


def format_money(value: Decimal | float | None, currency: str | None = None,
                 *, code: bool = True) -> str:
    """Format money to its currency's precision, with thousands separators and the code."""
    if value is None:
        return "n/a"
    number = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    if not number.is_finite():
        return str(number)
    if currency is None:
        # No currency to take a precision from: up to 8 places (a satoshi), no trailing zeros.
        text = f"{number:,.8f}".rstrip("0").rstrip(".")
        return "0" if text in ("0", "-0") else text
    text = f"{number:,.{currency_places(currency)}f}"
    if text.lstrip("-").strip("0,.") == "":
        text = text.lstrip("-")  # -0.00 is 0.00
    return f"{text} {currency}" if code and currency else text


def format_price(value: Decimal | None) -> str:
    """Format a price with thousands separators and up to 8 significant places after the
    point: ``46,894.689``, ``0.09123456`` (an average exit price can have dozens)."""
    if value is None:
        return "n/a"
    if not value.is_finite():
        return str(value)
    whole_digits = max(len(str(abs(int(value)))), 1) if abs(value) >= 1 else 0
    places = max(2, 8 - whole_digits)
    text = f"{value:,.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_ts(ts_ns: int) -> str:
    """Format nanoseconds since the epoch as ``YYYY-MM-DD HH:MM`` (UTC)."""
    moment = datetime.fromtimestamp(ts_ns // NS_PER_SECOND, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True, slots=True)
class PriceSeries:
    """One symbol's prices over the run (bar closes, trade prices or quote mids)."""

    symbol: str
    stamps: np.ndarray
    prices: np.ndarray

    @property
    def buy_and_hold(self) -> float | None:
        """Return the return of buying at the first price and holding to the last."""
        if self.prices.size < 2 or not self.prices[0] > 0:
            return None
        return float(self.prices[-1] / self.prices[0] - 1.0)


@dataclass(frozen=True, slots=True)
class BreakdownRow:
    """Closed trades grouped by one key (a symbol, an exit reason or a month)."""

    key: str
    trades: int
    wins: int
    pnl: Decimal
    fees: Decimal
    best: Decimal
    worst: Decimal
    duration_ns: int

    @property
    def win_rate(self) -> float:
        """Return the share of winning trades."""
        return self.wins / self.trades

    @property
    def average(self) -> Decimal:
        """Return the average net PnL per trade."""
        return self.pnl / self.trades


@dataclass(slots=True)
class ReportContext:
    """Facts about a run that its results do not hold: who traded what, where, on what data.

    Build one with ``context_from_config``; every field has a default, so a report of bare
    results still renders.
    """

    strategy: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    venue: list[tuple[str, str]] = field(default_factory=list)
    data: list[tuple[str, str]] = field(default_factory=list)
    currency: str | None = None
    prices: dict[str, PriceSeries] = field(default_factory=dict)


def context_from_config(config: Any, kernel: Any = None,
                        window: tuple[int | None, int | None] = (None, None)) -> ReportContext:
    """Describe a backtest of ``config``; with its ``kernel``, add the replayed prices.

    Parameter values pass through the secret scrubber: the file is shared, and a
    strategy's params may hold a key read from the environment.

    Args:
        config: the ``KernelConfig`` the run used.
        kernel: the run's kernel (``BacktestRun.kernel``), whose paper venues hold the data.
        window: the first and last timestamps of the run (ns), to cut the prices to.
    """
    strategies = [s for s in config.strategies if s.enabled]
    params: dict[str, Any] = {}
    for s in strategies:
        for key, value in scrub_data(dict(s.params)).items():
            params[key if len(strategies) == 1 else f"{s.id}.{key}"] = value
    venue: list[tuple[str, str]] = []
    data: list[tuple[str, str]] = []
    for gateway in config.gateways:
        prefix = "" if len(config.gateways) == 1 else f"{gateway.id} "
        options = gateway.plugin_options()
        venue += _venue_facts(prefix, gateway.plugin, options)
        data += _data_facts(prefix, options)
    start, end = config.backtest.start, config.backtest.end
    if start or end:
        data.append(("window", f"{start or 'first event'} to {end or 'last event'}"))
    prices = replayed_prices(kernel, *window) if kernel is not None else {}
    # The engine marks equity in the first symbol's quote currency.
    currency = _quote(next(iter(prices))) if prices else _first_balance(config)
    return ReportContext(strategy=", ".join(f"{s.id} ({s.plugin})" for s in strategies),
                         params=params, venue=venue, data=data, currency=currency,
                         prices=prices)


def _data_facts(prefix: str, options: Mapping[str, Any]) -> list[tuple[str, str]]:
    source = options.get("data") or {}
    if not isinstance(source, Mapping) or not source.get("path"):
        return []
    text = " ".join(str(part) for part in (source["path"], source.get("symbol"),
                                           source.get("timeframe")) if part)
    return [(f"{prefix}data", scrub(text))]


def _first_balance(config: Any) -> str | None:
    for gateway in config.gateways:
        balances = gateway.plugin_options().get("starting_balances") or {}
        if balances:
            return str(next(iter(balances)))
    return None


def currency_of_run(config: Any, run: Any) -> str | None:
    """Return the currency a run's equity is in: its first symbol's quote currency, else the
    first starting balance's."""
    symbols = symbols_traded(run.trades, run.fills)
    return _quote(symbols[0]) if symbols else _first_balance(config)


def _venue_facts(prefix: str, plugin: str, options: Mapping[str, Any]) -> list[tuple[str, str]]:
    facts = [(f"{prefix}venue", plugin)]
    maker, taker = options.get("maker_fee"), options.get("taker_fee")
    if maker is not None or taker is not None:
        facts.append((f"{prefix}fees", f"maker {_percent_text(maker)}, "
                                       f"taker {_percent_text(taker)}"))
    for key, label in (("slippage_bps", "slippage (bps)"), ("bar_execution", "bar execution"),
                       ("latency_ms", "latency (ms)")):
        if options.get(key) is not None:
            facts.append((f"{prefix}{label}", str(options[key])))
    balances = options.get("starting_balances") or {}
    if balances:
        facts.append((f"{prefix}starting balances", ", ".join(
            format_money(Decimal(str(v)), k) for k, v in balances.items())))
    return facts


def _percent_text(value: Any) -> str:
    if value is None:
        return "default"
    return f"{Decimal(str(value)) * 100:f}".rstrip("0").rstrip(".") + " %"


def _quote(symbol: str) -> str:
    return symbol.split("/")[-1].split(":")[0] if "/" in symbol else symbol


def replayed_prices(kernel: Any, start_ns: int | None = None,
                    end_ns: int | None = None) -> dict[str, PriceSeries]:
    """Return each symbol's prices from the kernel's paper venues, cut to the window."""
    columns: dict[str, tuple[list[int], list[float]]] = {}
    for gateway in kernel.gateways.values():
        for event in getattr(gateway, "replay_events", None) or ():
            ts = event.ts_event
            if (start_ns is not None and ts < start_ns) or (end_ns is not None and ts > end_ns):
                continue
            price = getattr(event, "price", None)
            if price is None:
                continue
            stamps, values = columns.setdefault(event.symbol, ([], []))
            stamps.append(ts)
            values.append(float(price))
    return {symbol: PriceSeries(symbol, np.asarray(stamps, dtype=np.int64),
                                np.asarray(values, dtype=np.float64))
            for symbol, (stamps, values) in sorted(columns.items())}


def symbols_traded(trades: Iterable[TradeRecord], fills: Iterable[Any] = ()) -> list[str]:
    """Return every symbol of the trades and fills, in order of first appearance."""
    seen: dict[str, None] = {}
    for trade in trades:
        seen.setdefault(trade.symbol)
    for fill in fills:
        seen.setdefault(fill.symbol)
    return list(seen)


def breakdown(trades: Sequence[TradeRecord], key: str) -> list[BreakdownRow]:
    """Group closed trades by ``symbol``, ``exit_tag`` (the exit reason) or ``month``.

    Months are the exit's UTC calendar month (``2022-01``) and come in time order; the
    other groups are sorted by net PnL, best first.
    """
    groups: dict[str, list[TradeRecord]] = {}
    for trade in trades:
        groups.setdefault(_group_key(trade, key), []).append(trade)
    rows = [BreakdownRow(
        key=name, trades=len(group), wins=sum(1 for t in group if t.pnl > 0),
        pnl=sum((t.pnl for t in group), Decimal(0)), fees=sum((t.fees for t in group), Decimal(0)),
        best=max(t.pnl for t in group), worst=min(t.pnl for t in group),
        duration_ns=sum(t.duration_ns for t in group) // len(group),
    ) for name, group in groups.items()]
    if key == "month":
        return sorted(rows, key=lambda row: row.key)
    return sorted(rows, key=lambda row: (-row.pnl, row.key))


def _group_key(trade: TradeRecord, key: str) -> str:
    if key == "symbol":
        return trade.symbol
    if key == "exit_tag":
        return trade.exit_tag or _UNTAGGED
    if key == "month":
        return datetime.fromtimestamp(trade.exit_ts_ns // NS_PER_SECOND, tz=UTC).strftime("%Y-%m")
    raise ValueError(f"invalid breakdown key, was {key!r} (expected symbol, exit_tag or month)")


def buy_and_hold_curve(prices: Mapping[str, PriceSeries], stamps: np.ndarray,
                       capital: float, currency: str | None) -> np.ndarray | None:
    """Return the equity of ``capital`` split evenly over the symbols quoted in ``currency``,
    bought at their first price and held (no fees), at each of ``stamps``; None if none is."""
    held = [s for s in prices.values()
            if s.prices.size and s.prices[0] > 0 and (currency is None or
                                                      _quote(s.symbol) == currency)]
    if not held or not stamps.size:
        return None
    share = capital / len(held)
    total = np.zeros(stamps.size, dtype=np.float64)
    for series in held:
        # The last price at or before each stamp; the first price before the series starts.
        index = np.searchsorted(series.stamps, stamps, side="right") - 1
        total += share * series.prices[np.maximum(index, 0)] / series.prices[0]
    return total
