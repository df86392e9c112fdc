"""A denial storm on the shipped default config: the daemon must contain it.

Run: python benchmarks/stress.py [--duration 60] [--no-storm]

``libra run`` on ``config/libra.toml`` in a subprocess, changed only as a stress test needs:
the replay at ``speed = 0`` with ``loop = true``, the state file in a temporary directory,
JSON logs. With the storm (the default), ``risk.max_order_quantity`` is set below the
strategy's order quantity, so every order it places is denied, as a strategy that resubmits
a denied order on every bar would be: the breaker must pause it, the log must not flood,
and neither the state file nor the memory may grow with the denials.

Prints one figure per line as ``label: value unit``: events per second, orders submitted
and denied, ``order.denied`` log lines per minute, state file growth in MB per minute and
RSS growth after the first 10 s (targets: denials stop at the breaker's threshold, state
growth at most 1 MB per minute, RSS growth at most 5 %).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
WARM_UP = 10.0


def stress_config(state_dir: Path, storm: bool) -> dict[str, Any]:
    """Return the shipped default config, changed as the stress run needs."""
    config = tomllib.loads((REPO / "config" / "libra.toml").read_text())
    config["kernel"]["state_path"] = str(state_dir / "libra.db")
    config["logging"].update(format="json", heartbeat_interval=5.0)
    config["gateways"][0]["data"].update(speed=0, loop=True)
    config.pop("http", None)
    if storm:
        quantity = str(config["strategies"][0]["params"]["quantity"])
        config["risk"]["max_order_quantity"] = str(float(quantity) / 10)
    return config


def rss_kib(pid: int) -> int:
    """Return the resident set size of ``pid`` in KiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def state_bytes(state_dir: Path) -> int:
    """Return the size of the state file and its WAL."""
    return sum(p.stat().st_size for p in state_dir.glob("libra.db*") if p.is_file())


class LogReader:
    """Read the daemon's JSON lines as they come; keep counts and the last heartbeat."""

    def __init__(self, stream: Any) -> None:
        self.denied_lines = 0
        self.paused: list[dict[str, Any]] = []
        self.heartbeat: dict[str, Any] = {}
        self.started = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            event = record.get("event")
            if event == "order.denied":
                self.denied_lines += 1
            elif event == "strategy.paused":
                self.paused.append(record)
            elif event == "kernel.heartbeat":
                self.heartbeat = record
            elif event == "kernel.started":
                self.started.set()

    def join(self) -> None:
        self._thread.join(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of trading")
    parser.add_argument("--no-storm", action="store_true",
                        help="run the default config as shipped, without the denial storm")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state_dir = Path(tmp) / "state"
        config_path = Path(tmp) / "stress.yaml"
        config_path.write_text(yaml.safe_dump(stress_config(state_dir, not args.no_storm)))
        process = subprocess.Popen(
            [sys.executable, "-m", "libra", "run", "--config", str(config_path)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        reader = LogReader(process.stdout)
        try:
            if not reader.started.wait(timeout=60):
                raise SystemExit("the daemon did not start within 60 s")
            started = time.monotonic()
            time.sleep(WARM_UP)
            rss_warm, state_warm = rss_kib(process.pid), state_bytes(state_dir)
            time.sleep(max(0.0, args.duration - WARM_UP))
            elapsed = time.monotonic() - started
            rss_end, state_end = rss_kib(process.pid), state_bytes(state_dir)
            heartbeat = reader.heartbeat
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=60)
            reader.join()
    minutes = elapsed / 60
    orders = heartbeat.get("orders", {})
    print(f"stress events: {heartbeat.get('events_per_second', 0):,.0f} events/s "
          f"(last heartbeat; {heartbeat.get('events', 0):,} events in {elapsed:,.0f} s)")
    print(f"stress orders submitted: {orders.get('submitted', 0):,} orders")
    print(f"stress orders denied: {orders.get('denied', 0):,} orders")
    print(f"stress orders refused while paused: {orders.get('refused_paused', 0):,} orders")
    print(f"stress strategies paused: {len(reader.paused)} strategies")
    print(f"stress order.denied log lines: {reader.denied_lines / minutes:,.1f} lines/min")
    growth = (state_end - state_warm) / 1e6 / ((elapsed - WARM_UP) / 60)
    print(f"stress state file growth after warm-up: {growth:,.3f} MB/min "
          f"({state_end / 1e6:,.2f} MB at the end)")
    print(f"stress RSS growth after warm-up: {(rss_end - rss_warm) / rss_warm * 100:,.1f} % "
          f"({rss_warm / 1024:,.1f} -> {rss_end / 1024:,.1f} MiB)")
    print(f"stress exit code: {code}")


if __name__ == "__main__":
    main()
