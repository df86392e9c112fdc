"""Read a state file back into domain objects: ``read_state`` -> ``LoadedState``.

Orders are rebuilt by replaying their stored events through the state machine
(``apply_event``), so a restored order is exactly the order the engine had: status, filled
quantity, average price, fees, trade ids, venue order id. Positions are recomputed from the
stored fills in the order the engine applied them (the fills are the source of truth; stored
position snapshots are kept for inspection only). Cash starts from each account's last balance
snapshot and moves with the fills applied after it.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgspec

from libra.core.errors import InvalidOrderTransition, OverfillError
from libra.model.fills import Fill
from libra.model.order_events import ORDER_EVENT_TYPES, apply_event
from libra.model.orders import Order
from libra.model.positions import Position
from libra.trading.portfolio import Portfolio

_EVENT_TYPES: dict[str, type[Any]] = {cls.kind: cls for cls in ORDER_EVENT_TYPES}  # type: ignore[attr-defined]
_DECODERS = {kind: msgspec.json.Decoder(cls) for kind, cls in _EVENT_TYPES.items()}

_ORDER_COLUMNS = (
    "client_order_id, strategy_id, venue, symbol, side, type, quantity, price, trigger_price, "
    "time_in_force, post_only, reduce_only, ts_init, ts_submitted"
)


@dataclass(slots=True)
class LoadedState:
    """Everything a state file holds, as domain objects."""

    orders: dict[str, Order] = field(default_factory=dict)
    """Every order by client order id, rebuilt from its events."""
    fills: list[Fill] = field(default_factory=list)
    """Every stored fill, in the order the engine applied them."""
    fill_seqs: list[int] = field(default_factory=list)
    """The event sequence number of each fill in ``fills``."""
    balances: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    """The last balance snapshot per account."""
    balance_seqs: dict[str, int] = field(default_factory=dict)
    """The last event written before each account's snapshot."""
    position_snapshots: list[dict[str, Any]] = field(default_factory=list)
    strategy_states: dict[str, dict[str, Any]] = field(default_factory=dict)
    id_counters: dict[str, int] = field(default_factory=dict)
    """How many client order ids each strategy has issued."""
    last_fill_ns: dict[str, int] = field(default_factory=dict)
    """The latest fill time (venue ``ts_event``) per gateway."""
    problems: list[str] = field(default_factory=list)
    """Stored events the state machine refused on replay (each one is a mismatch)."""

    @property
    def open_orders(self) -> list[Order]:
        """The orders still open after replay."""
        return [o for o in self.orders.values() if o.is_open]

    def rebuild_portfolio(self, portfolio: Portfolio | None = None,
                          keep_accounts: frozenset[str] = frozenset()) -> Portfolio:
        """Apply the stored balances and fills to ``portfolio`` (a new one if None).

        Each account starts from its last snapshot, then moves with the later fills. The
        balances of ``keep_accounts`` (already set from the venue) are kept as they are.

        Raises:
            ValueError: a fill's symbol has no instrument and is not ``BASE/QUOTE``.
        """
        portfolio = Portfolio() if portfolio is None else portfolio
        kept = {account: portfolio.balances(account) for account in keep_accounts}
        pending = dict(self.balance_seqs)
        for seq, fill in zip(self.fill_seqs, self.fills, strict=True):
            if pending.get(fill.venue, seq) < seq:
                portfolio.set_balances(fill.venue, self.balances[fill.venue])
                del pending[fill.venue]
            portfolio.apply_fill(fill)
        for account in pending:
            portfolio.set_balances(account, self.balances[account])
        for account, balances in kept.items():
            portfolio.set_balances(account, balances)
        return portfolio

    def positions(self) -> list[Position]:
        """Return the positions recomputed from the stored fills."""
        return self.rebuild_portfolio().positions()


def read_state(conn: sqlite3.Connection) -> LoadedState:
    """Read a whole state file (a read-only connection is enough)."""
    state = LoadedState()
    for row in conn.execute(f"SELECT {_ORDER_COLUMNS} FROM orders ORDER BY rowid"):
        order = _order_from_row(row)
        state.orders[order.client_order_id] = order
    _replay_events(conn, state)
    for account, text, seq in conn.execute(
            "SELECT account, balances, event_seq FROM balance_snapshots"):
        state.balances[account] = {c: Decimal(v) for c, v in json.loads(text).items()}
        state.balance_seqs[account] = seq
    state.position_snapshots = [
        json.loads(text) for (text,) in
        conn.execute("SELECT snapshot FROM position_snapshots ORDER BY strategy_id, symbol")
    ]
    state.strategy_states = {
        sid: json.loads(text)
        for sid, text in conn.execute("SELECT strategy_id, state FROM strategy_states")
    }
    state.id_counters = dict(conn.execute("SELECT strategy_id, count FROM id_counters"))
    state.last_fill_ns = dict(
        conn.execute("SELECT venue, max(ts_event) FROM fills GROUP BY venue"))
    return state


def _order_from_row(row: tuple[Any, ...]) -> Order:
    (coid, strategy_id, venue, symbol, side, order_type, quantity, price, trigger_price,
     time_in_force, post_only, reduce_only, ts_init, ts_submitted) = row
    order = Order(
        client_order_id=coid, strategy_id=strategy_id, venue=venue, symbol=symbol,
        side=side, type=order_type, quantity=Decimal(quantity),
        price=None if price is None else Decimal(price),
        trigger_price=None if trigger_price is None else Decimal(trigger_price),
        time_in_force=time_in_force, post_only=bool(post_only), reduce_only=bool(reduce_only),
        ts_init=ts_init,
    )
    if ts_submitted is not None:
        order.submit(ts_submitted)
    return order


def _replay_events(conn: sqlite3.Connection, state: LoadedState) -> None:
    orders = state.orders
    for seq, coid, kind, payload in conn.execute(
            "SELECT seq, client_order_id, kind, payload FROM order_events ORDER BY seq"):
        decoder = _DECODERS.get(kind)
        order = orders.get(coid)
        if decoder is None or order is None:
            state.problems.append(f"event {seq} ({kind}) of order {coid!r} cannot be replayed: "
                                  f"{'unknown event kind' if decoder is None else 'no order'}")
            continue
        event = decoder.decode(payload)
        try:
            changed = apply_event(order, event)
        except (InvalidOrderTransition, OverfillError, ValueError) as exc:
            state.problems.append(f"event {seq} ({kind}) of order {coid!r} refused on "
                                  f"replay: {exc}")
            continue
        if changed and kind == "filled":
            state.fills.append(event)
            state.fill_seqs.append(seq)
