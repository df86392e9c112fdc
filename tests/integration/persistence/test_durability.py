"""What the store says is on disk survives the process dying right after."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from libra.core.errors import StateStoreError
from libra.model.orders import OrderStatus
from libra.persistence import StateStore

_BUILD = """
import asyncio, os, sys, time
from libra.persistence import StateStore
from libra.testing.factories import build_fill, build_order

def build():
    order = build_order(7, strategy_id="s1", quantity="2", price="100", ts_init=1)
    order.submit(2)
    fill = build_fill("1.5", "99.5", order=order, venue_order_id="V7", trade_id="T1",
                      fee="0.01", liquidity="maker", ts_event=3, ts_recv=4)
    return order, fill
"""

_EXIT_AFTER_RETURN = _BUILD + """
store = StateStore.open(sys.argv[1], durability="block")
order, fill = build()
store.record_order(order)
order.apply_fill(fill)
store.record_event(order, fill)
os._exit(0)  # no close, no flush: what record_* returned for must be on disk
"""

_KILLED_AFTER_AWAIT = _BUILD + """
async def main():
    store = StateStore.open(sys.argv[1])
    order, fill = build()
    await store.persist_intent(order)
    order.apply_fill(fill)
    store.record_event(order, fill)
    await store.flush()
    print("durable", flush=True)
    time.sleep(60)

asyncio.run(main())
"""

_HOLD = """
import sys, time
from libra.persistence import StateStore
store = StateStore.open(sys.argv[1])
print("open", flush=True)
time.sleep(60)
"""


def _spawn(code: str, path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def _wait_for_line(proc: subprocess.Popen[str], expected: str) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == expected:
            return
    pytest.fail(f"child exited ({proc.wait()}) without printing {expected!r}")


def _assert_intent_and_fill(path: Path) -> None:
    with StateStore.open(path) as store:
        state = store.load_state()
    order = state.orders["s1-7"]
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.filled_quantity == Decimal("1.5")
    assert [f.trade_id for f in state.fills] == ["T1"]
    assert state.id_counters == {"s1": 7}


def test_exit_right_after_record_returns(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with _spawn(_EXIT_AFTER_RETURN, path) as proc:
        assert proc.wait(timeout=60) == 0

    _assert_intent_and_fill(path)


def test_sigkill_after_intent_and_fill_are_durable(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with _spawn(_KILLED_AFTER_AWAIT, path) as proc:
        _wait_for_line(proc, "durable")

        proc.send_signal(signal.SIGKILL)

        assert proc.wait(timeout=60) == -signal.SIGKILL
    _assert_intent_and_fill(path)


def test_second_process_is_refused_until_the_first_dies(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with _spawn(_HOLD, path) as proc:
        try:
            _wait_for_line(proc, "open")
            with pytest.raises(StateStoreError,
                               match=rf"in use by another process \(pid {proc.pid}\)"):
                StateStore.open(path)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)

    StateStore.open(path).close()  # the lock died with its holder
