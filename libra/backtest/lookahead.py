"""Lookahead check: does a strategy decide the same with the future hidden?

A strategy that reads a candle it could not have seen yet (a ``shift(-1)``, a signal
computed over the whole file) backtests beautifully and trades badly. Live, decisions are
made closed candle by closed candle; so the check runs the strategy that way and over the
full history, and lists every candle where the two disagree.

* A freqtrade strategy: the adapter's two modes. Per candle (incremental, as live: the
  indicators see only the candles closed so far) against precomputed (freqtrade's
  vectorised pass over the whole file, as its backtester runs it).
* A native strategy: the full backtest's orders against replays cut at sampled candles.
  A cut replay ends at that candle for everything the config names: the venue's data
  files and any strategy parameter naming one of them are replaced by copies cut there.
  Up to the cut, the orders of a strategy without lookahead are the full run's.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from libra.backtest.api import parse_time_ns
from libra.backtest.engine import BacktestEngine
from libra.core.config import KernelConfig
from libra.data import load_bars
from libra.gateways.paper.config import PaperDataConfig

#: Where a freqtrade strategy's decision sits: (candle open ns, enter, exit, tags)
Decision = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Difference:
    """One candle where the strategy decided differently with the future hidden."""

    ts_ns: int
    symbol: str
    strategy_id: str
    incremental: str
    full_history: str


@dataclass(frozen=True, slots=True)
class LookaheadReport:
    """What the check compared and where the decisions differ."""

    strategy_id: str
    method: str
    compared: int
    differences: list[Difference]


async def check_lookahead(config: KernelConfig, samples: int = 8) -> list[LookaheadReport]:
    """Check every enabled strategy of ``config``; return one report per strategy."""
    base = _quiet(config)
    reports = []
    for strategy in base.strategies:
        if not strategy.enabled:
            continue
        if strategy.plugin == "freqtrade" or strategy.plugin.endswith(":FreqtradeAdapter"):
            reports.append(await _check_freqtrade(base, strategy.id))
        else:
            reports.append(await _check_native(base, strategy.id, samples))
    return reports


def _quiet(config: KernelConfig) -> KernelConfig:
    data = config.model_dump(mode="json", by_alias=True, exclude={"http"})
    data["environment"] = "backtest"
    data["log_plugins"] = False
    # Closing at the end adds orders a cut run would place at its own end.
    data.setdefault("backtest", {})["force_exit"] = False
    data["backtest"]["report"] = data["backtest"]["json"] = None
    return KernelConfig.model_validate(data)


def _only(config: KernelConfig, strategy_id: str, params: dict[str, Any] | None = None
          ) -> KernelConfig:
    data = config.model_dump(mode="json", by_alias=True, exclude={"http"})
    kept = []
    for strategy in data["strategies"]:
        if strategy["id"] == strategy_id:
            if params is not None:
                strategy["params"] = params
            kept.append(strategy)
    data["strategies"] = kept
    return KernelConfig.model_validate(data)


# -- freqtrade ---------------------------------------------------------------------------


async def _check_freqtrade(config: KernelConfig, strategy_id: str) -> LookaheadReport:
    strategy = next(s for s in config.strategies if s.id == strategy_id)
    params = dict(strategy.params)
    history = params.get("history") or _replay_path(config, strategy.gateway)
    if history is None:
        raise ValueError(f"strategies.{strategy_id}: the lookahead check needs the replay "
                         "file (data.path of its paper gateway) or params.history")
    per_candle = {k: v for k, v in params.items() if k != "history"}
    incremental = await _freqtrade_signals(_only(config, strategy_id, per_candle), strategy_id)
    full = await _freqtrade_signals(_only(config, strategy_id, {**params, "history": history}),
                                    strategy_id)
    differences = []
    compared = 0
    for (symbol, ts), mine in sorted(incremental.items()):
        theirs = full.get((symbol, ts))
        compared += 1
        if theirs != mine:
            differences.append(Difference(ts, symbol, strategy_id, _signal_text(mine),
                                          _signal_text(theirs)))
    return LookaheadReport(strategy_id, "freqtrade per candle vs whole history", compared,
                           differences)


async def _freqtrade_signals(config: KernelConfig, strategy_id: str
                             ) -> dict[tuple[str, int], Decision]:
    engine = _engine(config)
    await engine.run()
    adapter: Any = engine.kernel.runners[strategy_id].strategy
    return {(symbol, s.ts_open): (s.enter_long, s.exit_long, s.enter_tag, s.exit_tag)
            for symbol, signals in adapter.signals.items() for s in signals}


def _engine(config: KernelConfig) -> BacktestEngine:
    """Return an engine over the config's backtest window (``backtest.start``/``end``)."""
    return BacktestEngine(config, start_ns=parse_time_ns(config.backtest.start),
                          end_ns=parse_time_ns(config.backtest.end))


def _signal_text(signal: Decision | None) -> str:
    if signal is None:
        return "no signal"
    enter, exit_, enter_tag, exit_tag = signal
    words = [f"enter_long{f' ({enter_tag})' if enter_tag else ''}" if enter else "",
             f"exit_long{f' ({exit_tag})' if exit_tag else ''}" if exit_ else ""]
    return ", ".join(w for w in words if w) or "hold"


# -- native ------------------------------------------------------------------------------


