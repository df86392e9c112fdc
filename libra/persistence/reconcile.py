"""Reconciliation: compare the restored state with what a venue reports, decide what to apply.

``reconcile`` only asks the gateway (``fetch_open_orders``, ``fetch_order``, ``fetch_fills``,
``fetch_balances``) and returns a ``ReconciliationReport``; it changes nothing. The rules:

* a fill the venue has and the store has not is applied once (known by client order id and
  trade id, as ``Order.apply_fill`` and the store's UNIQUE constraint also ensure);
* an order open in the store but not in the venue's open orders is closed only after
  ``fetch_order`` by client order id confirms how it ended; never on that absence alone;
* an order SUBMITTED without an ack (its submit outcome is unknown) is looked up with
  ``fetch_order``: found, it is accepted (and closed if the venue closed it); unknown twice,
  it is rejected as lost. It is never sent again;
* an order the venue has and the store has not is adopted, flagged or canceled (policy);
* anything that cannot be settled is an issue: the report is not ``ok`` and the kernel must
  not start trading unless configured to continue on a mismatch.

Gateways should return ``VenueOrderReport`` from ``fetch_open_orders`` and ``fetch_order``;
any object with ``client_order_id``, ``venue_order_id``, ``symbol``, ``side``, ``quantity``
and ``filled`` (the paper venue's ``VenueOrder``) is read the same way, its status inferred.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from libra.core.errors import GatewayError
from libra.model.fills import Fill
from libra.model.order_events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderRejected,
)
from libra.model.orders import Order, OrderSide, OrderStatus
from libra.persistence.state import LoadedState

VenueOrderStatus = Literal["open", "closed", "canceled", "filled", "expired", "rejected"]
VenueOnlyPolicy = Literal["adopt", "flag", "cancel"]

_ZERO = Decimal(0)
_STATUS_ALIASES = {"cancelled": "canceled", "new": "open", "partially_filled": "open",
                   "accepted": "open", "pending_cancel": "open"}
LOST_REASON = "lost: the venue does not know the order (submit outcome was unknown)"


@dataclass(frozen=True, slots=True)
class VenueOrderReport:
    """The venue's view of one order, as gateways should return it for reconciliation."""

    client_order_id: str
    venue_order_id: str | None
    symbol: str
    side: OrderSide
    status: VenueOrderStatus
    quantity: Decimal
    filled: Decimal
    price: Decimal | None = None
    strategy_id: str | None = None
    ts_event: int = 0


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One difference between store and venue that reconciliation could not settle."""

    kind: str
    detail: str
    client_order_id: str | None = None


@dataclass(slots=True)
class ReconciliationReport:
    """What reconciling one gateway found and what to apply, in order."""

    gateway_id: str
    events: list[Any] = field(default_factory=list)
    """Order events and fills to hand to ``ExecutionEngine.on_order_event``, in order."""
    adopt: list[VenueOrderReport] = field(default_factory=list)
    """Venue-only orders to add to the cache before ``events`` are applied."""
    cancel: list[VenueOrderReport] = field(default_factory=list)
    """Venue-only orders to adopt and then cancel."""
    balances: dict[str, Decimal] | None = None
    actions: list[str] = field(default_factory=list)
    """What was decided, one line each (for the log)."""
    issues: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is left unresolved."""
        return not self.issues

    def summary(self) -> dict[str, Any]:
        """Return plain data for one log line."""
        return {
            "gateway": self.gateway_id, "ok": self.ok, "events": len(self.events),
            "fills": sum(1 for e in self.events if isinstance(e, Fill)),
            "adopted": len(self.adopt), "canceled": len(self.cancel),
            "actions": list(self.actions),
            "issues": [f"{m.kind}: {m.detail}" for m in self.issues],
        }


def as_venue_report(venue_order: Any, *, is_open: bool, order: Order | None = None
                    ) -> VenueOrderReport:
    """Read a gateway's order object as a ``VenueOrderReport`` (duck typing).

    Without a ``status`` attribute the status is inferred: ``open`` if listed among the open
    orders, else ``filled`` when the filled quantity reaches the order's quantity, else
    ``canceled``. The paper venue lowers a canceled order's quantity to what filled, so our
    own order's quantity (``order``) is preferred when known.
    """
    if isinstance(venue_order, VenueOrderReport):
        return venue_order
    filled = Decimal(venue_order.filled or 0)
    quantity = order.quantity if order is not None else Decimal(venue_order.quantity)
    status = _status_of(venue_order, is_open, filled, quantity)
    side = venue_order.side
    return VenueOrderReport(
        client_order_id=venue_order.client_order_id,
        venue_order_id=getattr(venue_order, "venue_order_id", None),
        symbol=venue_order.symbol,
        side=side if isinstance(side, OrderSide) else OrderSide(str(side).lower()),
        status=status,
        quantity=quantity,
        filled=filled,
        price=getattr(venue_order, "price", None),
        strategy_id=getattr(venue_order, "strategy_id", None),
    )


