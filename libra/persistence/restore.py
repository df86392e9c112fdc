"""Put a restored state and a reconciliation report into a (not yet trading) execution engine.

Call order at start, before any strategy starts: ``restore_into(engine, state)``, then
``reconcile(...)`` and ``apply_reconciliation(engine, report)`` for each gateway. Both go
through the engine's own objects (cache, portfolio, state machine), so everything applied by
reconciliation is recorded in the store like any live event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from libra.model.identifiers import ClientOrderIdGenerator
from libra.model.order_events import OrderAccepted
from libra.model.orders import Order, OrderType
from libra.persistence.reconcile import ReconciliationReport, VenueOrderReport
from libra.persistence.state import LoadedState

if TYPE_CHECKING:
    from libra.trading.execution import ExecutionEngine

ADOPTED_STRATEGY_ID = "external"
"""The owner of an adopted venue-only order whose report names no strategy."""


def restore_into(engine: ExecutionEngine, state: LoadedState) -> dict[str, int]:
    """Load orders into the cache, fills into the portfolio and restore the id counters.

    Fills are applied to the portfolio directly (positions are recomputed from them), so
    nothing is recorded again. Balances the engine already has from a venue are kept; other
    accounts get their last snapshot plus the fills after it. Return counts for the log.

    Raises:
        ValueError: a stored fill's symbol has no instrument and is not ``BASE/QUOTE``.
    """
    portfolio = engine.portfolio
    for instrument in engine.cache.instruments.values():
        portfolio.add_instrument(instrument)
    for order in state.orders.values():
        engine.cache.add_order(order)
    state.rebuild_portfolio(portfolio, keep_accounts=frozenset(portfolio.accounts),
                            instruments=engine.cache.instruments.values())
    for strategy_id, count in state.id_counters.items():
        _restore_id_generator(engine, strategy_id, count)
    # The daily loss limit measures from the PnL last seen: start it from the restored PnL.
    engine.risk.on_pnl(engine.total_pnl(), engine.clock.timestamp_ns())
    return {
        "orders": len(state.orders),
        "open_orders": len(state.open_orders),
        "fills": len(state.fills),
        "positions": len(portfolio.positions(open_only=True)),
        "problems": len(state.problems),
    }


def _restore_id_generator(engine: ExecutionEngine, strategy_id: str, count: int) -> None:
    restore = getattr(engine, "restore_id_generator", None)
    if restore is not None:
        restore(strategy_id, count)
        return
    # Until the engine has ``restore_id_generator``: a generator created before this one
    # may already have issued ids, so never go below its count.
    current = engine.id_generator(strategy_id).count
    engine._id_generators[strategy_id] = ClientOrderIdGenerator(
        strategy_id, start=max(count, current))


def apply_reconciliation(engine: ExecutionEngine, report: ReconciliationReport,
                         adopt_strategy_id: str = ADOPTED_STRATEGY_ID) -> None:
    """Apply a report: adopt venue-only orders, apply its events, cancel, set balances.

    Adopted orders are recorded in the store like new intents (they never leave the
    process: the venue already has them).
    """
    now = engine.clock.timestamp_ns()
    for venue_order in (*report.adopt, *report.cancel):
        order = adopted_order(venue_order, report.gateway_id, adopt_strategy_id, now)
        engine.cache.add_order(order)
        if engine.store is not None:
            engine.store.record_order(order)
        engine.on_order_event(OrderAccepted.from_order(
            order, now, venue_order_id=venue_order.venue_order_id))
    for event in report.events:
        engine.on_order_event(event)
    for venue_order in report.cancel:
        cached = engine.cache.order(venue_order.client_order_id)
        if cached is not None:
            engine.cancel(cached)
    if report.balances:
        engine.portfolio.set_balances(report.gateway_id, report.balances)


def adopted_order(venue_order: VenueOrderReport, gateway_id: str, strategy_id: str,
                  now: int) -> Order:
    """Build the SUBMITTED order that stands for a venue-only order."""
    order = Order(
        client_order_id=venue_order.client_order_id,
        strategy_id=venue_order.strategy_id or strategy_id,
        venue=gateway_id,
        symbol=venue_order.symbol,
        side=venue_order.side,
        type=OrderType.MARKET if venue_order.price is None else OrderType.LIMIT,
        quantity=venue_order.quantity,
        price=venue_order.price,
        ts_init=now,
    )
    order.submit(now)
    return order


def summary_fields(state: LoadedState) -> dict[str, Any]:
    """Return plain data describing a loaded state (for one log line)."""
    return {
        "orders": len(state.orders),
        "open_orders": [o.client_order_id for o in state.open_orders],
        "fills": len(state.fills),
        "id_counters": dict(state.id_counters),
        "last_fill_ns": dict(state.last_fill_ns),
        "problems": list(state.problems),
    }