async def _check_native(config: KernelConfig, strategy_id: str,
                        samples: int) -> LookaheadReport:
    config = _only(config, strategy_id)
    full, stamps = await _orders(config)
    cuts = _sample(stamps, samples)
    differences: list[Difference] = []
    compared = 0
    with tempfile.TemporaryDirectory(prefix="libra-lookahead-") as folder:
        for cut in cuts:
            cut_orders, _ = await _orders(_cut_config(config, cut, Path(folder)))
            before = [o for o in full if o[0] <= cut]
            if before or cut_orders:  # no order on either side: nothing was compared
                compared += 1
            differences += _order_differences(strategy_id, before, cut_orders)
    return LookaheadReport(strategy_id, f"full backtest vs {len(cuts)} replays cut at "
                           "sampled candles", compared, _unique(differences))


async def _orders(config: KernelConfig) -> tuple[list[Decision], list[int]]:
    engine = _engine(config)
    orders: list[Decision] = []

    def note(event: Any) -> None:
        order = engine.kernel.cache.order(event.client_order_id)
        if order is not None:
            orders.append((order.ts_init, order.symbol, str(order.side), str(order.type),
                           str(order.quantity), str(order.price), str(order.trigger_price)))

    engine.kernel.bus.subscribe("order.*.submitted", note)
    run = await engine.run()
    stamps = sorted({point[0] for point in run.equity})
    return orders, stamps


def _sample(stamps: list[int], samples: int) -> list[int]:
    """Return ``samples`` cut times spread over the second half of the data and its end."""
    if len(stamps) < 4:
        return stamps[-1:]
    start = len(stamps) // 2
    step = max(1, (len(stamps) - 1 - start) // max(1, samples))
    return sorted(set(stamps[start::step][:samples]) | {stamps[-2]})


def _cut_config(config: KernelConfig, cut: int, folder: Path) -> KernelConfig:
    """Return ``config`` with every replay file, and any param naming one, cut at ``cut``.

    Each paper venue replays the cut copies as plain ``files``, whatever named its data
    (a path, files, a directory, a dataset).
    """
    data = config.model_dump(mode="json", by_alias=True, exclude={"http"})
    replaced: dict[str, str] = {}
    for gateway in data["gateways"]:
        holder = gateway if "data" in gateway else gateway.get("options", {})
        source = holder.get("data")
        if gateway.get("plugin") != "paper" or not source or \
                source.get("source", "replay") != "replay":
            continue
        symbols = [symbol for strategy in data["strategies"]
                   if strategy.get("gateway") in (None, gateway["id"])
                   for symbol in strategy.get("symbols", [])]
        spec = PaperDataConfig.model_validate(source)
        files = []
        for file in spec.replay_files(symbols):
            if file.kind != "bars":
                raise ValueError(f"gateways.{gateway['id']}.data: the lookahead check cuts "
                                 f"bar files only, was {file.kind} ({file.path})")
            symbol = file.symbol or spec.symbol
            if file.path not in replaced:
                replaced[file.path] = str(_cut_file(file.path, symbol, file.timeframe, cut,
                                                    folder, len(replaced)))
            files.append({"path": replaced[file.path], "symbol": symbol,
                          "timeframe": file.timeframe})
        holder["data"] = {"source": "replay", "files": files}
    for strategy in data["strategies"]:
        strategy["params"] = _replace_paths(strategy.get("params", {}), replaced)
    return KernelConfig.model_validate(data)


def _cut_file(path: str, symbol: str | None, timeframe: str | None, cut: int, folder: Path,
              number: int) -> Path:
    bars = load_bars(path, symbol=symbol or "X/Y", timeframe=timeframe)
    target = folder / f"cut-{cut}-{number}.csv"
    with target.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "open", "high", "low", "close", "volume"])
        for bar in bars:
            if bar.ts_event <= cut:
                writer.writerow([bar.ts_open // 1_000_000, bar.open, bar.high, bar.low,
                                 bar.close, bar.volume])
    return target


def _replace_paths(value: Any, replaced: dict[str, str]) -> Any:
    if isinstance(value, str):
        return replaced.get(value, value)
    if isinstance(value, dict):
        return {k: _replace_paths(v, replaced) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_paths(v, replaced) for v in value]
    return value


def _order_differences(strategy_id: str, full: list[Decision], cut: list[Decision]
                       ) -> list[Difference]:
    by_time: dict[tuple[int, str], tuple[list[Decision], list[Decision]]] = {}
    for index, orders in enumerate((cut, full)):
        for order in orders:
            by_time.setdefault((order[0], order[1]), ([], []))[index].append(order)
    return [Difference(ts, symbol, strategy_id, _orders_text(mine), _orders_text(theirs))
            for (ts, symbol), (mine, theirs) in sorted(by_time.items()) if mine != theirs]


def _orders_text(orders: list[Decision]) -> str:
    if not orders:
        return "no order"
    return "; ".join(f"{side} {kind} {quantity}" + (f" @ {price}" if price != "None" else "")
                     for _, _, side, kind, quantity, price, _ in orders)


def _unique(differences: Iterable[Difference]) -> list[Difference]:
    return sorted(set(differences), key=lambda d: (d.ts_ns, d.symbol))


def _replay_path(config: KernelConfig, gateway_id: str | None) -> str | None:
    for gateway in config.gateways:
        if gateway_id is None or gateway.id == gateway_id:
            data = gateway.plugin_options().get("data")
            if isinstance(data, dict) and data.get("path"):
                return str(data["path"])
    return None
