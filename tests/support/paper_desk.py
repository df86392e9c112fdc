"""Wire an ExecutionEngine to a paper venue the way the kernel does, for engine-level tests."""

from __future__ import annotations

from typing import Any

from libra.core.bus import MessageBus
from libra.core.cache import Cache
from libra.core.config import RiskConfig
from libra.gateways.paper import PaperGateway, PaperGatewayConfig
from libra.trading.execution import ExecutionEngine


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
    engine = ExecutionEngine(bus, cache, clock, risk or RiskConfig(), log_orders=False)
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
