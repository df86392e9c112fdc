"""A paper venue wired as the kernel wires it: real bus, cache, simulated clock, engine."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from paper_desk import wire_paper_engine

from libra.core.bus import MessageBus
from libra.core.cache import Cache
from libra.core.clock import SimulatedClock
from libra.core.config import RiskConfig
from libra.data import load_bars, load_quotes, load_trades
from libra.gateways.paper import PaperGateway
from libra.model.orders import Order
from libra.trading.execution import ExecutionEngine
from libra.trading.orders_api import StrategyOrders

# The shared data folder sits beside the repository: /work/main -> /work/shared/data.
REPO = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
DATA = REPO.parent / "shared" / "data"
ETH_BTC_BARS = DATA / "freqtrade" / "derived" / "ETH_BTC-5m.csv"
BTC_TRADES = DATA / "nautilus_trader" / "derived" / "binance_btcusdt-trades.csv"
BTC_QUOTES = DATA / "nautilus_trader" / "derived" / "binance_btcusdt-quotes.csv"


def _need(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"shared data file not available: {path}")
    return path


@pytest.fixture(scope="session")
def eth_btc_bars() -> list[Any]:
    """Real freqtrade ETH/BTC 5m candles (from 2018-01-10 04:55 UTC)."""
    return list(load_bars(_need(ETH_BTC_BARS), symbol="ETH/BTC", venue="paper"))


@pytest.fixture(scope="session")
def btc_trades() -> list[Any]:
    """Real Binance BTC/USDT trades (2021-01-08)."""
    return list(load_trades(_need(BTC_TRADES), symbol="BTC/USDT", venue="paper"))


@pytest.fixture(scope="session")
def btc_quotes() -> list[Any]:
    """Real Binance BTC/USDT best bid/ask quotes (2021-01-08)."""
    return list(load_quotes(_need(BTC_QUOTES), symbol="BTC/USDT", venue="paper"))


@dataclass
class Venue:
    """One strategy (``s1``) trading on a paper gateway through the execution engine."""

    bus: MessageBus
    cache: Cache
    clock: SimulatedClock
    engine: ExecutionEngine
    gateway: PaperGateway
    orders: StrategyOrders
    events: list[Any] = field(default_factory=list)
    """Order events and fills delivered to the strategy's sink."""
    reports: list[Any] = field(default_factory=list)
    """Everything the venue reported, as it reported it."""

    def feed(self, event: Any) -> None:
        """Move the clock to the event's time and hand the event to the venue."""
        self.clock.set_time(event.ts_event)
        self.gateway.on_market_data(event)

    async def submit(self, **spec: Any) -> Order:
        """Submit an order built from keywords and send it to the venue."""
        order = self.orders.submit_order(**spec)
        await self.engine.flush()
        return order

    async def limit(self, **spec: Any) -> Order:
        """Submit a limit order (``create`` makes a market order unless told otherwise)."""
        return await self.submit(type="limit", **spec)

    def fills(self) -> list[Any]:
        return [e for e in self.events if e.kind == "filled"]

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    @property
    def balances(self) -> dict[str, Any]:
        return self.gateway.matching.balances


async def open_venue(options: dict[str, Any], risk: RiskConfig | None = None) -> Venue:
    clock = SimulatedClock()
    reports: list[Any] = []
    engine, gateway = await wire_paper_engine(clock, options, risk, reports)
    orders = engine.orders_api("s1", "paper")
    venue = Venue(engine.bus, engine.cache, clock, engine, gateway, orders, reports=reports)
    engine.bus.subscribe("order.s1.*", venue.events.append)
    return venue


@pytest.fixture
def venue_factory() -> Callable[..., Awaitable[Venue]]:
    return open_venue
