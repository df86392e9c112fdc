"""Tests for libra.backtest.optimize: the space, the methods, objectives, resumable studies."""

from __future__ import annotations

import itertools
import math
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from libra.backtest.executors import trial_config, worker_config_data
from libra.backtest.optimize import (
    Dimension,
    build_space,
    grid_points,
    objective_names,
    objective_value,
    optimize,
    optimize_strategy,
)
from libra.core.config import KernelConfig, ParamSpec
from libra.core.errors import ConfigError
from libra.strategies.sma_cross import SmaCross, SmaCrossConfig
from libra.testing.factories import paper_config, paper_gateway

DATA_OPTIONS: dict[str, Any] = {
    "data": "bundled:ETH_BTC-5m", "symbol": "ETH/BTC", "starting_balances": {"BTC": "10"},
    "start": "2018-01-12", "end": "2018-01-16", "params": {"quantity": "1"},
}


def study_config(tmp_path: Path | None = None, **optimize_section: Any) -> KernelConfig:
    """Return sma_cross on four days of real ETH/BTC 5m bars with an optimize section."""
    section = {"method": "grid", "trials": 50, "workers": 1, **optimize_section}
    section.setdefault("space", {"fast": {"low": 5, "high": 15, "step": 5},
                                 "slow": {"choices": [40, 60]}})
    gateway = paper_gateway(symbol="ETH/BTC", data="bundled:ETH_BTC-5m",
                            balances={"BTC": "10"})
    sma = {"id": "sma", "plugin": "sma_cross",
           "params": {"fast": 10, "slow": 30, "quantity": "1"}}
    return paper_config(
        sma, gateway=gateway, environment="backtest", log_plugins=False,
        logging={"log_orders": False}, backtest={"start": "2018-01-12", "end": "2018-01-16"},
        optimize=section,
    )


# -- the space ------------------------------------------------------------------------------


def test_integral_bounds_infer_int() -> None:
    fast = Dimension.from_spec("fast", ParamSpec(low=5, high=22, step=5))

    assert fast.kind == "int"
    assert fast.grid_values() == [5, 10, 15, 20]


def test_float_and_decimal_grids_are_exact() -> None:
    spec = {"low": 0.1, "high": 0.3, "step": 0.1}

    as_float = Dimension.from_spec("f", ParamSpec(**spec))
    as_decimal = Dimension.from_spec("d", ParamSpec(**spec, type="decimal"))

    assert as_float.grid_values() == [0.1, 0.2, 0.3]
    assert as_decimal.grid_values() == ["0.1", "0.2", "0.3"]


def test_sampled_decimal_lands_on_the_step() -> None:
    quantity = Dimension.from_spec("q", ParamSpec(low=0.05, high=1, step=0.05, type="decimal"))

    assert quantity.from_sample(0.30000000000000004) == "0.30"
    assert Decimal(quantity.from_sample(0.1 + 0.2)) == Decimal("0.3")


def test_grid_of_float_without_step_is_refused() -> None:
    with pytest.raises(ConfigError, match="a grid needs a step"):
        build_space({"ratio": ParamSpec(low=0.5, high=1.5)})[0].grid_values()


def test_invalid_specs_name_the_parameter() -> None:
    with pytest.raises(ConfigError, match=r"optimize\.space\.fast: type int"):
        Dimension.from_spec("fast", ParamSpec(low=0.5, high=2, type="int"))
    with pytest.raises(ConfigError, match="log needs low > 0"):
        Dimension.from_spec("x", ParamSpec(low=0, high=2.5, log=True))
    with pytest.raises(ConfigError, match=r"optimize\.space is empty"):
        build_space({})


def test_grid_points_are_the_cartesian_product() -> None:
    space = build_space({"a": ParamSpec(low=1, high=3), "b": ParamSpec(choices=["x", "y"]),
                         "c": ParamSpec(low=0.5, high=1.0, step=0.25, type="decimal")})

    points = grid_points(space)

    expected = itertools.product([1, 2, 3], ["x", "y"], ["0.50", "0.75", "1.00"])
    assert [tuple(p.values()) for p in points] == list(expected)


