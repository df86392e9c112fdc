"""What a log line looks like to a person: numbers, strategy lines, the terminal.

Three processors shared by both formats, or for the terminal only:

- :func:`plain_values` turns every ``Decimal`` in a line, nested ones included, into
  plain text with no exponent and no run of noise digits (``0E-8`` is ``0``). Call
  sites that know the instrument round to its precision first (``libra.model.numbers``);
  this is the floor for those that do not.
- :func:`strategy_lines` gives a strategy's own log lines (its ``self.log``, a standard
  logger named ``libra.strategy.<id>``) the ``strategy_id`` and, in JSON, the fixed event
  name ``strategy.log`` with the text under ``message``: a free-text ``event`` cannot be
  filtered on.
- :func:`compact_for_terminal` (terminal only) writes the lines a person watches as one
  sentence each: a fill reads ``fill sma-btc sell 0.05 BTC/USD @ 46293.37 | fee 1.62 USD |
  position 0 | pnl -4.71 USD (total -8.33) | market 2022-01-01 00:20``; a heartbeat is one
  line of counts instead of nested tables. The kernel name, on every JSON
  line for log shippers, is left out.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import structlog
from structlog.types import EventDict, WrappedLogger

from libra.model.numbers import display

STRATEGY_LOGGER = "libra.strategy."
#: Width of the event column on a terminal: most event names fit, a fill's summary runs on.
EVENT_WIDTH = 24


def plain(value: Any) -> Any:
    """Return ``value`` with every Decimal inside it as plain text (see the module doc)."""
    if isinstance(value, Decimal):
        return display(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def plain_values(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """Render Decimals, at any depth, as plain text."""
    for key, value in event_dict.items():
        if isinstance(value, Decimal | dict | list | tuple):
            event_dict[key] = plain(value)
    return event_dict


def strategy_lines(json: bool) -> structlog.types.Processor:
    """Return the processor that marks a strategy's own lines (see the module doc)."""

    def mark(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
        name = event_dict.get("logger")
        if not isinstance(name, str) or not name.startswith(STRATEGY_LOGGER):
            return event_dict
        event_dict.setdefault("strategy_id", name[len(STRATEGY_LOGGER):])
        if json:
            event_dict["message"] = event_dict.get("event")
            event_dict["event"] = "strategy.log"
        else:
            del event_dict["logger"]  # the strategy id says it
        return event_dict

    return mark


def compact_for_terminal(logger: WrappedLogger, method: str, event_dict: EventDict
                         ) -> EventDict:
    """Fold fills and heartbeats into one short line each; drop the kernel name."""
    event_dict.pop("kernel", None)
    event = event_dict.get("event")
    if event == "order.filled":
        return _fill_line(event_dict)
    if event == "kernel.heartbeat":
        return _heartbeat_line(event_dict)
    return event_dict


def _fill_line(line: EventDict) -> EventDict:
    """``fill sma-btc sell 0.05 BTC/USD @ 46362.36 | fee 1.62 USD | position 0 | ...``.

    ``pnl`` is what this fill realized; a fill that realized something also shows the
    position's running total. In a replay the line ends with the market time.
    """
    quote = line.get("quote_currency") or ""
    pnl = f"pnl {_with_unit(line.get('realized_pnl'), quote)}"
    if not _is_zero(line.get("realized_pnl")):
        pnl += f" (total {line.get('position_realized_pnl')})"
    parts = [f"fill {line.get('strategy_id')} {line.get('side')} {line.get('fill_quantity')} "
             f"{line.get('symbol')} @ {line.get('fill_price')}",
             f"fee {_with_unit(line.get('fee'), line.get('fee_currency'))}",
             f"position {line.get('position')}", pnl]
    if line.get("status") != "filled":
        parts.append(f"order {line.get('filled')} filled")
    if "market_time" in line:
        parts.append(f"market {_minutes(line['market_time'])}")
    return _text_line(line, " | ".join(parts))


def _heartbeat_line(line: EventDict) -> EventDict:
    """``heartbeat | market 2022-01-01 01:19 | 305 ev/s | 19 fills | pnl -20.86 USD | ...``.

    Fits 140 columns for one strategy and one position: what is normal (no open order,
    every strategy running, every gateway up) goes unsaid, what is not is named. The
    JSON line keeps every count.
    """
    orders = line.get("orders") or {}
    risk = line.get("risk") or {}
    parts = ["heartbeat"]
    if "market_time" in line:
        parts.append(f"market {_minutes(line['market_time'])}")
    parts += [f"{line.get('events_per_second', 0):.0f} ev/s", f"{orders.get('filled', 0)} fills"]
    if line.get("open_orders"):
        parts.append(f"{line['open_orders']} open orders")
    parts += [f"pnl {_with_unit(line.get('pnl'), line.get('pnl_currency'))}",
              str(risk.get("trading_state"))]
    if risk.get("paused"):
        parts.append(f"paused {', '.join(sorted(risk['paused']))}")
    positions = [f"{key} {p.get('quantity')}"
                 for key, p in (line.get("positions") or {}).items() if _nonzero(p)]
    parts.append(", ".join(positions) or "flat")
    down = [gid for gid, g in (line.get("gateways") or {}).items()
            if isinstance(g, dict) and not g.get("connected", True)]
    if down:
        parts.append(f"gateways down {', '.join(down)}")
    strategies = line.get("strategies") or {}
    parts += [_strategy_word(sid, s) for sid, s in strategies.items() if _in_trouble(s)]
    return _text_line(line, " | ".join(parts))


def _text_line(line: EventDict, text: str) -> EventDict:
    out: EventDict = {key: line[key] for key in ("timestamp", "level") if key in line}
    out["event"] = text
    return out


def _minutes(iso: Any) -> Any:
    """``2022-01-01T00:59:00.000Z`` -> ``2022-01-01 00:59`` (UTC, to the minute)."""
    return f"{iso[:10]} {iso[11:16]}" if isinstance(iso, str) and len(iso) >= 16 else iso


def _in_trouble(stats: Any) -> bool:
    return not isinstance(stats, dict) or stats.get("state") != "running" or any(
        stats.get(key) for key in ("errors", "dropped"))


def _strategy_word(strategy_id: str, stats: Any) -> str:
    if not isinstance(stats, dict):
        return strategy_id
    word = f"{strategy_id} {stats.get('state')}"
    trouble = [f"{stats[k]} {k}" for k in ("errors", "dropped") if stats.get(k)]
    return f"{word} ({', '.join(trouble)})" if trouble else word


def _nonzero(position: Any) -> bool:
    return isinstance(position, dict) and not _is_zero(position.get("quantity"))


def _is_zero(text: Any) -> bool:
    try:
        return Decimal(str(text)) == 0
    except ArithmeticError:  # None or not a number
        return True


def _with_unit(amount: Any, unit: Any) -> Any:
    return f"{amount} {unit}" if amount is not None and unit else amount


def console_renderer(colors: bool) -> structlog.dev.ConsoleRenderer:
    """Return the terminal renderer: keys in the order the line gives them, no locals."""
    return structlog.dev.ConsoleRenderer(
        colors=colors, pad_event_to=EVENT_WIDTH, sort_keys=False, pad_level=False,
        exception_formatter=structlog.dev.plain_traceback)
