"""Where optimizer trials run: in this process, in worker processes, or on a Ray cluster.

A trial travels as plain JSON-able data (``TrialPayload``): the whole kernel config,
the id of the strategy being tuned and the parameters to try. Each worker rebuilds the
``KernelConfig`` from that data and runs one full, fresh backtest, so the result depends
on the payload alone, wherever it runs. Worker processes are started with ``spawn``: no
event loop, lock or open file of the parent leaks into them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Protocol

TrialPayload = dict[str, Any]
TrialOutcome = dict[str, Any]
OnDone = Callable[[TrialOutcome], None]

RAY_EXTRA = "pip install 'libra-trader[ray]'"


def worker_config_data(config: Any) -> dict[str, Any]:
    """Return ``config`` as JSON-able data a worker can validate back into a ``KernelConfig``."""
    # The HTTP section holds a SecretStr and plays no part in a backtest.
    data: dict[str, Any] = config.model_dump(mode="json", by_alias=True, exclude={"http"})
    data["environment"] = "backtest"
    data["log_plugins"] = False
    return data


def trial_config(payload: TrialPayload) -> Any:
    """Rebuild the ``KernelConfig`` of one trial: the base config with the trial's params."""
    from libra.core.config import KernelConfig

    data = dict(payload["config"])
    strategies = []
    for strategy in data.get("strategies", []):
        if strategy.get("id") == payload["strategy"]:
            strategy = {**strategy, "params": {**strategy.get("params", {}),
                                               **payload["params"]}}
        strategies.append(strategy)
    data["strategies"] = strategies
    return KernelConfig.model_validate(data)


async def evaluate(payload: TrialPayload) -> TrialOutcome:
    """Run one trial's backtest; a failure becomes an ``error`` entry, never an exception."""
    from libra.backtest.api import run_backtest, run_problems

    outcome: TrialOutcome = {"number": payload["number"], "params": payload["params"]}
    try:
        run = await run_backtest(trial_config(payload))
    except Exception as exc:
        # Edge of one trial: bad params (fast >= slow) or a broken strategy fail this
        # trial only; the study records the error and goes on.
        outcome["error"] = f"{type(exc).__name__}: {exc}"
        return outcome
    problems, _ = run_problems(run)
    if problems:  # a FAILED strategy's numbers are not a result to rank
        outcome["error"] = "; ".join(problems)
        return outcome
    outcome["metrics"] = run.metrics()
    outcome["fingerprint"] = run.fingerprint
    return outcome


def run_trial(payload: TrialPayload) -> TrialOutcome:
    """Run one trial synchronously (the entry point of worker processes and Ray tasks)."""
    quiet_logging()
    return asyncio.run(evaluate(payload))


@functools.cache
def quiet_logging() -> None:
    """Send this worker's logs at WARNING and above to the null device (once per process)."""
    from libra.observability.logging import configure_logging

    # One handle per process, kept for the process's lifetime like stderr itself.
    sink = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    configure_logging(level="warning", fmt="json", kernel="optimize-worker", stream=sink)
    logging.getLogger().setLevel(logging.WARNING)


class TrialExecutor(Protocol):
    """Runs a batch of trials and returns their outcomes in payload order."""

    async def map(self, payloads: Sequence[TrialPayload], on_done: OnDone) -> list[TrialOutcome]:
        """Run every payload; call ``on_done`` as each finishes."""
        ...

    def close(self) -> None:
        """Release workers (idempotent)."""
        ...


class InlineExecutor:
    """Run trials one after another in this process and this event loop (``workers = 1``)."""

    async def map(self, payloads: Sequence[TrialPayload], on_done: OnDone) -> list[TrialOutcome]:
        """Run every payload in order."""
        outcomes = []
        for payload in payloads:
            outcome = await evaluate(payload)
            on_done(outcome)
            outcomes.append(outcome)
        return outcomes

    def close(self) -> None:
        """Nothing to release."""


class ProcessExecutor:
    """Run trials in a pool of ``workers`` spawned processes."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=quiet_logging,
        )

    async def map(self, payloads: Sequence[TrialPayload], on_done: OnDone) -> list[TrialOutcome]:
        """Run every payload in the pool."""
        loop = asyncio.get_running_loop()
        futures = [loop.run_in_executor(self._pool, run_trial, p) for p in payloads]
        return await _gather(futures, on_done)

    def close(self) -> None:
        """Shut the pool down, cancelling trials not yet started."""
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """Run trials as Ray tasks: on the cluster at ``RAY_ADDRESS``, else on a local instance."""

    def __init__(self, workers: int) -> None:
        ray = import_ray()
        self._ray = ray
        self._owned = not ray.is_initialized()
        if self._owned:
            address = os.environ.get("RAY_ADDRESS")
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        self._remote = ray.remote(run_trial)

    async def map(self, payloads: Sequence[TrialPayload], on_done: OnDone) -> list[TrialOutcome]:
        """Send every payload as one Ray task."""
        refs = [self._remote.remote(p) for p in payloads]
        return await _gather([asyncio.wrap_future(ref.future()) for ref in refs], on_done)

    def close(self) -> None:
        """Shut down the Ray instance this executor started (a cluster it joined stays up)."""
        if self._owned and self._ray.is_initialized():
            self._ray.shutdown()
        self._owned = False


def import_ray() -> Any:
    """Import Ray, or raise an ``ImportError`` naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise ImportError(f"executor 'ray' needs Ray; install it with {RAY_EXTRA}") from None
    return ray


def make_executor(kind: str, workers: int) -> TrialExecutor:
    """Return the executor for ``optimize.executor`` and ``optimize.workers``."""
    if kind == "ray":
        return RayExecutor(workers)
    if workers <= 1:
        return InlineExecutor()
    return ProcessExecutor(workers)


async def _gather(futures: Sequence[asyncio.Future[Any]], on_done: OnDone) -> list[TrialOutcome]:
    def report(future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is None:
            on_done(future.result())

    for future in futures:
        future.add_done_callback(report)
    return list(await asyncio.gather(*futures))
