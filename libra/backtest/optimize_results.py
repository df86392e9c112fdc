"""What to do with a finished study: rank it, check it, test it out of sample, keep it.

* ``top_trials`` / ``render_top``: the best N complete trials with their parameters,
  objective, trades and drawdown, so a lucky outlier shows next to its neighbours.
* ``boundary_warnings``: a best value on the edge of its range (``fast=60`` with
  ``high = 60``) means the optimum may lie outside the space searched.
* ``split_window`` / ``out_of_sample``: optimize on the first part of the data, then run
  the top trials on the rest they never saw; a result that holds only in sample is fitted
  noise. Each part starts flat, so a strategy warms up again at the split.
* ``write_best_config``: a copy of the config file with the best parameters written into
  the tuned strategy. TOML keeps every comment and layout (tomlkit); YAML keeps every key
  and value, not its comments (PyYAML cannot).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from libra.backtest.executors import TrialExecutor, worker_config_data
from libra.backtest.optimize import Dimension, Study, TrialResult, objective_value
from libra.core.config import KernelConfig
from libra.core.errors import ConfigError
from libra.core.files import write_text_atomic

_NS = 1_000_000_000


def top_trials(study: Study, count: int) -> list[TrialResult]:
    """Return the ``count`` best complete trials, best first (the earlier on a tie)."""
    sign = -1.0 if study.direction == "maximize" else 1.0
    complete = [t for t in study.trials if t.state == "complete" and t.value is not None]
    return sorted(complete, key=lambda t: (sign * (t.value or 0.0), t.number))[:count]


def render_top(trials: Sequence[TrialResult], objective: str,
               out_of_sample: dict[int, TrialResult] | None = None) -> str:
    """Render trials as an aligned table: rank, trial, params, objective, trades, drawdown;
    with ``out_of_sample`` (trial number -> its run on unseen data), the same three again."""
    names = list(dict.fromkeys(name for t in trials for name in t.params))
    header = ["rank", "trial", *names, objective, "trades", "max_dd"]
    if out_of_sample is not None:
        header = [*header[:-3], f"in {objective}", "in trades", "in max_dd",
                  f"out {objective}", "out trades", "out max_dd"]
    rows = [header]
    for rank, trial in enumerate(trials, 1):
        row = [str(rank), str(trial.number), *(_text(trial.params.get(n)) for n in names),
               *_figures(trial, objective)]
        if out_of_sample is not None:
            other = out_of_sample.get(trial.number)
            row += _figures(other, objective) if other is not None else ["-", "-", "-"]
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
             for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _figures(trial: TrialResult, objective: str) -> list[str]:
    if trial.error:
        return ["failed", "-", "-"]
    value = objective_value(trial.metrics, objective)
    dd = trial.metrics.get("max_dd")
    return ["n/a" if value is None else f"{value:.4g}", str(trial.metrics.get("trades", "-")),
            "n/a" if dd is None else f"{float(dd) * 100:.2f}%"]


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


def boundary_warnings(best: dict[str, Any] | None, space: Sequence[Dimension]) -> list[str]:
    """Return a warning for each best value on the low or high edge of its range."""
    if not best:
        return []
    warnings = []
    for dimension in space:
        if dimension.kind == "choice" or dimension.name not in best:
            continue
        value = best[dimension.name]
        for edge, bound in (("low", dimension.low), ("high", dimension.high)):
            if _same(value, dimension.value(bound)):
                side = "lower" if edge == "low" else "upper"
                warnings.append(
                    f"best {dimension.name}={value} is on the {side} bound of the search "
                    f"space ({edge}={dimension.value(bound)}): the optimum may lie beyond it; "
                    f"widen optimize.space.{dimension.name}")
    return warnings


def _same(a: Any, b: Any) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return bool(a == b)


# -- out of sample --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Split:
    """The in-sample and out-of-sample configs of one data window, and where it splits."""

    in_sample: KernelConfig
    out_of_sample: KernelConfig
    start_ns: int
    split_ns: int
    end_ns: int


def split_window(config: KernelConfig, fraction: float) -> Split:
    """Split the backtest window so the last ``fraction`` of its time is held out.

    Raises:
        ConfigError: ``fraction`` is not in (0, 1), or the window holds no market data.
    """
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"invalid out-of-sample fraction, was {fraction} (expected a number "
                          "between 0 and 1, e.g. 0.3)", field="oos")
    start_ns, end_ns = data_span(config)
    # On a whole second: ISO text (the config's window) carries no nanoseconds.
    split_ns = (start_ns + int((end_ns - start_ns) * (1.0 - fraction))) // _NS * _NS
    if not start_ns < split_ns <= end_ns:
        raise ConfigError("the backtest window is too short to split", field="oos")
    inside = _window(config, start_ns, split_ns - _NS)
    outside = _window(config, split_ns, end_ns)
    return Split(inside, outside, start_ns, split_ns, end_ns)


def data_span(config: KernelConfig) -> tuple[int, int]:
    """Return the first and last timestamps of the paper venues' data inside the window."""
    from libra.backtest.api import parse_time_ns
    from libra.gateways.paper.config import PaperGatewayConfig
    from libra.gateways.replay import load_replay_events

    low = parse_time_ns(config.backtest.start)
    high = parse_time_ns(config.backtest.end)
    first: int | None = None
    last: int | None = None
    for gateway in config.gateways:
        if gateway.plugin != "paper" or not gateway.enabled:
            continue
        options = PaperGatewayConfig.model_validate(gateway.plugin_options())
        if options.data.source != "replay":
            continue
        events = load_replay_events(options.data.replay_files(),
                                    options.default_replay_symbol(), gateway.id)
        stamps = [e.ts_event for e in events
                  if (low is None or e.ts_event >= low) and (high is None or e.ts_event <= high)]
        if stamps:
            first = stamps[0] if first is None else min(first, stamps[0])
            last = stamps[-1] if last is None else max(last, stamps[-1])
    if first is None or last is None:
        raise ConfigError("no market data in the backtest window to split (check "
                          "backtest.start/end and the paper venues' data)", field="oos")
    return first, last


