"""Wire an ExecutionEngine to a paper venue the way the kernel does, for engine-level tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from libra.core.bus import MessageBus
from libra.core.cache import Cache
from libra.core.clock import SimulatedClock
from libra.core.config import RiskConfig
from libra.gateways.paper import PaperGateway, PaperGatewayConfig
from libra.model.events import Quote
from libra.trading.execution import ExecutionEngine

#: A paper venue with one instrument and both currencies funded.
BTC_USDT_VENUE: dict[str, Any] = {
    "starting_balances": {"USDT": "100000", "BTC": "10"},
    "instruments": {"BTC/USDT": {"tick_size": "0.01", "lot_size": "0.0001"}},
}


def btc_usdt_quote(bid: str, ask: str, ts: int) -> Quote:
    """Return a BTC/USDT quote on venue ``paper`` with 50 on each side."""
    return Quote(venue="paper", symbol="BTC/USDT", bid=Decimal(bid), ask=Decimal(ask),
                 bid_size=Decimal(50), ask_size=Decimal(50), ts_event=ts, ts_recv=ts)


def engine_on(gateway: PaperGateway, clock: Any, store: Any = None) -> ExecutionEngine:
    """Return an engine (not started) sending to an existing, connected venue ``paper``,
    which reports to it: for tests that restart against a venue that lived on."""
    engine = ExecutionEngine(MessageBus(), Cache(), clock, RiskConfig(), log_orders=False,
                             simulated=isinstance(clock, SimulatedClock))
    engine.add_gateway("paper", gateway)
    gateway.bind(lambda e: None, engine.on_order_event, clock)
    for instrument in gateway.instruments().values():
        engine.cache.add_instrument(instrument)
    engine.store = store
    return engine


async def wire_paper_engine(
    clock: Any,
    venue: dict[str, Any],
    risk: RiskConfig | None = None,
    reports: list[Any] | None = None,
) -> tuple[ExecutionEngine, PaperGateway]:
    """Return a started engine and a connected paper venue (id ``paper``) sharing one bus.

    ``reports``, when given, also receives everything the venue reports, as it reports it.
    """
    bus, cache = MessageBus(), Cache()
    engine = ExecutionEngine(bus, cache, clock, risk or RiskConfig(), log_orders=False,
                             simulated=isinstance(clock, SimulatedClock))
    gateway = PaperGateway(PaperGatewayConfig.model_validate(venue), gateway_id="paper")
    engine.add_gateway("paper", gateway)
    on_order_event = engine.on_order_event
    if reports is not None:
        def on_order_event(event: Any) -> None:
            reports.append(event)
            engine.on_order_event(event)

    gateway.bind(lambda e: bus.publish(e.topic, e), on_order_event, clock)
    bus.subscribe("data.**", cache.add_market_data, priority=100)
    await gateway.connect()
    for instrument in gateway.instruments().values():
        cache.add_instrument(instrument)
    engine.portfolio.set_balances("paper", await gateway.fetch_balances())
    await engine.start()
    return engine, gateway
