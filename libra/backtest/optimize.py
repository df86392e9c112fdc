"""Parameter search over full backtests: grid, TPE or random; parallel and resumable.

``optimize(config)`` tunes the params of one strategy (``optimize.strategy``, or the
only one configured) over ``optimize.space``. Every trial is a complete, deterministic
backtest in a fresh kernel, run in worker processes (``workers``) or on Ray
(``executor = "ray"``). Methods:

* ``grid``: every combination of the space; ``trials`` caps how many are run, and the
  study notes when it did. Without ``storage``, the cartesian product in key order in
  plain Python (no Optuna needed); with it, Optuna's ``GridSampler(seed)``, which hands
  out the points in a seeded random order and skips those a resumed study holds.
* ``tpe`` / ``random``: Optuna's ``TPESampler(seed)`` / ``RandomSampler(seed)``, driven
  through ask/tell: ask one batch (``workers`` trials), run it, tell the results in
  trial order, so a seed gives the same study however the workers interleave.

The objective is one metric of the run (``sharpe``, ``total_return``, ``max_dd``, ...).
A trial whose objective is undefined (None or NaN: no trades, a flat curve) is pruned;
a trial whose backtest raised (``fast >= slow``) is failed with its error. Neither ends
the study. With ``storage`` (an Optuna RDB URL such as ``sqlite:///state/optuna.db``)
the study is saved and resumed by ``study_name``; a resumed study keeps counting trial
numbers, and a resumed grid skips the points already tried.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO, Any, Literal, Protocol

import structlog

from libra.backtest.api import strategy_config
from libra.backtest.executors import (
    TrialExecutor,
    TrialOutcome,
    make_executor,
    worker_config_data,
)
from libra.core.config import KernelConfig, ParamSpec
from libra.core.errors import ConfigError
from libra.plugins.base import StrategyPlugin

OPTIMIZE_EXTRA = "pip install 'libra-trader[optimize]'"

TrialState = Literal["complete", "pruned", "failed"]
Kind = Literal["int", "float", "decimal", "choice"]

_log = structlog.get_logger("libra.optimize")


# -- the parameter space ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dimension:
    """One searched parameter, resolved from its ``ParamSpec``."""

    name: str
    kind: Kind
    low: Decimal = Decimal(0)
    high: Decimal = Decimal(0)
    step: Decimal | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    @classmethod
    def from_spec(cls, name: str, spec: ParamSpec) -> Dimension:
        """Resolve a spec; ``auto`` means int when low, high and step are all integral."""
        where = f"optimize.space.{name}"
        if spec.choices is not None:
            choices = [str(_number(c, where)) if spec.type == "decimal" else c
                       for c in spec.choices]
            return cls(name, "choice", choices=tuple(choices))
        low, high = _number(spec.low, where), _number(spec.high, where)
        step = _number(spec.step, where) if spec.step is not None else None
        integral = all(v == v.to_integral_value() for v in (low, high, step) if v is not None)
        kind: Kind = ("int" if integral else "float") if spec.type == "auto" else spec.type
        if kind == "int" and not integral:
            raise ConfigError(f"{where}: type int needs integral low, high and step, was "
                              f"low={spec.low}, high={spec.high}, step={spec.step}", field=where)
        if spec.log and (low <= 0 or (step is not None and not (kind == "int" and step == 1))):
            raise ConfigError(f"{where}: log needs low > 0 and no step, was low={spec.low}, "
                              f"step={spec.step}", field=where)
        if step is not None:
            high = low + (high - low) // step * step  # the last value on the step grid
        return cls(name, kind, low, high, step, spec.log)

    def grid_values(self) -> list[Any]:
        """Return every value of this parameter on a grid, low to high."""
        if self.kind == "choice":
            return list(self.choices)
        step = self.step
        if step is None:
            if self.kind != "int":
                raise ConfigError(f"optimize.space.{self.name}: a grid needs a step for a "
                                  f"{self.kind} parameter", field=f"optimize.space.{self.name}")
            step = Decimal(1)
        count = int((self.high - self.low) // step) + 1
        return [self.value(self.low + i * step) for i in range(count)]

    def value(self, number: Decimal) -> Any:
        """Return ``number`` as the strategy receives it (decimal: an exact string)."""
        if self.kind == "int":
            return int(number)
        if self.kind == "float":
            return float(number)
        return str(number)

    def distribution(self) -> Any:
        """Return the Optuna distribution a sampler draws this parameter from."""
        from optuna import distributions

        if self.kind == "choice":
            return distributions.CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            return distributions.IntDistribution(
                int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        step = float(self.step) if self.step is not None else None
        return distributions.FloatDistribution(
            float(self.low), float(self.high), log=self.log, step=step)

    def from_sample(self, raw: Any) -> Any:
        """Turn a sampled value into the parameter value (decimal: on the step, as a string)."""
        if self.kind != "decimal":
            return raw
        number = Decimal(repr(float(raw)))
        if self.step is not None:
            exponent = min(_exponent(self.low), _exponent(self.step))
            number = number.quantize(Decimal(1).scaleb(exponent))
        return str(number)


def build_space(space: Mapping[str, ParamSpec]) -> list[Dimension]:
    """Resolve ``optimize.space`` into dimensions, in the order the config lists them."""
    if not space:
        raise ConfigError("optimize.space is empty; add e.g. "
                          "space.fast = { low = 5, high = 60, step = 5 }", field="optimize.space")
    return [Dimension.from_spec(name, spec) for name, spec in space.items()]


def grid_points(space: Sequence[Dimension]) -> list[dict[str, Any]]:
    """Return the full cartesian product of the space, the last parameter varying fastest."""
    names = [d.name for d in space]
    values = [d.grid_values() for d in space]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]


def _number(value: Any, where: str) -> Decimal:
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"{where}: not a number, was {value!r}", field=where) from None
    return number


def _exponent(number: Decimal) -> int:
    exponent = number.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0


# -- results ------------------------------------------------------------------------------


@dataclass(slots=True)
class TrialResult:
    """One evaluated parameter set."""

    number: int
    params: dict[str, Any]
    value: float | None
    state: TrialState
    metrics: dict[str, Any] = field(default_factory=dict)
    fingerprint: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-able data."""
        return {"number": self.number, "params": self.params, "value": self.value,
                "state": self.state, "metrics": self.metrics, "fingerprint": self.fingerprint,
                "error": self.error}


