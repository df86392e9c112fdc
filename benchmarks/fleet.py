"""The fleet link over a real ``nats-server -js``: publish rate, cost to the kernel, halt time.

Run: python benchmarks/fleet.py [--seconds 4] [--halts 50]

Starts ``nats-server -js`` on a free loopback port with a temporary store, then prints
one figure per line as ``label: value unit``:

* the events per second one daemon's publisher sends with JetStream acknowledgements
  (order-event-sized payloads, each with its ``Nats-Msg-Id``);
* the kernel's event throughput (paper replay at full speed, looped, sma_cross trading
  on every crossing) without and with the fleet link, and the drop (goal: at most 10 %);
* the time from a fleet halt to every one of three ``libra run`` daemons answering
  HALTED, p50 and p99 over ``--halts`` halts (goal: p99 at most 1 s on loopback), and
  the wall time of the whole ``libra fleet halt`` command (a Python start included).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))

from daemon_process import Daemon  # noqa: E402
from nats_server import NatsServer, nats_server_binary  # noqa: E402

from libra.core.config import FleetSection, KernelConfig  # noqa: E402
from libra.fleet.client import FleetClient  # noqa: E402
from libra.fleet.protocol import stream_name, stream_subjects  # noqa: E402
from libra.fleet.publisher import FleetPublisher  # noqa: E402
from libra.fleet.service import fleet_service  # noqa: E402
from libra.kernel import TradingKernel  # noqa: E402
from libra.testing.factories import paper_config_data, paper_gateway  # noqa: E402

TOKEN = "bench-token-0b5d"
FILL = {"client_order_id": "sma-000000123", "strategy_id": "sma", "symbol": "BTC/USD",
        "side": "buy", "quantity": "0.05", "price": "46400.00", "fee": "1.62400",
        "ts_event": 1_700_000_000_000_000_000, "venue": "paper", "liquidity": "taker"}


async def publish_rate(url: str, n: int = 50_000) -> float:
    import nats
    from nats.js.api import StreamConfig

    nc = await nats.connect(url)
    js = nc.jetstream(publish_async_max_pending=4000)
    await js.add_stream(StreamConfig(name=stream_name("bench"), subjects=stream_subjects("bench"),
                                     duplicate_window=120.0))
    publisher = FleetPublisher("bench", "k1", buffer_size=n, window=256)
    for _ in range(n):
        publisher.offer("fill", FILL)
    started = time.perf_counter()
    while publisher.buffered:
        await publisher.send_window(nc, js)
    elapsed = time.perf_counter() - started
    await nc.close()
    return n / elapsed


def kernel_config(url: str | None, tmp: Path) -> KernelConfig:
    raw = paper_config_data(
        {"id": "sma", "plugin": "sma_cross", "params": {"fast": 3, "slow": 8, "quantity": "0.01"}},
        gateway=paper_gateway(balances={"USD": "100000000"}, data={
            "source": "replay", "path": "bundled:BTC_USD-1m", "symbol": "BTC/USD",
            "speed": 0, "loop": True}),
        kernel={"name": "bench", "state_path": str(tmp / f"bench-{time.monotonic_ns()}.db")},
        logging={"heartbeat_interval": 1.0, "log_orders": True},
        http={"enabled": False, "token": TOKEN})
    if url is not None:
        raw["fleet"] = {"servers": [url], "name": "bench", "heartbeat_interval": 1.0}
    return KernelConfig.model_validate(raw)


async def kernel_rate(config: KernelConfig, seconds: float) -> tuple[float, int]:
    services = [fleet_service(config)] if config.fleet is not None else []
    kernel = TradingKernel(config, services=services)
    await kernel.start()
    try:
        await asyncio.sleep(1.0)  # warm-up: the link connects, the caches fill
        seen, started = kernel.cache.events_seen, time.perf_counter()
        await asyncio.sleep(seconds)
        rate = (kernel.cache.events_seen - seen) / (time.perf_counter() - started)
        published = 0
        for service in kernel.services:
            report = getattr(service, "link_report", None)
            if report is not None:
                published = int(report()["published"])
    finally:
        await kernel.stop()
    return rate, published


def run_kernel(config: KernelConfig, seconds: float) -> tuple[float, int]:
    from libra.cli._runtime import run_async

    result: tuple[float, int] = run_async(kernel_rate(config, seconds))
    return result


DAEMON = """
[kernel]
name = "{name}"
state_path = "{state}"
[logging]
format = "json"
heartbeat_interval = 5.0
log_orders = false
[[gateways]]
id = "paper"
plugin = "paper"
starting_balances = {{ USD = "1000000" }}
[gateways.data]
source = "replay"
path = "bundled:BTC_USD-1m"
symbol = "BTC/USD"
speed = 60
loop = true
[[strategies]]
id = "sma"
plugin = "sma_cross"
gateway = "paper"
symbols = ["BTC/USD"]
params = {{ fast = 3, slow = 8, quantity = "0.01" }}
[http]
enabled = true
port = 0
token = "{token}"
[fleet]
servers = ["{url}"]
name = "desk"
heartbeat_interval = 0.5
"""


async def halt_times(config: FleetSection, names: set[str], halts: int) -> list[float]:
    times = []
    async with FleetClient(config, TOKEN) as client:
        for _ in range(halts):
            started = time.perf_counter()
            answers = await client.command("halt", expected=names, wait=5.0)
            elapsed = time.perf_counter() - started
            halted = {k for k, a in answers.items()
                      if (a.get("result") or {}).get("trading_state") == "halted"}
            if halted != names:
                raise RuntimeError(f"not every daemon answered HALTED: {sorted(halted)}")
            times.append(elapsed)
            await client.command("resume", expected=names, wait=5.0)
    return times


def fleet_halt(url: str, tmp: Path, halts: int) -> tuple[list[float], list[float]]:
    from libra.cli._runtime import run_async

    names = {"k1", "k2", "k3"}
    configs = {}
    for name in sorted(names):
        configs[name] = tmp / f"{name}.toml"
        configs[name].write_text(DAEMON.format(name=name, state=tmp / f"{name}.db",
                                               token=TOKEN, url=url))
    daemons = [Daemon(path) for path in configs.values()]
    try:
        for daemon in daemons:
            daemon.wait_event("fleet.connected", timeout=30)
        section = FleetSection(servers=[url], name="desk")
        times = run_async(halt_times(section, names, halts))
        cli = []
        for _ in range(5):
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "libra", "fleet", "halt", "--config",
                                   str(configs["k1"])], capture_output=True, check=False)
            cli.append(time.perf_counter() - started)
            if done.returncode != 0:
                raise RuntimeError(f"libra fleet halt exited {done.returncode}")
    finally:
        for daemon in daemons:
            daemon.close()
    return times, cli


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="kernel measure time per run")
    parser.add_argument("--halts", type=int, default=50, help="halts measured")
    args = parser.parse_args()
    binary = nats_server_binary()
    if binary is None:
        sys.exit("nats-server is not installed (scripts/ensure-test-tools.sh installs it)")
    from libra.observability.logging import configure_logging

    with tempfile.TemporaryDirectory() as name, open(os.devnull, "w") as devnull:
        tmp = Path(name)
        (tmp / "store").mkdir()
        server = NatsServer(binary, tmp / "store")
        server.start()
        try:
            configure_logging(level="info", fmt="json", stream=devnull)
            rate = asyncio.run(publish_rate(server.url))
            print(f"fleet publish with acks, one daemon: {rate:,.0f} events/s")
            off: list[float] = []
            on: list[float] = []
            published: list[int] = []
            for _ in range(5):  # alternated, so a busy moment of the machine hits both
                off.append(run_kernel(kernel_config(None, tmp), args.seconds)[0])
                rate_on, sent = run_kernel(kernel_config(server.url, tmp), args.seconds)
                on.append(rate_on)
                published.append(sent)
            base, linked = statistics.median(off), statistics.median(on)
            print(f"kernel events, fleet link off: {base:,.0f} events/s")
            print(f"kernel events, fleet link on: {linked:,.0f} events/s")
            print(f"kernel events published to the fleet per run: "
                  f"{statistics.median(published):,.0f} events")
            print(f"kernel throughput drop with the fleet link: {100 * (1 - linked / base):.1f} %")
            times, cli = fleet_halt(server.url, tmp, args.halts)
            print(f"fleet halt to 3 daemons HALTED p50: {percentile(times, 0.5) * 1000:,.1f} ms")
            print(f"fleet halt to 3 daemons HALTED p99: {percentile(times, 0.99) * 1000:,.1f} ms")
            print(f"libra fleet halt command wall time p50: "
                  f"{statistics.median(cli) * 1000:,.0f} ms")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
