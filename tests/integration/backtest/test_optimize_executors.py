"""The optimizer's trials give the same results in this process, in worker processes, on Ray."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from libra.backtest.optimize import Study, optimize

GRID = {"fast": {"choices": [8, 12]}, "slow": {"low": 30, "high": 50, "step": 20}}


def outcomes(study: Study) -> list[tuple[Any, ...]]:
    """Return what must not depend on where a trial ran."""
    return [(t.number, t.params, t.state, t.value, t.fingerprint) for t in study.trials]


async def test_worker_processes_match_in_process_trials(make_config) -> None:
    inline = await optimize(make_config(optimize={"method": "grid", "space": GRID}))
    pooled = await optimize(make_config(optimize={"method": "grid", "space": GRID,
                                                  "workers": 2}))

    assert len(pooled.trials) == 4
    assert all(t.state == "complete" for t in pooled.trials)
    assert outcomes(pooled) == outcomes(inline)
    assert pooled.best_params == inline.best_params


async def test_tpe_in_worker_processes_matches_in_process(make_config) -> None:
    """Trials are told in trial order, so the sampler sees the same history either way."""
    section = {"method": "tpe", "trials": 6, "seed": 3, "workers": 2,
               "space": {"fast": {"low": 4, "high": 20}, "slow": {"low": 30, "high": 60}}}

    pooled = await optimize(make_config(optimize=section))
    inline = await optimize(make_config(optimize={**section, "workers": 1}))

    # Batches of two asks before any tell differ from one ask per tell only after the
    # sampler's random start-up trials; here all six are start-up trials.
    assert outcomes(pooled) == outcomes(inline)


@pytest.mark.timeout(300)
async def test_ray_local_instance_matches_in_process_trials(make_config) -> None:
    pytest.importorskip("ray", reason="Ray is the optional extra libra-trader[ray]")
    if "RAY_ADDRESS" in os.environ and os.environ.get("LIBRA_TEST_RAY") != "1":
        pytest.skip("RAY_ADDRESS points at a cluster; set LIBRA_TEST_RAY=1 to use it")
    inline = await optimize(make_config(optimize={"method": "grid", "space": GRID}))

    started = time.perf_counter()
    on_ray = await optimize(make_config(optimize={"method": "grid", "space": GRID,
                                                  "workers": 2, "executor": "ray"}))
    elapsed = time.perf_counter() - started

    assert outcomes(on_ray) == outcomes(inline)
    assert elapsed < 120, f"a local Ray instance took {elapsed:.0f} s"