def _status_of(venue_order: Any, is_open: bool, filled: Decimal, quantity: Decimal
               ) -> VenueOrderStatus:
    raw = getattr(venue_order, "status", None)
    if raw is not None:
        text = str(getattr(raw, "value", raw)).lower()
        text = _STATUS_ALIASES.get(text, text)
        if text in ("open", "closed", "canceled", "filled", "expired", "rejected"):
            return text  # type: ignore[return-value]
    if is_open:
        return "open"
    if filled > 0 and filled >= quantity:
        return "filled"
    return "canceled"


async def reconcile(
    gateway: Any,
    gateway_id: str,
    state: LoadedState,
    *,
    venue_only: VenueOnlyPolicy = "flag",
    symbols: Sequence[str] | None = None,
    confirm_delay: float = 1.0,
    fill_lookback_ns: int = 60_000_000_000,
) -> ReconciliationReport:
    """Compare ``state``'s orders and fills on ``gateway_id`` with the venue's; report.

    Args:
        gateway: anything with the gateway contract's ``fetch_*`` coroutines.
        state: the restored state (it is read, never changed).
        venue_only: what to do with an open venue order the store does not know.
        symbols: passed to ``fetch_open_orders`` (None: every symbol).
        confirm_delay: seconds between the two ``fetch_order`` calls that declare an
            unacknowledged order lost.
        fill_lookback_ns: how far before the last stored fill ``fetch_fills`` starts.
    """
    report = ReconciliationReport(gateway_id)
    ours = {coid: o for coid, o in state.orders.items() if o.venue == gateway_id}
    try:
        listed = await gateway.fetch_open_orders(symbols)
        fills = await gateway.fetch_fills(_fills_since(state, ours, gateway_id, fill_lookback_ns))
        report.balances = dict(await gateway.fetch_balances()) or None
    except GatewayError as exc:
        report.issues.append(Mismatch("venue_unavailable", f"{type(exc).__name__}: {exc}"))
        return report
    open_reports = {r.client_order_id: r for r in (
        as_venue_report(v, is_open=True, order=ours.get(v.client_order_id)) for v in listed)}
    known = state.known_fills | {(f.client_order_id, f.trade_id) for f in state.fills}
    new_fills = _new_fills(fills, known, gateway_id)
    _venue_only_orders(report, open_reports, ours, new_fills, venue_only)
    added = _fills_for_known_orders(report, ours, new_fills)
    for coid, order in ours.items():
        if not order.is_open:
            continue
        venue_report = open_reports.get(coid)
        if venue_report is None:
            venue_report = await _confirm(gateway, report, order, confirm_delay)
            if venue_report is None:
                continue
        _settle(report, order, venue_report, added.get(coid, _ZERO))
    return report


def _fills_since(state: LoadedState, ours: dict[str, Order], gateway_id: str,
                 lookback_ns: int) -> int | None:
    last = state.last_fill_ns.get(gateway_id)
    starts = [o.ts_init for o in ours.values() if o.is_open]
    if last is not None:
        starts.append(last)
    return max(0, min(starts) - lookback_ns) if starts else None


def _new_fills(fills: Iterable[Fill], known: set[tuple[str, str]], gateway_id: str
               ) -> list[Fill]:
    new: dict[tuple[str, str], Fill] = {}
    for fill in fills:
        key = (fill.client_order_id, fill.trade_id)
        if key not in known and key not in new and fill.venue == gateway_id:
            new[key] = fill
    return sorted(new.values(), key=lambda f: f.ts_event)


def _venue_only_orders(report: ReconciliationReport, open_reports: dict[str, VenueOrderReport],
                       ours: dict[str, Order], new_fills: list[Fill],
                       policy: VenueOnlyPolicy) -> None:
    strangers = [r for coid, r in open_reports.items() if coid not in ours]
    for venue_report in strangers:
        coid = venue_report.client_order_id
        if policy == "flag":
            report.issues.append(Mismatch("venue_only_order", f"open at the venue, unknown to "
                                          f"the store: {_describe(venue_report)}", coid))
            continue
        (report.adopt if policy == "adopt" else report.cancel).append(venue_report)
        report.actions.append(f"{policy} venue-only order {coid}")
        report.events.extend(f for f in new_fills if f.client_order_id == coid)
    adopted = {r.client_order_id for r in strangers} if policy != "flag" else set()
    for fill in new_fills:
        if fill.client_order_id not in ours and fill.client_order_id not in adopted:
            report.issues.append(Mismatch("unknown_fill", f"fill {fill.trade_id} for order "
                                          f"{fill.client_order_id} the store does not know",
                                          fill.client_order_id))


