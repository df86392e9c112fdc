"""Statistics of one symbol in a backtest of several: what each instrument contributed.

A portfolio's curve hides which symbols earned and which lost; these figures are computed
from the closed trades and the fills of each symbol alone. Money stays Decimal (as the
engine books it); ratios are floats or None when they cannot be measured, as in
``stats.py``, so ``to_dict()`` is always JSON-safe.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class SymbolStats:
    """What one symbol's trades and fills came to."""

    symbol: str
    trades: int
    wins: int
    losses: int
    pnl: Decimal
    fees: Decimal
    volume: Decimal
    fills: int
    best_trade: Decimal | None
    worst_trade: Decimal | None
    force_exits: int

    @property
    def win_rate(self) -> float | None:
        """Return the share of closed trades with a positive net PnL (None without trades)."""
        return self.wins / self.trades if self.trades else None

    @property
    def avg_trade(self) -> Decimal | None:
        """Return the mean net PnL of a closed trade (None without trades)."""
        return self.pnl / self.trades if self.trades else None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict; Decimal values become strings."""
        def money(value: Decimal | None) -> str | None:
            return None if value is None else str(value)

        return {
            "symbol": self.symbol, "trades": self.trades, "wins": self.wins,
            "losses": self.losses, "win_rate": self.win_rate, "pnl": str(self.pnl),
            "avg_trade": money(self.avg_trade), "best_trade": money(self.best_trade),
            "worst_trade": money(self.worst_trade), "fees": str(self.fees),
            "volume": str(self.volume), "fills": self.fills, "force_exits": self.force_exits,
        }


def per_symbol_stats(trades: Iterable[Any], fills: Iterable[Any]) -> dict[str, SymbolStats]:
    """Return each traded symbol's figures, by symbol name in sorted order.

    ``trades`` are closed round trips (``TradeRecord``: net ``pnl``, ``exit_tag``); the fill
    count, volume (traded notional) and fees come from ``fills``, so a symbol whose last
    position is still open shows its fees too.
    """
    pnls: dict[str, list[Decimal]] = {}
    forced: dict[str, int] = {}
    for trade in trades:
        pnls.setdefault(trade.symbol, []).append(trade.pnl)
        if trade.exit_tag == "force_exit":
            forced[trade.symbol] = forced.get(trade.symbol, 0) + 1
    volume: dict[str, Decimal] = {}
    fees: dict[str, Decimal] = {}
    counts: dict[str, int] = {}
    for fill in fills:
        symbol = fill.symbol
        volume[symbol] = volume.get(symbol, _ZERO) + fill.quantity * fill.price
        fees[symbol] = fees.get(symbol, _ZERO) + fill.fee
        counts[symbol] = counts.get(symbol, 0) + 1
    out: dict[str, SymbolStats] = {}
    for symbol in sorted(set(pnls) | set(counts)):
        results = pnls.get(symbol, [])
        out[symbol] = SymbolStats(
            symbol=symbol, trades=len(results), wins=sum(1 for p in results if p > 0),
            losses=sum(1 for p in results if p < 0), pnl=sum(results, _ZERO),
            fees=fees.get(symbol, _ZERO), volume=volume.get(symbol, _ZERO),
            fills=counts.get(symbol, 0), best_trade=max(results, default=None),
            worst_trade=min(results, default=None), force_exits=forced.get(symbol, 0),
        )
    return out
