"""``libra state``: show or back up a state file without starting the daemon.

``libra state --config FILE`` reads ``kernel.state_path`` from the daemon's own config
(``--path FILE`` names the state file directly). The file is opened read-only, so this works
while the daemon runs. Positions are the last snapshot moved by the fills stored after it;
balances are each account's last snapshot. A simulated venue's own state (the paper
gateway's), if stored, is shown as ``venues``; orders no longer stored one by one (denied,
compacted) are shown as ``order_counts``. Times print as ISO 8601 UTC
(``2026-12-06T03:55:00.123Z``); ``--json`` keeps them as integer nanoseconds.
``libra state backup --config FILE OUT`` writes a consistent copy with SQLite's online
backup API.
Exit codes: 0 shown or copied, 2 no state file configured, missing, corrupt or foreign
file, or a backup that could not be made.
"""

from __future__ import annotations

import argparse
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from libra.cli._runtime import fail, load
from libra.cli._tables import render_table
from libra.core.clock import iso_utc
from libra.core.errors import ConfigError, StateStoreError
from libra.model.numbers import display
from libra.persistence.schema import connect_read_only
from libra.persistence.state import LoadedState, read_state
from libra.persistence.venue import VenueState, read_venue_states

EXIT_OK = 0
EXIT_BAD_FILE = 2
SECTIONS = ("orders", "fills", "positions", "balances", "venues", "all")


def register(subparsers: Any) -> None:
    """Add the ``state`` command to the ``libra`` parser."""
    parser = subparsers.add_parser(
        "state", help="show the state file (read-only), or back it up",
        usage="libra state (--config FILE | --path FILE) [SECTION] [--json]\n"
              "       libra state backup (--config FILE | --path FILE) OUT")
    _add_source(parser, argparse.SUPPRESS)
    parser.set_defaults(func=cmd_state, section="all", out=None, config=None, path=None,
                        json=False)
    # Sections and ``backup`` as sub-commands: the options may come before or after them.
    sections = parser.add_subparsers(dest="section", metavar="SECTION")
    for name in SECTIONS:
        _add_source(sections.add_parser(name, help=f"show {name}"), argparse.SUPPRESS)
    backup = sections.add_parser("backup", help="write a consistent copy (online backup)")
    _add_source(backup, argparse.SUPPRESS)
    backup.add_argument("out", help="the file to write (must not exist)")


def _add_source(parser: Any, default: Any) -> None:
    parser.add_argument("--config", "-c", default=default,
                        help="the daemon's config file (its kernel.state_path)")
    parser.add_argument("--path", default=default, help="the state file itself")
    parser.add_argument("--json", action="store_true", default=default, help="print JSON")


def _state_path(args: argparse.Namespace) -> Path:
    if (args.path is None) == (args.config is None):
        raise ConfigError("libra state: give either --config FILE or --path FILE")
    if args.path is not None:
        return Path(args.path)
    config = load(args.config)
    if config.kernel.state_path is None:
        raise ConfigError(f"{args.config}: kernel.state_path is not set: this daemon keeps "
                          "no state file")
    return Path(config.kernel.state_path)


def cmd_state(args: argparse.Namespace) -> int:
    """Print one section (or all) of the state file, or back it up; return the exit code."""
    args.section = args.section or "all"
    try:
        path = _state_path(args)
        if args.section == "backup":
            return _backup(path, args.out)
        conn = connect_read_only(path)
        try:
            state = read_state(conn)
            venues = read_venue_states(conn)
        finally:
            conn.close()
    except (ConfigError, StateStoreError) as exc:
        return fail(str(exc), EXIT_BAD_FILE)
    data = state_data(state, args.section, venues)
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print(render_text(data))
    return EXIT_OK


def _backup(path: Path, out: str) -> int:
    from libra.persistence.backup import backup

    copied = backup(path, Path(out))
    print(json.dumps(copied))
    return EXIT_OK


def state_data(state: LoadedState, section: str = "all",
               venues: dict[str, VenueState] | None = None) -> dict[str, Any]:
    """Return the chosen sections of ``state`` (and ``venues``) as plain data."""
    every = section == "all"
    data: dict[str, Any] = {}
    if every or section == "orders":
        data["orders"] = [_order_data(o) for o in state.orders.values()]
    if every or section == "fills":
        data["fills"] = [{k: _plain(v) for k, v in f.to_dict().items()} for f in state.fills]
    if every or section == "positions":
        data["positions"] = [p.snapshot() for p in state.positions()]
    if every or section == "balances":
        data["balances"] = {account: {c: str(v) for c, v in cash.items()}
                            for account, cash in state.balances.items()}
    if (every or section == "venues") and venues:
        data["venues"] = {name: _venue_data(venue) for name, venue in venues.items()}
    if every:
        data["order_counts"] = state.order_counts
        data["strategy_states"] = state.strategy_states
        data["id_counters"] = state.id_counters
        data["last_fill_ns"] = state.last_fill_ns
        data["problems"] = state.problems
    return data


