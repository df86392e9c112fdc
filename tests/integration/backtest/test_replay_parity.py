"""A paper replay of a file is the backtest of that file: same fills, stamps included.

``libra run`` with a paper gateway replaying recorded bars runs the live kernel (a strategy
task, the execution engine's task, a state store writing on its own thread). The kernel's
clock is then the data's time (``ReplayClock``), and the feed plays in lockstep: after each
bar it waits until the strategies have handled it and their orders have reached the venue.
So at any speed, with or without a state file, the fills carry the same ids, prices, fees
and timestamps as ``run_backtest`` of the same config gives: the same ``fingerprint``.

Before: at ``speed = 0`` the rate limit counted wall-clock seconds and denied almost every
order, and with a state file an order reached the venue bars after it was placed, so
``sma_cross`` bought again and again before its first fill came back.
"""

from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from libra.backtest.api import run_backtest
from libra.backtest.engine import fingerprint
from libra.core.clock import LiveClock, ReplayClock, SimulatedClock
from libra.core.config import KernelConfig
from libra.core.kernel import TradingKernel
from libra.data.bundled import resolve_data_path
from libra.gateways.paper import PaperGateway
from libra.model.fills import Fill
from libra.testing import eventually
from libra.testing.factories import paper_config, paper_gateway

BARS = 2_000
QUANTITY = Decimal("0.05")


@pytest.fixture
def bars_file(tmp_path: Path) -> Path:
    """The first ``BARS`` one-minute BTC/USD bars of the bundled sample, as a CSV file."""
    path = tmp_path / "btc-usd-1m.csv"
    with gzip.open(resolve_data_path("bundled:BTC_USD-1m"), "rt") as source:
        lines = [line for _, line in zip(range(BARS + 1), source, strict=False)]
    path.write_text("".join(lines))
    return path


def replay_config(bars: Path, environment: str, *, speed: float = 0, loop: bool = False,
                  state_path: Path | None = None) -> KernelConfig:
    """Return sma_cross on ``bars`` through one paper venue, with a rate limit."""
    gateway = paper_gateway(data=str(bars), balances={"USD": "1000000"}, speed=speed,
                            taker_fee="0.0007", slippage_bps="1")
    gateway["data"]["loop"] = loop
    sma = {"id": "sma", "plugin": "sma_cross",
           "params": {"fast": 5, "slow": 20, "quantity": str(QUANTITY)}}
    kernel: dict[str, Any] = {"name": "replay-parity", "shutdown_timeout": 10}
    if state_path is not None:
        kernel["state_path"] = str(state_path)
    # A paper daemon keeps its positions when the data ends; the backtest does too here.
    return paper_config(
        sma, gateway=gateway, environment=environment, log_plugins=False, kernel=kernel,
        logging={"log_orders": False, "heartbeat_interval": 60},
        risk={"max_order_quantity": "5", "max_orders_per_second": 10},
        backtest={"force_exit": False},
    )


async def replay(config: KernelConfig, done: Any = None) -> tuple[TradingKernel, list[Fill]]:
    """Run a kernel until its replay is played (or ``done(feed)``) and it has settled."""
    kernel = TradingKernel(config)
    await kernel.start()
    try:
        venue = kernel.gateways["paper"]
        assert isinstance(venue, PaperGateway)
        finished = done or (lambda feed: feed.finished)
        await eventually(lambda: venue.feed is not None and finished(venue.feed)
                         and kernel.lockstep.is_settled, timeout=60)
    finally:
        await kernel.stop()
    return kernel, list(venue.matching.fills)


def largest_position(fills: list[Fill]) -> Decimal:
    position = largest = Decimal(0)
    for fill in fills:
        position += fill.quantity if fill.side == "buy" else -fill.quantity
        largest = max(largest, abs(position))
    return largest


@pytest.mark.parametrize("speed", [0, 200_000], ids=["full-speed", "paced"])
@pytest.mark.parametrize("with_state", [False, True], ids=["memory", "state-file"])
async def test_paper_replay_fills_like_backtest(
    bars_file: Path, tmp_path: Path, speed: float, with_state: bool
) -> None:
    backtest = await run_backtest(replay_config(bars_file, "backtest"))
    state_path = tmp_path / "state.db" if with_state else None
    kernel, fills = await replay(replay_config(bars_file, "paper", speed=speed,
                                               state_path=state_path))

    assert len(backtest.fills) > 50
    assert fingerprint(fills) == backtest.fingerprint
    assert kernel.status()["orders"] == backtest.orders
    assert largest_position(fills) == QUANTITY


async def test_rate_limit_in_a_full_speed_replay_counts_the_data_time(bars_file: Path) -> None:
    """Orders placed minutes of market time apart are not ten in one second, however fast
    the replay plays them."""
    backtest = await run_backtest(replay_config(bars_file, "backtest"))
    kernel, _ = await replay(replay_config(bars_file, "paper", speed=0))

    assert kernel.trading.risk.snapshot()["denials"] == \
        backtest.kernel.trading.risk.snapshot()["denials"] == {}  # type: ignore[union-attr]
    assert kernel.status()["orders"].get("denied", 0) == 0
    assert kernel.status()["orders"]["submitted"] == backtest.orders["submitted"]


async def test_looping_replay_with_state_file_moves_time_forward(
    bars_file: Path, tmp_path: Path
) -> None:
    """Each pass of a looping replay comes after the previous one in time; the strategy
    holds at most its quantity, as in one long backtest."""
    config = replay_config(bars_file, "paper", loop=True, state_path=tmp_path / "state.db")
    kernel, fills = await replay(config, done=lambda feed: feed.passes >= 2)

    stamps = [fill.ts_event for fill in fills]
    assert len(fills) > 100
    assert stamps == sorted(stamps)
    assert largest_position(fills) == QUANTITY
    assert kernel.status()["orders"].get("denied", 0) == 0


async def test_the_clock_is_the_data_time_only_when_every_gateway_replays(
    bars_file: Path,
) -> None:
    fed_by_hand = paper_gateway(data={"source": "none"})
    live = TradingKernel(paper_config({"id": "sma", "plugin": "sma_cross",
                                       "symbols": ["BTC/USD"]}, gateway=fed_by_hand))
    live.build()
    backtest = TradingKernel(replay_config(bars_file, "backtest"))
    backtest.build()
    assert type(live.clock) is LiveClock
    assert type(backtest.clock) is SimulatedClock

    kernel = TradingKernel(replay_config(bars_file, "paper", speed=1))  # a bar a minute
    await kernel.start()
    try:
        venue = kernel.gateways["paper"]
        assert isinstance(venue, PaperGateway)
        await eventually(lambda: venue.feed is not None and venue.feed.emitted == 1)
        assert isinstance(kernel.clock, ReplayClock)
        assert kernel.trading.clock is kernel.clock
        assert kernel.clock.timestamp_ns() == venue.replay_events[0].ts_event
        # The heartbeat measures the process: it runs on the wall clock.
        assert kernel.wall_clock.timer_names() == ["kernel.heartbeat"]
        assert kernel.clock.timer_names() == []
    finally:
        await kernel.stop()