def test_decimal_param_reaches_strategy_exactly() -> None:
    config = study_config()
    payload = {"config": worker_config_data(config), "strategy": "sma", "number": 0,
               "params": {"quantity": "0.1", "fast": 7}}

    rebuilt = trial_config(payload)

    params = SmaCrossConfig.model_validate(rebuilt.strategies[0].params)
    assert params.quantity == Decimal("0.1")
    assert params.fast == 7
    assert rebuilt.backtest == config.backtest
    assert rebuilt.gateways == config.gateways


# -- objectives -----------------------------------------------------------------------------


def test_objective_value_drops_undefined() -> None:
    assert objective_value({"sharpe": 1.5}, "sharpe") == 1.5
    assert objective_value({"final_equity": "10.25"}, "final_equity") == 10.25
    assert objective_value({"sharpe": None}, "sharpe") is None
    assert objective_value({"sharpe": math.nan}, "sharpe") is None
    assert objective_value({"max_dd_recovered": True}, "max_dd_recovered") is None


async def test_unknown_objective_names_the_available_metrics() -> None:
    with pytest.raises(ConfigError, match="'happiness' is not a metric") as caught:
        await optimize(study_config(objective="happiness"))

    assert {"sharpe", "total_return", "max_dd", "final_equity", "trades"} <= set(
        objective_names())
    for name in ("sharpe", "total_return", "max_dd"):
        assert name in str(caught.value)
    assert "max_dd_duration," not in str(caught.value)


async def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"'nope' is not a configured strategy.*\['sma'\]"):
        await optimize(study_config(strategy="nope"))


# -- methods --------------------------------------------------------------------------------


async def test_grid_runs_the_exact_cartesian_product() -> None:
    study = await optimize(study_config())

    assert [t.params for t in study.trials] == [
        {"fast": f, "slow": s} for f, s in itertools.product([5, 10, 15], [40, 60])]
    assert [t.number for t in study.trials] == list(range(6))
    assert study.grid_size == 6
    assert study.notes == []
    assert all(t.state == "complete" and t.fingerprint for t in study.trials)
    assert len({t.fingerprint for t in study.trials}) == 6
    best = max(study.trials, key=lambda t: t.value or -math.inf)
    assert study.best_params == best.params
    assert study.best_value == best.metrics["sharpe"]


async def test_grid_is_capped_by_trials_and_says_so() -> None:
    study = await optimize(study_config(trials=4))

    assert len(study.trials) == 4
    assert study.grid_size == 6
    assert "grid of 6 points capped at trials = 4" in study.notes[0]


async def test_minimize_picks_the_smallest_value() -> None:
    study = await optimize(study_config(objective="max_dd", direction="minimize"))

    values = [t.value for t in study.trials if t.value is not None]
    assert study.best_value == min(values)
    assert study.to_dict()["direction"] == "minimize"


async def test_bad_params_fail_and_undefined_objective_prunes() -> None:
    """fast >= slow cannot build; a slow average longer than the data never trades."""
    space = {"fast": {"choices": [10, 60]}, "slow": {"choices": [40, 5_000]}}

    study = await optimize(study_config(space=space))

    states = {(t.params["fast"], t.params["slow"]): t.state for t in study.trials}
    assert states == {(10, 40): "complete", (10, 5_000): "pruned",
                      (60, 40): "failed", (60, 5_000): "pruned"}
    failed = next(t for t in study.trials if t.state == "failed")
    assert failed.error is not None
    assert "fast (60) must be smaller than slow (40)" in failed.error
    assert study.best_params == {"fast": 10, "slow": 40}
    assert study.to_dict()["counts"] == {"complete": 1, "pruned": 2, "failed": 1}


async def test_tpe_with_a_seed_is_reproducible() -> None:
    space = {"fast": {"low": 4, "high": 20, "step": 2}, "slow": {"low": 30, "high": 90,
                                                                  "step": 10}}
    config = study_config(method="tpe", trials=14, seed=7, space=space)

    first = await optimize(config)
    second = await optimize(config)

    assert [t.params for t in first.trials] == [t.params for t in second.trials]
    assert first.best_params == second.best_params
    assert first.best_value == second.best_value
    assert len(first.trials) == 14


