"""History download throughput: candles stored per second, end to end.

Run: python benchmarks/data_download.py [--candles N] [--repeat R]
Prints one figure per line as ``label: value unit``.

The venue is the local exchange (``libra.testing.exchange``) in a process of its own,
serving a declared history of 1m BTC/USDT candles through Binance's ``klines`` endpoint,
1,000 per page. The figure counts everything the client does: building the ccxt client
and loading markets, every page request through unmodified ccxt (``fetch_ohlcv`` parses
each row), merging, and the atomic Parquet write; it is the candle count over the
median wall time of ``--repeat`` fresh downloads. ccxt's rate limiter is off for the
main figure (a real venue's request budget, not our code, would bound it). The
``client CPU`` line divides by the client process's CPU time only: what the download
costs, whatever else the machine (here, the venue) is doing. The
``rate limiter on`` line keeps Binance's own limiter (50 ms per weight unit, klines
weigh 0.4), which is what a real download meets. The resume figure is a second run
over a complete file: the cost of checking that nothing is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from libra.gateways.ccxt.config import CCXTGatewayConfig
from libra.gateways.ccxt.download import DownloadPlan, HistoryDownloader
from libra.observability.logging import configure_logging
from libra.testing.contract import ccxt_gateway_options

_START_MS = 1_700_000_000_000 - 1_700_000_000_000 % 60_000
_SERVER = """
import asyncio, sys
from libra.testing.exchange import LocalExchange, LocalExchangeConfig

async def main(count):
    async with LocalExchange(LocalExchangeConfig(replay=False)) as exchange:
        exchange.history.add_candles("BTCUSDT", "1m", {start}, count)
        print(exchange.url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main(int(sys.argv[1])))
"""


def _options(url: str, rate_limit: bool) -> CCXTGatewayConfig:
    port = url.rsplit(":", 1)[1]
    venue = SimpleNamespace(url=url, ws_url=f"ws://127.0.0.1:{port}",
                            api_key="libra-local-api-key", api_secret="libra-local-api-secret")
    return CCXTGatewayConfig.model_validate(
        ccxt_gateway_options(venue, rate_limit=rate_limit, timeout_ms=30_000))


async def _download(options: CCXTGatewayConfig, directory: Path, count: int) -> Any:
    plan = DownloadPlan(("BTC/USDT",), "1m", directory, since_ms=_START_MS,
                        until_ms=_START_MS + count * 60_000)
    async with HistoryDownloader(options) as downloader:
        return (await downloader.download(plan))[0]


def _timed(options: CCXTGatewayConfig, directory: Path, count: int
           ) -> tuple[float, float, Any]:
    started, cpu = time.perf_counter(), time.process_time()
    result = asyncio.run(_download(options, directory, count))
    return time.perf_counter() - started, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    configure_logging(level="warning", fmt="json", kernel="benchmark", stream=sys.stderr)
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER.format(start=_START_MS), str(args.candles)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        options = _options(url, rate_limit=False)
        walls, cpus = [], []
        with tempfile.TemporaryDirectory() as folder:
            for run in range(args.repeat):
                wall, cpu, result = _timed(options, Path(folder) / str(run), args.candles)
                assert result.stored == args.candles, result
                walls.append(wall)
                cpus.append(cpu)
            resume_wall, _, resumed = _timed(options, Path(folder) / "0", args.candles)
            limited = min(args.candles, 50_000)
            limited_wall, _, _ = _timed(_options(url, rate_limit=True),
                                        Path(folder) / "limited", limited)
            size = (Path(folder) / "0" / "binance" / "BTC_USDT" / "1m.parquet").stat().st_size
        median = statistics.median(walls)
        print(f"data download {args.candles:,} 1m candles: {args.candles / median:,.0f} candles/s")
        print(f"data download wall time: {median:.2f} s")
        print(f"data download client CPU: {args.candles / statistics.median(cpus):,.0f} "
              "candles/CPU-s")
        print(f"data download rate limiter on ({limited:,} candles): "
              f"{limited / limited_wall:,.0f} candles/s")
        print(f"data download resume of a complete file: {resume_wall * 1000:,.0f} ms "
              f"({resumed.requests} requests)")
        print(f"data download file size: {size / args.candles:.1f} bytes/candle")
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
