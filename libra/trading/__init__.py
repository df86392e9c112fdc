"""Trading: portfolio bookkeeping, risk checks and order execution, on top of the pure model."""

from libra.trading.portfolio import Portfolio

__all__ = ["Portfolio"]
