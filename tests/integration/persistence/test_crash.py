"""``kill -9`` a paper-trading daemon at random moments, restart it each time: lose nothing.

The daemon replays real bars fast with a quick ``sma_cross``, so it trades several times a
second. It is killed at seeded random moments (while starting up and reconciling, right
after an order's ``order.submitted`` line, right after a fill, at a random time) and started
again with the same config; at the end it is stopped with SIGTERM. Then the state file must
agree with the paper venue's own saved state, fill for fill.
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from daemon_process import Daemon

from libra.core.errors import StateStoreError
from libra.model.fills import Fill
from libra.model.orders import OrderStatus
from libra.persistence import LoadedState, VenueState, read_state, read_venue_states
from libra.persistence.reconcile import LOST_REASON
from libra.persistence.schema import connect_read_only

SEED = 20_240_601
KILLS = 24
STARTING_USD = Decimal(100_000)
CONFIG = """
environment = "paper"
[kernel]
name = "crash-test"
state_path = "{state_path}"
reconcile_confirm_delay = 0
shutdown_timeout = 20.0
[logging]
level = "info"
format = "json"
heartbeat_interval = 0.2
[[gateways]]
id = "paper"
plugin = "paper"
starting_balances = {{ USD = "100000" }}
taker_fee = "0.0007"
slippage_bps = "1"
data = {{ source = "replay", path = "bundled:BTC_USD-1m", symbol = "BTC/USD", speed = 60000 }}
[[strategies]]
id = "sma"
plugin = "sma_cross"
gateway = "paper"
symbols = ["BTC/USD"]
params = {{ fast = 2, slow = 4, quantity = "0.01" }}
[risk]
max_orders_per_second = 40  # the strategy wants more: some orders are denied
"""


class _Run:
    """One daemon process, killed at a random moment."""

    def __init__(self, config: Path) -> None:
        self.daemon = Daemon(config)
        self._consumed = 0

    def wait(self, event: str, timeout: float = 30) -> dict[str, Any]:
        """Return the next log record of ``event`` not read by an earlier wait."""
        position = 0

        def fresh(record: dict[str, Any]) -> bool:
            nonlocal position
            position += 1  # ``wait_for`` shows the lines read so far first, then new ones
            if position <= self._consumed:
                return False
            self._consumed = position
            return record.get("event") == event

        return self.daemon.wait_for(fresh, timeout)

    def kill_at_random_moment(self, rng: random.Random) -> None:
        moment = rng.choice(("starting", "submitted", "submitted", "filled", "running"))
        if moment == "starting":
            time.sleep(rng.uniform(0.2, 1.0))  # restore, reconciliation or the first orders
        else:
            self.wait("kernel.started")
            self.wait("order.submitted")
            if moment == "submitted":  # the next order: its intent is being written
                self.wait("order.submitted")
            elif moment == "filled":
                self.wait("order.filled")
                time.sleep(rng.uniform(0, 0.002))
            else:
                time.sleep(rng.uniform(0.01, 0.3))
        self.daemon.proc.send_signal(signal.SIGKILL)
        self.daemon.finish()


def _read(path: Path) -> tuple[LoadedState, VenueState]:
    conn = connect_read_only(path)
    try:
        return read_state(conn), read_venue_states(conn).get("paper", VenueState("paper"))
    finally:
        conn.close()


def _in_flight(state: LoadedState, venue: VenueState) -> bool:
    """Return True if the process died with an order whose outcome it had not recorded."""
    return bool(state.open_orders) or len(venue.fills) > len(state.fills)


def _fill_key(fill: Fill) -> tuple[Any, ...]:
    return (fill.trade_id, fill.client_order_id, fill.venue_order_id, fill.side,
            fill.quantity, fill.price, fill.fee, fill.ts_event)


def test_kill_9_at_random_moments_loses_nothing(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    state_path = tmp_path / "state.db"
    config = tmp_path / "libra.toml"
    config.write_text(CONFIG.format(state_path=state_path))
    in_flight = 0
    logs: list[str] = []
    for _ in range(KILLS):
        run = _Run(config)
        try:
            run.kill_at_random_moment(rng)
        finally:
            run.daemon.close()
            logs.extend(run.daemon.lines)
        with contextlib.suppress(StateStoreError):  # killed before the file had a schema
            in_flight += _in_flight(*_read(state_path))
    run = _Run(config)
    try:
        run.wait("kernel.started")
        run.wait("order.filled")
        run.daemon.signal(signal.SIGTERM)
        assert run.daemon.finish() == 0, run.daemon.stderr_text()
    finally:
        run.daemon.close()
        logs.extend(run.daemon.lines)

    state, venue = _read(state_path)
    _assert_fills_match_the_venue(state, venue)
    _assert_positions_and_cash_reconcile(state, venue)
    _assert_every_order_sent_once(state, venue, logs)
    _assert_the_replay_never_rewinds(logs)
    assert in_flight >= 2, f"only {in_flight} kills hit an order in flight"


def _assert_fills_match_the_venue(state: LoadedState, venue: VenueState) -> None:
    assert not state.problems
    ours = [_fill_key(f) for f in state.fills]
    theirs = [_fill_key(f) for f in venue.fills]
    assert len(theirs) > 20, "the daemon hardly traded"
    assert len(set(ours)) == len(ours), "a fill was stored twice"
    assert sorted(ours) == sorted(theirs), "store and venue disagree on the fills"
    trade_ids = [f.trade_id for f in venue.fills]
    assert trade_ids == [f"paper-T{n}" for n in range(1, len(trade_ids) + 1)]
    assert venue.account is not None
    assert venue.account.trade_seq == len(trade_ids)


def _assert_positions_and_cash_reconcile(state: LoadedState, venue: VenueState) -> None:
    btc = sum((f.signed_quantity for f in venue.fills), Decimal(0))
    usd = STARTING_USD - sum(
        (f.notional * (1 if f.is_buy else -1) + f.fee for f in venue.fills), Decimal(0))
    assert venue.account is not None
    assert venue.account.balances == {"USD": usd, "BTC": btc}
    assert not any(venue.account.reserved.values())
    positions = {p.symbol: p.quantity for p in state.positions()}
    assert positions == {"BTC/USD": btc}
    portfolio = state.rebuild_portfolio()
    assert portfolio.balances("paper") == {"USD": usd, "BTC": btc}


def _assert_every_order_sent_once(state: LoadedState, venue: VenueState,
                                  logs: list[str]) -> None:
    assert venue.account is not None
    assert venue.account.duplicate_submits == 0
    venue_orders = Counter(o.client_order_id for o in venue.orders)
    assert max(venue_orders.values()) == 1
    assert set(venue_orders) <= set(state.orders), "the venue got an order without an intent"
    numbers = sorted(int(coid.rpartition("-")[2]) for coid in state.orders)
    assert numbers == list(range(1, len(numbers) + 1)), "a client order id was issued twice"
    for coid, order in state.orders.items():
        assert not order.is_open, f"{coid} is still {order.status}"
        if order.status in (OrderStatus.REJECTED, OrderStatus.DENIED):
            # Lost with a killed process, refused by the venue (a second close of a long
            # position while the first is in flight) or denied by risk: never accepted.
            assert coid not in venue_orders
            assert order.status is not OrderStatus.REJECTED or order.reason == LOST_REASON \
                or order.reason.startswith("insufficient")
        else:
            assert order.status is OrderStatus.FILLED
    records = [json.loads(line) for line in logs if line.startswith("{")
               and line.endswith("}\n")]
    assert not [r for r in records if "duplicate" in str(r.get("reason", ""))]


def _assert_the_replay_never_rewinds(logs: list[str]) -> None:
    resumed = [json.loads(line)["after_ts"] for line in logs if '"replay.resumed"' in line]
    assert len(resumed) >= KILLS // 2
    assert resumed == sorted(resumed)
    assert resumed[-1] > resumed[0]
