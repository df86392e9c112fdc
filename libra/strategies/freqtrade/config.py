"""Options of the ``freqtrade`` strategy plugin."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from libra.core.config import LibraModel


class FreqtradeAdapterConfig(LibraModel):
    """Which freqtrade strategy to run, on which pairs, with which stake.

    ``strategy`` is the class name (freqtrade's ``--strategy``); it is found in the folder
    ``strategy_path`` (freqtrade's ``--strategy-path``) or in the importable ``module``.
    """

    strategy: str = Field(description="IStrategy class name, as freqtrade's --strategy")
    strategy_path: str | None = Field(None, description="folder holding the strategy file")
    module: str | None = Field(None, description="importable module holding the strategy")
    pairs: list[str] = Field(default_factory=list, description="pairs such as ETH/BTC")
    stake_amount: Decimal | Literal["unlimited"] = Field(
        Decimal("0.01"), description="quote amount per trade, or unlimited")
    tradable_balance_ratio: Decimal = Field(Decimal("0.99"), gt=0, le=1)
    max_open_trades: int = Field(1, ge=-1, description="-1: no limit")
    timeframe: str | None = Field(None, description="override of the strategy's timeframe")
    fee: Decimal = Field(Decimal("0.001"), ge=0,
                         description="fee rate freqtrade's trade maths uses (ROI price, profit)")
    window: int = Field(1000, ge=0, description="candles kept per pair; 0 keeps all")
    history: str | None = Field(
        None, description="backtest only: compute signals once over this file, as freqtrade's "
        "backtester does, instead of once per closed candle")
    strategy_params: dict[str, object] = Field(
        default_factory=dict, description="overrides of the strategy's attributes")

    @model_validator(mode="after")
    def _check(self) -> FreqtradeAdapterConfig:
        if self.strategy_path and self.module:
            raise ValueError("give strategy_path or module, not both")
        if isinstance(self.stake_amount, Decimal) and self.stake_amount <= 0:
            raise ValueError(f"stake_amount must be positive, was {self.stake_amount}")
        return self
