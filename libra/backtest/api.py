"""Programmatic backtests: ``run_backtest`` for a config, and the default behind
``StrategyPlugin.backtest()`` (``optimize_strategy``, behind ``optimize()``, is in
``libra.backtest.optimize``).

``run_problems`` says why a finished run is not a result: a strategy that ended FAILED
traded on a fraction of the data, and a window without events measured nothing. Both
look like ordinary (if dull) tables, so ``libra backtest`` and the optimizer ask it
before they report anything.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from libra.backtest.engine import BacktestEngine, BacktestRun
from libra.core.config import KernelConfig
from libra.core.lifecycle import ComponentState
from libra.plugins.base import StrategyPlugin


def parse_time_ns(text: str | None) -> int | None:
    """Parse an ISO date or date-time (UTC unless it says otherwise) to ns since the epoch."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"invalid date/time, was {text!r}; use ISO 8601, e.g. 2022-01-15") \
            from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000_000)


async def run_backtest(
    config: KernelConfig,
    *,
    start: str | None = None,
    end: str | None = None,
    strategy_instances: dict[str, StrategyPlugin] | None = None,
    events: list[Any] | None = None,
) -> BacktestRun:
    """Run one deterministic backtest of ``config`` and return everything it produced."""
    engine = BacktestEngine(
        config,
        strategy_instances=strategy_instances,
        start_ns=parse_time_ns(start or config.backtest.start),
        end_ns=parse_time_ns(end or config.backtest.end),
    )
    return await engine.run(events)


def run_problems(run: BacktestRun) -> tuple[list[str], bool]:
    """Return why ``run`` is not a result, and whether the window had no data at all."""
    if run.events == 0:
        return ["no market data in the backtest window (check --from/--to and the data)"], True
    problems = []
    runners = run.kernel.runners if run.kernel is not None else {}
    for strategy_id, runner in sorted(runners.items()):
        if runner.state is ComponentState.FAILED:
            problems.append(f"strategy {strategy_id!r} ended FAILED after {runner.errors} "
                            "errors; its results cover only part of the data")
    return problems, False


def strategy_config(strategy_cls: type[StrategyPlugin], options: dict[str, Any],
                    params: dict[str, Any] | None = None) -> KernelConfig:
    """Build a backtest ``KernelConfig`` for one strategy from a plain options dict.

    Options: ``data`` (a file or ``bundled:NAME``), ``symbol``, ``kind`` (bars,
    trades, quotes), ``timeframe``, ``starting_balances``, ``gateway`` (more
    paper venue options: fees, slippage, ...), ``params``, ``risk``.
    """
    symbol = options.get("symbol")
    if not options.get("data") or not symbol:
        raise ValueError("a strategy backtest needs 'data' (a file or bundled:NAME) and 'symbol'")
    quote = symbol.split("/")[1].split(":")[0] if "/" in symbol else "USDT"
    gateway = {
        "id": "backtest",
        "plugin": "paper",
        "starting_balances": options.get("starting_balances", {quote: "10000"}),
        "data": {"source": "replay", "path": options["data"], "symbol": symbol,
                 "kind": options.get("kind", "bars"), "timeframe": options.get("timeframe")},
        **options.get("gateway", {}),
    }
    return KernelConfig.model_validate({
        "environment": "backtest",
        "log_plugins": False,
        "logging": {"log_orders": bool(options.get("log_orders", False))},
        "gateways": [gateway],
        "strategies": [{
            "id": options.get("strategy_id", "strategy"),
            "plugin": f"{strategy_cls.__module__}:{strategy_cls.__qualname__}",
            "symbols": [symbol],
            "params": {**options.get("params", {}), **(params or {})},
        }],
        "risk": options.get("risk", {}),
        "backtest": {"start": options.get("start"), "end": options.get("end")},
    })


async def backtest_strategy(strategy: StrategyPlugin, options: dict[str, Any]) -> dict[str, Any]:
    """Backtest this very strategy object; return its metrics (``sharpe``, ``max_dd``, ...)."""
    config = strategy_config(type(strategy), options)
    sid = config.strategies[0].id
    run = await run_backtest(config, strategy_instances={sid: strategy})
    return run.metrics()
