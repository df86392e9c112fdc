"""``sma_cross``: buy when the fast moving average crosses above the slow one, sell when below.

A small, real example strategy: it trades on bars (or on quote/trade prices
when it gets no bars), holds at most one long position per symbol, and uses
only the published API (``on_data``, ``on_fill``, the order helpers).
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import Field, model_validator

from libra.core.config import LibraModel
from libra.plugins.base import PluginMetadata, StrategyPlugin
from libra.plugins.context import StrategyContext


class SmaCrossConfig(LibraModel):
    fast: int = Field(10, gt=0)
    slow: int = Field(30, gt=1)
    quantity: Decimal = Field(Decimal("0.01"), gt=0)
    symbols: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fast_below_slow(self) -> SmaCrossConfig:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be smaller than slow ({self.slow})")
        return self


class _Averages:
    """Running sums of the last ``fast`` and ``slow`` closes (O(1) per bar)."""

    __slots__ = ("above", "closes", "fast", "fast_sum", "slow", "slow_sum")

    def __init__(self, fast: int, slow: int) -> None:
        self.fast, self.slow = fast, slow
        self.closes: deque[float] = deque(maxlen=slow)
        self.fast_sum = 0.0
        self.slow_sum = 0.0
        self.above: bool | None = None

    def update(self, close: float) -> int:
        """Add a close; return +1 on a cross up, -1 on a cross down, 0 otherwise."""
        closes, fast, slow = self.closes, self.fast, self.slow
        count = len(closes)
        if count == slow:  # full: the oldest close leaves both windows
            slow_sum = self.slow_sum = self.slow_sum - closes[0] + close
            fast_sum = self.fast_sum = self.fast_sum - closes[-fast] + close
            closes.append(close)
        else:
            slow_sum = self.slow_sum = self.slow_sum + close
            if count >= fast:
                fast_sum = self.fast_sum = self.fast_sum - closes[-fast] + close
            else:
                fast_sum = self.fast_sum = self.fast_sum + close
            closes.append(close)
            if count + 1 < slow:
                return 0
        above = fast_sum / fast > slow_sum / slow
        previous = self.above
        if above is previous:
            return 0
        self.above = above
        if previous is None:
            return 0
        return 1 if above else -1


class SmaCross(StrategyPlugin):
    """Moving-average crossover, long only."""

    config_model: ClassVar[type[SmaCrossConfig]] = SmaCrossConfig

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.params = SmaCrossConfig.model_validate(config or {})
        self._averages: dict[str, _Averages] = {}
        self.signals = 0
        self.fills = 0

    @classmethod
    def metadata(cls) -> PluginMetadata:
        return PluginMetadata.create(
            name="sma_cross",
            version="0.1.0",
            description="Simple moving average crossover (long only)",
            author="LIBRA developers",
        )

    @property
    def name(self) -> str:
        return "sma_cross"

    @property
    def symbols(self) -> list[str]:
        return list(self.params.symbols) or ["BTC/USDT"]

    async def initialize(self, context: StrategyContext) -> None:
        self.log.info("sma_cross ready: fast=%d slow=%d quantity=%s",
                      self.params.fast, self.params.slow, self.params.quantity)

    async def on_data(self, data: Any) -> None:
        symbol = data.symbol
        averages = self._averages.get(symbol)
        if averages is None:
            averages = self._averages[symbol] = _Averages(self.params.fast, self.params.slow)
        price = data.close if data.kind == "bar" else data.price
        if price is None:
            return
        signal = averages.update(float(price))
        if signal == 0:
            return
        self.signals += 1
        if signal > 0 and self.is_flat(symbol):
            self.buy_market(symbol, self.params.quantity, tag="cross_up")
        elif signal < 0 and self.is_long(symbol):
            self.close_position(symbol, tag="cross_down")

    async def on_fill(self, fill: Any) -> None:
        self.fills += 1

    async def shutdown(self) -> None:
        self.log.info("sma_cross shutting down: signals=%d fills=%d", self.signals, self.fills)

    def on_save(self) -> dict[str, Any]:
        return {"signals": self.signals, "fills": self.fills}

    def on_load(self, state: dict[str, Any]) -> None:
        self.signals = int(state.get("signals", 0))
        self.fills = int(state.get("fills", 0))
