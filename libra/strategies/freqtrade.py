"""The ``freqtrade`` strategy plugin: run freqtrade ``IStrategy`` classes inside LIBRA."""

from __future__ import annotations

from typing import Any

from libra.core.errors import StrategyError
from libra.plugins.base import PluginMetadata, StrategyPlugin


class FreqtradeAdapter(StrategyPlugin):
    """Adapter running a freqtrade strategy on LIBRA bars."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.options = dict(config or {})

    @classmethod
    def metadata(cls) -> PluginMetadata:
        return PluginMetadata.create(
            name="freqtrade",
            version="0.1.0",
            description="Run freqtrade IStrategy classes on LIBRA (live, paper, backtest)",
            author="LIBRA developers",
            requires=["freqtrade"],
        )

    @property
    def name(self) -> str:
        return "freqtrade"

    @property
    def symbols(self) -> list[str]:
        return list(self.options.get("pairs", []))

    async def initialize(self, context: dict[str, Any]) -> None:
        raise StrategyError("the freqtrade adapter is not available in this version of LIBRA")

    async def on_data(self, data: Any) -> None:
        return None