def _window(config: KernelConfig, start_ns: int, end_ns: int) -> KernelConfig:
    section = config.backtest.model_copy(update={"start": iso(start_ns), "end": iso(end_ns)})
    return config.model_copy(update={"backtest": section})


def iso(ts_ns: int) -> str:
    """Return ``ts_ns`` as an ISO 8601 UTC date-time to the second."""
    return datetime.fromtimestamp(ts_ns // _NS, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


async def out_of_sample(trials: Sequence[TrialResult], config: KernelConfig, strategy: str,
                        executor: TrialExecutor) -> dict[int, TrialResult]:
    """Run each trial's params on ``config`` (the held-out window); return them by trial."""
    base = worker_config_data(config)
    payloads = [{"config": base, "strategy": strategy, "params": t.params, "number": t.number}
                for t in trials]
    outcomes = await executor.map(payloads, on_done=lambda _outcome: None)
    results = {}
    for outcome in outcomes:
        error = outcome.get("error")
        metrics = outcome.get("metrics") or {}
        results[outcome["number"]] = TrialResult(
            number=outcome["number"], params=outcome["params"], value=None,
            state="failed" if error else "complete", metrics=metrics, error=error)
    return results


# -- the best params, written back ---------------------------------------------------------


def write_best_config(source: str | os.PathLike[str], target: str | os.PathLike[str],
                      strategy: str, params: dict[str, Any]) -> Path:
    """Copy the config file ``source`` to ``target`` with ``params`` set on ``strategy``.

    Raises:
        ConfigError: the file is not TOML or YAML, or does not configure ``strategy``.
    """
    source, target = Path(source), Path(target)
    suffix = source.suffix.lower()
    text = source.read_text(encoding="utf-8")
    if suffix == ".toml":
        out = _toml_with(text, strategy, params, source)
    elif suffix in (".yaml", ".yml"):
        out = _yaml_with(text, strategy, params, source)
    else:
        raise ConfigError(f"{source}: cannot write parameters into a {suffix or 'plain'} file; "
                          "use a .toml or .yaml config", field="write_config")
    return write_text_atomic(target, out)


def _toml_with(text: str, strategy: str, params: dict[str, Any], source: Path) -> str:
    try:
        import tomlkit
    except ImportError:
        raise ImportError("writing a TOML config needs tomlkit; install it with "
                          "pip install 'libra-trader[optimize]'") from None

    document = tomlkit.parse(text)
    entry = _strategy_entry(document.get("strategies"), strategy, source)
    if "params" not in entry:
        entry["params"] = tomlkit.inline_table()
    for name, value in params.items():
        entry["params"][name] = value
    return tomlkit.dumps(document)


def _yaml_with(text: str, strategy: str, params: dict[str, Any], source: Path) -> str:
    import yaml

    data = yaml.safe_load(text) or {}
    entry = _strategy_entry(data.get("strategies"), strategy, source)
    entry["params"] = {**(entry.get("params") or {}), **params}
    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def _strategy_entry(strategies: Any, strategy: str, source: Path) -> Any:
    for entry in strategies or []:
        if entry.get("id") == strategy:
            return entry
    raise ConfigError(f"{source}: no strategy with id {strategy!r} to write parameters into",
                      field="strategies")