@dataclass(slots=True)
class Study:
    """Every trial of one search and the best of them."""

    objective: str
    direction: Literal["maximize", "minimize"]
    method: str
    trials: list[TrialResult]
    study_name: str | None = None
    grid_size: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def best_trial(self) -> TrialResult | None:
        """Return the complete trial with the best value (the first one on a tie)."""
        best: TrialResult | None = None
        sign = 1.0 if self.direction == "maximize" else -1.0
        for trial in self.trials:
            if trial.state == "complete" and trial.value is not None and (
                    best is None or sign * trial.value > sign * (best.value or 0.0)):
                best = trial
        return best

    @property
    def best_params(self) -> dict[str, Any] | None:
        """Return the params of the best trial, or None when no trial completed."""
        best = self.best_trial
        return dict(best.params) if best is not None else None

    @property
    def best_value(self) -> float | None:
        """Return the objective value of the best trial."""
        best = self.best_trial
        return best.value if best is not None else None

    def counts(self) -> dict[str, int]:
        """Return how many trials completed, were pruned and failed."""
        out = {"complete": 0, "pruned": 0, "failed": 0}
        for trial in self.trials:
            out[trial.state] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-able data: ``best_params``, ``best_value``, every trial and notes."""
        return {"best_params": self.best_params, "best_value": self.best_value,
                "objective": self.objective, "direction": self.direction,
                "method": self.method, "study_name": self.study_name,
                "grid_size": self.grid_size, "counts": self.counts(), "notes": list(self.notes),
                "trials": [t.to_dict() for t in self.trials]}


def objective_names() -> list[str]:
    """Return the metric names an objective may use (numbers, or exact decimal strings)."""
    from libra.backtest.stats import compute_stats

    sample = compute_stats([], [], starting_capital=Decimal(1)).to_dict()
    names = [name for name, value in sample.items() if _is_number_like(value)]
    return sorted([*names, "events", "fills"])


def check_objective(name: str) -> None:
    """Raise ``ConfigError`` unless ``name`` is a metric a backtest reports."""
    names = objective_names()
    if name not in names:
        raise ConfigError(f"optimize.objective {name!r} is not a metric; available: "
                          f"{', '.join(names)}", field="optimize.objective")


def objective_value(metrics: Mapping[str, Any], name: str) -> float | None:
    """Return the objective as a finite float, or None when it is undefined."""
    raw = metrics.get(name)
    if raw is None or isinstance(raw, bool):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _is_number_like(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    try:
        return isinstance(value, str) and Decimal(value).is_finite()
    except InvalidOperation:
        return False


def _key(params: Mapping[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


# -- samplers: where the next params come from --------------------------------------------


@dataclass(slots=True)
class _Asked:
    number: int
    params: dict[str, Any]
    handle: Any = None


class _Search(Protocol):
    previous: list[TrialResult]
    remaining: int | None

    def ask(self, count: int) -> list[_Asked]: ...

    def tell(self, asked: _Asked, trial: TrialResult) -> None: ...


class _GridSearch:
    """The grid in plain Python: no Optuna, no storage."""

    def __init__(self, points: list[dict[str, Any]]) -> None:
        self.previous: list[TrialResult] = []
        self._points = iter(points)
        self._number = 0
        self.remaining: int | None = len(points)

    def ask(self, count: int) -> list[_Asked]:
        asked = []
        for params in itertools.islice(self._points, count):
            asked.append(_Asked(self._number, params))
            self._number += 1
        return asked

    def tell(self, asked: _Asked, trial: TrialResult) -> None:
        return None


class _OptunaSearch:
    """An Optuna study (in memory or in storage) driven by ask/tell.

    A grid is Optuna's ``GridSampler``: it hands out each point once, skipping the points a
    resumed study (or a trial still running) already holds.
    """

    def __init__(self, study: Any, space: Sequence[Dimension],
                 points: list[dict[str, Any]] | None) -> None:
        self.study = study
        self.space = space
        self.previous = [t for t in map(_from_frozen, study.get_trials(deepcopy=False)) if t]
        self._grid = points is not None
        if points is not None:
            tried = {_key(t.params) for t in self.previous}
            self.remaining: int | None = sum(1 for p in points if _key(p) not in tried)
            self.distributions = {
                d.name: _categorical(d.grid_values()) for d in space}
        else:
            self.remaining = None
            self.distributions = {d.name: d.distribution() for d in space}

    def ask(self, count: int) -> list[_Asked]:
        asked = []
        for _ in range(count if self.remaining is None else min(count, self.remaining)):
            trial = self.study.ask(self.distributions)
            params = dict(trial.params) if self._grid else {
                d.name: d.from_sample(trial.params[d.name]) for d in self.space}
            asked.append(_Asked(trial.number, params, trial))
        if self.remaining is not None:
            self.remaining -= len(asked)
        return asked

    def tell(self, asked: _Asked, trial: TrialResult) -> None:
        from optuna.trial import TrialState as OptunaState

        asked.handle.set_user_attr("libra", {
            "params": trial.params, "metrics": trial.metrics,
            "fingerprint": trial.fingerprint, "error": trial.error})
        if trial.state == "complete":
            self.study.tell(asked.handle, trial.value)
        else:
            state = OptunaState.PRUNED if trial.state == "pruned" else OptunaState.FAIL
            self.study.tell(asked.handle, state=state)


def _categorical(values: list[Any]) -> Any:
    from optuna import distributions

    return distributions.CategoricalDistribution(values)


def _from_frozen(frozen: Any) -> TrialResult | None:
    states = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}
    state = states.get(frozen.state.name)
    if state is None:
        return None  # running or waiting: left by an interrupted run, not a result
    saved = frozen.user_attrs.get("libra") or {}
    return TrialResult(
        number=frozen.number, params=saved.get("params") or dict(frozen.params),
        value=frozen.value, state=state,  # type: ignore[arg-type]
        metrics=saved.get("metrics") or {}, fingerprint=saved.get("fingerprint"),
        error=saved.get("error"))


def import_optuna(needed_by: str) -> Any:
    """Import Optuna (quietened to warnings), or raise ``ImportError`` naming the extra."""
    try:
        import optuna
    except ImportError:
        raise ImportError(f"{needed_by} needs Optuna; install it with {OPTIMIZE_EXTRA}") \
            from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _open_search(config: KernelConfig, strategy_id: str, space: Sequence[Dimension],
                 points: list[dict[str, Any]] | None) -> _Search:
    section = config.optimize
    if section.method == "grid" and section.storage is None:
        assert points is not None
        return _GridSearch(points)
    needed_by = "optimize.storage" if section.method == "grid" else f"method {section.method!r}"
    optuna = import_optuna(needed_by)
    samplers = optuna.samplers
    if section.method == "grid":
        sampler = _grid_sampler(samplers.GridSampler,
                                {d.name: d.grid_values() for d in space}, section.seed)
    elif section.method == "tpe":
        sampler = samplers.TPESampler(seed=section.seed)
    else:
        sampler = samplers.RandomSampler(seed=section.seed)
    study = optuna.create_study(
        storage=section.storage, study_name=study_name(config, strategy_id),
        sampler=sampler, direction=section.direction, load_if_exists=True)
    return _OptunaSearch(study, space, points)


def _grid_sampler(base: Any, grid: dict[str, list[Any]], seed: int) -> Any:
    """Return Optuna's ``GridSampler`` without its stop at the end of the grid.

    It calls ``study.stop()`` after the last point, which only works inside
    ``study.optimize``; driven by ask/tell, the study never asks past the grid's end.
    """

    class Grid(base):  # type: ignore[misc]
        def after_trial(self, *args: Any) -> None:
            return None

    return Grid(grid, seed=seed)


def study_name(config: KernelConfig, strategy_id: str) -> str:
    """Return ``optimize.study_name``, or ``<kernel name>.<strategy id>``."""
    return config.optimize.study_name or f"{config.name}.{strategy_id}"


def target_strategy(config: KernelConfig) -> str:
    """Return the id of the strategy whose params are searched."""
    ids = [s.id for s in config.strategies if s.enabled]
    wanted = config.optimize.strategy
    if wanted is None:
        if len(ids) == 1:
            return ids[0]
        raise ConfigError(f"optimize.strategy is not set and {len(ids)} strategies are "
                          f"configured; set it to one of {ids}", field="optimize.strategy")
    if wanted not in ids:
        raise ConfigError(f"optimize.strategy {wanted!r} is not a configured strategy; "
                          f"configured: {ids or 'none'}", field="optimize.strategy")
    return wanted


# -- the search loop ----------------------------------------------------------------------


async def optimize(config: KernelConfig, *, progress: bool | None = None,
                   progress_every: int = 10) -> Study:
    """Search the strategy's params with backtests; return every trial and the best.

    Args:
        config: a kernel config with an ``optimize`` section and data to backtest on.
        progress: draw a progress bar on stderr (default: when stderr is a terminal);
            otherwise a line every ``progress_every`` trials (0: none).

    Raises:
        ConfigError: the space, objective or strategy is invalid.
        ImportError: ``tpe``/``random``/``storage`` without Optuna, ``ray`` without Ray.
    """
    section = config.optimize
    strategy_id = target_strategy(config)
    space = build_space(section.space)
    check_objective(section.objective)
    points = grid_points(space) if section.method == "grid" else None
    search = _open_search(config, strategy_id, space, points)
    planned = section.trials if search.remaining is None else min(section.trials,
                                                                  search.remaining)
    study = Study(objective=section.objective, direction=section.direction,
                  method=section.method, trials=list(search.previous),
                  study_name=study_name(config, strategy_id) if section.storage else None,
                  grid_size=len(points) if points is not None else None)
    if search.remaining is not None and search.remaining > section.trials:
        study.notes.append(f"grid of {search.remaining} points capped at trials = "
                           f"{section.trials}; raise trials to run them all")
        _log.warning("optimize.grid_capped", points=search.remaining, trials=section.trials)
    bar = Progress(planned, section.objective, enabled=progress, every=progress_every,
                   direction=section.direction)
    executor = make_executor(section.executor, section.workers)
    # A sampler learns from each batch, so it asks one trial per worker; a grid needs no
    # feedback and takes bigger batches, so fewer workers idle at batch ends.
    batch = section.workers * (4 if points is not None else 1)
    try:
        await _run(search, study, executor, bar, planned,
                   batch=batch, base=worker_config_data(config), strategy=strategy_id)
    finally:
        executor.close()
        bar.close()
    return study


async def _run(search: _Search, study: Study, executor: TrialExecutor, bar: Progress,
               planned: int, *, batch: int, base: dict[str, Any], strategy: str) -> None:
    known = {_key(t.params): t for t in study.trials if t.metrics or t.error}
    done = 0
    while done < planned:
        asked = search.ask(min(batch, planned - done))
        if not asked:
            break
        # The backtest is deterministic: a param set already tried is not run again.
        fresh = {_key(a.params): a for a in reversed(asked) if _key(a.params) not in known}
        payloads = [{"config": base, "strategy": strategy, "params": a.params,
                     "number": a.number} for a in sorted(fresh.values(), key=_number_of)]
        outcomes = await executor.map(
            payloads, on_done=lambda outcome: bar.advance(_value_of(outcome, study.objective)))
        bar.advance(study.best_value, len(asked) - len(payloads))
        by_key = {_key(o["params"]): o for o in outcomes}
        for item in asked:
            key = _key(item.params)
            outcome = by_key.get(key) or _outcome_of(known[key])
            trial = _trial(item, outcome, study.objective)
            search.tell(item, trial)
            study.trials.append(trial)
            known.setdefault(key, trial)
        done += len(asked)


def _value_of(outcome: TrialOutcome, objective: str) -> float | None:
    return None if outcome.get("error") else objective_value(outcome.get("metrics") or {},
                                                             objective)


def _number_of(asked: _Asked) -> int:
    return asked.number


def _outcome_of(trial: TrialResult) -> TrialOutcome:
    return {"metrics": trial.metrics, "fingerprint": trial.fingerprint, "error": trial.error}


def _trial(asked: _Asked, outcome: TrialOutcome, objective: str) -> TrialResult:
    error = outcome.get("error")
    metrics = outcome.get("metrics") or {}
    value = None if error else objective_value(metrics, objective)
    state: TrialState = "failed" if error else ("complete" if value is not None else "pruned")
    return TrialResult(number=asked.number, params=asked.params, value=value, state=state,
                       metrics=metrics, fingerprint=outcome.get("fingerprint"), error=error)


# -- progress -----------------------------------------------------------------------------


class Progress:
    """Progress on stderr: a redrawn bar on a terminal, else a plain line every ``every``
    trials (and one at the end), which a service log or a CI job keeps."""

    def __init__(self, total: int, objective: str, *, enabled: bool | None = None,
                 stream: IO[str] | None = None, width: int = 30, every: int = 10,
                 direction: Literal["maximize", "minimize"] = "maximize") -> None:
        self.stream = stream or sys.stderr
        self.bar = self.stream.isatty() if enabled is None else enabled
        self.every = every
        self.total = total
        self.objective = objective
        self.width = width
        self.done = 0
        self.best: float | None = None
        self._sign = 1.0 if direction == "maximize" else -1.0
        self._started = time.monotonic()
        self._logged = 0

    def advance(self, value: float | None, count: int = 1) -> None:
        """Count finished trials, one of which scored ``value``; redraw (or log every
        ``every`` trials) with the best value so far."""
        self.done += count
        if value is not None and (self.best is None or
                                  self._sign * value > self._sign * self.best):
            self.best = value
        if not count:
            return
        best = self.best
        best_text = "-" if best is None else f"{best:.4g}"
        if self.bar:
            filled = self.width * self.done // max(self.total, 1)
            self.stream.write(f"\roptimize [{'#' * filled}{'.' * (self.width - filled)}] "
                              f"{self.done}/{self.total} best {self.objective}={best_text}")
            self.stream.flush()
        elif self.every > 0 and (self.done // self.every > self._logged // self.every
                                 or self.done >= self.total):
            self._logged = self.done
            elapsed = time.monotonic() - self._started
            self.stream.write(f"optimize: {self.done}/{self.total} trials, best "
                              f"{self.objective}={best_text}, {elapsed:.1f} s\n")
            self.stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        if self.bar and self.done:
            self.stream.write("\n")
            self.stream.flush()


async def optimize_strategy(strategy_cls: type[StrategyPlugin],
                            options: dict[str, Any]) -> dict[str, Any]:
    """Search the strategy's parameters; return ``best_params``, ``best_value`` and trials.

    ``options`` holds the backtest options of ``strategy_config`` plus an
    ``optimize`` table (``space``, ``method``, ``objective``, ``trials``, ...).
    """
    base = strategy_config(strategy_cls, options)
    section = {**options.get("optimize", {}), "strategy": base.strategies[0].id}
    config = base.model_copy(update={"optimize": base.optimize.model_validate(section)})
    study = await optimize(config)
    return study.to_dict()