def _venue_data(venue: VenueState) -> dict[str, Any]:
    account = venue.account
    return {
        "balances": {} if account is None else {c: str(v) for c, v in account.balances.items()},
        "reserved": {} if account is None else {c: str(v) for c, v in account.reserved.items()
                                                if v},
        "order_seq": None if account is None else account.order_seq,
        "trade_seq": None if account is None else account.trade_seq,
        "duplicate_submits": None if account is None else account.duplicate_submits,
        "orders": len(venue.orders),
        "fills": len(venue.fills),
        "open_orders": [{
            "client_order_id": o.client_order_id, "venue_order_id": o.venue_order_id,
            "symbol": o.symbol, "side": o.side, "type": o.type, "quantity": str(o.quantity),
            "price": _plain(o.price), "filled": str(o.filled), "status": o.status,
        } for o in venue.open_orders],
        "replay_ts": venue.replay_ts,
    }


def _order_data(order: Any) -> dict[str, Any]:
    keys = ("client_order_id", "strategy_id", "venue", "symbol", "side", "type", "quantity",
            "price", "status", "filled_quantity", "avg_fill_price", "venue_order_id",
            "reason", "ts_init", "ts_last")
    data = {key: _plain(getattr(order, key)) for key in keys}
    data["fees"] = {c: str(v) for c, v in order.fees.items()}
    return data


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    return getattr(value, "value", value)


_COLUMNS = {
    "orders": ("client_order_id", "strategy_id", "symbol", "side", "type", "quantity", "price",
               "status", "filled_quantity", "avg_fill_price"),
    "fills": ("ts_event", "client_order_id", "trade_id", "symbol", "side", "quantity", "price",
              "fee", "fee_currency"),
    "positions": ("strategy_id", "symbol", "side", "quantity", "avg_entry_price",
                  "realized_pnl", "fees"),
}


def render_text(data: dict[str, Any]) -> str:
    """Render ``state_data`` output as aligned text tables."""
    parts: list[str] = []
    for name, columns in _COLUMNS.items():
        if name in data:
            parts.append(f"{name} ({len(data[name])}):")
            parts.append(_table(columns, [[_cell(row.get(c), c) for c in columns]
                                          for row in data[name]]))
    if "balances" in data:
        parts.append(f"balances ({len(data['balances'])} accounts, last snapshot):")
        rows = [[account, currency, amount] for account, cash in data["balances"].items()
                for currency, amount in sorted(cash.items())]
        parts.append(_table(("account", "currency", "amount"), rows))
    for name, venue in data.get("venues", {}).items():
        parts.append(_venue_text(name, venue))
    for name in ("order_counts", "id_counters", "strategy_states", "problems"):
        if name in data:
            parts.append(f"{name}: {json.dumps(data[name], default=str)}")
    if "last_fill_ns" in data:
        marks = {venue: iso_utc(ns) for venue, ns in data["last_fill_ns"].items()}
        parts.append(f"last fill per venue: {json.dumps(marks)}")
    return "\n".join(parts)


def _venue_text(name: str, venue: dict[str, Any]) -> str:
    head = (f"venue {name} (its own state): {venue['orders']} orders, {venue['fills']} fills, "
            f"order_seq {venue['order_seq']}, trade_seq {venue['trade_seq']}, "
            f"duplicate_submits {venue['duplicate_submits']}, "
            f"replay time {iso_utc(venue['replay_ts'])}")
    rows = [[currency, amount, venue["reserved"].get(currency, "0")]
            for currency, amount in sorted(venue["balances"].items())]
    columns = ("client_order_id", "venue_order_id", "symbol", "side", "type", "quantity",
               "price", "filled", "status")
    orders = [[_cell(o.get(c)) for c in columns] for o in venue["open_orders"]]
    return "\n".join([head, _table(("currency", "balance", "reserved"), rows),
                      f"  open orders ({len(orders)}):", _table(columns, orders)])


def _cell(value: Any, column: str = "") -> str:
    if column.startswith("ts_") and isinstance(value, int):
        return iso_utc(value)
    return "-" if value is None else str(value)


#: Columns holding numbers: right-aligned, and shown at their precision (never ``0E-8``).
_NUMERIC = frozenset({"quantity", "price", "filled_quantity", "avg_fill_price", "fee",
                      "avg_entry_price", "realized_pnl", "fees", "amount", "balance",
                      "reserved", "filled"})


def _table(columns: tuple[str, ...], rows: list[list[str]]) -> str:
    return render_table(columns, [[_number(v) if c in _NUMERIC else v
                                   for c, v in zip(columns, row, strict=True)] for row in rows],
                        numeric=[c for c in columns if c in _NUMERIC])


def _number(text: str) -> str:
    try:
        return display(Decimal(text)) or text
    except ArithmeticError:  # "-" for none, or text that is not a number: shown as it is
        return text