def _fills_for_known_orders(report: ReconciliationReport, ours: dict[str, Order],
                            new_fills: list[Fill]) -> dict[str, Decimal]:
    added: dict[str, Decimal] = {}
    for fill in new_fills:
        order = ours.get(fill.client_order_id)
        if order is None or fill.trade_id in order.trade_ids:
            continue
        total = order.filled_quantity + added.get(order.client_order_id, _ZERO) + fill.quantity
        if total > order.quantity or fill.side != order.side or \
                order.status in (OrderStatus.REJECTED, OrderStatus.DENIED):
            report.issues.append(Mismatch("fill_refused", f"fill {fill.trade_id} of "
                                          f"{fill.side} {fill.quantity} does not fit order "
                                          f"{order.client_order_id} ({order.side.value}, "
                                          f"{order.status.value}, "
                                          f"filled {order.filled_quantity}/{order.quantity})",
                                          order.client_order_id))
            continue
        added[order.client_order_id] = total - order.filled_quantity
        report.events.append(fill)
        report.actions.append(f"apply missed fill {fill.trade_id} of {order.client_order_id}")
    return added


async def _confirm(gateway: Any, report: ReconciliationReport, order: Order,
                   confirm_delay: float) -> VenueOrderReport | None:
    """Ask the venue about one order missing from its open orders (twice if unknown)."""
    coid = order.client_order_id
    for attempt in range(2):
        if attempt:
            await asyncio.sleep(confirm_delay)
        try:
            found = await gateway.fetch_order(coid, order.symbol)
        except GatewayError as exc:
            report.issues.append(Mismatch("venue_unavailable", f"fetch_order {coid}: "
                                          f"{type(exc).__name__}: {exc}", coid))
            return None
        if found is not None:
            return as_venue_report(found, is_open=False, order=order)
    if order.status is OrderStatus.SUBMITTED:
        report.events.append(OrderRejected.from_order(order, order.ts_last, reason=LOST_REASON))
        report.actions.append(f"reject lost order {coid} (unknown to the venue twice)")
    else:
        report.issues.append(Mismatch("venue_forgot_order", f"order {coid} "
                                      f"({order.status.value}) is unknown to the venue", coid))
    return None


def _settle(report: ReconciliationReport, order: Order, venue: VenueOrderReport,
            added: Decimal) -> None:
    """Bring one open order in line with the venue's report of it."""
    coid = order.client_order_id
    ts = max(order.ts_last, venue.ts_event)
    ours = order.filled_quantity + added
    if venue.filled != ours:
        report.issues.append(Mismatch("fill_mismatch", f"order {coid}: venue filled "
                                      f"{venue.filled}, store and fills {ours}", coid))
    submitted = order.status is OrderStatus.SUBMITTED
    if venue.status == "rejected" and submitted and not ours:
        report.events.append(OrderRejected.from_order(
            order, ts, reason="rejected by the venue", venue_order_id=venue.venue_order_id))
        report.actions.append(f"reject {coid}: the venue refused it")
        return
    if submitted and not ours:
        report.events.append(OrderAccepted.from_order(order, ts,
                                                      venue_order_id=venue.venue_order_id))
        report.actions.append(f"accept {coid}: the venue has it ({venue.status})")
    if venue.status == "open":
        if order.status is OrderStatus.PENDING_CANCEL:
            # The cancel was lost with the process: the order works again, the strategy
            # sees the cancel refused and may cancel it again.
            report.events.append(OrderCancelRejected.from_order(
                order, ts, reason="cancel not confirmed before restart",
                venue_order_id=venue.venue_order_id))
            report.actions.append(f"reopen {coid}: its cancel did not reach the venue")
        return
    if ours >= order.quantity or venue.status == "filled" or (
            venue.status == "closed" and venue.filled >= order.quantity):
        return  # filled: by the fills above, or missing fills already reported as an issue
    closing: Any
    if venue.status == "expired":
        closing = OrderExpired.from_order(order, ts, venue_order_id=venue.venue_order_id)
    else:
        closing = OrderCanceled.from_order(order, ts, venue_order_id=venue.venue_order_id)
    report.events.append(closing)
    report.actions.append(f"close {coid} as {closing.kind} (confirmed by fetch_order)")


def _describe(venue_report: VenueOrderReport) -> str:
    return (f"{venue_report.client_order_id} {venue_report.side.value} {venue_report.quantity} "
            f"{venue_report.symbol} filled {venue_report.filled}")
