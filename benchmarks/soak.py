"""A long paper run with state on: throughput, memory growth and state file size.

Runs ``libra run`` on the bundled bars replayed at ``speed = 0, loop = true`` with the state
store on and ``sma_cross`` tuned to trade about once per 100 bars, until the daemon has
seen ``--events`` market events (20 million by default), then stops it with SIGTERM. The
retention window is short (``--retention`` seconds) so that a run of minutes reaches the
steady state an endless run reaches after a week: the state file must stop growing.

Run: python benchmarks/soak.py [--events N] [--retention SECONDS]
Prints one figure per line as ``label: value unit``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """
environment = "paper"
[kernel]
name = "soak"
state_path = "state/libra.db"
state_retention = {retention}
state_checkpoint_interval = 10.0
[logging]
level = "info"
format = "json"
heartbeat_interval = 1.0
log_orders = false
[[gateways]]
id = "paper"
plugin = "paper"
starting_balances = {{ USD = "100000000" }}
taker_fee = "0.0007"
[gateways.data]
source = "replay"
path = "bundled:BTC_USD-1m"
symbol = "BTC/USD"
speed = 0
loop = true
[[strategies]]
id = "sma"
plugin = "sma_cross"
gateway = "paper"
symbols = ["BTC/USD"]
params = {{ fast = 40, slow = 120, quantity = "0.01" }}
"""


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _size_mb(state: Path) -> float:
    files = [state, Path(f"{state}-wal"), Path(f"{state}-shm")]
    return sum(f.stat().st_size for f in files if f.exists()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--retention", type=float, default=60.0)
    parser.add_argument("--warm-up", type=float, default=0.1,
                        help="share of the events after which RSS is first taken")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        config = workdir / "soak.toml"
        config.write_text(CONFIG.format(retention=args.retention))
        state = workdir / "state" / "libra.db"
        proc = subprocess.Popen([sys.executable, "-m", "libra", "run", "--config", str(config)],
                                cwd=workdir, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, env=dict(os.environ))
        assert proc.stdout is not None
        warm_rss = peak_size = 0.0
        started = first_events = 0.0
        stopping = False
        events = 0
        summary: dict[str, object] = {}
        for line in proc.stdout:
            record = json.loads(line)
            kind = record.get("event")
            if kind == "kernel.started":
                started = time.perf_counter()
            elif kind == "kernel.heartbeat":
                events = int(record["events"])
                summary = record
                if not warm_rss and events >= args.events * args.warm_up:
                    warm_rss, first_events = _rss_mb(proc.pid), events
                    warm_at = time.perf_counter()
                peak_size = max(peak_size, _size_mb(state))
                if events >= args.events and not stopping:
                    # Once: a second SIGTERM would force the stop the figures must not show.
                    stopping = True
                    end_rss = _rss_mb(proc.pid)
                    elapsed = time.perf_counter() - started
                    steady = (events - first_events) / (time.perf_counter() - warm_at)
                    proc.send_signal(signal.SIGTERM)
        code = proc.wait()
        if code != 0:
            raise SystemExit(f"the daemon exited {code}: the figures are not a clean run")
        final_size = _size_mb(state)
        print(f"events: {events} events")
        print(f"exit code: {code} code")
        print(f"events per second: {events / elapsed:.0f} events/s")
        print(f"events per second after warm-up: {steady:.0f} events/s")
        print(f"orders filled: {summary.get('orders', {}).get('filled', 0)} orders")  # type: ignore[union-attr]
        print(f"RSS after warm-up: {warm_rss:.1f} MB")
        print(f"RSS at the end: {end_rss:.1f} MB")
        print(f"RSS growth: {100 * (end_rss - warm_rss) / warm_rss:.1f} %")
        print(f"state file size, largest while running: {peak_size:.1f} MB")
        print(f"state file size at the end: {final_size:.1f} MB")


if __name__ == "__main__":
    main()
