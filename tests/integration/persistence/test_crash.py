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
REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "config" / "libra.toml"
# The shipped config as it is (state on, relative state path, heartbeat, risk limits), only
# faster: a quick replay and a quick sma_cross so that it trades several times a second.
FAST = {
    "LIBRA__GATEWAYS__0__DATA__SPEED": "60000",
    "LIBRA__STRATEGIES__0__PARAMS__FAST": "2",
    "LIBRA__STRATEGIES__0__PARAMS__SLOW": "4",
    "LIBRA__STRATEGIES__0__PARAMS__QUANTITY": "0.01",
    "LIBRA__KERNEL__RECONCILE_CONFIRM_DELAY": "0",
    "LIBRA__LOGGING__HEARTBEAT_INTERVAL": "0.2",
    "LIBRA__LOGGING__LEVEL": "debug",  # order.submitted, a moment to kill at, is debug
}


class _Run:
    """One daemon process, killed at a random moment."""

    def __init__(self, workdir: Path) -> None:
        self.daemon = Daemon(SHIPPED, env=FAST, cwd=workdir)
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
    """The shipped config, run from an empty directory, killed and started again."""
    rng = random.Random(SEED)
    state_path = tmp_path / "state" / "libra.db"  # the shipped relative path
    workdir = tmp_path
    in_flight = 0
    logs: list[str] = []
    for _ in range(KILLS):
        run = _Run(workdir)
        try:
            run.kill_at_random_moment(rng)
        finally:
            run.daemon.close()
            logs.extend(run.daemon.lines)
        with contextlib.suppress(StateStoreError):  # killed before the file had a schema
            in_flight += _in_flight(*_read(state_path))
    run = _Run(workdir)
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
    # Denied orders are counted, not stored: with them, every id was issued exactly once.
    numbers = sorted(int(coid.rpartition("-")[2]) for coid in state.orders)
    denied = state.order_counts.get("sma-btc", {}).get("denied", 0)
    assert len(set(numbers)) == len(numbers)
    assert len(numbers) + denied == state.id_counters["sma-btc"], "a client order id was reused"
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
