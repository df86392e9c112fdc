"""HTTP load on the daemon's API while its kernel streams a replay at full speed.

Run: python benchmarks/http_load.py [--duration 30] [--rate 1000] [--baseline 10]
     python benchmarks/http_load.py --sse 4 [--duration 10] [--rounds 3]

The daemon (this process, on uvloop) replays bundled BTC/USD bars in a loop at
speed 0 into ``sma_cross``, with its OpsService HTTP server on 127.0.0.1. First
it measures the kernel's event throughput alone, then a client in a separate
process sends ``--rate`` requests per second (alternating ``GET /metrics`` and
``GET /api/status``, open loop, at most ``rate * duration`` requests) for
``--duration`` seconds while the throughput is measured again (``--paths`` picks
other endpoints, e.g. ``/healthz`` to measure aiohttp's own cost).

``--sse 4`` measures the status page instead: 4 clients in a separate process hold
``GET /api/stream`` open and read every snapshot, while the kernel's throughput is
measured without and with them, alternately, ``--rounds`` times (the machine may be
shared and noisy: compare the medians, and the events per CPU-second of the daemon,
which other processes taking the cores do not move). The goal is a drop of at most 10 %.
Prints one figure per line as ``label: value unit``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any

PATHS = ("/metrics", "/api/status")


# -- the client (a separate process) -----------------------------------------------------------


async def _client(url: str, rate: float, duration: float, paths: list[str]) -> dict[str, Any]:
    import aiohttp

    total = int(rate * duration)
    latencies: list[float] = []
    errors = 0

    async def one(session: aiohttp.ClientSession, path: str) -> None:
        nonlocal errors
        started = time.perf_counter()
        try:
            async with session.get(url + path) as response:
                await response.read()
                if response.status != 200:
                    errors += 1
                    return
        except aiohttp.ClientError:
            errors += 1
            return
        latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=64)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        print("started", flush=True)
        began = time.perf_counter()
        tasks = []
        for i in range(total):
            delay = began + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.perf_counter() - began > duration:
                break
            tasks.append(asyncio.ensure_future(one(session, paths[i % len(paths)])))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "sent": len(tasks), "ok": len(latencies), "errors": errors, "elapsed": elapsed,
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan"),
    }


def run_client(url: str, rate: float, duration: float, paths: list[str]) -> None:
    from libra.cli import run_async

    result = run_async(_client(url, rate, duration, paths))
    print(json.dumps(result), flush=True)


async def _stream_client(url: str, streams: int, duration: float) -> dict[str, Any]:
    """Hold ``streams`` status streams open for ``duration`` s, reading every event."""
    import aiohttp

    counts = [0] * streams
    received = 0

    async def read(response: aiohttp.ClientResponse, index: int) -> None:
        nonlocal received
        async for line in response.content:
            received += len(line)
            if line.startswith(b"event: snapshot"):
                counts[index] += 1

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
        responses = [await session.get(url + "/api/stream") for _ in range(streams)]
        assert all(r.status == 200 for r in responses), [r.status for r in responses]
        readers = [asyncio.ensure_future(read(r, i)) for i, r in enumerate(responses)]
        while min(counts) < 1:  # noqa: ASYNC110 (every stream has its first snapshot)
            await asyncio.sleep(0.01)
        print("started", flush=True)
        await asyncio.sleep(duration)
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        for response in responses:
            response.close()
    return {"snapshots": counts, "bytes": received}


def run_stream_client(url: str, streams: int, duration: float) -> None:
    from libra.cli import run_async

    print(json.dumps(run_async(_stream_client(url, streams, duration))), flush=True)


# -- the daemon (this process) -----------------------------------------------------------------


def daemon_config() -> Any:
    from libra.core.config import KernelConfig

    return KernelConfig.model_validate({
        "kernel": {"name": "http-load"},
        "logging": {"level": "warning", "heartbeat_interval": 3600, "log_orders": False},
        "http": {"enabled": True, "port": 0},
        "gateways": [{
            "id": "paper", "plugin": "paper", "starting_balances": {"USD": "100000000"},
            "data": {"source": "replay", "path": "bundled:BTC_USD-1m", "symbol": "BTC/USD",
                     "speed": 0, "loop": True},
        }],
        "strategies": [{"id": "sma", "plugin": "sma_cross", "gateway": "paper",
                        "symbols": ["BTC/USD"], "params": {"quantity": "0.01"}}],
    })


async def _events_per_second(kernel: Any, seconds: float) -> tuple[float, float]:
    """Return the kernel's events/s and this process's CPU use (cores) over ``seconds``."""
    seen, started, cpu = kernel.cache.events_seen, time.perf_counter(), time.process_time()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - started
    return ((kernel.cache.events_seen - seen) / elapsed,
            (time.process_time() - cpu) / elapsed)


async def _daemon(args: argparse.Namespace) -> dict[str, Any]:
    from libra.core.kernel import TradingKernel
    from libra.observability.service import OpsService

    kernel = TradingKernel(daemon_config())
    await kernel.start()
    ops = getattr(kernel, "ops", None)  # the kernel starts one itself once it is wired in
    own = ops is None or ops.port is None
    if own:
        ops = OpsService(kernel)
        await ops.start()
    try:
        await asyncio.sleep(1.0)  # warm-up
        alone, cpu_alone = await _events_per_second(kernel, args.baseline)
        client = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--client", f"http://127.0.0.1:{ops.port}",
            "--rate", str(args.rate), "--duration", str(args.duration),
            "--paths", ",".join(args.paths),
            stdout=asyncio.subprocess.PIPE,
        )
        assert client.stdout is not None
        await client.stdout.readline()  # "started"
        seen, started, cpu = kernel.cache.events_seen, time.perf_counter(), time.process_time()
        line = await client.stdout.readline()
        elapsed = time.perf_counter() - started
        loaded = (kernel.cache.events_seen - seen) / elapsed
        cpu_loaded = (time.process_time() - cpu) / elapsed
        await client.wait()
    finally:
        if own:
            await ops.stop()
        await kernel.stop()
    return {"alone": alone, "loaded": loaded, "client": json.loads(line),
            "cpu_alone": cpu_alone, "cpu_loaded": cpu_loaded}


async def _page_rounds(args: argparse.Namespace) -> dict[str, Any]:
    """Alternate: kernel throughput alone, then with ``args.sse`` open status streams."""
    from libra.core.kernel import TradingKernel
    from libra.observability.service import OpsService

    kernel = TradingKernel(daemon_config())
    await kernel.start()
    ops = OpsService(kernel)
    await ops.start()
    assert ops.http is not None
    live = ops.http.live
    alone: list[tuple[float, float]] = []
    streaming: list[tuple[float, float]] = []
    clients: list[dict[str, Any]] = []
    try:
        await asyncio.sleep(1.0)  # warm-up
        for _ in range(args.rounds):
            alone.append(await _events_per_second(kernel, args.duration))
            client = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--stream-client", f"http://127.0.0.1:{ops.port}",
                "--sse", str(args.sse), "--duration", str(args.duration),
                stdout=asyncio.subprocess.PIPE,
            )
            assert client.stdout is not None
            await client.stdout.readline()  # "started": every stream is open and reading
            streaming.append(await _events_per_second(kernel, args.duration))
            clients.append(json.loads(await client.stdout.readline()))
            await client.wait()
    finally:
        await ops.stop()
        await kernel.stop()
    render = live.render_seconds / live.renders if live.renders else 0.0
    return {"alone": alone, "streaming": streaming, "clients": clients, "render": render}


def page_report(args: argparse.Namespace) -> None:
    from libra.cli import run_async

    result = run_async(_page_rounds(args))
    alone = [rate for rate, _ in result["alone"]]
    streaming = [rate for rate, _ in result["streaming"]]
    for i, (a, b) in enumerate(zip(alone, streaming, strict=True), 1):
        print(f"round {i} kernel throughput without page: {a:.0f} events/s")
        print(f"round {i} kernel throughput with {args.sse} streams: {b:.0f} events/s")
    without, with_page = statistics.median(alone), statistics.median(streaming)
    print(f"kernel throughput without page (median): {without:.0f} events/s")
    print(f"kernel throughput with {args.sse} status streams (median): {with_page:.0f} events/s")
    print(f"kernel throughput drop with status page: {100 * (1 - with_page / without):.1f} %")
    # Events per second of the daemon's own CPU: what the page costs, less the noise of
    # other processes taking the cores (the wall-clock figures above include it).
    per_cpu = [statistics.median(rate / cpu for rate, cpu in result[key] if cpu)
               for key in ("alone", "streaming")]
    print(f"kernel events per cpu-second without page (median): {per_cpu[0]:.0f} events/s")
    print(f"kernel events per cpu-second with {args.sse} streams (median): "
          f"{per_cpu[1]:.0f} events/s")
    print(f"kernel cpu efficiency drop with status page: "
          f"{100 * (1 - per_cpu[1] / per_cpu[0]):.1f} %")
    snapshots = [n for c in result["clients"] for n in c["snapshots"]]
    print(f"snapshots per stream: {statistics.median(snapshots) / args.duration:.2f} /s")
    per_second = statistics.median(c["bytes"] for c in result["clients"]) / args.duration
    print(f"stream bytes to {args.sse} clients: {per_second / 1024:.1f} KiB/s")
    # Noise-free: what the page costs the loop, whatever else the machine runs.
    print(f"status page render time: {result['render'] * 1e3:.2f} ms/snapshot")
    print(f"status page loop share at 1 snapshot/s: {result['render'] * 100:.2f} %")


def topic_counter_ns(n: int = 1_000_000) -> float:
    """Return the cost of the per-topic metrics handler on one bar event, in ns."""
    from decimal import Decimal

    from libra.model.events import Bar
    from libra.observability.metrics import TopicCounter

    bar = Bar("paper", "BTC/USD", "1m", Decimal(1), Decimal(1), Decimal(1), Decimal(1),
              Decimal(1), 1, 1)
    counter = TopicCounter()
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter_ns()
        for _ in range(n):
            counter(bar)
        best = min(best, (time.perf_counter_ns() - started) / n)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--baseline", type=float, default=10.0)
    parser.add_argument("--paths", type=lambda text: text.split(","), default=list(PATHS),
                        help="comma-separated paths, requested in turn")
    parser.add_argument("--sse", type=int, default=0, metavar="STREAMS",
                        help="measure the status page: this many open /api/stream clients")
    parser.add_argument("--rounds", type=int, default=3,
                        help="with --sse: alternations of without / with the streams")
    parser.add_argument("--client", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--stream-client", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        run_client(args.client, args.rate, args.duration, args.paths)
        return
    if args.stream_client:
        run_stream_client(args.stream_client, args.sse, args.duration)
        return
    from libra.cli import run_async
    from libra.observability.logging import configure_logging

    configure_logging(level="warning", fmt="json", kernel="http-load", stream=sys.stderr)
    if args.sse:
        page_report(args)
        return
    result = run_async(_daemon(args))
    client = result["client"]
    drop = 100 * (1 - result["loaded"] / result["alone"]) if result["alone"] else 0.0
    print(f"requests sent: {client['sent']} requests")
    print(f"requests served: {client['ok'] / client['elapsed']:.0f} req/s")
    print(f"request errors: {client['errors']} requests")
    print(f"latency p50: {client['p50'] * 1e3:.2f} ms")
    print(f"latency p99: {client['p99'] * 1e3:.2f} ms")
    print(f"kernel throughput alone: {result['alone']:.0f} events/s")
    print(f"kernel throughput under load: {result['loaded']:.0f} events/s")
    print(f"kernel throughput drop: {drop:.1f} %")
    print(f"daemon cpu alone: {result['cpu_alone']:.2f} cores")
    print(f"daemon cpu under load: {result['cpu_loaded']:.2f} cores")
    print(f"per-topic counter cost: {topic_counter_ns():.0f} ns/event")


if __name__ == "__main__":
    main()