async def test_random_sampler_depends_on_seed() -> None:
    space = {"fast": {"low": 4, "high": 20}, "slow": {"low": 30, "high": 90}}

    seed_0 = await optimize(study_config(method="random", trials=4, seed=0, space=space))
    seed_1 = await optimize(study_config(method="random", trials=4, seed=1, space=space))

    assert [t.params for t in seed_0.trials] != [t.params for t in seed_1.trials]
    assert all(4 <= t.params["fast"] <= 20 for t in seed_0.trials)


async def test_resumed_study_continues_counting(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    config = study_config(method="random", trials=3, storage=storage, study_name="resume")

    first = await optimize(config)
    resumed = await optimize(config)

    assert [t.number for t in first.trials] == [0, 1, 2]
    assert [t.number for t in resumed.trials] == [0, 1, 2, 3, 4, 5]
    assert [t.to_dict() for t in resumed.trials[:3]] == [t.to_dict() for t in first.trials]
    assert resumed.study_name == "resume"
    assert resumed.trials[0].metrics["trades"] == first.trials[0].metrics["trades"]


async def test_resumed_grid_skips_points_already_tried(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'grid.db'}"

    first = await optimize(study_config(trials=4, storage=storage))
    rest = await optimize(study_config(trials=50, storage=storage))

    assert len(first.trials) == 4
    assert [t.number for t in rest.trials] == list(range(6))
    assert sorted((t.params["fast"], t.params["slow"]) for t in rest.trials) == sorted(
        itertools.product([5, 10, 15], [40, 60]))
    assert rest.study_name == "libra.sma"


async def test_grid_needs_no_optuna(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if the extra were not installed

    study = await optimize(study_config(trials=2))
    assert len(study.trials) == 2

    with pytest.raises(ImportError, match=r"method 'tpe' needs Optuna.*libra-trader\[optimize\]"):
        await optimize(study_config(method="tpe"))
    with pytest.raises(ImportError, match=r"optimize\.storage needs Optuna"):
        await optimize(study_config(storage="sqlite:///never.db"))


async def test_ray_executor_without_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)

    with pytest.raises(ImportError, match=r"libra-trader\[ray\]"):
        await optimize(study_config(executor="ray"))


# -- the seed's StrategyPlugin hooks --------------------------------------------------------


async def test_strategy_backtest_default_returns_metrics() -> None:
    strategy = SmaCross({"fast": 10, "slow": 30, "quantity": "1", "symbols": ["ETH/BTC"]})

    metrics = await strategy.backtest(DATA_OPTIONS)

    assert {"sharpe", "max_dd", "total_return", "trades", "fingerprint"} <= metrics.keys()
    assert metrics["trades"] > 0
    assert strategy.fills == 2 * metrics["trades"]  # this very object traded


async def test_strategy_optimize_default_returns_best_params() -> None:
    options = {**DATA_OPTIONS, "optimize": {
        "method": "grid", "space": {"fast": {"choices": [5, 10]}, "slow": {"choices": [40]}}}}

    from_instance = await SmaCross().optimize(options)
    from_class = await optimize_strategy(SmaCross, options)

    assert from_instance["best_params"] in ({"fast": 5, "slow": 40}, {"fast": 10, "slow": 40})
    assert isinstance(from_instance["best_value"], float)
    assert from_instance["objective"] == "sharpe"
    assert [t["params"] for t in from_instance["trials"]] == [
        {"fast": 5, "slow": 40}, {"fast": 10, "slow": 40}]
    assert from_class == from_instance


async def test_stored_grid_is_optunas_grid_sampler(tmp_path: Path) -> None:
    """With storage, the grid's points come from Optuna's GridSampler: all of them, once
    each, in an order its seed fixes."""
    orders = []
    for run in ("a", "b"):
        storage = f"sqlite:///{tmp_path / f'{run}.db'}"
        study = await optimize(study_config(storage=storage, seed=7))
        orders.append([(t.params["fast"], t.params["slow"]) for t in study.trials])

    assert orders[0] == orders[1]
    assert sorted(orders[0]) == sorted(itertools.product([5, 10, 15], [40, 60]))
    import optuna

    loaded = optuna.load_study(study_name="libra.sma", storage=f"sqlite:///{tmp_path / 'a.db'}")
    assert all("grid_id" in t.system_attrs for t in loaded.get_trials())
