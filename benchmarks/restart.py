"""Restart cost with a long history: process start to ``kernel.started``, and RSS there.

Builds a state file as the shipped daemon leaves it (one short paper run on
``config/libra.toml``), then adds 1,000,000 closed orders, their events and fills, the paper
venue's records of them, and 10 open orders resting at the venue. Then it starts ``libra
run`` on it as a user would and measures, from ``Popen`` to the ``kernel.started`` log
line, the time and the process's resident memory. A restart reads open orders, the
portfolio snapshot, counters and strategy state: neither figure should grow with history.

Run: python benchmarks/restart.py [--orders N] [--runs N]
Prints one figure per line as ``label: value unit``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import msgspec

from libra.model.enums import OrderSide
from libra.model.fills import Fill
from libra.model.order_events import OrderAccepted

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "config" / "libra.toml"
ENV = {
    "LIBRA__GATEWAYS__0__DATA__SPEED": "60000",
    "LIBRA__STRATEGIES__0__PARAMS__FAST": "2",
    "LIBRA__STRATEGIES__0__PARAMS__SLOW": "4",
    "LIBRA__STRATEGIES__0__PARAMS__QUANTITY": "0.01",
    "LIBRA__LOGGING__FORMAT": "json",
}
STRATEGY = "sma-btc"
OPEN = 10
CHUNK = 50_000


def _start(workdir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "libra", "run", "--config", str(SHIPPED)],
        cwd=workdir, env={**os.environ, **ENV}, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True)


def _wait_for(proc: subprocess.Popen[str], event: str) -> dict[str, object]:
    assert proc.stdout is not None
    for line in proc.stdout:
        record = json.loads(line)
        if record.get("event") == event:
            return record  # type: ignore[no-any-return]
    raise RuntimeError(f"the daemon exited ({proc.wait()}) before {event}")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout is not None
    for _ in proc.stdout:
        pass
    code = proc.wait(timeout=60)
    if code != 0:
        raise RuntimeError(f"the daemon stopped with exit code {code}")


def _seed(workdir: Path) -> None:
    """One short run of the shipped daemon: a real state file, marker and venue state."""
    proc = _start(workdir)
    _wait_for(proc, "order.filled")
    _stop(proc)


def _fill(coid: str, trade: str, number: int, ts: int) -> Fill:
    return Fill(client_order_id=coid, trade_id=trade, venue_order_id=f"paper-H{number}",
                strategy_id=STRATEGY, venue="paper", symbol="BTC/USD", side=OrderSide.BUY,
                quantity=Decimal("0.001"), price=Decimal("40000"), fee=Decimal("0.028"),
                fee_currency="USD", liquidity="taker", ts_event=ts, ts_recv=ts)


def _history_rows(first: int, last: int, now: int, ts0: int) -> tuple[list[tuple], ...]:
    orders, events, fills, venue_orders, venue_fills = [], [], [], [], []
    for n in range(first, last):
        coid, trade, ts = f"hist-{n}", f"paper-HT{n}", ts0 + n * 1_000_000
        fill = _fill(coid, trade, n, ts)
        payload = msgspec.json.encode(fill)
        orders.append((coid, STRATEGY, "paper", "BTC/USD", "buy", "market", "0.001", None, None,
                       "gtc", 0, 0, ts, ts, "filled", "0.001", "40000", f"paper-H{n}", None,
                       ts, now))
        events.append((2 * n, coid, "filled", trade, ts, payload))
        events.append((2 * n - 1, coid, "accepted", None, ts, b"{}"))
        fills.append((coid, trade, f"paper-H{n}", STRATEGY, "paper", "BTC/USD", "buy", "0.001",
                      "40000", "0.028", "USD", "taker", ts, ts, 2 * n))
        venue_orders.append(("paper", coid, f"paper-H{n}", STRATEGY, "BTC/USD", "buy",
                             "market", "0.001", None, None, "gtc", 0, "0.001", "0", 0, 0,
                             "closed"))
        venue_fills.append(("paper", trade, coid, ts, payload))
    return orders, events, fills, venue_orders, venue_fills


def _add_history(state: Path, count: int) -> None:
    """Add ``count`` closed orders (with events, fills, venue records) and 10 open ones."""
    conn = sqlite3.connect(state, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    # Below the sequence numbers the daemon used, which go on from the largest.
    offset = conn.execute("SELECT coalesce(max(seq), 0) FROM order_events").fetchone()[0]
    conn.execute(f"UPDATE order_events SET seq = seq + {2 * count + 2 * OPEN + 2}")
    conn.execute(f"UPDATE fills SET seq = seq + {2 * count + 2 * OPEN + 2}")
    conn.execute(f"UPDATE balance_snapshots SET event_seq = event_seq + {2 * count + 2 * OPEN + 2}")
    conn.execute(f"UPDATE position_snapshots SET event_seq = event_seq + "
                 f"{2 * count + 2 * OPEN + 2}")
    del offset
    now, ts0 = time.time_ns(), 1_600_000_000_000_000_000
    for first in range(1, count + 1, CHUNK):
        orders, events, fills, venue_orders, venue_fills = _history_rows(
            first, min(first + CHUNK, count + 1), now, ts0)
        conn.execute("BEGIN")
        conn.executemany(f"INSERT INTO orders VALUES ({', '.join('?' * 21)})", orders)
        conn.executemany("INSERT INTO order_events VALUES (?, ?, ?, ?, ?, ?)", events)
        conn.executemany(f"INSERT INTO fills VALUES ({', '.join('?' * 15)})", fills)
        conn.executemany(f"INSERT INTO venue_orders VALUES ({', '.join('?' * 17)})",
                         venue_orders)
        conn.executemany("INSERT INTO venue_fills VALUES (?, ?, ?, ?, ?)", venue_fills)
        conn.execute("COMMIT")
    _add_open_orders(conn, count, now)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _add_open_orders(conn: sqlite3.Connection, count: int, now: int) -> None:
    conn.execute("BEGIN")
    reserved = Decimal(0)
    for i in range(OPEN):
        coid, vid, seq = f"open-{i}", f"paper-O{i}", 2 * count + 1 + i
        ts = now - 1_000_000_000
        conn.execute(f"INSERT INTO orders VALUES ({', '.join('?' * 21)})", (
            coid, STRATEGY, "paper", "BTC/USD", "buy", "limit", "0.001", "1", None, "gtc", 0,
            0, ts, ts, "accepted", "0", None, vid, None, ts, now))
        event = OrderAccepted(client_order_id=coid, strategy_id=STRATEGY, venue="paper",
                              symbol="BTC/USD", ts_event=ts, venue_order_id=vid)
        conn.execute("INSERT INTO order_events VALUES (?, ?, ?, ?, ?, ?)",
                     (seq, coid, "accepted", None, ts, msgspec.json.encode(event)))
        conn.execute(f"INSERT INTO venue_orders VALUES ({', '.join('?' * 17)})", (
            "paper", coid, vid, STRATEGY, "BTC/USD", "buy", "limit", "0.001", "1", None,
            "gtc", 0, "0", "0.001", 0, 0, "open"))
        reserved += Decimal("0.001")
    row = conn.execute("SELECT reserved FROM venue_accounts WHERE venue = 'paper'").fetchone()
    held = {c: Decimal(v) for c, v in json.loads(row[0]).items()}
    held["USD"] = held.get("USD", Decimal(0)) + reserved
    conn.execute("UPDATE venue_accounts SET reserved = ? WHERE venue = 'paper'",
                 (json.dumps({c: str(v) for c, v in held.items()}),))
    conn.execute("COMMIT")


def _measure(workdir: Path) -> tuple[float, float]:
    started = time.perf_counter()
    proc = _start(workdir)
    try:
        record = _wait_for(proc, "kernel.started")
        elapsed = time.perf_counter() - started
        rss = _rss_mb(proc.pid)
        del record
    finally:
        _stop(proc)
    return elapsed, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        _seed(workdir)
        empty = [_measure(workdir) for _ in range(args.runs)]
        state = workdir / "state" / "libra.db"
        built = time.perf_counter()
        _add_history(state, args.orders)
        build_seconds = time.perf_counter() - built
        full = [_measure(workdir) for _ in range(args.runs)]
        print(f"closed orders in the state file: {args.orders} orders")
        print(f"open orders in the state file: {OPEN} orders")
        print(f"state file size: {state.stat().st_size / 1e6:.1f} MB")
        print(f"state file build time: {build_seconds:.1f} s")
        print(f"start to kernel.started, no history: "
              f"{statistics.median(t for t, _ in empty):.3f} s")
        print(f"RSS at kernel.started, no history: "
              f"{statistics.median(r for _, r in empty):.1f} MB")
        print(f"start to kernel.started: {statistics.median(t for t, _ in full):.3f} s")
        print(f"RSS at kernel.started: {statistics.median(r for _, r in full):.1f} MB")


if __name__ == "__main__":
    main()
